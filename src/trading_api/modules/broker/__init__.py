"""The broker module: a simulated broker, TradingView-broker style.

REST at ``/api/v1/broker`` (orders, positions, executions, account, leverage; the
account is the ``accountId`` query parameter, default ``DEMO-1``) and WebSocket
routes ``orders``, ``positions``, ``executions``, ``equity`` and
``broker-connection``, each subscribed with ``{accountId}``. Prices, symbols and
sessions come from the shared market library; a background task matches resting
orders and pushes P&L at the quote rate (twice a second). Every account, order,
position, execution, leverage and idempotency key is stored in the broker's
tables (``tables.py``, migrations in ``migrations/``).
"""

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter

from trading_api.market import Market
from trading_api.shared.jobs import Job, PeriodicJob
from trading_api.shared.module_interface import Module
from trading_api.shared.ws import WsRouter

from .api import ERROR_STATUSES, create_router
from .service import BrokerService
from .settings import BrokerSettings
from .tables import Base
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
    tables = Base.metadata

    def __init__(
        self, market: Market | None = None, settings: BrokerSettings | None = None
    ) -> None:
        """Create the service and its routes; matching starts with the app.

        Args:
            market: The market to trade on (tests pass one with a manual clock);
                the real-time market by default.
            settings: Limits; read from the environment when None.
        """
        self._service = BrokerService(
            self.database,
            market=market,
            settings=settings or BrokerSettings.from_env(),
        )
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
        self._service.serve_streams(self._ws_routers)
        self.simulation_interval = 0.5
        """Seconds between matching steps (the datafeed's fast quote rate); 0
        disables them (tests step by hand)."""

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

    @property
    def error_statuses(self) -> Mapping[type[Exception], int]:
        """Broker errors as HTTP statuses (see ``api.ERROR_STATUSES``)."""
        return ERROR_STATUSES

    async def on_startup(self) -> None:
        """Load the stored accounts, open orders and positions."""
        await self._service.open()

    async def on_shutdown(self) -> None:
        """Give the broker's database connection back."""
        await self._service.close()

    def background_jobs(self) -> Sequence[Job]:
        """Match and mark to market every ``simulation_interval`` seconds (0: never).

        The runtime supervises the step: one that raises is logged and the next
        runs; steps that keep failing make ``/health`` name ``broker-matching``.
        On PostgreSQL a second job relays the events of every instance to this
        one's WebSocket subscribers.
        """
        jobs: list[Job] = []
        if self._service.shared:
            # Several instances: deliver every instance's events to this one's
            # subscribers.
            jobs.append(self._service.relay)
        if self.simulation_interval > 0:
            jobs.append(
                PeriodicJob(
                    step=self._service.step,
                    interval=self.simulation_interval,
                    name="broker-matching",
                )
            )
        return jobs
