"""Broker WebSocket streams on a real uvicorn, with the ``websockets`` client.

Orders go in over REST; every state change must come out on the account's
streams, and only on that account's.
"""

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from trading_api.app_factory import AppFactory
from trading_api.market import ManualClock, Market
from trading_api.modules.broker.service import BrokerService
from trading_api.shared.auth.testing import sign_in
from trading_api.shared.testing import serve

BASE = "/api/v1/broker"
OPEN = 1_718_028_000  # Monday 2024-06-10 10:00 New York: US stocks trade
TIMEOUT = 10.0
WORKING, FILLED, CANCELED = 6, 2, 1


@pytest.fixture
def server(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, BrokerService]]:
    """A served broker whose prices move only when a test sets them."""
    with served(database_url, monkeypatch) as found:
        yield found


@contextmanager
def served(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, BrokerService]]:
    """Serve the broker on ``url``'s database; yield its base URL and service.

    The live stepping is off, and a test-only route sets prices on the server's
    event loop (publishing from another thread is not allowed).
    """
    monkeypatch.setenv("DATABASE_URL", url)
    app = sign_in(AppFactory().create_app(["broker"]))
    [module] = [m for m in app.modules if m.name == "broker"]
    module.simulation_interval = 0
    service: BrokerService = module.service
    service.engine.market = Market(clock=ManualClock(OPEN))
    service.set_price("AAPL", 100.0)

    async def set_price(symbol: str, price: float) -> None:
        service.set_price(symbol, price)
        await service.step()

    app.module_apps["broker"].add_api_route(
        "/test/price/{symbol}", set_price, methods=["PUT"]
    )
    with serve(app) as url:
        yield url + BASE, service


def set_price(base_url: str, symbol: str, price: float) -> None:
    httpx.put(
        f"{base_url}/test/price/{symbol}", params={"price": price}
    ).raise_for_status()


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


def rest(
    base_url: str, method: str, path: str, account: str = "A", **kwargs: Any
) -> Any:
    response = httpx.request(
        method, f"{base_url}{path}", params={"accountId": account}, **kwargs
    )
    return response.json()


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/ws"


def test_orders_stream_pushes_placed_modified_cancelled_and_filled(
    server: tuple[str, BrokerService],
) -> None:
    base_url, _ = server

    async def scenario() -> list[tuple[int, Any]]:
        async with connect(ws_url(base_url)) as ws:
            await subscribe(ws, "orders", "A")
            limit = {"symbol": "AAPL", "type": 1, "side": 1, "qty": 1, "limitPrice": 90}
            order_id = rest(base_url, "POST", "/orders", json=limit)["orderId"]
            rest(base_url, "PUT", f"/orders/{order_id}", json={"limitPrice": 91})
            rest(base_url, "DELETE", f"/orders/{order_id}")
            rest(
                base_url,
                "POST",
                "/orders",
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
    server: tuple[str, BrokerService],
) -> None:
    base_url, _ = server

    async def scenario() -> tuple[Any, Any, Any]:
        async with connect(ws_url(base_url)) as ws:
            for route in ("executions", "positions", "equity"):
                await subscribe(ws, route, "A")
            snapshot = await receive(ws, "equity")
            assert snapshot["equity"] == 100_000
            market = {"symbol": "AAPL", "type": 2, "side": -1, "qty": 3}
            rest(base_url, "POST", "/orders", json=market)
            execution = await receive(ws, "executions")
            position = await receive(ws, "positions")
            set_price(base_url, "AAPL", 98.0)
            return execution, position, await receive(ws, "equity")

    execution, position, equity = asyncio.run(scenario())
    assert (execution["price"], execution["qty"], execution["side"]) == (100, 3, -1)
    assert (position["id"], position["qty"], position["side"]) == ("NASDAQ:AAPL", 3, -1)
    assert position["avgPrice"] == 100
    assert (equity["accountId"], equity["balance"], equity["unrealizedPl"]) == (
        "A",
        100_000,
        6,
    )


def test_equity_stream_follows_the_price_and_realizes_on_close(
    server: tuple[str, BrokerService],
) -> None:
    base_url, _ = server
    rest(
        base_url,
        "POST",
        "/orders",
        json={"symbol": "AAPL", "type": 2, "side": 1, "qty": 10},
    )

    async def scenario() -> list[Any]:
        async with connect(ws_url(base_url)) as ws:
            await subscribe(ws, "equity", "A")
            updates = [await receive(ws, "equity")]
            set_price(base_url, "AAPL", 104.0)
            updates.append(await receive(ws, "equity"))
            rest(base_url, "DELETE", "/positions/AAPL")
            set_price(base_url, "AAPL", 90.0)
            rest(
                base_url,
                "POST",
                "/orders",
                account="B",
                json={"symbol": "AAPL", "type": 2, "side": 1, "qty": 1},
            )
            set_price(base_url, "AAPL", 95.0)
            updates.append(await receive(ws, "equity"))
            return [(u["equity"], u["unrealizedPl"], u["realizedPl"]) for u in updates]

    assert asyncio.run(scenario()) == [
        (100_000, 0, 0),
        (100_040, 40, 0),
        (100_040, 0, 40),
    ]


def test_accounts_streams_are_isolated(server: tuple[str, BrokerService]) -> None:
    base_url, _ = server

    async def scenario() -> tuple[Any, Any]:
        async with connect(ws_url(base_url)) as alice, connect(ws_url(base_url)) as bob:
            await subscribe(alice, "orders", "ALICE")
            await subscribe(bob, "orders", "BOB")
            market = {"symbol": "AAPL", "type": 2, "side": 1, "qty": 1}
            bobs = rest(base_url, "POST", "/orders", account="BOB", json=market)[
                "orderId"
            ]
            alices = rest(base_url, "POST", "/orders", account="ALICE", json=market)[
                "orderId"
            ]
            first_for_alice = await receive(alice, "orders")
            first_for_bob = await receive(bob, "orders")
            assert (first_for_alice["id"], first_for_bob["id"]) == (alices, bobs)
            return first_for_alice, first_for_bob

    alice, bob = asyncio.run(scenario())
    assert alice["id"] != bob["id"]


def test_broker_connection_reports_connected(server: tuple[str, BrokerService]) -> None:
    base_url, _ = server

    async def scenario() -> Any:
        async with connect(ws_url(base_url)) as ws:
            await subscribe(ws, "broker-connection", "A")
            return await receive(ws, "broker-connection")

    status = asyncio.run(scenario())
    assert (status["accountId"], status["status"]) == ("A", 1)


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

    async def scenario(base_url: str) -> tuple[Any, ...]:
        async with (
            connect(ws_url(base_url)) as subscribed,
            connect(ws_url(base_url)) as idle,
        ):
            await subscribe(subscribed, "orders", "A")
            await subscribe(subscribed, "executions", "A")
            rest(base_url, "POST", "/orders", json=RESTING)
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
        async with connect(ws_url(base_url)) as again:
            await subscribe(again, "orders", "A")
            second = rest(base_url, "POST", "/orders", json=RESTING)["orderId"]
            pushed = await receive(again, "orders")
        stored = [o["id"] for o in rest(base_url, "GET", "/orders")]
        return first, dropped, received, pong, second, pushed, stored

    with served(stored_url, monkeypatch) as (base_url, _):
        first, dropped, received, pong, second, pushed, stored = asyncio.run(
            scenario(base_url)
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
