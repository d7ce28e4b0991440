"""Who may do what over REST: accounts, public routes, and what the contract says."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from trading_api.app_factory import ModularFastAPI
from trading_api.shared.auth import public
from trading_api.shared.module_interface import Module

from .conftest import BROKER, Issuer

MARKET_BUY = {"symbol": "AAPL", "type": 2, "side": 1, "qty": 1}


@pytest.fixture(scope="module")
def client(broker_app: ModularFastAPI) -> Iterator[TestClient]:
    with TestClient(broker_app) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/orders", None),
        ("GET", "/account", None),
        ("GET", "/positions", None),
        ("POST", "/orders", MARKET_BUY),
        ("DELETE", "/orders/1", None),
    ],
)
def test_another_users_account_and_an_unknown_one_get_the_same_403(
    client: TestClient, issuer: Issuer, method: str, path: str, body: Any
) -> None:
    # bob owns BOB-1 and has used it; NOBODY-9 has never existed.
    bob = bearer(issuer.token("bob", ("BOB-1",)))
    client.post(
        f"{BROKER}/orders", params={"accountId": "BOB-1"}, json=MARKET_BUY, headers=bob
    )
    alice = bearer(issuer.token("alice", ("ALICE-1",)))
    answers = [
        client.request(
            method,
            f"{BROKER}{path}",
            params={"accountId": account},
            json=body,
            headers=alice,
        )
        for account in ("BOB-1", "NOBODY-9")
    ]
    assert [(a.status_code, a.json()) for a in answers] == [
        (403, {"detail": "not allowed to act on this account"})
    ] * 2


def test_the_owner_trades_their_account(client: TestClient, issuer: Issuer) -> None:
    alice = bearer(issuer.token("alice", ("ALICE-2",)))
    placed = client.post(
        f"{BROKER}/orders",
        params={"accountId": "ALICE-2"},
        json=MARKET_BUY,
        headers=alice,
    )
    listed = client.get(
        f"{BROKER}/orders", params={"accountId": "ALICE-2"}, headers=alice
    )
    assert placed.status_code == 201
    assert [o["id"] for o in listed.json()] == [placed.json()["orderId"]]


def test_me_names_the_user_and_their_accounts(
    client: TestClient, issuer: Issuer
) -> None:
    token = issuer.token("carol", ("C-2", "C-1"))
    answer = client.get("/api/v1/auth/me", headers=bearer(token)).json()
    assert answer == {
        "user": "carol",
        "accounts": ["C-1", "C-2"],
        "issuer": "trading-dev",
        "expiresAt": jwt.decode(token, options={"verify_signature": False})["exp"],
    }


def test_public_routes_answer_without_a_token(client: TestClient) -> None:
    paths = [
        "/api/v1/core/health",
        "/api/v1/broker/health",
        "/api/v1/broker/ws/stats",
        "/api/v1/openapi.json",
        "/api/v1/broker/openapi.json",
    ]
    assert [client.get(path).status_code for path in paths] == [200] * len(paths)


def test_the_development_jwks_verifies_a_development_token() -> None:
    # The default settings: the development issuer of the checkout.
    from trading_api.app_factory import AppFactory
    from trading_api.shared.auth.testing import dev_token

    token = dev_token("dora", ("D-1",))
    with TestClient(AppFactory().create_app(["auth"])) as client:
        jwks = client.get("/api/v1/auth/.well-known/jwks.json")
    assert jwks.status_code == 200
    kid = jwt.get_unverified_header(token)["kid"]
    [key] = [k for k in jwks.json()["keys"] if k["kid"] == kid]
    claims = jwt.decode(
        token,
        jwt.PyJWK(key).key,
        algorithms=["RS256"],
        audience="trading-api",
        issuer="trading-dev",
    )
    assert (claims["sub"], claims["accounts"]) == ("dora", ["D-1"])


def test_the_development_jwks_is_404_when_another_issuer_is_configured(
    client: TestClient,
) -> None:
    response = client.get("/api/v1/auth/.well-known/jwks.json")
    assert response.status_code == 404
    assert "AUTH_JWKS_URL" in response.json()["detail"]


class _Gadgets(Module):
    name = "gadgets"

    def __init__(self) -> None:
        self._router = APIRouter()

        @self._router.get("/secret")
        async def secret() -> dict[str, str]:
            return {"gadget": "secret"}

        @self._router.get("/brochure")
        @public
        async def brochure() -> dict[str, str]:
            return {"gadget": "brochure"}

    @property
    def service(self) -> object:
        return object()

    @property
    def api_routers(self) -> list[APIRouter]:
        return [self._router]


def test_a_module_route_is_closed_unless_declared_public() -> None:
    app, _ = _Gadgets().create_app()
    with TestClient(app) as client:
        secret = client.get("/secret")
        brochure = client.get("/brochure")
    assert (secret.status_code, brochure.status_code) == (401, 200)
    operations = app.openapi()["paths"]
    assert operations["/secret"]["get"]["security"] == [{"bearerAuth": []}]
    assert "401" in operations["/secret"]["get"]["responses"]
    assert operations["/brochure"]["get"]["security"] == []


def test_the_openapi_declares_the_bearer_scheme_and_each_operations_needs(
    broker_app: ModularFastAPI,
) -> None:
    document = broker_app.openapi()
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == (
        "http",
        "bearer",
        "JWT",
    )
    needs = {
        (method.upper(), path): operation.get("security")
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    bearer_only = [{"bearerAuth": []}]
    assert needs[("GET", "/api/v1/broker/orders")] == bearer_only
    assert needs[("GET", "/api/v1/auth/me")] == bearer_only
    assert needs[("GET", "/api/v1/core/health")] == []
    assert needs[("GET", "/api/v1/auth/.well-known/jwks.json")] == []
    assert all(value is not None for value in needs.values()), "security undeclared"


def test_the_asyncapi_names_the_scheme_on_protected_routes_only() -> None:
    from trading_api.app_factory import AppFactory

    document = AppFactory().create_app(["broker", "datafeed"]).asyncapi()
    scheme = {"$ref": "#/components/securitySchemes/bearerAuth"}
    operations = document["operations"]
    assert operations["broker.orders.subscribe"]["security"] == [scheme]
    assert "security" not in operations["datafeed.bars.subscribe"]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == (
        "bearer"
    )


# Refusal order: a closed route checks the token before anything the request
# carries, so an anonymous caller learns nothing of its input rules.
MALFORMED = [
    # (method, path and query, body, extra headers, status with a valid token)
    ("GET", "/leverage/info?symbol=AAPL&orderType=two&side=1", None, {}, 422),
    ("DELETE", "/positions/AAPL?amount=lots", None, {}, 422),
    ("POST", "/orders", b'{"symbol": "AAPL",', {}, 422),
    ("POST", "/orders", b'{"symbol": "AAPL"}', {}, 422),
    ("PUT", "/leverage/set", b'{"leverage": "high"}', {}, 422),
    (
        "POST",
        "/orders",
        b'{"symbol":"AAPL","type":2,"side":1,"qty":1}',
        {"Idempotency-Key": "a b"},
        422,
    ),
    ("POST", "/orders", b'{"symbol":"NOPE","type":2,"side":1,"qty":1}', {}, 400),
]


def expired(issuer: Issuer) -> str:
    return issuer.token("alice", ("ALICE-1",), iat=1_000_000_000, exp=1_000_000_060)


@pytest.mark.parametrize(("method", "path", "body", "headers", "status"), MALFORMED)
def test_a_closed_route_answers_401_before_looking_at_the_request(
    client: TestClient,
    issuer: Issuer,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    status: int,
) -> None:
    def send(authorization: dict[str, str]) -> Any:
        sep = "&" if "?" in path else "?"
        return client.request(
            method,
            f"{BROKER}{path}{sep}accountId=ALICE-1",
            content=body,
            headers={"Content-Type": "application/json", **headers, **authorization},
        )

    anonymous = send({})
    bad = send(bearer("not-a-jwt"))
    stale = send(bearer(expired(issuer)))
    assert (anonymous.status_code, anonymous.headers["WWW-Authenticate"]) == (
        401,
        "Bearer",
    )
    assert anonymous.json() == {
        "detail": "authentication required: send 'Authorization: Bearer <token>'"
    }
    assert (bad.status_code, stale.status_code) == (401, 401)
    assert bad.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert stale.json() == {"detail": "token expired"}
    # With a valid token, the same request meets the content checks as before.
    valid = send(bearer(issuer.token("alice", ("ALICE-1",))))
    assert valid.status_code == status
    assert valid.status_code != 422 or valid.json()["detail"][0]["loc"][0] in {
        "query",
        "body",
        "header",
    }


def test_routing_refusals_body_size_and_preflights_come_before_the_token(
    client: TestClient,
) -> None:
    unknown = client.get(f"{BROKER}/nowhere")
    unserved = client.patch(f"{BROKER}/orders")
    too_large = client.post(
        f"{BROKER}/orders",
        content=b"x" * 1_048_577,
        headers={"Content-Type": "application/json"},
    )
    preflight = client.options(
        f"{BROKER}/orders",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert unknown.status_code == 404
    assert (unserved.status_code, unserved.headers["Allow"]) == (
        405,
        "GET, OPTIONS, POST",
    )
    assert too_large.status_code == 413
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"]
