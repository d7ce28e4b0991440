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
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from trading_cli.dev import channel
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
    "trading_api.shared.ws",
    "trading_api.shared.ws.codegen",
)
"""The project's shared code; ``trading_api.models.*`` is added file by file."""

STOP_GRACE_SECONDS = 5.0


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


@dataclass
class Child:
    """A forked process not reaped yet."""

    pid: int
    kind: str  # "serve", "build" or "spawner"
    order_id: int
    kill_at: float | None = None


class Parent:
    """A process that forks children, reaps them and stops them on demand.

    Waits on one order socket; SIGCHLD wakes it through a pipe.
    """

    def __init__(self, orders: socket.socket) -> None:
        self.orders = orders
        self.children: dict[int, Child] = {}
        self.selector = selectors.DefaultSelector()
        self.wakeup_r, self.wakeup_w = os.pipe()
        self.quitting = False

    def run(self) -> None:
        """Obey orders until told to quit or the sender is gone."""
        os.set_blocking(self.wakeup_w, False)
        signal.set_wakeup_fd(self.wakeup_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.orders, selectors.EVENT_READ)
        self.selector.register(self.wakeup_r, selectors.EVENT_READ)
        self.started()
        try:
            while not self.quitting:
                self._step()
        finally:
            self._stop_all()

    def started(self) -> None:
        """Called once, before the first order."""

    def obey(self, order: channel.Message, data: bytes) -> None:
        """Carry out one order."""
        raise NotImplementedError

    def exited(self, child: Child, code: int) -> None:
        """A child was reaped."""

    def fork(self, kind: str, order_id: int) -> int:
        """Fork; return 0 in the child (which leads a new process group)."""
        # A stop may follow at once: hold SIGTERM until the child has dropped the
        # handler it inherits, or the signal would run our handler in the child.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        pid = os.fork()
        if pid == 0:
            os.setpgid(0, 0)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            self.selector.close()
            os.close(self.wakeup_r)
            os.close(self.wakeup_w)
            return 0
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        with contextlib.suppress(OSError):  # the child may have done it already
            os.setpgid(pid, pid)
        self.children[pid] = Child(pid, kind, order_id)
        return pid

    def stop(self, pid: int) -> None:
        """SIGTERM the child's group now, SIGKILL it after a grace period."""
        child = self.children.get(pid)
        if child is None or child.kill_at is not None:
            return
        child.kill_at = time.monotonic() + STOP_GRACE_SECONDS
        _signal_group(pid, signal.SIGTERM)

    def _step(self) -> None:
        for key, _ in self.selector.select(self._timeout()):
            if key.fileobj == self.wakeup_r:
                os.read(self.wakeup_r, 4096)
                continue
            data = self.orders.recv(channel.MAX_MESSAGE)
            if not data:
                self.quitting = True
                return
            self.obey(channel.decode(data), data)
        self._reap()
        self._escalate()

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is not None:
                self.exited(child, os.waitstatus_to_exitcode(status))

    def _escalate(self) -> None:
        now = time.monotonic()
        for child in self.children.values():
            if child.kill_at is not None and child.kill_at <= now:
                _signal_group(child.pid, signal.SIGKILL)
                child.kill_at = now + 1.0

    def _timeout(self) -> float | None:
        deadlines = [c.kill_at for c in self.children.values() if c.kill_at]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _stop_all(self) -> None:
        self.quitting = True
        for pid in list(self.children):
            self.stop(pid)
        deadline = time.monotonic() + STOP_GRACE_SECONDS + 1.0
        while self.children and time.monotonic() < deadline:
            self._reap()
            if self.children:
                time.sleep(0.02)
        for pid in list(self.children):
            _signal_group(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            self.children.pop(pid, None)


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

    def started(self) -> None:
        # The zygote stops a spawner with SIGTERM only as a last resort; even
        # then, stop the servers first.
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "quitting", True))
        channel.send(self.reports, {"op": "preloaded", "pid": os.getpid()})

    def obey(self, order: channel.Message, data: bytes) -> None:
        op = order["op"]
        if op == "build" and not self.preloaded_builds:
            self.preloaded_builds = True
            preload(PRELOAD_FOR_BUILDS)
        if op in ("serve", "build"):
            if self.fork(op, order["id"]) == 0:
                self._be_child(op, order)
        elif op == "stop":
            for child in list(self.children.values()):
                if child.order_id == order["id"]:
                    self.stop(child.pid)
        elif op == "retire":
            self.retired = True
        elif op == "quit":
            self.quitting = True
        self._retire_when_idle()

    def exited(self, child: Child, code: int) -> None:
        if not self.quitting:
            with contextlib.suppress(OSError):
                channel.send(
                    self.reports,
                    {
                        "op": "exited",
                        "pid": child.pid,
                        "id": child.order_id,
                        "kind": child.kind,
                        "code": code,
                    },
                )
        self._retire_when_idle()

    def _retire_when_idle(self) -> None:
        if self.retired and not self.children:
            self.quitting = True

    def _be_child(self, kind: str, order: channel.Message) -> None:
        code = 1
        try:
            self.orders.close()
            if kind == "serve":
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
            _exit(code)


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

    def started(self) -> None:
        self._spawn()

    def obey(self, order: channel.Message, data: bytes) -> None:
        op = order["op"]
        if op == "quit":
            self.quitting = True
        elif op == "restart":
            self._retire_current()
            self._spawn()
        elif op == "stop":  # whichever spawner forked it
            for pid in list(self.spawners):
                self._tell(pid, data)
        else:
            if self.current is None:
                self._spawn()
            assert self.current is not None
            self._tell(self.current, data)

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
                _exit(code)
        theirs.close()
        self.spawners[pid] = ours
        self.current = pid

    def _retire_current(self) -> None:
        if self.current is not None:
            self._tell(self.current, b'{"op": "retire"}')
            self.current = None

    def _tell(self, pid: int, data: bytes) -> None:
        with contextlib.suppress(OSError, KeyError):
            self.spawners[pid].send(data)

    def _stop_all(self) -> None:
        # Spawners stop their own servers when their order socket closes.
        for sock in self.spawners.values():
            with contextlib.suppress(OSError):
                sock.send(b'{"op": "quit"}')
        deadline = time.monotonic() + STOP_GRACE_SECONDS + 2.0
        while self.children and time.monotonic() < deadline:
            self._reap()
            if self.children:
                time.sleep(0.02)
        super()._stop_all()


def _exit(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _signal_group(pid: int, sig: int) -> None:
    # The child leads its group and is not reaped yet, so the group id is still
    # its own: this cannot reach an unrelated process.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


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
    _exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
