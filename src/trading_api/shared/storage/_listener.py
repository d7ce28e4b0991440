"""PostgreSQL's side of the bus: one dedicated LISTEN connection per database
handle, opened with the first subscription, reconnected when lost."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import TYPE_CHECKING, Any

from trading_api.shared.storage._bus import GAP, Subscription
from trading_api.shared.storage._errors import StorageError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

PING_INTERVAL = 5.0
"""Seconds between checks that a quiet listening connection is still alive."""
PING_TIMEOUT = 5.0
RECONNECT_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
"""Waits between reconnection attempts; the last one repeats."""


class PostgresListener:
    """The LISTEN connection of one module's database handle.

    Notifications go to every subscription of their channel in the order
    PostgreSQL sends them (commit order). A lost connection (closed, or not
    answering a ping) is reopened, its channels listened to again, and only
    then does every subscription get :data:`GAP`, so a subscriber that resyncs
    on it misses nothing committed afterwards.
    """

    def __init__(self, engine: AsyncEngine, application_name: str) -> None:
        self._engine = engine
        self._application_name = application_name
        self._connection: Any = None  # asyncpg.Connection
        self._channels: dict[str, set[Subscription]] = {}
        self._lock = asyncio.Lock()
        self._lost = asyncio.Event()
        self._watchdog: asyncio.Task[None] | None = None
        self._closed = False

    async def add(self, name: str, subscription: Subscription) -> None:
        """Listen to ``name`` (once per channel) and deliver to ``subscription``.

        Raises:
            StorageError: the database cannot be reached.
        """
        async with self._lock:
            if self._closed:
                raise StorageError("the database is closed; cannot subscribe")
            if self._connection is None:
                await self._connect_reporting()
            subscribers = self._channels.setdefault(name, set())
            if not subscribers:
                try:
                    await self._connection.add_listener(name, self._notify)
                except Exception:  # lost meanwhile: the watchdog relistens
                    self._lost.set()
            subscribers.add(subscription)
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch())

    async def remove(self, name: str, subscription: Subscription) -> None:
        """Stop delivering to ``subscription``; UNLISTEN with the last one.

        Never waits for a reconnection: while one runs, the channel stays
        listened to, which is harmless (no subscriber, nothing delivered).
        """
        subscribers = self._channels.get(name)
        if subscribers is None:
            return
        subscribers.discard(subscription)
        if subscribers:
            return
        del self._channels[name]
        if self._lock.locked():
            return
        async with self._lock:
            if self._connection is not None and name not in self._channels:
                with contextlib.suppress(Exception):
                    await self._connection.remove_listener(name, self._notify)

    async def close(self) -> None:
        """Close the connection and end every subscription."""
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await asyncio.wait_for(connection.close(), PING_TIMEOUT)
            except Exception:
                connection.terminate()
        for subscribers in self._channels.values():
            for subscription in subscribers:
                subscription.end()
        self._channels.clear()

    def _notify(self, _connection: Any, _pid: int, name: str, payload: str) -> None:
        for subscription in list(self._channels.get(name, ())):
            subscription.offer(payload)

    def _terminated(self, connection: Any) -> None:
        if connection is self._connection and not self._closed:
            self._lost.set()

    async def _connect_reporting(self) -> None:
        try:
            await self._connect()
        except Exception as exc:
            raise StorageError(
                f"cannot open the listening connection ({type(exc).__name__}: "
                f"{exc}); start the database or fix DATABASE_URL"
            ) from exc

    async def _connect(self) -> None:
        # A connection of the engine's own pool, detached from it: the same
        # connect arguments, and never handed back to other sessions.
        raw = await self._engine.raw_connection()
        connection: Any = raw.driver_connection
        raw.detach()
        try:
            await connection.execute(
                "SELECT set_config('application_name', $1, false)",
                self._application_name,
            )
        except BaseException:
            connection.terminate()
            raise
        connection.add_termination_listener(self._terminated)
        self._connection = connection

    async def _watch(self) -> None:
        while not self._closed:
            try:
                await asyncio.wait_for(self._lost.wait(), PING_INTERVAL)
            except TimeoutError:
                if await self._alive():
                    continue
            await self._reconnect()

    async def _alive(self) -> bool:
        async with self._lock:
            if self._connection is None:
                return False
            try:
                await asyncio.wait_for(
                    self._connection.fetchval("SELECT 1"), PING_TIMEOUT
                )
            except Exception:
                return False
            return True

    async def _reconnect(self) -> None:
        async with self._lock:
            self._lost.clear()
            old, self._connection = self._connection, None
            if old is not None:
                old.terminate()
            log.warning("the listening connection was lost; reconnecting")
            for attempt in itertools.count():
                if self._closed:
                    return
                try:
                    await self._connect()
                    for name in list(self._channels):
                        await self._connection.add_listener(name, self._notify)
                    break
                except Exception as exc:
                    self._drop_connection()
                    delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                    log.warning("reconnecting failed (%s); retrying in %ss", exc, delay)
                    await asyncio.sleep(delay)
            log.warning("the listening connection is back; subscribers resync")
            for subscribers in list(self._channels.values()):
                for subscription in list(subscribers):
                    subscription.offer(GAP)

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()
