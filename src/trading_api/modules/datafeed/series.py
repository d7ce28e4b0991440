"""A deterministic price history computable for any time window.

A symbol's history is a pure function of (symbol key, time), so a year of 1-minute
bars needs no year of simulation and every resolution tells the same story:

- Daily closes come from fractal value noise over the day index (octaves of 1 to
  512 days), which behaves like a random walk yet is evaluated in O(1) per day.
- Intraday bars are derived top-down by a fixed ladder (1D -> 4h -> 1h -> 15m ->
  5m -> 1m, at least 3 children per step). A parent bar is split into children
  whose boundary prices follow a Brownian bridge from the parent's open to its
  close, clamped to its range and routed through its high and low; volumes split
  exactly. So coarse bars are *exactly* the aggregate of their children. Other
  resolutions (30m, weeks, months) merge bars of a ladder level.
- Inside the current minute the price moves piecewise-linearly through the minute's
  open, high/low and close; the live bar of any resolution aggregates the completed
  children and the partial one, so history and the live stream agree.
"""

import math
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

DAY = 86_400
LEVEL_SECONDS = (86_400, 14_400, 3_600, 900, 300, 60)
MINUTE_LEVEL = len(LEVEL_SECONDS) - 1
_MASK = (1 << 64) - 1
_OCTAVES = 10
_MINUTE_PATH = (0.0, 0.3, 0.7, 1.0)


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


class PriceSeries:
    """The deterministic history of one symbol."""

    def __init__(
        self,
        key: int,
        *,
        base_price: float,
        daily_volatility: float,
        base_volume: float,
        decimals: int,
    ) -> None:
        """Describe a series; nothing is computed until bars are asked for."""
        self.key = key
        self.base_price = base_price
        self.daily_volatility = daily_volatility
        self.base_volume = base_volume
        self.decimals = decimals
        self._children = lru_cache(maxsize=8192)(self._make_children)
        self._day = lru_cache(maxsize=4096)(self._make_day)

    def round(self, price: float) -> float:
        """Round a price to the symbol's tick."""
        return round(price, self.decimals)

    def day_close(self, day: int) -> float:
        """The close of day ``day`` (days since the UNIX epoch)."""
        log_move = 0.0
        for octave in range(_OCTAVES):
            period = 1 << octave
            amplitude = self.daily_volatility * 0.8 * math.sqrt(period)
            log_move += amplitude * self._noise(octave, day / period)
        return self.round(self.base_price * math.exp(log_move))

    def _noise(self, octave: int, x: float) -> float:
        i = math.floor(x)
        f = x - i
        a = 2 * _unit(self.key, 1, octave, i) - 1
        b = 2 * _unit(self.key, 1, octave, i + 1) - 1
        return a + (b - a) * f * f * (3 - 2 * f)

    def bar(self, level: int, index: int) -> Ohlcv:
        """The complete bar ``index`` (in units of the level's duration)."""
        if level == 0:
            return self._day(index)
        ratio = LEVEL_SECONDS[level - 1] // LEVEL_SECONDS[level]
        return self._children(level - 1, index // ratio)[index % ratio]

    def _make_day(self, day: int) -> Ohlcv:
        open_, close = self.day_close(day - 1), self.day_close(day)
        up = _unit(self.key, 2, day) * self.daily_volatility * 0.6
        down = _unit(self.key, 3, day) * self.daily_volatility * 0.6
        move = abs(close - open_) / open_
        volume = self.base_volume * (0.5 + _unit(self.key, 4, day)) * (1 + 20 * move)
        return Ohlcv(
            open=open_,
            high=self.round(max(open_, close) * (1 + up)),
            low=self.round(min(open_, close) * (1 - down)),
            close=close,
            volume=float(int(volume)),
        )

    def _make_children(self, level: int, index: int) -> tuple[Ohlcv, ...]:
        parent = self.bar(level, index)
        count = LEVEL_SECONDS[level] // LEVEL_SECONDS[level + 1]
        points = self._bridge(parent, level, index, count)
        children = [
            self._child(parent, points[i], points[i + 1], (level, index, i))
            for i in range(count)
        ]
        top = max(range(count), key=lambda i: max(points[i], points[i + 1]))
        bottom = min(range(count), key=lambda i: min(points[i], points[i + 1]))
        children[top] = children[top]._replace(high=parent.high)
        children[bottom] = children[bottom]._replace(low=parent.low)
        volumes = self._split_volume(parent.volume, level, index, count)
        return tuple(
            c._replace(volume=v) for c, v in zip(children, volumes, strict=True)
        )

    def _bridge(self, parent: Ohlcv, level: int, index: int, count: int) -> list[float]:
        """Boundary prices from open to close: a clamped Brownian bridge."""
        walk = [0.0]
        for i in range(count):
            walk.append(walk[-1] + 2 * _unit(self.key, 7, level, index, i) - 1)
        scale = (parent.high - parent.low) * 0.5 / math.sqrt(count)
        points = [parent.open]
        for i in range(1, count):
            drift = parent.open + (parent.close - parent.open) * i / count
            bridge = walk[i] - walk[count] * i / count
            point = self.round(drift + scale * bridge)
            points.append(min(parent.high, max(parent.low, point)))
        points.append(parent.close)
        self._pin_extremes(points, parent)
        return points

    @staticmethod
    def _pin_extremes(points: list[float], parent: Ohlcv) -> None:
        """Route the path through the parent's high and low at interior points.

        The high replaces the interior point nearest to it and the low the one
        nearest to it, so the path keeps its shape. Extremes already at the open
        or close need no point; if no point is free, a child's wick reaches it.
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

    def _child(
        self, parent: Ohlcv, open_: float, close: float, where: tuple[int, int, int]
    ) -> Ohlcv:
        top, bottom = max(open_, close), min(open_, close)
        up = _unit(self.key, 8, *where) ** 3
        down = _unit(self.key, 9, *where) ** 3
        high = min(parent.high, self.round(top + (parent.high - top) * up))
        low = max(parent.low, self.round(bottom - (bottom - parent.low) * down))
        return Ohlcv(open_, max(high, top), min(low, bottom), close, 0.0)

    def _split_volume(
        self, volume: float, level: int, index: int, count: int
    ) -> list[float]:
        weights = [0.5 + _unit(self.key, 10, level, index, i) for i in range(count)]
        total = sum(weights)
        parts = [float(int(volume * w / total)) for w in weights]
        parts[-1] += volume - sum(parts)
        return parts

    def partial(self, level: int, index: int, now: float) -> Ohlcv:
        """Bar ``index`` of ``level`` as it stands at time ``now`` (inside it)."""
        if level == MINUTE_LEVEL:
            return self._partial_minute(index, now)
        start = index * LEVEL_SECONDS[level]
        child_seconds = LEVEL_SECONDS[level + 1]
        current = int((now - start) // child_seconds)
        children = self._children(level, index)
        done = list(children[:current])
        child_index = start // child_seconds + current
        return merge([*done, self.partial(level + 1, child_index, now)])

    def _partial_minute(self, index: int, now: float) -> Ohlcv:
        bar = self.bar(MINUTE_LEVEL, index)
        fraction = min(1.0, max(0.0, (now - index * 60) / 60))
        first, second = (bar.high, bar.low)
        if _mix(self.key, 11, index) % 2:
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
