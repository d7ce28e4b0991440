"""A client that stops reading costs others nothing: it is conflated, then closed."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from trading_api.shared.ws import CLOSE_SLOW_CONSUMER, WsLimits
from trading_api.shared.ws.testing import WsTestClient

from .conftest import WAIT, Server

pytestmark = pytest.mark.anyio

BLOB = 16 * 1024  # large updates fill the stuck client's socket buffers quickly
ROUND = 100
MAX_ROUNDS = 60


def stuck_client(server: Server) -> dict[str, Any]:
    """Connection options of a client that stops reading almost at once.

    The client library stops reading its socket after one queued message, the
    socket has a small receive buffer and nothing is compressed, so the server's
    send path backs up after a few hundred kilobytes instead of tens of megabytes.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    host, port = server.base.removeprefix("http://").split(":")
    sock.connect((host, int(port)))
    return {"sock": sock, "max_queue": 1, "compression": None}


async def test_client_that_never_reads_does_not_delay_the_others(
    server: Server,
) -> None:
    request = {"symbol": "N", "ticking": False}
    async with (
        WsTestClient.connect(server.base) as fast_a,
        WsTestClient.connect(server.base) as fast_b,
        WsTestClient.connect(server.base, **stuck_client(server)) as stuck,
    ):
        for client in (fast_a, fast_b, stuck):
            assert (await client.subscribe("ticks", request))["status"] == "ok"
        seqs: dict[Any, list[int]] = {fast_a: [], fast_b: []}
        slowest_round = 0.0
        for _ in range(MAX_ROUNDS):
            started = time.monotonic()
            server.in_server(lambda: server.service.burst(count=ROUND, size=BLOB))
            for client, got in seqs.items():
                for _ in range(ROUND):
                    update = await client.receive("ticks.update", timeout=WAIT)
                    got.append(update["payload"]["seq"])
            slowest_round = max(slowest_round, time.monotonic() - started)
            if server.stats()["dropped"] > 0:
                break
        stats = server.stats()
        stuck.abort()

    total = len(seqs[fast_a])
    assert stats["dropped"] > 0, "the stuck client was never conflated"
    assert seqs[fast_a] == seqs[fast_b] == list(range(1, total + 1))
    assert slowest_round < WAIT / 2
    await asyncio.to_thread(server.wait_stats, connections=0, topics=0)


async def test_connection_past_the_hard_limit_is_closed_with_documented_code(
    server_factory: Any,
) -> None:
    limits = WsLimits(send_queue_soft_limit=2, send_queue_hard_limit=8)
    server: Server = server_factory(limits)
    topics = 12  # more distinct topics than the hard limit: conflation cannot help
    async with WsTestClient.connect(server.base, **stuck_client(server)) as stuck:
        for n in range(topics):
            await stuck.subscribe("ticks", {"symbol": f"T{n}", "ticking": False})
        for _ in range(MAX_ROUNDS):
            server.in_server(lambda: server.service.burst(count=1, size=4 * BLOB))
            if server.stats()["dropped"] > 0:
                break
        server.in_server(lambda: server.service.burst(count=1, size=4 * BLOB))
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(WAIT):
                while True:
                    await stuck.connection.recv()

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CLOSE_SLOW_CONSUMER
    await asyncio.to_thread(server.wait_stats, connections=0, topics=0)
