"""Who may open a WebSocket and subscribe to what: a real uvicorn, a real client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from trading_api.app_factory import ModularFastAPI
from trading_api.shared.testing import serve
from trading_api.shared.ws import CLOSE_UNAUTHORIZED

from .conftest import Issuer, build

WAIT = 10.0


@pytest.fixture(scope="module")
def app(issuer: Issuer) -> ModularFastAPI:
    app = build(issuer, "broker", "datafeed")
    [broker] = [m for m in app.modules if m.name == "broker"]
    broker.simulation_interval = 0  # type: ignore[attr-defined]
    return app


@pytest.fixture(scope="module")
def ws_base(app: ModularFastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url.replace("http://", "ws://") + "/api/v1"


async def closed_with(url: str, **options: Any) -> tuple[int, str]:
    """Connect and wait for the server to close: its code and reason."""
    async with connect(url, open_timeout=WAIT, **options) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(WAIT):
                await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def subscribe(ws: ClientConnection, route: str, account: str) -> dict[str, Any]:
    await ws.send(
        json.dumps({"type": f"{route}.subscribe", "payload": {"accountId": account}})
    )
    async with asyncio.timeout(WAIT):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == f"{route}.subscribe.response":
                return message["payload"]  # type: ignore[no-any-return]


def test_no_token_closes_with_4401(ws_base: str) -> None:
    code, reason = asyncio.run(closed_with(f"{ws_base}/broker/ws"))
    assert code == CLOSE_UNAUTHORIZED
    assert reason.startswith("authentication required")


def test_an_expired_token_closes_with_4401_saying_so(
    ws_base: str, issuer: Issuer
) -> None:
    token = issuer.signer.sign("alice", ["ALICE-1"], now=0, ttl_seconds=60)
    code, reason = asyncio.run(
        closed_with(
            f"{ws_base}/broker/ws",
            additional_headers={"Authorization": f"Bearer {token}"},
        )
    )
    assert (code, reason) == (CLOSE_UNAUTHORIZED, "token expired")


def test_a_browser_presents_its_token_as_a_subprotocol(
    ws_base: str, issuer: Issuer
) -> None:
    async def run() -> tuple[str | None, dict[str, Any]]:
        token = issuer.token("alice", ("ALICE-1",))
        async with connect(
            f"{ws_base}/broker/ws",
            subprotocols=["bearer", token],
            origin="http://localhost:5173",
        ) as ws:
            return ws.subprotocol, await subscribe(ws, "orders", "ALICE-1")

    chosen, answer = asyncio.run(run())
    assert chosen == "bearer"
    assert (answer["status"], answer["message"]) == ("ok", "subscribed")


def test_a_page_from_an_origin_off_the_cors_list_is_refused_at_the_handshake(
    ws_base: str, issuer: Issuer
) -> None:
    async def run() -> None:
        token = issuer.token()
        async with connect(
            f"{ws_base}/broker/ws",
            subprotocols=["bearer", token],
            origin="https://evil.example",
        ):
            pass

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(run())
    assert refused.value.response.status_code == 403


def test_another_users_account_and_an_unknown_one_are_refused_alike(
    ws_base: str, issuer: Issuer
) -> None:
    async def run() -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {issuer.token('alice', ('ALICE-1',))}"}
        async with connect(f"{ws_base}/broker/ws", additional_headers=headers) as ws:
            return [
                await subscribe(ws, route, account)
                for route in ("orders", "executions")
                for account in ("BOB-1", "NOBODY-9", "ALICE-1")
            ]

    answers = [(a["status"], a["message"]) for a in asyncio.run(run())]
    refused = ("error", "not allowed to act on this account")
    assert answers == [refused, refused, ("ok", "subscribed")] * 2


def test_the_connection_closes_when_its_token_expires(
    ws_base: str, issuer: Issuer
) -> None:
    async def run() -> tuple[dict[str, Any], tuple[int, str]]:
        # Accepted with the server's 30 s of clock skew, then closed at expiry.
        import time

        token = issuer.signer.sign(
            "alice", ["ALICE-1"], now=time.time() - 5, ttl_seconds=10
        )
        headers = {"Authorization": f"Bearer {token}"}
        async with connect(f"{ws_base}/broker/ws", additional_headers=headers) as ws:
            answer = await subscribe(ws, "orders", "ALICE-1")
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(2 * WAIT):
                    while True:
                        await ws.recv()
        assert closed.value.rcvd is not None
        return answer, (closed.value.rcvd.code, closed.value.rcvd.reason)

    answer, close = asyncio.run(run())
    assert answer["status"] == "ok"
    assert close == (CLOSE_UNAUTHORIZED, "token expired")


def test_public_market_data_streams_without_a_token(ws_base: str) -> None:
    async def run() -> dict[str, Any]:
        async with connect(f"{ws_base}/datafeed/ws") as ws:
            await ws.send(
                json.dumps(
                    {"type": "quotes.subscribe", "payload": {"symbols": ["AAPL"]}}
                )
            )
            async with asyncio.timeout(WAIT):
                return json.loads(await ws.recv())  # type: ignore[no-any-return]

    answer = asyncio.run(run())
    assert answer["type"] == "quotes.subscribe.response"
    assert answer["payload"]["status"] == "ok"
