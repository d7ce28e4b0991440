"""The contract every feature module implements.

A module is a self-contained FastAPI app: its own routes, its own WebSocket app, its
own OpenAPI and AsyncAPI documents. The factory mounts it at ``/api/v1/<name>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from abc import ABC, abstractmethod
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from trading_api.conventions import API_PREFIX as API_PREFIX
from trading_api.conventions import package_for
from trading_api.shared.docs import add_docs_redirect, add_offline_docs
from trading_api.shared.http_errors import install_error_handlers

if TYPE_CHECKING:
    from trading_api.shared.ws import WsApp, WsRouter


@dataclass(frozen=True)
class ModuleInfo:
    """What one mounted module looks like from outside."""

    name: str
    mount_path: str
    version: str
    has_websocket: bool


class Module(ABC):
    """Base class of every feature module.

    Subclasses set ``name`` (kebab-case, equal to the package name with hyphens)
    and ``description`` as class attributes, so the registry can validate a module
    without instantiating it, and provide a service and REST routers.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    version: ClassVar[str] = "1.0.0"

    @property
    def package(self) -> str:
        """The module's Python package name (snake_case)."""
        return package_for(self.name)

    @property
    def module_dir(self) -> Path:
        """The directory of the module's package."""
        module_file = sys.modules[type(self).__module__].__file__
        assert module_file is not None
        return Path(module_file).parent

    @property
    def mount_path(self) -> str:
        """Where the factory mounts the module app."""
        return f"{API_PREFIX}/{self.name}"

    @property
    @abstractmethod
    def service(self) -> object:
        """The module's domain service."""

    @property
    @abstractmethod
    def api_routers(self) -> Sequence[APIRouter]:
        """REST routers, with paths relative to the module's mount point."""

    @property
    def ws_routers(self) -> Sequence[WsRouter[Any, Any]]:
        """WebSocket routes served at ``<mount>/ws``; none by default."""
        return []

    @property
    def tags(self) -> list[dict[str, str]]:
        """OpenAPI tags of the module: one tag named after the module."""
        return [{"name": self.name, "description": self.description}]

    @property
    def error_statuses(self) -> Mapping[type[Exception], int]:
        """Domain errors the module app answers with a status and their message.

        ``{NotFoundError: 404, BrokerError: 400}`` answers a ``NotFoundError`` with
        404 and ``{"detail": str(error)}``; the most specific class listed wins.
        One place maps the service's errors to HTTP; none by default.
        """
        return {}

    def background_jobs(self) -> Sequence[Callable[[], Coroutine[Any, Any, None]]]:
        """Coroutine functions to run for the app's lifetime (simulations, feeds).

        Each runs as a task started after :meth:`on_startup` and cancelled before
        :meth:`on_shutdown`. None by default.
        """
        return []

    async def on_startup(self) -> None:  # noqa: B027 - optional hook
        """Start background work (simulations, feeds). Runs in the app lifespan."""

    async def on_shutdown(self) -> None:  # noqa: B027 - optional hook
        """Stop what :meth:`on_startup` started."""

    def operation_id(self, route: APIRoute) -> str:
        """Stable, readable operation id: ``<package>_<endpoint function>``."""
        return f"{self.package}_{route.name}"

    def create_app(self) -> tuple[FastAPI, WsApp | None]:
        """Build the module's FastAPI app and, if it has WS routes, its WS app."""
        ws_app = self._create_ws_app()

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.on_startup()
            jobs = [asyncio.create_task(job()) for job in self.background_jobs()]
            try:
                yield
            finally:
                for task in jobs:
                    task.cancel()
                for task in jobs:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                if ws_app is not None:
                    await ws_app.aclose()
                await self.on_shutdown()

        app = FastAPI(
            title=f"Trading API: {self.name}",
            description=self.description,
            version=self.version,
            openapi_tags=self.tags,
            servers=[{"url": self.mount_path}],
            docs_url=None,
            redoc_url=None,
            generate_unique_id_function=self.operation_id,
            lifespan=lifespan,
        )
        for router in self.api_routers:
            app.include_router(router, tags=[self.name])
        for error, status in self.error_statuses.items():
            app.add_exception_handler(error, _answer_with(status))
        # After the module's routes: routing is linear and the docs are rare.
        add_offline_docs(
            app, docs_path="/docs", openapi_path="/openapi.json", title=app.title
        )
        add_docs_redirect(app, paths=["/"], docs_path="/docs")
        install_error_handlers(app)
        if ws_app is not None:
            ws_app.install(app)
        app.state.module = self
        return app, ws_app

    def _create_ws_app(self) -> WsApp | None:
        routers = list(self.ws_routers)
        if not routers:
            return None
        from trading_api.shared.ws import WsApp

        return WsApp(
            module_name=self.name,
            routers=routers,
            title=f"Trading API: {self.name} WebSocket",
            version=self.version,
            description=self.description,
        )


def _answer_with(
    status: int,
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def answer(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=status)

    return answer
