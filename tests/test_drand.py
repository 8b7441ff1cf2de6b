"""Quicknet constants, round arithmetic, verification and the local beacon (test_vectors.md §1–2, §5)."""

import hashlib

import pytest

from protocol import bls
from protocol.drand import QUICKNET, BeaconChain, LocalBeacon, RoundNotPublished, SignatureError, round_message
from tests import vectors as v

G = v.GENESIS


def test_quicknet_constants():
    assert QUICKNET.genesis == G and QUICKNET.period == 3
    assert QUICKNET.chain_hash == "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
    assert QUICKNET.public_key.hex().startswith("83cf0f2896adee7e") and len(QUICKNET.public_key) == 96


@pytest.mark.parametrize(("round_", "message"), [(123, v.MESSAGE_123), (1000, v.MESSAGE_1000)])
def test_round_message(round_, message):
    assert round_message(round_) == message


@pytest.mark.parametrize(
    ("t", "current"), [(G, 1), (G + 2, 1), (G + 3, 2), (G + 2996, 999), (G + 2997, 1000), (G + 2998, 1000), (G - 50, 1)]
)
def test_current_round(t, current):
    assert QUICKNET.current_round(t) == current


@pytest.mark.parametrize(("t", "expected"), [(G + 2997, 1000), (G + 2998, 1001), (G + 3000, 1001), (G, 1), (G - 9, 1)])
def test_round_at(t, expected):
    assert QUICKNET.round_at(t) == expected


def test_reveal_time():
    assert QUICKNET.reveal_time(1000) == G + 2997 == 1692806364
    assert QUICKNET.is_published(1000, G + 2997) and not QUICKNET.is_published(1000, G + 2996.9)


@pytest.mark.parametrize(
    ("round_", "sig", "randomness"), [(123, v.SIG_123, v.RANDOMNESS_123), (1000, v.SIG_1000, v.RANDOMNESS_1000)]
)
def test_quicknet_signatures_verify(round_, sig, randomness):
    assert QUICKNET.verify(round_, sig) == randomness == hashlib.sha256(sig).digest()


@pytest.mark.parametrize(
    ("round_", "sig"),
    [
        (1001, v.SIG_1000),  # a signature for the wrong round
        (124, v.SIG_123),
        (1000, v.FIXTURE_B_SIG),  # the local key's signature
        (1000, v.SIG_1000[:-1]),  # malformed lengths and points never reach the native library
        (1000, v.SIG_1000 + b"\x00"),
        (1000, bytes(48)),
        (1000, b"\xff" * 48),
        (-1, v.SIG_1000),
        (1 << 64, v.SIG_1000),
        (True, v.SIG_1000),
    ],
)
def test_bad_signatures_are_refused(round_, sig):
    with pytest.raises(SignatureError):
        QUICKNET.verify(round_, sig)


def test_invalid_public_key_is_refused_not_a_panic():
    chain = BeaconChain(public_key=b"\x00" * 96, genesis=G, period=3)
    with pytest.raises(SignatureError, match="public key"):
        chain.verify(1000, v.SIG_1000)


def test_fixture_b_local_key():
    beacon = LocalBeacon.from_seed(v.FIXTURE_B_SEED, genesis=G)
    assert beacon.secret == v.FIXTURE_B_SECRET
    assert beacon.chain.public_key == v.FIXTURE_B_PK
    assert beacon.signature(1000, now=G + 2997) == v.FIXTURE_B_SIG
    assert beacon.chain.verify(1000, v.FIXTURE_B_SIG) == v.FIXTURE_B_RANDOMNESS
    with pytest.raises(SignatureError):  # quicknet's key refuses the local signature
        QUICKNET.verify(1000, v.FIXTURE_B_SIG)


def test_local_beacon_signs_only_published_rounds():
    beacon = LocalBeacon(secret=v.TLE_LOCAL_SECRET, genesis=G)
    with pytest.raises(RoundNotPublished):
        beacon.signature(1000, now=G + 2996)
    sig = beacon.signature(1000, now=G + 2997)
    assert sig == v.TLE_LOCAL_SIG
    assert beacon.chain.verify(1000, sig) == hashlib.sha256(sig).digest()
    with pytest.raises(ValueError):
        beacon.signature(0, now=G + 10**6)


def test_local_beacon_rejects_out_of_range_secret():
    with pytest.raises(ValueError):
        LocalBeacon(secret=0, genesis=G)
    with pytest.raises(ValueError):
        LocalBeacon(secret=bls.Q, genesis=G)


def test_seeds_give_distinct_keys():
    a = LocalBeacon.from_seed(b"\x01" * 32, genesis=G)
    b = LocalBeacon.from_seed(b"\x02" * 32, genesis=G)
    assert a.chain.public_key != b.chain.public_key
    with pytest.raises(SignatureError):
        b.chain.verify(5, a.signature(5, now=G + 100))
