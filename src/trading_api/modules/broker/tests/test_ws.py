"""Broker WebSocket streams on a real uvicorn, with the ``websockets`` client.

Orders go in over REST; every state change must come out on the account's
streams, and only on that account's.
"""

import asyncio
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from trading_api.modules.broker.service import BrokerService
from trading_api.modules.broker.tests.support import stepped_app
from trading_api.shared.storage.testing import MigratedSQLite
from trading_api.shared.testing import http_client, serve

BASE = "/api/v1/broker"
TIMEOUT = 10.0
WORKING, FILLED, CANCELED = 6, 2, 1


@dataclass
class Served:
    """A served broker: its routes' base URL, its service, an HTTP client."""

    url: str
    service: BrokerService
    http: httpx.Client

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    def rest(self, method: str, path: str, account: str, **kwargs: Any) -> Any:
        """The JSON answer to a REST call for ``account``."""
        response = self.http.request(
            method, f"{self.url}{path}", params={"accountId": account}, **kwargs
        )
        return response.json()

    def set_price(self, symbol: str, price: float) -> None:
        """Set a price on the server and run a matching step against it."""
        self.http.put(
            f"{self.url}/test/price/{symbol}", params={"price": price}
        ).raise_for_status()


@contextmanager
def served(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """Serve the broker on ``url``'s database, AAPL at 100.

    The live stepping is off, and a test-only route sets prices on the server's
    event loop (publishing from another thread is not allowed). One HTTP client
    makes every REST call: its connections are reused.
    """
    monkeypatch.setenv("DATABASE_URL", url)
    app, service = stepped_app()
    service.set_price("AAPL", 100.0)

    async def set_price(symbol: str, price: float) -> None:
        service.set_price(symbol, price)
        await service.step()

    app.module_apps["broker"].add_api_route(
        "/test/price/{symbol}", set_price, methods=["PUT"]
    )
    with serve(app) as base, http_client(timeout=TIMEOUT) as http:
        yield Served(base + BASE, service, http)


@pytest.fixture(scope="module")
def shared_server(
    migrated_database: MigratedSQLite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One served broker for this file, on its own fresh database: starting a
    server costs more than a test's own exchanges, and the tests keep apart by
    account (``account``)."""
    url = migrated_database.copy(tmp_path_factory.mktemp("broker-ws") / "broker.db")
    with (
        pytest.MonkeyPatch.context() as patch,
        served(url, patch) as found,
    ):
        yield found


@pytest.fixture
def server(shared_server: Served) -> Served:
    """The served broker, its prices moving only when a test sets them; AAPL
    at 100."""
    shared_server.set_price("AAPL", 100.0)
    return shared_server


accounts = itertools.count(1)


@pytest.fixture
def account() -> str:
    """An account no other test uses."""
    return f"WS-{next(accounts)}"


async def send(ws: ClientConnection, kind: str, payload: dict[str, Any]) -> None:
    await ws.send(json.dumps({"type": kind, "payload": payload}))


async def receive(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The payload of the next update of route ``kind``, skipping other messages."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message["type"] == f"{kind}.update":
                payload: dict[str, Any] = message["payload"]["payload"]
                return payload


async def subscribe(ws: ClientConnection, route: str, account: str) -> None:
    await send(ws, f"{route}.subscribe", {"accountId": account})
    async with asyncio.timeout(TIMEOUT):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == f"{route}.subscribe.response":
                assert message["payload"]["status"] == "ok", message
                return


def test_orders_stream_pushes_placed_modified_cancelled_and_filled(
    server: Served, account: str
) -> None:

    async def scenario() -> list[tuple[int, Any]]:
        async with connect(server.ws_url) as ws:
            await subscribe(ws, "orders", account)
            limit = {"symbol": "AAPL", "type": 1, "side": 1, "qty": 1, "limitPrice": 90}
            order_id = server.rest("POST", "/orders", account, json=limit)["orderId"]
            server.rest("PUT", f"/orders/{order_id}", account, json={"limitPrice": 91})
            server.rest("DELETE", f"/orders/{order_id}", account)
            server.rest(
                "POST",
                "/orders",
                account,
                json={"symbol": "AAPL", "type": 2, "side": 1, "qty": 1},
            )
            updates = [await receive(ws, "orders") for _ in range(5)]
            return [(u["status"], u["limitPrice"]) for u in updates]

    assert asyncio.run(scenario()) == [
        (WORKING, 90),
        (WORKING, 91),
        (CANCELED, 91),
        (WORKING, None),
        (FILLED, None),
    ]


def test_fill_pushes_execution_and_position_then_equity_moves(
    server: Served, account: str
) -> None:

    async def scenario() -> tuple[Any, Any, Any]:
        async with connect(server.ws_url) as ws:
            for route in ("executions", "positions", "equity"):
                await subscribe(ws, route, account)
            snapshot = await receive(ws, "equity")
            assert snapshot["equity"] == 100_000
            market = {"symbol": "AAPL", "type": 2, "side": -1, "qty": 3}
            server.rest("POST", "/orders", account, json=market)
            execution = await receive(ws, "executions")
            position = await receive(ws, "positions")
            server.set_price("AAPL", 98.0)
            return execution, position, await receive(ws, "equity")

    execution, position, equity = asyncio.run(scenario())
    assert (execution["price"], execution["qty"], execution["side"]) == (100, 3, -1)
    assert (position["id"], position["qty"], position["side"]) == ("NASDAQ:AAPL", 3, -1)
    assert position["avgPrice"] == 100
    assert (equity["accountId"], equity["balance"], equity["unrealizedPl"]) == (
        account,
        100_000,
        6,
    )


def test_equity_stream_follows_the_price_and_realizes_on_close(
    server: Served, account: str
) -> None:
    server.rest(
        "POST",
        "/orders",
        account,
        json={"symbol": "AAPL", "type": 2, "side": 1, "qty": 10},
    )

    async def scenario() -> list[Any]:
        async with connect(server.ws_url) as ws:
            await subscribe(ws, "equity", account)
            updates = [await receive(ws, "equity")]
            server.set_price("AAPL", 104.0)
            updates.append(await receive(ws, "equity"))
            server.rest("DELETE", "/positions/AAPL", account)
            server.set_price("AAPL", 90.0)
            server.rest(
                "POST",
                "/orders",
                account=f"{account}-B",
                json={"symbol": "AAPL", "type": 2, "side": 1, "qty": 1},
            )
            server.set_price("AAPL", 95.0)
            updates.append(await receive(ws, "equity"))
            return [(u["equity"], u["unrealizedPl"], u["realizedPl"]) for u in updates]

    assert asyncio.run(scenario()) == [
        (100_000, 0, 0),
        (100_040, 40, 0),
        (100_040, 0, 40),
    ]


def test_accounts_streams_are_isolated(server: Served, account: str) -> None:
    alice_id, bob_id = f"{account}-ALICE", f"{account}-BOB"

    async def scenario() -> tuple[Any, Any]:
        async with connect(server.ws_url) as alice, connect(server.ws_url) as bob:
            await subscribe(alice, "orders", alice_id)
            await subscribe(bob, "orders", bob_id)
            market = {"symbol": "AAPL", "type": 2, "side": 1, "qty": 1}
            bobs = server.rest("POST", "/orders", bob_id, json=market)["orderId"]
            alices = server.rest("POST", "/orders", alice_id, json=market)["orderId"]
            first_for_alice = await receive(alice, "orders")
            first_for_bob = await receive(bob, "orders")
            assert (first_for_alice["id"], first_for_bob["id"]) == (alices, bobs)
            return first_for_alice, first_for_bob

    alice, bob = asyncio.run(scenario())
    assert alice["id"] != bob["id"]


def test_broker_connection_reports_connected(server: Served, account: str) -> None:

    async def scenario() -> Any:
        async with connect(server.ws_url) as ws:
            await subscribe(ws, "broker-connection", account)
            return await receive(ws, "broker-connection")

    status = asyncio.run(scenario())
    assert (status["accountId"], status["status"]) == (account, 1)


@pytest.mark.parametrize(
    "stored_url",
    [pytest.param("postgresql", marks=pytest.mark.integration)],
    indirect=True,
)
def test_subscribers_are_closed_to_resync_when_the_bus_lost_events(
    stored_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the events come back through LISTEN: when that connection
    drops, events committed meanwhile are lost, so every subscriber is closed
    with 4205 and, resubscribed, sees the stored state and new events."""

    async def scenario(server: Served) -> tuple[Any, ...]:
        async with (
            connect(server.ws_url) as subscribed,
            connect(server.ws_url) as idle,
        ):
            await subscribe(subscribed, "orders", "A")
            await subscribe(subscribed, "executions", "A")
            server.rest("POST", "/orders", "A", json=RESTING)
            first = await receive(subscribed, "orders")
            dropped = await drop_listener(stored_url)
            async with asyncio.timeout(TIMEOUT):
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await subscribed.recv()
            await idle.send(json.dumps({"type": "ping", "payload": {"n": 1}}))
            async with asyncio.timeout(TIMEOUT):
                pong = json.loads(await idle.recv())
        received = closed.value.rcvd
        async with connect(server.ws_url) as again:
            await subscribe(again, "orders", "A")
            second = server.rest("POST", "/orders", "A", json=RESTING)["orderId"]
            pushed = await receive(again, "orders")
        stored = [o["id"] for o in server.rest("GET", "/orders", "A")]
        return first, dropped, received, pong, second, pushed, stored

    with served(stored_url, monkeypatch) as server:
        first, dropped, received, pong, second, pushed, stored = asyncio.run(
            scenario(server)
        )
    assert (first["status"], dropped) == (WORKING, 1)
    assert received is not None and received.code == 4205
    assert "resubscribe" in received.reason
    # A connection holding no subscription missed nothing: it stays open.
    assert pong == {"type": "pong", "payload": {"n": 1}}
    assert (pushed["id"], pushed["status"]) == (second, WORKING)
    assert stored == [first["id"], second]


RESTING = {"symbol": "AAPL", "type": 1, "side": 1, "qty": 1, "limitPrice": 50}


async def drop_listener(url: str) -> int:
    """Terminate the broker's listening connection (as a PostgreSQL restart
    or a network cut would); return how many were terminated."""
    import asyncpg

    plain = url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(plain)
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                count: int = await connection.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = 'trading:broker:listen'"
                )
                if count:
                    return count
                await asyncio.sleep(0.05)
    finally:
        await connection.close()
