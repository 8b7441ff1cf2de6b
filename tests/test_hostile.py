"""A corpus of hostile payloads and URLs through the live path of one sample, end to end.

Each hostile miner commits a URL; a loopback host serves (or refuses to serve) its payload; the
live `HttpPayloadStore` fetches every URL, `screened_row` screens what arrived as the collection
does, and `_open_sample` opens the rest as the reveal does. Every case must end with its expected
reason, refused by the layer it is named for (each case names a phrase of that layer's detail), and
the honest miners of the same sample must come out exactly as in a sample without them. A few
hostile cases are legal (locking to the edge of the round window, padding a payload a little, a
lone surrogate in a key nobody reads): those count, with exactly the values they sent.

The rows and rejections a sample produces are then written through the real ledger, on SQLite and
on the session's PostgreSQL cluster (`integration`), and must all be stored as produced.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import secrets
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

import assets.mantis.ingest as ingest
import assets.mantis.reveal as reveal
import profiles
from assets.epochs import SampleRules
from assets.mantis.ingest import KEEP_REFUSED_BYTES, screened_row
from assets.mantis.reveal import _open_sample
from ledger import Ledger, Rejection
from ledger.store import safe_text
from protocol import json_guard
from protocol import payload as pl
from protocol.drand import LocalBeacon
from protocol.timelock import TimelockEncryptor
from resources.payloads import FETCHED
from resources.payloads_http import HttpPayloadStore
from tests.loopback import netloc, reply, serve
from tests.postgres import BACKENDS, ledger_url

PROFILE = profiles.load()
CH = PROFILE.challenges[0]
OWNER = bytes.fromhex(PROFILE.protocol.owner_pk)
BEACON = LocalBeacon.from_seed(b"hostile".ljust(32, b"\0"), genesis=1_700_000_000)
IMPOSTOR = LocalBeacon.from_seed(b"impostor".ljust(32, b"\0"), genesis=1_700_000_000)
ENC = TimelockEncryptor(BEACON.chain.public_key)
T = 1_700_100_000.0  # the sample's time
SIDX = 340_020
LOCKED = BEACON.chain.round_at(T + 3700)  # sealed past the challenge's one-hour horizon
RULES = SampleRules.of(BEACON.chain, PROFILE, T)
FIRST = RULES.window.first  # the earliest round a payload may name (the shortest lock that counts)
NEWEST = RULES.window.last  # the latest round a payload may name (the longest lock + the margin)
UNSIGNED = NEWEST - 1  # a round inside the window that drand never published in this test
LIMITS = PROFILE.payload_limits()  # derived from the challenges: ~8 KB body, ~1.9 KB plaintext
# The product's store caps at LIMITS.body. This one caps at twice that, so a body between the two
# meets the screening size limit (`schema`) and one past CAP the store's streaming cap (`fetch-error`).
CAP = 2 * LIMITS.body

HONEST = {f"5Honest{i}" + "h" * 41: [round(0.1 * (i + 1), 3), round(-0.05 * i, 3)] for i in range(4)}
H0 = next(iter(HONEST))


def hk(name: str) -> str:
    """A hostile miner's hotkey (an SS58-shaped name; the path must be exactly it)."""
    return "5Hostile" + name.replace("-", "")


def payload(hotkey: str, values=None, round_: int = LOCKED, *, plaintext: bytes | None = None,
            encryptor: TimelockEncryptor = ENC, **fixed) -> pl.PayloadV2:
    if plaintext is None:
        plaintext = pl.plaintext_bytes({CH.mantis.ticker: list(values if values is not None else (0.2, 0.2))}, hotkey)
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


def plaintext(name: str, vector: str, extra: str = "", hotkey: str | None = None) -> bytes:
    """A hand-written plaintext of miner `name`: `{"ETH":<vector>,<extra>"hotkey":…}` (raw JSON text)."""
    return f'{{"{CH.mantis.ticker}":{vector},{extra}"hotkey":"{hotkey or hk(name)}"}}'.encode()


def utf16_nesting(depth: int, encoding: str) -> bytes:
    """UTF-16 text of `depth` nested lists, each holding the string U+0122 U+5D5D U+0122. In UTF-16
    each U+0122 has a '"' byte and U+5D5D two ']' bytes, so a guard counting bytes pairs the quotes
    across the real brackets and meets a fake close for every open: depth 1. At ~90 000 levels this
    is the body that passed the old byte-level guard and overflowed the C stack in json.loads(bytes)."""
    return ('["\u0122\u5d5d\u0122",' * depth + "0" + "]" * depth).encode(encoding)


# --- the corpus: name -> how the miner's URL is served, the reason it must meet ------------------
# A case is ("body", bytes) served at the miner's own URL, ("url", template) committed as is
# ({base} = the allowed loopback host, {hk} = the miner's hotkey), or ("route", kind) for a host
# that misbehaves. Reasons are raw-payload statuses or reveal rejections; None: the payload is
# legal and counts with `values`. `detail` is a phrase of the refusal's detail that names the layer.


@dataclasses.dataclass(frozen=True)
class Case:
    kind: str
    what: object
    reason: str | None
    detail: str = ""
    values: tuple[float, ...] | None = None


def corpus() -> dict[str, Case]:
    cases: dict[str, Case] = {}

    def body(name, data, reason, detail="", values=None):
        cases[name] = Case("body", data, reason, detail, values)

    def url(name, template, reason, detail=""):
        cases[name] = Case("url", template, reason, detail)

    def route(name, kind, reason, detail=""):
        cases[name] = Case("route", kind, reason, detail)

    # URLs refused before any request
    url("host-not-allowed", "http://evil.example/{hk}", "bad-url", "allow-list")
    url("suffix-lookalike", "https://pub-1.r2.dev.evil.com/{hk}", "bad-url", "allow-list")
    url("suffix-without-dot", "https://evilr2.dev/{hk}", "bad-url", "allow-list")
    url("other-port", "http://127.0.0.1:9/{hk}", "bad-url", "allow-list")
    url("two-segments", "{base}/x/{hk}", "bad-url", "segments")
    url("trailing-slash", "{base}/{hk}/", "bad-url", "ends with /")
    url("another-hotkeys-path", "{base}/" + H0, "bad-url", "not the hotkey")
    url("percent-encoded", "{base}/%35Hostile", "bad-url", "not the hotkey")
    url("userinfo", "http://u@{netloc}/{hk}", "bad-url", "userinfo")
    url("query", "{base}/{hk}?v=2", "bad-url", "query")
    url("scheme", "ftp://{netloc}/{hk}", "bad-url", "scheme")
    url("whitespace", "{base}/{hk} ", "bad-url", "whitespace")
    url("nul-url", "{base}/{hk}\x00", "bad-url", "control")  # PostgreSQL refuses NUL in text
    url("nul-host", "http://127.0.0.1\x00.r2.dev/{hk}", "bad-url", "control")
    url("surrogate-url", "{base}/{hk}\ud800", "bad-url", "non-ASCII")  # psycopg2 cannot encode it
    url("no-commitment", "", "absent", "no commitment")
    # hosts that misbehave
    route("not-found", "404", "absent", "404")
    route("server-error", "500", "fetch-error", "HTTP 500")
    route("redirect-elsewhere", "redirect", "fetch-error", "redirect")
    route("hangs", "hang", "fetch-error")
    route("oversized", "big", "fetch-error", f"more than {CAP} bytes")  # past the streaming cap
    # bodies refused at download (no signature needed), each under the size limit unless named for it
    body("binary-garbage", secrets.token_bytes(4096), "schema", "not JSON")
    body("not-json", b'{"v": 2, "round": ', "schema", "not JSON: JSONDecodeError")
    depth = (LIMITS.body - 2) // 2
    body("deep-json", b"[" * depth + b"]" * depth, "schema", "not JSON: ValueError")  # the depth guard
    body("array", b"[]", "schema", "not a JSON object")
    body("huge-integer", b'{"v": 2, "round": ' + b"9" * 5000 + b"}", "schema", "not JSON: ValueError")
    body("oversized-junk", b"x" * (LIMITS.body + 10), "schema", f"larger than {LIMITS.body} bytes")
    body("missing-binding", edited(hk("missing-binding"), binding=None), "schema", "missing fields: binding")
    body("version-1", edited(hk("version-1"), v=1), "schema", "v must be")
    body("version-true", edited(hk("version-true"), v=True), "schema", "v must be")
    body("round-string", edited(hk("round-string"), round=str(LOCKED)), "schema", "round is not an integer")
    body("round-float", edited(hk("round-float"), round=float(LOCKED)), "schema", "round is not an integer")
    body("round-bool", edited(hk("round-bool"), round=True), "schema", "round is not an integer")
    body("alg", edited(hk("alg"), alg="none"), "schema", "alg is not")
    body("hex-prefix", edited(hk("hex-prefix"), binding="0x" + "00" * 31), "schema", "binding is not plain hex")
    body("time-ct-length", dumps(payload(hk("time-ct-length")).to_json()
                                 | {"W_time": {"ct": "00" * 300}}), "schema", "W_time.ct")
    # UTF-16/32 is refused by strict UTF-8 decoding, before the depth guard could miscount it
    # (sized to fit the body limit, so the decoder is what refuses them; ~90 000 levels: below)
    depth = (LIMITS.body - 2) // 18
    body("utf16-deep", utf16_nesting(depth, "utf-16-le"), "schema", "not JSON: JSONDecodeError")
    body("utf16-be-deep", utf16_nesting(depth, "utf-16-be"), "schema", "not JSON: JSONDecodeError")
    depth = (LIMITS.body - 8) // 4
    body("utf16-bom-deep", ("[" * depth + '"\u2222"' + "]" * depth).encode("utf-16"), "schema",
         "not JSON: UnicodeDecodeError")
    body("utf16-payload", dumps(payload(hk("utf16-payload"))).decode().encode("utf-16"), "schema",
         "not JSON: UnicodeDecodeError")
    body("utf32-payload", dumps(payload(hk("utf32-payload"))).decode().encode("utf-32"), "schema",
         "not JSON: UnicodeDecodeError")
    # padding: past the stream cap, past the size limit, or small (dropped: stored canonically)
    good = payload(hk("padded")).to_json()
    body("padded", dumps(good | {"padding": "0" * (25 << 20)}), "fetch-error", "too large")
    good = payload(hk("padded-past-limit")).to_json()
    body("padded-past-limit", dumps(good | {"padding": "0" * LIMITS.body}), "schema",
         f"larger than {LIMITS.body} bytes")
    body("padded-small", dumps(payload(hk("padded-small"), (0.25, -0.5)).to_json() | {"padding": "0" * 256}),
         None, values=(0.25, -0.5))
    # a valid encryption of a plaintext wider than any challenge needs: C.ct is refused unopened
    # (each a few hundred bytes past the largest plaintext the profile's challenges need, so its body
    # is within the body limit, whose envelope allowance has the slack)
    wide = ",".join(["0"] * ((LIMITS.plaintext + 256) // 2))
    body("breadth-bomb", dumps(payload(hk("breadth-bomb"), plaintext=plaintext(
        "breadth-bomb", "[0.1,0.1]", f'"wide":[{wide}],'))), "schema", "C.ct holds more than")
    wide = ",".join(f'"k{i:05d}":0' for i in range((LIMITS.plaintext + 256) // 10))
    body("breadth-bomb-object", dumps(payload(hk("breadth-bomb-object"), plaintext=plaintext(
        "breadth-bomb-object", "[0.1,0.1]", f'"wide":{{{wide}}},'))), "schema", "C.ct holds more than")
    # the round window: [FIRST, NEWEST] counts; past it `round`, before it `lock`, all at download
    body("round-u64-max", edited(hk("round-u64-max"), round=(1 << 64) - 1), "round", "after the latest lock")
    body("round-2-64", edited(hk("round-2-64"), round=1 << 64), "round", "outside 1..2^64-1")
    body("round-zero", edited(hk("round-zero"), round=0), "round", "outside 1..2^64-1")
    body("late-lock", dumps(payload(hk("late-lock"), (0.5, 0.5), round_=NEWEST)), None, values=(0.5, 0.5))
    body("late-lock-past-window", dumps(payload(hk("late-lock-past-window"), round_=NEWEST + 1)), "round",
         "after the latest lock")
    body("early-lock-edge", dumps(payload(hk("early-lock-edge"), (-0.5, 0.75), round_=FIRST)), None,
         values=(-0.5, 0.75))
    body("early-lock-past-edge", dumps(payload(hk("early-lock-past-edge"), round_=FIRST - 1)), "lock",
         "before the shortest lock")
    body("ancient-round", dumps(payload(hk("ancient-round"), round_=1)), "lock", "before the shortest lock")
    body("ancient-round-1000", dumps(payload(hk("ancient-round-1000"), round_=1000)), "lock",
         "before the shortest lock")
    body("published-at-sample", dumps(payload(hk("published-at-sample"), round_=BEACON.chain.current_round(T))),
         "lock", "before the shortest lock")
    # the header checks
    body("verbatim-copy", dumps(payload(H0, HONEST[H0])), "hotkey", "not the committing hotkey")  # served as its own
    other_owner = pl.seal(hk("owner-key"), LOCKED, b"{}", ENC, secrets.token_bytes(32)).to_json()
    body("owner-key", dumps(other_owner), "owner-key")
    p = payload(hk("binding"))
    body("binding", dumps(dataclasses.replace(p, binding=flip(p.binding))), "binding")
    body("surrogate-hk", edited(hk("surrogate-hk"), hk=hk("surrogate-hk") + "\ud800"), "schema",
         "hk is not valid UTF-8")
    # bodies refused when opened
    body("timelock-other-beacon", dumps(payload(hk("timelock-other-beacon"),
                                                encryptor=TimelockEncryptor(IMPOSTOR.chain.public_key))), "timelock")
    p = payload(hk("ske-not-pke"))
    body("ske-not-pke", dumps(dataclasses.replace(
        p, time_ct=ENC.encrypt(LOCKED, secrets.token_bytes(64).hex().encode()))), "owner-path")
    p = payload(hk("content"))
    body("content", dumps(dataclasses.replace(p, c_ct=flip(p.c_ct))), "aead")
    body("plaintext-not-json", dumps(payload(hk("plaintext-not-json"), plaintext=b"ETH=0.1,0.2")), "plaintext",
         "not UTF-8 JSON")
    body("plaintext-bare-list", dumps(payload(hk("plaintext-bare-list"), plaintext=b"[" + b"7" * 400 + b"]")),
         "plaintext", "not a JSON object")
    body("plaintext-hotkey", dumps(payload(hk("plaintext-hotkey"),
                                           plaintext=pl.plaintext_bytes({CH.mantis.ticker: [0.1, 0.1]}, H0))), "hotkey",
         "plaintext hotkey")
    # a lone surrogate: ignored where nobody reads it, refused as the hotkey, undecodable if raw
    body("surrogate", dumps(payload(hk("surrogate"), plaintext=plaintext(
        "surrogate", "[0.125,-0.125]", '"note":"\\ud800",'))), None, values=(0.125, -0.125))
    body("surrogate-plaintext-hotkey", dumps(payload(hk("surrogate-plaintext-hotkey"), plaintext=plaintext(
        "surrogate-plaintext-hotkey", "[0.1,0.1]", hotkey=hk("surrogate-plaintext-hotkey") + "\\ud800"))),
         "hotkey", "plaintext hotkey")
    body("surrogate-raw", dumps(payload(hk("surrogate-raw"), plaintext=plaintext(
        "surrogate-raw", "[0.1,0.1]").replace(b'"hotkey"', b'"x":"\xed\xa0\x80","hotkey"'))), "plaintext",
         "UnicodeDecodeError")
    # the values
    body("plaintext-huge-int", dumps(payload(hk("plaintext-huge-int"), plaintext=plaintext(
        "plaintext-huge-int", f"[{'7' * 400},0.1]"))), "validation", "outside [-1, 1]")
    body("plaintext-huge-negative-int", dumps(payload(hk("plaintext-huge-negative-int"), plaintext=plaintext(
        "plaintext-huge-negative-int", f"[0.1,-{'9' * 400}]"))), "validation", "outside [-1, 1]")
    body("huge-int-ignored", dumps(payload(hk("huge-int-ignored"), plaintext=plaintext(
        "huge-int-ignored", "[0.375,0.0]", f'"big":{"8" * 400},'))), None, values=(0.375, 0.0))
    name = hk("nan")
    body("nan", dumps(payload(name, plaintext=plaintext("nan", "[NaN,0.1]"))), "validation", "finite")
    body("infinity", dumps(payload(hk("infinity"), plaintext=plaintext("infinity", "[1e999,0.1]"))),
         "validation", "finite")
    body("out-of-range", dumps(payload(hk("out-of-range"), (1.5, 0.0))), "validation", "outside [-1, 1]")
    body("wrong-dimension", dumps(payload(hk("wrong-dimension"), (0.1, 0.1, 0.1))), "validation", "expected 2")
    body("booleans", dumps(payload(hk("booleans"), (True, False))), "validation", "finite")
    body("round-never-published", dumps(payload(hk("round-never-published"), round_=UNSIGNED)),
         "timelock-unavailable", "hard deadline")
    # one owner of two hotkeys serves one timelock ciphertext under both (each payload opens by itself)
    shared = {"ske": secrets.token_bytes(32), "key": secrets.token_bytes(32)}
    a = payload(hk("sybil-a"), **shared)
    b = dataclasses.replace(payload(hk("sybil-b"), **shared), time_ct=a.time_ct)
    body("sybil-a", dumps(a), "duplicate", "same W_time")
    body("sybil-b", dumps(b), "duplicate", "same W_time")
    assert len({hk(n) for n in cases}) == len(cases), "two cases share a hotkey"
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


@dataclasses.dataclass
class Taken:
    """One sample's outcome: rows and rejections as produced, and by hotkey; the vectors of CH."""

    rows: list
    rejections: list
    vectors: dict[str, list[float]]
    by_hotkey: dict = dataclasses.field(init=False)
    rejected: dict = dataclasses.field(init=False)

    def __post_init__(self):
        self.by_hotkey = {r.hotkey: r for r in self.rows}
        self.rejected = {}
        for r in self.rejections:
            self.rejected.setdefault(r.hotkey, []).append(r)


def take_sample(cases: dict[str, Case], sidx: int = SIDX) -> Taken:
    """One sample through fetch, screening and opening, as the collection and the reveal run it."""
    files = {h: dumps(payload(h, v)) for h, v in HONEST.items()}
    routes, templates = {}, {h: "{base}/{hk}" for h in HONEST}
    for name, case in cases.items():
        miner = hk(name)
        if case.kind == "body":
            files[miner], templates[miner] = case.what, "{base}/{hk}"
        elif case.kind == "route":
            routes[miner], templates[miner] = case.what, "{base}/{hk}"
        else:
            templates[miner] = case.what
    with serve(host(files, routes), max_requests=500) as (base, _):
        urls = {m: t.format(base=base, netloc=netloc(base), hk=m) for m, t in templates.items()}
        store = HttpPayloadStore(allowed_hosts=[netloc(base)], max_bytes=CAP, connect_timeout_s=1.0,
                                 read_timeout_s=1.0)
        fetched = store.fetch_all(urls, deadline_s=3.0)
    rows = [screened_row(r, sidx, T, RULES) for r in fetched.values()]
    rounds = {r.round for r in rows if r.round is not None} - {UNSIGNED}  # drand never published it
    signatures = {r: BEACON.signature(r, BEACON.chain.reveal_time(r)) for r in rounds}
    vectors, rejections = _open_sample(rows, signatures, PROFILE, T, RULES, BEACON.chain.reveal_time)
    return Taken(rows, rejections, vectors.get(CH.name, {}))


@pytest.fixture(scope="module")
def outcome():
    cases = corpus()
    return cases, take_sample(cases), take_sample({})


def test_the_corpus_is_large_and_covers_every_stage(outcome):
    cases, _, _ = outcome
    assert len(cases) >= 70
    reasons = {c.reason for c in cases.values()}
    assert {r.value for r in pl.Reason} - {"signature"} <= reasons  # signatures are verified before storage
    assert {"bad-url", "absent", "fetch-error", "lock", "round", "validation", "duplicate",
            "timelock-unavailable", None} <= reasons  # None: legal hostility, which counts
    assert pl.UNEXPECTED not in reasons  # no miner can reach it (test_a_raising_payload_is_its_own_refusal)
    holes = {"plaintext-huge-int", "utf16-deep", "utf16-payload", "nul-url", "padded", "padded-small",
             "breadth-bomb", "late-lock", "late-lock-past-window", "ancient-round", "surrogate", "surrogate-hk",
             "surrogate-plaintext-hotkey"}
    assert holes <= set(cases)
    # every body but those named for the size limits fits it, so it reaches the layer it is named for
    sized = {"oversized-junk", "padded", "padded-past-limit"}
    assert all(len(c.what) <= LIMITS.body for n, c in cases.items() if c.kind == "body" and n not in sized)
    assert CAP > LIMITS.body + 10 and len(cases["padded-past-limit"].what) <= CAP
    # the UTF-16 nestings are the guard-evading form: counted as bytes, they are barely nested
    assert json_guard.nesting_depth(cases["utf16-deep"].what) <= 1 < json_guard.MAX_DEPTH < LIMITS.body // 18


def test_each_hostile_case_meets_its_reason(outcome):
    cases, taken, _ = outcome
    wrong = {}
    for name, case in cases.items():
        miner = hk(name)
        row = taken.by_hotkey[miner]
        refusals = taken.rejected.get(miner, [])
        got = [row.status] if row.status != FETCHED else [r.reason for r in refusals]
        details = [row.reason] if row.status != FETCHED else [r.detail for r in refusals]
        expected = [] if case.reason is None else [case.reason]
        if got != expected or not all(case.detail in d for d in details):
            wrong[name] = (got, details)
        if case.reason is None:
            assert taken.vectors.get(miner) == list(case.values), name
        else:
            assert miner not in taken.vectors, name
        if row.status != FETCHED:
            assert row.round is None, name  # a refused round never makes an epoch wait
    assert not wrong, wrong


def test_honest_miners_score_exactly_as_without_the_hostile_ones(outcome):
    cases, taken, alone = outcome
    legal = {hk(n): list(c.values) for n, c in cases.items() if c.reason is None}
    assert alone.vectors == {h: [float(x) for x in v] for h, v in HONEST.items()}
    assert taken.vectors == alone.vectors | legal
    assert not alone.rejections and not any(h in taken.rejected for h in HONEST)
    for h in HONEST:  # the bodies differ (fresh encryptions); everything else is the same
        with_them, without = taken.by_hotkey[h], alone.by_hotkey[h]
        assert (with_them.status, with_them.reason, with_them.round) == (without.status, without.reason,
                                                                         without.round) == (FETCHED, "", LOCKED)


def test_refused_bodies_are_kept_but_capped(outcome):
    cases, taken, _ = outcome
    junk = taken.by_hotkey[hk("oversized-junk")]
    assert junk.status == "schema" and len(junk.body) == KEEP_REFUSED_BYTES
    assert "sha256" in junk.reason and str(LIMITS.body + 10) in junk.reason
    padded = taken.by_hotkey[hk("padded-past-limit")]
    assert padded.status == "schema" and len(padded.body) == KEEP_REFUSED_BYTES
    assert taken.by_hotkey[hk("padded")].body is None  # never read past the cap
    copy = taken.by_hotkey[hk("verbatim-copy")]
    assert copy.status == "hotkey" and copy.round is None and pl.parse(copy.body).hk == H0  # kept whole
    late = taken.by_hotkey[hk("late-lock-past-window")]
    assert late.status == "round" and late.round is None
    deep = taken.by_hotkey[hk("utf16-deep")]
    assert deep.body == cases["utf16-deep"].what[:KEEP_REFUSED_BYTES] and deep.round is None


def test_fetched_bodies_are_stored_canonically(outcome):
    cases, taken, _ = outcome
    fetched = [r for r in taken.rows if r.status == FETCHED]
    assert len(fetched) > len(HONEST)
    for row in fetched:
        parsed = pl.parse(row.body, LIMITS)
        assert isinstance(parsed, pl.PayloadV2) and row.body == parsed.canonical(), row.hotkey
    padded = taken.by_hotkey[hk("padded-small")]
    served = json.loads(cases["padded-small"].what)
    assert b"padding" not in padded.body and json.loads(padded.body) == {k: v for k, v in served.items()
                                                                        if k != "padding"}
    assert padded.round == LOCKED
    assert taken.by_hotkey[hk("late-lock")].round == NEWEST  # the latest round an epoch may wait for


def test_utf16_nesting_of_90000_levels_is_refused_before_the_parser():
    """The body that slipped past the old byte-level guard (it counted bytes, then json.loads(bytes)
    decoded the UTF-16 it had miscounted) and overflowed the C stack. Under the wire format's outer
    limit (25 MiB: `open_payload` and the inspect CLI by default) strict UTF-8 decoding refuses it, or
    parses exactly the document the guard counted; under the derived limit its size refuses it. In a
    child process, so a regression fails this test instead of killing the run."""
    code = textwrap.dedent('''
        import sys
        from protocol import json_guard, payload as pl
        assert sys.getrecursionlimit() >= 100_000  # py_ecc raised it: the C parser no longer stops deep input
        n = 90_000
        bodies = {
            "utf-16-le": utf16_nesting(n, "utf-16-le"),
            "utf-16-be": utf16_nesting(n, "utf-16-be"),
            "utf-16 U+2222": ("[" * n + '"\\u2222"' + "]" * n).encode("utf-16"),
            "utf-32": utf16_nesting(n, "utf-32"),
        }
        assert json_guard.nesting_depth(bodies["utf-16-le"]) <= 1  # what the old guard counted
        limits = pl.Limits.for_plaintext(int(sys.argv[1]))
        for name, body in bodies.items():
            try:
                json_guard.loads(body)
                raise SystemExit(f"{name}: json_guard.loads accepted it")
            except ValueError:
                pass
            wide = pl.parse(body)
            assert wide.reason == pl.Reason.SCHEMA and wide.detail.startswith("not JSON"), (name, wide)
            tight = pl.parse(body, limits)
            assert tight.reason == pl.Reason.SCHEMA and "larger than" in tight.detail, (name, tight)
        print("refused", len(bodies))
    ''')
    code = inspect.getsource(utf16_nesting) + code  # the child imports no test module (nor dagster)
    done = subprocess.run([sys.executable, "-c", code, str(LIMITS.plaintext)], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.split() == ["refused", "4"]


# --- the per-payload boundary ---------------------------------------------------------------------

FAULT = "injected fault \x00 \ud800"  # the ledger must store even this as text
SCREEN_FAULT, OPEN_FAULT = list(HONEST)[1], list(HONEST)[2]


@pytest.fixture(scope="module")
def faulty():
    """An honest sample with screening raising for one hotkey and opening raising for another, as a
    bug would: everyone else must come out as without the bug."""
    screen, reveal_payload = pl.screen, reveal._reveal_payload

    def raising_screen(raw, hotkey, *args, **kwargs):
        if hotkey == SCREEN_FAULT:
            raise RuntimeError(FAULT)
        return screen(raw, hotkey, *args, **kwargs)

    def raising_reveal(row, *args, **kwargs):
        if row.hotkey == OPEN_FAULT:
            raise ArithmeticError(FAULT)
        return reveal_payload(row, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ingest.pl, "screen", raising_screen)  # protocol.payload.screen, as the collection calls it
        mp.setattr(reveal, "_reveal_payload", raising_reveal)
        return take_sample({}, sidx=SIDX + 1)


def test_a_raising_payload_is_its_own_refusal(faulty, outcome):
    _, _, alone = outcome
    row = faulty.by_hotkey[SCREEN_FAULT]
    assert row.status == pl.UNEXPECTED and row.round is None
    assert row.reason.startswith("screening raised RuntimeError") and FAULT in row.reason
    assert pl.parse(row.body).hk == SCREEN_FAULT  # the body as served is kept, to see what raised
    assert faulty.by_hotkey[OPEN_FAULT].status == FETCHED  # screened fine; opening raised
    [refusal] = faulty.rejected[OPEN_FAULT]
    assert refusal.reason == pl.UNEXPECTED and refusal.challenge == ""
    assert refusal.detail.startswith("opening raised ArithmeticError") and FAULT in refusal.detail
    assert set(faulty.rejected) == {OPEN_FAULT}
    assert all(faulty.by_hotkey[h].status == FETCHED for h in HONEST if h != SCREEN_FAULT)
    assert faulty.vectors == {h: v for h, v in alone.vectors.items() if h not in (SCREEN_FAULT, OPEN_FAULT)}
    assert len(faulty.vectors) == len(HONEST) - 2


# --- the ledger: every row and rejection stored as produced, on SQLite and PostgreSQL ------------


@pytest.fixture(params=BACKENDS)
def ledger_db(request, tmp_path):
    return ledger_url(request, tmp_path)


def test_the_ledger_stores_every_row_and_rejection(outcome, faulty, ledger_db):
    _, taken, _ = outcome
    samples = {SIDX: taken, SIDX + 1: faulty}
    led = Ledger(ledger_db)
    try:
        for sidx, sample in samples.items():
            with led.transaction():  # as the collection writes a sample
                assert led.record_sample(sidx, sidx * PROFILE.chain.sample_every, T)
                assert led.record_payloads(sample.rows) == len(sample.rows)
        rejections = [r for s in samples.values() for r in s.rejections]
        keys = {(r.sidx, r.hotkey, r.challenge) for r in rejections}
        assert len(keys) == len(rejections)
        with led.replacing_reveal(SIDX, SIDX + 2, (c.name for c in PROFILE.challenges)):  # as the reveal replaces an epoch's rejections
            assert led.record_rejections(rejections) == len(rejections)
    finally:
        led.dispose()
    led = Ledger(ledger_db, migrate=False)  # a fresh engine: only what was committed
    try:
        for sidx, sample in samples.items():
            back = {r.hotkey: r for r in led.raw_payloads(sidx, sidx + 1)}
            assert set(back) == set(sample.by_hotkey)
            for hotkey, row in sample.by_hotkey.items():
                got = back[hotkey]
                assert (got.status, got.body, got.round, got.fetched_at) == (row.status, row.body, row.round,
                                                                             row.fetched_at), hotkey
                assert (got.url, got.reason) == (safe_text(row.url), safe_text(row.reason)), hotkey
            assert led.payload_statuses(sidx, sidx + 1) == dict(Counter(r.status for r in sample.rows))
            want = sorted((Rejection(r.sidx, r.hotkey, r.reason, safe_text(r.detail), r.challenge)
                           for r in sample.rejections), key=lambda r: (r.hotkey, r.challenge))
            assert led.rejections(sidx, sidx + 1) == want
        # untrusted text is escaped, not lost
        nul = led.raw_payloads(SIDX, SIDX + 1, hotkey=hk("nul-url"))[0]
        assert "\x00" not in nul.url and nul.url.endswith(hk("nul-url") + "\\x00")
        surrogate = led.raw_payloads(SIDX, SIDX + 1, hotkey=hk("surrogate-url"))[0]
        assert surrogate.url.endswith(hk("surrogate-url") + "\\ud800")
        fault = led.raw_payloads(SIDX + 1, SIDX + 2, hotkey=SCREEN_FAULT)[0]
        assert fault.status == pl.UNEXPECTED and "injected fault \\x00 \\ud800" in fault.reason
        [opened] = led.rejections(SIDX + 1, SIDX + 2, hotkey=OPEN_FAULT)
        assert opened.reason == pl.UNEXPECTED and "injected fault \\x00 \\ud800" in opened.detail
    finally:
        led.dispose()
