"""Which database a process uses: ``DATABASE_URL``, or SQLite under ``.run/``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from trading_api.conventions import DATABASE_FILE, RUN_DIR
from trading_api.shared.storage._errors import StorageError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_ALIASES = {"postgres": "postgresql"}


def project_root() -> Path:
    """The checkout holding ``src/trading_api``, or the working folder elsewhere."""
    root = Path(__file__).resolve().parents[4]
    return root if (root / "pyproject.toml").is_file() else Path.cwd()


def default_database_url() -> str:
    """The embedded SQLite file ``.run/trading.db`` of the checkout."""
    return f"sqlite+aiosqlite:///{project_root() / RUN_DIR / DATABASE_FILE}"


def async_url(raw: str | None) -> URL:
    """``raw`` (or the default) as a URL with the async driver of its database.

    ``sqlite:///x.db`` becomes ``sqlite+aiosqlite:///x.db`` and ``postgresql://``
    (or ``postgres://``) becomes ``postgresql+asyncpg://``; a URL that names a
    driver already is kept.

    Raises:
        StorageError: the URL is malformed or names a database other than SQLite
            and PostgreSQL.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = (raw or "").strip() or default_database_url()
    try:
        url = make_url(text)
    except ArgumentError:
        raise StorageError(
            "DATABASE_URL is not a database URL; write it like "
            "postgresql://user:password@127.0.0.1:5432/trading or "
            "sqlite:///path/to/trading.db"
        ) from None
    backend, _, driver = url.drivername.partition("+")
    backend = _ALIASES.get(backend, backend)
    if backend not in _ASYNC_DRIVERS:
        raise StorageError(
            f"DATABASE_URL uses {backend!r}; the workbench stores data in sqlite "
            "(embedded, the default) or postgresql"
        )
    wanted = _ASYNC_DRIVERS[backend]
    if driver and f"{backend}+{driver}" != wanted:
        raise StorageError(
            f"DATABASE_URL names the driver {driver!r}; the server is async: use "
            f"{wanted}:// (or plain {backend}://)"
        )
    return url.set(drivername=wanted)


def describe(url: URL) -> str:
    """The URL for messages and logs, password hidden."""
    return url.render_as_string(hide_password=True)


def is_sqlite(url: URL) -> bool:
    """Whether ``url`` is an SQLite database."""
    return url.get_backend_name() == "sqlite"


def sqlite_file(url: URL) -> Path | None:
    """The file of an SQLite URL; None for in-memory databases and others."""
    if not is_sqlite(url) or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)
