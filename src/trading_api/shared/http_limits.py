"""The largest request body the API reads: a 413 past it, without reading it.

Every body the API takes is small (an order, a list of symbols), so a body past
the limit (``MAX_BODY_BYTES``, 1 MiB unless set) is a mistake or an attack.
:func:`limit_body` answers it with ``413`` and
``{"detail": "the request body is larger than ... bytes ..."}`` (the
``ErrorMessage`` shape): at once when ``Content-Length`` announces it, else as
soon as the streamed chunks add up past it, so the server never holds more than
the limit in memory. Every operation documents the 413 (any request may carry
a body). The application then sees a client that went away, and
whatever it would have answered is discarded; the connection closes.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["document_body_limit", "limit_body", "too_large_message"]


def too_large_message(limit: int) -> str:
    """The one line a 413 answers with."""
    return (
        f"the request body is larger than {limit} bytes, the most this server "
        "reads (MAX_BODY_BYTES); send a smaller body"
    )


_TOO_LARGE_DESCRIPTION = (
    "The request body is larger than the server reads (MAX_BODY_BYTES, 1 MiB "
    "unless set); nothing was done"
)
_ERROR_MESSAGE = "#/components/schemas/ErrorMessage"
_DETAIL_ONLY: dict[str, Any] = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}


def document_body_limit(app: FastAPI) -> None:
    """Add the 413 to every operation of ``app``'s OpenAPI.

    Every operation can answer it: the limit applies to any request, a ``GET``
    with an oversized body included. Its body is the ``ErrorMessage`` component
    when the document has one, else the same shape inline.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            schemas = document.get("components", {}).get("schemas", {})
            schema = {"$ref": _ERROR_MESSAGE} if "ErrorMessage" in schemas else None
            for item in document.get("paths", {}).values():
                for operation in item.values():
                    if not isinstance(operation, dict):
                        continue
                    # A merged document shares its operations with the module
                    # documents, which already say it: never rewrite theirs.
                    operation.setdefault("responses", {}).setdefault(
                        "413",
                        {
                            "description": _TOO_LARGE_DESCRIPTION,
                            "content": {
                                "application/json": {
                                    "schema": schema or dict(_DETAIL_ONLY)
                                }
                            },
                        },
                    )
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def limit_body(app: ASGIApp, limit: int) -> ASGIApp:
    """``app`` behind a layer answering 413 to request bodies over ``limit`` bytes."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        announced = _content_length(scope)
        if announced is None:
            # Streamed (chunked): count what arrives.
            await _Counted(app, limit)(scope, receive, send)
        elif announced > limit:
            await _answer_too_large(send, limit)
        else:
            # The server delivers exactly the announced length, no more.
            await app(scope, receive, send)

    return serve


class _Counted:
    """One request whose body is counted as the app reads it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.received = 0
        self.started = False
        self.refused = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted_receive() -> Message:
            if self.refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.limit:
                    self.refused = True
                    if not self.started:
                        await _answer_too_large(send, self.limit)
                    # The app sees a client that went away and stops reading.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if self.refused:
                return
            if message["type"] == "http.response.start":
                self.started = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _answer_too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": too_large_message(limit)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
