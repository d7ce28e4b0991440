"""The specs and clients ``trading dev`` owes: which modules, and the build running.

Builds run one at a time, after a good reload. A reload cancels the running build
(its output would describe code that just changed) and takes its modules over, so
the next build covers them too.
"""

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class RunningBuild:
    """A build order the zygote carries out."""

    id: int
    modules: tuple[str, ...] | None
    cancelled: bool = False


class BuildQueue:
    """Modules whose generated files are out of date, and the build in progress."""

    def __init__(self) -> None:
        self._owed: set[str] | None = set()  # None: every module
        self.running: RunningBuild | None = None

    @property
    def owed(self) -> bool:
        """Whether some module waits for a build."""
        return self._owed is None or bool(self._owed)

    def owe(self, modules: Iterable[str] | None) -> None:
        """Note that ``modules`` (None: all) need a build."""
        if modules is None:
            self._owed = None
        elif self._owed is not None:
            self._owed.update(modules)

    def start(self, build_id: int) -> tuple[str, ...] | None:
        """Hand every owed module to build ``build_id``; return them (None: all)."""
        modules = None if self._owed is None else tuple(sorted(self._owed))
        self._owed = set()
        self.running = RunningBuild(build_id, modules)
        return modules

    def cancel(self) -> int | None:
        """Take the running build's modules back; return its id to stop it."""
        running = self.running
        if running is None or running.cancelled:
            return None
        running.cancelled = True
        self.owe(running.modules)
        return running.id

    def finished(self, build_id: int) -> None:
        """Build ``build_id`` is over, done or not."""
        if self.running is not None and self.running.id == build_id:
            self.running = None
