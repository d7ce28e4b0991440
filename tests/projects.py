"""Copies of this checkout's project, for the tests and the benches to serve and
edit.

Standard library only, so a bench script can import it by putting the checkout
on ``sys.path``.
"""

import shutil
from collections.abc import Sequence
from pathlib import Path

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
