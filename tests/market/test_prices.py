"""The price path: fixed vectors, sessions respected, every view agreeing.

Expected prices are fixed vectors recorded once: the path is a pure function of
(symbol, time), so they hold in every process and must never drift silently.
Times are worked out by hand (see ``test_sessions``).
"""

import subprocess
import sys

import pytest

from trading_api.market import (
    HISTORY_START,
    RESOLUTIONS,
    Bar,
    ResolutionError,
    bars,
    price_at,
    price_range,
    quote_at,
)

HOUR = 3_600
MON = 1_717_977_600  # 2024-06-10T00:00Z, a Monday; New York is UTC-4
FRI, SAT = MON - 3 * 86_400, MON - 2 * 86_400
TUE = MON + 86_400
MON_JAN_8 = 1_704_672_000  # New York is UTC-5
VECTORS = {
    ("NASDAQ:AAPL", MON + 19 * HOUR + 59 * 60): 132.48,  # 15:59 New York
    ("NASDAQ:AAPL", MON + 20 * HOUR): 132.55,  # 16:00: the close
    ("NASDAQ:AAPL", TUE + 86_400): 134.07,  # Tuesday's close, read at night
    ("BINANCE:BTCUSD", MON + 12 * HOUR + 10): 93732.79,
    ("FX:EURUSD", MON + 12 * HOUR + 10): 1.11171,
}


def day_bars(symbol: str, resolution: str, start: int, end: int) -> list[Bar]:
    return bars(symbol, resolution, after=start, before=end, now=end)


@pytest.mark.parametrize(("key", "expected"), VECTORS.items())
def test_prices_match_the_fixed_vectors(
    key: tuple[str, float], expected: float
) -> None:
    assert price_at(*key) == expected


def test_another_process_computes_the_same_prices() -> None:
    script = (
        "from trading_api.market import price_at\n"
        f"for key in {list(VECTORS)!r}: print(price_at(*key))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        timeout=60,
    )
    assert [float(v) for v in result.stdout.split()] == list(VECTORS.values())


def test_monday_daily_bar_is_the_fixed_vector() -> None:
    [day] = day_bars("AAPL", "1D", MON, TUE)
    assert day == Bar(MON, 143.23, 143.62, 132.46, 132.55, 93_636_867.0)


@pytest.mark.parametrize(
    "t",
    [
        MON + 20 * HOUR,  # Monday 16:00 New York
        MON + 23 * HOUR,  # Monday evening
        TUE + 13 * HOUR + 1_799,  # Tuesday 09:29:59
    ],
)
def test_price_does_not_move_while_closed(t: float) -> None:
    assert price_at("AAPL", t) == 132.55


def test_weekend_holds_fridays_close_and_monday_opens_there() -> None:
    friday_close = price_at("AAPL", FRI + 20 * HOUR)
    first_minute = day_bars("AAPL", "1", MON, TUE)[0]
    assert price_at("AAPL", SAT + 12 * HOUR) == friday_close
    assert price_at("AAPL", MON + 13 * HOUR + 1_799) == friday_close
    assert first_minute.open == friday_close == 143.23


def test_stock_minute_bars_exist_only_in_session() -> None:
    minutes = day_bars("AAPL", "1", MON, TUE)
    times = [b.time for b in minutes]
    assert len(minutes) == 390  # 6.5 hours
    assert times[0] == MON + 13 * HOUR + 1_800  # 09:30 New York
    assert times[-1] == MON + 19 * HOUR + 59 * 60  # 15:59 New York
    assert times == list(range(times[0], times[-1] + 60, 60))


def test_stock_minute_bars_follow_new_york_winter_time() -> None:
    first = day_bars("MSFT", "1", MON_JAN_8, MON_JAN_8 + 86_400)[0]
    assert first.time == MON_JAN_8 + 14 * HOUR + 1_800  # 09:30 EST


def test_no_bars_on_a_weekend() -> None:
    assert day_bars("AAPL", "1", SAT, MON) == []
    assert day_bars("EURUSD", "60", SAT, MON - 4 * HOUR) == []


def test_stock_hourly_bars_start_at_the_half_hour_and_the_last_is_cut() -> None:
    minutes = day_bars("AAPL", "1", MON, TUE)
    hours = day_bars("AAPL", "60", MON, TUE)
    offsets = [(b.time - MON) / HOUR for b in hours]
    assert offsets == [13.5, 14.5, 15.5, 16.5, 17.5, 18.5, 19.5]
    last_half_hour = minutes[-30:]
    assert hours[-1] == Bar(
        MON + 19 * HOUR + 1_800,
        last_half_hour[0].open,
        max(b.high for b in last_half_hour),
        min(b.low for b in last_half_hour),
        last_half_hour[-1].close,
        sum(b.volume for b in last_half_hour),
    )


@pytest.mark.parametrize(
    ("resolution", "starts"),
    [
        ("240", [13.5, 17.5]),
        ("30", [13.5 + i / 2 for i in range(13)]),
    ],
)
def test_stock_intraday_bars_tile_the_session(
    resolution: str, starts: list[float]
) -> None:
    found = day_bars("JPM", resolution, MON, TUE)
    assert [(b.time - MON) / HOUR for b in found] == starts


@pytest.mark.parametrize(
    ("symbol", "weekdays"),
    [("AAPL", 5), ("EURUSD", 5), ("BTCUSD", 7)],
)
def test_daily_bars_exist_on_trading_dates_only(symbol: str, weekdays: int) -> None:
    week = day_bars(symbol, "1D", MON, MON + 7 * 86_400)
    assert [b.time for b in week] == [MON + d * 86_400 for d in range(weekdays)]


def test_fx_monday_starts_sunday_1700_new_york() -> None:
    first_hour = day_bars("EURUSD", "60", SAT, MON + 86_400)[0]
    [monday] = day_bars("EURUSD", "1D", MON, MON + 1)
    assert first_hour.time == MON - 3 * HOUR  # Sunday 21:00Z = 17:00 EDT
    assert monday.open == first_hour.open


def test_weekly_bar_aggregates_its_five_sessions() -> None:
    days = day_bars("KO", "1D", MON, MON + 7 * 86_400)
    [week] = day_bars("KO", "1W", MON, MON + 7 * 86_400)
    assert week == Bar(
        MON,
        days[0].open,
        max(b.high for b in days),
        min(b.low for b in days),
        days[-1].close,
        sum(b.volume for b in days),
    )


def test_inside_a_minute_the_price_moves_linearly_to_its_first_extreme() -> None:
    start = MON + 12 * HOUR
    [minute] = bars("BTCUSD", "1", before=start + 60, now=start + 60, count=1)
    halfway = {
        round(minute.open + (minute.high - minute.open) / 2, 2),
        round(minute.open + (minute.low - minute.open) / 2, 2),
    }
    assert price_at("BTCUSD", start) == minute.open
    assert price_at("BTCUSD", start + 9) in halfway  # half of the first 30 %
    assert price_at("BTCUSD", start + 60) == minute.close


@pytest.mark.parametrize("resolution", RESOLUTIONS)
@pytest.mark.parametrize(
    "now",
    [MON + 15 * HOUR + 7.25, FRI + 19 * HOUR + 59 * 60 + 30, SAT + 12 * HOUR],
)
def test_the_live_bar_closes_at_the_price(resolution: str, now: float) -> None:
    [live] = bars("NVDA", resolution, before=now + 1, now=now, count=1)
    assert live.close == price_at("NVDA", now) == quote_at("NVDA", now).last
    assert live.low <= min(live.open, live.close) <= max(live.open, live.close)
    assert max(live.open, live.close) <= live.high


def test_quote_spreads_one_tick_each_side_and_changes_from_the_previous_close() -> None:
    quote = quote_at("AAPL", MON + 20 * HOUR)
    assert (quote.ticker, quote.is_open, quote.last) == ("NASDAQ:AAPL", False, 132.55)
    assert (quote.bid, quote.ask, quote.spread) == (132.54, 132.56, 0.02)
    assert (quote.prev_close, quote.change, quote.change_percent) == (
        143.23,
        -10.68,
        -7.46,
    )


def test_count_keeps_the_latest_bars() -> None:
    found = bars("BTCUSD", "5", before=MON, now=MON + 1, count=3)
    assert [b.time for b in found] == [MON - 900, MON - 600, MON - 300]


def test_one_answer_holds_at_most_5000_bars() -> None:
    found = bars("ETHUSD", "1", before=MON, now=MON, count=6_000)
    assert len(found) == 5_000
    assert found[0].time == MON - 5_000 * 60  # ETHUSD trades every minute


def test_nothing_before_history_start() -> None:
    assert bars("BTCUSD", "1D", before=HISTORY_START, now=MON) == []
    assert bars("BTCUSD", "1D", before=HISTORY_START + 1, now=MON)[0].time == (
        HISTORY_START
    )


def test_unknown_resolution_is_a_typed_error() -> None:
    with pytest.raises(ResolutionError, match="'7'"):
        bars("AAPL", "7", before=MON, now=MON)


MINUTE_AT_NOON = (93_713.27, 93_732.96)  # BTCUSD 12:00Z minute: low, high (above)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 60, MINUTE_AT_NOON),  # a whole minute: its low and high
        # open 93732.57 rises linearly to the high 93732.96 at 18 s:
        # at 5 s 93732.57 + 0.39 * 5 / 18 = 93732.68, at 10 s 93732.79.
        (5, 10, (93_732.68, 93_732.79)),
        (10, 5, (93_732.68, 93_732.68)),  # backwards: the instant ``end``
    ],
)
def test_price_range_follows_the_path_inside_a_minute(
    start: float, end: float, expected: tuple[float, float]
) -> None:
    noon = MON + 12 * HOUR
    assert price_range("BTCUSD", noon + start, noon + end) == expected


def test_price_range_of_a_closed_market_is_its_close() -> None:
    assert price_range("AAPL", MON + 20 * HOUR, MON + 23 * HOUR) == (132.55, 132.55)


def test_price_range_over_days_spans_the_sessions_inside() -> None:
    # From Friday's close to Tuesday 00:00Z: the weekend (Friday's close, which
    # Monday opens at) and Monday's whole session (its fixed vector above).
    assert price_range("AAPL", FRI + 20 * HOUR, TUE) == (132.46, 143.62)
