"""Sessions in real time zones, checked against a hand-written calendar.

Every instant below was worked out by hand from the calendar: New York is UTC-4
in summer (EDT) and UTC-5 in winter (EST); 2024 switched on Sunday 10 March and
Sunday 3 November.
"""

import pytest

from trading_api.market import CRYPTO, FX, US_STOCKS, is_open, next_open, resolve

HOUR = 3_600
MON_JUN_10 = 1_717_977_600  # 2024-06-10T00:00Z, a Monday (EDT)
FRI_JUN_7 = MON_JUN_10 - 3 * 86_400
SAT_JUN_8 = MON_JUN_10 - 2 * 86_400
SUN_JUN_9 = MON_JUN_10 - 86_400
MON_JAN_8 = 1_704_672_000  # 2024-01-08T00:00Z, a Monday (EST)
FRI_MAR_8 = 1_709_856_000  # 2024-03-08T00:00Z, last Friday on EST
MON_MAR_11 = 1_710_115_200  # 2024-03-11T00:00Z, first Monday on EDT


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (MON_JUN_10 + 13 * HOUR + 1_799, False),  # 09:29:59 New York
        (MON_JUN_10 + 13 * HOUR + 1_800, True),  # 09:30:00
        (MON_JUN_10 + 19 * HOUR + 59 * 60, True),  # 15:59
        (MON_JUN_10 + 20 * HOUR, False),  # 16:00, the close is excluded
        (MON_JUN_10 + 20 * HOUR + 60, False),  # 16:01
        (SAT_JUN_8 + 15 * HOUR, False),  # Saturday 11:00
        (MON_JAN_8 + 14 * HOUR, False),  # 09:00 EST
        (MON_JAN_8 + 14 * HOUR + 1_800, True),  # 09:30 EST = 14:30Z
        (MON_JAN_8 + 20 * HOUR + 59 * 60, True),  # 15:59 EST = 20:59Z
        (MON_JAN_8 + 21 * HOUR + 60, False),  # 16:01 EST
    ],
)
def test_us_stocks_trade_0930_to_1600_new_york_time(t: float, expected: bool) -> None:
    assert is_open("AAPL", t) is expected
    assert US_STOCKS.is_open(t) is expected


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (SAT_JUN_8 + 12 * HOUR, MON_JUN_10 + 13 * HOUR + 1_800),  # weekend
        (FRI_JUN_7 + 20 * HOUR + 60, MON_JUN_10 + 13 * HOUR + 1_800),  # Fri 16:01
        (MON_JUN_10 + 8 * HOUR, MON_JUN_10 + 13 * HOUR + 1_800),  # Mon 04:00
        (MON_JUN_10 + 14 * HOUR, MON_JUN_10 + 14 * HOUR),  # open: now
        (FRI_MAR_8 + 21 * HOUR + 60, MON_MAR_11 + 13 * HOUR + 1_800),  # over DST
    ],
)
def test_stock_next_open_is_the_next_0930_new_york(t: float, expected: float) -> None:
    assert next_open("NYSE:KO", t) == expected


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (FRI_JUN_7 + 20 * HOUR + 59 * 60, True),  # Friday 16:59 New York
        (FRI_JUN_7 + 21 * HOUR, False),  # Friday 17:00: the week is over
        (SAT_JUN_8 + 12 * HOUR, False),  # Saturday
        (SUN_JUN_9 + 20 * HOUR + 3_599, False),  # Sunday 16:59:59 New York
        (SUN_JUN_9 + 21 * HOUR, True),  # Sunday 17:00 New York opens the week
        (MON_JUN_10 + 12 * HOUR, True),  # Monday midday
        (MON_JAN_8 - 86_400 + 21 * HOUR, False),  # Sunday 16:00 EST
        (MON_JAN_8 - 86_400 + 22 * HOUR, True),  # Sunday 17:00 EST = 22:00Z
    ],
)
def test_fx_trades_24x5_from_sunday_to_friday_1700_new_york(
    t: float, expected: bool
) -> None:
    assert is_open("FX:EURUSD", t) is expected


def test_fx_next_open_from_saturday_is_sunday_1700_new_york() -> None:
    assert next_open("EURUSD", SAT_JUN_8 + 12 * HOUR) == SUN_JUN_9 + 21 * HOUR


@pytest.mark.parametrize("t", [SAT_JUN_8, SAT_JUN_8 + 12 * HOUR, SUN_JUN_9 + 1])
def test_crypto_never_closes(t: float) -> None:
    assert is_open("BTCUSD", t) and next_open("BINANCE:ETHUSD", t) == t


@pytest.mark.parametrize(
    ("symbol", "session", "timezone"),
    [
        ("AAPL", "0930-1600:23456", "America/New_York"),
        ("EURUSD", "1700-1700:23456", "America/New_York"),
        ("BTCUSD", "24x7", "Etc/UTC"),
    ],
)
def test_sessions_speak_tradingview_format(
    symbol: str, session: str, timezone: str
) -> None:
    found = resolve(symbol).session
    assert (found.tradingview, found.timezone) == (session, timezone)


def test_one_session_object_per_market_kind() -> None:
    assert resolve("KO").session is US_STOCKS
    assert resolve("USDJPY").session is FX
    assert resolve("SOLUSD").session is CRYPTO
