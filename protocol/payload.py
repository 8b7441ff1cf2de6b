"""MANTIS payload V2: build it as a miner does, open it as a validator does (mantis.md §3, §6).

Opening never raises on hostile bytes: it returns `Opened` or a `Rejected` with an enumerated
reason, because one miner's garbage must never stop a sample or touch another miner's data.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from protocol import json_guard, timelock
from protocol.drand import BeaconChain, SignatureError

VERSION = 2
ALG = "x25519-hkdf-sha256+chacha20poly1305+drand-tlock"
OWNER_WRAP_INFO = b"mantis-owner-wrap"
# The subnet owner's X25519 key in MANTIS (OWNER_HPKE_PUBLIC_KEY_HEX); profiles may name another.
MANTIS_OWNER_PK = bytes.fromhex("fbfe185ded7a4e6865effceb23cbac32894170587674e751ac237a06f72b3067")
MAX_PAYLOAD_BYTES = 25 * 1024 * 1024
FIELDS = ("v", "round", "hk", "owner_pk", "C", "W_owner", "W_time", "binding", "alg")
TIME_CT_SIZES = (356, 372)  # ark 0.5 and 0.4 forms of a 128-byte message
MAX_HOTKEY_CHARS = 128
# Everything of a V2 body but the hotkey and C.ct, with room for whitespace: field names and
# punctuation ~250 bytes, fixed-size hex 1080, W_time.ct 744, alg 48, a 20-digit round.
ENVELOPE_BYTES = 4096
UNEXPECTED = "unexpected"  # the status of a payload whose handling raised: a bug, recorded, never a crash
_HEX = re.compile(r"[0-9a-fA-F]*")  # with an even-length check; a pair-group regex costs ~70 bytes per byte


class Reason(enum.StrEnum):
    """Why a payload yields no plaintext; the values are the ledger's status codes."""

    SCHEMA = "schema"  # not a V2 object: missing field, wrong type, bad hex or length, v, alg
    ROUND = "round"  # round outside 1..2^64-1, or published after the latest lock that counts
    LOCK = "lock"  # round published before the shortest lock that counts (horizon lock rule)
    OWNER_KEY = "owner-key"  # owner_pk is not the configured owner key
    HOTKEY = "hotkey"  # hk, or the plaintext's hotkey, is not the committing hotkey
    BINDING = "binding"  # binding hash does not match hk, round, owner key and pke
    SIGNATURE = "signature"  # the round signature does not verify under the beacon key
    TIMELOCK = "timelock"  # W_time does not decrypt to 128 hex characters with that signature
    OWNER_PATH = "owner-path"  # ske does not match pke, or W_owner does not unwrap the content key
    AEAD = "aead"  # C fails authentication under the content key
    PLAINTEXT = "plaintext"  # the plaintext is not a UTF-8 JSON object


@dataclass(frozen=True)
class Rejected:
    reason: Reason
    detail: str

    def __bool__(self) -> bool:  # `if result:` reads as "opened"
        return False


@dataclass(frozen=True)
class Limits:
    """The most a payload may hold: its body, and the plaintext inside C (so C.ct ≤ plaintext + 16).

    The defaults are the wire format's outer bound; a validator derives tighter ones from its
    challenges (`for_plaintext`), so padding and oversized plaintexts are refused unread.
    """

    body: int = MAX_PAYLOAD_BYTES
    plaintext: int = MAX_PAYLOAD_BYTES

    @classmethod
    def for_plaintext(cls, plaintext: int) -> "Limits":
        return cls(body=ENVELOPE_BYTES + 2 * (plaintext + 16), plaintext=plaintext)


@dataclass(frozen=True)
class RoundWindow:
    """The rounds a sample's payload may name: published no earlier than `first` allows (None: no
    lower bound) and no later than `last`, as the lock rule and the reveal wait need."""

    first: int | None
    last: int | None


@dataclass(frozen=True)
class PayloadV2:
    """A payload whose wire format checked out; byte fields are decoded, W_time is 0.4-form."""

    round: int
    hk: str
    owner_pk: bytes
    c_nonce: bytes
    c_ct: bytes
    pke: bytes
    w_nonce: bytes
    w_ct: bytes
    time_ct: bytes
    binding: bytes

    def canonical(self) -> bytes:
        """Compact JSON of exactly the nine fields (W_time in the 0.4 form): what a validator keeps.

        Re-serialised from the decoded fields, so extra fields, padding and whitespace a miner sent
        are never stored; `parse` of it gives back this payload.
        """
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    def to_json(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "round": self.round,
            "hk": self.hk,
            "owner_pk": self.owner_pk.hex(),
            "C": {"nonce": self.c_nonce.hex(), "ct": self.c_ct.hex()},
            "W_owner": {"pke": self.pke.hex(), "nonce": self.w_nonce.hex(), "ct": self.w_ct.hex()},
            "W_time": {"ct": self.time_ct.hex()},
            "binding": self.binding.hex(),
            "alg": ALG,
        }


@dataclass(frozen=True)
class Opened:
    payload: PayloadV2
    plaintext: bytes
    values: dict[str, Any]  # the plaintext object without its "hotkey"

    def __bool__(self) -> bool:
        return True


def binding_hash(hk: str, round_: int, owner_pk: bytes, pke: bytes) -> bytes:
    """SHA256(utf8(hk) ‖ ':' ‖ decimal(round) ‖ ':' ‖ owner_pk ‖ ':' ‖ pke), mantis.md §3.3."""
    return hashlib.sha256(b":".join([hk.encode(), str(round_).encode(), owner_pk, pke])).digest()


def _owner_wrap_key(secret: bytes, public: bytes) -> bytes:
    """k1 of §3.4 from either side: X25519(ske, owner_pk) = X25519(owner_sk, pke)."""
    shared = X25519PrivateKey.from_private_bytes(secret).exchange(X25519PublicKey.from_public_bytes(public))
    return HKDF(hashes.SHA256(), 32, None, OWNER_WRAP_INFO).derive(shared)


def _x25519_public(secret: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()


def plaintext_bytes(values: Mapping[str, Any], hotkey: str) -> bytes:
    """Compact UTF-8 JSON with the hotkey last, as the reference miner serialises it."""
    if "hotkey" in values and values["hotkey"] != hotkey:
        raise ValueError("values name a different hotkey")
    obj = {k: v for k, v in values.items() if k != "hotkey"} | {"hotkey": hotkey}
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def seal(
    hotkey: str,
    round_: int,
    plaintext: bytes,
    encryptor: timelock.TimelockEncryptor,
    owner_pk: bytes = MANTIS_OWNER_PK,
    *,
    ske: bytes | None = None,
    key: bytes | None = None,
    c_nonce: bytes | None = None,
    w_nonce: bytes | None = None,
) -> PayloadV2:
    """Encrypt any plaintext bytes as V2 (§3.3–3.5). The optional secrets fix the output for vectors."""
    ske = secrets.token_bytes(32) if ske is None else ske
    key = secrets.token_bytes(32) if key is None else key
    c_nonce = secrets.token_bytes(12) if c_nonce is None else c_nonce
    w_nonce = secrets.token_bytes(12) if w_nonce is None else w_nonce
    pke = _x25519_public(ske)
    binding = binding_hash(hotkey, round_, owner_pk, pke)
    c_ct = ChaCha20Poly1305(key).encrypt(c_nonce, plaintext, binding)
    w_ct = ChaCha20Poly1305(_owner_wrap_key(ske, owner_pk)).encrypt(w_nonce, key, binding)
    time_ct = encryptor.encrypt(round_, (ske + key).hex().encode())
    return PayloadV2(round_, hotkey, owner_pk, c_nonce, c_ct, pke, w_nonce, w_ct, time_ct, binding)


def build(
    hotkey: str,
    round_: int,
    values: Mapping[str, Any],
    encryptor: timelock.TimelockEncryptor,
    owner_pk: bytes = MANTIS_OWNER_PK,
    **fixed: bytes,
) -> PayloadV2:
    """What a miner publishes: its values and hotkey as the plaintext object, sealed."""
    return seal(hotkey, round_, plaintext_bytes(values, hotkey), encryptor, owner_pk, **fixed)


# --- opening ----------------------------------------------------------------------------------


class _Refuse(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _hex(obj: Mapping[str, Any], name: str, sizes: tuple[int, ...] | None, where: str = "") -> bytes:
    """A field of plain hex (no prefix, no whitespace) of one of `sizes` bytes (None: a tag or more)."""
    value = obj.get(name)
    label = f"{where}{name}"
    if not isinstance(value, str):
        raise _Refuse(Reason.SCHEMA, f"{label} is not a hex string")
    n = len(value) // 2
    if sizes is not None and (len(value) % 2 or n not in sizes):
        raise _Refuse(Reason.SCHEMA, f"{label} is not {' or '.join(map(str, sizes))} bytes of hex")
    if sizes is None and n < 16:
        raise _Refuse(Reason.SCHEMA, f"{label} is shorter than an AEAD tag")
    if len(value) % 2 or not _HEX.fullmatch(value):
        raise _Refuse(Reason.SCHEMA, f"{label} is not plain hex")
    return bytes.fromhex(value)


def _object(obj: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = obj.get(name)
    if not isinstance(value, dict):
        raise _Refuse(Reason.SCHEMA, f"{name} is not an object")
    return value


def _parse(raw: bytes | str | Mapping[str, Any], limits: Limits) -> PayloadV2:
    if isinstance(raw, (bytes, bytearray, memoryview, str)):
        if len(raw) > limits.body:
            raise _Refuse(Reason.SCHEMA, f"payload is larger than {limits.body} bytes")
        try:
            raw = json_guard.loads(raw if isinstance(raw, str) else bytes(raw))
        except (ValueError, RecursionError) as exc:
            raise _Refuse(Reason.SCHEMA, f"not JSON: {type(exc).__name__}") from None
    if not isinstance(raw, dict):
        raise _Refuse(Reason.SCHEMA, "payload is not a JSON object")
    missing = [f for f in FIELDS if f not in raw]
    if missing:
        raise _Refuse(Reason.SCHEMA, f"missing fields: {', '.join(missing)}")
    if type(raw["v"]) is not int or raw["v"] != VERSION:
        raise _Refuse(Reason.SCHEMA, f"v must be {VERSION}")
    if raw["alg"] != ALG:
        raise _Refuse(Reason.SCHEMA, "alg is not " + ALG)
    round_ = raw["round"]
    if type(round_) is not int:
        raise _Refuse(Reason.SCHEMA, "round is not an integer")
    if not 1 <= round_ < 1 << 64:
        raise _Refuse(Reason.ROUND, "round is outside 1..2^64-1")
    hk = raw["hk"]
    if not isinstance(hk, str) or not 0 < len(hk) <= MAX_HOTKEY_CHARS:
        raise _Refuse(Reason.SCHEMA, "hk is not a hotkey string")
    try:
        hk.encode("utf-8")
    except UnicodeEncodeError:
        raise _Refuse(Reason.SCHEMA, "hk is not valid UTF-8 text") from None
    c, w_owner, w_time = _object(raw, "C"), _object(raw, "W_owner"), _object(raw, "W_time")
    time_ct = _hex(w_time, "ct", TIME_CT_SIZES, "W_time.")
    c_ct = c.get("ct")
    if isinstance(c_ct, str) and len(c_ct) > 2 * (limits.plaintext + 16):
        raise _Refuse(Reason.SCHEMA, f"C.ct holds more than the {limits.plaintext}-byte plaintext a submission needs")
    try:
        time_ct = timelock.normalize(time_ct)
    except timelock.TimelockFormatError as exc:
        raise _Refuse(Reason.SCHEMA, f"W_time.ct: {exc}") from None
    return PayloadV2(
        round=round_,
        hk=hk,
        owner_pk=_hex(raw, "owner_pk", (32,)),
        c_nonce=_hex(c, "nonce", (12,), "C."),
        c_ct=_hex(c, "ct", None, "C."),
        pke=_hex(w_owner, "pke", (32,), "W_owner."),
        w_nonce=_hex(w_owner, "nonce", (12,), "W_owner."),
        w_ct=_hex(w_owner, "ct", (48,), "W_owner."),
        time_ct=time_ct,
        binding=_hex(raw, "binding", (32,)),
    )


def parse(raw: bytes | str | Mapping[str, Any], limits: Limits = Limits()) -> PayloadV2 | Rejected:
    """The schema checks of mantis.md §3.1 alone: what a validator can check at download."""
    try:
        return _parse(raw, limits)
    except _Refuse as refusal:
        return Rejected(refusal.reason, refusal.detail)


def _check_header(payload: PayloadV2, owner_pk: bytes, hotkey: str | None, window: RoundWindow | None) -> bytes:
    """The checks that need no secret (§3.1 project rules, §6 steps 2–3); returns the binding."""
    if window is not None and window.last is not None and payload.round > window.last:
        raise _Refuse(Reason.ROUND, f"round {payload.round} is published after the latest lock that counts "
                                    f"(round {window.last})")
    if window is not None and window.first is not None and payload.round < window.first:
        raise _Refuse(Reason.LOCK, f"round {payload.round} is published before the shortest lock that counts "
                                   f"(round {window.first})")
    if not hmac.compare_digest(payload.owner_pk, owner_pk):
        raise _Refuse(Reason.OWNER_KEY, "owner_pk is not the configured owner key")
    if hotkey is not None and payload.hk != hotkey:
        raise _Refuse(Reason.HOTKEY, f"hk {payload.hk!r} is not the committing hotkey")
    binding = binding_hash(payload.hk, payload.round, owner_pk, payload.pke)
    if not hmac.compare_digest(binding, payload.binding):
        raise _Refuse(Reason.BINDING, "binding does not match hk, round, owner key and pke")
    return binding


def _unwrap(payload: PayloadV2, wrap_key: bytes, binding: bytes) -> bytes:
    try:
        return ChaCha20Poly1305(wrap_key).decrypt(payload.w_nonce, payload.w_ct, binding)
    except (InvalidTag, ValueError):
        raise _Refuse(Reason.OWNER_PATH, "W_owner does not authenticate") from None


def _content(payload: PayloadV2, key: bytes, binding: bytes, limits: Limits) -> Opened:
    """§6 steps 7–8: the content under the recovered key, a JSON object naming the payload's hotkey."""
    if len(payload.c_ct) > limits.plaintext + 16:
        raise _Refuse(Reason.PLAINTEXT, f"plaintext is larger than the {limits.plaintext} bytes a submission needs")
    try:
        plaintext = ChaCha20Poly1305(key).decrypt(payload.c_nonce, payload.c_ct, binding)
    except (InvalidTag, ValueError, OverflowError):
        raise _Refuse(Reason.AEAD, "C does not authenticate under the content key") from None
    try:
        obj = json_guard.loads(plaintext)
    except (ValueError, RecursionError) as exc:
        raise _Refuse(Reason.PLAINTEXT, f"plaintext is not UTF-8 JSON: {type(exc).__name__}") from None
    if not isinstance(obj, dict):
        raise _Refuse(Reason.PLAINTEXT, "plaintext is not a JSON object")
    if obj.get("hotkey") != payload.hk:  # hk is the committing hotkey by now (_check_header)
        raise _Refuse(Reason.HOTKEY, "plaintext hotkey is not the committing hotkey")
    return Opened(payload, plaintext, {k: v for k, v in obj.items() if k != "hotkey"})


def _open(
    payload: PayloadV2,
    signature: bytes,
    owner_pk: bytes,
    hotkey: str | None,
    beacon: BeaconChain | None,
    limits: Limits,
) -> Opened:
    binding = _check_header(payload, owner_pk, hotkey, None)
    if beacon is not None:
        try:
            beacon.verify(payload.round, signature)
        except SignatureError as exc:
            raise _Refuse(Reason.SIGNATURE, str(exc)) from None
    try:
        secret_hex = timelock.decrypt(payload.time_ct, payload.round, signature)
    except (timelock.TimelockDecryptError, timelock.TimelockFormatError) as exc:
        raise _Refuse(Reason.TIMELOCK, str(exc)) from None
    if len(secret_hex) != 128 or any(c not in b"0123456789abcdef" for c in secret_hex.lower()):
        raise _Refuse(Reason.TIMELOCK, "timelock plaintext is not 128 hex characters")
    secret = bytes.fromhex(secret_hex.decode())
    ske, key = secret[:32], secret[32:]
    if not hmac.compare_digest(_x25519_public(ske), payload.pke):
        raise _Refuse(Reason.OWNER_PATH, "X25519 public key of ske is not pke")
    if not hmac.compare_digest(_unwrap(payload, _owner_wrap_key(ske, owner_pk), binding), key):
        raise _Refuse(Reason.OWNER_PATH, "W_owner wraps a different content key")
    return _content(payload, key, binding, limits)


def screen(
    raw: bytes | str | Mapping[str, Any], hotkey: str, owner_pk: bytes, window: RoundWindow,
    limits: Limits = Limits(),
) -> PayloadV2 | Rejected:
    """Every check that needs no round signature, as a validator runs them at download.

    The wire format within `limits`, a round inside `window` (no later than the latest lock that
    counts, so no miner decides how long an epoch waits; no earlier than the shortest lock that
    counts where the lock rule has one, reason `lock`), the configured owner key, `hk` equal to the
    committing `hotkey`, and the binding. A payload that passes waits only for its round's
    signature; one that fails never makes anything wait.
    """
    try:
        payload = _parse(raw, limits)
        _check_header(payload, owner_pk, hotkey, window)
        return payload
    except _Refuse as refusal:
        return Rejected(refusal.reason, refusal.detail)


def owner_public_key(owner_sk: bytes) -> bytes:
    """The X25519 public key of the owner's secret (to check a configured secret against the key)."""
    if len(owner_sk) != 32:
        raise ValueError("an X25519 secret key has 32 bytes")
    return _x25519_public(owner_sk)


def open_as_owner(
    raw: bytes | str | Mapping[str, Any] | PayloadV2, owner_sk: bytes, *, hotkey: str | None = None,
    limits: Limits = Limits(),
) -> Opened | Rejected:
    """Open through the owner wrap (§3.4) with the subnet owner's X25519 secret: no round needed.

    For the owner's own use, before the round is published; validators never hold this key.
    X25519(owner_sk, pke) is the miner's X25519(ske, owner_pk), so the wrap key is the same.
    """
    owner_pk = owner_public_key(owner_sk)
    try:
        payload = raw if isinstance(raw, PayloadV2) else _parse(raw, limits)
        binding = _check_header(payload, owner_pk, hotkey, None)
        try:
            wrap_key = _owner_wrap_key(owner_sk, payload.pke)
        except ValueError:  # a low-order pke: no shared secret exists
            raise _Refuse(Reason.OWNER_PATH, "pke gives no X25519 shared secret") from None
        key = _unwrap(payload, wrap_key, binding)
        return _content(payload, key, binding, limits)
    except _Refuse as refusal:
        return Rejected(refusal.reason, refusal.detail)


def open_payload(
    raw: bytes | str | Mapping[str, Any] | PayloadV2,
    signature: bytes,
    owner_pk: bytes = MANTIS_OWNER_PK,
    *,
    hotkey: str | None = None,
    beacon: BeaconChain | None = None,
    limits: Limits = Limits(),
) -> Opened | Rejected:
    """Every check of mantis.md §6 steps 2–8 that needs no chain.

    `hotkey` is the committing hotkey (None offline: the payload's own `hk` is then expected in the
    plaintext). With `beacon`, the signature is verified before any decryption is attempted.
    """
    try:
        payload = raw if isinstance(raw, PayloadV2) else _parse(raw, limits)
        return _open(payload, bytes(signature), owner_pk, hotkey, beacon, limits)
    except _Refuse as refusal:
        return Rejected(refusal.reason, refusal.detail)
