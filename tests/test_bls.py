"""BLS12-381 encodings, arkworks pairing normalisation and GT serialisation (timelock_ibe.md §5, §8)."""

import hashlib
import random

import pytest
from py_ecc.optimized_bls12_381 import G1, G2, multiply, pairing

from protocol import bls
from protocol.drand import QUICKNET, round_message
from tests import vectors as v


@pytest.mark.parametrize("encoded", [QUICKNET.public_key, v.P2, v.FIXTURE_B_PK])
def test_g2_encoding_round_trip(encoded):
    assert bls.g2_to_bytes(bls.g2_from_bytes(encoded)) == encoded


@pytest.mark.parametrize("encoded", [v.SIG_1000, v.SIG_123, v.P1])
def test_g1_encoding_round_trip(encoded):
    assert bls.g1_to_bytes(bls.g1_from_bytes(encoded)) == encoded


def test_generators_encode_as_specified():
    assert bls.g1_to_bytes(G1) == v.P1
    assert bls.g2_to_bytes(G2) == v.P2


@pytest.mark.parametrize("bad", [b"", b"\x00" * 96, b"\xc0" + b"\x01" * 95, v.P2[:95], v.P2 + b"\x00"])
def test_invalid_g2_bytes_are_refused(bad):
    with pytest.raises(bls.PointError):
        bls.g2_from_bytes(bad)


def test_gt_serialisation_of_generator_pairing():
    ser = bls.gt_to_bytes(bls.pairing_ark(G1, G2))
    assert len(ser) == 576
    assert ser[:48] == v.GT_GENERATOR_PREFIX
    assert hashlib.sha256(ser).digest() == v.GT_GENERATOR_HASH


def test_fast_final_exponentiation_equals_simple_route():
    # e_ark(A, B) = e_py(B, A)^(-3): the simple route through py_ecc's exact-exponent pairing.
    a, b = multiply(G1, 5), multiply(G2, 7)
    assert bls.pairing_ark(a, b) == pairing(b, a) ** (bls.Q - 3)


def test_round_identity_and_pairing_vectors():
    q_id = bls.hash_to_g1(round_message(1000))
    assert bls.g1_to_bytes(q_id) == v.TLE_Q_ID
    g = bls.pairing_ark(q_id, bls.g2_from_bytes(QUICKNET.public_key))
    assert hashlib.sha256(bls.gt_to_bytes(g)).digest() == v.TLE_GT_HASH


def test_signature_is_a_bls_signature():
    # e(P2, sigma_1000) = e(PK, Q_id(1000)) in py_ecc's argument order: the identity is right.
    sig = bls.g1_from_bytes(v.SIG_1000)
    q_id = bls.hash_to_g1(round_message(1000))
    assert pairing(G2, sig) == pairing(bls.g2_from_bytes(QUICKNET.public_key), q_id)


def test_local_key_vector():
    assert bls.secret_to_public(v.TLE_LOCAL_SECRET) == v.TLE_LOCAL_PK
    assert bls.sign(v.TLE_LOCAL_SECRET, round_message(1000)) == v.TLE_LOCAL_SIG


def test_generator_table_matches_plain_multiplication():
    table = bls.g2_generator_table()
    rng = random.Random(7)
    scalars = [1, 2, 15, 16, 17, 255, 256, bls.Q - 1, 7 << 252] + [rng.randrange(1, bls.Q) for _ in range(12)]
    for k in scalars:
        assert table.multiply(k) == bls.g2_to_bytes(multiply(G2, k)), k
    with pytest.raises(ValueError):
        table.multiply(0)
    with pytest.raises(ValueError):
        table.multiply(bls.Q)


def test_gt_table_matches_plain_power():
    g = bls.pairing_ark(G1, G2)
    table = bls.gt_table(g)
    for e in [1, 16, 0x5189C77D29FE5D546A045EC46986852785FEA5C13AC7DA9C115FF5FB6EDF817C, bls.Q - 1]:
        assert bls.gt_bytes(table.power(e)) == bls.gt_to_bytes(g**e)


def test_tower_product_agrees_with_py_ecc_on_random_elements():
    rng = random.Random(7)
    from py_ecc.optimized_bls12_381 import FQ12

    for _ in range(25):
        a, b = (FQ12([rng.randrange(bls.P) for _ in range(12)]) for _ in range(2))
        x, y = bls.gt_from_fq12(a), bls.gt_from_fq12(b)
        assert bls.gt_to_fq12(x) == a
        assert bls.gt_to_fq12(bls.gt_mul(x, y)) == a * b
        assert bls.gt_bytes(bls.gt_mul(x, x)) == bls.gt_to_bytes(a * a)
        assert bls.gt_to_fq12(bls.gt_inv(x)) == FQ12.one() / a


def test_keyed_pairing_equals_the_pairing():
    key = bls.g2_from_bytes(QUICKNET.public_key)
    keyed = bls.KeyedPairing(key)
    for r in (1000, 123, 7_777_777):
        q_id = bls.hash_to_g1(round_message(r))
        assert keyed(q_id) == bls.pairing_ark(q_id, key)
    assert bls.KeyedPairing(G2)(multiply(G1, 5)) == bls.pairing_ark(G1, G2) ** 5
