"""The one owner of broker state: every change is a command of :class:`TradingEngine`.

A command (place, modify, cancel, close, set brackets, set leverage, a matching
step) runs in two phases. First it checks the request against the state and
raises a :class:`~trading_api.modules.broker.errors.BrokerError` if it must be
refused; nothing has changed yet. Then it applies the change with plain
assignments that cannot raise, and queues one event per visible change. When the
command is done and the state consistent, the queued events go out to the
streams in order. A request is therefore answered either with an error and no
change, or with its full effect.

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

State lives in plain records (see ``accounting``) that map to rows.
"""

import functools
import itertools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, TypeVar

from pydantic import BaseModel

from trading_api.market import Instrument, Market, MarketError
from trading_api.models.broker import (
    Brackets,
    EquityData,
    Execution,
    Order,
    OrderDuration,
    OrderModification,
    OrderStatus,
    OrderType,
    ParentType,
    Position,
    PreOrder,
    Side,
    TimeInForce,
)
from trading_api.modules.broker.accounting import Account, FillResult, Holding, money
from trading_api.modules.broker.errors import (
    ConflictError,
    LimitError,
    NotFoundError,
    RuleViolationError,
)
from trading_api.modules.broker.matching import (
    fill_price,
    reached_between,
    resting_fill_price,
    stop_reached,
)
from trading_api.modules.broker.rules import (
    LEG_TYPES,
    LEVERAGE_MIN,
    check_brackets,
    check_identity,
    check_modification,
    leg_kind,
    leg_price,
    leverage_problem,
)
from trading_api.modules.broker.settings import BrokerSettings
from trading_api.modules.broker.streams import (
    EQUITY,
    EXECUTIONS,
    ORDERS,
    POSITIONS,
    Subscribers,
)

OPEN = (OrderStatus.WORKING, OrderStatus.INACTIVE)
LOG = logging.getLogger(__name__)
Event = tuple[str, str, BaseModel]
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


class TradingEngine:
    """Accounts, prices and the rules that move them; the only writer of state."""

    def __init__(
        self,
        *,
        market: Market | None = None,
        starting_balance: float = 100_000.0,
        settings: BrokerSettings | None = None,
    ) -> None:
        """Create an empty engine; accounts appear with their first change.

        Args:
            market: Prices, symbols, sessions and the clock; the real-time
                market when None (tests pass one with a manual clock).
            starting_balance: Cash of a new account.
            settings: Limits.
        """
        self.market = market if market is not None else Market()
        self.subscribers = Subscribers()
        self.settings = settings or BrokerSettings()
        self._seen: dict[str, tuple[float, bool]] = {}
        self._ranges: dict[tuple[str, float], tuple[float, float]] = {}
        self.steps = 0
        """Matching steps run so far (health checks and tests read it)."""
        self._starting_balance = starting_balance
        self._accounts: dict[str, Account] = {}
        self._order_ids = itertools.count(1)
        self._execution_ids = itertools.count(1)
        self._outbox: list[Event] = []
        self._depth = 0
        self._last_equity: dict[str, EquityData] = {}
        self._last_pl: dict[tuple[str, str], float] = {}

    # -- prices ---------------------------------------------------------------

    def price(self, symbol: str) -> float:
        """The price of canonical ``symbol`` now (fixed for a running command)."""
        return self._look(symbol)[0]

    def is_open(self, symbol: str) -> bool:
        """Whether canonical ``symbol`` trades now (fixed for a running command)."""
        return self._look(symbol)[1]

    def _look(self, symbol: str) -> tuple[float, bool]:
        seen = self._seen.get(symbol)
        if seen is None:
            now = self.market.now()
            seen = (
                self.market.price(symbol, now),
                self.market.is_open(symbol, now),
            )
            if self._depth:
                self._seen[symbol] = seen
        return seen

    def set_price(self, symbol: str, price: float) -> None:
        """Override the price of ``symbol`` from now on and match against it."""
        self.market.scenario.set_price(symbol, price, at=self.market.now())
        self.step()

    def step(self) -> None:
        """Match resting orders against the market now; expire DAY orders; push
        the P&L and equity that moved with the price."""
        with self._command():
            self._match_all()
            self._mark_to_market()
            self.steps += 1

    def instrument(self, symbol: str) -> Instrument:
        """The catalogue instrument ``symbol`` names (ticker or ``EXCHANGE:NAME``).

        Raises:
            UnknownSymbolError: not in the catalogue; the message names it.
        """
        return self.market.resolve(symbol)

    def normalize(self, pre: PreOrder) -> PreOrder:
        """``pre`` under its canonical symbol, its quantity checked.

        Raises:
            UnknownSymbolError: the symbol is not in the catalogue.
            QuantityError: below the symbol's minimum or off its step.
        """
        instrument = self.instrument(pre.symbol)
        instrument.check_quantity(pre.qty)
        if pre.symbol == instrument.ticker:
            return pre
        return pre.model_copy(update={"symbol": instrument.ticker})

    # -- commands -------------------------------------------------------------

    @command
    def place(self, account_id: str, pre: PreOrder) -> Order:
        """Record an order and execute what it can; return it (maybe REJECTED).

        Raises:
            RuleViolationError: brackets on the wrong side, or ``isClose`` with
                nothing to close.
            LimitError: too many accounts or open orders.
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
            LimitError: a new account past the account limit.
        """
        problem = leverage_problem(leverage)
        if problem:
            raise RuleViolationError(problem)
        ticker = self.instrument(symbol).ticker
        account = self._account_or_blank(account_id)
        with self._command():
            self._adopt(account).leverage[ticker] = leverage

    # -- queries (never create anything) -----------------------------------------

    def account(self, account_id: str) -> Account:
        """The account, or a blank one that is not stored (reads create nothing)."""
        return self._account_or_blank(account_id, check_limit=False)

    def order(self, account_id: str, order_id: str) -> Order:
        """One order of the account.

        Raises:
            NotFoundError: no such order in the account.
        """
        order = self.account(account_id).orders.get(order_id)
        if order is None:
            raise NotFoundError(f"no order {order_id!r} in account {account_id}")
        return order

    def position(self, account: Account, holding: Holding) -> Position:
        """The position a holding shows, with its bracket prices and P&L."""
        legs = self._position_legs(account, holding.symbol)
        return Position(
            id=holding.symbol,
            symbol=holding.symbol,
            qty=abs(holding.qty),
            side=Side.BUY if holding.qty > 0 else Side.SELL,
            avg_price=holding.avg_price,
            take_profit=leg_price(legs["tp"]) if "tp" in legs else None,
            stop_loss=leg_price(legs["sl"]) if "sl" in legs else None,
            pl=holding.unrealized(self.price(holding.symbol)),
        )

    def equity(self, account: Account) -> EquityData:
        """Balance, unrealized and realized P&L, and equity = balance + unrealized."""
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
        """Margin held by the account's positions at current prices."""
        return money(
            sum(
                abs(h.qty) * self.price(h.symbol) / self.leverage(account, h.symbol)
                for h in account.holdings.values()
            )
        )

    def available_funds(self, account: Account) -> float:
        """Equity not held as margin."""
        return money(self.equity(account).equity - self.used_margin(account))

    def margin_problem(
        self, account: Account, symbol: str, side: Side, qty: float, price: float
    ) -> str | None:
        """Why a fill of ``qty`` at ``price`` would exceed the margin, or None."""
        current = account.position_qty(symbol)
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
        """The leverage in force for ``symbol`` (1 unless set)."""
        return account.leverage.get(symbol, LEVERAGE_MIN)

    def reference_price(
        self,
        order_type: OrderType,
        limit_price: float | None,
        stop_price: float | None,
        symbol: str,
    ) -> float:
        """The price an order is expected to fill at: its limit, stop or market."""
        if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit_price:
            return limit_price
        if order_type is OrderType.STOP and stop_price:
            return stop_price
        return self.price(symbol)

    def canonical(self, symbol: str) -> str:
        """The one name ``symbol`` is booked under (``NASDAQ:AAPL`` for ``AAPL``).

        Raises:
            UnknownSymbolError: not in the catalogue.
        """
        return self.instrument(symbol).ticker

    def forget_equity(self, account_id: str) -> None:
        """Make the next equity push go out even if equity did not change."""
        self._last_equity.pop(account_id, None)

    def push_equity(self, account_id: str) -> None:
        """Push the account's equity now (a new subscriber's snapshot)."""
        with self._command():
            self._emit_equity(self.account(account_id))

    def now_ms(self) -> int:
        """The market clock in UNIX milliseconds."""
        return int(self.market.now() * 1000)

    def _duration(self, symbol: str, kind: TimeInForce) -> OrderDuration:
        """The duration of a new order; a DAY order carries its expiry (ms)."""
        if kind is TimeInForce.GTC:
            return OrderDuration(type=kind)
        session = self.instrument(symbol).session
        start = session.next_open(self.market.now())
        day = session.day_at(start)
        end = (
            start + session.duration
            if day is None
            else (session.opening(day) + session.duration)
        )
        return OrderDuration(type=kind, datetime=int(end * 1000))

    # -- checks (raise, change nothing) -----------------------------------------

    def _account_or_blank(
        self, account_id: str, *, check_limit: bool = True
    ) -> Account:
        account = self._accounts.get(account_id)
        if account is not None:
            return account
        if check_limit and len(self._accounts) >= self.settings.max_accounts:
            raise LimitError(
                f"the server holds its maximum of {self.settings.max_accounts} "
                f"accounts; account {account_id!r} cannot be opened "
                "(raise BROKER_MAX_ACCOUNTS)"
            )
        return Account(account_id, self._starting_balance)

    def _check_room(self, account: Account, adding: int) -> None:
        limit = self.settings.max_open_orders
        if adding and len(account.open) + adding > limit:
            raise LimitError(
                f"account {account.id} has {len(account.open)} open orders and "
                f"this needs {adding} more; the limit is {limit} (cancel some, or "
                "raise BROKER_MAX_OPEN_ORDERS)"
            )

    def _check_closes(
        self, account: Account, symbol: str, side: Side, qty: float
    ) -> None:
        held = account.position_qty(symbol)
        if held == 0 or (held > 0) == (side is Side.BUY):
            raise RuleViolationError(
                f"isClose: there is no {'short' if side is Side.BUY else 'long'} "
                f"position in {symbol} for this order to close"
            )
        if qty > abs(held):
            raise RuleViolationError(
                f"isClose: cannot close {qty:g} of {symbol}: the position "
                f"holds {abs(held):g}"
            )

    def _check_leg_move(
        self, account: Account, leg: Order, limit: float | None, stop: float | None
    ) -> None:
        """A leg of a pending order stays on the profit (tp) or loss (sl) side."""
        if leg.parent_type is not ParentType.ORDER or leg.parent_id is None:
            return
        parent = account.orders[leg.parent_id]
        reference = self.reference_price(
            parent.type, parent.limit_price, parent.stop_price, parent.symbol
        )
        price = limit if leg.type is OrderType.LIMIT else stop
        tp, sl = (price, None) if leg_kind(leg) == "tp" else (None, price)
        check_brackets(parent.side, reference, tp, sl, "the entry price")

    def _open_order(
        self, account_id: str, order_id: str, verb: str
    ) -> tuple[Account, Order]:
        order = self.order(account_id, order_id)
        if order.status not in OPEN:
            raise ConflictError(
                f"order {order.id} is already {order.status.name.lower()}; "
                f"only working or inactive orders can be {verb}"
            )
        return self._accounts[account_id], order

    def _holding(self, account: Account, position_id: str) -> Holding:
        holding = account.holdings.get(self.canonical_or_same(position_id))
        if holding is None or holding.qty == 0:
            raise NotFoundError(
                f"no open position {position_id!r} in account {account.id}"
            )
        return holding

    def canonical_or_same(self, symbol: str) -> str:
        """``canonical(symbol)``, or ``symbol`` itself when it names nothing."""
        try:
            return self.canonical(symbol)
        except MarketError:  # an unknown name simply finds nothing
            return symbol

    # -- mutation (never raises) ---------------------------------------------------

    @contextmanager
    def _command(self) -> Iterator[None]:
        """Collect a command's events; send them once its state is consistent."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._seen.clear()
                self._ranges.clear()
                events, self._outbox = self._outbox, []
                for route, account_id, item in events:
                    self._deliver(route, account_id, item)

    def _deliver(self, route: str, account_id: str, item: BaseModel) -> None:
        try:
            self.subscribers.publish(route, account_id, item)
        except Exception:  # a failing stream must not undo or fail a booking
            LOG.exception("publishing %s of account %s failed", route, account_id)

    def _adopt(self, account: Account) -> Account:
        return self._accounts.setdefault(account.id, account)

    def _new_order(self, account: Account, pre: PreOrder) -> Order:
        priced = pre.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        stopped = pre.type in (OrderType.STOP, OrderType.STOP_LIMIT)
        order = Order(
            id=str(next(self._order_ids)),
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
            id=str(next(self._order_ids)),
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
        now = self.market.now()
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
            id=str(next(self._execution_ids)),
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
        account.executions.append(execution)
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
            if self.subscribers.listening(POSITIONS, account.id):
                for symbol in account.holdings:
                    self._emit_position(account, symbol, only_if_moved=True)
            self._emit_equity(account)

    # -- events ------------------------------------------------------------------

    def _emit_order(self, account: Account, order: Order) -> None:
        order.update_time = self.now_ms()
        if self.subscribers.listening(ORDERS, account.id):
            self._outbox.append((ORDERS, account.id, order.model_copy()))

    def _emit_position(
        self,
        account: Account,
        symbol: str,
        *,
        closed_side: Side = Side.BUY,
        only_if_moved: bool = False,
    ) -> None:
        holding = account.holdings.get(symbol)
        if holding is None:
            position = Position(
                id=symbol, symbol=symbol, qty=0, side=closed_side, avg_price=0.0
            )
        else:
            position = self.position(account, holding)
        key = (account.id, symbol)
        if only_if_moved and self._last_pl.get(key) == position.pl:
            return
        if holding is None:
            self._last_pl.pop(key, None)
        else:
            self._last_pl[key] = position.pl
        if self.subscribers.listening(POSITIONS, account.id):
            self._outbox.append((POSITIONS, account.id, position))

    def _emit_equity(self, account: Account) -> None:
        if not self.subscribers.listening(EQUITY, account.id):
            return
        equity = self.equity(account)
        if self._last_equity.get(account.id) != equity:
            self._last_equity[account.id] = equity
            self._outbox.append((EQUITY, account.id, equity))

    # -- derived views -------------------------------------------------------------

    def _children(self, account: Account, order: Order) -> list[Order]:
        """The open bracket legs waiting on a pending order."""
        return [
            o
            for o in account.open.values()
            if o.parent_id == order.id and o.parent_type is ParentType.ORDER
        ]

    def _child(self, account: Account, order: Order, kind: str) -> Order | None:
        for leg in self._children(account, order):
            if leg_kind(leg) == kind:
                return leg
        return None

    def _position_legs(self, account: Account, symbol: str) -> dict[str, Order]:
        """The open take-profit and stop-loss legs of a position, by kind."""
        return {
            leg_kind(o): o
            for o in account.open.values()
            if o.parent_type is ParentType.POSITION and o.parent_id == symbol
        }

    def accounts(self) -> list[Account]:
        """Every account the server holds."""
        return list(self._accounts.values())


def _move_leg(leg: Order, price: float) -> None:
    if leg.type is OrderType.LIMIT:
        leg.limit_price = price
    else:
        leg.stop_price = price
