"""The datafeed module: simulated market data, TradingView-datafeed style.

REST at ``/api/v1/datafeed`` (``/config``, ``/search``, ``/resolve/{symbol}``,
``/bars``, ``/quotes``) and WebSocket routes ``bars`` and ``quotes``. Live streams
are driven by a background task started with the app.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI

from trading_api.shared.module_interface import Module
from trading_api.shared.ws import WsApp, WsRouter

from .api import create_router, install_error_handler
from .service import DatafeedService
from .ws_generated import BarsRouter, QuotesRouter

__all__ = ["DatafeedModule"]


class DatafeedModule(Module):
    """Symbols, history, quotes and live bars of a simulated 24x7 market."""

    name = "datafeed"
    description = "Simulated market data: symbols, bar history, quotes, live bars."

    def __init__(self) -> None:
        """Create the service and its routes; nothing runs until startup."""
        self._service = DatafeedService()
        self._routers = [create_router(self._service)]
        self._ws_routers: list[WsRouter[Any, Any]] = [
            BarsRouter(self._service),
            QuotesRouter(self._service),
        ]
        self._task: asyncio.Task[None] | None = None

    @property
    def service(self) -> DatafeedService:
        """The datafeed service."""
        return self._service

    @property
    def api_routers(self) -> Sequence[APIRouter]:
        """The datafeed REST routes."""
        return self._routers

    @property
    def ws_routers(self) -> Sequence[WsRouter[Any, Any]]:
        """The ``bars`` and ``quotes`` WebSocket routes."""
        return self._ws_routers

    def create_app(self) -> tuple[FastAPI, WsApp | None]:
        """Build the module app, with datafeed errors mapped to HTTP statuses."""
        app, ws_app = super().create_app()
        install_error_handler(app)
        return app, ws_app

    async def on_startup(self) -> None:
        """Start driving the live streams."""
        self._task = asyncio.create_task(self._service.run(), name="datafeed-streams")

    async def on_shutdown(self) -> None:
        """Stop the live streams."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
