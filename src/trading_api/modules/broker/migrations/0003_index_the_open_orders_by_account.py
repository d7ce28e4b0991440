"""index the open orders by account without dialect options

The partial index of 0002 made every server import the PostgreSQL dialect
(its options are checked when the model is built), even on SQLite.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("broker__orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_broker__orders_open_account"))
        batch_op.create_index(
            "ix_broker__orders_open_account_seq",
            ["open", "account_id", "seq"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("broker__orders", schema=None) as batch_op:
        batch_op.drop_index("ix_broker__orders_open_account_seq")
        batch_op.create_index(
            batch_op.f("ix_broker__orders_open_account"),
            ["account_id", "seq"],
            unique=False,
            sqlite_where=sa.text("open = 1"),
            postgresql_where=sa.text("open"),
        )
