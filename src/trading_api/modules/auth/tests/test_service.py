"""The auth service on its own: the issuer's keys and who a token speaks for."""

from pathlib import Path

import pytest

from trading_api.modules.auth.service import AuthService, IssuerNotServedError
from trading_api.shared.auth import AuthSettings, DevIssuer, Principal


def test_jwks_is_empty_until_the_first_token_then_holds_its_key(
    tmp_path: Path,
) -> None:
    issuer = DevIssuer(tmp_path)
    service = AuthService(AuthSettings(), issuer)
    before = service.jwks()
    issuer.sign("alice", ["ALICE-1"])
    after = service.jwks()
    assert before.keys == []
    assert [(k.kid, k.kty, k.alg, k.use) for k in after.keys] == [
        (issuer.kid(), "RSA", "RS256", "sig")
    ]


def test_jwks_is_not_served_when_another_issuer_is_configured(tmp_path: Path) -> None:
    settings = AuthSettings(jwks_url="https://login.example.com/jwks.json")
    with pytest.raises(IssuerNotServedError, match="AUTH_JWKS_URL"):
        AuthService(settings, DevIssuer(tmp_path)).jwks()


def test_whoami_lists_the_accounts_sorted_with_the_expiry() -> None:
    principal = Principal(
        user="alice",
        accounts=frozenset({"B-2", "A-1"}),
        expires_at=1_900_000_000.0,
        claims={"iss": "https://login.example.com"},
    )
    me = AuthService(AuthSettings()).whoami(principal)
    assert (me.user, me.accounts, me.issuer, me.expires_at) == (
        "alice",
        ["A-1", "B-2"],
        "https://login.example.com",
        1_900_000_000,
    )
