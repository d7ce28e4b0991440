"""Delivery under stress, against uvicorn in its own process and real clients.

Each burst is published in one step of the server's event loop (one POST), so
what is queued does not depend on how fast this machine is; the clients read
after it, or never.

One server (``conftest.py``) serves the tests with the default limits, and the
hostile-input tests, each test finding it and leaving it with no connection and
no topic; the test of a never-reading client, which measures the server's peak
memory, has a server of its own.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from trading_api.shared.ws import CLOSE_INTERNAL_ERROR, CLOSE_SLOW_CONSUMER
from trading_api.shared.ws.testing import WsTestClient

from .ws_process import ServerProcess, serve_streams

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

WAIT = 30.0
MIB = 1024 * 1024


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def never_reading(server: ServerProcess) -> dict[str, Any]:
    """Options of a client that stops reading its socket almost at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    host, port = server.base.removeprefix("http://").split(":")
    sock.connect((host, int(port)))
    return {"sock": sock, "max_queue": 1, "compression": None}


async def updates_until(client: WsTestClient, route: str, last: int) -> list[Any]:
    updates = []
    while not updates or updates[-1]["seq"] < last:
        updates.append(
            (await client.receive(f"{route}.update", timeout=WAIT))["payload"]
        )
    return updates


async def close_code(client: WsTestClient) -> tuple[int, str]:
    """Read until the server closes; its close code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(WAIT):
            while True:
                await client.connection.recv()
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_keyed_stream_keeps_every_items_last_state_for_a_slow_reader(
    server: ServerProcess,
) -> None:
    # 298 orders filled at once, as in the reported loss: each gets 3 updates
    # (working, partly filled, filled); the client reads only after all of it.
    dropped_before = (await asyncio.to_thread(server.stats))["dropped"]
    async with WsTestClient.connect(server.base) as client:
        await client.subscribe("items", {"symbol": "ORD", "ticking": False})
        await asyncio.to_thread(
            server.post, "/burst", count=3 * 298, items=298, route="items"
        )
        updates = await updates_until(client, "items", 3 * 298)
        stats = await asyncio.to_thread(server.stats)

    last = {u["payload"]["item"]: u["payload"]["n"] for u in updates}
    # Item i's updates are n = i, 298 + i, 596 + i: the last is 596 + i.
    assert last == {i: 596 + i for i in range(298)}
    assert stats["dropped"] > dropped_before, "the burst never reached the soft limit"


async def test_lossless_stream_never_drops_an_update(server: ServerProcess) -> None:
    # The server's count of dropped updates never goes down: none may be added.
    dropped_before = (await asyncio.to_thread(server.stats))["dropped"]
    async with WsTestClient.connect(server.base) as client:
        await client.subscribe("journal", {"symbol": "EXE", "ticking": False})
        for _ in range(3):  # 3000 queued before the client reads one
            await asyncio.to_thread(
                server.post, "/burst", count=1000, items=7, route="journal"
            )
        updates = await updates_until(client, "journal", 3000)
        stats = await asyncio.to_thread(server.stats)

    assert [u["seq"] for u in updates] == list(range(1, 3001))
    assert [u["payload"]["n"] for u in updates] == [*range(1000)] * 3
    assert stats["dropped"] == dropped_before


async def test_never_reading_client_costs_at_most_the_byte_bound_then_4008() -> None:
    # 2000 updates of 64 KiB (125 MiB) to a client that never reads: a queue
    # bounded only in messages (4096) would hold all of them.
    env = {"WS_QUEUE_SOFT_BYTES": str(MIB // 4), "WS_QUEUE_HARD_BYTES": str(MIB)}
    with serve_streams(env) as server:
        async with WsTestClient.connect(server.base, **never_reading(server)) as stuck:
            await stuck.subscribe("journal", {"symbol": "BIG", "ticking": False})
            before = server.peak_rss_bytes()
            await asyncio.to_thread(
                server.post, "/burst", count=2000, size=64 * 1024, route="journal"
            )
            growth = server.peak_rss_bytes() - before
            stats = await asyncio.to_thread(server.wait_stats, connections=0)
            code, reason = await close_code(stuck)

    assert (code, reason) == (
        CLOSE_SLOW_CONSUMER,
        "send queue over its hard limit in bytes",
    )
    assert growth < 24 * MIB, f"the server grew by {growth / MIB:.1f} MiB"
    assert (stats["topics"], stats["queued_bytes"]) == (0, 0)


async def test_failed_send_closes_with_1011_and_stats_return_to_zero(
    server: ServerProcess,
) -> None:
    async with (
        WsTestClient.connect(server.base) as broken,
        WsTestClient.connect(server.base) as bystander,
    ):
        await broken.subscribe("journal", {"symbol": "X", "ticking": False})
        await bystander.subscribe("ticks", {"symbol": "Y", "ticking": False})
        await asyncio.to_thread(server.post, "/unsendable", route="journal")
        code, _ = await close_code(broken)
        during = await asyncio.to_thread(server.wait_stats, connections=1)
        pong = await bystander.ping({"n": 1})
    after = await asyncio.to_thread(
        server.wait_stats, connections=0, topics=0, subscriptions=0
    )

    assert code == CLOSE_INTERNAL_ERROR
    assert (during["topics"], during["subscriptions"]) == (1, 1)
    assert pong == {"n": 1}
    assert after["queued_bytes"] == 0
