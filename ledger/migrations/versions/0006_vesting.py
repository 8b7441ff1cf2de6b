"""Vesting: each epoch's stake snapshots, classified flows and factors; undecodable stake events;
sparse checkpoints of the tranche ledger.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

Frozen: later changes go into new revisions, never into this file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vesting_epochs",
        sa.Column("epoch", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("step_block", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("undecoded", sa.Integer(), nullable=False),
        sa.Column("chain", sa.LargeBinary(), nullable=False),
        sa.Column("flows", sa.LargeBinary(), nullable=False),
        sa.Column("factors", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("epoch", name=op.f("pk_vesting_epochs")),
    )
    op.create_table(
        "vesting_undecoded",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("extrinsic", sa.Integer(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vesting_undecoded")),
    )
    op.create_index(op.f("ix_vesting_undecoded_epoch"), "vesting_undecoded", ["epoch"])
    op.create_table(
        "vesting_checkpoints",
        sa.Column("epoch", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("epoch", name=op.f("pk_vesting_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("vesting_checkpoints")
    op.drop_index(op.f("ix_vesting_undecoded_epoch"), table_name="vesting_undecoded")
    op.drop_table("vesting_undecoded")
    op.drop_table("vesting_epochs")
