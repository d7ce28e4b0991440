"""The auth service: the development issuer's keys and who a token speaks for.

Tokens are verified by the shared runtime (``trading_api.shared.auth``), for
every module; this module only publishes what clients and other processes read.
"""

from trading_api.shared.auth import AuthSettings, DevIssuer, Principal

from .models import AuthJwk, AuthJwks, AuthUser


class IssuerNotServedError(Exception):
    """The development issuer is off: tokens come from the configured issuer."""


class AuthService:
    """Answers for the development issuer and for the caller's identity."""

    def __init__(self, settings: AuthSettings, issuer: DevIssuer | None = None) -> None:
        """Serve ``issuer``'s keys while ``settings`` use the development issuer."""
        self._settings = settings
        self._issuer = issuer or DevIssuer(settings=settings)

    def jwks(self) -> AuthJwks:
        """The development issuer's public keys (none before its first token).

        Raises:
            IssuerNotServedError: ``AUTH_JWKS_URL`` names another issuer.
        """
        if not self._settings.uses_dev_issuer:
            raise IssuerNotServedError(
                "the development issuer is off: tokens come from "
                f"{self._settings.issuer!r}, whose keys are at AUTH_JWKS_URL"
            )
        document = self._issuer.jwks()
        return AuthJwks(
            keys=[
                AuthJwk.model_validate({k: key[k] for k in AuthJwk.model_fields})
                for key in document.get("keys", [])
            ]
        )

    def whoami(self, principal: Principal) -> AuthUser:
        """The identity a verified token carries."""
        return AuthUser(
            user=principal.user,
            accounts=sorted(principal.accounts),
            issuer=str(principal.claims.get("iss", self._settings.issuer)),
            expires_at=int(principal.expires_at),
        )
