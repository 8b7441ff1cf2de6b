"""A corpus of hostile payloads and URLs through the live path of one sample, end to end.

Each hostile miner commits a URL; a loopback host serves (or refuses to serve) its payload; the
live `HttpPayloadStore` fetches every URL, `screened_row` screens what arrived as the collection
does, and `_open_sample` opens the rest as the reveal does. Every case must end with its expected
reason, and the honest miners of the same sample must come out exactly as in a sample without them.
"""

from __future__ import annotations

import dataclasses
import json
import secrets

import pytest

import profiles
from assets.epochs import SampleRules
from assets.ingest import KEEP_REFUSED_BYTES, screened_row
from assets.reveal import _open_sample
from protocol import payload as pl
from protocol.drand import LocalBeacon
from protocol.timelock import TimelockEncryptor
from protocol.validation import ChallengeFormat
from resources.payloads import FETCHED
from resources.payloads_http import HttpPayloadStore
from tests.loopback import netloc, reply, serve

PROFILE = profiles.load()
CH = PROFILE.challenges[0]
FORMATS = [ChallengeFormat(CH.name, CH.ticker, CH.dim)]
OWNER = bytes.fromhex(PROFILE.protocol.owner_pk)
BEACON = LocalBeacon.from_seed(b"hostile".ljust(32, b"\0"), genesis=1_700_000_000)
IMPOSTOR = LocalBeacon.from_seed(b"impostor".ljust(32, b"\0"), genesis=1_700_000_000)
ENC = TimelockEncryptor(BEACON.chain.public_key)
T = 1_700_100_000.0  # the sample's time
SIDX = 340_020
LOCKED = BEACON.chain.round_at(T + 3700)  # sealed past the challenge's one-hour horizon
RULES = SampleRules.of(BEACON.chain, PROFILE, T)
NEWEST = RULES.window.last  # the latest round a payload may name
CAP = 256 * 1024  # the store's size cap in this test (the product default is 25 MiB)

HONEST = {f"5Honest{i}" + "h" * 41: [round(0.1 * (i + 1), 3), round(-0.05 * i, 3)] for i in range(4)}
H0 = next(iter(HONEST))


def hk(name: str) -> str:
    """A hostile miner's hotkey (an SS58-shaped name; the path must be exactly it)."""
    return "5Hostile" + name.replace("-", "")


def payload(hotkey: str, values=None, round_: int = LOCKED, *, plaintext: bytes | None = None,
            encryptor: TimelockEncryptor = ENC, **fixed) -> pl.PayloadV2:
    if plaintext is None:
        plaintext = pl.plaintext_bytes({CH.ticker: list(values if values is not None else (0.2, 0.2))}, hotkey)
    return pl.seal(hotkey, round_, plaintext, encryptor, OWNER, **fixed)


def dumps(obj) -> bytes:
    return json.dumps(obj.to_json() if isinstance(obj, pl.PayloadV2) else obj).encode()


def edited(hotkey: str, **changes) -> bytes:
    """A good payload of `hotkey` with top-level fields replaced (None removes the field)."""
    doc = payload(hotkey).to_json()
    for key, value in changes.items():
        doc.pop(key) if value is None else doc.__setitem__(key, value)
    return dumps(doc)


def flip(data: bytes, at: int | None = None) -> bytes:
    out = bytearray(data)
    out[len(out) // 2 if at is None else at] ^= 1
    return bytes(out)


# --- the corpus: name -> (how the miner's URL is served, the reason it must meet) ----------------
# A case is ("body", bytes) served at the miner's own URL, ("url", template) committed as is
# ({base} = the allowed loopback host, {hk} = the miner's hotkey), or ("route", kind) for a host
# that misbehaves. Reasons are raw-payload statuses or reveal rejections.


def corpus() -> dict[str, tuple[str, object, str]]:
    cases: dict[str, tuple[str, object, str]] = {}

    def body(name, data, reason):
        cases[name] = ("body", data, reason)

    def url(name, template, reason):
        cases[name] = ("url", template, reason)

    # URLs refused before any request
    url("host-not-allowed", "http://evil.example/{hk}", "bad-url")
    url("suffix-lookalike", "https://pub-1.r2.dev.evil.com/{hk}", "bad-url")
    url("suffix-without-dot", "https://evilr2.dev/{hk}", "bad-url")
    url("other-port", "http://127.0.0.1:9/{hk}", "bad-url")
    url("two-segments", "{base}/x/{hk}", "bad-url")
    url("trailing-slash", "{base}/{hk}/", "bad-url")
    url("another-hotkeys-path", "{base}/" + H0, "bad-url")
    url("percent-encoded", "{base}/%35Hostile", "bad-url")
    url("userinfo", "http://u@{netloc}/{hk}", "bad-url")
    url("query", "{base}/{hk}?v=2", "bad-url")
    url("scheme", "ftp://{netloc}/{hk}", "bad-url")
    url("whitespace", "{base}/{hk} ", "bad-url")
    url("no-commitment", "", "absent")
    # hosts that misbehave
    cases["not-found"] = ("route", "404", "absent")
    cases["server-error"] = ("route", "500", "fetch-error")
    cases["redirect-elsewhere"] = ("route", "redirect", "fetch-error")
    cases["hangs"] = ("route", "hang", "fetch-error")
    cases["oversized"] = ("route", "big", "fetch-error")
    # bodies refused at download (no signature needed)
    body("binary-garbage", secrets.token_bytes(4096), "schema")
    body("not-json", b'{"v": 2, "round": ', "schema")
    body("deep-json", b"[" * 100_000 + b"]" * 100_000, "schema")
    body("array", b"[]", "schema")
    body("huge-integer", b'{"v": 2, "round": ' + b"9" * 5000 + b"}", "schema")
    body("oversized-junk", b"x" * (CAP - 10), "schema")
    body("missing-binding", edited(hk("missing-binding"), binding=None), "schema")
    body("version-1", edited(hk("version-1"), v=1), "schema")
    body("version-true", edited(hk("version-true"), v=True), "schema")
    body("round-string", edited(hk("round-string"), round=str(LOCKED)), "schema")
    body("round-float", edited(hk("round-float"), round=float(LOCKED)), "schema")
    body("round-bool", edited(hk("round-bool"), round=True), "schema")
    body("alg", edited(hk("alg"), alg="none"), "schema")
    body("hex-prefix", edited(hk("hex-prefix"), binding="0x" + "00" * 31), "schema")
    body("time-ct-length", dumps(payload(hk("time-ct-length")).to_json()
                                 | {"W_time": {"ct": "00" * 300}}), "schema")
    body("round-u64-max", edited(hk("round-u64-max"), round=(1 << 64) - 1), "round")
    body("round-past-deadline", dumps(payload(hk("round-past-deadline"), round_=NEWEST + 1)), "round")
    body("round-zero", edited(hk("round-zero"), round=0), "round")
    body("verbatim-copy", dumps(payload(H0, HONEST[H0])), "hotkey")  # an honest payload, served as its own
    other_owner = pl.seal(hk("owner-key"), LOCKED, b"{}", ENC, secrets.token_bytes(32)).to_json()
    body("owner-key", dumps(other_owner), "owner-key")
    p = payload(hk("binding"))
    body("binding", dumps(dataclasses.replace(p, binding=flip(p.binding))), "binding")
    # bodies refused when opened
    body("timelock-other-beacon", dumps(payload(hk("timelock-other-beacon"),
                                                encryptor=TimelockEncryptor(IMPOSTOR.chain.public_key))), "timelock")
    p = payload(hk("ske-not-pke"))
    body("ske-not-pke", dumps(dataclasses.replace(
        p, time_ct=ENC.encrypt(LOCKED, secrets.token_bytes(64).hex().encode()))), "owner-path")
    p = payload(hk("content"))
    body("content", dumps(dataclasses.replace(p, c_ct=flip(p.c_ct))), "aead")
    body("plaintext-not-json", dumps(payload(hk("plaintext-not-json"), plaintext=b"ETH=0.1,0.2")), "plaintext")
    body("plaintext-huge-int", dumps(payload(hk("plaintext-huge-int"), plaintext=b"[" + b"7" * 5000 + b"]")),
         "plaintext")
    body("plaintext-hotkey", dumps(payload(hk("plaintext-hotkey"),
                                           plaintext=pl.plaintext_bytes({CH.ticker: [0.1, 0.1]}, H0))), "hotkey")
    name = hk("nan")
    body("nan", dumps(payload(name, plaintext=f'{{"{CH.ticker}":[NaN,0.1],"hotkey":"{name}"}}'.encode())),
         "validation")
    name = hk("infinity")
    body("infinity", dumps(payload(name, plaintext=f'{{"{CH.ticker}":[1e999,0.1],"hotkey":"{name}"}}'.encode())),
         "validation")
    body("out-of-range", dumps(payload(hk("out-of-range"), (1.5, 0.0))), "validation")
    body("wrong-dimension", dumps(payload(hk("wrong-dimension"), (0.1, 0.1, 0.1))), "validation")
    body("booleans", dumps(payload(hk("booleans"), (True, False))), "validation")
    body("published-at-sample", dumps(payload(hk("published-at-sample"), round_=BEACON.chain.current_round(T))),
         "lock")
    body("round-never-published", dumps(payload(hk("round-never-published"), round_=NEWEST)), "timelock-unavailable")
    # one owner of two hotkeys serves one timelock ciphertext under both (each payload opens by itself)
    shared = {"ske": secrets.token_bytes(32), "key": secrets.token_bytes(32)}
    a = payload(hk("sybil-a"), **shared)
    b = dataclasses.replace(payload(hk("sybil-b"), **shared), time_ct=a.time_ct)
    body("sybil-a", dumps(a), "duplicate")
    body("sybil-b", dumps(b), "duplicate")
    return cases


def host(files: dict[str, bytes], routes: dict[str, str]):
    """A loopback payload host: each hotkey's file, or the misbehaviour its route names."""

    def route(h, state):
        name = h.path.lstrip("/")
        kind = routes.get(name)
        if kind == "404":
            return reply(h, 404, b"NoSuchKey")
        if kind == "500":
            return reply(h, 500, b"internal error")
        if kind == "redirect":
            return reply(h, 302, b"", {"Location": f"http://elsewhere.invalid/{name}"})
        if kind == "hang":
            state.stop.wait(30.0)  # released when the server stops
            return None
        if kind == "big":
            return reply(h, 200, b"{" + b" " * (CAP + 1024) + b"}", length=False)
        data = files.get(name)
        reply(h, 404, b"NoSuchKey") if data is None else reply(h, 200, data)

    return route


def take_sample(cases: dict[str, tuple[str, object, str]]):
    """One sample through fetch, screening and opening: (rows by hotkey, vectors, rejections by hotkey)."""
    files = {h: dumps(payload(h, v)) for h, v in HONEST.items()}
    routes, templates = {}, {h: "{base}/{hk}" for h in HONEST}
    for name, (kind, what, _) in cases.items():
        miner = hk(name)
        if kind == "body":
            files[miner], templates[miner] = what, "{base}/{hk}"
        elif kind == "route":
            routes[miner], templates[miner] = what, "{base}/{hk}"
        else:
            templates[miner] = what
    with serve(host(files, routes), max_requests=500) as (base, _):
        urls = {m: t.format(base=base, netloc=netloc(base), hk=m) for m, t in templates.items()}
        store = HttpPayloadStore(allowed_hosts=[netloc(base)], max_bytes=CAP, connect_timeout_s=1.0,
                                 read_timeout_s=1.0)
        fetched = store.fetch_all(urls, deadline_s=3.0)
    rows = [screened_row(r, SIDX, T, RULES) for r in fetched.values()]
    rounds = {r.round for r in rows if r.round is not None} - {NEWEST}  # NEWEST: drand never published it
    signatures = {r: BEACON.signature(r, BEACON.chain.reveal_time(r)) for r in rounds}
    vectors, rejections = _open_sample(rows, signatures, PROFILE, T, RULES, BEACON.chain.reveal_time)
    by_hotkey: dict[str, list] = {}
    for r in rejections:
        by_hotkey.setdefault(r.hotkey, []).append(r)
    return {r.hotkey: r for r in rows}, vectors.get(CH.name, {}), by_hotkey


@pytest.fixture(scope="module")
def outcome():
    cases = corpus()
    return cases, take_sample(cases), take_sample({})


def test_the_corpus_is_large_and_covers_every_stage(outcome):
    cases, _, _ = outcome
    assert len(cases) >= 30
    reasons = {reason for _, _, reason in cases.values()}
    assert {r.value for r in pl.Reason} - {"signature"} <= reasons  # signatures are verified before storage
    assert {"bad-url", "absent", "fetch-error", "lock", "validation", "duplicate", "timelock-unavailable"} <= reasons


def test_each_hostile_case_meets_its_reason(outcome):
    cases, (rows, vectors, rejections), _ = outcome
    wrong = {}
    for name, (_, _, expected) in cases.items():
        miner = hk(name)
        row = rows[miner]
        got = [row.status] if row.status != FETCHED else [r.reason for r in rejections.get(miner, [])]
        if got != [expected]:
            wrong[name] = (got, row.reason, [r.detail for r in rejections.get(miner, [])])
        assert miner not in vectors
    assert not wrong, wrong


def test_honest_miners_score_exactly_as_without_the_hostile_ones(outcome):
    _, (rows, vectors, rejections), (_, alone, alone_rejections) = outcome
    assert alone == {h: [float(x) for x in v] for h, v in HONEST.items()}
    assert vectors == alone
    assert not alone_rejections and not any(h in rejections for h in HONEST)


def test_refused_bodies_are_kept_but_capped(outcome):
    _, (rows, _, _), _ = outcome
    junk = rows[hk("oversized-junk")]
    assert junk.status == "schema" and len(junk.body) == KEEP_REFUSED_BYTES
    assert "sha256" in junk.reason and str(CAP - 10) in junk.reason
    copy = rows[hk("verbatim-copy")]
    assert copy.status == "hotkey" and copy.round is None and pl.parse(copy.body).hk == H0  # kept whole
    late = rows[hk("round-past-deadline")]
    assert late.status == "round" and late.round is None
