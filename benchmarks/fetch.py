"""One sample as the validator takes and reveals it: 256 payloads fetched over loopback HTTP, screened,
their rounds' signatures verified, then decrypted and validated (`_open_sample`).

The payload server runs in its own process (devnet/server.py), as miners' hosts are other machines,
so the figures are the validator's alone: its CPU, its traced memory and its RSS. Every run checks
that each honest miner's vector came out exactly as planted and that each hostile payload met its
known refusal, so a broken path fails loudly instead of being timed.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import profiles
from assets.epochs import SampleRules
from assets.ingest import CollectConfig, screened_row
from assets.reveal import _open_sample
from benchmarks.common import machine
from devnet.miners import MALFORMATIONS, ROUND_GRID, Job
from devnet.miners import build as build_payload
from ledger import RawPayload, Rejection
from profiles.schema import Challenge, Profile
from protocol import payload as pl
from protocol.drand import LocalBeacon
from protocol.validation import ChallengeFormat
from resources.payloads import ABSENT, BAD_URL, FETCHED
from resources.payloads_http import HttpPayloadStore

MINERS = 256
ROUNDS = 6  # distinct rounds the miners of one sample lock to (each picks a grid round past the horizon)
HOSTILE_SHARE = 0.10
JUNK_BYTES = 1 << 20  # far under the 25 MiB cap, so the body is downloaded and screened in full
GENESIS = 1_700_000_000
TAKEN_AT = 1_700_100_000.0
SIDX = 100
# Hostile kinds beyond the devnet's malformations, and the status or rejection each must meet.
EXTRA_HOSTILE = {"junk-bytes": "schema", "junk-json": "aead", "absent": ABSENT, "bad-url": BAD_URL}
HOSTILE = {**MALFORMATIONS, **EXTRA_HOSTILE}
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Context:
    """What the validator knows for the sample: profile, beacon, owner key, formats, round bounds."""

    profile: Profile
    beacon: LocalBeacon
    owner_pk: bytes
    formats: list[ChallengeFormat]
    taken_at: float
    rules: SampleRules

    @property
    def newest_round(self) -> int:
        return self.rules.window.last

    @property
    def challenge(self) -> Challenge:
        return self.profile.challenges[0]

    @property
    def reveal_now(self) -> float:
        """The reveal runs after the sample's hard deadline, when every admissible round is out."""
        return self.taken_at + self.profile.round_deadline_seconds()


@dataclass
class Sample:
    """The committed URLs of one sample, with what each miner must come out as."""

    urls: dict[str, str] = field(default_factory=dict)
    planted: dict[str, list[float]] = field(default_factory=dict)  # honest hotkey -> its vector
    expected: dict[str, str] = field(default_factory=dict)  # hostile hotkey -> status or rejection reason
    served: dict[str, int] = field(default_factory=dict)  # hotkey -> bytes of its payload file

    def write(self, directory: Path, hk: str, body: bytes) -> None:
        (directory / hk).write_bytes(body)
        self.served[hk] = len(body)

    def head(self, n: int) -> "Sample":
        """The first `n` miners of the sample (hotkeys in commitment order)."""
        keep = list(self.urls)[:n]
        return Sample({h: self.urls[h] for h in keep}, {h: self.planted[h] for h in keep if h in self.planted},
                      {h: self.expected[h] for h in keep if h in self.expected},
                      {h: self.served[h] for h in keep if h in self.served})

    def __or__(self, other: "Sample") -> "Sample":
        return Sample(self.urls | other.urls, self.planted | other.planted, self.expected | other.expected,
                      self.served | other.served)


def context() -> Context:
    profile = profiles.load()
    beacon = LocalBeacon.from_seed(b"bench-fetch".ljust(32, b"\0"), genesis=GENESIS)
    formats = [ChallengeFormat(c.name, c.ticker, c.dim) for c in profile.challenges]
    return Context(profile, beacon, bytes.fromhex(profile.protocol.owner_pk), formats, TAKEN_AT,
                   SampleRules.of(beacon.chain, profile, TAKEN_AT))


def hotkey(i: int, kind: str = "honest") -> str:
    """A 48-character, URL-safe stand-in for an SS58 hotkey (the path segment of its URL)."""
    return f"5{kind[:6].title()}{i:04d}".ljust(48, "x")


def lock_rounds(ctx: Context, n: int) -> list[int]:
    """`n` rounds on the devnet miners' grid, the first the earliest that satisfies the lock rule."""
    chain = ctx.beacon.chain
    earliest = chain.round_at(ctx.taken_at + ctx.profile.lock_seconds(ctx.challenge))
    first = -(-earliest // ROUND_GRID) * ROUND_GRID
    rounds = [first + k * ROUND_GRID for k in range(n)]
    assert rounds[-1] <= ctx.newest_round, "the lock rounds must be published by the hard deadline"
    assert all(chain.reveal_time(r) >= ctx.taken_at + ctx.profile.lock_seconds(ctx.challenge) for r in rounds)
    return rounds


def _job(ctx: Context, hk: str, round_: int, values: list[float], kind: str | None = None, other: str = "") -> Job:
    plaintext = pl.plaintext_bytes({ctx.challenge.ticker: values}, hk)
    return Job(hk, round_, plaintext, ctx.beacon.chain.public_key, ctx.owner_pk, kind, other)


def write_honest(ctx: Context, directory: Path, base: str, n: int, rng: random.Random) -> Sample:
    """`n` real V2 payloads (devnet/miners.py's `build`), miner i locked to the i-th round in turn."""
    rounds, sample = lock_rounds(ctx, ROUNDS), Sample()
    for i in range(n):
        hk = hotkey(i)
        values = [round(rng.uniform(-1, 1), 6) for _ in range(ctx.challenge.dim)]
        sample.write(directory, hk, build_payload(_job(ctx, hk, rounds[i % len(rounds)], values)))
        sample.urls[hk], sample.planted[hk] = f"{base}/{hk}", values
    return sample


def _junk_json(ctx: Context, hk: str, round_: int) -> bytes:
    """A well-formed payload whose content ciphertext is inflated to JUNK_BYTES: parsed, decrypted, refused."""
    body = json.loads(build_payload(_job(ctx, hk, round_, [0.0] * ctx.challenge.dim)))
    body["C"]["ct"] = secrets.token_bytes(JUNK_BYTES // 2).hex()
    return json.dumps(body, separators=(",", ":")).encode()


def write_hostile(ctx: Context, directory: Path, base: str, n: int) -> Sample:
    """`n` hostile miners cycling through HOSTILE; each kind's refusal is recorded to check."""
    chain, kinds = ctx.beacon.chain, list(HOSTILE)
    round_ = lock_rounds(ctx, 1)[0]
    odd_rounds = {"late-round": chain.round_at(ctx.taken_at + ctx.profile.round_deadline_seconds() + 60),
                  "early-round": chain.current_round(ctx.taken_at)}
    sample = Sample()
    for i in range(n):
        kind, hk = kinds[i % len(kinds)], hotkey(i, "hostile")
        sample.urls[hk], sample.expected[hk] = f"{base}/{hk}", HOSTILE[kind]
        if kind == "absent":
            continue  # committed, but nothing is at the URL: 404
        if kind == "bad-url":
            sample.urls[hk] = f"http://198.51.100.7/{hk}"  # refused by the allow-list, no connection made
            continue
        if kind == "junk-bytes":
            body = secrets.token_bytes(JUNK_BYTES)
        elif kind == "junk-json":
            body = _junk_json(ctx, hk, round_)
        else:
            job = _job(ctx, hk, odd_rounds.get(kind, round_), [0.0] * ctx.challenge.dim, kind, hotkey(i))
            body = build_payload(job)
        sample.write(directory, hk, body)
    return sample


# The server process: devnet/server.py on an ephemeral loopback port until its stdin closes (its
# listen backlog of 128 admits 32 concurrent connects, as object storage would).
_SERVER = ("import sys; from devnet.server import serve; "
           "print(serve(sys.argv[1]).server_address[1], flush=True); sys.stdin.read()")


@contextmanager
def loopback_server(directory: Path) -> Iterator[int]:
    """The port of a payload server for `directory`, running in a separate process."""
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(directory)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"the loopback payload server did not start (said {line!r})")
        yield int(line)
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait()


def verified_signatures(ctx: Context, rounds: set[int]) -> dict[int, bytes]:
    """Each round's signature, verified under the beacon key as the live drand client does."""
    out = {}
    for r in sorted(rounds):
        signature = ctx.beacon.signature(r, ctx.reveal_now)
        ctx.beacon.chain.verify(r, signature)
        out[r] = signature
    return out


def reveal(ctx: Context, store: HttpPayloadStore, sample: Sample,
           deadline_s: float) -> tuple[dict[str, float], list[RawPayload], Any, list[Rejection]]:
    """The validator's path for one sample; (seconds per stage, rows, vectors, rejections)."""
    seconds: dict[str, float] = {}

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        seconds[name] = time.perf_counter() - t0
        return out

    results = stage("fetch", lambda: store.fetch_all(sample.urls, deadline_s))
    rows = stage("screen", lambda: [screened_row(r, SIDX, ctx.taken_at, ctx.rules)
                                    for r in results.values()])
    signatures = stage("signatures", lambda: verified_signatures(ctx, {r.round for r in rows if r.round}))
    vectors, rejections = stage("open", lambda: _open_sample(rows, signatures, ctx.profile, ctx.taken_at, ctx.rules,
                                                             ctx.beacon.chain.reveal_time))
    seconds["total"] = sum(seconds.values())
    return seconds, rows, vectors, rejections


def check(ctx: Context, sample: Sample, rows: list[RawPayload], vectors: Any, rejections: list[Rejection]) -> None:
    """Fail loudly unless every honest vector came out exactly as planted and every hostile miner
    met its expected refusal: a benchmark of a broken path would measure nothing."""
    got = dict(vectors.get(ctx.challenge.name, {}))
    assert got == sample.planted, (
        f"{len(got)} of {len(sample.planted)} vectors came out; "
        f"{sum(got.get(h) == v for h, v in sample.planted.items())} as planted; "
        f"rejections: {[(r.hotkey, r.reason, r.detail) for r in rejections[:5]]}; "
        f"rows: {[(r.hotkey, r.status, r.reason) for r in rows if r.status != FETCHED][:5]}"
    )
    reasons = {r.hotkey: r.status for r in rows if r.status != FETCHED}
    for r in rejections:
        reasons.setdefault(r.hotkey, r.reason)
    wrong = {h: (reasons.get(h), want) for h, want in sample.expected.items() if reasons.get(h) != want}
    extra = set(reasons) - set(sample.expected)
    assert reasons == sample.expected, f"refusals (got, expected): {wrong}; unexpected refusals of: {extra}"


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux), so the peak is this stage's, not setup's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _rss_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def measure(ctx: Context, store: HttpPayloadStore, sample: Sample, repeat: int, deadline_s: float) -> dict[str, Any]:
    """Median stage times over `repeat` untraced runs, then one run under tracemalloc for memory.

    Timing and tracing are separate because tracemalloc slows allocation-heavy Python (parsing,
    requests) and would inflate the wall times. Every run is checked.
    """
    runs = []
    for _ in range(repeat):
        seconds, rows, vectors, rejections = reveal(ctx, store, sample, deadline_s)
        check(ctx, sample, rows, vectors, rejections)
        runs.append(seconds)
        del rows, vectors, rejections
    rss_reset, rss_before = _reset_peak_rss(), _rss_mib("VmRSS")
    tracemalloc.start()
    traced_seconds, rows, vectors, rejections = reveal(ctx, store, sample, deadline_s)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    check(ctx, sample, rows, vectors, rejections)
    median = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
    return {
        "payloads": len(sample.urls),
        "honest": len(sample.planted),
        "hostile": len(sample.expected),
        "served_mib": round(sum(sample.served.values()) / 2**20, 2),
        "rounds": len({r.round for r in rows if r.round}),
        "runs": repeat,
        "median_seconds": median,
        "payloads_per_second": round(len(sample.urls) / median["total"], 1),
        "traced_run_total_seconds": round(traced_seconds["total"], 3),
        "peak_traced_mib": round(peak / 2**20, 1),
        "rss_before_mib": rss_before,
        "peak_rss_mib": _rss_mib("VmHWM"),
        "peak_rss_is_this_run": rss_reset,
        "refusals": dict(sorted(Counter(sample.expected.values()).items())),
    }


def run(scale: float = 1.0) -> dict[str, Any]:
    """Honest sample of MINERS, then the same sample with HOSTILE_SHARE of the miners hostile."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return {**_run(scale), "cores_used": cores}


def _run(scale: float) -> dict[str, Any]:
    ctx, rng = context(), random.Random(7)
    repeat = max(1, round(5 * scale))
    deadline_s = CollectConfig().fetch_deadline_s
    hostile_n = round(MINERS * HOSTILE_SHARE)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        t0 = time.perf_counter()
        with loopback_server(directory) as port:
            base = f"http://127.0.0.1:{port}"
            honest = write_honest(ctx, directory, base, MINERS, rng)
            hostile = write_hostile(ctx, directory, base, hostile_n)
            mixed = honest.head(MINERS - hostile_n) | hostile
            store = HttpPayloadStore(allowed_hosts=[f"127.0.0.1:{port}"])
            # One untimed pass of each: imports, the beacon's signing of the rounds (the relays' work,
            # not the validator's) and the decrypt library's first use.
            for sample in (honest, mixed):
                check(ctx, sample, *reveal(ctx, store, sample, deadline_s)[1:])
            setup_s = time.perf_counter() - t0
            figures = {name: measure(ctx, store, sample, repeat, deadline_s)
                       for name, sample in (("honest", honest), ("hostile_10pct", mixed))}
    return {
        "benchmark": "fetch",
        "machine": machine(),
        "fetch_workers": store.max_workers,
        "fetch_deadline_s": deadline_s,
        "challenge": ctx.challenge.name,
        "setup_seconds": round(setup_s, 1),
        "note": "payload server in a separate process on 127.0.0.1; stages: fetch_all, screened_row, "
                "signatures (verified), _open_sample (re-screen, decrypt, validate, lock rule)",
        **figures,
    }
