"""One sample as the validator takes and reveals it: 256 payloads fetched over loopback HTTP, screened,
their rounds' signatures verified, then decrypted and validated (`_open_sample`).

The store is built as `resources/settings.py` builds the live one: its streaming cap is the smaller
of the profile's `payload_max_bytes` and the body its challenges need (`Profile.payload_limits`).

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
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import profiles
from assets.epochs import SampleRules
from assets.mantis.ingest import CollectConfig, screened_row
from assets.mantis.reveal import _open_sample
from benchmarks.common import machine
from devnet.mantis.miners import MALFORMATIONS, ROUND_GRID, Job
from devnet.mantis.miners import build as build_payload
from ledger import RawPayload, Rejection
from profiles.schema import Challenge, Profile
from protocol import payload as pl
from protocol.drand import LocalBeacon
from protocol.timelock import TimelockEncryptor
from protocol.validation import ChallengeFormat
from resources.payloads import ABSENT, BAD_URL, FETCH_ERROR, FETCHED
from resources.payloads_http import HttpPayloadStore

MINERS = 256
ROUNDS = 6  # distinct rounds the miners of one sample lock to, spread over the rounds the lock rule allows
HOSTILE_SHARE = 0.10
PADDING_BYTES = 25 << 20  # the extra field of a padded payload: the wire format's whole 25 MiB again
BREADTH_BYTES = 2_000_000  # a plaintext this wide (a JSON array of zeros), validly encrypted
DEEP_BRACKETS = 90_000  # nesting of the UTF-16 body (the C parser's stack died at a few thousand)
GENESIS = 1_700_000_000
TAKEN_AT = 1_700_100_000.0
SIDX = 100
# Hostile kinds beyond the devnet's malformations, and the status or rejection each must meet.
# Junk is as large as the derived cap lets through, so it is downloaded and screened in full; the
# holes closed by the per-payload limits (padding, a wide plaintext, UTF-16 depth) are larger, and
# refused from their Content-Length before a byte of body is read.
EXTRA_HOSTILE = {"junk-bytes": "schema", "junk-json": "aead", "absent": ABSENT, "bad-url": BAD_URL}
CLOSED_HOLES = {
    "padded": FETCH_ERROR,  # a valid payload plus a 25 MiB extra field (was stored whole)
    "breadth-bomb": FETCH_ERROR,  # a valid encryption of a ~2 MB wide plaintext (was ~265 MB opened)
    "utf16-deep": FETCH_ERROR,  # UTF-16 text of 90 000 nested brackets (json.loads(bytes) decoded it)
    "huge-int": "validation",  # a 400-digit integer in the vector (overflowed float())
    "late-lock": "",  # locks to the window's last round: legal, it counts ("" = no refusal)
    "ancient-round": "lock",  # round 1
    "nul-url": BAD_URL,  # a committed URL with a NUL byte (PostgreSQL refuses NUL in text)
}
HOSTILE = {**MALFORMATIONS, **EXTRA_HOSTILE, **CLOSED_HOLES}
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Context:
    """What the validator knows for the sample: profile, beacon, owner key, formats, round bounds."""

    profile: Profile
    beacon: LocalBeacon
    owner_pk: bytes
    formats: list[ChallengeFormat]
    taken_at: float
    rules: SampleRules | None

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
    kinds: dict[str, str] = field(default_factory=dict)  # hostile hotkey -> its kind (of HOSTILE)

    def write(self, directory: Path, hk: str, body: bytes) -> None:
        (directory / hk).write_bytes(body)
        self.served[hk] = len(body)

    def head(self, n: int) -> "Sample":
        """The first `n` miners of the sample (hotkeys in commitment order)."""
        keep = list(self.urls)[:n]
        return Sample({h: self.urls[h] for h in keep}, {h: self.planted[h] for h in keep if h in self.planted},
                      {h: self.expected[h] for h in keep if h in self.expected},
                      {h: self.served[h] for h in keep if h in self.served},
                      {h: self.kinds[h] for h in keep if h in self.kinds})

    def __or__(self, other: "Sample") -> "Sample":
        return Sample(self.urls | other.urls, self.planted | other.planted, self.expected | other.expected,
                      self.served | other.served, self.kinds | other.kinds)


def context(taken_at: float = TAKEN_AT) -> Context:
    profile = profiles.load()
    beacon = LocalBeacon.from_seed(b"bench-fetch".ljust(32, b"\0"), genesis=GENESIS)
    return at(Context(profile, beacon, bytes.fromhex(profile.protocol.owner_pk), profile.challenge_formats(),
                      taken_at, None), taken_at)


def at(ctx: Context, taken_at: float) -> Context:
    """The same validator for a sample taken at `taken_at` (its own round window)."""
    return dataclasses.replace(ctx, taken_at=taken_at, rules=SampleRules.of(ctx.beacon.chain, ctx.profile, taken_at))


def payload_store(ctx: Context, port: int) -> HttpPayloadStore:
    """The live store as `resources/settings.py` builds it, admitting the loopback server."""
    cap = min(ctx.profile.sources.payload_max_bytes, ctx.profile.payload_limits().body)
    return HttpPayloadStore(allowed_hosts=[f"127.0.0.1:{port}"], max_bytes=cap)


def hotkey(i: int, kind: str = "honest") -> str:
    """A 48-character, URL-safe stand-in for an SS58 hotkey (the path segment of its URL)."""
    return f"5{kind[:6].title()}{i:04d}".ljust(48, "x")


def lock_rounds(ctx: Context, n: int) -> list[int]:
    """`n` distinct rounds the lock rule admits, the first on the devnet miners' grid.

    The window (`SampleRules.window`) runs from the horizon lock to the longest horizon plus
    `lock_margin_blocks`: 240 beacon rounds on the devnet profile, so the rounds are at most a grid
    step apart and close enough to share the window (6 rounds: 34 apart).
    """
    chain, window = ctx.beacon.chain, ctx.rules.window
    earliest = chain.round_at(ctx.taken_at + ctx.profile.lock_seconds(ctx.challenge))
    first = -(-earliest // ROUND_GRID) * ROUND_GRID
    if first + (n - 1) > window.last:
        first = earliest
    step = min(ROUND_GRID, (window.last - first) // max(1, n - 1)) if n > 1 else 1
    assert step >= 1, f"{n} distinct rounds do not fit the window {window}"
    rounds = [first + k * step for k in range(n)]
    assert window.first is None or rounds[0] >= window.first
    assert rounds[-1] <= window.last, "the lock rounds must be inside the sample's round window"
    assert all(chain.reveal_time(r) >= ctx.taken_at + ctx.profile.lock_seconds(ctx.challenge) for r in rounds)
    return rounds


def _job(ctx: Context, hk: str, round_: int, values: list[float], kind: str | None = None, other: str = "") -> Job:
    plaintext = pl.plaintext_bytes({ctx.challenge.mantis.ticker: values}, hk)
    return Job(hk, round_, plaintext, ctx.beacon.chain.public_key, ctx.owner_pk, kind, other)


def write_honest(ctx: Context, directory: Path, base: str, n: int, rng: random.Random,
                 rounds: list[int] | None = None) -> Sample:
    """`n` real V2 payloads (devnet/mantis/miners.py's `build`), miner i locked to the i-th round in turn
    (of `rounds`, by default ROUNDS of `lock_rounds`)."""
    rounds, sample = rounds or lock_rounds(ctx, ROUNDS), Sample()
    for i in range(n):
        hk = hotkey(i)
        values = [round(rng.uniform(-1, 1), 6) for _ in range(ctx.challenge.mantis.dim)]
        sample.write(directory, hk, build_payload(_job(ctx, hk, rounds[i % len(rounds)], values)))
        sample.urls[hk], sample.planted[hk] = f"{base}/{hk}", values
    return sample


def _junk_json(ctx: Context, hk: str, round_: int) -> bytes:
    """A well-formed payload whose content ciphertext is random and as long as the limits allow:
    downloaded, parsed, decrypted, refused."""
    body = json.loads(build_payload(_job(ctx, hk, round_, [0.0] * ctx.challenge.mantis.dim)))
    body["C"]["ct"] = secrets.token_bytes(ctx.rules.limits.plaintext + 16).hex()
    return json.dumps(body, separators=(",", ":")).encode()


_ENCRYPTORS: dict[bytes, TimelockEncryptor] = {}


def _sealed(ctx: Context, hk: str, round_: int, plaintext: bytes) -> dict[str, Any]:
    """A valid V2 payload (as JSON) of any plaintext, for the attacks that need a real encryption."""
    pk = ctx.beacon.chain.public_key
    encryptor = _ENCRYPTORS.setdefault(pk, TimelockEncryptor(pk))
    return pl.seal(hk, round_, plaintext, encryptor, ctx.owner_pk).to_json()


def _write_padded(ctx: Context, path: Path, hk: str, round_: int) -> int:
    """A valid payload with a PADDING_BYTES extra field, written in pieces (never whole in memory)."""
    body = json.dumps(_sealed(ctx, hk, round_, pl.plaintext_bytes({ctx.challenge.mantis.ticker: [0.0] * ctx.challenge.mantis.dim}, hk)),
                      separators=(",", ":")).encode()
    with path.open("wb") as f:
        f.write(body[:-1] + b',"padding":"')
        chunk = b"0" * (1 << 20)
        for _ in range(PADDING_BYTES // len(chunk)):
            f.write(chunk)
        f.write(b'"}')
    return path.stat().st_size


def _breadth_bomb(ctx: Context, hk: str, round_: int) -> bytes:
    """A valid encryption of a plaintext BREADTH_BYTES wide: the vector and hotkey, then an array of zeros."""
    wide = b",".join([b"0"] * (BREADTH_BYTES // 2))
    plaintext = pl.plaintext_bytes({ctx.challenge.mantis.ticker: [0.0] * ctx.challenge.mantis.dim}, hk)
    plaintext = plaintext[:-1] + b',"wide":[' + wide + b"]}"
    return json.dumps(_sealed(ctx, hk, round_, plaintext), separators=(",", ":")).encode()


def _utf16_deep(hk: str) -> bytes:
    """UTF-16 of DEEP_BRACKETS nested arrays around a string of U+2222 (the bytes '""')."""
    return ("[" * DEEP_BRACKETS + '"\u2222"' + "]" * DEEP_BRACKETS).encode("utf-16-le")


def write_hostile(ctx: Context, directory: Path, base: str, n: int, rng: random.Random | None = None,
                  offset: int = 0) -> Sample:
    """`n` hostile miners cycling through HOSTILE (miner i has kind i + offset); each kind's refusal
    is recorded to check, and a late lock, which counts, is planted like an honest vector."""
    chain, kinds, rng = ctx.beacon.chain, list(HOSTILE), rng or random.Random(11)
    round_ = lock_rounds(ctx, 1)[0]
    odd_rounds = {"late-round": ctx.rules.window.last + 1,  # the first round past the window
                  "early-round": chain.current_round(ctx.taken_at),
                  "late-lock": ctx.rules.window.last, "ancient-round": 1}
    sample = Sample()
    for i in range(n):
        kind, hk = kinds[(i + offset) % len(kinds)], hotkey(i, "hostile")
        sample.urls[hk], sample.kinds[hk] = f"{base}/{hk}", kind
        if HOSTILE[kind]:
            sample.expected[hk] = HOSTILE[kind]
        if kind == "absent":
            continue  # committed, but nothing is at the URL: 404
        if kind == "bad-url":
            sample.urls[hk] = f"http://198.51.100.7/{hk}"  # refused by the allow-list, no connection made
            continue
        if kind == "nul-url":
            sample.urls[hk] = f"{base}/{hk}\x00.json"  # refused before any connection; stored escaped
            continue
        if kind == "padded":
            sample.served[hk] = _write_padded(ctx, directory / hk, hk, round_)
            continue
        if kind == "junk-bytes":
            body = secrets.token_bytes(ctx.rules.limits.body)  # exactly the cap: downloaded in full
        elif kind == "junk-json":
            body = _junk_json(ctx, hk, round_)
        elif kind == "breadth-bomb":
            body = _breadth_bomb(ctx, hk, round_)
        elif kind == "utf16-deep":
            body = _utf16_deep(hk)
        elif kind == "huge-int":
            body = build_payload(_job(ctx, hk, round_, [10**399, 0.0]))  # a 400-digit integer
        elif kind == "late-lock":
            values = [round(rng.uniform(-1, 1), 6) for _ in range(ctx.challenge.mantis.dim)]
            body = build_payload(_job(ctx, hk, odd_rounds[kind], values))
            sample.planted[hk] = values
        else:
            job = _job(ctx, hk, odd_rounds.get(kind, round_), [0.0] * ctx.challenge.mantis.dim, kind, hotkey(i))
            body = build_payload(job)
        sample.write(directory, hk, body)
    return sample


# The server process: devnet/server.py on an ephemeral loopback port until its stdin closes (its
# listen backlog of 128 admits 32 concurrent connects, as object storage would).
_SERVER = ("import sys; from devnet.server import serve; "
           "print(serve(sys.argv[1]).server_address[1], flush=True); sys.stdin.read()")


@contextmanager
def loopback_server(directory: Path) -> Iterator[int]:
    """The port of a payload server for `directory`, running in a separate process.

    Its stderr goes to a file (shown if it fails to start): a client that refuses a body from its
    Content-Length closes the connection, and the server logs each broken pipe there.
    """
    log = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(directory)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            log.seek(0)
            raise RuntimeError(f"the loopback payload server did not start (said {line!r}; {log.read()[-2000:]})")
        yield int(line)
    finally:
        log.close()
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
           deadline_s: float) -> tuple[dict[str, float], list[RawPayload], Any, list[Rejection], int]:
    """The validator's path for one sample; (seconds per stage, rows, vectors, rejections, bytes
    of body downloaded)."""
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
    downloaded = sum(len(r.body) for r in results.values() if r.body is not None)
    return seconds, rows, vectors, rejections, downloaded


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
        seconds, rows, vectors, rejections, _ = reveal(ctx, store, sample, deadline_s)
        check(ctx, sample, rows, vectors, rejections)
        runs.append(seconds)
        del rows, vectors, rejections
    rss_reset, rss_before = _reset_peak_rss(), _rss_mib("VmRSS")
    tracemalloc.start()
    traced_seconds, rows, vectors, rejections, downloaded = reveal(ctx, store, sample, deadline_s)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    check(ctx, sample, rows, vectors, rejections)
    median = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
    return {
        "payloads": len(sample.urls),
        "honest": len(sample.urls) - len(sample.kinds),
        "hostile": len(sample.kinds),
        "served_mib": round(sum(sample.served.values()) / 2**20, 2),
        "downloaded_mib": round(downloaded / 2**20, 2),
        "stored_body_kib": round(sum(len(r.body) for r in rows if r.body is not None) / 1024, 1),
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
        "hostile_kinds": len(set(sample.kinds.values())),
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
            store = payload_store(ctx, port)
            # One untimed pass of each: imports, the beacon's signing of the rounds (the relays' work,
            # not the validator's) and the decrypt library's first use.
            for sample in (honest, mixed):
                check(ctx, sample, *reveal(ctx, store, sample, deadline_s)[1:4])
            setup_s = time.perf_counter() - t0
            figures = {name: measure(ctx, store, sample, repeat, deadline_s)
                       for name, sample in (("honest", honest), ("hostile_10pct", mixed))}
    return {
        "benchmark": "fetch",
        "machine": machine(),
        "fetch_workers": store.max_workers,
        "fetch_max_bytes": store.max_bytes,
        "fetch_deadline_s": deadline_s,
        "challenge": ctx.challenge.name,
        "setup_seconds": round(setup_s, 1),
        "note": "payload server in a separate process on 127.0.0.1; stages: fetch_all, screened_row, "
                "signatures (verified), _open_sample (re-screen, decrypt, validate, lock rule)",
        **figures,
    }
