"""Test helpers shared by module and cross-cutting tests.

``serve`` runs an ASGI app on a real uvicorn bound to a free loopback port, in a
background thread, the way a user's client would reach it.

``http_get``, ``http_post``, ``http_client`` and ``async_http_client`` are
httpx's, sharing one TLS context (:mod:`trading_api.shared.http_tls`): httpx
makes a new one for every client, 50 ms of CPU, which a test polling a server
would otherwise pay at every poll.
"""

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from trading_api.shared.http_tls import tls_context


class _Server(uvicorn.Server):
    """uvicorn's server, told to stop at once rather than at its next tick.

    uvicorn's main loop looks at ``should_exit`` every 0.1 s, and its shutdown
    waits another 0.1 s for open connections; tests start and stop a server per
    test, so this one waits on an event that :meth:`stop` sets (still ticking
    each second, which keeps the ``date`` header current), and skips the wait
    when no connection is open.
    """

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter += 10  # on_tick refreshes the date header when counter % 10 == 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn waits a fixed 0.1 s for open connections to take their
        # shutdown; with none open there is nothing to wait for.
        if self.server_state.connections or self.server_state.tasks:
            await super().shutdown(sockets)
            return
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        await self.lifespan.shutdown()

    def stop(self) -> None:
        """Make the server shut down now (from any thread)."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(wake.set)


@contextmanager
def serve(app: Any, *, startup_timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 and yield its base URL (``http://127.0.0.1:PORT``).

    The socket is bound before uvicorn starts, so there is no race for the port.
    On exit the server shuts down, running the app's lifespan shutdown.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it. asyncio sets it only on sockets made with
    # an explicit TCP protocol; without it each small answer waits for the
    # client's delayed ACK (about 40 ms on Linux).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", ws="websockets-sansio"
    )
    server = _Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start; see its log above")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        thread.join(timeout=10)
        sock.close()


def http_client(**options: Any) -> httpx.Client:
    """``httpx.Client(**options)`` with the process's TLS context."""
    return httpx.Client(verify=tls_context(), **options)


def async_http_client(**options: Any) -> httpx.AsyncClient:
    """``httpx.AsyncClient(**options)`` with the process's TLS context."""
    return httpx.AsyncClient(verify=tls_context(), **options)


def http_get(url: str, **options: Any) -> httpx.Response:
    """``httpx.get(url, **options)`` with the process's TLS context."""
    return httpx.get(url, verify=tls_context(), **options)


def http_post(url: str, **options: Any) -> httpx.Response:
    """``httpx.post(url, **options)`` with the process's TLS context."""
    return httpx.post(url, verify=tls_context(), **options)
