"""The FastAPI side: the bearer dependency, the public marker, account checks.

Every route a module serves requires a verified bearer token unless it is
declared public (:func:`public`); :meth:`Module.create_app
<trading_api.shared.module_interface.Module.create_app>` applies
:data:`require_principal` to each of the module's routes that is not. A handler
that needs to know who calls declares ``principal: CurrentPrincipal``; FastAPI
runs the check once per request either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from trading_api.models.common import ErrorMessage
from trading_api.shared.auth._principal import AuthError, Principal
from trading_api.shared.auth._verify import Authenticator, authenticator_for

F = TypeVar("F", bound=Callable[..., Any])

SCHEME_NAME = "bearerAuth"
"""The security scheme's name in OpenAPI (``components.securitySchemes``)."""
_PUBLIC = "__trading_public__"
NOT_ALLOWED = "not allowed to act on this account"


def public(endpoint: F) -> F:
    """Declare a route public: served without a token, with ``security: []``.

    Put it under the route decorator::

        @router.get("/config")
        @public
        async def get_config() -> Config: ...
    """
    setattr(endpoint, _PUBLIC, True)
    return endpoint


def is_public(endpoint: Callable[..., Any]) -> bool:
    """Whether :func:`public` marked ``endpoint``."""
    return bool(getattr(endpoint, _PUBLIC, False))


def authenticator_of(app: Any) -> Authenticator:
    """The authenticator a module app verifies tokens with."""
    authenticator: Authenticator | None = getattr(app.state, "authenticator", None)
    if authenticator is None:
        from trading_api.shared.auth._settings import AuthSettings

        authenticator = app.state.authenticator = authenticator_for(
            AuthSettings.from_env()
        )
    return authenticator


def challenge(error: AuthError) -> str:
    """The ``WWW-Authenticate`` value answering ``error`` (RFC 6750)."""
    if error.missing:
        return "Bearer"
    reason = error.reason.replace("\\", "").replace('"', "'")
    return f'Bearer error="invalid_token", error_description="{reason}"'


class BearerToken(HTTPBearer):
    """The ``Authorization: Bearer <JWT>`` scheme, verified: yields the principal.

    One dependency is both the OpenAPI security scheme and the check, so a
    protected request pays for one dependency, not two.
    """

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        """Verify the request's bearer token.

        Raises:
            HTTPException: 401 with ``WWW-Authenticate: Bearer`` when the token is
                missing, malformed, forged, expired or for someone else.
        """
        try:
            token = bearer_token(request.headers.get("authorization"))
            return await authenticator_of(request.app).verify(token)
        except AuthError as error:
            raise unauthorized(error) from None


def unauthorized(error: AuthError) -> HTTPException:
    """The 401 answering ``error``: its reason, and ``WWW-Authenticate``."""
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail=error.reason,
        headers={"WWW-Authenticate": challenge(error)},
    )


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value.

    Raises:
        AuthError: no header, or another scheme.
    """
    scheme, token = get_authorization_scheme_param(authorization)
    if not authorization or scheme.lower() != "bearer" or not token:
        raise AuthError(
            "authentication required: send 'Authorization: Bearer <token>'",
            missing=True,
        )
    return token


require_principal = BearerToken(
    scheme_name=SCHEME_NAME,
    bearerFormat="JWT",
    description="A JWT from the configured issuer (development: "
    "`trading auth token --user NAME`).",
    auto_error=False,
)
"""The dependency every non-public route runs (and the key to override in tests)."""

CurrentPrincipal = Annotated[Principal, Security(require_principal)]
"""A handler parameter that receives the verified caller."""


def require_account(principal: Principal, account_id: str) -> None:
    """Refuse to act on an account ``principal`` does not own.

    Another user's account and an account that does not exist get the same
    answer, so a refusal tells nothing about which accounts exist.

    Raises:
        HTTPException: 403.
    """
    if not principal.owns(account_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=NOT_ALLOWED)


UNAUTHORIZED_RESPONSE: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorMessage,
        "description": "No bearer token, or one that is malformed, forged, expired "
        "or meant for another issuer or audience",
        "headers": {
            "WWW-Authenticate": {
                "description": "`Bearer`, with the error when a token was sent",
                "schema": {"type": "string"},
            }
        },
    }
}
"""What every protected operation documents beside its own responses."""

FORBIDDEN_RESPONSE: dict[int | str, dict[str, Any]] = {
    403: {
        "model": ErrorMessage,
        "description": "The account is not one of the caller's (whether or not "
        "it exists)",
    }
}
"""What an operation acting on an account documents (see :func:`require_account`)."""
