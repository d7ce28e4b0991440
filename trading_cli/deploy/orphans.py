"""The deployment's processes, found without asking supervisord.

When supervisord dies (``kill -9``, OOM), the servers and nginx it started keep
running, reparented to init. ``down``, ``status`` and ``up`` then find them from
what the run folder recorded, never by process name:

* every server instance (and supervisord itself) carries
  ``TRADING_DEPLOY_RUN=<run folder>`` in its environment, and the instance its
  program name in ``TRADING_DEPLOY_PROGRAM``;
* nginx rewrites its environment area for its process title, so its master is
  found from its pid file in the run folder, checked against its command line
  (which names this run folder's ``nginx.conf``); its workers share its process
  group.

supervisord starts each program in a process group of its own, so stopping a
program means signalling its group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from trading_cli.deploy.ports import bind_error
from trading_cli.deploy.topology import NGINX, RunDir

RUN_ENV = "TRADING_DEPLOY_RUN"
PROGRAM_ENV = "TRADING_DEPLOY_PROGRAM"
SUPERVISORD = "supervisord"


@dataclass(frozen=True)
class DeployedProcess:
    """One process of the deployment, as found in ``/proc``.

    Attributes:
        pid: The process.
        pgid: Its process group (the program's, set by supervisord).
        program: The program it belongs to (``nginx``, ``<server>-<port>``) or
            ``supervisord``.
    """

    pid: int
    pgid: int
    program: str


def find_processes(run: RunDir) -> list[DeployedProcess]:
    """Every live process of the deployment in ``run`` (supervisord included)."""
    marker = f"{RUN_ENV}={run.root}".encode()
    found: dict[int, DeployedProcess] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        pid = int(proc.name)
        if pid == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or another user's
        if marker not in environ:
            continue
        program = SUPERVISORD
        prefix = f"{PROGRAM_ENV}=".encode()
        for entry in environ:
            if entry.startswith(prefix):
                program = entry[len(prefix) :].decode(errors="replace")
        stat = _stat(pid)
        if stat is not None and stat[0] != "Z":
            found[pid] = DeployedProcess(pid, stat[1], program)
    nginx = _nginx_master(run)
    if nginx is not None:
        for pid in _group_members(nginx):
            found[pid] = DeployedProcess(pid, nginx, NGINX)
    return sorted(found.values(), key=lambda p: (p.program, p.pid))


def stop_processes(processes: Iterable[DeployedProcess], timeout: float) -> list[int]:
    """SIGTERM each program's process group, then SIGKILL what is left after
    ``timeout`` seconds; return the pids still alive after that (none, normally)."""
    processes = list(processes)
    groups = {p.pgid for p in processes if p.pgid > 1 and p.pgid != os.getpgid(0)}
    _signal_groups(groups, signal.SIGTERM)
    for process in processes:  # a process outside its group, signalled by pid
        if process.pgid not in groups:
            _signal(process.pid, signal.SIGTERM)
    left = _wait_gone([p.pid for p in processes], timeout)
    if left:
        _signal_groups(groups, signal.SIGKILL)
        for pid in left:
            _signal(pid, signal.SIGKILL)
        left = _wait_gone(left, 2.0)
    return left


def busy_ports(ports: Iterable[int], timeout: float = 3.0) -> list[int]:
    """Ports no server could listen on yet, after waiting up to ``timeout``
    seconds for sockets of stopped processes to close."""
    deadline = time.monotonic() + timeout
    busy = [port for port in ports if bind_error(port) is not None]
    while busy and time.monotonic() < deadline:
        time.sleep(0.05)
        busy = [port for port in busy if bind_error(port) is not None]
    return busy


def _nginx_master(run: RunDir) -> int | None:
    try:
        pid = int((run.nginx_prefix / "nginx.pid").read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    # nginx's process title replaces argv: "nginx: master process <argv>".
    if b"nginx" not in cmdline or str(run.nginx_conf).encode() not in cmdline:
        return None  # the pid was reused by another process
    stat = _stat(pid)
    return pid if stat is not None and stat[1] == pid else None


def _group_members(pgid: int) -> list[int]:
    members = []
    for proc in Path("/proc").glob("[0-9]*"):
        stat = _stat(int(proc.name))
        if stat is not None and stat[1] == pgid and stat[0] != "Z":
            members.append(int(proc.name))
    return members


def _stat(pid: int) -> tuple[str, int] | None:
    """The state letter and the process group of ``pid``, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[2])


def _signal_groups(groups: Iterable[int], sig: signal.Signals) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = [pid for pid in pids if _running(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if _running(pid)]
    return alive


def _running(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"
