"""The instrument catalogue: 14 symbols on 4 exchanges, 3 types, and resolution.

A symbol is written as its ticker (``NASDAQ:AAPL``) or its bare name (``AAPL``);
:func:`resolve` turns either into the one :class:`Instrument`, whose ``ticker`` is
the canonical name to book and store things under. Names match exactly (case
included), as exchanges spell them.
"""

import hashlib
import math
from dataclasses import dataclass

from trading_api.market.errors import QuantityError, UnknownSymbolError
from trading_api.market.sessions import CRYPTO, FX, US_STOCKS, Session

_QTY_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Instrument:
    """One tradable symbol: identity, session, tick and quantity rules.

    Attributes:
        exchange: Exchange code (``NASDAQ``).
        name: Symbol on its exchange (``AAPL``).
        description: Human name (``Apple Inc.``).
        type: ``stock``, ``crypto`` or ``forex``.
        session: When it trades.
        pricescale: Prices are multiples of ``1 / pricescale`` (TradingView).
        min_qty: Smallest quantity an order may have.
        qty_step: Quantities are multiples of this.
        currency: Currency prices are quoted in.
        base_price: Level around which the simulated price moves.
        daily_volatility: Typical daily relative move of the simulation.
        base_volume: Typical daily volume of the simulation.
    """

    exchange: str
    name: str
    description: str
    type: str
    session: Session
    pricescale: int
    min_qty: float
    qty_step: float
    currency: str
    base_price: float
    daily_volatility: float
    base_volume: float

    @property
    def ticker(self) -> str:
        """The canonical name: ``EXCHANGE:NAME``."""
        return f"{self.exchange}:{self.name}"

    @property
    def min_tick(self) -> float:
        """The smallest price move."""
        return 1 / self.pricescale

    @property
    def decimals(self) -> int:
        """Decimal places of a price."""
        return len(str(self.pricescale)) - 1

    @property
    def key(self) -> int:
        """A stable 64-bit seed for this symbol's price path."""
        digest = hashlib.blake2b(self.ticker.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    def check_quantity(self, qty: float) -> None:
        """Refuse a quantity below ``min_qty`` or not a multiple of ``qty_step``.

        Raises:
            QuantityError: Naming the symbol, the quantity and the rule it breaks.
        """
        steps = qty / self.qty_step
        if not math.isfinite(qty) or qty < self.min_qty * (1 - _QTY_TOLERANCE):
            raise QuantityError(
                f"quantity {qty:g} of {self.ticker} is below its minimum "
                f"{self.min_qty:g}"
            )
        if abs(steps - round(steps)) > _QTY_TOLERANCE * max(1.0, steps):
            raise QuantityError(
                f"quantity {qty:g} of {self.ticker} is not a multiple of its step "
                f"{self.qty_step:g}"
            )


def _stock(exchange: str, name: str, description: str, *params: float) -> Instrument:
    price, volatility, volume = params
    return Instrument(
        exchange, name, description, "stock", US_STOCKS, 100, 1, 1, "USD",
        price, volatility, volume,
    )  # fmt: skip


def _crypto(name: str, description: str, qty: float, *params: float) -> Instrument:
    price, volatility, volume = params
    return Instrument(
        "BINANCE", name, description, "crypto", CRYPTO, 100, qty, qty, "USD",
        price, volatility, volume,
    )  # fmt: skip


def _fx(name: str, description: str, pricescale: int, *params: float) -> Instrument:
    price, volatility, volume = params
    return Instrument(
        "FX", name, description, "forex", FX, pricescale, 1000, 1000, name[3:],
        price, volatility, volume,
    )  # fmt: skip


EXCHANGES = {
    "NASDAQ": "Nasdaq Stock Market",
    "NYSE": "New York Stock Exchange",
    "BINANCE": "Binance",
    "FX": "Simulated FX interbank",
}
"""Exchange codes and their names."""
SYMBOL_TYPES = {"stock": "Stock", "crypto": "Crypto", "forex": "Forex"}
"""Instrument types and their names."""

INSTRUMENTS: tuple[Instrument, ...] = (
    _stock("NASDAQ", "AAPL", "Apple Inc.", 190.0, 0.017, 5e7),
    _stock("NASDAQ", "MSFT", "Microsoft Corp.", 410.0, 0.016, 2.5e7),
    _stock("NASDAQ", "NVDA", "NVIDIA Corp.", 120.0, 0.03, 3e8),
    _stock("NASDAQ", "AMZN", "Amazon.com Inc.", 180.0, 0.02, 4e7),
    _stock("NASDAQ", "GOOGL", "Alphabet Inc.", 170.0, 0.018, 3e7),
    _stock("NYSE", "JPM", "JPMorgan Chase & Co.", 200.0, 0.014, 1e7),
    _stock("NYSE", "KO", "Coca-Cola Co.", 62.0, 0.009, 1.4e7),
    _stock("NYSE", "XOM", "Exxon Mobil Corp.", 115.0, 0.015, 1.6e7),
    _crypto("BTCUSD", "Bitcoin / US Dollar", 0.0001, 65000.0, 0.03, 2e4),
    _crypto("ETHUSD", "Ethereum / US Dollar", 0.001, 3200.0, 0.035, 3e5),
    _crypto("SOLUSD", "Solana / US Dollar", 0.01, 150.0, 0.045, 2e6),
    _fx("EURUSD", "Euro / US Dollar", 100_000, 1.08, 0.005, 1e5),
    _fx("GBPUSD", "British Pound / US Dollar", 100_000, 1.27, 0.006, 8e4),
    _fx("USDJPY", "US Dollar / Japanese Yen", 1000, 151.0, 0.006, 9e4),
)
"""Every instrument, in catalogue order."""

_BY_SYMBOL = {
    **{i.name: i for i in INSTRUMENTS},
    **{i.ticker: i for i in INSTRUMENTS},
}


def resolve(symbol: str) -> Instrument:
    """The instrument written ``symbol``: a ticker (``NASDAQ:AAPL``) or bare name.

    Raises:
        UnknownSymbolError: ``symbol`` names no catalogue instrument.
    """
    found = _BY_SYMBOL.get(symbol)
    if found is None:
        raise UnknownSymbolError(symbol)
    return found
