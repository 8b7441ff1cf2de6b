"""drand beacons: quicknet constants, round/time arithmetic, verification and a local beacon.

Verification goes through drand-verify (Rust). It panics (a BaseException, with a backtrace on
stderr) on malformed hex or an invalid public key, so every input is checked here first and the
library only ever sees well-formed values.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import drand_verify

from protocol import bls

U64_MAX = (1 << 64) - 1


class SignatureError(ValueError):
    """A beacon signature that does not verify for the round under the chain's public key."""


class RoundNotPublished(LookupError):
    """The round's time has not come yet, so no signature exists for it."""


def round_message(round_: int) -> bytes:
    """What a round's signature signs and the timelock identity: SHA256(be64(round))."""
    if not 0 <= round_ <= U64_MAX:
        raise ValueError(f"round {round_} is outside 0..2^64-1")
    return hashlib.sha256(round_.to_bytes(8, "big")).digest()


@dataclass(frozen=True)
class BeaconChain:
    """An unchained G1 beacon (scheme bls-unchained-g1-rfc9380): key, genesis and period."""

    public_key: bytes
    genesis: int
    period: int
    chain_hash: str = ""

    def __post_init__(self) -> None:
        if len(self.public_key) != 96:
            raise ValueError(f"a beacon public key is 96 bytes, got {len(self.public_key)}")
        if self.period <= 0:
            raise ValueError("the beacon period must be positive")

    def reveal_time(self, round_: int) -> int:
        """Unix time at which `round_` is published."""
        return self.genesis + (round_ - 1) * self.period

    def current_round(self, t: float) -> int:
        """Latest round published at time `t` (1 before genesis)."""
        return max(1, math.floor((t - self.genesis) / self.period) + 1)

    def round_at(self, t: float) -> int:
        """First round published at or after `t`: the round to encrypt to for 'readable from t'."""
        if t <= self.genesis:
            return 1
        return math.ceil((t - self.genesis) / self.period) + 1

    def is_published(self, round_: int, now: float) -> bool:
        return self.reveal_time(round_) <= now

    def verify(self, round_: int, signature: bytes) -> bytes:
        """Check a round's signature; return the randomness SHA256(signature)."""
        if isinstance(round_, bool) or not isinstance(round_, int) or not 0 <= round_ <= U64_MAX:
            raise SignatureError(f"round {round_!r} is not a u64")
        if not isinstance(signature, (bytes, bytearray)) or len(signature) != 48:
            raise SignatureError("a signature is 48 bytes")
        try:
            bls.checked_g2(bytes(self.public_key))
        except bls.PointError as exc:
            raise SignatureError(f"beacon public key is invalid: {exc}") from None
        try:
            randomness = drand_verify.verify_bls_unchained_g1_rfc9380(
                round_, bytes(signature).hex(), self.public_key.hex()
            )
        except ValueError as exc:
            raise SignatureError(f"signature does not verify for round {round_}: {exc}") from None
        return bytes.fromhex(randomness)


QUICKNET = BeaconChain(
    public_key=bytes.fromhex(
        "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c"
        "8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb"
        "5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a"
    ),
    genesis=1692803367,
    period=3,
    chain_hash="52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971",
)


@dataclass
class LocalBeacon:
    """A beacon with its own key, for the devnet and tests: signs a round only once it is due.

    Time is an input (`now`), never read from the wall clock, so the devnet's clock decides.
    """

    secret: int
    genesis: int
    period: int = 3
    _signatures: dict[int, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.secret < bls.Q:
            raise ValueError("the beacon secret must lie in [1, q)")
        self.chain = BeaconChain(bls.secret_to_public(self.secret), self.genesis, self.period)

    @classmethod
    def from_seed(cls, seed: bytes, genesis: int, period: int = 3) -> "LocalBeacon":
        """Secret = int(seed) mod (q - 1) + 1, so any 32-byte seed gives a valid key."""
        return cls(int.from_bytes(seed, "big") % (bls.Q - 1) + 1, genesis, period)

    def signature(self, round_: int, now: float) -> bytes:
        if round_ < 1:
            raise ValueError("drand rounds start at 1")
        if not self.chain.is_published(round_, now):
            raise RoundNotPublished(
                f"round {round_} is due at {self.chain.reveal_time(round_)}, it is {now:.0f}"
            )
        if round_ not in self._signatures:
            self._signatures[round_] = bls.sign(self.secret, round_message(round_))
        return self._signatures[round_]
