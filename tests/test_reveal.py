"""Opening one sample: copies cannot knock out originals, shared ciphertexts are refused, the lock rule holds."""

import dataclasses
import json

import profiles
from assets.epochs import SampleRules
from assets.mantis.reveal import _open_sample
from ledger import RawPayload
from protocol import payload as pl
from protocol.drand import LocalBeacon
from protocol.timelock import TimelockEncryptor
from protocol.validation import ChallengeFormat

PROFILE = profiles.load()
CH = PROFILE.challenges[0]
FORMATS = [ChallengeFormat(CH.name, CH.mantis.ticker, CH.mantis.dim)]
BEACON = LocalBeacon.from_seed(b"reveal".ljust(32, b"\0"), genesis=1_700_000_000)
ENC = TimelockEncryptor(BEACON.chain.public_key)
OWNER = bytes.fromhex(PROFILE.protocol.owner_pk)
A, B, C = "5Alice" + "a" * 42, "5Bob" + "b" * 44, "5Carol" + "c" * 42
T = 1_700_100_000.0  # sample time
LOCKED = BEACON.chain.round_at(T + 3700)  # sealed past the 1-hour horizon
EARLY = BEACON.chain.round_at(T + 60)  # opens a minute after the sample
RULES = SampleRules.of(BEACON.chain, PROFILE, T)


def body(p: pl.PayloadV2) -> bytes:
    return json.dumps(p.to_json()).encode()


def build(hotkey, round_=LOCKED, value=(0.25, -0.5), **fixed) -> pl.PayloadV2:
    return pl.build(hotkey, round_, {CH.mantis.ticker: list(value)}, ENC, OWNER, **fixed)


def open_rows(rows):
    rounds = {pl.parse(r.body).round for r in rows}
    signatures = {r: BEACON.signature(r, BEACON.chain.reveal_time(r)) for r in rounds}
    return _open_sample(rows, signatures, PROFILE, T, RULES, BEACON.chain.reveal_time)


def row(hotkey, b: bytes) -> RawPayload:
    return RawPayload(100, hotkey, f"http://x/{hotkey}", "fetched", b, "", None, T)


def test_a_verbatim_copy_does_not_knock_out_the_original():
    original = body(build(A))
    vectors, rejections = open_rows([row(A, original), row(B, original)])
    assert vectors[CH.name] == {A: [0.25, -0.5]}
    assert [(r.hotkey, r.reason) for r in rejections] == [(B, "hotkey")]


def test_a_shared_timelock_ciphertext_is_refused_for_every_hotkey():
    secrets = {"ske": b"\x01" * 32, "key": b"\x02" * 32}
    a = build(A, **secrets)
    b = build(B, **secrets)
    b_shared = pl.PayloadV2(**{**b.__dict__, "time_ct": a.time_ct})  # same W_time, still opens for B
    vectors, rejections = open_rows([row(A, body(a)), row(B, body(b_shared)), row(C, body(build(C)))])
    assert vectors[CH.name] == {C: [0.25, -0.5]}
    assert sorted((r.hotkey, r.reason) for r in rejections) == [(A, "duplicate"), (B, "duplicate")]


def test_lock_rule_and_validation_refuse_per_challenge():
    early = body(build(A, round_=EARLY))
    bad = body(build(B, value=(2.0, 0.0)))
    vectors, rejections = open_rows([row(A, early), row(B, bad)])
    assert not vectors.get(CH.name)
    reasons = {(r.hotkey, r.reason, r.challenge) for r in rejections}
    # a round published before every challenge's horizon is refused whole (as at download)
    assert reasons == {(A, "lock", ""), (B, "validation", CH.name)}


def test_compat_challenges_follow_the_reference_rule():
    # The reference drops a round not published 300 blocks (an hour) after the sample, and has no lock:
    # with only compat challenges such a round cannot count, so it is refused at download.
    compat = PROFILE.model_copy(update={"challenges": (CH.model_copy(update={"mode": "compat"}),)})
    late = BEACON.chain.round_at(T + 300 * 12 + 60)
    rows = [row(A, body(build(A, round_=EARLY))), row(B, body(build(B, round_=late)))]
    signatures = {r: BEACON.signature(r, BEACON.chain.reveal_time(r)) for r in (EARLY, late)}
    rules = SampleRules.of(BEACON.chain, compat, T)  # the reference rule has no lower bound on rounds
    vectors, rejections = _open_sample(rows, signatures, compat, T, rules, BEACON.chain.reveal_time)
    assert vectors[CH.name] == {A: [0.25, -0.5]}
    assert [(r.hotkey, r.reason, r.challenge) for r in rejections] == [(B, "round", "")]
    # Beside a fixed challenge, whose window is longer, the same round counts for the fixed challenge
    # and is dropped for the compat one at maturity; the early round only for the compat one.
    other = CH.model_copy(update={"name": "ETH-COMPAT", "mode": "compat",
                                  "mantis": CH.mantis.model_copy(update={"ticker": "ETHC"})})
    mixed = PROFILE.model_copy(update={"challenges": (CH, other)})
    both = {CH.mantis.ticker: [0.25, -0.5], other.mantis.ticker: [0.5, 0.5]}
    rows = [row(A, body(pl.build(A, EARLY, both, ENC, OWNER))), row(B, body(pl.build(B, late, both, ENC, OWNER)))]
    vectors, rejections = _open_sample(rows, signatures, mixed, T, SampleRules.of(BEACON.chain, mixed, T),
                                       BEACON.chain.reveal_time)
    assert vectors == {CH.name: {B: [0.25, -0.5]}, other.name: {A: [0.5, 0.5]}}
    assert sorted((r.hotkey, r.reason, r.challenge) for r in rejections) == [
        (A, "lock", CH.name), (B, "timelock-unavailable", other.name)]
    assert "maturity" in rejections[-1].detail or "maturity" in rejections[0].detail


def test_a_published_timelock_ciphertext_shared_by_a_stranger_knocks_nobody_out():
    """Under the reference rule a stale payload's round may already be out at the sample: a stranger
    who read its secret can wrap the same W_time in a payload of its own, which proves no shared
    secret, so the original still counts."""
    compat = PROFILE.model_copy(update={"challenges": (CH.model_copy(update={"mode": "compat"}),)})
    stale = BEACON.chain.current_round(T - 60)  # published a minute before the sample
    secrets = {"ske": b"\x03" * 32, "key": b"\x04" * 32}
    victim = build(A, round_=stale, **secrets)
    stranger = dataclasses.replace(build(B, round_=stale, value=(0.5, 0.5), **secrets), time_ct=victim.time_ct)
    rows = [row(A, body(victim)), row(B, body(stranger))]
    signatures = {stale: BEACON.signature(stale, BEACON.chain.reveal_time(stale))}
    vectors, rejections = _open_sample(rows, signatures, compat, T, SampleRules.of(BEACON.chain, compat, T),
                                       BEACON.chain.reveal_time)
    assert vectors[CH.name] == {A: [0.25, -0.5], B: [0.5, 0.5]} and not rejections
