"""The ticker test module (see ``streams.py``), served by a real uvicorn.

``server_factory`` builds the module's app with ``Module.create_app()`` (the path
every real module takes) and serves it on a free loopback port; tests talk to it
with the ``websockets`` client and ``httpx``, as a user's program would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from trading_api.shared.settings import Settings
from trading_api.shared.testing import http_get, serve
from trading_api.shared.ws import WsApp, WsLimits

from .streams import WAIT, Tick, TickModule, TickRequest, TickService

__all__ = ["WAIT", "Server", "Tick", "TickModule", "TickRequest", "TickService"]


@dataclass
class Server:
    """A served TickModule: URLs, its service and helpers to reach it."""

    base: str
    service: TickService
    ws_app: WsApp
    module: TickModule

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/ws"

    def stats(self) -> dict[str, int]:
        return http_get(self.base + "/ws/stats").json()  # type: ignore[no-any-return]

    def wait_stats(self, **expected: int) -> dict[str, int]:
        """Poll ``GET /ws/stats`` until it shows ``expected`` (bounded)."""
        deadline = time.monotonic() + WAIT
        while True:
            stats = self.stats()
            if all(stats[key] == value for key, value in expected.items()):
                return stats
            assert time.monotonic() < deadline, f"stats stuck at {stats}"
            time.sleep(0.02)

    def in_server(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the server's event loop and wait for it."""
        loop = self.service.loop
        assert loop is not None
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        loop.call_soon_threadsafe(run)
        assert done.wait(WAIT)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server_factory() -> Iterator[Callable[..., Server]]:
    """Start TickModule apps (optionally with limits); all stop at test end."""
    with ExitStack() as stack:

        def start(limits: WsLimits | None = None) -> Server:
            module = TickModule()
            app, ws_app = module.create_app(Settings(ws_limits=limits or WsLimits()))
            assert ws_app is not None
            base = stack.enter_context(serve(app))
            return Server(base, module.service, ws_app, module)

        yield start


@pytest.fixture
def server(server_factory: Callable[..., Server]) -> Server:
    return server_factory()
