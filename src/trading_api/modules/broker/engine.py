"""The broker's state and mechanics: accounts, matching, bookkeeping, pushes.

:class:`TradingEngine` owns every account, the price simulator and the stream
subscribers. It fills orders (see ``matching`` for prices), books fills into
positions and cash (see ``accounting``), keeps bracket legs in step with their
position and pushes every change to the account's streams. It validates nothing:
:class:`~trading_api.modules.broker.service.BrokerService` checks requests first.
"""

import itertools
import time
from collections.abc import Callable

from trading_api.models.broker import (
    EquityData,
    Execution,
    Order,
    OrderStatus,
    OrderType,
    ParentType,
    Position,
    PreOrder,
    Side,
)
from trading_api.modules.broker.accounting import Account, Holding, money
from trading_api.modules.broker.errors import NotFoundError
from trading_api.modules.broker.matching import fill_price, stop_reached
from trading_api.modules.broker.prices import PriceSimulator
from trading_api.modules.broker.rules import LEG_TYPES, LEVERAGE_MIN, leg_kind
from trading_api.modules.broker.streams import Subscribers

OPEN = (OrderStatus.WORKING, OrderStatus.INACTIVE)


class TradingEngine:
    """Accounts, prices and the rules that move them."""

    def __init__(
        self,
        *,
        seed: int = 7,
        clock: Callable[[], float] = time.time,
        starting_balance: float = 100_000.0,
    ) -> None:
        """Create an empty engine; accounts appear on first use."""
        self.prices = PriceSimulator(seed)
        self.subscribers = Subscribers()
        self._clock = clock
        self._starting_balance = starting_balance
        self._accounts: dict[str, Account] = {}
        self._triggered: set[str] = set()
        self._order_ids = itertools.count(1)
        self._execution_ids = itertools.count(1)
        self._last_equity: dict[str, EquityData] = {}

    def next_order_id(self) -> str:
        """A fresh order id, unique across accounts."""
        return str(next(self._order_ids))

    def forget_equity(self, account_id: str) -> None:
        """Make the next equity push go out even if equity did not change."""
        self._last_equity.pop(account_id, None)

    def price(self, symbol: str) -> float:
        """The current simulated price of ``symbol``."""
        return self.prices.price(symbol)

    def set_price(self, symbol: str, price: float) -> None:
        """Force the price of ``symbol`` and match resting orders against it."""
        self.prices.set_price(symbol, price)
        self.match_resting()

    def step(self, seconds: float) -> None:
        """Advance the simulation by ``seconds``: move prices, match, push equity."""
        self.prices.step(seconds)
        self.match_resting()

    def match_resting(self) -> None:
        for account in list(self._accounts.values()):
            working = [
                o for o in account.orders.values() if o.status is OrderStatus.WORKING
            ]
            for order in working:
                self.try_fill(account, order, arriving=False)
            self.push_equity(account)

    def new_order(self, account: Account, pre: PreOrder) -> Order:
        """Record a WORKING order for ``pre`` (prices its type does not use dropped)."""
        priced = pre.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        stopped = pre.type in (OrderType.STOP, OrderType.STOP_LIMIT)
        order = Order(
            id=self.next_order_id(),
            symbol=pre.symbol,
            type=pre.type,
            side=pre.side,
            qty=pre.qty,
            status=OrderStatus.WORKING,
            limit_price=pre.limit_price if priced else None,
            stop_price=pre.stop_price if stopped else None,
            take_profit=pre.take_profit,
            stop_loss=pre.stop_loss,
        )
        self.register(account, order)
        return order

    def new_leg(
        self,
        account: Account,
        parent: Order | Holding,
        kind: str,
        price: float,
        parent_type: ParentType,
    ) -> Order:
        if isinstance(parent, Order):
            parent_id, side, qty = parent.id, parent.side, parent.qty
            status = OrderStatus.INACTIVE
        else:
            parent_id, qty, status = parent.symbol, abs(parent.qty), OrderStatus.WORKING
            side = Side.BUY if parent.qty > 0 else Side.SELL
        leg = Order(
            id=self.next_order_id(),
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
        self.register(account, leg)
        self.push_order(account, leg)
        return leg

    def register(self, account: Account, order: Order) -> None:
        account.orders[order.id] = order

    def position(
        self, account: Account, holding: Holding, side: Side | None = None
    ) -> Position:
        legs = account.brackets.get(holding.symbol, {})
        tp, sl = (
            account.orders.get(legs.get("tp", "")),
            account.orders.get(legs.get("sl", "")),
        )
        return Position(
            id=holding.symbol,
            symbol=holding.symbol,
            qty=abs(holding.qty),
            side=side or (Side.BUY if holding.qty > 0 else Side.SELL),
            avg_price=holding.avg_price,
            take_profit=tp.limit_price if tp else None,
            stop_loss=sl.stop_price if sl else None,
            pl=holding.unrealized(self.price(holding.symbol)),
        )

    def try_fill(self, account: Account, order: Order, *, arriving: bool) -> None:
        if order.status is not OrderStatus.WORKING:
            return
        price = self.price(order.symbol)
        if order.type is OrderType.STOP_LIMIT and order.id not in self._triggered:
            if not stop_reached(order, price):
                return
            self._triggered.add(order.id)
            arriving = True
        execution = fill_price(
            order, price, arriving=arriving, triggered=order.id in self._triggered
        )
        if execution is None:
            return
        problem = self.margin_problem(
            account, order.symbol, order.side, order.qty, execution
        )
        if problem:
            self.reject(account, order, problem)
        else:
            self.fill(account, order, execution)

    def fill(self, account: Account, order: Order, price: float) -> None:
        holding = account.holding(order.symbol)
        before = holding.qty
        account.book(holding.apply_fill(order.side, order.qty, price))
        order.status, order.filled_qty, order.avg_price = (
            OrderStatus.FILLED,
            order.qty,
            price,
        )
        self.push_order(account, order)
        execution = Execution(
            id=str(next(self._execution_ids)),
            order_id=order.id,
            symbol=order.symbol,
            price=price,
            qty=order.qty,
            side=order.side,
            time=self.now_ms(),
        )
        account.executions.append(execution)
        self.subscribers.publish("executions", account.id, execution)
        self.settle_brackets(account, order, before)
        self.push_position(account, order.symbol, Side.BUY if before > 0 else Side.SELL)
        if holding.qty == 0:
            del account.holdings[order.symbol]
        self.push_equity(account)

    def settle_brackets(self, account: Account, order: Order, before: float) -> None:
        after = account.holdings[order.symbol].qty
        legs = account.brackets.get(order.symbol, {})
        if after == 0 or (before != 0 and (after > 0) != (before > 0)):
            self.drop_position_legs(account, order.symbol)
        else:
            for leg_id in legs.values():
                leg = account.orders[leg_id]
                if leg.qty != abs(after):
                    leg.qty = abs(after)
                    self.push_order(account, leg)
        children = self.legs_of_order(account, order)
        if not children:
            return
        if after == 0 or (after > 0) != (order.side is Side.BUY):
            for child in children:
                self.cancel(account, child)
            return
        self.drop_position_legs(account, order.symbol)
        for child in children:
            child.status, child.parent_id = OrderStatus.WORKING, order.symbol
            child.parent_type, child.qty = ParentType.POSITION, abs(after)
            account.brackets.setdefault(order.symbol, {})[leg_kind(child)] = child.id
            self.push_order(account, child)
        for child in children:
            self.try_fill(account, child, arriving=True)

    def drop_position_legs(self, account: Account, symbol: str) -> None:
        for leg_id in account.brackets.pop(symbol, {}).values():
            self.cancel(account, account.orders[leg_id])

    def legs_of_order(self, account: Account, order: Order) -> list[Order]:
        return [
            o
            for o in account.orders.values()
            if o.parent_id == order.id
            and o.parent_type is ParentType.ORDER
            and o.status in OPEN
        ]

    def cancel(self, account: Account, order: Order) -> None:
        if order.status in OPEN:
            order.status = OrderStatus.CANCELED
            self.push_order(account, order)

    def reject(self, account: Account, order: Order, reason: str) -> None:
        order.status, order.message = OrderStatus.REJECTED, reason
        self.push_order(account, order)
        for leg in self.legs_of_order(account, order):
            self.cancel(account, leg)

    def push_order(self, account: Account, order: Order) -> None:
        order.update_time = self.now_ms()
        self.subscribers.publish("orders", account.id, order)

    def push_position(
        self, account: Account, symbol: str, side: Side | None = None
    ) -> None:
        holding = account.holdings.get(symbol)
        if holding is not None:
            position = self.position(account, holding, None if holding.qty else side)
            self.subscribers.publish("positions", account.id, position)

    def push_equity(self, account: Account) -> None:
        if not self.subscribers.listening("equity", account.id):
            return
        equity = self.equity(account)
        if self._last_equity.get(account.id) != equity:
            self._last_equity[account.id] = equity
            self.subscribers.publish("equity", account.id, equity)

    def equity(self, account: Account) -> EquityData:
        unrealized = money(
            sum(h.unrealized(self.price(h.symbol)) for h in account.holdings.values())
        )
        return EquityData(
            account_id=account.id,
            equity=money(account.balance + unrealized),
            balance=account.balance,
            unrealized_pl=unrealized,
            realized_pl=account.realized_pl,
        )

    def used_margin(self, account: Account) -> float:
        return money(
            sum(
                abs(h.qty) * self.price(h.symbol) / self.leverage(account, h.symbol)
                for h in account.holdings.values()
            )
        )

    def available_funds(self, account: Account) -> float:
        return money(self.equity(account).equity - self.used_margin(account))

    def margin_problem(
        self, account: Account, symbol: str, side: Side, qty: float, price: float
    ) -> str | None:
        holding = account.holdings.get(symbol)
        current = holding.qty if holding else 0.0
        increase = max(0.0, abs(current + side.value * qty) - abs(current))
        required = money(increase * price / self.leverage(account, symbol))
        available = self.available_funds(account)
        if increase and required > available:
            return (
                f"insufficient margin: needs {required:.2f} USD, "
                f"{available:.2f} USD available"
            )
        return None

    def leverage(self, account: Account, symbol: str) -> float:
        return account.leverage.get(symbol, LEVERAGE_MIN)

    def reference_price(
        self,
        order_type: OrderType,
        limit_price: float | None,
        stop_price: float | None,
        symbol: str,
    ) -> float:
        if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit_price:
            return limit_price
        if order_type is OrderType.STOP and stop_price:
            return stop_price
        return self.price(symbol)

    def account(self, account_id: str) -> Account:
        if account_id not in self._accounts:
            self._accounts[account_id] = Account(account_id, self._starting_balance)
        return self._accounts[account_id]

    def order(self, account_id: str, order_id: str) -> tuple[Account, Order]:
        account = self.account(account_id)
        order = account.orders.get(order_id)
        if order is None:
            raise NotFoundError(f"no order {order_id!r} in account {account_id}")
        return account, order

    def holding(self, account: Account, position_id: str) -> Holding:
        holding = account.holdings.get(position_id)
        if holding is None or holding.qty == 0:
            raise NotFoundError(
                f"no open position {position_id!r} in account {account.id}"
            )
        return holding

    def now_ms(self) -> int:
        return int(self._clock() * 1000)
