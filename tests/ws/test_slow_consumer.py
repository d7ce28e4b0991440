"""Slow clients: conflated by their route's delivery class, bounded, then closed.

Bursts are published in one step of the server's event loop, so nothing is sent
while they are queued: what a client receives depends on the delivery class and
the limits, never on how fast this machine is.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from trading_api.shared.ws import CLOSE_INTERNAL_ERROR, CLOSE_SLOW_CONSUMER, WsLimits
from trading_api.shared.ws.testing import WsTestClient

from .conftest import WAIT, Server

pytestmark = pytest.mark.anyio

BLOB = 4 * 1024  # a round of 100 stays under the default soft limits
ROUND = 100
MAX_ROUNDS = 200


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


async def read_until_seq(client: WsTestClient, route: str, last: int) -> list[Any]:
    """Every update of ``route`` up to the one with ``seq == last``."""
    updates = []
    while not updates or updates[-1]["seq"] < last:
        updates.append((await client.receive(f"{route}.update"))["payload"])
    return updates


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
        for _ in range(MAX_ROUNDS):  # until the stuck client's queue conflates
            server.in_server(lambda: server.service.burst(count=ROUND, size=BLOB))
            for client, got in seqs.items():
                for _ in range(ROUND):
                    update = await client.receive("ticks.update", timeout=WAIT)
                    got.append(update["payload"]["seq"])
            if server.stats()["dropped"] > 0:
                break
        stats = server.stats()
        stuck.abort()

    total = len(seqs[fast_a])
    assert stats["dropped"] > 0, "the stuck client was never conflated"
    assert seqs[fast_a] == seqs[fast_b] == list(range(1, total + 1))
    await asyncio.to_thread(server.wait_stats, connections=0, topics=0)


async def test_keyed_route_keeps_the_last_state_of_every_item(server: Server) -> None:
    # 1000 updates about 30 items, queued at once: past the soft limit (256
    # messages) each new update replaces the queued one of its item.
    async with WsTestClient.connect(server.base) as client:
        await client.subscribe("items", {"symbol": "K", "ticking": False})
        server.in_server(lambda: server.service.burst(count=1000, size=0, items=30))
        updates = await read_until_seq(client, "items", 1000)
    last_n = {u["payload"]["item"]: u["payload"]["n"] for u in updates}

    # Item i's last update is the largest n <= 999 with n % 30 == i.
    assert last_n == {i: 990 + i if i < 10 else 960 + i for i in range(30)}
    assert len(updates) < 1000, "nothing was conflated"
    seqs = [u["seq"] for u in updates]
    assert seqs == sorted(set(seqs)), "seq must keep growing"


async def test_topic_route_keeps_only_the_newest_update(server: Server) -> None:
    async with WsTestClient.connect(server.base) as client:
        await client.subscribe("ticks", {"symbol": "T", "ticking": False})
        server.in_server(lambda: server.service.burst(count=1000, size=0, items=30))
        updates = await read_until_seq(client, "ticks", 1000)

    # Updates 1-256 fill the queue to its soft limit; each later one replaces
    # the newest queued one, so 1-255 and the last arrive.
    assert [u["seq"] for u in updates] == [*range(1, 256), 1000]


async def test_lossless_route_delivers_every_update_in_order(server: Server) -> None:
    async with WsTestClient.connect(server.base) as client:
        await client.subscribe("journal", {"symbol": "J", "ticking": False})
        server.in_server(lambda: server.service.burst(count=2000, size=0, items=30))
        updates = await read_until_seq(client, "journal", 2000)

    assert [u["seq"] for u in updates] == list(range(1, 2001))
    assert [u["payload"]["n"] for u in updates] == list(range(2000))
    assert server.stats()["dropped"] == 0


@pytest.mark.parametrize(
    ("limits", "burst", "reason"),
    [
        # 64 updates of 16 KiB: 1 MiB queued, past 256 KiB, under 4096 messages.
        (
            WsLimits(send_queue_soft_bytes=64 * 1024, send_queue_hard_bytes=256 * 1024),
            {"count": 64, "size": 16 * 1024},
            "bytes",
        ),
        # 100 small updates: past 8 messages, far under the byte limits.
        (
            WsLimits(send_queue_soft_limit=2, send_queue_hard_limit=8),
            {"count": 100, "size": 0},
            "messages",
        ),
    ],
    ids=["bytes", "messages"],
)
async def test_lossless_client_past_a_hard_limit_is_closed_with_4008(
    server_factory: Any, limits: WsLimits, burst: dict[str, int], reason: str
) -> None:
    server: Server = server_factory(limits)
    async with WsTestClient.connect(server.base, **stuck_client(server)) as stuck:
        await stuck.subscribe("journal", {"symbol": "L", "ticking": False})
        server.in_server(lambda: server.service.burst(**burst))
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(WAIT):
                while True:
                    await stuck.connection.recv()

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CLOSE_SLOW_CONSUMER
    assert closed.value.rcvd.reason.endswith(reason)
    stats = await asyncio.to_thread(server.wait_stats, connections=0, topics=0)
    assert stats["queued_bytes"] == 0


async def test_keyed_client_with_more_items_than_the_limit_is_closed_with_4008(
    server_factory: Any,
) -> None:
    # Conflation cannot help when every update is about a different item.
    server: Server = server_factory(
        WsLimits(send_queue_soft_limit=2, send_queue_hard_limit=8)
    )
    async with WsTestClient.connect(server.base, **stuck_client(server)) as stuck:
        await stuck.subscribe("items", {"symbol": "I", "ticking": False})
        server.in_server(lambda: server.service.burst(count=20, size=0, items=20))
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(WAIT):
                while True:
                    await stuck.connection.recv()

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CLOSE_SLOW_CONSUMER


async def test_failed_send_closes_with_1011_and_frees_the_connection(
    server: Server,
) -> None:
    async with (
        WsTestClient.connect(server.base) as broken,
        WsTestClient.connect(server.base) as bystander,
    ):
        await broken.subscribe("journal", {"symbol": "U", "ticking": False})
        await bystander.subscribe("ticks", {"symbol": "B", "ticking": False})
        server.in_server(lambda: server.service.publish_unsendable("journal"))
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(WAIT):
                while True:
                    await broken.connection.recv()
        stats = await asyncio.to_thread(server.wait_stats, connections=1, topics=1)
        pong = await bystander.ping({"still": "here"})

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CLOSE_INTERNAL_ERROR
    assert stats["subscriptions"] == 1
    assert pong == {"still": "here"}
