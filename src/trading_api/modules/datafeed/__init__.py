"""The datafeed module: simulated market data, TradingView-datafeed style.

REST at ``/api/v1/datafeed`` (``/config``, ``/time``, ``/search``,
``/resolve/{symbol}``, ``/bars``, ``/quotes``) and WebSocket routes ``bars`` and
``quotes``, all read from the shared market library. Live streams are driven by a
background task started with the app.
"""

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from fastapi import APIRouter

from trading_api.market import Market
from trading_api.shared.module_interface import Module
from trading_api.shared.ws import WsRouter

from .api import ERROR_STATUSES, create_router
from .service import DatafeedService
from .ws_generated import BarsRouter, QuotesRouter

__all__ = ["DatafeedModule"]


class DatafeedModule(Module):
    """Symbols, history, quotes and live bars of the simulated market."""

    name = "datafeed"
    description = "Simulated market data: symbols, bar history, quotes, live bars."
    # Market data belongs to no user: charts stream it before anyone signs in.
    public_ws_routes = frozenset({"bars", "quotes"})

    def __init__(self, market: Market | None = None) -> None:
        """Create the service and its routes; nothing runs until startup.

        Args:
            market: The market to serve (tests pass one with a manual clock);
                the real-time market by default.
        """
        self._service = DatafeedService(market)
        self._routers = [create_router(self._service)]
        self._ws_routers: list[WsRouter[Any, Any]] = [
            BarsRouter(self._service),
            QuotesRouter(self._service),
        ]

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

    @property
    def error_statuses(self) -> Mapping[type[Exception], int]:
        """Datafeed errors as HTTP statuses (see ``api.ERROR_STATUSES``)."""
        return ERROR_STATUSES

    def background_jobs(self) -> Sequence[Callable[[], Coroutine[Any, Any, None]]]:
        """Drive the live ``bars`` and ``quotes`` streams."""
        return [self._service.run]
