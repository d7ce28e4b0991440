"""Copies of this checkout's project, for the tests and the benches to serve and
edit, and the commands (``trading``, git) run in them.

Standard library only, so a bench script can import it by putting the checkout
on ``sys.path``.
"""

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
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
GIT_IDENTITY = ("-c", "user.name=Dev", "-c", "user.email=dev@example.com")

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


@contextmanager
def as_its_runtime(cwd: Path) -> Iterator[None]:
    """Import the module packages of the project copy at ``cwd`` as its own
    runtime would: as ``trading_api.modules.<package>``, so a module only the
    copy has (one a command just made) imports itself by that name, as every
    generated WS router does. The packages this checkout has come from this
    checkout, as the rest of the runtime does. Afterwards the copy's packages
    are forgotten, so the next copy's module of the same name is imported
    afresh."""
    import trading_api.modules as package
    from trading_api.shared import module_registry

    folder = (cwd / "src" / "trading_api" / "modules").resolve()
    default = module_registry.DEFAULT_MODULES_DIR
    package.__path__.append(str(folder))
    module_registry.DEFAULT_MODULES_DIR = folder
    try:
        yield
    finally:
        module_registry.DEFAULT_MODULES_DIR = default
        package.__path__.remove(str(folder))
        for name, module in list(sys.modules.items()):
            origin = getattr(module, "__file__", None) or ""
            if name.startswith("trading_api.modules.") and origin.startswith(
                f"{folder}{os.sep}"
            ):
                del sys.modules[name]
        sys.path_importer_cache.pop(str(folder), None)


TEMPLATE = Path("templates/module/template")


def template_files_before(
    marker: str, file: str, names: Sequence[str]
) -> dict[str, str] | None:
    """The module template's ``names`` as they were just before the first commit
    that added ``marker`` to ``file`` (paths relative to
    ``templates/module/template``), read from this checkout's git history;
    None without that history (a shallow clone)."""
    found = subprocess.run(
        [
            *("git", "log", "--reverse", "--format=%H", "-S", marker, "--"),
            (TEMPLATE / file).as_posix(),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    commits = found.stdout.split()
    if found.returncode or not commits:
        return None
    return {
        name: subprocess.run(
            ["git", "show", f"{commits[0]}^:{(TEMPLATE / name).as_posix()}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for name in names
    }


def run_git(project: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *GIT_IDENTITY, *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def run_trading(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``trading ARGS`` in ``cwd`` as a user would: a subprocess without a
    terminal or colours; ``env`` adds to or overrides the environment."""
    return subprocess.run(
        [sys.executable, "-m", "trading_cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )


REMEMBERED = {"CI": ""}
"""Environment for a ``trading`` command whose spec validation is not what its
test is about: a document the validators passed before (the committed specs,
met in every project copy) is not validated again, even when the tests run in
CI, where a build otherwise validates everything. New documents are still
validated."""


class CliOutcome:
    """What a user sees from one run of ``trading``: exit code, stdout, stderr."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err
