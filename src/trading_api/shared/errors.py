"""The runtime's error types. Every message says what is wrong and how to fix it."""


class TradingApiError(Exception):
    """Base class of every error the runtime raises on purpose."""


class ModuleDiscoveryError(TradingApiError):
    """A module package breaks the discovery convention or fails to import."""


class UnknownModuleError(TradingApiError):
    """A module name was asked for that the registry does not know."""

    def __init__(self, unknown: list[str], known: list[str]) -> None:
        self.unknown = unknown
        self.known = known
        names = ", ".join(repr(n) for n in unknown)
        super().__init__(
            f"unknown module{'s' if len(unknown) > 1 else ''} {names}; "
            f"known modules: {', '.join(known) or '(none)'}"
        )


class SpecConflictError(TradingApiError):
    """Two modules define different schemas under one component name."""


class GeneratedCodeError(TradingApiError):
    """Generated code is missing or older than what it is generated from."""
