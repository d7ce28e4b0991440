"""Async engines: one per database and event loop, shared by the modules using it.

SQLite gets the settings a server needs: write-ahead logging (readers never wait
for the writer), a busy timeout instead of instant "database is locked" errors,
enforced foreign keys, and real transactions. By default the sqlite3 driver only
starts a transaction at the first write, so a read-then-write sequence is not
atomic; here every transaction starts with ``BEGIN IMMEDIATE``, which takes the
write lock at once: transactions on one SQLite file run one at a time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trading_api.shared.storage._url import is_sqlite, sqlite_file

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

SQLITE_BUSY_TIMEOUT = 15.0
"""Seconds a connection waits for another's write lock before failing."""


def create_engine(url: URL, *, pooled: bool = True) -> AsyncEngine:
    """A new async engine for ``url``; SQLite files get their folder made.

    ``pooled=False`` opens a connection per use (migrations, one-off commands).
    """
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    options: dict[str, Any] = {} if pooled else {"poolclass": NullPool}
    if not is_sqlite(url):
        return create_async_engine(url, **options)
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT}, **options
    )
    event.listen(engine.sync_engine, "connect", _configure_sqlite)
    event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling off: _begin_immediate starts them.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass
class _Shared:
    engine: AsyncEngine
    users: int


_shared: dict[tuple[str, int], _Shared] = {}


def acquire_engine(url: URL) -> AsyncEngine:
    """The engine of ``url`` for the running event loop, shared by its users.

    Every :func:`acquire_engine` is paired with a :func:`release_engine`; the
    last release disposes of the engine. Engines are per loop because a pooled
    connection belongs to the loop that opened it.
    """
    key = (url.render_as_string(hide_password=False), id(asyncio.get_running_loop()))
    shared = _shared.get(key)
    if shared is None:
        shared = _shared[key] = _Shared(create_engine(url), 0)
    shared.users += 1
    return shared.engine


async def release_engine(engine: AsyncEngine) -> None:
    """Give back an engine from :func:`acquire_engine`; dispose of it if unused."""
    for key, shared in list(_shared.items()):
        if shared.engine is engine:
            shared.users -= 1
            if shared.users == 0:
                del _shared[key]
                await engine.dispose()
            return
    await engine.dispose()
