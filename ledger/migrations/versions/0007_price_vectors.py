"""Price vectors: the values of a set of price keys at one sample packed in one row (multi-asset
challenges read 33 or 20 keys a sample).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Frozen: later changes go into new revisions, never into this file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "price_sets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_list", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_sets")),
        sa.UniqueConstraint("key_list", name=op.f("uq_price_sets_key_list")),
    )
    op.create_table(
        "price_vectors",
        sa.Column("set_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sidx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("source IN ('bootstrap', 'live')", name=op.f("ck_price_vectors_source")),
        sa.ForeignKeyConstraint(["set_id"], ["price_sets.id"], name=op.f("fk_price_vectors_set_id_price_sets")),
        sa.PrimaryKeyConstraint("set_id", "sidx", name=op.f("pk_price_vectors")),
    )


def downgrade() -> None:
    op.drop_table("price_vectors")
    op.drop_table("price_sets")
