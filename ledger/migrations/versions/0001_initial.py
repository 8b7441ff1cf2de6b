"""Initial ledger schema: samples, raw payloads, rejections, drand signatures, packed embeddings,
prices, metagraph snapshots, weights history, submissions and the devnet chain's state.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Frozen: later changes go into new revisions, never into this file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SOURCE_CHECK = "source IN ('bootstrap', 'live')"


def _pk(table: str, *cols: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*cols, name=op.f(f"pk_{table}"))


def _hotkey_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["hotkey_id"], ["hotkeys.id"], name=op.f(f"fk_{table}_hotkey_id_hotkeys"))


def _source_ck(table: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(SOURCE_CHECK, name=op.f(f"ck_{table}_source"))


def upgrade() -> None:
    op.create_table(
        "hotkeys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ss58", sa.Text(), nullable=False),
        _pk("hotkeys", "id"),
        sa.UniqueConstraint("ss58", name=op.f("uq_hotkeys_ss58")),
    )
    op.create_table(
        "samples",
        sa.Column("sidx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("taken_at", sa.Double(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _source_ck("samples"),
        sa.CheckConstraint("status IN ('taken', 'missed')", name=op.f("ck_samples_status")),
        _pk("samples", "sidx"),
    )
    op.create_table(
        "raw_payloads",
        sa.Column("sidx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hotkey_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("round", sa.BigInteger(), nullable=True),
        sa.Column("fetched_at", sa.Double(), nullable=False),
        _hotkey_fk("raw_payloads"),
        _pk("raw_payloads", "sidx", "hotkey_id"),
    )
    op.create_index(op.f("ix_raw_payloads_round"), "raw_payloads", ["round"], unique=False)
    op.create_table(
        "rejections",
        sa.Column("sidx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hotkey_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("challenge", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        _hotkey_fk("rejections"),
        _pk("rejections", "sidx", "hotkey_id", "challenge"),
    )
    op.create_table(
        "drand_signatures",
        sa.Column("round", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        _pk("drand_signatures", "round"),
    )
    op.create_table(
        "embeddings",
        sa.Column("challenge", sa.Text(), nullable=False),
        sa.Column("sidx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        _source_ck("embeddings"),
        _pk("embeddings", "challenge", "sidx"),
    )
    op.create_table(
        "prices",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("sidx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        _source_ck("prices"),
        _pk("prices", "key", "sidx"),
    )
    op.create_table(
        "metagraphs",
        sa.Column("block", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        _pk("metagraphs", "block"),
    )
    op.create_table(
        "metagraph_neurons",
        sa.Column("block", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("uid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hotkey_id", sa.Integer(), nullable=False),
        sa.Column("coldkey", sa.Text(), nullable=False),
        sa.Column("stake", sa.Double(), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.Column("validator_permit", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["block"], ["metagraphs.block"],
                                name=op.f("fk_metagraph_neurons_block_metagraphs")),
        _hotkey_fk("metagraph_neurons"),
        _pk("metagraph_neurons", "block", "uid"),
    )
    op.create_table(
        "weights",
        sa.Column("epoch", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("uids", sa.Text(), nullable=False),
        sa.Column("hotkeys", sa.Text(), nullable=False),
        sa.Column("weights", sa.Text(), nullable=False),
        sa.Column("u16", sa.Text(), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        _pk("weights", "epoch"),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("uids", sa.Text(), nullable=False),
        sa.Column("weights", sa.Text(), nullable=False),
        sa.Column("version_key", sa.BigInteger(), nullable=False),
        sa.Column("hotkey", sa.Text(), nullable=False),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.Double(), nullable=False),
        _pk("submissions", "id"),
    )
    op.create_index(op.f("ix_submissions_epoch"), "submissions", ["epoch"], unique=False)
    op.create_table(
        "devnet_state",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        _pk("devnet_state", "key"),
    )
    op.create_table(
        "devnet_neurons",
        sa.Column("uid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hotkey", sa.Text(), nullable=False),
        sa.Column("coldkey", sa.Text(), nullable=False),
        sa.Column("stake", sa.Double(), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.Column("validator_permit", sa.Boolean(), nullable=False),
        _pk("devnet_neurons", "uid"),
    )
    op.create_table(
        "devnet_commitments",
        sa.Column("hotkey", sa.Text(), nullable=False),
        sa.Column("block", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        _pk("devnet_commitments", "hotkey", "block"),
    )
    op.create_table(
        "devnet_weights",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("hotkey", sa.Text(), nullable=False),
        sa.Column("uids", sa.Text(), nullable=False),
        sa.Column("weights", sa.Text(), nullable=False),
        sa.Column("version_key", sa.BigInteger(), nullable=False),
        _pk("devnet_weights", "id"),
    )
    op.create_index(op.f("ix_devnet_weights_hotkey"), "devnet_weights", ["hotkey"], unique=False)


def downgrade() -> None:
    for table in ("devnet_weights", "devnet_commitments", "devnet_neurons", "devnet_state",
                  "submissions", "weights", "metagraph_neurons", "metagraphs", "prices",
                  "embeddings", "drand_signatures", "rejections", "raw_payloads", "samples",
                  "hotkeys"):
        op.drop_table(table)
