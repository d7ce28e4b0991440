"""The storage bus: messages published in a transaction, delivered after commit.

A message is a text payload on a channel of one module. On PostgreSQL it is a
``pg_notify`` inside the publishing transaction (see ``_listener.py`` for the
receiving side); on SQLite it waits on the session and is delivered to the
subscribers of this process when the session commits. Either way a rolled-back
transaction delivers nothing, and subscribers see messages in commit order.
"""

from __future__ import annotations

import asyncio
import enum
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from trading_api.shared.storage._errors import StorageError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, SessionTransaction

MAX_PAYLOAD_BYTES = 7999
"""PostgreSQL's NOTIFY payload limit: shorter than 8000 bytes (UTF-8)."""
MAX_CHANNEL_BYTES = 63
"""PostgreSQL's identifier limit, for ``<module>:<channel>``."""
DEFAULT_MAX_QUEUED = 1000
"""Messages a subscriber may fall behind by before it gets :data:`GAP`."""
_CHANNEL = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_PENDING = "trading_api.storage.bus"


class Gap(enum.Enum):
    """The marker of lost messages (see :data:`GAP`)."""

    GAP = "gap"


GAP = Gap.GAP
"""Yielded by a :class:`Subscription` where messages were lost: resync.

It comes when the listening connection was lost and is back (messages
committed meanwhile were not received), or when the subscriber fell more than
``max_queued`` messages behind (the queued ones were dropped). Messages after
it are again complete; some may already be reflected in what a resync reads.
"""


def bus_channel(module: str, channel: str) -> str:
    """``<module>:<channel>``, the name the database knows a module's channel by.

    Raises:
        StorageError: the channel is not lowercase letters, digits, ``_.-``, or
            the name is longer than PostgreSQL allows.
    """
    name = f"{module}:{channel}"
    if not _CHANNEL.fullmatch(channel):
        raise StorageError(
            f"channel {channel!r} of module {module!r}: use lowercase letters, "
            "digits, '_', '.' and '-', starting with a letter or digit"
        )
    if len(name.encode()) > MAX_CHANNEL_BYTES:
        raise StorageError(
            f"channel {name!r} is longer than PostgreSQL's {MAX_CHANNEL_BYTES} "
            "bytes for a channel name; shorten it"
        )
    return name


def check_payload(name: str, payload: str) -> None:
    """Refuse a payload PostgreSQL's NOTIFY would refuse (on every database).

    Raises:
        StorageError: the payload is too long or not text.
    """
    if not isinstance(payload, str):
        raise StorageError(
            f"a payload on {name!r} is text, not {type(payload).__name__}; "
            "serialize it (JSON) first"
        )
    size = len(payload.encode())
    if size > MAX_PAYLOAD_BYTES:
        raise StorageError(
            f"a payload of {size} bytes on {name!r} exceeds PostgreSQL's NOTIFY "
            f"limit of {MAX_PAYLOAD_BYTES} bytes; publish an id and let "
            "subscribers read the rows"
        )


class Subscription:
    """The messages of one channel, in commit order: ``async for payload in sub``.

    Yields each payload (``str``), and :data:`GAP` where messages were lost.
    Holds at most ``max_queued`` messages: a subscriber that falls further
    behind loses the queued ones and gets one :data:`GAP` in their place, so a
    slow subscriber never grows memory without bound. Iteration ends when the
    subscription is left or the database closes.
    """

    def __init__(self, channel: str, max_queued: int = DEFAULT_MAX_QUEUED) -> None:
        if max_queued < 1:
            raise StorageError(f"max_queued must be at least 1, not {max_queued}")
        self.channel = channel
        self.max_queued = max_queued
        self.gaps = 0
        """How many times :data:`GAP` was queued (for logs and metrics)."""
        self._loop = asyncio.get_running_loop()
        self._items: deque[str | Gap] = deque()
        self._ready = asyncio.Event()
        self._ended = False

    def offer(self, item: str | Gap) -> None:
        """Queue ``item``; safe from any thread or event loop."""
        try:
            same_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            same_loop = False
        if same_loop:
            self._put(item)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._put, item)

    def end(self) -> None:
        """Stop the iteration once the queued messages are read."""
        self._ended = True
        self._ready.set()

    def _put(self, item: str | Gap) -> None:
        if self._ended:
            return
        if item is GAP or len(self._items) >= self.max_queued:
            self._items.clear()
            self._items.append(GAP)
            self.gaps += 1
        if item is not GAP:
            self._items.append(item)
        self._ready.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> str | Gap:
        while not self._items:
            if self._ended:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()


class Hub(Protocol):
    """Where a database's subscriptions are registered."""

    async def add(self, name: str, subscription: Subscription) -> None: ...

    async def remove(self, name: str, subscription: Subscription) -> None: ...

    async def close(self) -> None: ...


# Subscribers in this process, per (SQLite database, channel name).
_local: dict[tuple[str, str], set[Subscription]] = {}


class LocalHub:
    """One database handle's subscriptions to an SQLite database, in-process."""

    def __init__(self, database: str) -> None:
        self.database = database
        self._mine: set[tuple[str, Subscription]] = set()

    async def add(self, name: str, subscription: Subscription) -> None:
        _local.setdefault((self.database, name), set()).add(subscription)
        self._mine.add((name, subscription))

    async def remove(self, name: str, subscription: Subscription) -> None:
        self._mine.discard((name, subscription))
        subscribers = _local.get((self.database, name))
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del _local[(self.database, name)]

    async def close(self) -> None:
        for name, subscription in list(self._mine):
            subscription.end()
            await self.remove(name, subscription)


@dataclass(frozen=True)
class _Pending:
    transaction: SessionTransaction
    database: str
    name: str
    payload: str


def queue_local(session: Session, database: str, name: str, payload: str) -> None:
    """Hold a message on ``session`` until its transaction commits.

    As PostgreSQL does, the same payload on the same channel twice in one
    transaction is delivered once.
    """
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is None:
        transaction = session.begin()
    pending: list[_Pending] = session.info.setdefault(_PENDING, [])
    if any(
        p.database == database and p.name == name and p.payload == payload
        for p in pending
    ):
        return
    pending.append(_Pending(transaction, database, name, payload))


def deliver_pending(session: Session) -> None:
    """After a commit: hand the session's messages to this process's subscribers."""
    for pending in session.info.pop(_PENDING, []):
        for subscription in list(_local.get((pending.database, pending.name), ())):
            subscription.offer(pending.payload)


def drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    """After a rollback (of a savepoint too): forget the messages it held."""
    pending: list[_Pending] | None = session.info.get(_PENDING)
    if pending:
        pending[:] = [p for p in pending if previous not in _lineage(p.transaction)]


def forget_ended(session: Session, transaction: SessionTransaction) -> None:
    """When the outermost transaction ends uncommitted (closed), drop its messages."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def _lineage(transaction: SessionTransaction | None) -> Iterator[Any]:
    while transaction is not None:
        yield transaction
        transaction = transaction.parent
