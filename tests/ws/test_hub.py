"""Hub behaviour seen by clients: subscribe, updates, reference counting, cleanup."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from trading_api.shared.ws import topic_for
from trading_api.shared.ws.testing import WsTestClient

from .conftest import Server, TickRequest

pytestmark = pytest.mark.anyio

TOPIC_A = 'ticks:{"interval_ms":5,"symbol":"A","ticking":true}'


async def test_subscribe_answers_with_topic_then_updates_with_increasing_seq(
    server: Server,
) -> None:
    async with WsTestClient.connect(server.base) as client:
        response = await client.subscribe("ticks", {"symbol": "A"})
        seqs = [(await client.receive("ticks.update"))["payload"] for _ in range(5)]

    assert response == {"status": "ok", "message": "subscribed", "topic": TOPIC_A}
    assert topic_for("ticks", TickRequest(symbol="A")) == TOPIC_A
    assert [u["seq"] for u in seqs] == list(range(seqs[0]["seq"], seqs[0]["seq"] + 5))
    assert {u["topic"] for u in seqs} == {TOPIC_A}
    assert seqs[0]["payload"]["symbol"] == "A"


async def test_two_clients_on_one_topic_share_one_create_and_last_leaver_removes(
    server: Server,
) -> None:
    request = {"symbol": "B", "ticking": False}
    async with (
        WsTestClient.connect(server.base) as first,
        WsTestClient.connect(server.base) as second,
    ):
        topic = (await first.subscribe("ticks", request))["topic"]
        assert (await second.subscribe("ticks", request))["topic"] == topic
        server.in_server(lambda: server.service.burst(count=3, size=0))
        got_first = [await first.receive("ticks.update") for _ in range(3)]
        got_second = [await second.receive("ticks.update") for _ in range(3)]

        assert (await first.unsubscribe("ticks", request))["status"] == "ok"
        stats_after_first = server.stats()
        assert (await second.unsubscribe("ticks", request))["status"] == "ok"
        await asyncio.to_thread(
            server.service.wait_until, lambda: server.service.removed
        )

    assert server.service.created == [topic]
    assert server.service.removed == [topic]
    assert [m["payload"]["seq"] for m in got_first] == [1, 2, 3]
    assert got_first == got_second
    assert stats_after_first["topics"] == 1
    assert stats_after_first["subscriptions"] == 1


async def test_disconnect_releases_every_topic_of_the_connection(
    server: Server,
) -> None:
    async with WsTestClient.connect(server.base) as client:
        for symbol in ("C", "D", "E"):
            await client.subscribe("ticks", {"symbol": symbol})
        assert server.stats()["subscriptions"] == 3

    stats = await asyncio.to_thread(server.wait_stats, connections=0, topics=0)
    await asyncio.to_thread(
        server.service.wait_until, lambda: len(server.service.removed) == 3
    )
    assert stats["subscriptions"] == 0
    assert sorted(server.service.removed) == sorted(server.service.created)


async def test_many_abrupt_disconnects_leave_nothing_behind(server: Server) -> None:
    cycles, parallel = 500, 25

    async def cycle(i: int) -> None:
        async with WsTestClient.connect(server.base) as client:
            response = await client.subscribe("ticks", {"symbol": f"S{i % 7}"})
            assert response["status"] == "ok"
            client.abort()

    for start in range(0, cycles, parallel):
        await asyncio.gather(*(cycle(i) for i in range(start, start + parallel)))

    stats = await asyncio.to_thread(server.wait_stats, connections=0, topics=0)
    service = server.service
    await asyncio.to_thread(
        service.wait_until, lambda: len(service.removed) == len(service.created)
    )
    assert stats["subscriptions"] == 0
    assert len(service.created) >= 7
    assert service.publishers == {}


async def test_subscribing_twice_is_idempotent(server: Server) -> None:
    async with WsTestClient.connect(server.base) as client:
        await client.subscribe("ticks", {"symbol": "F"})
        again = await client.subscribe("ticks", {"symbol": "F"})
        stats = server.stats()

    assert again["status"] == "ok"
    assert again["message"] == "already subscribed"
    assert stats["subscriptions"] == 1


async def test_unsubscribe_without_subscription_is_an_error_response(
    server: Server,
) -> None:
    async with WsTestClient.connect(server.base) as client:
        response = await client.unsubscribe("ticks", {"symbol": "G"})
        pong = await client.ping()

    assert response["status"] == "error"
    assert response["topic"] == topic_for("ticks", TickRequest(symbol="G"))
    assert pong == {}


async def test_failing_create_topic_answers_error_and_keeps_no_topic(
    server: Server,
) -> None:
    async with WsTestClient.connect(server.base) as client:
        response = await client.subscribe("ticks", {"symbol": "FAIL"})
        stats = server.stats()
        retry = await client.subscribe("ticks", {"symbol": "H"})

    assert response["status"] == "error"
    assert "no such symbol: FAIL" in response["message"]
    assert (stats["topics"], stats["subscriptions"]) == (0, 0)
    assert retry["status"] == "ok"


async def test_topics_per_connection_limit_refuses_the_extra_subscribe(
    server_factory: Any,
) -> None:
    from trading_api.shared.ws import WsLimits

    server = server_factory(WsLimits(max_topics_per_connection=2))
    async with WsTestClient.connect(server.base) as client:
        first = await client.subscribe("ticks", {"symbol": "I"})
        second = await client.subscribe("ticks", {"symbol": "J"})
        third = await client.subscribe("ticks", {"symbol": "K"})
        pong = await client.ping({"still": "here"})

    assert [first["status"], second["status"], third["status"]] == ["ok", "ok", "error"]
    assert "at most 2" in third["message"]
    assert pong == {"still": "here"}


async def test_server_shutdown_removes_topics_of_connected_clients() -> None:
    from trading_api.shared.testing import serve

    from .conftest import TickModule

    module = TickModule()
    app, _ = module.create_app()
    with ExitStack() as stack:
        base = stack.enter_context(serve(app))
        async with WsTestClient.connect(base) as client:
            topic = (await client.subscribe("ticks", {"symbol": "L"}))["topic"]
            # Stop uvicorn while the client is still connected (in a thread, so
            # this loop can answer the closing handshake).
            await asyncio.to_thread(stack.close)
            with pytest.raises(ConnectionClosed):
                await client.receive("never")

    assert module.service.removed == [topic]
