"""``trading db`` on a project made by ``new-module``, as a user runs it.

The module is the template's: born with a table and its first migration.
Database tests run on SQLite and on PostgreSQL through ``DATABASE_URL``.
"""

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from trading_api.shared.testing import http_get, http_post

Trading = Callable[..., subprocess.CompletedProcess[str]]
Cli = Callable[..., Any]  # tests/conftest.py's in-process `trading`: code, out, err
CliOutcome = Any
TABLES = Path("src/trading_api/modules/notes/tables.py")
MIGRATIONS = Path("src/trading_api/modules/notes/migrations")
TRADING = (sys.executable, "-m", "trading_cli.main")
WAIT = 60.0  # seconds: an upper bound for the dev server to answer


@pytest.fixture(scope="module")
def scaffolded(
    notes_project: Path,
    private_copy: Callable[[Path, Path], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A project with core and a new module ``notes``, as new-module makes it."""
    return private_copy(notes_project, tmp_path_factory.mktemp("db") / "project")


@pytest.fixture
def project(scaffolded: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`scaffolded` to change, without its git data
    (nothing here uses it, and it is most of the copying)."""
    import shutil

    return Path(
        shutil.copytree(
            scaffolded,
            tmp_path / "project",
            symlinks=True,
            ignore=shutil.ignore_patterns(".git"),
        )
    )


@pytest.fixture
def db(cli: Cli, scaffolded: Path, database_url: str) -> Callable[..., CliOutcome]:
    """``trading db ARGS`` in :func:`scaffolded` (unchanged: commands on a
    database write nothing in the project) on the test's database."""

    def run(*args: str) -> CliOutcome:
        return cli(scaffolded, "db", *args, env={"DATABASE_URL": database_url})

    return run


def add_tag_column(project: Path) -> None:
    tables = project / TABLES
    source = tables.read_text()
    tables.write_text(
        source.replace(
            "    name: Mapped[str] = mapped_column(String(100))\n",
            "    name: Mapped[str] = mapped_column(String(100))\n"
            '    tag: Mapped[str] = mapped_column(String(20), server_default="")\n',
        )
    )


def test_check_passes_right_after_new_module(scaffolded: Path, cli: Cli) -> None:
    result = cli(scaffolded, "db", "check")
    assert result.code == 0, result.err
    assert result.out == "migrations match the models\n"


def test_upgrade_creates_the_tables_and_status_follows(db: Cli) -> None:
    before = db("status", "--json")
    upgraded = db("upgrade")
    after = db("status", "--json")
    assert upgraded.code == 0, upgraded.err
    assert upgraded.out == "notes: base -> 0001\n"
    assert '"state": "1 behind: run trading db upgrade notes"' in before.out
    assert '"current": "0001"' in after.out
    assert '"state": "up to date"' in after.out


def test_a_changed_model_fails_check_until_its_migration_is_written(
    project: Path, cli: Cli, database_url: str
) -> None:
    add_tag_column(project)
    drift = cli(project, "db", "check")
    written = cli(project, "db", "revision", "notes", "-m", "add tag")
    in_step = cli(project, "db", "check")
    database = {"DATABASE_URL": database_url}
    upgraded = cli(project, "db", "upgrade", "notes", env=database)

    assert drift.code == 1
    assert "notes: add column notes__items.tag" in drift.out
    assert "trading db revision MODULE -m TEXT" in drift.err
    assert written.code == 0, written.err
    assert written.out.startswith(f"wrote {(MIGRATIONS / '0002_add_tag.py')}\n")
    assert in_step.code == 0, in_step.err
    assert upgraded.out == "notes: base -> 0002\n"


def test_a_written_migration_is_ruff_clean(project: Path, cli: Cli) -> None:
    add_tag_column(project)
    cli(project, "db", "revision", "notes", "-m", "add tag")
    migration = str(project / MIGRATIONS / "0002_add_tag.py")
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--no-cache", migration],
            cwd=project,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_revision_without_changes_writes_nothing(project: Path, cli: Cli) -> None:
    result = cli(project, "db", "revision", "notes", "-m", "again")
    assert result.code == 1
    assert "match its migrations; nothing to write" in result.err
    assert sorted(p.name for p in (project / MIGRATIONS).glob("0*.py")) == [
        "0001_create_items.py"
    ]


def test_downgrade_to_base_drops_the_module_tables(db: Cli) -> None:
    db("upgrade")
    result = db("downgrade", "notes", "base")
    status = db("status", "--json")
    assert result.out == "notes: 0001 -> base\n"
    assert '"current": null' in status.out


def test_drop_asks_for_yes_and_then_drops(db: Cli) -> None:
    db("upgrade")
    refused = db("drop", "notes")
    still = db("status", "--json")
    dropped = db("drop", "notes", "--yes")
    assert refused.code == 2
    assert "add --yes" in refused.err
    assert '"current": "0001"' in still.out
    assert dropped.out == "dropped notes__alembic_version\ndropped notes__items\n"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["revision", "core", "-m", "x"], 2, "module 'core' declares no tables"),
        (["upgrade", "nosuch"], 2, "unknown module 'nosuch'"),
        (["downgrade", "core", "base"], 2, "module 'core' has no migrations"),
        (["revision", "notes", "-m", " "], 2, "--message is empty"),
        (["drop", "../x"], 2, "looks like a path"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(
    scaffolded: Path, cli: Cli, args: list[str], code: int, message: str
) -> None:
    result = cli(scaffolded, "db", *args)
    assert result.code == code
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_an_unreachable_database_is_one_line_naming_the_fix(
    scaffolded: Path, cli: Cli
) -> None:
    result = cli(
        scaffolded,
        "db",
        "upgrade",
        env={"DATABASE_URL": "postgresql://u:secret@127.0.0.1:9/x"},
    )
    assert result.code == 1
    assert "start it or fix DATABASE_URL" in result.err
    assert "secret" not in result.err


class DevServer:
    """``trading dev --no-reload`` in a project, on a free port."""

    def __init__(self, project: Path, database_url: str) -> None:
        self.process = subprocess.Popen(
            [*TRADING, "dev", "--no-reload", "--port", "0"],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env={
                **os.environ,
                "NO_COLOR": "1",
                "DATABASE_URL": database_url,
            },
        )
        self.lines: list[str] = []
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # ends when the process does
            self.lines.append(line)
            found = re.search(r"serving .* on (http://\S+)", line)
            if found:
                return found.group(1)
        raise AssertionError("trading dev stopped:\n" + "".join(self.lines))

    @property
    def auth(self) -> dict[str, str]:
        """The ``Authorization`` header of the development token dev printed."""
        (line,) = [line for line in self.lines if "development token" in line]
        return {"Authorization": f"Bearer {line.split()[-1]}"}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def dev(project: Path) -> Iterator[Callable[[str], DevServer]]:
    started: list[DevServer] = []

    def start(database_url: str) -> DevServer:
        started.append(DevServer(project, database_url))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def test_dev_migrates_on_start_and_items_survive_a_restart(
    dev: Callable[[str], DevServer], database_url: str
) -> None:
    first = dev(database_url)
    items = f"{first.url}/api/v1/notes/items"
    created = http_post(items, json={"name": "kept"}, headers=first.auth, timeout=WAIT)
    first.stop()
    second = dev(database_url)
    listed = http_get(
        f"{second.url}/api/v1/notes/items", headers=second.auth, timeout=WAIT
    )

    assert "trading dev: database: notes: base -> 0001\n" in first.lines
    assert created.status_code == 201
    assert listed.json() == [created.json()]
    assert not any("database:" in line for line in second.lines)


def test_status_on_a_fresh_checkout_creates_no_database(
    project: Path, cli: Cli
) -> None:
    result = cli(project, "db", "status", env={"DATABASE_URL": ""})
    assert result.code == 0, result.err
    assert f"sqlite+aiosqlite:///{project / '.run' / 'trading.db'}" in result.out
    assert "1 behind: run trading db upgrade notes" in result.out
    assert not (project / ".run" / "trading.db").exists()
