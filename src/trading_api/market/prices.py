"""Pure look-ups by symbol: the same answer for the same (symbol, time), anywhere."""

from trading_api.market.bars import HISTORY_START, MAX_BARS, Bar, history
from trading_api.market.catalogue import resolve
from trading_api.market.path import path_of


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
