"""The zygote: warm processes that fork every dev server and every spec build.

``trading dev`` starts the zygote once (``python -m trading_cli.dev.zygote``). It
imports the libraries every server needs (fastapi, pydantic, starlette, uvicorn),
none of the project's code, and forks a *spawner*: a process that imports the
project's shared code (the app factory, ``shared/``, ``models/``) but no module,
then forks a server or a build on each order. A server so forked starts with all
that loaded and imports only the modules, fresh from disk: a reload after a
module edit costs what importing the modules costs, not a cold Python start.

An edit outside the module packages makes the spawner's shared code stale: on
``restart`` the zygote forks a new spawner, which imports it again (tens of
milliseconds, not a Python start), and the old one retires: it takes no more
orders and exits once its last server has stopped.

Each server or build leads its own process group, so stopping it also stops what
it started (the Node process of a spec build). Spawners reap their children and
report their exit; on ``quit``, or when ``trading dev`` dies (its end of the
channel closes), everything is stopped, escalating to SIGKILL after a bound.
"""

import contextlib
import importlib
import signal
import socket
import sys
import time
import traceback
from collections.abc import Iterable
from pathlib import Path

from trading_cli.dev import channel
from trading_cli.dev.parent import STOP_GRACE_SECONDS, Child, Parent, exit_now
from trading_cli.project import Project

PRELOAD = (
    "fastapi",
    "fastapi.routing",
    "fastapi.openapi.utils",
    "fastapi_offline",
    "pydantic",
    "pydantic.v1",  # fastapi probes for it on every route
    "starlette.applications",
    "uvicorn",
    "uvicorn.config",
    "uvicorn.server",
    "uvicorn.lifespan.on",
    "uvicorn.loops.asyncio",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.websockets.websockets_sansio_impl",
    "sqlalchemy",  # the modules' storage
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "aiosqlite",
    "trading_cli.dev.server",
    "trading_cli.dev.builder",
)
"""Imported by the zygote: what every server needs, none of the project."""

PRELOAD_FOR_BUILDS = (
    "openapi_spec_validator",
    "openapi_spec_validator.shortcuts",
    "trading_cli.build.result",
)
"""Imported by a spawner before its first build: what spec builds need."""

PROJECT_PRELOAD = (
    "trading_api.app_factory",
    "trading_api.shared.storage",
    "trading_api.shared.ws",
    "trading_api.shared.ws.generated",
)
"""The project's shared code; ``trading_api.models.*`` is added file by file."""


def preload(modules: Iterable[str]) -> None:
    """Import ``modules``; the optional ones may be missing."""
    for name in modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def preload_project(project: Project) -> None:
    """Import the project's shared code, but no module package.

    A file that fails to import is skipped: the server that imports it again
    reports the error with its file and line.
    """
    models = sorted((project.package_dir / "models").glob("[!_]*.py"))
    names = [*PROJECT_PRELOAD, *(f"trading_api.models.{p.stem}" for p in models)]
    for name in names:
        with contextlib.suppress(Exception):
            importlib.import_module(name)


class Spawner(Parent):
    """Holds the project's shared code; forks a server or a build per order."""

    def __init__(
        self,
        project: Project,
        orders: socket.socket,
        reports: socket.socket,
        listener: socket.socket,
    ) -> None:
        super().__init__(orders)
        self.project = project
        self.reports = reports
        self.listener = listener
        self.retired = False
        self.preloaded_builds = False
        self.table: dict[type[channel.Message], channel.Handler] = {
            channel.Serve: self._serve,
            channel.Build: self._build,
            channel.Stop: self._stop_order,
            channel.Retire: self._retire,
            channel.Quit: self._quit,
        }

    def started(self) -> None:
        # The zygote stops a spawner with SIGTERM only as a last resort; even
        # then, stop the servers first.
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "quitting", True))

    def obey(self, order: channel.Message) -> None:
        channel.handler_for(self.table, order)(order)
        self._retire_when_idle()

    def _serve(self, order: channel.Serve) -> None:
        if self.fork("serve", order.id) == 0:
            self._be_child(order)

    def _build(self, order: channel.Build) -> None:
        if not self.preloaded_builds:
            self.preloaded_builds = True
            preload(PRELOAD_FOR_BUILDS)
        if self.fork("build", order.id) == 0:
            self._be_child(order)

    def _stop_order(self, order: channel.Stop) -> None:
        for child in list(self.children.values()):
            if child.order_id == order.id:
                self.stop(child.pid)

    def _retire(self, order: channel.Retire) -> None:
        self.retired = True

    def _quit(self, order: channel.Quit) -> None:
        self.quitting = True

    def exited(self, child: Child, code: int) -> None:
        if not self.quitting:
            with contextlib.suppress(OSError):
                channel.send(
                    self.reports,
                    channel.Exited(
                        pid=child.pid, id=child.order_id, kind=child.kind, code=code
                    ),
                )
        self._retire_when_idle()

    def _retire_when_idle(self) -> None:
        if self.retired and not self.children:
            self.quitting = True

    def _be_child(self, order: channel.Serve | channel.Build) -> None:
        code = 1
        try:
            self.orders.close()
            if isinstance(order, channel.Serve):
                from trading_cli.dev.server import serve_order

                serve_order(self.project, self.reports, self.listener, order)
            else:
                from trading_cli.dev.builder import build_order

                build_order(self.project, self.reports, order)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            exit_now(code)


class Zygote(Parent):
    """Relays orders from ``trading dev`` to the current spawner."""

    def __init__(
        self, project: Project, channel_end: socket.socket, listener: socket.socket
    ) -> None:
        super().__init__(channel_end)
        self.project = project
        self.listener = listener
        self.spawners: dict[int, socket.socket] = {}
        self.current: int | None = None
        self.generation = 0
        self.table: dict[type[channel.Message], channel.Handler] = {
            channel.Quit: self._quit,
            channel.Restart: self._restart,
            # Whichever spawner forked the process concerned acts on this.
            channel.Stop: self._tell_all,
            channel.Serve: self._tell_current,
            channel.Build: self._tell_current,
        }

    def started(self) -> None:
        self._spawn()

    def obey(self, order: channel.Message) -> None:
        channel.handler_for(self.table, order)(order)

    def _quit(self, order: channel.Quit) -> None:
        self.quitting = True

    def _restart(self, order: channel.Restart) -> None:
        self._retire_current()
        self._spawn()

    def _tell_all(self, order: channel.Message) -> None:
        for pid in list(self.spawners):
            self._tell(pid, order)

    def _tell_current(self, order: channel.Message) -> None:
        if self.current is None:
            self._spawn()
        assert self.current is not None
        self._tell(self.current, order)

    def exited(self, child: Child, code: int) -> None:
        with contextlib.suppress(OSError, KeyError):
            self.spawners.pop(child.pid).close()
        if child.pid == self.current:
            self.current = None  # the next order starts a new one

    def _spawn(self) -> None:
        ours, theirs = channel.channel_pair()
        self.generation += 1
        pid = self.fork("spawner", self.generation)
        if pid == 0:
            code = 1
            try:
                ours.close()
                for sock in self.spawners.values():
                    sock.close()
                preload_project(self.project)
                # Reports go straight to `trading dev` on the channel end we hold
                # (we read orders from it; a spawner only writes to it).
                Spawner(self.project, theirs, self.orders, self.listener).run()
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                exit_now(code)
        theirs.close()
        self.spawners[pid] = ours
        self.current = pid

    def _retire_current(self) -> None:
        if self.current is not None:
            self._tell(self.current, channel.Retire())
            self.current = None

    def _tell(self, pid: int, order: channel.Message) -> None:
        with contextlib.suppress(OSError, KeyError):
            channel.send(self.spawners[pid], order)

    def _stop_all(self) -> None:
        # Each spawner stops its servers and builds, then exits; what is left
        # after the grace period is killed.
        for sock in self.spawners.values():
            with contextlib.suppress(OSError):
                channel.send(sock, channel.Quit())
        deadline = time.monotonic() + STOP_GRACE_SECONDS + 2.0
        while self.children and time.monotonic() < deadline:
            self._reap()
            if self.children:
                time.sleep(0.02)
        super()._stop_all()


def main(argv: list[str]) -> None:
    """``python -m trading_cli.dev.zygote ROOT CHANNEL_FD LISTENER_FD``."""
    root, channel_fd, listener_fd = argv
    # Ctrl-C reaches `trading dev`, which stops us in order; never die half-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    preload(PRELOAD)
    zygote = Zygote(
        Project(Path(root)),
        socket.socket(fileno=int(channel_fd)),
        socket.socket(fileno=int(listener_fd)),
    )
    zygote.run()
    # Everything is stopped; skip the interpreter's slow tear-down of a process
    # that imported half of PyPI.
    exit_now(0)


if __name__ == "__main__":
    main(sys.argv[1:])
