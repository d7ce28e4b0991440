"""An issuer of their own for the access tests: real RSA keys in a temporary
folder, its JWKS the server's ``AUTH_JWKS_URL`` (a ``file://`` URL), and apps
built with it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from trading_api.app_factory import AppFactory, ModularFastAPI
from trading_api.shared.auth import AuthSettings, DevIssuer

BROKER = "/api/v1/broker"
NEEDS_POSTGRES = pytest.mark.requires("postgresql")


class Issuer:
    """A signing key in ``folder`` whose JWKS the servers of a test trust."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.signer = DevIssuer(folder, AuthSettings())
        self.signer.private_key()  # makes the key and publishes its JWKS

    @property
    def jwks_path(self) -> Path:
        return self.folder / "jwks.json"

    @property
    def kid(self) -> str:
        return self.signer.kid()

    def token(
        self,
        user: str = "alice",
        accounts: tuple[str, ...] = ("ALICE-1",),
        **claims: Any,
    ) -> str:
        return self.signer.sign(user, accounts, **claims)

    def publish(self, *issuers: Issuer) -> None:
        """Make this issuer's JWKS hold exactly the keys of ``issuers``."""
        keys = [key for issuer in issuers for key in issuer.signer.jwks()["keys"]]
        self.jwks_path.write_text(json.dumps({"keys": keys}), encoding="utf-8")


def env_for(issuer: Issuer) -> dict[str, str]:
    """Environment of a server trusting ``issuer``, refreshing keys at will."""
    return {
        "AUTH_JWKS_URL": issuer.jwks_path.as_uri(),
        "AUTH_JWKS_MIN_REFRESH_SECONDS": "0",
    }


def build(issuer: Issuer, *modules: str) -> ModularFastAPI:
    """An app of ``modules`` whose module apps trust ``issuer`` only."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env_for(issuer).items():
            patch.setenv(name, value)
        return AppFactory().create_app(list(modules))


def hs256_with_public_key(issuer: Issuer, claims: dict[str, Any]) -> str:
    """A token "signed" with HS256 using the issuer's public JWK as the secret:
    the key-confusion attack on verifiers that let the token pick the algorithm."""

    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = {"alg": "HS256", "typ": "JWT", "kid": issuer.kid}
    signing_input = f"{part(header)}.{part(claims)}"
    secret = issuer.jwks_path.read_bytes()
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return (
        f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    )


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    return Issuer(tmp_path_factory.mktemp("issuer"))


@pytest.fixture
def issuer_factory(tmp_path: Path) -> Callable[[str], Issuer]:
    def make(name: str) -> Issuer:
        return Issuer(tmp_path / name)

    return make


@pytest.fixture(scope="module")
def broker_app(issuer: Issuer) -> Iterator[ModularFastAPI]:
    app = build(issuer, "broker", "auth")
    [broker] = [m for m in app.modules if m.name == "broker"]
    broker.simulation_interval = 0  # type: ignore[attr-defined]
    yield app


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=NEEDS_POSTGRES)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: an SQLite file, then a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'owners.db'}"
    cluster = request.getfixturevalue("postgres")
    if cluster is None:
        pytest.skip("PostgreSQL tests skipped (TRADING_TEST_SKIP_POSTGRES=1)")
    return str(cluster.new_database())
