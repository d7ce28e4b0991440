"""A ``kill -9`` of a real broker server loses no acknowledged order.

A uvicorn process serves the broker on an SQLite file in a temporary folder.
Four clients place, modify and cancel orders concurrently (each on orders of its
own account, so what it was told is the state it must find); the server is
killed with SIGKILL at an arbitrary instant, restarted on the same file, and
every answer the clients got is compared with what the restarted server reports:
every acknowledged order exists in the state it was acknowledged in (a request
in flight at the kill may or may not have happened), and every position equals
the sum of its executions. Bounded: three kills, each once the clients have had
a random number of answers (15 to 40), so the kill lands at an arbitrary point
of their requests however fast the machine is.

The servers share one import: a parent process imports the app once and forks
each server from it (as a pre-forking server manager would), so the four starts
cost one import instead of four. Each server is still its own process, serving
its own socket, opening the database in its start-up, and killed with SIGKILL.
"""

import functools
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from trading_api.modules.broker.tables import Base
from trading_api.shared.auth.testing import bearer, dev_token
from trading_api.shared.storage.migrations import ModuleMigrations, upgrade
from trading_api.shared.testing import http_client, http_get

pytestmark = pytest.mark.integration

BASE = "/api/v1/broker"
SYMBOL = "BINANCE:BTCUSD"  # trades around the clock
STARTUP = 60.0
CLIENTS = 4


@functools.cache
def auth() -> dict[str, str]:
    """A real development token: the served broker verifies it like any other."""
    accounts = ("DEMO-1", *(f"CRASH-{n}" for n in range(CLIENTS)))
    return bearer(dev_token("crash", accounts))


KILLS = 3
FILLED, CANCELED, WORKING = 2, 1, 6


# The parent of the servers: imports the app once (DATABASE_URL and the rest
# come from its environment), then forks a server for each listening socket
# descriptor it reads, and prints the server's pid. The servers are reaped by
# the kernel (SIGCHLD ignored); the parent ends with its input.
FORKING_PARENT = textwrap.dedent(
    """\
    import os, signal, socket, sys
    import uvicorn
    from trading_api.main import app

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for line in sys.stdin:
        fd = int(line)
        pid = os.fork()
        if pid == 0:
            config = uvicorn.Config(app, log_level="warning")
            uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])
            os._exit(0)
        os.close(fd)  # the server's alone: its death closes the socket
        print(pid, flush=True)
    os._exit(0)  # nothing to clean up: skip the interpreter's teardown
    """
)


@dataclass
class Server:
    url: str
    pid: int

    def kill(self) -> None:
        """SIGKILL, then wait until the process is gone."""
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + STARTUP
        while alive(self.pid):
            assert time.monotonic() < deadline, f"server {self.pid} survived SIGKILL"
            time.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "broker.db"
    package = Path(sys.modules["trading_api.modules.broker"].__file__ or "").parent
    upgrade(
        f"sqlite:///{path}",
        ModuleMigrations.in_package("broker", package, Base.metadata),
    )
    return path


@pytest.fixture
def servers(database: Path) -> Iterator[Callable[[], Server]]:
    """Start broker servers on ``database``, each forked from one parent."""
    sockets = []
    for _ in range(KILLS + 1):
        sock = socket.socket()
        # As uvicorn's own sockets are: each answer is sent at once.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sockets.append(sock)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "ENABLED_MODULES": "broker",
    }
    parent = subprocess.Popen(
        [sys.executable, "-c", FORKING_PARENT],
        env=env,
        pass_fds=[sock.fileno() for sock in sockets],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    commands, pids = parent.stdin, parent.stdout
    assert commands is not None and pids is not None
    started: list[Server] = []

    def start() -> Server:
        sock = sockets[len(started)]
        commands.write(f"{sock.fileno()}\n")
        commands.flush()
        pid = int(pids.readline())
        server = Server(f"http://127.0.0.1:{sock.getsockname()[1]}", pid)
        sock.close()
        started.append(server)
        wait_until_serving(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            if alive(server.pid):
                server.kill()
        commands.close()
        parent.wait(timeout=STARTUP)
        for sock in sockets:
            sock.close()


def wait_until_serving(server: Server) -> None:
    deadline = time.monotonic() + STARTUP
    while True:
        assert alive(server.pid), "the server stopped while starting"
        try:
            answer = http_get(f"{server.url}{BASE}/orders", headers=auth(), timeout=5)
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)


@dataclass
class Client:
    """One account's requests and what the server acknowledged."""

    account: str
    seed: int
    placed: dict[str, str] = field(default_factory=dict)
    """Acknowledged order id -> "market" or "limit"."""
    cancelled: set[str] = field(default_factory=set)
    limits: dict[str, float] = field(default_factory=dict)
    """The acknowledged limit price of each resting order."""
    uncertain: set[str] = field(default_factory=set)
    """Orders a request was in flight for when the server died."""
    answers: int = 0
    """How many requests the server acknowledged."""

    def run(self, url: str, stop: threading.Event) -> None:
        rng = random.Random(self.seed)
        params = {"accountId": self.account}
        with http_client(
            base_url=url + BASE, params=params, headers=auth(), timeout=10
        ) as http:
            while not stop.is_set():
                working = [
                    o for o in self.limits if o not in self.cancelled | self.uncertain
                ]
                choice = rng.random()
                target = rng.choice(working) if working else None
                try:
                    if choice < 0.35 or target is None:
                        self._place_limit(http, rng)
                    elif choice < 0.55:
                        self._place_market(http, rng)
                    elif choice < 0.8:
                        self._modify(http, rng, target)
                    else:
                        self._cancel(http, target)
                    self.answers += 1
                except httpx.TransportError:
                    if target is not None:
                        self.uncertain.add(target)
                    return

    def _place_limit(self, http: httpx.Client, rng: random.Random) -> None:
        price = round(rng.uniform(1_000, 2_000), 2)
        body = {"symbol": SYMBOL, "type": 1, "side": 1, "qty": 0.01}
        response = http.post("/orders", json={**body, "limitPrice": price})
        assert response.status_code == 201, response.text
        order_id = response.json()["orderId"]
        self.placed[order_id] = "limit"
        self.limits[order_id] = price

    def _place_market(self, http: httpx.Client, rng: random.Random) -> None:
        side = rng.choice([1, -1])
        body = {"symbol": SYMBOL, "type": 2, "side": side, "qty": 0.001}
        response = http.post("/orders", json=body)
        assert response.status_code == 201, response.text
        self.placed[response.json()["orderId"]] = "market"

    def _modify(self, http: httpx.Client, rng: random.Random, order_id: str) -> None:
        price = round(rng.uniform(1_000, 2_000), 2)
        self.uncertain.add(order_id)
        response = http.put(f"/orders/{order_id}", json={"limitPrice": price})
        assert response.status_code == 200, response.text
        self.uncertain.discard(order_id)
        self.limits[order_id] = price

    def _cancel(self, http: httpx.Client, order_id: str) -> None:
        self.uncertain.add(order_id)
        response = http.delete(f"/orders/{order_id}")
        assert response.status_code == 200, response.text
        self.uncertain.discard(order_id)
        self.cancelled.add(order_id)

    def check(self, url: str) -> None:
        """Every acknowledged answer against what the server reports now."""
        params = {"accountId": self.account}
        with http_client(
            base_url=url + BASE, params=params, headers=auth(), timeout=30
        ) as http:
            orders = {o["id"]: o for o in http.get("/orders").json()}
            positions = http.get("/positions").json()
            executions = http.get(f"/executions/{SYMBOL}").json()
        missing = set(self.placed) - set(orders)
        assert not missing, f"acknowledged orders lost: {sorted(missing)}"
        for order_id, kind in self.placed.items():
            order = orders[order_id]
            if kind == "market":
                assert order["status"] == FILLED, order
            elif order_id in self.uncertain:
                continue
            elif order_id in self.cancelled:
                assert order["status"] == CANCELED, order
            else:
                assert (order["status"], order["limitPrice"]) == (
                    WORKING,
                    self.limits[order_id],
                ), order
        held = sum(e["qty"] * e["side"] for e in executions)
        shown = sum(p["qty"] * p["side"] for p in positions)
        assert round(shown, 8) == round(held, 8), (positions, executions)
        filled = {o["id"] for o in orders.values() if o["status"] == FILLED}
        assert {e["orderId"] for e in executions} == filled


def wait_for_answers(clients: list[Client], total: int) -> None:
    """Until the clients have had ``total`` acknowledged answers in all."""
    deadline = time.monotonic() + STARTUP
    while sum(c.answers for c in clients) < total:
        assert time.monotonic() < deadline, "the clients got too few answers"
        time.sleep(0.005)


def test_a_killed_server_restarts_with_every_acknowledged_order(
    servers: Callable[[], Server],
) -> None:
    clients = [Client(f"CRASH-{n}", seed=n) for n in range(CLIENTS)]
    rng = random.Random(7)
    for _ in range(KILLS):
        server = servers()
        for client in clients:
            client.check(server.url)  # what survived the previous kill
        stop = threading.Event()
        threads = [
            threading.Thread(target=c.run, args=(server.url, stop), daemon=True)
            for c in clients
        ]
        answered = sum(c.answers for c in clients)
        for thread in threads:
            thread.start()
        wait_for_answers(clients, answered + rng.randint(15, 40))
        server.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=STARTUP)
    server = servers()
    for client in clients:
        client.check(server.url)
    assert sum(len(c.placed) for c in clients) > 20, "too few requests to judge"
