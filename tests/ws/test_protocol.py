"""Bad input gets an ``error`` message and never costs the connection."""

from __future__ import annotations

import json

import pytest

from trading_api.shared.ws.testing import WsTestClient

from .conftest import Server

pytestmark = pytest.mark.anyio

OVERSIZE = json.dumps({"type": "ping", "payload": {"pad": "x" * (64 * 1024)}})
NESTING_BOMB = "[" * 6 * 1024  # 6 KiB: deep enough to exhaust a recursive parser


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "invalid_json"),
        (b"\xff\xfe binary garbage", "invalid_unicode"),
        (NESTING_BOMB, "nesting_too_deep"),
        (
            '{"type": "ping", "payload": {"a": ' + "[" * 40 + "]" * 40 + "}}",
            "nesting_too_deep",
        ),
        ('{"type": "ping", "payload": {"s": "\\ud800"}}', "invalid_unicode"),
        ('{"type": "ping", "payload": {"\\udfff": 1}}', "invalid_unicode"),
        (
            '{"type": "ticks.subscribe", "payload": {"symbol": "\\ud800"}}',
            "invalid_unicode",
        ),
        ('{"type": "ping", "payload": {"x": NaN}}', "invalid_json"),
        ('{"type": "ping", "payload": {"x": -Infinity}}', "invalid_json"),
        ('{"type": "ping", "payload": {"x": 1e309}}', "invalid_json"),
        ("[1, 2, 3]", "invalid_message"),
        ('{"payload": {}}', "invalid_message"),
        ('{"type": "nope.subscribe", "payload": {}}', "unknown_type"),
        ('{"type": "ticks.publish", "payload": {}}', "unknown_type"),
        ('{"type": "ticks.subscribe", "payload": {"symbol": ""}}', "invalid_payload"),
        ('{"type": "ticks.subscribe", "payload": "AAPL"}', "invalid_payload"),
        (OVERSIZE, "frame_too_large"),
    ],
    ids=[
        "invalid-json",
        "binary-not-utf8",
        "nesting-bomb",
        "nested-too-deep-in-payload",
        "lone-surrogate-value",
        "lone-surrogate-key",
        "lone-surrogate-in-request",
        "nan",
        "minus-infinity",
        "number-out-of-range",
        "not-an-object",
        "no-type",
        "unknown-route",
        "unknown-action",
        "invalid-field",
        "payload-not-object",
        "oversize-frame",
    ],
)
async def test_bad_frame_gets_error_and_connection_still_answers_ping(
    server: Server, frame: str | bytes, code: str
) -> None:
    async with WsTestClient.connect(server.base) as client:
        await client.send_raw(frame)
        error = (await client.receive())["payload"]
        pong = await client.ping({"n": 1})

    assert error["code"] == code
    assert error["message"]
    assert pong == {"n": 1}


@pytest.mark.parametrize(
    "text",
    [
        "[[[]]]",
        '"' + "[" * 100 + '"',
        '{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}',
    ],
    ids=["shallow", "brackets-in-a-string", "brackets-after-an-escaped-quote"],
)
async def test_brackets_inside_strings_do_not_count_as_nesting(
    server: Server, text: str
) -> None:
    async with WsTestClient.connect(server.base) as client:
        pong = await client.ping({"data": json.loads(text)})

    assert pong == {"data": json.loads(text)}


async def test_ping_with_a_surrogate_pair_is_echoed_as_the_character(
    server: Server,
) -> None:
    async with WsTestClient.connect(server.base) as client:
        await client.send_raw('{"type": "ping", "payload": {"s": "\\ud83d\\ude00"}}')
        raw = await client.connection.recv()

    assert json.loads(raw) == {"type": "pong", "payload": {"s": "\U0001f600"}}


async def test_invalid_payload_error_names_the_bad_field(server: Server) -> None:
    async with WsTestClient.connect(server.base) as client:
        await client.send("ticks.subscribe", {"symbol": "A", "interval_ms": 0})
        error = (await client.receive("error"))["payload"]

    assert error["code"] == "invalid_payload"
    assert [e["loc"] for e in error["detail"]] == [["interval_ms"]]


async def test_unknown_type_error_lists_the_known_types(server: Server) -> None:
    async with WsTestClient.connect(server.base) as client:
        await client.send("tick.subscribe", {"symbol": "A"})
        error = (await client.receive("error"))["payload"]

    assert "ticks.subscribe" in error["detail"]["known"]
    assert "ticks.subscribe" in error["message"]


async def test_bad_input_on_one_connection_does_not_disturb_another(
    server: Server,
) -> None:
    request = {"symbol": "M", "ticking": False}
    async with (
        WsTestClient.connect(server.base) as good,
        WsTestClient.connect(server.base) as bad,
    ):
        await good.subscribe("ticks", request)
        for frame in ("{", "[]", OVERSIZE, '{"type": "x"}'):
            await bad.send_raw(frame)
        server.in_server(lambda: server.service.burst(count=20, size=10))
        seqs = [
            (await good.receive("ticks.update"))["payload"]["seq"] for _ in range(20)
        ]
        errors = [(await bad.receive("error"))["payload"]["code"] for _ in range(4)]

    assert seqs == list(range(1, 21))
    assert len(errors) == 4
