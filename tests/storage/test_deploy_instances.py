"""Two broker instances on one PostgreSQL database, through ``trading up``.

Real supervisord, nginx and uvicorn on free loopback ports, and the storage
tests' throwaway PostgreSQL cluster: the migrations run once, both instances
get the same ``DATABASE_URL``, and they behave as one broker, whichever
instance (or nginx) a client talks to.
"""

import asyncio
import functools
import http.client
import json
import os
import signal
import socket
import textwrap
import time
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
WAIT = 15.0
"""Seconds a pushed message may take before the test fails (never reached)."""
CANCELED, FILLED, WORKING = 1, 2, 6
pytestmark = pytest.mark.requires("nginx")


class CliOutcome:  # the conftest's, for annotations only
    code: int
    out: str
    err: str


Cli = Callable[..., CliOutcome]


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
    started: CliOutcome
    trading: Cli

    @property
    def ports(self) -> list[int]:
        """Instance A's port, then instance B's."""
        return [self.broker, self.broker + 1]

    def cli(self, *args: str) -> CliOutcome:
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
    cli_once: Cli,
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
    started = cli_once(ROOT, "up", "--config", str(config), env=environment)
    run = RunDir.for_config(config)
    pids = processes_of(run)
    try:
        yield Instances(config, gateway, broker, database, started, cli_once)
    finally:
        cli_once(ROOT, "down", "--config", str(config), env=environment)
        for pid in pids + processes_of(run):  # only this deployment's, by pid
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)


def processes_of(run: RunDir) -> list[int]:
    try:
        pid = int(run.pidfile.read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [pid, *descendants(pid)] if is_alive(pid) else []


@functools.cache
def auth() -> dict[str, str]:
    """A real development token for the test's accounts: every instance verifies
    it like any other."""
    from trading_api.shared.auth.testing import bearer, dev_token

    return bearer(dev_token("instances", ("SEEN", "CANCEL", "FAN", "TICKS")))


def request(
    port: int, method: str, path: str, account: str, body: Any = None
) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = None if body is None else json.dumps(body)
        headers = dict(auth())
        if body is not None:
            headers["Content-Type"] = "application/json"
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
    assert instances.started.code == 0, instances.started.err
    result = instances.cli("status", "--json")

    assert result.code == 0, result.err
    document = json.loads(result.out)
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


def test_the_migrations_ran_once_before_the_instances_started(
    instances: Instances,
) -> None:
    lines = instances.started.out.splitlines()
    migrated = [line for line in lines if line.startswith("database: broker: ")]

    assert len(migrated) == 1, instances.started.out
    assert migrated[0].startswith("database: broker: base -> ")
    assert lines.index(migrated[0]) < lines.index(
        next(line for line in lines if line.startswith("server\t"))
    )


def order_ids(port: int, account: str) -> dict[str, int]:
    status, orders = request(port, "GET", "/orders", account)
    assert status == 200, orders
    return {order["id"]: order["status"] for order in orders}


def test_an_order_placed_through_one_instance_is_seen_through_every_path(
    instances: Instances,
) -> None:
    first, second = instances.ports
    resting = {"symbol": "BTCUSD", "type": 1, "side": 1, "qty": 0.01, "limitPrice": 1}
    status, placed = request(first, "POST", "/orders", "SEEN", resting)
    assert status == 201, placed

    # nginx takes turns between the instances: four requests reach both.
    paths = [second, first, *[instances.gateway] * 4]
    seen = [order_ids(port, "SEEN").get(placed["orderId"]) for port in paths]

    assert seen == [WORKING] * len(paths)


def test_an_order_cancelled_through_one_instance_is_cancelled_on_the_other(
    instances: Instances,
) -> None:
    first, second = instances.ports
    resting = {"symbol": "BTCUSD", "type": 1, "side": 1, "qty": 0.01, "limitPrice": 1}
    _, placed = request(second, "POST", "/orders", "CANCEL", resting)
    status, _ = request(first, "DELETE", f"/orders/{placed['orderId']}", "CANCEL")

    assert status in (200, 204)
    assert order_ids(second, "CANCEL")[placed["orderId"]] == CANCELED


def test_a_subscriber_of_one_instance_gets_the_fill_of_an_order_placed_on_the_other(
    instances: Instances,
) -> None:
    first, second = instances.ports

    async def scenario() -> tuple[str, dict[str, Any]]:
        from websockets.asyncio.client import connect

        url = f"ws://127.0.0.1:{first}{BROKER}/ws"
        async with connect(url, additional_headers=auth()) as ws:
            await ws.send(
                json.dumps(
                    {"type": "executions.subscribe", "payload": {"accountId": "FAN"}}
                )
            )
            await next_of(ws, "executions.subscribe.response")
            market = {"symbol": "BTCUSD", "type": 2, "side": 1, "qty": 0.01}
            _, placed = await asyncio.to_thread(
                request, second, "POST", "/orders", "FAN", market
            )
            return placed["orderId"], await next_of(ws, "executions.update")

    order_id, update = asyncio.run(scenario())
    assert update["payload"]["orderId"] == order_id
    assert update["payload"]["qty"] == 0.01


async def next_of(ws: Any, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message["type"] == kind:
                payload: dict[str, Any] = message["payload"]
                return payload


Limits = list[tuple[int, float]]  # (side, limit price)


def limits_reached_soon(now: float) -> tuple[str, int, Limits]:
    """A 24x7 symbol, a window in seconds and at least four limit orders that
    its path reaches within the window after ``now``: the first that moves
    (the broker matches every half second: even 3 s are six ticks).

    The market's path is the same in every process, so the orders fill on
    later ticks. A path can rest flat for a while (BTCUSD for 20 s about 4% of
    the time): the next symbol is tried, then a wider window.
    """
    from trading_api.market.prices import price_at, price_range

    for window in (3, 6, 10, 15, 20, 30, 60, 90):
        for symbol in ("BTCUSD", "ETHUSD", "SOLUSD"):
            price = price_at(symbol, now)
            low, high = price_range(symbol, now + 1, now + window)
            buys = {round(price - (price - low) * k / 8, 2) for k in range(2, 8)}
            sells = {round(price + (high - price) * k / 8, 2) for k in range(2, 8)}
            orders = [(1, limit) for limit in sorted(buys) if low <= limit < price]
            orders += [(-1, limit) for limit in sorted(sells) if price < limit <= high]
            if len(orders) >= 4:
                return symbol, window, orders
    raise AssertionError(f"no 24x7 symbol moves within 90 s of {now}")


def test_over_many_ticks_no_order_fills_twice(instances: Instances) -> None:
    first, second = instances.ports
    symbol, window, orders = limits_reached_soon(time.time())
    for number, (side, limit) in enumerate(orders):
        order = {"symbol": symbol, "type": 1, "side": side, "qty": 0.01}
        port = first if number % 2 else second  # placed on both instances
        status, _ = request(
            port, "POST", "/orders", "TICKS", order | {"limitPrice": limit}
        )
        assert status == 201
    for _ in range(5 * (window + 25)):  # the window and 25 s more, at most
        states = order_ids(second, "TICKS")
        if list(states.values()).count(FILLED) == len(orders):
            break
        time.sleep(0.2)
    time.sleep(1.0)  # two more ticks on both instances
    states = order_ids(first, "TICKS")
    _, executions = request(second, "GET", f"/executions/{symbol}", "TICKS")

    assert sorted(states.values()) == [FILLED] * len(orders)
    assert sorted(e["orderId"] for e in executions) == sorted(states)
