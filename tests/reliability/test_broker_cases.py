"""The broker under the cases that used to break it, on a real uvicorn.

Crypto trades around the clock, so these run at any hour against the real
market clock; prices are pinned with market overrides set on the server's
event loop. One test-only route sets an override without matching anything, so
only the module's background step can fill what the new price reaches: a fill
after such a move proves the step is alive.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from trading_api.app_factory import AppFactory
from trading_api.modules.broker.service import BrokerService
from trading_api.modules.broker.settings import BrokerSettings
from trading_api.shared.auth.testing import sign_in
from trading_api.shared.testing import http_client, serve

BASE = "/api/v1/broker"
ETH = "BINANCE:ETHUSD"
LIMIT, MARKET, STOP = 1, 2, 3
BUY, SELL = 1, -1
CANCELED, FILLED, WORKING = 1, 2, 6
WAIT = 10.0


@dataclass
class Broker:
    """A served broker app and a client for it."""

    url: str
    service: BrokerService
    http: httpx.Client

    def call(self, method: str, path: str, account: str, **kwargs: Any) -> Any:
        response = self.http.request(
            method, f"{BASE}{path}", params={"accountId": account}, **kwargs
        )
        assert response.status_code < 500, response.text
        return response

    def place(self, account: str, **order: Any) -> httpx.Response:
        body = {"symbol": "ETHUSD", "type": MARKET, "side": BUY, "qty": 1, **order}
        response: httpx.Response = self.call("POST", "/orders", account, json=body)
        return response

    def orders(self, account: str) -> dict[str, dict[str, Any]]:
        return {o["id"]: o for o in self.call("GET", "/orders", account).json()}

    def pin(self, symbol: str, price: float) -> None:
        """Override a price from now on; nothing is matched by this call."""
        response = self.http.put(f"{BASE}/test/pin/{symbol}", params={"price": price})
        assert response.status_code == 200, response.text

    def steps(self) -> int:
        return int(self.http.get(f"{BASE}/test/steps").json())

    def eventually(self, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT
        while not check():
            assert time.monotonic() < deadline, "not reached in time"
            time.sleep(0.02)


def serve_broker(settings: BrokerSettings | None = None) -> Iterator[Broker]:
    app = sign_in(AppFactory().create_app(["broker"]))
    [module] = [m for m in app.modules if m.name == "broker"]
    module.simulation_interval = 0.05
    service: BrokerService = module.service
    if settings is not None:
        service.engine.settings = settings
    service.engine.market.scenario.set_price(ETH, 100.0, at=0)

    async def pin(symbol: str, price: float) -> None:
        market = service.market
        market.scenario.set_price(symbol, price, at=market.now())

    async def steps() -> int:
        return service.engine.steps

    broker_app = app.module_apps["broker"]
    broker_app.add_api_route("/test/pin/{symbol}", pin, methods=["PUT"])
    broker_app.add_api_route("/test/steps", steps, methods=["GET"])
    with serve(app) as url, http_client(base_url=url, timeout=WAIT) as http:
        yield Broker(url, service, http)


@pytest.fixture
def broker() -> Iterator[Broker]:
    yield from serve_broker()


def assert_flat_and_whole(broker: Broker, account: str) -> None:
    """No position, no money made or lost, executions netting to zero."""
    assert broker.call("GET", "/positions", account).json() == []
    info = broker.call("GET", "/account", account).json()
    assert (info["balance"], info["equity"], info["unrealizedPl"]) == (
        100_000,
        100_000,
        0,
    )
    fills = broker.call("GET", "/executions/ETHUSD", account).json()
    assert sum(f["side"] * f["qty"] for f in fills) == 0 and len(fills) == 2


def assert_step_alive(broker: Broker) -> None:
    """A resting order fills after a price move that only the step can see."""
    before = broker.steps()
    resting = broker.place("ALIVE", type=LIMIT, limitPrice=90).json()["orderId"]
    broker.pin(ETH, 89.0)
    broker.eventually(lambda: broker.orders("ALIVE")[resting]["status"] == FILLED)
    assert broker.steps() > before


def test_stop_entry_whose_take_profit_is_through_the_market_over_rest(
    broker: Broker,
) -> None:
    broker.pin(ETH, 112.0)
    response = broker.place("A", type=STOP, stopPrice=105, takeProfit=110, stopLoss=95)
    assert response.status_code == 201, response.text
    orders = broker.orders("A")
    parent = orders[response.json()["orderId"]]
    legs = sorted((o["type"], o["status"]) for o in orders.values() if o["parentId"])
    assert (parent["status"], parent["avgPrice"]) == (FILLED, 112)
    assert legs == [(LIMIT, FILLED), (STOP, CANCELED)]
    assert_flat_and_whole(broker, "A")
    assert_step_alive(broker)


def test_stop_entry_set_off_by_the_background_step(broker: Broker) -> None:
    response = broker.place("A", type=STOP, stopPrice=105, takeProfit=110, stopLoss=95)
    assert response.status_code == 201
    broker.pin(ETH, 112.0)
    broker.eventually(
        lambda: {o["status"] for o in broker.orders("A").values()} == {FILLED, CANCELED}
    )
    assert_flat_and_whole(broker, "A")
    broker.pin(ETH, 100.0)
    assert_step_alive(broker)


def test_buy_limit_above_the_market_with_a_stop_between(broker: Broker) -> None:
    response = broker.place("A", type=LIMIT, limitPrice=105, stopLoss=102)
    assert response.status_code == 201, response.text
    statuses = sorted(
        (o["parentId"] is not None, o["status"], o["avgPrice"])
        for o in broker.orders("A").values()
    )
    assert statuses == [(False, FILLED, 100), (True, FILLED, 100)]
    assert_flat_and_whole(broker, "A")
    assert_step_alive(broker)


def test_a_retried_order_with_its_key_is_placed_once(broker: Broker) -> None:
    key = {"Idempotency-Key": "retry-1"}
    body = {"symbol": "ETHUSD", "type": MARKET, "side": BUY, "qty": 2}
    answers = [
        broker.call("POST", "/orders", "A", json=body, headers=key) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert len({a.json()["orderId"] for a in answers}) == 1
    assert [p["qty"] for p in broker.call("GET", "/positions", "A").json()] == [2]
    other = broker.call("POST", "/orders", "A", json={**body, "qty": 3}, headers=key)
    assert other.status_code == 409 and "retry-1" in other.json()["detail"]


def test_open_orders_and_accounts_past_their_limits_are_refused() -> None:
    limits = BrokerSettings(max_accounts=2, max_open_orders=2)
    for broker in serve_broker(limits):
        assert broker.place("A", type=LIMIT, limitPrice=50).status_code == 201
        assert broker.place("A", type=LIMIT, limitPrice=51).status_code == 201
        refused = broker.place("A", type=LIMIT, limitPrice=52)
        assert refused.status_code == 409
        assert "BROKER_MAX_OPEN_ORDERS" in refused.json()["detail"]
        assert len(broker.orders("A")) == 2
        assert broker.place("B").status_code == 201
        assert broker.call("GET", "/orders", "NOBODY").json() == []
        stranger = broker.place("C")
        assert stranger.status_code == 409
        assert "BROKER_MAX_ACCOUNTS" in stranger.json()["detail"]
        assert broker.orders("C") == {}


def test_unknown_symbol_and_dust_quantity_are_refused_by_name(broker: Broker) -> None:
    unknown = broker.place("A", symbol="NOT_A_SYMBOL")
    dust = broker.place("A", qty=1e-9)
    assert (unknown.status_code, dust.status_code) == (400, 400)
    assert "NOT_A_SYMBOL" in unknown.json()["detail"]
    assert "minimum" in dust.json()["detail"]
    assert broker.orders("A") == {}


def test_a_failing_matching_step_is_reported_and_the_next_one_runs() -> None:
    app = sign_in(AppFactory().create_app(["broker"]))
    [module] = [m for m in app.modules if m.name == "broker"]
    module.simulation_interval = 0.02
    service: BrokerService = module.service
    calls: list[int] = []

    async def flaky_step() -> None:
        calls.append(1)
        if len(calls) <= 50:
            raise RuntimeError("market data unavailable")
        await BrokerService.step(service)

    service.step = flaky_step  # type: ignore[method-assign]
    with serve(app) as url, http_client(base_url=url, timeout=WAIT) as http:
        deadline = time.monotonic() + WAIT
        while (sick := http.get(f"{BASE}/health")).status_code != 503:
            assert time.monotonic() < deadline, "the failures were never reported"
            time.sleep(0.01)
        while (well := http.get(f"{BASE}/health")).status_code != 200:
            assert time.monotonic() < deadline, "the step never recovered"
            time.sleep(0.01)
    assert "broker-matching" in sick.text and "market data unavailable" in sick.text
    assert well.json()["status"] == "ok" and len(calls) > 50
