"""Copies of this checkout's project, for the tests and the benches to serve and
edit.

Standard library only, so a bench script can import it by putting the checkout
on ``sys.path``.
"""

import os
import shutil
import sqlite3
import sys
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ROOT / "src" / "trading_api" / "modules"
PROJECT_PARTS = (
    "pyproject.toml",
    ".copier-answers.yml",
    ".gitignore",
    "src",
    "templates",
)
UNCOPIED = shutil.ignore_patterns(
    "__pycache__", ".git", "node_modules", ".pytest_cache", ".mypy_cache", ".ruff_cache"
)


def copy_project(
    dest: Path,
    *,
    parts: Sequence[str] = PROJECT_PARTS,
    modules: Sequence[str] | None = None,
    node_modules: bool = False,
) -> Path:
    """Copy this checkout's project files to a new folder ``dest``.

    ``parts`` are the top-level files and folders to copy (missing ones are
    skipped), caches and git data left out; ``modules`` keeps only those module
    packages; ``node_modules`` links the checkout's node_modules (the AsyncAPI
    parser, as after ``npm ci``).
    """

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(UNCOPIED(folder, names))
        if modules is not None and Path(folder) == MODULES:
            skipped |= {n for n in names if (MODULES / n).is_dir()} - {*modules}
        return skipped

    dest.mkdir()
    for name in parts:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, dest / name)
    if node_modules and (ROOT / "node_modules").is_dir():
        (dest / "node_modules").symlink_to(ROOT / "node_modules")
    return dest


def made_once(
    tmp_path_factory: "pytest.TempPathFactory", name: str, make: Callable[[Path], None]
) -> Path:
    """The folder ``name`` that ``make(folder)`` fills, made once per test run:
    the test workers share it (the first to ask makes it while the others wait
    on a lock file). A failed ``make`` leaves no folder, so the next asker
    tries again and shows the failure too."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, above each worker's own
    folder, done = base / name, base / f"{name}.done"
    with (base / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            try:
                make(folder)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            done.touch()
    return folder


def copy_made(source: Path, dest: Path) -> Path:
    """A private copy of a shared project folder, git data and links included."""
    return Path(shutil.copytree(source, dest, symlinks=True))


def warm_mypy_cache(dest: Path) -> Path:
    """``dest`` as a mypy cache folder holding a copy of this checkout's cache,
    if any, so a mypy run in a project copy does not analyse fastapi, pydantic
    and the standard library again; sqlite's backup gives a consistent copy even
    while another mypy writes."""
    source = ROOT / ".mypy_cache" / f"{sys.version_info[0]}.{sys.version_info[1]}"
    target = dest / source.name
    target.mkdir(parents=True)
    for db in sorted(source.glob("cache.*.db")):
        with (
            closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as old,
            closing(sqlite3.connect(target / db.name)) as new,
        ):
            old.backup(new)
    return dest
