"""Quotes: the last price and the day's figures of a symbol at an instant."""

from dataclasses import dataclass

from trading_api.market.catalogue import resolve
from trading_api.market.path import path_of

SPREAD_TICKS = 2
"""Ask minus bid, in ticks; the last price sits in the middle."""


@dataclass(frozen=True)
class Quote:
    """A symbol's quote at ``time``; while closed, the last session's close.

    Attributes:
        ticker: Canonical symbol (``NASDAQ:AAPL``).
        time: The instant quoted (UNIX seconds).
        is_open: Whether the market trades at ``time``.
        last: Last price (the chart's live close; frozen while closed).
        bid: Last minus one tick (half the spread).
        ask: Last plus one tick.
        spread: Ask minus bid.
        open: Open of the current (or last) session.
        high: High of that session so far.
        low: Low of that session so far.
        prev_close: Close of the session before it.
        change: ``last - prev_close``.
        change_percent: ``change`` in percent of ``prev_close``, 2 decimals.
        volume: Volume of that session so far.
    """

    ticker: str
    time: float
    is_open: bool
    last: float
    bid: float
    ask: float
    spread: float
    open: float
    high: float
    low: float
    prev_close: float
    change: float
    change_percent: float
    volume: float


def quote_at(symbol: str, t: float, *, last: float | None = None) -> Quote:
    """The quote of ``symbol`` at ``t``.

    Args:
        symbol: Ticker or bare name.
        t: UNIX seconds.
        last: A last price to quote instead of the path's (an override); the
            session's high and low widen to include it.
    """
    instrument = resolve(symbol)
    path = path_of(instrument)
    session = instrument.session
    day = path.day_as_of(session.last_day(t), t)
    price = day.close if last is None else path.round(last)
    half = instrument.min_tick * SPREAD_TICKS / 2
    change = path.round(price - day.open)
    return Quote(
        ticker=instrument.ticker,
        time=t,
        is_open=session.is_open(t),
        last=price,
        bid=path.round(price - half),
        ask=path.round(price + half),
        spread=path.round(2 * half),
        open=day.open,
        high=max(day.high, price),
        low=min(day.low, price),
        prev_close=day.open,
        change=change,
        change_percent=round(change / day.open * 100, 2),
        volume=day.volume,
    )
