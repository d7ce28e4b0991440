"""Is a port free? Asked the way the servers will bind it.

uvicorn (through asyncio) and nginx set ``SO_REUSEADDR`` before they bind, so a
port whose last connection is in TIME_WAIT is free for them. A check that binds
without it would refuse that port for a minute after every ``trading down``.
"""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def bind_error(port: int, host: str = LOOPBACK) -> OSError | None:
    """Why a server could not listen on ``host:port`` now, or None if it could."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            probe.listen(1)
        except OSError as exc:
            return exc
    return None
