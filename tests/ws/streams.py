"""A test module with three WebSocket routes, one per delivery class.

``ticks`` conflates by topic, ``items`` by the ``item`` field, ``journal`` is
lossless; all three are fed by one :class:`TickService` whose ``burst`` publishes
on demand, in one step of the event loop, so a test knows exactly what was queued.
``create_app()`` serves the module alone (``uvicorn --factory streams:create_app``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from trading_api.shared.auth import public
from trading_api.shared.module_interface import Module
from trading_api.shared.ws import (
    ConflateByKey,
    ConflateByTopic,
    Lossless,
    Publish,
    WsRouter,
)
from trading_api.shared.ws.topics import parse_topic, request_from_topic

WAIT = 20.0  # generous bound for anything awaited across threads


class TickRequest(BaseModel):
    symbol: str = Field(min_length=1)
    interval_ms: int = Field(default=5, ge=1, le=1000)
    ticking: bool = True


class Tick(BaseModel):
    symbol: str
    n: int
    item: int = 0
    blob: str = ""


class UnsendableTick(Tick):
    """A tick whose JSON text holds a lone surrogate: no socket can send it."""

    def model_dump_json(self, **kwargs: Any) -> str:
        return '{"symbol":"\\ud800","text":"\ud800"}'


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

    def burst(
        self, count: int, size: int, *, items: int = 1, route: str | None = None
    ) -> None:
        """Publish ``count`` updates of ``size`` characters to every topic.

        Update ``n`` (from 0) is about item ``n % items``. With ``route``, only
        that route's topics get them. All in one call: nothing is sent meanwhile.
        """
        for topic, publish in list(self.publishers.items()):
            if route is not None and parse_topic(topic)[0] != route:
                continue
            for n in range(count):
                publish(Tick(symbol=topic, n=n, item=n % items, blob="x" * size))

    @staticmethod
    def unsendable(symbol: str) -> Tick:
        """An update that the server cannot send."""
        return UnsendableTick(symbol=symbol, n=-1)

    def publish_unsendable(self, route: str) -> None:
        """Publish one update that the server cannot send to ``route``'s topics."""
        for topic, publish in list(self.publishers.items()):
            if parse_topic(topic)[0] == route:
                publish(self.unsendable(topic))

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
    delivery = ConflateByTopic()


class ItemsRouter(WsRouter[TickRequest, Tick]):
    route = "items"
    request_model = TickRequest
    data_model = Tick
    delivery = ConflateByKey("item")


class JournalRouter(WsRouter[TickRequest, Tick]):
    route = "journal"
    request_model = TickRequest
    data_model = Tick
    delivery = Lossless()


def _control_router(service: TickService) -> APIRouter:
    router = APIRouter()

    @router.post("/burst")
    @public
    async def burst(
        count: int, size: int = 0, items: int = 1, route: str | None = None
    ) -> dict[str, int]:
        service.burst(count, size, items=items, route=route)
        return {"published": count}

    @router.post("/unsendable")
    @public
    async def unsendable(route: str) -> dict[str, bool]:
        service.publish_unsendable(route)
        return {"published": True}

    return router


class TickModule(Module):
    name = "ticker"
    description = "Test module with a WebSocket route per delivery class."
    # The protocol tests are not about access: every route is served without a
    # token (the access tests use the real modules).
    public_ws_routes = frozenset({"ticks", "items", "journal"})

    def __init__(self) -> None:
        self._service = TickService()

    @property
    def service(self) -> TickService:
        return self._service

    @property
    def api_routers(self) -> list[APIRouter]:
        return [_control_router(self._service)]

    @property
    def ws_routers(self) -> list[WsRouter[Any, Any]]:
        return [cls(self._service) for cls in (TicksRouter, ItemsRouter, JournalRouter)]

    async def on_startup(self) -> None:
        self._service.loop = asyncio.get_running_loop()


def create_app() -> Any:
    """The module's app alone, configured from the environment (``WS_*``)."""
    app, _ = TickModule().create_app()
    return app
