"""Auth REST routes, relative to ``/api/v1/auth``.

- ``GET /.well-known/jwks.json`` (public): the development issuer's public keys,
  for tools and other services that verify its tokens (404 when ``AUTH_JWKS_URL``
  names a real issuer);
- ``GET /me``: who the presented token speaks for and which accounts it owns.
"""

from fastapi import APIRouter, HTTPException, status

from trading_api.models.common import error_responses
from trading_api.shared.auth import CurrentPrincipal, public

from .models import AuthJwks, AuthUser
from .service import AuthService, IssuerNotServedError


def create_router(service: AuthService) -> APIRouter:
    """The auth routes, bound to ``service``."""
    router = APIRouter()

    @router.get(
        "/.well-known/jwks.json",
        response_model=AuthJwks,
        responses=error_responses(404),
        summary="Development issuer keys",
    )
    @public
    async def get_jwks() -> AuthJwks:
        """The public keys that verify development tokens (a JWKS)."""
        try:
            return service.jwks()
        except IssuerNotServedError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None

    @router.get("/me", response_model=AuthUser, summary="Who am I")
    async def get_me(principal: CurrentPrincipal) -> AuthUser:
        """The token's user, the accounts it owns and when it expires."""
        return service.whoami(principal)

    return router
