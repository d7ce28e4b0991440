"""Who may call the API: bearer JWTs verified against the issuer's JWKS.

- :data:`require_principal`, :data:`CurrentPrincipal`: the FastAPI dependency
  every route runs unless declared :func:`public`;
- :func:`require_account`: 403 unless the caller owns the account;
- :class:`Authenticator`: token -> :class:`Principal` (PyJWT, keys cached);
- :class:`AuthSettings`: the ``AUTH_*`` environment variables;
- :class:`DevIssuer`: the development issuer (``trading auth token``).

Names load on first use, so importing the settings does not import FastAPI.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trading_api.shared.auth._dev import DevIssuer, DevIssuerError
    from trading_api.shared.auth._fastapi import (
        FORBIDDEN_RESPONSE,
        UNAUTHORIZED_RESPONSE,
        CurrentPrincipal,
        authenticator_of,
        is_public,
        public,
        require_account,
        require_principal,
    )
    from trading_api.shared.auth._principal import AuthError, Principal
    from trading_api.shared.auth._settings import AuthSettings, AuthSettingsError
    from trading_api.shared.auth._verify import Authenticator, authenticator_for

_LOCATIONS = {
    "AuthError": "_principal",
    "AuthSettings": "_settings",
    "AuthSettingsError": "_settings",
    "Authenticator": "_verify",
    "CurrentPrincipal": "_fastapi",
    "DevIssuer": "_dev",
    "DevIssuerError": "_dev",
    "FORBIDDEN_RESPONSE": "_fastapi",
    "Principal": "_principal",
    "UNAUTHORIZED_RESPONSE": "_fastapi",
    "authenticator_for": "_verify",
    "authenticator_of": "_fastapi",
    "is_public": "_fastapi",
    "public": "_fastapi",
    "require_account": "_fastapi",
    "require_principal": "_fastapi",
}

__all__ = [
    "FORBIDDEN_RESPONSE",
    "UNAUTHORIZED_RESPONSE",
    "AuthError",
    "AuthSettings",
    "AuthSettingsError",
    "Authenticator",
    "CurrentPrincipal",
    "DevIssuer",
    "DevIssuerError",
    "Principal",
    "authenticator_for",
    "authenticator_of",
    "is_public",
    "public",
    "require_account",
    "require_principal",
]


def __getattr__(name: str) -> Any:
    location = _LOCATIONS.get(name)
    if location is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{location}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
