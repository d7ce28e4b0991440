"""The broker's objects as rows of its tables, and back.

Orders are written with their matching state (open, triggered, fresh, last
checked) and read back without a second validation: the rows were written
from validated objects, and a restart builds every open order from them.
"""

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Table

from trading_api.models.broker import (
    Execution,
    Order,
    OrderDuration,
    OrderStatus,
    OrderType,
    ParentType,
    Side,
    TimeInForce,
)
from trading_api.modules.broker.accounting import Account
from trading_api.modules.broker.tables import OrderRow

ORDERS: Table = OrderRow.__table__  # type: ignore[assignment]
M = TypeVar("M", bound=BaseModel)


def order_row(account: Account, order: Order) -> dict[str, Any]:
    """The row of ``order`` of ``account``, with its matching state."""
    duration = order.duration
    checked = account.checked.get(order.id)
    return {
        "id": order.id,
        "account_id": account.id,
        "open": order.id in account.open,
        "symbol": order.symbol,
        "type": int(order.type),
        "side": int(order.side),
        "qty": order.qty,
        "status": int(order.status),
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
        "avg_price": order.avg_price,
        "filled_qty": order.filled_qty,
        "parent_id": order.parent_id,
        "parent_type": None if order.parent_type is None else int(order.parent_type),
        "take_profit": order.take_profit,
        "stop_loss": order.stop_loss,
        "duration_type": None if duration is None else duration.type.value,
        "duration_ms": None if duration is None else duration.datetime,
        "seen_price": order.seen_price,
        "is_close": order.is_close,
        "update_time": order.update_time,
        "message": order.message,
        "triggered": order.id in account.triggered,
        "fresh": order.id in account.fresh,
        "checked_ms": None if checked is None else round(checked * 1000),
    }


_TYPES = {int(each): each for each in OrderType}
_SIDES = {int(each): each for each in Side}
_STATUSES = {int(each): each for each in OrderStatus}
_PARENTS = {int(each): each for each in ParentType}
_DURATIONS = {each.value: each for each in TimeInForce}
_ORDER_COLUMNS = [
    ORDERS.c[name]
    for name in (
        "id",
        "symbol",
        "type",
        "side",
        "qty",
        "status",
        "limit_price",
        "stop_price",
        "avg_price",
        "filled_qty",
        "parent_id",
        "parent_type",
        "take_profit",
        "stop_loss",
        "duration_type",
        "duration_ms",
        "seen_price",
        "is_close",
        "update_time",
        "message",
    )
]
"""The columns an :class:`Order` is built from, in :func:`order_values`'s order."""
OPEN_ORDER_COLUMNS = [
    ORDERS.c.seq,
    ORDERS.c.account_id,
    *_ORDER_COLUMNS,
    ORDERS.c.triggered,
    ORDERS.c.fresh,
    ORDERS.c.checked_ms,
]
_set = object.__setattr__


def _built(model: type[M], values: dict[str, Any]) -> M:
    """``model`` holding ``values``, every one of its fields, unvalidated.

    What ``model_construct`` makes (the values, the fields set, no extra or
    private ones), at a tenth of its cost: the values come from rows this
    module wrote from validated objects, with their types restored by
    :func:`order_values`. A restart builds every open order this way.
    """
    built = model.__new__(model)
    _set(built, "__dict__", values)
    _set(built, "__pydantic_fields_set__", set(values))
    _set(built, "__pydantic_extra__", None)
    _set(built, "__pydantic_private__", None)
    return built


def order_values(row: Sequence[Any], start: int = 0) -> Order:
    """The order in ``row[start:]`` (the columns of :data:`_ORDER_COLUMNS`)."""
    (
        order_id,
        symbol,
        kind,
        side,
        qty,
        status,
        limit_price,
        stop_price,
        avg_price,
        filled_qty,
        parent_id,
        parent,
        take_profit,
        stop_loss,
        duration_type,
        duration_ms,
        seen_price,
        is_close,
        update_time,
        message,
    ) = row[start : start + len(_ORDER_COLUMNS)]
    return _built(
        Order,
        {
            "id": order_id,
            "symbol": symbol,
            "type": _TYPES[kind],
            "side": _SIDES[side],
            "qty": float(qty),
            "status": _STATUSES[status],
            "limit_price": _float(limit_price),
            "stop_price": _float(stop_price),
            "avg_price": _float(avg_price),
            "filled_qty": float(filled_qty),
            "parent_id": parent_id,
            "parent_type": None if parent is None else _PARENTS[parent],
            "take_profit": _float(take_profit),
            "stop_loss": _float(stop_loss),
            "duration": None
            if duration_type is None
            else _built(
                OrderDuration,
                {"type": _DURATIONS[duration_type], "datetime": duration_ms},
            ),
            "seen_price": _float(seen_price),
            "is_close": bool(is_close),
            "update_time": update_time,
            "message": message,
        },
    )


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def order_from_row(row: Any) -> Order:
    """The order a stored row (of every column of ``broker__orders``) holds."""
    m = row._mapping
    return order_values([m[column.name] for column in _ORDER_COLUMNS])


def execution_row(account_id: str, execution: Execution) -> dict[str, Any]:
    """The row of a fill."""
    return {
        "id": execution.id,
        "account_id": account_id,
        "order_id": execution.order_id,
        "symbol": execution.symbol,
        "price": execution.price,
        "qty": execution.qty,
        "side": int(execution.side),
        "time": execution.time,
    }


def execution_from_row(row: Any) -> Execution:
    """The fill a stored row holds."""
    return Execution.model_validate(
        {
            "id": row.id,
            "order_id": row.order_id,
            "symbol": row.symbol,
            "price": row.price,
            "qty": row.qty,
            "side": Side(row.side),
            "time": row.time,
        }
    )
