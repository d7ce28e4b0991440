"""One lock per project for every command that writes the tree.

``new-module``, ``remove-module``, ``update-module``, ``specs build``, ``clients
build`` and the dev loop's regeneration all rewrite shared files (the merged
specs, generated folders); two of them at once would lose each other's changes.
Each holds this lock while it writes::

    with project_lock(project.root, "trading new-module market-data"):
        ...

A second writer waits (saying once whom it waits for) up to a timeout, then
fails with exit 1 naming the holder: its pid and command.

The lock is a POSIX record lock (``lockf``) on ``.run/tree.lock``. The kernel
drops it when the holding process ends, even by ``kill -9``, so a lock whose
process is dead is simply taken over; the file keeps the last holder's pid and
command for the messages. Record locks are not inherited by ``fork``, so a
server process forked while the lock is held never keeps it. Within one process
the lock is re-entrant (a command that calls another builder keeps holding it),
and threads of one process take turns.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from trading_api.conventions import RUN_DIR  # noqa: TID253 (standard library only)
from trading_cli.errors import CliError

LOCK_FILE = "tree.lock"
TIMEOUT_ENV = "TRADING_LOCK_TIMEOUT"
"""Seconds a writer waits for the lock before it gives up (0: do not wait)."""
DEFAULT_TIMEOUT = 120.0
_POLL = 0.05


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) the project lock.

    Attributes:
        pid: The holding process.
        command: What it runs, e.g. ``trading new-module market-data``.
        since: When it took the lock (seconds since the epoch).
    """

    pid: int
    command: str
    since: float

    def describe(self) -> str:
        """``pid 123 (trading new-module x)``."""
        return f"pid {self.pid} ({self.command})"


class LockBusyError(CliError):
    """Another process held the project lock for longer than we would wait."""

    def __init__(self, lock_path: Path, holder: Holder | None, waited: float) -> None:
        who = holder.describe() if holder else "another process"
        waited_text = f" for {waited:.0f} s" if waited >= 1 else ""
        super().__init__(
            f"the project is locked by {who}; waited{waited_text} and gave up. "
            f"Let it finish (or end it), then retry; set {TIMEOUT_ENV}=SECONDS "
            "to wait longer"
        )
        self.lock_path = lock_path
        self.holder = holder


def lock_path(root: Path) -> Path:
    """The lock file of the project at ``root``."""
    return root / RUN_DIR / LOCK_FILE


def default_timeout() -> float:
    """How long writers wait: ``TRADING_LOCK_TIMEOUT`` seconds, else 120."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise CliError(
            f"{TIMEOUT_ENV}={raw!r} is not a number of seconds; set it to e.g. 30"
        ) from None
    if not 0 <= value < 1e6:
        raise CliError(f"{TIMEOUT_ENV}={raw!r} must be from 0 to 999999 seconds")
    return value


def _stderr_note(message: str) -> None:
    sys.stderr.write(f"note: {message}\n")
    sys.stderr.flush()


class _Held:
    """This process's hold on one lock file: the descriptor and the depth."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.depth = 0
        self.pid = os.getpid()


_HELD: dict[Path, _Held] = {}
_THREADS: dict[Path, threading.RLock] = {}
_GUARD = threading.Lock()


def _forget_after_fork() -> None:
    """A forked child holds no lock: the kernel does not give it the parent's
    record locks, so it must not believe it holds them either (and the parent's
    thread locks may be left taken by threads the child does not have)."""
    global _GUARD
    _HELD.clear()
    _THREADS.clear()
    _GUARD = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def _thread_lock(path: Path) -> threading.RLock:
    with _GUARD:
        return _THREADS.setdefault(path, threading.RLock())


@contextlib.contextmanager
def project_lock(
    root: Path,
    command: str,
    *,
    timeout: float | None = None,
    on_wait: Callable[[str], None] | None = _stderr_note,
) -> Iterator[Holder]:
    """Hold the project lock of ``root`` for the block; yield this holder.

    ``command`` is what other writers are told holds the lock. ``timeout`` is how
    long to wait for another holder (default: :func:`default_timeout`; 0 fails at
    once). ``on_wait`` gets one line when this call has to wait, and one when it
    takes over a lock whose holder died (None: say nothing).

    Taking the lock first rolls back any change a killed writer left half done
    (see :mod:`trading_cli.journal`), with a note on stderr.

    Raises:
        LockBusyError: another process held the lock for ``timeout`` seconds.
    """
    path = lock_path(root.resolve())
    threads = _thread_lock(path)
    wait = default_timeout() if timeout is None else timeout
    taken = threads.acquire(timeout=wait) if wait > 0 else threads.acquire(False)
    if not taken:
        raise LockBusyError(path, read_holder(root), wait)
    pid = os.getpid()
    try:
        held = _HELD.get(path)
        if held is None:
            held = _acquire(path, command, wait, on_wait)
            _HELD[path] = held
            try:
                _recover(root)
            except BaseException:
                del _HELD[path]
                _release(held.fd)
                raise
        held.depth += 1
        try:
            yield _holder_now(held.fd) or Holder(os.getpid(), command, time.time())
        finally:
            if held.pid == os.getpid():  # not in a child forked meanwhile
                held.depth -= 1
                if held.depth == 0:
                    del _HELD[path]
                    _release(held.fd)
    finally:
        if pid == os.getpid():
            threads.release()


def _recover(root: Path) -> None:
    """Undo what writers killed mid-change left behind, and say so."""
    from trading_cli.journal import recover

    for leftover in recover(root):
        _stderr_note(leftover.describe())


def holds_lock(root: Path) -> bool:
    """Whether this process holds the project lock of ``root`` now."""
    return lock_path(root.resolve()) in _HELD


def read_holder(root: Path) -> Holder | None:
    """The process that holds the project lock of ``root`` now, else None.

    A lock file left by a process that died is not held: the kernel released it.
    """
    path = lock_path(root.resolve())
    held = _HELD.get(path)
    if held is not None:
        return _holder_now(held.fd)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        # A POSIX lock is released when *any* descriptor of the file closes in
        # the holding process, so only ask from a process that does not hold it.
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return _holder_now(fd)
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def last_holder(root: Path) -> Holder | None:
    """Whoever last wrote their name in the lock file (holding it or not)."""
    path = lock_path(root)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _holder_now(fd)
    finally:
        os.close(fd)


def _acquire(
    path: Path, command: str, wait: float, on_wait: Callable[[str], None] | None
) -> _Held:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    start = time.monotonic()
    told = False
    try:
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                pass
            waited = time.monotonic() - start
            if waited >= wait:
                raise LockBusyError(path, _holder_now(fd), waited)
            if not told and on_wait is not None:
                holder = _holder_now(fd)
                who = holder.describe() if holder else "another trading command"
                on_wait(f"waiting for {who} to finish writing the project")
                told = True
            time.sleep(_POLL)
        previous = _holder_now(fd)
        if previous is not None and on_wait is not None and not _alive(previous.pid):
            on_wait(
                f"took over the project lock left by {previous.describe()}, "
                "which is no longer running"
            )
        _write_holder(fd, Holder(os.getpid(), command, time.time()))
    except BaseException:
        os.close(fd)
        raise
    return _Held(fd)


def _release(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)
        fcntl.lockf(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _write_holder(fd: int, holder: Holder) -> None:
    data = json.dumps(
        {"pid": holder.pid, "command": holder.command, "since": holder.since}
    ).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _holder_now(fd: int) -> Holder | None:
    try:
        raw = json.loads(os.pread(fd, 4096, 0) or b"null")
        return Holder(int(raw["pid"]), str(raw["command"]), float(raw["since"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None  # empty (released), or being rewritten right now


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
