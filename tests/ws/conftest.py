"""A small module with a ticking WebSocket route, served by a real uvicorn.

``ws_server`` builds the module's app with ``Module.create_app()`` (the path every
real module takes) and serves it on a free loopback port; tests talk to it with the
``websockets`` client and ``httpx``, as a user's program would.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, Field

from trading_api.shared.module_interface import Module
from trading_api.shared.testing import serve
from trading_api.shared.ws import Publish, WsApp, WsLimits, WsRouter
from trading_api.shared.ws.topics import request_from_topic

WAIT = 20.0  # generous bound for anything awaited across threads


class TickRequest(BaseModel):
    symbol: str = Field(min_length=1)
    interval_ms: int = Field(default=5, ge=1, le=1000)
    ticking: bool = True


class Tick(BaseModel):
    symbol: str
    n: int
    blob: str = ""


class TickService:
    """Ticks every ``interval_ms`` per topic; ``burst`` publishes on demand."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.removed: list[str] = []
        self.publishers: dict[str, Publish] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._changed = threading.Condition()

    async def create_topic(self, topic: str, publish: Publish) -> None:
        request = request_from_topic(topic, TickRequest)
        if request.symbol == "FAIL":
            raise ValueError("no such symbol: FAIL")
        self.publishers[topic] = publish
        if request.ticking:
            self._tasks[topic] = asyncio.create_task(self._tick(request, publish))
        self._note(self.created, topic)

    async def remove_topic(self, topic: str) -> None:
        self.publishers.pop(topic)
        task = self._tasks.pop(topic, None)
        if task is not None:
            task.cancel()
        self._note(self.removed, topic)

    def burst(self, count: int, size: int) -> None:
        """Publish ``count`` updates of ``size`` characters to every topic."""
        for topic, publish in list(self.publishers.items()):
            for n in range(count):
                publish(Tick(symbol=topic, n=n, blob="x" * size))

    def wait_until(self, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
        with self._changed:
            assert self._changed.wait_for(predicate, timeout), "service never got there"

    def _note(self, log: list[str], topic: str) -> None:
        with self._changed:
            log.append(topic)
            self._changed.notify_all()

    @staticmethod
    async def _tick(request: TickRequest, publish: Publish) -> None:
        n = 0
        while True:
            n += 1
            publish(Tick(symbol=request.symbol, n=n))
            await asyncio.sleep(request.interval_ms / 1000)


class TicksRouter(WsRouter[TickRequest, Tick]):
    route = "ticks"
    request_model = TickRequest
    data_model = Tick


class TickModule(Module):
    name = "ticker"
    description = "Test module with one ticking WebSocket route."

    def __init__(self, limits: WsLimits | None = None) -> None:
        self._service = TickService()
        self._limits = limits or WsLimits()

    @property
    def service(self) -> TickService:
        return self._service

    @property
    def api_routers(self) -> list[APIRouter]:
        return []

    @property
    def ws_routers(self) -> list[WsRouter[Any, Any]]:
        return [TicksRouter(self._service)]

    async def on_startup(self) -> None:
        self._service.loop = asyncio.get_running_loop()

    def _create_ws_app(self) -> WsApp | None:
        # Same as Module's, plus limits a test can shrink.
        return WsApp(
            self.name,
            self.ws_routers,
            title="ticker",
            version="1.0.0",
            limits=self._limits,
        )


@dataclass
class Server:
    """A served TickModule: URLs, its service and helpers to reach it."""

    base: str
    service: TickService
    ws_app: WsApp
    module: TickModule

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/ws"

    def stats(self) -> dict[str, int]:
        return httpx.get(self.base + "/ws/stats").json()  # type: ignore[no-any-return]

    def wait_stats(self, **expected: int) -> dict[str, int]:
        """Poll ``GET /ws/stats`` until it shows ``expected`` (bounded)."""
        deadline = time.monotonic() + WAIT
        while True:
            stats = self.stats()
            if all(stats[key] == value for key, value in expected.items()):
                return stats
            assert time.monotonic() < deadline, f"stats stuck at {stats}"
            time.sleep(0.02)

    def in_server(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the server's event loop and wait for it."""
        loop = self.service.loop
        assert loop is not None
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        loop.call_soon_threadsafe(run)
        assert done.wait(WAIT)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server_factory() -> Iterator[Callable[..., Server]]:
    """Start TickModule apps (optionally with limits); all stop at test end."""
    with ExitStack() as stack:

        def start(limits: WsLimits | None = None) -> Server:
            module = TickModule(limits)
            app, ws_app = module.create_app()
            assert ws_app is not None
            base = stack.enter_context(serve(app))
            return Server(base, module.service, ws_app, module)

        yield start


@pytest.fixture
def server(server_factory: Callable[..., Server]) -> Server:
    return server_factory()
