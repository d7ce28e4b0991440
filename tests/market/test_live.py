"""Driving the market in tests: a manual clock and price overrides."""

import pytest

from trading_api.market import ManualClock, Market, Scenario, price_at

MON_NOON = 1_718_020_800  # 2024-06-10T12:00Z, Monday 08:00 New York
OPEN = MON_NOON + 5_400  # 09:30 New York


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MON_NOON)


@pytest.fixture
def market(clock: ManualClock) -> Market:
    return Market(clock=clock)


def test_market_reads_the_path_at_the_clocks_time(
    market: Market, clock: ManualClock
) -> None:
    clock.advance(5_400 + 125.5)
    assert market.now() == OPEN + 125.5
    assert market.price("ETHUSD") == price_at("ETHUSD", OPEN + 125.5)


def test_sessions_follow_the_clock(market: Market, clock: ManualClock) -> None:
    assert not market.is_open("AAPL") and market.next_open("AAPL") == OPEN
    clock.set(OPEN)
    assert market.is_open("AAPL") and market.next_open("AAPL") == OPEN


def test_override_sets_the_price_from_its_time_on(
    market: Market, clock: ManualClock
) -> None:
    before = market.price("AAPL")
    market.scenario.set_price("NASDAQ:AAPL", 150.004, at=MON_NOON + 60)
    assert market.price("AAPL") == before
    clock.advance(60)
    assert market.price("AAPL") == 150.0
    assert market.price("NASDAQ:AAPL", MON_NOON + 59) == before


def test_override_shows_in_quote_and_live_bar(market: Market) -> None:
    market.scenario.set_price("BTCUSD", 70_000.0, at=MON_NOON)
    quote = market.quote("BINANCE:BTCUSD")
    live = market.live_bar("BTCUSD", "1")
    assert (quote.last, quote.bid, quote.ask) == (70_000.0, 69_999.99, 70_000.01)
    assert live is not None and live.close == 70_000.0
    assert live.low <= 70_000.0 <= live.high


def test_later_step_replaces_steps_after_it(market: Market) -> None:
    scenario = market.scenario
    scenario.set_price("KO", 60.0, at=MON_NOON)
    scenario.set_price("KO", 61.0, at=MON_NOON + 120)
    scenario.set_price("KO", 59.0, at=MON_NOON + 60)
    prices = [market.price("KO", MON_NOON + s) for s in (0, 60, 120)]
    assert prices == [60.0, 59.0, 59.0]


def test_clear_returns_to_the_path(market: Market) -> None:
    market.scenario.set_price("KO", 60.0, at=0)
    market.scenario.clear("NYSE:KO")
    assert market.price("KO") == price_at("KO", MON_NOON)


def test_scenario_can_be_shared_by_two_markets(clock: ManualClock) -> None:
    scenario = Scenario()
    first, second = Market(clock, scenario), Market(clock, scenario)
    scenario.set_price("EURUSD", 1.2, at=MON_NOON)
    assert first.price("EURUSD") == second.price("FX:EURUSD") == 1.2


@pytest.mark.parametrize("price", [0.0, -1.0, float("nan")])
def test_override_must_be_a_positive_price(market: Market, price: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        market.scenario.set_price("AAPL", price, at=MON_NOON)


def test_price_range_includes_an_override_from_its_time_on(market: Market) -> None:
    # BTCUSD's 12:00Z minute reaches its high 93732.96 at 18 s (see test_prices).
    market.scenario.set_price("BTCUSD", 90_000.0, at=MON_NOON + 30)
    assert market.price_range("BTCUSD", MON_NOON, MON_NOON + 60) == (
        90_000.0,
        93_732.96,
    )
