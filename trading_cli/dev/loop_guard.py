"""Stopping a reload loop: a file that changes every time the server starts.

Generated files are never watched, so ``trading dev`` cannot loop on its own
output. The guard covers the rest: an app that writes into the source tree while
it starts, or a tool that rewrites a file after each reload. A change is *caused
by a reload* when it happened while a new server was starting (or just after it
came up). A user, or a script driving ``trading dev``, may well save right after a
reload, but a loop rewrites *the same file* each time: more than ``max_reloads``
such reloads in a row within ``window`` seconds, all of them changing one file,
with no other edit between them, pause reloading until a file other than the
looping ones changes.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

CLOCK_SLACK = 0.02


class Verdict(Enum):
    """What to do about one burst of changes."""

    RELOAD = "reload"
    PAUSE = "pause"  # a loop was just detected: say so, do not reload
    IGNORE = "ignore"  # paused, and only the looping files changed again


@dataclass
class LoopGuard:
    """Counts reloads that were triggered only by changes made during reloads.

    Times are wall-clock seconds (``time.time()``), the clock of file mtimes.
    """

    max_reloads: int = 5
    window: float = 10.0
    grace: float = 0.25
    _reloads: dict[int, tuple[float, float | None]] = field(default_factory=dict)
    _streak: list[tuple[float, frozenset[Path]]] = field(default_factory=list)
    looping: frozenset[Path] = frozenset()

    def reload_started(self, token: int, at: float) -> None:
        """A new server started loading at ``at``."""
        self._reloads[token] = (at, None)

    def reload_finished(self, token: int, at: float) -> None:
        """The server of ``token`` is up (or failed) at ``at``."""
        if token in self._reloads:
            self._reloads[token] = (self._reloads[token][0], at)

    def judge(self, changed: Mapping[Path, float], now: float) -> Verdict:
        """Whether the files in ``changed`` (path -> time of change) may reload."""
        self._forget(now)
        if self.looping:
            if set(changed) <= self.looping:
                return Verdict.IGNORE
            self.looping = frozenset()
            self._streak.clear()
        if not changed or not all(map(self._during_reload, changed.values())):
            self._streak.clear()
            return Verdict.RELOAD
        self._streak.append((now, frozenset(changed)))
        # Keep the newest reloads that share a file: different files saved
        # quickly one after another are edits, not a loop.
        while len(self._streak) > 1 and not self._common():
            self._streak.pop(0)
        if len(self._streak) <= self.max_reloads:
            return Verdict.RELOAD
        self.looping = self._common()
        return Verdict.PAUSE

    @property
    def culprit(self) -> Path | None:
        """The file that changed in every reload of the detected loop."""
        common = self._common()
        return min(common, key=str) if common else None

    def _common(self) -> frozenset[Path]:
        """The files that changed in every reload of the streak."""
        if not self._streak:
            return frozenset()
        return frozenset.intersection(*(files for _, files in self._streak))

    @property
    def streak(self) -> int:
        """Reloads in a row that changes made during reloads triggered."""
        return len(self._streak)

    def _during_reload(self, moment: float) -> bool:
        # File times come from the kernel's coarse clock, a few ms behind.
        return any(
            start - CLOCK_SLACK
            <= moment
            <= (end + self.grace if end is not None else moment)
            for start, end in self._reloads.values()
        )

    def _forget(self, now: float) -> None:
        horizon = now - self.window
        self._streak = [entry for entry in self._streak if entry[0] >= horizon]
        self._reloads = {
            token: (start, end)
            for token, (start, end) in self._reloads.items()
            if end is None or end >= horizon
        }
