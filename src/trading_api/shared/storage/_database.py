"""A module's handle on the database: sessions that see only its own tables."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

from trading_api.shared.storage import _bus
from trading_api.shared.storage._bus import DEFAULT_MAX_QUEUED, Hub, Subscription
from trading_api.shared.storage._errors import StorageError
from trading_api.shared.storage._locks import LOCK_KEY_SQL, LOCK_WAIT_SQL, lock_key
from trading_api.shared.storage._tables import (
    check_tables,
    table_prefix,
    version_table,
)
from trading_api.shared.storage._url import async_url, describe, is_sqlite

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
    from sqlalchemy.orm import ORMExecuteState, Session

log = logging.getLogger(__name__)


class ForeignTableError(StorageError):
    """A module's session was asked to touch another module's table."""


class ModuleDatabase:
    """The database as one module sees it: its tables, its sessions.

    Made when the module is built (nothing is opened then); :meth:`open` runs in
    the app's lifespan and connects, :meth:`close` gives the connections back.
    Sessions are bound to the module's tables only: a statement or a flush that
    touches a table without the module's prefix raises
    :class:`ForeignTableError`, and so does raw SQL (``text()``), which names no
    table, unless the call passes ``bind_arguments=database.raw_sql`` to say it
    touches no other module's table (an advisory lock, a NOTIFY).

    Args:
        module: The module's name.
        metadata: Its tables, from :func:`module_metadata`.
        url: The database; None reads ``DATABASE_URL`` when opened.
    """

    def __init__(self, module: str, metadata: MetaData, url: str | None = None):
        check_tables(module, metadata)
        self.module = module
        self.metadata = metadata
        self.prefix = table_prefix(module)
        self._url = url
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._hub: Hub | None = None

    @property
    def url(self) -> URL:
        """The database URL (async driver) this module uses or will use."""
        if self._engine is not None:
            return self._engine.url
        return self._resolve(None)

    def _resolve(self, configured: str | None) -> URL:
        if self._url is not None:
            return async_url(self._url)
        if configured is not None:
            return async_url(configured)
        from trading_api.shared.settings import Settings

        return async_url(Settings.from_env().database_url)

    @property
    def is_open(self) -> bool:
        """Whether :meth:`open` ran and :meth:`close` did not."""
        return self._engine is not None

    @property
    def engine(self) -> AsyncEngine:
        """The open engine (shared with other modules on the same database).

        Raises:
            StorageError: the database is not open.
        """
        if self._engine is None:
            raise StorageError(
                f"the database of module {self.module!r} is not open; it opens "
                "in the app's lifespan: serve the app (or enter TestClient(app))"
            )
        return self._engine

    @property
    def raw_sql(self) -> dict[str, Any]:
        """``bind_arguments`` that let a session run raw SQL, unchecked.

        ``await session.execute(text("SELECT pg_advisory_xact_lock(1)"),
        bind_arguments=database.raw_sql)``: raw SQL names no table the session
        could check, so it runs only when asked for like this.
        """
        return {"bind": self.engine.sync_engine}

    async def open(self, url: str | None = None, *, migrated: bool = True) -> None:
        """Connect to the database, once: fails fast on a wrong ``DATABASE_URL``.

        ``url`` is the configured database (the app's settings), used unless the
        handle was made with its own; None reads ``DATABASE_URL``. With
        ``migrated`` (the default) the module's migrations must have run: a
        server never starts on tables that do not exist.

        Raises:
            StorageError: the database cannot be reached, or the module's tables
                were never created; says what to run.
        """
        if self._engine is not None:
            return
        from sqlalchemy import inspect
        from sqlalchemy.ext.asyncio import async_sessionmaker

        from trading_api.shared.storage._engine import acquire_engine, release_engine

        target = self._resolve(url)
        engine = None
        try:
            engine = acquire_engine(target)
            async with engine.connect() as connection:
                created = not migrated or await connection.run_sync(
                    lambda sync: inspect(sync).has_table(version_table(self.module))
                )
        except Exception as exc:
            if engine is not None:
                await release_engine(engine)
            raise StorageError(
                f"module {self.module!r} cannot reach its database {describe(target)} "
                f"({type(exc).__name__}: {_first_line(exc)}); start the database "
                "or fix DATABASE_URL"
            ) from exc
        if not created:
            await release_engine(engine)
            raise StorageError(
                f"the tables of module {self.module!r} do not exist in "
                f"{describe(target)}; create them with `trading db upgrade "
                f"{self.module}` (trading dev and trading up run it for you)"
            )
        binds: dict[Any, AsyncEngine] = dict.fromkeys(
            self.metadata.tables.values(), engine
        )
        self._sessions = async_sessionmaker(
            binds=binds,
            expire_on_commit=False,
            sync_session_class=_module_session_class(),
            info={"prefix": self.prefix, "module": self.module},
        )
        self._engine = engine
        log.debug("module %s stores in %s", self.module, describe(target))

    async def close(self) -> None:
        """End the subscriptions and give the connections back; the engine
        closes with its last user."""
        from trading_api.shared.storage._engine import release_engine

        hub, self._hub = self._hub, None
        if hub is not None:
            await hub.close()
        engine, self._engine, self._sessions = self._engine, None, None
        if engine is not None:
            await release_engine(engine)

    def session(self) -> AsyncSession:
        """A new session on the module's tables: ``async with db.session() as s:``.

        ``expire_on_commit`` is off: objects stay readable after a commit without
        a new query (which an async session could not run implicitly).
        """
        if self._sessions is None:
            self.engine  # noqa: B018 - raises the "not open" error
        assert self._sessions is not None
        return self._sessions()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on error.

        ``async with db.transaction() as session: session.add(row)`` stores the
        row, or nothing if the block raises.
        """
        async with self.session() as session, session.begin():
            yield session

    @property
    def on_sqlite(self) -> bool:
        """Whether the database is SQLite (one process), not PostgreSQL."""
        return is_sqlite(self.url)

    async def try_lock(self, session: AsyncSession, name: str) -> bool:
        """Take the module's lock ``name`` for the session's transaction, if free.

        True when this transaction holds it (until it commits or rolls back);
        False at once when another transaction of any process holds it. On
        PostgreSQL it is ``pg_try_advisory_xact_lock`` keyed by a stable 64-bit
        hash of ``<module>:<name>`` (:func:`lock_key`); on SQLite always True:
        one process owns an SQLite database, and its transactions run one at a
        time.
        """
        if self.on_sqlite:
            return True
        from sqlalchemy import text

        taken = await session.scalar(
            text(LOCK_KEY_SQL),
            {"key": lock_key(self.module, name)},
            bind_arguments=self.raw_sql,
        )
        return bool(taken)

    async def lock(self, session: AsyncSession, name: str) -> None:
        """Take the module's lock ``name`` for the session's transaction,
        waiting while another transaction of any process holds it.

        Released when the transaction commits or rolls back. The same lock as
        :meth:`try_lock` (``pg_advisory_xact_lock`` on the same key); on SQLite
        it returns at once: the database's transactions run one at a time.
        Keep the transactions that take it short: every other taker waits.
        """
        if self.on_sqlite:
            return
        from sqlalchemy import text

        await session.execute(
            text(LOCK_WAIT_SQL),
            {"key": lock_key(self.module, name)},
            bind_arguments=self.raw_sql,
        )

    async def publish(self, session: AsyncSession, channel: str, payload: str) -> None:
        """Send ``payload`` on the module's ``channel`` when the session commits.

        Every subscriber of every process gets it after the transaction
        commits, and none if it rolls back. The same payload twice on one
        channel in one transaction is delivered once (PostgreSQL folds them).

        Raises:
            StorageError: a bad channel name, or a payload over
                :data:`MAX_PAYLOAD_BYTES` (PostgreSQL's NOTIFY limit, enforced
                on SQLite too).
        """
        name = _bus.bus_channel(self.module, channel)
        _bus.check_payload(name, payload)
        if self.on_sqlite:
            _bus.queue_local(session.sync_session, self._bus_key(), name, payload)
            return
        from sqlalchemy import text

        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": name, "payload": payload},
            bind_arguments=self.raw_sql,
        )

    @asynccontextmanager
    async def subscribe(
        self, channel: str, *, max_queued: int = DEFAULT_MAX_QUEUED
    ) -> AsyncIterator[Subscription]:
        """Receive what is published on the module's ``channel`` while inside.

        ``async with database.subscribe("fills") as fills: async for payload in
        fills: ...``. Everything committed after the block is entered is
        delivered, in commit order; :data:`GAP` marks lost messages (the
        listening connection was lost and is back, or the subscriber fell
        ``max_queued`` messages behind), on which a subscriber re-reads its
        state. On PostgreSQL the first subscription opens the handle's
        listening connection; it closes with the database.

        Raises:
            StorageError: the database is not open or cannot be reached, or the
                channel name is bad.
        """
        name = _bus.bus_channel(self.module, channel)
        hub = self._bus_hub()
        subscription = Subscription(channel, max_queued)
        await hub.add(name, subscription)
        try:
            yield subscription
        finally:
            subscription.end()
            await hub.remove(name, subscription)

    def _bus_hub(self) -> Hub:
        engine = self.engine
        if self._hub is None:
            if self.on_sqlite:
                self._hub = _bus.LocalHub(self._bus_key())
            else:
                from trading_api.shared.storage._listener import PostgresListener

                self._hub = PostgresListener(engine, f"trading:{self.module}:listen")
        return self._hub

    def _bus_key(self) -> str:
        return self.url.render_as_string(hide_password=False)


@cache
def _module_session_class() -> type[Session]:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    class ModuleSession(Session):
        """A session whose statements are checked by :func:`guard_statement`."""

    event.listen(ModuleSession, "do_orm_execute", guard_statement)
    event.listen(ModuleSession, "before_flush", guard_flush)
    # The bus on SQLite: messages wait on the session until it commits.
    event.listen(ModuleSession, "after_commit", _bus.deliver_pending)
    event.listen(ModuleSession, "after_soft_rollback", _bus.drop_rolled_back)
    event.listen(ModuleSession, "after_transaction_end", _bus.forget_ended)
    return ModuleSession


def guard_statement(state: ORMExecuteState) -> None:
    """Refuse a statement that names a table outside the session's module."""
    from sqlalchemy import Table
    from sqlalchemy.sql.visitors import iterate

    statement: Any = state.statement
    for element in iterate(statement):
        if isinstance(element, Table):
            _check_table(state.session, element.name)


def guard_flush(session: Session, _context: Any, _instances: Any) -> None:
    """Refuse to write an object mapped to a table outside the session's module."""
    from sqlalchemy import inspect

    for instance in (*session.new, *session.dirty, *session.deleted):
        for table in inspect(instance).mapper.tables:
            _check_table(session, table.name)


def _check_table(session: Session, name: str) -> None:
    prefix: str = session.info["prefix"]
    if not name.startswith(prefix):
        module = session.info["module"]
        raise ForeignTableError(
            f"module {module!r} may only use its own tables ({prefix}*), not "
            f"{name!r}; ask the module that owns it through its API"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
