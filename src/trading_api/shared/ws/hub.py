"""The hub: reference-counted topics shared by all connections of one WS app.

The first subscriber of a topic (across every connection) makes the hub call the
service's ``create_topic``; the last one leaving, by unsubscribe or disconnect, makes
it call ``remove_topic``. Bookkeeping is synchronous, so counts are exact whatever the
interleaving; the service calls of one topic run in order in background tasks, so a
slow ``create_topic`` never blocks a connection, and create/remove never overlap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Any

from pydantic import BaseModel
from starlette.websockets import WebSocket
from typing_extensions import TypedDict

from trading_api.shared.auth._principal import Principal
from trading_api.shared.ws.connection import Connection, frame_size
from trading_api.shared.ws.limits import WsLimits
from trading_api.shared.ws.messages import response_frame, update_frame, update_prefix
from trading_api.shared.ws.router import Publish, WsRouter
from trading_api.shared.ws.topics import topic_for

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 5.0


class WsStats(TypedDict):
    """What ``GET <module>/ws/stats`` returns: live counts plus queue drops.

    ``dropped`` counts updates replaced by conflation or discarded when a
    connection closed with updates queued, since the app started;
    ``queued_bytes`` is what all send queues hold right now.
    """

    connections: int
    topics: int
    subscriptions: int
    dropped: int
    queued_bytes: int


class _Topic:
    """One topic: who holds it, who receives it, its sequence number."""

    __slots__ = (
        "backlog",
        "closed",
        "failed",
        "key_of",
        "members",
        "name",
        "prefix",
        "ready",
        "receivers",
        "router",
        "seq",
    )

    def __init__(self, name: str, router: WsRouter[Any, Any]) -> None:
        self.name = name
        self.router = router
        self.prefix = update_prefix(router.route, name)
        self.key_of = router.delivery.key_of(router.data_model)
        self.members: set[Connection] = set()  # the reference count
        self.receivers: dict[Connection, None] = {}  # members told "subscribed"
        # Published while create_topic ran: (frame, size, conflation key).
        self.backlog: list[tuple[str, int, Hashable | None]] = []
        self.seq = 0
        self.ready = False
        self.closed = False
        self.failed = False


class Hub:
    """Topics, subscriptions and connections of one module's WebSocket app."""

    def __init__(self, limits: WsLimits) -> None:
        self._limits = limits
        self._topics: dict[str, _Topic] = {}
        self._connections: set[Connection] = set()
        self._subscriptions = 0
        self._dropped_by_gone = 0
        # Last scheduled service call per topic name: the next one waits for it.
        self._tails: dict[str, asyncio.Task[None]] = {}

    def stats(self) -> WsStats:
        """Live counts; ``dropped`` counts conflated or discarded updates ever."""
        live = sum(conn.dropped for conn in self._connections)
        return WsStats(
            connections=len(self._connections),
            topics=len(self._topics),
            subscriptions=self._subscriptions,
            dropped=self._dropped_by_gone + live,
            queued_bytes=sum(conn.queued_bytes for conn in self._connections),
        )

    def connect(
        self, websocket: WebSocket, principal: Principal | None = None
    ) -> Connection:
        """Register an accepted WebSocket and start its writer."""
        conn = Connection(
            websocket,
            self._limits,
            on_closed=self._connection_closed,
            principal=principal,
        )
        self._connections.add(conn)
        return conn

    def close_route(self, route: str, code: int, reason: str) -> int:
        """Close every connection holding a topic of ``route`` with ``code``.

        Their topics are released as with any close. Returns how many
        connections were closed.
        """
        closing = {
            conn
            for state in self._topics.values()
            if state.router.route == route
            for conn in state.members
            if not conn.closed
        }
        for conn in closing:
            conn.close(code, reason)
        return len(closing)

    def refuse(
        self,
        conn: Connection,
        router: WsRouter[Any, Any],
        request: BaseModel,
        message: str,
    ) -> None:
        """Answer a subscription the caller may not have with ``message``."""
        topic = topic_for(router.route, request)
        _reply(conn, router.route, "subscribe", topic, ok=False, message=message)

    async def disconnect(self, conn: Connection) -> None:
        """Release every topic ``conn`` holds and stop its writer.

        Safe to call twice (at shutdown and again when its endpoint returns).
        """
        await conn.stop()  # calls _forget_connection once
        self._forget_connection(conn)

    def _connection_closed(self, conn: Connection) -> None:
        # A connection closed for any reason (the client left, it was too slow,
        # its writer failed): its topics go right after the current step, which
        # may be a fan-out iterating over the receivers.
        asyncio.get_running_loop().call_soon(self._forget_connection, conn)

    def _forget_connection(self, conn: Connection) -> None:
        if conn not in self._connections:
            return
        for topic in conn.topics:
            self._release(conn, topic)
        conn.topics.clear()
        self._connections.discard(conn)
        self._dropped_by_gone += conn.dropped

    def subscribe(
        self, conn: Connection, router: WsRouter[Any, Any], request: BaseModel
    ) -> None:
        """Add ``conn`` to the request's topic; the response is queued on it."""
        topic = topic_for(router.route, request)
        route = router.route
        if topic in conn.topics:
            _reply(
                conn, route, "subscribe", topic, ok=True, message="already subscribed"
            )
            return
        limit = self._limits.max_topics_per_connection
        if len(conn.topics) >= limit:
            message = (
                f"too many topics: at most {limit} per connection; unsubscribe first"
            )
            _reply(conn, route, "subscribe", topic, ok=False, message=message)
            return
        conn.topics.add(topic)
        self._subscriptions += 1
        state = self._topics.get(topic)
        if state is None:
            state = self._topics[topic] = _Topic(topic, router)
            self._schedule(topic, partial(self._create, state))
        state.members.add(conn)
        if state.ready:
            self._activate(state, conn)

    def unsubscribe(
        self, conn: Connection, router: WsRouter[Any, Any], request: BaseModel
    ) -> None:
        """Remove ``conn`` from the request's topic; the response is queued on it."""
        topic = topic_for(router.route, request)
        route = router.route
        if topic not in conn.topics:
            _reply(
                conn, route, "unsubscribe", topic, ok=False, message="not subscribed"
            )
            return
        if not self._topics[topic].ready:
            # Its subscribe response is still pending: answer it before this one.
            message = "cancelled by unsubscribe"
            _reply(conn, route, "subscribe", topic, ok=False, message=message)
        conn.topics.discard(topic)
        self._release(conn, topic)
        _reply(conn, route, "unsubscribe", topic, ok=True, message="unsubscribed")

    async def aclose(self) -> None:
        """Release every connection, let pending service calls finish, then stop."""
        for conn in list(self._connections):
            await self.disconnect(conn)
        tails = list(self._tails.values())
        if tails:
            _, late = await asyncio.wait(tails, timeout=SHUTDOWN_GRACE_SECONDS)
            for task in late:
                logger.warning("cancelling a topic call still running at shutdown")
                task.cancel()
            if late:
                await asyncio.wait(late)

    def _release(self, conn: Connection, topic: str) -> None:
        state = self._topics[topic]
        state.members.discard(conn)
        state.receivers.pop(conn, None)
        self._subscriptions -= 1
        if not state.members:
            state.closed = True
            del self._topics[topic]
            self._schedule(topic, partial(self._remove, state))

    def _activate(self, state: _Topic, conn: Connection) -> None:
        _reply(
            conn,
            state.router.route,
            "subscribe",
            state.name,
            ok=True,
            message="subscribed",
        )
        for frame, size, key in state.backlog:
            conn.push_update(frame, size, key)
        state.receivers[conn] = None

    def _publisher(self, state: _Topic) -> Publish:
        data_model = state.router.data_model
        receivers = state.receivers
        name = state.name
        key_of = state.key_of

        def publish(item: BaseModel) -> None:
            if state.closed:
                return
            if not isinstance(item, data_model):
                raise TypeError(
                    f"publish to {name!r} expects {data_model.__name__}, "
                    f"got {type(item).__name__}"
                )
            state.seq += 1
            frame = update_frame(state.prefix, state.seq, item.model_dump_json())
            size = frame_size(frame)
            # The key is unique across topics: a connection holds several.
            key = None if key_of is None else (name, key_of(item))
            if not state.ready:
                state.backlog.append((frame, size, key))
                return
            for conn in receivers:
                conn.push_update(frame, size, key)

        return publish

    async def _create(self, state: _Topic) -> None:
        if state.closed:
            # Everyone left before the service was asked: skip create and remove.
            state.failed = True
            return
        try:
            await state.router.service.create_topic(state.name, self._publisher(state))
        except Exception as exc:
            logger.exception("create_topic(%r) failed", state.name)
            state.failed = True
            self._fail(state, f"could not start the topic: {exc}")
            return
        state.ready = True
        for conn in state.members:
            self._activate(state, conn)
        state.backlog.clear()

    def _fail(self, state: _Topic, message: str) -> None:
        state.closed = True
        if self._topics.get(state.name) is state:
            del self._topics[state.name]
        for conn in state.members:
            conn.topics.discard(state.name)
            _reply(
                conn,
                state.router.route,
                "subscribe",
                state.name,
                ok=False,
                message=message,
            )
        self._subscriptions -= len(state.members)
        state.members.clear()

    async def _remove(self, state: _Topic) -> None:
        if state.failed:
            return
        try:
            await state.router.service.remove_topic(state.name)
        except Exception:
            logger.exception("remove_topic(%r) failed", state.name)

    def _schedule(self, topic: str, step: Callable[[], Awaitable[None]]) -> None:
        previous = self._tails.get(topic)
        task = asyncio.create_task(_run_after(previous, step), name=f"ws-topic {topic}")
        self._tails[topic] = task
        task.add_done_callback(partial(self._forget, topic))

    def _forget(self, topic: str, task: asyncio.Task[None]) -> None:
        if self._tails.get(topic) is task:
            del self._tails[topic]


def _reply(
    conn: Connection, route: str, action: str, topic: str, *, ok: bool, message: str
) -> None:
    conn.send(response_frame(route, action, topic, ok=ok, message=message))


async def _run_after(
    previous: asyncio.Task[None] | None, step: Callable[[], Awaitable[None]]
) -> None:
    if previous is not None:
        await asyncio.wait([previous])
    await step()
