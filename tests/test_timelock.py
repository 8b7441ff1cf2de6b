"""tle ciphertexts: layouts, SCALE envelope, bittensor_core decryption, our encryptor (byte-exact)."""

import hashlib

import bittensor_core
import pytest

from protocol import timelock as tl
from protocol.drand import QUICKNET, LocalBeacon
from tests import vectors as v

LENGTHS = [0, 1, 64, 128, 1000]


@pytest.mark.parametrize(
    ("n", "encoded"),
    [
        (0, "00"), (23, "5c"), (63, "fc"), (64, "0101"), (267, "2d04"), (271, "3d04"),
        (356, "9105"), (372, "d105"), (16383, "fdff"), (16384, "02000100"), (17244, "720d0100"),
    ],
)
def test_scale_compact(n, encoded):
    assert tl.scale_compact(n).hex() == encoded


def test_scale_compact_big_integer_mode():
    assert tl.scale_compact(1 << 30) == bytes([3]) + (1 << 30).to_bytes(4, "little")


def test_fixture_a_layout_and_decryption():
    ct = tl.TleCiphertext.from_bytes(v.FIXTURE_A_CT)
    assert len(v.FIXTURE_A_CT) == 271 and ct.message_length == 27
    assert ct.v.hex() == "b0cd84488cbc05a4885219282922158a332d975ef1820e514972810a3e742769"
    assert ct.nonce.hex() == "7392409e658046885a92f2d5"
    blob = tl.envelope(v.FIXTURE_A_CT, 1000)
    assert blob[:2].hex() == "3d04" and blob[-8:].hex() == "e803000000000000" and len(blob) == 281
    assert bittensor_core.decrypt_with_signature(blob, v.SIG_1000.hex()) == v.FIXTURE_A_PLAINTEXT
    assert tl.decrypt(v.FIXTURE_A_CT, 1000, v.SIG_1000) == v.FIXTURE_A_PLAINTEXT
    with pytest.raises(tl.TimelockDecryptError, match="InvalidSignature"):
        tl.decrypt(v.FIXTURE_A_CT, 1000, v.SIG_123)


def test_fixture_a_short_form_normalises_back():
    short = v.FIXTURE_A_CT[:96] + v.FIXTURE_A_CT[104:136] + v.FIXTURE_A_CT[144:]
    assert len(short) == 255
    assert tl.TleCiphertext.from_bytes(v.FIXTURE_A_CT).to_bytes(tl.V05) == short
    assert tl.normalize(short) == v.FIXTURE_A_CT
    assert tl.decrypt(short, 1000, v.SIG_1000) == v.FIXTURE_A_PLAINTEXT
    # bittensor_core itself refuses the 0.5 form: the normaliser is what makes it readable.
    with pytest.raises(ValueError, match="deserializing ciphertext"):
        bittensor_core.decrypt_with_signature(tl.envelope(short, 1000), v.SIG_1000.hex())


def test_fixture_b_local_key_decryption():
    assert len(v.FIXTURE_B_CT) == 267
    assert tl.envelope(v.FIXTURE_B_CT, 1000)[:2].hex() == "2d04"
    assert tl.decrypt(v.FIXTURE_B_CT, 1000, v.FIXTURE_B_SIG) == v.FIXTURE_B_PLAINTEXT
    with pytest.raises(tl.TimelockDecryptError, match="InvalidSignature"):
        tl.decrypt(v.FIXTURE_B_CT, 1000, v.SIG_1000)


def test_deterministic_vector_quicknet():
    enc = tl.TimelockEncryptor(QUICKNET.public_key)
    ct = enc.encrypt(1000, v.TLE_MESSAGE, sigma=v.TLE_SIGMA, key=v.TLE_KEY, nonce=v.TLE_NONCE)
    assert ct == v.TLE_CT
    assert tl.envelope(ct, 1000)[:2].hex() == "2104"
    assert tl.decrypt(ct, 1000, v.SIG_1000) == v.TLE_MESSAGE


def test_deterministic_vector_local_key():
    enc = tl.TimelockEncryptor(v.TLE_LOCAL_PK)
    ct = enc.encrypt(1000, v.TLE_MESSAGE, sigma=v.TLE_SIGMA, key=v.TLE_KEY, nonce=v.TLE_NONCE)
    assert tl.TleCiphertext.from_bytes(ct).v == v.TLE_LOCAL_V
    assert ct[:104] == v.TLE_CT[:104] and ct[136:] == v.TLE_CT[136:]
    assert hashlib.sha256(ct).digest() == v.TLE_LOCAL_CT_SHA256
    assert tl.decrypt(ct, 1000, v.TLE_LOCAL_SIG) == v.TLE_MESSAGE


@pytest.mark.parametrize("n", LENGTHS)
def test_round_trip_local_key(n):
    beacon = LocalBeacon.from_seed(b"round-trip-seed".ljust(32, b"\0"), genesis=v.GENESIS)
    enc = tl.TimelockEncryptor(beacon.chain.public_key)
    message = bytes((i * 7 + n) % 256 for i in range(n))
    ct = enc.encrypt(777, message)
    assert len(ct) == 244 + n
    sig = beacon.signature(777, now=beacon.chain.reveal_time(777))
    assert tl.decrypt(ct, 777, sig) == message
    with pytest.raises(tl.TimelockDecryptError, match="InvalidSignature"):
        tl.decrypt(ct, 777, v.SIG_1000)  # another key's signature


@pytest.mark.parametrize("n", LENGTHS)
def test_round_trip_quicknet_key(n):
    enc = tl.TimelockEncryptor(QUICKNET.public_key)
    message = bytes((i * 13 + n) % 256 for i in range(n))
    ct = enc.encrypt(1000, message)
    assert tl.decrypt(ct, 1000, v.SIG_1000) == message
    assert tl.decrypt(tl.TleCiphertext.from_bytes(ct).to_bytes(tl.V05), 1000, v.SIG_1000) == message
    with pytest.raises(tl.TimelockDecryptError, match="InvalidSignature"):
        tl.decrypt(ct, 1000, v.SIG_123)


def test_fresh_randomness_per_ciphertext():
    enc = tl.TimelockEncryptor(QUICKNET.public_key)
    a, b = enc.encrypt(1000, b"same"), enc.encrypt(1000, b"same")
    assert a != b and tl.decrypt(a, 1000, v.SIG_1000) == tl.decrypt(b, 1000, v.SIG_1000) == b"same"


@pytest.mark.parametrize("n", [0, 128])
def test_bittensor_core_ciphertexts_parse_and_rewrap(n):
    blob, round_ = bittensor_core.encrypt_at_round(b"m" * n, 1000)
    inner = bittensor_core.inner_ciphertext(blob)
    assert tl.TleCiphertext.from_bytes(inner).message_length == n
    assert tl.envelope(tl.normalize(inner), round_) == blob
    if n == 128:
        assert len(blob) == 382 and blob[:2].hex() == "d105" and len(inner) == 372


def test_tampering_is_detected():
    enc = tl.TimelockEncryptor(QUICKNET.public_key)
    ct = bytearray(enc.encrypt(1000, b"secret message"))
    ct_v = bytearray(ct)
    ct_v[110] ^= 1  # a byte of V: the FO check fails
    with pytest.raises(tl.TimelockDecryptError, match="InvalidSignature"):
        tl.decrypt(bytes(ct_v), 1000, v.SIG_1000)
    ct_aes = bytearray(ct)
    ct_aes[200] ^= 1  # a byte of the AES ciphertext: the GCM tag fails
    with pytest.raises(tl.TimelockDecryptError, match="DecryptionError"):
        tl.decrypt(bytes(ct_aes), 1000, v.SIG_1000)


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\x00" * 100,
        v.FIXTURE_A_CT[:-1],  # truncated
        v.FIXTURE_A_CT + b"\x00",  # trailing byte
        v.FIXTURE_A_CT[:255] + b"AES_GCM!",  # wrong suite
        v.FIXTURE_A_CT[:96] + (33).to_bytes(8, "little") + v.FIXTURE_A_CT[104:],  # V length prefix
        v.FIXTURE_A_CT[:176] + (1 << 63).to_bytes(8, "little") + v.FIXTURE_A_CT[184:],  # huge body length
    ],
)
def test_malformed_ciphertexts_are_format_errors(bad):
    with pytest.raises(tl.TimelockFormatError):
        tl.TleCiphertext.from_bytes(bad)
    with pytest.raises(tl.TimelockFormatError):
        tl.decrypt(bad, 1000, v.SIG_1000)


def test_invalid_u_point_is_a_decrypt_error():
    bad = b"\x00" * 96 + v.FIXTURE_A_CT[96:]
    with pytest.raises(tl.TimelockDecryptError):
        tl.decrypt(bad, 1000, v.SIG_1000)


def test_wrong_length_signature_is_refused():
    with pytest.raises(tl.TimelockDecryptError):
        tl.decrypt(v.FIXTURE_A_CT, 1000, v.SIG_1000[:47])


def test_encryptor_refuses_invalid_key_and_arguments():
    with pytest.raises(ValueError):
        tl.TimelockEncryptor(b"\x00" * 96)
    enc = tl.TimelockEncryptor(QUICKNET.public_key)
    with pytest.raises(ValueError):
        enc.encrypt(1000, b"x", nonce=b"\x00" * 11)
    with pytest.raises(ValueError):
        enc.encrypt(1000, b"x" * (tl.MAX_MESSAGE + 1))


def test_round_tables_are_bounded():
    enc = tl.TimelockEncryptor(QUICKNET.public_key, cached_rounds=2)
    for r in (1000, 1001, 1002):
        enc.encrypt(r, b"x")
    assert list(enc._tables) == [1001, 1002]
    ct = enc.encrypt(1000, b"again")  # evicted round is rebuilt correctly
    assert tl.decrypt(ct, 1000, v.SIG_1000) == b"again"


def test_bittensor_core_envelope_behaviour():
    # test_vectors.md §3: the envelope is required, and its trailing round is not checked.
    with pytest.raises(ValueError, match="Error deserializing data"):
        bittensor_core.decrypt_with_signature(v.FIXTURE_A_CT, v.SIG_1000.hex())
    blob = tl.envelope(v.FIXTURE_A_CT, 7)
    assert blob[-8:] == (7).to_bytes(8, "little")
    assert bittensor_core.decrypt_with_signature(blob, v.SIG_1000.hex()) == v.FIXTURE_A_PLAINTEXT
    assert len(tl.envelope(v.FIXTURE_B_CT, 1000)) == 277
