"""The hooks a module overrides: domain errors as HTTP, background jobs."""

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.testclient import TestClient

from trading_api.shared.module_interface import Module


class OrderError(Exception):
    """Any rule of the test domain."""


class UnknownOrderError(OrderError):
    """No such order."""


class Ledger:
    """A service with a feed that records whether it is running."""

    def __init__(self) -> None:
        self.ticks = 0
        self.stopped = False

    async def run(self) -> None:
        try:
            while True:
                self.ticks += 1
                await asyncio.sleep(0.001)
        except asyncio.CancelledError:
            self.stopped = True
            raise


class LedgerModule(Module):
    name = "ledger"

    def __init__(self) -> None:
        self._service = Ledger()
        router = APIRouter()

        @router.get("/orders/{order_id}")
        async def get_order(order_id: str) -> dict[str, str]:
            if order_id == "missing":
                raise UnknownOrderError(f"no order {order_id!r}")
            raise OrderError("orders are closed today")

        self._routers = [router]

    @property
    def service(self) -> Ledger:
        return self._service

    @property
    def api_routers(self) -> Sequence[APIRouter]:
        return self._routers

    @property
    def error_statuses(self) -> Mapping[type[Exception], int]:
        return {UnknownOrderError: 404, OrderError: 400}

    def background_jobs(self) -> Sequence[Callable[[], Coroutine[Any, Any, None]]]:
        return [self._service.run]


def test_domain_errors_get_the_status_of_their_most_specific_class() -> None:
    app, _ = LedgerModule().create_app()
    with TestClient(app) as client:
        missing = client.get("/orders/missing")
        closed = client.get("/orders/42")
    assert (missing.status_code, missing.json()) == (
        404,
        {"detail": "no order 'missing'"},
    )
    assert (closed.status_code, closed.json()) == (
        400,
        {"detail": "orders are closed today"},
    )


def test_background_jobs_run_with_the_app_and_stop_with_it() -> None:
    module = LedgerModule()
    app, _ = module.create_app()
    with TestClient(app) as client:
        for _ in range(1000):  # each request lets the app's loop run the job
            if module.service.ticks >= 3:
                break
            client.get("/orders/missing")
    assert module.service.ticks >= 3
    assert module.service.stopped
