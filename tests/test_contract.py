"""The contract gate: schemathesis, every check, over every published OpenAPI.

The merged document is fuzzed in process against the ASGI app: examples,
coverage and fuzzing phases, positive and negative data, up to 15 generated
cases per operation, every built-in check (server errors, undocumented
statuses, response schemas and headers, schema-valid data accepted,
schema-invalid data refused, 405 and ``Allow``...). It holds every module's
operations with the same schemas, so each module's own document, which says
the same of the same handlers under its mount, gets the examples phase and 5
generated cases per operation, every check: enough to show it describes what
its mount serves, without fuzzing each handler twice as deep. The seed is
fixed, so a failure reproduces.
"""

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from schemathesis.config import SchemathesisConfig

from trading_api.app_factory import AppFactory
from trading_api.shared.auth.testing import dev_token
from trading_api.shared.settings import Settings

SEED = 20_240_601
MAX_EXAMPLES = 15
MODULE_EXAMPLES = 5
DATA_RULES = [
    "broker_place_order",
    "broker_preview_order",
    "broker_modify_order",
    "broker_close_position",
    "broker_edit_position_brackets",
    "broker_list_executions",
    "broker_get_leverage_info",
    "broker_set_leverage",
    "broker_preview_leverage",
]
"""Operations whose documented 400 enforces what no JSON schema can say: a rule
against data, not shape. The symbol catalogue (``0`` is a well-formed symbol
that does not exist, as an unknown id is a 404), the live market (a take-profit
on the losing side of the price), the symbol's quantity step, the account's
state (closing more than is held). For these alone a schema-valid request may
get that 400; everywhere else schema-valid data must be accepted."""

ACCOUNT = "DEMO-1"
TOKEN = dev_token("contract", (ACCOUNT,))
"""A real development token: the gate runs with authentication on, as the account
it owns (any other account is a 403, which says nothing about the broker)."""
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def gate_config(*, coverage: bool, examples: int) -> SchemathesisConfig:
    """The gate's settings: ``coverage`` runs schemathesis's coverage phase,
    ``examples`` bounds the generated cases per operation."""
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": AUTH,
            "parameters": {"query.accountId": ACCOUNT},
            "checks": {"enabled": True},
            "generation": {"mode": "all", "max-examples": examples},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": coverage},
                "fuzzing": {"enabled": True},
            },
            "operations": [
                {
                    "include-operation-id": DATA_RULES,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "400", "404", "409"]
                        }
                    },
                }
            ],
        }
    )


app = AppFactory(settings=Settings()).create_app()
# The coverage phase's cases (boundary and invalid values of every parameter
# and body) are built when the tests are collected, in every pytest-xdist
# worker: once, for the merged document.
merged = schemathesis.openapi.from_asgi(
    "/api/v1/openapi.json",
    app,
    config=gate_config(coverage=True, examples=MAX_EXAMPLES),
)
modules = {
    name: schemathesis.openapi.from_asgi(
        f"/api/v1/{name}/openapi.json",
        app,
        config=gate_config(coverage=False, examples=MODULE_EXAMPLES),
    )
    for name in app.module_apps
}
HYPOTHESIS = settings(deadline=None, suppress_health_check=list(HealthCheck))


@merged.parametrize()
@HYPOTHESIS
def test_merged_openapi_is_exact(case: schemathesis.Case) -> None:
    case.call_and_validate()


@schemathesis.pytest.parametrize(**modules)
@HYPOTHESIS
def test_module_openapi_is_exact(case: schemathesis.Case) -> None:
    case.call_and_validate()


def component(name: str) -> dict[str, object]:
    schema: dict[str, object] = merged.raw_schema["components"]["schemas"][name]
    return schema


@pytest.mark.parametrize(
    ("enum", "names"),
    [
        ("OrderType", ["LIMIT", "MARKET", "STOP", "STOP_LIMIT"]),
        ("Side", ["BUY", "SELL"]),
        ("ParentType", ["ORDER", "POSITION", "TRADE"]),
    ],
)
def test_integer_enums_publish_their_member_names(enum: str, names: list[str]) -> None:
    schema = component(enum)
    assert schema["x-enum-varnames"] == names
    assert schema["x-enumNames"] == names


def test_asyncapi_payloads_publish_enum_names_too() -> None:
    with TestClient(app, headers=AUTH) as client:
        document = client.get("/api/v1/ws/asyncapi.json").json()
    assert document["components"]["schemas"]["Side"]["x-enum-varnames"] == [
        "BUY",
        "SELL",
    ]


ORDER = {"symbol": "AAPL", "side": 1, "qty": 1}


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({**ORDER, "type": 2}, True),
        ({**ORDER, "type": 1, "limitPrice": 10.0}, True),
        ({**ORDER, "type": 1}, False),
        ({**ORDER, "type": 1, "limitPrice": None}, False),
        ({**ORDER, "type": 3}, False),
        ({**ORDER, "type": 4, "limitPrice": 10.0}, False),
        ({**ORDER, "type": 4, "limitPrice": 10.0, "stopPrice": 11.0}, True),
    ],
)
def test_order_schema_and_server_agree_on_required_prices(
    body: dict[str, object], valid: bool
) -> None:
    schema_says = not list(validator("PreOrder").iter_errors(body))
    with TestClient(app, headers=AUTH) as client:
        answer = client.post("/api/v1/broker/orders/preview", json=body)
    assert schema_says is valid
    assert (answer.status_code == 200) is valid, answer.text


@pytest.mark.parametrize(("leverage", "valid"), [(0.5, False), (1, True), (2.5, False)])
def test_leverage_schema_and_server_agree(leverage: float, valid: bool) -> None:
    body = {"symbol": "AAPL", "orderType": 2, "side": 1, "leverage": leverage}
    schema_says = not list(validator("LeverageSetParams").iter_errors(body))
    with TestClient(app, headers=AUTH) as client:
        answer = client.put("/api/v1/broker/leverage/set", json=body)
    assert schema_says is valid
    assert answer.status_code == (200 if valid else 422), answer.text


def test_empty_bars_window_is_no_data_not_an_error() -> None:
    with TestClient(app, headers=AUTH) as client:
        answer = client.get(
            "/api/v1/datafeed/bars",
            params={"symbol": "AAPL", "resolution": "1D", "from_time": 10**9}
            | {"to_time": 10**9},
        )
    assert answer.status_code == 200
    assert answer.json()["bars"] == [] and answer.json()["meta"]["noData"] is True


def validator(name: str) -> Draft202012Validator:
    """A JSON Schema validator for one component of the merged document."""
    document = merged.raw_schema
    schema = {**component(name), "components": document["components"]}
    return Draft202012Validator(schema)
