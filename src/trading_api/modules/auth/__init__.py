"""The auth module: the development issuer's keys, grants and the caller's identity.

Verification itself is shared runtime (``trading_api.shared.auth``): every
module's routes require a bearer token unless declared public. This module serves
``/api/v1/auth/.well-known/jwks.json`` (the development issuer's public keys) and
``/api/v1/auth/me``, and stores who owns which account for the development
issuer (``auth__account_owners``, see :mod:`.owners`). Tokens are minted by
``trading auth token`` (development) or by the identity provider named in
``AUTH_ISSUER``/``AUTH_JWKS_URL``.
"""

from collections.abc import Sequence

from fastapi import APIRouter

from trading_api.shared.auth import AuthSettings
from trading_api.shared.module_interface import Module

from .api import create_router
from .service import AuthService
from .tables import Base

__all__ = ["AuthModule"]


class AuthModule(Module):
    """Keys of the development issuer and ``/me``, at ``/api/v1/auth``."""

    name = "auth"
    description = "Who calls: the development issuer's keys and the caller's identity."
    tables = Base.metadata

    def __init__(self, settings: AuthSettings | None = None) -> None:
        """Serve for ``settings`` (read from the environment when None)."""
        self._service = AuthService(settings or AuthSettings.from_env())
        self._routers = [create_router(self._service)]

    @property
    def service(self) -> AuthService:
        """The auth service."""
        return self._service

    @property
    def api_routers(self) -> Sequence[APIRouter]:
        """The auth REST routes."""
        return self._routers
