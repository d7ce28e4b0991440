"""The WS test module (``tests/ws/streams.py``) served by uvicorn in its own process.

A separate process, so the tests measure what a user's server would do: its
memory (peak resident size, from ``/proc``), its close codes, its stats, while
the clients run here. The socket is bound here and handed to uvicorn (``--fd``),
so there is no race for the port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from trading_api.shared.testing import http_get, http_post

STREAMS_DIR = Path(__file__).resolve().parents[1] / "ws"
STARTUP = 30.0  # bound on the server's start, generous for a loaded machine


@dataclass
class ServerProcess:
    """A running server: its URL and process, and a few ways to poke it."""

    base: str
    process: subprocess.Popen[bytes]

    def post(self, path: str, **params: Any) -> Any:
        """Call one of the module's control routes (``/burst``, ``/unsendable``)."""
        response = http_post(self.base + path, params=params, timeout=STARTUP)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, int]:
        stats: dict[str, int] = http_get(self.base + "/ws/stats").json()
        return stats

    def wait_stats(self, **expected: int) -> dict[str, int]:
        """Poll ``/ws/stats`` until it shows ``expected`` (bounded)."""
        deadline = time.monotonic() + STARTUP
        while True:
            stats = self.stats()
            if all(stats[key] == value for key, value in expected.items()):
                return stats
            assert time.monotonic() < deadline, f"stats stuck at {stats}"
            time.sleep(0.02)

    def peak_rss_bytes(self) -> int:
        """The server's peak resident memory so far (``VmHWM``)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024


@contextmanager
def serve_streams(env: Mapping[str, str] = {}) -> Iterator[ServerProcess]:
    """Serve the streams module on 127.0.0.1 with ``env`` added (``WS_*`` limits)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by accepted connections: uvicorn's --fd socket is not known to
    # be TCP, so nothing else turns off Nagle's delay for small frames.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    command = [
        sys.executable, "-m", "uvicorn", "streams:create_app", "--factory",
        "--app-dir", str(STREAMS_DIR), "--fd", str(sock.fileno()),
        "--ws", "websockets-sansio", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env={**os.environ, **env}, pass_fds=[sock.fileno()]
    )
    server = ServerProcess(f"http://127.0.0.1:{port}", process)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=STARTUP)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        sock.close()


def _wait_ready(server: ServerProcess) -> None:
    deadline = time.monotonic() + STARTUP
    while True:
        assert server.process.poll() is None, "the server exited; see its log above"
        try:
            if http_get(server.base + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
