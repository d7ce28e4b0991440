"""Where the broker's transactions run: one writing connection on SQLite, the
module's async sessions on PostgreSQL.

The store's statements are synchronous Core SQL (``store``); a transaction runs
them in a few *calls*, each a function of a connection:

- **SQLite** (:class:`SqliteBackend`): one connection serves every read and
  write of the broker, with the standard library's driver, in the event loop's
  thread: a command's statements take a fraction of a millisecond, where the
  async driver would hand each statement to its thread and back. The
  connection is configured like the runtime's: write-ahead logging,
  ``synchronous=NORMAL`` (a commit survives a ``kill -9`` of the server),
  enforced foreign keys, a busy timeout, and ``BEGIN IMMEDIATE`` transactions.
- **PostgreSQL** (:class:`SessionBackend`): a session of the module's database
  (``ModuleDatabase.transaction()``), its calls run with ``run_sync`` on the
  asyncpg connection; row locks (``FOR UPDATE``) order the instances.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from trading_api.modules.broker.store import Db
from trading_api.shared.storage import ModuleDatabase

T = TypeVar("T")
SQLITE_BUSY_TIMEOUT_MS = 15_000


class Transaction(Protocol):
    """One open transaction: run calls in it, the last one commits."""

    session: AsyncSession | None
    """The async session of the transaction (PostgreSQL), else None."""

    async def call(self, work: Callable[[Db], T]) -> T:
        """Run ``work`` on the transaction's connection."""

    async def finish(self, work: Callable[[Db], T]) -> T:
        """Run ``work`` and commit, or roll back if either fails."""


class Backend(Protocol):
    """Opens transactions on the broker's tables."""

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """``async with backend.transaction() as tx``: rolled back unless
        :meth:`Transaction.finish` committed it."""

    async def close(self) -> None:
        """Give the connection back."""


class _ThreadTransaction:
    session: AsyncSession | None = None

    def __init__(self, backend: "SqliteBackend") -> None:
        self._backend = backend
        self.done = False

    async def call(self, work: Callable[[Db], T]) -> T:
        return await self._backend.submit(work)

    async def finish(self, work: Callable[[Db], T]) -> T:
        def run(connection: Connection) -> T:
            result = work(connection)
            connection.commit()
            return result

        result = await self._backend.submit(run)
        self.done = True
        return result


class SqliteBackend:
    """Every transaction of the broker on one SQLite connection and thread."""

    def __init__(self, url: URL) -> None:
        """Open ``url`` (an ``sqlite+aiosqlite`` URL of the module's database)."""
        self._engine: Engine = create_engine(url.set(drivername="sqlite+pysqlite"))
        event.listen(self._engine, "connect", _configure)
        event.listen(self._engine, "begin", _begin_immediate)
        self._connection: Connection | None = None

    def _connected(self) -> Connection:
        if self._connection is None:
            self._connection = self._engine.connect()
        return self._connection

    async def submit(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on the connection, in the event loop's thread.

        A command's statements take a fraction of a millisecond on SQLite, less
        than handing them to another thread and back; they run one command at
        a time (the caller holds the broker's lock), so the connection is only
        ever used by one of them.
        """
        return work(self._connected())

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_ThreadTransaction]:
        """A transaction (``BEGIN IMMEDIATE`` at its first statement)."""
        tx = _ThreadTransaction(self)
        try:
            yield tx
        finally:
            if not tx.done:
                await self.submit(_rollback)

    async def close(self) -> None:
        """Close the connection."""

        def close() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            self._engine.dispose()

        close()


def _rollback(connection: Connection) -> None:
    connection.rollback()


def _configure(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # transactions begin explicitly
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class _SessionTransaction:
    def __init__(self, session: AsyncSession) -> None:
        self.session: AsyncSession | None = session
        self._session = session

    async def call(self, work: Callable[[Db], T]) -> T:
        return await self._session.run_sync(_on_session(work))

    async def finish(self, work: Callable[[Db], T]) -> T:
        return await self._session.run_sync(_on_session(work))


def _on_session(work: Callable[[Db], T]) -> Callable[[Session], T]:
    """A call's function as ``run_sync`` takes it: the store's statements run
    on a session as they run on a connection (``execute``)."""
    return work


class SessionBackend:
    """Transactions in the module's async sessions (PostgreSQL)."""

    def __init__(self, database: ModuleDatabase) -> None:
        """Use ``database``'s sessions."""
        self._database = database

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SessionTransaction]:
        """A session in one transaction, committed when the block ends."""
        async with self._database.transaction() as session:
            yield _SessionTransaction(session)

    async def close(self) -> None:
        """Nothing to give back: the runtime closes the module's database."""


def backend_for(database: ModuleDatabase) -> Backend:
    """The backend of ``database``: its own connection on SQLite."""
    url = database.engine.url
    if url.get_backend_name() == "sqlite":
        return SqliteBackend(url)
    return SessionBackend(database)
