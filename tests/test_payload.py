"""Payload V2 both ways: Fixture C byte for byte, its negative variants, and every rejection reason."""

import copy
import dataclasses
import json
import random

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from protocol import payload as pl
from protocol import timelock as tl
from protocol.drand import QUICKNET, LocalBeacon
from tests import vectors as v

Reason = pl.Reason


@pytest.fixture(scope="module")
def fixture_c() -> dict:
    return json.loads(v.FIXTURE_C_PATH.read_text())


@pytest.fixture(scope="module")
def quicknet_encryptor() -> tl.TimelockEncryptor:
    return tl.TimelockEncryptor(QUICKNET.public_key)


@pytest.fixture(scope="module")
def beacon() -> LocalBeacon:
    return LocalBeacon.from_seed(b"payload-tests".ljust(32, b"\0"), genesis=v.GENESIS)


def flip_hex(value: str, index: int = 0) -> str:
    raw = bytearray(bytes.fromhex(value))
    raw[index] ^= 0x01
    return raw.hex()


def rejected(result, reason: Reason) -> str:
    assert isinstance(result, pl.Rejected), f"expected {reason}, got {result}"
    assert result.reason == reason, result
    return result.detail


# --- Fixture C, forward ----------------------------------------------------------------------


def test_fixture_c_intermediates():
    pke = X25519PrivateKey.from_private_bytes(v.FIXTURE_C_SKE).public_key().public_bytes_raw()
    assert pke == v.FIXTURE_C_PKE
    preimage_len = len(v.ALICE) + len("1000") + 67
    assert preimage_len == 119
    assert pl.binding_hash(v.ALICE, 1000, pl.MANTIS_OWNER_PK, pke) == v.FIXTURE_C_BINDING
    shared = X25519PrivateKey.from_private_bytes(v.FIXTURE_C_SKE).exchange(
        X25519PublicKey.from_public_bytes(pl.MANTIS_OWNER_PK)
    )
    assert shared == v.FIXTURE_C_SHARED
    # The reference derives 44 bytes and keeps 32: HKDF-Expand is prefix-stable, so both agree.
    assert HKDF(hashes.SHA256(), 44, None, pl.OWNER_WRAP_INFO).derive(shared) == v.FIXTURE_C_HKDF44
    assert pl._owner_wrap_key(v.FIXTURE_C_SKE, pl.MANTIS_OWNER_PK) == v.FIXTURE_C_HKDF44[:32]
    assert pl.plaintext_bytes({"ETH": [0.1, -0.2]}, v.ALICE) == v.FIXTURE_C_PLAINTEXT


def test_build_reproduces_fixture_c(fixture_c, quicknet_encryptor):
    built = pl.build(
        v.ALICE, 1000, {"ETH": [0.1, -0.2]}, quicknet_encryptor,
        ske=v.FIXTURE_C_SKE, key=v.FIXTURE_C_KEY, c_nonce=v.FIXTURE_C_C_NONCE, w_nonce=v.FIXTURE_C_W_NONCE,
    ).to_json()
    # Everything but the timelock layer is deterministic given the secrets.
    for field in ("v", "round", "hk", "owner_pk", "C", "binding", "alg"):
        assert built[field] == fixture_c[field], field
    assert built["W_owner"] == fixture_c["W_owner"]
    assert len(bytes.fromhex(built["W_time"]["ct"])) == 372
    opened = pl.open_payload(built, v.SIG_1000, beacon=QUICKNET)
    assert opened and opened.plaintext == v.FIXTURE_C_PLAINTEXT


# --- Fixture C, backward ---------------------------------------------------------------------


def test_open_fixture_c(fixture_c):
    opened = pl.open_payload(json.dumps(fixture_c), v.SIG_1000, beacon=QUICKNET)
    assert isinstance(opened, pl.Opened), opened
    assert opened.plaintext == v.FIXTURE_C_PLAINTEXT
    assert opened.values == {"ETH": [0.1, -0.2]}
    assert opened.payload.hk == v.ALICE and opened.payload.round == 1000
    assert len(opened.payload.time_ct) == 372 and len(opened.payload.c_ct) == 94


def test_open_fixture_c_with_short_form_time_ciphertext(fixture_c):
    p = copy.deepcopy(fixture_c)
    ct = bytes.fromhex(p["W_time"]["ct"])
    p["W_time"]["ct"] = tl.TleCiphertext.from_bytes(ct).to_bytes(tl.V05).hex()
    assert len(p["W_time"]["ct"]) == 2 * 356
    opened = pl.open_payload(p, v.SIG_1000)
    assert opened and opened.plaintext == v.FIXTURE_C_PLAINTEXT


def test_open_accepts_uppercase_owner_key_hex(fixture_c):
    p = copy.deepcopy(fixture_c)
    p["owner_pk"] = p["owner_pk"].upper()
    assert pl.open_payload(p, v.SIG_1000)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p.update(hk=v.BOB), Reason.BINDING),
        (lambda p: p.update(round=1001), Reason.BINDING),
        (lambda p: p.update(owner_pk="00" * 32), Reason.OWNER_KEY),
        (lambda p: p["C"].update(ct=flip_hex(p["C"]["ct"], 5)), Reason.AEAD),
        (lambda p: p["W_owner"].update(ct=flip_hex(p["W_owner"]["ct"], 5)), Reason.OWNER_PATH),
        (lambda p: p.update(v=1), Reason.SCHEMA),
    ],
    ids=["hk-bob", "round-1001", "owner-pk", "C-flip", "W_owner-flip", "v1"],
)
def test_fixture_c_negative_variants(fixture_c, mutate, reason):
    p = copy.deepcopy(fixture_c)
    mutate(p)
    rejected(pl.open_payload(p, v.SIG_1000), reason)


def test_fixture_c_with_round_123_signature(fixture_c):
    detail = rejected(pl.open_payload(fixture_c, v.SIG_123), Reason.TIMELOCK)
    assert "InvalidSignature" in detail
    # With the beacon key, the wrong signature is refused before any decryption is attempted.
    rejected(pl.open_payload(fixture_c, v.SIG_123, beacon=QUICKNET), Reason.SIGNATURE)


def test_fixture_c_downloaded_for_bob(fixture_c):
    rejected(pl.open_payload(fixture_c, v.SIG_1000, hotkey=v.BOB), Reason.HOTKEY)


def test_fixture_c_with_another_configured_owner_key(fixture_c):
    other = X25519PrivateKey.generate().public_key().public_bytes_raw()
    rejected(pl.open_payload(fixture_c, v.SIG_1000, owner_pk=other), Reason.OWNER_KEY)


# --- every reason, produced by a payload built for it ------------------------------------------


def sealed(beacon, plaintext: bytes, hotkey: str = v.ALICE, round_: int = 50, **fixed) -> pl.PayloadV2:
    return pl.seal(hotkey, round_, plaintext, tl.TimelockEncryptor(beacon.chain.public_key), **fixed)


def sig(beacon, round_: int = 50) -> bytes:
    return beacon.signature(round_, now=beacon.chain.reveal_time(round_))


def test_local_beacon_round_trip(beacon):
    p = pl.build(v.ALICE, 50, {"ETH": [0.5, -0.25], "MULTIXSEC": {"BTC": 0.1}}, tl.TimelockEncryptor(beacon.chain.public_key))
    opened = pl.open_payload(json.dumps(p.to_json()).encode(), sig(beacon), hotkey=v.ALICE, beacon=beacon.chain)
    assert opened.values == {"ETH": [0.5, -0.25], "MULTIXSEC": {"BTC": 0.1}}


def test_reason_round(beacon):
    p = sealed(beacon, b"{}").to_json()
    for bad in (0, -5, 1 << 64):
        rejected(pl.open_payload(p | {"round": bad}, sig(beacon)), Reason.ROUND)


def test_reason_signature(beacon):
    other = LocalBeacon.from_seed(b"other".ljust(32, b"\0"), genesis=v.GENESIS)
    p = sealed(beacon, pl.plaintext_bytes({}, v.ALICE))
    rejected(pl.open_payload(p, sig(other), beacon=beacon.chain), Reason.SIGNATURE)
    rejected(pl.open_payload(p, sig(beacon, 51), beacon=beacon.chain), Reason.SIGNATURE)
    rejected(pl.open_payload(p, b"\x01" * 47, beacon=beacon.chain), Reason.SIGNATURE)


def test_reason_timelock_wrong_key_and_bad_secret(beacon):
    p = sealed(beacon, pl.plaintext_bytes({}, v.ALICE))
    rejected(pl.open_payload(p, v.SIG_1000), Reason.TIMELOCK)
    enc = tl.TimelockEncryptor(beacon.chain.public_key)
    for secret in (b"z" * 128, b"ab" * 63, b"ab" * 65):  # not hex, too short, too long
        bad = dataclasses.replace(p, time_ct=enc.encrypt(50, secret))
        detail = rejected(pl.open_payload(bad, sig(beacon)), Reason.TIMELOCK)
        assert "128 hex" in detail


def test_reason_owner_path_ske_not_pke(beacon):
    p = sealed(beacon, pl.plaintext_bytes({}, v.ALICE))
    enc = tl.TimelockEncryptor(beacon.chain.public_key)
    other_secret = (b"\x05" * 32 + b"\x06" * 32).hex().encode()
    bad = dataclasses.replace(p, time_ct=enc.encrypt(50, other_secret))
    assert "pke" in rejected(pl.open_payload(bad, sig(beacon)), Reason.OWNER_PATH)


def test_reason_owner_path_wrapped_key_differs(beacon):
    # W_owner authenticates but wraps another key than the one the timelock carries.
    ske, key = b"\x07" * 32, b"\x08" * 32
    p = sealed(beacon, pl.plaintext_bytes({}, v.ALICE), ske=ske, key=key)
    enc = tl.TimelockEncryptor(beacon.chain.public_key)
    bad = dataclasses.replace(p, time_ct=enc.encrypt(50, (ske + b"\x09" * 32).hex().encode()))
    assert "different content key" in rejected(pl.open_payload(bad, sig(beacon)), Reason.OWNER_PATH)


def test_reason_aead_swapped_nonce(beacon):
    p = sealed(beacon, pl.plaintext_bytes({}, v.ALICE))
    bad = dataclasses.replace(p, c_nonce=b"\x00" * 12)
    rejected(pl.open_payload(bad, sig(beacon)), Reason.AEAD)


@pytest.mark.parametrize(
    "plaintext",
    [b"\xff\xfe not utf-8", b"not json", b"[1, 2, 3]", b'"a string"', b"[" * 100_000 + b"]" * 100_000],
    ids=["utf8", "json", "list", "string", "deep"],
)
def test_reason_plaintext(beacon, plaintext):
    rejected(pl.open_payload(sealed(beacon, plaintext), sig(beacon)), Reason.PLAINTEXT)


@pytest.mark.parametrize(
    "plaintext",
    [b'{"ETH":[0.1,0.2]}', b'{"ETH":[0.1,0.2],"hotkey":"' + v.BOB.encode() + b'"}', b'{"hotkey":null}'],
    ids=["missing", "other", "null"],
)
def test_reason_hotkey_in_plaintext(beacon, plaintext):
    rejected(pl.open_payload(sealed(beacon, plaintext), sig(beacon)), Reason.HOTKEY)


def test_reason_hotkey_committing_hotkey_differs(beacon):
    p = sealed(beacon, pl.plaintext_bytes({}, v.ALICE))
    assert "committing" in rejected(pl.open_payload(p, sig(beacon), hotkey=v.BOB), Reason.HOTKEY)


def test_reason_binding(beacon):
    p = sealed(beacon, pl.plaintext_bytes({}, v.ALICE))
    rejected(pl.open_payload(dataclasses.replace(p, binding=b"\x00" * 32), sig(beacon)), Reason.BINDING)
    rejected(pl.open_payload(dataclasses.replace(p, pke=b"\x01" * 32), sig(beacon)), Reason.BINDING)


# --- screening at download: every check without a signature -------------------------------------


def test_screen_passes_a_good_payload_and_refuses_a_round_outside_its_window(beacon):
    p = sealed(beacon, pl.plaintext_bytes({}, v.ALICE)).to_json()
    good = pl.screen(json.dumps(p), v.ALICE, pl.MANTIS_OWNER_PK, pl.RoundWindow(50, 50))
    assert isinstance(good, pl.PayloadV2) and good.round == 50
    assert "latest lock" in rejected(pl.screen(p, v.ALICE, pl.MANTIS_OWNER_PK, pl.RoundWindow(None, 49)), Reason.ROUND)
    assert "shortest lock" in rejected(pl.screen(p, v.ALICE, pl.MANTIS_OWNER_PK, pl.RoundWindow(51, 60)), Reason.LOCK)
    # a round past 2^63 is a refusal, never a number handed on (it fits no 64-bit column)
    rejected(pl.screen(p | {"round": (1 << 64) - 1}, v.ALICE, pl.MANTIS_OWNER_PK, pl.RoundWindow(None, 10**6)),
             Reason.ROUND)


def test_screen_refuses_bodies_and_plaintexts_past_the_limits(beacon):
    p = sealed(beacon, pl.plaintext_bytes({"ETH": [0.5, 0.5]}, v.ALICE))
    window, limits = pl.RoundWindow(None, 100), pl.Limits.for_plaintext(200)
    body = json.dumps(p.to_json()).encode()
    assert pl.screen(body, v.ALICE, pl.MANTIS_OWNER_PK, window, limits) == p
    padded = json.dumps(p.to_json() | {"pad": "x" * limits.body}).encode()
    assert "larger than" in rejected(pl.screen(padded, v.ALICE, pl.MANTIS_OWNER_PK, window, limits), Reason.SCHEMA)
    # extra fields within the limit pass, and the canonical form a validator keeps drops them
    small_pad = json.dumps(p.to_json() | {"pad": "x" * 100}).encode()
    kept = pl.screen(small_pad, v.ALICE, pl.MANTIS_OWNER_PK, window, limits).canonical()
    assert b"pad" not in kept and pl.parse(kept) == p and len(kept) < len(small_pad)
    wide = sealed(beacon, pl.plaintext_bytes({"ETH": [0.5] * 100}, v.ALICE))
    assert "C.ct" in rejected(pl.screen(wide.to_json(), v.ALICE, pl.MANTIS_OWNER_PK, window, limits), Reason.SCHEMA)
    opened = pl.open_payload(wide, sig(beacon), limits=limits)
    assert "plaintext is larger" in rejected(opened, Reason.PLAINTEXT)


W100 = pl.RoundWindow(None, 100)


def test_screen_refuses_without_any_signature(beacon):
    p = sealed(beacon, pl.plaintext_bytes({}, v.ALICE))
    rejected(pl.screen(p.to_json(), v.BOB, pl.MANTIS_OWNER_PK, W100), Reason.HOTKEY)
    rejected(pl.screen(p.to_json(), v.ALICE, b"\x01" * 32, W100), Reason.OWNER_KEY)
    bad = dataclasses.replace(p, binding=b"\x00" * 32).to_json()
    rejected(pl.screen(bad, v.ALICE, pl.MANTIS_OWNER_PK, W100), Reason.BINDING)
    rejected(pl.screen(b"[]", v.ALICE, pl.MANTIS_OWNER_PK, W100), Reason.SCHEMA)


# --- the owner path: the subnet owner opens at once with its X25519 secret -----------------------

OWNER_SK = b"\x42" * 32


def owned(beacon, plaintext: bytes, hotkey: str = v.ALICE) -> pl.PayloadV2:
    return sealed(beacon, plaintext, hotkey, owner_pk=pl.owner_public_key(OWNER_SK))


def test_owner_path_opens_before_the_round_and_agrees_with_the_timelock(beacon):
    p = owned(beacon, pl.plaintext_bytes({"ETH": [0.5, -0.25]}, v.ALICE))
    by_owner = pl.open_as_owner(json.dumps(p.to_json()), OWNER_SK, hotkey=v.ALICE)
    assert by_owner.values == {"ETH": [0.5, -0.25]}
    by_time = pl.open_payload(p, sig(beacon), pl.owner_public_key(OWNER_SK), hotkey=v.ALICE)
    assert by_time.plaintext == by_owner.plaintext


def test_owner_path_refusals(beacon):
    p = owned(beacon, pl.plaintext_bytes({}, v.ALICE))
    rejected(pl.open_as_owner(p, b"\x43" * 32), Reason.OWNER_KEY)  # another owner's secret
    rejected(pl.open_as_owner(p, OWNER_SK, hotkey=v.BOB), Reason.HOTKEY)
    tampered = dataclasses.replace(p, w_ct=bytes.fromhex(flip_hex(p.w_ct.hex(), 3)))
    rejected(pl.open_as_owner(tampered, OWNER_SK), Reason.OWNER_PATH)
    rejected(pl.open_as_owner(dataclasses.replace(p, c_nonce=b"\x00" * 12), OWNER_SK), Reason.AEAD)
    # a low-order pke has no shared secret: a refusal, not an exception (binding recomputed to pass)
    zero = dataclasses.replace(p, pke=b"\x00" * 32)
    zero = dataclasses.replace(zero, binding=pl.binding_hash(v.ALICE, 50, p.owner_pk, zero.pke))
    rejected(pl.open_as_owner(zero, OWNER_SK), Reason.OWNER_PATH)
    with pytest.raises(ValueError):
        pl.owner_public_key(b"short")


SCHEMA_CASES = {
    "not-json": b"{not json",
    "array": b"[]",
    "number": b"5",
    "invalid-utf8": b'{"v": 2, "\xff": 1}',
    "deep": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "huge-int": b'{"v": ' + b"9" * 5000 + b"}",
    "too-large": b" " * (pl.MAX_PAYLOAD_BYTES + 1),
}


@pytest.mark.parametrize("raw", SCHEMA_CASES.values(), ids=SCHEMA_CASES.keys())
def test_reason_schema_raw_bytes(raw):
    rejected(pl.parse(raw), Reason.SCHEMA)


FIELD_CASES = {
    "missing-alg": lambda p: p.pop("alg"),
    "wrong-alg": lambda p: p.update(alg="x25519+aes"),
    "v-string": lambda p: p.update(v="2"),
    "v-bool": lambda p: p.update(v=True),
    "round-bool": lambda p: p.update(round=True),
    "round-float": lambda p: p.update(round=1000.0),
    "round-string": lambda p: p.update(round="1000"),
    "hk-number": lambda p: p.update(hk=5),
    "hk-empty": lambda p: p.update(hk=""),
    "hk-surrogate": lambda p: p.update(hk="\ud800abc"),
    "hk-long": lambda p: p.update(hk="5" * 1000),
    "owner-0x": lambda p: p.update(owner_pk="0x" + p["owner_pk"][2:]),
    "owner-short": lambda p: p.update(owner_pk=p["owner_pk"][:-2]),
    "owner-space": lambda p: p.update(owner_pk=p["owner_pk"][:-2] + " 6"),
    "C-list": lambda p: p.update(C=[1, 2]),
    "C-nonce-short": lambda p: p["C"].update(nonce="33" * 11),
    "C-ct-odd": lambda p: p["C"].update(ct=p["C"]["ct"][:-1]),
    "C-ct-tiny": lambda p: p["C"].update(ct="00" * 15),
    "C-ct-nonhex": lambda p: p["C"].update(ct="zz" * 94),
    "pke-null": lambda p: p["W_owner"].update(pke=None),
    "W_owner-ct-long": lambda p: p["W_owner"].update(ct=p["W_owner"]["ct"] + "00"),
    "W_time-missing-ct": lambda p: p.update(W_time={}),
    "W_time-ct-371": lambda p: p["W_time"].update(ct=p["W_time"]["ct"][:-2]),
    "W_time-ct-garbage": lambda p: p["W_time"].update(ct="00" * 372),
    "binding-short": lambda p: p.update(binding="c2" * 31),
}


@pytest.mark.parametrize("mutate", FIELD_CASES.values(), ids=FIELD_CASES.keys())
def test_reason_schema_fields(fixture_c, mutate):
    p = copy.deepcopy(fixture_c)
    mutate(p)
    rejected(pl.open_payload(json.dumps(p), v.SIG_1000), Reason.SCHEMA)
    rejected(pl.parse(p), Reason.SCHEMA)


def test_every_reason_is_exercised():
    # Keeps the enumeration and this file in step: a new reason needs a test that produces it.
    source = open(__file__).read()
    for reason in Reason:
        assert f"Reason.{reason.name}" in source, reason


def test_parse_is_the_schema_step_alone(fixture_c):
    p = pl.parse(json.dumps(fixture_c))
    assert isinstance(p, pl.PayloadV2) and p.to_json() == fixture_c


# --- hostile input never raises ----------------------------------------------------------------


def test_mutated_payloads_never_raise(fixture_c):
    rng = random.Random(2026)
    base = json.dumps(fixture_c).encode()
    opened = 0
    for i in range(400):
        raw = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(4)
            pos = rng.randrange(len(raw))
            if op == 0:
                raw[pos] = rng.randrange(256)
            elif op == 1:
                del raw[pos : pos + rng.randint(1, 40)]
            elif op == 2:
                raw[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            else:
                raw = raw[:pos]
        result = pl.open_payload(bytes(raw), v.SIG_1000)
        assert isinstance(result, (pl.Opened, pl.Rejected))
        opened += bool(result)
    # Only mutations that leave the authenticated content intact may open, e.g. ones in whitespace.
    assert opened < 40


def test_hostile_json_values_never_raise(fixture_c):
    odd_values = [None, True, 0, -1, 2**70, 1e308, float("inf"), "", "x" * 10_000, [], {}, [[]], {"a": {}}]
    for field in pl.FIELDS:
        for value in odd_values:
            p = copy.deepcopy(fixture_c)
            p[field] = value
            result = pl.open_payload(json.dumps(p), v.SIG_1000)
            assert isinstance(result, pl.Rejected), (field, value)
