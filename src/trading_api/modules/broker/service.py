"""The simulated broker: orders, matching, positions, accounts and leverage.

The service translates requests and streams; every state change is a command of
:class:`~trading_api.modules.broker.engine.TradingEngine`, which owns the state
and emits the events (see there for atomic fills).

Accounts: every account id is served; an account is created with its first
state-changing request, with :data:`STARTING_BALANCE` USD (reads create nothing).
Ids are never shared: an order or position of one account is unknown (404) to
another, and each account has its own streams.

Market: symbols, sessions, prices and the clock come from the shared market
library (:class:`~trading_api.market.Market`), the same the datafeed charts.
:meth:`BrokerService.step` matches resting orders against the market now, expires
DAY orders and pushes P&L that moved; the module's background job calls it at
the quote rate, supervised by the runtime. Tests give the service a market with a
manual clock and overrides (:meth:`BrokerService.set_price`), so nothing depends
on wall time. Orders placed over REST fill whether or not anyone is subscribed.

Brackets: an order's take-profit (LIMIT) and stop-loss (STOP) legs wait INACTIVE
until it fills, then protect the resulting position: they become WORKING with the
position as parent and the position's quantity. Position legs are one-cancels-other
and follow the position: resized when it changes, cancelled when it closes or
reverses.

Storage: every command and every matching step is one database transaction,
committed before the answer (see ``durable``); the service loads accounts, open
orders, positions and leverage when the app starts and reads finished orders and
executions from the database when asked.

Money is float rounded to cents at each booking step (see ``accounting``).
"""

import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from trading_api.market import Market
from trading_api.models.broker import (
    AccountInfo,
    Brackets,
    BrokerConnectionData,
    ConnectionStatus,
    Execution,
    LeverageInfo,
    LeverageInfoParams,
    LeveragePreviewParams,
    LeveragePreviewResult,
    LeverageSetParams,
    LeverageSetResult,
    Order,
    OrderModification,
    OrderPreviewResult,
    OrderStatus,
    Position,
    PreOrder,
)
from trading_api.modules.broker.accounting import Account, money
from trading_api.modules.broker.durable import Before, Transactions
from trading_api.modules.broker.engine import TradingEngine
from trading_api.modules.broker.errors import OrderRejectedError, RuleViolationError
from trading_api.modules.broker.idempotency import Answer, fingerprint, replay
from trading_api.modules.broker.preview import leverage_preview, order_preview
from trading_api.modules.broker.rules import (
    LEVERAGE_MAX,
    LEVERAGE_MIN,
    LEVERAGE_STEP,
    check_brackets,
)
from trading_api.modules.broker.settings import BrokerSettings
from trading_api.modules.broker.store import PAGE, Db
from trading_api.modules.broker.streams import (
    BROKER_CONNECTION,
    EQUITY,
    Publish,
)
from trading_api.shared.storage import ModuleDatabase
from trading_api.shared.ws import CLOSE_RESYNC, WsRouter

STARTING_BALANCE = 100_000.0


class BrokerService:
    """A simulated broker serving any number of accounts, stored in ``database``."""

    def __init__(
        self,
        database: ModuleDatabase,
        *,
        market: Market | None = None,
        starting_balance: float = STARTING_BALANCE,
        settings: BrokerSettings | None = None,
    ) -> None:
        """Create the broker; :meth:`open` loads its state when the app starts.

        Args:
            database: The broker's tables (opened in the app's lifespan).
            market: Prices, symbols, sessions and the clock; the real-time
                market when None.
            starting_balance: Cash of a new account, in USD.
            settings: Limits; the defaults of :class:`BrokerSettings` if None.
        """
        self._settings = settings or BrokerSettings()
        self._engine = TradingEngine(
            market=market, starting_balance=starting_balance, settings=self._settings
        )
        self._tx = Transactions(self._engine, database)
        self._routers: Sequence[WsRouter[Any, Any]] = ()

    async def open(self) -> None:
        """Start serving: the stored accounts, open orders, positions and
        leverage load in the background (an account a request needs first is
        loaded for it)."""
        await self._tx.open(int(time.time() * 1000))

    async def warmed(self) -> None:
        """Wait until every stored account is loaded."""
        await self._tx.warmed()

    async def close(self) -> None:
        """Give the database connection back (the app is stopping)."""
        await self._tx.close()

    @property
    def shared(self) -> bool:
        """Whether other instances may serve the same tables (PostgreSQL)."""
        return self._tx.shared

    async def relay(self) -> None:
        """Deliver the events every instance publishes to this one's
        subscribers (PostgreSQL), until cancelled; after the bus lost events,
        close the subscribers so they resync (:meth:`resync_subscribers`)."""
        await self._tx.relay(self.resync_subscribers)

    def serve_streams(self, routers: Sequence[WsRouter[Any, Any]]) -> None:
        """The WebSocket routes this service feeds (closed by
        :meth:`resync_subscribers`)."""
        self._routers = routers

    def resync_subscribers(self) -> int:
        """Close every WebSocket connection subscribed to a broker stream with
        ``CLOSE_RESYNC`` (4205): the client reconnects, resubscribes and reads
        orders, positions and the account again. Returns how many closed."""
        closed = 0
        for router in self._routers:
            closed += router.close_subscribers(
                CLOSE_RESYNC,
                "broker updates were lost: resubscribe and read the state again",
            )
        return closed

    @property
    def engine(self) -> TradingEngine:
        """The engine that owns the broker's state."""
        return self._engine

    @property
    def market(self) -> Market:
        """The market the broker trades on."""
        return self._engine.market

    def price(self, symbol: str) -> float:
        """The market price of ``symbol`` now (ticker or ``EXCHANGE:NAME``)."""
        return self._engine.price(self._engine.canonical(symbol))

    def set_price(self, symbol: str, price: float) -> None:
        """Override the price of ``symbol`` from now on; the next :meth:`step`
        matches against it."""
        self._engine.set_price(symbol, price)

    async def step(self) -> None:
        """Match resting orders against the market now, expire DAY orders, push
        the P&L and equity that moved; the fills are stored in one transaction."""
        await self._tx.run(None, lambda _: self._engine.step())

    # -- orders ---------------------------------------------------------------

    async def place_order(self, account_id: str, pre: PreOrder) -> str:
        """Place an order and return its id; it may fill at once.

        Raises:
            RuleViolationError: brackets on the wrong side of the entry price.
            OrderRejectedError: recorded as REJECTED, e.g. insufficient margin.
            LimitError: too many accounts or open orders.
        """
        order = await self._tx.run(
            account_id, lambda _: self._engine.place(account_id, pre)
        )
        if order.status is OrderStatus.REJECTED:
            raise OrderRejectedError(order.id, order.message or "rejected")
        return order.id

    async def place_order_once(
        self, account_id: str, pre: PreOrder, key: str
    ) -> tuple[str, bool]:
        """Place an order under an idempotency key; a retry gets the first answer.

        The key and its answer are stored in the order's transaction. Returns
        the order id and whether the answer is a replay.

        Raises:
            IdempotencyKeyReusedError: ``key`` was used for a different order.
            OrderRejectedError: the order (first or replayed) was rejected.
            RuleViolationError: refused before anything was recorded.
        """
        pre = self._engine.normalize(pre)
        print_ = fingerprint(pre)
        store = self._tx.store
        answers: list[Answer] = []

        def place(stored: Answer | None) -> Order | None:
            answer = replay(stored, key, print_)
            if answer is not None:
                answers.append(answer)
                return None
            order = self._engine.place(account_id, pre)
            rejection = None
            if order.status is OrderStatus.REJECTED:
                rejection = order.message or "rejected"
            answers.append(Answer(print_, order.id, rejection))
            return order

        def remember(db: Db, order: Order | None) -> None:
            if order is not None:
                store.remember(
                    db, account_id, key, answers[0], self._settings.idempotency_keys
                )

        placed = await self._tx.run(
            account_id,
            place,
            before=lambda db: store.answer(db, account_id, key),
            after=remember,
        )
        [answer] = answers
        if answer.rejection is not None:
            raise OrderRejectedError(answer.order_id, answer.rejection)
        return answer.order_id, placed is None

    async def preview_order(self, account_id: str, pre: PreOrder) -> OrderPreviewResult:
        """What placing ``pre`` would cost and whether it would be accepted."""
        engine = self._engine
        pre = engine.normalize(pre)
        account = await self._account(account_id)
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

    async def modify_order(
        self, account_id: str, order_id: str, changes: OrderModification
    ) -> Order:
        """Change a working or inactive order; it may fill at once.

        Raises:
            NotFoundError: no such order in the account.
            ConflictError: the order is filled, cancelled or rejected.
            RuleViolationError: the change does not fit the order.
        """

        def modify(finished: Order | None) -> Order:
            self._recall(account_id, finished)
            return self._engine.modify(account_id, order_id, changes)

        order = await self._tx.run(
            account_id, modify, before=self._finished(account_id, order_id)
        )
        return order.model_copy()

    async def cancel_order(self, account_id: str, order_id: str) -> Order:
        """Cancel a working or inactive order, with its bracket legs.

        Raises:
            NotFoundError: no such order in the account.
            ConflictError: the order is already filled, cancelled or rejected.
        """

        def cancel(finished: Order | None) -> Order:
            self._recall(account_id, finished)
            return self._engine.cancel(account_id, order_id)

        order = await self._tx.run(
            account_id, cancel, before=self._finished(account_id, order_id)
        )
        return order.model_copy()

    def _finished(self, account_id: str, order_id: str) -> Before:
        """Read an order this process does not hold open (a finished one), so a
        request on it is a conflict rather than a 404."""
        store = self._tx.store

        def read(db: Db) -> Order | None:
            account = self._engine.known(account_id)
            if account is not None and order_id in account.open:
                return None
            return store.order(db, account_id, order_id)

        return read

    def _recall(self, account_id: str, finished: Order | None) -> None:
        if finished is not None:
            self._engine.recall(account_id, finished)

    async def orders(self, account_id: str) -> list[Order]:
        """Every order of the account, oldest first, in any state (read from the
        database in pages)."""
        store = self._tx.store
        found: list[Order] = []
        after = 0
        while True:
            read = partial(store.orders, account_id=account_id, after=after, limit=PAGE)
            page, after = await self._tx.read(read)
            found += page
            if len(page) < PAGE:
                return found

    async def executions(self, account_id: str, symbol: str) -> list[Execution]:
        """The account's fills in ``symbol``, oldest first (read in pages)."""
        name = self._engine.canonical(symbol)
        store = self._tx.store
        found: list[Execution] = []
        after = 0
        while True:
            read = partial(
                store.executions, account_id=account_id, after=after, limit=PAGE
            )
            page, after = await self._tx.read(partial(read, symbol=name))
            found += page
            if len(page) < PAGE:
                return found

    # -- positions ------------------------------------------------------------

    async def positions(self, account_id: str) -> list[Position]:
        """The account's open positions."""
        account = await self._account(account_id)
        return [self._engine.position(account, h) for h in account.holdings.values()]

    async def close_position(
        self, account_id: str, position_id: str, amount: float | None = None
    ) -> str:
        """Close ``amount`` of a position (all of it by default) at market.

        Returns the id of the closing market order.

        Raises:
            NotFoundError: no open position with that id.
            RuleViolationError: ``amount`` exceeds the position.
        """
        order = await self._tx.run(
            account_id,
            lambda _: self._engine.close_position(account_id, position_id, amount),
        )
        if order.status is OrderStatus.REJECTED:
            raise OrderRejectedError(order.id, order.message or "rejected")
        return order.id

    async def set_position_brackets(
        self, account_id: str, position_id: str, brackets: Brackets
    ) -> Position:
        """Set, move or remove (null) a position's take-profit and stop-loss.

        Raises:
            NotFoundError: no open position with that id.
            RuleViolationError: a bracket on the wrong side of the current price.
        """
        return await self._tx.run(
            account_id,
            lambda _: self._engine.set_brackets(account_id, position_id, brackets),
        )

    # -- account and leverage -------------------------------------------------

    async def account_info(self, account_id: str) -> AccountInfo:
        """Balance, equity, P&L and margin of the account."""
        account = await self._account(account_id)
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

    async def leverage_info(
        self, account_id: str, params: LeverageInfoParams
    ) -> LeverageInfo:
        """The leverage in force for a symbol and its allowed range."""
        symbol = self._engine.canonical(params.symbol)
        account = await self._account(account_id)
        return LeverageInfo(
            title=f"{symbol} leverage",
            leverage=self._engine.leverage(account, symbol),
            min=LEVERAGE_MIN,
            max=LEVERAGE_MAX,
            step=LEVERAGE_STEP,
        )

    async def preview_leverage(
        self, account_id: str, params: LeveragePreviewParams
    ) -> LeveragePreviewResult:
        """What setting a leverage would mean, with errors instead of exceptions."""
        self._engine.canonical(params.symbol)
        return leverage_preview(params.leverage)

    async def set_leverage(
        self, account_id: str, params: LeverageSetParams
    ) -> LeverageSetResult:
        """Apply a leverage to a symbol for later orders and the margin of positions.

        Raises:
            RuleViolationError: out of range or not a multiple of the step.
        """
        await self._tx.run(
            account_id,
            lambda _: self._engine.set_leverage(
                account_id, params.symbol, params.leverage
            ),
        )
        return LeverageSetResult(leverage=params.leverage)

    async def _account(self, account_id: str) -> Account:
        """The account as stored now (reloaded if another process changed it,
        loaded if it was not yet)."""
        if self._tx.shared or self._tx.cold(account_id):
            await self._tx.fresh(account_id)
        return self._engine.account(account_id)

    # -- streams --------------------------------------------------------------

    async def create_topic(self, topic: str, publish: Publish) -> None:
        """Start pushing one account's route; state-like routes get a snapshot."""
        route, account_id = self._engine.subscribers.add(topic, publish)
        if route == EQUITY:
            await self._account(account_id)  # the snapshot is of the stored state
            self._engine.forget_equity(account_id)
            self._engine.push_equity(account_id)
        elif route == BROKER_CONNECTION:
            status = BrokerConnectionData(
                account_id=account_id,
                status=ConnectionStatus.CONNECTED,
                message="connected to the simulated broker",
            )
            publish(status)

    async def remove_topic(self, topic: str) -> None:
        """Stop pushing a route of an account."""
        self._engine.subscribers.remove(topic)
