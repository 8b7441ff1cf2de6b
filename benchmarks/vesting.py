"""Vesting: 256 miners × one year of epochs (about 7 300, one emission each per epoch) replayed into the
tranche ledger, then every miner's (h, d, m) evaluated. Every tenth coldkey sells now and then.

Time and peak traced memory of the replay (the flows excluded: they are the input), the live tranches
the ledger keeps, and the evaluation at the end.
"""

from __future__ import annotations

import time
import tracemalloc
from fractions import Fraction
from typing import Any

import numpy as np

from benchmarks.common import machine, pin_to_one_core
from mechanisms.vesting.ledger import Flow, VestingLedger

EPOCH_SECONDS = 4_320  # 360 blocks of 12 s
YEAR_EPOCHS = 365 * 86_400 // EPOCH_SECONDS


def flows(miners: int, epochs: int, seed: int = 7) -> tuple[dict[str, str], list[Flow]]:
    rng = np.random.default_rng(seed)
    hotkeys = {f"hk{i:03d}": f"ck{i // 2:03d}" for i in range(miners)}  # two miner hotkeys per coldkey
    out = []
    amounts = rng.integers(10**8, 10**10, size=(epochs, miners))
    for k in range(epochs):
        block = k * 360 + 359
        for i, (hotkey, coldkey) in enumerate(hotkeys.items()):
            out.append(Flow(k, block, coldkey, hotkey, "emission", int(amounts[k, i])))
        if k % 50 == 49:  # now and then, one coldkey in ten sells a few days' rewards
            for c in range(0, miners // 2, 10):
                out.append(Flow(k, block - 100, f"ck{c:03d}", None, "outflow", int(rng.integers(10**10, 10**12))))
    return hotkeys, out


def run(scale: float = 1.0) -> dict[str, Any]:
    pin_to_one_core()
    miners, epochs = max(8, round(256 * scale)), max(10, round(YEAR_EPOCHS * scale))
    hotkeys, events = flows(miners, epochs)
    opening = {c: 10**9 for c in set(hotkeys.values())}
    t0 = time.perf_counter()
    ledger = VestingLedger.open(hotkeys, 0, opening).advance(events, epochs - 1)
    replay_s = time.perf_counter() - t0
    tracemalloc.start()  # a second replay, traced (tracing slows it): the memory it holds at its peak
    VestingLedger.open(hotkeys, 0, opening).advance(events, epochs - 1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t0 = time.perf_counter()
    out = ledger.holdings(epochs - 1, Fraction(EPOCH_SECONDS))
    holdings_s = time.perf_counter() - t0
    return {
        "benchmark": "vesting",
        "machine": machine(),
        "miners": miners, "epochs": epochs, "flows": len(events),
        "replay_seconds": round(replay_s, 3),
        "replay_peak_traced_mib": round(peak / 2**20, 1),
        "live_tranches": ledger.tranche_count,
        "holdings_seconds": round(holdings_s, 4),
        "multipliers": sorted({str(v.m) for v in out.values()}),
        "note": "two miner hotkeys per coldkey; one emission per hotkey per epoch; every 50 epochs a tenth "
                "of the coldkeys sell 10–1000 alpha",
    }
