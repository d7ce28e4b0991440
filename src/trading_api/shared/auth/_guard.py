"""Authentication first: a closed route refuses an anonymous caller before it
looks at anything the request carries.

FastAPI checks a request in this order: parameter text (the module app's
:class:`~trading_api.shared.http_params.ParameterTextGuard`), the body's JSON,
then the dependencies (the bearer token among them), the body's schema and the
handler. Left so, an anonymous caller of a closed route would get 422s that
teach it the route's input rules. :class:`AuthenticationGuard` is a route put
in front of those: a request for a closed operation whose token is not known to
be valid is taken by it, and answered 401 unless its token verifies; once it
does, the request is routed again, as if the guard were not there, and meets
the other checks in their usual order.

Routing refusals stay first: the guard takes only a path and method a closed
operation serves, so an unknown path is still a 404 and an unserved method a
405. A request whose token was verified before (the authenticator remembers it)
never stops at the guard: reusing a token costs one dictionary look-up here.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from trading_api.shared.auth._fastapi import (
    authenticator_of,
    bearer_token,
    require_principal,
    unauthorized,
)
from trading_api.shared.auth._principal import AuthError
from trading_api.shared.http_routes import PathTemplate, route_path

__all__ = ["AuthenticationGuard"]

VERIFIED = "trading.auth_verified"
"""Scope key: the guard verified this request's token; route it on."""


class _Closed(PathTemplate):
    """The methods a path template serves behind a token."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.methods: set[str] = set()


class AuthenticationGuard(BaseRoute):
    """A module app's route, ahead of its content checks: 401 to a request for
    a closed operation without a valid bearer token.

    It stands for the closed operations themselves (it matches only what they
    serve), so the ``Allow`` of a 405 still lists their methods.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._closed: list[_Closed] | None = None
        self._concrete: frozenset[str] = frozenset()

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        closed = self._closed
        if closed is None:
            closed = self._closed = self._closed_operations()
        if not closed or scope["type"] != "http" or scope.get(VERIFIED):
            return Match.NONE, {}
        if require_principal in self.app.dependency_overrides:
            return Match.NONE, {}  # signed in (tests): the override decides
        if not self._is_closed(closed, route_path(scope), scope["method"]):
            return Match.NONE, {}
        token = _authorization(scope)
        if token is not None:
            try:
                known = authenticator_of(self.app).remembered(bearer_token(token))
            except AuthError:
                known = None
            if known is not None:
                return Match.NONE, {}
        return Match.FULL, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            token = bearer_token(_authorization(scope))
            await authenticator_of(self.app).verify(token)
        except AuthError as error:
            raise unauthorized(error) from None
        scope[VERIFIED] = True
        await self.app.router(scope, receive, send)

    def _is_closed(self, closed: list[_Closed], path: str, method: str) -> bool:
        return any(
            method in operation.methods and operation.match(path, self._concrete)
            for operation in closed
        )

    def _closed_operations(self) -> list[_Closed]:
        by_path: dict[str, _Closed] = {}
        concrete = set()
        for route in iter_route_contexts(self.app.routes):
            if not isinstance(route.original_route, APIRoute) or not route.path_format:
                continue
            path = route.path_format
            if "{" not in path:
                concrete.add(path)
            if route.dependant is None or not _needs_token(route.dependant):
                continue
            operation = by_path.setdefault(path, _Closed(path))
            operation.methods.update(method.upper() for method in route.methods or ())
        self._concrete = frozenset(concrete)
        return list(by_path.values())


def _needs_token(dependant: Dependant) -> bool:
    return any(
        sub.call is require_principal or _needs_token(sub)
        for sub in dependant.dependencies
    )


def _authorization(scope: Scope) -> str | None:
    return Headers(scope=scope).get("authorization")
