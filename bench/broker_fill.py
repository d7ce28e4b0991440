"""Fill latency of a market order: this checkout's broker beside an earlier one.

Run: python bench/broker_fill.py [--baseline REV] [--orders 2000] [--rounds 5]

Each broker runs in its own Python process (the two versions share module
names): ``--baseline`` (default ``e6472f5``, the broker before it traded on the
shared market) is exported from git into a temporary folder. Both measure the
same thing, alternating rounds: the median time of ``BrokerService.place_order``
for a market order that fills at once (buy then sell, so the account stays
flat), in process, with nobody subscribed, and the median of ``POST /orders``
through the ASGI app. The ratio is this checkout over the baseline.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import asyncio, json, statistics, sys, time
import httpx
from trading_api.models.broker import OrderType, PreOrder, Side
from trading_api.modules.broker.service import BrokerService
from trading_api.app_factory import AppFactory

orders = int(sys.argv[1])
import inspect
if "market" in inspect.signature(BrokerService).parameters:
    from trading_api.market import ManualClock, Market
    def make():
        return BrokerService(market=Market(clock=ManualClock(1_718_028_000)))
else:
    def make():
        return BrokerService(clock=lambda: 1_718_028_000.0)

service = make()
service.set_price("AAPL", 100.0)
times = []
for i in range(orders):
    side = Side.BUY if i % 2 == 0 else Side.SELL
    pre = PreOrder(symbol="AAPL", type=OrderType.MARKET, side=side, qty=1)
    start = time.perf_counter()
    service.place_order("BENCH", pre)
    times.append(time.perf_counter() - start)

app = AppFactory().create_app(["broker"])
[module] = [m for m in app.modules if m.name == "broker"]
module.simulation_interval = 0
try:
    module.service.engine.market = make().market
except AttributeError:
    pass
module.service.set_price("AAPL", 100.0)

async def rest():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
        spent = []
        for i in range(orders // 4):
            body = {"symbol": "AAPL", "type": 2, "side": 1 if i % 2 == 0 else -1,
                    "qty": 1}
            start = time.perf_counter()
            response = await client.post("/api/v1/broker/orders", json=body)
            spent.append(time.perf_counter() - start)
            assert response.status_code == 201, response.text
        return spent

rest_times = asyncio.run(rest())
print(json.dumps({"service": statistics.median(times),
                  "rest": statistics.median(rest_times)}))
"""


def export(revision: str, into: Path) -> Path:
    """Extract ``src/`` of ``revision`` into ``into``; return the src folder."""
    archive = subprocess.run(
        ["git", "archive", revision, "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def measure(src: Path, orders: int) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(orders)],
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise SystemExit(f"the broker under {src} failed:\n{result.stderr}")
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="e6472f5")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"baseline": [], "current": []}
    with tempfile.TemporaryDirectory() as tmp:
        sources = {
            "baseline": export(args.baseline, Path(tmp)),
            "current": ROOT / "src",
        }
        for _ in range(args.rounds):
            for name, src in sources.items():
                runs[name].append(measure(src, args.orders))
    for kind in ("service", "rest"):
        base = statistics.median(r[kind] for r in runs["baseline"]) * 1e6
        now = statistics.median(r[kind] for r in runs["current"]) * 1e6
        print(
            f"{kind:>7}: baseline {base:8.1f} us  current {now:8.1f} us  "
            f"current/baseline {now / base:.2f}"
        )


if __name__ == "__main__":
    main()
