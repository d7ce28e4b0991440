"""Broker limits, TradingView objects and sessions without HTTP, on hand-computed cases.

The market's clock stands still at a Monday 10:00 in New York (US stocks trade)
and prices are overridden with ``set_price``, so every fill price is known in
advance; the account starts with 100,000 USD. The service stores every change
in a fresh SQLite database, and is restarted on it after each test (see
``conftest``).
"""

from typing import Any

import pytest

from trading_api.market import ManualClock, Market, QuantityError, UnknownSymbolError
from trading_api.models.broker import (
    OrderModification,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from trading_api.modules.broker.errors import (
    LimitError,
    RuleViolationError,
)
from trading_api.modules.broker.settings import BrokerSettings
from trading_api.modules.broker.tests.conftest import MakeBroker
from trading_api.modules.broker.tests.support import (
    AAPL,
    ACCOUNT,
    BUY,
    SELL,
    Broker,
    order,
    place,
    position,
    pre_order,
)

# -- limits --------------------------------------------------------------------------


def limited(new_broker: MakeBroker, **limits: int) -> Broker:
    broker = new_broker(settings=BrokerSettings(**limits))
    broker.set_price("AAPL", 100.0)
    return broker


def test_open_orders_past_the_limit_are_refused_and_change_nothing(
    new_broker: MakeBroker,
) -> None:
    broker = limited(new_broker, max_open_orders=3)
    place(broker, BUY, 1, OrderType.LIMIT, limit_price=90.0, take_profit=95.0)
    with pytest.raises(LimitError, match="BROKER_MAX_OPEN_ORDERS"):
        place(broker, BUY, 1, OrderType.LIMIT, limit_price=90.0, take_profit=95.0)
    assert len(broker.orders(ACCOUNT)) == 2
    place(broker, BUY, 1)
    place(broker, BUY, 1, OrderType.LIMIT, limit_price=90.0)
    place(broker, BUY, 1)
    assert position(broker) == (2, BUY, 100.0)
    broker.close_position(ACCOUNT, "AAPL")
    assert position(broker) is None


def test_accounts_past_the_limit_are_refused_but_reads_create_none(
    new_broker: MakeBroker,
) -> None:
    broker = limited(new_broker, max_accounts=2)
    place(broker, BUY, 1, account="A")
    for reader in ("R1", "R2", "R3"):
        assert broker.orders(reader) == [] and broker.positions(reader) == []
        assert broker.account_info(reader).balance == 100_000.0
    place(broker, BUY, 1, account="B")
    with pytest.raises(LimitError, match="BROKER_MAX_ACCOUNTS"):
        place(broker, BUY, 1, account="C")
    assert broker.orders("C") == []
    place(broker, BUY, 1, account="A")


# -- TradingView objects -----------------------------------------------------------


def test_tradingview_pre_order_fields_are_accepted_and_unknown_ones_ignored(
    broker: Broker,
) -> None:
    pre = pre_order(
        type=OrderType.LIMIT,
        limitPrice=90.0,
        currentQuotes={"ask": 100.01, "bid": 99.99},
        customFields={"comment": "x"},
        stopType=0,
        seenPrice=100.0,
        duration={"type": "DAY", "datetime": None},
        somethingNew=[1, 2],
    )
    placed = order(broker, broker.place_order(ACCOUNT, pre))
    assert (placed.duration and placed.duration.type, placed.seen_price) == (
        TimeInForce.DAY,
        100.0,
    )


def test_market_order_reports_slippage_against_the_seen_price(
    broker: Broker,
) -> None:
    filled = order(broker, broker.place_order(ACCOUNT, pre_order(seenPrice=99.5)))
    assert filled.message == "filled +0.5 from the seen price"


def test_is_close_without_a_position_to_close_is_refused(
    broker: Broker,
) -> None:
    place(broker, BUY, 5)
    with pytest.raises(RuleViolationError, match="no short position"):
        broker.place_order(ACCOUNT, pre_order(side=BUY, isClose=True))
    with pytest.raises(RuleViolationError, match="holds 5"):
        broker.place_order(ACCOUNT, pre_order(side=SELL, qty=6, isClose=True))
    assert len(broker.orders(ACCOUNT)) == 1


def test_resting_is_close_order_is_cancelled_when_the_position_is_gone(
    broker: Broker,
) -> None:
    place(broker, BUY, 5)
    closer = broker.place_order(
        ACCOUNT,
        pre_order(
            side=SELL, qty=5, type=OrderType.LIMIT, limitPrice=110.0, isClose=True
        ),
    )
    broker.close_position(ACCOUNT, "AAPL")
    broker.set_price("AAPL", 111.0)
    assert order(broker, closer).status is OrderStatus.CANCELED
    assert position(broker) is None


def test_modify_with_a_full_order_object_and_null_take_profit_removes_it(
    broker: Broker,
) -> None:
    parent = place(
        broker,
        BUY,
        10,
        OrderType.LIMIT,
        limit_price=95.0,
        take_profit=100.0,
        stop_loss=90.0,
    )
    full = order(broker, parent).model_dump(by_alias=True)
    full.update(limitPrice=96.0, takeProfit=None, status=2, filledQty=99)
    modified = broker.modify_order(
        ACCOUNT, parent, OrderModification.model_validate(full)
    )
    legs = {o.type: o.status for o in broker.orders(ACCOUNT) if o.parent_id}
    assert (modified.limit_price, modified.take_profit, modified.stop_loss) == (
        96.0,
        None,
        90.0,
    )
    assert modified.status is OrderStatus.WORKING
    assert legs == {
        OrderType.LIMIT: OrderStatus.CANCELED,
        OrderType.STOP: OrderStatus.INACTIVE,
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("side", SELL, "side cannot change"), ("id", "77", "path names order")],
)
def test_modify_cannot_change_what_identifies_the_order(
    broker: Broker, field: str, value: Any, message: str
) -> None:
    parent = place(broker, BUY, 10, OrderType.LIMIT, limit_price=95.0)
    with pytest.raises(RuleViolationError, match=message):
        broker.modify_order(
            ACCOUNT, parent, OrderModification.model_validate({field: value})
        )


def test_moving_the_entry_past_a_bracket_is_refused(broker: Broker) -> None:
    parent = place(broker, BUY, 10, OrderType.LIMIT, limit_price=95.0, stop_loss=90.0)
    with pytest.raises(RuleViolationError, match="stopLoss"):
        broker.modify_order(ACCOUNT, parent, OrderModification(limit_price=89.0))
    assert order(broker, parent).limit_price == 95.0


def test_moving_a_leg_of_a_pending_order_to_the_wrong_side_is_refused(
    broker: Broker,
) -> None:
    parent = place(broker, BUY, 10, OrderType.LIMIT, limit_price=95.0, take_profit=99.0)
    [leg] = [o for o in broker.orders(ACCOUNT) if o.parent_id == parent]
    with pytest.raises(RuleViolationError, match="takeProfit"):
        broker.modify_order(ACCOUNT, leg.id, OrderModification(limit_price=94.0))
    broker.modify_order(ACCOUNT, leg.id, OrderModification(limit_price=98.0))
    assert order(broker, parent).take_profit == 98.0


# -- symbols and sessions from the market ------------------------------------------

SATURDAY = 1_718_452_800  # 2024-06-15 12:00 UTC
MONDAY_OPEN = 1_718_631_000  # 2024-06-17 09:30 New York
CLOSE = 1_718_049_600  # 2024-06-10 16:00 New York


def test_ticker_and_exchange_ticker_book_one_position(broker: Broker) -> None:
    broker.place_order(ACCOUNT, pre_order(symbol="AAPL", qty=2))
    broker.place_order(ACCOUNT, pre_order(symbol="NASDAQ:AAPL", qty=3))
    [held] = broker.positions(ACCOUNT)
    assert (held.id, held.symbol, held.qty) == (AAPL, AAPL, 5)
    assert {o.symbol for o in broker.orders(ACCOUNT)} == {AAPL}


def test_an_unknown_symbol_is_refused_by_name(broker: Broker) -> None:
    with pytest.raises(UnknownSymbolError, match="NOT_A_SYMBOL"):
        broker.place_order(ACCOUNT, pre_order(symbol="NOT_A_SYMBOL"))
    assert broker.orders(ACCOUNT) == []


@pytest.mark.parametrize(
    ("symbol", "qty", "rule"),
    [("BTCUSD", 1e-9, "minimum"), ("AAPL", 1.5, "step"), ("EURUSD", 1500, "step")],
)
def test_a_quantity_off_the_symbols_rules_is_refused(
    broker: Broker, symbol: str, qty: float, rule: str
) -> None:
    with pytest.raises(QuantityError, match=rule):
        broker.place_order(ACCOUNT, pre_order(symbol=symbol, qty=qty))
    assert broker.orders(ACCOUNT) == []


def test_a_fractional_crypto_quantity_on_its_step_fills(broker: Broker) -> None:
    broker.set_price("BTCUSD", 60_000.0)
    broker.place_order(ACCOUNT, pre_order(symbol="BTCUSD", qty=0.0003))
    [held] = broker.positions(ACCOUNT)
    assert (held.id, held.qty, held.avg_price) == ("BINANCE:BTCUSD", 0.0003, 60_000.0)


def test_market_order_fills_at_the_market_price_of_the_instant(
    clock: ManualClock, new_broker: MakeBroker
) -> None:
    market = Market(clock=clock)
    broker = new_broker(market)
    shown = market.quote("AAPL").last
    filled = order(broker, broker.place_order(ACCOUNT, pre_order()))
    assert filled.avg_price == shown
    clock.advance(90)
    assert market.quote("AAPL").last != shown


def test_order_placed_while_closed_rests_and_fills_at_the_open(
    new_broker: MakeBroker,
) -> None:
    clock = ManualClock(SATURDAY)
    market = Market(clock=clock)
    broker = new_broker(market)
    order_id = broker.place_order(ACCOUNT, pre_order(qty=2))
    broker.step()
    assert order(broker, order_id).status is OrderStatus.WORKING
    clock.set(MONDAY_OPEN - 1)
    broker.step()
    assert order(broker, order_id).status is OrderStatus.WORKING
    clock.set(MONDAY_OPEN)
    broker.step()
    filled = order(broker, order_id)
    assert (filled.status, filled.avg_price) == (
        OrderStatus.FILLED,
        market.quote("AAPL", MONDAY_OPEN).last,
    )


def test_day_order_expires_at_the_session_close_and_gtc_stays(
    broker: Broker, clock: ManualClock
) -> None:
    day = broker.place_order(
        ACCOUNT,
        pre_order(type=OrderType.LIMIT, limitPrice=50.0, duration={"type": "DAY"}),
    )
    gtc = broker.place_order(
        ACCOUNT,
        pre_order(type=OrderType.LIMIT, limitPrice=50.0, duration={"type": "GTC"}),
    )
    duration = order(broker, day).duration
    assert duration is not None and duration.datetime == CLOSE * 1000
    clock.set(CLOSE - 1)
    broker.step()
    assert order(broker, day).status is OrderStatus.WORKING
    clock.set(CLOSE)
    broker.step()
    expired = order(broker, day)
    assert (expired.status, expired.message) == (
        OrderStatus.CANCELED,
        "expired: a DAY order ends with its session",
    )
    assert order(broker, gtc).status is OrderStatus.WORKING


def test_day_order_placed_while_closed_lives_through_the_next_session(
    new_broker: MakeBroker,
) -> None:
    clock = ManualClock(SATURDAY)
    broker = new_broker(Market(clock=clock))
    day = broker.place_order(
        ACCOUNT,
        pre_order(type=OrderType.LIMIT, limitPrice=1.0, duration={"type": "DAY"}),
    )
    duration = order(broker, day).duration
    assert duration is not None
    assert duration.datetime == (MONDAY_OPEN + 6.5 * 3600) * 1000
