"""The generated clients driven through real workflows on a real uvicorn.

Every call goes over loopback HTTP or WebSocket to a server built by the app
factory, the way a user's script or another service would use the clients.
"""

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest

from trading_api.app_factory import AppFactory
from trading_api.market import ManualClock, Market
from trading_api.models.bars import Bar, BarsSubscriptionRequest, Resolution
from trading_api.models.broker import (
    AccountSubscriptionRequest,
    OrderStatus,
    OrderType,
    PreOrder,
    Side,
)
from trading_api.models.datafeed import QuotesRequest, QuotesSubscriptionRequest
from trading_api.modules.broker.client_generated import AsyncBrokerClient
from trading_api.modules.core.client_generated import AsyncCoreClient, CoreClient
from trading_api.modules.datafeed.client_generated import (
    ApiError,
    AsyncDatafeedClient,
    DatafeedClient,
    SubscriptionError,
)
from trading_api.shared.auth.testing import dev_token
from trading_api.shared.testing import serve

pytestmark = pytest.mark.anyio

DAY = 86_400
BOUND = 10.0  # seconds any awaited server-side effect may take, at most


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Server:
    url: str


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    app = AppFactory().create_app()
    [broker] = [module for module in app.modules if module.name == "broker"]
    # Trade at a fixed open instant, so market orders fill at any hour.
    service: Any = broker.service
    service.engine.market = Market(clock=ManualClock(1_718_028_000))
    service.set_price("AAPL", 100.0)
    with serve(app) as url:
        yield Server(url)


def account() -> AccountSubscriptionRequest:
    """A fresh account, so tests sharing the server never see each other's orders."""
    return AccountSubscriptionRequest(account_id=f"T{uuid4().hex[:12]}")


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it holds, for at most :data:`BOUND` seconds."""
    deadline = time.monotonic() + BOUND
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def test_core_client_reports_health_versions_and_enabled_modules(
    server: Server,
) -> None:
    with CoreClient(base_url=server.url + "/") as core:
        health = core.health()
        versions = core.versions()
        modules = core.modules()

    assert health.status == "ok"
    assert versions.api_version == "v1"
    assert set(versions.modules) == {"auth", "core", "datafeed", "broker"}
    assert {(m.name, m.mount_path) for m in modules} >= {
        ("core", "/api/v1/core"),
        ("datafeed", "/api/v1/datafeed"),
        ("broker", "/api/v1/broker"),
    }


async def test_async_core_client_reports_health(server: Server) -> None:
    async with AsyncCoreClient(base_url=server.url) as core:
        health = await core.health()

    assert health.status == "ok"


def test_client_refuses_a_base_url_that_is_not_http() -> None:
    with pytest.raises(ValueError, match=re.escape("http://127.0.0.1:8000")):
        CoreClient(base_url="127.0.0.1:8000")


async def test_datafeed_history_gives_ascending_bars_distinct_per_symbol(
    server: Server,
) -> None:
    now = int(time.time())
    async with AsyncDatafeedClient(base_url=server.url) as datafeed:
        info = await datafeed.resolve_symbol("AAPL")
        aapl, msft = [
            await datafeed.get_bars(
                symbol=symbol,
                resolution=Resolution.DAY_1,
                from_time=now - 30 * DAY,
                to_time=now,
            )
            for symbol in ("AAPL", "MSFT")
        ]

    assert info.ticker.endswith("AAPL")
    assert "1D" in info.supported_resolutions
    times = [bar.time for bar in aapl.bars]
    assert len(times) >= 20 and times == sorted(times)
    assert all(isinstance(bar, Bar) for bar in aapl.bars)
    assert [b.close for b in aapl.bars] != [b.close for b in msft.bars]


def test_datafeed_quotes_come_back_per_symbol(server: Server) -> None:
    with DatafeedClient(base_url=server.url) as datafeed:
        quotes = datafeed.get_quotes(QuotesRequest(symbols=["AAPL", "NOPE:XX"]))

    by_name = {quote.n: quote for quote in quotes}
    assert by_name["AAPL"].s == "ok" and (by_name["AAPL"].v.lp or 0) > 0
    assert by_name["NOPE:XX"].s == "error"


def test_unknown_symbol_raises_api_error_with_status_and_detail(
    server: Server,
) -> None:
    with (
        DatafeedClient(base_url=server.url) as datafeed,
        pytest.raises(ApiError) as err,
    ):
        datafeed.resolve_symbol("NOPE:XX")

    assert err.value.status_code == 404
    assert "NOPE:XX" in str(err.value.detail)
    assert err.value.url.endswith("/api/v1/datafeed/resolve/NOPE%3AXX")


async def test_live_bars_arrive_typed_and_leaving_the_loop_releases_the_topic(
    server: Server,
) -> None:
    request = BarsSubscriptionRequest(symbol="MSFT", resolution=Resolution.MINUTE_1)
    async with AsyncDatafeedClient(base_url=server.url) as datafeed:
        async for bar in datafeed.subscribe("bars", request):
            first = bar
            break

        async def released() -> bool:
            return (await datafeed.ws_stats())["connections"] == 0

        await eventually(released)

    assert isinstance(first, Bar) and first.close > 0


def test_sync_quotes_subscription_yields_the_subscribed_symbol(server: Server) -> None:
    request = QuotesSubscriptionRequest(symbols=["AAPL"], fast_symbols=["AAPL"])
    with DatafeedClient(base_url=server.url) as datafeed:
        with datafeed.subscribe("quotes", request) as quotes:
            topic = quotes.topic
            quote = next(iter(quotes))
        deadline = time.monotonic() + BOUND
        while datafeed.ws_stats()["connections"] and time.monotonic() < deadline:
            time.sleep(0.02)  # polling the server's count, bounded
        connections = datafeed.ws_stats()["connections"]

    assert topic.startswith("quotes:")
    assert quote.n.endswith("AAPL") and quote.s == "ok"
    assert connections == 0


async def test_invalid_subscription_raises_the_servers_reason(server: Server) -> None:
    # model_construct skips client-side validation, so the server is the judge.
    bad = BarsSubscriptionRequest.model_construct(
        symbol="", resolution=Resolution.MINUTE_1
    )
    async with AsyncDatafeedClient(base_url=server.url) as datafeed:
        with pytest.raises(SubscriptionError) as err:
            async for _ in datafeed.subscribe("bars", bad):
                pass

    assert err.value.route == "bars"
    assert "BarsSubscriptionRequest" in err.value.reason
    assert err.value.detail


async def test_market_order_fill_arrives_through_the_orders_subscription(
    server: Server,
) -> None:
    acct = account()
    order = PreOrder(symbol="AAPL", type=OrderType.MARKET, side=Side.BUY, qty=3)
    token = dev_token("client", (acct.account_id,))
    async with AsyncBrokerClient(base_url=server.url, token=token) as broker:
        async with broker.subscribe("orders", acct) as orders:
            placed = await broker.place_order(order, account_id=acct.account_id)
            async for update in orders:
                if update.id == placed.order_id and update.status == OrderStatus.FILLED:
                    filled = update
                    break
        executions = await broker.list_executions("AAPL", account_id=acct.account_id)
        position = (await broker.list_positions(account_id=acct.account_id))[0]

    assert filled.filled_qty == 3 and (filled.avg_price or 0) > 0
    assert [(e.order_id, e.qty, e.price) for e in executions] == [
        (placed.order_id, 3, filled.avg_price)
    ]
    assert (position.symbol, position.qty, position.side) == (
        "NASDAQ:AAPL",
        3,
        Side.BUY,
    )


async def test_cancelling_a_filled_order_raises_a_conflict(server: Server) -> None:
    acct = account().account_id
    order = PreOrder(symbol="AAPL", type=OrderType.MARKET, side=Side.SELL, qty=1)
    token = dev_token("client", (acct,))
    async with AsyncBrokerClient(base_url=server.url, token=token) as broker:
        placed = await broker.place_order(order, account_id=acct)
        with pytest.raises(ApiError) as err:
            await broker.cancel_order(placed.order_id, account_id=acct)

    assert err.value.status_code == 409
    assert err.value.method == "DELETE"
