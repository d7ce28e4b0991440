"""Tables of the auth module: who owns which account.

One row per account: the account id is the primary key, so an account has
exactly one owner, and two grants of one account racing each other end with one
row, whichever process and database they run on (the second insert fails on the
key; see :mod:`.owners`). After changing a class, write the next migration with
``trading db revision auth -m "what changed"``.
"""

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trading_api.shared.storage import module_metadata

ACCOUNT_ID = String(32)
USER_NAME = String(64)


class Base(DeclarativeBase):
    """The declarative base of the auth tables."""

    metadata = module_metadata("auth")


class AccountOwnerRow(Base):
    """An account and the one user who owns it (``user_name``: the token's ``sub``),
    since ``granted_ms``."""

    __tablename__ = "auth__account_owners"
    __table_args__ = (Index("ix_auth__account_owners_user", "user_name", "account_id"),)

    account_id: Mapped[str] = mapped_column(ACCOUNT_ID, primary_key=True)
    user_name: Mapped[str] = mapped_column(USER_NAME)
    granted_ms: Mapped[int] = mapped_column(BigInteger)
