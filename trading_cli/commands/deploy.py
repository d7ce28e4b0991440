"""``trading up``, ``down``, ``status``, ``logs``: the multi-process deployment.

nginx in front, one uvicorn per server instance behind it, all run by
supervisord; configs, logs and state live in ``.run/deploy/`` beside the
deployment config.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from trading_cli.errors import EXIT_FAILED, CliError, UsageError
from trading_cli.output import print_json, print_table
from trading_cli.project import find_project

if TYPE_CHECKING:
    from trading_cli.deploy.deployment import ProgramStatus
    from trading_cli.deploy.topology import RunDir

CONFIG_HELP = (
    "The deployment config (default: deploy.yaml at the project root). Its run "
    "folder is .run/deploy/ beside it; give down, status and logs the same file."
)


def _config_option() -> Any:
    return typer.Option(None, "--config", "-c", metavar="FILE", help=CONFIG_HELP)


def up_command(
    config: Path | None = _config_option(),
    timeout: float = typer.Option(
        30.0,
        "--timeout",
        min=1,
        metavar="SECONDS",
        help="How long to wait for every server to answer through nginx.",
    ),
) -> None:
    """Start nginx and every server of the deployment config, wait until each
    answers through nginx, and print a table.

    Already up with the same config: says so, exit 0. Up with another config:
    exit 1 (run trading down first). An invalid config exits 2 and starts
    nothing; a server that does not come up prints its last log lines, stops
    everything again and exits 1.
    """
    from trading_cli.deploy.deployment import (
        StartError,
        is_current,
        plan,
        status,
        stop_orphans,
        up,
    )
    from trading_cli.deploy.supervisor import Supervisor

    project = find_project()
    resolved = plan(project, _config_path(project.root, config))
    for name in resolved.unserved:
        typer.echo(
            f"warning: module {name!r} is in no server; its URLs answer 404 "
            "through nginx",
            err=True,
        )
    if not Supervisor(resolved.run).is_up():
        orphans = stop_orphans(resolved.run)
        if orphans:
            typer.echo(
                f"note: supervisord of the earlier deployment was gone; stopped its "
                f"{len(orphans)} orphaned processes",
                err=True,
            )
    if Supervisor(resolved.run).is_up():
        if not is_current(resolved):
            raise CliError(
                "the deployment is up with another configuration; run trading "
                "down, then trading up"
            )
        typer.echo(f"already up: {resolved.topology.config.api_base_url}")
        _print_servers(status(resolved.run))
        return
    from trading_cli.db import upgrade_for_serving

    upgrade_for_serving(project, resolved.topology.config.served_modules, typer.echo)
    try:
        rows = up(resolved, timeout)
    except StartError as exc:
        for program, lines in exc.logs.items():
            for line in lines or ["(no output)"]:
                typer.echo(f"{program} | {line}", err=True)
        raise
    _print_servers(rows)
    base = resolved.topology.config.api_base_url
    typer.echo(
        f"up: {base} (docs: {base}/api/v1/docs), database {resolved.database}; "
        "stop it with trading down"
    )


def down_command(config: Path | None = _config_option()) -> None:
    """Stop nginx, every server and supervisord; nothing is left running.

    Works without supervisord too (killed, crashed): the processes the run
    folder marks are stopped one process group each, and the ports checked
    free. Not up: says so, exit 0.
    """
    from trading_cli.deploy.deployment import down
    from trading_cli.deploy.topology import RunDir

    project = find_project()
    run = RunDir.for_config(_config_path(project.root, config))
    report = down(run)
    if not report.stopped_anything:
        typer.echo("not up: nothing to stop")
        return
    if report.orphans:
        pids = ", ".join(map(str, report.orphans))
        why = (
            "escaped supervisord's shutdown"
            if report.was_up
            else "outlived supervisord"
        )
        typer.echo(f"stopped {len(report.orphans)} processes that {why}: {pids}")
    if report.left:
        raise CliError(
            f"processes {', '.join(map(str, report.left))} did not stop; end them "
            "with kill -9"
        )
    if report.busy_ports:
        ports = ", ".join(map(str, report.busy_ports))
        raise CliError(
            f"every process of the deployment stopped, but port(s) {ports} are still "
            "in use by something else; find it with `ss -ltnp`"
        )
    typer.echo(f"down: every process stopped; logs stay in {run.logs}")


def status_command(
    config: Path | None = _config_option(),
    json_output: bool = typer.Option(
        False,
        "--json",
        help="Print {up, api_base_url, programs: [...]} as JSON (stable keys).",
    ),
) -> None:
    """Each program's state, pid, port and health (one short request each).

    Exit 0 when all are RUNNING and healthy, 1 when one is not, 3 when the
    deployment is not up (as init scripts' status does). If supervisord was
    killed, the programs still running are shown ORPHANED (exit 1).
    """
    from trading_cli.deploy.deployment import ORPHANED, NotUpError, status
    from trading_cli.deploy.topology import RunDir, State

    project = find_project()
    run = RunDir.for_config(_config_path(project.root, config))
    try:
        rows = status(run)
    except NotUpError:
        if json_output:
            print_json(
                {"api_base_url": None, "database": None, "programs": [], "up": False}
            )
        raise
    state = State.read(run)
    if json_output:
        print_json(
            {
                "api_base_url": state.api_base_url if state else None,
                "database": state.database if state else None,
                "programs": [row.as_dict() for row in rows],
                "up": True,
            }
        )
    else:
        print_table(
            "Deployment",
            ["server", "program", "state", "pid", "port", "modules", "health"],
            [
                [
                    row.program.server,
                    row.program.name,
                    row.state,
                    str(row.pid or "-"),
                    str(row.program.port),
                    ",".join(row.program.modules) or "-",
                    row.health,
                ]
                for row in rows
            ],
        )
    orphaned = [row.program.name for row in rows if row.state == ORPHANED]
    if orphaned:
        raise CliError(
            f"supervisord is gone, so nothing restarts or supervises "
            f"{', '.join(orphaned)}; run trading down, then trading up"
        )
    bad = [row.program.name for row in rows if not row.ok]
    if bad:
        raise CliError(
            f"not running or not healthy: {', '.join(bad)}; see trading logs",
            exit_code=EXIT_FAILED,
        )


def logs_command(
    server: str | None = typer.Argument(
        None, metavar="[SERVER]", help="A server of the config, or nginx. Default: all."
    ),
    config: Path | None = _config_option(),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep printing new lines until Ctrl-C."
    ),
    lines: int = typer.Option(
        20, "--lines", "-n", min=0, metavar="N", help="Last lines per program."
    ),
) -> None:
    """Print the last lines of one server's logs (every instance) or of all,
    each line prefixed with its program (server-port, or nginx)."""
    from trading_cli.deploy.logs import LogFile, prefixed
    from trading_cli.deploy.logs import follow as follow_logs
    from trading_cli.deploy.topology import RunDir

    project = find_project()
    run = RunDir.for_config(_config_path(project.root, config))
    files = [LogFile(name, run.log_of(name)) for name in _programs(run, server)]
    width = max(len(f.program) for f in files)
    for log in files:
        for line in log.tail(lines):
            typer.echo(prefixed(log.program, line, width))
    if follow:
        import signal

        # Ctrl-C or a plain kill ends following, whatever the parent left
        # SIGINT as (a shell's background job starts with it ignored).
        for each in (signal.SIGINT, signal.SIGTERM):
            signal.signal(each, signal.default_int_handler)
        try:
            follow_logs(files, typer.echo)
        except KeyboardInterrupt:
            return


def _programs(run: RunDir, server: str | None) -> list[str]:
    from trading_cli.deploy.topology import NGINX, State

    state = State.read(run)
    if state is None:
        raise CliError(
            f"no deployment has run from {run.root}; start one with trading up"
        )
    if server is None:
        return [p.name for p in state.programs]
    known = [*state.servers, NGINX]
    if server not in known:
        raise UsageError(f"unknown server {server!r}; known: {', '.join(known)}")
    return [p.name for p in state.programs if p.server == server]


def _config_path(root: Path, config: Path | None) -> Path:
    from trading_cli.deploy.config import DEFAULT_CONFIG

    return (config or root / DEFAULT_CONFIG).resolve()


def _print_servers(rows: list[ProgramStatus]) -> None:
    servers: dict[str, list[ProgramStatus]] = {}
    for row in rows:
        servers.setdefault(row.program.server, []).append(row)
    table = []
    for name, members in servers.items():
        states = sorted({m.state for m in members})
        healths = [m.health for m in members if m.health != "ok"]
        table.append(
            [
                name,
                str(len(members)),
                ",".join(str(m.pid) for m in members),
                _ports([m.program.port for m in members]),
                ",".join(members[0].program.modules) or "-",
                "/".join(states),
                "; ".join(healths) or "ok",
            ]
        )
    print_table(
        "Deployment",
        ["server", "instances", "pids", "port(s)", "modules", "state", "health"],
        table,
    )


def _ports(ports: list[int]) -> str:
    return str(ports[0]) if len(ports) == 1 else f"{ports[0]}-{ports[-1]}"
