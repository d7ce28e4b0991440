"""The contract every feature module implements.

A module is a self-contained FastAPI app: its own routes, its own WebSocket app, its
own OpenAPI and AsyncAPI documents. The factory mounts it at ``/api/v1/<name>``.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from fastapi import APIRouter, FastAPI, Request, Security
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from trading_api.conventions import API_PREFIX as API_PREFIX
from trading_api.conventions import package_for
from trading_api.shared.auth._fastapi import (
    UNAUTHORIZED_RESPONSE,
    is_public,
    require_principal,
)
from trading_api.shared.auth._verify import authenticator_for
from trading_api.shared.docs import add_docs_redirect, add_offline_docs
from trading_api.shared.http_errors import install_error_handlers
from trading_api.shared.jobs import Job, JobSupervisor, ModuleHealth
from trading_api.shared.openapi import INFO_CONTACT, INFO_LICENSE

if TYPE_CHECKING:
    from sqlalchemy import MetaData

    from trading_api.shared.settings import Settings
    from trading_api.shared.storage import ModuleDatabase
    from trading_api.shared.ws import WsApp, WsRouter


def _no_jobs_health() -> ModuleHealth:
    return ModuleHealth(status="ok", jobs=[])


@dataclass(frozen=True)
class ModuleInfo:
    """What one mounted module looks like from outside."""

    name: str
    mount_path: str
    version: str
    has_websocket: bool
    health: Callable[[], ModuleHealth] = field(
        default=_no_jobs_health, compare=False, repr=False
    )
    """The module's health right now (see :meth:`Module.health`)."""


class Module(ABC):
    """Base class of every feature module.

    Subclasses set ``name`` (kebab-case, equal to the package name with hyphens)
    and ``description`` as class attributes, so the registry can validate a module
    without instantiating it, and provide a service and REST routers.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    version: ClassVar[str] = "1.0.0"
    tables: ClassVar[MetaData | None] = None
    """The module's SQL tables (``trading_api.shared.storage``); None: no state."""
    public_ws_routes: ClassVar[frozenset[str]] = frozenset()
    """WebSocket routes a connection without a bearer token may subscribe to;
    every other route needs one (closed by default, like REST)."""

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

    @cached_property
    def database(self) -> ModuleDatabase:
        """The database as this module sees it: opened in the app's lifespan."""
        from trading_api.shared.storage import ModuleDatabase, StorageError

        if self.tables is None:
            raise StorageError(f"module {self.name!r} declares no tables")
        return ModuleDatabase(self.name, self.tables)

    @property
    @abstractmethod
    def service(self) -> object:
        """The module's domain service."""

    @property
    @abstractmethod
    def api_routers(self) -> Sequence[APIRouter]:
        """REST routers, with paths relative to the module's mount point.

        Every route requires a bearer token (:mod:`trading_api.shared.auth`)
        unless its endpoint is marked :func:`~trading_api.shared.auth.public`.
        """

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

    def background_jobs(self) -> Sequence[Job]:
        """Work to run for the app's lifetime (simulations, feeds).

        Coroutine functions (long-running loops) or
        :class:`~trading_api.shared.jobs.PeriodicJob` steps. Each runs supervised
        (see :mod:`trading_api.shared.jobs`) as a task started after
        :meth:`on_startup` and cancelled before :meth:`on_shutdown`: a failure is
        logged with its traceback, the job goes on, and a job that keeps failing
        makes the module unhealthy. None by default.
        """
        return []

    def health(self) -> ModuleHealth:
        """The module's health: unhealthy while a background job keeps failing.

        Served at ``<mount>/health`` and, for every module, by the core module's
        ``/health``.
        """
        supervisor: JobSupervisor | None = getattr(self, "_job_supervisor", None)
        if supervisor is None:
            return ModuleHealth(status="ok", jobs=[])
        return supervisor.health()

    async def on_startup(self) -> None:  # noqa: B027 - optional hook
        """Start background work (simulations, feeds). Runs in the app lifespan."""

    async def on_shutdown(self) -> None:  # noqa: B027 - optional hook
        """Stop what :meth:`on_startup` started."""

    def operation_id(self, route: APIRoute) -> str:
        """Stable, readable operation id: ``<package>_<endpoint function>``."""
        return f"{self.package}_{route.name}"

    def create_app(
        self, settings: Settings | None = None
    ) -> tuple[FastAPI, WsApp | None]:
        """Build the module's FastAPI app and, if it has WS routes, its WS app.

        Args:
            settings: WebSocket limits and the job policy; read from the
                environment when not given.
        """
        if settings is None:
            # Imported here: settings reads the WS limits, and the WS package
            # imports this module.
            from trading_api.shared.settings import Settings

            settings = Settings.from_env()
        ws_app = self._create_ws_app(settings)

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            if self.tables is not None:
                await self.database.open(settings.database_url)
            await self.on_startup()
            supervisor = JobSupervisor(
                self.name, self.background_jobs(), settings.job_policy
            )
            self._job_supervisor = supervisor
            supervisor.start()
            try:
                yield
            finally:
                await supervisor.stop()
                if ws_app is not None:
                    await ws_app.aclose()
                await self.on_shutdown()
                if self.tables is not None:
                    await self.database.close()

        app = FastAPI(
            title=f"Trading API: {self.name}",
            description=self.description,
            version=self.version,
            openapi_tags=self.tags,
            servers=[{"url": self.mount_path}],
            docs_url=None,
            redoc_url=None,
            generate_unique_id_function=self.operation_id,
            contact=INFO_CONTACT,
            license_info=INFO_LICENSE,
            lifespan=lifespan,
        )
        app.state.authenticator = authenticator_for(settings.auth)
        app_tags: list[str | Enum] = [self.name]
        for router in self.api_routers:
            _include_closed(app, router, tags=list(app_tags))
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
        own_paths = {
            getattr(route, "path", None)
            for router in self.api_routers
            for route in router.routes
        }
        if "/health" not in own_paths:  # core serves the server's health there
            _add_health_route(app, self)
        app.state.module = self
        return app, ws_app

    def _create_ws_app(self, settings: Settings) -> WsApp | None:
        routers = list(self.ws_routers)
        if not routers:
            return None
        from trading_api.shared.http_cors import OriginPolicy
        from trading_api.shared.ws import WsApp

        return WsApp(
            module_name=self.name,
            routers=routers,
            title=f"Trading API: {self.name} WebSocket",
            version=self.version,
            description=self.description,
            limits=settings.ws_limits,
            origin_policy=OriginPolicy.from_list(settings.cors_origins),
            public_routes=self.public_ws_routes,
        )


def _add_health_route(app: FastAPI, module: Module) -> None:
    async def module_health() -> JSONResponse:
        """The module's health: 503 while one of its background jobs keeps failing.

        Names each job, its consecutive failures and its last error.
        """
        health = module.health()
        status = 200 if health.status == "ok" else 503
        return JSONResponse(health.model_dump(mode="json"), status_code=status)

    app.add_api_route(
        "/health",
        module_health,
        methods=["GET"],
        response_model=ModuleHealth,
        summary="Module health",
        tags=[module.name],
        openapi_extra=PUBLIC_OPERATION,
        responses={503: {"model": ModuleHealth, "description": "A job keeps failing"}},
        name="health",
    )


PUBLIC_OPERATION: dict[str, Any] = {"security": []}
"""``openapi_extra`` of a route served without a token: it says so in OpenAPI."""


def _include_closed(app: FastAPI, router: APIRouter, *, tags: list[str | Enum]) -> None:
    """Include ``router``'s routes in ``app``, each behind a bearer token unless
    its endpoint is declared public; route order is kept."""
    closed = [Security(require_principal)]
    for route in router.routes:
        single = APIRouter(routes=[route])
        if not isinstance(route, APIRoute):
            app.include_router(single, tags=tags)
        elif is_public(route.endpoint):
            route.openapi_extra = {**(route.openapi_extra or {}), **PUBLIC_OPERATION}
            app.include_router(single, tags=tags)
        else:
            app.include_router(
                single, tags=tags, dependencies=closed, responses=UNAUTHORIZED_RESPONSE
            )


def _answer_with(
    status: int,
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def answer(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=status)

    return answer
