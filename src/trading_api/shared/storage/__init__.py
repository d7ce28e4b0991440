"""Durable state: each module owns its tables and migrations; one database.

A module declares its tables with SQLAlchemy 2 (declarative, one
``MetaData`` per module from :func:`module_metadata`, every table named with the
module's prefix, ``<package>__<table>``) and sets ``tables = Base.metadata`` on
its :class:`~trading_api.shared.module_interface.Module` class. The runtime then
gives it ``self.database``, a :class:`ModuleDatabase`, opened in the app's
lifespan, whose sessions see only the module's tables::

    async with self.database.transaction() as session:
        session.add(ItemRow(name="first"))

The database is ``DATABASE_URL`` (SQLite or PostgreSQL; plain ``sqlite://`` and
``postgresql://`` URLs get the async driver), by default the embedded SQLite
file ``.run/trading.db`` of the checkout. For several server processes on one
PostgreSQL database, a module takes cluster-wide locks
(:meth:`ModuleDatabase.try_lock`) and sends messages that every process
receives after commit (:meth:`ModuleDatabase.publish`,
:meth:`ModuleDatabase.subscribe`). Migrations (Alembic, one history per
module) are in :mod:`trading_api.shared.storage.migrations`. Importing this
package opens nothing and writes nothing.
"""

from trading_api.shared.storage._bus import (
    DEFAULT_MAX_QUEUED,
    GAP,
    MAX_PAYLOAD_BYTES,
    Gap,
    Subscription,
)
from trading_api.shared.storage._database import ForeignTableError, ModuleDatabase
from trading_api.shared.storage._errors import StorageError
from trading_api.shared.storage._locks import lock_key
from trading_api.shared.storage._tables import (
    check_tables,
    module_metadata,
    owner_of,
    table_prefix,
    table_problems,
    version_table,
)
from trading_api.shared.storage._url import async_url, default_database_url, describe

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "GAP",
    "MAX_PAYLOAD_BYTES",
    "ForeignTableError",
    "Gap",
    "ModuleDatabase",
    "StorageError",
    "Subscription",
    "async_url",
    "check_tables",
    "default_database_url",
    "describe",
    "lock_key",
    "module_metadata",
    "owner_of",
    "table_prefix",
    "table_problems",
    "version_table",
]
