"""Bringing a deployment up and down, and asking how it is doing.

The CLI commands call these; they print nothing and raise ``CliError`` (or its
subclasses) with a message that says the fix.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from trading_cli.db import shown_url
from trading_cli.deploy.config import DeployConfig, load_config, unserved_modules
from trading_cli.deploy.health import Probe, gateway_paths, probe, probe_program
from trading_cli.deploy.logs import LogFile
from trading_cli.deploy.nginx import Nginx, find_nginx, test_config
from trading_cli.deploy.orphans import (
    DeployedProcess,
    busy_ports,
    find_processes,
    stop_processes,
)
from trading_cli.deploy.ports import bind_error
from trading_cli.deploy.render import Machine, render_nginx, render_supervisord
from trading_cli.deploy.supervisor import (
    ProcessInfo,
    Supervisor,
    shutdown,
    start_supervisord,
    wait_for_socket,
)
from trading_cli.deploy.topology import NGINX, Program, RunDir, State, Topology
from trading_cli.errors import CliError, UsageError
from trading_cli.project import Project

SOCKET_TIMEOUT = 15.0
STOP_TIMEOUT = 20.0
LOG_TAIL = 15
# States in which a program will not come up without help: supervisord gave up
# (FATAL), it exited before startsecs and waits to retry (BACKOFF), or it stopped.
_FAILED = frozenset({"BACKOFF", "FATAL", "EXITED", "STOPPED", "UNKNOWN"})


class StartError(CliError):
    """``trading up`` failed; everything it started is stopped again.

    Attributes:
        logs: The last lines of the log of each program that failed.
    """

    def __init__(self, message: str, logs: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.logs = logs


@dataclass(frozen=True)
class Plan:
    """A resolved deployment and the files that run it."""

    config_path: Path
    run: RunDir
    topology: Topology
    nginx: Nginx
    files: dict[Path, str]
    unserved: list[str] = field(default_factory=list)
    database: str = ""
    """The servers' ``DATABASE_URL``, password hidden."""


@dataclass(frozen=True)
class ProgramStatus:
    """One program as ``status`` reports it."""

    program: Program
    state: str
    pid: int
    health: str

    @property
    def ok(self) -> bool:
        return self.state == "RUNNING" and self.health == "ok"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record (stable keys)."""
        return {
            **self.program.as_dict(),
            "health": self.health,
            "pid": self.pid,
            "state": self.state,
        }


def plan(project: Project, config_path: Path) -> Plan:
    """Validate ``config_path`` against the project's modules and render the run
    folder's files in memory.

    Raises:
        UsageError: the config is invalid (exit 2).
        CliError: nginx is missing, or a served module fails to load.
    """
    from trading_api.shared.artifacts import canonical_json

    config, known, database = _load(project, config_path)
    ws_modules, docs = _inspect_modules(project, config)
    topology = Topology(config, tuple(ws_modules))
    run = RunDir.for_config(config_path)
    machine = Machine(
        python=Path(sys.executable),
        src=project.src,
        project_root=project.root,
        nginx=find_nginx(),
        as_root=os.geteuid() == 0,
        database_url=database,
    )
    shown = shown_url(project, database)
    # Written private (mode 0600) like every run-folder file: it holds the URL.
    files = {
        run.nginx_conf: render_nginx(topology, run, machine),
        run.supervisord_conf: render_supervisord(topology, run, machine),
        run.state: canonical_json(topology.state(config_path, database=shown)),
        **{run.docs / name: canonical_json(doc) for name, doc in docs.items()},
    }
    unserved = unserved_modules(config, known)
    return Plan(
        config_path, run, topology, machine.nginx, files, unserved, database=shown
    )


def _load(project: Project, config_path: Path) -> tuple[DeployConfig, list[str], str]:
    """The validated config, the project's modules, and ``DATABASE_URL``."""
    from trading_cli.db import database_url, is_sqlite, migrated_modules

    names = project.module_registry().names
    stateful = [migrations.module for migrations in migrated_modules(project)]
    database = database_url(project)
    if any(quote in database for quote in "\"'"):
        raise UsageError(
            "DATABASE_URL contains a quote character, which the server "
            "processes' environment cannot carry; percent-encode it (%22 for \", "
            "%27 for ')"
        )
    config = load_config(
        config_path, names, stateful_modules=stateful, on_sqlite=is_sqlite(database)
    )
    return config, names, database


def _inspect_modules(
    project: Project, config: DeployConfig
) -> tuple[list[str], dict[str, Any]]:
    """The served modules with WS routes, and the merged docs of all served."""
    from trading_api.app_factory import AppFactory
    from trading_api.shared.errors import TradingError

    try:
        app = AppFactory(project.modules_dir).create_app(config.served_modules)
        asyncapi = served_at(app.asyncapi(), config.api_base_url)
        docs = {"openapi.json": app.openapi(), "asyncapi.json": asyncapi}
    except TradingError as exc:
        raise CliError(f"cannot serve the configured modules: {exc}") from None
    except Exception as exc:  # a module's own code failed while building its app
        raise CliError(
            f"cannot serve the configured modules: {type(exc).__name__}: {exc}; "
            "fix the module or leave it out of the deployment config"
        ) from None
    return list(app.ws_apps), docs


def served_at(document: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The merged AsyncAPI ``document`` with its servers at the gateway's
    ``api_base_url`` (``ws``, or ``wss`` behind https), not the dev default."""
    from trading_api.shared.http_servers import pointed_at

    url = urlsplit(base_url)
    protocol = "wss" if url.scheme == "https" else "ws"
    return pointed_at(document, url.netloc, protocol, url.path)


def is_current(plan: Plan) -> bool:
    """Whether the run folder holds exactly the files ``plan`` renders."""
    for path, text in plan.files.items():
        try:
            if path.read_text(encoding="utf-8") != text:
                return False
        except FileNotFoundError:
            return False
    return True


def up(plan: Plan, timeout: float) -> list[ProgramStatus]:
    """Start the deployment and wait until every server answers through nginx.

    Raises:
        CliError: a port is taken or nginx rejects its config (nothing started).
        StartError: something did not come up in ``timeout`` seconds; it is all
            stopped again.
    """
    from trading_api.shared.artifacts import write_if_changed

    _check_ports_free(plan.topology)
    for path, text in plan.files.items():
        write_if_changed(path, text)
    for folder in (plan.run.logs, plan.run.nginx_prefix):
        folder.mkdir(parents=True, exist_ok=True)
    nginx_error = test_config(plan.nginx, plan.run.nginx_conf, plan.run.nginx_prefix)
    if nginx_error:
        raise CliError(f"nginx rejects {plan.run.nginx_conf}: {nginx_error}")
    supervisor = Supervisor(plan.run)
    process = start_supervisord(plan.run)
    wait_for_socket(supervisor, process, SOCKET_TIMEOUT)
    try:
        _wait_ready(supervisor, plan.topology, time.monotonic() + timeout)
    except BaseException:
        shutdown(supervisor, STOP_TIMEOUT)
        raise
    return status(plan.run)


def _check_ports_free(topology: Topology) -> None:
    for program in topology.programs:
        if bind_error(program.port) is not None:
            what = "nginx.port" if program.server == NGINX else program.name
            raise CliError(
                f"port {program.port} ({what}) is in use on 127.0.0.1; stop "
                "what uses it or pick another port in the deployment config"
            )


def _wait_ready(supervisor: Supervisor, topology: Topology, deadline: float) -> None:
    programs = topology.programs
    while time.monotonic() < deadline:
        infos = supervisor.processes()
        failed = [info for info in infos if info.state in _FAILED]
        if failed:
            raise _start_error(supervisor.run, failed, "exited")
        if all(info.state == "RUNNING" for info in infos):
            failing = [p for p in _ready_probes(topology, programs) if not p.ok]
            if not failing:
                return
        time.sleep(0.1)
    infos = supervisor.processes()
    waiting = [info for info in infos if info.state != "RUNNING"]
    if waiting:
        raise _start_error(supervisor.run, waiting, "not running in time")
    failing = [p for p in _ready_probes(topology, programs) if not p.ok]
    if not failing:
        return
    # Blame the programs whose port failed a probe (nginx for gateway probes).
    ports = {p.port for p in failing}
    blamed = {p.name for p in programs if p.port in ports}
    reason = "; ".join(p.describe() for p in failing)
    raise _start_error(
        supervisor.run,
        [info for info in infos if info.name in blamed],
        f"not healthy in time ({reason})",
    )


def _ready_probes(topology: Topology, programs: Sequence[Program]) -> list[Probe]:
    gateway = topology.config.nginx.port
    direct = [probe_program(p) for p in programs if p.server != NGINX]
    through = [
        probe(gateway, path) for path in gateway_paths(topology.config.served_modules)
    ]
    return direct + through


def _start_error(run: RunDir, failed: Sequence[ProcessInfo], why: str) -> StartError:
    names = ", ".join(f"{info.name} ({info.state})" for info in failed)
    logs = {
        info.name: LogFile(info.name, run.log_of(info.name)).tail(LOG_TAIL)
        for info in failed
    }
    return StartError(
        f"the deployment did not come up: {names} {why}; everything is stopped "
        f"again; full logs in {run.logs}",
        logs,
    )


@dataclass(frozen=True)
class DownReport:
    """What ``down`` did.

    Attributes:
        was_up: supervisord answered and was shut down.
        orphans: pids of processes found running without supervisord, stopped.
        left: pids that would not stop even after SIGKILL.
        busy_ports: recorded ports still taken by something else afterwards.
    """

    was_up: bool
    orphans: list[int]
    left: list[int]
    busy_ports: list[int]

    @property
    def stopped_anything(self) -> bool:
        return self.was_up or bool(self.orphans)


def down(run: RunDir) -> DownReport:
    """Stop the deployment: through supervisord when it answers, else (it was
    killed) its recorded processes one process group each; then check that the
    recorded ports are free."""
    supervisor = Supervisor(run)
    was_up = supervisor.is_up()
    left = shutdown(supervisor, STOP_TIMEOUT) if was_up else []
    # Whatever still carries this run folder's mark is an orphan: supervisord
    # was gone, or a program escaped its shutdown.
    orphans = find_processes(run)
    left += stop_processes(orphans, STOP_TIMEOUT)
    run.socket.unlink(missing_ok=True)
    state = State.read(run)
    ports = [program.port for program in state.programs] if state else []
    busy = busy_ports(ports) if (was_up or orphans) else []
    return DownReport(was_up, [p.pid for p in orphans], sorted(set(left)), busy)


def stop_orphans(run: RunDir) -> list[DeployedProcess]:
    """Stop the processes of a deployment whose supervisord is gone; return them.

    Raises:
        CliError: some would not stop.
    """
    orphans = find_processes(run)
    left = stop_processes(orphans, STOP_TIMEOUT)
    if left:
        raise CliError(
            f"processes {', '.join(map(str, left))} of the earlier deployment did "
            "not stop; end them with kill -9"
        )
    return orphans


def status(run: RunDir) -> list[ProgramStatus]:
    """Each program's state, pid and health (one short request each).

    Without supervisord, programs still running are reported ``ORPHANED``
    (and the rest ``STOPPED``), from the processes the run folder marks.

    Raises:
        NotUpError: the deployment is not up and nothing of it runs (exit 3).
    """
    supervisor = Supervisor(run)
    state = State.read(run)
    if state is None:
        raise NotUpError(run)
    if not supervisor.is_up():
        return _orphan_status(run, state)
    infos = {info.name: info for info in supervisor.processes()}
    rows = []
    for program in state.programs:
        info = infos.get(program.name)
        running = info is not None and info.state == "RUNNING"
        health = probe_program(program, timeout=1.0).describe() if running else "-"
        rows.append(
            ProgramStatus(
                program=program,
                state=info.state if info else "UNKNOWN",
                pid=info.pid if info else 0,
                health=health,
            )
        )
    return rows


ORPHANED = "ORPHANED"


def _orphan_status(run: RunDir, state: State) -> list[ProgramStatus]:
    found = find_processes(run)
    if not found:
        raise NotUpError(run)
    leaders = {p.program: p.pid for p in found if p.pid == p.pgid}
    rows = []
    for program in state.programs:
        pid = leaders.get(program.name) or next(
            (p.pid for p in found if p.program == program.name), 0
        )
        health = probe_program(program, timeout=1.0).describe() if pid else "-"
        rows.append(
            ProgramStatus(
                program=program,
                state=ORPHANED if pid else "STOPPED",
                pid=pid,
                health=health,
            )
        )
    return rows


class NotUpError(CliError):
    """No deployment runs from this run folder."""

    exit_code = 3

    def __init__(self, run: RunDir) -> None:
        super().__init__(
            f"no deployment is up (run folder {run.root}); start it with trading up"
        )
