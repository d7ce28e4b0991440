"""Broker matching and accounting without HTTP, on hand-computed cases.

The market's clock stands still at a Monday 10:00 in New York (US stocks trade)
and prices are overridden with ``set_price``, so every fill price is known in
advance; the account starts with 100,000 USD.
"""

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from trading_api.market import ManualClock, Market, QuantityError, UnknownSymbolError
from trading_api.models.broker import (
    Brackets,
    BrokerConnectionData,
    ConnectionStatus,
    EquityData,
    Execution,
    LeverageInfoParams,
    LeveragePreviewParams,
    LeverageSetParams,
    Order,
    OrderModification,
    OrderStatus,
    OrderType,
    Position,
    PreOrder,
    Side,
    TimeInForce,
)
from trading_api.modules.broker.errors import (
    ConflictError,
    LimitError,
    NotFoundError,
    OrderRejectedError,
    RuleViolationError,
)
from trading_api.modules.broker.service import BrokerService
from trading_api.modules.broker.settings import BrokerSettings

ACCOUNT = "A-1"
BUY, SELL = Side.BUY, Side.SELL


OPEN = 1_718_028_000  # Monday 2024-06-10 10:00 New York
AAPL = "NASDAQ:AAPL"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(OPEN)


@pytest.fixture
def broker(clock: ManualClock) -> BrokerService:
    service = BrokerService(market=Market(clock=clock))
    service.set_price("AAPL", 100.0)
    return service


def place(
    broker: BrokerService,
    side: Side,
    qty: float,
    order_type: OrderType = OrderType.MARKET,
    account: str = ACCOUNT,
    **prices: float,
) -> str:
    pre = PreOrder(symbol="AAPL", type=order_type, side=side, qty=qty, **prices)
    return broker.place_order(account, pre)


def order(broker: BrokerService, order_id: str, account: str = ACCOUNT) -> Order:
    return next(o for o in broker.orders(account) if o.id == order_id)


def position(broker: BrokerService) -> tuple[float, Side, float] | None:
    positions = broker.positions(ACCOUNT)
    if not positions:
        return None
    [p] = positions
    return p.qty, p.side, p.avg_price


def money(broker: BrokerService) -> tuple[float, float, float]:
    info = broker.account_info(ACCOUNT)
    return info.balance, info.realized_pl, info.equity


# -- market orders and accounting ---------------------------------------------


def test_market_order_fills_at_once_at_the_simulated_price(
    broker: BrokerService,
) -> None:
    filled = order(broker, place(broker, BUY, 10))
    assert (filled.status, filled.avg_price, filled.filled_qty) == (
        OrderStatus.FILLED,
        100.0,
        10,
    )
    assert position(broker) == (10, BUY, 100.0)


def test_long_round_trip_realizes_the_price_gain(broker: BrokerService) -> None:
    place(broker, BUY, 10)
    broker.set_price("AAPL", 110.0)
    place(broker, SELL, 10)
    assert position(broker) is None
    assert money(broker) == (100_100.0, 100.0, 100_100.0)


def test_short_round_trip_realizes_the_price_drop(broker: BrokerService) -> None:
    place(broker, SELL, 10)
    broker.set_price("AAPL", 90.0)
    place(broker, BUY, 10)
    assert position(broker) is None
    assert money(broker) == (100_100.0, 100.0, 100_100.0)


def test_short_loses_when_the_price_rises(broker: BrokerService) -> None:
    place(broker, SELL, 4)
    broker.set_price("AAPL", 112.5)
    place(broker, BUY, 4)
    assert money(broker) == (99_950.0, -50.0, 99_950.0)


def test_partial_close_realizes_the_closed_part_and_keeps_the_average(
    broker: BrokerService,
) -> None:
    place(broker, BUY, 10)
    broker.set_price("AAPL", 120.0)
    broker.close_position(ACCOUNT, "AAPL", 4)
    assert position(broker) == (6, BUY, 100.0)
    assert money(broker) == (100_080.0, 80.0, 100_200.0)


def test_adding_to_a_position_moves_the_weighted_average(broker: BrokerService) -> None:
    place(broker, BUY, 10)
    broker.set_price("AAPL", 110.0)
    place(broker, BUY, 30)
    assert position(broker) == (40, BUY, 107.5)
    assert money(broker) == (100_000.0, 0.0, 100_100.0)


def test_reversal_closes_the_position_and_opens_the_rest_at_the_fill_price(
    broker: BrokerService,
) -> None:
    place(broker, BUY, 10)
    broker.set_price("AAPL", 90.0)
    place(broker, SELL, 15)
    assert position(broker) == (5, SELL, 90.0)
    assert money(broker) == (99_900.0, -100.0, 99_900.0)


def test_equity_is_balance_plus_unrealized_pl(broker: BrokerService) -> None:
    place(broker, BUY, 10)
    broker.set_price("AAPL", 95.0)
    info = broker.account_info(ACCOUNT)
    assert (info.balance, info.unrealized_pl, info.equity) == (
        100_000.0,
        -50.0,
        99_950.0,
    )
    assert broker.positions(ACCOUNT)[0].pl == -50.0


def test_close_more_than_the_position_is_a_rule_violation(
    broker: BrokerService,
) -> None:
    place(broker, BUY, 10)
    with pytest.raises(RuleViolationError, match="holds 10"):
        broker.close_position(ACCOUNT, "AAPL", 11)


def test_close_unknown_position_is_not_found(broker: BrokerService) -> None:
    with pytest.raises(NotFoundError):
        broker.close_position(ACCOUNT, "AAPL")


# -- resting orders --------------------------------------------------------------


def test_buy_limit_waits_until_the_price_crosses_and_fills_at_the_limit(
    broker: BrokerService,
) -> None:
    order_id = place(broker, BUY, 10, OrderType.LIMIT, limit_price=95.0)
    broker.set_price("AAPL", 96.0)
    assert order(broker, order_id).status is OrderStatus.WORKING
    broker.set_price("AAPL", 94.0)
    assert (order(broker, order_id).status, order(broker, order_id).avg_price) == (
        OrderStatus.FILLED,
        95.0,
    )


def test_marketable_limit_fills_at_once_at_the_better_current_price(
    broker: BrokerService,
) -> None:
    filled = order(broker, place(broker, BUY, 10, OrderType.LIMIT, limit_price=105.0))
    assert (filled.status, filled.avg_price) == (OrderStatus.FILLED, 100.0)


def test_sell_limit_fills_when_the_price_rises_to_it(broker: BrokerService) -> None:
    order_id = place(broker, SELL, 10, OrderType.LIMIT, limit_price=105.0)
    broker.set_price("AAPL", 106.0)
    assert order(broker, order_id).avg_price == 105.0
    assert position(broker) == (10, SELL, 105.0)


@pytest.mark.parametrize(
    ("side", "stop", "quiet", "through", "fill"),
    [(BUY, 105.0, 104.0, 106.0, 106.0), (SELL, 95.0, 96.0, 94.0, 94.0)],
)
def test_stop_triggers_when_reached_and_fills_at_the_market_price(
    broker: BrokerService,
    side: Side,
    stop: float,
    quiet: float,
    through: float,
    fill: float,
) -> None:
    order_id = place(broker, side, 10, OrderType.STOP, stop_price=stop)
    broker.set_price("AAPL", quiet)
    assert order(broker, order_id).status is OrderStatus.WORKING
    broker.set_price("AAPL", through)
    assert (order(broker, order_id).status, order(broker, order_id).avg_price) == (
        OrderStatus.FILLED,
        fill,
    )


def test_stop_limit_triggered_beyond_its_limit_waits_for_the_limit(
    broker: BrokerService,
) -> None:
    order_id = place(
        broker, BUY, 10, OrderType.STOP_LIMIT, stop_price=105.0, limit_price=106.0
    )
    broker.set_price("AAPL", 107.0)
    assert order(broker, order_id).status is OrderStatus.WORKING
    broker.set_price("AAPL", 103.0)
    assert (order(broker, order_id).status, order(broker, order_id).avg_price) == (
        OrderStatus.FILLED,
        106.0,
    )


def test_stop_limit_not_triggered_ignores_a_price_under_its_limit(
    broker: BrokerService,
) -> None:
    order_id = place(
        broker, BUY, 10, OrderType.STOP_LIMIT, stop_price=105.0, limit_price=106.0
    )
    broker.set_price("AAPL", 99.0)
    assert order(broker, order_id).status is OrderStatus.WORKING


def test_stop_limit_fills_on_trigger_when_its_limit_is_reachable(
    broker: BrokerService,
) -> None:
    order_id = place(
        broker, BUY, 10, OrderType.STOP_LIMIT, stop_price=105.0, limit_price=106.0
    )
    broker.set_price("AAPL", 105.5)
    assert order(broker, order_id).avg_price == 105.5


def test_resting_order_fills_on_the_step_that_reaches_its_limit(
    broker: BrokerService, clock: ManualClock
) -> None:
    order_id = place(broker, BUY, 1, OrderType.LIMIT, limit_price=99.8)
    broker.market.scenario.set_price("AAPL", 99.5, at=OPEN + 60)
    clock.advance(59)
    broker.step()
    assert order(broker, order_id).status is OrderStatus.WORKING
    clock.advance(1)
    broker.step()
    assert (order(broker, order_id).status, order(broker, order_id).avg_price) == (
        OrderStatus.FILLED,
        99.8,
    )


@pytest.mark.parametrize(
    ("side", "order_type", "prices", "touch", "fill"),
    [
        (BUY, OrderType.LIMIT, {"limit_price": 99.0}, 98.5, 99.0),
        (SELL, OrderType.LIMIT, {"limit_price": 101.0}, 101.5, 101.0),
        (BUY, OrderType.STOP, {"stop_price": 101.0}, 101.5, 101.0),
        (SELL, OrderType.STOP, {"stop_price": 99.0}, 98.5, 99.0),
    ],
)
def test_resting_order_fills_when_the_path_touched_it_between_two_steps(
    broker: BrokerService,
    clock: ManualClock,
    side: Side,
    order_type: OrderType,
    prices: dict[str, float],
    touch: float,
    fill: float,
) -> None:
    order_id = place(broker, side, 1, order_type, **prices)
    scenario = broker.market.scenario
    scenario.set_price("AAPL", touch, at=OPEN + 10)
    scenario.set_price("AAPL", 100.0, at=OPEN + 20)
    clock.advance(30)
    broker.step()
    assert broker.price("AAPL") == 100.0
    assert (order(broker, order_id).status, order(broker, order_id).avg_price) == (
        OrderStatus.FILLED,
        fill,
    )


def test_a_resting_order_is_not_filled_by_prices_before_it_was_placed(
    broker: BrokerService, clock: ManualClock
) -> None:
    broker.market.scenario.set_price("AAPL", 95.0, at=OPEN + 10)
    broker.market.scenario.set_price("AAPL", 100.0, at=OPEN + 20)
    clock.advance(25)
    order_id = place(broker, BUY, 1, OrderType.LIMIT, limit_price=96.0)
    clock.advance(5)
    broker.step()
    assert order(broker, order_id).status is OrderStatus.WORKING


# -- brackets -----------------------------------------------------------------------


def test_take_profit_fill_cancels_the_stop_loss(broker: BrokerService) -> None:
    place(broker, BUY, 10, take_profit=110.0, stop_loss=95.0)
    broker.set_price("AAPL", 111.0)
    legs = {o.type: o for o in broker.orders(ACCOUNT) if o.parent_id}
    assert legs[OrderType.LIMIT].status is OrderStatus.FILLED
    assert legs[OrderType.STOP].status is OrderStatus.CANCELED
    assert position(broker) is None and money(broker)[1] == 100.0


def test_stop_loss_fill_cancels_the_take_profit(broker: BrokerService) -> None:
    place(broker, BUY, 10, take_profit=110.0, stop_loss=95.0)
    broker.set_price("AAPL", 94.0)
    legs = {o.type: o for o in broker.orders(ACCOUNT) if o.parent_id}
    assert (legs[OrderType.STOP].status, legs[OrderType.STOP].avg_price) == (
        OrderStatus.FILLED,
        94.0,
    )
    assert legs[OrderType.LIMIT].status is OrderStatus.CANCELED
    assert money(broker)[1] == -60.0


def test_brackets_of_a_working_order_stay_inactive_until_it_fills(
    broker: BrokerService,
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
    legs = [o for o in broker.orders(ACCOUNT) if o.parent_id == parent]
    assert [o.status for o in legs] == [OrderStatus.INACTIVE] * 2
    broker.set_price("AAPL", 94.0)
    statuses = [o.status for o in broker.orders(ACCOUNT) if o.parent_id == AAPL]
    assert statuses == [OrderStatus.WORKING] * 2
    assert broker.positions(ACCOUNT)[0].take_profit == 100.0


def test_cancelling_a_parent_cancels_its_inactive_brackets(
    broker: BrokerService,
) -> None:
    parent = place(
        broker, BUY, 10, OrderType.LIMIT, limit_price=95.0, take_profit=100.0
    )
    broker.cancel_order(ACCOUNT, parent)
    assert {o.status for o in broker.orders(ACCOUNT)} == {OrderStatus.CANCELED}


def test_position_brackets_follow_a_partial_close_and_go_with_a_full_close(
    broker: BrokerService,
) -> None:
    place(broker, BUY, 10)
    broker.set_position_brackets(
        ACCOUNT, "AAPL", Brackets(take_profit=120.0, stop_loss=90.0)
    )
    broker.close_position(ACCOUNT, "AAPL", 4)
    assert {o.qty for o in broker.orders(ACCOUNT) if o.parent_id} == {6}
    broker.close_position(ACCOUNT, "AAPL")
    assert {o.status for o in broker.orders(ACCOUNT) if o.parent_id} == {
        OrderStatus.CANCELED
    }


def test_removing_a_position_bracket_cancels_its_leg(broker: BrokerService) -> None:
    place(broker, BUY, 10)
    broker.set_position_brackets(
        ACCOUNT, "AAPL", Brackets(take_profit=120.0, stop_loss=90.0)
    )
    [stop_leg] = [o for o in broker.orders(ACCOUNT) if o.type is OrderType.STOP]
    updated = broker.set_position_brackets(ACCOUNT, "AAPL", Brackets(take_profit=125.0))
    assert (updated.take_profit, updated.stop_loss) == (125.0, None)
    assert order(broker, stop_leg.id).status is OrderStatus.CANCELED
    broker.set_price("AAPL", 89.0)
    assert order(broker, stop_leg.id).status is OrderStatus.CANCELED
    assert position(broker) == (10, BUY, 100.0)


@pytest.mark.parametrize(
    "prices",
    [{"take_profit": 99.0}, {"stop_loss": 101.0}],
    ids=["tp-below", "sl-above"],
)
def test_brackets_on_the_losing_side_are_rule_violations(
    broker: BrokerService, prices: dict[str, float]
) -> None:
    with pytest.raises(RuleViolationError, match="must be"):
        place(broker, BUY, 10, **prices)


def test_reversal_cancels_the_old_position_brackets(broker: BrokerService) -> None:
    place(broker, BUY, 10)
    broker.set_position_brackets(ACCOUNT, "AAPL", Brackets(stop_loss=90.0))
    place(broker, SELL, 20)
    assert [o.status for o in broker.orders(ACCOUNT) if o.parent_id] == [
        OrderStatus.CANCELED
    ]
    assert position(broker) == (10, SELL, 100.0)


# -- modify and cancel -----------------------------------------------------------------


def test_modify_moves_a_working_limit(broker: BrokerService) -> None:
    order_id = place(broker, BUY, 10, OrderType.LIMIT, limit_price=90.0)
    modified = broker.modify_order(
        ACCOUNT, order_id, OrderModification(limit_price=92.0, qty=5)
    )
    assert (modified.limit_price, modified.qty, modified.status) == (
        92.0,
        5,
        OrderStatus.WORKING,
    )


def test_modify_to_a_marketable_price_fills_at_once(broker: BrokerService) -> None:
    order_id = place(broker, BUY, 10, OrderType.LIMIT, limit_price=90.0)
    assert (
        broker.modify_order(
            ACCOUNT, order_id, OrderModification(limit_price=101.0)
        ).status
        is OrderStatus.FILLED
    )


def test_modify_a_filled_order_is_conflict(broker: BrokerService) -> None:
    order_id = place(broker, BUY, 10)
    with pytest.raises(ConflictError, match="filled"):
        broker.modify_order(ACCOUNT, order_id, OrderModification(qty=1))


def test_modify_limit_price_of_a_stop_is_a_rule_violation(
    broker: BrokerService,
) -> None:
    order_id = place(broker, BUY, 10, OrderType.STOP, stop_price=110.0)
    with pytest.raises(RuleViolationError, match="no limitPrice"):
        broker.modify_order(ACCOUNT, order_id, OrderModification(limit_price=1.0))


def test_cancel_filled_order_is_conflict(broker: BrokerService) -> None:
    order_id = place(broker, BUY, 10)
    with pytest.raises(ConflictError, match="already filled"):
        broker.cancel_order(ACCOUNT, order_id)


def test_cancel_twice_is_conflict(broker: BrokerService) -> None:
    order_id = place(broker, BUY, 10, OrderType.LIMIT, limit_price=90.0)
    broker.cancel_order(ACCOUNT, order_id)
    with pytest.raises(ConflictError, match="already canceled"):
        broker.cancel_order(ACCOUNT, order_id)


def test_orders_of_another_account_are_not_found(broker: BrokerService) -> None:
    order_id = place(broker, BUY, 10, OrderType.LIMIT, limit_price=90.0)
    with pytest.raises(NotFoundError):
        broker.cancel_order("B-2", order_id)
    assert broker.orders("B-2") == []


def test_order_beyond_the_margin_is_rejected_and_recorded(
    broker: BrokerService,
) -> None:
    with pytest.raises(OrderRejectedError, match="insufficient margin") as caught:
        place(broker, BUY, 1_001)
    assert order(broker, caught.value.order_id).status is OrderStatus.REJECTED


def test_leverage_raises_buying_power(broker: BrokerService) -> None:
    params = LeverageSetParams(
        symbol="AAPL", order_type=OrderType.MARKET, side=BUY, leverage=10
    )
    broker.set_leverage(ACCOUNT, params)
    place(broker, BUY, 5_000)
    info = broker.account_info(ACCOUNT)
    assert (info.used_margin, info.available_funds) == (50_000.0, 50_000.0)
    lookup = LeverageInfoParams(symbol="AAPL", order_type=OrderType.MARKET, side=BUY)
    assert broker.leverage_info(ACCOUNT, lookup).leverage == 10


@pytest.mark.parametrize("leverage", [0.5, 101, 2.5])
def test_leverage_outside_range_or_step_is_listed_by_preview_refused_by_set(
    broker: BrokerService, leverage: float
) -> None:
    params = LeveragePreviewParams(
        symbol="AAPL", order_type=OrderType.MARKET, side=BUY, leverage=leverage
    )
    assert broker.preview_leverage(ACCOUNT, params).errors
    with pytest.raises(ValidationError, match="leverage"):
        LeverageSetParams.model_validate(params.model_dump())


def test_preview_reports_cost_and_errors_without_placing(broker: BrokerService) -> None:
    pre = PreOrder(symbol="AAPL", type=OrderType.MARKET, side=BUY, qty=2_000)
    preview = broker.preview_order(ACCOUNT, pre)
    rows = {r.title: r.value for r in preview.sections[0].rows}
    assert rows["Estimated value"] == "200000.00 USD"
    assert preview.errors and "insufficient margin" in preview.errors[0]
    assert broker.orders(ACCOUNT) == []


def test_executions_list_each_fill_of_a_symbol(broker: BrokerService) -> None:
    first = place(broker, BUY, 10)
    broker.set_price("AAPL", 101.0)
    second = place(broker, SELL, 4)
    fills = [
        (e.order_id, e.price, e.qty, e.side) for e in broker.executions(ACCOUNT, "AAPL")
    ]
    assert fills == [(first, 100.0, 10, BUY), (second, 101.0, 4, SELL)]
    assert broker.executions(ACCOUNT, "MSFT") == []


# -- streams --------------------------------------------------------------------------


def subscribe(
    broker: BrokerService, route: str, account: str = ACCOUNT
) -> list[BaseModel]:
    received: list[BaseModel] = []
    payload: dict[str, Any] = {"accountId": account}
    topic = f"{route}:{json.dumps(payload, sort_keys=True, separators=(',', ':'))}"
    asyncio.run(broker.create_topic(topic, received.append))
    return received


def statuses(received: list[BaseModel]) -> list[tuple[str, OrderStatus]]:
    return [(o.id, o.status) for o in received if isinstance(o, Order)]


def test_orders_stream_pushes_every_state_change(broker: BrokerService) -> None:
    received = subscribe(broker, "orders")
    market = place(broker, BUY, 1)
    limit = place(broker, BUY, 1, OrderType.LIMIT, limit_price=90.0)
    broker.modify_order(ACCOUNT, limit, OrderModification(limit_price=91.0))
    broker.cancel_order(ACCOUNT, limit)
    with pytest.raises(OrderRejectedError):
        place(broker, BUY, 5_000)
    assert statuses(received) == [
        (market, OrderStatus.WORKING),
        (market, OrderStatus.FILLED),
        (limit, OrderStatus.WORKING),
        (limit, OrderStatus.WORKING),
        (limit, OrderStatus.CANCELED),
        (str(int(limit) + 1), OrderStatus.REJECTED),
    ]
    assert [o.limit_price for o in received if isinstance(o, Order) and o.id == limit][
        1
    ] == 91.0


def test_fill_pushes_execution_position_and_equity(broker: BrokerService) -> None:
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


def test_equity_stream_follows_the_price(broker: BrokerService) -> None:
    place(broker, BUY, 10)
    equity = subscribe(broker, "equity")
    broker.set_price("AAPL", 98.0)
    assert [e.equity for e in equity if isinstance(e, EquityData)] == [
        100_000.0,
        99_980.0,
    ]


def test_streams_of_one_account_see_nothing_of_another(broker: BrokerService) -> None:
    mine = subscribe(broker, "orders", "A-1")
    theirs = subscribe(broker, "orders", "B-2")
    place(broker, BUY, 1, account="B-2")
    assert mine == [] and len(theirs) == 2


def test_broker_connection_stream_reports_connected(broker: BrokerService) -> None:
    [status] = subscribe(broker, "broker-connection")
    assert (
        isinstance(status, BrokerConnectionData)
        and status.status is ConnectionStatus.CONNECTED
    )


def test_removed_topic_gets_no_more_pushes(broker: BrokerService) -> None:
    received = subscribe(broker, "orders")
    asyncio.run(broker.remove_topic('orders:{"accountId":"A-1"}'))
    place(broker, BUY, 1)
    assert received == []


# -- fills that set off their own brackets ------------------------------------------


def test_stop_entry_whose_take_profit_is_through_the_market_fills_both(
    broker: BrokerService,
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
    broker: BrokerService,
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


def pre_order(**fields: Any) -> PreOrder:
    return PreOrder.model_validate(
        {"symbol": "AAPL", "type": OrderType.MARKET, "side": BUY, "qty": 1, **fields}
    )


def test_a_retry_with_the_same_key_places_nothing_new(broker: BrokerService) -> None:
    first = broker.place_order_once(ACCOUNT, pre_order(), "key-1")
    again = broker.place_order_once(ACCOUNT, pre_order(), "key-1")
    assert (first, again) == ((first[0], False), (first[0], True))
    assert len(broker.orders(ACCOUNT)) == 1 and position(broker) == (1, BUY, 100.0)


def test_the_same_key_for_another_order_is_a_conflict(broker: BrokerService) -> None:
    broker.place_order_once(ACCOUNT, pre_order(), "key-1")
    with pytest.raises(ConflictError, match="already used for a different order"):
        broker.place_order_once(ACCOUNT, pre_order(qty=2), "key-1")
    assert len(broker.orders(ACCOUNT)) == 1


def test_a_rejected_order_is_replayed_as_rejected(broker: BrokerService) -> None:
    with pytest.raises(OrderRejectedError) as first:
        broker.place_order_once(ACCOUNT, pre_order(qty=5_000), "big")
    with pytest.raises(OrderRejectedError) as again:
        broker.place_order_once(ACCOUNT, pre_order(qty=5_000), "big")
    assert first.value.order_id == again.value.order_id
    assert len(broker.orders(ACCOUNT)) == 1


def test_keys_are_per_account(broker: BrokerService) -> None:
    mine = broker.place_order_once(ACCOUNT, pre_order(), "k")
    theirs = broker.place_order_once("B-2", pre_order(qty=3), "k")
    assert mine[0] != theirs[0] and not theirs[1]


# -- limits --------------------------------------------------------------------------


def limited(**limits: int) -> BrokerService:
    market = Market(clock=ManualClock(OPEN))
    service = BrokerService(market=market, settings=BrokerSettings(**limits))
    service.set_price("AAPL", 100.0)
    return service


def test_open_orders_past_the_limit_are_refused_and_change_nothing() -> None:
    broker = limited(max_open_orders=3)
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


def test_accounts_past_the_limit_are_refused_but_reads_create_none() -> None:
    broker = limited(max_accounts=2)
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
    broker: BrokerService,
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
    broker: BrokerService,
) -> None:
    filled = order(broker, broker.place_order(ACCOUNT, pre_order(seenPrice=99.5)))
    assert filled.message == "filled +0.5 from the seen price"


def test_is_close_without_a_position_to_close_is_refused(
    broker: BrokerService,
) -> None:
    place(broker, BUY, 5)
    with pytest.raises(RuleViolationError, match="no short position"):
        broker.place_order(ACCOUNT, pre_order(side=BUY, isClose=True))
    with pytest.raises(RuleViolationError, match="holds 5"):
        broker.place_order(ACCOUNT, pre_order(side=SELL, qty=6, isClose=True))
    assert len(broker.orders(ACCOUNT)) == 1


def test_resting_is_close_order_is_cancelled_when_the_position_is_gone(
    broker: BrokerService,
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
    broker: BrokerService,
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
    broker: BrokerService, field: str, value: Any, message: str
) -> None:
    parent = place(broker, BUY, 10, OrderType.LIMIT, limit_price=95.0)
    with pytest.raises(RuleViolationError, match=message):
        broker.modify_order(
            ACCOUNT, parent, OrderModification.model_validate({field: value})
        )


def test_moving_the_entry_past_a_bracket_is_refused(broker: BrokerService) -> None:
    parent = place(broker, BUY, 10, OrderType.LIMIT, limit_price=95.0, stop_loss=90.0)
    with pytest.raises(RuleViolationError, match="stopLoss"):
        broker.modify_order(ACCOUNT, parent, OrderModification(limit_price=89.0))
    assert order(broker, parent).limit_price == 95.0


def test_moving_a_leg_of_a_pending_order_to_the_wrong_side_is_refused(
    broker: BrokerService,
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


def test_ticker_and_exchange_ticker_book_one_position(broker: BrokerService) -> None:
    broker.place_order(ACCOUNT, pre_order(symbol="AAPL", qty=2))
    broker.place_order(ACCOUNT, pre_order(symbol="NASDAQ:AAPL", qty=3))
    [held] = broker.positions(ACCOUNT)
    assert (held.id, held.symbol, held.qty) == (AAPL, AAPL, 5)
    assert {o.symbol for o in broker.orders(ACCOUNT)} == {AAPL}


def test_an_unknown_symbol_is_refused_by_name(broker: BrokerService) -> None:
    with pytest.raises(UnknownSymbolError, match="NOT_A_SYMBOL"):
        broker.place_order(ACCOUNT, pre_order(symbol="NOT_A_SYMBOL"))
    assert broker.orders(ACCOUNT) == []


@pytest.mark.parametrize(
    ("symbol", "qty", "rule"),
    [("BTCUSD", 1e-9, "minimum"), ("AAPL", 1.5, "step"), ("EURUSD", 1500, "step")],
)
def test_a_quantity_off_the_symbols_rules_is_refused(
    broker: BrokerService, symbol: str, qty: float, rule: str
) -> None:
    with pytest.raises(QuantityError, match=rule):
        broker.place_order(ACCOUNT, pre_order(symbol=symbol, qty=qty))
    assert broker.orders(ACCOUNT) == []


def test_a_fractional_crypto_quantity_on_its_step_fills(broker: BrokerService) -> None:
    broker.set_price("BTCUSD", 60_000.0)
    broker.place_order(ACCOUNT, pre_order(symbol="BTCUSD", qty=0.0003))
    [held] = broker.positions(ACCOUNT)
    assert (held.id, held.qty, held.avg_price) == ("BINANCE:BTCUSD", 0.0003, 60_000.0)


def test_market_order_fills_at_the_market_price_of_the_instant(
    clock: ManualClock,
) -> None:
    market = Market(clock=clock)
    broker = BrokerService(market=market)
    shown = market.quote("AAPL").last
    filled = order(broker, broker.place_order(ACCOUNT, pre_order()))
    assert filled.avg_price == shown
    clock.advance(90)
    assert market.quote("AAPL").last != shown


def test_order_placed_while_closed_rests_and_fills_at_the_open() -> None:
    clock = ManualClock(SATURDAY)
    market = Market(clock=clock)
    broker = BrokerService(market=market)
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
    broker: BrokerService, clock: ManualClock
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


def test_day_order_placed_while_closed_lives_through_the_next_session() -> None:
    clock = ManualClock(SATURDAY)
    broker = BrokerService(market=Market(clock=clock))
    day = broker.place_order(
        ACCOUNT,
        pre_order(type=OrderType.LIMIT, limitPrice=1.0, duration={"type": "DAY"}),
    )
    duration = order(broker, day).duration
    assert duration is not None
    assert duration.datetime == (MONDAY_OPEN + 6.5 * 3600) * 1000
