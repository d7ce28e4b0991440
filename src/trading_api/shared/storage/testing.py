"""Real databases for tests: migrated SQLite files, a throwaway PostgreSQL cluster.

:class:`MigratedSQLite` runs a module's migrations once and hands each test a
fresh copy of the result. :class:`TemporaryPostgres` runs Debian's (or any)
PostgreSQL binaries: ``initdb`` in a temporary folder, ``pg_ctl start`` on a
free loopback port, and on exit ``pg_ctl stop`` and the folder removed.
PostgreSQL refuses to run as root, so under root the cluster runs as the
unprivileged user ``nobody``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from contextlib import closing
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trading_api.shared.storage.migrations import ModuleMigrations

INSTALL_HINT = (
    "PostgreSQL is not installed: apt-get install postgresql (Debian, Ubuntu); "
    "or set TRADING_TEST_SKIP_POSTGRES=1 to skip the PostgreSQL tests on a "
    "developer machine"
)
SKIP_VARIABLE = "TRADING_TEST_SKIP_POSTGRES"
UNPRIVILEGED_USER = "nobody"
START_TIMEOUT = 60


class MigratedSQLite:
    """An SQLite database made once by migrations; each test gets a fresh copy.

    Running migrations costs a few hundred milliseconds (Alembic is imported,
    every script runs); a copy of their result costs a fraction of a
    millisecond, and is the same database. Build one per test session, copy
    it per test::

        @pytest.fixture(scope="session")
        def migrated(tmp_path_factory: pytest.TempPathFactory) -> MigratedSQLite:
            return MigratedSQLite.build(tmp_path_factory.mktemp("db"), migrations)

        @pytest.fixture
        def database_url(migrated: MigratedSQLite, tmp_path: Path) -> str:
            return migrated.copy(tmp_path / "test.db")
    """

    def __init__(self, template: Path) -> None:
        self.template = template
        """The migrated file, whole (no journal beside it); tests copy it and
        never open it."""

    @classmethod
    def build(cls, folder: Path, *migrations: ModuleMigrations) -> MigratedSQLite:
        """Run ``migrations`` (each module's, in order) on a new file in ``folder``.

        Raises:
            StorageError: a migration failed (see ``upgrade``).
        """
        from trading_api.shared.storage.migrations import upgrade

        template = folder / "migrated.db"
        for each in migrations:
            upgrade(f"sqlite:///{template}", each)
        # Everything in the main file, so that a plain file copy is the database.
        with closing(sqlite3.connect(template)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return cls(template)

    def copy(self, path: Path) -> str:
        """Make ``path`` a fresh copy of the migrated database; return its URL.

        ``path`` must not be open: a database there is replaced.
        """
        for journal in (f"{path}-wal", f"{path}-shm", f"{path}-journal"):
            Path(journal).unlink(missing_ok=True)
        shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL binaries were found; the message says how to install them."""


def postgres_bindir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: on PATH, or the newest Debian one."""
    found = shutil.which("initdb")
    if found is not None:
        return Path(found).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: _version(path.parent.parent.name),
    )
    return candidates[-1].parent if candidates else None


def skip_requested(environ: dict[str, str] | None = None) -> bool:
    """Whether the developer opted out of the PostgreSQL tests (never under CI)."""
    env = os.environ if environ is None else environ
    return env.get(SKIP_VARIABLE) == "1" and not env.get("CI")


class TemporaryPostgres:
    """A PostgreSQL cluster of its own, for one test session.

    ``with TemporaryPostgres() as postgres: url = postgres.new_database()``; each
    :meth:`new_database` is an empty database, so tests never see each other's
    rows. Durability is switched off (``fsync=off``): the cluster is thrown away.

    Raises:
        PostgresUnavailableError: no PostgreSQL binaries on this machine.
    """

    def __init__(self) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise PostgresUnavailableError(INSTALL_HINT)
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="trading-postgres-"))
        self.data = self.folder / "data"
        self.port = 0
        self._names = itertools.count(1)

    @property
    def url(self) -> str:
        """The URL of the cluster's ``postgres`` database."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        """The URL of database ``name`` in the cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> TemporaryPostgres:
        try:
            self._start()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate")
        finally:
            self._remove()

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        asyncio.run(self._create(name))
        return self.database_url(name)

    async def _create(self, name: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user="postgres", database="postgres"
        )
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    def _start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, user=UNPRIVILEGED_USER)
        self._run(
            "initdb",
            *("-D", str(self.data), "-U", "postgres", "-A", "trust"),
            *("-E", "UTF8", "--locale=C", "--no-sync"),
        )
        self.port = _free_port()
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            *("start", "-D", str(self.data), "-l", str(self.folder / "server.log")),
            *("-w", "-t", str(START_TIMEOUT), "-o", options),
        )

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", UNPRIVILEGED_USER, "--", *command]
        result = subprocess.run(
            command,
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT + 30,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if result.returncode != 0:
            log = self.folder / "server.log"
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{program} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}\n{detail}"
            )

    def _remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())
