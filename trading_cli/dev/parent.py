"""A process that forks children, reaps them and stops them: the zygote's base.

Each child leads its own process group, so stopping it also stops what it started.
SIGCHLD wakes the parent's loop through a pipe (:func:`signal.set_wakeup_fd`); a
stop is a SIGTERM to the group, then a SIGKILL if it is still there after a grace
period.
"""

import contextlib
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass

from trading_cli.dev import channel

STOP_GRACE_SECONDS = 5.0


@dataclass
class Child:
    """A forked process not reaped yet."""

    pid: int
    kind: str  # "serve", "build" or "spawner"
    order_id: int
    kill_at: float | None = None


class Parent:
    """A process that forks children, reaps them and stops them on demand.

    Waits on one order socket; SIGCHLD wakes it through a pipe.
    """

    def __init__(self, orders: socket.socket) -> None:
        self.orders = orders
        self.children: dict[int, Child] = {}
        self.selector = selectors.DefaultSelector()
        self.wakeup_r, self.wakeup_w = os.pipe()
        self.quitting = False

    def run(self) -> None:
        """Obey orders until told to quit or the sender is gone."""
        os.set_blocking(self.wakeup_w, False)
        signal.set_wakeup_fd(self.wakeup_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.orders, selectors.EVENT_READ)
        self.selector.register(self.wakeup_r, selectors.EVENT_READ)
        self.started()
        try:
            while not self.quitting:
                self._step()
        finally:
            self._stop_all()

    def started(self) -> None:
        """Called once, before the first order."""

    def obey(self, order: channel.Message) -> None:
        """Carry out one order."""
        raise NotImplementedError

    def exited(self, child: Child, code: int) -> None:
        """A child was reaped."""

    def fork(self, kind: str, order_id: int) -> int:
        """Fork; return 0 in the child (which leads a new process group)."""
        # A stop may follow at once: hold SIGTERM until the child has dropped the
        # handler it inherits, or the signal would run our handler in the child.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        pid = os.fork()
        if pid == 0:
            os.setpgid(0, 0)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            self.selector.close()
            os.close(self.wakeup_r)
            os.close(self.wakeup_w)
            return 0
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        with contextlib.suppress(OSError):  # the child may have done it already
            os.setpgid(pid, pid)
        self.children[pid] = Child(pid, kind, order_id)
        return pid

    def stop(self, pid: int) -> None:
        """SIGTERM the child's group now, SIGKILL it after a grace period."""
        child = self.children.get(pid)
        if child is None or child.kill_at is not None:
            return
        child.kill_at = time.monotonic() + STOP_GRACE_SECONDS
        signal_group(pid, signal.SIGTERM)

    def _step(self) -> None:
        for key, _ in self.selector.select(self._timeout()):
            if key.fileobj == self.wakeup_r:
                os.read(self.wakeup_r, 4096)
                continue
            data = self.orders.recv(channel.MAX_MESSAGE)
            if not data:
                self.quitting = True
                return
            try:
                self.obey(channel.decode(data))
            except channel.ChannelError as exc:  # a bug: say so, keep serving
                print(f"trading dev: {exc}", file=sys.stderr)
        self._reap()
        self._escalate()

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is not None:
                self.exited(child, os.waitstatus_to_exitcode(status))

    def _escalate(self) -> None:
        now = time.monotonic()
        for child in self.children.values():
            if child.kill_at is not None and child.kill_at <= now:
                signal_group(child.pid, signal.SIGKILL)
                child.kill_at = now + 1.0

    def _timeout(self) -> float | None:
        deadlines = [c.kill_at for c in self.children.values() if c.kill_at]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _stop_all(self) -> None:
        self.quitting = True
        for pid in list(self.children):
            self.stop(pid)
        deadline = time.monotonic() + STOP_GRACE_SECONDS + 1.0
        while self.children and time.monotonic() < deadline:
            self._reap()
            if self.children:
                time.sleep(0.02)
        for pid in list(self.children):
            signal_group(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            self.children.pop(pid, None)


def exit_now(code: int) -> None:
    """End a forked process now: flush, skip the interpreter's tear-down."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def signal_group(pid: int, sig: int) -> None:
    """Send ``sig`` to the process group a child leads."""
    # The child leads its group and is not reaped yet, so the group id is still
    # its own: this cannot reach an unrelated process.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
