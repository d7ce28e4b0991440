"""Which methods a path allows, answered the way its OpenAPI document says.

A 405 lists in ``Allow`` every method the path serves (Starlette lists only
the first matching route's), and a plain ``OPTIONS`` is a 204 with that
``Allow``. A concrete path wins over a templated one, as OpenAPI resolves them:
``PUT /orders/preview`` is a 405 (``preview`` is a POST-only resource), not an
attempt to modify an order whose id is ``preview``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from trading_api.shared.http_routes import route_path

METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def path_methods(app: Any, scope: Scope) -> frozenset[str]:
    """The methods the routes of ``app`` serve at the path in ``scope``, and
    ``OPTIONS``."""
    allowed = {"OPTIONS"}
    for method in METHODS:
        probe = {**scope, "method": method}
        for route in app.router.routes:
            match, _ = route.matches(probe)
            if match is Match.FULL:
                if not getattr(route, "is_guard", False):
                    allowed.add(method)
                break
    return frozenset(allowed)


def allowed_methods(app: Any, scope: Scope) -> str:
    """The ``Allow`` value of the path in ``scope``: the methods routes serve."""
    return ", ".join(sorted(path_methods(app, scope)))


def method_not_allowed(request: Request) -> Response:
    """405 with the full ``Allow``; a plain ``OPTIONS`` gets 204 instead."""
    allow = allowed_methods(request.app, request.scope)
    if request.method == "OPTIONS":
        return Response(status_code=204, headers={"Allow": allow})
    return JSONResponse(
        {"detail": "Method Not Allowed"}, status_code=405, headers={"Allow": allow}
    )


class ConcretePathGuard(BaseRoute):
    """The first route of a module app: refuses undocumented methods on concrete
    paths before a templated route (``/orders/{order_id}``) can take them.

    On the first request it reads the app's documented routes (every route is
    registered by then; the OpenAPI document lists exactly these) and keeps only
    the concrete paths a templated route would otherwise serve; an app without
    such a clash pays one check per request. Reading the routes, not generating
    the document, keeps a fresh app's first request as fast as the next.
    """

    is_guard = True
    """Answers refusals only: never a method the path serves."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._guarded: dict[str, frozenset[str]] | None = None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        guarded = self._guarded
        if guarded is None:
            guarded = self._guarded = self._clashing_paths()
        if not guarded or scope["type"] != "http":
            return Match.NONE, {}
        methods = guarded.get(route_path(scope))
        if methods is None or scope["method"] in methods:
            return Match.NONE, {}
        return Match.FULL, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = method_not_allowed(Request(scope, receive))
        await response(scope, receive, send)

    def _clashing_paths(self) -> dict[str, frozenset[str]]:
        paths: dict[str, set[str]] = {}
        for route in iter_route_contexts(self.app.routes):
            api = isinstance(route.original_route, APIRoute)
            if api and route.include_in_schema and route.path_format:
                paths.setdefault(route.path_format, set()).update(route.methods or ())
        guarded: dict[str, frozenset[str]] = {}
        for path, methods in paths.items():
            documented = frozenset(method.upper() for method in methods)
            if "{" not in path and self._taken_elsewhere(path, documented):
                guarded[path] = documented
        return guarded

    def _taken_elsewhere(self, path: str, documented: frozenset[str]) -> bool:
        for method in set(METHODS) - documented - {"HEAD", "OPTIONS"}:
            probe = {"type": "http", "path": path, "root_path": "", "method": method}
            for route in self.app.router.routes:
                if getattr(route, "is_guard", False):
                    continue
                if route.matches(probe)[0] is Match.FULL:
                    return True
        return False
