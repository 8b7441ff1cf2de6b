"""The chain's weight-setting parameters at each epoch's last block, read with its metagraph.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

Frozen: later changes go into new revisions, never into this file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_params",
        sa.Column("block", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tempo", sa.Integer(), nullable=False),
        sa.Column("weights_rate_limit", sa.BigInteger(), nullable=False),
        sa.Column("max_weight_limit", sa.Integer(), nullable=False),
        sa.Column("min_allowed_weights", sa.Integer(), nullable=False),
        sa.Column("commit_reveal", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("block", name=op.f("pk_chain_params")),
    )


def downgrade() -> None:
    op.drop_table("chain_params")
