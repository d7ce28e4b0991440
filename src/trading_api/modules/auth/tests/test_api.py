"""The auth module's routes through the app factory, as a client sees them."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from trading_api.app_factory import AppFactory
from trading_api.shared.auth import Principal
from trading_api.shared.auth.testing import sign_in

BASE = "/api/v1/auth"


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = AppFactory().create_app(["auth"])
    alice = Principal(user="alice", accounts=frozenset({"ALICE-1"}), expires_at=2e9)
    with TestClient(sign_in(app, alice)) as test_client:
        yield test_client


def test_me_answers_for_the_signed_in_user(client: TestClient) -> None:
    response = client.get(f"{BASE}/me")
    assert response.status_code == 200
    assert response.json() == {
        "user": "alice",
        "accounts": ["ALICE-1"],
        "issuer": "trading-dev",
        "expiresAt": 2_000_000_000,
    }


def test_me_without_a_token_is_401() -> None:
    with TestClient(AppFactory().create_app(["auth"])) as client:
        response = client.get(f"{BASE}/me")
    assert (response.status_code, response.headers["WWW-Authenticate"]) == (
        401,
        "Bearer",
    )


def test_jwks_is_public_json(client: TestClient) -> None:
    response = client.get(f"{BASE}/.well-known/jwks.json")
    assert response.status_code == 200
    assert isinstance(response.json()["keys"], list)
