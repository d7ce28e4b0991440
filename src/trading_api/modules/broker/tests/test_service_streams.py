"""Broker streams, nested fills and idempotency without HTTP, on hand-computed cases.

The market's clock stands still at a Monday 10:00 in New York (US stocks trade)
and prices are overridden with ``set_price``, so every fill price is known in
advance; the account starts with 100,000 USD. The service stores every change
in a fresh SQLite database, and is restarted on it after each test (see
``conftest``).
"""

import pytest

from trading_api.models.broker import (
    BrokerConnectionData,
    ConnectionStatus,
    EquityData,
    Execution,
    Order,
    OrderModification,
    OrderStatus,
    OrderType,
    Position,
)
from trading_api.modules.broker.errors import (
    ConflictError,
    OrderRejectedError,
)
from trading_api.modules.broker.tests.support import (
    AAPL,
    ACCOUNT,
    BUY,
    SELL,
    Broker,
    money,
    order,
    place,
    position,
    pre_order,
    statuses,
    subscribe,
)

# -- streams --------------------------------------------------------------------------


def test_orders_stream_pushes_every_state_change(broker: Broker) -> None:
    received = subscribe(broker, "orders")
    market = place(broker, BUY, 1)
    limit = place(broker, BUY, 1, OrderType.LIMIT, limit_price=90.0)
    broker.modify_order(ACCOUNT, limit, OrderModification(limit_price=91.0))
    broker.cancel_order(ACCOUNT, limit)
    with pytest.raises(OrderRejectedError) as rejected:
        place(broker, BUY, 5_000)
    assert statuses(received) == [
        (market, OrderStatus.WORKING),
        (market, OrderStatus.FILLED),
        (limit, OrderStatus.WORKING),
        (limit, OrderStatus.WORKING),
        (limit, OrderStatus.CANCELED),
        (rejected.value.order_id, OrderStatus.REJECTED),
    ]
    assert [o.limit_price for o in received if isinstance(o, Order) and o.id == limit][
        1
    ] == 91.0


def test_fill_pushes_execution_position_and_equity(broker: Broker) -> None:
    executions = subscribe(broker, "executions")
    positions = subscribe(broker, "positions")
    equity = subscribe(broker, "equity")
    place(broker, BUY, 10)
    broker.set_price("AAPL", 105.0)
    place(broker, SELL, 10)
    assert [(e.price, e.side) for e in executions if isinstance(e, Execution)] == [
        (100.0, BUY),
        (105.0, SELL),
    ]
    assert [(p.qty, p.side, p.pl) for p in positions if isinstance(p, Position)] == [
        (10, BUY, 0.0),
        (10, BUY, 50.0),
        (0, BUY, 0.0),
    ]
    last = equity[-1]
    assert isinstance(last, EquityData) and (last.equity, last.realized_pl) == (
        100_050.0,
        50.0,
    )
    assert isinstance(equity[0], EquityData) and equity[0].equity == 100_000.0


def test_equity_stream_follows_the_price(broker: Broker) -> None:
    place(broker, BUY, 10)
    equity = subscribe(broker, "equity")
    broker.set_price("AAPL", 98.0)
    assert [e.equity for e in equity if isinstance(e, EquityData)] == [
        100_000.0,
        99_980.0,
    ]


def test_streams_of_one_account_see_nothing_of_another(broker: Broker) -> None:
    mine = subscribe(broker, "orders", "A-1")
    theirs = subscribe(broker, "orders", "B-2")
    place(broker, BUY, 1, account="B-2")
    assert mine == [] and len(theirs) == 2


def test_broker_connection_stream_reports_connected(broker: Broker) -> None:
    [status] = subscribe(broker, "broker-connection")
    assert (
        isinstance(status, BrokerConnectionData)
        and status.status is ConnectionStatus.CONNECTED
    )


def test_removed_topic_gets_no_more_pushes(broker: Broker) -> None:
    received = subscribe(broker, "orders")
    broker.remove_topic('orders:{"accountId":"A-1"}')
    place(broker, BUY, 1)
    assert received == []


# -- fills that set off their own brackets ------------------------------------------


def test_stop_entry_whose_take_profit_is_through_the_market_fills_both(
    broker: Broker,
) -> None:
    parent = place(
        broker,
        BUY,
        10,
        OrderType.STOP,
        stop_price=105.0,
        take_profit=110.0,
        stop_loss=95.0,
    )
    broker.set_price("AAPL", 112.0)
    legs = {o.type: o for o in broker.orders(ACCOUNT) if o.parent_id}
    assert order(broker, parent).avg_price == 112.0
    assert (legs[OrderType.LIMIT].status, legs[OrderType.LIMIT].avg_price) == (
        OrderStatus.FILLED,
        112.0,
    )
    assert legs[OrderType.STOP].status is OrderStatus.CANCELED
    assert position(broker) is None and money(broker) == (100_000.0, 0.0, 100_000.0)


def test_buy_limit_above_the_market_with_a_stop_between_closes_at_once(
    broker: Broker,
) -> None:
    parent = place(broker, BUY, 10, OrderType.LIMIT, limit_price=105.0, stop_loss=102.0)
    [stop] = [o for o in broker.orders(ACCOUNT) if o.parent_id]
    assert order(broker, parent).avg_price == 100.0
    assert (stop.status, stop.avg_price, stop.parent_id) == (
        OrderStatus.FILLED,
        100.0,
        AAPL,
    )
    assert position(broker) is None
    [e1, e2] = broker.executions(ACCOUNT, "AAPL")
    assert (e1.order_id, e2.order_id) == (parent, stop.id)


# -- idempotency ------------------------------------------------------------------


def test_a_retry_with_the_same_key_places_nothing_new(broker: Broker) -> None:
    first = broker.place_order_once(ACCOUNT, pre_order(), "key-1")
    again = broker.place_order_once(ACCOUNT, pre_order(), "key-1")
    assert (first, again) == ((first[0], False), (first[0], True))
    assert len(broker.orders(ACCOUNT)) == 1 and position(broker) == (1, BUY, 100.0)


def test_the_same_key_for_another_order_is_a_conflict(broker: Broker) -> None:
    broker.place_order_once(ACCOUNT, pre_order(), "key-1")
    with pytest.raises(ConflictError, match="already used for a different order"):
        broker.place_order_once(ACCOUNT, pre_order(qty=2), "key-1")
    assert len(broker.orders(ACCOUNT)) == 1


def test_a_rejected_order_is_replayed_as_rejected(broker: Broker) -> None:
    with pytest.raises(OrderRejectedError) as first:
        broker.place_order_once(ACCOUNT, pre_order(qty=5_000), "big")
    with pytest.raises(OrderRejectedError) as again:
        broker.place_order_once(ACCOUNT, pre_order(qty=5_000), "big")
    assert first.value.order_id == again.value.order_id
    assert len(broker.orders(ACCOUNT)) == 1


def test_keys_are_per_account(broker: Broker) -> None:
    mine = broker.place_order_once(ACCOUNT, pre_order(), "k")
    theirs = broker.place_order_once("B-2", pre_order(qty=3), "k")
    assert mine[0] != theirs[0] and not theirs[1]
