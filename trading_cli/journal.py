"""A journal of changes to the tree, so that a crash never leaves half a change.

``new-module``, ``remove-module`` and ``update-module`` change several files and
folders. Each change is first written to a journal in the project's git-ignored
``.run/`` folder, with a backup of what it replaces, and only then made:

* when a step fails, the command undoes the journal newest first, in process;
* when the process dies (``kill -9``, a crash, a closed terminal), the journal
  stays behind, and the next ``trading`` command undoes it by itself and says so.

Deleting the journal file is the commit point: before it, the change rolls back;
after it, the change stands (and what is left of the folder is only scratch).
Every undo step can run twice, so a crash during a rollback is rolled back again
by the next command. The journal guards against a process dying, not against a
power cut (nothing is fsync'ed).

A test may pause a command at a named point to kill it there: with
``TRADING_FAILPOINT=<point>`` set, reaching that point writes the point's name to
the file ``TRADING_FAILPOINT_FILE`` and waits (bounded) to be killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trading_api.conventions import RUN_DIR  # noqa: TID253 (standard library only)
from trading_cli.errors import CliError

TXN_PREFIX = "txn-"
JOURNAL = "journal.jsonl"
FAILPOINT_ENV = "TRADING_FAILPOINT"
FAILPOINT_FILE_ENV = "TRADING_FAILPOINT_FILE"
_FAILPOINT_WAIT = 120.0
_CACHES = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".mypy_cache")


@dataclass(frozen=True)
class Interrupted:
    """A change a dead process left behind, as found (and then undone).

    Attributes:
        folder: Its folder in ``.run/``.
        command: What the process was running, e.g. ``trading new-module x``.
        pid: The process that died.
        pending: Whether it had started changing the tree (a journal to undo);
            False when only scratch files are left.
    """

    folder: Path
    command: str
    pid: int
    pending: bool

    def describe(self) -> str:
        """One line for the user."""
        if self.pending:
            return (
                f"rolled back `{self.command}` (pid {self.pid}), which was "
                "interrupted: the tree is as it was before it"
            )
        return f"removed the scratch files of `{self.command}` (pid {self.pid})"


class Journal:
    """The undo steps of one change, on disk, newest last.

    Made by :func:`transaction`; the folder also holds backups and a ``staging``
    folder for files prepared before they are moved into the tree.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / JOURNAL
        self._count = 0

    @property
    def staging(self) -> Path:
        """Scratch space on the project's file system (a move from it is a rename)."""
        return self.folder / "staging"

    def keep_files(self, paths: Iterable[Path]) -> None:
        """Save the bytes of ``paths`` now (a missing file is saved as missing)."""
        items: list[list[str | None]] = []
        for path in paths:
            backup = None
            if path.is_file():
                backup = self._backup_path()
                shutil.copyfile(path, backup)
            items.append([str(path), None if backup is None else str(backup)])
        dirs = sorted(
            {str(parent) for path in paths for parent in _missing_parents(path)},
            key=lambda folder: len(Path(folder).parts),
            reverse=True,
        )
        self._append({"op": "files", "items": items, "dirs": dirs})

    def keep_folder(self, folder: Path) -> None:
        """Copy ``folder`` aside now (caches left out), to put it back on undo."""
        backup = self._backup_path()
        shutil.copytree(folder, backup, ignore=_CACHES, symlinks=True)
        self._append({"op": "folder", "path": str(folder), "backup": str(backup)})

    def move(self, source: Path, target: Path) -> None:
        """Rename ``source`` to ``target`` (which must not exist) now."""
        self._append({"op": "move", "source": str(source), "target": str(target)})
        os.rename(source, target)

    def created(self, path: Path) -> None:
        """Note that ``path`` (a file or folder) is about to be made."""
        self._append({"op": "created", "path": str(path)})

    def rollback(self) -> list[str]:
        """Undo every step, newest first; return what could not be undone.

        A step that fails does not stop the others: as much as possible is
        restored, and the caller reports the rest.
        """
        problems = []
        for step in reversed(read_steps(self.path)):
            try:
                _undo(step)
            except OSError as exc:
                problems.append(f"{type(exc).__name__}: {exc}")
        if not problems and self.path.exists():
            self.path.write_bytes(b"")  # undone: a second rollback does nothing
        return problems

    def _backup_path(self) -> Path:
        backups = self.folder / "backup"
        backups.mkdir(exist_ok=True)
        self._count += 1
        return backups / str(self._count)

    def _append(self, step: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(step) + "\n")


def read_steps(path: Path) -> list[dict[str, Any]]:
    """The steps recorded in a journal file (a torn last line is ignored: its
    change was never made)."""
    steps = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            step = json.loads(line)
        except ValueError:
            break
        if isinstance(step, dict) and "op" in step:
            steps.append(step)
    return steps


@contextlib.contextmanager
def transaction(root: Path, command: str) -> Iterator[Journal]:
    """A journal for a block of changes to the tree, named ``command`` for the
    report of a later recovery.

    When the block raises, every change is undone and the exception goes on;
    when it ends, the journal is deleted (the commit point). Either way its
    folder, backups and staging included, is removed after.
    """
    folder = _new_folder(root, command)
    journal = Journal(folder)
    journal.path.touch()
    try:
        try:
            yield journal
        except BaseException:
            journal.rollback()
            journal.path.unlink(missing_ok=True)
            raise
        failpoint("commit")
        journal.path.unlink()  # the commit point
        failpoint("committed")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def all_or_nothing(journal: Journal, what: str) -> Iterator[Journal]:
    """Undo the journal's changes when the block fails, and say so in one line.

    Raises:
        CliError: ``what`` failed and nothing was changed (or undoing failed
            too, and the message says what to check).
    """
    try:
        yield journal
    except Exception as exc:
        problems = journal.rollback()
        if problems:
            raise CliError(
                f"{what} failed ({exc}) and undoing it failed too "
                f"({problems[0]}); check the tree with `git status`"
            ) from exc
        raise CliError(f"{what} failed, so nothing was changed: {exc}") from exc


@contextlib.contextmanager
def scratch(root: Path, command: str) -> Iterator[Path]:
    """A scratch folder in ``.run/`` that changes nothing in the tree (no
    journal): removed after, or by the next command if this process dies."""
    folder = _new_folder(root, command)
    try:
        yield folder / "staging"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def failpoint(point: str) -> None:
    """Pause here for a test that means to kill this process at ``point``."""
    if os.environ.get(FAILPOINT_ENV) != point:
        return
    marker = os.environ.get(FAILPOINT_FILE_ENV)
    if marker:
        Path(marker).write_text(point, encoding="utf-8")
    time.sleep(_FAILPOINT_WAIT)


def interrupted(root: Path) -> list[Interrupted]:
    """Changes in ``root``'s ``.run/`` whose process is gone."""
    run = root / RUN_DIR
    try:
        folders = sorted(run.glob(f"{TXN_PREFIX}*"))
    except OSError:
        return []
    found = []
    for folder in folders:
        owner = _read_owner(folder)
        if owner is None:
            continue
        pid, started, command = owner
        if _same_process_alive(pid, started):
            continue
        pending = (folder / JOURNAL).is_file()
        found.append(Interrupted(folder, command, pid, pending))
    return found


def recover(root: Path) -> list[Interrupted]:
    """Undo every change a dead process left half done; return what was found.

    Call it holding the project lock, so no live writer is mid-change.

    Raises:
        CliError: an undo step failed; the message says which.
    """
    found = interrupted(root)
    for leftover in found:
        if leftover.pending:
            journal = Journal(leftover.folder)
            problems = journal.rollback()
            if problems:
                raise CliError(
                    f"rolling back the interrupted `{leftover.command}` failed "
                    f"({problems[0]}); check the tree with `git status`, then "
                    f"delete {leftover.folder}"
                )
            journal.path.unlink()
        shutil.rmtree(leftover.folder, ignore_errors=True)
    return found


def recover_at_start(root: Path) -> None:
    """Undo what dead processes left half done, if the lock is free right now
    (a live writer recovers when it takes the lock). Cheap when nothing is left:
    every ``trading`` command calls it first."""
    run = root / RUN_DIR
    try:
        if not any(run.glob(f"{TXN_PREFIX}*")):
            return
    except OSError:
        return
    from trading_cli.lock import LockBusyError, project_lock

    with (
        contextlib.suppress(LockBusyError),
        project_lock(root, "trading (recovery)", timeout=0, on_wait=None),
    ):
        pass  # taking the lock recovers, and reports


def _new_folder(root: Path, command: str) -> Path:
    run = root / RUN_DIR
    run.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{TXN_PREFIX}{os.getpid()}-", dir=run))
    owner = {
        "pid": os.getpid(),
        "started": _start_time(os.getpid()),
        "command": command,
    }
    (folder / "owner.json").write_text(json.dumps(owner), encoding="utf-8")
    (folder / "staging").mkdir()
    return folder


def _read_owner(folder: Path) -> tuple[int, str, str] | None:
    try:
        raw = json.loads((folder / "owner.json").read_text(encoding="utf-8"))
        return int(raw["pid"]), str(raw["started"]), str(raw["command"])
    except FileNotFoundError:
        # Made by mkdtemp but killed before its owner was written: scratch only.
        if (folder / JOURNAL).exists():
            return None
        pid = folder.name.removeprefix(TXN_PREFIX).split("-", 1)[0]
        return (int(pid), "", "trading") if pid.isdigit() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ('' if unknown): with
    the pid, it tells a process from a later one that reuses the pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _same_process_alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    now = _start_time(pid)
    if now and started and now != started:
        return False  # the pid was reused
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except OSError:
        pass
    return True


def _undo(step: dict[str, Any]) -> None:
    op = step["op"]
    if op == "files":
        for path_text, backup in step["items"]:
            path = Path(path_text)
            if backup is None:
                path.unlink(missing_ok=True)
                continue
            data = Path(backup).read_bytes()
            if not path.is_file() or path.read_bytes() != data:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        for folder_text in step["dirs"]:  # deepest first
            folder = Path(folder_text)
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    elif op == "folder":
        folder, backup = Path(step["path"]), Path(step["backup"])
        _delete(folder)
        shutil.copytree(backup, folder, symlinks=True)
    elif op == "move":
        source, target = Path(step["source"]), Path(step["target"])
        if (target.exists() or target.is_symlink()) and not source.exists():
            os.rename(target, source)
    elif op == "created":
        _delete(Path(step["path"]))
    else:
        sys.stderr.write(f"note: unknown journal step {op!r} skipped\n")


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
