"""BINARY salience at production scale: 256 miners × 30 days of minute samples, one core."""

from __future__ import annotations

import resource
import time
import tracemalloc
from typing import Any

from benchmarks.common import machine, pin_to_one_core
from devnet.mantis.signals import RoleMix, SignalSpec, generate
from mechanisms.mantis.binary import BinaryParams, binary_salience


def run(scale: float = 1.0) -> dict[str, Any]:
    pin_to_one_core()
    miners, days = max(16, round(256 * scale)), max(12.0, 30 * scale)
    t0 = time.perf_counter()
    spec = SignalSpec(seed=11, days=days, roles=RoleMix().scaled(miners))
    panel = generate(spec)
    params = BinaryParams(ahead=spec.horizon)  # label with the horizon the panel was planted for
    generate_s = time.perf_counter() - t0
    out = {}
    for mode in ("fixed", "compat"):
        tracemalloc.start()
        t0 = time.perf_counter()
        salience = binary_salience(panel.embeddings, panel.sidx(spec.sample_every), panel.price, panel.hotkeys, mode,
                                   params)
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out[mode] = {"seconds": round(seconds, 1), "peak_traced_mib": round(peak / 2**20, 1),
                     "miners_with_salience": sum(v > 0 for v in salience.values())}
    return {
        "benchmark": "binary",
        "machine": machine(),
        "cores_used": 1,
        "miners": miners,
        "days": days,
        "samples": int(len(panel.block)),
        "panel_mib": round(panel.embeddings.nbytes / 2**20, 1),
        "generate_seconds": round(generate_s, 1),
        "score": out,
        "process_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
