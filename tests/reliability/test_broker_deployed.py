"""The broker through ``trading up``: nginx in front, broker and datafeed in separate
uvicorn processes run by supervisord, on free loopback ports.

Market prices are those of the real clock (crypto trades around the clock), so
each check is stated against the market's own path: the broker process and the
datafeed process compute the same price for an instant without talking, and a
fill lies on the path the datafeed charts over the moments the requests took.
"""

import os
import signal
import socket
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from trading_api.market import price_range
from trading_api.shared.auth.testing import bearer, dev_token
from trading_cli.deploy.supervisor import descendants, is_alive
from trading_cli.deploy.topology import RunDir

ROOT = Path(__file__).resolve().parents[2]
BTC = "BINANCE:BTCUSD"


class CliOutcome:  # the conftest's, for annotations only
    code: int
    out: str
    err: str


Cli = Callable[..., CliOutcome]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def processes_of(run: RunDir) -> list[int]:
    try:
        pid = int(run.pidfile.read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [pid, *descendants(pid)] if is_alive(pid) else []


pytestmark = pytest.mark.requires("nginx")  # the shared optional-tool guard


def auth() -> dict[str, str]:
    """A real development token: the deployed servers verify it like any other."""
    return bearer(dev_token("deployed", ("DEPLOYED", "NEST1", "NEST3")))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, cli_once: Cli) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("broker-deploy")
    ports = [free_port() for _ in range(3)]
    config = folder / "deploy.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            nginx: {{port: {ports[0]}, worker_processes: 1}}
            servers:
              broker: {{port: {ports[1]}, modules: [core, broker]}}
              datafeed: {{port: {ports[2]}, modules: [datafeed]}}
            """
        )
    )

    def trading(*args: str) -> CliOutcome:  # in process, with CliRunner
        return cli_once(ROOT, *args, "--config", str(config))

    run = RunDir.for_config(config)
    started = trading("up")
    pids = processes_of(run)
    try:
        assert started.code == 0, started.out + started.err
        yield f"http://127.0.0.1:{ports[0]}"
    finally:
        trading("down")
        for pid in pids + processes_of(run):
            if is_alive(pid):  # only what this deployment started
                os.kill(pid, signal.SIGKILL)


def place(http: httpx.Client, account: str, **order: Any) -> httpx.Response:
    body = {"symbol": "BTCUSD", "type": 2, "side": 1, "qty": 0.01, **order}
    return http.post("/api/v1/broker/orders", params={"accountId": account}, json=body)


def orders(http: httpx.Client, account: str) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = http.get(
        "/api/v1/broker/orders", params={"accountId": account}
    ).json()
    return answer


def test_a_fill_lies_on_the_path_the_datafeed_quotes(gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=10, headers=auth()) as http:
        start = time.time()
        quote = http.post("/api/v1/datafeed/quotes", json={"symbols": [BTC]}).json()
        placed = place(http, "DEPLOYED")
        end = time.time()
        [order] = orders(http, "DEPLOYED")
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
    gateway: str, shape: dict[str, float]
) -> None:
    account = f"NEST{int(shape['type'])}"
    with httpx.Client(base_url=gateway, timeout=10, headers=auth()) as http:
        quote = http.post("/api/v1/datafeed/quotes", json={"symbols": [BTC]}).json()
        price = quote[0]["v"]["lp"]
        order: dict[str, Any] = {"type": int(shape["type"])}
        for field, key in (("stopPrice", "stop"), ("limitPrice", "limit")):
            if key in shape:
                order[field] = round(price * shape[key], 2)
        for field in ("takeProfit", "stopLoss"):
            if field in shape:
                order[field] = round(price * shape[field], 2)
        placed = place(http, account, **order)
        statuses = sorted(o["status"] for o in orders(http, account))
        positions = http.get(
            "/api/v1/broker/positions", params={"accountId": account}
        ).json()
        health = http.get("/api/v1/core/health")
    assert placed.status_code == 201, placed.text
    assert statuses[:2] == [2, 2] and set(statuses[2:]) <= {1}
    assert positions == []
    assert health.status_code == 200
