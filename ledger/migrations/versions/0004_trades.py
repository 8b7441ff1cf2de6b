"""Almanac trades: pulls of the trading history and each record version with the pulls that returned it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

Frozen: later changes go into new revisions, never into this file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trade_pulls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pulled_at", sa.Double(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trade_pulls")),
    )
    op.create_table(
        "trade_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("digest", sa.LargeBinary(), nullable=False),
        sa.Column("copies", sa.Integer(), nullable=False),
        sa.Column("first_pull", sa.Integer(), nullable=False),
        sa.Column("last_pull", sa.Integer(), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=True),
        sa.Column("record", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["first_pull"], ["trade_pulls.id"],
                                name=op.f("fk_trade_versions_first_pull_trade_pulls")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trade_versions")),
        sa.UniqueConstraint("digest", "copies", "first_pull", name=op.f("uq_trade_versions_digest")),
    )
    op.create_index(op.f("ix_trade_versions_last_pull"), "trade_versions", ["last_pull"], unique=False)
    op.create_index(op.f("ix_trade_versions_day"), "trade_versions", ["day"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_trade_versions_day"), table_name="trade_versions")
    op.drop_index(op.f("ix_trade_versions_last_pull"), table_name="trade_versions")
    op.drop_table("trade_versions")
    op.drop_table("trade_pulls")
