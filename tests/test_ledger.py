"""The ledger (ledger/): migrations, every method's round trip and idempotency, the packed float16
embedding blob, SQLite connection settings, and the same on a private PostgreSQL server.

Tests taking the `ledger` / `url` fixtures run twice: on a SQLite file and on a database of the
session's private PostgreSQL cluster (`pg_cluster`, tests/postgres.py; `integration`; skipped only
when no PostgreSQL server binary exists).
"""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import ledger.store as store
from ledger import Ledger, RawPayload, Rejection, Sample, StoredWeights, Submission
from ledger import migrations, schema
from resources.chain import ChainParams, Commitment, Metagraph, Neuron, WeightsReceipt
from tests.postgres import BACKENDS, ledger_url

HK = [f"5Hotkey{i:02d}" + "x" * 40 for i in range(8)]  # ss58-sized strings

# ----------------------------------------------------------------------------------------------
# Backends: a SQLite file, or a new database of the session's PostgreSQL cluster


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path) -> str:
    return ledger_url(request, tmp_path)


@pytest.fixture
def ledger(url):
    led = Ledger(url)
    yield led
    led.dispose()


@pytest.fixture
def sqlite_ledger(tmp_path):
    led = Ledger(f"sqlite:///{tmp_path / 'sub' / 'ledger.db'}")
    yield led
    led.dispose()


def _count(led: Ledger, table: sa.Table) -> int:
    with led.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


# ----------------------------------------------------------------------------------------------
# Migrations


def test_package_exports_and_head_revision():
    assert migrations.head() == "0007"
    for name in ("0001_initial.py", "0002_drand_unserved.py", "0003_chain_params.py", "0004_trades.py",
                 "0005_almanac_epochs.py", "0006_vesting.py", "0007_price_vectors.py"):
        assert (migrations.SCRIPT_LOCATION / "versions" / name).is_file()
    assert Ledger is store.Ledger and Sample is store.Sample and Submission is store.Submission


def test_migrate_from_empty_then_again_is_a_noop(url):
    led = Ledger(url, migrate=False)
    try:
        assert sa.inspect(led.engine).get_table_names() == []
        led.migrate()
        tables = set(sa.inspect(led.engine).get_table_names())
        assert tables == set(schema.metadata.tables) | {migrations.VERSION_TABLE}
        with led.engine.connect() as conn:
            assert migrations.current(conn) == migrations.head()
            # The migrated database is exactly what ledger/schema.py describes.
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "version_table": migrations.VERSION_TABLE})
            assert compare_metadata(ctx, schema.metadata) == []
        led.record_sample(7, 35, 1.5)

        statements: list[str] = []
        sa.event.listen(led.engine, "before_cursor_execute",
                        lambda _c, _cur, stmt, *_a: statements.append(stmt.strip().split()[0].upper()))
        led.migrate()
        assert statements, "the listener saw nothing"
        assert not {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE"} & set(statements)
    finally:
        led.dispose()
    # A new Ledger on the same database migrates (no-op) and sees the data.
    again = Ledger(url)
    try:
        assert [s.sidx for s in again.samples(0, 100)] == [7]
        with again.engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT count(*) FROM {migrations.VERSION_TABLE}")).scalar_one() == 1
    finally:
        again.dispose()


def test_alembic_commands_by_url_without_ini(tmp_path):
    from alembic import command

    url = f"sqlite:///{tmp_path / 'by-url.db'}"
    command.upgrade(migrations.alembic_config(url), "head")  # env.py builds its own engine
    led = Ledger(url, migrate=False)
    try:
        with led.engine.connect() as conn:
            assert migrations.current(conn) == migrations.head()
        assert led.record_sample(1, 5, 0.0)
    finally:
        led.dispose()
    command.downgrade(migrations.alembic_config(url), "base")
    led = Ledger(url, migrate=False)
    try:
        assert set(sa.inspect(led.engine).get_table_names()) == {migrations.VERSION_TABLE}
    finally:
        led.dispose()


def test_schema_stores_no_pickles():
    allowed = (sa.Integer, sa.BigInteger, sa.Double, sa.Text, sa.LargeBinary, sa.Boolean)
    for table in schema.metadata.tables.values():
        for col in table.columns:
            assert type(col.type) in allowed, f"{table.name}.{col.name}: {col.type!r}"
            assert not isinstance(col.type, sa.PickleType)


# ----------------------------------------------------------------------------------------------
# SQLite connection settings


def test_sqlite_pragmas_on_every_connection(sqlite_ledger):
    assert (Path(sqlite_ledger.engine.url.database)).is_file()  # parent directory was created
    with sqlite_ledger.engine.connect() as a, sqlite_ledger.engine.connect() as b:
        for conn in (a, b):
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == store.SQLITE_BUSY_TIMEOUT_MS == 30_000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    # Foreign keys are enforced: a payload row pointing at a hotkey id that does not exist.
    with pytest.raises(sa.exc.IntegrityError):
        with sqlite_ledger.engine.begin() as conn:
            conn.execute(sa.insert(schema.raw_payloads), {
                "sidx": 1, "hotkey_id": 999, "url": "", "status": "absent", "body": None, "reason": "",
                "round": None, "fetched_at": 0.0})


def test_sqlite_writes_take_the_write_lock_up_front(sqlite_ledger):
    path = sqlite_ledger.engine.url.database
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with sqlite_ledger._writer.begin() as conn:
            conn.exec_driver_sql("SELECT 1")  # no write yet, but BEGIN IMMEDIATE holds the lock
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            assert sqlite_ledger.samples(0, 10) == []  # readers are not blocked (WAL)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_sqlite_concurrent_writers_queue_instead_of_failing(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledgers = [Ledger(url) for _ in range(3)]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(40):
                ledgers[k].record_sample(k * 1000 + i, 5 * (k * 1000 + i), float(i))
                ledgers[k].store_prices(k * 1000 + i, {"ETH": float(i)})
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert errors == []
        assert len(ledgers[0].samples(0, 10_000)) == 120
        assert len(ledgers[1].prices("ETH", 0, 10_000)[0]) == 120
    finally:
        for led in ledgers:
            led.dispose()


def test_unsupported_database_is_refused():
    with pytest.raises(ValueError, match="sqlite or postgresql"):
        Ledger("mysql+pymysql://u@127.0.0.1/db")


# ----------------------------------------------------------------------------------------------
# Samples, payloads, rejections, signatures


def test_samples_round_trip_and_idempotency(ledger):
    assert ledger.record_sample(10, 50, 1000.25) is True
    assert ledger.record_sample(10, 55, 9999.0, status="missed", reason="late") is False  # untouched
    assert ledger.record_sample(11, 55, 1001.5, status="missed", reason="collector restarted") is True
    assert ledger.record_sample(3, 15, 10.0, source="bootstrap") is True
    assert ledger.samples(3, 12) == [
        Sample(3, 15, 10.0, "bootstrap", "taken", ""),
        Sample(10, 50, 1000.25, "live", "taken", ""),
        Sample(11, 55, 1001.5, "live", "missed", "collector restarted"),
    ]
    assert [s.sidx for s in ledger.samples(4, 11)] == [10]  # [lo, hi)
    assert ledger.samples(12, 100) == []
    with pytest.raises(ValueError, match="status"):
        ledger.record_sample(12, 60, 0.0, status="skipped")
    with pytest.raises(ValueError, match="source"):
        ledger.record_sample(12, 60, 0.0, source="replay")
    assert _count(ledger, schema.samples) == 3


def test_raw_payloads_round_trip_and_idempotency(ledger):
    body = bytes(range(256)) * 3 + b"\x00"
    rows = [
        RawPayload(5, HK[1], "https://a/x", "valid", body, "", 123456, 1.5),
        RawPayload(5, HK[0], "", "absent", None, "no commitment", None, 1.25),
        RawPayload(6, HK[1], "https://a/x", "fetch-error", None, "timeout", None, 6.5),
        RawPayload(6, HK[1], "https://a/y", "valid", b"dup", "", 7, 6.6),  # same key in the batch
    ]
    assert ledger.record_payloads(rows) == 3
    assert ledger.record_payloads([RawPayload(5, HK[1], "https://evil", "valid", b"other", "", 1, 9.0),
                                   RawPayload(7, HK[2], "u", "schema", b"{", "bad json", None, 7.0)]) == 1
    assert ledger.record_payloads([]) == 0
    got = ledger.raw_payloads(5, 8)
    assert got == [
        RawPayload(5, HK[0], "", "absent", None, "no commitment", None, 1.25),
        RawPayload(5, HK[1], "https://a/x", "valid", body, "", 123456, 1.5),
        RawPayload(6, HK[1], "https://a/x", "fetch-error", None, "timeout", None, 6.5),
        RawPayload(7, HK[2], "u", "schema", b"{", "bad json", None, 7.0),
    ]
    assert type(got[1].body) is bytes
    assert ledger.raw_payloads(5, 7, hotkey=HK[1]) == [got[1], got[2]]
    assert ledger.raw_payloads(6, 6) == []
    with pytest.raises(ValueError, match="64-bit"):
        ledger.record_payloads([RawPayload(9, HK[0], "u", "valid", b"", "", 2**64 - 1, 0.0)])
    assert _count(ledger, schema.raw_payloads) == 4
    assert ledger.payload_rounds(5, 8) == {5: {123456}}
    ledger.record_payloads([RawPayload(7, HK[0], "u", "valid", b"", "", 42, 7.0),
                            RawPayload(7, HK[1], "u", "valid", b"", "", 42, 7.0)])
    assert ledger.payload_rounds(5, 8) == {5: {123456}, 7: {42}} and ledger.payload_rounds(6, 7) == {}


def test_rejections_replace_on_conflict(ledger):
    assert ledger.record_rejections([
        Rejection(5, HK[0], "binding", "mismatch"),
        Rejection(5, HK[0], "validation", "dim 3 != 2", challenge="ETH"),
        Rejection(4, HK[1], "aead", "tag"),
    ]) == 3
    assert ledger.record_rejections([Rejection(5, HK[0], "timelock", "round unpublished")]) == 1
    assert ledger.rejections(0, 10) == [
        Rejection(4, HK[1], "aead", "tag"),
        Rejection(5, HK[0], "timelock", "round unpublished"),  # replaced
        Rejection(5, HK[0], "validation", "dim 3 != 2", challenge="ETH"),  # another key, kept
    ]
    assert ledger.rejections(5, 6)[0].reason == "timelock"
    assert _count(ledger, schema.rejections) == 3


def test_replacing_reveal_restates_embeddings_and_rejections_together(ledger):
    one = np.ones(1, bool)
    ledger.store_embeddings("ETH", 5, [HK[0]], np.array([[1.0, 2.0]]), one)
    ledger.store_embeddings("ETH", 6, [HK[1]], np.array([[3.0, 4.0]]), one)
    ledger.store_embeddings("ETH", 9, [HK[2]], np.array([[5.0, 6.0]]), one)  # outside [5, 9)
    ledger.store_embeddings("ETH", 7, [HK[3]], np.array([[7.0, 8.0]]), one, source="bootstrap")
    ledger.store_embeddings("BTC", 5, [HK[0]], np.array([[9.0, 9.0]]), one)  # a challenge the reveal no longer states
    ledger.record_rejections([Rejection(6, HK[2], "aead", "tag"), Rejection(9, HK[4], "aead", "tag"),
                              Rejection(6, HK[5], "validation", "dim", challenge="ETH"),
                              Rejection(6, HK[5], "validation", "dim", challenge="BTC")])
    with ledger.replacing_reveal(5, 9, ["ETH"]):
        # The rerun refuses HK[0]'s vector at 5 and now accepts HK[2] at 6.
        ledger.store_embeddings("ETH", 6, [HK[2]], np.array([[0.5, 0.5]]), one)
        ledger.record_rejections([Rejection(5, HK[0], "validation", "dim")])
    sidx, hotkeys, values = ledger.embeddings("ETH", 0, 100)
    assert sidx.tolist() == [6, 7, 9] and set(hotkeys) == {HK[2], HK[3]}
    assert values[0, hotkeys.index(HK[2])].tolist() == [0.5, 0.5]  # the restated vector, not HK[1]'s
    assert values[1, hotkeys.index(HK[3])].tolist() == [7.0, 8.0]  # bootstrap history is not the reveal's
    assert [(r.sidx, r.hotkey, r.reason, r.challenge) for r in ledger.rejections(0, 100)] == [
        (5, HK[0], "validation", ""), (6, HK[5], "validation", "BTC"), (9, HK[4], "aead", "")]
    assert ledger.embeddings("BTC", 0, 100)[0].tolist() == [5]  # its history stays
    with pytest.raises(RuntimeError), ledger.replacing_reveal(5, 9, ["ETH"]):
        ledger.store_embeddings("ETH", 8, [HK[5]], np.array([[1.0, 1.0]]), one)
        raise RuntimeError("the reveal failed half way")
    assert ledger.embeddings("ETH", 0, 100)[0].tolist() == [6, 7, 9]  # all or nothing
    assert len(ledger.rejections(5, 9)) == 2


def test_signatures_round_trip(ledger):
    sigs = {1000: bytes(range(48)), 1001: b"\xff" * 48}
    assert ledger.store_signatures(sigs) == 2
    assert ledger.store_signatures({1000: b"\x01" * 48, 1002: b"\x02" * 48}) == 1
    assert ledger.signatures([999, 1000, 1001, 1002, 2**64 - 1]) == {
        1000: bytes(range(48)), 1001: b"\xff" * 48, 1002: b"\x02" * 48}
    assert ledger.signatures([]) == {}
    with pytest.raises(ValueError, match="48 bytes"):
        ledger.store_signatures({5: b"\x00" * 96})
    assert ledger.signatures([5]) == {}


def test_unserved_rounds_are_marked_until_their_signature_is_stored(ledger):
    ledger.store_signatures({7: b"\x07" * 48})
    assert ledger.mark_unserved({7: "already signed", 8: "no relay served it", 9: "nor this \x00 one"}, 100.0) == 2
    assert ledger.unserved([7, 8, 9, 10]) == {8: "no relay served it", 9: "nor this \\x00 one"}
    assert ledger.mark_unserved({8: "asked again"}, 200.0) == 1  # a later check replaces the reason
    assert ledger.unserved([8]) == {8: "asked again"}
    ledger.store_signatures({8: b"\x08" * 48})  # a relay served it after all: the mark goes
    assert ledger.unserved([8, 9]) == {9: "nor this \\x00 one"} and ledger.unserved([]) == {}


# ----------------------------------------------------------------------------------------------
# Embeddings


def test_float16_rounding_is_numpys(ledger):
    one = 1.0
    ulp = 2.0**-10  # float16 spacing at 1
    vals64 = np.array([
        [one + ulp / 2, one + 3 * ulp / 2],  # exact ties: to even → 1.0 and 1 + 2 ulp
        [one + ulp / 2 + 2.0**-40, -(one + ulp / 2 + 2.0**-40)],  # a float32 step would make these ties
        [6.103515625e-05 * 0.75, 65519.99],  # subnormal range; just below the overflow threshold
        [0.1, -0.3333333333333333],
    ])
    f32 = np.array([[0.1, 1.0009765625], [np.float32(1) + np.float32(2.0**-11), -2.5e-8]], dtype=np.float32)
    hot = HK[:4]
    assert ledger.store_embeddings("A", 1, hot, vals64, np.ones(4, bool))
    assert ledger.store_embeddings("B", 1, hot[:2], f32, np.ones(2, bool))
    _, hk_a, a = ledger.embeddings("A", 0, 5)
    _, hk_b, b = ledger.embeddings("B", 0, 5)
    assert hk_a == tuple(sorted(hot)) and a.dtype == np.float32 and b.dtype == np.float32
    order = [hot.index(h) for h in hk_a]
    expected = vals64.astype(np.float16).astype(np.float32)[order]
    assert a[0].tobytes() == expected.tobytes()  # bit for bit
    assert a[0][hk_a.index(hot[0])].tolist() == [1.0, 1.0 + 2 * ulp]
    assert a[0][hk_a.index(hot[1])].tolist() == [1.0 + ulp, -(1.0 + ulp)]  # not 1.0: no float32 step
    assert a[0][hk_a.index(hot[2])][1] == 65504.0
    assert b[0].tobytes() == f32.astype(np.float16).astype(np.float32)[[hot.index(h) for h in hk_b]].tobytes()


def test_blob_layout_presence_and_no_nan(ledger):
    hot = [HK[3], HK[1], HK[2], HK[0], HK[4], HK[5], HK[6], HK[7], "5Extra"]  # H = 9: two mask bytes
    values = np.arange(9 * 3, dtype=np.float64).reshape(9, 3) / 8
    values[1] = 0.0  # present zero vector
    values[2] = np.nan  # absent rows may hold anything; none of it is stored
    values[5] = np.inf
    present = np.array([True, True, False, True, True, False, True, True, True])
    assert ledger.store_embeddings("ETH", 42, hot, values, present)
    with ledger.engine.connect() as conn:
        blob = bytes(conn.execute(sa.select(schema.embeddings.c.data)).scalar_one())
        id_of = dict(conn.execute(sa.select(schema.hotkeys.c.ss58, schema.hotkeys.c.id)).tuples().all())
    # Decode independently of ledger.store, from the layout in its docstring.
    magic, h, d = struct.unpack_from("<4sII", blob)
    assert (magic, h, d) == (b"LEM1", 9, 3)
    ids = struct.unpack_from("<9I", blob, 12)
    assert list(ids) == sorted(id_of[x] for x in hot)
    mask = blob[12 + 36:12 + 36 + 2]
    bits = [(mask[i // 8] >> (i % 8)) & 1 for i in range(16)]
    by_id = {id_of[x]: i for i, x in enumerate(hot)}
    assert bits[:9] == [int(present[by_id[i]]) for i in ids] and bits[9:] == [0] * 7
    p = int(present.sum())
    assert len(blob) == 12 + 4 * 9 + 2 + 2 * p * 3
    vec = np.frombuffer(blob, dtype="<f2", offset=12 + 36 + 2).reshape(p, 3)
    assert np.isfinite(vec).all()
    present_in_id_order = [by_id[i] for i in ids if present[by_id[i]]]
    assert vec.astype(np.float64).tolist() == values[present_in_id_order].astype(np.float16).astype(np.float64).tolist()

    sidx, hks, out = ledger.embeddings("ETH", 0, 100)
    assert sidx.tolist() == [42] and hks == tuple(sorted(hot)) and out.shape == (1, 9, 3)
    row = {hk: out[0, hks.index(hk)] for hk in hot}
    assert row[HK[1]].tolist() == [0.0, 0.0, 0.0]  # present zero ≠ absent
    assert np.isnan(row[HK[2]]).all() and np.isnan(row[HK[5]]).all()
    assert np.isfinite(np.delete(out[0], [hks.index(HK[2]), hks.index(HK[5])], axis=0)).all()
    assert _count(ledger, schema.embeddings) == 1  # one row per (challenge, sidx), never per value


def test_embeddings_union_over_changing_hotkeys(ledger):
    d = 2
    ledger.store_embeddings("BTC", 10, [HK[0], HK[1]], np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([True, True]),
                            source="bootstrap")
    ledger.store_embeddings("BTC", 12, [HK[2], HK[0]], np.array([[5.0, 6.0], [7.0, 8.0]]), np.array([True, False]))
    ledger.store_embeddings("BTC", 11, [HK[3]], np.array([[0.5, -0.5]]), np.array([True]))
    ledger.store_embeddings("BTC", 13, [HK[4]], np.array([[9.0, 9.0]]), np.array([True]))  # outside [10, 13)
    ledger.store_embeddings("ETH", 11, [HK[5]], np.array([[1.0, 1.0]]), np.array([True]))  # other challenge
    sidx, hks, vals = ledger.embeddings("BTC", 10, 13)
    assert sidx.dtype == np.int64 and sidx.tolist() == [10, 11, 12]
    assert hks == tuple(sorted(HK[:4]))
    assert vals.shape == (3, 4, d) and vals.dtype == np.float32
    n = np.nan
    expect = {HK[0]: [[1, 2], [n, n], [n, n]], HK[1]: [[3, 4], [n, n], [n, n]],
              HK[2]: [[n, n], [n, n], [5, 6]], HK[3]: [[n, n], [0.5, -0.5], [n, n]]}
    for hk, rows in expect.items():
        np.testing.assert_array_equal(vals[:, hks.index(hk)], np.array(rows, dtype=np.float32))
    assert ledger.embedding_sources("BTC", 10, 13) == {"bootstrap": 1, "live": 2}
    assert ledger.embedding_sources("BTC", 11, 14) == {"live": 3}
    empty = ledger.embeddings("BTC", 100, 200)
    assert empty[0].shape == (0,) and empty[1] == () and empty[2].shape == (0, 0, 0)


def test_embeddings_in_float16_on_given_rows_and_hotkeys(ledger):
    """The panel builder's read: float16 as stored (exact), the output's rows the given sample
    indices (all NaN where the ledger has none, other rows skipped), columns only `among`'s hotkeys."""
    rng = np.random.default_rng(5)
    vals = rng.uniform(-1, 1, size=(5, 4, 3))
    pres = rng.random((5, 4)) < 0.8
    pres[:, 0] = True
    ledger.store_embeddings_many("M", [10, 11, 13, 14, 16], HK[:4], vals, pres)
    ledger.store_embeddings("M", 12, [HK[5]], np.zeros((1, 3)), np.array([True]))  # the only row of HK[5]
    sidx, hks, full = ledger.embeddings("M", 0, 100)
    assert hks == tuple(sorted(HK[:4] + [HK[5]])) and full.dtype == np.float32
    rows = np.array([9, 10, 11, 13, 15, 16])  # 9 and 15 have no ledger row; 12 and 14 are skipped
    got_sidx, got_hks, half = ledger.embeddings("M", 0, 100, dtype=np.float16, rows=rows, among={HK[0], HK[2], HK[7]})
    assert got_sidx.tolist() == rows.tolist() and got_hks == tuple(sorted([HK[0], HK[2]]))
    assert half.dtype == np.float16 and half.shape == (6, 2, 3)
    cols = [hks.index(h) for h in got_hks]
    want = np.full((6, 2, 3), np.nan, dtype=np.float32)
    for k, s in enumerate(rows):
        if s in sidx:
            want[k] = full[sidx.tolist().index(s)][cols]
    np.testing.assert_array_equal(half.astype(np.float32), want)  # the same numbers: float16 is what is stored
    assert np.isnan(half[[0, 4]]).all()
    # Nothing in range: the rows asked for, no hotkeys, the dimension given.
    empty = ledger.embeddings("M", 50, 60, dtype=np.float16, rows=np.array([50, 51]), dim=3)
    assert empty[0].tolist() == [50, 51] and empty[1] == () and empty[2].shape == (2, 0, 3)
    with pytest.raises(ValueError, match="different dimensions"):
        ledger.embeddings("M", 0, 100, dim=2)
    with pytest.raises(ValueError, match="strictly increasing"):
        ledger.embeddings("M", 0, 100, rows=np.array([11, 10]))


def test_embeddings_idempotent_and_canonical(ledger):
    vals = np.array([[0.25, 0.5], [0.75, 1.0], [1.25, 1.5]])
    pres = np.array([True, False, True])
    assert ledger.store_embeddings("X", 1, HK[:3], vals, pres) is True
    assert ledger.store_embeddings("X", 1, HK[:3], vals * 2, np.ones(3, bool)) is False
    _, _, got = ledger.embeddings("X", 0, 5)
    assert np.isnan(got[0, 1]).all() and got[0, 0].tolist() == [0.25, 0.5]
    # The same data in another row order packs to the same bytes.
    perm = [2, 0, 1]
    assert ledger.store_embeddings("Y", 1, [HK[i] for i in perm], vals[perm], pres[perm])
    with ledger.engine.connect() as conn:
        blobs = dict(conn.execute(sa.select(schema.embeddings.c.challenge, schema.embeddings.c.data)).tuples().all())
    assert bytes(blobs["X"]) == bytes(blobs["Y"])


def test_many_samples_in_one_statement_store_what_one_at_a_time_stores(ledger, tmp_path):
    """The bootstrap's batch writes (samples, a challenge's values, prices) equal the per-sample ones."""
    rng = np.random.default_rng(3)
    vals = rng.uniform(-1, 1, size=(4, 3, 2))
    pres = rng.random((4, 3)) < 0.7
    sidxs = [20, 21, 23, 24]
    other = Ledger(f"sqlite:///{tmp_path / 'one.db'}")
    for i, sidx in enumerate(sidxs):
        other.record_sample(sidx, 5 * sidx, float(sidx), source="bootstrap")
        other.store_embeddings("X", sidx, HK[:3], vals[i], pres[i], source="bootstrap")
        other.store_prices(sidx, {"ETH": float(sidx), "BTC": math.nan}, source="bootstrap")
    ledger.record_sample(21, 105, 21.0, source="bootstrap")
    assert ledger.record_samples_taken([(s, 5 * s, float(s)) for s in sidxs], source="bootstrap") == {20, 23, 24}
    assert ledger.store_embeddings("X", 21, HK[:3], vals[1], pres[1], source="bootstrap")
    assert ledger.store_embeddings_many("X", sidxs, HK[:3], vals, pres, source="bootstrap") == 3  # 21 was there
    assert ledger.store_prices_many({s: {"ETH": float(s), "BTC": math.nan} for s in sidxs}, source="bootstrap") == 8
    assert ledger.samples(0, 100) == other.samples(0, 100)
    for a, b in zip(ledger.embeddings("X", 0, 100), other.embeddings("X", 0, 100)):
        np.testing.assert_array_equal(a, b)
    for key in ("ETH", "BTC"):
        np.testing.assert_array_equal(ledger.prices(key, 0, 100)[1], other.prices(key, 0, 100)[1])
    with pytest.raises(ValueError, match="non-finite"):  # one bad sample: nothing of the batch is stored
        ledger.store_embeddings_many("Z", [1, 2], HK[:1], np.array([[[0.5]], [[np.inf]]]), np.ones((2, 1), bool))
    assert ledger.embeddings("Z", 0, 10)[0].size == 0


def test_embeddings_refuse_bad_input_and_store_nothing(ledger):
    two = np.ones(2, bool)
    with pytest.raises(ValueError, match="non-finite"):
        ledger.store_embeddings("E", 1, HK[:2], np.array([[1.0, np.nan], [0.0, 0.0]]), two)
    with pytest.raises(ValueError, match="float16 range"):
        ledger.store_embeddings("E", 1, HK[:2], np.array([[1e6, 0.0], [0.0, 0.0]]), two)
    with pytest.raises(ValueError, match="present"):
        ledger.store_embeddings("E", 1, HK[:2], np.zeros((2, 2)), np.array([1, 1]))
    with pytest.raises(ValueError, match="distinct"):
        ledger.store_embeddings("E", 1, [HK[0], HK[0]], np.zeros((2, 2)), two)
    with pytest.raises(ValueError, match="hotkeys for"):
        ledger.store_embeddings("E", 1, HK[:3], np.zeros((2, 2)), two)
    with pytest.raises(ValueError, match="source"):
        ledger.store_embeddings("E", 1, HK[:2], np.zeros((2, 2)), two, source="x")
    assert _count(ledger, schema.embeddings) == 0
    assert _count(ledger, schema.hotkeys) == 0  # the failed transactions left nothing behind
    # Rows of different dimension in one range cannot form one array.
    ledger.store_embeddings("E", 1, HK[:1], np.zeros((1, 2)), np.ones(1, bool))
    ledger.store_embeddings("E", 2, HK[:1], np.zeros((1, 3)), np.ones(1, bool))
    with pytest.raises(ValueError, match="different dimensions"):
        ledger.embeddings("E", 0, 5)
    assert ledger.embeddings("E", 2, 3)[2].shape == (1, 1, 3)


def test_blob_decoder_rejects_corruption():
    ids, pres = np.array([3, 7]), np.array([True, False])
    blob = store.pack_embedding_blob(ids, pres, np.array([[1.0, 2.0]], dtype=np.float16))
    got_ids, got_pres, vec = store.unpack_embedding_blob(blob)
    assert got_ids.tolist() == [3, 7] and got_pres.tolist() == [True, False] and vec.tolist() == [[1.0, 2.0]]
    for bad in (blob[:-1], blob + b"\0", b"XXXX" + blob[4:], blob[:20] + bytes([blob[20] | 0x80]) + blob[21:]):
        with pytest.raises(ValueError, match="embedding blob"):
            store.unpack_embedding_blob(bad)


# ----------------------------------------------------------------------------------------------
# Prices, metagraph, weights, submissions


def test_price_matrix_reads_many_keys_at_once(ledger):
    """A multi-asset panel's prices: a row per sample at which any key has a row, NaN where a key
    has none (or a NULL), columns in the order asked; funding keys read like any other."""
    ledger.store_prices(5, {"BTC": 60000.0, "ETH": 3000.0, "funding:BTC": -1e-4})
    ledger.store_prices(6, {"ETH": float("nan"), "funding:BTC": 2e-4, "DOGE": 0.1})
    ledger.store_prices(7, {"DOGE": 0.2})  # none of the keys asked
    ledger.store_prices(8, {"BTC": 61000.0})
    ledger.store_prices(20, {"BTC": 1.0})  # outside [0, 10)
    sidx, vals = ledger.price_matrix(["ETH", "BTC", "funding:BTC", "SOL"], 0, 10)
    assert sidx.dtype == np.int64 and vals.dtype == np.float64 and sidx.tolist() == [5, 6, 8]
    n = np.nan
    np.testing.assert_array_equal(vals, [[3000.0, 60000.0, -1e-4, n], [n, n, 2e-4, n], [n, 61000.0, n, n]])
    for j, key in enumerate(["ETH", "BTC"]):  # each column is that key's own series where it has rows
        s, v = ledger.prices(key, 0, 10)
        np.testing.assert_array_equal(vals[np.searchsorted(sidx, s), j], v)
    keys = [f"K{i}" for i in range(1000)]  # more keys than one IN list holds
    ledger.store_prices(3, dict.fromkeys(keys, 1.5))
    s, v = ledger.price_matrix(keys, 0, 4)
    assert s.tolist() == [3] and v.shape == (1, 1000) and (v == 1.5).all()
    assert ledger.price_matrix(["X"], 0, 10)[1].shape == (0, 1)
    with pytest.raises(ValueError, match="distinct"):
        ledger.price_matrix(["BTC", "BTC"], 0, 10)


def test_price_vectors_one_row_a_sample(ledger):
    """A key set's values at a sample packed in one row (a multi-asset challenge's snapshot), read
    back by price_matrix for exactly those keys, beside single rows of other samples; a stored row is
    left alone, a set read in another order or another set finds none of it."""
    keys = ["BTC", "ETH", "SOL"]
    assert ledger.store_price_vectors(keys, {5: [1.0, 2.0, np.nan], 6: [1.5, 2.5, 3.5]}) == 2
    assert ledger.store_price_vectors(keys, {6: [9.0, 9.0, 9.0], 7: [1.0, 1.0, 1.0]}, source="bootstrap") == 1
    ledger.store_prices(8, {"ETH": 4.0})  # a single row of one of the keys, at another sample
    sidx, vals = ledger.price_matrix(keys, 0, 10)
    n = np.nan
    assert sidx.tolist() == [5, 6, 7, 8]
    np.testing.assert_array_equal(vals, [[1.0, 2.0, n], [1.5, 2.5, 3.5], [1.0, 1.0, 1.0], [n, 4.0, n]])
    assert ledger.price_matrix(["ETH", "BTC", "SOL"], 0, 10)[0].tolist() == [8]
    assert ledger.price_matrix(keys, 6, 7)[0].tolist() == [6]
    with pytest.raises(ValueError, match="values for 3 keys"):
        ledger.store_price_vectors(keys, {9: [1.0, 2.0]})
    ledger.store_snapshots({10: {"ETH": 5.0, "BTC": 6.0, "SOL": 7.0, "X": 1.0}}, (("ETH",), (tuple(keys),)))
    assert ledger.prices("ETH", 10, 11)[1].tolist() == [5.0] and ledger.prices("BTC", 10, 11)[0].size == 0
    assert ledger.price_matrix(keys, 10, 11)[1].tolist() == [[6.0, 5.0, 7.0]]


def test_prices_nan_as_null(ledger):
    assert ledger.store_prices(5, {"ETH": 3000.5, "BTC": float("nan")}) == 2
    assert ledger.store_prices(5, {"ETH": 1.0, "SOL": 20.0}) == 1  # ETH untouched
    assert ledger.store_prices(2, {"ETH": 2999.0}, source="bootstrap") == 1
    assert ledger.store_prices(9, {"ETH": 3001.0}) == 1
    sidx, vals = ledger.prices("ETH", 0, 9)
    assert sidx.dtype == np.int64 and vals.dtype == np.float64
    assert sidx.tolist() == [2, 5] and vals.tolist() == [2999.0, 3000.5]
    s_btc, v_btc = ledger.prices("BTC", 0, 10)
    assert s_btc.tolist() == [5] and math.isnan(v_btc[0])
    with ledger.engine.connect() as conn:
        p = schema.prices.c
        assert conn.execute(sa.select(p.value).where(p.key == "BTC")).scalar_one() is None
        assert conn.execute(sa.select(p.source).where(p.key == "ETH", p.sidx == 2)).scalar_one() == "bootstrap"
    assert ledger.prices("DOGE", 0, 10)[0].shape == (0,)


def test_metagraph_snapshots(ledger):
    neurons = (Neuron(0, HK[0], "ck0", 1000.5, 10, True), Neuron(2, HK[2], "ck2", 0.0, 200),
               Neuron(1, HK[1], "ck1", 12.25, 150))
    mg = Metagraph(netuid=123, block=1000, neurons=neurons)
    assert ledger.store_metagraph(mg) is True
    assert ledger.store_metagraph(Metagraph(123, 1000, neurons[:1])) is False  # untouched
    mg2 = Metagraph(123, 1360, (Neuron(0, HK[5], "ck5", 1.0, 1300),))
    assert ledger.store_metagraph(mg2) is True
    assert ledger.store_metagraph(Metagraph(123, 1500, ())) is True
    assert ledger.metagraph(999) is None
    got = ledger.metagraph(1359)
    assert got == Metagraph(123, 1000, tuple(sorted(neurons, key=lambda n: n.uid)))
    assert got.uids == (0, 1, 2) and got.neurons[0].validator_permit is True
    assert ledger.metagraph(1360) == mg2 and ledger.metagraph(1499) == mg2
    assert ledger.metagraph(10**9) == Metagraph(123, 1500, ())
    assert _count(ledger, schema.metagraph_neurons) == 4


def test_chain_params_per_block(ledger):
    params = ChainParams(tempo=360, weights_rate_limit=2**40, max_weight_limit=19_661, min_allowed_weights=8,
                         commit_reveal=True)
    assert ledger.chain_params(719) is None
    assert ledger.store_chain_params(719, params) is True
    assert ledger.store_chain_params(719, ChainParams(1, 1, 65535, 1, False)) is False  # the first read stays
    assert ledger.chain_params(719) == params
    assert ledger.chain_params(720) is None  # exactly the block: parameters may change between epochs


def test_trade_pulls_read_back_exactly_as_of_each_pull(ledger):
    open_pos = {"position_id": 1, "is_completed": False, "completed_at": None, "pnl": None}
    settled = {**open_pos, "is_completed": True, "completed_at": "2026-12-04T10:00:00Z", "pnl": 5.5}
    other = {"position_id": 2, "is_completed": True, "completed_at": "2026-11-01T00:00:00Z", "pnl": -1.0,
             "note": "\ud800 odd text", "big": 10**30, "nan": float("nan")}
    first = ledger.record_trade_pull([open_pos, other, other], [None, 20393, 20393], pulled_at=1.0, pages=1)
    second = ledger.record_trade_pull([settled, other, other], [20426, 20393, 20393], pulled_at=2.0, pages=2)
    third = ledger.record_trade_pull([settled], [20426], pulled_at=3.0, pages=1)
    assert [p.records for p in ledger.trade_pulls()] == [3, 3, 1] and ledger.trade_pulls()[1].pages == 2
    as_first = ledger.trades(first)
    assert as_first[0] == open_pos and as_first[1]["big"] == 10**30 and len(as_first) == 3
    assert math.isnan(as_first[2]["nan"]) and as_first[1]["note"] == "\ud800 odd text"
    assert sorted(r["position_id"] for r in ledger.trades(second)) == [1, 2, 2]
    assert [r["pnl"] for r in ledger.trades(second) if r["position_id"] == 1] == [5.5]
    assert ledger.trades(third) == [settled]
    # a later pull never changes what an earlier one reads
    assert ledger.trades(first)[0] == open_pos
    # by UTC completion day: [first_day, last_day) plus records without a day
    assert [r["position_id"] for r in ledger.trades(first, 20400, 20430)] == [1]
    assert [r["position_id"] for r in ledger.trades(second, 20400, 20430)] == [1]
    assert _count(ledger, schema.trade_versions) == 3  # the open and settled position, and `other` once
    with pytest.raises(ValueError):
        ledger.record_trade_pull([open_pos], [], pulled_at=4.0, pages=1)
    # each pull reads back in the order the API sent it, repeats where they came
    a, b = {"position_id": 7, "profile_id": "0xABC"}, {"position_id": 8, "profile_id": "0xabc"}
    c = {"position_id": 9, "completed_at": "2026-11-01T00:00:00Z"}
    fourth = ledger.record_trade_pull([b, a, b, c], [None, None, None, 20393], pulled_at=5.0, pages=1)
    fifth = ledger.record_trade_pull([a, c, b, b], [None, 20393, None, None], pulled_at=6.0, pages=1)
    assert ledger.trades(fourth) == [b, a, b, c] and ledger.trades(fifth) == [a, c, b, b]
    assert ledger.trades(fifth, 20400, 20430) == [a, b, b]


def test_an_almanac_epoch_keeps_what_it_first_read(ledger):
    import datetime as dt

    from ledger import AlmanacEpoch

    pull = ledger.record_trade_pull([{"position_id": 1}], [None], pulled_at=1.0, pages=1)
    hostile = "bad\x00\ud800" + "q" * 5000  # a miner's commitment is its own text: kept exactly
    e = AlmanacEpoch(12, 4679, dt.date(2026, 12, 4), pull, 5.0, 0.0125, 350.0, None,
                     {3: "0xab12c", 4: None, 7: hostile})
    assert ledger.store_almanac_epoch(e) and ledger.almanac_epoch(11) is None
    got = ledger.almanac_epoch(12)
    assert (got.moving_price, got.tao_usd) == (0.0125, 350.0) and got.boundary == dt.date(2026, 12, 4)
    assert got.commitments == {3: "0xab12c", 4: None, 7: hostile}
    later = dataclasses.replace(e, pull=pull, moving_price=None, missing="chain: unreachable")
    assert not ledger.store_almanac_epoch(later) and ledger.almanac_epoch(12).moving_price == 0.0125
    skipped = dataclasses.replace(e, epoch=13, tao_usd=None, missing="prices: 503")
    assert ledger.store_almanac_epoch(skipped) and ledger.almanac_epoch(13).tao_usd is None


def test_weights_history(ledger):
    w7 = StoredWeights(7, 2520, (0, 3, 5), (HK[0], HK[3], HK[5]), (0.35, 0.1 + 0.2, 0.35),
                       (65535, 56172, 65535), {"guard": None, "challenges": {"ETH": 1.0}, "n": 3})
    assert ledger.store_weights(w7) == "stored"
    assert ledger.store_weights(w7) == "same"
    assert ledger.weights(7) == w7  # floats round-trip exactly (0.1 + 0.2 ≠ 0.3)
    w9 = StoredWeights(9, 3240, (1,), (HK[1],), (1.0,), (65535,), {})
    assert ledger.store_weights(w9) == "stored"
    assert ledger.weights(8) is None
    assert ledger.latest_weights_before(7) is None
    assert ledger.latest_weights_before(8) == w7 and ledger.latest_weights_before(9) == w7
    assert ledger.latest_weights_before(100) == w9
    with pytest.raises(ValueError, match="finite"):
        ledger.store_weights(StoredWeights(10, 0, (1,), (HK[1],), (float("nan"),), (0,), {}))
    with pytest.raises(ValueError, match="same length"):
        ledger.store_weights(StoredWeights(10, 0, (1, 2), (HK[1],), (1.0,), (0,), {}))
    assert ledger.weights(10) is None


def test_stored_weights_are_restated_until_sent(ledger):
    """A rerun's vector replaces the stored one while the chain has not been sent it (a failed or
    dry-run submission does not count); once sent, the stored vector stays the epoch's record."""
    first = StoredWeights(7, 2520, (0, 3), (HK[0], HK[3]), (0.5, 0.5), (65535, 65535), {"source": "computed"})
    corrected = StoredWeights(7, 2520, (0, 3), (HK[0], HK[3]), (0.6, 0.4), (65535, 43690), {"source": "rerun"})
    later = StoredWeights(7, 2520, (0, 3), (HK[0], HK[3]), (0.7, 0.3), (65535, 28086), {})
    assert ledger.store_weights(first) == "stored"
    assert ledger.store_weights(corrected) == "restated" and ledger.weights(7) == corrected
    ledger.record_submission(7, WeightsReceipt(1, 2600, (0, 3), (65535, 43690), 7, "", False, "dry run"),
                             forced=False, recorded_at=1.0)
    ledger.record_submission(8, WeightsReceipt(1, 2610, (0, 3), (65535, 43690), 7, HK[0], True, "0x8"),
                             forced=False, recorded_at=2.0)  # another epoch's
    assert ledger.store_weights(first) == "restated" and ledger.weights(7) == first
    ledger.record_submission(7, WeightsReceipt(1, 2620, (0, 3), (65535, 65535), 7, HK[0], True, "0x7"),
                             forced=False, recorded_at=3.0)
    assert ledger.store_weights(later) == "kept" and ledger.weights(7) == first
    assert ledger.store_weights(StoredWeights(7, 2520, (0, 3), (HK[0], HK[3]), (0.5, 0.5), (65535, 65535), {"x": 1})) == "same"


def test_a_vector_being_sent_is_kept(ledger):
    """While the submission sends an epoch's vector no rerun restates it; a send that fails (or a
    dry run) leaves the epoch open to correction, and a correction of the floats alone counts."""
    first = StoredWeights(7, 2520, (0, 3), (HK[0], HK[3]), (0.5, 0.5), (65535, 65535), {"source": "computed"})
    other = StoredWeights(7, 2520, (0, 3), (HK[0], HK[3]), (0.6, 0.4), (65535, 43690), {})
    assert ledger.store_weights(first) == "stored"
    with ledger.sending_weights(7) as sending:
        assert sending == first
        assert ledger.store_weights(other) == "kept" and ledger.weights(7).u16 == first.u16
    with pytest.raises(RuntimeError), ledger.sending_weights(7):
        raise RuntimeError("the chain refused the extrinsic")
    assert ledger.weights(7) == first  # the mark is gone with the failed send
    floats = StoredWeights(7, 2520, (0, 3), (HK[0], HK[3]), (0.500004, 0.499996), (65535, 65535), {})
    assert ledger.store_weights(floats) == "restated" and ledger.weights(7).weights == floats.weights
    with ledger.sending_weights(8) as none:
        assert none is None


def test_submissions_append_only(ledger):
    r1 = WeightsReceipt(123, 2600, (0, 3), (65535, 100), 7, "", False, "dry run")
    r2 = WeightsReceipt(123, 2700, (0, 3), (65535, 100), 7, HK[0], True, "0xabc")
    ledger.record_submission(7, r1, forced=False, recorded_at=1.5)
    ledger.record_submission(7, r2, forced=True, recorded_at=2.5)
    ledger.record_submission(8, r2, forced=False, recorded_at=3.5)
    assert ledger.submissions(7) == [
        Submission(7, 2600, (0, 3), (65535, 100), 7, "", False, "dry run", False, 1.5),
        Submission(7, 2700, (0, 3), (65535, 100), 7, HK[0], True, "0xabc", True, 2.5),
    ]
    assert [s.epoch for s in ledger.submissions()] == [7, 7, 8]
    assert ledger.submissions(99) == []


# ----------------------------------------------------------------------------------------------
# Devnet chain state


def test_devnet_state(ledger):
    assert ledger.devnet_get("head") is None
    ledger.devnet_set("head", 100)
    ledger.devnet_set("params", {"tempo": 360, "burn": [0, 0.5], "name": "dev"})
    ledger.devnet_set("head", 105)  # replaces
    assert ledger.devnet_get("head") == 105
    assert ledger.devnet_get("params") == {"tempo": 360, "burn": [0, 0.5], "name": "dev"}
    with pytest.raises(TypeError):
        ledger.devnet_set("bad", object())


def test_devnet_neurons_and_commitments(ledger):
    ledger.devnet_register(Neuron(1, HK[1], "c1", 5.0, 100))
    ledger.devnet_register(Neuron(0, HK[0], "c0", 1e6, 0, True))
    ledger.devnet_register(Neuron(2, HK[2], "c2", 0.0, 300))
    ledger.devnet_register(Neuron(1, HK[4], "c4", 2.5, 250))  # uid 1 re-registered: replaced
    assert ledger.devnet_neurons() == [Neuron(0, HK[0], "c0", 1e6, 0, True), Neuron(1, HK[4], "c4", 2.5, 250),
                                       Neuron(2, HK[2], "c2", 0.0, 300)]
    assert [n.uid for n in ledger.devnet_neurons(249)] == [0]
    assert [n.uid for n in ledger.devnet_neurons(250)] == [0, 1]

    ledger.devnet_commit(HK[0], 10, "http://127.0.0.1:1/a0")
    ledger.devnet_commit(HK[0], 20, "http://127.0.0.1:1/a1")
    ledger.devnet_commit(HK[1], 15, "http://127.0.0.1:1/b0")
    ledger.devnet_commit(HK[1], 15, "http://127.0.0.1:1/b1")  # same block: the last one wins
    assert ledger.devnet_commitments(9) == {}
    assert ledger.devnet_commitments(19) == {HK[0]: Commitment(HK[0], 10, "http://127.0.0.1:1/a0"),
                                             HK[1]: Commitment(HK[1], 15, "http://127.0.0.1:1/b1")}
    assert ledger.devnet_commitments()[HK[0]] == Commitment(HK[0], 20, "http://127.0.0.1:1/a1")
    assert ledger.devnet_commitments(20)[HK[0]].block == 20
    assert _count(ledger, schema.devnet_commitments) == 3  # history kept


def test_devnet_weights(ledger):
    a = ledger.devnet_record_weights(100, HK[0], [0, 1], [65535, 3], 7)
    b = ledger.devnet_record_weights(105, HK[1], [2], [65535], 7)
    c = ledger.devnet_record_weights(110, HK[0], [1], [65535], 8)
    assert a < b < c
    assert ledger.devnet_weights() == [
        {"id": a, "block": 100, "hotkey": HK[0], "uids": [0, 1], "weights": [65535, 3], "version_key": 7},
        {"id": b, "block": 105, "hotkey": HK[1], "uids": [2], "weights": [65535], "version_key": 7},
        {"id": c, "block": 110, "hotkey": HK[0], "uids": [1], "weights": [65535], "version_key": 8},
    ]
    assert [r["id"] for r in ledger.devnet_weights(HK[0])] == [a, c]
    assert ledger.devnet_weights("nobody") == []


def test_transaction_groups_writes_and_rolls_back_together(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path}/tx.sqlite")
    with ledger.transaction():
        assert ledger.record_sample(1, 5, 100.0)
        with ledger.transaction():  # nested blocks join the outer one
            ledger.store_prices(1, {"ETH": 10.0})
        assert [s.sidx for s in ledger.samples(0, 10)] == [1]  # visible inside
    assert [s.sidx for s in ledger.samples(0, 10)] == [1]
    with pytest.raises(RuntimeError):
        with ledger.transaction():
            ledger.record_sample(2, 10, 101.0)
            ledger.store_prices(2, {"ETH": 11.0})
            raise RuntimeError("abort")
    assert [s.sidx for s in ledger.samples(0, 10)] == [1]  # sample 2 rolled back with its prices
    assert ledger.prices("ETH", 0, 10)[0].tolist() == [1]


def test_hotkey_ids_remembered_in_a_transaction_are_forgotten_on_rollback(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path}/ids.sqlite")
    values, present = np.array([[0.5, -0.5]]), np.array([True])
    with pytest.raises(RuntimeError):
        with ledger.transaction():
            ledger.store_embeddings("X", 1, ["5New"], values, present)
            raise RuntimeError("abort")
    ledger.store_embeddings("X", 2, ["5Other"], values, present)  # takes the id the rollback freed
    with ledger.transaction():
        ledger.store_embeddings("X", 3, ["5New"], values, present)
        ledger.store_embeddings("X", 4, ["5New", "5Other"], np.vstack([values, values]), np.array([True, True]))
    sidx, hotkeys, got = ledger.embeddings("X", 0, 10)
    assert sidx.tolist() == [2, 3, 4] and hotkeys == ("5New", "5Other")
    assert np.isnan(got[0, 0]).all() and not np.isnan(got[0, 1]).any()  # sample 2 is 5Other's alone
    assert not np.isnan(got[1, 0]).any() and np.isnan(got[1, 1]).all()
