"""The broker's rows: load what serving needs, store what a command changed,
read the history on demand.

Every method is synchronous Core SQL on the session of the running
transaction, which ``durable`` opens: on SQLite it runs on the one writing
connection's thread, a whole step in one hop; on PostgreSQL inside the async
session (``run_sync``). What a command changed (:class:`~.views.Changes`) is
written with a few statements: the accounts' rows (``version`` + 1), the orders
(inserted or updated by id), the positions (a flat one deleted), the new
executions and the leverage set. SQLite and PostgreSQL both take the upserts
(``INSERT ... ON CONFLICT``).
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, Table, bindparam, delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from trading_api.models.broker import Execution, Order
from trading_api.modules.broker.accounting import Account, Holding
from trading_api.modules.broker.errors import LimitError
from trading_api.modules.broker.idempotency import Answer
from trading_api.modules.broker.rows import (
    OPEN_ORDER_COLUMNS,
    ORDERS,
    execution_from_row,
    execution_row,
    order_from_row,
    order_row,
    order_values,
)
from trading_api.modules.broker.tables import (
    AccountRow,
    ExecutionRow,
    IdempotencyRow,
    InstanceRow,
    LeverageRow,
    PositionRow,
)
from trading_api.modules.broker.views import Changes

ACCOUNTS: Table = AccountRow.__table__  # type: ignore[assignment]
POSITIONS: Table = PositionRow.__table__  # type: ignore[assignment]
EXECUTIONS: Table = ExecutionRow.__table__  # type: ignore[assignment]
LEVERAGE: Table = LeverageRow.__table__  # type: ignore[assignment]
KEYS: Table = IdempotencyRow.__table__  # type: ignore[assignment]
INSTANCES: Table = InstanceRow.__table__  # type: ignore[assignment]
Db = Session | Connection
"""What the store's methods run their statements on."""
PAGE = 1_000
"""Rows of history read per query: a long history is read in pages, each its own
short transaction, so commands go on between them."""
_ORDER_FIELDS = [c.name for c in ORDERS.columns if c.name not in ("seq", "id")]


class BrokerStore:
    """Reads and writes the broker's tables in a given transaction.

    Args:
        dialect: ``sqlite`` or ``postgresql`` (the upsert syntax differs).
    """

    def __init__(self, dialect: str) -> None:
        # Only the dialect in use is imported: PostgreSQL's costs a server on
        # SQLite 0.1 s of start-up.
        insert: Any
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        # Built once: the upserts' EXCLUDED columns are costly to build per call.
        orders = insert(ORDERS)
        self._upsert_orders = orders.on_conflict_do_update(
            index_elements=[ORDERS.c.id],
            set_={name: orders.excluded[name] for name in _ORDER_FIELDS},
        )
        positions = insert(POSITIONS)
        self._upsert_positions = positions.on_conflict_do_update(
            index_elements=[POSITIONS.c.account_id, POSITIONS.c.symbol],
            set_={
                "qty": positions.excluded.qty,
                "avg_price": positions.excluded.avg_price,
            },
        )
        leverage = insert(LEVERAGE)
        self._upsert_leverage = leverage.on_conflict_do_update(
            index_elements=[LEVERAGE.c.account_id, LEVERAGE.c.symbol],
            set_={"leverage": leverage.excluded.leverage},
        )
        self._create_account = (
            insert(ACCOUNTS).values(version=0).on_conflict_do_nothing()
        )
        self._update_account = (
            update(ACCOUNTS)
            .where(ACCOUNTS.c.id == bindparam("account_id"))
            .values(version=ACCOUNTS.c.version + 1)
        )
        self._read_version = select(ACCOUNTS.c.version).where(
            ACCOUNTS.c.id == bindparam("account_id")
        )
        self._lock_version = self._read_version.with_for_update()
        self._delete_position = delete(POSITIONS).where(
            POSITIONS.c.account_id == bindparam("account_id"),
            POSITIONS.c.symbol == bindparam("position_symbol"),
        )

    # -- start -----------------------------------------------------------------

    def new_instance(self, session: Db, now_ms: int) -> int:
        """A number no other start of the broker got: it prefixes the ids."""
        result = session.execute(
            INSTANCES.insert().values(started_ms=now_ms).returning(INSTANCES.c.id)
        )
        return int(result.scalar_one())

    def account_ids(self, session: Db) -> list[str]:
        """Every stored account's id, in order."""
        query = select(ACCOUNTS.c.id).order_by(ACCOUNTS.c.id)
        return [row[0] for row in _tuples(session, query)]

    def load(self, session: Db, ids: Sequence[str] | None = None) -> list[Account]:
        """The accounts (all, or these) with their open orders, positions and
        leverage; finished orders and executions stay in the database.

        A restart loads every open order: its rows are read as plain tuples
        and its orders built without validating again what was validated
        before it was stored (see :func:`_built`).
        """
        accounts = ACCOUNTS.c
        accounts_query = select(
            accounts.id, accounts.balance, accounts.realized_pl, accounts.version
        )
        orders_query = (
            select(*OPEN_ORDER_COLUMNS).where(ORDERS.c.open).order_by(ORDERS.c.seq)
        )
        positions_query = select(
            POSITIONS.c.account_id,
            POSITIONS.c.symbol,
            POSITIONS.c.qty,
            POSITIONS.c.avg_price,
        )
        leverage_query = select(
            LEVERAGE.c.account_id, LEVERAGE.c.symbol, LEVERAGE.c.leverage
        )
        if ids is not None:
            ids = list(ids)
            accounts_query = accounts_query.where(ACCOUNTS.c.id.in_(ids))
            orders_query = orders_query.where(ORDERS.c.account_id.in_(ids))
            positions_query = positions_query.where(POSITIONS.c.account_id.in_(ids))
            leverage_query = leverage_query.where(LEVERAGE.c.account_id.in_(ids))
        loaded = {
            account_id: Account(
                account_id, balance, realized_pl=realized_pl, version=version
            )
            for account_id, balance, realized_pl, version in _tuples(
                session, accounts_query
            )
        }
        for row in _tuples(session, orders_query):
            account = loaded[row[1]]
            order = order_values(row, 2)
            order_id = order.id
            account.orders[order_id] = order
            account.open[order_id] = order
            triggered, fresh, checked_ms = row[-3:]
            if triggered:
                account.triggered.add(order_id)
            if fresh:
                account.fresh.add(order_id)
            if checked_ms is not None:
                account.checked[order_id] = checked_ms / 1000
        for account_id, symbol, qty, avg_price in _tuples(session, positions_query):
            loaded[account_id].holdings[symbol] = Holding(symbol, qty, avg_price)
        for account_id, symbol, leverage in _tuples(session, leverage_query):
            loaded[account_id].leverage[symbol] = leverage
        return list(loaded.values())

    # -- a command's transaction ---------------------------------------------------

    def version(self, session: Db, account_id: str, *, lock: bool) -> int | None:
        """The account's stored version, or None when it is not stored (a new
        account); with ``lock``, its row is locked for this transaction."""
        query = self._lock_version if lock else self._read_version
        return session.execute(query, {"account_id": account_id}).scalar_one_or_none()

    def create_account(
        self, session: Db, account: Account, *, max_accounts: int
    ) -> None:
        """Store a new account's row (``version`` 0) unless it is stored.

        The caller holds what orders account creations (the ``accounts`` lock
        on PostgreSQL, the write lock on SQLite), so the count below is exact
        across every instance.

        Raises:
            LimitError: ``max_accounts`` accounts are stored already.
        """
        count = self.count_accounts(session)
        if count >= max_accounts:
            raise LimitError(
                f"the broker holds its maximum of {max_accounts} accounts; "
                f"account {account.id!r} cannot be opened (raise "
                "BROKER_MAX_ACCOUNTS)"
            )
        session.execute(
            self._create_account,
            {
                "id": account.id,
                "balance": account.balance,
                "realized_pl": account.realized_pl,
            },
        )

    def version_total(self, session: Db) -> tuple[int, int]:
        """How many accounts are stored and the sum of their versions: when both
        equal this process's, no account changed elsewhere."""
        result = session.execute(
            select(func.count(), func.coalesce(func.sum(ACCOUNTS.c.version), 0))
        )
        count, total = result.one()
        return int(count), int(total)

    def versions(self, session: Db, *, lock: bool = False) -> dict[str, int]:
        """The stored version of every account (locked for the transaction)."""
        query = select(ACCOUNTS.c.id, ACCOUNTS.c.version)
        if lock:
            query = query.with_for_update()
        return {row.id: row.version for row in session.execute(query)}

    def save(self, session: Db, changes: Changes) -> None:
        """Write what a command or matching step changed (each account's
        ``version`` + 1 in the database; the caller counts it in memory once
        the transaction committed)."""
        for account in changes.accounts.values():
            # Its row exists: a new account's is made by create_account.
            session.execute(
                self._update_account,
                {
                    "account_id": account.id,
                    "balance": account.balance,
                    "realized_pl": account.realized_pl,
                },
            )
        if changes.orders:
            rows = [order_row(a, o) for a, o in changes.orders.values()]
            session.execute(self._upsert_orders, rows)
        self._save_positions(session, changes)
        if changes.executions:
            session.execute(
                EXECUTIONS.insert(),
                [execution_row(a, e) for a, e in changes.executions],
            )
        if changes.leverage:
            session.execute(
                self._upsert_leverage,
                [
                    {
                        "account_id": account_id,
                        "symbol": symbol,
                        "leverage": changes.accounts[account_id].leverage[symbol],
                    }
                    for account_id, symbol in sorted(changes.leverage)
                ],
            )

    def _save_positions(self, session: Db, changes: Changes) -> None:
        held: list[dict[str, Any]] = []
        for account_id, symbol in sorted(changes.holdings):
            holding = changes.accounts[account_id].holdings.get(symbol)
            if holding is None or holding.qty == 0:
                session.execute(
                    self._delete_position,
                    {"account_id": account_id, "position_symbol": symbol},
                )
            else:
                held.append(
                    {
                        "account_id": account_id,
                        "symbol": symbol,
                        "qty": holding.qty,
                        "avg_price": holding.avg_price,
                    }
                )
        if held:
            session.execute(self._upsert_positions, held)

    # -- idempotency keys -------------------------------------------------------------

    def answer(self, session: Db, account_id: str, key: str) -> Answer | None:
        """The answer stored under ``key`` for the account, if any."""
        result = session.execute(
            select(KEYS.c.fingerprint, KEYS.c.order_id, KEYS.c.rejection).where(
                KEYS.c.account_id == account_id, KEYS.c.key == key
            )
        )
        row = result.first()
        return None if row is None else Answer(row[0], row[1], row[2])

    def remember(
        self,
        session: Db,
        account_id: str,
        key: str,
        answer: Answer,
        capacity: int,
    ) -> None:
        """Store ``answer`` under ``key``; keep the account's newest ``capacity``."""
        session.execute(
            KEYS.insert().values(
                account_id=account_id,
                key=key,
                fingerprint=answer.fingerprint,
                order_id=answer.order_id,
                rejection=answer.rejection,
            )
        )
        oldest_kept = (
            select(KEYS.c.seq)
            .where(KEYS.c.account_id == account_id)
            .order_by(KEYS.c.seq.desc())
            .offset(capacity - 1)
            .limit(1)
            .scalar_subquery()
        )
        session.execute(
            delete(KEYS).where(
                KEYS.c.account_id == account_id, KEYS.c.seq < oldest_kept
            )
        )

    # -- history ----------------------------------------------------------------------

    def order(self, session: Db, account_id: str, order_id: str) -> Order | None:
        """One stored order of the account, in any state."""
        result = session.execute(
            select(ORDERS).where(
                ORDERS.c.id == order_id, ORDERS.c.account_id == account_id
            )
        )
        row = result.first()
        return None if row is None else order_from_row(row)

    def orders(
        self, session: Db, account_id: str, *, after: int = 0, limit: int = PAGE
    ) -> tuple[list[Order], int]:
        """A page of the account's stored orders, oldest first: up to ``limit``
        written after position ``after``, and the position of the last one."""
        result = session.execute(
            select(ORDERS)
            .where(ORDERS.c.account_id == account_id, ORDERS.c.seq > after)
            .order_by(ORDERS.c.seq)
            .limit(limit)
        )
        rows = result.all()
        last = rows[-1].seq if rows else after
        return [order_from_row(row) for row in rows], last

    def executions(
        self,
        session: Db,
        account_id: str,
        symbol: str,
        *,
        after: int = 0,
        limit: int = PAGE,
    ) -> tuple[list[Execution], int]:
        """A page of the account's stored fills in ``symbol``, oldest first."""
        result = session.execute(
            select(EXECUTIONS)
            .where(
                EXECUTIONS.c.account_id == account_id,
                EXECUTIONS.c.symbol == symbol,
                EXECUTIONS.c.seq > after,
            )
            .order_by(EXECUTIONS.c.seq)
            .limit(limit)
        )
        rows = result.all()
        last = rows[-1].seq if rows else after
        return [execution_from_row(row) for row in rows], last

    def count_accounts(self, session: Db) -> int:
        """How many accounts are stored."""
        result = session.execute(select(func.count()).select_from(ACCOUNTS))
        return int(result.scalar_one())


def _tuples(session: Db, query: Select[Any]) -> Sequence[Sequence[Any]]:
    """The rows of ``query`` as tuples.

    On the broker's own SQLite connection the query runs on the driver's
    cursor, in the same transaction: the rows are plain tuples, without
    SQLAlchemy's processing of each value (booleans come as 0 and 1, which the
    callers read as such).
    """
    if not isinstance(session, Connection) or session.dialect.name != "sqlite":
        return session.execute(query).all()
    compiled = query.compile(
        dialect=session.dialect, compile_kwargs={"render_postcompile": True}
    )
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    if not session.in_transaction():
        session.begin()  # BEGIN IMMEDIATE, like every transaction
    dbapi = session.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        rows: list[tuple[Any, ...]] = cursor.execute(str(compiled), params).fetchall()
    finally:
        cursor.close()
    return rows
