"""The broker service on a real SQLite database, driven from synchronous tests.

:class:`Broker` runs every call of a :class:`BrokerService` on one event loop,
stored in a database made by the broker's migrations, so the hand-computed cases
exercise the stored path the server runs. :meth:`Broker.restarted` builds a new
service on the same database, as a restarted server would: what it serves must
equal what the first one served (the fixtures check that after every test).
"""

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from pydantic import BaseModel

from trading_api.app_factory import AppFactory, ModularFastAPI
from trading_api.market import ManualClock, Market
from trading_api.models.broker import Order, OrderStatus, OrderType, PreOrder, Side
from trading_api.modules.broker.service import BrokerService
from trading_api.modules.broker.settings import BrokerSettings
from trading_api.modules.broker.tables import Base
from trading_api.shared.auth.testing import sign_in
from trading_api.shared.storage import ModuleDatabase

Run = Callable[[Coroutine[Any, Any, Any]], Any]
ACCOUNT = "A-1"
BUY, SELL = Side.BUY, Side.SELL
OPEN = 1_718_028_000  # Monday 2024-06-10 10:00 New York
AAPL = "NASDAQ:AAPL"


def stepped_app() -> tuple[ModularFastAPI, BrokerService]:
    """An app serving the broker alone on ``DATABASE_URL``, signed in, on a
    market whose clock stands at :data:`OPEN`; matching runs only when a test
    steps it (its live loop is off). Returns the app and the broker's service."""
    app = sign_in(AppFactory().create_app(["broker"]))
    [module] = [m for m in app.modules if m.name == "broker"]
    module.simulation_interval = 0  # type: ignore[attr-defined]
    service: BrokerService = module.service  # type: ignore[attr-defined]
    service.engine.market = Market(clock=ManualClock(OPEN))
    return app, service


class Broker:
    """A :class:`BrokerService` whose coroutines run to completion on ``run``."""

    def __init__(
        self,
        run: Run,
        url: str,
        market: Market,
        settings: BrokerSettings | None = None,
    ) -> None:
        self.run = run
        self.url = url
        self.settings = settings
        self.database = ModuleDatabase("broker", Base.metadata, url)
        run(self.database.open())
        self.service = BrokerService(self.database, market=market, settings=settings)
        run(self.service.open())
        run(self.service.warmed())

    @property
    def market(self) -> Market:
        return self.service.market

    @property
    def engine(self) -> Any:
        return self.service.engine

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.service, name)
        if not asyncio.iscoroutinefunction(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.run(attribute(*args, **kwargs))

        return call

    def set_price(self, symbol: str, price: float) -> None:
        """Override a price and run a matching step against it."""
        self.service.set_price(symbol, price)
        self.run(self.service.step())

    def step(self) -> None:
        self.run(self.service.step())

    def restarted(self) -> "Broker":
        """A new service on the same database and market: a restart."""
        return Broker(self.run, self.url, self.market, self.settings)

    def close(self) -> None:
        self.run(self.database.close())

    def snapshot(self) -> dict[str, Any]:
        """Everything the service serves from memory, per account."""
        state: dict[str, Any] = {}
        for account in self.engine.accounts():
            state[account.id] = {
                "account": self.account_info(account.id).model_dump(),
                "positions": [p.model_dump() for p in self.positions(account.id)],
                "open": [o.model_dump() for o in account.open.values()],
                "triggered": sorted(account.triggered),
                "fresh": sorted(account.fresh),
                "leverage": account.leverage,
                "version": account.version,
            }
        return state


def place(
    broker: Broker,
    side: Side,
    qty: float,
    order_type: OrderType = OrderType.MARKET,
    account: str = ACCOUNT,
    **prices: float,
) -> str:
    pre = PreOrder(symbol="AAPL", type=order_type, side=side, qty=qty, **prices)
    order_id: str = broker.place_order(account, pre)
    return order_id


def order(broker: Broker, order_id: str, account: str = ACCOUNT) -> Order:
    return next(o for o in broker.orders(account) if o.id == order_id)


def position(broker: Broker) -> tuple[float, Side, float] | None:
    positions = broker.positions(ACCOUNT)
    if not positions:
        return None
    [p] = positions
    return p.qty, p.side, p.avg_price


def money(broker: Broker) -> tuple[float, float, float]:
    info = broker.account_info(ACCOUNT)
    return info.balance, info.realized_pl, info.equity


def pre_order(**fields: Any) -> PreOrder:
    return PreOrder.model_validate(
        {"symbol": "AAPL", "type": OrderType.MARKET, "side": BUY, "qty": 1, **fields}
    )


def subscribe(broker: Broker, route: str, account: str = ACCOUNT) -> list[BaseModel]:
    received: list[BaseModel] = []
    payload: dict[str, Any] = {"accountId": account}
    topic = f"{route}:{json.dumps(payload, sort_keys=True, separators=(',', ':'))}"
    broker.create_topic(topic, received.append)
    return received


def statuses(received: list[BaseModel]) -> list[tuple[str, OrderStatus]]:
    return [(o.id, o.status) for o in received if isinstance(o, Order)]
