"""Tables of the broker: every account, order, position, execution, leverage and
idempotency key, one row each.

The engine keeps what serving needs in memory (accounts, open orders, positions,
leverage) and writes every change of a command or matching step here, in one
transaction, before the answer is sent. Finished orders and executions are read
back from these tables on demand. After changing a class, write the next
migration with ``trading db revision broker -m "what changed"``.

Order and execution ids are made by the process (``<instance>-<n>``, the instance
number taken from ``broker__instances`` when it starts), so several server
processes never hand out the same id; ``seq`` keeps the order rows were written
in, which is the order they were created in.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trading_api.shared.storage import module_metadata

ID = String(32)


class Base(DeclarativeBase):
    """The declarative base of the broker tables."""

    metadata = module_metadata("broker")


class InstanceRow(Base):
    """One start of a broker process: its number prefixes the ids it makes."""

    __tablename__ = "broker__instances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_ms: Mapped[int] = mapped_column(BigInteger)


class AccountRow(Base):
    """Cash of an account; ``version`` grows with every change of the account."""

    __tablename__ = "broker__accounts"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    balance: Mapped[float] = mapped_column(Float)
    realized_pl: Mapped[float] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer)


class OrderRow(Base):
    """An order in any state; ``open`` marks the working and inactive ones.

    ``triggered`` (a stop-limit whose stop was reached), ``fresh`` (a bracket leg
    activated since the last matching pass) and ``checked_ms`` (when the order
    was last matched against the price path) are the matching state.
    """

    __tablename__ = "broker__orders"
    __table_args__ = (
        UniqueConstraint("id"),
        Index("ix_broker__orders_account_seq", "account_id", "seq"),
        # The working and inactive orders of each account, what a start loads.
        # (Not a partial index: its dialect options make every server import
        # the PostgreSQL dialect, even on SQLite.)
        Index("ix_broker__orders_open_account_seq", "open", "account_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ID)
    account_id: Mapped[str] = mapped_column(ForeignKey("broker__accounts.id"))
    open: Mapped[bool] = mapped_column(Boolean)
    symbol: Mapped[str] = mapped_column(String(32))
    type: Mapped[int] = mapped_column(SmallInteger)
    side: Mapped[int] = mapped_column(SmallInteger)
    qty: Mapped[float] = mapped_column(Float)
    status: Mapped[int] = mapped_column(SmallInteger)
    limit_price: Mapped[float | None] = mapped_column(Float)
    stop_price: Mapped[float | None] = mapped_column(Float)
    avg_price: Mapped[float | None] = mapped_column(Float)
    filled_qty: Mapped[float] = mapped_column(Float)
    parent_id: Mapped[str | None] = mapped_column(String(32))
    parent_type: Mapped[int | None] = mapped_column(SmallInteger)
    take_profit: Mapped[float | None] = mapped_column(Float)
    stop_loss: Mapped[float | None] = mapped_column(Float)
    duration_type: Mapped[str | None] = mapped_column(String(8))
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    seen_price: Mapped[float | None] = mapped_column(Float)
    is_close: Mapped[bool] = mapped_column(Boolean)
    update_time: Mapped[int] = mapped_column(BigInteger)
    message: Mapped[str | None] = mapped_column(String(500))
    triggered: Mapped[bool] = mapped_column(Boolean)
    fresh: Mapped[bool] = mapped_column(Boolean)
    checked_ms: Mapped[int | None] = mapped_column(BigInteger)


class PositionRow(Base):
    """A net position: signed quantity (long > 0) and average price."""

    __tablename__ = "broker__positions"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("broker__accounts.id"), primary_key=True
    )
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    qty: Mapped[float] = mapped_column(Float)
    avg_price: Mapped[float] = mapped_column(Float)


class ExecutionRow(Base):
    """One fill."""

    __tablename__ = "broker__executions"
    __table_args__ = (
        UniqueConstraint("id"),
        Index("ix_broker__executions_account_symbol", "account_id", "symbol", "seq"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ID)
    account_id: Mapped[str] = mapped_column(ForeignKey("broker__accounts.id"))
    order_id: Mapped[str] = mapped_column(ID)
    symbol: Mapped[str] = mapped_column(String(32))
    price: Mapped[float] = mapped_column(Float)
    qty: Mapped[float] = mapped_column(Float)
    side: Mapped[int] = mapped_column(SmallInteger)
    time: Mapped[int] = mapped_column(BigInteger)


class LeverageRow(Base):
    """The leverage set for a symbol (1 when there is no row)."""

    __tablename__ = "broker__leverage"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("broker__accounts.id"), primary_key=True
    )
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    leverage: Mapped[float] = mapped_column(Float)


class IdempotencyRow(Base):
    """The first answer to a keyed order request (the newest N per account)."""

    __tablename__ = "broker__idempotency_keys"
    __table_args__ = (UniqueConstraint("account_id", "key"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("broker__accounts.id"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(ID)
    rejection: Mapped[str | None] = mapped_column(String(500))
