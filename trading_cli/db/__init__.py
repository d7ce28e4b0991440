"""``trading db``: each module's migrations against the project's database.

Upgrade, downgrade and status read only the modules' ``migrations/`` folders
(no module is imported); check and revision import the modules for their
models. Other commands call :func:`upgrade_all` before they start servers.
"""

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trading_api.conventions import DATABASE_FILE, RUN_DIR  # noqa: TID253 (standard library only)
from trading_cli.errors import CliError, UsageError
from trading_cli.project import Project

if TYPE_CHECKING:
    from trading_api.shared.storage.migrations import ModuleMigrations, Transition


def database_url(project: Project) -> str:
    """``DATABASE_URL``, or the embedded SQLite file ``.run/trading.db``."""
    url = os.environ.get("DATABASE_URL", "").strip()
    return url or f"sqlite:///{project.root / RUN_DIR / DATABASE_FILE}"


def is_sqlite(url: str) -> bool:
    """Whether ``url`` is an SQLite database (the embedded default is)."""
    return url.partition(":")[0].partition("+")[0] == "sqlite"


def shown_url(project: Project, url: str) -> str:
    """``url`` for output: password hidden, the async driver spelled out."""
    project.activate()
    from trading_api.shared.storage import async_url, describe

    return describe(async_url(url))


def migrated_modules(
    project: Project, names: list[str] | None = None
) -> list["ModuleMigrations"]:
    """The modules among ``names`` (None: all) that have a ``migrations/`` folder.

    Raises:
        UnknownModuleError: a name is not a module of the project (exit 2).
    """
    registry = project.module_registry()
    from trading_api.shared.storage.migrations import MIGRATIONS_DIR, ModuleMigrations

    found = []
    for name in registry.select(names):
        entry = registry.entry(name)
        if (entry.package_dir / MIGRATIONS_DIR).is_dir():
            found.append(ModuleMigrations.in_package(name, entry.package_dir))
    return found


def stateful_modules(
    project: Project, names: list[str] | None = None
) -> list["ModuleMigrations"]:
    """Modules that declare tables or have migrations, with their models loaded.

    Imports the modules (their ``tables`` are class attributes).
    """
    registry = project.module_registry()
    from trading_api.shared.storage.migrations import ModuleMigrations

    found = []
    for name in registry.select(names):
        entry = registry.entry(name)
        tables = registry.module_class(name).tables
        migrations = ModuleMigrations.in_package(name, entry.package_dir, tables)
        if tables is not None or migrations.directory.is_dir():
            found.append(migrations)
    return found


def module_with_tables(project: Project, name: str) -> "ModuleMigrations":
    """Module ``name`` with its models loaded.

    Raises:
        UsageError: the module declares no tables.
    """
    found = stateful_modules(project, [name])
    if not found or found[0].metadata is None:
        raise UsageError(
            f"module {name!r} declares no tables; set `tables = Base.metadata` "
            "on its Module class (see docs/storage.md)"
        )
    return found[0]


def upgrade_all(project: Project, names: list[str] | None = None) -> list["Transition"]:
    """Bring the tables of the modules ``names`` (None: all) to their newest revision.

    Called before servers start (``trading dev``, ``trading up``), so a server
    never runs on tables older than its code.

    Raises:
        CliError: a migration failed or the database is out of reach; the
            message names the module and the ``trading db`` command to run.
    """
    project.activate()
    from trading_api.shared.storage import StorageError
    from trading_api.shared.storage.migrations import upgrade

    url = database_url(project)
    done = []
    for migrations in migrated_modules(project, names):
        try:
            done.append(upgrade(url, migrations))
        except StorageError as exc:
            raise CliError(
                f"the database is not up to date: {exc} (then retry, or see "
                "`trading db status`)"
            ) from None
    return done


def upgrade_for_serving(
    project: Project, names: list[str] | None, echo: Callable[[str], None]
) -> None:
    """:func:`upgrade_all` before servers start; ``echo`` one line per change.

    Raises:
        CliError: the database could not be brought up to date; nothing starts.
    """
    for transition in upgrade_all(project, names):
        if transition.changed:
            echo(f"database: {describe_transition(transition)}")


def upgrade_for_reload(project: Project, names: list[str]) -> list["Transition"]:
    """Bring the tables of the modules ``names`` to their newest revision while
    their old code serves: ``trading dev`` calls it when a module's migrations
    change, before the new code replaces the old.

    Raises:
        CliError: a migration failed (its transaction is rolled back, so the
            tables are as they were); one line naming the module, the revision
            and the error.
    """
    project.activate()
    from trading_api.shared.storage.migrations import upgrade

    url = database_url(project)
    done = []
    for migrations in migrated_modules(project, names):
        try:
            done.append(upgrade(url, migrations))
        except Exception as exc:
            raise CliError(
                f"{migrations.module}: {_failed_migration(exc, migrations)}"
            ) from None
    return done


def _failed_migration(exc: BaseException, migrations: "ModuleMigrations") -> str:
    """``migration 0003 failed (OperationalError: ...)``: the revision whose file
    raised, found in the traceback (the file names start with the revision)."""
    import traceback

    from trading_api.shared.storage import StorageError

    if isinstance(exc, StorageError):
        return str(exc)  # says what is wrong with the history itself
    directory = migrations.directory.resolve()
    failed = None
    seen: BaseException | None = exc
    while seen is not None and failed is None:
        files = [
            frame.f_code.co_filename
            for frame, _ in traceback.walk_tb(seen.__traceback__)
        ]
        if isinstance(seen, SyntaxError) and seen.filename:
            files.append(seen.filename)
        failed = next(
            (Path(f) for f in files if Path(f).resolve().parent == directory), None
        )
        seen = seen.__cause__ or seen.__context__
    lines = str(exc).strip().splitlines()
    # SQLAlchemy starts its messages with the driver's error class: said once.
    first = re.sub(r"^\([\w.]+\) ", "", lines[0]) if lines else ""
    error = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if failed is None:
        return f"upgrading to its newest migration failed ({error})"
    revision = failed.stem.partition("_")[0]
    return f"migration {revision} ({failed.name}) failed ({error})"


def downgrade(project: Project, module: str, revision: str) -> "Transition":
    """Undo ``module``'s migrations down to ``revision``.

    Raises:
        UsageError: the module has no migrations.
    """
    found = migrated_modules(project, [module])
    if not found:
        raise UsageError(f"module {module!r} has no migrations; nothing to undo")
    from trading_api.shared.storage import migrations

    return migrations.downgrade(database_url(project), found[0], revision)


def new_revision(project: Project, module: str, message: str) -> Path:
    """Write ``module``'s next migration from its models; return its path."""
    found = module_with_tables(project, module)
    from trading_api.shared.storage import migrations

    path = migrations.new_revision(found, message, tidy_migration)
    return path.relative_to(project.root)


def tables_of(project: Project, module: str) -> list[str]:
    """The tables of ``module`` in the database (by prefix; the code may be gone).

    Raises:
        UsageError: ``module`` is not a valid module name.
    """
    project.activate()
    from trading_api.conventions import name_problem
    from trading_api.shared.storage.migrations import module_tables

    problem = name_problem(module)
    if problem:
        raise UsageError(problem)
    return module_tables(database_url(project), module)


def drop(project: Project, module: str) -> list[str]:
    """Drop every table of ``module``; return their names."""
    project.activate()
    from trading_api.shared.storage.migrations import drop_tables

    return drop_tables(database_url(project), module)


def describe_transition(transition: "Transition") -> str:
    """``broker: 0001 -> 0002`` or ``broker: up to date at 0002``."""
    if not transition.changed:
        return f"{transition.module}: up to date at {transition.after or 'base'}"
    return (
        f"{transition.module}: {transition.before or 'base'} -> "
        f"{transition.after or 'base'}"
    )


@dataclass(frozen=True)
class ModuleStatus:
    """Where one module's tables are against its migrations."""

    module: str
    current: str | None
    head: str | None
    state: str


def status(project: Project) -> list[ModuleStatus]:
    """The state of every module with migrations in the project's database."""
    project.activate()
    from trading_api.shared.storage.migrations import current

    url = database_url(project)
    rows = []
    for migrations in migrated_modules(project):
        revisions = migrations.revisions()
        head = migrations.head()
        at = current(url, migrations)
        if at == head:
            state = "up to date"
        elif at is not None and at not in revisions:
            state = "unknown revision: migrated by another checkout"
        else:
            behind = len(revisions) - (revisions.index(at) + 1 if at else 0)
            state = f"{behind} behind: run trading db upgrade {migrations.module}"
        rows.append(ModuleStatus(migrations.module, at, head, state))
    return rows


def check(project: Project) -> list[str]:
    """Every way the modules' models and migrations disagree, one line each.

    A module's tables must carry its prefix and point at no other module's
    tables, and its migrations must build exactly its models (compared on a
    scratch SQLite database). Empty: all in step.
    """
    project.activate()
    from trading_api.shared.storage import table_problems
    from trading_api.shared.storage.migrations import differences

    problems = []
    for migrations in stateful_modules(project):
        module = migrations.module
        metadata = migrations.metadata
        found = [] if metadata is None else table_problems(module, metadata)
        if not found:
            found = [
                f"{module}: {diff}; run `trading db revision {module} -m "
                '"describe the change"`'
                for diff in differences(migrations)
            ]
        problems += found
    return problems


def tidy_migration(path: Path, text: str) -> str:
    """A new migration's text tidied with the project's ruff (as if at ``path``,
    for its settings): imports, then formatting.

    The text as it was when ruff is not installed (it comes with the dev extras)
    or cannot read it.
    """
    import subprocess
    import sys
    from importlib.util import find_spec

    if find_spec("ruff") is None:
        return text
    for command in (
        ["check", "--fix", "--select", "I,F401", "--quiet"],
        ["format", "--quiet"],
    ):
        tidied = subprocess.run(
            [
                sys.executable,
                "-m",
                "ruff",
                *command,
                "--stdin-filename",
                str(path),
                "-",
            ],
            input=text,
            capture_output=True,
            text=True,
            check=False,
        )
        # ruff prints the fixed text, and exits 1 when problems it does not
        # fix remain; 2 is its own failure.
        if tidied.returncode in (0, 1) and tidied.stdout:
            text = tidied.stdout
    return text
