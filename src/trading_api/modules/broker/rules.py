"""Business rules that refuse a request before anything changes."""

from collections.abc import Callable

from trading_api.models.broker import (
    LEVERAGE_INCREMENT,
    MAX_LEVERAGE,
    MIN_LEVERAGE,
    Order,
    OrderModification,
    OrderType,
    Side,
)
from trading_api.modules.broker.errors import RuleViolationError

# The range the leverage schema publishes (LeverageSetParams).
LEVERAGE_MIN, LEVERAGE_MAX = MIN_LEVERAGE, MAX_LEVERAGE
LEVERAGE_STEP = LEVERAGE_INCREMENT
LEG_TYPES = {"tp": OrderType.LIMIT, "sl": OrderType.STOP}


def check_brackets(
    side: Side,
    reference: float,
    take_profit: float | None,
    stop_loss: float | None,
    what: str,
) -> None:
    """Refuse a take-profit or stop-loss on the losing side of ``reference``.

    ``side`` is the direction of the position the brackets protect.
    """
    above, below = ("above", "below") if side is Side.BUY else ("below", "above")
    sign = side.value
    if take_profit is not None and (take_profit - reference) * sign <= 0:
        raise RuleViolationError(
            f"takeProfit ({take_profit:g}) must be {above} {what} ({reference:g}) "
            f"for a {side.name.lower()} position"
        )
    if stop_loss is not None and (reference - stop_loss) * sign <= 0:
        raise RuleViolationError(
            f"stopLoss ({stop_loss:g}) must be {below} {what} ({reference:g}) "
            f"for a {side.name.lower()} position"
        )


def check_identity(
    order: Order, changes: OrderModification, canonical: Callable[[str], str]
) -> None:
    """Refuse a modification whose id, symbol, type or side is not the order's.

    A TradingView Order object carries them; they identify the order and cannot
    be changed (cancel it and place a new one instead).
    """
    if changes.id is not None and changes.id != order.id:
        raise RuleViolationError(
            f"the body is order {changes.id!r} but the path names order {order.id}"
        )
    if changes.symbol is not None and canonical(changes.symbol) != order.symbol:
        raise RuleViolationError(
            f"order {order.id} trades {order.symbol}; its symbol cannot change "
            "(cancel it and place a new order)"
        )
    for name, sent, held in (
        ("type", changes.type, order.type),
        ("side", changes.side, order.side),
    ):
        if sent is not None and sent != held:
            raise RuleViolationError(
                f"order {order.id} is a {held.name} order; its {name} cannot change "
                "(cancel it and place a new order)"
            )


def check_modification(order: Order, changes: OrderModification) -> None:
    """Refuse changes that do not fit the order's type or role."""
    is_leg = order.parent_id is not None
    if is_leg and changes.qty is not None and changes.qty != order.qty:
        raise RuleViolationError(
            f"order {order.id} is a bracket leg; its quantity follows its parent"
        )
    if is_leg and (changes.take_profit or changes.stop_loss):
        raise RuleViolationError(
            f"order {order.id} is a bracket leg; it has no brackets"
        )
    if changes.limit_price and order.type not in (
        OrderType.LIMIT,
        OrderType.STOP_LIMIT,
    ):
        raise RuleViolationError(
            f"order {order.id} is a {order.type.name} order; it has no limitPrice"
        )
    if changes.stop_price and order.type not in (OrderType.STOP, OrderType.STOP_LIMIT):
        raise RuleViolationError(
            f"order {order.id} is a {order.type.name} order; it has no stopPrice"
        )


def leverage_problem(leverage: float) -> str | None:
    """Why ``leverage`` cannot be set, or None."""
    if not LEVERAGE_MIN <= leverage <= LEVERAGE_MAX:
        return f"leverage must be between {LEVERAGE_MIN:g} and {LEVERAGE_MAX:g}"
    if (leverage - LEVERAGE_MIN) % LEVERAGE_STEP:
        return f"leverage must be a multiple of {LEVERAGE_STEP:g}"
    return None


def leg_kind(order: Order) -> str:
    """``"tp"`` for a take-profit leg (LIMIT), ``"sl"`` for a stop-loss (STOP)."""
    return "tp" if order.type is OrderType.LIMIT else "sl"


def leg_price(leg: Order) -> float | None:
    """The price of a bracket leg: the limit of a take-profit, the stop of a stop."""
    return leg.limit_price if leg.type is OrderType.LIMIT else leg.stop_price
