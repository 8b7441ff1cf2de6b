"""Timelock (tle) ciphertexts: both serialised forms, the SCALE envelope, decryption and encryption.

Decryption goes through `bittensor_core.decrypt_with_signature`, which takes only the ark-0.4
layout inside a SCALE envelope. Encryption is our own Boneh–Franklin/Fujisaki–Okamoto construction
(timelock_ibe.md §4), because no Python 3.11 library encrypts to a key other than quicknet's, and the
devnet beacon has its own key. It caches g = e(Q_id, PK) and its window table per (key, round), so
only the first ciphertext of a round pays for the pairing.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass

import bittensor_core
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protocol import bls
from protocol.drand import round_message

SUITE = b"AES_GCM_"
V04 = "0.4"
V05 = "0.5"
_LE64_32 = struct.pack("<Q", 32)
# Messages up to this size keep a ciphertext well inside one payload's 25 MiB cap.
MAX_MESSAGE = 1 << 20


class TimelockFormatError(ValueError):
    """Bytes that are not a tle ciphertext in either layout."""


class TimelockDecryptError(ValueError):
    """bittensor_core refused the ciphertext: wrong signature, tampered body or bad layout."""


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise TimelockFormatError(f"truncated at offset {self.pos} (wanted {n} bytes)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def vec(self) -> bytes:
        return self.take(struct.unpack("<Q", self.take(8))[0])

    def end(self) -> None:
        if self.pos != len(self.data):
            raise TimelockFormatError(f"{len(self.data) - self.pos} trailing bytes")


@dataclass(frozen=True)
class TleCiphertext:
    """The fields of an Ideal Labs TLECiphertext; `to_bytes` writes either layout."""

    u: bytes
    v: bytes
    w: bytes
    aes_ct: bytes
    nonce: bytes

    @property
    def message_length(self) -> int:
        return len(self.aes_ct) - 16

    @classmethod
    def _parse(cls, data: bytes, form: str) -> "TleCiphertext":
        r = _Reader(data)
        u = r.take(96)
        fixed32 = (lambda: r.vec()) if form == V04 else (lambda: r.take(32))
        v, w = fixed32(), fixed32()
        if len(v) != 32 or len(w) != 32:
            raise TimelockFormatError("V and W are 32 bytes")
        body = _Reader(r.vec())
        aes_ct, nonce = body.vec(), body.vec()
        body.end()
        if r.vec() != SUITE:
            raise TimelockFormatError("cipher suite is not AES_GCM_")
        r.end()
        if len(aes_ct) < 16 or len(nonce) != 12:
            raise TimelockFormatError("AES-GCM body needs a 16-byte tag and a 12-byte nonce")
        return cls(u, v, w, aes_ct, nonce)

    @classmethod
    def from_bytes(cls, data: bytes) -> "TleCiphertext":
        """Parse by structure: exactly one of the two layouts must consume the input."""
        data = bytes(data)
        parsed = {}
        errors = []
        for form in (V04, V05):
            try:
                parsed[form] = cls._parse(data, form)
            except TimelockFormatError as exc:
                errors.append(f"{form}: {exc}")
        if len(parsed) != 1:
            raise TimelockFormatError(
                "ambiguous layout" if parsed else "not a tle ciphertext (" + "; ".join(errors) + ")"
            )
        return next(iter(parsed.values()))

    def to_bytes(self, form: str = V04) -> bytes:
        def vec(x: bytes) -> bytes:
            return struct.pack("<Q", len(x)) + x

        vw = vec(self.v) + vec(self.w) if form == V04 else self.v + self.w
        body = vec(self.aes_ct) + vec(self.nonce)
        return self.u + vw + vec(body) + vec(SUITE)


def normalize(data: bytes) -> bytes:
    """Either layout in, the ark-0.4 layout out (what bittensor_core reads)."""
    return TleCiphertext.from_bytes(data).to_bytes(V04)


def scale_compact(n: int) -> bytes:
    """SCALE compact encoding of a length."""
    if n < 0:
        raise ValueError("lengths are non-negative")
    if n < 1 << 6:
        return bytes([n << 2])
    if n < 1 << 14:
        return struct.pack("<H", (n << 2) | 1)
    if n < 1 << 30:
        return struct.pack("<I", (n << 2) | 2)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "little")
    return bytes([((len(raw) - 4) << 2) | 3]) + raw


def envelope(ciphertext: bytes, round_: int) -> bytes:
    """SCALE UserData{encrypted_data, reveal_round}: compact_len ‖ ct(0.4) ‖ le64(round)."""
    return scale_compact(len(ciphertext)) + ciphertext + struct.pack("<Q", round_)


def decrypt(ciphertext: bytes, round_: int, signature: bytes) -> bytes:
    """Open a ciphertext of either layout with the round's 48-byte signature."""
    ct04 = normalize(ciphertext)
    if len(signature) != 48:
        raise TimelockDecryptError("a round signature is 48 bytes")
    try:
        return bittensor_core.decrypt_with_signature(envelope(ct04, round_), bytes(signature).hex())
    except ValueError as exc:
        raise TimelockDecryptError(str(exc)) from None


class TimelockEncryptor:
    """Encrypts to one beacon public key; tables are cached for the most recent rounds."""

    def __init__(self, public_key: bytes, cached_rounds: int = 16) -> None:
        self.public_key = bytes(public_key)
        self._pairing = bls.KeyedPairing(bls.checked_g2(self.public_key))
        self._cached_rounds = cached_rounds
        self._tables: OrderedDict[int, bls.FixedBase] = OrderedDict()
        self._lock = threading.Lock()

    def _round_table(self, round_: int) -> bls.FixedBase:
        with self._lock:
            table = self._tables.get(round_)
            if table is not None:
                self._tables.move_to_end(round_)
                return table
        q_id = bls.hash_to_g1(round_message(round_))
        table = bls.gt_table(self._pairing(q_id))
        with self._lock:
            self._tables[round_] = table
            while len(self._tables) > self._cached_rounds:
                self._tables.popitem(last=False)
        return table

    def encrypt(
        self,
        round_: int,
        message: bytes,
        *,
        sigma: bytes | None = None,
        key: bytes | None = None,
        nonce: bytes | None = None,
    ) -> bytes:
        """The ark-0.4 ciphertext of `message` for `round_`. Fixed sigma/key/nonce are for vectors."""
        if len(message) > MAX_MESSAGE:
            raise ValueError(f"message longer than {MAX_MESSAGE} bytes")
        key = secrets.token_bytes(32) if key is None else key
        nonce = secrets.token_bytes(12) if nonce is None else nonce
        if len(key) != 32 or len(nonce) != 12 or (sigma is not None and len(sigma) != 32):
            raise ValueError("sigma and key are 32 bytes, nonce 12")
        while True:
            s = secrets.token_bytes(32) if sigma is None else sigma
            r = int.from_bytes(hashlib.sha256(s + key).digest(), "big") % bls.Q
            if r:
                break
            if sigma is not None:
                raise ValueError("this sigma gives r = 0")
        u = bls.g2_generator_table().multiply(r)
        g_r = self._round_table(round_).power(r)
        v = _xor(s, hashlib.sha256(bls.gt_bytes(g_r)).digest())
        w = _xor(key, hashlib.sha256(s).digest())
        aes_ct = AESGCM(key).encrypt(nonce, bytes(message), None)
        return TleCiphertext(u, v, w, aes_ct, nonce).to_bytes(V04)
