"""The broker fills at the price the datafeed shows, on a real uvicorn.

One app serves both modules on one market whose clock the test moves. At each
instant the test asks the datafeed for a quote over HTTP, then places a market
order over HTTP: the fill price must be the quote's last price, for a stock, a
crypto and an FX symbol, and again after the clock moved. No override is set:
these are the path's own prices.
"""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from trading_api.app_factory import ModularFastAPI
from trading_api.market import ManualClock, Market
from trading_api.modules.broker import BrokerModule
from trading_api.modules.core import CoreModule
from trading_api.modules.datafeed import DatafeedModule
from trading_api.shared.auth.testing import sign_in
from trading_api.shared.testing import http_client, serve

MONDAY_10_NY = 1_718_028_000  # 2024-06-10 10:00 New York: every market trades
SYMBOLS = {"AAPL": 1, "BINANCE:BTCUSD": 0.0001, "EURUSD": 1000}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY_10_NY)


@pytest.fixture
def url(clock: ManualClock) -> Iterator[str]:
    market = Market(clock=clock)
    broker = BrokerModule(market)
    broker.simulation_interval = 0
    app = sign_in(ModularFastAPI([CoreModule(), DatafeedModule(market), broker]))
    with serve(app) as base:
        yield base


def quote(http: httpx.Client, symbol: str) -> float:
    response = http.post("/api/v1/datafeed/quotes", json={"symbols": [symbol]})
    [answer] = response.json()
    assert answer["s"] == "ok", answer
    last: float = answer["v"]["lp"]
    return last


def fill(http: httpx.Client, symbol: str, qty: float) -> dict[str, Any]:
    body = {"symbol": symbol, "type": 2, "side": 1, "qty": qty}
    placed = http.post("/api/v1/broker/orders", json=body)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["orderId"]
    [order] = [
        o for o in http.get("/api/v1/broker/orders").json() if o["id"] == order_id
    ]
    return order  # type: ignore[no-any-return]


@pytest.mark.parametrize("symbol", list(SYMBOLS))
def test_market_order_fills_at_the_datafeed_quote_of_the_instant(
    url: str, clock: ManualClock, symbol: str
) -> None:
    seen = []
    with http_client(base_url=url) as http:
        for _ in range(3):
            shown = quote(http, symbol)
            order = fill(http, symbol, SYMBOLS[symbol])
            assert (order["status"], order["avgPrice"]) == (2, shown)
            seen.append(shown)
            clock.advance(97)
    assert len(set(seen)) > 1, "the price never moved between the instants"
