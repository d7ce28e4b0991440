"""Errors of the simulated market: each message names what was wrong and the fix."""


class MarketError(ValueError):
    """A request the market cannot answer; the message says why."""


class UnknownSymbolError(MarketError):
    """The symbol is not in the catalogue."""

    def __init__(self, symbol: str) -> None:
        """Name the unknown symbol and how the catalogue spells symbols."""
        self.symbol = symbol
        super().__init__(
            f"unknown symbol {symbol!r}; use a catalogue ticker such as "
            "'AAPL' or 'NASDAQ:AAPL'"
        )


class QuantityError(MarketError):
    """A quantity below the symbol's minimum or off its step."""


class ResolutionError(MarketError):
    """A bar resolution the market does not serve."""
