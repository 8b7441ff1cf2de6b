"""Rounds that were due but no drand relay served: their payloads are refused, the epoch goes on.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

Frozen: later changes go into new revisions, never into this file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drand_unserved",
        sa.Column("round", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("checked_at", sa.Double(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("round", name=op.f("pk_drand_unserved")),
    )


def downgrade() -> None:
    op.drop_table("drand_unserved")
