"""The simulated instrument catalogue: 14 symbols on 4 exchanges, 3 types."""

import hashlib
from dataclasses import dataclass, field

from trading_api.modules.datafeed.series import PriceSeries


@dataclass(frozen=True)
class Instrument:
    """One tradable symbol and the parameters of its simulated history."""

    exchange: str
    name: str
    description: str
    type: str
    base_price: float
    daily_volatility: float
    base_volume: float
    pricescale: int
    series: PriceSeries = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        digest = hashlib.blake2b(self.ticker.encode(), digest_size=8).digest()
        series = PriceSeries(
            int.from_bytes(digest, "big"),
            base_price=self.base_price,
            daily_volatility=self.daily_volatility,
            base_volume=self.base_volume,
            decimals=len(str(self.pricescale)) - 1,
        )
        object.__setattr__(self, "series", series)

    @property
    def ticker(self) -> str:
        """The unique id TradingView sends back: ``EXCHANGE:NAME``."""
        return f"{self.exchange}:{self.name}"


EXCHANGES = {
    "NASDAQ": "Nasdaq Stock Market",
    "NYSE": "New York Stock Exchange",
    "BINANCE": "Binance",
    "FX": "Simulated FX interbank",
}
SYMBOL_TYPES = {"stock": "Stock", "crypto": "Crypto", "forex": "Forex"}

INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("NASDAQ", "AAPL", "Apple Inc.", "stock", 190.0, 0.017, 5e7, 100),
    Instrument("NASDAQ", "MSFT", "Microsoft Corp.", "stock", 410.0, 0.016, 2.5e7, 100),
    Instrument("NASDAQ", "NVDA", "NVIDIA Corp.", "stock", 120.0, 0.03, 3e8, 100),
    Instrument("NASDAQ", "AMZN", "Amazon.com Inc.", "stock", 180.0, 0.02, 4e7, 100),
    Instrument("NASDAQ", "GOOGL", "Alphabet Inc.", "stock", 170.0, 0.018, 3e7, 100),
    Instrument("NYSE", "JPM", "JPMorgan Chase & Co.", "stock", 200.0, 0.014, 1e7, 100),
    Instrument("NYSE", "KO", "Coca-Cola Co.", "stock", 62.0, 0.009, 1.4e7, 100),
    Instrument("NYSE", "XOM", "Exxon Mobil Corp.", "stock", 115.0, 0.015, 1.6e7, 100),
    Instrument(
        "BINANCE", "BTCUSD", "Bitcoin / US Dollar", "crypto", 65000.0, 0.03, 2e4, 100
    ),
    Instrument(
        "BINANCE", "ETHUSD", "Ethereum / US Dollar", "crypto", 3200.0, 0.035, 3e5, 100
    ),
    Instrument(
        "BINANCE", "SOLUSD", "Solana / US Dollar", "crypto", 150.0, 0.045, 2e6, 100
    ),
    Instrument("FX", "EURUSD", "Euro / US Dollar", "forex", 1.08, 0.005, 1e5, 100000),
    Instrument(
        "FX", "GBPUSD", "British Pound / US Dollar", "forex", 1.27, 0.006, 8e4, 100000
    ),
    Instrument(
        "FX", "USDJPY", "US Dollar / Japanese Yen", "forex", 151.0, 0.006, 9e4, 1000
    ),
)
