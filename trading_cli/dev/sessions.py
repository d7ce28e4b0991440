"""The WebSocket connections a dev server holds, by module.

A module swap must close the old module's connections, and only those: the
server wraps each WebSocket connection's ``receive`` and ``send`` so that it can
end one on its own. An evicted connection gets a close frame with
:data:`~trading_api.shared.ws.limits.CLOSE_RELOADING` (1012, "service
restart"), so its client reconnects to the new code, while the module's endpoint
sees an ordinary disconnect and releases its topics.
"""

import asyncio
import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

EVICT_SECONDS = 2.0
"""How long an evicted connection's endpoint may take to return."""


class Session:
    """One WebSocket connection being served, and the module serving it."""

    def __init__(self, module: str | None, receive: "Receive", send: "Send") -> None:
        from trading_api.shared.ws.limits import CLOSE_RELOADING

        self.module = module
        self.code = CLOSE_RELOADING
        self.evicted = asyncio.Event()
        self.ended = asyncio.Event()
        self._receive = receive
        self._send = send
        self._close_sent = False

    async def receive(self) -> "Message":
        """The next message from the client; a disconnect once evicted."""
        if not self.evicted.is_set():
            get = asyncio.ensure_future(self._receive())
            evict = asyncio.ensure_future(self.evicted.wait())
            try:
                await asyncio.wait({get, evict}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                evict.cancel()
                if not get.done():
                    get.cancel()
            if not get.cancelled():
                return get.result()
        return {"type": "websocket.disconnect", "code": self.code}

    async def send(self, message: "Message") -> None:
        """Pass ``message`` to the client, unless the connection was evicted."""
        if self.evicted.is_set():
            return
        if message["type"] == "websocket.close":
            self._close_sent = True
        await self._send(message)

    async def evict(self, reason: str) -> None:
        """Close the connection with the reloading code; end its endpoint."""
        if self.evicted.is_set():
            return
        self.evicted.set()
        if self._close_sent:
            return
        self._close_sent = True
        with contextlib.suppress(Exception):  # the client may be gone already
            await self._send(
                {
                    "type": "websocket.close",
                    "code": self.code,
                    "reason": reason,
                }
            )


class Sessions:
    """Every WebSocket connection of a dev server, by module."""

    def __init__(self) -> None:
        self._live: set[Session] = set()

    async def serve(
        self, app: "ASGIApp", scope: "Scope", receive: "Receive", send: "Send"
    ) -> None:
        """Serve one WebSocket connection with ``app``, tracked."""
        session = Session(module_of(scope), receive, send)
        self._live.add(session)
        try:
            await app(scope, session.receive, session.send)
        finally:
            self._live.discard(session)
            session.ended.set()

    def of_module(self, name: str) -> list[Session]:
        """The connections served by module ``name`` now."""
        return [session for session in self._live if session.module == name]

    async def evict(self, sessions: Iterable[Session], reason: str) -> None:
        """Close ``sessions`` with the reloading code; wait (boundedly) until
        their endpoints have returned."""
        sessions = list(sessions)
        for session in sessions:
            await session.evict(reason)
        waits = [asyncio.ensure_future(session.ended.wait()) for session in sessions]
        if waits:
            _, late = await asyncio.wait(waits, timeout=EVICT_SECONDS)
            for wait in late:
                wait.cancel()


def module_of(scope: "Scope") -> str | None:
    """The module a request's path belongs to: ``/api/v1/<module>/...``."""
    from trading_api.shared.module_interface import API_PREFIX

    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    prefix, _, rest = path.partition(f"{API_PREFIX}/")
    name, slash, _ = rest.partition("/")
    return name if not prefix and slash and name else None
