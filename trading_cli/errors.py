"""Errors the CLI reports as one line on stderr, with the exit code to use."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFLICT = 3


class CliError(Exception):
    """A failure to report as one line: what went wrong and how to fix it."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CliError):
    """Bad arguments or invalid input: exit 2, nothing changed."""

    exit_code = EXIT_USAGE
