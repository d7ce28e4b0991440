"""A module's WebSocket app: the ``/ws`` endpoint, its stats and its AsyncAPI docs.

:meth:`WsApp.install` adds to the module's FastAPI app (paths are relative to the
module's mount point, ``/api/v1/<module>``):

* ``/ws``: the WebSocket endpoint (see :mod:`trading_api.shared.ws.messages`),
  for connections whose ``Origin`` (if any) is on the CORS list and whose bearer
  token verifies (see :meth:`WsApp.serve`);
* ``GET /ws/stats``: ``{connections, topics, subscriptions, dropped,
  queued_bytes}``. It is part of
  the module's OpenAPI document on purpose: operators and generated clients use it;
* ``GET /ws/asyncapi.json`` and ``GET /ws/asyncapi`` (an HTML page rendered on the
  server): documentation, kept out of OpenAPI.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Sequence
from typing import Any, cast

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse

from trading_api.shared.auth._fastapi import (
    authenticator_of,
    bearer_token,
    require_principal,
)
from trading_api.shared.auth._principal import AuthError, Principal
from trading_api.shared.http_cors import OriginPolicy
from trading_api.shared.http_servers import as_served
from trading_api.shared.module_interface import API_PREFIX
from trading_api.shared.ws.asyncapi import build_asyncapi
from trading_api.shared.ws.asyncapi_html import render_asyncapi_html
from trading_api.shared.ws.dispatch import Dispatcher
from trading_api.shared.ws.hub import Hub, WsStats
from trading_api.shared.ws.limits import CLOSE_UNAUTHORIZED, WsLimits
from trading_api.shared.ws.messages import ErrorCode, error_frame
from trading_api.shared.ws.router import WsRouter

logger = logging.getLogger(__name__)

BEARER_SUBPROTOCOL = "bearer"
"""Browsers cannot set headers on a WebSocket: they send the token as the
second subprotocol, ``new WebSocket(url, ["bearer", token])``; the server
answers with ``bearer``."""


async def _principal(websocket: WebSocket, offered: list[str]) -> Principal:
    # The REST dependency's override (FastAPI's dependency_overrides) holds
    # here too, so a test signs in once for both.
    override = websocket.app.dependency_overrides.get(require_principal)
    if override is not None:
        principal = override()
        if inspect.isawaitable(principal):
            principal = await principal
        return cast(Principal, principal)
    token = _token(websocket, offered)
    return await authenticator_of(websocket.app).verify(token)


def _token(websocket: WebSocket, offered: list[str]) -> str:
    authorization = websocket.headers.get("authorization")
    if authorization is not None:
        return bearer_token(authorization)
    if BEARER_SUBPROTOCOL in offered:
        index = offered.index(BEARER_SUBPROTOCOL)
        if index + 1 < len(offered):
            return offered[index + 1]
    raise AuthError(
        "authentication required: send 'Authorization: Bearer <token>' or the "
        "subprotocols 'bearer, <token>'",
        missing=True,
    )


class WsApp:
    """The WebSocket side of one module: a hub shared by all its connections."""

    def __init__(
        self,
        module_name: str,
        routers: Sequence[WsRouter[Any, Any]],
        *,
        title: str,
        version: str,
        description: str = "",
        limits: WsLimits = WsLimits(),
        origin_policy: OriginPolicy | None = None,
        public_routes: frozenset[str] = frozenset(),
    ) -> None:
        """Set up the hub for ``routers``.

        Args:
            origin_policy: The browser origins allowed to connect (the CORS
                list); the local dev servers when None.
            public_routes: Routes a connection without a token may subscribe to.

        Raises:
            ValueError: two routers share a route name.
        """
        seen: dict[str, WsRouter[Any, Any]] = {}
        for router in routers:
            if router.route in seen:
                raise ValueError(
                    f"module {module_name!r}: {type(seen[router.route]).__name__} and "
                    f"{type(router).__name__} both use route {router.route!r}; "
                    "rename one alias in ws.py"
                )
            seen[router.route] = router
        self.module_name = module_name
        self.routers = list(routers)
        self.title = title
        self.version = version
        self.description = description
        self.limits = limits
        if origin_policy is None:
            from trading_api.shared.settings import DEFAULT_CORS_ORIGINS

            origin_policy = OriginPolicy.from_list(DEFAULT_CORS_ORIGINS)
        self.origin_policy = origin_policy
        self.public_routes = public_routes
        self._hub = Hub(limits)
        for router in self.routers:
            router.bind(self._hub.close_route)
        self._dispatcher = Dispatcher(self._hub, self.routers, limits, public_routes)
        self._asyncapi: dict[str, Any] | None = None

    def install(self, app: FastAPI) -> None:
        """Add the ``/ws`` endpoint, ``/ws/stats`` and the AsyncAPI docs to ``app``."""
        app.add_api_websocket_route("/ws", self.serve, name="ws")

        async def ws_stats() -> WsStats:
            """Live WebSocket counts: connections, topics, subscriptions, drops."""
            return self.stats()

        async def ws_asyncapi_json(request: Request) -> JSONResponse:
            return JSONResponse(as_served(self.asyncapi(), request))

        async def ws_asyncapi_page(request: Request) -> HTMLResponse:
            document = as_served(self.asyncapi(), request)
            return HTMLResponse(render_asyncapi_html(document))

        app.add_api_route(
            "/ws/stats",
            ws_stats,
            methods=["GET"],
            response_model=WsStats,
            tags=[self.module_name],
            openapi_extra={"security": []},  # counts only: served to monitors
        )
        app.add_api_route(
            "/ws/asyncapi.json", ws_asyncapi_json, include_in_schema=False
        )
        app.add_api_route("/ws/asyncapi", ws_asyncapi_page, include_in_schema=False)

    async def serve(self, websocket: WebSocket) -> None:
        """Serve one client until it disconnects; then release its topics.

        A browser page from an origin off the CORS list is refused at the
        handshake (HTTP 403). The bearer token comes in the ``Authorization``
        header or, from a browser, as the subprotocols ``bearer, <token>``; a
        missing or bad one closes the connection with 4401 right after it
        opens (the reason says what is wrong), and so does the token expiring
        while the connection is open. A module with public routes also serves
        connections without a token, on those routes only.
        """
        origin = websocket.headers.get("origin")
        if origin is not None and not self.origin_policy.allows(origin):
            logger.info("refusing a WebSocket from origin %r", origin)
            await websocket.close(code=1008)  # before accept: an HTTP 403
            return
        offered: list[str] = websocket.scope.get("subprotocols") or []
        subprotocol = BEARER_SUBPROTOCOL if BEARER_SUBPROTOCOL in offered else None
        principal: Principal | None = None
        try:
            principal = await _principal(websocket, offered)
        except AuthError as error:
            if not (error.missing and self.public_routes):
                await websocket.accept(subprotocol=subprotocol)
                await websocket.close(CLOSE_UNAUTHORIZED, error.reason[:120])
                return
        await websocket.accept(subprotocol=subprotocol)
        conn = self._hub.connect(websocket, principal)
        expiry = None
        if principal is not None and principal.expires_at != float("inf"):
            delay = max(0.0, principal.expires_at - time.time())
            expiry = asyncio.get_running_loop().call_later(
                delay, conn.close, CLOSE_UNAUTHORIZED, "token expired"
            )
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                data = text if text is not None else message.get("bytes", b"")
                try:
                    self._dispatcher.handle(conn, data)
                except Exception:
                    # A bug, not the client's fault: report it, keep serving.
                    logger.exception("handling a WebSocket message failed")
                    conn.send(
                        error_frame(
                            ErrorCode.INTERNAL_ERROR,
                            "the server failed to handle this message; "
                            "the failure is in its log",
                        )
                    )
        finally:
            if expiry is not None:
                expiry.cancel()
            await self._hub.disconnect(conn)

    def asyncapi(self) -> dict[str, Any]:
        """The module's AsyncAPI 3.0 document (built once, then cached)."""
        if self._asyncapi is None:
            self._asyncapi = build_asyncapi(
                self.routers,
                server=self.module_name,
                pathname=f"{API_PREFIX}/{self.module_name}",
                title=self.title,
                version=self.version,
                description=self.description,
                public_routes=self.public_routes,
            )
        return self._asyncapi

    def stats(self) -> WsStats:
        """``{connections, topics, subscriptions, dropped, queued_bytes}`` now."""
        return self._hub.stats()

    async def aclose(self) -> None:
        """Release every connection and finish pending service calls.

        Called from the module app's lifespan shutdown.
        """
        await self._hub.aclose()
