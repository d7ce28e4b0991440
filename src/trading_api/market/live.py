"""The market as a process sees it: the pure price path, a clock and overrides.

Every price comes from :func:`~trading_api.market.price_at`, a pure function of
symbol and time, so two processes agree without talking. :class:`Market` adds
what tests need to drive it: an injectable clock (:class:`ManualClock`) and a
:class:`Scenario` of price overrides. Overrides live in one process only; they
are for tests and what-if runs, never for a deployment.
"""

import bisect
import math
import time
from collections.abc import Callable

from trading_api.market.bars import HISTORY_START, MAX_BARS, Bar
from trading_api.market.catalogue import Instrument, resolve
from trading_api.market.path import path_of
from trading_api.market.prices import bars, price_at, price_range
from trading_api.market.quotes import Quote, quote_at

Clock = Callable[[], float]
"""Returns the current time in UNIX seconds."""


class ManualClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, now: float) -> None:
        """Start at ``now`` (UNIX seconds)."""
        self.now = float(now)

    def __call__(self) -> float:
        """The clock's time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds

    def set(self, now: float) -> None:
        """Move the clock to ``now``."""
        self.now = float(now)


class Scenario:
    """Price overrides: from a given time on, a symbol's price is a given value.

    Steps are kept per canonical ticker, so ``AAPL`` and ``NASDAQ:AAPL`` are the
    same symbol. Before a symbol's first step its price is the path's.
    """

    def __init__(self) -> None:
        """Start with no overrides."""
        self._steps: dict[str, list[tuple[float, float]]] = {}

    def set_price(self, symbol: str, price: float, at: float) -> None:
        """From ``at`` on, ``symbol`` is worth ``price`` (replacing later steps)."""
        if not price > 0:
            raise ValueError(f"an override price must be positive, got {price!r}")
        steps = self._steps.setdefault(resolve(symbol).ticker, [])
        del steps[bisect.bisect_left(steps, (at, float("-inf"))) :]
        steps.append((at, price))

    def clear(self, symbol: str | None = None) -> None:
        """Drop the overrides of ``symbol``, or of every symbol."""
        if symbol is None:
            self._steps.clear()
        else:
            self._steps.pop(resolve(symbol).ticker, None)

    def steps(self, ticker: str) -> list[tuple[float, float]]:
        """The ``(from_time, price)`` steps of canonical ``ticker``, in time order."""
        return list(self._steps.get(ticker, ()))

    def price_at(self, ticker: str, t: float) -> float | None:
        """The override in force for canonical ``ticker`` at ``t``, if any."""
        steps = self._steps.get(ticker)
        if not steps:
            return None
        index = bisect.bisect_right(steps, (t, float("inf"))) - 1
        return steps[index][1] if index >= 0 else None


class Market:
    """The simulated market through a clock, with optional price overrides.

    Every ``t`` argument defaults to the clock's current time.
    """

    def __init__(self, clock: Clock = time.time, scenario: Scenario | None = None):
        """Read time from ``clock``; apply ``scenario``'s overrides to prices."""
        self.clock = clock
        self.scenario = scenario if scenario is not None else Scenario()

    def now(self) -> float:
        """The clock's time."""
        return self.clock()

    def resolve(self, symbol: str) -> Instrument:
        """The catalogue instrument ``symbol`` names (ticker or bare name)."""
        return resolve(symbol)

    def price(self, symbol: str, t: float | None = None) -> float:
        """The last price of ``symbol``: override if one is in force, else the path."""
        at = self.now() if t is None else t
        instrument = resolve(symbol)
        override = self.scenario.price_at(instrument.ticker, at)
        if override is not None:
            return path_of(instrument).round(override)
        return price_at(instrument.ticker, at)

    def price_range(
        self, symbol: str, start: float, end: float | None = None
    ) -> tuple[float, float]:
        """Lowest and highest price from ``start`` to ``end`` (default: now).

        The path's :func:`~trading_api.market.price_range` where no override is
        in force, the override's price where one is.
        """
        until = self.now() if end is None else end
        start = min(start, until)
        instrument = resolve(symbol)
        current = self.scenario.price_at(instrument.ticker, start)
        pieces: list[tuple[float, float, float | None]] = []
        for at, step_price in self.scenario.steps(instrument.ticker):
            if start < at <= until:
                pieces.append((start, at, current))
                start, current = at, step_price
        pieces.append((start, until, current))
        seen: list[float] = []
        for begin, finish, fixed in pieces:
            if fixed is None:
                seen.extend(price_range(instrument.ticker, begin, finish))
            else:
                seen.append(path_of(instrument).round(fixed))
        return min(seen), max(seen)

    def quote(self, symbol: str, t: float | None = None) -> Quote:
        """The quote of ``symbol``, its last price overridden if one is in force."""
        at = self.now() if t is None else t
        override = self.scenario.price_at(resolve(symbol).ticker, at)
        return quote_at(symbol, at, last=override)

    def is_open(self, symbol: str, t: float | None = None) -> bool:
        """Whether ``symbol`` trades at ``t``."""
        return resolve(symbol).session.is_open(self.now() if t is None else t)

    def next_open(self, symbol: str, t: float | None = None) -> float:
        """The first instant at or after ``t`` when ``symbol`` trades."""
        return resolve(symbol).session.next_open(self.now() if t is None else t)

    def bars(
        self,
        symbol: str,
        resolution: str,
        *,
        before: float,
        after: float = HISTORY_START,
        count: int = MAX_BARS,
    ) -> list[Bar]:
        """The path's bars starting in ``[after, before)`` as of now (see ``bars``)."""
        return bars(
            symbol, resolution, before=before, after=after, count=count, now=self.now()
        )

    def live_bar(self, symbol: str, resolution: str) -> Bar | None:
        """The latest bar as of now, its close set to :meth:`price`."""
        now = self.now()
        # Bars exist once their session opened; an FX daily bar is dated after it.
        found = self.bars(symbol, resolution, before=math.inf, count=1)
        if not found:
            return None
        bar, price = found[0], self.price(symbol, now)
        return bar._replace(
            high=max(bar.high, price), low=min(bar.low, price), close=price
        )
