"""Property-based fuzz of the per-payload path: download screening, reveal opening and validation.

Every generated input goes through the validator's own boundaries (`screened_row` at download,
`_open_sample` at reveal, `challenge_values` for the plaintext's values). Whatever the input, no
exception escapes, every refusal carries a known reason, a stored body is canonical or capped, a
vector is `dim` finite floats in [-1, 1], and `unexpected` (a handler that raised: a bug) never
occurs. py_ecc raises the recursion limit to 100 000, so JSON nested deeply enough to reach
`json.loads` would overflow the C stack and kill pytest: the deep-nesting cases guard exactly that.

Runs are deterministic (`derandomize=True`, no example database) and the traced peak memory of every
boundary call is bounded. `test_zz_totals` (last by definition order) checks that at least 10 000 inputs
went through and prints the distribution of outcomes (`pytest -s`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import tracemalloc
from collections import Counter

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import profiles
from assets.epochs import SampleRules
from assets.mantis.ingest import KEEP_REFUSED_BYTES, screened_row
from assets.mantis.reveal import UNPUBLISHED, _open_sample
from ledger import RawPayload
from protocol import payload as pl
from protocol import timelock
from protocol.drand import LocalBeacon
from protocol.timelock import TimelockEncryptor
from protocol.validation import ChallengeFormat, challenge_values, vector_problem
from resources.payloads import FETCHED, FetchResult

PROFILE = profiles.load()
CH = PROFILE.challenges[0]
FORMATS = PROFILE.challenge_formats()
OWNER = bytes.fromhex(PROFILE.protocol.owner_pk)
BEACON = LocalBeacon.from_seed(b"fuzz".ljust(32, b"\0"), genesis=1_700_000_000)
ENC = TimelockEncryptor(BEACON.chain.public_key)
T = 1_700_100_000.0  # the sample's time
SIDX = 340_020
LOCKED = BEACON.chain.round_at(T + 3700)  # sealed past the challenge's one-hour horizon
RULES = SampleRules.of(BEACON.chain, PROFILE, T)  # the profile's real limits (a ~6 KiB body)
# Limits for a ~1 MB plaintext, so big inputs reach the parsers (the profile's real limits are ~6 KB).
# Not the wire format's 25 MiB: generating such inputs by the thousand would make the fuzz slow.
WIDE = dataclasses.replace(RULES, limits=pl.Limits.for_plaintext(500_000))
SIGNATURES = {LOCKED: BEACON.signature(LOCKED, BEACON.chain.reveal_time(LOCKED))}
HK = "5FuzzMiner" + "f" * 38
URL = f"https://fuzz.r2.dev/{HK}"

# One payload sealed once: fixed secrets, so any plaintext can be swapped into C without a new
# timelock encryption (C is bound to `binding`, which does not cover C).
SKE, KEY, C_NONCE, W_NONCE = b"\x11" * 32, b"\x22" * 32, b"\x33" * 12, b"\x44" * 12
BASE = pl.build(HK, LOCKED, {CH.mantis.ticker: [0.25, -0.5]}, ENC, OWNER, ske=SKE, key=KEY, c_nonce=C_NONCE, w_nonce=W_NONCE)
BASE_DOC = BASE.to_json()
AEAD = ChaCha20Poly1305(KEY)

# What importing protocol (py_ecc) leaves the interpreter with, as in the validator process.
PRODUCTION_RECURSION_LIMIT = sys.getrecursionlimit()
assert PRODUCTION_RECURSION_LIMIT >= 100_000, "py_ecc no longer raises the recursion limit: revisit json_guard"

ROW_STATUSES = {FETCHED, pl.UNEXPECTED} | {r.value for r in pl.Reason}
REJECTION_REASONS = {r.value for r in pl.Reason} | {pl.UNEXPECTED, "lock", "validation", "duplicate", UNPUBLISHED}
MEMORY_BOUND = 64 * 1024 * 1024

INPUTS: Counter[str] = Counter()  # generated inputs per test
OUTCOMES: Counter[str] = Counter()  # row statuses, rejection reasons and validation outcomes
PEAKS: dict[str, int] = {}  # traced peak per boundary

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


def measured(stage: str, fn, *args):
    """`fn(*args)` as the validator runs it, under tracemalloc: its own allocations stay bounded.

    Hypothesis lowers the recursion limit to ~2 000 while a test runs, so deep JSON reaching
    `json.loads` would raise a harmless RecursionError here instead of overflowing the C stack as
    it does in production: the call runs under the limit py_ecc set. Tracing covers only the call
    (the input is already allocated), so the bound is what the validator holds on top of one
    payload; tracing the generator too would make it ~5x slower.
    """
    hypothesis_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(PRODUCTION_RECURSION_LIMIT)
    tracemalloc.start()
    try:
        return fn(*args)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sys.setrecursionlimit(hypothesis_limit)
        PEAKS[stage] = max(PEAKS.get(stage, 0), peak)
        assert peak < MEMORY_BOUND, f"{stage}: traced peak {peak / 2**20:.1f} MiB"


# --- JSON text with anything in it ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Raw:
    """JSON text written verbatim: literals json.dumps cannot write, deep nesting, broken tokens."""

    text: str
    valid: bool = False  # known to be plain JSON of a bounded depth (then it does not spoil an oracle)


@dataclasses.dataclass(frozen=True)
class Pairs:
    """An object with repeated keys (json.loads keeps the last)."""

    items: tuple


def dump(v, ascii_: bool = True, sep: tuple[str, str] = (",", ":")) -> str:
    if isinstance(v, Raw):
        return v.text
    if isinstance(v, list):
        return "[" + sep[0].join(dump(x, ascii_, sep) for x in v) + "]"
    if isinstance(v, (dict, Pairs)):
        items = v.items() if isinstance(v, dict) else v.items
        return "{" + sep[0].join(json.dumps(k, ensure_ascii=ascii_) + sep[1] + dump(x, ascii_, sep)
                                 for k, x in items) + "}"
    return json.dumps(v, ensure_ascii=ascii_)  # NaN, Infinity and -Infinity as Python writes them


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be",
             "latin-1", "cp1252", "utf-7"]


def encode(text: str, encoding: str) -> bytes:
    """`text` in `encoding`; lone surrogates pass through where the codec allows (invalid UTF-8)."""
    for errors in ("strict", "surrogatepass", "replace"):
        try:
            return text.encode(encoding, errors)
        except (UnicodeEncodeError, LookupError):
            continue
    return text.encode("utf-8", "surrogatepass")


SPECIAL_CHARS = ["\x00", "\ud800", "\udfff", "\udbff", "\udc00", "\ufeff", "\u2028", "\U0001f600", '"', "\\", "\u2222",
                 "\u5b5b", "\u225b", "\x7f", "\x80", "\xff"]
texts = st.text(st.one_of(st.characters(codec=None, exclude_categories=()), st.sampled_from(SPECIAL_CHARS)),
                max_size=20)
huge_ints = st.integers(1, 4000).map(lambda n: int("9" * n)) | st.integers(1, 4000).map(lambda n: -int("7" * n))
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e308, -0.0, 5e-324, 1.0, -1.0])
# Depths past the point where json.loads would overflow the C stack (~60 000 levels here) are
# drawn often: a plain integer range rarely gives them.
DEPTH = st.integers(1, 200_000) | st.integers(50_000, 200_000) | st.sampled_from([63, 64, 65, 100_000, 200_000])
LITERALS = ["NaN", "-NaN", "Infinity", "-Infinity", "1e999", "-1e-999", "-0", "0.0e0", "1E+2", "01", "tru", "nul", "1.",
            ".5", "0x10", '"\\ud800"', '"\\u0000"', '"\\udc00\\ud800"', "[", "]", "{", "}", ",", '"', "\\", "", " ",
            "\ufeff0"]
# Small verbatim tokens may appear anywhere in a document; big ones (up to ~1 MiB of text) once per input.
small_raw = st.one_of(
    st.sampled_from(LITERALS),
    st.integers(4000, 6000).map(lambda n: "9" * n),  # past the int parser's 4300-digit limit
    st.integers(1, 100).map(lambda n: "[" * n + "0" + "]" * n),  # around the 64-level bound
    st.integers(1, 100).map(lambda n: '{"a":' * n + "0" + "}" * n),
).map(Raw)
big_raw = st.one_of(
    st.integers(4000, 100_000).map(lambda n: "9" * n),
    st.integers(1, 5000).map(lambda n: "0." + "1" * n + "e-" + "9" * 4),
    DEPTH.map(lambda n: "[" * n + "]" * n),
    DEPTH.map(lambda n: '{"a":' * n + "0" + "}" * n),
    DEPTH.map(lambda n: "[" * n),
    DEPTH.map(lambda n: '[{"a":' * (n // 2) + "0" + "}]" * (n // 2)),
    st.integers(1, 100_000).map(lambda n: "[" + ",".join(["0"] * n) + "]"),  # wide
    st.integers(1, 20_000).map(lambda n: "{" + ",".join(f'"k{i}":[{i}]' for i in range(n)) + "}"),
).map(Raw)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), huge_ints, floats, texts)
py_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(texts, inner, max_size=5),
                         max_leaves=10)
wire_values = st.recursive(
    st.one_of(scalars, small_raw),
    lambda inner: (st.lists(inner, max_size=6) | st.dictionaries(texts, inner, max_size=5)
                   | st.lists(st.tuples(texts, inner), max_size=5).map(lambda p: Pairs(tuple(p)))),
    max_leaves=10,
)
# A value with at most one big verbatim token, at the top or one level down.
wire_docs = st.one_of(wire_values, wire_values, big_raw, st.tuples(big_raw, wire_values).map(list),
                      st.tuples(texts, big_raw, wire_values).map(lambda t: {t[0]: t[1], "z": t[2]}))
separators = st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t"), (",", ": ")])


# --- the checks at each boundary --------------------------------------------------------------


def _show(data: bytes) -> str:
    return f"{len(data)} bytes: {data[:300]!r}{'…' if len(data) > 300 else ''}"


def screen(body: bytes, rules: SampleRules = RULES) -> RawPayload:
    """`screened_row` of one fetched body, with every property a row must have."""
    row = measured("screened_row", screened_row, FetchResult(HK, URL, FETCHED, body), SIDX, T, rules)
    OUTCOMES[f"row:{row.status}"] += 1
    assert row.status != pl.UNEXPECTED, f"screening raised on {_show(body)}: {row.reason}"
    assert row.status in ROW_STATUSES, row.status
    if row.status == FETCHED:
        parsed = pl.parse(row.body)
        assert isinstance(parsed, pl.PayloadV2), parsed
        assert parsed.canonical() == row.body and len(row.body) <= rules.limits.body
        assert row.reason == "" and row.round == parsed.round == LOCKED  # hk and binding tie it to BASE's round
    else:
        assert row.reason and row.round is None
        assert row.body == body[:KEEP_REFUSED_BYTES] and len(row.body) <= KEEP_REFUSED_BYTES
    return row


def reveal(row: RawPayload, rules: SampleRules = RULES):
    """`_open_sample` of one row: (the miner's vector or None, rejection reasons)."""
    vectors, rejections = measured("_open_sample", _open_sample, [row], SIGNATURES, PROFILE, T, rules,
                                   BEACON.chain.reveal_time)
    reasons = []
    for r in rejections:
        OUTCOMES[f"rejection:{r.reason}"] += 1
        assert r.reason != pl.UNEXPECTED, f"opening raised on {_show(row.body)}: {r.detail}"
        assert r.reason in REJECTION_REASONS and r.detail and r.hotkey == HK, r
        reasons.append(r.reason)
    assert set(vectors) <= {c.name for c in PROFILE.challenges}
    for name, by_hotkey in vectors.items():
        assert set(by_hotkey) == {HK}
        dim = next(c.mantis.dim for c in PROFILE.mantis_challenges if c.name == name)
        check_vector(by_hotkey[HK], dim)
    vector = vectors.get(CH.name, {}).get(HK)
    if row.status == FETCHED:
        OUTCOMES["reveal:vector" if vector is not None else "reveal:rejected" if reasons else "reveal:no-values"] += 1
    return vector, reasons


def check_vector(vector, dim: int) -> None:
    assert isinstance(vector, list) and len(vector) == dim
    assert all(type(x) is float and math.isfinite(x) and -1 <= x <= 1 for x in vector), vector


def check_lbfgs_vector(vector, dim: int) -> None:
    """Zeros, or bucket probabilities (the first five) in (0, 1] summing to 1, and barrier
    probabilities within [1e-6, 1 − 1e-6]."""
    assert isinstance(vector, list) and len(vector) == dim and all(type(x) is float for x in vector)
    if any(vector):
        assert all(0 < x <= 1 for x in vector[:5]), vector
        assert all(1e-6 <= x <= 1 - 1e-6 for x in vector[5:]), vector
        assert math.isclose(math.fsum(vector[:5]), 1.0, rel_tol=1e-12), vector


def has_raw(v) -> bool:
    """Whether a generated value holds verbatim text anywhere (then no simple oracle applies)."""
    if isinstance(v, (Raw, Pairs)):
        return not getattr(v, "valid", False)
    if isinstance(v, list):
        return any(has_raw(x) for x in v)
    if isinstance(v, dict):
        return any(has_raw(x) for x in v.values())
    return False


def with_plaintext(plaintext: bytes, payload: pl.PayloadV2 = BASE) -> pl.PayloadV2:
    """BASE with C replaced: a genuinely decryptable payload of any plaintext."""
    return dataclasses.replace(payload, c_ct=AEAD.encrypt(C_NONCE, plaintext, payload.binding))


# --- 1. raw bodies at download ----------------------------------------------------------------


@settings(FUZZ, max_examples=1500)
@given(data=st.binary(max_size=4096), repeat=st.integers(1, 3) | st.integers(1, 500), wide=st.booleans())
def test_raw_bytes_are_screened(data, repeat, wide):
    INPUTS["raw_bytes"] += 1
    screen(data * repeat, WIDE if wide else RULES)


@settings(FUZZ, max_examples=2000)
@given(doc=wire_docs, encoding=st.sampled_from(ENCODINGS), ascii_=st.booleans(), sep=separators,
       wide=st.booleans())
def test_json_documents_in_every_encoding_are_screened(doc, encoding, ascii_, sep, wide):
    INPUTS["json_documents"] += 1
    screen(encode(dump(doc, ascii_, sep), encoding), WIDE if wide else RULES)


# Runs of tokens: deep brackets, brackets inside strings, escapes that shift quotes, and wide
# characters whose UTF-16/32 bytes are '[' (0x5B), '{' (0x7B) or '"' (0x22).
GUARD_TOKENS = ["[", "]", "{", "}", '"', "\\", '\\"', "\\\\", ",", ":", "0", "a", " ", '{"a":', '"a":', "\u2222",
                "\u5b5b", "\u7b7b", "\u225b", "\u5b22", "\U00022222", "\x00", "\ud800"]


@settings(FUZZ, max_examples=800)
@given(opening=st.sampled_from(["[", '{"a":', '[{"a":', '{"a":[', "[0,"]), depth=DEPTH,
       runs=st.lists(st.tuples(st.sampled_from(GUARD_TOKENS), st.integers(1, 3) | DEPTH), max_size=6),
       encoding=st.sampled_from(["utf-8"] * 4 + ENCODINGS))
def test_deep_and_tricky_nesting_is_refused_before_the_parser(opening, depth, runs, encoding):
    INPUTS["nesting"] += 1
    text = opening * (depth // len(opening) + 1) + "".join(tok * n for tok, n in runs)
    screen(encode(text, encoding), WIDE)


@settings(FUZZ, max_examples=300)
@given(members=st.integers(1, 200_000), kind=st.sampled_from(["list", "object", "strings", "field"]),
       encoding=st.sampled_from(["utf-8", "utf-8", "utf-16-le", "utf-32"]))
def test_wide_documents_are_screened(members, kind, encoding):
    INPUTS["wide"] += 1
    if kind == "list":
        text = "[" + ",".join(["0"] * members) + "]"
    elif kind == "object":
        text = "{" + ",".join(f'"k{i}":{i}' for i in range(members)) + "}"
    elif kind == "strings":
        text = "[" + ",".join(['"\\u0000\\ud800"'] * members) + "]"
    else:  # a valid payload with a wide extra field: screening keeps only the nine fields
        text = dump({**BASE_DOC, "pad": Raw("[" + ",".join(["[0]"] * members) + "]")})
    row = screen(encode(text, encoding), WIDE)
    if kind == "field" and encoding == "utf-8":
        assert row.status == FETCHED and row.body == BASE.canonical()


# --- 2. a real payload's fields mutated -------------------------------------------------------

FIELD_PATHS = [(f,) for f in pl.FIELDS] + [("C", "nonce"), ("C", "ct"), ("W_owner", "pke"), ("W_owner", "nonce"),
                                           ("W_owner", "ct"), ("W_time", "ct")]


def _near(value):
    """Values close to a valid one: the boundaries the checks draw."""
    if isinstance(value, str) and len(value) >= 4 and all(c in "0123456789abcdef" for c in value):
        flip = {c: "0123456789abcdef"[("0123456789abcdef".index(c) + 1) % 16] for c in "0123456789abcdef"}
        mid = len(value) // 2
        return st.sampled_from([
            value[:-1] + flip[value[-1]], value[:mid] + flip[value[mid]] + value[mid + 1:], flip[value[0]] + value[1:],
            value.upper(), value[:-1], value[:-2], value + "0", value + "00", "0x" + value[2:], " " + value[1:],
            value[:-1] + "g", value[:-2] + "\u0660\u0660", "", value * 2,
            value[:2] + value[2:].replace(value[2], "\u0661", 1),
        ])
    return st.sampled_from([0, 1, -1, True, 2.0, "2", LOCKED, RULES.window.first - 1, RULES.window.last + 1,
                            RULES.window.last, (1 << 64) - 1, 1 << 64, None, pl.ALG + " ", pl.ALG.upper(), HK + " ",
                            HK[:-1], "x" * 129, HK + "\ud800"])


@st.composite
def mutated_payloads(draw):
    doc = json.loads(json.dumps(BASE_DOC))
    big = False  # at most one big verbatim token per input
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(FIELD_PATHS))
        parent = doc
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        action = draw(st.sampled_from(["replace", "near", "near", "remove", "extra", "nested-extra"]))
        if action == "replace":
            parent[path[-1]] = draw(wire_docs if not big else wire_values)
            big = True
        elif action == "near":
            parent[path[-1]] = draw(_near(parent.get(path[-1])))
        elif action == "remove":
            parent.pop(path[-1], None)
        elif action == "extra":
            doc[draw(texts)] = draw(wire_values)
        else:
            parent[draw(texts)] = draw(wire_values)
    if draw(st.booleans()):  # the 0.5 form of W_time (the reference miner's): normalised on the way in
        w_time = doc.get("W_time")
        if isinstance(w_time, dict) and w_time.get("ct") == BASE_DOC["W_time"]["ct"]:
            t = timelock.TleCiphertext.from_bytes(BASE.time_ct)
            doc["W_time"] = {**w_time, "ct": t.to_bytes(timelock.V05).hex()}
    if draw(st.integers(0, 9)) == 0:  # repeated keys: the parser keeps the last
        doc = Pairs(tuple(doc.items()) + ((draw(st.sampled_from(pl.FIELDS)), draw(wire_values)),))
    return doc


@settings(FUZZ, max_examples=2500)
@given(doc=mutated_payloads(), ascii_=st.booleans(), sep=separators, wide=st.booleans(),
       encoding=st.sampled_from(["utf-8"] * 8 + ENCODINGS))
def test_mutated_payload_fields_are_screened_and_opened(doc, ascii_, sep, wide, encoding):
    INPUTS["field_mutation"] += 1
    rules = WIDE if wide else RULES
    row = screen(encode(dump(doc, ascii_, sep), encoding), rules)
    if row.status == FETCHED:  # whatever passed screening opens as BASE, or is refused with a reason
        vector, reasons = reveal(row, rules)
        assert vector == [0.25, -0.5] or reasons


# --- 3. plaintexts through opening and validation ---------------------------------------------

VALID_VECTORS = st.lists(st.floats(-1, 1) | st.sampled_from([-1, 0, 1]), min_size=CH.mantis.dim, max_size=CH.mantis.dim)
NUMBERS = st.lists(st.floats() | st.integers() | huge_ints | st.booleans(), max_size=4)
ANY_VECTORS = st.one_of(VALID_VECTORS, wire_values, st.lists(wire_values, max_size=5), NUMBERS)
PY_VECTORS = st.one_of(VALID_VECTORS, py_values, st.lists(py_values, max_size=5), NUMBERS)


@st.composite
def plaintexts(draw):
    """(plaintext bytes, the vector it must yield or None when it must yield none)."""
    kind = draw(st.sampled_from(["bytes", "object", "object", "object", "valid", "valid", "bomb", "deep"]))
    if kind == "bytes":
        return draw(st.binary(max_size=2048)), None
    hotkey = draw(st.sampled_from([HK] * 6 + [HK + " ", HK.upper(), "", None, 5, [HK]]) | texts)
    obj: dict = {}
    if kind == "valid":  # a real answer, maybe with other keys: the oracle knows the vector
        obj[draw(st.sampled_from([CH.mantis.ticker, CH.name]))] = draw(VALID_VECTORS)
        obj.update(draw(st.dictionaries(st.sampled_from(["x", "BTC", "ts", CH.mantis.ticker.lower()]), py_values, max_size=2)))
        hotkey = HK
    elif kind == "object":
        key = draw(st.sampled_from([CH.mantis.ticker] * 4 + [CH.name, CH.mantis.ticker.lower(), "x"]))
        obj[key] = draw(ANY_VECTORS)
        obj.update(draw(st.dictionaries(texts, wire_values, max_size=3)))
    elif kind == "bomb":  # breadth: a valid answer next to 10^5+ members of padding
        obj[CH.mantis.ticker] = draw(VALID_VECTORS)
        obj["x"] = Raw("[" + ",".join(["0"] * draw(st.integers(1, 300_000))) + "]", valid=True)
    else:
        obj[CH.mantis.ticker] = draw(big_raw | small_raw | DEPTH.map(lambda n: Raw("[" * n + "0.1,0.2" + "]" * n)))
    if hotkey is not None or draw(st.booleans()):
        obj["hotkey"] = hotkey
    encoding = draw(st.sampled_from(["utf-8"] * (30 if kind == "valid" else 6) + ENCODINGS))
    text = dump(obj, draw(st.booleans()), draw(separators))
    data = encode(text, encoding)
    # What must come out: a vector exactly when the plaintext is strict UTF-8 JSON of an object naming
    # the hotkey and answering the challenge (by ticker, else name) with a valid vector.
    value = next((obj[k] for k in (CH.mantis.ticker, CH.name) if k in obj), None)
    try:
        utf8 = data == text.encode("utf-8")
    except UnicodeEncodeError:
        utf8 = False
    clean = (utf8 and obj.get("hotkey") == HK and not has_raw(list(obj.values())) and isinstance(value, list)
             and vector_problem(value, CH.mantis.dim) is None)
    return data, ([float(x) for x in value] if clean else None)


@settings(FUZZ, max_examples=2500)
@given(case=plaintexts(), wide=st.booleans())
def test_any_plaintext_opens_to_a_valid_vector_or_a_reason(case, wide):
    INPUTS["plaintexts"] += 1
    plaintext, expected = case
    rules = WIDE if wide else RULES
    row = screen(with_plaintext(plaintext).canonical(), rules)
    if len(plaintext) > rules.limits.plaintext:
        assert row.status == pl.Reason.SCHEMA  # C holds more than any answer needs: refused unread
        return
    assert row.status == FETCHED
    vector, reasons = reveal(row, rules)
    if expected is not None:
        assert vector == expected, (plaintext[:300], reasons)
    elif vector is not None:  # the oracle is conservative: whatever opened must be the object's own answer
        assert vector == [float(x) for x in challenge_values(json.loads(plaintext), FORMATS)[0][CH.name]]


@settings(FUZZ, max_examples=400)
@given(field=st.sampled_from(["u", "v", "w", "aes_ct", "nonce", "flip", "none"]), data=st.data(),
       form=st.sampled_from([timelock.V04, timelock.V05]))
def test_mutated_timelock_ciphertexts_are_refused(field, data, form):
    """W_time is not covered by the binding, so a mutated one reaches the timelock decryption."""
    INPUTS["timelock"] += 1
    tle = timelock.TleCiphertext.from_bytes(BASE.time_ct)
    if field == "flip":
        raw = bytearray(tle.to_bytes(form))
        for at, bit in data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 7)), min_size=1,
                                          max_size=3)):
            raw[at] ^= 1 << bit
        time_ct = bytes(raw)
    elif field != "none":
        old = getattr(tle, field)
        new = data.draw(st.binary(min_size=len(old), max_size=len(old))
                        | st.sampled_from([b"\0" * len(old), b"\xff" * len(old), (b"\xc0" + b"\0" * 95)[: len(old)]]))
        time_ct = dataclasses.replace(tle, **{field: new}).to_bytes(form)
    else:
        time_ct = tle.to_bytes(form)
    row = screen(json.dumps(dataclasses.replace(BASE, time_ct=time_ct).to_json()).encode())
    if row.status != FETCHED:
        return
    vector, reasons = reveal(row)
    intact = timelock.normalize(time_ct) == BASE.time_ct
    assert (vector == [0.25, -0.5]) == intact and (intact or reasons), (time_ct.hex(), reasons)


# --- 4. validation of the values alone (cheap: many inputs) -----------------------------------

# Other challenges next to the profile's (distinct names and tickers, as a profile has them).
EXTRA_FORMATS = st.dictionaries(st.sampled_from(["A", "B", "C"]),
                                st.tuples(st.integers(0, 6), st.sampled_from(["signed", "lbfgs"])), max_size=3).map(
    lambda dims: [ChallengeFormat(name, name + "T", dim, rule) for name, (dim, rule) in dims.items()])


@settings(FUZZ, max_examples=2500)
@given(values=st.dictionaries(st.sampled_from([CH.mantis.ticker, CH.name, "A", "AT", "B", "BT", "CT", "x", "hotkey"]) | texts,
                              PY_VECTORS, max_size=5),
       extra=EXTRA_FORMATS)
def test_challenge_values_never_raise(values, extra):
    INPUTS["challenge_values"] += 1
    formats = FORMATS + extra
    vectors, problems = measured("challenge_values", challenge_values, values, formats)
    assert not set(vectors) & set(problems)
    for name, vector in vectors.items():
        fmt = next(f for f in formats if f.name == name)
        if fmt.rule == "lbfgs":
            check_lbfgs_vector(vector, fmt.dim)
        else:
            check_vector(vector, fmt.dim)
    for name, problem in problems.items():
        assert isinstance(problem, str) and problem
    OUTCOMES["values:vector" if vectors else "values:problem" if problems else "values:absent"] += 1
    own = formats[0]
    key = own.ticker if own.ticker in values else own.name if own.name in values else None
    if key is not None:
        value = values[key]
        valid = (isinstance(value, list) and len(value) == own.dim
                 and all((type(x) is int or type(x) is float and math.isfinite(x)) and -1 <= x <= 1 for x in value))
        assert (own.name in vectors) == valid, value


# --- totals -----------------------------------------------------------------------------------


def test_zz_totals():
    """At least 10 000 generated inputs in all, none of them `unexpected`; the distribution printed."""
    total = sum(INPUTS.values())
    print(f"\nfuzz inputs: {total} {dict(INPUTS)}")
    print(f"outcomes: {OUTCOMES}")
    print("traced peaks (MiB): " + ", ".join(f"{k}={v / 2**20:.1f}" for k, v in PEAKS.items()))
    if len(INPUTS) < 8:
        pytest.skip("only part of the file ran")
    assert total >= 10_000
    assert OUTCOMES[f"row:{pl.UNEXPECTED}"] == 0 and OUTCOMES[f"rejection:{pl.UNEXPECTED}"] == 0
    assert max(PEAKS.values()) < MEMORY_BOUND
