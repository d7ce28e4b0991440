"""Datafeed WebSocket routes on a real uvicorn, with the ``websockets`` client."""

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from trading_api.app_factory import AppFactory
from trading_api.shared.testing import http_get, serve

BASE = "/api/v1/datafeed"
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(AppFactory().create_app(["datafeed"])) as url:
        yield url + BASE


async def send(ws: ClientConnection, kind: str, payload: dict[str, Any]) -> None:
    await ws.send(json.dumps({"type": kind, "payload": payload}))


async def receive(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of type ``kind``, skipping others, within TIMEOUT."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/ws"


def test_bars_subscription_answers_with_topic_then_the_live_bar(base_url: str) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with connect(ws_url(base_url)) as ws:
            await send(
                ws, "bars.subscribe", {"symbol": "NASDAQ:AAPL", "resolution": "1"}
            )
            return await receive(ws, "bars.subscribe.response"), await receive(
                ws, "bars.update"
            )

    response, update = asyncio.run(scenario())
    assert response["payload"]["status"] == "ok"
    assert update["payload"]["topic"] == response["payload"]["topic"]
    assert update["payload"]["seq"] == 1
    bar = update["payload"]["payload"]
    history = http_get(
        f"{base_url}/bars",
        params={
            "symbol": "NASDAQ:AAPL",
            "resolution": "1",
            "from_time": 0,
            "to_time": 4_000_000_000,
            "count_back": 1,
        },
    ).json()["bars"]
    assert bar["time"] == history[-1]["time"] and bar["open"] == history[-1]["open"]


def test_quotes_subscription_sends_a_quote_per_symbol_named_as_asked(
    base_url: str,
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with connect(ws_url(base_url)) as ws:
            request = {
                "symbols": ["AAPL", "BINANCE:BTCUSD"],
                "fast_symbols": ["BINANCE:BTCUSD"],
            }
            await send(ws, "quotes.subscribe", request)
            return [await receive(ws, "quotes.update") for _ in range(2)]

    updates = asyncio.run(scenario())
    quotes = {u["payload"]["payload"]["n"]: u["payload"]["payload"] for u in updates}
    assert quotes.keys() == {"AAPL", "BINANCE:BTCUSD"}  # the names as subscribed
    assert all(q["s"] == "ok" and q["v"]["lp"] > 0 for q in quotes.values())
    assert [u["payload"]["seq"] for u in updates] == [1, 2]


def test_subscribing_to_an_unknown_symbol_is_refused_and_the_connection_lives(
    base_url: str,
) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with connect(ws_url(base_url)) as ws:
            await send(ws, "bars.subscribe", {"symbol": "NOPE", "resolution": "1"})
            refused = await receive(ws, "bars.subscribe.response")
            await send(ws, "ping", {})
            return refused, await receive(ws, "pong")

    refused, pong = asyncio.run(scenario())
    assert (
        refused["payload"]["status"] == "error"
        and "NOPE" in refused["payload"]["message"]
    )
    assert pong["type"] == "pong"


def test_disconnect_releases_the_topic(base_url: str) -> None:
    async def scenario() -> None:
        async with connect(ws_url(base_url)) as ws:
            await send(ws, "bars.subscribe", {"symbol": "KO", "resolution": "5"})
            await receive(ws, "bars.update")

    asyncio.run(scenario())
    stats: dict[str, Any] = {}
    for _ in range(200):
        stats = http_get(f"{base_url}/ws/stats").json()
        if stats["topics"] == 0:
            break
    assert stats["topics"] == 0 and stats["connections"] == 0
