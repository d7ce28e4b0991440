"""The CLI's errors: the project's one error root, and its usage flavour.

Every error the CLI raises is a :class:`~trading_api.shared.errors.TradingError`
(the runtime's errors too), caught once in :func:`trading_cli.main.run`, printed
as one line on stderr and turned into its exit code.
"""

# Standard library only (a test checks it), so the CLI can share the runtime's
# error root without loading FastAPI.
from trading_api.shared.errors import (  # noqa: TID253
    EXIT_CONFLICT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    TradingError,
)

CliError = TradingError
"""The root error under the name the CLI's code raises it by."""

__all__ = [
    "EXIT_CONFLICT",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "TradingError",
    "UsageError",
]


class UsageError(TradingError):
    """Bad arguments or invalid input: exit 2, nothing changed."""

    exit_code = EXIT_USAGE
