"""Turn one incoming frame into a hub call or an ``error`` reply.

Nothing a client sends can close its connection or disturb others: every problem
is answered with an ``error`` message saying what was wrong and how to fix it.
Frames are checked before the JSON parser sees them (size, nesting depth) and
after (no ``NaN``/``Infinity``, no number out of range, no lone surrogate), so
whatever the server echoes or builds from a request is valid JSON and UTF-8.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from trading_api.shared.auth._fastapi import NOT_ALLOWED
from trading_api.shared.ws.connection import Connection
from trading_api.shared.ws.hub import Hub
from trading_api.shared.ws.limits import WsLimits
from trading_api.shared.ws.messages import ErrorCode, dump_frame, error_frame
from trading_api.shared.ws.router import WsRouter

_ACTIONS = ("subscribe", "unsubscribe")
# A JSON string literal, escapes included: brackets inside strings do not nest.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class _FrameError(ValueError):
    """A frame the dispatcher answers with ``code`` and this message."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class Dispatcher:
    """Parses client frames and routes them to the hub."""

    def __init__(
        self,
        hub: Hub,
        routers: Sequence[WsRouter[Any, Any]],
        limits: WsLimits,
        public_routes: frozenset[str] = frozenset(),
    ) -> None:
        self._hub = hub
        self._public_routes = public_routes
        self._routers = {router.route: router for router in routers}
        self._max_bytes = limits.max_frame_bytes
        self._max_depth = limits.max_nesting_depth
        self._known_types = ["ping"] + [
            f"{route}.{action}"
            for route in sorted(self._routers)
            for action in _ACTIONS
        ]

    def handle(self, conn: Connection, data: str | bytes) -> None:
        """Act on one frame from ``conn``; replies are queued on ``conn``."""
        try:
            message = self._parse(data)
        except _FrameError as exc:
            conn.send(error_frame(exc.code, str(exc)))
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            hint = 'expected an object {"type": "<op>", "payload": {...}}'
            conn.send(error_frame(ErrorCode.INVALID_MESSAGE, hint))
            return
        self._handle_message(conn, message["type"], message.get("payload", {}))

    def _parse(self, data: str | bytes) -> Any:
        if self._too_large(data):
            raise _FrameError(
                ErrorCode.FRAME_TOO_LARGE,
                f"frame larger than {self._max_bytes} bytes; send smaller messages",
            )
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _FrameError(
                    ErrorCode.INVALID_UNICODE, f"frame is not valid UTF-8: {exc}"
                ) from None
        depth = _nesting_depth(data, self._max_depth)
        if depth > self._max_depth:
            raise _FrameError(
                ErrorCode.NESTING_TOO_DEEP,
                f"arrays and objects nested deeper than {self._max_depth} levels; "
                "send a flatter message",
            )
        try:
            message = json.loads(
                data, parse_constant=_no_constant, parse_float=_finite_float
            )
        except ValueError as exc:
            raise _FrameError(ErrorCode.INVALID_JSON, f"invalid JSON: {exc}") from None
        if "\\u" in data and not _is_valid_unicode(message):
            raise _FrameError(
                ErrorCode.INVALID_UNICODE,
                "a string holds a lone surrogate escape (like \\ud800), which is "
                "not valid Unicode; send UTF-8 text or complete surrogate pairs",
            )
        return message

    def _handle_message(self, conn: Connection, kind: str, payload: Any) -> None:
        if kind == "ping":
            conn.send(dump_frame("pong", payload if isinstance(payload, dict) else {}))
            return
        route, _, action = kind.rpartition(".")
        router = self._routers.get(route)
        if router is None or action not in _ACTIONS:
            message = (
                f"unknown message type {kind!r}; known: {', '.join(self._known_types)}"
            )
            detail = {"type": kind, "known": self._known_types}
            conn.send(error_frame(ErrorCode.UNKNOWN_TYPE, message, detail))
            return
        try:
            request = router.request_model.model_validate(payload)
        except ValidationError as exc:
            message = (
                f"invalid payload for {kind!r}: {exc.error_count()} error(s); "
                f"expected {router.request_model.__name__}"
            )
            detail = json.loads(exc.json(include_url=False))
            conn.send(error_frame(ErrorCode.INVALID_PAYLOAD, message, detail))
            return
        if action == "subscribe":
            refusal = self._refusal(conn, router.route, request)
            if refusal is not None:
                self._hub.refuse(conn, router, request, refusal)
                return
            self._hub.subscribe(conn, router, request)
        else:
            self._hub.unsubscribe(conn, router, request)

    def _refusal(self, conn: Connection, route: str, request: Any) -> str | None:
        """Why ``conn`` may not subscribe to ``request``, or None.

        A route is for authenticated connections unless the module declares it
        public; a request naming an ``account_id`` needs a caller who owns that
        account (an unknown account gets the same answer as another user's).
        """
        principal = conn.principal
        if principal is None:
            if route in self._public_routes:
                return None
            return "authentication required: connect with a bearer token"
        account = getattr(request, "account_id", None)
        if isinstance(account, str) and not principal.owns(account):
            return NOT_ALLOWED
        return None

    def _too_large(self, data: str | bytes) -> bool:
        # len(str) counts characters; UTF-8 needs 1 to 4 bytes for each, so only
        # frames between the two bounds need encoding to be measured.
        if isinstance(data, bytes) or len(data) > self._max_bytes:
            return len(data) > self._max_bytes
        if len(data) * 4 <= self._max_bytes:
            return False
        return len(data.encode("utf-8", "surrogatepass")) > self._max_bytes


def _nesting_depth(text: str, limit: int) -> int:
    """How deep arrays and objects nest in ``text``; stops counting past ``limit``.

    Cheap for ordinary frames: fewer brackets than the limit cannot nest deeper.
    """
    if text.count("[") + text.count("{") <= limit:
        return 0
    depth = 0
    for match in _BRACKETS.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                return depth
        else:
            depth -= 1
    return 0


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; send a finite number or null")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range; send a finite number")
    return value


def _is_valid_unicode(value: Any) -> bool:
    """False if a string in ``value`` (keys included) is not encodable as UTF-8."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
