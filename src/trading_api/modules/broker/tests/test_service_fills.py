"""Broker matching and accounting without HTTP, on hand-computed cases.

The market's clock stands still at a Monday 10:00 in New York (US stocks trade)
and prices are overridden with ``set_price``, so every fill price is known in
advance; the account starts with 100,000 USD. The service stores every change
in a fresh SQLite database, and is restarted on it after each test (see
``conftest``).
"""

import pytest
from pydantic import ValidationError

from trading_api.market import ManualClock
from trading_api.models.broker import (
    Brackets,
    LeverageInfoParams,
    LeveragePreviewParams,
    LeverageSetParams,
    OrderModification,
    OrderStatus,
    OrderType,
    PreOrder,
    Side,
)
from trading_api.modules.broker.errors import (
    ConflictError,
    NotFoundError,
    OrderRejectedError,
    RuleViolationError,
)
from trading_api.modules.broker.tests.support import (
    AAPL,
    ACCOUNT,
    BUY,
    OPEN,
    SELL,
    Broker,
    money,
    order,
    place,
    position,
)

# -- market orders and accounting ---------------------------------------------


def test_market_order_fills_at_once_at_the_simulated_price(
    broker: Broker,
) -> None:
    filled = order(broker, place(broker, BUY, 10))
    assert (filled.status, filled.avg_price, filled.filled_qty) == (
        OrderStatus.FILLED,
        100.0,
        10,
    )
    assert position(broker) == (10, BUY, 100.0)


def test_long_round_trip_realizes_the_price_gain(broker: Broker) -> None:
    place(broker, BUY, 10)
    broker.set_price("AAPL", 110.0)
    place(broker, SELL, 10)
    assert position(broker) is None
    assert money(broker) == (100_100.0, 100.0, 100_100.0)


def test_short_round_trip_realizes_the_price_drop(broker: Broker) -> None:
    place(broker, SELL, 10)
    broker.set_price("AAPL", 90.0)
    place(broker, BUY, 10)
    assert position(broker) is None
    assert money(broker) == (100_100.0, 100.0, 100_100.0)


def test_short_loses_when_the_price_rises(broker: Broker) -> None:
    place(broker, SELL, 4)
    broker.set_price("AAPL", 112.5)
    place(broker, BUY, 4)
    assert money(broker) == (99_950.0, -50.0, 99_950.0)


def test_partial_close_realizes_the_closed_part_and_keeps_the_average(
    broker: Broker,
) -> None:
    place(broker, BUY, 10)
    broker.set_price("AAPL", 120.0)
    broker.close_position(ACCOUNT, "AAPL", 4)
    assert position(broker) == (6, BUY, 100.0)
    assert money(broker) == (100_080.0, 80.0, 100_200.0)


def test_adding_to_a_position_moves_the_weighted_average(broker: Broker) -> None:
    place(broker, BUY, 10)
    broker.set_price("AAPL", 110.0)
    place(broker, BUY, 30)
    assert position(broker) == (40, BUY, 107.5)
    assert money(broker) == (100_000.0, 0.0, 100_100.0)


def test_reversal_closes_the_position_and_opens_the_rest_at_the_fill_price(
    broker: Broker,
) -> None:
    place(broker, BUY, 10)
    broker.set_price("AAPL", 90.0)
    place(broker, SELL, 15)
    assert position(broker) == (5, SELL, 90.0)
    assert money(broker) == (99_900.0, -100.0, 99_900.0)


def test_equity_is_balance_plus_unrealized_pl(broker: Broker) -> None:
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
    broker: Broker,
) -> None:
    place(broker, BUY, 10)
    with pytest.raises(RuleViolationError, match="holds 10"):
        broker.close_position(ACCOUNT, "AAPL", 11)


def test_close_unknown_position_is_not_found(broker: Broker) -> None:
    with pytest.raises(NotFoundError):
        broker.close_position(ACCOUNT, "AAPL")


# -- resting orders --------------------------------------------------------------


def test_buy_limit_waits_until_the_price_crosses_and_fills_at_the_limit(
    broker: Broker,
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
    broker: Broker,
) -> None:
    filled = order(broker, place(broker, BUY, 10, OrderType.LIMIT, limit_price=105.0))
    assert (filled.status, filled.avg_price) == (OrderStatus.FILLED, 100.0)


def test_sell_limit_fills_when_the_price_rises_to_it(broker: Broker) -> None:
    order_id = place(broker, SELL, 10, OrderType.LIMIT, limit_price=105.0)
    broker.set_price("AAPL", 106.0)
    assert order(broker, order_id).avg_price == 105.0
    assert position(broker) == (10, SELL, 105.0)


@pytest.mark.parametrize(
    ("side", "stop", "quiet", "through", "fill"),
    [(BUY, 105.0, 104.0, 106.0, 106.0), (SELL, 95.0, 96.0, 94.0, 94.0)],
)
def test_stop_triggers_when_reached_and_fills_at_the_market_price(
    broker: Broker,
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
    broker: Broker,
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
    broker: Broker,
) -> None:
    order_id = place(
        broker, BUY, 10, OrderType.STOP_LIMIT, stop_price=105.0, limit_price=106.0
    )
    broker.set_price("AAPL", 99.0)
    assert order(broker, order_id).status is OrderStatus.WORKING


def test_stop_limit_fills_on_trigger_when_its_limit_is_reachable(
    broker: Broker,
) -> None:
    order_id = place(
        broker, BUY, 10, OrderType.STOP_LIMIT, stop_price=105.0, limit_price=106.0
    )
    broker.set_price("AAPL", 105.5)
    assert order(broker, order_id).avg_price == 105.5


def test_resting_order_fills_on_the_step_that_reaches_its_limit(
    broker: Broker, clock: ManualClock
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
    broker: Broker,
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
    broker: Broker, clock: ManualClock
) -> None:
    broker.market.scenario.set_price("AAPL", 95.0, at=OPEN + 10)
    broker.market.scenario.set_price("AAPL", 100.0, at=OPEN + 20)
    clock.advance(25)
    order_id = place(broker, BUY, 1, OrderType.LIMIT, limit_price=96.0)
    clock.advance(5)
    broker.step()
    assert order(broker, order_id).status is OrderStatus.WORKING


# -- brackets -----------------------------------------------------------------------


def test_take_profit_fill_cancels_the_stop_loss(broker: Broker) -> None:
    place(broker, BUY, 10, take_profit=110.0, stop_loss=95.0)
    broker.set_price("AAPL", 111.0)
    legs = {o.type: o for o in broker.orders(ACCOUNT) if o.parent_id}
    assert legs[OrderType.LIMIT].status is OrderStatus.FILLED
    assert legs[OrderType.STOP].status is OrderStatus.CANCELED
    assert position(broker) is None and money(broker)[1] == 100.0


def test_stop_loss_fill_cancels_the_take_profit(broker: Broker) -> None:
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
    legs = [o for o in broker.orders(ACCOUNT) if o.parent_id == parent]
    assert [o.status for o in legs] == [OrderStatus.INACTIVE] * 2
    broker.set_price("AAPL", 94.0)
    statuses = [o.status for o in broker.orders(ACCOUNT) if o.parent_id == AAPL]
    assert statuses == [OrderStatus.WORKING] * 2
    assert broker.positions(ACCOUNT)[0].take_profit == 100.0


def test_cancelling_a_parent_cancels_its_inactive_brackets(
    broker: Broker,
) -> None:
    parent = place(
        broker, BUY, 10, OrderType.LIMIT, limit_price=95.0, take_profit=100.0
    )
    broker.cancel_order(ACCOUNT, parent)
    assert {o.status for o in broker.orders(ACCOUNT)} == {OrderStatus.CANCELED}


def test_position_brackets_follow_a_partial_close_and_go_with_a_full_close(
    broker: Broker,
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


def test_removing_a_position_bracket_cancels_its_leg(broker: Broker) -> None:
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
    broker: Broker, prices: dict[str, float]
) -> None:
    with pytest.raises(RuleViolationError, match="must be"):
        place(broker, BUY, 10, **prices)


def test_reversal_cancels_the_old_position_brackets(broker: Broker) -> None:
    place(broker, BUY, 10)
    broker.set_position_brackets(ACCOUNT, "AAPL", Brackets(stop_loss=90.0))
    place(broker, SELL, 20)
    assert [o.status for o in broker.orders(ACCOUNT) if o.parent_id] == [
        OrderStatus.CANCELED
    ]
    assert position(broker) == (10, SELL, 100.0)


# -- modify and cancel -----------------------------------------------------------------


def test_modify_moves_a_working_limit(broker: Broker) -> None:
    order_id = place(broker, BUY, 10, OrderType.LIMIT, limit_price=90.0)
    modified = broker.modify_order(
        ACCOUNT, order_id, OrderModification(limit_price=92.0, qty=5)
    )
    assert (modified.limit_price, modified.qty, modified.status) == (
        92.0,
        5,
        OrderStatus.WORKING,
    )


def test_modify_to_a_marketable_price_fills_at_once(broker: Broker) -> None:
    order_id = place(broker, BUY, 10, OrderType.LIMIT, limit_price=90.0)
    assert (
        broker.modify_order(
            ACCOUNT, order_id, OrderModification(limit_price=101.0)
        ).status
        is OrderStatus.FILLED
    )


def test_modify_a_filled_order_is_conflict(broker: Broker) -> None:
    order_id = place(broker, BUY, 10)
    with pytest.raises(ConflictError, match="filled"):
        broker.modify_order(ACCOUNT, order_id, OrderModification(qty=1))


def test_modify_limit_price_of_a_stop_is_a_rule_violation(
    broker: Broker,
) -> None:
    order_id = place(broker, BUY, 10, OrderType.STOP, stop_price=110.0)
    with pytest.raises(RuleViolationError, match="no limitPrice"):
        broker.modify_order(ACCOUNT, order_id, OrderModification(limit_price=1.0))


def test_cancel_filled_order_is_conflict(broker: Broker) -> None:
    order_id = place(broker, BUY, 10)
    with pytest.raises(ConflictError, match="already filled"):
        broker.cancel_order(ACCOUNT, order_id)


def test_cancel_twice_is_conflict(broker: Broker) -> None:
    order_id = place(broker, BUY, 10, OrderType.LIMIT, limit_price=90.0)
    broker.cancel_order(ACCOUNT, order_id)
    with pytest.raises(ConflictError, match="already canceled"):
        broker.cancel_order(ACCOUNT, order_id)


def test_orders_of_another_account_are_not_found(broker: Broker) -> None:
    order_id = place(broker, BUY, 10, OrderType.LIMIT, limit_price=90.0)
    with pytest.raises(NotFoundError):
        broker.cancel_order("B-2", order_id)
    assert broker.orders("B-2") == []


def test_order_beyond_the_margin_is_rejected_and_recorded(
    broker: Broker,
) -> None:
    with pytest.raises(OrderRejectedError, match="insufficient margin") as caught:
        place(broker, BUY, 1_001)
    assert order(broker, caught.value.order_id).status is OrderStatus.REJECTED


def test_leverage_raises_buying_power(broker: Broker) -> None:
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
    broker: Broker, leverage: float
) -> None:
    params = LeveragePreviewParams(
        symbol="AAPL", order_type=OrderType.MARKET, side=BUY, leverage=leverage
    )
    assert broker.preview_leverage(ACCOUNT, params).errors
    with pytest.raises(ValidationError, match="leverage"):
        LeverageSetParams.model_validate(params.model_dump())


def test_preview_reports_cost_and_errors_without_placing(broker: Broker) -> None:
    pre = PreOrder(symbol="AAPL", type=OrderType.MARKET, side=BUY, qty=2_000)
    preview = broker.preview_order(ACCOUNT, pre)
    rows = {r.title: r.value for r in preview.sections[0].rows}
    assert rows["Estimated value"] == "200000.00 USD"
    assert preview.errors and "insufficient margin" in preview.errors[0]
    assert broker.orders(ACCOUNT) == []


def test_executions_list_each_fill_of_a_symbol(broker: Broker) -> None:
    first = place(broker, BUY, 10)
    broker.set_price("AAPL", 101.0)
    second = place(broker, SELL, 4)
    fills = [
        (e.order_id, e.price, e.qty, e.side) for e in broker.executions(ACCOUNT, "AAPL")
    ]
    assert fills == [(first, 100.0, 10, BUY), (second, 101.0, 4, SELL)]
    assert broker.executions(ACCOUNT, "MSFT") == []
