"""A subscription the server closes with a reason ends in a typed error.

A small Starlette app speaks the subscription protocol on a real uvicorn, then
closes the stream the way the services do: 4205 when updates were lost (the
broker's event bus), 1000 for a normal end.
"""

from collections.abc import Iterator

import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from trading_api.shared.client_runtime import (
    AsyncSubscription,
    Subscription,
    SubscriptionClosed,
    SubscriptionError,
)
from trading_api.shared.client_subscription import SubscriptionStream
from trading_api.shared.testing import serve

LOST = "updates were lost: resubscribe and read the state again"


class Tick(BaseModel):
    value: int


async def one_update_then_close(websocket: WebSocket) -> None:
    await websocket.accept()
    message = await websocket.receive_json()
    route = message["type"].removesuffix(".subscribe")
    code = int(websocket.query_params.get("code", "1000"))
    await websocket.send_json(
        {
            "type": f"{route}.subscribe.response",
            "payload": {"status": "ok", "message": "", "topic": "ticks:1"},
        }
    )
    await websocket.send_json(
        {
            "type": f"{route}.update",
            "payload": {"topic": "ticks:1", "seq": 1, "payload": {"value": 7}},
        }
    )
    await websocket.close(code=code, reason=LOST if code != 1000 else "")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    app = Starlette(routes=[WebSocketRoute("/ws", one_update_then_close)])
    with serve(app) as base:
        yield base.replace("http://", "ws://") + "/ws"


def subscription(url: str, code: int) -> Subscription[Tick]:
    stream = SubscriptionStream("ticks", {}, Tick)
    return Subscription(f"{url}?code={code}", stream, timeout=10.0, headers={})


def test_a_stream_closed_for_lost_updates_raises_its_code_and_reason(
    url: str,
) -> None:
    received: list[int] = []
    with pytest.raises(SubscriptionClosed) as closed:
        for tick in subscription(url, 4205):
            received.append(tick.value)
    assert received == [7]
    assert closed.value.code == 4205
    assert closed.value.reason == f"closed with 4205: {LOST}"
    assert isinstance(closed.value, SubscriptionError)


def test_a_normal_close_ends_the_loop_quietly(url: str) -> None:
    assert [tick.value for tick in subscription(url, 1000)] == [7]


@pytest.mark.anyio
async def test_an_async_stream_closed_for_lost_updates_raises_its_code(
    url: str,
) -> None:
    stream = SubscriptionStream("ticks", {}, Tick)
    received: list[int] = []
    with pytest.raises(SubscriptionClosed) as closed:
        async for tick in AsyncSubscription(
            f"{url}?code=4205", stream, timeout=10.0, headers={}
        ):
            received.append(tick.value)
    assert (received, closed.value.code) == ([7], 4205)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
