"""When and at what price an order executes against the current price.

- MARKET fills at the current price.
- LIMIT fills when the price is at or better than the limit: on arrival at the
  current (better) price, when resting at the limit price.
- STOP triggers when the price reaches the stop (buy: at or above, sell: at or
  below) and then fills at the current price, like a market order.
- STOP_LIMIT triggers like a stop, then behaves as a LIMIT that arrives at trigger.
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
