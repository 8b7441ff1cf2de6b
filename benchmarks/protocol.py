"""Timelock encryption and decryption, signature checks and payload build/open, on one core."""

from __future__ import annotations

import json
import time
from typing import Any

from benchmarks.common import machine, pin_to_one_core, timed
from protocol import payload as pl
from protocol import timelock as tl
from protocol.drand import LocalBeacon

HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
# A realistic MANTIS plaintext: every challenge answered (~2.5 kB of JSON).
ASSETS = [f"A{i:02d}" for i in range(33)]
VALUES = {
    "ETH": [0.1, -0.2], "ETHHITFIRST": [0.3, 0.3, 0.4], "ETHLBFGS": [0.2] * 5 + [0.5] * 12,
    "BTCLBFGS": [0.2] * 5 + [0.5] * 12, "CADUSD": [0.1, 0.1], "NZDUSD": [0.1, 0.1], "CHFUSD": [0.1, 0.1],
    "XAGUSD": [0.1, 0.1], "MULTIBREAKOUT": {a: [0.6, 0.4] for a in ASSETS},
    "MULTIXSEC": {a: 0.1 for a in ASSETS}, "FUNDINGXSEC": {a: -0.1 for a in ASSETS[:20]},
    "TRADEMIX": {a: 0.25 for a in ASSETS[:4]},
}


def run(scale: float = 1.0) -> dict[str, Any]:
    pin_to_one_core()
    n = lambda k: max(5, int(k * scale))  # noqa: E731
    beacon = LocalBeacon.from_seed(b"bench".ljust(32, b"\0"), genesis=1_700_000_000)
    round_ = 1000
    sig = beacon.signature(round_, now=beacon.chain.reveal_time(round_))
    message = b"ab" * 64  # the 128 hex characters a V2 payload locks

    t0 = time.perf_counter()
    enc = tl.TimelockEncryptor(beacon.chain.public_key)
    first = enc.encrypt(round_, message)
    setup_ms = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    enc.encrypt(round_ + 1, message)
    new_round_ms = (time.perf_counter() - t0) * 1e3

    built = pl.build(HOTKEY, round_, VALUES, enc)
    raw = json.dumps(built.to_json()).encode()
    results = {
        "timelock_encrypt": timed(lambda: enc.encrypt(round_, message), n(300)),
        "timelock_decrypt": timed(lambda: tl.decrypt(first, round_, sig), n(1000)),
        "signature_verify": timed(lambda: beacon.chain.verify(round_, sig), n(1000)),
        "payload_build": timed(lambda: pl.build(HOTKEY, round_, VALUES, enc), n(300)),
        "payload_open": timed(lambda: pl.open_payload(raw, sig), n(500)),
        "payload_open_verified": timed(lambda: pl.open_payload(raw, sig, beacon=beacon.chain), n(500)),
    }
    assert pl.open_payload(raw, sig, beacon=beacon.chain), "the benchmark payload must open"
    return {
        "benchmark": "protocol",
        "machine": machine(),
        "cores_used": 1,
        "payload_bytes": len(raw),
        "plaintext_bytes": len(pl.plaintext_bytes(VALUES, HOTKEY)),
        "encryptor_setup_ms": round(setup_ms, 1),
        "first_encrypt_new_round_ms": round(new_round_ms, 1),
        "results": results,
    }
