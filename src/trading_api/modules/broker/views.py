"""The state of the broker's engine and everything read from it.

:class:`EngineState` holds the accounts the server serves (plain records from
``accounting``), reads the market once per command, answers the queries (a
position, equity, margin) and runs the checks a command makes before it changes
anything. It also collects what a command changes: the events for the streams
and the rows to store (:class:`Unit`), handed to the service, which stores them
in one transaction and sends the events once that has committed.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pydantic import BaseModel

from trading_api.market import Instrument, Market, MarketError
from trading_api.models.broker import (
    EquityData,
    Execution,
    Order,
    OrderDuration,
    OrderStatus,
    OrderType,
    ParentType,
    Position,
    PreOrder,
    Side,
    TimeInForce,
)
from trading_api.modules.broker.accounting import Account, Holding, money
from trading_api.modules.broker.errors import (
    ConflictError,
    LimitError,
    NotFoundError,
    RuleViolationError,
)
from trading_api.modules.broker.rules import (
    LEVERAGE_MIN,
    check_brackets,
    leg_kind,
    leg_price,
)
from trading_api.modules.broker.settings import BrokerSettings
from trading_api.modules.broker.streams import (
    EQUITY,
    ORDERS,
    POSITIONS,
    Subscribers,
)

OPEN = (OrderStatus.WORKING, OrderStatus.INACTIVE)
LOG = logging.getLogger(__name__)
Event = tuple[str, str, BaseModel]


@dataclass
class Changes:
    """What a command changed, as rows to store.

    ``accounts`` are the accounts whose row is written (cash, version);
    ``orders`` the orders to write (new or changed, by id); ``holdings`` the
    positions to write, by account and symbol (a flat one is deleted);
    ``executions`` the new fills; ``leverage`` the symbols whose leverage was
    set, by account.
    """

    accounts: dict[str, Account] = field(default_factory=dict)
    orders: dict[str, tuple[Account, Order]] = field(default_factory=dict)
    holdings: set[tuple[str, str]] = field(default_factory=set)
    executions: list[tuple[str, Execution]] = field(default_factory=list)
    leverage: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class Unit:
    """One command's effect: its rows to store and its events, in order."""

    changes: Changes = field(default_factory=Changes)
    events: list[Event] = field(default_factory=list)


class IdMaker:
    """Ids unique across processes: ``<instance>-<n>``.

    The instance number comes from the database when the broker starts (each
    start gets a new one), so two processes, or one process before and after a
    restart, never make the same id.
    """

    def __init__(self, instance: int = 0) -> None:
        """Count from 1 under ``instance``."""
        self.instance = instance
        self._count = 0

    def __call__(self) -> str:
        """The next id."""
        self._count += 1
        return f"{self.instance}-{self._count}"


class EngineState:
    """Accounts, prices, queries and checks; the engine's commands build on it."""

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
        self._instant: float | None = None
        self._ranges: dict[tuple[str, float], tuple[float, float]] = {}
        self.steps = 0
        """Matching steps run so far (health checks and tests read it)."""
        self._starting_balance = starting_balance
        self._accounts: dict[str, Account] = {}
        self.order_ids = IdMaker()
        """Makes order ids; the service sets its instance when it starts."""
        self.execution_ids = IdMaker()
        self._history: dict[tuple[str, str], Order] = {}
        self.broadcast = False
        """Emit every event, listened to here or not: other instances'
        subscribers may listen (set when several instances share the tables)."""
        self._outbox: list[Event] = []
        self._changes = Changes()
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

    def instant(self) -> float:
        """The market clock now (fixed for a running command: every order it
        matches is checked up to the same instant)."""
        if self._instant is None:
            now = self.market.now()
            if self._depth:
                self._instant = now
            return now
        return self._instant

    def _look(self, symbol: str) -> tuple[float, bool]:
        seen = self._seen.get(symbol)
        if seen is None:
            now = self.instant()
            seen = (
                self.market.price(symbol, now),
                self.market.is_open(symbol, now),
            )
            if self._depth:
                self._seen[symbol] = seen
        return seen

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

    # -- queries (never create anything) -----------------------------------------

    def account(self, account_id: str) -> Account:
        """The account, or a blank one that is not stored (reads create nothing)."""
        return self._account_or_blank(account_id)

    def order(self, account_id: str, order_id: str) -> Order:
        """One order of the account: an open one, or a finished one the service
        read from the database for the running command (:meth:`recall`).

        Raises:
            NotFoundError: no such order in the account.
        """
        order = self.account(account_id).orders.get(order_id)
        if order is None:
            order = self._history.get((account_id, order_id))
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

    def _account_or_blank(self, account_id: str) -> Account:
        """The account, or a blank one with the starting balance. A command's
        account is stored before it runs (the service creates a new one's row
        first, counting ``BROKER_MAX_ACCOUNTS`` in the database)."""
        account = self._accounts.get(account_id)
        if account is not None:
            return account
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

    # -- commands' effects ---------------------------------------------------------

    @contextmanager
    def capture(self) -> Iterator[Unit]:
        """Run commands as one unit: one market snapshot, changes and events kept.

        The commands inside either raise before changing anything or change
        the state in memory; the unit then holds the rows to store and the
        events to send, in order. Nothing is sent: the service stores the rows,
        commits, and only then calls :meth:`deliver`.
        """
        unit = Unit()
        self._changes = unit.changes
        self._depth += 1
        try:
            yield unit
        finally:
            self._depth -= 1
            unit.events, self._outbox = self._outbox, []
            self._changes = Changes()
            self._history.clear()
            if self._depth == 0:
                self._seen.clear()
                self._ranges.clear()
                self._instant = None

    @contextmanager
    def _command(self) -> Iterator[None]:
        """Collect a command's events; outside :meth:`capture` (a snapshot for a
        new subscriber), send them when it is done."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._seen.clear()
                self._ranges.clear()
                self._instant = None
                events, self._outbox = self._outbox, []
                self.deliver(events)

    def deliver(self, events: list[Event]) -> None:
        """Send events to this process's subscribers, in order."""
        for route, account_id, item in events:
            try:
                self.subscribers.publish(route, account_id, item)
            except Exception:  # a failing stream must not undo or fail a booking
                LOG.exception("publishing %s of account %s failed", route, account_id)

    def _adopt(self, account: Account) -> Account:
        adopted = self._accounts.setdefault(account.id, account)
        self._changes.accounts[adopted.id] = adopted
        return adopted

    def _listening(self, route: str, account_id: str) -> bool:
        return self.broadcast or self.subscribers.listening(route, account_id)

    def _touch(self, account: Account, order: Order) -> None:
        """Mark an order (and so its account) to be stored."""
        self._changes.accounts[account.id] = account
        self._changes.orders[order.id] = (account, order)

    # -- loading and reloading (the service's side) -----------------------------

    def known(self, account_id: str) -> Account | None:
        """The account if this process holds it (it has been stored)."""
        return self._accounts.get(account_id)

    def install(self, account: Account) -> None:
        """Serve ``account`` as loaded from the database (replacing this
        process's copy, which another instance or a failed commit made stale)."""
        if self._accounts.get(account.id) is not None:
            self.forget_equity(account.id)
        self._accounts[account.id] = account

    def drop(self, account_id: str) -> None:
        """Forget an account that the database does not have."""
        self._accounts.pop(account_id, None)

    def recall(self, account_id: str, order: Order) -> None:
        """Make a finished order read from the database known to the running
        command (a request on it answers that it is finished, not unknown)."""
        self._history[(account_id, order.id)] = order

    def forget_finished(self, account_ids: list[str]) -> None:
        """Drop the finished orders of these accounts from memory: they are
        stored, and read from the database when asked for."""
        for account_id in account_ids:
            account = self._accounts.get(account_id)
            if account is not None and len(account.orders) != len(account.open):
                account.orders = {
                    k: o for k, o in account.orders.items() if k in account.open
                }

    # -- events ------------------------------------------------------------------

    def _emit_order(self, account: Account, order: Order) -> None:
        order.update_time = self.now_ms()
        self._touch(account, order)
        if self._listening(ORDERS, account.id):
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
        if self._listening(POSITIONS, account.id):
            self._outbox.append((POSITIONS, account.id, position))

    def _emit_equity(self, account: Account) -> None:
        if not self._listening(EQUITY, account.id):
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
