"""Datafeed REST behaviour through the app factory, as a client sees it."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from trading_api.app_factory import AppFactory

BASE = "/api/v1/datafeed"
YEAR = 365 * 86_400


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(AppFactory().create_app(["datafeed"])) as test_client:
        yield test_client


def get_bars(client: TestClient, **params: Any) -> Any:
    return client.get(f"{BASE}/bars", params=params)


def test_config_lists_resolutions_exchanges_and_types(client: TestClient) -> None:
    body = client.get(f"{BASE}/config").json()
    assert (
        "1" in body["supported_resolutions"] and "1M" in body["supported_resolutions"]
    )
    assert len(body["exchanges"]) >= 2 and len(body["symbols_types"]) >= 2
    assert body["supports_search"] is True


def test_search_filters_by_exchange_and_type(client: TestClient) -> None:
    params = {"user_input": "", "exchange": "BINANCE", "symbol_type": "crypto"}
    hits = client.get(f"{BASE}/search", params=params).json()
    assert {h["symbol"] for h in hits} == {"BTCUSD", "ETHUSD", "SOLUSD"}


def test_config_promises_time_and_time_is_served(client: TestClient) -> None:
    before = int(time.time())
    assert client.get(f"{BASE}/config").json()["supports_time"] is True
    response = client.get(f"{BASE}/time")
    assert response.status_code == 200
    assert before <= response.json() <= int(time.time())


def test_resolve_returns_tradingview_symbol_info(client: TestClient) -> None:
    info = client.get(f"{BASE}/resolve/NASDAQ:AAPL").json()
    assert (info["ticker"], info["session"], info["timezone"]) == (
        "NASDAQ:AAPL",
        "0930-1600:23456",
        "America/New_York",
    )
    assert info["has_intraday"] is True


def test_resolve_unknown_symbol_is_not_found(client: TestClient) -> None:
    response = client.get(f"{BASE}/resolve/NOPE")
    assert response.status_code == 404 and "NOPE" in response.json()["detail"]


@pytest.mark.parametrize(
    "resolution", ["1", "5", "15", "30", "60", "240", "1D", "1W", "1M"]
)
def test_every_advertised_resolution_serves_a_year_with_count_back(
    client: TestClient, resolution: str
) -> None:
    now = int(time.time())
    response = get_bars(
        client,
        symbol="AAPL",
        resolution=resolution,
        from_time=now - YEAR,
        to_time=now,
        count_back=10,
    )
    bars = response.json()["bars"]
    assert response.status_code == 200 and len(bars) == 10
    assert bars[-1]["time"] <= now * 1000 and bars[0]["time"] % 60_000 == 0


def test_bars_times_are_milliseconds_and_windows_are_seconds(
    client: TestClient,
) -> None:
    bars = get_bars(
        client,
        symbol="BTCUSD",
        resolution="60",
        from_time=1_700_000_000,
        to_time=1_700_010_000,
    )
    times = [b["time"] for b in bars.json()["bars"]]
    assert times == [1_700_002_800_000, 1_700_006_400_000]


def test_empty_window_has_no_data_and_the_previous_bar_time(
    client: TestClient,
) -> None:
    response = get_bars(
        client,
        symbol="BTCUSD",
        resolution="1D",
        from_time=1_700_000_000,  # 2023-11-14T22:13:20Z
        to_time=1_600_000_000,
    )
    assert response.status_code == 200
    assert response.json() == {
        "bars": [],
        "meta": {"noData": True, "nextTime": 1_699_920_000_000},  # 2023-11-14
    }


def test_future_window_points_at_the_live_bar(client: TestClient) -> None:
    now = int(time.time())
    body = get_bars(
        client,
        symbol="ETHUSD",
        resolution="1D",
        from_time=now + 2 * 86_400,
        to_time=now + 3 * 86_400,
    ).json()
    assert body["meta"]["noData"] is True
    assert body["meta"]["nextTime"] == now // 86_400 * 86_400_000  # today


def test_count_back_above_5000_is_refused_naming_the_field(
    client: TestClient,
) -> None:
    response = get_bars(
        client,
        symbol="AAPL",
        resolution="1",
        from_time=0,
        to_time=1_700_000_000,
        count_back=5001,
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "count_back"] and "5000" in error["msg"]


def test_schema_documents_the_count_back_maximum(client: TestClient) -> None:
    parameters = client.get(f"{BASE}/openapi.json").json()["paths"]["/bars"]["get"][
        "parameters"
    ]
    [count_back] = [p for p in parameters if p["name"] == "count_back"]
    assert {"maximum": 5000, "minimum": 1, "type": "integer"} in count_back["schema"][
        "anyOf"
    ]


def test_unknown_resolution_is_a_validation_error_naming_the_field(
    client: TestClient,
) -> None:
    response = get_bars(client, symbol="AAPL", resolution="7", from_time=0, to_time=1)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "resolution"]


def test_bars_of_unknown_symbol_are_not_found(client: TestClient) -> None:
    response = get_bars(client, symbol="NOPE", resolution="1D", from_time=0, to_time=1)
    assert response.status_code == 404


def test_quotes_answer_each_symbol_and_flag_unknown_ones(client: TestClient) -> None:
    body = client.post(
        f"{BASE}/quotes", json={"symbols": ["NASDAQ:AAPL", "AAPL", "NOPE"]}
    ).json()
    assert [(q["n"], q["s"]) for q in body] == [
        ("NASDAQ:AAPL", "ok"),
        ("AAPL", "ok"),
        ("NOPE", "error"),
    ]
    assert body[0]["v"]["lp"] > 0


def test_quotes_without_symbols_is_a_validation_error(client: TestClient) -> None:
    assert client.post(f"{BASE}/quotes", json={"symbols": []}).status_code == 422


def test_operation_ids_name_the_module_and_the_handler(client: TestClient) -> None:
    paths = client.get(f"{BASE}/openapi.json").json()["paths"]
    assert paths["/bars"]["get"]["operationId"] == "datafeed_get_bars"
    assert "404" in paths["/resolve/{symbol}"]["get"]["responses"]


def test_datafeed_only_app_has_no_broker_paths(client: TestClient) -> None:
    merged = client.get("/api/v1/openapi.json").json()["paths"]
    assert any(p.startswith(f"{BASE}/") for p in merged)
    assert not any(p.startswith("/api/v1/broker") for p in merged)
    assert client.get("/api/v1/broker/orders").status_code == 404


# A module's own fuzzing is its quick check: generated cases only. The coverage
# phase (boundary values of every parameter, built when the tests are collected,
# in each pytest-xdist worker) runs in the contract gate, tests/test_contract.py,
# over this module's document and the merged one, with up to 15 examples
# per operation and every check; here 5 examples per operation, positive and
# negative, look for a server error at every `trading test MODULE`.
QUICK = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
fuzzed = schemathesis.openapi.from_asgi(
    f"{BASE}/openapi.json", AppFactory().create_app(["datafeed"]), config=QUICK
)


@fuzzed.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_produces_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])
