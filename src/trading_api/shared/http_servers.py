"""Where the WebSocket servers an AsyncAPI document lists really are.

The documents are built once, for any host (``specs_generated`` keeps the
development default ``127.0.0.1:8000``). When a running server serves one, its
``servers`` are rewritten for the request that asked: the ``Host`` it called,
``wss`` when it came over HTTPS (behind a proxy, uvicorn's ``--proxy-headers``
turns ``X-Forwarded-Proto`` into the scheme), and the proxy's ``root_path``
before each mount path. A client reading the document connects where it read it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

__all__ = ["as_served", "pointed_at"]


def as_served(document: dict[str, Any], request: Request) -> dict[str, Any]:
    """``document`` with every server pointing at the host that served it."""
    host = request.headers.get("host")
    if not host:
        return document
    protocol = "wss" if request.url.scheme in ("https", "wss") else "ws"
    # Under a mounted module app, root_path includes the mount path; the
    # proxy's own prefix is what the app was served under.
    prefix = request.scope.get("app_root_path", request.scope.get("root_path", ""))
    return pointed_at(
        document, host, protocol, prefix, "The server that served this document."
    )


def pointed_at(
    document: dict[str, Any],
    host: str,
    protocol: str,
    prefix: str,
    description: str | None = None,
) -> dict[str, Any]:
    """``document`` with every server at ``host`` under ``prefix``; each keeps its
    own description unless ``description`` is given."""
    said = {} if description is None else {"description": description}
    servers = {
        name: {
            **server,
            "host": host,
            "protocol": protocol,
            "pathname": f"{prefix.rstrip('/')}{server.get('pathname', '')}",
            **said,
        }
        for name, server in document.get("servers", {}).items()
    }
    return {**document, "servers": servers}
