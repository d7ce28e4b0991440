"""One client connection: its topics and its bounded, conflating send queue.

Everything sent to a client goes through the queue and one writer task, so the hub
never awaits a client: publishing to a stuck client only costs a queue append. Past
the soft limit a new update replaces the queued update of the same topic (latest
wins); past the hard limit the connection is closed with
:data:`~trading_api.shared.ws.limits.CLOSE_SLOW_CONSUMER`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from starlette.websockets import WebSocket, WebSocketDisconnect

from trading_api.shared.ws.limits import CLOSE_SLOW_CONSUMER, WsLimits

logger = logging.getLogger(__name__)


class _Entry:
    """A queued frame; ``topic`` is set for updates, which may be conflated."""

    __slots__ = ("frame", "topic")

    def __init__(self, frame: str, topic: str | None) -> None:
        self.frame = frame
        self.topic = topic


class Connection:
    """A client's send queue, writer task and subscribed topics.

    Attributes:
        topics: topics this connection holds (subscribed or being created).
        dropped: updates replaced in or discarded from the queue.
    """

    def __init__(self, websocket: WebSocket, limits: WsLimits) -> None:
        self.topics: set[str] = set()
        self.dropped = 0
        self._websocket = websocket
        self._soft = limits.send_queue_soft_limit
        self._hard = limits.send_queue_hard_limit
        self._pending: deque[_Entry] = deque()
        # The newest queued update of each topic: the one a newer update replaces.
        self._latest: dict[str, _Entry] = {}
        self._wakeup = asyncio.Event()
        self._closed = False
        self._writer = asyncio.create_task(self._write(), name="ws-writer")
        self._closer: asyncio.Task[None] | None = None

    @property
    def closed(self) -> bool:
        """True once the connection stopped accepting frames."""
        return self._closed

    def send(self, frame: str) -> None:
        """Queue a reply (response, pong, error); replies are never conflated."""
        if self._closed:
            return
        self._pending.append(_Entry(frame, None))
        self._after_append()

    def push_update(self, topic: str, frame: str) -> None:
        """Queue an update of ``topic``, conflating it when the queue is full."""
        if self._closed:
            return
        if len(self._pending) >= self._soft:
            queued = self._latest.get(topic)
            if queued is not None:
                queued.frame = frame
                self.dropped += 1
                return
        entry = _Entry(frame, topic)
        self._pending.append(entry)
        self._latest[topic] = entry
        self._after_append()

    def _after_append(self) -> None:
        if len(self._pending) > self._hard:
            self.close(CLOSE_SLOW_CONSUMER, "send queue over the hard limit")
        else:
            self._wakeup.set()

    def close(self, code: int, reason: str) -> None:
        """Drop what is queued and close the connection with ``code``."""
        if self._closed:
            return
        self._closed = True
        self.dropped += sum(1 for entry in self._pending if entry.topic is not None)
        self._pending.clear()
        self._latest.clear()
        logger.info("closing WebSocket connection: %s (code %d)", reason, code)
        self._closer = asyncio.create_task(self._close(code, reason), name="ws-close")

    async def stop(self) -> None:
        """Cancel the writer (the client is gone or the app shuts down)."""
        self._closed = True
        tasks = [t for t in (self._writer, self._closer) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)

    async def _write(self) -> None:
        pending = self._pending
        send = self._websocket.send_text
        try:
            while not self._closed:
                while pending:
                    entry = pending.popleft()
                    topic = entry.topic
                    if topic is not None and self._latest.get(topic) is entry:
                        del self._latest[topic]
                    await send(entry.frame)
                self._wakeup.clear()
                await self._wakeup.wait()
        except (OSError, RuntimeError, WebSocketDisconnect) as exc:
            # The client went away mid-send; the receive loop sees the disconnect
            # and releases the subscriptions.
            logger.debug("WebSocket writer stopped: %r", exc)
            self._closed = True

    async def _close(self, code: int, reason: str) -> None:
        # The writer may be blocked in a send to a client that does not read:
        # cancel it rather than queue the close frame behind it.
        self._writer.cancel()
        await asyncio.wait([self._writer])
        try:
            await self._websocket.close(code, reason)
        except (OSError, RuntimeError, WebSocketDisconnect) as exc:
            logger.debug("WebSocket close failed: %r", exc)
