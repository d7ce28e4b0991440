"""The durable broker beside the in-memory one, and its restart with stored orders.

Run: python bench/broker_durable.py [--baseline REV] [--orders 600] [--rounds 3]
                                    [--stored 100000]

Placement: each broker runs as a real uvicorn on a free loopback port, alone
(``ENABLED_MODULES=broker``). This checkout stores every order in an SQLite file
(write-ahead logging, one writing connection) and commits before it answers; the
baseline (default ``c3b2c49``, the broker before it was stored) keeps
everything in memory and is checked out from git into a temporary folder. Eight
concurrent clients, each on its own account, place ``--orders`` market orders
(buy then sell) per round; rounds alternate between the two servers and the
figure is the median orders per second of each, and their ratio.

Restart: ``--stored`` orders (90 % filled, 10 % working limits, over 1,000
accounts, with their executions and positions) are written to an SQLite file the
migrations made; the time is from starting the server process to the 200th
answered ``POST /orders`` (market orders, buy then sell), beside the same on an
empty database (median of ``--rounds``). The listening sockets are set
``TCP_NODELAY`` as uvicorn's own are: without it each answer waits ~40 ms for
the client's delayed acknowledgement.
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
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BASE = "/api/v1/broker"
SYMBOL = "BINANCE:BTCUSD"  # trades around the clock
CLIENTS = 8
HEADERS: dict[str, str] = {}
"""A development token owning every account the bench uses (set in main; the
in-memory baseline predates authentication and ignores it)."""


class Server:
    """uvicorn serving the broker of ``src`` on ``database`` (None: memory)."""

    def __init__(self, src: Path, database: Path | None) -> None:
        self.sock = socket.socket()
        # As uvicorn's own sockets (--host/--port) are: without it, each answer
        # written in two sends waits ~40 ms for the client's delayed ACK.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        env = {**os.environ, "ENABLED_MODULES": "broker", "PYTHONPATH": str(src)}
        if database is not None:
            env["DATABASE_URL"] = f"sqlite:///{database}"
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "trading_api.main:app"),
                *("--fd", str(self.sock.fileno()), "--log-level", "warning"),
            ],
            env=env,
            pass_fds=[self.sock.fileno()],
        )
        self.sock.close()

    def wait(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                if (
                    httpx.get(f"{self.url}{BASE}/orders", headers=HEADERS).status_code
                    == 200
                ):
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


async def place(url: str, orders: int, tag: str) -> float:
    """Orders per second of ``orders`` market orders from CLIENTS clients."""
    per_client = orders // CLIENTS

    async def client(n: int, http: httpx.AsyncClient) -> None:
        params = {"accountId": f"{tag}-{n}"}
        for i in range(per_client):
            side = 1 if i % 2 == 0 else -1
            body = {"symbol": SYMBOL, "type": 2, "side": side, "qty": 0.001}
            response = await http.post(f"{BASE}/orders", json=body, params=params)
            assert response.status_code == 201, response.text

    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=30, headers=HEADERS
    ) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(n, http) for n in range(CLIENTS)))
        return per_client * CLIENTS / (time.perf_counter() - start)


def first_answers(src: Path, database: Path, answers: int = 200) -> tuple[float, float]:
    """Seconds from starting the server to its first and its ``answers``-th
    placed order."""
    server = Server(src, database)
    first = 0.0
    try:
        with httpx.Client(base_url=server.url, timeout=30, headers=HEADERS) as http:
            done = 0
            while done < answers:
                # Buy, then sell: the account stays flat over any number of rounds.
                side = 1 if done % 2 == 0 else -1
                body = {"symbol": SYMBOL, "type": 2, "side": side, "qty": 0.001}
                try:
                    response = http.post(
                        f"{BASE}/orders", json=body, params={"accountId": "BOOT"}
                    )
                except httpx.TransportError:
                    time.sleep(0.005)
                    continue
                if response.status_code != 201:
                    raise SystemExit(f"an order was refused: {response.text}")
                done += 1
                if done == 1:
                    first = time.perf_counter() - server.started
            return first, time.perf_counter() - server.started
    finally:
        server.stop()


def migrated(path: Path) -> Path:
    from trading_api.modules.broker.tables import Base
    from trading_api.shared.storage.migrations import ModuleMigrations, upgrade

    package = ROOT / "src" / "trading_api" / "modules" / "broker"
    upgrade(
        f"sqlite:///{path}",
        ModuleMigrations.in_package("broker", package, Base.metadata),
    )
    return path


def seed(path: Path, stored: int) -> None:
    """``stored`` orders over 1,000 accounts, with executions and positions."""
    import sqlite3

    accounts = 1_000
    connection = sqlite3.connect(path)
    orders, executions = [], []
    held: dict[str, float] = {}
    for n in range(stored):
        account = f"SEED-{n % accounts}"
        working = n % 10 == 0
        order_id = f"0-{n + 1}"
        orders.append(
            (
                *(order_id, account, working, SYMBOL, 1 if working else 2, 1, 0.001),
                *(6 if working else 2, 1_000.0 if working else None, None),
                *(None if working else 60_000.0, 0.0 if working else 0.001),
                *(None, None, None, None, "GTC", None, None, False, 0, None),
                *(False, False, None),
            )
        )
        if not working:
            executions.append(
                (order_id, account, order_id, SYMBOL, 60_000.0, 0.001, 1, 0)
            )
            held[account] = held.get(account, 0.0) + 0.001
    connection.executemany(
        "INSERT INTO broker__accounts (id, balance, realized_pl, version) "
        "VALUES (?, 100000.0, 0.0, 1)",
        [(f"SEED-{n}",) for n in range(accounts)],
    )
    connection.executemany(
        "INSERT INTO broker__orders (id, account_id, open, symbol, type, side, qty, "
        "status, limit_price, stop_price, avg_price, filled_qty, parent_id, "
        "parent_type, take_profit, stop_loss, duration_type, duration_ms, "
        "seen_price, is_close, update_time, message, triggered, fresh, checked_ms) "
        "VALUES (" + ", ".join("?" * 25) + ")",
        orders,
    )
    connection.executemany(
        "INSERT INTO broker__executions (id, account_id, order_id, symbol, price, "
        "qty, side, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        executions,
    )
    connection.executemany(
        "INSERT INTO broker__positions (account_id, symbol, qty, avg_price) "
        "VALUES (?, ?, ?, 60000.0)",
        [(account, SYMBOL, round(qty, 8)) for account, qty in held.items()],
    )
    connection.commit()
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="c3b2c49")
    parser.add_argument("--orders", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument(
        "--restart-only", action="store_true", help="skip the placement rounds"
    )
    args = parser.parse_args()
    here = ROOT / "src"
    from trading_api.shared.auth.testing import bearer, dev_token

    accounts = ["DEMO-1", "BOOT"]
    accounts += [f"R{n}-{c}" for n in range(args.rounds) for c in range(CLIENTS)]
    HEADERS.update(bearer(dev_token("bench", tuple(accounts))))
    with tempfile.TemporaryDirectory(prefix="broker-bench-") as folder:
        tmp = Path(folder)
        baseline = tmp / "baseline"
        subprocess.run(
            [
                *("git", "-C", str(ROOT), "worktree", "add", "--detach", "-q"),
                *(str(baseline), args.baseline),
            ],
            check=True,
        )
        try:
            rates: dict[str, list[float]] = {"durable": [], "memory": []}
            if not args.restart_only:
                durable = Server(here, migrated(tmp / "durable.db"))
                memory = Server(baseline / "src", None)
                durable.wait()
                memory.wait()
                for n in range(args.rounds):
                    for name, server in (("durable", durable), ("memory", memory)):
                        rate = asyncio.run(place(server.url, args.orders, f"R{n}"))
                        rates[name].append(rate)
                durable.stop()
                memory.stop()
            seeded = migrated(tmp / "seeded.db")
            seed(seeded, args.stored)
            empty = migrated(tmp / "empty.db")
            restarts: dict[str, list[tuple[float, float]]] = {
                "stored": [],
                "empty": [],
            }
            for _ in range(args.rounds):
                restarts["stored"].append(first_answers(here, seeded))
                restarts["empty"].append(first_answers(here, empty))
        finally:
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(ROOT),
                    "worktree",
                    "remove",
                    "--force",
                    str(baseline),
                ],
                check=False,
            )
    placing = {k: statistics.median(v) for k, v in rates.items() if v}
    report: dict[str, object] = {}
    if placing:
        report["orders_per_second"] = {k: round(v, 1) for k, v in placing.items()}
        report["durable_over_memory"] = round(placing["durable"] / placing["memory"], 2)
    print(
        json.dumps(
            {
                **report,
                "restart_to_first_answer_s": {
                    k: round(statistics.median(f for f, _ in v), 2)
                    for k, v in restarts.items()
                },
                "restart_to_200_answers_s": {
                    k: round(statistics.median(t for _, t in v), 2)
                    for k, v in restarts.items()
                },
                "stored_orders": args.stored,
                "rounds": {k: [round(x, 1) for x in v] for k, v in rates.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
