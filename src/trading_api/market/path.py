"""The price path of one instrument: a pure function of (symbol, time).

A symbol's history needs no simulation run, so a year of 1-minute bars costs what
its bars cost and every resolution tells the same story:

- Daily closes come from fractal value noise over the day index (octaves of 1 to
  512 days), which behaves like a random walk yet is evaluated in O(1) per day. A
  trading day opens at the previous trading day's close: prices never jump while
  the market is closed.
- Intraday bars are derived top-down by a ladder of durations that tile the
  session (24 h: 4h -> 1h -> 15m -> 5m -> 1m; 6.5 h: 30m -> 5m -> 1m; at least 3
  children per step), aligned to the session's opening. A parent bar is split
  into children whose boundary prices follow a Brownian bridge from the parent's
  open to its close, clamped to its range and routed through its high and low;
  volumes split exactly. So coarse bars are *exactly* the aggregate of their
  children.
- Inside a minute the price moves piecewise-linearly through the minute's open,
  its high and low (in an order fixed per minute) and its close, at 0 %, 30 %,
  70 % and 100 % of the minute.

Bars are addressed by ``(level, day, k)``: the ladder level, the trading date
(days since the epoch) and the bar's rank within that day's session.
"""

import math
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

from trading_api.market.catalogue import Instrument

MINUTE = 60
_MASK = (1 << 64) - 1
_OCTAVES = 10
_MINUTE_PATH = (0.0, 0.3, 0.7, 1.0)
_STEPS = (14_400, 3_600, 1_800, 900, 300, 60)


class Ohlcv(NamedTuple):
    """One bar's values (its time is known by whoever asked for it)."""

    open: float
    high: float
    low: float
    close: float
    volume: float


def _mix(*parts: int) -> int:
    """Hash integers to 64 bits (splitmix64 chained): stable across runs."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = (h ^ (part & _MASK)) & _MASK
        h = (h + 0x9E3779B97F4A7C15) & _MASK
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK
        h ^= h >> 31
    return h


def _unit(*parts: int) -> float:
    """A deterministic number in [0, 1)."""
    return (_mix(*parts) >> 11) / float(1 << 53)


def merge(bars: Iterable[Ohlcv]) -> Ohlcv:
    """Aggregate consecutive bars into one."""
    items = list(bars)
    return Ohlcv(
        open=items[0].open,
        high=max(b.high for b in items),
        low=min(b.low for b in items),
        close=items[-1].close,
        volume=sum(b.volume for b in items),
    )


def ladder(duration: int) -> tuple[int, ...]:
    """Bar durations from the whole session down to one minute, each tiling the last.

    A step is kept when it divides the level above into at least 3 bars.
    """
    levels = [duration]
    for step in _STEPS:
        if levels[-1] % step == 0 and levels[-1] // step >= 3:
            levels.append(step)
    if levels[-1] != MINUTE:
        raise ValueError(f"a session of {duration} s does not tile into minutes")
    return tuple(levels)


class PricePath:
    """The deterministic history of one instrument, bar by bar."""

    def __init__(self, instrument: Instrument) -> None:
        """Describe the path; nothing is computed until bars are asked for."""
        self.instrument = instrument
        self.session = instrument.session
        self.levels = ladder(instrument.session.duration)
        self.minute_level = len(self.levels) - 1
        self._key = instrument.key
        self._children = lru_cache(maxsize=8192)(self._make_children)
        self._day = lru_cache(maxsize=4096)(self._make_day)

    def round(self, price: float) -> float:
        """Round a price to the instrument's tick."""
        return round(price, self.instrument.decimals)

    def day_close(self, day: int) -> float:
        """The close of trading date ``day`` (days since the UNIX epoch)."""
        i = self.instrument
        log_move = 0.0
        for octave in range(_OCTAVES):
            period = 1 << octave
            amplitude = i.daily_volatility * 0.8 * math.sqrt(period)
            log_move += amplitude * self._noise(octave, day / period)
        return self.round(i.base_price * math.exp(log_move))

    def _noise(self, octave: int, x: float) -> float:
        i = math.floor(x)
        f = x - i
        a = 2 * _unit(self._key, 1, octave, i) - 1
        b = 2 * _unit(self._key, 1, octave, i + 1) - 1
        return a + (b - a) * f * f * (3 - 2 * f)

    def bar(self, level: int, day: int, k: int) -> Ohlcv:
        """The complete bar ``k`` of ``level`` in the session of ``day``."""
        if level == 0:
            return self._day(day)
        ratio = self.levels[level - 1] // self.levels[level]
        return self._children(level - 1, day, k // ratio)[k % ratio]

    def _make_day(self, day: int) -> Ohlcv:
        i = self.instrument
        open_ = self.day_close(self.session.previous_day(day))
        close = self.day_close(day)
        up = _unit(self._key, 2, day) * i.daily_volatility * 0.6
        down = _unit(self._key, 3, day) * i.daily_volatility * 0.6
        move = abs(close - open_) / open_
        volume = i.base_volume * (0.5 + _unit(self._key, 4, day)) * (1 + 20 * move)
        return Ohlcv(
            open=open_,
            high=self.round(max(open_, close) * (1 + up)),
            low=self.round(min(open_, close) * (1 - down)),
            close=close,
            volume=float(int(volume)),
        )

    def _make_children(self, level: int, day: int, k: int) -> tuple[Ohlcv, ...]:
        parent = self.bar(level, day, k)
        count = self.levels[level] // self.levels[level + 1]
        where = (level, day, k)
        points = self._bridge(parent, where, count)
        children = [
            self._child(parent, points[i], points[i + 1], (*where, i))
            for i in range(count)
        ]
        top = max(range(count), key=lambda i: max(points[i], points[i + 1]))
        bottom = min(range(count), key=lambda i: min(points[i], points[i + 1]))
        children[top] = children[top]._replace(high=parent.high)
        children[bottom] = children[bottom]._replace(low=parent.low)
        volumes = self._split_volume(parent.volume, where, count)
        return tuple(
            c._replace(volume=v) for c, v in zip(children, volumes, strict=True)
        )

    def _bridge(
        self, parent: Ohlcv, where: tuple[int, int, int], count: int
    ) -> list[float]:
        """Boundary prices from open to close: a clamped Brownian bridge."""
        walk = [0.0]
        for i in range(count):
            walk.append(walk[-1] + 2 * _unit(self._key, 7, *where, i) - 1)
        scale = (parent.high - parent.low) * 0.5 / math.sqrt(count)
        points = [parent.open]
        for i in range(1, count):
            drift = parent.open + (parent.close - parent.open) * i / count
            bridge = walk[i] - walk[count] * i / count
            point = self.round(drift + scale * bridge)
            points.append(min(parent.high, max(parent.low, point)))
        points.append(parent.close)
        _pin_extremes(points, parent)
        return points

    def _child(
        self, parent: Ohlcv, open_: float, close: float, where: tuple[int, ...]
    ) -> Ohlcv:
        top, bottom = max(open_, close), min(open_, close)
        up = _unit(self._key, 8, *where) ** 3
        down = _unit(self._key, 9, *where) ** 3
        high = min(parent.high, self.round(top + (parent.high - top) * up))
        low = max(parent.low, self.round(bottom - (bottom - parent.low) * down))
        return Ohlcv(open_, max(high, top), min(low, bottom), close, 0.0)

    def _split_volume(
        self, volume: float, where: tuple[int, int, int], count: int
    ) -> list[float]:
        weights = [0.5 + _unit(self._key, 10, *where, i) for i in range(count)]
        total = sum(weights)
        parts = [float(int(volume * w / total)) for w in weights]
        parts[-1] += volume - sum(parts)
        return parts

    def start(self, level: int, day: int, k: int) -> int:
        """When bar ``k`` of ``level`` in the session of ``day`` opens."""
        return self.session.opening(day) + k * self.levels[level]

    def partial(self, level: int, day: int, k: int, now: float) -> Ohlcv:
        """Bar ``k`` of ``level`` on ``day`` as it stands at ``now`` (inside it)."""
        if level == self.minute_level:
            return self._partial_minute(day, k, now)
        start = self.start(level, day, k)
        child_seconds = self.levels[level + 1]
        current = int((now - start) // child_seconds)
        done = list(self._children(level, day, k)[:current])
        ratio = self.levels[level] // child_seconds
        return merge([*done, self.partial(level + 1, day, k * ratio + current, now)])

    def _partial_minute(self, day: int, k: int, now: float) -> Ohlcv:
        bar = self.bar(self.minute_level, day, k)
        start = self.start(self.minute_level, day, k)
        fraction = min(1.0, max(0.0, (now - start) / MINUTE))
        first, second = (bar.high, bar.low)
        if _mix(self._key, 11, day, k) % 2:
            first, second = second, first
        path = (bar.open, first, second, bar.close)
        visited = [p for t, p in zip(_MINUTE_PATH, path, strict=True) if t <= fraction]
        step = max(i for i, t in enumerate(_MINUTE_PATH) if t <= fraction)
        if step < len(path) - 1:
            t0, t1 = _MINUTE_PATH[step], _MINUTE_PATH[step + 1]
            weight = (fraction - t0) / (t1 - t0)
            price = self.round(path[step] + (path[step + 1] - path[step]) * weight)
        else:
            price = bar.close
        visited.append(price)
        volume = float(int(bar.volume * fraction))
        return Ohlcv(bar.open, max(visited), min(visited), price, volume)

    def day_as_of(self, day: int, now: float) -> Ohlcv:
        """The session of ``day`` as it stands at ``now`` (complete once closed)."""
        if now - self.session.opening(day) >= self.session.duration:
            return self.bar(0, day, 0)
        return self.partial(0, day, 0, now)

    def price(self, now: float) -> float:
        """The last price at ``now``: the live minute's close, frozen while closed."""
        return self.day_as_of(self.session.last_day(now), now).close


def _pin_extremes(points: list[float], parent: Ohlcv) -> None:
    """Route the path through the parent's high and low at interior points.

    The high replaces the interior point nearest to it and the low the one
    nearest to it, so the path keeps its shape. Extremes already at the open or
    close need no point; if no point is free, a child's wick reaches it.
    """
    interior = list(range(1, len(points) - 1))
    ends = (points[0], points[-1])
    if parent.high not in ends and interior:
        top = max(interior, key=lambda i: points[i])
        points[top] = parent.high
        interior.remove(top)
    if parent.low not in ends and interior:
        bottom = min(interior, key=lambda i: points[i])
        points[bottom] = parent.low


_PATHS: dict[str, PricePath] = {}


def path_of(instrument: Instrument) -> PricePath:
    """The (memoised) path of ``instrument``."""
    found = _PATHS.get(instrument.ticker)
    if found is None:
        found = _PATHS[instrument.ticker] = PricePath(instrument)
    return found
