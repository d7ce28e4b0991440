"""The simulated broker: orders, matching, positions, accounts and leverage.

Accounts: every account id is served; an account is created on first use with
:data:`STARTING_BALANCE` USD. Ids are never shared: an order or position of one
account is unknown (404) to another, and each account has its own streams.

Simulation: prices come from the broker's own seeded :class:`PriceSimulator`.
:meth:`BrokerService.step` advances it by some seconds and matches resting orders;
:meth:`BrokerService.set_price` forces a price and matches. The module's background
task calls ``step`` once a second; tests call it directly, so nothing depends on
wall time. Orders placed over REST fill whether or not anyone is subscribed.

Brackets: an order's take-profit (LIMIT) and stop-loss (STOP) legs wait INACTIVE
until it fills, then protect the resulting position: they become WORKING with the
position as parent and the position's quantity. Position legs are one-cancels-other
and follow the position: resized when it changes, cancelled when it closes or
reverses.

Money is float rounded to cents at each booking step (see ``accounting``).
"""

import asyncio
import time
from collections.abc import Callable

from trading_api.models.broker import (
    AccountInfo,
    Brackets,
    BrokerConnectionData,
    ConnectionStatus,
    Execution,
    LeverageInfo,
    LeverageInfoParams,
    LeveragePreviewResult,
    LeverageSetParams,
    LeverageSetResult,
    Order,
    OrderModification,
    OrderPreviewResult,
    OrderStatus,
    OrderType,
    ParentType,
    Position,
    PreOrder,
    Side,
)
from trading_api.modules.broker.accounting import Account, Holding, money
from trading_api.modules.broker.engine import OPEN, TradingEngine
from trading_api.modules.broker.errors import (
    ConflictError,
    OrderRejectedError,
    RuleViolationError,
)
from trading_api.modules.broker.preview import leverage_preview, order_preview
from trading_api.modules.broker.rules import (
    LEVERAGE_MAX,
    LEVERAGE_MIN,
    LEVERAGE_STEP,
    check_brackets,
    check_modification,
    leg_kind,
    leverage_problem,
    set_leg_price,
)
from trading_api.modules.broker.streams import Publish

STARTING_BALANCE = 100_000.0


class BrokerService:
    """A simulated broker serving any number of accounts."""

    def __init__(
        self,
        *,
        seed: int = 7,
        clock: Callable[[], float] = time.time,
        starting_balance: float = STARTING_BALANCE,
    ) -> None:
        """Create the broker.

        Args:
            seed: Seed of the price simulation.
            clock: Returns UNIX seconds; stamps orders and executions.
            starting_balance: Cash of a new account, in USD.
        """
        self._engine = TradingEngine(
            seed=seed, clock=clock, starting_balance=starting_balance
        )

    async def run(self, interval: float = 1.0) -> None:
        """Step the simulation every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            self._engine.step(interval)

    def price(self, symbol: str) -> float:
        """The current simulated price of ``symbol``."""
        return self._engine.price(symbol)

    def set_price(self, symbol: str, price: float) -> None:
        """Force the price of ``symbol`` and match resting orders against it."""
        self._engine.set_price(symbol, price)

    def step(self, seconds: float) -> None:
        """Advance the simulation by ``seconds``: move prices, match, push equity."""
        self._engine.step(seconds)

    # -- orders ---------------------------------------------------------------

    def place_order(self, account_id: str, pre: PreOrder) -> str:
        """Place an order and return its id; it may fill at once.

        Raises:
            RuleViolationError: brackets on the wrong side of the entry price.
            OrderRejectedError: recorded as REJECTED, e.g. insufficient margin.
        """
        account = self._engine.account(account_id)
        reference = self._engine.reference_price(
            pre.type, pre.limit_price, pre.stop_price, pre.symbol
        )
        check_brackets(
            pre.side, reference, pre.take_profit, pre.stop_loss, "the entry price"
        )
        order = self._engine.new_order(account, pre)
        problem = self._engine.margin_problem(
            account, pre.symbol, pre.side, pre.qty, reference
        )
        if problem:
            self._engine.reject(account, order, problem)
        else:
            self._engine.push_order(account, order)
            for kind, price in (("tp", pre.take_profit), ("sl", pre.stop_loss)):
                if price is not None:
                    self._engine.new_leg(account, order, kind, price, ParentType.ORDER)
            self._engine.try_fill(account, order, arriving=True)
        if order.status is OrderStatus.REJECTED:
            raise OrderRejectedError(order.id, order.message or "rejected")
        return order.id

    def preview_order(self, account_id: str, pre: PreOrder) -> OrderPreviewResult:
        """What placing ``pre`` would cost and whether it would be accepted."""
        engine = self._engine
        account = engine.account(account_id)
        price = engine.reference_price(
            pre.type, pre.limit_price, pre.stop_price, pre.symbol
        )
        errors = []
        try:
            check_brackets(
                pre.side, price, pre.take_profit, pre.stop_loss, "the entry price"
            )
        except RuleViolationError as exc:
            errors.append(str(exc))
        problem = engine.margin_problem(account, pre.symbol, pre.side, pre.qty, price)
        if problem:
            errors.append(problem)
        return order_preview(
            pre,
            price=price,
            leverage=engine.leverage(account, pre.symbol),
            available=engine.available_funds(account),
            errors=errors,
        )

    def modify_order(
        self, account_id: str, order_id: str, changes: OrderModification
    ) -> Order:
        """Change a working or inactive order; it may fill at once.

        Raises:
            NotFoundError: no such order in the account.
            ConflictError: the order is filled, cancelled or rejected.
            RuleViolationError: the change does not fit the order.
        """
        account, order = self._engine.order(account_id, order_id)
        if order.status not in OPEN:
            raise ConflictError(
                f"order {order.id} is {order.status.name.lower()}; "
                "only working or inactive orders can be modified"
            )
        check_modification(order, changes)
        reference = self._engine.reference_price(
            order.type,
            changes.limit_price or order.limit_price,
            changes.stop_price or order.stop_price,
            order.symbol,
        )
        take_profit = changes.take_profit or order.take_profit
        stop_loss = changes.stop_loss or order.stop_loss
        if changes.take_profit or changes.stop_loss:
            check_brackets(
                order.side, reference, take_profit, stop_loss, "the entry price"
            )
        self._apply_modification(account, order, changes)
        self._engine.push_order(account, order)
        self._engine.try_fill(account, order, arriving=True)
        return order

    def _apply_modification(
        self, account: Account, order: Order, changes: OrderModification
    ) -> None:
        if changes.qty is not None:
            order.qty = changes.qty
            for leg in self._engine.legs_of_order(account, order):
                leg.qty = changes.qty
                self._engine.push_order(account, leg)
        order.limit_price = changes.limit_price or order.limit_price
        order.stop_price = changes.stop_price or order.stop_price
        legs = {
            leg_kind(leg): leg for leg in self._engine.legs_of_order(account, order)
        }
        for kind, price in (("tp", changes.take_profit), ("sl", changes.stop_loss)):
            if price is None:
                continue
            if kind == "tp":
                order.take_profit = price
            else:
                order.stop_loss = price
            if kind in legs:
                set_leg_price(legs[kind], price)
                self._engine.push_order(account, legs[kind])
            else:
                self._engine.new_leg(account, order, kind, price, ParentType.ORDER)

    def cancel_order(self, account_id: str, order_id: str) -> Order:
        """Cancel a working or inactive order, with its bracket legs.

        Raises:
            NotFoundError: no such order in the account.
            ConflictError: the order is already filled, cancelled or rejected.
        """
        account, order = self._engine.order(account_id, order_id)
        if order.status not in OPEN:
            raise ConflictError(
                f"order {order.id} is already {order.status.name.lower()}; "
                "only working or inactive orders can be cancelled"
            )
        self._engine.cancel(account, order)
        for leg in self._engine.legs_of_order(account, order):
            self._engine.cancel(account, leg)
        if order.parent_type is ParentType.POSITION:
            legs = account.brackets.get(order.symbol, {})
            legs.pop(leg_kind(order), None)
            self._engine.push_position(account, order.symbol)
        return order

    def orders(self, account_id: str) -> list[Order]:
        """Every order of the account, oldest first, in any state."""
        return [
            o.model_copy() for o in self._engine.account(account_id).orders.values()
        ]

    def executions(self, account_id: str, symbol: str) -> list[Execution]:
        """The account's fills in ``symbol``, oldest first."""
        return [
            e for e in self._engine.account(account_id).executions if e.symbol == symbol
        ]

    # -- positions ------------------------------------------------------------

    def positions(self, account_id: str) -> list[Position]:
        """The account's open positions."""
        account = self._engine.account(account_id)
        return [
            self._engine.position(account, h)
            for h in account.holdings.values()
            if h.qty
        ]

    def close_position(
        self, account_id: str, position_id: str, amount: float | None = None
    ) -> str:
        """Close ``amount`` of a position (all of it by default) at market.

        Returns the id of the closing market order.

        Raises:
            NotFoundError: no open position with that id.
            RuleViolationError: ``amount`` exceeds the position.
        """
        account = self._engine.account(account_id)
        holding = self._engine.holding(account, position_id)
        size = abs(holding.qty)
        qty = size if amount is None else amount
        if qty > size:
            raise RuleViolationError(
                f"cannot close {qty:g} of position {position_id}: it holds {size:g}"
            )
        side = Side.SELL if holding.qty > 0 else Side.BUY
        pre = PreOrder(symbol=holding.symbol, type=OrderType.MARKET, side=side, qty=qty)
        return self.place_order(account_id, pre)

    def set_position_brackets(
        self, account_id: str, position_id: str, brackets: Brackets
    ) -> Position:
        """Set, move or remove (null) a position's take-profit and stop-loss.

        Raises:
            NotFoundError: no open position with that id.
            RuleViolationError: a bracket on the wrong side of the current price.
        """
        account = self._engine.account(account_id)
        holding = self._engine.holding(account, position_id)
        side = Side.BUY if holding.qty > 0 else Side.SELL
        price = self._engine.price(holding.symbol)
        check_brackets(
            side, price, brackets.take_profit, brackets.stop_loss, "the current price"
        )
        legs = account.brackets.setdefault(holding.symbol, {})
        self._set_leg(account, holding, legs, "tp", brackets.take_profit)
        self._set_leg(account, holding, legs, "sl", brackets.stop_loss)
        self._engine.push_position(account, holding.symbol)
        return self._engine.position(account, holding)

    def _set_leg(
        self,
        account: Account,
        holding: Holding,
        legs: dict[str, str],
        kind: str,
        price: float | None,
    ) -> None:
        """Create, move or (price None) cancel one bracket leg of a position."""
        existing = account.orders.get(legs.get(kind, ""))
        if existing is not None and price is None:
            self._engine.cancel(account, existing)
            del legs[kind]
        elif existing is not None and price is not None:
            set_leg_price(existing, price)
            self._engine.push_order(account, existing)
        elif price is not None:
            leg = self._engine.new_leg(
                account, holding, kind, price, ParentType.POSITION
            )
            legs[kind] = leg.id

    # -- account and leverage -------------------------------------------------

    def account_info(self, account_id: str) -> AccountInfo:
        """Balance, equity, P&L and margin of the account."""
        account = self._engine.account(account_id)
        equity = self._engine.equity(account)
        used = self._engine.used_margin(account)
        return AccountInfo(
            id=account.id,
            name=f"Simulated account {account.id}",
            currency="USD",
            currency_sign="$",
            balance=account.balance,
            equity=equity.equity,
            realized_pl=account.realized_pl,
            unrealized_pl=equity.unrealized_pl,
            used_margin=used,
            available_funds=money(equity.equity - used),
        )

    def leverage_info(
        self, account_id: str, params: LeverageInfoParams
    ) -> LeverageInfo:
        """The leverage in force for a symbol and its allowed range."""
        account = self._engine.account(account_id)
        return LeverageInfo(
            title=f"{params.symbol} leverage",
            leverage=self._engine.leverage(account, params.symbol),
            min=LEVERAGE_MIN,
            max=LEVERAGE_MAX,
            step=LEVERAGE_STEP,
        )

    def preview_leverage(
        self, account_id: str, params: LeverageSetParams
    ) -> LeveragePreviewResult:
        """What setting a leverage would mean, with errors instead of exceptions."""
        self._engine.account(account_id)
        return leverage_preview(params.leverage)

    def set_leverage(
        self, account_id: str, params: LeverageSetParams
    ) -> LeverageSetResult:
        """Apply a leverage to a symbol for later orders and the margin of positions.

        Raises:
            RuleViolationError: out of range or not a multiple of the step.
        """
        account = self._engine.account(account_id)
        problem = leverage_problem(params.leverage)
        if problem:
            raise RuleViolationError(problem)
        account.leverage[params.symbol] = params.leverage
        return LeverageSetResult(leverage=params.leverage)

    # -- streams --------------------------------------------------------------

    async def create_topic(self, topic: str, publish: Publish) -> None:
        """Start pushing one account's route; state-like routes get a snapshot."""
        route, account_id = self._engine.subscribers.add(topic, publish)
        account = self._engine.account(account_id)
        if route == "equity":
            self._engine.forget_equity(account_id)
            self._engine.push_equity(account)
        elif route == "broker-connection":
            status = BrokerConnectionData(
                account_id=account_id,
                status=ConnectionStatus.CONNECTED,
                message="connected to the simulated broker",
            )
            publish(status)

    async def remove_topic(self, topic: str) -> None:
        """Stop pushing a route of an account."""
        self._engine.subscribers.remove(topic)
