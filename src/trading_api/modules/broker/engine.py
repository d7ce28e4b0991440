"""The one owner of broker state: every change is a command of :class:`TradingEngine`.

A command (place, modify, cancel, close, set brackets, set leverage, a matching
step) runs in two phases. First it checks the request against the state and
raises a :class:`~trading_api.modules.broker.errors.BrokerError` if it must be
refused; nothing has changed yet. Then it applies the change with plain
assignments that cannot raise, marks the rows it changed and queues one event
per visible change. The service runs commands inside :meth:`capture
<trading_api.modules.broker.views.EngineState.capture>`: it stores the marked
rows in one transaction and sends the events only after the commit. A request is
therefore answered either with an error and no change, or with its full effect,
stored.

Booking a fill (the order, the position, the cash, the execution, the
activation or cancellation of bracket legs) is one such step. A leg activated
by its parent's fill is not matched inside that booking: it waits for the next
matching pass, which every command runs until nothing more fills, so a
take-profit already through the market fills right after its parent, in the
same request, as its own booking.

Prices, symbols and sessions come from the shared market library: a market order
fills at the price the datafeed shows at that instant, resting orders trigger on
the same path, and nothing fills while the symbol's market is closed. Within one
command every symbol is read once, so the whole command sees one market.

State lives in plain records (see ``accounting``) that map to rows (``tables``);
the queries and checks are in ``views``, the changes and fills in ``booking``.
"""

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from trading_api.models.broker import (
    Brackets,
    Order,
    OrderModification,
    OrderStatus,
    OrderType,
    ParentType,
    Position,
    PreOrder,
    Side,
)
from trading_api.modules.broker.booking import Booking, _move_leg
from trading_api.modules.broker.errors import RuleViolationError
from trading_api.modules.broker.rules import (
    check_brackets,
    check_identity,
    check_modification,
    leg_kind,
    leverage_problem,
)

P = ParamSpec("P")
R = TypeVar("R")


def command(
    method: "Callable[Concatenate[TradingEngine, P], R]",
) -> "Callable[Concatenate[TradingEngine, P], R]":
    """Run an engine method as one command: one market snapshot, events after."""

    @functools.wraps(method)
    def run(self: "TradingEngine", /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._command():
            return method(self, *args, **kwargs)

    return run


class TradingEngine(Booking):
    """Accounts, prices and the rules that move them; the only writer of state."""

    def set_price(self, symbol: str, price: float) -> None:
        """Override the price of ``symbol`` from now on (the next step matches)."""
        self.market.scenario.set_price(symbol, price, at=self.market.now())

    def step(self) -> None:
        """Match resting orders against the market now; expire DAY orders; push
        the P&L and equity that moved with the price."""
        with self._command():
            self._match_all()
            self._mark_to_market()
            self.steps += 1

    # -- commands -------------------------------------------------------------

    @command
    def place(self, account_id: str, pre: PreOrder) -> Order:
        """Record an order and execute what it can; return it (maybe REJECTED).

        Raises:
            RuleViolationError: brackets on the wrong side, or ``isClose`` with
                nothing to close.
            LimitError: too many open orders.
        """
        pre = self.normalize(pre)
        account = self._account_or_blank(account_id)
        legs = [p for p in (pre.take_profit, pre.stop_loss) if p is not None]
        # A market order in an open market fills at once and never rests.
        rests = pre.type is not OrderType.MARKET or not self.is_open(pre.symbol)
        self._check_room(account, int(rests) + len(legs))
        reference = self.reference_price(
            pre.type, pre.limit_price, pre.stop_price, pre.symbol
        )
        check_brackets(
            pre.side, reference, pre.take_profit, pre.stop_loss, "the entry price"
        )
        if pre.is_close:
            self._check_closes(account, pre.symbol, pre.side, pre.qty)
        problem = self.margin_problem(account, pre.symbol, pre.side, pre.qty, reference)
        with self._command():
            account = self._adopt(account)
            order = self._new_order(account, pre)
            if problem:
                self._finish(account, order, OrderStatus.REJECTED, problem)
                return order
            self._emit_order(account, order)
            for kind, price in (("tp", pre.take_profit), ("sl", pre.stop_loss)):
                if price is not None:
                    self._new_leg(account, order, kind, price)
            self._try_fill(account, order, arriving=True)
            self._settle(account)
            return order

    @command
    def modify(
        self, account_id: str, order_id: str, changes: OrderModification
    ) -> Order:
        """Change a working or inactive order; it may fill at once.

        Raises:
            NotFoundError: no such order in the account.
            ConflictError: the order is filled, cancelled or rejected.
            RuleViolationError: the change does not fit the order, or leaves a
                bracket on the wrong side of the entry price.
        """
        account, order = self._open_order(account_id, order_id, "modified")
        check_identity(order, changes, self.canonical)
        check_modification(order, changes)
        if changes.qty is not None:
            self.instrument(order.symbol).check_quantity(changes.qty)
        sent = changes.model_fields_set
        limit = changes.limit_price or order.limit_price
        stop = changes.stop_price or order.stop_price
        take_profit = (
            changes.take_profit if "take_profit" in sent else order.take_profit
        )
        stop_loss = changes.stop_loss if "stop_loss" in sent else order.stop_loss
        adding = sum(
            1
            for kind, price in (("tp", take_profit), ("sl", stop_loss))
            if price is not None and self._child(account, order, kind) is None
        )
        self._check_room(account, adding)
        if order.parent_id is None:
            reference = self.reference_price(order.type, limit, stop, order.symbol)
            check_brackets(
                order.side, reference, take_profit, stop_loss, "the entry price"
            )
        else:
            self._check_leg_move(account, order, limit, stop)
        with self._command():
            if changes.qty is not None:
                order.qty = changes.qty
                for leg in self._children(account, order):
                    leg.qty = changes.qty
                    self._emit_order(account, leg)
            order.limit_price, order.stop_price = (
                limit if order.limit_price is not None else None,
                stop if order.stop_price is not None else None,
            )
            if changes.duration is not None:
                order.duration = self._duration(order.symbol, changes.duration.type)
            if order.parent_id is None:
                order.take_profit, order.stop_loss = take_profit, stop_loss
                for kind, price in (("tp", take_profit), ("sl", stop_loss)):
                    self._set_child(account, order, kind, price)
            elif order.parent_type is ParentType.ORDER:
                self._follow_leg(account, order)
            self._emit_order(account, order)
            account.triggered.discard(order.id)
            self._try_fill(account, order, arriving=True)
            self._settle(account)
            if order.parent_type is ParentType.POSITION:
                self._emit_position(account, order.symbol)
            return order

    @command
    def cancel(self, account_id: str, order_id: str) -> Order:
        """Cancel a working or inactive order with its bracket legs.

        Raises:
            NotFoundError: no such order in the account.
            ConflictError: the order is already filled, cancelled or rejected.
        """
        account, order = self._open_order(account_id, order_id, "cancelled")
        with self._command():
            for leg in self._children(account, order):
                self._finish(account, leg, OrderStatus.CANCELED)
            self._finish(account, order, OrderStatus.CANCELED)
            if order.parent_type is ParentType.POSITION:
                self._emit_position(account, order.symbol)
            elif order.parent_type is ParentType.ORDER:
                parent = account.orders[str(order.parent_id)]
                if leg_kind(order) == "tp":
                    parent.take_profit = None
                else:
                    parent.stop_loss = None
                self._emit_order(account, parent)
            return order

    @command
    def close_position(
        self, account_id: str, position_id: str, amount: float | None
    ) -> Order:
        """Close ``amount`` of a position (all of it by default) at market.

        Raises:
            NotFoundError: no open position with that id.
            RuleViolationError: ``amount`` exceeds the position.
        """
        account = self._account_or_blank(account_id)
        holding = self._holding(account, position_id)
        size = abs(holding.qty)
        qty = size if amount is None else amount
        self.instrument(holding.symbol).check_quantity(qty)
        if qty > size:
            raise RuleViolationError(
                f"cannot close {qty:g} of position {position_id}: it holds {size:g}"
            )
        side = Side.SELL if holding.qty > 0 else Side.BUY
        pre = PreOrder(
            symbol=holding.symbol,
            type=OrderType.MARKET,
            side=side,
            qty=qty,
            is_close=True,
        )
        return self.place(account_id, pre)

    @command
    def set_brackets(
        self, account_id: str, position_id: str, brackets: Brackets
    ) -> Position:
        """Set, move or remove (null) a position's take-profit and stop-loss.

        Raises:
            NotFoundError: no open position with that id.
            RuleViolationError: a bracket on the wrong side of the current price.
            LimitError: the new legs exceed the open-order limit.
        """
        account = self._account_or_blank(account_id)
        holding = self._holding(account, position_id)
        side = Side.BUY if holding.qty > 0 else Side.SELL
        price = self.price(holding.symbol)
        check_brackets(
            side, price, brackets.take_profit, brackets.stop_loss, "the current price"
        )
        legs = self._position_legs(account, holding.symbol)
        wanted = (("tp", brackets.take_profit), ("sl", brackets.stop_loss))
        self._check_room(
            account, sum(1 for k, p in wanted if p is not None and k not in legs)
        )
        with self._command():
            for kind, target in wanted:
                leg = legs.get(kind)
                if leg is not None and target is None:
                    self._finish(account, leg, OrderStatus.CANCELED)
                elif leg is not None and target is not None:
                    _move_leg(leg, target)
                    self._emit_order(account, leg)
                elif target is not None:
                    self._new_leg(account, holding, kind, target)
            self._settle(account)
            self._emit_position(account, holding.symbol)
            return self.position(account, holding)

    @command
    def set_leverage(self, account_id: str, symbol: str, leverage: float) -> None:
        """Apply a leverage to a symbol for later orders and the margin.

        Raises:
            RuleViolationError: out of range or not a multiple of the step.
        """
        problem = leverage_problem(leverage)
        if problem:
            raise RuleViolationError(problem)
        ticker = self.instrument(symbol).ticker
        account = self._account_or_blank(account_id)
        with self._command():
            self._adopt(account).leverage[ticker] = leverage
            self._changes.leverage.add((account_id, ticker))
