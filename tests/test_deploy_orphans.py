"""The deployment after ``kill -9`` of its supervisord: real supervisord, nginx
and uvicorn on free loopback ports. The servers keep running as orphans;
``status``, ``down`` and ``up`` find them from the run folder.

One deployment serves every test of this file, its commands run in process
(:func:`cli`): each test first puts it in the state it starts from (up, or up
with its supervisord killed, or down), so the tests run in any order. In this
order the first test's ``up`` starts it, and the others cost one ``kill -9``
or one ``up`` each: two ``up`` in all.
"""

import http.client
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from trading_cli.deploy.orphans import find_processes
from trading_cli.deploy.supervisor import is_alive
from trading_cli.deploy.topology import RunDir

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.requires("nginx")


class CliOutcome:  # the conftest's, for annotations only
    code: int
    out: str
    err: str


Cli = Callable[..., CliOutcome]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def health(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/api/v1/core/health")
        return connection.getresponse().status
    finally:
        connection.close()


class Deployment:
    def __init__(self, folder: Path, cli: Cli) -> None:
        self.trading = cli
        self.gateway, self.server = free_ports(2)
        self.config = folder / "deploy.yaml"
        self.config.write_text(
            f"nginx: {{port: {self.gateway}, worker_processes: 1}}\n"
            f"servers:\n  main: {{port: {self.server}, modules: [core]}}\n"
        )
        self.run = RunDir.for_config(self.config)
        # The deployment's own database, the same for every command: each test
        # gets another DATABASE_URL, and a new one would be another deployment.
        self.database = f"sqlite:///{folder / 'trading.db'}"
        self.seen: set[int] = set()
        """Every pid the deployment ran, to stop leftovers at the end."""
        self.before_kill: dict[str, set[int]] | None = None
        """Its processes when supervisord was last killed (still orphaned)."""

    def cli(self, *args: str) -> CliOutcome:
        return self.trading(
            ROOT,
            *args,
            "--config",
            str(self.config),
            env={"DATABASE_URL": self.database},
        )

    def pids(self) -> dict[str, set[int]]:
        found: dict[str, set[int]] = {}
        for process in find_processes(self.run):
            found.setdefault(process.program, set()).add(process.pid)
        self.seen.update(*found.values())
        return found

    def kill_supervisord(self) -> int:
        pid = int(self.run.pidfile.read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while is_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not is_alive(pid)
        return pid

    def up(self) -> None:
        """Up and supervised: started unless it is."""
        if "supervisord" in self.pids():
            return
        self.down()
        started = self.cli("up")
        assert started.code == 0, started.err

    def orphaned(self) -> dict[str, set[int]]:
        """Up with its supervisord killed; its processes before the kill."""
        known = self.before_kill
        now = self.pids()
        if known is not None and "supervisord" not in now and _same_servers(known, now):
            return known
        self.up()
        before = self.pids()
        self.kill_supervisord()
        self.before_kill = before
        return before

    def down(self) -> None:
        """Nothing of it running."""
        if self.pids():
            stopped = self.cli("down")
            assert stopped.code == 0, stopped.err


def _same_servers(before: dict[str, set[int]], now: dict[str, set[int]]) -> bool:
    """Whether the servers and nginx of ``before`` are those running ``now``."""
    return {k: v for k, v in before.items() if k != "supervisord"} == now


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, cli_once: Cli
) -> Iterator[Deployment]:
    deploy = Deployment(tmp_path_factory.mktemp("orphans"), cli_once)
    try:
        yield deploy
    finally:
        deploy.cli("down")
        for pid in deploy.seen | set().union(*deploy.pids().values()):
            if is_alive(pid):  # only this deployment's, by pid
                os.kill(pid, signal.SIGKILL)


def leave_in_time_wait(port: int) -> None:
    """Accept one connection on ``port`` and close it server side first, as a
    server does at shutdown: the port's side of it waits in TIME_WAIT."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        client = socket.create_connection(("127.0.0.1", port))
        server, _ = listener.accept()
        server.close()
        client.close()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # what a check without SO_REUSEADDR sees


def test_up_takes_ports_whose_last_connections_are_in_time_wait(
    deployment: Deployment,
) -> None:
    deployment.down()
    for port in (deployment.gateway, deployment.server):
        leave_in_time_wait(port)

    result = deployment.cli("up")

    assert result.code == 0, result.err
    assert health(deployment.gateway) == 200


def test_status_reports_orphans_when_supervisord_is_gone(
    deployment: Deployment,
) -> None:
    deployment.orphaned()

    result = deployment.cli("status")

    assert result.code == 1
    rows = [line.split("\t") for line in result.out.splitlines()[1:]]
    assert {row[1]: row[2] for row in rows} == {
        f"main-{deployment.server}": "ORPHANED",
        "nginx": "ORPHANED",
    }
    assert all(row[6] == "ok" for row in rows)  # they still serve
    assert "supervisord is gone" in result.err


def test_up_replaces_the_orphans_of_a_killed_supervisord(
    deployment: Deployment,
) -> None:
    before = deployment.orphaned()

    result = deployment.cli("up")

    assert result.code == 0, result.err
    assert "stopped its" in result.err and "orphaned processes" in result.err
    after = deployment.pids()
    server = f"main-{deployment.server}"
    assert after[server].isdisjoint(before[server])
    assert after["supervisord"].isdisjoint(before["supervisord"])
    assert health(deployment.gateway) == 200
    assert deployment.cli("status").code == 0


def test_down_stops_the_orphans_and_frees_their_ports(
    deployment: Deployment,
) -> None:
    before = deployment.orphaned()
    assert health(deployment.gateway) == 200  # still serving without it

    result = deployment.cli("down")

    assert result.code == 0, result.err
    orphans = before[f"main-{deployment.server}"] | before["nginx"]
    assert f"stopped {len(orphans)} processes that outlived supervisord" in (result.out)
    assert not any(is_alive(pid) for pid in orphans)
    for port in (deployment.gateway, deployment.server):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
    assert deployment.cli("status").code == 3
