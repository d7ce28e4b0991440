"""One client connection: its topics and its bounded, conflating send queue.

Everything sent to a client goes through the queue and one writer task, so the hub
never awaits a client: publishing to a stuck client only costs a queue append.
The queue is bounded in messages and in bytes. Past a soft limit a conflatable
update replaces the queued update with the same conflation key (see
:mod:`trading_api.shared.ws.delivery`); past a hard limit the connection is closed
with :data:`~trading_api.shared.ws.limits.CLOSE_SLOW_CONSUMER`. If sending fails
for any other reason than the client leaving, the connection is closed with
:data:`~trading_api.shared.ws.limits.CLOSE_INTERNAL_ERROR`. Either way the hub is
told at once (``on_closed``), so the connection's topics are released and the
stats stop counting it without waiting for the client.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Hashable

from starlette.websockets import WebSocket, WebSocketDisconnect

from trading_api.shared.auth._principal import Principal
from trading_api.shared.ws.limits import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_SLOW_CONSUMER,
    WsLimits,
)

logger = logging.getLogger(__name__)

# Sends that fail because the client is gone: nothing to report, nothing to close.
_GONE = (OSError, WebSocketDisconnect)
# Replaced entries stay in the deque (marked dead) until the writer reaches them,
# or until there are this many and more than live ones: then the deque is rebuilt.
_COMPACT_AFTER = 1024


def frame_size(frame: str) -> int:
    """The UTF-8 size of ``frame`` (cheap for ASCII, which JSON mostly is)."""
    return len(frame) if frame.isascii() else len(frame.encode("utf-8", "replace"))


class _Entry:
    """A queued frame; ``key`` is set for updates that may be conflated.

    ``frame`` is None once a newer update with the same key replaced it.
    """

    __slots__ = ("frame", "key", "size")

    def __init__(self, frame: str | None, size: int, key: Hashable | None) -> None:
        self.frame = frame
        self.size = size
        self.key = key


class Connection:
    """A client's send queue, writer task and subscribed topics.

    Attributes:
        principal: who the connection's token speaks for; None for a connection
            without one (it may use the module's public routes only).
        topics: topics this connection holds (subscribed or being created).
        dropped: updates replaced in or discarded from the queue.
        close_code: the code the server closed the connection with, if it did.
    """

    def __init__(
        self,
        websocket: WebSocket,
        limits: WsLimits,
        on_closed: Callable[[Connection], None] = lambda _: None,
        principal: Principal | None = None,
    ) -> None:
        self.principal = principal
        self.topics: set[str] = set()
        self.dropped = 0
        self.close_code: int | None = None
        self._websocket = websocket
        self._on_closed = on_closed
        self._soft = limits.send_queue_soft_limit
        self._hard = limits.send_queue_hard_limit
        self._soft_bytes = limits.send_queue_soft_bytes
        self._hard_bytes = limits.send_queue_hard_bytes
        self._pending: deque[_Entry] = deque()
        self._count = 0  # live entries in _pending
        self._bytes = 0  # their frames' size
        self._dead = 0  # replaced entries still in _pending
        # The queued update of each conflation key: the one a newer one replaces.
        self._latest: dict[Hashable, _Entry] = {}
        # Set while the writer waits for something to send.
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._writer = asyncio.create_task(self._write(), name="ws-writer")
        self._closer: asyncio.Task[None] | None = None

    @property
    def closed(self) -> bool:
        """True once the connection stopped accepting frames."""
        return self._closed

    @property
    def queued_bytes(self) -> int:
        """Bytes of the frames waiting to be sent."""
        return self._bytes

    def send(self, frame: str) -> None:
        """Queue a reply (response, pong, error); replies are never conflated."""
        if self._closed:
            return
        self._append(_Entry(frame, frame_size(frame), None))

    def push_update(self, frame: str, size: int, key: Hashable | None) -> None:
        """Queue an update of ``size`` bytes.

        Args:
            frame: the complete update message.
            size: its UTF-8 size (computed once per publish, see
                :func:`frame_size`).
            key: its conflation key, unique across the connection's topics, or
                None for a lossless update.
        """
        # The fan-out's hot path: one call per update and subscriber, so the
        # append is written out here rather than shared with send().
        if self._closed:
            return
        entry = _Entry(frame, size, key)
        if key is not None:
            latest = self._latest
            queued = latest.get(key)
            if queued is not None and (
                self._count >= self._soft or self._bytes >= self._soft_bytes
            ):
                self._replace(queued)
            latest[key] = entry
        self._pending.append(entry)
        self._count += 1
        self._bytes += size
        if self._count > self._hard or self._bytes > self._hard_bytes:
            self._overflow()
            return
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.set_result(None)

    def _replace(self, queued: _Entry) -> None:
        # The old entry dies in place; the new one queues at the back, so seq
        # keeps growing through the topic.
        queued.frame = None
        self._count -= 1
        self._bytes -= queued.size
        self._dead += 1
        self.dropped += 1
        if self._dead > _COMPACT_AFTER and self._dead > self._count:
            self._pending = deque(e for e in self._pending if e.frame is not None)
            self._dead = 0

    def _append(self, entry: _Entry) -> None:
        self._pending.append(entry)
        self._count += 1
        self._bytes += entry.size
        if self._count > self._hard or self._bytes > self._hard_bytes:
            self._overflow()
            return
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.set_result(None)

    def _overflow(self) -> None:
        what = "messages" if self._count > self._hard else "bytes"
        self.close(CLOSE_SLOW_CONSUMER, f"send queue over its hard limit in {what}")

    def close(self, code: int, reason: str) -> None:
        """Drop what is queued and close the connection with ``code``."""
        if self._closed:
            return
        self._mark_closed(code)
        logger.info("closing WebSocket connection: %s (code %d)", reason, code)
        self._closer = asyncio.create_task(self._close(code, reason), name="ws-close")

    async def stop(self) -> None:
        """Cancel the writer (the client is gone or the app shuts down)."""
        self._mark_closed(None)
        tasks = [t for t in (self._writer, self._closer) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)

    def _mark_closed(self, code: int | None) -> None:
        if self._closed:
            return
        self._closed = True
        self.close_code = code
        self.dropped += sum(
            1 for e in self._pending if e.frame is not None and e.key is not None
        )
        self._pending.clear()
        self._latest.clear()
        self._count = self._bytes = self._dead = 0
        self._on_closed(self)

    async def _write(self) -> None:
        latest = self._latest
        send = self._websocket.send_text
        loop = asyncio.get_running_loop()
        try:
            while not self._closed:
                pending = self._pending
                while pending:
                    entry = pending.popleft()
                    frame = entry.frame
                    if frame is None:
                        self._dead -= 1
                        continue
                    key = entry.key
                    if key is not None and latest.get(key) is entry:
                        del latest[key]
                    self._count -= 1
                    self._bytes -= entry.size
                    await send(frame)
                    if pending is not self._pending:  # compacted meanwhile
                        pending = self._pending
                waiter = self._waiter = loop.create_future()
                await waiter
        except asyncio.CancelledError:
            raise
        except _GONE as exc:
            # The client went away mid-send; release its subscriptions now.
            logger.debug("WebSocket writer stopped: %r", exc)
            self._mark_closed(None)
        except Exception:
            logger.exception("sending on a WebSocket connection failed; closing it")
            if not self._closed:
                self._mark_closed(CLOSE_INTERNAL_ERROR)
                self._closer = asyncio.create_task(
                    self._send_close(CLOSE_INTERNAL_ERROR, "server failed to send"),
                    name="ws-close",
                )

    async def _close(self, code: int, reason: str) -> None:
        # The writer may be blocked in a send to a client that does not read:
        # cancel it rather than queue the close frame behind it.
        self._writer.cancel()
        await asyncio.wait([self._writer])
        await self._send_close(code, reason)

    async def _send_close(self, code: int, reason: str) -> None:
        try:
            await self._websocket.close(code, reason)
        except (*_GONE, RuntimeError) as exc:
            logger.debug("WebSocket close failed: %r", exc)
