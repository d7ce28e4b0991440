"""Which browser origins may call the API: the CORS allow-list, in one place.

A front-end served from another origin (a Vite dev server on
``http://localhost:5173``, a deployed chart page) reaches the API only if its
origin is on the list. The list comes from settings (``CORS_ORIGINS``); the
same :class:`OriginPolicy` answers REST preflights here and is what a WebSocket
``Origin`` check consults, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from trading_api.shared.errors import TradingError

ANY_ORIGIN = "*"
PREFLIGHT_MAX_AGE = 600
"""Seconds a browser may cache a preflight answer."""


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

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """``app`` behind a CORS layer that answers preflights for this list.

        Any method and request header may be asked for (the API authenticates
        with headers, not cookies, so credentials are not allowed). A request
        without an ``Origin`` header goes straight to ``app``.
        """
        cors = CORSMiddleware(
            app,
            allow_origins=list(self.origins),
            allow_methods=["*"],
            allow_headers=["*"],
            max_age=PREFLIGHT_MAX_AGE,
        )

        async def serve(scope: Scope, receive: Receive, send: Send) -> None:
            # Starlette's middleware parses every request's headers to find no
            # Origin; most requests (servers, scripts, same-origin) carry none.
            if scope["type"] == "http":
                for name, _ in scope["headers"]:
                    if name == b"origin":
                        await cors(scope, receive, send)
                        return
            await app(scope, receive, send)

        return serve


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
