"""Bearer tokens on a protected REST route: what is accepted, what is refused."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from trading_api.app_factory import ModularFastAPI

from .conftest import BROKER, Issuer, build, hs256_with_public_key

ORDERS = f"{BROKER}/orders"


@pytest.fixture(scope="module")
def client(broker_app: ModularFastAPI) -> Iterator[TestClient]:
    with TestClient(broker_app) as test_client:
        yield test_client


def orders(client: TestClient, token: str, account: str = "ALICE-1") -> Any:
    return client.get(
        ORDERS,
        params={"accountId": account},
        headers={"Authorization": f"Bearer {token}"},
    )


def claims(issuer: Issuer, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": "trading-dev",
        "aud": "trading-api",
        "sub": "alice",
        "iat": now,
        "exp": now + 600,
        "accounts": ["ALICE-1"],
    }
    return {**base, **changes}


def test_a_valid_token_is_served(client: TestClient, issuer: Issuer) -> None:
    response = orders(client, issuer.token())
    assert (response.status_code, response.json()) == (200, [])


def test_no_token_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    response = client.get(ORDERS, params={"accountId": "ALICE-1"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer" in response.json()["detail"]


def test_another_scheme_is_treated_as_no_token(client: TestClient) -> None:
    response = client.get(ORDERS, headers={"Authorization": "Basic YWxpY2U6cHc="})
    assert (response.status_code, response.headers["WWW-Authenticate"]) == (
        401,
        "Bearer",
    )


def forged(issuer: Issuer, other: Issuer) -> str:
    # Signed by a key of someone else, under the trusted key's id.
    key = other.signer.private_key()
    return jwt.encode(
        claims(issuer), key, algorithm="RS256", headers={"kid": issuer.kid}
    )


def alg_none(issuer: Issuer, other: Issuer) -> str:
    return jwt.encode(claims(issuer), None, algorithm="none")


def hs256(issuer: Issuer, other: Issuer) -> str:
    return hs256_with_public_key(issuer, claims(issuer))


def wrong_issuer(issuer: Issuer, other: Issuer) -> str:
    return issuer.token(iss="https://login.example.com")


def wrong_audience(issuer: Issuer, other: Issuer) -> str:
    return issuer.token(aud="another-api")


def expired(issuer: Issuer, other: Issuer) -> str:
    # Past the 30 s of clock skew the server allows.
    return issuer.signer.sign(
        "alice", ["ALICE-1"], now=time.time() - 3600, ttl_seconds=60
    )


def no_subject(issuer: Issuer, other: Issuer) -> str:
    key = issuer.signer.private_key()
    payload = {k: v for k, v in claims(issuer).items() if k != "sub"}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": issuer.kid})


def garbage(issuer: Issuer, other: Issuer) -> str:
    return "not.a.jwt"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (forged, "signature does not verify"),
        (alg_none, "algorithm 'none' is not accepted"),
        (hs256, "algorithm 'HS256' is not accepted"),
        (wrong_issuer, "another issuer"),
        (wrong_audience, "another audience"),
        (expired, "token expired"),
        (no_subject, "lacks the 'sub' claim"),
        (garbage, "malformed token"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_a_bad_token_is_401_saying_why(
    client: TestClient,
    issuer: Issuer,
    issuer_factory: Callable[[str], Issuer],
    make: Callable[[Issuer, Issuer], str],
    reason: str,
) -> None:
    response = orders(client, make(issuer, issuer_factory("other")))
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"')
    assert reason.split("'")[0] in challenge


def test_rotated_keys_are_picked_up_and_removed_ones_refused(
    issuer_factory: Callable[[str], Issuer],
) -> None:
    published = issuer_factory("published")  # its jwks.json is what servers read
    old, new = published, issuer_factory("new")
    app = build(published, "broker")
    with TestClient(app) as client:
        old_token = old.token()
        assert orders(client, old_token).status_code == 200
        # The issuer rotates: the JWKS now holds only the new key.
        published.publish(new)
        assert orders(client, new.token()).status_code == 200
        refused = orders(client, old_token)
    assert refused.status_code == 401
    assert "key the issuer does not publish" in refused.json()["detail"]


def test_an_unknown_kid_reads_the_keys_at_most_once_per_interval(
    issuer: Issuer, issuer_factory: Callable[[str], Issuer]
) -> None:
    import asyncio

    from trading_api.shared.auth._keys import KeySet, file_loader

    reads = 0
    load = file_loader(issuer.jwks_path)

    async def counting() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return await load()

    now = [0.0]
    keys = KeySet(counting, min_refresh=60.0, max_age=3600.0, clock=lambda: now[0])

    async def ask(kids: list[str | None]) -> list[bool]:
        found = []
        for kid in kids:
            now[0] += 61.0 if kid == "kid-0" else 0.1
            try:
                await keys.key_for(kid)
                found.append(True)
            except Exception:
                found.append(False)
        return found

    made_up = [f"kid-{n}" for n in range(20)]
    found = asyncio.run(ask([issuer.kid, *made_up, issuer.kid]))
    assert found == [True, *[False] * 20, True]
    # The first read, then one more for the first unknown kid a minute later;
    # the next nineteen made-up kids within the interval read nothing.
    assert reads == 2
