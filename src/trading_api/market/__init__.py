"""One simulated market: symbols, sessions and prices, shared by every module.

A library, not a module: no routes, no web framework, no knowledge of the modules
that import it. Prices are a pure function of (symbol, time), so every process
computes the same price for the same instant without talking to another.
``docs/market.md`` describes the API and how tests drive prices and time.

Symbols: :data:`INSTRUMENTS`, :func:`resolve` (``AAPL`` or ``NASDAQ:AAPL``).
Sessions: :func:`is_open`, :func:`next_open`, ``Instrument.session``; holidays
by rule: :data:`NYSE`, :func:`nyse_holidays`.
Prices: :func:`price_at`, :func:`price_range`, :func:`quote_at`, :func:`bars`.
Driving it: :class:`Market` with a :class:`ManualClock` and a :class:`Scenario`.
"""

from trading_api.market.bars import HISTORY_START, MAX_BARS, RESOLUTIONS, Bar
from trading_api.market.catalogue import (
    EXCHANGES,
    INSTRUMENTS,
    SYMBOL_TYPES,
    Instrument,
    resolve,
)
from trading_api.market.errors import (
    MarketError,
    QuantityError,
    ResolutionError,
    UnknownSymbolError,
)
from trading_api.market.holidays import NYSE, HolidayCalendar, easter, nyse_holidays
from trading_api.market.live import Clock, ManualClock, Market, Scenario
from trading_api.market.prices import (
    bars,
    is_open,
    next_open,
    price_at,
    price_range,
)
from trading_api.market.quotes import Quote, quote_at
from trading_api.market.sessions import CRYPTO, FX, US_STOCKS, Session

__all__ = [
    "CRYPTO",
    "EXCHANGES",
    "FX",
    "HISTORY_START",
    "INSTRUMENTS",
    "MAX_BARS",
    "NYSE",
    "RESOLUTIONS",
    "SYMBOL_TYPES",
    "US_STOCKS",
    "Bar",
    "Clock",
    "HolidayCalendar",
    "Instrument",
    "ManualClock",
    "Market",
    "MarketError",
    "QuantityError",
    "Quote",
    "ResolutionError",
    "Scenario",
    "Session",
    "UnknownSymbolError",
    "bars",
    "easter",
    "is_open",
    "next_open",
    "nyse_holidays",
    "price_at",
    "price_range",
    "quote_at",
    "resolve",
]
