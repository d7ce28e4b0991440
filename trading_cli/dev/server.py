"""One dev server: regenerate WS routers, build the app, serve it.

In the dev loop this runs in a process forked by the zygote, on the listening
socket that ``trading dev`` holds for its whole life: a reload never refuses a
connection, the next server simply starts accepting on the same socket before the
old one stops. With ``--no-reload`` it runs in the ``trading dev`` process itself.

An app that fails to load (a syntax error, a failing import, a start-up hook that
raises) is not fatal in the dev loop: the server answers every request with 503
and the error, so a client sees why instead of a hung or refused connection, and
the next good save replaces it.
"""

import asyncio
import json
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trading_cli.dev import channel
from trading_cli.dev.failure import Failure, describe_failure
from trading_cli.dev.timeline import Timeline
from trading_cli.project import Project

if TYPE_CHECKING:
    from starlette.types import Message, Receive, Scope, Send

    from trading_api.app_factory import ModularFastAPI
    from trading_cli.dev.swap import Swapper

PARENT_POLL_SECONDS = 0.5
DRAIN_SECONDS = 0.2
"""How long a stopping server keeps serving connections it already accepted."""
GRACEFUL_SHUTDOWN_SECONDS = 2
STATS_PATH = "/_trading_dev/stats"
"""The dev server's own health: swaps done, asyncio tasks, retired modules still
alive, resident memory (JSON)."""


@dataclass
class LoadedApp:
    """The outcome of loading the project's app.

    Attributes:
        app: The app, or None when loading failed.
        modules: The modules it serves (what was asked for when it failed).
        written: WS router files regenerated on the way, relative to the root.
        failure: Why loading failed.
    """

    app: "ModularFastAPI | None"
    modules: list[str]
    written: list[str] = field(default_factory=list)
    failure: Failure | None = None


def load_app(
    project: Project,
    modules: Sequence[str] | None,
    codegen: Sequence[str] | None,
    timeline: Timeline | None = None,
) -> LoadedApp:
    """Regenerate the WS routers of ``codegen`` (None: every served module), then
    build the app serving ``modules`` (None: all). Never raises for the project's
    own errors: they come back in :attr:`LoadedApp.failure`. ``timeline`` gets
    a mark per phase."""
    project.activate()
    from trading_cli.dev.ws_routers import write_ws_routers

    timeline = timeline or Timeline()
    written: list[Path] = []
    names = list(modules or [])
    try:
        from trading_api.app_factory import AppFactory

        factory = AppFactory(project.modules_dir)
        factory.registry.auto_discover(project.modules_dir)
        names = factory.resolve_names(modules)
        with timeline.phase("ws routers"):
            chosen = names if codegen is None else [n for n in codegen if n in names]
            for name in chosen:
                package_dir = factory.registry.entry(name).package_dir
                written += write_ws_routers(project, package_dir)
        with timeline.phase("import and build"):
            app = factory.create_app(modules)
            _warm_up(app)
    except Exception as exc:
        return LoadedApp(
            app=None,
            modules=names,
            written=_relative(written, project.root),
            failure=describe_failure(exc, project.root),
        )
    return LoadedApp(
        app=app,
        modules=[module.name for module in app.modules],
        written=_relative(written, project.root),
    )


def _warm_up(app: "ModularFastAPI") -> None:
    """Build what the apps would build on their first request, before serving."""
    from trading_api.shared.hot_swap import warm_up

    for module_app in app.module_apps.values():
        warm_up(module_app)
    warm_up(app)


def _relative(paths: list[Path], root: Path) -> list[str]:
    return [str(path.relative_to(root)) for path in paths]


class DevApp:
    """What a dev server serves: the project's app, or the reason it failed.

    The app's lifespan runs inside this wrapper, so a start-up hook that raises
    becomes a :class:`Failure` like an import error, instead of a dead server.
    """

    def __init__(
        self,
        app: "ModularFastAPI | None",
        failure: Failure | None,
        describe: Callable[[BaseException], Failure],
    ) -> None:
        from trading_cli.dev.sessions import Sessions

        self.app = app
        self.failure = failure
        self.describe = describe
        self.sessions = Sessions()
        self.stats: Callable[[], dict[str, int]] | None = None

    async def __call__(self, scope: "Scope", receive: "Receive", send: "Send") -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        elif scope["type"] == "http" and scope["path"] == STATS_PATH and self.stats:
            await _send_json(send, 200, self.stats())
        elif self.app is None or self.failure is not None:
            await self._refuse(scope, receive, send)
        elif scope["type"] == "websocket":
            await self.sessions.serve(self.app, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _lifespan(self, scope: "Scope", receive: "Receive", send: "Send") -> None:
        if self.app is None or self.failure is not None:
            await _idle_lifespan(receive, send, started=False)
            return
        started = False

        async def guarded_send(message: "Message") -> None:
            nonlocal started
            if message["type"] == "lifespan.startup.failed":
                return  # reported as this server's failure instead
            started = started or message["type"] == "lifespan.startup.complete"
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except Exception as exc:
            if started:
                raise
            self.failure = self.describe(exc)
            await _idle_lifespan(receive, send, started=True)

    async def _refuse(self, scope: "Scope", receive: "Receive", send: "Send") -> None:
        summary = self.failure.summary if self.failure else "no app"
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send(
                {"type": "websocket.close", "code": 1011, "reason": summary[:120]}
            )
            return
        if scope["type"] != "http":
            return
        await _send_json(
            send,
            503,
            {
                "detail": f"the app failed to load ({summary}); "
                "fix it and save: trading dev reloads",
                "error": self.failure.block if self.failure else "",
            },
        )


async def _send_json(send: "Send", status: int, content: object) -> None:
    body = json.dumps(content).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _idle_lifespan(receive: "Receive", send: "Send", *, started: bool) -> None:
    """Answer the rest of a lifespan conversation for an app with nothing to run."""
    if not started:
        await receive()  # lifespan.startup
    await send({"type": "lifespan.startup.complete"})
    await receive()  # lifespan.shutdown
    await send({"type": "lifespan.shutdown.complete"})


def run_server(
    app: DevApp,
    listener: socket.socket,
    on_started: Callable[[], None],
    *,
    exit_on_failure: bool = False,
    watch_parent: bool = False,
) -> None:
    """Serve ``app`` on ``listener`` until SIGINT or SIGTERM.

    ``on_started`` runs once the app's start-up is done and the server accepts.
    A stop signal makes the server stop accepting at once (the next server is
    already accepting on the same socket), then finish its requests.

    Args:
        exit_on_failure: Stop right after start-up if the app failed.
        watch_parent: Stop when the parent process dies (forked servers).
    """
    import uvicorn

    class DevServer(uvicorn.Server):
        loop: asyncio.AbstractEventLoop | None = None
        draining = False

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            self.loop = asyncio.get_running_loop()
            if watch_parent:
                self.watchdog = asyncio.create_task(self._watch_parent(os.getppid()))
            if exit_on_failure and app.failure is not None:
                self.should_exit = True
            on_started()

        def handle_exit(self, sig: int, frame: Any) -> None:
            if self.loop is None or self.draining:
                super().handle_exit(sig, frame)
                return
            self.draining = True
            self.loop.call_soon_threadsafe(self._drain)

        def _drain(self) -> None:
            # Stop accepting at once, but let connections accepted a moment ago
            # deliver their request before shutdown closes the idle ones:
            # uvicorn would otherwise drop them without an answer.
            for server in getattr(self, "servers", []):
                server.close()
            assert self.loop is not None
            self.loop.call_later(DRAIN_SECONDS, self._exit)

        def _exit(self) -> None:
            self.should_exit = True

        async def _watch_parent(self, parent: int) -> None:
            while os.getppid() == parent:
                await asyncio.sleep(PARENT_POLL_SECONDS)
            self.should_exit = True

    config = uvicorn.Config(
        app,
        lifespan="on",
        ws="websockets-sansio",
        log_level="info",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    # Keep the access log; silence start/stop chatter, repeated on every reload.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    DevServer(config).run(sockets=[listener])


def serve_order(
    project: Project,
    reports: socket.socket,
    listener: socket.socket,
    order: channel.Serve,
) -> None:
    """Carry out a ``Serve`` order in a forked process: report ``Serving`` with
    one end of a control channel of its own, then carry out the ``Swap`` orders
    ``trading dev`` sends on it (straight, not through the zygote)."""
    from trading_api.conventions import MODULES_PACKAGE
    from trading_cli.dev import code_cache

    timeline = Timeline()
    timeline.mark("relay and fork")
    code_cache.install(f"{MODULES_PACKAGE}.")
    loaded = load_app(project, order.modules, order.codegen, timeline)
    app = DevApp(
        loaded.app, loaded.failure, lambda exc: describe_failure(exc, project.root)
    )
    tasks: list[asyncio.Task[None]] = []

    control, theirs = channel.channel_pair()

    def started() -> None:
        timeline.mark("start")
        channel.send(
            reports,
            channel.Serving(
                id=order.id,
                pid=os.getpid(),
                modules=loaded.modules,
                written=loaded.written,
                failure=app.failure,
                timeline=timeline.marks,
            ),
            theirs,
        )
        theirs.close()
        if app.app is not None and app.failure is None:
            from trading_cli.dev.adapters import AdapterCache, install
            from trading_cli.dev.swap import Swapper

            adapters = AdapterCache()
            swapper = Swapper(
                project, app.app, app.sessions, adapters if install(adapters) else None
            )
            app.stats = partial(server_stats, swapper)
            control.setblocking(False)
            tasks.append(asyncio.create_task(obey(swapper, order.id, control, reports)))

    run_server(app, listener, started, watch_parent=True)


async def obey(
    swapper: "Swapper", server_id: int, control: socket.socket, reports: socket.socket
) -> None:
    """Carry out the orders for this server, one at a time, until the channel
    closes."""
    from trading_cli.dev.swap import SwapResult

    async def swap(order: channel.Swap, result: SwapResult) -> None:
        result = await swapper.swap(order.module, result)
        channel.send(
            reports,
            channel.Swapped(
                id=order.id,
                server=server_id,
                module=order.module,
                written=result.written,
                failure=result.failure,
                served_at=result.served_at,
                timeline=result.timeline.marks,
            ),
        )

    table: dict[type[channel.Message], Callable[[Any, SwapResult], Awaitable[None]]]
    table = {channel.Swap: swap}
    loop = asyncio.get_running_loop()
    while data := await loop.sock_recv(control, channel.MAX_MESSAGE):
        result = SwapResult()
        result.timeline.mark("relay")
        try:
            order = channel.decode(data)
            await channel.handler_for(table, order)(order, result)
        except channel.ChannelError as exc:  # a bug: say so, keep serving
            print(f"trading dev: {exc}", file=sys.stderr)


def server_stats(swapper: "Swapper") -> dict[str, int]:
    """What ``GET /_trading_dev/stats`` answers: the server's own health."""
    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/statm") as statm:
        resident = int(statm.read().split()[1]) * page
    return {
        "pid": os.getpid(),
        "swaps": swapper.swaps,
        "tasks": len(asyncio.all_tasks()),
        "retired_alive": swapper.retired_alive(),
        "rss_bytes": resident,
    }
