"""Which browser origins may call the API: the CORS allow-list, in one place.

A front-end served from another origin (a Vite dev server on
``http://localhost:5173``, a deployed chart page) reaches the API only if its
origin is on the list. The list comes from settings (``CORS_ORIGINS``); the
same :class:`OriginPolicy` answers REST preflights here and is what a WebSocket
``Origin`` check consults, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from trading_api.shared.errors import TradingError
from trading_api.shared.http_methods import METHODS

ANY_ORIGIN = "*"
PREFLIGHT_MAX_AGE = 600
"""Seconds a browser may cache a preflight answer."""
ALLOWED_HEADERS = frozenset(
    {
        "accept",
        "accept-language",
        "authorization",
        "content-language",
        "content-type",
        "idempotency-key",
    }
)
"""Request headers a browser may send cross-origin: the ones the API reads
(``Authorization``, ``Idempotency-Key``, ``Content-Type``) and the ones browsers
always may."""


class OriginError(TradingError):
    """An entry of the CORS allow-list is not an origin."""


@dataclass(frozen=True)
class OriginPolicy:
    """The origins allowed to call the API from a browser.

    Attributes:
        origins: Normalised origins (``scheme://host[:port]``, no trailing slash),
            or ``("*",)`` for any origin.
    """

    origins: tuple[str, ...]

    @classmethod
    def from_list(cls, entries: tuple[str, ...] | list[str]) -> OriginPolicy:
        """Check and normalise ``entries``.

        Raises:
            OriginError: an entry is not ``scheme://host[:port]`` or ``*``.
        """
        return cls(tuple(_normalised(entry) for entry in entries))

    @property
    def allows_any(self) -> bool:
        """Whether every origin is allowed (``CORS_ORIGINS=*``)."""
        return ANY_ORIGIN in self.origins

    def allows(self, origin: str) -> bool:
        """Whether a request carrying ``Origin: origin`` may be served."""
        return self.allows_any or origin.rstrip("/").lower() in self.origins

    def wrap(
        self, app: ASGIApp, methods_for: Callable[[Scope], Iterable[str]]
    ) -> ASGIApp:
        """``app`` behind a CORS layer that answers preflights for this list.

        A preflight is granted when the origin is listed, the method it asks
        for is one the path serves (``methods_for(scope)``, the path's
        ``Allow``) and every header it asks for is one of
        :data:`ALLOWED_HEADERS`; the grant names exactly those methods and
        headers. Anything else is a ``400`` without a grant, saying what was
        refused. Credentials (cookies) are not allowed: the API authenticates
        with headers. A request without an ``Origin`` header goes straight to
        ``app``.
        """
        cors = CORSMiddleware(
            app,
            allow_origins=list(self.origins),
            allow_methods=list(METHODS),
            allow_headers=sorted(ALLOWED_HEADERS),
            max_age=PREFLIGHT_MAX_AGE,
        )

        async def serve(scope: Scope, receive: Receive, send: Send) -> None:
            # Starlette's middleware parses every request's headers to find no
            # Origin; most requests (servers, scripts, same-origin) carry none.
            if scope["type"] == "http":
                for name, _ in scope["headers"]:
                    if name == b"origin":
                        headers = Headers(scope=scope)
                        if scope["method"] == "OPTIONS" and (
                            "access-control-request-method" in headers
                        ):
                            answer = self.preflight(headers, methods_for(scope))
                            await answer(scope, receive, send)
                        else:
                            await cors(scope, receive, send)
                        return
            await app(scope, receive, send)

        return serve

    def preflight(self, headers: Headers, methods: Iterable[str]) -> Response:
        """The answer to a preflight with ``headers`` for a path serving
        ``methods``."""
        origin = headers["origin"]
        method = headers["access-control-request-method"].upper()
        served = sorted(set(methods))
        asked = [
            name.strip().lower()
            for name in headers.get("access-control-request-headers", "").split(",")
            if name.strip()
        ]
        refused = []
        if not self.allows(origin):
            refused.append(f"origin {origin!r} is not allowed (CORS_ORIGINS)")
        if method not in served:
            refused.append(
                f"method {method} is not served here (allowed: {', '.join(served)})"
            )
        unknown = [name for name in asked if name not in ALLOWED_HEADERS]
        if unknown:
            refused.append(
                f"header(s) {', '.join(unknown)} not allowed (allowed: "
                f"{', '.join(sorted(ALLOWED_HEADERS))})"
            )
        vary = {"Vary": "Origin"}
        if refused:
            return PlainTextResponse(
                "CORS preflight refused: " + "; ".join(refused),
                status_code=400,
                headers=vary,
            )
        grant = {
            **vary,
            "Access-Control-Allow-Origin": "*" if self.allows_any else origin,
            "Access-Control-Allow-Methods": ", ".join(served),
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE),
        }
        if asked:
            grant["Access-Control-Allow-Headers"] = ", ".join(asked)
        return PlainTextResponse("OK", status_code=200, headers=grant)


def _normalised(entry: str) -> str:
    entry = entry.strip()
    if entry == ANY_ORIGIN:
        return entry
    parts = urlsplit(entry)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise OriginError(
            f"CORS_ORIGINS entry {entry!r} is not an origin; write "
            "scheme://host[:port], e.g. http://localhost:5173, or * for any"
        )
    return f"{parts.scheme}://{parts.netloc}".lower()
