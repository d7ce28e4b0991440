"""index the open orders of each account

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("broker__orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_broker__orders_open"))
        batch_op.create_index(
            "ix_broker__orders_open_account",
            ["account_id", "seq"],
            unique=False,
            sqlite_where=sa.text("open = 1"),
            postgresql_where=sa.text("open"),
        )


def downgrade() -> None:
    with op.batch_alter_table("broker__orders", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_broker__orders_open_account",
            sqlite_where=sa.text("open = 1"),
            postgresql_where=sa.text("open"),
        )
        batch_op.create_index(
            batch_op.f("ix_broker__orders_open"), ["open"], unique=False
        )
