"""Two broker instances on one PostgreSQL database, through ``trading up``.

Real supervisord, nginx and uvicorn on free loopback ports, and the storage
tests' throwaway PostgreSQL cluster: the migrations run once, both instances
get the same ``DATABASE_URL``, and they behave as one broker, whichever
instance (or nginx) a client talks to.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from trading_api.shared.storage.testing import TemporaryPostgres
from trading_cli.deploy.supervisor import descendants, is_alive
from trading_cli.deploy.topology import RunDir

ROOT = Path(__file__).resolve().parents[2]
BROKER = "/api/v1/broker"
pytestmark = pytest.mark.requires("nginx")
Trading = Callable[..., subprocess.CompletedProcess[str]]


def free_block(count: int) -> int:
    """The first of ``count`` consecutive free loopback ports."""
    for _ in range(50):
        held: list[socket.socket] = []
        try:
            first = socket.socket()
            held.append(first)
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
            for offset in range(1, count):
                sock = socket.socket()
                held.append(sock)
                sock.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports")


@dataclass
class Instances:
    """A running deployment: nginx, a core server, two broker instances."""

    config: Path
    gateway: int
    broker: int
    database: str
    started: subprocess.CompletedProcess[str]
    trading: Trading

    @property
    def ports(self) -> list[int]:
        """Instance A's port, then instance B's."""
        return [self.broker, self.broker + 1]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.trading(
            ROOT,
            *args,
            "--config",
            str(self.config),
            env={"DATABASE_URL": self.database},
        )


@pytest.fixture(scope="module")
def instances(
    tmp_path_factory: pytest.TempPathFactory,
    trading: Trading,
    postgres: TemporaryPostgres | None,
    optional_tool: Callable[[str], str],
) -> Iterator[Instances]:
    optional_tool("postgresql")
    if postgres is None:
        pytest.skip("PostgreSQL tests skipped (TRADING_TEST_SKIP_POSTGRES=1)")
    folder = tmp_path_factory.mktemp("instances")
    gateway, core, broker = free_block(1), free_block(1), free_block(2)
    config = folder / "deploy.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            nginx: {{port: {gateway}, worker_processes: 1}}
            servers:
              core: {{port: {core}, modules: [core]}}
              broker: {{port: {broker}, instances: 2, modules: [broker]}}
            """
        )
    )
    database = postgres.new_database()
    environment = {"DATABASE_URL": database}
    started = trading(ROOT, "up", "--config", str(config), env=environment)
    run = RunDir.for_config(config)
    pids = processes_of(run)
    try:
        yield Instances(config, gateway, broker, database, started, trading)
    finally:
        trading(ROOT, "down", "--config", str(config), env=environment)
        for pid in pids + processes_of(run):  # only this deployment's, by pid
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)


def processes_of(run: RunDir) -> list[int]:
    try:
        pid = int(run.pidfile.read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [pid, *descendants(pid)] if is_alive(pid) else []


def request(
    port: int, method: str, path: str, account: str, body: Any = None
) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(
            method, f"{BROKER}{path}?accountId={account}", payload, headers
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_up_starts_both_instances_on_the_same_database(
    instances: Instances,
) -> None:
    assert instances.started.returncode == 0, instances.started.stderr
    result = instances.cli("status", "--json")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    programs = {p["name"]: p for p in document["programs"]}
    brokers = [programs[f"broker-{port}"] for port in instances.ports]
    assert [(p["state"], p["health"]) for p in brokers] == [("RUNNING", "ok")] * 2
    assert document["database"] == instances.database.replace(
        "postgresql://", "postgresql+asyncpg://"
    )
    for broker in brokers:
        environ = Path(f"/proc/{broker['pid']}/environ").read_bytes().split(b"\0")
        assert f"DATABASE_URL={instances.database}".encode() in environ


def test_the_run_folder_keeps_the_database_url_private(instances: Instances) -> None:
    conf = RunDir.for_config(instances.config).supervisord_conf

    assert instances.database in conf.read_text()
    assert conf.stat().st_mode & 0o077 == 0
