"""Signing in, for tests: a principal without a token, or real development tokens.

Behaviour tests that are not about access use :func:`sign_in`: every route of the
app, REST and WebSocket, then serves :data:`TESTER` as if a valid token had been
presented (FastAPI's ``dependency_overrides`` on :data:`require_principal`).
Tests about access present real tokens instead (:func:`dev_token`).
"""

from __future__ import annotations

from typing import Any

from trading_api.shared.auth._dev import DevIssuer
from trading_api.shared.auth._fastapi import require_principal
from trading_api.shared.auth._principal import Principal


class _EveryAccount(frozenset[str]):
    """Owns every account: behaviour tests use any account id they like."""

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str)


TESTER = Principal(user="tester", accounts=_EveryAccount())
"""The principal :func:`sign_in` serves: a user who owns every account."""


def sign_in(app: Any, principal: Principal = TESTER) -> Any:
    """Serve ``app`` as if every request carried a valid token of ``principal``.

    ``app`` is a :class:`~trading_api.app_factory.ModularFastAPI` (every module
    app is signed in) or one module's FastAPI app. Returns ``app``.
    """

    # A coroutine: FastAPI would run a plain function in its thread pool.
    async def signed_in() -> Principal:
        return principal

    apps = [app, *getattr(app, "module_apps", {}).values()]
    for each in apps:
        each.dependency_overrides[require_principal] = signed_in
    return app


def dev_token(user: str = "tester", accounts: tuple[str, ...] = ("DEMO-1",)) -> str:
    """A real token of the development issuer, which servers trust by default.

    Signed for exactly ``accounts``; the issuer's stored accounts are left alone.
    """
    return DevIssuer().sign(user, accounts)


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header carrying ``token``."""
    return {"Authorization": f"Bearer {token}"}
