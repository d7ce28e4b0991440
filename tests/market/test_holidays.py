"""Exchange holidays by rule, checked against dates worked out by hand.

Every date below was read off a calendar: which weekday a fixed-date holiday
falls on, which Monday is the third of the month, when Easter is. New York is
UTC-4 in summer and UTC-5 in winter, so 09:30 there is 13:30Z or 14:30Z.
"""

from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient

from trading_api.market import (
    NYSE,
    US_STOCKS,
    ManualClock,
    Market,
    bars,
    easter,
    is_open,
    next_open,
    nyse_holidays,
    price_at,
    quote_at,
    resolve,
)


def at(*parts: int) -> float:
    """UNIX seconds of a UTC date and time."""
    return datetime(*parts, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("year", "sunday"),
    [
        (2019, date(2019, 4, 21)),
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2038, date(2038, 4, 25)),  # the latest possible date
        (2285, date(2285, 3, 22)),  # the earliest possible date
    ],
)
def test_easter_is_the_gregorian_computus(year: int, sunday: date) -> None:
    assert easter(year) == sunday


def test_nyse_holidays_of_2024() -> None:
    assert list(nyse_holidays(2024).items()) == [
        (date(2024, 1, 1), "New Year's Day"),
        (date(2024, 1, 15), "Martin Luther King Jr. Day"),
        (date(2024, 2, 19), "Washington's Birthday"),
        (date(2024, 3, 29), "Good Friday"),
        (date(2024, 5, 27), "Memorial Day"),
        (date(2024, 6, 19), "Juneteenth"),
        (date(2024, 7, 4), "Independence Day"),
        (date(2024, 9, 2), "Labor Day"),
        (date(2024, 11, 28), "Thanksgiving Day"),
        (date(2024, 12, 25), "Christmas Day"),
    ]


@pytest.mark.parametrize(
    ("day", "closed"),
    [
        (date(2021, 12, 31), False),  # 2022 opens on a Saturday: no holiday
        (date(2022, 1, 3), False),
        (date(2022, 6, 20), True),  # Juneteenth, a Sunday, kept on Monday
        (date(2021, 6, 18), False),  # no Juneteenth before 2022
        (date(2021, 7, 5), True),  # Independence Day, a Sunday -> Monday
        (date(2026, 7, 3), True),  # Independence Day, a Saturday -> Friday
        (date(2027, 6, 18), True),  # Juneteenth, a Saturday -> Friday
        (date(2021, 12, 24), True),  # Christmas, a Saturday -> Friday
        (date(2022, 12, 26), True),  # Christmas, a Sunday -> Monday
        (date(2023, 1, 2), True),  # New Year's Day, a Sunday -> Monday
        (date(2025, 4, 18), True),  # Good Friday
        (date(2025, 5, 26), True),  # last Monday of May
        (date(2025, 11, 27), True),  # fourth Thursday of November
        (date(2025, 11, 28), False),  # the day after trades (no early close here)
        (date(2026, 1, 19), True),  # third Monday of January
        (date(1997, 1, 20), False),  # no MLK day before 1998
        (date(2024, 7, 3), False),
    ],
)
def test_observance_rules(day: date, closed: bool) -> None:
    assert (day in nyse_holidays(day.year)) is closed
    assert NYSE.is_holiday(day.toordinal() - date(1970, 1, 1).toordinal()) is closed


JUL_4_2024_10H = at(2024, 7, 4, 14)  # Thursday 10:00 New York


def test_stocks_do_not_trade_on_a_holiday_and_open_the_next_day() -> None:
    assert not is_open("AAPL", JUL_4_2024_10H)
    assert next_open("NYSE:KO", JUL_4_2024_10H) == at(2024, 7, 5, 13, 30)
    assert next_open("AAPL", at(2022, 12, 24, 12)) == at(2022, 12, 27, 14, 30)
    assert next_open("AAPL", at(2024, 3, 28, 21)) == at(2024, 4, 1, 13, 30)
    assert is_open("AAPL", at(2024, 7, 3, 19))  # the eve trades its full session


def test_fx_and_crypto_keep_trading_on_stock_holidays() -> None:
    assert is_open("EURUSD", JUL_4_2024_10H)
    assert is_open("BTCUSD", at(2024, 12, 25, 12))
    assert resolve("EURUSD").session.holidays is None
    assert resolve("AAPL").session is US_STOCKS and US_STOCKS.holidays is NYSE


def test_a_holiday_has_no_bars_and_the_price_does_not_move() -> None:
    after_the_weekend = at(2024, 7, 8)
    daily = bars("AAPL", "1D", before=after_the_weekend, now=after_the_weekend)
    assert [datetime.fromtimestamp(b.time, UTC).date() for b in daily[-4:]] == [
        date(2024, 7, 1),
        date(2024, 7, 2),
        date(2024, 7, 3),
        date(2024, 7, 5),
    ]
    hourly = bars(
        "AAPL", "60", before=at(2024, 7, 5), after=at(2024, 7, 4), now=at(2024, 7, 8)
    )
    assert hourly == []
    eve_close = price_at("AAPL", at(2024, 7, 3, 20))
    assert price_at("AAPL", JUL_4_2024_10H) == eve_close
    assert daily[-1].open == daily[-2].close == eve_close  # no gap over it


def test_a_quote_on_a_holiday_is_closed_at_the_last_close() -> None:
    quote = quote_at("AAPL", JUL_4_2024_10H)
    assert not quote.is_open
    assert quote.last == price_at("AAPL", at(2024, 7, 3, 20))


def test_orders_meet_a_closed_market_through_the_market_object() -> None:
    clock = ManualClock(JUL_4_2024_10H)
    market = Market(clock=clock)
    assert not market.is_open("AAPL")
    assert market.next_open("AAPL") == at(2024, 7, 5, 13, 30)
    low, high = market.price_range("AAPL", JUL_4_2024_10H - 3_600)
    assert low == high == market.price("AAPL")


def test_resolve_lists_the_holidays_in_tradingview_format() -> None:
    from trading_api.modules.datafeed.service import DatafeedService

    service = DatafeedService(market=Market(clock=ManualClock(JUL_4_2024_10H)))
    holidays = service.resolve("AAPL").session_holidays.split(",")
    assert "20240704" in holidays and "20200101" in holidays
    assert "20251225" in holidays and "20260101" not in holidays
    assert "20220101" not in holidays and "20221226" in holidays
    assert holidays == sorted(holidays)
    assert service.resolve("BTCUSD").session_holidays == ""


def test_resolve_route_publishes_session_holidays() -> None:
    from trading_api.app_factory import AppFactory
    from trading_api.shared.settings import Settings

    app = AppFactory(settings=Settings()).create_app(["datafeed"])
    info = TestClient(app).get("/api/v1/datafeed/resolve/NASDAQ:AAPL").json()
    assert "20241225" in info["session_holidays"].split(",")
