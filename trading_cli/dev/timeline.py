"""Where a reload's time goes: named marks on the wall clock.

Each process on a reload's way marks the end of each phase it runs with the
wall clock (``time.time()``, the clock of file times, shared by every process of
the machine): ``trading dev`` marks when the watcher reported the save and when
it sent the order, the server marks the end of each step of the swap or the
start-up. ``trading dev --verbose`` prints the phases after each reload line:

    phases (ms): watch 12, plan 1, relay 1, ws routers 0, import 21, build 14,
    start 1, switch 0 = served in 50 ms; then close 1, stop old 2, caches 3
"""

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


class Timeline:
    """The marks of one reload, in the order they were made.

    A mark names the phase that just ended; the phase started at the previous
    mark (or at the start given to :func:`phases_line`).
    """

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def mark(self, phase: str) -> float:
        """Record that ``phase`` ended now; return the time."""
        now = time.time()
        self.marks[phase] = now
        return now

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Mark ``name`` when the block ends, whether it raised or not."""
        try:
            yield
        finally:
            self.mark(name)


def durations(start: float, marks: Mapping[str, float]) -> list[tuple[str, float]]:
    """Each phase's length in seconds, in order, from ``start``."""
    found = []
    previous = start
    for name, at in marks.items():
        found.append((name, max(at - previous, 0.0)))
        previous = at
    return found


def phases_line(start: float, marks: Mapping[str, float], served_at: float) -> str:
    """``phases (ms): watch 12, ... = served in 50 ms; then close 1, ...``.

    Phases ending by ``served_at`` are the latency a user waits for; the rest
    ran after the new code was served.
    """
    before = {name: at for name, at in marks.items() if at <= served_at}
    after = {name: at for name, at in marks.items() if at > served_at}
    text = f"  phases (ms): {_joined(durations(start, before))}"
    text += f" = served in {(served_at - start) * 1000:.0f} ms"
    if after:
        text += f"; then {_joined(durations(served_at, after))}"
    return text


def _joined(phases: list[tuple[str, float]]) -> str:
    return ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in phases)
