"""Broker REST behaviour through the app factory, as a client sees it."""

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from trading_api.app_factory import AppFactory
from trading_api.modules.broker.service import BrokerService
from trading_api.modules.broker.tests.support import stepped_app
from trading_api.shared.auth.testing import sign_in
from trading_api.shared.storage.testing import MigratedSQLite

BASE = "/api/v1/broker"
MARKET, LIMIT = 2, 1
BUY, SELL = 1, -1
FILLED, CANCELED, WORKING = 2, 1, 6


@pytest.fixture(scope="module")
def served(
    migrated_database: MigratedSQLite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, BrokerService]]:
    """The broker app on its own fresh database, started once for this file.

    Building and starting an app, and its first requests, cost far more than a
    test's own requests, so the tests share one; each keeps to accounts of its
    own (``client``), the app's default account is used by one test only, and
    matching runs only when a test steps it.
    """
    url = migrated_database.copy(tmp_path_factory.mktemp("broker-api") / "broker.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", url)
        app, service = stepped_app()
        with TestClient(app) as test_client:
            yield test_client, service


@pytest.fixture
def broker(served: tuple[TestClient, BrokerService]) -> BrokerService:
    """The app's broker, stepped only by the test, AAPL at 100."""
    service = served[1]
    service.set_price("AAPL", 100.0)
    return service


accounts = itertools.count(1)


@pytest.fixture
def account() -> str:
    """An account no other test uses."""
    return f"API-{next(accounts)}"


@pytest.fixture
def client(
    served: tuple[TestClient, BrokerService], broker: BrokerService, account: str
) -> Iterator[TestClient]:
    """The app's client, on this test's own account unless a call names one."""
    test_client = served[0]
    test_client.params = httpx.QueryParams({"accountId": account})
    yield test_client
    test_client.params = httpx.QueryParams()


@pytest.fixture
def default_client(
    served: tuple[TestClient, BrokerService], broker: BrokerService
) -> TestClient:
    """The app's client sending no account: requests go to ``DEMO-1``."""
    test_client = served[0]
    test_client.params = httpx.QueryParams()
    return test_client


def place(client: TestClient, account: str | None = None, **order: Any) -> Any:
    body = {"symbol": "AAPL", "type": MARKET, "side": BUY, "qty": 10, **order}
    params = {"accountId": account} if account else {}
    return client.post(f"{BASE}/orders", json=body, params=params)


def orders(client: TestClient, account: str | None = None) -> list[dict[str, Any]]:
    params = {"accountId": account} if account else {}
    result: list[dict[str, Any]] = client.get(f"{BASE}/orders", params=params).json()
    return result


def test_place_market_order_returns_its_id_and_fills(client: TestClient) -> None:
    response = place(client)
    assert response.status_code == 201
    [order] = orders(client)
    assert order["id"] == response.json()["orderId"]
    assert (order["status"], order["avgPrice"], order["filledQty"]) == (
        FILLED,
        100.0,
        10,
    )


def test_wire_fields_use_tradingview_camel_case(client: TestClient) -> None:
    place(client, type=LIMIT, limitPrice=90.0, takeProfit=95.0)
    order = orders(client)[0]
    assert {
        "limitPrice",
        "stopPrice",
        "takeProfit",
        "parentId",
        "updateTime",
    } <= order.keys()


@pytest.mark.parametrize(
    ("order", "field"),
    [
        ({"qty": 0}, "qty"),
        ({"qty": -3}, "qty"),
        ({"type": 9}, "type"),
        ({"side": 0}, "side"),
    ],
)
def test_invalid_order_is_a_validation_error_naming_the_field(
    client: TestClient, order: dict[str, Any], field: str
) -> None:
    response = place(client, **order)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field


def test_limit_order_without_price_is_a_validation_error(client: TestClient) -> None:
    response = place(client, type=LIMIT)
    assert response.status_code == 422 and "limitPrice is required" in response.text


def test_bracket_on_the_wrong_side_is_a_bad_request(client: TestClient) -> None:
    response = place(client, takeProfit=90.0)
    assert response.status_code == 400 and "takeProfit" in response.json()["detail"]


def test_order_beyond_margin_is_rejected_with_its_id(client: TestClient) -> None:
    response = place(client, qty=5_000)
    assert (
        response.status_code == 400
        and "insufficient margin" in response.json()["detail"]
    )
    assert orders(client)[0]["status"] == 5


def test_cancel_filled_order_is_conflict(client: TestClient) -> None:
    order_id = place(client).json()["orderId"]
    response = client.delete(f"{BASE}/orders/{order_id}")
    assert response.status_code == 409 and "filled" in response.json()["detail"]


def test_cancel_working_order_returns_it_cancelled(client: TestClient) -> None:
    order_id = place(client, type=LIMIT, limitPrice=90.0).json()["orderId"]
    assert client.delete(f"{BASE}/orders/{order_id}").json()["status"] == CANCELED


def test_unknown_order_is_not_found(client: TestClient) -> None:
    assert client.delete(f"{BASE}/orders/999").status_code == 404
    assert client.put(f"{BASE}/orders/999", json={"qty": 1}).status_code == 404


def test_modify_moves_a_working_limit(client: TestClient) -> None:
    order_id = place(client, type=LIMIT, limitPrice=90.0).json()["orderId"]
    response = client.put(f"{BASE}/orders/{order_id}", json={"limitPrice": 95.0})
    assert (response.status_code, response.json()["limitPrice"]) == (200, 95.0)


def test_resting_order_placed_over_rest_fills_when_the_price_crosses(
    client: TestClient, broker: BrokerService
) -> None:
    place(client, type=LIMIT, limitPrice=95.0)
    broker.set_price("AAPL", 94.0)
    client.portal.call(broker.step)  # type: ignore[union-attr]
    assert orders(client)[0]["status"] == FILLED


def test_partial_close_then_full_close(client: TestClient) -> None:
    place(client)
    partial = client.delete(f"{BASE}/positions/AAPL", params={"amount": 4})
    assert partial.status_code == 200 and "orderId" in partial.json()
    assert client.get(f"{BASE}/positions").json()[0]["qty"] == 6
    client.delete(f"{BASE}/positions/AAPL")
    assert client.get(f"{BASE}/positions").json() == []


def test_close_more_than_held_is_a_bad_request(client: TestClient) -> None:
    place(client)
    assert (
        client.delete(f"{BASE}/positions/AAPL", params={"amount": 11}).status_code
        == 400
    )


def test_unknown_position_is_not_found(client: TestClient) -> None:
    assert client.delete(f"{BASE}/positions/AAPL").status_code == 404
    assert client.put(f"{BASE}/positions/AAPL/brackets", json={}).status_code == 404


def test_position_brackets_are_set_and_reported(client: TestClient) -> None:
    place(client)
    response = client.put(
        f"{BASE}/positions/AAPL/brackets", json={"takeProfit": 110, "stopLoss": 95}
    )
    assert (response.json()["takeProfit"], response.json()["stopLoss"]) == (110, 95)
    legs = [o for o in orders(client) if o["parentId"] == "NASDAQ:AAPL"]
    assert sorted((o["type"], o["status"]) for o in legs) == [
        (1, WORKING),
        (3, WORKING),
    ]


def test_executions_and_account_reflect_a_round_trip(
    default_client: TestClient, broker: BrokerService
) -> None:
    client = default_client
    place(client)
    broker.set_price("AAPL", 103.0)
    client.portal.call(broker.step)  # type: ignore[union-attr]
    place(client, side=SELL)
    fills = client.get(f"{BASE}/executions/AAPL").json()
    account = client.get(f"{BASE}/account").json()
    assert [(f["price"], f["side"]) for f in fills] == [(100.0, BUY), (103.0, SELL)]
    assert (account["id"], account["balance"], account["realizedPl"]) == (
        "DEMO-1",
        100_030.0,
        30.0,
    )


def test_accounts_are_independent(client: TestClient, account: str) -> None:
    alice, bob = f"{account}-ALICE", f"{account}-BOB"
    order_id = place(client, account=alice).json()["orderId"]
    assert orders(client, bob) == []
    assert (
        client.delete(
            f"{BASE}/orders/{order_id}", params={"accountId": bob}
        ).status_code
        == 404
    )


def test_invalid_account_id_is_a_validation_error(client: TestClient) -> None:
    assert (
        client.get(f"{BASE}/orders", params={"accountId": "no spaces"}).status_code
        == 422
    )


def test_leverage_info_set_and_preview(client: TestClient) -> None:
    params = {"symbol": "AAPL", "orderType": MARKET, "side": BUY}
    assert client.put(
        f"{BASE}/leverage/set", json={**params, "leverage": 5}
    ).json() == {"leverage": 5}
    info = client.get(f"{BASE}/leverage/info", params=params).json()
    preview = client.post(
        f"{BASE}/leverage/preview", json={**params, "leverage": 50}
    ).json()
    assert (info["leverage"], info["max"]) == (5, 100)
    assert preview["warnings"] and not preview["errors"]


def test_leverage_out_of_range_is_refused_as_the_schema_says(
    client: TestClient,
) -> None:
    body = {"symbol": "AAPL", "orderType": MARKET, "side": BUY, "leverage": 500}
    response = client.put(f"{BASE}/leverage/set", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "leverage"]


def test_preview_shows_cost_without_placing(client: TestClient) -> None:
    body = {"symbol": "AAPL", "type": MARKET, "side": BUY, "qty": 10}
    preview = client.post(f"{BASE}/orders/preview", json=body).json()
    rows = {r["title"]: r["value"] for r in preview["sections"][0]["rows"]}
    assert rows["Estimated value"] == "1000.00 USD" and orders(client) == []


def test_error_responses_are_declared_in_openapi(client: TestClient) -> None:
    paths = client.get(f"{BASE}/openapi.json").json()["paths"]
    assert {"404", "409"} <= paths["/orders/{order_id}"]["delete"]["responses"].keys()
    assert paths["/orders"]["post"]["operationId"] == "broker_place_order"


def test_broker_only_app_has_no_datafeed_paths(client: TestClient) -> None:
    merged = client.get("/api/v1/openapi.json").json()["paths"]
    assert f"{BASE}/orders" in merged
    assert not any(p.startswith("/api/v1/datafeed") for p in merged)


# The app serves its schema without starting (no database is opened to load it).
# schemathesis starts it at the first call, on the database of the
# ``fuzzed_database`` fixture, and keeps it running for every later case: a case
# costs its generation and one in-process request.
# A module's own fuzzing is its quick check: generated cases only. The coverage
# phase (boundary values of every parameter, built when the tests are collected,
# in each pytest-xdist worker) runs in the contract gate, tests/test_contract.py,
# over this module's document and the merged one, with up to 15 examples
# per operation and every check; here 5 examples per operation, positive and
# negative, look for a server error at every `trading test MODULE`.
QUICK = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
fuzzed_app = sign_in(AppFactory().create_app(["broker"]))
fuzzed = schemathesis.openapi.from_dict(
    fuzzed_app.module_apps["broker"].openapi(), config=QUICK
)
fuzzed.app = fuzzed_app
fuzzed.location = f"{BASE}/openapi.json"


@pytest.fixture(scope="module")
def fuzzed_database(
    migrated_database: MigratedSQLite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """A fresh database for the fuzzed app, which no other test uses."""
    url = migrated_database.copy(tmp_path_factory.mktemp("broker-fuzzed") / "broker.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", url)
        yield


@fuzzed.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.usefixtures("fuzzed_database")
def test_no_input_produces_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])


def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer(
    client: TestClient,
) -> None:
    body = {"symbol": "AAPL", "type": MARKET, "side": BUY, "qty": 10}
    headers = {"Idempotency-Key": "order-7"}
    first = client.post(f"{BASE}/orders", json=body, headers=headers)
    again = client.post(f"{BASE}/orders", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(orders(client)) == 1


def test_an_idempotency_key_reused_for_another_order_is_a_conflict(
    client: TestClient,
) -> None:
    body = {"symbol": "AAPL", "type": MARKET, "side": BUY, "qty": 10}
    headers = {"Idempotency-Key": "order-7"}
    client.post(f"{BASE}/orders", json=body, headers=headers)
    response = client.post(f"{BASE}/orders", json={**body, "qty": 11}, headers=headers)
    assert response.status_code == 409
    assert "already used for a different order" in response.json()["detail"]
    assert len(orders(client)) == 1


def test_tradingview_order_object_modifies_an_order(client: TestClient) -> None:
    order_id = place(
        client, type=LIMIT, limitPrice=90.0, takeProfit=95.0, stopLoss=85.0
    ).json()["orderId"]
    [order] = [o for o in orders(client) if o["id"] == order_id]
    order.update(limitPrice=91.0, stopLoss=None, customFields={"a": 1})
    response = client.put(f"{BASE}/orders/{order_id}", json=order)
    assert response.status_code == 200, response.text
    assert (response.json()["limitPrice"], response.json()["stopLoss"]) == (91.0, None)
    legs = [o for o in orders(client) if o["parentId"] == order_id]
    assert sorted((o["type"], o["status"]) for o in legs) == [(1, 3), (3, CANCELED)]
