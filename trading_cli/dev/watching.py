"""From a burst of saves to a reload: which path it takes, or none.

:class:`Watching` is the part of :class:`~trading_cli.dev.supervisor.DevLoop`
that watches the tree: it finds which files really changed, what they touch,
asks the loop guard, applies new migrations, then starts a swap (an edit
confined to one served module, with a server up and well) or a full reload.
"""

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from trading_cli.dev import channel, report
from trading_cli.dev.build_queue import BuildQueue
from trading_cli.dev.changes import (
    ChangeClassifier,
    ChangeSet,
    ContentIndex,
    WatchFilter,
)
from trading_cli.dev.link import ZygoteLink
from trading_cli.dev.loop_guard import LoopGuard, Verdict
from trading_cli.dev.timeline import Timeline
from trading_cli.errors import CliError
from trading_cli.project import Project

Emit = Callable[[str, bool], None]
"""Print one message; the flag says it is an error (stderr)."""

STEP_MS = 5
"""A burst ends after this long without a new event: a `git checkout` of many
files, or an editor's write-then-rename (microseconds apart), is one reload. The
watcher looks every step, so a save is seen one to two steps after it lands."""
DEBOUNCE_MS = 1600
"""A burst that goes on changing is cut after this long."""
OLDEST_SAVE_SECONDS = 2.0
"""A file time older than this before detection is not the save (``cp -p``)."""


@dataclass
class Reload:
    """A server (or a swap) asked for and not yet serving."""

    id: int
    changes: ChangeSet | None  # None: the first start
    saved_at: float  # wall clock of the earliest save
    build: tuple[str, ...] | None
    timeline: Timeline = field(default_factory=Timeline)


class Watching:
    """Turns the watcher's bursts into reloads (see the module's docstring)."""

    # What the dev loop holds, and this part reads or changes.
    project: Project
    swap: bool
    served: frozenset[str] | None
    emit: Emit
    guard: LoopGuard
    filter: WatchFilter
    index: ContentIndex
    classifier: ChangeClassifier
    builds: BuildQueue
    link: ZygoteLink
    _pending: dict[int, Reload]
    _serving_id: int | None
    _serving_ok: bool
    _broken: set[str]
    _unapplied: set[Path]
    _last_change: float
    _watch_stop: asyncio.Event

    # What the dev loop does for it.
    def _start_swap(self, reload: Reload, module: str) -> None:
        raise NotImplementedError

    def _start_server(
        self, reload: Reload, codegen: tuple[str, ...] | None = None
    ) -> None:
        raise NotImplementedError

    def _maybe_build(self) -> None:
        raise NotImplementedError

    def _relative(self, path: Path) -> str:
        raise NotImplementedError

    async def _watch(self) -> None:
        from watchfiles import awatch

        async for batch in awatch(
            *self.filter.roots,
            watch_filter=self.filter,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=self._watch_stop,
            ignore_permission_denied=True,
        ):
            try:
                await self._on_changes(Path(path) for _, path in batch)
            except Exception as exc:  # a bad burst must not end the watching
                self.emit(f"error: trading dev: {type(exc).__name__}: {exc}", True)

    async def _on_changes(self, paths: Iterable[Path]) -> None:
        detected = time.time()
        files = sorted({*self.index.update(paths), *self._unapplied})
        self._unapplied = set()
        if not files:
            return
        self._last_change = detected
        changes = self.classifier.classify(files)
        if changes.templates:
            self.emit(
                report.templates_line([self._relative(p) for p in changes.templates]),
                False,
            )
        plan = changes.plan(self.served, self.classifier.module_names())
        if not plan.reload:
            self.builds.owe(plan.build)
            self._maybe_build()
            return
        times = {path: _changed_at(path, detected) for path in changes.files}
        verdict = self.guard.judge(times, detected)
        if verdict is Verdict.PAUSE and self.guard.culprit is not None:
            self.emit(
                report.loop_line(
                    Path(self._relative(self.guard.culprit)),
                    self.guard.streak,
                    self.guard.window,
                ),
                True,
            )
        if verdict is not Verdict.RELOAD:
            return
        reload = Reload(0, changes, min(times.values()), plan.build)
        reload.timeline.marks["watch"] = detected
        migrated = sorted(changes.migrations & set(plan.codegen or self._served()))
        if migrated and not await self._upgrade(migrated):
            self._unapplied = set(changes.files)  # reloaded with the next save
            return
        if migrated:
            reload.timeline.mark("migrate")
        swappable = self._swappable(changes, plan.codegen)
        if swappable is not None:
            self._start_swap(reload, swappable)
            return
        if changes.everything:  # the zygote imported the old shared code
            self.link.send(channel.Restart())
        self._start_server(reload, plan.codegen)

    def _served(self) -> frozenset[str]:
        """The modules served now (or about to be)."""
        return self.served or self.classifier.module_names()

    async def _upgrade(self, modules: list[str]) -> bool:
        """Run the new migrations of ``modules`` before their new code serves.

        In a worker thread: the watcher's events queue meanwhile, so nothing
        reloads before the tables are up to date. False, with one line said,
        when a migration fails: the old code keeps serving.
        """
        from trading_cli.db import describe_transition, upgrade_for_reload

        try:
            done = await asyncio.to_thread(upgrade_for_reload, self.project, modules)
        except CliError as exc:
            self._broken.update(modules)  # no spec build of code not served
            self.emit(
                f"error: {exc}; the previous code keeps serving until you save a fix",
                True,
            )
            return False
        for transition in done:
            if transition.changed:
                self.emit(f"database: {describe_transition(transition)}", False)
        return True

    def _swappable(
        self, changes: ChangeSet, codegen: tuple[str, ...] | None
    ) -> str | None:
        """The module to swap for ``changes``, or None for a full reload.

        A swap needs a server up with a loaded app and no full reload on its
        way, and edits confined to one served module's package.
        """
        if not self.swap or changes.everything or changes.modules_moved:
            return None
        if codegen is None:
            return None
        if self._pending or self._serving_id is None or not self._serving_ok:
            return None
        if self._serving_id not in self.link.controls:
            return None
        if len(changes.modules) != 1 or len(codegen) != 1:
            return None
        return codegen[0]


def _changed_at(path: Path, detected: float) -> float:
    """When ``path`` was saved: its mtime, unless it is gone or implausibly old."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return detected
    return mtime if detected - OLDEST_SAVE_SECONDS <= mtime <= detected else detected
