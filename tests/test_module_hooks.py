"""The hooks a module overrides: domain errors as HTTP, supervised background jobs."""

import asyncio
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from trading_api.app_factory import ModularFastAPI
from trading_api.modules.core import CoreModule
from trading_api.shared.auth.testing import sign_in
from trading_api.shared.jobs import Job, JobPolicy, PeriodicJob
from trading_api.shared.module_interface import Module
from trading_api.shared.settings import Settings


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
    with TestClient(sign_in(app)) as client:
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


WAIT = 20.0  # a bound for waiting on the app's thread, not a speed requirement


class Feed:
    """Steps that fail when ``fails(call_number)`` says so; counts every call."""

    def __init__(self, fails: Callable[[int], bool]) -> None:
        self.fails = fails
        self.calls = 0
        self.target = 0
        self.reached = threading.Event()

    def step(self) -> None:
        self.calls += 1
        if self.calls >= self.target:
            self.reached.set()
        if self.fails(self.calls):
            raise KeyError(f"AAPL at step {self.calls}")

    async def run(self) -> None:
        """A long-running loop whose start fails when ``fails`` says so."""
        self.step()
        while True:
            await asyncio.sleep(3600)

    def wait_for_call(self, number: int) -> None:
        """Block until call ``number`` started: every earlier one is finished."""
        self.target = number
        if self.calls < number:
            self.reached.clear()
            assert self.reached.wait(WAIT), f"the job stopped at call {self.calls}"


class FeedModule(Module):
    name = "feed"

    def __init__(self, feed: Feed, job: Callable[[Feed], Job]) -> None:
        self._feed = feed
        self._job = job(feed)

    @property
    def service(self) -> Feed:
        return self._feed

    @property
    def api_routers(self) -> Sequence[APIRouter]:
        return []

    def background_jobs(self) -> Sequence[Job]:
        return [self._job]


def every_millisecond(feed: Feed) -> Job:
    return PeriodicJob(feed.step, interval=0.001)


FAST_RESTART = Settings(job_policy=JobPolicy(restart_delay=0))


def test_failing_step_is_logged_with_its_traceback_and_the_job_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed = Feed(fails=lambda call: call == 2)
    app, _ = FeedModule(feed, every_millisecond).create_app(FAST_RESTART)
    with TestClient(app) as client:
        feed.wait_for_call(5)
        health = client.get("/health")

    assert health.status_code == 200
    (job,) = health.json()["jobs"]
    assert job["name"] == "Feed.step"
    assert (job["status"], job["failures"], job["consecutive_failures"]) == ("ok", 1, 0)
    assert job["last_error"] == "KeyError: 'AAPL at step 2'"
    (record,) = [r for r in caplog.records if r.name == "trading_api.shared.jobs"]
    assert record.exc_info is not None
    assert "'feed': background job 'Feed.step' failed" in record.getMessage()


def test_job_that_keeps_failing_makes_its_module_unhealthy_naming_job_and_error() -> (
    None
):
    feed = Feed(fails=lambda call: True)
    app, _ = FeedModule(feed, every_millisecond).create_app(FAST_RESTART)
    with TestClient(app) as client:
        feed.wait_for_call(4)  # three steps failed
        health = client.get("/health")

    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "unhealthy"
    (job,) = body["jobs"]
    assert job["name"] == "Feed.step"
    assert job["status"] == "unhealthy"
    assert job["consecutive_failures"] >= 3
    assert job["last_error"].startswith("KeyError: 'AAPL at step ")


def test_module_is_healthy_again_once_its_job_succeeds() -> None:
    feed = Feed(fails=lambda call: call <= 4)
    app, _ = FeedModule(feed, every_millisecond).create_app(FAST_RESTART)
    with TestClient(app) as client:
        feed.wait_for_call(6)  # four failures, then a success
        health = client.get("/health")

    assert health.status_code == 200
    (job,) = health.json()["jobs"]
    assert (job["failures"], job["consecutive_failures"]) == (4, 0)


def test_long_running_job_that_raises_is_restarted() -> None:
    feed = Feed(fails=lambda call: call <= 2)
    app, _ = FeedModule(feed, lambda f: lambda: f.run()).create_app(FAST_RESTART)
    with TestClient(app) as client:
        feed.wait_for_call(3)  # two runs failed; the third runs on
        health = client.get("/health")

    (job,) = health.json()["jobs"]
    assert job["name"] == "Feed.run"  # named after what the lambda runs
    assert (job["status"], job["failures"]) == ("failing", 2)
    assert health.status_code == 200  # 2 in a row: under the threshold of 3


def test_core_health_names_the_failing_job_of_any_module() -> None:
    feed = Feed(fails=lambda call: True)
    app = ModularFastAPI([CoreModule(), FeedModule(feed, every_millisecond)])
    with TestClient(app) as client:
        feed.wait_for_call(4)
        health = client.get("/api/v1/core/health")

    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "unhealthy"
    assert body["modules"]["core"] == {"status": "ok", "jobs": []}
    (job,) = body["modules"]["feed"]["jobs"]
    assert (job["name"], job["status"]) == ("Feed.step", "unhealthy")
    assert job["last_error"].startswith("KeyError")
