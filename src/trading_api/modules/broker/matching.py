"""When and at what price an order executes against the market.

- MARKET fills at the current price.
- LIMIT fills when the price is at or better than the limit: on arrival at the
  current (better) price, when resting at the limit price.
- STOP triggers when the price reaches the stop (buy: at or above, sell: at or
  below) and then fills like a market order: at the current price if it is
  through the stop, else at the stop the path just touched.
- STOP_LIMIT triggers like a stop, then behaves as a LIMIT that arrives at trigger.

A resting order is checked against every price the path visited since it was
last checked (the low and high of that interval), so an order whose price was
touched between two matching steps fills even if the price moved back.
"""

from trading_api.models.broker import Order, OrderType, Side


def stop_reached(order: Order, price: float) -> bool:
    """Whether ``price`` reaches the order's stop price."""
    assert order.stop_price is not None
    if order.side is Side.BUY:
        return price >= order.stop_price
    return price <= order.stop_price


def limit_reached(order: Order, price: float) -> bool:
    """Whether ``price`` is at or better than the order's limit price."""
    assert order.limit_price is not None
    if order.side is Side.BUY:
        return price <= order.limit_price
    return price >= order.limit_price


def fill_price(
    order: Order, price: float, *, arriving: bool, triggered: bool = False
) -> float | None:
    """The execution price of ``order`` at market ``price``, or None to keep waiting.

    Args:
        order: A working order.
        price: The current price of its symbol.
        arriving: The order (or a triggered stop-limit) reaches the market now,
            rather than resting while the price moves.
        triggered: A STOP_LIMIT whose stop was already reached.
    """
    if order.type is OrderType.MARKET:
        return price
    if order.type is OrderType.STOP:
        return price if stop_reached(order, price) else None
    if order.type is OrderType.STOP_LIMIT and not triggered:
        if not stop_reached(order, price):
            return None
        arriving = True
    if not limit_reached(order, price):
        return None
    assert order.limit_price is not None
    return price if arriving else order.limit_price


def reached_between(order: Order, price: float, low: float, high: float) -> bool:
    """Whether the path from ``low`` to ``high`` reached the order's ``price``.

    ``price`` is the order's stop or limit; a buy stop and a sell limit are
    reached from below (the high), a sell stop and a buy limit from above.
    """
    from_below = (order.type in (OrderType.STOP, OrderType.STOP_LIMIT)) == (
        order.side is Side.BUY
    )
    return high >= price if from_below else low <= price


def resting_fill_price(
    order: Order, price: float, low: float, high: float
) -> float | None:
    """The execution price of a resting LIMIT or STOP whose symbol traded between
    ``low`` and ``high`` since it was last checked and trades at ``price`` now;
    None to keep waiting."""
    if order.type is OrderType.STOP:
        assert order.stop_price is not None
        if not reached_between(order, order.stop_price, low, high):
            return None
        return price if stop_reached(order, price) else order.stop_price
    assert order.limit_price is not None
    if order.side is Side.BUY:
        return order.limit_price if low <= order.limit_price else None
    return order.limit_price if high >= order.limit_price else None
