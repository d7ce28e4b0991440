"""How the server verifies bearer tokens: read from the environment, in one place.

================================  ==================================================
``AUTH_ISSUER``                   the ``iss`` every token must carry
                                  (default ``trading-dev``, the development issuer)
``AUTH_AUDIENCE``                 the ``aud`` every token must carry
                                  (default ``trading-api``)
``AUTH_ALGORITHMS``               comma list of accepted signature algorithms
                                  (default ``RS256``; asymmetric ones only)
``AUTH_JWKS_URL``                 where the issuer publishes its keys (``https://``,
                                  ``http://`` on loopback, or ``file://``); unset:
                                  the development issuer's keys under ``.run/auth/``
``AUTH_ACCOUNTS_CLAIM``           the claim listing the accounts a user owns
                                  (default ``accounts``)
``AUTH_LEEWAY_SECONDS``           clock skew allowed on ``exp``/``nbf``/``iat`` (30)
``AUTH_JWKS_MIN_REFRESH_SECONDS``  least time between two key fetches caused by
                                  an unknown ``kid`` (10)
``AUTH_JWKS_MAX_AGE_SECONDS``     how long fetched keys are trusted before the next
                                  token makes the server fetch them again (300)
================================  ==================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from trading_api.shared.errors import EXIT_USAGE, TradingError

DEV_ISSUER = "trading-dev"
DEFAULT_AUDIENCE = "trading-api"
DEFAULT_ACCOUNTS_CLAIM = "accounts"
ASYMMETRIC_ALGORITHMS = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "EdDSA",
    }
)
"""Signatures checked with a public key. Shared-secret (``HS*``) algorithms and
``none`` are refused: a JWKS publishes public keys, and a verifier that accepted
``HS256`` could be fed a token "signed" with the public key itself."""


class AuthSettingsError(TradingError, ValueError):
    """An ``AUTH_*`` environment variable holds a value the server cannot use."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class AuthSettings:
    """What a token must look like to be accepted.

    Attributes:
        issuer: The ``iss`` claim tokens must carry.
        audience: The ``aud`` claim tokens must carry.
        algorithms: Accepted signature algorithms (asymmetric only).
        jwks_url: Where the issuer's keys are; None for the development issuer
            (keys in ``.run/auth/`` of the checkout).
        accounts_claim: The claim listing the accounts the token's user owns.
        leeway_seconds: Clock skew allowed when checking times.
        jwks_min_refresh_seconds: Least time between two fetches of the keys.
        jwks_max_age_seconds: How long fetched keys are used before a refetch.
    """

    issuer: str = DEV_ISSUER
    audience: str = DEFAULT_AUDIENCE
    algorithms: tuple[str, ...] = ("RS256",)
    jwks_url: str | None = None
    accounts_claim: str = DEFAULT_ACCOUNTS_CLAIM
    leeway_seconds: float = 30.0
    jwks_min_refresh_seconds: float = 10.0
    jwks_max_age_seconds: float = 300.0

    def __post_init__(self) -> None:
        refused = [a for a in self.algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if refused or not self.algorithms:
            raise AuthSettingsError(
                f"AUTH_ALGORITHMS: {', '.join(refused) or '(empty)'} not accepted; "
                f"use asymmetric ones: {', '.join(sorted(ASYMMETRIC_ALGORITHMS))}"
            )
        if self.jwks_url is not None and not self.jwks_url.startswith(
            ("https://", "http://", "file://")
        ):
            raise AuthSettingsError(
                f"AUTH_JWKS_URL {self.jwks_url!r} is not an https://, http:// or "
                "file:// URL; give the issuer's jwks_uri"
            )
        for name in ("leeway_seconds", "jwks_min_refresh_seconds"):
            if getattr(self, name) < 0:
                raise AuthSettingsError(f"AUTH_{name.upper()} must not be negative")

    @property
    def uses_dev_issuer(self) -> bool:
        """Whether tokens come from the built-in development issuer."""
        return self.jwks_url is None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> AuthSettings:
        """Read ``AUTH_*`` from ``environ``; unset or empty means the default.

        Raises:
            AuthSettingsError: a value is unusable; the message names the variable.
        """

        def text(name: str) -> str | None:
            return environ.get(name, "").strip() or None

        def seconds(name: str, default: float) -> float:
            raw = text(name)
            if raw is None:
                return default
            try:
                return float(raw)
            except ValueError:
                raise AuthSettingsError(
                    f"{name} must be a number of seconds, got {raw!r}"
                ) from None

        algorithms = text("AUTH_ALGORITHMS")
        return cls(
            issuer=text("AUTH_ISSUER") or DEV_ISSUER,
            audience=text("AUTH_AUDIENCE") or DEFAULT_AUDIENCE,
            algorithms=tuple(a.strip() for a in algorithms.split(",") if a.strip())
            if algorithms
            else ("RS256",),
            jwks_url=text("AUTH_JWKS_URL"),
            accounts_claim=text("AUTH_ACCOUNTS_CLAIM") or DEFAULT_ACCOUNTS_CLAIM,
            leeway_seconds=seconds("AUTH_LEEWAY_SECONDS", 30.0),
            jwks_min_refresh_seconds=seconds("AUTH_JWKS_MIN_REFRESH_SECONDS", 10.0),
            jwks_max_age_seconds=seconds("AUTH_JWKS_MAX_AGE_SECONDS", 300.0),
        )
