"""Hostile WS frames against uvicorn in its own process: an error, never a drop.

One server (``conftest.py``) serves every test of this file, and the delivery
tests; each test finds it and leaves it with no connection and no topic.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from trading_api.shared.ws.testing import WsTestClient

from .ws_process import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("[" * 6 * 1024, "nesting_too_deep"),
        ('{"type": "ping", "payload": {"s": "\\ud800"}}', "invalid_unicode"),
        ('{"type": "ping", "payload": {"x": NaN}}', "invalid_json"),
        ('{"type": "ping", "payload": {"x": 1e309}}', "invalid_json"),
    ],
    ids=["nesting-bomb-6kb", "lone-surrogate", "nan-ping", "overflowing-number"],
)
async def test_hostile_frame_gets_an_error_and_the_connection_lives(
    server: ServerProcess, frame: str, code: str
) -> None:
    async with WsTestClient.connect(server.base) as client:
        # A topic of this test's own: its updates are numbered from 1.
        await client.subscribe("journal", {"symbol": code, "ticking": False})
        await client.send_raw(frame)
        raw_error = await client.connection.recv()
        await asyncio.to_thread(server.post, "/burst", count=3, route="journal")
        seqs = [
            (await client.receive("journal.update"))["payload"]["seq"] for _ in range(3)
        ]
        pong = await client.ping({"after": code})
    stats = await asyncio.to_thread(server.wait_stats, connections=0)

    error = json.loads(raw_error)  # strict JSON: no NaN, valid UTF-8
    assert error["type"] == "error"
    assert error["payload"]["code"] == code
    assert seqs == [1, 2, 3]
    assert pong == {"after": code}
    assert stats["topics"] == 0


async def test_every_reply_to_odd_but_valid_input_is_strict_json(
    server: ServerProcess,
) -> None:
    frames = [
        '{"type": "ping", "payload": {"big": 1e308, "neg": -0.0, "int": 1'
        + "0" * 300
        + "}}",
        '{"type": "ping", "payload": {"emoji": "\\ud83d\\ude00", "nul": "\\u0000"}}',
        '{"type": "journal.subscribe", "payload": {"symbol": "\\u00e9\\u20ac"}}',
    ]
    async with WsTestClient.connect(server.base) as client:
        replies = []
        for frame in frames:
            await client.send_raw(frame)
            replies.append(await client.connection.recv())

    parsed = [json.loads(r, parse_constant=pytest.fail) for r in replies]
    assert [p["type"] for p in parsed] == ["pong", "pong", "journal.subscribe.response"]
    assert parsed[1]["payload"] == {"emoji": "\U0001f600", "nul": "\x00"}
    topic = parsed[2]["payload"]["topic"]
    assert topic == 'journal:{"interval_ms":5,"symbol":"é€","ticking":true}'
