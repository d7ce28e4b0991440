"""Bar timelines per resolution: alignment, stepping, and the bar at a start time.

Every bar is aligned to its resolution in UTC: minutes and hours to multiples of
their duration since the epoch, days to midnight, weeks to Monday, months to the
first day of the month. Symbols trade around the clock (session ``24x7``).
"""

from datetime import UTC, datetime

from trading_api.models.bars import Resolution
from trading_api.modules.datafeed.series import (
    DAY,
    LEVEL_SECONDS,
    Ohlcv,
    PriceSeries,
    merge,
)

HISTORY_START = 1_577_836_800  # 2020-01-01T00:00:00Z: no bars before it.
MAX_BARS = 5_000
LEVELS = {
    Resolution.DAY_1: 0,
    Resolution.HOUR_4: 1,
    Resolution.HOUR_1: 2,
    Resolution.MINUTE_15: 3,
    Resolution.MINUTE_5: 4,
    Resolution.MINUTE_1: 5,
}
# Resolutions off the ladder: merged from bars of a ladder resolution.
COMPOSED = {
    Resolution.MINUTE_30: Resolution.MINUTE_15,
    Resolution.WEEK_1: Resolution.DAY_1,
    Resolution.MONTH_1: Resolution.DAY_1,
}


def align(resolution: Resolution, t: float) -> int:
    """The start of the bar of ``resolution`` that contains time ``t``."""
    if resolution is Resolution.MINUTE_30:
        return int(t // 1800) * 1800
    if resolution in LEVELS:
        seconds = LEVEL_SECONDS[LEVELS[resolution]]
        return int(t // seconds) * seconds
    day = int(t // DAY)
    if resolution is Resolution.WEEK_1:
        return (day - (day + 3) % 7) * DAY
    moment = datetime.fromtimestamp(day * DAY, UTC)
    return int(datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp())


def bar_end(resolution: Resolution, start: int) -> int:
    """The end (exclusive) of the bar starting at ``start``."""
    if resolution is Resolution.MINUTE_30:
        return start + 1800
    if resolution in LEVELS:
        return start + LEVEL_SECONDS[LEVELS[resolution]]
    if resolution is Resolution.WEEK_1:
        return start + 7 * DAY
    moment = datetime.fromtimestamp(start, UTC)
    year, month = divmod(moment.year * 12 + moment.month, 12)
    return int(datetime(year, month + 1, 1, tzinfo=UTC).timestamp())


def previous_start(resolution: Resolution, start: int) -> int:
    """The start of the bar before the one starting at ``start``."""
    return align(resolution, start - 1)


def bar_at(
    series: PriceSeries, resolution: Resolution, start: int, now: float
) -> Ohlcv:
    """The bar starting at ``start`` as it stands at ``now`` (partial if live)."""
    end = bar_end(resolution, start)
    if resolution in LEVELS:
        level = LEVELS[resolution]
        index = start // LEVEL_SECONDS[level]
        if end <= now:
            return series.bar(level, index)
        return series.partial(level, index, now)
    base = COMPOSED[resolution]
    step = LEVEL_SECONDS[LEVELS[base]]
    parts = [bar_at(series, base, t, now) for t in range(start, end, step) if t <= now]
    return merge(parts)


def window_starts(
    resolution: Resolution,
    *,
    from_time: int,
    to_time: int,
    count_back: int | None,
    now: float,
) -> list[int]:
    """Bar starts in ``[from_time, to_time)``, never after ``now``, ascending.

    With ``count_back`` the last ``count_back`` bars before ``to_time`` are
    returned whatever ``from_time`` says, as TradingView asks. At most
    :data:`MAX_BARS` bars, the latest ones.
    """
    last_time = min(to_time - 1, now)
    if last_time < HISTORY_START:
        return []
    lower = HISTORY_START if count_back else max(from_time, HISTORY_START)
    limit = min(count_back or MAX_BARS, MAX_BARS)
    starts: list[int] = []
    start = align(resolution, last_time)
    while start >= lower and len(starts) < limit:
        starts.append(start)
        start = previous_start(resolution, start)
    starts.reverse()
    return starts
