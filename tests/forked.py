"""``trading`` commands in processes of their own, forked from one process that
has already imported the libraries every command imports (FastAPI, pydantic,
SQLAlchemy, typer, rich), as a pre-forking server does.

For tests where the process is the point (killed at an instant, raced against
another): each command is a real process with its own pid, session and files,
killed or awaited like one the console script starts, without paying for those
imports again. Nothing of the project is imported before the fork, so each
command loads the runtime of the project copy it runs in, as the console script
does.
"""

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

_FORKER = r"""
import json, os, select, signal, sys

# The libraries a scaffolding command and the runtime it loads import, and the
# command line itself; of trading_api only what the console script loads at
# start (its rules and its error root).
import importlib.metadata, fastapi, jinja2, pydantic, rich.console, typer.main, yaml
import sqlalchemy.ext.asyncio, sqlalchemy.orm
import trading_cli.main
from trading_cli import root

wake_r, wake_w = os.pipe()
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGCHLD, lambda *_: None)
pending = b""
request = None


def tell(**message):
    os.write(1, (json.dumps(message) + "\n").encode())


def reap():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        tell(exited=pid, code=os.waitstatus_to_exitcode(status))


while request is None:
    ready, _, _ = select.select([0, wake_r], [], [])
    if wake_r in ready:
        os.read(wake_r, 4096)
        reap()
    if 0 not in ready:
        continue
    chunk = os.read(0, 65536)
    if not chunk:
        raise SystemExit(0)
    pending += chunk
    while b"\n" in pending:
        line, pending = pending.split(b"\n", 1)
        asked = json.loads(line)
        pid = os.fork()
        if pid == 0:
            request = asked
            break
        tell(started=pid)

# The child: the command, as the console script runs it.
signal.set_wakeup_fd(-1)
signal.signal(signal.SIGCHLD, signal.SIG_DFL)
os.close(wake_r)
os.close(wake_w)
os.setsid()
os.chdir(request["cwd"])
os.environ.clear()
os.environ.update(request["env"])
for fd, (path, flags) in enumerate(
    [
        (os.devnull, os.O_RDONLY),
        (request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ]
):
    opened = os.open(path, flags, 0o644)
    os.dup2(opened, fd)
    os.close(opened)
sys.argv = ["trading", *request["args"]]
trading_cli.main.run()
"""


class Forker:
    """One process that forks a ``trading`` command per :meth:`start`."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _FORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._started: list[int] = []
        self._exited: dict[int, int] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            message = json.loads(line)
            with self._changed:
                if "started" in message:
                    self._started.append(message["started"])
                else:
                    self._exited[message["exited"]] = message["code"]
                self._changed.notify_all()
        with self._changed:  # the forker is gone: nothing more will come
            self._changed.notify_all()

    def start(
        self, cwd: Path, args: Sequence[str], env: Mapping[str, str], output: Path
    ) -> "Forked":
        """Start ``trading ARGS`` in ``cwd`` with exactly ``env`` in a new session;
        its stdout and stderr go to ``output``.out and ``output``.err."""
        stdout, stderr = output.with_suffix(".out"), output.with_suffix(".err")
        request = {
            "cwd": str(cwd),
            "args": list(args),
            "env": dict(env),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        with self._lock:
            assert self._process.stdin is not None
            self._process.stdin.write(json.dumps(request).encode() + b"\n")
            self._process.stdin.flush()
            with self._changed:
                alive = self._changed.wait_for(
                    lambda: self._started or self._process.poll() is not None,
                    timeout=60,
                )
                assert alive and self._started, "the forker did not start the command"
                pid = self._started.pop(0)
        return Forked(self, pid, stdout, stderr)

    def exit_code(self, pid: int, timeout: float | None) -> int | None:
        """``pid``'s exit code once it ended (None while it runs, after waiting
        up to ``timeout`` seconds)."""
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exited, timeout=timeout)
            return self._exited.get(pid)

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=10)


class Forked:
    """A forked ``trading`` command, used as a :class:`subprocess.Popen` is."""

    def __init__(self, forker: Forker, pid: int, stdout: Path, stderr: Path) -> None:
        self._forker = forker
        self.pid = pid
        self.returncode: int | None = None
        self._stdout = stdout
        self._stderr = stderr

    def poll(self) -> int | None:
        return self.wait(timeout=0, check=False)

    def wait(self, timeout: float | None = None, *, check: bool = True) -> int | None:
        if self.returncode is None:
            self.returncode = self._forker.exit_code(self.pid, timeout)
        if check and self.returncode is None:
            raise subprocess.TimeoutExpired(["trading"], timeout or 0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                os.kill(self.pid, sig)

    def kill(self) -> None:
        import signal

        self.send_signal(signal.SIGKILL)

    def first_line_of_stderr(self, timeout: float) -> str:
        """The first whole line the command writes on stderr, once written
        (waiting up to ``timeout`` seconds), or all it wrote before it ended."""
        deadline = time.monotonic() + timeout
        while True:
            ended = self.poll() is not None
            text = self._stderr.read_text() if self._stderr.exists() else ""
            line, newline, _ = text.partition("\n")
            if newline or ended:
                return line + newline
            assert time.monotonic() < deadline, "nothing on stderr in time"
            time.sleep(0.02)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Wait for the command to end; return what it wrote on stdout and
        stderr."""
        self.wait(timeout)
        return self._stdout.read_text(), self._stderr.read_text()
