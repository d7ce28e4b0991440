"""The application factory: discovered modules in, one ASGI app out.

``AppFactory().create_app(["broker"])`` mounts each enabled module's own FastAPI
app at ``/api/v1/<name>`` and serves merged OpenAPI and AsyncAPI documents beside
them. Building the app imports the enabled modules and nothing else; it writes no
file and starts no process.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.types import Receive, Scope, Send

from trading_api import __version__
from trading_api.conventions import (
    ALWAYS_ENABLED,
    API_PREFIX,
    ASYNCAPI_PATH,
    DOCS_PATH,
    OPENAPI_PATH,
    mount_path,
)
from trading_api.shared.docs import add_docs_redirect, add_offline_docs
from trading_api.shared.hot_swap import BuiltApp, ModuleLifespans
from trading_api.shared.http_cors import OriginPolicy
from trading_api.shared.http_errors import install_error_handlers
from trading_api.shared.http_limits import limit_body
from trading_api.shared.http_methods import path_methods
from trading_api.shared.http_servers import as_served
from trading_api.shared.module_interface import Module, ModuleInfo
from trading_api.shared.module_registry import DEFAULT_MODULES_DIR, ModuleRegistry
from trading_api.shared.openapi import INFO_CONTACT, INFO_LICENSE, merge_openapi
from trading_api.shared.settings import Settings

if TYPE_CHECKING:
    from trading_api.shared.ws import WsApp

TITLE = "Trading API"
DESCRIPTION = (
    "Every enabled module's REST API, each mounted at /api/v1/<module>; each "
    "module's own document is at /api/v1/<module>/openapi.json."
)


class ModularFastAPI(FastAPI):
    """A FastAPI app made of mounted module apps.

    Attributes:
        modules: The enabled modules, ``core`` first.
        module_apps: Each module's FastAPI app by module name.
        ws_apps: Each module's WebSocket app by module name (modules with WS only).
        origin_policy: The browser origins allowed to call the API (CORS); the
            one list every origin check consults.
        max_body_bytes: The largest request body read; larger is a 413.
        lifespans: The modules' running lifespans, while the app's runs.
    """

    def __init__(
        self,
        modules: Sequence[Module],
        *,
        origin_policy: OriginPolicy | None = None,
        max_body_bytes: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            title=TITLE,
            version=__version__,
            openapi_url=OPENAPI_PATH,
            docs_url=None,
            redoc_url=None,
            lifespan=_run_module_lifespans,
            **kwargs,
        )
        self.modules = list(modules)
        self.module_apps: dict[str, FastAPI] = {}
        self.ws_apps: dict[str, WsApp] = {}
        self.origin_policy = origin_policy or OriginPolicy.from_list(
            Settings().cors_origins
        )
        self.max_body_bytes = max_body_bytes or Settings().max_body_bytes
        # CORS wraps the whole dispatch, fast path included, so every module
        # answers preflights (and a browser can read a 413); requests without
        # an Origin pass straight through. The body limit covers every route.
        self._serve = self.origin_policy.wrap(
            limit_body(self._dispatch, self.max_body_bytes), self._methods_for
        )
        # Module paths reach module apps, which guard their own concrete paths.
        install_error_handlers(self, guard_paths=False)
        add_docs_redirect(
            self, paths=["/", API_PREFIX, f"{API_PREFIX}/"], docs_path=DOCS_PATH
        )
        self.lifespans: ModuleLifespans | None = None
        add_offline_docs(
            self,
            docs_path=DOCS_PATH,
            openapi_path=OPENAPI_PATH,
            title=TITLE,
        )
        self.add_api_route(
            ASYNCAPI_PATH,
            self._asyncapi_route,
            include_in_schema=False,
        )
        infos = [_info(module) for module in self.modules]
        for module in self.modules:
            module_app, ws_app = module.create_app()
            module_app.state.modules = infos
            self.module_apps[module.name] = module_app
            if ws_app is not None:
                ws_app.origin_policy = self.origin_policy  # one list for REST and WS
                self.ws_apps[module.name] = ws_app
            self.mount(module.mount_path, module_app, name=module.name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer CORS, then dispatch (see :meth:`_dispatch`)."""
        await self._serve(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send module requests straight to the module app.

        A request under ``/api/v1/<module>/`` goes to that module's app with the
        scope a Starlette ``Mount`` would give it, skipping the root app's own
        middleware and router: a mounted route then costs what a flat one does.
        When middleware has been added to the root app, every request takes the
        ordinary path so that middleware sees it.
        """
        module_app = self._module_app_for(scope)
        if module_app is None:
            await super().__call__(scope, receive, send)
            return
        root_path = scope.get("root_path", "")
        child_scope = {
            **scope,
            "app_root_path": scope.get("app_root_path", root_path),
            "root_path": f"{root_path}{self._mount_path(module_app.state.module.name)}",
        }
        await module_app(child_scope, receive, send)

    def _methods_for(self, scope: Scope) -> frozenset[str]:
        """The methods served at the path in ``scope``, by whichever app serves
        it: what a CORS preflight may be granted."""
        module_app = self._module_app_for(scope)
        if module_app is None:
            return path_methods(self, scope)
        root_path = scope.get("root_path", "")
        mount = self._mount_path(module_app.state.module.name)
        return path_methods(module_app, {**scope, "root_path": f"{root_path}{mount}"})

    def _module_app_for(self, scope: Scope) -> FastAPI | None:
        if scope["type"] not in ("http", "websocket") or self.user_middleware:
            return None
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        prefix, _, rest = path.partition(f"{API_PREFIX}/")
        name, slash, _ = rest.partition("/")
        if prefix or not slash:
            return None
        return self.module_apps.get(name)

    def openapi(self) -> dict[str, Any]:
        """The merged OpenAPI document of every enabled module."""
        if self.openapi_schema is None:
            self.openapi_schema = merged_openapi(
                {name: app.openapi() for name, app in self.module_apps.items()}
            )
        return self.openapi_schema

    def asyncapi(self) -> dict[str, Any]:
        """The merged AsyncAPI document of every module with WebSocket routes."""
        return merged_asyncapi(
            {name: ws.asyncapi() for name, ws in self.ws_apps.items()}
        )

    async def swap_module(
        self, module: Module, built: BuiltApp | None = None
    ) -> Callable[[], Awaitable[None]]:
        """Serve ``module`` in place of the module of the same name, while running.

        The dev server's hot swap (see :mod:`trading_api.shared.hot_swap`):
        returns the function that stops the replaced module's app.
        """
        from trading_api.shared.hot_swap import swap_module

        return await swap_module(self, module, built)

    async def _asyncapi_route(self, request: Request) -> dict[str, Any]:
        return as_served(self.asyncapi(), request)

    @staticmethod
    def _mount_path(name: str) -> str:
        return mount_path(name)


def merged_openapi(documents: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The merged OpenAPI document served at ``/api/v1/openapi.json``.

    ``documents`` are the modules' own documents by module name, in registry
    order (``core`` first): the app's live ones, or the committed
    ``specs_generated`` files (``trading new-module`` merges those, to spare
    importing every module).

    Raises:
        SpecConflictError: two modules define a component or an operation id
            differently.
    """
    merged = merge_openapi(
        {mount_path(name): document for name, document in documents.items()},
        title=TITLE,
        version=__version__,
    )
    merged["info"] = {
        **merged["info"],
        "description": DESCRIPTION,
        "contact": INFO_CONTACT,
        "license": INFO_LICENSE,
    }
    # Paths carry their full /api/v1/<module> prefix: served from the root.
    merged["servers"] = [{"url": "/"}]
    return merged


def merged_asyncapi(documents: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The merged AsyncAPI document served at ``/api/v1/ws/asyncapi.json``, from
    the AsyncAPI documents of the modules with WebSocket routes, by module name.

    Raises:
        SpecConflictError: two modules define a schema differently.
    """
    from trading_api.shared.ws.asyncapi import merge_asyncapi

    return merge_asyncapi(
        {mount_path(name): document for name, document in documents.items()},
        title=TITLE,
        version=__version__,
    )


@asynccontextmanager
async def _run_module_lifespans(app: FastAPI) -> AsyncIterator[None]:
    # Starlette does not run the lifespan of mounted apps; run each module's here,
    # each in a task of its own so that one module can be swapped while the
    # others run, and close them in reverse order.
    assert isinstance(app, ModularFastAPI)
    lifespans = ModuleLifespans()
    try:
        # No local names a module app: a swapped-out one must not stay referenced.
        for name in list(app.module_apps):
            await lifespans.start(name, app.module_apps[name])
        app.lifespans = lifespans
        yield
    finally:
        app.lifespans = None
        await lifespans.aclose()


def _info(module: Module) -> ModuleInfo:
    return ModuleInfo(
        name=module.name,
        mount_path=module.mount_path,
        version=module.version,
        health=module.health,
        has_websocket=bool(module.ws_routers),
    )


def freeze_for_serving() -> None:
    """Take everything built so far out of the cyclic garbage collector's scans.

    A server process imports FastAPI, pydantic and every module's models before
    it serves; the collector would otherwise walk all of it on each full
    collection, which a busy WebSocket fan-out triggers often. Call once, after
    the app is built, in a process that only serves it (``trading_api.main``).
    """
    gc.collect()
    gc.freeze()


class AppFactory:
    """Builds :class:`ModularFastAPI` apps from the modules found in a folder.

    ``settings`` configures every app it builds; None reads them from the
    environment (:meth:`Settings.from_env`) at each :meth:`create_app`.
    """

    def __init__(
        self,
        modules_dir: Path = DEFAULT_MODULES_DIR,
        *,
        settings: Settings | None = None,
    ) -> None:
        self.modules_dir = modules_dir
        self.settings = settings
        self.registry = ModuleRegistry()

    def create_app(
        self, enabled_module_names: Sequence[str] | None = None
    ) -> ModularFastAPI:
        """Build an app serving ``enabled_module_names`` (None: every module).

        ``core`` is always enabled. Only the enabled modules are imported.

        Raises:
            UnknownModuleError: a name is not a discovered module; lists the known.
            ModuleDiscoveryError: a module breaks the convention or fails to import.
            OriginError: a ``CORS_ORIGINS`` entry is not an origin.
        """
        settings = self.settings or Settings.from_env()
        policy = OriginPolicy.from_list(settings.cors_origins)
        self.registry.clear()
        self.registry.auto_discover(self.modules_dir)
        names = self.resolve_names(enabled_module_names)
        return ModularFastAPI(
            [self.registry.create_module(name) for name in names],
            origin_policy=policy,
            max_body_bytes=settings.max_body_bytes,
        )

    def resolve_names(self, enabled_module_names: Sequence[str] | None) -> list[str]:
        """The modules an app would serve, ``core`` first, in registry order."""
        wanted = {*self.registry.select(enabled_module_names), ALWAYS_ENABLED}
        return [name for name in self.registry.names if name in wanted]
