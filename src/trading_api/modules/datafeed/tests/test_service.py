"""Datafeed service behaviour, without HTTP: catalogue, history, quotes, streams.

Time is pinned with a manual clock. Instants are worked out by hand (New York is
UTC-4 in June), prices are fixed vectors of the market's path.
"""

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel

from trading_api.market import ManualClock, Market, UnknownSymbolError
from trading_api.models.bars import Bar, Resolution
from trading_api.models.datafeed import QuoteData
from trading_api.modules.datafeed.service import DatafeedService, InvalidRequestError

HOUR = 3_600
MON = 1_717_977_600  # 2024-06-10T00:00Z, a Monday
FRI, SAT = MON - 3 * 86_400, MON - 2 * 86_400
TUE = MON + 86_400
NOON = MON + 12 * HOUR + 10  # 08:00:10 New York: crypto and FX trade, stocks not
CLOSE = MON + 20 * HOUR  # 16:00 New York, the stock close
HISTORY_START = 1_577_836_800  # 2020-01-01


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOON)


@pytest.fixture
def service(clock: ManualClock) -> DatafeedService:
    return DatafeedService(
        Market(clock), bar_interval=1.0, fast_interval=1.0, slow_interval=10.0
    )


def history(
    service: DatafeedService,
    resolution: Resolution,
    frm: float,
    to: float,
    symbol: str = "NASDAQ:AAPL",
) -> list[Bar]:
    return service.bars(symbol, resolution, int(frm), int(to)).bars


def topic(route: str, payload: dict[str, Any]) -> str:
    return f"{route}:{json.dumps(payload, sort_keys=True, separators=(',', ':'))}"


def subscribe(
    service: DatafeedService, name: str, payload: dict[str, Any]
) -> list[BaseModel]:
    received: list[BaseModel] = []
    asyncio.run(service.create_topic(topic(name, payload), received.append))
    return received


def test_catalogue_spans_ten_symbols_two_exchanges_and_two_types(
    service: DatafeedService,
) -> None:
    hits = service.search("", max_results=100)
    assert len(hits) >= 10
    assert len({h.exchange for h in hits}) >= 2
    assert len({h.type for h in hits}) >= 2


def test_configuration_advertises_time_exchanges_types_and_resolutions(
    service: DatafeedService,
) -> None:
    config = service.configuration()
    assert config.supported_resolutions == [r.value for r in Resolution]
    assert {e.value for e in config.exchanges} >= {"NASDAQ", "NYSE", "BINANCE"}
    assert {t.value for t in config.symbols_types} == {"stock", "crypto", "forex"}
    assert config.supports_time and config.currency_codes == ["JPY", "USD"]


def test_server_time_is_the_market_clock(
    service: DatafeedService, clock: ManualClock
) -> None:
    clock.set(1_718_000_000.9)
    assert service.server_time() == 1_718_000_000


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


def test_search_hits_tell_when_each_symbol_trades(service: DatafeedService) -> None:
    hits = {h.symbol: (h.session, h.timezone) for h in service.search("USD")}
    assert hits["EURUSD"] == ("1700-1700:23456", "America/New_York")
    assert hits["BTCUSD"] == ("24x7", "Etc/UTC")


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


@pytest.mark.parametrize(
    ("symbol", "session", "timezone", "currency"),
    [
        ("AAPL", "0930-1600:23456", "America/New_York", "USD"),
        ("FX:EURUSD", "1700-1700:23456", "America/New_York", "USD"),
        ("USDJPY", "1700-1700:23456", "America/New_York", "JPY"),
        ("BTCUSD", "24x7", "Etc/UTC", "USD"),
    ],
)
def test_resolve_reports_the_real_session_and_timezone(
    service: DatafeedService, symbol: str, session: str, timezone: str, currency: str
) -> None:
    info = service.resolve(symbol)
    assert (info.session, info.timezone, info.currency_code) == (
        session,
        timezone,
        currency,
    )


def test_resolve_unknown_symbol_raises(service: DatafeedService) -> None:
    with pytest.raises(UnknownSymbolError, match="NOPE"):
        service.resolve("NOPE")


@pytest.mark.parametrize("resolution", list(Resolution))
def test_every_resolution_serves_ascending_bars_up_to_the_live_one(
    service: DatafeedService, clock: ManualClock, resolution: Resolution
) -> None:
    clock.set(MON + 15 * HOUR + 7)  # 11:00:07 New York
    bars = history(service, resolution, MON - 400 * 86_400, clock.now + 1)
    times = [b.time // 1000 for b in bars]
    assert len(bars) >= 12
    assert times == sorted(set(times))
    assert times[-1] <= clock.now
    assert all(
        b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in bars
    )


def test_monday_daily_bar_is_the_markets_fixed_vector(
    service: DatafeedService, clock: ManualClock
) -> None:
    clock.set(TUE)
    [day] = history(service, Resolution.DAY_1, MON, TUE)
    assert day == Bar(
        time=MON * 1000,
        open=143.23,
        high=143.62,
        low=132.46,
        close=132.55,
        volume=93_636_867.0,
    )


def test_stock_hourly_bars_start_at_0930_new_york(
    service: DatafeedService, clock: ManualClock
) -> None:
    clock.set(TUE)
    bars = history(service, Resolution.HOUR_1, MON, TUE)
    start = (MON + 13 * HOUR + 1_800) * 1000  # 09:30 New York
    assert [b.time for b in bars] == [start + h * HOUR * 1000 for h in range(7)]


def test_bars_exist_only_in_session(
    service: DatafeedService, clock: ManualClock
) -> None:
    clock.set(TUE)
    assert history(service, Resolution.MINUTE_1, SAT, MON) == []
    assert len(history(service, Resolution.MINUTE_1, MON, TUE)) == 390


def test_count_back_skips_the_hours_the_market_is_closed(
    service: DatafeedService, clock: ManualClock
) -> None:
    clock.set(TUE + 13 * HOUR + 1_860)  # Tuesday 09:31 New York
    result = service.bars(
        "AAPL", Resolution.MINUTE_1, TUE, int(clock.now), count_back=400
    )
    times = [b.time // 1000 for b in result.bars]
    assert len(times) == 400  # 1 on Tuesday, 390 on Monday, 9 on Friday
    assert times[0] == FRI + 19 * HOUR + 51 * 60  # Friday 15:51 New York
    assert times[-1] == TUE + 13 * HOUR + 1_800  # Tuesday 09:30, the live bar


def test_count_back_returns_that_many_minute_bars_ending_before_to_time(
    service: DatafeedService,
) -> None:
    to_time = MON + 11 * HOUR  # an hour before NOON, on the minute
    result = service.bars(
        "BTCUSD", Resolution.MINUTE_1, to_time - 60, to_time, count_back=300
    )
    assert len(result.bars) == 300
    assert result.bars[-1].time // 1000 == to_time - 60
    assert result.bars[0].time // 1000 == to_time - 300 * 60


def test_count_back_above_the_maximum_is_refused(service: DatafeedService) -> None:
    with pytest.raises(InvalidRequestError, match="above the maximum 5000"):
        service.bars("AAPL", Resolution.DAY_1, 0, MON, count_back=5001)


def test_a_window_of_more_than_5000_bars_answers_the_latest_5000(
    service: DatafeedService,
) -> None:
    bars = history(service, Resolution.MINUTE_5, NOON - 30 * 86_400, NOON + 1, "ETHUSD")
    assert len(bars) == 5000
    assert bars[-1].time // 1000 == MON + 12 * HOUR  # the live 5-minute bar


def test_live_daily_bar_aggregates_the_live_minute_bars(
    service: DatafeedService,
) -> None:
    minutes = history(service, Resolution.MINUTE_1, MON, NOON + 1, "BTCUSD")
    [day] = history(service, Resolution.DAY_1, MON, NOON + 1, "BTCUSD")
    assert len(minutes) == 721  # 00:00 to 12:00 included
    assert (day.open, day.high, day.low, day.close, day.volume) == (
        minutes[0].open,
        max(b.high for b in minutes),
        min(b.low for b in minutes),
        minutes[-1].close,
        sum(b.volume for b in minutes),
    )


def test_history_never_extends_past_now(service: DatafeedService) -> None:
    bars = history(service, Resolution.MINUTE_1, NOON - 600, NOON + HOUR, "BTCUSD")
    assert bars[-1].time // 1000 == MON + 12 * HOUR


def test_each_symbol_has_its_own_series(service: DatafeedService) -> None:
    closes = {
        symbol: [
            b.close
            for b in service.bars(
                symbol, Resolution.DAY_1, NOON - 30 * 86_400, NOON
            ).bars
        ]
        for symbol in ("AAPL", "MSFT", "JPM")
    }
    assert closes["AAPL"] != closes["MSFT"] != closes["JPM"]


def test_history_is_deterministic_across_instances(clock: ManualClock) -> None:
    first = DatafeedService(Market(clock)).bars(
        "BTCUSD", Resolution.MINUTE_15, NOON - 86_400, NOON
    )
    second = DatafeedService(Market(clock)).bars(
        "BTCUSD", Resolution.MINUTE_15, NOON - 86_400, NOON
    )
    assert first == second


@pytest.mark.parametrize("to_time", [NOON - 10, NOON - 20])
def test_empty_window_has_no_data_and_points_at_the_bar_before(
    service: DatafeedService, to_time: int
) -> None:
    result = service.bars("BTCUSD", Resolution.MINUTE_1, NOON - 10, to_time)
    assert result.bars == [] and result.meta.no_data
    assert result.meta.next_time == (MON + 12 * HOUR - 60) * 1000


def test_future_window_next_time_is_the_live_bar(service: DatafeedService) -> None:
    result = service.bars("BTCUSD", Resolution.MINUTE_1, NOON + HOUR, NOON + 2 * HOUR)
    assert result.meta.no_data
    assert result.meta.next_time == (MON + 12 * HOUR) * 1000  # today's live minute


def test_weekend_window_next_time_is_fridays_last_bar(
    service: DatafeedService,
) -> None:
    result = service.bars("AAPL", Resolution.MINUTE_1, SAT, MON)
    assert result.meta.no_data
    assert result.meta.next_time == (FRI + 19 * HOUR + 59 * 60) * 1000  # 15:59


def test_window_before_history_start_has_no_data(service: DatafeedService) -> None:
    result = service.bars(
        "AAPL", Resolution.DAY_1, HISTORY_START - 86_400, HISTORY_START - 1
    )
    assert result.bars == [] and result.meta.no_data and result.meta.next_time is None


def test_quote_is_the_markets_fixed_vector_with_a_one_tick_spread(
    service: DatafeedService, clock: ManualClock
) -> None:
    clock.set(CLOSE)
    [quote] = service.quotes(["NASDAQ:AAPL"])
    v = quote.v
    assert (quote.s, v.lp, v.bid, v.ask) == ("ok", 132.55, 132.54, 132.56)
    assert v.spread == 0.02
    assert (v.prev_close_price, v.ch, v.chp) == (143.23, -10.68, -7.46)


def test_quote_does_not_move_while_closed(
    service: DatafeedService, clock: ManualClock
) -> None:
    clock.set(CLOSE)
    at_close = service.quotes(["AAPL"])
    clock.set(SAT + 12 * HOUR + 7 * 86_400)
    assert service.quotes(["AAPL"]) != at_close  # a week later it traded
    clock.set(CLOSE + 5 * HOUR)
    assert service.quotes(["AAPL"]) == at_close


def test_fx_quote_is_frozen_over_the_weekend(
    service: DatafeedService, clock: ManualClock
) -> None:
    clock.set(FRI + 21 * HOUR)  # Friday 17:00 New York: FX closes
    at_close = service.quotes(["EURUSD"])
    clock.set(SAT + 12 * HOUR)
    assert service.quotes(["EURUSD"]) == at_close
    clock.set(MON - 3 * HOUR + 90)  # Sunday 17:01:30 New York: FX trades again
    assert service.quotes(["EURUSD"]) != at_close


def test_stock_live_bar_stops_at_the_close(
    service: DatafeedService, clock: ManualClock
) -> None:
    clock.set(CLOSE - 60 + 30)  # 15:59:30 New York
    before_close = service.live_bar("AAPL", Resolution.MINUTE_1)
    clock.set(CLOSE + 60)  # 16:01
    after_close = service.live_bar("AAPL", Resolution.MINUTE_1)
    assert before_close.time == after_close.time == (CLOSE - 60) * 1000
    assert after_close.close == 132.55  # the fixed close
    assert before_close.close != after_close.close  # still moving at 15:59:30


def test_quotes_keep_the_requested_names(service: DatafeedService) -> None:
    quotes = service.quotes(["AAPL", "NASDAQ:AAPL", "NOPE"])
    assert [(q.n, q.s) for q in quotes] == [
        ("AAPL", "ok"),
        ("NASDAQ:AAPL", "ok"),
        ("NOPE", "error"),
    ]
    assert quotes[0].v == quotes[1].v and quotes[2].v.lp is None


def test_bars_topic_publishes_the_live_bar_at_once(service: DatafeedService) -> None:
    received = subscribe(service, "bars", {"symbol": "BTCUSD", "resolution": "1"})
    [bar] = received
    assert isinstance(bar, Bar)
    assert (bar.time, bar.close) == ((MON + 12 * HOUR) * 1000, 93_732.79)


def test_bars_topic_publishes_again_once_its_interval_passed(
    service: DatafeedService, clock: ManualClock
) -> None:
    received = subscribe(service, "bars", {"symbol": "BTCUSD", "resolution": "1"})
    service.advance()
    clock.advance(20)
    service.advance()
    [_, bar] = received
    assert isinstance(bar, Bar)
    # 12:00:30, half-way between the minute's high (at 18 s) and low (at 42 s).
    assert (bar.time, bar.close) == ((MON + 12 * HOUR) * 1000, 93_723.12)
    assert (bar.open, bar.high, bar.low) == (93_732.57, 93_732.96, 93_723.12)


def test_bars_topic_of_a_closed_market_publishes_once(
    service: DatafeedService, clock: ManualClock
) -> None:
    received = subscribe(service, "bars", {"symbol": "AAPL", "resolution": "5"})
    for _ in range(5):
        clock.advance(30)
        service.advance()
    [bar] = received
    assert isinstance(bar, Bar)
    assert bar.time == (FRI + 19 * HOUR + 55 * 60) * 1000  # Friday 15:55 New York


def test_quotes_topic_updates_fast_symbols_more_often_than_slow(
    service: DatafeedService, clock: ManualClock
) -> None:
    received = subscribe(
        service, "quotes", {"symbols": ["BTCUSD", "ETHUSD"], "fast_symbols": ["BTCUSD"]}
    )
    for _ in range(10):
        clock.advance(1)
        service.advance()
    names = [q.n for q in received if isinstance(q, QuoteData)]
    assert names.count("BTCUSD") >= 8
    assert names.count("ETHUSD") == 2


def test_quotes_topic_names_quotes_as_subscribed_and_is_quiet_while_closed(
    service: DatafeedService, clock: ManualClock
) -> None:
    received = subscribe(
        service, "quotes", {"symbols": ["AAPL"], "fast_symbols": ["AAPL"]}
    )
    for _ in range(10):
        clock.advance(1)
        service.advance()
    [quote] = received
    assert isinstance(quote, QuoteData) and quote.n == "AAPL"


def test_removed_topic_stops_publishing(
    service: DatafeedService, clock: ManualClock
) -> None:
    received = subscribe(service, "bars", {"symbol": "BTCUSD", "resolution": "1"})
    asyncio.run(
        service.remove_topic(topic("bars", {"symbol": "BTCUSD", "resolution": "1"}))
    )
    clock.advance(30)
    service.advance()
    assert len(received) == 1


def test_subscribing_to_an_unknown_symbol_fails(service: DatafeedService) -> None:
    with pytest.raises(UnknownSymbolError):
        subscribe(service, "bars", {"symbol": "NOPE", "resolution": "1"})
