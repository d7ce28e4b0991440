"""Datafeed service behaviour, without HTTP: catalogue, history, quotes, streams."""

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel

from trading_api.models.bars import Bar, Resolution
from trading_api.models.datafeed import QuoteData
from trading_api.modules.datafeed.history import HISTORY_START, bar_end
from trading_api.modules.datafeed.series import Ohlcv, merge
from trading_api.modules.datafeed.service import (
    DatafeedService,
    InvalidRequestError,
    UnknownSymbolError,
)

NOW = 1_718_000_000.5  # 2024-06-10T06:13:20.5Z, a Monday
YEAR = 365 * 86_400


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(clock: FakeClock) -> DatafeedService:
    return DatafeedService(
        clock=clock, bar_interval=1.0, fast_interval=1.0, slow_interval=10.0
    )


def values(bar: Bar) -> Ohlcv:
    return Ohlcv(bar.open, bar.high, bar.low, bar.close, bar.volume)


def history(
    service: DatafeedService, resolution: Resolution, frm: float, to: float
) -> list[Bar]:
    return service.bars("NASDAQ:AAPL", resolution, int(frm), int(to)).bars


def topic(route: str, payload: dict[str, Any]) -> str:
    return f"{route}:{json.dumps(payload, sort_keys=True, separators=(',', ':'))}"


def test_catalogue_spans_ten_symbols_two_exchanges_and_two_types(
    service: DatafeedService,
) -> None:
    hits = service.search("", max_results=100)
    assert len(hits) >= 10
    assert len({h.exchange for h in hits}) >= 2
    assert len({h.type for h in hits}) >= 2


def test_configuration_advertises_exchanges_types_and_resolutions(
    service: DatafeedService,
) -> None:
    config = service.configuration()
    assert config.supported_resolutions == [r.value for r in Resolution]
    assert {e.value for e in config.exchanges} >= {"NASDAQ", "NYSE", "BINANCE"}
    assert {t.value for t in config.symbols_types} == {"stock", "crypto", "forex"}


def test_search_matches_name_or_description_case_insensitively(
    service: DatafeedService,
) -> None:
    assert [h.symbol for h in service.search("aapl")] == ["AAPL"]
    assert [h.symbol for h in service.search("bitcoin")] == ["BTCUSD"]


@pytest.mark.parametrize(
    ("exchange", "symbol_type", "expected"),
    [("NYSE", "", {"JPM", "KO", "XOM"}), ("", "forex", {"EURUSD", "GBPUSD", "USDJPY"})],
)
def test_search_filters_by_exchange_and_type(
    service: DatafeedService, exchange: str, symbol_type: str, expected: set[str]
) -> None:
    hits = service.search("", exchange=exchange, symbol_type=symbol_type)
    assert {h.symbol for h in hits} == expected


def test_search_honours_max_results(service: DatafeedService) -> None:
    assert len(service.search("", max_results=3)) == 3


@pytest.mark.parametrize("symbol", ["NASDAQ:AAPL", "AAPL"])
def test_resolve_accepts_ticker_or_bare_name(
    service: DatafeedService, symbol: str
) -> None:
    info = service.resolve(symbol)
    assert (info.ticker, info.exchange, info.pricescale) == (
        "NASDAQ:AAPL",
        "NASDAQ",
        100,
    )


def test_resolve_unknown_symbol_raises(service: DatafeedService) -> None:
    with pytest.raises(UnknownSymbolError, match="NOPE"):
        service.resolve("NOPE")


@pytest.mark.parametrize("resolution", list(Resolution))
def test_every_resolution_serves_aligned_ascending_bars_up_to_the_live_one(
    service: DatafeedService, resolution: Resolution
) -> None:
    bars = history(service, resolution, NOW - YEAR, NOW + 1)
    times = [b.time // 1000 for b in bars]
    assert len(bars) >= 12
    assert times == sorted(set(times))
    assert all(
        t == service.bars("AAPL", resolution, t, t + 1).bars[0].time // 1000
        for t in times[-3:]
    )
    assert times[-1] <= NOW < bar_end(resolution, times[-1])
    assert all(
        b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in bars
    )


@pytest.mark.parametrize(
    ("resolution", "seconds"),
    [(Resolution.MINUTE_1, 60), (Resolution.HOUR_1, 3600), (Resolution.DAY_1, 86_400)],
)
def test_bars_are_aligned_to_their_resolution(
    service: DatafeedService, resolution: Resolution, seconds: int
) -> None:
    bars = history(service, resolution, NOW - 100 * seconds, NOW)
    assert all((b.time // 1000) % seconds == 0 for b in bars)


def test_weekly_bars_open_on_monday_and_monthly_on_the_first(
    service: DatafeedService,
) -> None:
    weeks = history(service, Resolution.WEEK_1, NOW - YEAR, NOW)
    months = history(service, Resolution.MONTH_1, NOW - YEAR, NOW)
    assert {((b.time // 86_400_000) + 3) % 7 for b in weeks} == {0}
    assert months[-1].time == 1_717_200_000_000  # 2024-06-01


def test_count_back_returns_that_many_minute_bars_ending_before_to_time(
    service: DatafeedService,
) -> None:
    to_time = 1_717_996_380  # aligned to the minute, an hour before NOW
    result = service.bars(
        "AAPL", Resolution.MINUTE_1, int(NOW - YEAR), to_time, count_back=300
    )
    assert len(result.bars) == 300
    assert result.bars[-1].time // 1000 == to_time - 60
    assert result.bars[0].time // 1000 == to_time - 300 * 60


@pytest.mark.parametrize(
    ("coarse", "fine", "count"),
    [
        (Resolution.MINUTE_5, Resolution.MINUTE_1, 5),
        (Resolution.HOUR_1, Resolution.MINUTE_15, 4),
        (Resolution.HOUR_1, Resolution.MINUTE_30, 2),
        (Resolution.MINUTE_30, Resolution.MINUTE_5, 6),
        (Resolution.HOUR_4, Resolution.MINUTE_30, 8),
        (Resolution.DAY_1, Resolution.HOUR_1, 24),
        (Resolution.WEEK_1, Resolution.DAY_1, 7),
    ],
)
def test_coarse_bars_aggregate_their_fine_bars_exactly(
    service: DatafeedService, coarse: Resolution, fine: Resolution, count: int
) -> None:
    start = 1_717_977_600 - 7 * 86_400  # a Monday, well before NOW
    [big] = history(service, coarse, start, start + 1)
    small = history(service, fine, start, bar_end(coarse, start))
    assert len(small) == count
    assert merge(values(b) for b in small) == values(big)


def test_live_daily_bar_aggregates_the_live_minute_bars(
    service: DatafeedService,
) -> None:
    midnight = int(NOW) // 86_400 * 86_400
    minutes = history(service, Resolution.MINUTE_1, midnight, NOW + 1)
    [day] = history(service, Resolution.DAY_1, midnight, NOW + 1)
    assert merge(values(b) for b in minutes) == values(day)


def test_history_never_extends_past_now(service: DatafeedService) -> None:
    bars = history(service, Resolution.MINUTE_1, NOW - 600, NOW + 3600)
    assert bars[-1].time // 1000 == int(NOW) // 60 * 60


def test_each_symbol_has_its_own_series(service: DatafeedService) -> None:
    closes = {
        symbol: [
            b.close
            for b in service.bars(
                symbol, Resolution.DAY_1, int(NOW - 30 * 86_400), int(NOW)
            ).bars
        ]
        for symbol in ("AAPL", "MSFT", "JPM")
    }
    assert closes["AAPL"] != closes["MSFT"] != closes["JPM"]


def test_history_is_deterministic_across_instances(clock: FakeClock) -> None:
    first = DatafeedService(clock=clock).bars(
        "BTCUSD", Resolution.MINUTE_15, int(NOW - 86_400), int(NOW)
    )
    second = DatafeedService(clock=clock).bars(
        "BTCUSD", Resolution.MINUTE_15, int(NOW - 86_400), int(NOW)
    )
    assert first == second


def test_empty_window_raises_invalid_request(service: DatafeedService) -> None:
    with pytest.raises(InvalidRequestError, match="before to_time"):
        service.bars("AAPL", Resolution.DAY_1, int(NOW), int(NOW) - 10)


def test_window_before_history_start_has_no_data(service: DatafeedService) -> None:
    result = service.bars(
        "AAPL", Resolution.DAY_1, HISTORY_START - YEAR, HISTORY_START - 1
    )
    assert result.bars == [] and result.meta.no_data and result.meta.next_time is None


def test_quote_last_price_is_the_live_minute_close(service: DatafeedService) -> None:
    [quote] = service.quotes(["NASDAQ:AAPL"])
    live = service.live_bar("NASDAQ:AAPL", Resolution.MINUTE_1)
    assert quote.s == "ok" and quote.v.lp == live.close
    assert (
        quote.v.bid is not None
        and quote.v.ask is not None
        and quote.v.bid < quote.v.lp < quote.v.ask
    )


def test_quote_of_unknown_symbol_is_an_error_entry(service: DatafeedService) -> None:
    [quote] = service.quotes(["NOPE"])
    assert (quote.s, quote.n, quote.v.lp) == ("error", "NOPE", None)


def subscribe(
    service: DatafeedService, name: str, payload: dict[str, Any]
) -> list[BaseModel]:
    received: list[BaseModel] = []
    asyncio.run(service.create_topic(topic(name, payload), received.append))
    return received


def test_bars_topic_publishes_the_live_bar_at_once(service: DatafeedService) -> None:
    received = subscribe(service, "bars", {"symbol": "AAPL", "resolution": "1"})
    assert received == [service.live_bar("AAPL", Resolution.MINUTE_1)]


def test_bars_topic_publishes_again_once_its_interval_passed(
    service: DatafeedService, clock: FakeClock
) -> None:
    received = subscribe(service, "bars", {"symbol": "AAPL", "resolution": "1"})
    service.advance()
    clock.now += 20
    service.advance()
    assert len(received) == 2
    assert received[-1] == service.live_bar("AAPL", Resolution.MINUTE_1)


def test_bars_topic_update_matches_rest_history(
    service: DatafeedService, clock: FakeClock
) -> None:
    received = subscribe(service, "bars", {"symbol": "AAPL", "resolution": "60"})
    clock.now += 125
    service.advance()
    assert (
        received[-1]
        == history(service, Resolution.HOUR_1, clock.now - 3600, clock.now + 1)[-1]
    )


def test_quotes_topic_updates_fast_symbols_more_often_than_slow(
    service: DatafeedService, clock: FakeClock
) -> None:
    received = subscribe(
        service, "quotes", {"symbols": ["AAPL", "MSFT"], "fast_symbols": ["AAPL"]}
    )
    for _ in range(10):
        clock.now += 1
        service.advance()
    names = [q.n for q in received if isinstance(q, QuoteData)]
    assert names.count("NASDAQ:AAPL") >= 8
    assert names.count("NASDAQ:MSFT") == 2


def test_removed_topic_stops_publishing(
    service: DatafeedService, clock: FakeClock
) -> None:
    received = subscribe(service, "bars", {"symbol": "AAPL", "resolution": "1"})
    asyncio.run(
        service.remove_topic(topic("bars", {"symbol": "AAPL", "resolution": "1"}))
    )
    clock.now += 30
    service.advance()
    assert len(received) == 1


def test_subscribing_to_an_unknown_symbol_fails(service: DatafeedService) -> None:
    with pytest.raises(UnknownSymbolError):
        subscribe(service, "bars", {"symbol": "NOPE", "resolution": "1"})
