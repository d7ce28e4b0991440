"""A seeded randomized soak of the broker on a real uvicorn, checked after every step.

:data:`ACTIONS` times, a seeded generator places, retries, cancels
and modifies orders (all four types, with and without brackets), closes
positions, sets position brackets and moves prices, over :data:`ACCOUNTS`
accounts in three crypto symbols (they trade around the clock). Prices move by
market overrides that match nothing themselves: what they reach is filled by
the module's background step. After every action, for every account:

- no answer is a 5xx;
- the executions of each symbol sum to its position;
- no order is both filled and cancelled, and a final status never changes;
- equity = balance + unrealized P&L, and unrealized P&L = the positions' P&L;
- the background step is alive (its count rose since the last check);
- the last state of every order pushed on the ``orders`` stream equals REST.

State is read through one test-only route that answers the orders, positions,
executions and money of the accounts asked for in one turn of the server's
loop, so each check sees one consistent moment. The run is bounded by its
number of actions, not by time, and waits on the stream's updates rather than
polling on a timer.
"""

import asyncio
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from trading_api.app_factory import AppFactory
from trading_api.modules.broker.service import BrokerService
from trading_api.shared.auth.testing import sign_in
from trading_api.shared.testing import async_http_client, serve

SEED = 20_261_130
ACTIONS = 60
ACCOUNTS = [f"SOAK{i:02d}" for i in range(12)]
SYMBOLS = {"BINANCE:ETHUSD": 0.001, "BINANCE:SOLUSD": 0.01, "BINANCE:BTCUSD": 0.0001}
START = {"BINANCE:ETHUSD": 100.0, "BINANCE:SOLUSD": 50.0, "BINANCE:BTCUSD": 400.0}
BASE = "/api/v1/broker"
LIMIT, MARKET, STOP, STOP_LIMIT = 1, 2, 3, 4
CANCELED, FILLED, INACTIVE, REJECTED, WORKING = 1, 2, 3, 5, 6
FINAL = {CANCELED, FILLED, REJECTED}
WAIT = 10.0


@pytest.fixture
def server() -> Iterator[str]:
    app = sign_in(AppFactory().create_app(["broker"]))
    [module] = [m for m in app.modules if m.name == "broker"]
    module.simulation_interval = 0.02
    service: BrokerService = module.service
    for symbol, price in START.items():
        service.market.scenario.set_price(symbol, price, at=0)

    async def pin(symbol: str, price: float) -> None:
        service.market.scenario.set_price(symbol, price, at=service.market.now())

    async def steps() -> int:
        return service.engine.steps

    async def snapshots(accounts: str) -> dict[str, Any]:
        found = {each: await snapshot(each) for each in accounts.split(",")}
        return {"steps": service.engine.steps, "accounts": found}

    async def snapshot(account_id: str) -> dict[str, Any]:
        return {
            "orders": [
                o.model_dump(by_alias=True) for o in await service.orders(account_id)
            ],
            "positions": [
                p.model_dump(by_alias=True) for p in await service.positions(account_id)
            ],
            "executions": [
                e.model_dump(by_alias=True)
                for s in SYMBOLS
                for e in await service.executions(account_id, s)
            ],
            "account": (await service.account_info(account_id)).model_dump(
                by_alias=True
            ),
        }

    broker_app = app.module_apps["broker"]
    broker_app.add_api_route("/test/pin/{symbol}", pin, methods=["PUT"])
    broker_app.add_api_route("/test/steps", steps, methods=["GET"])
    broker_app.add_api_route("/test/snapshots", snapshots, methods=["GET"])
    with serve(app) as url:
        yield url


@dataclass
class Stream:
    """What the ``orders`` stream pushed, per order id."""

    last: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, list[int]] = field(default_factory=dict)
    updated: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] != "orders.update":
                continue
            order = message["payload"]["payload"]
            self.last[order["id"]] = order
            self.history.setdefault(order["id"], []).append(order["status"])
            self.updated.set()

    async def next_update(self, timeout: float) -> None:
        """Wait for the next update (or ``timeout`` seconds: the state read
        with REST may have moved on since)."""
        self.updated.clear()
        try:
            async with asyncio.timeout(timeout):
                await self.updated.wait()
        except TimeoutError:
            pass


@dataclass
class Soak:
    http: httpx.AsyncClient
    rng: random.Random
    prices: dict[str, float] = field(default_factory=lambda: dict(START))
    open_orders: dict[str, list[str]] = field(default_factory=dict)
    held: dict[str, list[str]] = field(default_factory=dict)
    answers: dict[int, int] = field(default_factory=dict)
    steps_seen: int = 0

    async def call(self, method: str, path: str, account: str, **kw: Any) -> Any:
        response = await self.http.request(
            method, BASE + path, params={"accountId": account}, **kw
        )
        self.answers[response.status_code] = (
            self.answers.get(response.status_code, 0) + 1
        )
        assert response.status_code < 500, (method, path, response.text)
        return response

    def qty(self, symbol: str) -> float:
        step = SYMBOLS[symbol]
        return round(self.rng.randint(1, 50) * step * 10, 6)

    def price_near(self, symbol: str, spread: float) -> float:
        return round(self.prices[symbol] * (1 + self.rng.uniform(-spread, spread)), 2)

    async def place(self, account: str) -> None:
        rng = self.rng
        symbol = rng.choice(list(SYMBOLS))
        side = rng.choice((1, -1))
        kind = rng.choice((MARKET, LIMIT, STOP, STOP_LIMIT))
        body: dict[str, Any] = {
            "symbol": symbol.split(":")[rng.randint(0, 1)]
            if rng.random() < 0.5
            else symbol,
            "type": kind,
            "side": side,
            "qty": self.qty(symbol),
            "duration": {"type": rng.choice(("DAY", "GTC"))},
            "currentQuotes": {"ask": 1, "bid": 1},
        }
        reference = self.prices[symbol]
        if kind in (LIMIT, STOP_LIMIT):
            body["limitPrice"] = reference = self.price_near(symbol, 0.03)
        if kind in (STOP, STOP_LIMIT):
            body["stopPrice"] = self.price_near(symbol, 0.03)
            reference = body.get("limitPrice", body["stopPrice"])
        if rng.random() < 0.5:
            body["takeProfit"] = round(
                reference * (1 + side * rng.uniform(-0.01, 0.05)), 2
            )
        if rng.random() < 0.5:
            body["stopLoss"] = round(
                reference * (1 - side * rng.uniform(-0.01, 0.05)), 2
            )
        headers = {"Idempotency-Key": f"k{rng.random()}"} if rng.random() < 0.3 else {}
        first = await self.call("POST", "/orders", account, json=body, headers=headers)
        if headers:
            again = await self.call(
                "POST", "/orders", account, json=body, headers=headers
            )
            assert (again.status_code, again.json()) == (
                first.status_code,
                first.json(),
            )

    async def cancel(self, account: str) -> None:
        if self.open_orders.get(account):
            order_id = self.rng.choice(self.open_orders[account])
            response = await self.call("DELETE", f"/orders/{order_id}", account)
            assert response.status_code in (200, 409), response.text

    async def modify(self, account: str) -> None:
        if not self.open_orders.get(account):
            return
        order_id = self.rng.choice(self.open_orders[account])
        snapshot = await self.snapshot(account)
        [order] = [o for o in snapshot["orders"] if o["id"] == order_id]
        change = dict(order)
        if order["limitPrice"] is not None:
            change["limitPrice"] = round(
                order["limitPrice"] * self.rng.uniform(0.98, 1.02), 2
            )
        if order["stopPrice"] is not None:
            change["stopPrice"] = round(
                order["stopPrice"] * self.rng.uniform(0.98, 1.02), 2
            )
        if order["parentId"] is None and self.rng.random() < 0.5:
            change["takeProfit"] = None
        response = await self.call("PUT", f"/orders/{order_id}", account, json=change)
        assert response.status_code in (200, 400, 409), response.text

    async def close(self, account: str) -> None:
        if self.held.get(account):
            symbol = self.rng.choice(self.held[account])
            response = await self.call("DELETE", f"/positions/{symbol}", account)
            assert response.status_code in (200, 400, 404, 409), response.text

    async def brackets(self, account: str) -> None:
        if not self.held.get(account):
            return
        symbol = self.rng.choice(self.held[account])
        body = {
            "takeProfit": self.price_near(symbol, 0.05),
            "stopLoss": self.price_near(symbol, 0.05),
        }
        response = await self.call(
            "PUT", f"/positions/{symbol}/brackets", account, json=body
        )
        assert response.status_code in (200, 400, 404, 409), response.text

    async def move(self) -> None:
        symbol = self.rng.choice(list(SYMBOLS))
        self.prices[symbol] = round(
            self.prices[symbol] * self.rng.uniform(0.97, 1.03), 2
        )
        response = await self.http.put(
            f"{BASE}/test/pin/{symbol}", params={"price": self.prices[symbol]}
        )
        assert response.status_code == 200

    async def snapshot(self, account: str) -> dict[str, Any]:
        return (await self.snapshots([account]))[account]

    async def snapshots(self, accounts: list[str]) -> dict[str, Any]:
        """The accounts' state, and whether the background step is alive: its
        count rose since the last snapshot (else wait for it, bounded)."""
        deadline = time.monotonic() + WAIT
        while True:
            response = await self.http.get(
                f"{BASE}/test/snapshots", params={"accounts": ",".join(accounts)}
            )
            assert response.status_code == 200
            result: dict[str, Any] = response.json()
            if result["steps"] > self.steps_seen:
                self.steps_seen = result["steps"]
                found: dict[str, Any] = result["accounts"]
                return found
            assert time.monotonic() < deadline, "the background step stopped"
            await asyncio.sleep(0.01)

    async def check(self, accounts: list[str], stream: Stream) -> None:
        states = await self.snapshots(accounts)
        for account in accounts:
            await self.check_one(account, states[account], stream)

    async def check_one(
        self, account: str, state: dict[str, Any], stream: Stream
    ) -> None:
        orders = {o["id"]: o for o in state["orders"]}
        filled_ids = {e["orderId"] for e in state["executions"]}
        for order in orders.values():
            assert (order["status"] == FILLED) == (order["id"] in filled_ids), order
        positions = {p["id"]: p for p in state["positions"]}
        for symbol in SYMBOLS:
            net = sum(
                e["side"] * e["qty"]
                for e in state["executions"]
                if e["symbol"] == symbol
            )
            held = positions.get(symbol)
            signed = held["side"] * held["qty"] if held else 0.0
            assert abs(net - signed) < 1e-6, (account, symbol, net, signed)
        money = state["account"]
        assert abs(money["equity"] - (money["balance"] + money["unrealizedPl"])) < 0.011
        pl = sum(p["pl"] for p in state["positions"])
        assert abs(money["unrealizedPl"] - pl) < 0.011 * (1 + len(positions))
        self.open_orders[account] = [
            o["id"] for o in orders.values() if o["status"] in (WORKING, INACTIVE)
        ]
        self.held[account] = list(positions)
        await self.check_stream(account, orders, stream)

    async def check_stream(
        self, account: str, orders: dict[str, dict[str, Any]], stream: Stream
    ) -> None:
        """The stream's last state of each order equals REST (bounded wait)."""
        deadline = time.monotonic() + WAIT
        while True:
            behind = [
                order_id
                for order_id, order in orders.items()
                if stream.last.get(order_id) != order
            ]
            if not behind:
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"orders stream of {account} never caught up with REST for "
                    f"{behind[:3]}: {[stream.last.get(i) for i in behind[:3]]} != "
                    f"{[orders[i] for i in behind[:3]]}"
                )
            await stream.next_update(0.05)
            orders = {o["id"]: o for o in (await self.snapshot(account))["orders"]}
        for order_id in orders:
            statuses = stream.history.get(order_id, [])
            assert not {FILLED, CANCELED} <= set(statuses), (order_id, statuses)
            finals = [s for s in statuses if s in FINAL]
            assert len(set(finals)) <= 1, (order_id, statuses)
            assert not finals or statuses[-1] in FINAL, (order_id, statuses)


async def soak(url: str) -> dict[int, int]:
    rng = random.Random(SEED)
    stream = Stream()
    async with (
        async_http_client(base_url=url, timeout=WAIT) as http,
        connect(url.replace("http://", "ws://") + BASE + "/ws", max_queue=None) as ws,
    ):
        reader = asyncio.create_task(stream.read(ws))
        for account in ACCOUNTS:
            await ws.send(
                json.dumps(
                    {"type": "orders.subscribe", "payload": {"accountId": account}}
                )
            )
        runner = Soak(http, rng)
        actions = {
            runner.place: 45,
            runner.cancel: 15,
            runner.modify: 12,
            runner.close: 5,
            runner.brackets: 8,
        }
        for _ in range(ACTIONS):
            if rng.random() < 0.15:
                await runner.move()
                touched = ACCOUNTS
            else:
                account = rng.choice(ACCOUNTS)
                action = rng.choices(list(actions), weights=list(actions.values()))[0]
                await action(account)
                touched = [account]
            await runner.check(touched, stream)
        reader.cancel()
        return runner.answers


def test_soak_keeps_every_invariant(server: str) -> None:
    answers = asyncio.run(soak(server))
    assert answers.get(201, 0) > 10 and not any(code >= 500 for code in answers)
