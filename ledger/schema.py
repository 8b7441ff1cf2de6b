"""The ledger's tables (SQLAlchemy Core; no ORM).

This module is the schema as the code expects it *now*. The database gets there only through the
versioned Alembic scripts in `ledger/migrations/versions/`; a change here needs a new revision
there (`tests/test_ledger.py` checks that the migrated database and this metadata agree).

Conventions:

* sample indices (`sidx`), blocks, epochs and drand rounds are 64-bit signed integers;
* timestamps (`taken_at`, `fetched_at`, `recorded_at`) are Unix seconds as doubles;
* bytes are `LargeBinary` (BYTEA on PostgreSQL, BLOB on SQLite); small structured values are JSON
  text written and read by `ledger.store`; nothing is ever pickled;
* hotkeys that recur in many rows (payloads, rejections, embeddings, metagraph snapshots) are ids
  into the `hotkeys` dictionary table;
* `source` is "bootstrap" (history a node starts from: the devnet's generated past, or a datalog
  snapshot) or "live" wherever a row's data can come from either.
"""

from __future__ import annotations

import sqlalchemy as sa

SOURCES = ("bootstrap", "live")
SAMPLE_STATUSES = ("taken", "missed")

# Explicit constraint names so that later migrations (batch mode on SQLite) can address them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)

_source_check = "source IN ('bootstrap', 'live')"


hotkeys = sa.Table(
    "hotkeys", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ss58", sa.Text, nullable=False, unique=True),
)

samples = sa.Table(
    "samples", metadata,
    sa.Column("sidx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("block", sa.BigInteger, nullable=False),
    sa.Column("taken_at", sa.Double, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.CheckConstraint(_source_check, name="source"),
    sa.CheckConstraint("status IN ('taken', 'missed')", name="status"),
)

raw_payloads = sa.Table(
    "raw_payloads", metadata,
    sa.Column("sidx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hotkey_id", sa.Integer, sa.ForeignKey("hotkeys.id"), primary_key=True, autoincrement=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("round", sa.BigInteger, nullable=True),
    sa.Column("fetched_at", sa.Double, nullable=False),
)
sa.Index("ix_raw_payloads_round", raw_payloads.c.round)

rejections = sa.Table(
    "rejections", metadata,
    sa.Column("sidx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hotkey_id", sa.Integer, sa.ForeignKey("hotkeys.id"), primary_key=True, autoincrement=False),
    sa.Column("challenge", sa.Text, primary_key=True),  # "" = the whole payload
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)

drand_signatures = sa.Table(
    "drand_signatures", metadata,
    sa.Column("round", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
)

# Rounds that were due when the beacon was asked but no relay served them (a stored signature
# clears the mark): the payloads naming them are refused rather than waited for.
drand_unserved = sa.Table(
    "drand_unserved", metadata,
    sa.Column("round", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("checked_at", sa.Double, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)

embeddings = sa.Table(
    "embeddings", metadata,
    sa.Column("challenge", sa.Text, primary_key=True),
    sa.Column("sidx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),  # packed blob, see ledger.store
    sa.CheckConstraint(_source_check, name="source"),
)

prices = sa.Table(
    "prices", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("sidx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("value", sa.Double, nullable=True),  # NULL = NaN (no price)
    sa.Column("source", sa.Text, nullable=False),
    sa.CheckConstraint(_source_check, name="source"),
)

# A set of price keys read together (a multi-asset challenge's assets, in order) and its samples'
# values packed as one row each: a 33-asset panel reads one row per sample, not 33.
price_sets = sa.Table(
    "price_sets", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key_list", sa.Text, nullable=False, unique=True),  # JSON list of the keys, in order
)

price_vectors = sa.Table(
    "price_vectors", metadata,
    sa.Column("set_id", sa.Integer, sa.ForeignKey("price_sets.id"), primary_key=True, autoincrement=False),
    sa.Column("sidx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),  # float64 little-endian per key, NaN = missing
    sa.CheckConstraint(_source_check, name="source"),
)

metagraphs = sa.Table(
    "metagraphs", metadata,
    sa.Column("block", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("netuid", sa.Integer, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
)

metagraph_neurons = sa.Table(
    "metagraph_neurons", metadata,
    sa.Column("block", sa.BigInteger, sa.ForeignKey("metagraphs.block"), primary_key=True,
              autoincrement=False),
    sa.Column("uid", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("hotkey_id", sa.Integer, sa.ForeignKey("hotkeys.id"), nullable=False),
    sa.Column("coldkey", sa.Text, nullable=False),
    sa.Column("stake", sa.Double, nullable=False),
    sa.Column("registered_at", sa.BigInteger, nullable=False),
    sa.Column("validator_permit", sa.Boolean, nullable=False),
)

chain_params = sa.Table(
    "chain_params", metadata,  # ChainParams at a block (the epoch's last), read with its metagraph
    sa.Column("block", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("tempo", sa.Integer, nullable=False),
    sa.Column("weights_rate_limit", sa.BigInteger, nullable=False),
    sa.Column("max_weight_limit", sa.Integer, nullable=False),
    sa.Column("min_allowed_weights", sa.Integer, nullable=False),
    sa.Column("commit_reveal", sa.Boolean, nullable=False),
)

weights = sa.Table(
    "weights", metadata,
    sa.Column("epoch", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("block", sa.BigInteger, nullable=False),
    sa.Column("uids", sa.Text, nullable=False),  # JSON list[int]
    sa.Column("hotkeys", sa.Text, nullable=False),  # JSON list[str]
    sa.Column("weights", sa.Text, nullable=False),  # JSON list[float]
    sa.Column("u16", sa.Text, nullable=False),  # JSON list[int]
    sa.Column("meta", sa.Text, nullable=False),  # JSON object
)

submissions = sa.Table(
    "submissions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("epoch", sa.BigInteger, nullable=False, index=True),
    sa.Column("netuid", sa.Integer, nullable=False),
    sa.Column("block", sa.BigInteger, nullable=False),
    sa.Column("uids", sa.Text, nullable=False),  # JSON list[int]
    sa.Column("weights", sa.Text, nullable=False),  # JSON list[int] (u16 as sent)
    sa.Column("version_key", sa.BigInteger, nullable=False),
    sa.Column("hotkey", sa.Text, nullable=False),
    sa.Column("sent", sa.Boolean, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("recorded_at", sa.Double, nullable=False),
)

# The embedded devnet chain's state.
devnet_state = sa.Table(
    "devnet_state", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),  # JSON
)

devnet_neurons = sa.Table(
    "devnet_neurons", metadata,
    sa.Column("uid", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("hotkey", sa.Text, nullable=False),
    sa.Column("coldkey", sa.Text, nullable=False),
    sa.Column("stake", sa.Double, nullable=False),
    sa.Column("registered_at", sa.BigInteger, nullable=False),
    sa.Column("validator_permit", sa.Boolean, nullable=False),
)

devnet_commitments = sa.Table(
    "devnet_commitments", metadata,
    sa.Column("hotkey", sa.Text, primary_key=True),
    sa.Column("block", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("data", sa.Text, nullable=False),
)

devnet_weights = sa.Table(
    "devnet_weights", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("block", sa.BigInteger, nullable=False),
    sa.Column("hotkey", sa.Text, nullable=False, index=True),
    sa.Column("uids", sa.Text, nullable=False),  # JSON list[int]
    sa.Column("weights", sa.Text, nullable=False),  # JSON list[int]
    sa.Column("version_key", sa.BigInteger, nullable=False),
)

# -- Almanac trades: every pull of the trading history, and each record as fetched with the run of
# pulls that returned it (a position is first seen open and later settled: two versions). Reading
# the versions alive at pull P gives back exactly what pull P returned.

trade_pulls = sa.Table(
    "trade_pulls", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("pulled_at", sa.Double, nullable=False),
    sa.Column("pages", sa.Integer, nullable=False),
    sa.Column("records", sa.Integer, nullable=False),
    sa.Column("order", sa.LargeBinary, nullable=True),  # version ids in API order (ledger.store._pack_order)
)

trade_versions = sa.Table(
    "trade_versions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("digest", sa.LargeBinary, nullable=False),  # SHA-256 of `record`
    sa.Column("copies", sa.Integer, nullable=False),  # how many times one pull returned it
    sa.Column("first_pull", sa.Integer, sa.ForeignKey("trade_pulls.id"), nullable=False),
    sa.Column("last_pull", sa.Integer, nullable=False, index=True),
    sa.Column("day", sa.BigInteger, nullable=True, index=True),  # UTC completion day (days since 1970)
    sa.Column("record", sa.Text, nullable=False),  # canonical JSON (sorted keys, ASCII)
    sa.UniqueConstraint("digest", "copies", "first_pull"),
)

almanac_epochs = sa.Table(
    "almanac_epochs", metadata,  # what an epoch's Almanac scoring read, once: a rerun reads it again
    sa.Column("epoch", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("block", sa.BigInteger, nullable=False),  # the epoch's last block (its metagraph)
    sa.Column("boundary", sa.BigInteger, nullable=False),  # D: the UTC midnight, in days since 1970
    sa.Column("pull", sa.Integer, sa.ForeignKey("trade_pulls.id"), nullable=False),
    sa.Column("read_at", sa.Double, nullable=False),
    sa.Column("moving_price", sa.Double, nullable=True),  # alpha in TAO; NULL when it could not be read
    sa.Column("tao_usd", sa.Double, nullable=True),
    sa.Column("missing", sa.Text, nullable=True),  # why a budget input is NULL
    sa.Column("commitments", sa.Text, nullable=False),  # JSON {uid: commitment or null} at `block`
)

# -- Vesting: what each epoch read from the chain (its stake snapshots, classified flows and the
# factors it produced), undecodable stake events, and sparse checkpoints of the tranche ledger (the
# state between them is replayed from the epochs' flows: live tranches and changes, never a full
# copy per epoch).

vesting_epochs = sa.Table(
    "vesting_epochs", metadata,
    sa.Column("epoch", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("step_block", sa.BigInteger, nullable=True),  # the chain's step in the epoch (none: no emission)
    sa.Column("status", sa.Text, nullable=False),  # ok | fallback
    sa.Column("reason", sa.Text, nullable=True),  # why the epoch fell back
    sa.Column("undecoded", sa.Integer, nullable=False),  # stake events that could not be decoded
    sa.Column("chain", sa.LargeBinary, nullable=False),  # zlib JSON: snapshots (pre, post, opening)
    sa.Column("flows", sa.LargeBinary, nullable=False),  # zlib JSON: [block, coldkey, hotkey, kind, rao, reason]
    sa.Column("factors", sa.LargeBinary, nullable=False),  # zlib JSON: {hotkey: {uid, coldkey, h, d, m, ...}}
    sa.Column("recorded_at", sa.Double, nullable=False),
)

vesting_undecoded = sa.Table(
    "vesting_undecoded", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("epoch", sa.BigInteger, nullable=False, index=True),
    sa.Column("block", sa.BigInteger, nullable=False),
    sa.Column("extrinsic", sa.Integer, nullable=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
)

vesting_checkpoints = sa.Table(
    "vesting_checkpoints", metadata,  # the tranche ledger at the end of `epoch` (VestingLedger.dump)
    sa.Column("epoch", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("state", sa.LargeBinary, nullable=False),
)
