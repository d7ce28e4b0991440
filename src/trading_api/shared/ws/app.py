"""A module's WebSocket app: the ``/ws`` endpoint, its stats and its AsyncAPI docs.

:meth:`WsApp.install` adds to the module's FastAPI app (paths are relative to the
module's mount point, ``/api/v1/<module>``):

* ``/ws``: the WebSocket endpoint (see :mod:`trading_api.shared.ws.messages`);
* ``GET /ws/stats``: ``{connections, topics, subscriptions, dropped,
  queued_bytes}``. It is part of
  the module's OpenAPI document on purpose: operators and generated clients use it;
* ``GET /ws/asyncapi.json`` and ``GET /ws/asyncapi`` (an HTML page rendered on the
  server): documentation, kept out of OpenAPI.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse

from trading_api.shared.http_servers import as_served
from trading_api.shared.module_interface import API_PREFIX
from trading_api.shared.ws.asyncapi import build_asyncapi
from trading_api.shared.ws.asyncapi_html import render_asyncapi_html
from trading_api.shared.ws.dispatch import Dispatcher
from trading_api.shared.ws.hub import Hub, WsStats
from trading_api.shared.ws.limits import WsLimits
from trading_api.shared.ws.messages import ErrorCode, error_frame
from trading_api.shared.ws.router import WsRouter

logger = logging.getLogger(__name__)


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
    ) -> None:
        """Set up the hub for ``routers``.

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
        self._hub = Hub(limits)
        self._dispatcher = Dispatcher(self._hub, self.routers, limits)
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
        )
        app.add_api_route(
            "/ws/asyncapi.json", ws_asyncapi_json, include_in_schema=False
        )
        app.add_api_route("/ws/asyncapi", ws_asyncapi_page, include_in_schema=False)

    async def serve(self, websocket: WebSocket) -> None:
        """Serve one client until it disconnects; then release its topics."""
        await websocket.accept()
        conn = self._hub.connect(websocket)
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
