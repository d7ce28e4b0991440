"""``trading up``, ``status``, ``logs``, ``down`` for real: supervisord, nginx and
uvicorn on free loopback ports, and the broker served that way.

One deployment serves the tests in this file's order, the last one taking it
down; the commands run in process (:func:`cli`), except ``logs --follow``, which
is stopped as a user stops it, with Ctrl-C.

Market prices are those of the real clock (crypto trades around the clock), so
the broker's fills are stated against the market's own path: the broker process
and the datafeed processes compute the same price for an instant without
talking, and a fill lies on the path the datafeed charts over the moments the
requests took.
"""

import functools
import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from trading_api.market import price_range
from trading_api.shared.testing import http_client
from trading_cli.deploy.supervisor import Supervisor, descendants, is_alive
from trading_cli.deploy.topology import RunDir

ROOT = Path(__file__).resolve().parents[1]
KNOWN = ["core", "broker", "datafeed"]
TRADING = (sys.executable, "-m", "trading_cli.main")
pytestmark = pytest.mark.requires("nginx")


class CliOutcome:  # the conftest's, for annotations only
    code: int
    out: str
    err: str


Cli = Callable[..., CliOutcome]


def _free_ports(*counts: int) -> list[int]:
    """For each count, the first of that many consecutive ports free on 127.0.0.1;
    the blocks never overlap (every port is held until all are found)."""
    held: list[socket.socket] = []
    firsts = []
    try:
        for count in counts:
            for _ in range(50):
                block = _hold_block(count)
                if block:
                    held += block
                    firsts.append(block[0].getsockname()[1])
                    break
            else:
                raise RuntimeError(f"no {count} consecutive free ports")
    finally:
        for sock in held:
            sock.close()
    return firsts


def _hold_block(count: int) -> list[socket.socket]:
    first = socket.socket()
    first.bind(("127.0.0.1", 0))
    block = [first]
    port = first.getsockname()[1]
    try:
        for offset in range(1, count):
            sock = socket.socket()
            block.append(sock)
            sock.bind(("127.0.0.1", port + offset))
    except OSError:
        for sock in block:
            sock.close()
        return []
    return block


@functools.cache
def _auth() -> dict[str, str]:
    """A real development token: the deployed servers verify it like any other."""
    from trading_api.shared.auth.testing import bearer, dev_token

    return bearer(dev_token("deploy", ("DEMO-1",)))


def _get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers=_auth())
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _processes_of(run: RunDir) -> list[int]:
    """supervisord's pid and all below it, if it runs."""
    try:
        pid = int(run.pidfile.read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [pid, *descendants(pid)] if is_alive(pid) else []


def _stop_leftovers(pids: list[int]) -> None:
    # Only the processes this test's deployment started, by pid.
    for pid in pids:
        if is_alive(pid):
            os.kill(pid, signal.SIGKILL)


class Deployment:
    def __init__(self, folder: Path, trading: Cli) -> None:
        self.folder = folder
        self.trading = trading
        self.gateway, self.core_port, self.feed_port = _free_ports(1, 1, 2)
        self.config = folder / "deploy.yaml"
        self.config.write_text(
            textwrap.dedent(
                f"""\
                nginx: {{port: {self.gateway}, worker_processes: 1}}
                servers:
                  core-broker: {{port: {self.core_port}, modules: [core, broker]}}
                  datafeed:
                    {{port: {self.feed_port}, instances: 2, modules: [datafeed]}}
                """
            )
        )
        self.run = RunDir.for_config(self.config)
        self.supervisor = Supervisor(self.run)
        # The deployment's own database, the same for every command: each test
        # gets another DATABASE_URL, and a new one would be another deployment.
        self.database = f"sqlite:///{folder / 'trading.db'}"

    def cli(self, *args: str) -> CliOutcome:
        return self.trading(
            ROOT,
            *args,
            "--config",
            str(self.config),
            env={"DATABASE_URL": self.database},
        )

    def pid_of(self, program: str) -> int:
        return self.supervisor.process(program).pid


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, cli_once: Cli
) -> Iterator[tuple[Deployment, CliOutcome]]:
    deploy = Deployment(tmp_path_factory.mktemp("deploy"), cli_once)
    started = deploy.cli("up")
    pids = _processes_of(deploy.run)
    try:
        yield deploy, started
    finally:
        deploy.cli("down")
        _stop_leftovers(pids + _processes_of(deploy.run))


def test_up_prints_each_server_and_every_module_answers_through_nginx(
    deployment: tuple[Deployment, CliOutcome],
) -> None:
    deploy, started = deployment
    assert started.code == 0, started.err
    lines = started.out.splitlines()
    # The deployment's fresh database is migrated first, once, for the broker.
    assert lines[0].startswith("database: broker: base -> ")
    rows = [line.split("\t") for line in lines[1:]]
    assert rows[0] == [
        "server",
        "instances",
        "pids",
        "port(s)",
        "modules",
        "state",
        "health",
    ]
    by_server = {row[0]: row for row in rows[1:-1]}
    assert by_server["core-broker"][1:2] + by_server["core-broker"][3:] == [
        "1",
        str(deploy.core_port),
        "core,broker",
        "RUNNING",
        "ok",
    ]
    assert by_server["datafeed"][3] == f"{deploy.feed_port}-{deploy.feed_port + 1}"
    assert by_server["nginx"][5:] == ["RUNNING", "ok"]

    for path in (
        "/api/v1/core/health",
        "/api/v1/broker/orders",
        "/api/v1/datafeed/config",
    ):
        assert _get(deploy.gateway, path)[0] == 200, path
    status, body = _get(deploy.gateway, "/api/v1/openapi.json")
    mounted = {path.split("/")[3] for path in json.loads(body)["paths"]}
    assert status == 200 and mounted == {"core", "broker", "datafeed"}
    assert _get(deploy.gateway, "/api/v1/docs")[0] == 200


def test_gateway_leads_to_the_docs_and_lists_itself_in_asyncapi(
    deployment: tuple[Deployment, CliOutcome],
) -> None:
    deploy, started = deployment
    assert started.code == 0, started.err
    for path in ("/", "/api/v1", "/api/v1/"):
        connection = http.client.HTTPConnection("127.0.0.1", deploy.gateway, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            assert response.status == 307, path
            assert response.getheader("location") == "/api/v1/docs", path
        finally:
            connection.close()
    status, body = _get(deploy.gateway, "/api/v1/ws/asyncapi.json")
    servers = json.loads(body)["servers"]
    assert status == 200
    assert {server["host"] for server in servers.values()} == {
        f"127.0.0.1:{deploy.gateway}"
    }
    assert servers["datafeed"]["pathname"] == "/api/v1/datafeed"


def test_websocket_subscribes_through_nginx(
    deployment: tuple[Deployment, CliOutcome],
) -> None:
    from websockets.sync.client import connect

    deploy, _ = deployment
    url = f"ws://127.0.0.1:{deploy.gateway}/api/v1/datafeed/ws"
    request = {"symbols": ["AAPL"], "fast_symbols": ["AAPL"]}
    with connect(url, open_timeout=5) as ws:
        ws.send(json.dumps({"type": "quotes.subscribe", "payload": request}))
        answer = json.loads(ws.recv(timeout=5))
        update = json.loads(ws.recv(timeout=10))

    assert answer["type"] == "quotes.subscribe.response"
    assert answer["payload"]["status"] == "ok"
    assert update["type"] == "quotes.update"
    assert update["payload"]["topic"] == answer["payload"]["topic"]


# -- the broker behind nginx ---------------------------------------------------

BTC = "BINANCE:BTCUSD"


def _broker_auth() -> dict[str, str]:
    """A real development token for the broker tests' accounts."""
    from trading_api.shared.auth.testing import bearer, dev_token

    return bearer(dev_token("deployed", ("DEPLOYED", "NEST1", "NEST3")))


def _place(http: httpx.Client, account: str, **order: Any) -> httpx.Response:
    body = {"symbol": "BTCUSD", "type": 2, "side": 1, "qty": 0.01, **order}
    return http.post("/api/v1/broker/orders", params={"accountId": account}, json=body)


def _orders(http: httpx.Client, account: str) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = http.get(
        "/api/v1/broker/orders", params={"accountId": account}
    ).json()
    return answer


def test_a_fill_lies_on_the_path_the_datafeed_quotes(
    deployment: tuple[Deployment, CliOutcome],
) -> None:
    gateway = f"http://127.0.0.1:{deployment[0].gateway}"
    with http_client(base_url=gateway, timeout=10, headers=_broker_auth()) as http:
        start = time.time()
        quote = http.post("/api/v1/datafeed/quotes", json={"symbols": [BTC]}).json()
        placed = _place(http, "DEPLOYED")
        end = time.time()
        [order] = _orders(http, "DEPLOYED")
    low, high = price_range(BTC, start - 0.05, end + 0.05)
    assert placed.status_code == 201, placed.text
    assert order["status"] == 2
    assert low <= quote[0]["v"]["lp"] <= high
    assert low <= order["avgPrice"] <= high
    assert high - low < 0.001 * low, "the window is too wide to mean anything"


@pytest.mark.parametrize(
    "shape",
    [
        {"type": 3, "stop": 0.95, "takeProfit": 0.97},
        {"type": 1, "limit": 1.05, "stopLoss": 1.02},
    ],
    ids=["stop-entry-take-profit-through", "buy-limit-above-stop-between"],
)
def test_a_nested_fill_answers_201_and_leaves_a_flat_account(
    deployment: tuple[Deployment, CliOutcome], shape: dict[str, float]
) -> None:
    gateway = f"http://127.0.0.1:{deployment[0].gateway}"
    account = f"NEST{int(shape['type'])}"
    with http_client(base_url=gateway, timeout=10, headers=_broker_auth()) as http:
        quote = http.post("/api/v1/datafeed/quotes", json={"symbols": [BTC]}).json()
        price = quote[0]["v"]["lp"]
        order: dict[str, Any] = {"type": int(shape["type"])}
        for field, key in (("stopPrice", "stop"), ("limitPrice", "limit")):
            if key in shape:
                order[field] = round(price * shape[key], 2)
        for field in ("takeProfit", "stopLoss"):
            if field in shape:
                order[field] = round(price * shape[field], 2)
        placed = _place(http, account, **order)
        statuses = sorted(o["status"] for o in _orders(http, account))
        positions = http.get(
            "/api/v1/broker/positions", params={"accountId": account}
        ).json()
        health = http.get("/api/v1/core/health")
    assert placed.status_code == 201, placed.text
    assert statuses[:2] == [2, 2] and set(statuses[2:]) <= {1}
    assert positions == []
    assert health.status_code == 200


# -- status, logs, a killed and a stopped server, down --------------------------


def test_up_again_says_already_up(
    deployment: tuple[Deployment, CliOutcome],
) -> None:
    deploy, _ = deployment
    result = deploy.cli("up")

    assert result.code == 0
    assert result.out.startswith(f"already up: http://127.0.0.1:{deploy.gateway}")


def test_status_json_lists_every_program_running_and_healthy(
    deployment: tuple[Deployment, CliOutcome],
) -> None:
    deploy, _ = deployment
    result = deploy.cli("status", "--json")

    assert result.code == 0, result.err
    document = json.loads(result.out)
    programs = {p["name"]: p for p in document["programs"]}
    assert document["up"] is True
    assert sorted(programs) == sorted(
        [
            f"core-broker-{deploy.core_port}",
            f"datafeed-{deploy.feed_port}",
            f"datafeed-{deploy.feed_port + 1}",
            "nginx",
        ]
    )
    for program in programs.values():
        assert (program["state"], program["health"]) == ("RUNNING", "ok")
        assert is_alive(program["pid"])


def test_logs_prefix_each_line_with_its_program(
    deployment: tuple[Deployment, CliOutcome],
) -> None:
    deploy, _ = deployment
    _get(deploy.gateway, "/api/v1/datafeed/config")
    result = deploy.cli("logs", "datafeed", "--lines", "50")

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines
    assert all(line.startswith("datafeed-") for line in lines)
    assert any("GET /api/v1/datafeed/config" in line for line in lines)


def test_logs_of_unknown_server_lists_the_known(
    deployment: tuple[Deployment, CliOutcome],
) -> None:
    deploy, _ = deployment
    result = deploy.cli("logs", "options")

    assert result.code == 2
    assert "known: core-broker, datafeed, nginx" in result.err


def test_logs_follow_prints_new_lines_until_interrupted(
    deployment: tuple[Deployment, CliOutcome],
) -> None:
    deploy, _ = deployment
    process = subprocess.Popen(
        [
            *TRADING,
            "logs",
            "nginx",
            "--follow",
            "-n",
            "0",
            "--config",
            str(deploy.config),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(x) for x in process.stdout])  # type: ignore[union-attr]
    reader.start()
    try:
        seen = ""
        # Bounded generously: a busy machine may take seconds to start it.
        deadline = time.monotonic() + 60
        while "/api/v1/core/versions" not in seen and time.monotonic() < deadline:
            _get(deploy.gateway, "/api/v1/core/versions")
            try:
                seen = lines.get(timeout=0.5)
            except queue.Empty:
                continue
        assert seen.startswith("nginx | ")
        assert "GET /api/v1/core/versions" in seen
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        reader.join(timeout=10)
    assert code == 0


def test_killed_server_is_restarted_with_a_new_pid(
    deployment: tuple[Deployment, CliOutcome],
) -> None:
    deploy, _ = deployment
    program = f"core-broker:core-broker-{deploy.core_port}"
    old = deploy.pid_of(program)
    os.kill(old, signal.SIGKILL)

    deadline = time.monotonic() + 20
    info = deploy.supervisor.process(program)
    while time.monotonic() < deadline and not (
        info.pid not in (0, old) and info.state == "RUNNING"
    ):
        time.sleep(0.1)
        info = deploy.supervisor.process(program)
    assert info.state == "RUNNING" and info.pid not in (0, old)
    status = 0
    while time.monotonic() < deadline and status != 200:
        status = _get(deploy.gateway, "/api/v1/broker/orders")[0]
    assert status == 200


def test_stopped_server_gives_502_for_its_modules_only(
    deployment: tuple[Deployment, CliOutcome],
) -> None:
    deploy, _ = deployment
    # The server with one instance: starting it again costs one app import.
    deploy.supervisor.stop_group("core-broker")
    try:
        down = _get(deploy.gateway, "/api/v1/broker/orders")
        other = _get(deploy.gateway, "/api/v1/datafeed/config")
        status = deploy.cli("status")
    finally:
        deploy.supervisor.start_group("core-broker")

    assert down[0] == 502
    assert json.loads(down[1])["detail"].startswith("the server for this path is down")
    assert other[0] == 200
    assert status.code == 1
    assert f"core-broker-{deploy.core_port}" in status.err


def test_down_leaves_no_process_behind(
    deployment: tuple[Deployment, CliOutcome],
) -> None:
    deploy, _ = deployment
    pids = _processes_of(deploy.run)
    assert len(pids) >= 6  # supervisord, 3 uvicorns, nginx master and worker

    stopped = deploy.cli("down")
    status = deploy.cli("status")
    again = deploy.cli("down")

    assert stopped.code == 0, stopped.err
    assert [pid for pid in pids if is_alive(pid)] == []
    assert status.code == 3
    assert "no deployment is up" in status.err
    assert (again.code, again.out.strip()) == (0, "not up: nothing to stop")
    with pytest.raises(ConnectionRefusedError):
        _get(deploy.gateway, "/api/v1/core/health")


# -- a server that cannot start ----------------------------------------------------

FAILING_MODULE = """
from fastapi import APIRouter

from trading_api.shared.module_interface import Module


class FlakyModule(Module):
    name = "flaky"
    description = "fails at start-up"

    @property
    def service(self) -> object:
        return object()

    @property
    def api_routers(self) -> list[APIRouter]:
        return [APIRouter()]

    async def on_startup(self) -> None:
        raise RuntimeError("price feed unreachable at start-up")
"""


def test_server_that_fails_to_start_stops_everything_and_shows_its_log(
    tmp_path: Path, project_copy: Callable[..., Path], cli: Cli
) -> None:
    project = project_copy(tmp_path / "project", parts=("pyproject.toml", "src"))
    package = project / "src" / "trading_api" / "modules" / "flaky"
    package.mkdir()
    (package / "__init__.py").write_text(FAILING_MODULE)
    gateway, core, flaky = _free_ports(1, 1, 1)
    config = tmp_path / "deploy.yaml"
    config.write_text(
        f"nginx: {{port: {gateway}}}\n"
        f"servers:\n  core: {{port: {core}, modules: [core]}}\n"
        f"  flaky: {{port: {flaky}, modules: [flaky]}}\n"
    )
    run = RunDir.for_config(config)
    try:
        result = cli(project, "up", "--config", str(config), "--timeout", "20")
    finally:
        leftovers = _processes_of(run)
        _stop_leftovers(leftovers)

    assert result.code == 1
    error = result.err.strip().splitlines()[-1]
    assert error.startswith(f"error: the deployment did not come up: flaky-{flaky}")
    assert "everything is stopped again" in error
    assert f"flaky-{flaky} | RuntimeError: price feed unreachable" in result.err
    assert leftovers == []
