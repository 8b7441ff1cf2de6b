"""The ledger: everything the platform records, behind one SQLAlchemy URL.

`Ledger("sqlite:///path/ledger.db")` (the default, embedded) or
`Ledger("postgresql+psycopg2://user@host:port/db")` (production); the same code runs on both, with
dialect-specific `INSERT … ON CONFLICT` for idempotent writes. On SQLite every connection gets WAL
journaling, a 30 s busy timeout and foreign keys, and write transactions start with
`BEGIN IMMEDIATE` so that concurrent writers (a collection run, sensors, other runs) queue on the
busy timeout instead of failing on a lock upgrade. `Ledger(url)` upgrades the schema to the newest
migration (`ledger/migrations/`) unless `migrate=False`.

Writes are idempotent per key: writing a key that exists changes nothing (the methods return whether
or how many rows were new), except where a method says it replaces. Rows whose data can come from
bootstrap history or from live collection (samples, embeddings, prices) carry `source`
("bootstrap" or "live"). Bytes are stored as bytes, small structured values as JSON text (finite
numbers only); nothing read back is unpickled or evaluated.

Embedding blob
--------------
The validated vectors of one challenge at one sample are ONE row, `embeddings(challenge, sidx)`,
whose `data` is a packed blob (all integers little-endian):

    offset          size          field
    0               4             magic b"LEM1" (ledger embeddings, format 1)
    4               4             H: uint32, number of hotkeys in the row
    8               4             D: uint32, vector dimension (>= 1)
    12              4·H           hotkey ids: uint32, ids into `hotkeys(id, ss58)`, strictly increasing
    12+4H           ceil(H/8)     presence mask: bit i (LSB first within each byte, numpy
                                  packbits(bitorder="little")) set ⇔ hotkey i has a vector;
                                  padding bits are zero
    12+4H+⌈H/8⌉     2·P·D         vectors: float16 little-endian (IEEE binary16), row-major P × D,
                                  one row per PRESENT hotkey (P = popcount of the mask), in id order

Total length is exactly 12 + 4H + ⌈H/8⌉ + 2PD; any other length, a wrong magic, unsorted ids or
set padding bits make the blob unreadable (ValueError). The float16 values are the given floats
rounded to nearest, ties to even (numpy `astype(float16)` from the dtype they arrive in, without an
intermediate float32 step), and are always finite. An absent hotkey has no vector at all, so a
present all-zero vector stays distinct from "absent". Reading casts to float32 (or keeps float16:
`Ledger.embeddings(dtype=np.float16)`) and puts NaN where a hotkey is absent or not listed in a row.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import threading
import weakref
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import StaticPool

from ledger import migrations
from ledger import schema as t
from resources.chain_types import ChainParams, Commitment, Metagraph, Neuron, WeightsReceipt

SQLITE_BUSY_TIMEOUT_MS = 30_000
_PG_MIGRATION_LOCK = 0x6C_65_64_67_65_72  # "ledger": serialises concurrent migrate() calls
_CHUNK = 900  # bound on IN (...) lists and rows per statement
_STREAM_ROWS = 256  # embedding rows fetched at a time while streaming (a 33 × 256 row is 17 kB)
_FEW_ROWS = _CHUNK  # `embeddings(rows=…)` with at most this many rows looks them up by index (an IN list)
PLANTED_ROLES = "roles"  # devnet key: hotkey → planted role
_SENDING = "sending"  # weights meta key: the vector is being sent (Ledger.sending_weights)
_DAY0 = dt.date(1970, 1, 1)
_INT64 = (-(2**63), 2**63 - 1)

# ----------------------------------------------------------------------------------------------
# Row types


@dataclass(frozen=True)
class Sample:
    sidx: int
    block: int
    taken_at: float
    source: str  # "bootstrap" | "live"
    status: str  # "taken" | "missed"
    reason: str


@dataclass(frozen=True)
class RawPayload:
    sidx: int
    hotkey: str
    url: str
    status: str
    body: bytes | None
    reason: str
    round: int | None
    fetched_at: float


@dataclass(frozen=True)
class Rejection:
    sidx: int
    hotkey: str
    reason: str
    detail: str
    challenge: str = ""  # "" = the whole payload


@dataclass(frozen=True)
class StoredWeights:
    epoch: int
    block: int
    uids: tuple[int, ...]
    hotkeys: tuple[str, ...]
    weights: tuple[float, ...]
    u16: tuple[int, ...]
    meta: dict


@dataclass(frozen=True)
class Submission:
    epoch: int
    block: int
    uids: tuple[int, ...]
    weights: tuple[int, ...]
    version_key: int
    hotkey: str
    sent: bool
    detail: str
    forced: bool
    recorded_at: float


@dataclass(frozen=True)
class TradePull:
    id: int
    pulled_at: float
    pages: int
    records: int


@dataclass(frozen=True)
class AlmanacEpoch:
    """What one epoch's Almanac scoring read: kept at first read, so a rerun or an export sees it again."""

    epoch: int
    block: int  # the epoch's last block: its metagraph
    boundary: dt.date  # D: the scored days are the window before it
    pull: int  # the trade pull it reads
    read_at: float
    moving_price: float | None  # alpha price in TAO (None: could not be read, see `missing`)
    tao_usd: float | None
    missing: str | None
    commitments: dict[int, str | None]  # uid → its commitment at `block`


@dataclass(frozen=True)
class VestingEpoch:
    """What one epoch's vesting read from the chain and what it produced (vesting_bettensor.md §3, §4)."""

    epoch: int
    step_block: int | None  # the chain's step in the epoch; None: no step, no emission
    status: str  # ok | fallback (the factors are the previous epoch's; `reason` says why) | inactive (before activation)
    reason: str | None
    undecoded: int  # stake events that could not be decoded (kept in vesting_undecoded)
    chain: dict  # {"pre": [[coldkey, hotkey, rao]], "post": [...], "opening": {coldkey: rao} | None}
    flows: list  # [[block, coldkey, hotkey | None, kind, rao, reason]] in booking order
    factors: dict  # {hotkey: {"uid", "coldkey", "h", "d", "m", "rule", "stake", "qualified"}}
    recorded_at: float


def _blob(value: Any) -> bytes:
    return zlib.compress(_json(value).encode(), 6)


def _unblob(blob: bytes) -> Any:
    return json.loads(zlib.decompress(bytes(blob)))


# ----------------------------------------------------------------------------------------------
# Embedding blobs

_MAGIC = b"LEM1"
_HEADER = struct.Struct("<4sII")


def pack_embedding_blob(ids: np.ndarray, present: np.ndarray, vectors: np.ndarray) -> bytes:
    """Pack hotkey ids (H,), presence (H,) bool and the present rows' float16 vectors (P, D)."""
    ids = np.asarray(ids)
    present = np.asarray(present, dtype=bool)
    vectors = np.asarray(vectors)
    if ids.ndim != 1 or present.shape != ids.shape:
        raise ValueError("ids and present must be 1-D of the same length")
    if vectors.dtype != np.float16 or vectors.ndim != 2 or vectors.shape[0] != int(present.sum()):
        raise ValueError("vectors must be float16 of shape (number present, D)")
    if not np.isfinite(vectors).all():
        raise ValueError("vectors must be finite")
    return b"".join((_blob_head(ids, vectors.shape[1]), np.packbits(present, bitorder="little").tobytes(),
                     np.ascontiguousarray(vectors, dtype="<f2").tobytes()))


def _blob_head(ids: np.ndarray, dim: int) -> bytes:
    """A blob's header and hotkey ids: the part every sample of one write shares."""
    if ids.size and (ids.min() < 0 or ids.max() > 0xFFFF_FFFF or np.any(np.diff(ids) <= 0)):
        raise ValueError("hotkey ids must be strictly increasing uint32")
    if dim < 1:
        raise ValueError("dimension must be at least 1")
    return _HEADER.pack(_MAGIC, ids.size, dim) + ids.astype("<u4").tobytes()


def _blob_ids(blob: bytes) -> tuple[bytes, int]:
    """(the hotkey ids' bytes, D) from a blob's header alone; ValueError if the header is not one."""
    blob = bytes(blob)
    if len(blob) < _HEADER.size:
        raise ValueError("embedding blob: shorter than its header")
    magic, h, d = _HEADER.unpack_from(blob)
    if magic != _MAGIC or d < 1 or len(blob) < _HEADER.size + 4 * h:
        raise ValueError("embedding blob: bad magic, dimension or length")
    return blob[_HEADER.size : _HEADER.size + 4 * h], d


def unpack_embedding_blob(blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids (H,) int64, present (H,) bool, vectors (P, D) float16) from a blob; ValueError if corrupt."""
    ids, present, vectors = _unpack(blob)
    return _checked_ids(ids), present, vectors


def _unpack(blob: bytes) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(the hotkey ids' bytes, present, vectors) with every check but the ids' order, which a reader
    of many rows listing the same hotkeys makes once (`_checked_ids`)."""
    blob = bytes(blob)
    if len(blob) < _HEADER.size:
        raise ValueError("embedding blob: shorter than its header")
    magic, h, d = _HEADER.unpack_from(blob)
    if magic != _MAGIC or d < 1:
        raise ValueError("embedding blob: bad magic or dimension")
    mask_len = (h + 7) // 8
    off_mask = _HEADER.size + 4 * h
    off_vec = off_mask + mask_len
    if len(blob) < off_vec:
        raise ValueError("embedding blob: truncated")
    bits = np.unpackbits(np.frombuffer(blob, dtype=np.uint8, count=mask_len, offset=off_mask), bitorder="little")
    if bits[h:].any():
        raise ValueError("embedding blob: padding bits set in the presence mask")
    present = bits[:h].astype(bool)
    p = int(present.sum())
    if len(blob) != off_vec + 2 * p * d:
        raise ValueError(f"embedding blob: {len(blob)} bytes, expected {off_vec + 2 * p * d}")
    vectors = np.frombuffer(blob, dtype="<f2", count=p * d, offset=off_vec).reshape(p, d)
    return blob[_HEADER.size : off_mask], present, vectors


def _checked_ids(ids: bytes) -> np.ndarray:
    out = np.frombuffer(ids, dtype="<u4").astype(np.int64)
    if len(out) > 1 and np.any(np.diff(out) <= 0):
        raise ValueError("embedding blob: hotkey ids not strictly increasing")
    return out


# ----------------------------------------------------------------------------------------------
# Engine


_ENGINES: "weakref.WeakSet[sa.Engine]" = weakref.WeakSet()


def _forget_connections_in_child() -> None:
    """A forked process (the devnet run's scoring workers) must not use its parent's pooled
    connections: it opens its own, and leaves the parent's to the parent."""
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_connections_in_child)


def make_engine(url: str) -> sa.Engine:
    """An engine for `url` with the ledger's connection settings (see the module docstring)."""
    u = sa.make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        memory = u.database in (None, "", ":memory:")
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        if memory:
            kwargs["poolclass"] = StaticPool
        else:
            Path(u.database).resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(u, **kwargs)
        _sqlite_events(engine, wal=not memory)
        _ENGINES.add(engine)
        return engine
    if backend == "postgresql":
        engine = sa.create_engine(u, pool_pre_ping=True)
        _ENGINES.add(engine)
        return engine
    raise ValueError(f"unsupported ledger database {backend!r}: use sqlite or postgresql")


def _sqlite_events(engine: sa.Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        # Let SQLAlchemy's "begin" event (below) issue BEGIN instead of the sqlite3 module, which
        # would defer it to the first DML statement (and never begin before DDL).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if wal:
                cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA foreign_keys = ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        write = conn.get_execution_options().get("ledger_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


# ----------------------------------------------------------------------------------------------
# Small value helpers


def _json(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except ValueError as e:
        raise ValueError(f"ledger JSON values must be finite: {e}") from None


def _pack_order(ids: np.ndarray) -> bytes:
    """A pull's version ids in API order: deltas (mostly small) as int64, zlib-compressed."""
    return zlib.compress(np.diff(ids, prepend=0).astype("<i8").tobytes(), 6)


def _unpack_order(blob: bytes) -> np.ndarray:
    return np.cumsum(np.frombuffer(zlib.decompress(bytes(blob)), dtype="<i8"))


def _int_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in json.loads(text))


MAX_TEXT = 4096  # characters of an untrusted text (URL, reason, detail) kept


def safe_text(value: str, limit: int = MAX_TEXT) -> str:
    """Untrusted text as every supported database stores it: NUL and lone surrogates escaped.

    PostgreSQL refuses NUL in text and psycopg2 cannot encode a lone surrogate, so one miner's URL
    or an error message quoting its bytes would roll back a whole sample there. Both become visible
    backslash escapes (as Python writes them); text longer than `limit` is cut with an ellipsis.
    """
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _commitment_text(stored: str) -> str:
    """A devnet commitment as committed: JSON text, or (ledgers written before) the plain URL."""
    return json.loads(stored) if stored.startswith('"') else stored


def _check_source(source: str) -> None:
    if source not in t.SOURCES:
        raise ValueError(f"source must be one of {t.SOURCES}, not {source!r}")


def _check_int64(name: str, value: int | None) -> None:
    if value is not None and not _INT64[0] <= value <= _INT64[1]:
        raise ValueError(f"{name} {value} does not fit a signed 64-bit column")


def _chunks(items: Sequence, n: int = _CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


# ----------------------------------------------------------------------------------------------
# The ledger


class Ledger:
    """Samples, payloads, rejections, drand signatures, embeddings, prices, metagraph snapshots,
    weights, submissions and the devnet chain's state, in one SQLite or PostgreSQL database."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine: sa.Engine = make_engine(url)
        self._dialect = self.engine.dialect.name
        self._writer = self.engine.execution_options(ledger_write=True)
        self._local = threading.local()
        if migrate:
            self.migrate()

    def __repr__(self) -> str:
        return f"Ledger({self.engine.url!r})"

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    # -- lifecycle ---------------------------------------------------------------------------

    def migrate(self) -> None:
        """Upgrade the schema to the newest revision (a no-op when it is there already)."""
        with self._writer.begin() as conn:  # never inside a caller's transaction
            if self._dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            migrations.upgrade(conn)

    def dispose(self) -> None:
        """Close pooled connections (the ledger can be used again afterwards; it reconnects)."""
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make this thread's writes inside the block one transaction: one commit, all or nothing.

        Bulk writers (a bootstrap history) use it because a commit per row costs a disk sync.
        Nested blocks join the outer one.
        """
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self._writer.begin() as conn:
            self._local.conn, self._local.ids = conn, {}
            try:
                yield
            finally:
                self._local.conn = self._local.ids = None

    # -- internals ---------------------------------------------------------------------------

    def _read(self) -> AbstractContextManager[sa.Connection]:
        """Inside `transaction()`, its connection (read your own writes); else a fresh one."""
        conn = getattr(self._local, "conn", None)
        return nullcontext(conn) if conn is not None else self.engine.connect()

    @contextmanager
    def _snapshot_read(self) -> Iterator[sa.Connection]:
        """`_read`, with every statement seeing one snapshot: SQLite's deferred BEGIN holds its
        snapshot from the first read; PostgreSQL's default (read committed) would not, so a fresh
        connection reads at repeatable read."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        with self.engine.connect() as conn:
            if self._dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn

    def _write(self) -> AbstractContextManager[sa.Connection]:
        conn = getattr(self._local, "conn", None)
        return nullcontext(conn) if conn is not None else self._writer.begin()

    def _insert(self, table: sa.Table):  # noqa: ANN202
        return (sqlite.insert if self._dialect == "sqlite" else postgresql.insert)(table)

    def _insert_new(self, conn: sa.Connection, table: sa.Table, rows: list[dict], key: Sequence[str]) -> int:
        """INSERT … ON CONFLICT DO NOTHING; the number of rows that were new."""
        if not rows:
            return 0
        stmt = self._insert(table).on_conflict_do_nothing(index_elements=list(key))
        stmt = stmt.returning(table.c[key[0]])
        return sum(len(conn.execute(stmt, list(chunk)).all()) for chunk in _chunks(rows))

    def _upsert(self, conn: sa.Connection, table: sa.Table, rows: list[dict], key: Sequence[str]) -> int:
        """INSERT … ON CONFLICT DO UPDATE (replace the non-key columns); rows written."""
        if not rows:
            return 0
        stmt = self._insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key),
            set_={c: stmt.excluded[c] for c in rows[0] if c not in key},
        )
        for chunk in _chunks(rows):
            conn.execute(stmt, list(chunk))
        return len(rows)

    def _hotkey_ids(self, conn: sa.Connection, names: Iterable[str]) -> dict[str, int]:
        """Ids of `names` in the hotkeys dictionary, adding the ones not there yet."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        for name in wanted:
            if not isinstance(name, str) or not name:
                raise ValueError(f"hotkey must be a non-empty string, not {name!r}")
        # Inside transaction() ids are remembered until it ends (a rollback takes them with it).
        cache = getattr(self._local, "ids", None)
        if cache is not None and all(name in cache for name in wanted):
            return {name: cache[name] for name in wanted}
        out = self._select_hotkey_ids(conn, wanted)
        missing = [s for s in wanted if s not in out]
        if missing:
            stmt = self._insert(t.hotkeys).on_conflict_do_nothing(index_elements=["ss58"])
            for chunk in _chunks(missing):
                conn.execute(stmt, [{"ss58": s} for s in chunk])
            out.update(self._select_hotkey_ids(conn, missing))
        if cache is not None:
            cache.update(out)
        return out

    @staticmethod
    def _select_hotkey_ids(conn: sa.Connection, names: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in _chunks(names):
            q = sa.select(t.hotkeys.c.ss58, t.hotkeys.c.id).where(t.hotkeys.c.ss58.in_(chunk))
            out.update(tuple(row) for row in conn.execute(q))
        return out

    def _hotkey_names(self, conn: sa.Connection, ids: Iterable[int]) -> dict[int, str]:
        wanted = sorted({int(i) for i in ids})
        out: dict[int, str] = {}
        for chunk in _chunks(wanted):
            q = sa.select(t.hotkeys.c.id, t.hotkeys.c.ss58).where(t.hotkeys.c.id.in_(chunk))
            out.update(tuple(row) for row in conn.execute(q))
        missing = set(wanted) - out.keys()
        if missing:
            raise ValueError(f"hotkey ids {sorted(missing)[:5]} are not in the hotkeys table")
        return out

    # -- samples -----------------------------------------------------------------------------

    def record_sample(self, sidx: int, block: int, taken_at: float, *, source: str = "live",
                      status: str = "taken", reason: str = "") -> bool:
        """Record sample `sidx` (taken at `block`, or missed with a reason); True if it was new."""
        _check_source(source)
        if status not in t.SAMPLE_STATUSES:
            raise ValueError(f"status must be one of {t.SAMPLE_STATUSES}, not {status!r}")
        _check_int64("sidx", sidx)
        row = {"sidx": int(sidx), "block": int(block), "taken_at": float(taken_at), "source": source,
               "status": status, "reason": safe_text(reason)}
        with self._write() as conn:
            return self._insert_new(conn, t.samples, [row], ["sidx"]) == 1

    def record_samples_taken(self, samples: Sequence[tuple[int, int, float]], *, source: str) -> set[int]:
        """Record many taken samples ((sidx, block, taken_at), a bootstrap's days) in one statement;
        returns the sidx that were new."""
        _check_source(source)
        rows = []
        for sidx, block, taken_at in samples:
            _check_int64("sidx", sidx)
            rows.append({"sidx": int(sidx), "block": int(block), "taken_at": float(taken_at), "source": source,
                         "status": "taken", "reason": ""})
        if not rows:
            return set()
        stmt = self._insert(t.samples).on_conflict_do_nothing(index_elements=["sidx"]).returning(t.samples.c.sidx)
        with self._write() as conn:
            return {int(r[0]) for chunk in _chunks(rows) for r in conn.execute(stmt, list(chunk)).all()}

    def samples(self, lo: int, hi: int) -> list[Sample]:
        """Samples with sidx in [lo, hi), ascending."""
        s = t.samples.c
        q = (sa.select(s.sidx, s.block, s.taken_at, s.source, s.status, s.reason)
             .where(s.sidx >= lo, s.sidx < hi).order_by(s.sidx))
        with self._read() as conn:
            return [Sample(*r) for r in conn.execute(q).tuples()]

    # -- raw payloads and rejections --------------------------------------------------------

    def record_payloads(self, rows: Iterable[RawPayload]) -> int:
        """Record downloaded payloads, one per (sidx, hotkey); returns how many were new."""
        first: dict[tuple[int, str], RawPayload] = {}
        for r in rows:
            _check_int64("round", r.round)
            _check_int64("sidx", r.sidx)
            if r.body is not None and not isinstance(r.body, (bytes, bytearray, memoryview)):
                raise TypeError(f"payload body must be bytes or None, not {type(r.body).__name__}")
            first.setdefault((int(r.sidx), r.hotkey), r)
        if not first:
            return 0
        with self._write() as conn:
            ids = self._hotkey_ids(conn, (h for _, h in first))
            values = [
                {"sidx": sidx, "hotkey_id": ids[hk], "url": safe_text(r.url), "status": safe_text(r.status, 64),
                 "body": None if r.body is None else bytes(r.body), "reason": safe_text(r.reason),
                 "round": None if r.round is None else int(r.round), "fetched_at": float(r.fetched_at)}
                for (sidx, hk), r in first.items()
            ]
            return self._insert_new(conn, t.raw_payloads, values, ["sidx", "hotkey_id"])

    def raw_payloads(self, lo: int, hi: int, hotkey: str | None = None) -> list[RawPayload]:
        """Payloads with sidx in [lo, hi) (of one hotkey if given), by (sidx, hotkey)."""
        p, h = t.raw_payloads.c, t.hotkeys.c
        q = (sa.select(p.sidx, h.ss58, p.url, p.status, p.body, p.reason, p.round, p.fetched_at)
             .join_from(t.raw_payloads, t.hotkeys, p.hotkey_id == h.id)
             .where(p.sidx >= lo, p.sidx < hi).order_by(p.sidx, h.ss58))
        if hotkey is not None:
            q = q.where(h.ss58 == hotkey)
        with self._read() as conn:
            return [
                RawPayload(sidx, hk, url, status, None if body is None else bytes(body), reason, rnd, at)
                for sidx, hk, url, status, body, reason, rnd, at in conn.execute(q).tuples()
            ]

    def payload_rounds(self, lo: int, hi: int) -> dict[int, set[int]]:
        """The rounds named by payloads with sidx in [lo, hi), by sample; bodies are not read
        (the reveal sensor asks this of every waiting epoch on every tick)."""
        p = t.raw_payloads.c
        q = sa.select(p.sidx, p.round).distinct().where(p.sidx >= lo, p.sidx < hi, p.round.is_not(None))
        out: dict[int, set[int]] = {}
        with self._read() as conn:
            for sidx, rnd in conn.execute(q).tuples():
                out.setdefault(int(sidx), set()).add(int(rnd))
        return out

    def payload_statuses(self, lo: int, hi: int) -> dict[str, int]:
        """How many payloads with sidx in [lo, hi) have each status; bodies are not read."""
        p = t.raw_payloads.c
        q = sa.select(p.status, sa.func.count()).where(p.sidx >= lo, p.sidx < hi).group_by(p.status)
        with self._read() as conn:
            return {status: int(n) for status, n in conn.execute(q).tuples()}

    def latest_payload_sidx(self, hotkey: str) -> int | None:
        """The newest sample holding a payload row of `hotkey` (None if it has none): where an
        operator looking into one miner starts."""
        p, h = t.raw_payloads.c, t.hotkeys.c
        q = (sa.select(sa.func.max(p.sidx)).join_from(t.raw_payloads, t.hotkeys, p.hotkey_id == h.id)
             .where(h.ss58 == hotkey))
        with self._read() as conn:
            sidx = conn.execute(q).scalar_one_or_none()
        return None if sidx is None else int(sidx)

    def record_rejections(self, rows: Iterable[Rejection]) -> int:
        """Record why payloads (or one challenge of one) were rejected, keyed (sidx, hotkey,
        challenge); an existing key is replaced. Returns the number of rows written."""
        last: dict[tuple[int, str, str], Rejection] = {}
        for r in rows:
            last[(int(r.sidx), r.hotkey, r.challenge)] = r
        if not last:
            return 0
        with self._write() as conn:
            ids = self._hotkey_ids(conn, (h for _, h, _ in last))
            values = [
                {"sidx": sidx, "hotkey_id": ids[hk], "challenge": ch, "reason": safe_text(r.reason, 64),
                 "detail": safe_text(r.detail)}
                for (sidx, hk, ch), r in last.items()
            ]
            return self._upsert(conn, t.rejections, values, ["sidx", "hotkey_id", "challenge"])

    @contextmanager
    def replacing_reveal(self, lo: int, hi: int, challenges: Iterable[str]) -> Iterator[None]:
        """One transaction in which a reveal states samples [lo, hi) afresh for `challenges`: their
        live embeddings and rejections (with the whole-payload ones, challenge "") are deleted on
        entry, and what the block stores takes their place, all or nothing. A rerun thus corrects both
        together: no vector stays that a reason now refuses, and no reason stays that no longer holds.
        Bootstrap rows are not the reveal's and stay, as do rows of challenges the reveal does not
        state (one since dropped from the profile keeps its history).
        """
        names = sorted(set(challenges))
        e, r = t.embeddings.c, t.rejections.c
        with self.transaction(), self._write() as conn:
            conn.execute(sa.delete(t.embeddings).where(e.sidx >= lo, e.sidx < hi, e.source == "live",
                                                       e.challenge.in_(names)))
            conn.execute(sa.delete(t.rejections).where(r.sidx >= lo, r.sidx < hi, r.challenge.in_([""] + names)))
            yield

    def rejections(self, lo: int, hi: int, hotkey: str | None = None) -> list[Rejection]:
        """Rejections with sidx in [lo, hi) (of one hotkey if given), by (sidx, hotkey, challenge)."""
        r, h = t.rejections.c, t.hotkeys.c
        q = (sa.select(r.sidx, h.ss58, r.reason, r.detail, r.challenge)
             .join_from(t.rejections, t.hotkeys, r.hotkey_id == h.id)
             .where(r.sidx >= lo, r.sidx < hi).order_by(r.sidx, h.ss58, r.challenge))
        if hotkey is not None:
            q = q.where(h.ss58 == hotkey)
        with self._read() as conn:
            return [Rejection(*row) for row in conn.execute(q).tuples()]

    # -- drand -------------------------------------------------------------------------------

    def store_signatures(self, signatures: Mapping[int, bytes]) -> int:
        """Store verified 48-byte round signatures; returns how many rounds were new."""
        rows = []
        for rnd, sig in signatures.items():
            _check_int64("round", rnd)
            sig = bytes(sig)
            if len(sig) != 48:
                raise ValueError(f"round {rnd}: a drand signature has 48 bytes, not {len(sig)}")
            rows.append({"round": int(rnd), "signature": sig})
        with self._write() as conn:
            new = self._insert_new(conn, t.drand_signatures, rows, ["round"])
            u = t.drand_unserved.c
            for chunk in _chunks([r["round"] for r in rows]):
                conn.execute(sa.delete(t.drand_unserved).where(u.round.in_(chunk)))
            return new

    def mark_unserved(self, rounds: Mapping[int, str], checked_at: float) -> int:
        """Record rounds that were due but no relay served (round → why); a round whose signature
        is stored meanwhile is left alone. Returns how many marks were written."""
        rows = [{"round": int(r), "checked_at": float(checked_at), "detail": safe_text(d)} for r, d in rounds.items()]
        for r in rows:
            _check_int64("round", r["round"])
        have = self.signatures(r["round"] for r in rows)
        with self._write() as conn:
            return self._upsert(conn, t.drand_unserved, [r for r in rows if r["round"] not in have], ["round"])

    def unserved(self, rounds: Iterable[int]) -> dict[int, str]:
        """The rounds among `rounds` marked unserved, with why."""
        return self._by_round(t.drand_unserved.c.detail, rounds)

    def signatures(self, rounds: Iterable[int]) -> dict[int, bytes]:
        """The stored signatures among `rounds`."""
        return {r: bytes(sig) for r, sig in self._by_round(t.drand_signatures.c.signature, rounds).items()}

    def _by_round(self, column: sa.Column, rounds: Iterable[int]) -> dict[int, Any]:
        """{round: `column`} for the rows of `column`'s table among `rounds` (beyond 64 bits: none)."""
        wanted = sorted({int(r) for r in rounds if _INT64[0] <= int(r) <= _INT64[1]})
        key = column.table.c["round"]
        out: dict[int, Any] = {}
        with self._read() as conn:
            for chunk in _chunks(wanted):
                out.update({r: v for r, v in conn.execute(sa.select(key, column).where(key.in_(chunk))).tuples()})
        return out

    # -- embeddings --------------------------------------------------------------------------

    def store_embeddings(self, challenge: str, sidx: int, hotkeys: Sequence[str], values: np.ndarray,
                         present: np.ndarray, *, source: str = "live") -> bool:
        """Store one challenge's vectors at one sample as a packed float16 blob (module docstring).

        `values` (H, D) holds row i for `hotkeys[i]`, `present` (H,) bool says which rows are
        vectors (the others are ignored, whatever they hold). Present values must be finite and
        within float16 range. True if (challenge, sidx) was new; an existing row is left alone."""
        return self.store_embeddings_many(challenge, [sidx], hotkeys, np.asarray(values)[None],
                                          np.asarray(present)[None], source=source) == 1

    def store_embeddings_many(self, challenge: str, sidxs: Sequence[int], hotkeys: Sequence[str], values: np.ndarray,
                              present: np.ndarray, *, source: str = "live") -> int:
        """`store_embeddings` for many samples of one challenge in one statement (a bootstrap's days):
        `values` (N, H, D) and `present` (N, H) for sidxs (N,). Returns how many samples were new."""
        _check_source(source)
        for sidx in sidxs:
            _check_int64("sidx", sidx)
        hotkeys = list(hotkeys)
        values = np.asarray(values)
        present = np.asarray(present)
        if values.ndim != 3 or values.shape[2] < 1 or values.shape[0] != len(sidxs):
            raise ValueError(f"values must be (N, H, D) with D >= 1 for {len(sidxs)} samples, got shape {values.shape}")
        if present.dtype != np.bool_ or present.shape != values.shape[:2]:
            raise ValueError(f"present must be bool of shape {values.shape[:2]}")
        if len(hotkeys) != values.shape[1]:
            raise ValueError(f"{len(hotkeys)} hotkeys for {values.shape[1]} rows")
        if len(set(hotkeys)) != len(hotkeys):
            raise ValueError("hotkeys must be distinct")
        if values.dtype.kind in "biu":
            values = values.astype(np.float64)
        elif values.dtype.kind != "f":
            raise ValueError(f"values must be numeric, not {values.dtype}")
        with self._write() as conn:
            ids_of = self._hotkey_ids(conn, hotkeys)
            ids = np.array([ids_of[h] for h in hotkeys], dtype=np.int64)
            order = np.argsort(ids, kind="stable")
            head = _blob_head(ids[order], values.shape[2])
            present = present[:, order]
            # Round straight from the given dtype (numpy rounds to nearest, ties to even), all samples at once.
            with np.errstate(over="ignore", invalid="ignore"):
                vectors = values[:, order].astype("<f2")
            bad = present & ~np.isfinite(vectors).all(axis=2)
            if bad.any():
                n = int(np.flatnonzero(bad.any(axis=1))[0])
                names = [hotkeys[i] for i in order[bad[n]]][:5]
                raise ValueError(f"{challenge} sidx {sidxs[n]}: non-finite or beyond float16 range for {names}")
            masks = np.packbits(present, axis=1, bitorder="little")
            rows = [{"challenge": challenge, "sidx": int(sidx), "source": source,
                     "data": b"".join((head, masks[n].tobytes(), vectors[n][present[n]].tobytes()))}
                    for n, sidx in enumerate(sidxs)]
            return self._insert_new(conn, t.embeddings, rows, ["challenge", "sidx"])

    def embeddings(self, challenge: str, lo: int, hi: int, *, dtype: type = np.float32,
                   rows: np.ndarray | None = None, among: Iterable[str] | None = None,
                   dim: int | None = None) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
        """(sidx (T,) int64 ascending, hotkeys (sorted union over the rows read), values (T, H, D)
        with NaN where a hotkey has no vector) for sidx in [lo, hi).

        `dtype` float32 (default) or float16: the stored precision itself, exact and half the
        memory. `rows` (ascending sidx): the output's rows are exactly these (all NaN where the
        ledger has no row; ledger rows at other sidx are skipped, and a few rows are looked up by
        index rather than streamed past). `among`: only these hotkeys' columns. `dim`: D when no
        row is read (else each row must have it).

        The blobs are streamed twice in one read transaction, never held: once for the hotkeys
        (and the rows), once to fill the array, so the array is the only large allocation.
        """
        dtype = np.dtype(dtype)
        if dtype not in (np.float16, np.float32, np.float64):
            raise ValueError(f"dtype must be float16, float32 or float64, not {dtype}")
        e = t.embeddings.c
        q = sa.select(e.sidx, e.data).where(e.challenge == challenge, e.sidx >= lo, e.sidx < hi)
        wanted_rows = None if rows is None else set(np.asarray(rows, dtype=np.int64).tolist())
        if wanted_rows is not None and len(wanted_rows) <= _FEW_ROWS:
            q = q.where(e.sidx.in_(sorted(wanted_rows)))
        q = q.order_by(e.sidx).execution_options(yield_per=_STREAM_ROWS)
        wanted = None if among is None else set(among)
        with self._snapshot_read() as conn:
            seen: set[int] = set()
            got_sidx: list[int] = []
            dims: set[int] = set()
            last_ids = None
            for s, blob in conn.execute(q).tuples():  # the headers only: rows are checked as they are read
                if wanted_rows is not None and s not in wanted_rows:
                    continue
                ids, width = _blob_ids(blob)
                if ids != last_ids:  # consecutive rows mostly list the same hotkeys
                    seen.update(np.frombuffer(ids, dtype="<u4").tolist())
                    last_ids = ids
                got_sidx.append(int(s))
                dims.add(width)
            if dims and dim is not None:
                dims.add(dim)
            if len(dims) > 1:
                raise ValueError(f"{challenge}: rows in [{lo}, {hi}) have different dimensions {sorted(dims)}")
            width = dims.pop() if dims else (dim or 0)
            names = self._hotkey_names(conn, seen)
            if wanted is not None:
                names = {i: h for i, h in names.items() if h in wanted}
            hotkeys = tuple(sorted(names.values()))
            sidx = np.array(got_sidx, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
            if rows is not None and (sidx.ndim != 1 or np.any(np.diff(sidx) <= 0)):
                raise ValueError("rows must be strictly increasing sample indices")
            out = np.full((len(sidx), len(hotkeys), width), np.nan, dtype=dtype)
            if not hotkeys or not len(sidx):
                return sidx, hotkeys, out
            col_of = {h: j for j, h in enumerate(hotkeys)}
            col_by_id = {i: col_of[h] for i, h in names.items()}
            last_ids, cols = None, None
            for s, blob in conn.execute(q).tuples():
                k = int(np.searchsorted(sidx, s))
                if k == len(sidx) or sidx[k] != s:
                    continue
                ids, pres, vec = _unpack(blob)
                if ids != last_ids:  # the output column of each listed hotkey, −1 if not among them
                    cols = np.array([col_by_id.get(i, -1) for i in _checked_ids(ids).tolist()], dtype=np.int64)
                    last_ids = ids
                at = cols[pres]
                ok = at >= 0
                out[k, at[ok]] = vec[ok]
        return sidx, hotkeys, out

    def embedding_sources(self, challenge: str, lo: int, hi: int) -> dict[str, int]:
        """source → number of embedding rows of `challenge` with sidx in [lo, hi)."""
        e = t.embeddings.c
        q = (sa.select(e.source, sa.func.count()).where(e.challenge == challenge, e.sidx >= lo, e.sidx < hi)
             .group_by(e.source))
        with self._read() as conn:
            return {src: int(n) for src, n in conn.execute(q).tuples()}

    # -- prices ------------------------------------------------------------------------------

    def store_prices(self, sidx: int, prices: Mapping[str, float], *, source: str = "live") -> int:
        """Store the price snapshot of sample `sidx`, one row per key (NaN stored as NULL);
        returns how many keys were new."""
        return self.store_prices_many({sidx: prices}, source=source)

    def store_prices_many(self, snapshots: Mapping[int, Mapping[str, float]], *, source: str = "live") -> int:
        """`store_prices` for many samples ({sidx: {key: price}}) in one statement."""
        _check_source(source)
        rows = []
        for sidx, prices in snapshots.items():
            _check_int64("sidx", sidx)
            for key, value in prices.items():
                v = float(value)
                rows.append({"key": str(key), "sidx": int(sidx), "value": None if math.isnan(v) else v,
                             "source": source})
        with self._write() as conn:
            return self._insert_new(conn, t.prices, rows, ["key", "sidx"])

    def prices(self, key: str, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """(sidx int64, values float64 with NaN for missing prices) for sidx in [lo, hi)."""
        p = t.prices.c
        q = sa.select(p.sidx, p.value).where(p.key == key, p.sidx >= lo, p.sidx < hi).order_by(p.sidx)
        with self._read() as conn:
            rows = conn.execute(q).all()
        sidx = np.array([r[0] for r in rows], dtype=np.int64)
        vals = np.array([np.nan if r[1] is None else r[1] for r in rows], dtype=np.float64)
        return sidx, vals

    def _price_set_id(self, conn: sa.Connection, keys: Sequence[str], *, create: bool) -> int | None:
        text = json.dumps(list(keys), separators=(",", ":"))
        ps = t.price_sets.c
        found = conn.execute(sa.select(ps.id).where(ps.key_list == text)).scalar()
        if found is None and create:
            conn.execute(self._insert(t.price_sets).on_conflict_do_nothing(index_elements=["key_list"]), [{"key_list": text}])
            found = conn.execute(sa.select(ps.id).where(ps.key_list == text)).scalar()
        return None if found is None else int(found)

    def store_snapshots(self, snapshots: Mapping[int, Mapping[str, float]], layout: tuple[Sequence[str], Sequence[Sequence[str]]],
                        *, source: str = "live") -> None:
        """Samples' price snapshots ({sidx: {key: value}}) kept as `layout` says (`Profile.price_layout`:
        single keys as rows of their own, each key set as one packed row a sample), in one transaction."""
        single, sets = layout
        with self.transaction():
            self.store_prices_many({s: {k: snap[k] for k in single} for s, snap in snapshots.items()}, source=source)
            for keys in sets:
                self.store_price_vectors(keys, {s: [snap[k] for k in keys] for s, snap in snapshots.items()}, source=source)

    def store_price_vectors(self, keys: Sequence[str], snapshots: Mapping[int, Sequence[float]], *,
                            source: str = "live") -> int:
        """The values of `keys` (a set read together: a multi-asset challenge's assets, in order) at many
        samples ({sidx: K values, NaN = missing}), one packed row a sample; returns how many samples
        were new (an existing row is left alone, as for single prices)."""
        _check_source(source)
        keys = [str(k) for k in keys]
        if not keys or len(set(keys)) != len(keys):
            raise ValueError("price keys must be distinct and at least one")
        rows = []
        for sidx, values in snapshots.items():
            _check_int64("sidx", sidx)
            v = np.asarray(values, dtype="<f8")
            if v.shape != (len(keys),):
                raise ValueError(f"sidx {sidx}: {v.shape} values for {len(keys)} keys")
            rows.append({"sidx": int(sidx), "source": source, "data": v.tobytes()})
        with self._write() as conn:
            set_id = self._price_set_id(conn, keys, create=True)
            for r in rows:
                r["set_id"] = set_id
            return self._insert_new(conn, t.price_vectors, rows, ["set_id", "sidx"])

    def price_matrix(self, keys: Sequence[str], lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """(sidx (T,) int64 ascending, values (T, K) float64) of several keys, for sidx in [lo, hi):
        a row per sample at which any key has a row, column k for keys[k], NaN where that key has
        no row or a missing price. Rows stored as a vector of exactly these keys
        (`store_price_vectors`) are read one per sample; single keys' rows fill in beside them,
        streamed into the matrix (one read transaction), so nothing but the matrix grows with T × K."""
        keys = list(keys)
        if len(set(keys)) != len(keys):
            raise ValueError("price keys must be distinct")
        p = t.prices.c
        sidx = np.empty(0, dtype=np.int64)
        with self._snapshot_read() as conn:
            set_id = self._price_set_id(conn, keys, create=False)
            packed: list[tuple[int, bytes]] = []
            if set_id is not None:
                v = t.price_vectors.c
                q = sa.select(v.sidx, v.data).where(v.set_id == set_id, v.sidx >= lo, v.sidx < hi).order_by(v.sidx)
                packed = [(int(a), bytes(b)) for a, b in conn.execute(q).tuples()]
                sidx = np.array([a for a, _ in packed], dtype=np.int64)
            for chunk in _chunks(keys):
                q = sa.select(p.sidx).distinct().where(p.key.in_(chunk), p.sidx >= lo, p.sidx < hi)
                sidx = np.union1d(sidx, np.fromiter(conn.execute(q).scalars(), dtype=np.int64))
            values = np.full((len(sidx), len(keys)), np.nan, dtype=np.float64)
            if packed:
                at = np.searchsorted(sidx, [a for a, _ in packed])
                if any(len(b) != 8 * len(keys) for _, b in packed):
                    raise ValueError(f"price vectors of {keys[:3]}…: a row of the wrong length")
                values[at] = np.frombuffer(b"".join(b for _, b in packed), dtype="<f8").reshape(len(packed), len(keys))
            for c0, chunk in zip(range(0, len(keys), _CHUNK), _chunks(keys)):
                col = {k: c0 + j for j, k in enumerate(chunk)}
                q = (sa.select(p.sidx, p.key, p.value).where(p.key.in_(chunk), p.sidx >= lo, p.sidx < hi)
                     .execution_options(yield_per=_STREAM_ROWS * 64))
                for part in conn.execute(q).partitions():
                    at = np.searchsorted(sidx, np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part)))
                    cols = np.fromiter((col[r[1]] for r in part), dtype=np.int64, count=len(part))
                    values[at, cols] = np.fromiter((np.nan if r[2] is None else r[2] for r in part),
                                                   dtype=np.float64, count=len(part))
        return sidx, values

    # -- metagraph snapshots -----------------------------------------------------------------

    def store_metagraph(self, metagraph: Metagraph) -> bool:
        """Store a metagraph snapshot at its block; True if that block was new."""
        _check_int64("block", metagraph.block)
        uids = [n.uid for n in metagraph.neurons]
        if len(set(uids)) != len(uids):
            raise ValueError(f"metagraph at block {metagraph.block}: duplicate uids")
        head = {"block": int(metagraph.block), "netuid": int(metagraph.netuid), "n": len(uids)}
        with self._write() as conn:
            if self._insert_new(conn, t.metagraphs, [head], ["block"]) == 0:
                return False
            ids = self._hotkey_ids(conn, (n.hotkey for n in metagraph.neurons))
            rows = [
                {"block": int(metagraph.block), "uid": int(n.uid), "hotkey_id": ids[n.hotkey],
                 "coldkey": n.coldkey, "stake": float(n.stake), "registered_at": int(n.registered_at),
                 "validator_permit": bool(n.validator_permit)}
                for n in metagraph.neurons
            ]
            for chunk in _chunks(rows):
                conn.execute(sa.insert(t.metagraph_neurons), list(chunk))
            return True

    def metagraph(self, block: int) -> Metagraph | None:
        """The newest snapshot taken at or before `block` (None if there is none)."""
        m, n, h = t.metagraphs.c, t.metagraph_neurons.c, t.hotkeys.c
        with self._read() as conn:
            head = conn.execute(
                sa.select(m.block, m.netuid).where(m.block <= block).order_by(m.block.desc()).limit(1)
            ).first()
            if head is None:
                return None
            q = (sa.select(n.uid, h.ss58, n.coldkey, n.stake, n.registered_at, n.validator_permit)
                 .join_from(t.metagraph_neurons, t.hotkeys, n.hotkey_id == h.id)
                 .where(n.block == head.block).order_by(n.uid))
            neurons = tuple(Neuron(uid, hk, ck, float(st), int(reg), bool(vp))
                            for uid, hk, ck, st, reg, vp in conn.execute(q).tuples())
        return Metagraph(netuid=int(head.netuid), block=int(head.block), neurons=neurons)

    def store_chain_params(self, block: int, params: ChainParams) -> bool:
        """Store the chain's weight-setting parameters read at `block`; True if the block was new."""
        _check_int64("block", block)
        row = {"block": int(block), **dataclasses.asdict(params)}
        with self._write() as conn:
            return self._insert_new(conn, t.chain_params, [row], ["block"]) == 1

    def chain_params(self, block: int) -> ChainParams | None:
        """The parameters read at exactly `block` (None if they were not recorded there)."""
        c = t.chain_params.c
        with self._read() as conn:
            r = conn.execute(sa.select(t.chain_params).where(c.block == block)).first()
        if r is None:
            return None
        return ChainParams(int(r.tempo), int(r.weights_rate_limit), int(r.max_weight_limit),
                           int(r.min_allowed_weights), bool(r.commit_reveal))

    # -- Almanac trades ------------------------------------------------------------------------

    def record_trade_pull(self, records: Sequence[Any], days: Sequence[int | None], *, pulled_at: float,
                          pages: int) -> int:
        """Keep one whole pull of the trading history; its id.

        Each record is kept as fetched (canonical JSON: sorted keys, ASCII) under its SHA-256, with
        `days[i]`, its UTC completion day (None if it has none the caller could read). A version the
        previous pull also returned, as often, has its run extended to this pull; any other is stored
        new. A record that changed (a position settled) is therefore a second version, and the first
        stays with the pulls that saw it.
        """
        if len(days) != len(records):
            raise ValueError(f"{len(records)} records but {len(days)} days")
        found: dict[bytes, list] = {}  # digest → [text, day, copies], in first-seen order
        sequence: list[bytes] = []  # each record's digest, in the order the API returned them
        for record, day in zip(records, days):
            text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            digest = hashlib.sha256(text.encode("ascii")).digest()
            sequence.append(digest)
            entry = found.get(digest)
            if entry is None:
                found[digest] = [text, None if day is None else int(day), 1]
            else:
                entry[2] += 1
        v = t.trade_versions.c
        with self._write() as conn:
            if self._dialect == "postgresql":  # pulls are recorded one after another
                conn.execute(sa.text("LOCK TABLE trade_pulls IN SHARE ROW EXCLUSIVE MODE"))
            pull = conn.execute(sa.insert(t.trade_pulls).values(pulled_at=float(pulled_at), pages=int(pages),
                                                                records=len(records))
                                .returning(t.trade_pulls.c.id)).scalar_one()
            previous = conn.execute(sa.select(sa.func.max(t.trade_pulls.c.id))
                                    .where(t.trade_pulls.c.id < pull)).scalar_one()
            alive = {} if previous is None else {
                (bytes(d), int(c)): int(i) for i, d, c in conn.execute(
                    sa.select(v.id, v.digest, v.copies).where(v.last_pull == previous)).tuples()}
            extended, new = [], []
            for digest, (text, day, copies) in found.items():
                known = alive.get((digest, copies))
                if known is not None:
                    extended.append(known)
                else:
                    new.append({"digest": digest, "copies": copies, "first_pull": pull, "last_pull": pull,
                                "day": day, "record": text})
            for chunk in _chunks(extended):
                conn.execute(sa.update(t.trade_versions).where(v.id.in_(list(chunk))).values(last_pull=pull))
            for chunk in _chunks(new):
                conn.execute(sa.insert(t.trade_versions), list(chunk))
            ids = {bytes(d): int(i) for d, i in conn.execute(
                sa.select(v.digest, v.id).where(v.first_pull <= pull, v.last_pull >= pull)).tuples()}
            order = np.array([ids[d] for d in sequence], dtype=np.int64)
            conn.execute(sa.update(t.trade_pulls).where(t.trade_pulls.c.id == pull)
                         .values(order=_pack_order(order)))
        return int(pull)

    def trade_pulls(self, pull: int | None = None) -> list[TradePull]:
        """Every pull, oldest first, or only pull `pull` (an empty list if there is none)."""
        c = t.trade_pulls.c
        q = sa.select(c.id, c.pulled_at, c.pages, c.records).order_by(c.id)
        with self._read() as conn:
            rows = conn.execute(q if pull is None else q.where(c.id == pull)).tuples()
            return [TradePull(int(i), float(at), int(p), int(n)) for i, at, p, n in rows]

    def trades(self, pull: int, first_day: int | None = None, last_day: int | None = None) -> list[Any]:
        """The records pull `pull` returned, each as often and in the order it came (a miner's profile
        ids are read in API order). With days, only those completed in [first_day, last_day) UTC, and
        those without a readable day (the scorer counts them)."""
        v = t.trade_versions.c
        q = sa.select(v.id, v.record).where(v.first_pull <= pull, v.last_pull >= pull)
        if first_day is not None and last_day is not None:
            q = q.where(sa.or_(v.day.is_(None), sa.and_(v.day >= first_day, v.day < last_day)))
        with self._read() as conn:
            records = {int(i): json.loads(text) for i, text in conn.execute(q).tuples()}
            packed = conn.execute(sa.select(t.trade_pulls.c.order).where(t.trade_pulls.c.id == pull)).scalar()
        if packed is None:
            return []  # no such pull: every pull's order is written in the transaction that records it
        return [records[i] for i in _unpack_order(packed).tolist() if i in records]

    # -- vesting -------------------------------------------------------------------------------

    def store_vesting_epoch(self, e: VestingEpoch, undecodable: Sequence[tuple] = (), *, same_flows: bool = False) -> None:
        """Write (or replace) an epoch's vesting row and its undecodable events
        (block, extrinsic, name, reason, raw), and unless its flows are the ones stored before
        (`same_flows`), drop the checkpoints from the epoch on: they were built on those. Keys are
        stored as ids of the hotkeys dictionary."""
        _check_int64("epoch", e.epoch)
        bad = [{"epoch": int(e.epoch), "block": int(b), "extrinsic": x, "name": safe_text(n, 64),
                "reason": safe_text(r), "raw": safe_text(raw, 512)} for b, x, n, r, raw in undecodable]
        chain, flows = e.chain, e.flows
        opening = chain.get("opening")
        with self._write() as conn:
            ids = self._hotkey_ids(conn, [k for part in ("pre", "post") for c, h, _ in chain.get(part) or () for k in (c, h)]
                                   + list(opening or ()) + [k for f in flows for k in f[1:3] if k])
            pairs = lambda part: None if chain.get(part) is None else [[ids[c], ids[h], r] for c, h, r in chain[part]]  # noqa: E731
            reasons = sorted({f[5] for f in flows})
            row = {"epoch": int(e.epoch), "step_block": e.step_block, "status": e.status,
                   "reason": safe_text(e.reason) if e.reason else None, "undecoded": int(e.undecoded),
                   "chain": _blob({"pre": pairs("pre"), "post": pairs("post"),
                                   "opening": None if opening is None else [[ids[c], r] for c, r in opening.items()]}),
                   "flows": _blob({"reasons": reasons, "rows": [[b, ids[c], ids[h] if h else None, kind, a,
                                                                 reasons.index(why)] for b, c, h, kind, a, why in flows]}),
                   "factors": _blob(e.factors), "recorded_at": float(e.recorded_at)}
            self._upsert(conn, t.vesting_epochs, [row], ["epoch"])
            conn.execute(t.vesting_undecoded.delete().where(t.vesting_undecoded.c.epoch == e.epoch))
            for chunk in _chunks(bad):
                conn.execute(t.vesting_undecoded.insert(), list(chunk))
            if not same_flows:
                conn.execute(t.vesting_checkpoints.delete().where(t.vesting_checkpoints.c.epoch >= e.epoch))

    def vesting_epochs(self, lo: int, hi: int, parts: Sequence[str] = ("chain", "flows", "factors")) -> list[VestingEpoch]:
        """The vesting rows of epochs lo..hi (inclusive) in epoch order, with only `parts` unpacked."""
        c = t.vesting_epochs.c
        with self._read() as conn:
            rows = conn.execute(sa.select(t.vesting_epochs).where(c.epoch >= lo, c.epoch <= hi).order_by(c.epoch)).all()
            packed = [(r, _unblob(r.chain) if "chain" in parts else None, _unblob(r.flows) if "flows" in parts else None)
                      for r in rows]
            wanted = set()
            for _, ch, fl in packed:
                for part in ("pre", "post"):
                    wanted.update(x for p in (ch or {}).get(part) or () for x in p[:2])
                wanted.update(p[0] for p in (ch or {}).get("opening") or ())
                wanted.update(x for f in (fl or {}).get("rows", ()) for x in f[1:3] if x is not None)
            name = self._hotkey_names(conn, wanted)
        out = []
        for r, ch, fl in packed:
            chain = {} if ch is None else {
                "pre": None if ch["pre"] is None else [[name[i], name[j], v] for i, j, v in ch["pre"]],
                "post": None if ch["post"] is None else [[name[i], name[j], v] for i, j, v in ch["post"]],
                "opening": None if ch["opening"] is None else {name[i]: v for i, v in ch["opening"]}}
            flows = [] if fl is None else [[b, name[i], None if j is None else name[j], kind, a, fl["reasons"][w]]
                                           for b, i, j, kind, a, w in fl["rows"]]
            out.append(VestingEpoch(int(r.epoch), r.step_block, r.status, r.reason, int(r.undecoded), chain, flows,
                                    _unblob(r.factors) if "factors" in parts else {}, float(r.recorded_at)))
        return out

    def vesting_epoch(self, epoch: int) -> VestingEpoch | None:
        rows = self.vesting_epochs(epoch, epoch)
        return rows[0] if rows else None

    def vesting_span(self) -> tuple[int, int] | None:
        """The first and last epoch with a vesting row from activation on (the first is where the ledger
        was opened; rows of epochs before activation, status "inactive", do not count)."""
        c = t.vesting_epochs.c
        with self._read() as conn:
            lo, hi = conn.execute(sa.select(sa.func.min(c.epoch), sa.func.max(c.epoch)).where(c.status != "inactive")).one()
        return None if lo is None else (int(lo), int(hi))

    def vesting_undecoded(self, epoch: int) -> list[dict]:
        c = t.vesting_undecoded.c
        with self._read() as conn:
            rows = conn.execute(sa.select(t.vesting_undecoded).where(c.epoch == epoch).order_by(c.id)).all()
        return [{"block": r.block, "extrinsic": r.extrinsic, "name": r.name, "reason": r.reason, "raw": r.raw}
                for r in rows]

    def store_vesting_checkpoint(self, epoch: int, state: bytes) -> None:
        with self._write() as conn:
            self._upsert(conn, t.vesting_checkpoints, [{"epoch": int(epoch), "state": bytes(state)}], ["epoch"])

    def vesting_checkpoint(self, at_most: int) -> tuple[int, bytes] | None:
        """The newest tranche-ledger checkpoint at or before epoch `at_most`."""
        c = t.vesting_checkpoints.c
        with self._read() as conn:
            r = conn.execute(sa.select(t.vesting_checkpoints).where(c.epoch <= at_most)
                             .order_by(c.epoch.desc()).limit(1)).first()
        return None if r is None else (int(r.epoch), bytes(r.state))

    # -- weights and submissions -------------------------------------------------------------

    def store_almanac_epoch(self, e: AlmanacEpoch) -> bool:
        """Keep what an epoch's Almanac scoring read; False (and nothing changes) if it was kept before."""
        _check_int64("epoch", e.epoch)
        row = {"epoch": int(e.epoch), "block": int(e.block), "boundary": (e.boundary - _DAY0).days,
               "pull": int(e.pull), "read_at": float(e.read_at), "moving_price": e.moving_price,
               "tao_usd": e.tao_usd, "missing": safe_text(e.missing) if e.missing else None,
               "commitments": _json({str(u): c for u, c in sorted(e.commitments.items())})}
        with self._write() as conn:
            return self._insert_new(conn, t.almanac_epochs, [row], ["epoch"]) == 1

    def almanac_epoch(self, epoch: int) -> AlmanacEpoch | None:
        with self._read() as conn:
            r = conn.execute(sa.select(t.almanac_epochs).where(t.almanac_epochs.c.epoch == epoch)).first()
        if r is None:
            return None
        return AlmanacEpoch(int(r.epoch), int(r.block), _DAY0 + dt.timedelta(days=int(r.boundary)), int(r.pull),
                            float(r.read_at), r.moving_price, r.tao_usd, r.missing,
                            {int(u): c for u, c in json.loads(r.commitments).items()})

    def store_weights(self, w: StoredWeights) -> str:
        """Store an epoch's weight vector, in one transaction; what happened, as one word:

        "stored" (the epoch was new), "same" (the stored block, uids, hotkeys, weights and u16 are
        these), "restated" (they differed and the chain has not been sent the stored vector: a rerun
        that corrects the epoch's data corrects what will be sent) or "kept" (they differed, and the
        stored vector has been sent or is being sent, `sending_weights`: it stays the epoch's record,
        and the rerun's disagreement shows). The row is locked while this decides, so a send and a
        restatement of one epoch never interleave.
        """
        if not len(w.uids) == len(w.hotkeys) == len(w.weights):
            raise ValueError("uids, hotkeys and weights must have the same length")
        _check_int64("epoch", w.epoch)
        row = {"epoch": int(w.epoch), "block": int(w.block), "uids": _json([int(u) for u in w.uids]),
               "hotkeys": _json(list(w.hotkeys)), "weights": _json([float(x) for x in w.weights]),
               "u16": _json([int(x) for x in w.u16]), "meta": _json(dict(w.meta))}
        c, s = t.weights.c, t.submissions.c
        compared = ("block", "uids", "hotkeys", "weights", "u16")
        with self.transaction(), self._write() as conn:
            if self._insert_new(conn, t.weights, [row], ["epoch"]) == 1:
                return "stored"
            old = conn.execute(sa.select(t.weights).where(c.epoch == row["epoch"]).with_for_update()).one()
            if all(old._mapping[k] == row[k] for k in compared):
                return "same"
            sent = conn.execute(sa.select(s.id).where(s.epoch == row["epoch"], s.sent.is_(True)).limit(1)).first()
            if sent is not None or json.loads(old.meta).get(_SENDING):
                return "kept"
            conn.execute(sa.update(t.weights).where(c.epoch == row["epoch"]).values(row))
            return "restated"

    @contextmanager
    def sending_weights(self, epoch: int) -> Iterator[StoredWeights | None]:
        """The epoch's stored vector (None if there is none), held as the one being sent for the
        block: `store_weights` keeps it meanwhile. The mark is set and cleared in short locked
        transactions, so the send itself holds no lock; a process that dies mid-send leaves the mark,
        which keeps the vector (a send that may have happened is treated as one that did)."""
        c = t.weights.c

        def mark(sending: bool) -> StoredWeights | None:
            with self.transaction(), self._write() as conn:
                r = conn.execute(sa.select(t.weights).where(c.epoch == int(epoch)).with_for_update()).first()
                if r is None:
                    return None
                meta = {k: v for k, v in json.loads(r.meta).items() if k != _SENDING}
                conn.execute(sa.update(t.weights).where(c.epoch == int(epoch))
                             .values(meta=_json(meta | {_SENDING: True} if sending else meta)))
                return dataclasses.replace(self._weights_row(r), meta=meta)

        stored = mark(True)
        try:
            yield stored
        finally:
            if stored is not None:
                mark(False)

    @staticmethod
    def _weights_row(r: sa.Row) -> StoredWeights:
        return StoredWeights(
            epoch=int(r.epoch), block=int(r.block), uids=_int_tuple(r.uids),
            hotkeys=tuple(json.loads(r.hotkeys)), weights=tuple(float(x) for x in json.loads(r.weights)),
            u16=_int_tuple(r.u16), meta=json.loads(r.meta),
        )

    def weights(self, epoch: int) -> StoredWeights | None:
        with self._read() as conn:
            r = conn.execute(sa.select(t.weights).where(t.weights.c.epoch == epoch)).first()
        return None if r is None else self._weights_row(r)

    def latest_weights_before(self, epoch: int) -> StoredWeights | None:
        """The stored weights of the newest epoch strictly before `epoch`."""
        c = t.weights.c
        with self._read() as conn:
            r = conn.execute(sa.select(t.weights).where(c.epoch < epoch).order_by(c.epoch.desc()).limit(1)).first()
        return None if r is None else self._weights_row(r)

    def record_submission(self, epoch: int, receipt: WeightsReceipt, *, forced: bool, recorded_at: float) -> None:
        """Append what a set_weights call did (history: every call is kept)."""
        row = {"epoch": int(epoch), "netuid": int(receipt.netuid), "block": int(receipt.block),
               "uids": _json([int(u) for u in receipt.uids]), "weights": _json([int(x) for x in receipt.weights]),
               "version_key": int(receipt.version_key), "hotkey": receipt.hotkey, "sent": bool(receipt.sent),
               "detail": receipt.detail, "forced": bool(forced), "recorded_at": float(recorded_at)}
        with self._write() as conn:
            conn.execute(sa.insert(t.submissions), row)

    def submissions(self, epoch: int | None = None) -> list[Submission]:
        """Recorded submissions (of one epoch if given), oldest first."""
        c = t.submissions.c
        q = sa.select(t.submissions).order_by(c.id)
        if epoch is not None:
            q = q.where(c.epoch == epoch)
        with self._read() as conn:
            return [
                Submission(epoch=int(r.epoch), block=int(r.block), uids=_int_tuple(r.uids),
                           weights=_int_tuple(r.weights), version_key=int(r.version_key), hotkey=r.hotkey,
                           sent=bool(r.sent), detail=r.detail, forced=bool(r.forced),
                           recorded_at=float(r.recorded_at))
                for r in conn.execute(q)
            ]

    # -- devnet chain state ------------------------------------------------------------------

    def devnet_get(self, key: str) -> Any | None:
        """The JSON value stored under `key` (None if absent)."""
        c = t.devnet_state.c
        with self._read() as conn:
            v = conn.execute(sa.select(c.value).where(c.key == key)).scalar_one_or_none()
        return None if v is None else json.loads(v)

    def devnet_set(self, key: str, value: Any) -> None:
        """Set `key` to a JSON-serialisable value (replaces)."""
        with self._write() as conn:
            self._upsert(conn, t.devnet_state, [{"key": key, "value": _json(value)}], ["key"])

    def planted_roles(self) -> dict[str, str]:
        """The devnet's planted role of each hotkey (`devnet.roles`, written at install); {} elsewhere."""
        return self.devnet_get(PLANTED_ROLES) or {}

    def devnet_register(self, neuron: Neuron) -> None:
        """Register (or replace) the neuron at its uid."""
        row = {"uid": int(neuron.uid), "hotkey": neuron.hotkey, "coldkey": neuron.coldkey,
               "stake": float(neuron.stake), "registered_at": int(neuron.registered_at),
               "validator_permit": bool(neuron.validator_permit)}
        with self._write() as conn:
            self._upsert(conn, t.devnet_neurons, [row], ["uid"])

    def devnet_neurons(self, block: int | None = None) -> list[Neuron]:
        """Neurons registered at or before `block` (None: all), in uid order."""
        c = t.devnet_neurons.c
        q = sa.select(c.uid, c.hotkey, c.coldkey, c.stake, c.registered_at, c.validator_permit).order_by(c.uid)
        if block is not None:
            q = q.where(c.registered_at <= block)
        with self._read() as conn:
            return [Neuron(int(u), hk, ck, float(st), int(reg), bool(vp))
                    for u, hk, ck, st, reg, vp in conn.execute(q).tuples()]

    def devnet_commit(self, hotkey: str, block: int, data: str) -> None:
        """Record `hotkey`'s commitment at `block`. Older ones are kept as history; a second
        commitment in the same block replaces the first (the last extrinsic wins, as on chain)."""
        with self._write() as conn:
            # JSON text: every database stores it (NUL and lone surrogates escaped) and it reads back exact.
            self._upsert(conn, t.devnet_commitments, [{"hotkey": hotkey, "block": int(block), "data": json.dumps(data)}],
                         ["hotkey", "block"])

    def devnet_commitments(self, block: int | None = None) -> dict[str, Commitment]:
        """Each hotkey's newest commitment at or before `block` (None: newest of all)."""
        c = t.devnet_commitments.c
        newest = sa.select(c.hotkey, sa.func.max(c.block).label("block")).group_by(c.hotkey)
        if block is not None:
            newest = newest.where(c.block <= block)
        newest = newest.subquery()
        q = (sa.select(c.hotkey, c.block, c.data)
             .join(newest, sa.and_(c.hotkey == newest.c.hotkey, c.block == newest.c.block))
             .order_by(c.hotkey))
        with self._read() as conn:
            return {hk: Commitment(hk, int(b), _commitment_text(data)) for hk, b, data in conn.execute(q).tuples()}

    def devnet_record_weights(self, block: int, hotkey: str, uids: Sequence[int], weights: Sequence[int],
                              version_key: int) -> int:
        """Record a set_weights call on the devnet chain; returns its record id."""
        row = {"block": int(block), "hotkey": hotkey, "uids": _json([int(u) for u in uids]),
               "weights": _json([int(w) for w in weights]), "version_key": int(version_key)}
        with self._write() as conn:
            return int(conn.execute(sa.insert(t.devnet_weights).returning(t.devnet_weights.c.id), row).scalar_one())

    def devnet_weights(self, hotkey: str | None = None) -> list[dict]:
        """Recorded devnet set_weights calls (of one hotkey if given), ascending id:
        {"id", "block", "hotkey", "uids", "weights", "version_key"} with uids/weights as lists."""
        c = t.devnet_weights.c
        q = sa.select(t.devnet_weights).order_by(c.id)
        if hotkey is not None:
            q = q.where(c.hotkey == hotkey)
        with self._read() as conn:
            return [
                {"id": int(r.id), "block": int(r.block), "hotkey": r.hotkey, "uids": json.loads(r.uids),
                 "weights": json.loads(r.weights), "version_key": int(r.version_key)}
                for r in conn.execute(q)
            ]
