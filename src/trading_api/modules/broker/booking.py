"""How the engine changes state: new orders and legs, matching and booking fills.

Every method here applies a change that was checked before (see ``engine``): it
assigns, never raises, marks what it changed to be stored and queues the events.
Booking a fill (the order, the position, the cash, the execution, the legs) is
one such step; a leg it activates waits for the next matching pass.
"""

from trading_api.models.broker import (
    Execution,
    Order,
    OrderStatus,
    OrderType,
    ParentType,
    PreOrder,
    Side,
    TimeInForce,
)
from trading_api.modules.broker.accounting import Account, FillResult, Holding
from trading_api.modules.broker.matching import (
    fill_price,
    reached_between,
    resting_fill_price,
    stop_reached,
)
from trading_api.modules.broker.rules import LEG_TYPES, leg_kind, leg_price
from trading_api.modules.broker.streams import EXECUTIONS, POSITIONS
from trading_api.modules.broker.views import OPEN, EngineState


class Booking(EngineState):
    """The engine's changes: orders, legs, matching passes and fills."""

    def _new_order(self, account: Account, pre: PreOrder) -> Order:
        priced = pre.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        stopped = pre.type in (OrderType.STOP, OrderType.STOP_LIMIT)
        order = Order(
            id=self.order_ids(),
            symbol=pre.symbol,
            type=pre.type,
            side=pre.side,
            qty=pre.qty,
            status=OrderStatus.WORKING,
            limit_price=pre.limit_price if priced else None,
            stop_price=pre.stop_price if stopped else None,
            take_profit=pre.take_profit,
            stop_loss=pre.stop_loss,
            duration=self._duration(
                pre.symbol, pre.duration.type if pre.duration else TimeInForce.GTC
            ),
            seen_price=pre.seen_price,
            is_close=pre.is_close,
            update_time=self.now_ms(),
        )
        account.orders[order.id] = order
        account.open[order.id] = order
        return order

    def _new_leg(
        self, account: Account, parent: Order | Holding, kind: str, price: float
    ) -> Order:
        if isinstance(parent, Order):
            parent_id, parent_type = parent.id, ParentType.ORDER
            side, qty, status = parent.side, parent.qty, OrderStatus.INACTIVE
        else:
            parent_id, parent_type = parent.symbol, ParentType.POSITION
            side = Side.BUY if parent.qty > 0 else Side.SELL
            qty, status = abs(parent.qty), OrderStatus.WORKING
        leg = Order(
            id=self.order_ids(),
            symbol=parent.symbol,
            type=LEG_TYPES[kind],
            side=Side(-side.value),
            qty=qty,
            status=status,
            limit_price=price if kind == "tp" else None,
            stop_price=price if kind == "sl" else None,
            parent_id=parent_id,
            parent_type=parent_type,
        )
        account.orders[leg.id] = leg
        account.open[leg.id] = leg
        self._emit_order(account, leg)
        return leg

    def _set_child(
        self, account: Account, order: Order, kind: str, price: float | None
    ) -> None:
        """Create, move or (price None) cancel one bracket leg of a pending order."""
        leg = self._child(account, order, kind)
        if leg is not None and price is None:
            self._finish(account, leg, OrderStatus.CANCELED)
        elif leg is not None and price is not None and leg_price(leg) != price:
            _move_leg(leg, price)
            self._emit_order(account, leg)
        elif leg is None and price is not None:
            self._new_leg(account, order, kind, price)

    def _follow_leg(self, account: Account, leg: Order) -> None:
        """Show a moved leg's price as its pending parent's take-profit or stop."""
        parent = account.orders[str(leg.parent_id)]
        if leg_kind(leg) == "tp":
            parent.take_profit = leg_price(leg)
        else:
            parent.stop_loss = leg_price(leg)
        self._emit_order(account, parent)

    def _finish(
        self,
        account: Account,
        order: Order,
        status: OrderStatus,
        message: str | None = None,
    ) -> None:
        """Move an open order to a final state (FILLED, CANCELED, REJECTED)."""
        order.status = status
        if message is not None:
            order.message = message
        account.open.pop(order.id, None)
        account.triggered.discard(order.id)
        account.fresh.discard(order.id)
        account.checked.pop(order.id, None)
        self._emit_order(account, order)
        if status is not OrderStatus.FILLED:
            for leg in self._children(account, order):
                self._finish(account, leg, OrderStatus.CANCELED)

    def _settle(self, account: Account) -> None:
        """Match the account's working orders until a pass fills nothing.

        Each pass fills at least one order or ends, and fills only remove open
        orders, so the loop ends within one pass per open order.
        """
        self._expire(account)
        for _ in range(len(account.open) + 1):
            if not self._match_pass(account):
                return

    def _expire(self, account: Account) -> None:
        """Cancel the DAY orders whose session has ended."""
        now = self.now_ms()
        for order in list(account.open.values()):
            duration = order.duration
            if (
                order.status in OPEN
                and duration is not None
                and duration.datetime is not None
                and duration.datetime <= now
            ):
                self._finish(
                    account,
                    order,
                    OrderStatus.CANCELED,
                    "expired: a DAY order ends with its session",
                )

    def _match_all(self) -> None:
        for account in list(self._accounts.values()):
            if account.open:
                self._settle(account)

    def _match_pass(self, account: Account) -> bool:
        """One matching pass over the orders working when it starts."""
        working = [o for o in account.open.values() if o.status is OrderStatus.WORKING]
        changed = False
        for order in working:
            if order.status is OrderStatus.WORKING:
                changed |= self._try_fill(account, order, arriving=False)
        return changed

    def _try_fill(self, account: Account, order: Order, *, arriving: bool) -> bool:
        """Fill, reject or leave ``order``; return whether it left the book."""
        if order.status is not OrderStatus.WORKING:
            return False
        if not self.is_open(order.symbol):
            return False
        if order.id in account.fresh:
            # A leg activated by its parent's fill meets the market as it is now.
            account.fresh.discard(order.id)
            arriving = True
        price = self.price(order.symbol)
        now = self.instant()
        since = account.checked.get(order.id, now)
        account.checked[order.id] = now
        execution: float | None
        if arriving or order.type is OrderType.MARKET:
            execution = self._arriving_fill(account, order, price)
        elif order.type is OrderType.STOP_LIMIT and order.id not in account.triggered:
            assert order.stop_price is not None
            low, high = self._range(order.symbol, since, now)
            if not reached_between(order, order.stop_price, low, high):
                return False
            account.triggered.add(order.id)
            self._touch(account, order)
            execution = fill_price(order, price, arriving=True, triggered=True)
        else:
            low, high = self._range(order.symbol, since, now)
            execution = resting_fill_price(order, price, low, high)
        if execution is None:
            return False
        if order.is_close and not self._still_closes(account, order):
            self._finish(
                account,
                order,
                OrderStatus.CANCELED,
                f"isClose: no position left in {order.symbol} for it to close",
            )
            return True
        problem = self.margin_problem(
            account, order.symbol, order.side, order.qty, execution
        )
        if problem:
            self._finish(account, order, OrderStatus.REJECTED, problem)
        else:
            self._book(account, order, execution)
        return True

    def _arriving_fill(
        self, account: Account, order: Order, price: float
    ) -> float | None:
        """The fill price of an order meeting the market at ``price`` now."""
        if order.type is OrderType.STOP_LIMIT and order.id not in account.triggered:
            if not stop_reached(order, price):
                return None
            account.triggered.add(order.id)
            self._touch(account, order)
        return fill_price(
            order, price, arriving=True, triggered=order.id in account.triggered
        )

    def _range(self, symbol: str, start: float, end: float) -> tuple[float, float]:
        """Lowest and highest price from ``start`` to ``end`` (memoised per
        command: orders checked at the same step share one interval)."""
        if start >= end:
            price = self.price(symbol)
            return price, price
        key = (symbol, start)
        found = self._ranges.get(key)
        if found is None:
            found = self.market.price_range(symbol, start, end)
            if self._depth:
                self._ranges[key] = found
        return found

    def _still_closes(self, account: Account, order: Order) -> bool:
        held = account.position_qty(order.symbol)
        return (
            held != 0
            and (held > 0) != (order.side is Side.BUY)
            and (order.qty <= abs(held))
        )

    def _book(self, account: Account, order: Order, price: float) -> None:
        """Book one fill: order, position, cash, execution and bracket legs.

        Everything is decided first from the current state, then assigned; no
        other order is matched here (activated legs wait for the next pass).
        """
        symbol = order.symbol
        holding = account.holdings.get(symbol) or Holding(symbol)
        before = holding.qty
        after: FillResult = holding.after_fill(order.side, order.qty, price)
        position_legs = [
            leg
            for leg in self._position_legs(account, symbol).values()
            if leg.id != order.id
        ]
        children = self._children(account, order)
        closed_or_reversed = after.qty == 0 or (
            before != 0 and (after.qty > 0) != (before > 0)
        )
        children_protect = bool(children) and (
            after.qty != 0 and (after.qty > 0) == (order.side is Side.BUY)
        )
        drop = position_legs if closed_or_reversed or children_protect else []
        resize = [] if drop else position_legs
        activate = children if children_protect else []
        discard = [] if children_protect else children
        execution = Execution(
            id=self.execution_ids(),
            order_id=order.id,
            symbol=symbol,
            price=price,
            qty=order.qty,
            side=order.side,
            time=self.now_ms(),
        )
        # Apply: assignments only.
        holding.qty, holding.avg_price = after.qty, after.avg_price
        if after.qty == 0:
            account.holdings.pop(symbol, None)
        else:
            account.holdings[symbol] = holding
        account.book(after.realized)
        order.filled_qty, order.avg_price = order.qty, price
        if order.type is OrderType.MARKET and order.seen_price is not None:
            slippage = (price - order.seen_price) * order.side.value
            order.message = f"filled {slippage:+.8g} from the seen price"
        changes = self._changes
        changes.executions.append((account.id, execution))
        changes.holdings.add((account.id, symbol))
        changes.accounts[account.id] = account
        self._finish(account, order, OrderStatus.FILLED)
        self._outbox.append((EXECUTIONS, account.id, execution))
        for leg in drop + discard:
            self._finish(account, leg, OrderStatus.CANCELED)
        for leg in resize:
            leg.qty = abs(after.qty)
            self._emit_order(account, leg)
        for leg in activate:
            leg.status, leg.qty = OrderStatus.WORKING, abs(after.qty)
            leg.parent_id, leg.parent_type = symbol, ParentType.POSITION
            account.fresh.add(leg.id)
            self._emit_order(account, leg)
        side = Side.BUY if (after.qty or before) > 0 else Side.SELL
        self._emit_position(account, symbol, closed_side=side)
        self._emit_equity(account)

    def _mark_to_market(self) -> None:
        """Push the P&L of positions and the equity that moved with the price."""
        for account in self._accounts.values():
            if not account.holdings:
                continue
            if self._listening(POSITIONS, account.id):
                for symbol in account.holdings:
                    self._emit_position(account, symbol, only_if_moved=True)
            self._emit_equity(account)


def _move_leg(leg: Order, price: float) -> None:
    if leg.type is OrderType.LIMIT:
        leg.limit_price = price
    else:
        leg.stop_price = price
