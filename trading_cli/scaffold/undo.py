"""All-or-nothing changes to the project tree.

Each step that changes the tree first records how to undo itself; when a later
step fails, :meth:`UndoLog.rollback` undoes them newest first, so the tree is
byte for byte what it was.
"""

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from trading_cli.errors import CliError

RUN_DIR = ".run"
"""The project's git-ignored folder for run-time files."""
_CACHES = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".mypy_cache")


class UndoLog:
    """Undo steps for the changes made so far, run newest first on failure."""

    def __init__(self) -> None:
        self._steps: list[Callable[[], None]] = []

    def keep_files(self, paths: Iterable[Path]) -> None:
        """Save the bytes of ``paths`` now (a missing file is saved as missing)."""
        saved = {path: path.read_bytes() if path.is_file() else None for path in paths}
        missing_dirs = sorted(
            {parent for path in saved for parent in _missing_parents(path)},
            key=lambda folder: len(folder.parts),
            reverse=True,
        )

        def restore() -> None:
            for path, data in saved.items():
                if data is None:
                    path.unlink(missing_ok=True)
                elif not path.is_file() or path.read_bytes() != data:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
            for folder in missing_dirs:  # deepest first
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()

        self._steps.append(restore)

    def keep_folder(self, folder: Path, backup: Path) -> None:
        """Copy ``folder`` to ``backup`` now (caches left out) to put it back."""
        shutil.copytree(folder, backup, ignore=_CACHES, symlinks=True)

        def restore() -> None:
            _delete(folder)
            shutil.copytree(backup, folder, symlinks=True)

        self._steps.append(restore)

    def move(self, source: Path, target: Path) -> None:
        """Rename ``source`` to ``target`` (which must not exist) now."""
        os.rename(source, target)
        self._steps.append(lambda: os.rename(target, source))

    def created(self, path: Path) -> None:
        """Note that ``path`` (a file or folder) did not exist before."""
        self._steps.append(lambda: _delete(path))

    def rollback(self) -> list[str]:
        """Undo every step, newest first; return what could not be undone.

        A step that fails does not stop the others: as much as possible is
        restored, and the caller reports the rest with the original error.
        """
        problems = []
        for step in reversed(self._steps):
            try:
                step()
            except OSError as exc:
                problems.append(f"{type(exc).__name__}: {exc}")
        self._steps.clear()
        return problems

    def commit(self) -> None:
        """Keep the changes: forget the undo steps."""
        self._steps.clear()


@contextmanager
def all_or_nothing(what: str) -> Iterator[UndoLog]:
    """Run a block of changes that records its undo steps in the log it gets.

    When the block raises, every change is undone and a :class:`CliError` says
    that ``what`` failed and that nothing was changed.
    """
    undo = UndoLog()
    try:
        yield undo
    except BaseException as exc:
        problems = undo.rollback()
        if not isinstance(exc, Exception):
            raise
        if problems:
            raise CliError(
                f"{what} failed ({exc}) and undoing it failed too ({problems[0]}); "
                "check the tree with `git status`"
            ) from exc
        raise CliError(f"{what} failed, so nothing was changed: {exc}") from exc
    undo.commit()


@contextmanager
def staging_folder(root: Path, prefix: str) -> Iterator[Path]:
    """A scratch folder in the project's git-ignored ``.run/``, removed after.

    It sits on the project's file system, so moving a module from it into
    ``src/`` is a rename, and outside ``src/`` and ``templates/``, so ``trading
    dev`` does not see half-rendered files.
    """
    run = root / RUN_DIR
    made_run = not run.exists()
    run.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=run))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if made_run and not any(run.iterdir()):
            run.rmdir()


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _missing_parents(path: Path) -> list[Path]:
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing
