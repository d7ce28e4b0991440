"""Order placement through nginx: two PostgreSQL-backed broker instances beside one.

Run: python bench/broker_instances.py [--orders 400] [--clients 8] [--rounds 5]

Starts a throwaway PostgreSQL cluster (the tests' ``TemporaryPostgres``: Debian's
``postgresql`` binaries, a free loopback port, durability off) and two
deployments through ``trading up``, each on its own database: nginx, a core
server, and a broker server with ``instances: 1`` or ``instances: 2``. Rounds
alternate between them; each round, ``--clients`` concurrent clients (one
account each) place ``--orders`` market orders in all (buy then sell, so the
accounts stay flat) with ``POST /api/v1/broker/orders`` through nginx. Figures
are the medians over rounds of orders per second and of the latency of one
``POST``, and the ratio two / one.

Fan-out: a WebSocket client on the first broker instance subscribes to the
executions of one account whose orders go to the last instance; the median time
from the ``POST`` to the execution arriving on the other instance is reported.
Every loop is bounded; everything binds 127.0.0.1.
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TRADING = [sys.executable, "-m", "trading_cli.main"]
BROKER = "/api/v1/broker"
SYMBOL = "BTCUSD"  # trades around the clock
QTY = 0.01


def free_port(count: int = 1) -> int:
    """The first of ``count`` consecutive free loopback ports."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            first: int = sock.getsockname()[1]
        try:
            for port in range(first + 1, first + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports")


@dataclass
class Deployment:
    """One ``trading up`` deployment with ``instances`` broker processes."""

    folder: Path
    instances: int
    database: str
    gateway: int = 0
    broker: int = 0

    def up(self) -> None:
        self.gateway, core, self.broker = free_port(), free_port(), free_port(2)
        self.config.write_text(
            f"nginx: {{port: {self.gateway}, worker_processes: 1}}\n"
            "servers:\n"
            f"  core: {{port: {core}, modules: [core]}}\n"
            f"  broker: {{port: {self.broker}, instances: {self.instances}, "
            "modules: [broker]}\n"
        )
        self._trading("up", "--timeout", "120")

    def down(self) -> None:
        self._trading("down")

    @property
    def config(self) -> Path:
        return self.folder / "deploy.yaml"

    def _trading(self, *args: str) -> None:
        result = subprocess.run(
            [*TRADING, *args, "--config", str(self.config)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "DATABASE_URL": self.database, "NO_COLOR": "1"},
        )
        if result.returncode != 0:
            raise SystemExit(f"trading {args[0]} failed:\n{result.stderr}")


def order(side: int) -> dict[str, object]:
    return {"symbol": SYMBOL, "type": 2, "side": side, "qty": QTY}


def auth(account: str) -> dict[str, str]:
    """A real development token for ``account``, which the servers verify."""
    from trading_api.shared.auth.testing import bearer, dev_token

    return bearer(dev_token("bench", (account,)))


async def client(base: str, account: str, count: int, latencies: list[float]) -> None:
    async with httpx.AsyncClient(
        base_url=base, headers=auth(account), timeout=30
    ) as http:
        for i in range(count):
            start = time.perf_counter()
            response = await http.post(
                f"{BROKER}/orders",
                params={"accountId": account},
                json=order(1 if i % 2 == 0 else -1),
            )
            latencies.append(time.perf_counter() - start)
            response.raise_for_status()


async def placement_round(
    ports: list[int], orders: int, clients: int, round_number: int
) -> tuple[float, float]:
    """Orders per second and the median POST latency (ms) of one round; client
    ``i`` sends to ``ports[i % len(ports)]``."""
    per_client = max(2, orders // clients)
    latencies: list[float] = []
    start = time.perf_counter()
    await asyncio.gather(
        *(
            client(
                f"http://127.0.0.1:{ports[number % len(ports)]}",
                f"B{round_number}x{number}",
                per_client,
                latencies,
            )
            for number in range(clients)
        )
    )
    elapsed = time.perf_counter() - start
    return per_client * clients / elapsed, statistics.median(latencies) * 1000


async def fan_out(deployment: Deployment, samples: int) -> str:
    """Median ms from a POST on the last instance to its execution arriving over
    WebSocket on the first instance, as text."""
    try:
        return f"{await _fan_out(deployment, samples):.1f} ms"
    except TimeoutError:
        return "not delivered within 30 s"


async def _fan_out(deployment: Deployment, samples: int) -> float:
    from websockets.asyncio.client import connect

    first, last = deployment.broker, deployment.broker + deployment.instances - 1
    account = f"FAN{deployment.instances}"
    times = []
    url = f"ws://127.0.0.1:{first}{BROKER}/ws"
    async with connect(url, additional_headers=auth(account)) as ws:
        request = {"type": "executions.subscribe", "payload": {"accountId": account}}
        await ws.send(json.dumps(request))
        async with asyncio.timeout(30):
            while (
                json.loads(await ws.recv())["type"] != "executions.subscribe.response"
            ):
                pass
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{last}", headers=auth(account)
        ) as http:
            for i in range(samples):
                start = time.perf_counter()
                response = await http.post(
                    f"{BROKER}/orders",
                    params={"accountId": account},
                    json=order(1 if i % 2 == 0 else -1),
                )
                order_id = response.raise_for_status().json()["orderId"]
                async with asyncio.timeout(30):
                    while True:
                        message = json.loads(await ws.recv())
                        if message["type"] != "executions.update":
                            continue
                        if message["payload"]["payload"]["orderId"] == order_id:
                            break
                times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def load_average() -> float:
    return os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fan-out", type=int, default=50, metavar="SAMPLES")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "src"))
    from trading_api.shared.storage.testing import TemporaryPostgres

    with TemporaryPostgres() as postgres, tempfile.TemporaryDirectory() as tmp:
        deployments = []
        for instances in (1, 2):
            folder = Path(tmp) / f"instances-{instances}"
            folder.mkdir()
            deployments.append(Deployment(folder, instances, postgres.new_database()))
        try:
            for deployment in deployments:
                deployment.up()
            report(deployments, args)
        finally:
            for deployment in deployments:
                deployment.down()


def report(deployments: list[Deployment], args: argparse.Namespace) -> None:
    one, two = deployments
    modes = {
        "1 instance, through nginx": [one.gateway],
        "2 instances, through nginx": [two.gateway],
        "2 instances, each client on one": [two.broker, two.broker + 1],
    }
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    latency: dict[str, list[float]] = {mode: [] for mode in modes}
    loads = [load_average()]
    for round_number in range(args.rounds):
        for mode, ports in modes.items():
            rate, ms = asyncio.run(
                placement_round(ports, args.orders, args.clients, round_number)
            )
            rates[mode].append(rate)
            latency[mode].append(ms)
        loads.append(load_average())
    fan = {
        d.instances: asyncio.run(fan_out(d, args.fan_out)) if args.fan_out else "-"
        for d in deployments
    }
    print(
        f"order placement, {args.clients} clients (one account each), "
        f"{args.orders} orders x {args.rounds} rounds (medians)"
    )
    for mode in modes:
        print(
            f"  {mode:<33} {statistics.median(rates[mode]):6.0f} orders/s, "
            f"POST {statistics.median(latency[mode]):6.1f} ms"
        )
    base = statistics.median(rates["1 instance, through nginx"])
    for mode in list(modes)[1:]:
        print(
            f"  ratio {mode} / 1 instance: {statistics.median(rates[mode]) / base:.2f}"
        )
    print(
        "execution pushed over WS, POST to arrival (median of "
        f"{args.fan_out}): one instance {fan[1]}, across instances {fan[2]}"
    )
    print(f"load average (1 min) during the run: {statistics.median(loads):.1f}")


if __name__ == "__main__":
    main()
