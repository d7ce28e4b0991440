"""The storage error type."""

from trading_api.shared.errors import TradingError


class StorageError(TradingError):
    """The database is unreachable, misconfigured or out of date; says the fix."""
