"""Time to answer the datafeed's largest history requests.

Run: python bench/datafeed_history.py [--rounds 5]

Each case is a `DatafeedService.bars` call, the work behind `GET /bars`: 5000
one-minute bars by `count_back` (the most one answer holds) and a window of a
year of one-minute bars (answered with its latest 5000), for a 24x7 symbol and a
symbol trading 6.5 hours a day. "cold" asks a window months further back each
round (each case its own months), so no memoised bar is reused; "warm" repeats
the same request.
"""

import argparse
import statistics
import time
from collections.abc import Callable

from trading_api.market import ManualClock, Market
from trading_api.models.bars import Resolution
from trading_api.modules.datafeed.service import DatafeedService

NOW = 1_718_020_800  # 2024-06-10T12:00Z
YEAR = 365 * 86_400
MONTH = 30 * 86_400


def timed(call: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    count = call()
    return time.perf_counter() - start, count


def case(
    service: DatafeedService, symbol: str, *, year: bool, shift: int
) -> Callable[[], int]:
    to_time = NOW - shift

    def call() -> int:
        if year:
            answer = service.bars(symbol, Resolution.MINUTE_1, to_time - YEAR, to_time)
        else:
            answer = service.bars(
                symbol, Resolution.MINUTE_1, to_time - 60, to_time, count_back=5000
            )
        return len(answer.bars)

    return call


def shift(round_: int, year: bool) -> int:
    """How far back a cold round ends: distinct for every round and case."""
    return (2 * round_ + 1 + year) * MONTH


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    service = DatafeedService(Market(ManualClock(NOW)))
    print(f"{'request':44} {'bars':>5} {'cold':>10} {'warm':>10}")
    for symbol in ("BTCUSD", "AAPL"):
        for year in (False, True):
            label = f"{symbol} 1m, {'year window' if year else 'count_back=5000'}"
            cold = [
                timed(case(service, symbol, year=year, shift=shift(r, year)))[0]
                for r in range(rounds)
            ]
            warm_call = case(service, symbol, year=year, shift=0)
            _, count = timed(warm_call)
            warm = [timed(warm_call)[0] for _ in range(rounds)]
            print(
                f"{label:44} {count:>5} {statistics.median(cold) * 1000:>8.0f}ms"
                f" {statistics.median(warm) * 1000:>8.0f}ms"
            )


if __name__ == "__main__":
    main()
