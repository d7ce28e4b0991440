"""Request bodies, query parameters and subscription requests take exactly the
JSON types the published schema says: no lax coercion.

For every body model the server's verdict (422 or not) is compared with the
published schema's (jsonschema validation against the OpenAPI document) over
hand-written edge cases: each field of a valid body replaced by a value of
another JSON type, or by a value only pydantic's lax mode would take.
"""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from trading_api.app_factory import AppFactory, ModularFastAPI
from trading_api.shared.auth.testing import sign_in
from trading_api.shared.settings import Settings
from trading_api.shared.testing import async_http_client

ORDER = {"symbol": "AAPL", "type": 2, "side": 1, "qty": 1}
LIMIT = {"symbol": "BTCUSD", "type": 1, "side": -1, "qty": 0.5, "limitPrice": 70000}
TRADINGVIEW = {
    **LIMIT,
    "takeProfit": 60000,
    "stopLoss": 80000.5,
    "duration": {"type": "GTC", "datetime": 1_718_000_000_000},
    "seenPrice": 70000.25,
    "isClose": False,
}
DAY = {"type": "DAY"}
LEVERAGE = {"symbol": "AAPL", "orderType": 2, "side": 1, "leverage": 2}

# (method, path, schema component, valid bodies)
BODIES = [
    ("POST", "/api/v1/broker/orders/preview", "PreOrder", [ORDER, TRADINGVIEW]),
    ("POST", "/api/v1/broker/orders", "PreOrder", [ORDER]),
    (
        "PUT",
        "/api/v1/broker/orders/NO-SUCH-ORDER",
        "OrderModification",
        [{"qty": 2, "type": 1, "side": 1, "limitPrice": 5, "duration": DAY}],
    ),
    (
        "PUT",
        "/api/v1/broker/positions/AAPL/brackets",
        "Brackets",
        [{"takeProfit": 500, "stopLoss": 1}],
    ),
    ("PUT", "/api/v1/broker/leverage/set", "LeverageSetParams", [LEVERAGE]),
    ("POST", "/api/v1/broker/leverage/preview", "LeveragePreviewParams", [LEVERAGE]),
    ("POST", "/api/v1/datafeed/quotes", "QuotesRequest", [{"symbols": ["AAPL"]}]),
]
ODD_VALUES: list[Any] = [
    True,
    False,
    None,
    0,
    1,
    2,
    -1,
    2.0,
    2.5,
    "1",
    "2",
    "2.5",
    "true",
    "GTC",
    "",
    [],
    [1],
    ["AAPL"],
    {},
    {"type": "DAY"},
    {"type": "day"},
    {"type": "DAY", "datetime": "5"},
    {"type": "DAY", "datetime": 5.5},
    {"type": "DAY", "datetime": 5.0},
    {"type": "DAY", "datetime": True},
]
"""Values put in place of each field: other JSON types, and text spelling a
number, an enum value or a boolean (what lax coercion would read)."""


@pytest.fixture(scope="module")
def app() -> ModularFastAPI:
    # Signed in: the broker's 401 comes before the body is read, and this file
    # is about the body.
    return sign_in(AppFactory(settings=Settings()).create_app())


@pytest.fixture(scope="module")
def client(app: ModularFastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    found: dict[str, Any] = client.get("/api/v1/openapi.json").json()
    return found


def schema_accepts(document: dict[str, Any], component: str, body: Any) -> bool:
    return not list(schema_validator(document, component).iter_errors(body))


_VALIDATORS: dict[tuple[int, str], Draft202012Validator] = {}


def schema_validator(document: dict[str, Any], component: str) -> Draft202012Validator:
    """The JSON Schema validator of one component of ``document``, made once."""
    key = (id(document), component)
    if key not in _VALIDATORS:
        schema = {
            **document["components"]["schemas"][component],
            "components": document["components"],
        }
        _VALIDATORS[key] = Draft202012Validator(schema)
    return _VALIDATORS[key]


def send_all(
    client: TestClient, method: str, path: str, bodies: list[Any]
) -> list[httpx.Response]:
    """``method path`` with each JSON body, answered by the client's app on the
    client's own event loop, one after another in one hop to it (the client's
    ``request`` hops threads for each)."""

    async def send() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=client.app)
        async with async_http_client(
            transport=transport, base_url=str(client.base_url)
        ) as http:
            return [await http.request(method, path, json=body) for body in bodies]

    return client.portal.call(send)


def edge_cases(valid: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield valid
    for field in valid:
        for value in ODD_VALUES:
            yield {**valid, field: value}
        if isinstance(valid[field], list):
            for value in ODD_VALUES:
                yield {**valid, field: [value]}
        if isinstance(valid[field], dict):
            for key in valid[field]:
                for value in ODD_VALUES:
                    yield {**valid, field: {**valid[field], key: value}}


@pytest.mark.parametrize(
    ("method", "path", "component", "valid"),
    [pytest.param(*body, id=f"{body[0]} {body[1]}") for body in BODIES],
)
def test_server_refuses_exactly_what_the_published_schema_refuses(
    client: TestClient,
    document: dict[str, Any],
    method: str,
    path: str,
    component: str,
    valid: list[dict[str, Any]],
) -> None:
    disagreements = []
    checked = 0
    for base in valid:
        assert schema_accepts(document, component, base), base
        bodies = list(edge_cases(base))
        answers = send_all(client, method, path, bodies)
        for body, answer in zip(bodies, answers, strict=True):
            assert answer.status_code < 500, (body, answer.text)
            schema_says = schema_accepts(document, component, body)
            server_says = answer.status_code != 422
            checked += 1
            if schema_says != server_says:
                disagreements.append((body, schema_says, answer.text[:200]))
    assert checked > 50
    assert not disagreements, "\n".join(map(repr, disagreements))


@pytest.mark.parametrize(
    ("field", "value"),
    [("qty", True), ("qty", "1"), ("type", "2"), ("side", 1.5), ("isClose", 1)],
)
def test_lax_values_are_refused_naming_the_field(
    client: TestClient, field: str, value: object
) -> None:
    answer = client.post("/api/v1/broker/orders", json={**ORDER, field: value})
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", field]


def test_integral_number_is_an_integer_as_json_schema_says(client: TestClient) -> None:
    answer = client.post("/api/v1/broker/orders/preview", json={**ORDER, "type": 2.0})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/datafeed/bars", {"count_back": "true"}),
        ("/api/v1/datafeed/bars", {"count_back": " 5"}),
        ("/api/v1/datafeed/bars", {"count_back": "1_0"}),
        ("/api/v1/datafeed/bars", {"to_time": "+1700000000"}),
        ("/api/v1/datafeed/bars", {"to_time": "01700000000"}),
        ("/api/v1/datafeed/search", {"max_results": "0x10"}),
        ("/api/v1/broker/leverage/info", {"orderType": "02"}),
        ("/api/v1/broker/leverage/info", {"side": "+1"}),
        ("/api/v1/broker/positions/KO", {"amount": "nan"}),
        ("/api/v1/broker/positions/KO", {"amount": "1_0"}),
        ("/api/v1/broker/positions/KO", {"amount": "true"}),
    ],
)
def test_query_text_must_spell_the_json_value(
    client: TestClient, path: str, params: dict[str, str]
) -> None:
    query = {**QUERIES[path], **params}
    method = "DELETE" if "positions" in path else "GET"
    answer = client.request(method, path, params=query)
    assert answer.status_code == 422, answer.text
    [name] = params
    [error] = answer.json()["detail"]
    assert error["loc"] == ["query", name]
    assert error["input"] == params[name]


QUERIES: dict[str, dict[str, str]] = {
    "/api/v1/datafeed/bars": {
        "symbol": "AAPL",
        "resolution": "1D",
        "from_time": "1700000000",
        "to_time": "1700086400",
    },
    "/api/v1/datafeed/search": {},
    "/api/v1/broker/leverage/info": {"symbol": "AAPL", "orderType": "2", "side": "1"},
    # A symbol no test here trades: the AAPL orders above fill whenever its
    # market is open, and a position would turn the 404 below into a close.
    "/api/v1/broker/positions/KO": {},
}


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/v1/datafeed/bars", {"count_back": "5"}, 200),
        ("/api/v1/datafeed/bars", {"count_back": "5.0"}, 200),
        ("/api/v1/broker/leverage/info", {"orderType": "2", "side": "-1"}, 200),
        ("/api/v1/broker/positions/KO", {"amount": "1e0"}, 404),
    ],
)
def test_query_text_spelling_its_value_is_read(
    client: TestClient, path: str, params: dict[str, str], status: int
) -> None:
    method = "DELETE" if "positions" in path else "GET"
    answer = client.request(method, path, params={**QUERIES[path], **params})
    assert answer.status_code == status, answer.text


def strict_models(model: type[BaseModel]) -> Iterator[tuple[str, bool]]:
    """Each model reachable from ``model``'s fields, with its strictness."""
    yield model.__name__, bool(model.model_config.get("strict"))
    for field in model.model_fields.values():
        for arg in (field.annotation, *getattr(field.annotation, "__args__", ())):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                yield from strict_models(arg)


def test_every_model_a_client_sends_is_strict(app: ModularFastAPI) -> None:
    sent: set[type[BaseModel]] = set()
    for module in app.modules:
        for router in module.api_routers:
            for route in router.routes:
                body = getattr(route, "body_field", None)
                if body is not None:
                    sent.add(body.field_info.annotation)
        for ws_router in module.ws_routers:
            sent.add(ws_router.request_model)
    found = {name: strict for model in sent for name, strict in strict_models(model)}
    assert {"PreOrder", "OrderDuration", "QuotesSubscriptionRequest"} <= set(found)
    assert [name for name, strict in found.items() if not strict] == []
