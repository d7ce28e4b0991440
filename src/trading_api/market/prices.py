"""Pure look-ups by symbol: the same answer for the same (symbol, time), anywhere."""

from trading_api.market.bars import HISTORY_START, MAX_BARS, Bar, history
from trading_api.market.catalogue import resolve
from trading_api.market.path import MINUTE, PricePath, path_of
from trading_api.market.sessions import DAY


def price_at(symbol: str, t: float) -> float:
    """The last price of ``symbol`` at ``t``: the close of the chart's live bar.

    While the market is closed this is the close of the last session.

    Raises:
        UnknownSymbolError: ``symbol`` is not in the catalogue.
    """
    return path_of(resolve(symbol)).price(t)


def is_open(symbol: str, t: float) -> bool:
    """Whether ``symbol`` trades at ``t`` (opening included, close excluded)."""
    return resolve(symbol).session.is_open(t)


def next_open(symbol: str, t: float) -> float:
    """The first instant at or after ``t`` when ``symbol`` trades (``t`` if open)."""
    return resolve(symbol).session.next_open(t)


def bars(
    symbol: str,
    resolution: str,
    *,
    before: float,
    now: float,
    after: float = HISTORY_START,
    count: int = MAX_BARS,
) -> list[Bar]:
    """Bars of ``symbol`` starting in ``[after, before)`` that exist at ``now``.

    The latest ``count`` of them (at most :data:`MAX_BARS`), in ascending time;
    the bar ``now`` falls in is partial, as the chart shows it live.

    Raises:
        UnknownSymbolError: ``symbol`` is not in the catalogue.
        ResolutionError: ``resolution`` is not one of :data:`RESOLUTIONS`.
    """
    path = path_of(resolve(symbol))
    return history(path, resolution, before=before, after=after, count=count, now=now)


def price_range(symbol: str, start: float, end: float) -> tuple[float, float]:
    """The lowest and highest price ``symbol`` trades at from ``start`` to ``end``.

    Exact for the path the chart draws: every minute fully inside counts with its
    high and low, and a minute cut by ``start`` or ``end`` with the prices its
    path visits inside the interval. A limit or stop order resting over the
    interval triggers if its price lies in this range. ``start`` after ``end``
    is read as the single instant ``end``.

    Raises:
        UnknownSymbolError: ``symbol`` is not in the catalogue.
    """
    path = path_of(resolve(symbol))
    start = min(start, end)
    if end - start <= 2 * DAY:
        return _minute_range(path, start, end)
    low, high = _minute_range(path, start, start + DAY)
    tail_low, tail_high = _minute_range(path, end - DAY, end)
    lows, highs = [low, tail_low], [high, tail_high]
    session = path.session
    for bar in history(path, "1D", before=end, after=start - DAY, now=end):
        opening = session.opening(bar.time // DAY)
        if opening >= start and opening + session.duration <= end:
            lows.append(bar.low)
            highs.append(bar.high)
    return min(lows), max(highs)


def _minute_range(path: PricePath, start: float, end: float) -> tuple[float, float]:
    """:func:`price_range` over at most two days, from minute bars."""
    seen = {path.price(start), path.price(end)}
    for bar in history(path, "1", before=end + 1, after=start - MINUTE + 1, now=end):
        finish = bar.time + MINUTE
        if bar.time >= start and finish <= end:
            seen.update((bar.high, bar.low))
            continue
        for fraction in (0.0, 0.3, 0.7, 1.0):
            at = bar.time + fraction * MINUTE
            if start < at < end:
                seen.add(path.price(at))
    return min(seen), max(seen)
