"""Peak memory and ledger growth of an epoch with 10 % hostile miners, against an honest epoch.

An epoch's samples (72, one a minute) of MINERS miners go through the validator's real path: the
loopback payload server (`fetch.loopback_server`) → `HttpPayloadStore.fetch_all` with the cap
`resources/settings.py` gives it → `screened_row` → `Ledger.record_sample` / `record_payloads` in one
transaction per sample, on a SQLite file. Then the rounds' signatures are verified and stored (the
`drand_signatures` asset) and the epoch is revealed as `assets/mantis/reveal.py` `embeddings` does it, one
sample's bodies at a time (`assets.mantis.reveal.opened_samples`, as the embeddings asset runs it), and
the rejections recorded once at the end, all in one `Ledger.replacing_reveal` transaction.

Run once with every miner honest and once with HOSTILE_SHARE of them hostile, each hostile miner
cycling through `fetch.HOSTILE` (a different kind each sample, so every kind is met many times).
Every payload is generated before anything is measured and moved into the served directory sample by
sample, so the figures are the validator's alone. Each sample is checked as in `fetch.check`. Both
runs are traced with tracemalloc from start to end; the kernel's RSS high-water mark and the traced
peak are reset before the collection and before the reveal.
"""

from __future__ import annotations

import os
import random
import resource
import sqlite3
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any


from assets.mantis.ingest import CollectConfig, screened_row
from assets.mantis.reveal import opened_samples, store_vectors
from benchmarks import fetch
from benchmarks.common import machine
from devnet.mantis.miners import ROUND_GRID
from ledger import Ledger

MINERS = 70  # 63 honest + 7 hostile in the hostile run
SAMPLES = 72  # a full epoch on the devnet profile (tempo 360 / sample_every 5)
SAMPLE_SECONDS = 60.0  # 5 blocks of 12 s
FIRST_SIDX = 1000
MINUTES_PER_DAY = 1440


def _grid_round(ctx: fetch.Context) -> int:
    """The round the devnet's honest miners lock to: the earliest the lock rule admits, rounded up
    to the grid, so about five consecutive samples share a round (and its pairing table)."""
    earliest = ctx.beacon.chain.round_at(ctx.taken_at + ctx.profile.lock_seconds(ctx.challenge))
    round_ = -(-earliest // ROUND_GRID) * ROUND_GRID
    return round_ if round_ <= ctx.rules.window.last else earliest


def generate(ctx0: fetch.Context, root: Path, base: str, samples: int, hostile_n: int) -> list[dict[str, Any]]:
    """Every sample's payload files, in root/<k>/honest and root/<k>/hostile; per sample its context,
    sidx and the honest and hostile `fetch.Sample`s."""
    rng, plan = random.Random(17), []
    for k in range(samples):
        ctx = fetch.at(ctx0, ctx0.taken_at + k * SAMPLE_SECONDS)
        honest_dir, hostile_dir = root / str(k) / "honest", root / str(k) / "hostile"
        honest_dir.mkdir(parents=True)
        hostile_dir.mkdir()
        honest = fetch.write_honest(ctx, honest_dir, base, MINERS, rng, rounds=[_grid_round(ctx)])
        hostile = fetch.write_hostile(ctx, hostile_dir, base, hostile_n, rng, offset=k * hostile_n)
        plan.append({"ctx": ctx, "sidx": FIRST_SIDX + k, "honest": honest, "hostile": hostile,
                     "dirs": (honest_dir, hostile_dir)})
    return plan


def _serve(served: Path, sources: list[tuple[Path, list[str]]]) -> None:
    """Make exactly these files the served ones (hard links: the files stay for the other run)."""
    for f in served.iterdir():
        f.unlink()
    for directory, hotkeys in sources:
        for hk in hotkeys:
            if (directory / hk).exists():
                os.link(directory / hk, served / hk)


def _rss_reset() -> bool:
    return fetch._reset_peak_rss()


def _phase_memory(t0: float, rss_before: float) -> dict[str, Any]:
    _, peak = tracemalloc.get_traced_memory()
    hwm = fetch._rss_mib("VmHWM")
    return {"seconds": round(time.perf_counter() - t0, 2), "peak_traced_mib": round(peak / 2**20, 1),
            "peak_rss_mib": hwm, "rss_before_mib": rss_before, "peak_rss_over_before_mib": round(hwm - rss_before, 1)}


def _ledger_bytes(path: Path) -> int:
    """The SQLite file and its WAL after a checkpoint (what the disk holds for the ledger)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def run_epoch(plan: list[dict[str, Any]], served: Path, port: int, db: Path, hostile: bool,
              deadline_s: float) -> dict[str, Any]:
    """Collection and reveal of one epoch into a fresh ledger at `db`; the figures of both."""
    ctx0 = plan[0]["ctx"]
    store = fetch.payload_store(ctx0, port)
    ledger = Ledger(f"sqlite:///{db}")
    empty_bytes = _ledger_bytes(db)
    honest_n = MINERS - len(plan[0]["hostile"].urls) if hostile else MINERS
    samples = [p["honest"].head(honest_n) | p["hostile"] if hostile else p["honest"] for p in plan]
    lo, hi = plan[0]["sidx"], plan[-1]["sidx"] + 1

    # Collection, as collect_epoch does it sample by sample.
    rss_reset = _rss_reset()
    tracemalloc.start()
    rss_before = fetch._rss_mib("VmRSS")
    t0 = time.perf_counter()
    fetch_s = 0.0
    for p, sample in zip(plan, samples):
        _serve(served, [(p["dirs"][0], list(sample.urls)[:honest_n]), (p["dirs"][1], list(p["hostile"].urls))]
               if hostile else [(p["dirs"][0], list(sample.urls))])
        ctx, sidx = p["ctx"], p["sidx"]
        t1 = time.perf_counter()
        results = store.fetch_all(sample.urls, deadline_s)
        fetch_s += time.perf_counter() - t1
        rows = [screened_row(r, sidx, ctx.taken_at, ctx.rules) for r in results.values()]
        with ledger.transaction():
            ledger.record_sample(sidx, sidx * ctx.profile.chain.sample_every, ctx.taken_at)
            ledger.record_payloads(rows)
        del results, rows
    collection = _phase_memory(t0, rss_before) | {"fetch_seconds": round(fetch_s, 2)}

    # The rounds' signatures, verified and stored (drand_signatures), then the reveal (embeddings).
    _rss_reset()
    tracemalloc.reset_peak()
    rss_before = fetch._rss_mib("VmRSS")
    t0 = time.perf_counter()
    reveal_ctx = plan[-1]["ctx"]
    waiting = ledger.payload_rounds(lo, hi)
    ledger.store_signatures(fetch.verified_signatures(reveal_ctx, set().union(*waiting.values())))
    signatures = ledger.signatures(set().union(*waiting.values()))
    valid, all_rejections = Counter(), []
    by_sidx = {p["sidx"]: (p, s) for p, s in zip(plan, samples)}
    with ledger.replacing_reveal(lo, hi, (c.name for c in reveal_ctx.profile.challenges)):
        for s in ledger.samples(lo, hi):
            p, sample = by_sidx[s.sidx]
            ctx = p["ctx"]
            rows = ledger.raw_payloads(s.sidx, s.sidx + 1)
            _, vectors, rejections = next(opened_samples(ledger, [s], signatures, ctx.profile, ctx.beacon.chain, workers=1))
            store_vectors(ledger, s, vectors, ctx.profile)
            fetch.check(ctx, sample, rows, vectors, rejections)
            all_rejections += rejections
            valid.update({name: len(got) for name, got in vectors.items()})
            del rows, vectors, rejections
        ledger.record_rejections(all_rejections)
    reveal = _phase_memory(t0, rss_before) | {"rounds": len(signatures)}
    tracemalloc.stop()
    ledger.dispose()
    return {"collection": collection, "reveal": reveal, "peak_rss_is_per_phase": rss_reset,
            **ledger_growth(db, empty_bytes, plan, samples, hostile), "valid_vectors": dict(valid),
            "rejections_by_reason": dict(sorted(Counter(r.reason for r in all_rejections).items()))}


def ledger_growth(db: Path, empty_bytes: int, plan: list[dict[str, Any]], samples: list[fetch.Sample],
                  hostile: bool) -> dict[str, Any]:
    """File growth, and the payload rows' bytes (body, URL and reason) by status and by miner kind."""
    grown = _ledger_bytes(db) - empty_bytes
    kind_of = {(p["sidx"], hk): k for p, s in zip(plan, samples) for hk, k in s.kinds.items()}
    statuses: Counter[str] = Counter()
    bodies, by_kind, count_kind = 0, defaultdict(int), Counter()
    with sqlite3.connect(db) as conn:
        q = ("SELECT p.sidx, h.ss58, p.status, coalesce(length(p.body), 0), length(p.url) + length(p.reason) "
             "FROM raw_payloads p JOIN hotkeys h ON h.id = p.hotkey_id")
        for sidx, hk, status, body, text in conn.execute(q):
            statuses[status] += 1
            bodies += body
            kind = kind_of.get((sidx, hk), "honest")
            by_kind[kind] += body + text
            count_kind[kind] += 1
    payloads = sum(statuses.values())
    hostile_payloads = payloads - count_kind["honest"]
    out = {
        "samples": len(plan),
        "miners": MINERS,
        "hostile_miners": len(plan[0]["hostile"].urls) if hostile else 0,
        "payloads": payloads,
        "payloads_by_status": dict(sorted(statuses.items())),
        "ledger_growth_bytes": grown,
        "ledger_growth_bytes_per_payload": round(grown / payloads),
        "raw_payload_body_bytes": bodies,
        "served_mib": round(sum(sum(s.served.values()) for s in samples) / 2**20, 1),
        "row_bytes_per_honest_payload": round(by_kind["honest"] / max(1, count_kind["honest"])),
    }
    if hostile:
        out["row_bytes_per_hostile_payload"] = round(sum(v for k, v in by_kind.items() if k != "honest")
                                                     / max(1, hostile_payloads))
        out["row_bytes_per_payload_by_kind"] = {k: round(by_kind[k] / count_kind[k]) for k in sorted(by_kind)}
    return out


def run(scale: float = 1.0) -> dict[str, Any]:
    samples = max(2, round(SAMPLES * scale))
    hostile_n = round(MINERS * fetch.HOSTILE_SHARE)
    deadline_s = CollectConfig().fetch_deadline_s
    ctx0 = fetch.context(fetch.TAKEN_AT)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        served = root / "served"
        served.mkdir()
        t0 = time.perf_counter()
        with fetch.loopback_server(served) as port:
            base = f"http://127.0.0.1:{port}"
            plan = generate(ctx0, root / "samples", base, samples, hostile_n)
            # The relays' work, not the validator's: the beacon signs every round a payload may name
            # before anything is measured (the reveal verifies them, as the drand client does).
            reveal_ctx = plan[-1]["ctx"]
            for p in plan:
                for r in {_grid_round(p["ctx"]), fetch.lock_rounds(p["ctx"], 1)[0], p["ctx"].rules.window.last}:
                    reveal_ctx.beacon.signature(r, reveal_ctx.reveal_now)
            generate_s = time.perf_counter() - t0
            figures = {}
            for name, hostile in (("honest", False), ("hostile_10pct", True)):
                figures[name] = run_epoch(plan, served, port, root / f"{name}.sqlite", hostile, deadline_s)
    honest, mixed = figures["honest"], figures["hostile_10pct"]
    per_honest = honest["ledger_growth_bytes"] / honest["payloads"]
    marginal = per_honest + (mixed["ledger_growth_bytes"] - honest["ledger_growth_bytes"]) / max(
        1, mixed["hostile_miners"] * mixed["samples"])
    return {
        "benchmark": "hostile-epoch",
        "machine": machine(),
        "fetch_max_bytes": fetch.payload_store(ctx0, 0).max_bytes,
        "challenge": ctx0.challenge.name,
        "generate_seconds": round(generate_s, 1),
        "process_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "note": "tracemalloc on throughout (times are traced times); peak RSS is the phase's VmHWM after a "
                "reset (clear_refs), peak traced the phase's tracemalloc peak; ledger growth is the SQLite "
                "file + WAL after a TRUNCATE checkpoint, less the migrated empty ledger; row bytes are "
                "length(body) + length(url) + length(reason) of raw_payloads",
        **figures,
        "ledger_file_bytes_per_honest_payload": round(per_honest),
        "ledger_file_bytes_per_hostile_payload": round(marginal),
        "ledger_growth_hostile_over_honest": round(mixed["ledger_growth_bytes"] / honest["ledger_growth_bytes"], 3),
    }
