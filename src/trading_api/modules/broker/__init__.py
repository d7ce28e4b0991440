"""The broker module: a simulated broker, TradingView-broker style.

REST at ``/api/v1/broker`` (orders, positions, executions, account, leverage; the
account is the ``accountId`` query parameter, default ``DEMO-1``) and WebSocket
routes ``orders``, ``positions``, ``executions``, ``equity`` and
``broker-connection``, each subscribed with ``{accountId}``. The simulation steps
once a second in a background task started with the app.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI

from trading_api.shared.module_interface import Module
from trading_api.shared.ws import WsApp, WsRouter

from .api import create_router, install_error_handler
from .service import BrokerService
from .ws_generated import (
    BrokerConnectionRouter,
    EquityRouter,
    ExecutionsRouter,
    OrdersRouter,
    PositionsRouter,
)

__all__ = ["BrokerModule"]


class BrokerModule(Module):
    """Orders, positions and accounts against a simulated market."""

    name = "broker"
    description = "Simulated broker: orders, positions, executions, equity, leverage."

    def __init__(self) -> None:
        """Create the service and its routes; the simulation starts with the app."""
        self._service = BrokerService()
        self._routers = [create_router(self._service)]
        self._ws_routers: list[WsRouter[Any, Any]] = [
            router(self._service)
            for router in (
                OrdersRouter,
                PositionsRouter,
                ExecutionsRouter,
                EquityRouter,
                BrokerConnectionRouter,
            )
        ]
        self._task: asyncio.Task[None] | None = None
        self.simulation_interval = 1.0
        """Seconds between simulation steps; 0 disables them (tests step by hand)."""

    @property
    def service(self) -> BrokerService:
        """The broker service (``step``/``set_price`` drive it in tests)."""
        return self._service

    @property
    def api_routers(self) -> Sequence[APIRouter]:
        """The broker REST routes."""
        return self._routers

    @property
    def ws_routers(self) -> Sequence[WsRouter[Any, Any]]:
        """One WebSocket route per account stream."""
        return self._ws_routers

    def create_app(self) -> tuple[FastAPI, WsApp | None]:
        """Build the module app, with broker errors mapped to HTTP statuses."""
        app, ws_app = super().create_app()
        install_error_handler(app)
        return app, ws_app

    async def on_startup(self) -> None:
        """Start stepping the simulation, unless ``simulation_interval`` is 0."""
        if self.simulation_interval > 0:
            run = self._service.run(self.simulation_interval)
            self._task = asyncio.create_task(run, name="broker-simulation")

    async def on_shutdown(self) -> None:
        """Stop the simulation."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
