"""Replacing one module of a running app: what ``trading dev`` does on a save.

The root app runs each module app's lifespan in a task of its own
(:class:`ModuleLifespans`), so one module's lifespan can end while the others go
on, and a new one can start beside them. :func:`swap_module` starts the new
module's app (its start-up hooks and background jobs), puts it in the old one's
place for every new request, and hands back a function that stops the old one:
its background jobs are cancelled, its WebSocket hub releases every topic, its
shutdown hook runs. A new app that fails to build or start changes nothing.

Closing the old module's open WebSocket connections is the server's part (it
sees the connections): ``trading dev`` closes them with
:data:`~trading_api.shared.ws.limits.CLOSE_RELOADING` (1012) before it stops
the old app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.routing import Mount

if TYPE_CHECKING:
    from fastapi import FastAPI

    from trading_api.app_factory import ModularFastAPI
    from trading_api.shared.module_interface import Module
    from trading_api.shared.ws import WsApp

BuiltApp = tuple["FastAPI", "WsApp | None"]
"""What :meth:`~trading_api.shared.module_interface.Module.create_app` returns."""

logger = logging.getLogger(__name__)


class _Lifespan:
    """One module app's lifespan, run by a task that holds it open until told."""

    def __init__(self, name: str, app: FastAPI) -> None:
        self.name = name
        self.app = app
        self.started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.stopping = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"lifespan of {name}")

    async def _run(self) -> None:
        try:
            async with self.app.router.lifespan_context(self.app):
                self.started.set_result(None)
                await self.stopping.wait()
        except BaseException as exc:
            if not self.started.done():
                self.started.set_exception(exc)
                return
            if not isinstance(exc, asyncio.CancelledError):
                logger.exception("module %r failed to shut down", self.name)
            raise

    async def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self.task


class ModuleLifespans:
    """The lifespans of a running app's modules, each in a task of its own."""

    def __init__(self) -> None:
        self._running: dict[str, _Lifespan] = {}

    async def start(self, name: str, app: FastAPI) -> None:
        """Run ``app``'s start-up; it serves as module ``name`` until stopped.

        Raises:
            Exception: whatever the start-up raised; nothing is left running.
        """
        lifespan = _Lifespan(name, app)
        await lifespan.started
        self._running[name] = lifespan

    async def replace(self, name: str, app: FastAPI) -> Callable[[], Awaitable[None]]:
        """Start ``app`` as module ``name``; return what stops the one it replaces.

        Raises:
            Exception: whatever the start-up raised; the old one keeps running.
        """
        old = self._running.get(name)
        await self.start(name, app)
        if old is None:
            return _nothing
        return old.stop

    async def aclose(self) -> None:
        """Stop every lifespan, the last started first."""
        while self._running:
            _, lifespan = self._running.popitem()
            await lifespan.stop()


async def _nothing() -> None:
    return None


WARM_UP_SCOPE = {
    "type": "http",
    "method": "GET",
    "path": "/\x00",
    "root_path": "",
    "headers": [],
    "query_string": b"",
}
"""A request no route matches: matching it visits every route."""


def warm_up(app: FastAPI) -> None:
    """Build now what an app builds on its first request.

    FastAPI prepares the routes of an included router (their parameters,
    response models and handlers) when a request first walks them, and
    Starlette builds the middleware stack on the first call. Done here, off the
    event loop, before the app serves, the first request after a reload costs
    what any other does.
    """
    for route in app.router.routes:
        route.matches(dict(WARM_UP_SCOPE))
    if app.middleware_stack is None:
        app.middleware_stack = app.build_middleware_stack()


async def swap_module(
    app: ModularFastAPI, module: Module, built: BuiltApp | None = None
) -> Callable[[], Awaitable[None]]:
    """Serve ``module`` in place of the enabled module of the same name.

    Builds the module's app (unless ``built`` is what ``module.create_app()``
    returned already), runs its start-up, then routes every new request and
    connection to it. Returns the function that stops the replaced app: call it
    once its connections are closed.

    Raises:
        LookupError: ``module`` is not one the app serves, or the app's lifespan
            is not running.
        Exception: whatever building or starting the new app raised; the old app
            goes on serving untouched.
    """
    from trading_api.app_factory import _info

    name = module.name
    lifespans = app.lifespans
    if name not in app.module_apps or lifespans is None:
        raise LookupError(f"module {name!r} is not running in this app")
    module_app, ws_app = built or module.create_app()
    modules = [module if old.name == name else old for old in app.modules]
    infos = [_info(each) for each in modules]
    module_app.state.modules = infos
    stop_old = await lifespans.replace(name, module_app)
    # From here on nothing awaits: requests see the old app or the new one whole.
    app.modules = modules
    app.module_apps[name] = module_app
    for other in app.module_apps.values():
        other.state.modules = infos
    if ws_app is None:
        app.ws_apps.pop(name, None)
    else:
        app.ws_apps[name] = ws_app
    routes = app.router.routes
    for index, route in enumerate(routes):
        if isinstance(route, Mount) and route.name == name:
            routes[index] = Mount(route.path, app=module_app, name=name)
    app.openapi_schema = None
    return stop_old
