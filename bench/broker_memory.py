"""Memory the broker holds per account and per order, and that its limits cap it.

Run: python bench/broker_memory.py [--accounts 200] [--orders 50]

With ``tracemalloc``: ``--accounts`` accounts each get ``--orders`` resting limit
orders (open, far from the market), then every account tries as many again past
a limit of ``--orders`` open orders (all refused), then as many new accounts try
to open past a limit of ``--accounts`` accounts (all refused). Prints the bytes
per open order, the growth while refused (bounded: refusals keep nothing), and
the bytes per filled market order that stay in memory: the broker stores its
history (finished orders, executions) in its SQLite tables (a temporary file
here) and keeps none of it.
"""

import argparse
import asyncio
import tempfile
import tracemalloc
from pathlib import Path

from trading_api.market import ManualClock, Market
from trading_api.models.broker import OrderType, PreOrder, Side
from trading_api.modules.broker.errors import LimitError
from trading_api.modules.broker.service import BrokerService
from trading_api.modules.broker.settings import BrokerSettings
from trading_api.modules.broker.tables import Base
from trading_api.shared.storage import ModuleDatabase
from trading_api.shared.storage.migrations import ModuleMigrations, upgrade

PACKAGE = Path(__file__).resolve().parents[1] / "src/trading_api/modules/broker"

OPEN = 1_718_028_000  # Monday 2024-06-10 10:00 New York


def resting(price: float) -> PreOrder:
    return PreOrder(
        symbol="AAPL", type=OrderType.LIMIT, side=Side.BUY, qty=1, limit_price=price
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--orders", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/broker.db"
        upgrade(url, ModuleMigrations.in_package("broker", PACKAGE, Base.metadata))
        asyncio.run(measure(url, args))


async def measure(url: str, args: argparse.Namespace) -> None:
    settings = BrokerSettings(max_accounts=args.accounts, max_open_orders=args.orders)
    database = ModuleDatabase("broker", Base.metadata, url)
    await database.open()
    market = Market(clock=ManualClock(OPEN))
    broker = BrokerService(database, market=market, settings=settings)
    await broker.open()
    broker.set_price("AAPL", 100.0)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for a in range(args.accounts):
        for o in range(args.orders):
            await broker.place_order(f"A{a}", resting(50.0 + o / 100))
    full = tracemalloc.get_traced_memory()[0]
    refused = 0
    for a in range(args.accounts):
        for o in range(args.orders):
            try:
                await broker.place_order(f"A{a}", resting(40.0 + o / 100))
            except LimitError:
                refused += 1
    for a in range(args.accounts):
        try:
            await broker.place_order(f"NEW{a}", resting(40.0))
        except LimitError:
            refused += 1
    after = tracemalloc.get_traced_memory()[0]
    fills = 2_000
    for i in range(fills):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        await broker.place_order(
            "A0", PreOrder(symbol="AAPL", type=OrderType.MARKET, side=side, qty=1)
        )
    history = tracemalloc.get_traced_memory()[0]
    opened = args.accounts * args.orders
    print(f"open orders held:      {opened:>8}  {(full - base) / opened:8.0f} B each")
    print(f"refused past limits:   {refused:>8}  growth {after - full:+,} B in all")
    print(f"filled market orders:  {fills:>8}  {(history - after) / fills:8.0f} B each")
    await broker.close()
    await database.close()


if __name__ == "__main__":
    main()
