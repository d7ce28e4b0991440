"""The wire format: ``{"type": ..., "payload": {...}}`` both ways.

Client to server: ``<route>.subscribe``, ``<route>.unsubscribe`` (payload: the
route's request model) and ``ping`` (any object payload, echoed in ``pong``).

Server to client: ``<route>.subscribe.response`` and ``<route>.unsubscribe.response``
(:class:`WsResponse`), ``<route>.update`` (``{topic, seq, payload}``), ``pong`` and
``error`` (:class:`WsError`).

Frames are built as text here once, so a fan-out to many subscribers serializes
each update only once.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorCode(StrEnum):
    """The ``code`` of an ``error`` message: what the client did wrong."""

    INVALID_JSON = "invalid_json"
    INVALID_UNICODE = "invalid_unicode"
    NESTING_TOO_DEEP = "nesting_too_deep"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_PAYLOAD = "invalid_payload"
    FRAME_TOO_LARGE = "frame_too_large"
    INTERNAL_ERROR = "internal_error"


class WsError(BaseModel):
    """Payload of an ``error`` message. The connection stays open."""

    code: ErrorCode = Field(description="Machine-readable reason.")
    message: str = Field(description="What was wrong and how to fix it.")
    detail: Any = Field(
        default=None, description="Structured detail, e.g. validation errors."
    )


class WsResponse(BaseModel):
    """Payload of ``<route>.subscribe.response`` and ``<route>.unsubscribe.response``.

    ``status`` is ``"error"`` when a limit or the service refused the request.
    """

    status: Literal["ok", "error"] = Field(description="Whether the request worked.")
    message: str = Field(description="Human-readable outcome.")
    topic: str = Field(description="The topic the request was about.")


def dump_frame(message_type: str, payload: Any) -> str:
    """Serialize one envelope to compact JSON text.

    Raises:
        ValueError: ``payload`` holds a NaN or infinite float, which JSON cannot
            carry (the server never sends ``NaN``).
    """
    return json.dumps(
        {"type": message_type, "payload": payload},
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def error_frame(code: ErrorCode, message: str, detail: Any = None) -> str:
    """An ``error`` message."""
    return dump_frame(
        "error", {"code": code.value, "message": message, "detail": detail}
    )


def response_frame(
    route: str, action: str, topic: str, *, ok: bool, message: str
) -> str:
    """A ``<route>.<action>.response`` message."""
    payload = {"status": "ok" if ok else "error", "message": message, "topic": topic}
    return dump_frame(f"{route}.{action}.response", payload)


def update_prefix(route: str, topic: str) -> str:
    """The constant start of every update frame of ``topic``, up to ``seq``."""
    head = dump_frame(f"{route}.update", {"topic": topic, "seq": 0})
    # Cut the trailing `0}}` so a frame is prefix + seq + payload + closing braces.
    return head[: -len("0}}")]


def update_frame(prefix: str, seq: int, item_json: str) -> str:
    """Complete an update frame from its topic's prefix (see :func:`update_prefix`)."""
    return f'{prefix}{seq},"payload":{item_json}}}}}'
