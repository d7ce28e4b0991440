"""Symbols, configuration and quotes, shaped like TradingView's datafeed API.

TradingView spells these in snake_case (``supported_resolutions``, ``full_name``),
so these models do too.
"""

from typing import Literal

from pydantic import Field

from trading_api.models.common import WireModel

SymbolName = str


class Exchange(WireModel):
    """An exchange the datafeed lists (``value`` is the filter key)."""

    value: str
    name: str
    desc: str


class SymbolType(WireModel):
    """An instrument type the datafeed lists (``value`` is the filter key)."""

    name: str
    value: str


class DatafeedConfiguration(WireModel):
    """What the datafeed supports, as TradingView's ``onReady`` expects it."""

    supported_resolutions: list[str]
    exchanges: list[Exchange]
    symbols_types: list[SymbolType]
    currency_codes: list[str]
    supports_marks: bool
    supports_timescale_marks: bool
    supports_time: bool
    supports_search: bool
    supports_group_request: bool


class SearchSymbolResultItem(WireModel):
    """One hit of a symbol search.

    ``session`` and ``timezone`` are extras (TradingView's item has neither and
    ignores them): the same values ``/resolve`` gives, so a picker can tell
    when a symbol trades.
    """

    symbol: str
    full_name: str
    description: str
    exchange: str
    ticker: str
    type: str
    session: str = Field(description="Trading session, TradingView's format.")
    timezone: str = Field(description="IANA time zone of the session.")


class SymbolInfo(WireModel):
    """Everything the chart needs to draw a symbol (TradingView's LibrarySymbolInfo)."""

    name: str
    ticker: str
    full_name: str
    description: str
    type: str
    session: str
    session_holidays: str = Field(
        default="",
        description="Days the exchange is closed, TradingView's format: "
        "YYYYMMDD dates separated by commas (20241225,20250101).",
    )
    exchange: str
    listed_exchange: str
    timezone: str
    format: Literal["price", "volume"]
    pricescale: int
    minmov: int
    has_intraday: bool
    has_daily: bool
    has_weekly_and_monthly: bool
    supported_resolutions: list[str]
    intraday_multipliers: list[str]
    volume_precision: int
    data_status: Literal["streaming", "endofday", "delayed_streaming"]
    currency_code: str


class QuotesRequest(WireModel, strict=True):
    """A one-off quotes request."""

    symbols: list[SymbolName] = Field(min_length=1, max_length=100)


class QuoteValues(WireModel):
    """Quote fields; all absent when the quote is an error."""

    ch: float | None = None
    chp: float | None = None
    short_name: str | None = None
    exchange: str | None = None
    description: str | None = None
    lp: float | None = None
    ask: float | None = None
    bid: float | None = None
    spread: float | None = None
    open_price: float | None = None
    high_price: float | None = None
    low_price: float | None = None
    prev_close_price: float | None = None
    volume: float | None = None


class QuoteData(WireModel):
    """The quote of one symbol: status ``s``, symbol ``n`` and values ``v``."""

    s: Literal["ok", "error"]
    n: str
    v: QuoteValues


class QuotesSubscriptionRequest(WireModel, strict=True):
    """Subscribe to quotes; ``fast_symbols`` update at the fast rate, others slowly."""

    symbols: list[SymbolName] = Field(min_length=1, max_length=100)
    fast_symbols: list[SymbolName] = Field(default_factory=list, max_length=100)
