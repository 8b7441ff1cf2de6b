"""Almanac epochs: the pull, evaluation day, budget inputs and commitments each epoch scored with;
and each pull's record order (the order the API returned them).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

Frozen: later changes go into new revisions, never into this file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("trade_pulls", sa.Column("order", sa.LargeBinary(), nullable=True))
    op.create_table(
        "almanac_epochs",
        sa.Column("epoch", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("boundary", sa.BigInteger(), nullable=False),
        sa.Column("pull", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.Double(), nullable=False),
        sa.Column("moving_price", sa.Double(), nullable=True),
        sa.Column("tao_usd", sa.Double(), nullable=True),
        sa.Column("missing", sa.Text(), nullable=True),
        sa.Column("commitments", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["pull"], ["trade_pulls.id"], name=op.f("fk_almanac_epochs_pull_trade_pulls")),
        sa.PrimaryKeyConstraint("epoch", name=op.f("pk_almanac_epochs")),
    )


def downgrade() -> None:
    op.drop_table("almanac_epochs")
    with op.batch_alter_table("trade_pulls") as batch:
        batch.drop_column("order")
