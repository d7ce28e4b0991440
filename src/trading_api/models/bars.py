"""Candles (OHLCV bars) and their history and subscription requests.

Field names follow TradingView's ``Bar`` and ``HistoryMetadata``: ``Bar.time`` is the
bar's opening time in UNIX **milliseconds**.
"""

from pydantic import BaseModel, Field

from trading_api.models.common import CamelModel, NamedStrEnum, WireModel


class Resolution(NamedStrEnum):
    """A bar duration as TradingView spells it: minutes, or D/W/M periods."""

    MINUTE_1 = "1"
    MINUTE_5 = "5"
    MINUTE_15 = "15"
    MINUTE_30 = "30"
    HOUR_1 = "60"
    HOUR_4 = "240"
    DAY_1 = "1D"
    WEEK_1 = "1W"
    MONTH_1 = "1M"


class Bar(WireModel):
    """One candle: opening time in UNIX milliseconds and OHLCV values."""

    time: int = Field(description="Bar opening time, UNIX milliseconds (UTC).")
    open: float
    high: float
    low: float
    close: float
    volume: float


class HistoryMetadata(CamelModel):
    """What TradingView needs to know beyond the bars themselves."""

    no_data: bool = Field(description="True when the window holds no bars.")
    next_time: int | None = Field(
        default=None,
        description="When no_data: opening time (ms) of the last earlier bar, if any.",
    )


class BarsHistory(BaseModel):
    """The answer to a history request: bars in ascending time and metadata."""

    bars: list[Bar]
    meta: HistoryMetadata


class BarsSubscriptionRequest(WireModel, strict=True):
    """Subscribe to the live (last) bar of a symbol at a resolution."""

    symbol: str = Field(min_length=1, max_length=64, examples=["NASDAQ:AAPL"])
    resolution: Resolution
