"""`trading dev` applies a module's new migrations before its new code serves.

A real dev server in a project made by `new-module notes`: the migration is
written while it runs, by `trading db revision` or by hand, and the server is
asked what it serves.
"""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trading_api.shared.testing import http_get, http_post

from .harness import Dev, module_dir, poll

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the dev loop forks; Linux only"
)

Cli = Callable[..., Any]  # tests/conftest.py's in-process `trading`
MIGRATION = '''"""{message}"""

from alembic import op

revision = "{revision}"
down_revision = "{parent}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    {upgrade}


def downgrade() -> None:
    pass
'''
FAILING = 'op.execute("ALTER TABLE notes__missing ADD COLUMN x INTEGER")'
INDEX = 'op.create_index("ix_notes__items_tag", "notes__items", ["tag"])'


@pytest.fixture
def scaffolded(
    notes_project: Path, private_copy: Callable[[Path, Path], Path], tmp_path: Path
) -> Path:
    """A project with core and a module `notes`, as `new-module` makes it: this
    test's own copy."""
    return private_copy(notes_project, tmp_path / "project")


def write_migration(project: Path, name: str, parent: str, upgrade: str) -> None:
    revision = name.partition("_")[0]
    path = module_dir(project, "notes") / "migrations" / f"{name}.py"
    path.write_text(
        MIGRATION.format(
            message=name, revision=revision, parent=parent, upgrade=upgrade
        )
    )


def add_tag_column(project: Path) -> None:
    tables = module_dir(project, "notes") / "tables.py"
    tables.write_text(
        tables.read_text().replace(
            "    name: Mapped[str] = mapped_column(String(100))\n",
            "    name: Mapped[str] = mapped_column(String(100))\n"
            '    tag: Mapped[str] = mapped_column(String(20), server_default="")\n',
        )
    )


def set_version(project: Path, original: str, version: str) -> None:
    init = module_dir(project, "notes") / "__init__.py"
    init.write_text(f"{original}\nNotesModule.version = {version!r}\n")


def served_version(url: str) -> str:
    document = http_get(f"{url}/api/v1/notes/openapi.json").json()
    version: str = document["info"]["version"]
    return version


def lines_in_order(dev: Dev, *patterns: str, since: int) -> list[str]:
    """The first line matching each pattern, waiting; each after the last."""
    found = []
    for pattern in patterns:
        line = dev.wait_for(pattern, since=since)
        since = dev.lines.index(line, since) + 1
        found.append(line)
    return found


def test_migrations_written_while_serving_are_applied_before_the_new_code(
    scaffolded: Path, tmp_path: Path, cli: Cli
) -> None:
    project = scaffolded
    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}"}
    dev = Dev(project, "--modules", "notes", "--no-build", env=database)
    try:
        items = f"{dev.url}/api/v1/notes/items"
        kept = http_post(items, json={"name": "kept"}, headers=dev.auth).json()

        # The model gains a column, then its migration is written: the code
        # that reads the column serves once the column exists.
        mark = dev.mark()
        add_tag_column(project)
        written = cli(project, "db", "revision", "notes", "-m", "add tag")
        # The column's edit may reload on its own first: the migration's reload
        # is the one that comes after the migration ran.
        migrated = lines_in_order(
            dev,
            r"^database: notes: 0001 -> 0002$",
            r"^reloaded in .*/0002_add_tag\.py",
            since=mark,
        )
        poll(
            lambda: http_get(items, headers=dev.auth).status_code == 200,
            "the tagged items",
        )
        listed = http_get(items, headers=dev.auth).json()

        # A failing migration: the edit saved with it waits, the old code serves.
        mark = dev.mark()
        original = (module_dir(project, "notes") / "__init__.py").read_text()
        before = served_version(dev.url)
        write_migration(project, "0003_index_tag", "0002", FAILING)
        set_version(project, original, "9.0.0")
        failed = dev.wait_for(r"^error: notes: ", since=mark)
        kept_serving = served_version(dev.url)
        reloads_after_failure = dev.count(r"^reloaded in", since=mark)

        # Fixed: applied, then the held-back edit serves too.
        mark = dev.mark()
        write_migration(project, "0003_index_tag", "0002", INDEX)
        fixed = lines_in_order(
            dev,
            r"^database: notes: 0002 -> 0003$",
            r"^reloaded in .*/0003_index_tag\.py",
            since=mark,
        )
        poll(lambda: served_version(dev.url) == "9.0.0", "the held-back edit")

        # A migration saved with a shared edit: applied before the full reload.
        mark = dev.mark()
        write_migration(project, "0004_noop", "0003", "pass")
        shared = project / "src" / "trading_api" / "shared" / "module_interface.py"
        shared.write_text(shared.read_text() + "\n# edited\n")
        # Saved back to back, the two files are one burst unless the machine
        # pauses this process between them: either way the migration runs first.
        full = lines_in_order(
            dev,
            r"^database: notes: 0003 -> 0004$",
            r"^reloaded in .*\(full\)",
            since=mark,
        )
    finally:
        dev.stop()

    assert written.code == 0, written.err
    assert " (swap): " in migrated[1]
    assert migrated[1].endswith(" -> notes")
    # `db revision` drafts and tidies the file elsewhere and writes it once.
    revision_reloads = [
        line
        for line in dev.lines
        if line.startswith("reloaded in") and "0002_add_tag.py" in line
    ]
    assert revision_reloads == [migrated[1]]
    assert listed == [kept]
    assert failed == (
        "error: notes: migration 0003 (0003_index_tag.py) failed (OperationalError: "
        "no such table: notes__missing); the previous code keeps serving until you "
        "save a fix"
    )
    assert kept_serving == before != "9.0.0"
    assert reloads_after_failure == 0, "\n".join(dev.lines)
    assert fixed[1].endswith(
        " (swap): modules/notes/__init__.py, "
        "modules/notes/migrations/0003_index_tag.py -> notes"
    )
    assert full[1].endswith("shared/module_interface.py -> all modules")
