"""Bars per resolution: which bars exist, when they start, and their values.

Bars exist only in session. Intraday bars (1 to 240 minutes) are aligned to the
session's opening, as TradingView aligns them: a New York stock's hourly bars
start at 09:30, 10:30 ... 15:30 (the last one half an hour long, cut at the
close). Daily bars carry the UTC midnight of their trading date, weekly bars the
Monday of their week and monthly bars the first day of their month; each
aggregates the sessions inside it. The live bar (the one ``now`` falls in) is
partial; a bar whose session has closed is complete.
"""

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import NamedTuple

from trading_api.market.errors import ResolutionError
from trading_api.market.path import MINUTE, Ohlcv, PricePath, merge
from trading_api.market.sessions import DAY

HISTORY_START = 1_577_836_800
"""2020-01-01T00:00:00Z: no bar starts before it."""
MAX_BARS = 5_000
"""The most bars one :func:`~trading_api.market.bars` answer holds."""
RESOLUTIONS = ("1", "5", "15", "30", "60", "240", "1D", "1W", "1M")
"""Every resolution served, as TradingView spells them."""
_CALENDAR = ("1D", "1W", "1M")


class Bar(NamedTuple):
    """One bar: opening time in UNIX seconds and its OHLCV values."""

    time: int
    open: float
    high: float
    low: float
    close: float
    volume: float


def check_resolution(resolution: str) -> None:
    """Refuse a resolution outside :data:`RESOLUTIONS`."""
    if resolution not in RESOLUTIONS:
        raise ResolutionError(
            f"unknown resolution {resolution!r}; use one of {', '.join(RESOLUTIONS)}"
        )


def _bar(start: int, values: Ohlcv) -> Bar:
    return Bar(start, *values)


def _period_start(resolution: str, day: int) -> int:
    """The UTC start of the calendar period holding trading date ``day``."""
    if resolution == "1D":
        return day * DAY
    if resolution == "1W":
        return (day - (day + 3) % 7) * DAY
    moment = datetime.fromtimestamp(day * DAY, UTC)
    return int(datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp())


def _unit_level(path: PricePath, seconds: int) -> int:
    """The coarsest ladder level whose bars tile bars of ``seconds``."""
    return min(i for i, size in enumerate(path.levels) if seconds % size == 0)


def _intraday(
    path: PricePath, seconds: int, level: int, day: int, j: int, now: float
) -> Ohlcv:
    """Bar ``j`` of ``seconds`` in the session of ``day`` as it stands at ``now``.

    It merges bars of ladder ``level``, which tile it.
    """
    size = path.levels[level]
    first = j * seconds // size
    last = min((j + 1) * seconds, path.session.duration) // size
    parts = []
    opening = path.session.opening(day)
    for k in range(first, last):
        start = opening + k * size
        if start > now:
            break
        if start + size <= now:
            parts.append(path.bar(level, day, k))
        else:
            parts.append(path.partial(level, day, k, now))
    return parts[0] if len(parts) == 1 else merge(parts)


def _days(path: PricePath, latest: int, now: float) -> Iterator[int]:
    """Trading dates from ``latest`` backwards whose session opened by ``now``."""
    session = path.session
    day = latest if session.trades_on(latest) else session.previous_day(latest)
    while session.opening(day) > now:
        day = session.previous_day(day)
    while day * DAY >= HISTORY_START - 31 * DAY:
        yield day
        day = session.previous_day(day)


def _descending(
    path: PricePath, resolution: str, before: float, now: float
) -> Iterator[Bar]:
    """Bars starting before ``before`` that exist at ``now``, latest first."""
    latest = path.session.day_of(min(before, now)) + 1
    if resolution in _CALENDAR:
        # A period starting before ``before`` may hold sessions after it.
        latest = min(latest + 31, path.session.last_day(now))
        yield from _calendar_descending(path, resolution, before, latest, now)
        return
    seconds = int(resolution) * MINUTE
    count = math.ceil(path.session.duration / seconds)
    level = _unit_level(path, seconds)
    for day in _days(path, latest, now):
        opening = path.session.opening(day)
        for j in reversed(range(count)):
            start = opening + j * seconds
            if start < before and start <= now:
                yield _bar(start, _intraday(path, seconds, level, day, j, now))


def _calendar_descending(
    path: PricePath, resolution: str, before: float, latest: int, now: float
) -> Iterator[Bar]:
    group: list[int] = []
    period = -1
    for day in _days(path, latest, now):
        start = _period_start(resolution, day)
        if start >= before:
            continue
        if group and start != period:
            yield _calendar_bar(path, period, group, now)
            group = []
        period = start
        group.append(day)
    if group:
        yield _calendar_bar(path, period, group, now)


def _calendar_bar(path: PricePath, start: int, days: list[int], now: float) -> Bar:
    return _bar(start, merge(path.day_as_of(d, now) for d in reversed(days)))


def history(
    path: PricePath,
    resolution: str,
    *,
    before: float,
    after: float = HISTORY_START,
    count: int = MAX_BARS,
    now: float,
) -> list[Bar]:
    """The latest ``count`` bars (at most :data:`MAX_BARS`) in ``[after, before)``.

    In ascending time.
    """
    check_resolution(resolution)
    lower = max(after, HISTORY_START)
    count = min(count, MAX_BARS)
    found: list[Bar] = []
    if count <= 0:
        return found
    for bar in _descending(path, resolution, before, now):
        if bar.time < lower:
            break
        found.append(bar)
        if len(found) >= count:
            break
    found.reverse()
    return found
