"""The dev loop: watch the project, swap in a fresh server, rebuild generated files.

``trading dev`` holds the listening socket and a zygote process (see
:mod:`trading_cli.dev.zygote`). On a burst of edits it works out which modules
they touch, asks the zygote for a new server (which regenerates those modules' WS
routers, imports the code fresh and starts accepting on the shared socket), stops
the old server once the new one is up, then asks for a build of the specs and
clients of those modules. This process never imports the project's code, so it
never serves or generates from stale modules.

Its parts: :class:`DevLoop` here (what is serving, the reports of the servers
and builds, the orders that start them), :mod:`~trading_cli.dev.watching` (from
a burst of saves to a reload) and :mod:`~trading_cli.dev.link` (the zygote's
process and the channels to it and to each server).
"""

import asyncio
import signal
import socket
import time
from pathlib import Path

from trading_api.conventions import ALWAYS_ENABLED  # noqa: TID253 (standard library only)
from trading_cli.dev import channel, report
from trading_cli.dev.build_queue import BuildQueue
from trading_cli.dev.changes import (
    ChangeClassifier,
    ChangeSet,
    ContentIndex,
    WatchFilter,
)
from trading_cli.dev.link import ZygoteLink
from trading_cli.dev.loop_guard import LoopGuard
from trading_cli.dev.timeline import phases_line
from trading_cli.dev.watching import Emit, Reload, Watching
from trading_cli.errors import EXIT_FAILED, EXIT_OK
from trading_cli.project import Project

BUILD_QUIET_SECONDS = 1.0
"""Specs and clients are rebuilt once no file changed for this long: saves in
quick succession reload each time, but build once, after the last."""


class DevLoop(Watching):
    """Runs ``trading dev`` until Ctrl-C, SIGTERM or a fatal error."""

    def __init__(
        self,
        project: Project,
        listener: socket.socket,
        url: str,
        modules: list[str] | None,
        emit: Emit,
        guard: LoopGuard | None = None,
        *,
        swap: bool = True,
        build: bool = True,
        verbose: bool = False,
    ) -> None:
        self.project = project
        self.swap = swap
        self.build = build
        self.verbose = verbose
        self.listener = listener
        self.url = url
        self.modules = modules
        self.served = None if modules is None else frozenset({ALWAYS_ENABLED, *modules})
        self.emit = emit
        self.guard = guard or LoopGuard()
        self.started_at = time.time()
        roots = [project.package_dir]
        if project.templates_dir.is_dir():
            roots.append(project.templates_dir)
        self.filter = WatchFilter(roots)
        self.index = ContentIndex(self.filter)
        self.classifier = ChangeClassifier(project)
        self.exit_code = EXIT_OK
        self._next_id = 0
        self._pending: dict[int, Reload] = {}
        self._serving_id: int | None = None  # the server accepting now
        self._latest_id = 0  # the newest server that came up
        self._serving_ok = False
        self._swaps: dict[int, Reload] = {}  # swap orders not answered yet
        self._broken: set[str] = set()  # modules whose last swap failed
        self._unapplied: set[Path] = set()  # edits held back by a failed migration
        self.builds = BuildQueue()
        self._last_change = 0.0  # when the watcher last saw a file change
        self._build_timer: asyncio.TimerHandle | None = None
        self.link = ZygoteLink(project.root, listener)
        self._stop = asyncio.Event()
        self._watch_stop = asyncio.Event()
        self._table: dict[type[channel.Message], channel.Handler] = {
            channel.Serving: self._on_serving,
            channel.Swapped: self._on_swapped,
            channel.Built: self._on_built,
            channel.Exited: self._on_exited,
        }

    async def run(self) -> int:
        """Serve and reload until stopped; return the exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self._stop.set)
        tasks = []
        try:
            self.link.spawn()
            tasks.append(asyncio.create_task(self._read_channel()))
            # Orders queue until the zygote and its spawner are ready for them.
            self._start_server(Reload(0, None, self.started_at, self._first_build()))
            self.index.scan()
            tasks.append(asyncio.create_task(self._watch()))
            await self._stop.wait()
        finally:
            if self._build_timer is not None:
                self._build_timer.cancel()
            self._watch_stop.set()
            await self.link.quit()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        return self.exit_code

    def _first_build(self) -> tuple[str, ...] | None:
        return None if self.served is None else tuple(sorted(self.served))

    # The zygote and its channel.

    def _send(self, message: channel.Message) -> None:
        self.link.send(message)

    async def _read_channel(self) -> None:
        def dispatch(message: channel.Message) -> None:
            channel.handler_for(self._table, message)(message)

        def on_error(exc: Exception) -> None:
            self.emit(f"error: trading dev: {type(exc).__name__}: {exc}", True)

        await self.link.read(dispatch, on_error)
        if not self._stop.is_set():
            self._fail("the dev server's zygote process died; restart trading dev")

    def _fail(self, message: str, code: int = EXIT_FAILED) -> None:
        self.emit(f"error: {message}", True)
        self.exit_code = code
        self._stop.set()

    # Messages from the zygote and its children.

    def _on_serving(self, message: channel.Serving) -> None:
        now = time.time()
        server_id = message.id
        self.guard.reload_finished(server_id, now)
        reload = self._pending.pop(server_id, None)
        if reload is None or server_id < self._latest_id:
            self._send(channel.Stop(server_id))  # a newer one serves
            return
        if self._serving_id is not None:
            self._send(channel.Stop(self._serving_id))
        self._serving_id = self._latest_id = server_id
        self._swaps.clear()  # they were for the old server
        self._broken.clear()
        failure = message.failure
        self._serving_ok = failure is None
        self.builds.owe(reload.build)
        if failure is not None:
            self.emit(
                report.failure_block(
                    "the app failed to load; it answers 503 until you save a fix:",
                    failure.block,
                ),
                True,
            )
        elif reload.changes is None:
            seconds = now - reload.saved_at
            self.emit(report.ready_line(self.url, message.modules, seconds), False)
        else:
            served_at = message.timeline.get("start", now)
            self.emit(
                self._reload_line(reload, message.written, served_at, "full"), False
            )
            self._emit_phases(reload, message.timeline, served_at)
        self._maybe_build()

    def _on_swapped(self, message: channel.Swapped) -> None:
        now = time.time()
        self.guard.reload_finished(message.id, now)
        swap = self._swaps.pop(message.id, None)
        if swap is None or message.server != self._serving_id:
            return  # a full reload replaced that server meanwhile
        if message.failure is not None:
            self._broken.add(message.module)
            self.emit(
                report.failure_block(
                    f"{message.module} failed to reload; its previous code keeps "
                    "serving until you save a fix:",
                    message.failure.block,
                ),
                True,
            )
            return
        self._broken.discard(message.module)
        self.builds.owe(swap.build)
        served_at = message.served_at
        self.emit(self._reload_line(swap, message.written, served_at, "swap"), False)
        self._emit_phases(swap, message.timeline, served_at)
        self._maybe_build()

    def _emit_phases(
        self, reload: Reload, marks: dict[str, float], served_at: float
    ) -> None:
        """With ``--verbose``: where the reload's time went."""
        if self.verbose:
            marks = {**reload.timeline.marks, **marks}
            self.emit(phases_line(reload.saved_at, marks, served_at), False)

    def _reload_line(
        self, reload: Reload, written: list[str], served_at: float, path: str
    ) -> str:
        assert reload.changes is not None
        return report.reload_line(
            [self._relative(p) for p in reload.changes.files],
            self._affected(reload.changes),
            [self._relative(self.project.root / p) for p in written],
            served_at - reload.saved_at,
            path,
        )

    def _on_built(self, message: channel.Built) -> None:
        running = self.builds.running
        if running is not None and running.id == message.id and running.cancelled:
            return  # stopped half-way on purpose; its modules are owed again
        modules = message.modules
        if message.failure is not None:
            self.emit(report.build_failed_line(modules, message.failure.summary), True)
        elif message.written:
            written = [self._relative(self.project.root / p) for p in message.written]
            self.emit(report.built_line(modules, written, message.seconds), False)

    def _on_exited(self, message: channel.Exited) -> None:
        if message.kind == "serve":
            self.link.close_control(message.id)
        if message.kind == "build":
            self.builds.finished(message.id)
            self._maybe_build()
            return
        if self._stop.is_set():
            return
        code = message.code
        if message.id == self._serving_id:
            self._serving_id = None
            self._serving_ok = False
            self._swaps.clear()
            self.emit(
                f"error: the server exited (code {code}); "
                "save a change to start it again",
                True,
            )
        elif self._pending.pop(message.id, None) is not None:
            self.guard.reload_finished(message.id, time.time())
            self.emit(
                f"error: the new server exited (code {code}) before serving; "
                "the previous one keeps serving until you save a fix",
                True,
            )
            self._maybe_build()

    # Orders.

    def _start_swap(self, reload: Reload, module: str) -> None:
        assert self._serving_id is not None
        cancelled = self.builds.cancel()  # it would describe code that changed
        if cancelled is not None:
            self._send(channel.Stop(cancelled))
        reload.id = self._new_id()
        self._swaps[reload.id] = reload
        self.guard.reload_started(reload.id, reload.timeline.mark("plan"))
        swap = channel.Swap(id=reload.id, server=self._serving_id, module=module)
        self.link.order(self._serving_id, swap)

    def _start_server(
        self, reload: Reload, codegen: tuple[str, ...] | None = None
    ) -> None:
        cancelled = self.builds.cancel()  # it would describe code that changed
        if cancelled is not None:
            self._send(channel.Stop(cancelled))
        reload.id = self._new_id()
        self._pending[reload.id] = reload
        self.guard.reload_started(reload.id, reload.timeline.mark("plan"))
        self._send(
            channel.Serve(
                id=reload.id,
                modules=self.modules,
                codegen=None if codegen is None else list(codegen),
            )
        )

    def _maybe_build(self) -> None:
        """Start the owed build once the newest server is up and well, no
        module's code on disk failed to load, and no file changed for
        :data:`BUILD_QUIET_SECONDS`; never with ``--no-build``."""
        if not self.build:
            return
        if self.builds.running or not self.builds.owed or self._pending:
            return
        if self._swaps or self._broken:
            return
        if not self._serving_ok:
            return
        quiet_in = self._last_change + BUILD_QUIET_SECONDS - time.time()
        if quiet_in > 0:
            if self._build_timer is None:
                loop = asyncio.get_running_loop()
                self._build_timer = loop.call_later(quiet_in, self._build_when_quiet)
            return
        build_id = self._new_id()
        modules = self.builds.start(build_id)
        self._send(
            channel.Build(
                id=build_id, modules=None if modules is None else list(modules)
            )
        )

    def _build_when_quiet(self) -> None:
        self._build_timer = None
        self._maybe_build()

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _affected(self, changes: ChangeSet) -> list[str] | None:
        if changes.everything or changes.modules_moved:
            return None
        modules = (
            changes.modules if self.served is None else changes.modules & self.served
        )
        return sorted(modules)

    def _relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.project.package_dir))
        except ValueError:
            return str(path.relative_to(self.project.root))
