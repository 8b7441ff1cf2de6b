"""MANTIS salience at production scale (256 miners × 30 days of minute samples, one core), and its
quality on the devnet's planted panels (three seeds, both modes).

Production scale uses the reference's windows (mantis.md §8: the live profile's challenges), so the
LBFGS warm-up the devnet scales down runs here at full length. Quality is `devnet/mantis/quality.py`.
"""

from __future__ import annotations

import resource
import time
import tracemalloc
from dataclasses import replace
from typing import Any

import profiles
from benchmarks.common import machine, pin_to_one_core
from devnet.mantis.quality import as_array, quality
from devnet.mantis.signals import RoleMix, generate, spec_for
from mechanisms.mantis.fitcache import MemoryFitCache
from mechanisms.registry import MECHANISMS

LIVE = "mantis.yaml"
# benchmark name → the live profile's challenge it scores at production scale
SCALE_CHALLENGES = {"binary": "ETH-1H-BINARY", "hitfirst": "ETH-HITFIRST-100M", "lbfgs": "ETH-LBFGS",
                    "lbfgs-6h": "BTC-LBFGS-6H", "xsec": "XSEC-RANK", "funding": "FUNDING-XSEC"}
SEEDS = (0, 1, 2)
EPOCH_SAMPLES = 72  # what one epoch adds (360 blocks, a sample every 5)


def _score(profile: profiles.Profile, challenge, panel, mode: str, cache: MemoryFitCache | None = None) -> dict[str, float]:
    return MECHANISMS[challenge.mechanism].score(panel, mode, challenge.params, sample_every=profile.chain.sample_every,
                                                 horizon_blocks=challenge.mantis.horizon_blocks, cache=cache)


def at_scale(name: str, scale: float = 1.0) -> dict[str, Any]:
    """One challenge of the live profile on a 256-miner, 30-day planted panel: time, memory, quality."""
    pin_to_one_core()
    profile = profiles.load(LIVE)
    challenge = profile.challenge(SCALE_CHALLENGES[name])
    miners, days = max(16, round(256 * scale)), max(12.0, 30 * scale)
    t0 = time.perf_counter()
    spec = spec_for(profile, challenge, seed=11, days=days)
    panel = generate(replace(spec, roles=RoleMix().scaled(miners), copy_lag=profile.horizon_samples(challenge)))
    generate_s = time.perf_counter() - t0
    out = {}
    cached = MECHANISMS[challenge.mechanism].cached
    for mode in ("fixed", "compat"):
        cache = MemoryFitCache() if cached and mode == "fixed" else None
        # from scratch on the panel but its newest epoch, then that epoch incrementally (fits kept)
        previous = panel.head(len(panel.block) - EPOCH_SAMPLES) if cache is not None else panel
        tracemalloc.start()
        t0 = time.perf_counter()
        salience = _score(profile, challenge, previous, mode, cache)
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out[mode] = {"seconds": round(seconds, 1), "peak_traced_mib": round(peak / 2**20, 1),
                     "miners_with_salience": sum(v > 0 for v in salience.values()),
                     **({k: round(v, 4) for k, v in quality(previous, as_array(previous, salience)).items()} if salience else {})}
        if cache is not None:
            misses = cache.misses
            t0 = time.perf_counter()
            incremental = _score(profile, challenge, panel, mode, cache)
            out[mode]["incremental_epoch"] = {"seconds": round(time.perf_counter() - t0, 2),
                                              "fits_reused": cache.hits, "fits_new": cache.misses - misses,
                                              "equals_from_scratch": incremental == _score(profile, challenge, panel, mode)}
    return {
        "benchmark": name,
        "challenge": challenge.name,
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


def devnet_quality(scale: float = 1.0) -> dict[str, Any]:
    """Each devnet challenge on its own planted panels (the devnet profile's windows and population,
    14 days), seeds 0–2, fixed and compat: the figures the closing notes and docs quote."""
    profile = profiles.load()
    out: dict[str, Any] = {"benchmark": "quality", "machine": machine(), "seeds": list(SEEDS)}
    for challenge in profile.mantis_challenges:
        rows = {}
        for mode in ("fixed", "compat"):
            for seed in SEEDS:
                panel = generate(spec_for(profile, challenge, seed=seed))
                t0 = time.perf_counter()
                salience = _score(profile, challenge, panel, mode)
                rows[f"{mode}/{seed}"] = {"seconds": round(time.perf_counter() - t0, 1)} | (
                    {k: round(v, 4) for k, v in quality(panel, as_array(panel, salience)).items()} if salience else
                    {"result": "none"})
        out[challenge.name] = rows
    return out


FULL_WINDOW_CHALLENGES = ("MULTI-BREAKOUT", "TRADE-MIX")  # the devnet profile scales TRADE-MIX's windows down


def full_window_quality(scale: float = 1.0) -> dict[str, Any]:
    """The challenges whose windows the devnet scales down, at the live profile's windows: the
    devnet's population (66 miners) over 60 days, seeds 0–2, fixed and compat."""
    live, devnet = profiles.load(LIVE), profiles.load()
    roles = RoleMix(**devnet.devnet.roles.model_dump())
    days = max(30.0, 60 * scale)
    out: dict[str, Any] = {"benchmark": "quality-full", "machine": machine(), "seeds": list(SEEDS), "days": days}
    for name in FULL_WINDOW_CHALLENGES:
        challenge = live.challenge(name)
        rows = {}
        for seed in SEEDS:
            spec = spec_for(live, challenge, seed=seed, days=days)
            panel = generate(replace(spec, roles=roles, copy_lag=live.horizon_samples(challenge)))
            for mode in ("fixed", "compat"):
                t0 = time.perf_counter()
                salience = _score(live, challenge, panel, mode)
                rows[f"{mode}/{seed}"] = {"seconds": round(time.perf_counter() - t0, 1)} | (
                    {k: round(v, 4) for k, v in quality(panel, as_array(panel, salience)).items()} if salience else
                    {"result": "none"}) | ({"burn": round(salience["__burn__"], 4)} if "__burn__" in salience else {})
        out[name] = rows
    return out
