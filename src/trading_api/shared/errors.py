"""The project's one error root, the runtime's error types, and their wire form.

Every error raised on purpose, by the runtime or by the ``trading`` CLI, is a
:class:`TradingError`: its message says what is wrong and how to fix it, and it
carries the exit code the CLI ends with. The CLI catches it in one place. An
error that has to cross a process boundary travels as an :class:`ErrorReport`
whose kind and exit code the receiver reads without parsing the message.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFLICT = 3


class TradingError(Exception):
    """Base class of every error the project raises on purpose.

    Attributes:
        exit_code: What the ``trading`` command exits with: 1 a check or an
            operation failed, 2 bad usage or invalid input, 3 merge conflicts.
    """

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        """The one-line message."""
        return str(self)

    def report(self) -> ErrorReport:
        """This error as plain data, to send to another process."""
        return ErrorReport(type(self).__name__, self.message, self.exit_code)


class ModuleDiscoveryError(TradingError):
    """A module package breaks the discovery convention or fails to import."""


class UnknownModuleError(TradingError):
    """A module name was asked for that the registry does not know (bad usage)."""

    exit_code = EXIT_USAGE

    def __init__(self, unknown: list[str], known: list[str]) -> None:
        self.unknown = unknown
        self.known = known
        names = ", ".join(repr(n) for n in unknown)
        super().__init__(
            f"unknown module{'s' if len(unknown) > 1 else ''} {names}; "
            f"known modules: {', '.join(known) or '(none)'}"
        )


class SpecConflictError(TradingError):
    """Two modules define different schemas under one component name."""


class GeneratedCodeError(TradingError):
    """Generated code is missing or older than what it is generated from."""


@dataclass(frozen=True)
class ErrorReport:
    """A :class:`TradingError` as data: picklable, JSON-friendly, typed.

    Attributes:
        kind: The error's class name (``UnknownModuleError``).
        message: Its one-line message.
        exit_code: The exit code it carries.
    """

    kind: str
    message: str
    exit_code: int

    def to_error(self) -> TradingError:
        """A :class:`TradingError` with this message and exit code, to raise in
        the receiving process."""
        return TradingError(self.message, self.exit_code)

    def as_dict(self) -> dict[str, str | int]:
        """Plain JSON values."""
        return {"kind": self.kind, "message": self.message, "exit_code": self.exit_code}

    @classmethod
    def from_dict(cls, data: dict[str, str | int]) -> ErrorReport:
        """The report :meth:`as_dict` made."""
        return cls(str(data["kind"]), str(data["message"]), int(data["exit_code"]))
