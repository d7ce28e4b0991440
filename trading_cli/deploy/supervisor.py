"""supervisord: starting it, and talking to it over its XML-RPC unix socket."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trading_cli.deploy.orphans import RUN_ENV
from trading_cli.deploy.topology import RunDir
from trading_cli.errors import CliError

RPC_TIMEOUT = 10.0


@dataclass(frozen=True)
class ProcessInfo:
    """What supervisord says about one program."""

    name: str
    group: str
    state: str
    pid: int
    description: str

    @classmethod
    def from_rpc(cls, info: dict[str, Any]) -> ProcessInfo:
        return cls(
            name=info["name"],
            group=info["group"],
            state=info["statename"],
            pid=int(info["pid"]),
            description=info.get("description", ""),
        )


class Supervisor:
    """A client of the supervisord running a deployment's run folder."""

    def __init__(self, run: RunDir) -> None:
        self.run = run

    def _proxy(self) -> Any:
        from xmlrpc.client import ServerProxy

        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.run.socket}")
        return ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def call(self, method: str, *args: Any) -> Any:
        """Call ``supervisor.<method>`` and return its answer.

        Raises:
            OSError: supervisord does not answer on the socket.
        """
        import socket

        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(RPC_TIMEOUT)
        try:
            return getattr(self._proxy(), method)(*args)
        finally:
            socket.setdefaulttimeout(previous)

    def is_up(self) -> bool:
        """Whether supervisord answers on this run folder's socket."""
        if not self.run.socket.exists():
            return False
        from xmlrpc.client import Error

        try:
            return bool(self.call("getState")["statename"] == "RUNNING")
        except (OSError, Error):  # not listening, or starting / shutting down
            return False

    def pid(self) -> int:
        """supervisord's own pid."""
        return int(self.call("getPID"))

    def processes(self) -> list[ProcessInfo]:
        """Every program with its state and pid."""
        return [ProcessInfo.from_rpc(info) for info in self.call("getAllProcessInfo")]

    def process(self, rpc_name: str) -> ProcessInfo:
        """One program, by ``group:name``."""
        return ProcessInfo.from_rpc(self.call("getProcessInfo", rpc_name))

    def stop_group(self, group: str) -> None:
        """Stop every program of ``group`` and wait until they are stopped."""
        self.call("stopProcessGroup", group, True)

    def start_group(self, group: str) -> None:
        """Start every program of ``group`` (returns once they are RUNNING)."""
        self.call("startProcessGroup", group, True)


def start_supervisord(run: RunDir) -> subprocess.Popen[bytes]:
    """Start supervisord on the run folder's config, in its own session so a
    Ctrl-C in this terminal does not reach it; it outlives this process."""
    run.logs.mkdir(parents=True, exist_ok=True)
    run.socket.unlink(missing_ok=True)
    with run.supervisord_err.open("wb") as err:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "supervisor.supervisord",
                "-c",
                str(run.supervisord_conf),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=run.root,
            start_new_session=True,
            # Marks supervisord (and what it starts) as this run folder's.
            env={**os.environ, RUN_ENV: str(run.root)},
        )


def wait_for_socket(
    supervisor: Supervisor, process: subprocess.Popen[bytes], timeout: float
) -> None:
    """Wait until supervisord answers, bounded.

    Raises:
        CliError: it exited or did not answer in time; says why.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if supervisor.is_up():
            return
        if process.poll() is not None:
            break
        time.sleep(0.05)
    detail = _last_line(supervisor.run.supervisord_err.read_text(errors="replace"))
    if process.poll() is None:
        process.kill()
        process.wait()
    raise CliError(
        f"supervisord did not start ({detail or 'no answer on its socket'}); "
        f"see {supervisor.run.logs / 'supervisord.log'}"
    )


def shutdown(supervisor: Supervisor, timeout: float) -> list[int]:
    """Stop supervisord and everything it runs; return pids still alive after
    ``timeout`` seconds and a SIGKILL (empty when all went)."""
    root = supervisor.pid()
    pids = [root, *descendants(root)]
    from xmlrpc.client import Error

    with contextlib.suppress(OSError, Error):  # it may close while answering
        supervisor.call("shutdown")
    left = wait_gone(pids, timeout)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    left = wait_gone(left, 2.0)
    supervisor.run.socket.unlink(missing_ok=True)
    return left


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until no process in ``pids`` runs; return those still alive."""
    deadline = time.monotonic() + timeout
    alive = [pid for pid in pids if is_alive(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if is_alive(pid)]
    return alive


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...), from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except (OSError, IndexError, UnicodeDecodeError):
            continue  # gone meanwhile
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    queue = [pid]
    while queue:
        children = parents.get(queue.pop(), [])
        found += children
        queue += children
    return found


def is_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped does not count)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
