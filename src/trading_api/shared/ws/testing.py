"""A WebSocket test client that speaks the hub's envelope protocol.

For module tests (``modules/<pkg>/tests/test_ws.py``) and the hub's own tests::

    async with WsTestClient.connect(base_url + "/api/v1/datafeed") as client:
        topic = await client.subscribe("bars", {"symbol": "AAPL"})
        update = await client.receive("bars.update")
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

DEFAULT_TIMEOUT = 20.0


class WsTestClient:
    """A connected client; every receive is bounded by a timeout."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    @classmethod
    @asynccontextmanager
    async def connect(cls, base_url: str, **kwargs: Any) -> AsyncIterator[WsTestClient]:
        """Connect to ``<base_url>/ws`` (``http://`` URLs are accepted).

        Keyword arguments go to :func:`websockets.asyncio.client.connect`.
        ``max_queue`` defaults to None (never stop reading the socket): a test that
        leaves updates unread must still see the server's closing handshake,
        instead of waiting for the client's close timeout.
        """
        url = base_url.replace("http://", "ws://", 1).rstrip("/") + "/ws"
        kwargs.setdefault("max_queue", None)
        async with connect(url, **kwargs) as connection:
            yield cls(connection)

    async def send(self, kind: str, payload: Any = None) -> None:
        """Send ``{"type": kind, "payload": payload or {}}``."""
        message = {"type": kind, "payload": {} if payload is None else payload}
        await self.connection.send(json.dumps(message))

    async def send_raw(self, data: str | bytes) -> None:
        """Send a frame as is (for malformed-input tests)."""
        await self.connection.send(data)

    async def receive(
        self, kind: str | None = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        """Return the next message, or the next one of type ``kind``.

        Messages of other types are skipped when ``kind`` is given.

        Raises:
            TimeoutError: nothing matching arrived within ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while True:
                message: dict[str, Any] = json.loads(await self.connection.recv())
                if kind is None or message["type"] == kind:
                    return message

    async def subscribe(self, route: str, request: dict[str, Any]) -> dict[str, Any]:
        """Subscribe and return the response payload (``status``, ``topic``...)."""
        await self.send(f"{route}.subscribe", request)
        reply = await self.receive(f"{route}.subscribe.response")
        payload: dict[str, Any] = reply["payload"]
        return payload

    async def unsubscribe(self, route: str, request: dict[str, Any]) -> dict[str, Any]:
        """Unsubscribe and return the response payload."""
        await self.send(f"{route}.unsubscribe", request)
        reply = await self.receive(f"{route}.unsubscribe.response")
        payload: dict[str, Any] = reply["payload"]
        return payload

    async def ping(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send ``ping`` and return the ``pong`` payload."""
        await self.send("ping", payload)
        reply = await self.receive("pong")
        pong: dict[str, Any] = reply["payload"]
        return pong

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        self.connection.transport.abort()
