"""Alembic per module: each module has its own history and its own version table.

A module's migrations live in ``modules/<package>/migrations/``; the revision its
tables are at is recorded in ``<package>__alembic_version``, so modules migrate
independently. Every function here takes the database URL and the module's
:class:`ModuleMigrations`, opens one connection, runs in one transaction (on
SQLite and PostgreSQL alike, a failed migration leaves nothing half done) and
closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from trading_api.shared.storage._errors import StorageError
from trading_api.shared.storage._tables import table_prefix, version_table
from trading_api.shared.storage._url import async_url, describe, sqlite_file

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import MetaData
    from sqlalchemy.engine import URL, Connection

ENVIRONMENT_DIR = Path(__file__).resolve().parent / "migration_env"
MIGRATIONS_DIR = "migrations"
FIRST_REVISION = "0001"

T = TypeVar("T")


@dataclass(frozen=True)
class ModuleMigrations:
    """One module's migrations: where they are and what they must produce.

    Attributes:
        module: The module's name.
        directory: Its ``migrations/`` folder.
        metadata: Its tables as the models declare them; None when not loaded
            (upgrade, downgrade and status do not need them).
    """

    module: str
    directory: Path
    metadata: MetaData | None = None

    @classmethod
    def in_package(
        cls, module: str, package_dir: Path, metadata: MetaData | None = None
    ) -> ModuleMigrations:
        """The migrations of ``module`` whose package is ``package_dir``."""
        return cls(module, package_dir / MIGRATIONS_DIR, metadata)

    @property
    def prefix(self) -> str:
        """The prefix of every table of the module."""
        return table_prefix(self.module)

    @property
    def version_table(self) -> str:
        """Where the module's revision is recorded."""
        return version_table(self.module)

    @property
    def exists(self) -> bool:
        """Whether the module has at least one migration."""
        return any(self.directory.glob("*.py")) and bool(self.revisions())

    def revisions(self) -> list[str]:
        """Revision ids, oldest first; empty without migrations."""
        if not self.directory.is_dir():
            return []
        script = _script(self)
        return [rev.revision for rev in reversed(list(script.walk_revisions()))]

    def head(self) -> str | None:
        """The newest revision; None without migrations.

        Raises:
            StorageError: the history forks (two migrations share a parent).
        """
        if not self.directory.is_dir():
            return None
        heads = _script(self).get_heads()
        if len(heads) > 1:
            raise StorageError(
                f"module {self.module!r} has {len(heads)} newest migrations "
                f"({', '.join(sorted(heads))}) in {self.directory}; make one revise "
                "the other (edit its down_revision)"
            )
        return heads[0] if heads else None

    def include_name(
        self, name: str | None, type_: str, _parents: dict[str, str | None]
    ) -> bool:
        """Alembic's filter: compare only this module's tables."""
        if type_ != "table" or name is None:
            return True
        return name.startswith(self.prefix) and name != self.version_table


@dataclass(frozen=True)
class Transition:
    """What an upgrade or downgrade did to one module's tables."""

    module: str
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        """Whether any migration ran."""
        return self.before != self.after


def current(url: str | None, migrations: ModuleMigrations) -> str | None:
    """The revision the module's tables are at; None when never migrated."""
    if _missing_file(url):
        return None
    return _connected(url, lambda connection: _current(connection, migrations))


def upgrade(
    url: str | None, migrations: ModuleMigrations, revision: str = "head"
) -> Transition:
    """Run the module's migrations up to ``revision`` (default: the newest).

    Raises:
        StorageError: unknown revision, the tables are at a revision these
            migrations do not have, a migration failed (nothing was changed), or
            the database cannot be reached.
    """
    from alembic import command

    def run(connection: Connection) -> Transition:
        before = _current(connection, migrations)
        _alembic(migrations, connection, before, lambda c: command.upgrade(c, revision))
        return Transition(migrations.module, before, _current(connection, migrations))

    return _connected(url, run)


def downgrade(
    url: str | None, migrations: ModuleMigrations, revision: str
) -> Transition:
    """Undo the module's migrations down to ``revision`` (``base``: all of them).

    Raises:
        StorageError: as :func:`upgrade`.
    """
    from alembic import command

    def run(connection: Connection) -> Transition:
        before = _current(connection, migrations)
        _alembic(
            migrations, connection, before, lambda c: command.downgrade(c, revision)
        )
        return Transition(migrations.module, before, _current(connection, migrations))

    return _connected(url, run)


def differences(migrations: ModuleMigrations) -> list[str]:
    """How the module's models differ from what its migrations build, one line each.

    The migrations run on a scratch SQLite database, which is then compared with
    the models: no database of yours is read or changed. Empty means in step.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import MetaData, inspect

    metadata = migrations.metadata if migrations.metadata is not None else MetaData()
    if not migrations.revisions():
        return [f"create table {name}" for name in sorted(metadata.tables)]

    def compare(connection: Connection) -> list[str]:
        from alembic import command

        _alembic(migrations, connection, None, lambda c: command.upgrade(c, "head"))
        stray = [
            f"a migration creates table {name}, outside the module's "
            f"{migrations.prefix}* tables"
            for name in inspect(connection).get_table_names()
            if not name.startswith(migrations.prefix)
        ]
        context = MigrationContext.configure(
            connection,
            opts={
                "include_name": migrations.include_name,
                "version_table": migrations.version_table,
                "compare_type": True,
            },
        )
        return stray + [
            _describe_diff(diff) for diff in compare_metadata(context, metadata)
        ]

    return _scratch(compare)


def new_revision(
    migrations: ModuleMigrations,
    message: str,
    tidy: Callable[[Path, str], str] | None = None,
) -> Path:
    """Write the migration from the module's last revision to its models.

    Autogenerated by Alembic against a scratch SQLite database at the last
    revision (your database is not read); the revision id is the next number
    (``0002``). Review the file: Alembic does not see renames, only a drop and an
    add.

    Alembic drafts the file in a scratch copy of the migrations folder; ``tidy``
    (the file's path and text to its final text) runs on the draft, and the
    folder gets the file in one write, so a watching dev server reloads once.

    Raises:
        StorageError: the models match the migrations already (nothing written).
    """
    import dataclasses
    import shutil

    from alembic import command

    migrations.directory.mkdir(parents=True, exist_ok=True)
    revisions = migrations.revisions()
    rev_id = f"{len(revisions) + 1:04d}"
    while rev_id in revisions:
        rev_id = f"{int(rev_id) + 1:04d}"

    with tempfile.TemporaryDirectory(prefix="revision-") as scratch:
        draft = dataclasses.replace(migrations, directory=Path(scratch))
        for path in migrations.directory.glob("*.py"):
            shutil.copyfile(path, draft.directory / path.name)

        def generate(connection: Connection) -> Any:
            _alembic(draft, connection, None, lambda c: command.upgrade(c, "head"))
            return _alembic(
                draft,
                connection,
                None,
                lambda c: command.revision(
                    c, message=message, autogenerate=True, rev_id=rev_id
                ),
            )

        script = _scratch(generate)
        if not script:
            raise StorageError(
                f"the models of module {migrations.module!r} match its migrations; "
                "nothing to write (change a model first)"
            )
        drafted = Path(script.path)
        target = migrations.directory / drafted.name
        text = drafted.read_text(encoding="utf-8")
    if tidy is not None:
        text = tidy(target, text)
    target.write_text(text, encoding="utf-8")
    return target


def module_tables(url: str | None, module: str) -> list[str]:
    """The tables of ``module`` in the database, its version table included."""
    from sqlalchemy import inspect

    prefix = table_prefix(module)
    if _missing_file(url):
        return []
    return _connected(
        url,
        lambda connection: sorted(
            name
            for name in inspect(connection).get_table_names()
            if name.startswith(prefix)
        ),
    )


def drop_tables(url: str | None, module: str) -> list[str]:
    """Drop every table of ``module`` (its data and its version); return their names.

    Works without the module's code: its tables are found by their prefix.
    """
    from sqlalchemy import MetaData

    prefix = table_prefix(module)

    def drop(connection: Connection) -> list[str]:
        metadata = MetaData()
        metadata.reflect(connection, only=lambda name, _: name.startswith(prefix))
        metadata.drop_all(connection)
        return sorted(metadata.tables)

    return _connected(url, drop)


def run_environment(context: Any) -> None:
    """The body of the shared ``env.py``: migrate one module on one connection."""
    config = context.config
    migrations: ModuleMigrations = config.attributes["migrations"]
    context.configure(
        connection=config.attributes["connection"],
        target_metadata=migrations.metadata,
        version_table=migrations.version_table,
        include_name=migrations.include_name,
        render_as_batch=True,
        compare_type=True,
        process_revision_directives=_skip_empty_revision,
    )
    with context.begin_transaction():
        context.run_migrations()


def _skip_empty_revision(_context: Any, _revision: Any, directives: list[Any]) -> None:
    if directives and directives[0].upgrade_ops.is_empty():
        directives[:] = []


def _config(migrations: ModuleMigrations, connection: Connection | None) -> Config:
    from alembic.config import Config

    # Alembic reports on stdout; library code stays quiet and returns results.
    config = Config(stdout=io.StringIO())
    config.set_main_option("script_location", _escaped(ENVIRONMENT_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", _escaped(migrations.directory))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["migrations"] = migrations
    config.attributes["connection"] = connection
    return config


def _script(migrations: ModuleMigrations) -> Any:
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    try:
        return ScriptDirectory.from_config(_config(migrations, None))
    except CommandError as exc:
        raise StorageError(
            f"the migrations of module {migrations.module!r} in "
            f"{migrations.directory} are broken: {exc}"
        ) from None


def _escaped(path: Path) -> str:
    return str(path).replace("%", "%%")


def _current(connection: Connection, migrations: ModuleMigrations) -> str | None:
    from alembic.migration import MigrationContext

    context = MigrationContext.configure(
        connection, opts={"version_table": migrations.version_table}
    )
    return context.get_current_revision()


def _alembic(
    migrations: ModuleMigrations,
    connection: Connection,
    at: str | None,
    step: Callable[[Config], T],
) -> T:
    from alembic.util.exc import CommandError

    try:
        # Alembic reports on stdout too ("Generating ..."); the callers report.
        with contextlib.redirect_stdout(io.StringIO()):
            return step(_config(migrations, connection))
    except CommandError as exc:
        known = migrations.revisions()
        if at is not None and at not in known:
            raise StorageError(
                f"the tables of module {migrations.module!r} are at revision {at!r}, "
                f"which {migrations.directory} does not have (migrated by a newer "
                "checkout?); run that checkout's `trading db downgrade "
                f"{migrations.module} REV`, or drop the tables with "
                f"`trading db drop {migrations.module}`"
            ) from None
        raise StorageError(
            f"module {migrations.module!r}: {exc}; known revisions: "
            f"{', '.join(known) or '(none)'}, base, head"
        ) from None


def _missing_file(url: str | None) -> bool:
    """Whether ``url`` is an SQLite file not made yet: reading it would make it."""
    path = sqlite_file(async_url(url))
    return path is not None and not path.exists()


def _connected(url: str | None, work: Callable[[Connection], T]) -> T:
    """Run ``work`` on a new connection to ``url`` in one transaction."""
    return asyncio.run(_run_async(async_url(url), work))


def _scratch(work: Callable[[Connection], T]) -> T:
    with tempfile.TemporaryDirectory(prefix="trading-db-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'scratch.db'}"
        return asyncio.run(_run_async(async_url(url), work))


async def _run_async(url: URL, work: Callable[[Connection], T]) -> T:
    from trading_api.shared.storage._engine import create_engine

    engine = create_engine(url, pooled=False)
    try:
        try:
            connection = await engine.connect()
        except Exception as exc:
            raise StorageError(
                f"cannot reach the database {describe(url)} ({type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); "
                "start it or fix DATABASE_URL"
            ) from exc
        try:
            async with connection.begin():
                return await connection.run_sync(work)
        finally:
            await connection.close()
    finally:
        await engine.dispose()


def _describe_diff(diff: Any) -> str:
    if isinstance(diff, list):
        return "; ".join(_describe_diff(item) for item in diff)
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        return f"{kind.split('_')[0]} table {diff[1].name}"
    if kind in ("add_column", "remove_column"):
        return f"{kind.split('_')[0]} column {diff[2]}.{diff[3].name}"
    if kind in ("add_index", "remove_index"):
        return f"{kind.split('_')[0]} index {diff[1].name} on {diff[1].table.name}"
    if kind in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        verb, table = kind.split("_")[0], diff[1].table.name
        return f"{verb} constraint {diff[1].name} on {table}"
    if kind.startswith("modify_"):
        what = kind.removeprefix("modify_").replace("_", " ")
        return f"change {what} of {diff[2]}.{diff[3]}: {diff[5]} -> {diff[6]}"
    return " ".join(str(part) for part in diff)
