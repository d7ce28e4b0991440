"""Turn one incoming frame into a hub call or an ``error`` reply.

Nothing a client sends can close its connection or disturb others: every problem
is answered with an ``error`` message saying what was wrong and how to fix it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from trading_api.shared.ws.connection import Connection
from trading_api.shared.ws.hub import Hub
from trading_api.shared.ws.limits import WsLimits
from trading_api.shared.ws.messages import ErrorCode, dump_frame, error_frame
from trading_api.shared.ws.router import WsRouter

_ACTIONS = ("subscribe", "unsubscribe")


class Dispatcher:
    """Parses client frames and routes them to the hub."""

    def __init__(
        self, hub: Hub, routers: Sequence[WsRouter[Any, Any]], limits: WsLimits
    ) -> None:
        self._hub = hub
        self._routers = {router.route: router for router in routers}
        self._max_bytes = limits.max_frame_bytes
        self._known_types = ["ping"] + [
            f"{route}.{action}"
            for route in sorted(self._routers)
            for action in _ACTIONS
        ]

    def handle(self, conn: Connection, data: str | bytes) -> None:
        """Act on one frame from ``conn``; replies are queued on ``conn``."""
        if self._too_large(data):
            message = (
                f"frame larger than {self._max_bytes} bytes; send smaller messages"
            )
            conn.send(error_frame(ErrorCode.FRAME_TOO_LARGE, message))
            return
        try:
            message = json.loads(data)
        except ValueError as exc:
            conn.send(error_frame(ErrorCode.INVALID_JSON, f"invalid JSON: {exc}"))
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            hint = 'expected an object {"type": "<op>", "payload": {...}}'
            conn.send(error_frame(ErrorCode.INVALID_MESSAGE, hint))
            return
        self._handle_message(conn, message["type"], message.get("payload", {}))

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
            self._hub.subscribe(conn, router, request)
        else:
            self._hub.unsubscribe(conn, router, request)

    def _too_large(self, data: str | bytes) -> bool:
        # len(str) counts characters; UTF-8 needs 1 to 4 bytes for each, so only
        # frames between the two bounds need encoding to be measured.
        if isinstance(data, bytes) or len(data) > self._max_bytes:
            return len(data) > self._max_bytes
        if len(data) * 4 <= self._max_bytes:
            return False
        return len(data.encode("utf-8", "surrogatepass")) > self._max_bytes
