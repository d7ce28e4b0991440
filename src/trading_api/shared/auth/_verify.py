"""Verifying a bearer token: signature against the JWKS, then the claims."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from trading_api.shared.auth._keys import KeySet, file_loader, loader_for
from trading_api.shared.auth._principal import AuthError, Principal
from trading_api.shared.auth._settings import AuthSettings

VERIFIED_CACHE_SIZE = 4096
"""Tokens remembered as verified; a client sends the same token many times."""


class Authenticator:
    """Turns a bearer token into a :class:`Principal`, or refuses it.

    A token is accepted when its header names an accepted algorithm and a key of
    the issuer's JWKS, its signature verifies with that key, and its claims say
    the configured issuer and audience, a subject, and an expiry still ahead.
    A verified token is remembered until it expires or the keys change, so a
    client that reuses its token pays for the signature once.
    """

    def __init__(
        self,
        settings: AuthSettings,
        keys: KeySet | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.keys = keys or KeySet(
            _loader(settings),
            min_refresh=settings.jwks_min_refresh_seconds,
            max_age=settings.jwks_max_age_seconds,
        )
        self._clock = clock
        self._algorithms = frozenset(settings.algorithms)
        self._verified: OrderedDict[str, tuple[int, Principal]] = OrderedDict()

    def remembered(self, token: str) -> Principal | None:
        """The principal of ``token`` if it was verified before and still is
        valid (same keys, not expired); None otherwise. No I/O, no signature."""
        remembered = self._verified.get(token)
        if remembered is None:
            return None
        generation, principal = remembered
        if (
            generation == self.keys.generation
            and principal.expires_at + self.settings.leeway_seconds > self._clock()
        ):
            return principal
        return None

    async def verify(self, token: str) -> Principal:
        """The principal ``token`` speaks for.

        Raises:
            AuthError: the token is malformed, forged, expired, or meant for
                another issuer or audience; the reason says which.
        """
        known = self.remembered(token)
        if known is not None:
            return known
        self._verified.pop(token, None)
        import jwt  # with cryptography, about 70 ms: paid at the first token

        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise AuthError("malformed token: not a signed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in self._algorithms:
            raise AuthError(
                f"token algorithm {algorithm!r} is not accepted; "
                f"expected {', '.join(sorted(self._algorithms))}"
            )
        kid = header.get("kid")
        key = await self.keys.key_for(kid if isinstance(kid, str) else None)
        if key.algorithm_name != algorithm and not _same_family(
            key.algorithm_name, algorithm
        ):
            raise AuthError("token algorithm does not match its key")
        claims = self._decode(token, key.key, algorithm)
        principal = self._principal(claims)
        self._remember(token, principal)
        return principal

    def _decode(self, token: str, key: Any, algorithm: str) -> dict[str, Any]:
        import jwt

        settings = self.settings
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError("token is meant for another audience") from None
        except jwt.InvalidIssuerError:
            raise AuthError("token comes from another issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthError("token signature does not verify") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        return claims

    def _principal(self, claims: dict[str, Any]) -> Principal:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise AuthError("token subject ('sub') must be a non-empty string")
        accounts = claims.get(self.settings.accounts_claim, [])
        if isinstance(accounts, str):
            accounts = accounts.split()
        if not isinstance(accounts, list) or not all(
            isinstance(a, str) for a in accounts
        ):
            raise AuthError(
                f"token claim {self.settings.accounts_claim!r} must list account ids"
            )
        return Principal(
            user=subject,
            accounts=frozenset(accounts),
            expires_at=float(claims["exp"]),
            claims=claims,
        )

    def _remember(self, token: str, principal: Principal) -> None:
        self._verified[token] = (self.keys.generation, principal)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)


def _same_family(key_algorithm: str, algorithm: str) -> bool:
    # A JWK without "alg" is read as its key type's default (RS256 for RSA);
    # RS384 with that key is still RSA, and PyJWT checks the key type itself.
    return key_algorithm[:2] == algorithm[:2]


def _loader(settings: AuthSettings) -> Any:
    if settings.jwks_url is not None:
        return loader_for(settings.jwks_url)
    from trading_api.shared.auth._dev import dev_jwks_path

    return file_loader(dev_jwks_path())


_AUTHENTICATORS: dict[AuthSettings, Authenticator] = {}


def authenticator_for(settings: AuthSettings) -> Authenticator:
    """The process's authenticator for ``settings``: one key cache per issuer."""
    authenticator = _AUTHENTICATORS.get(settings)
    if authenticator is None:
        authenticator = _AUTHENTICATORS[settings] = Authenticator(settings)
    return authenticator
