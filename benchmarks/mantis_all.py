"""All twelve MANTIS challenges of the live profile at production scale, on two cores, as the
platform scores an epoch.

Each challenge's panel is planted (256 miners, the devnet's role mix scaled, 60 days of minute
samples; the cross-sectional challenges share one market) and saved as the platform saves panels
(float16 values, columns in sorted-hotkey order). Two single-threaded worker processes then score
the twelve, the costliest first, each loading its panel from its file, in three passes: from
scratch on the panel as it stood at the end of a day (the newest day boundary that two more epochs
follow), then the day's first epoch with the first pass's fits kept (the fixed-mode gates read
whole days, so this epoch computes them anew), then the epoch after it (what an epoch costs once
the platform's fit store holds the rest). Reported: each pass's wall time on the two workers, each
challenge's seconds and share of them, and the peak resident memory of the workers together,
sampled.

The challenges run in fixed mode unless `INCENTIVE_BENCH_MODE=compat`, with the live profile's
windows (mantis.md §8): fixed mode is the platform's own scoring; the live profile's compat mode is
the reference's. `INCENTIVE_BENCH_PANELS=DIR` keeps the planted panels in DIR and reuses them (a
panel is planted once per miners × days; planting all twelve takes minutes).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

import profiles
from benchmarks.common import machine
from devnet.mantis.quality import as_array, quality
from devnet.mantis.signals import RoleMix, generate, spec_for, xsec_market
from mechanisms.mantis.fitcache import MemoryFitCache
from mechanisms.mantis.panel import Panel
from mechanisms.registry import MECHANISMS

LIVE = "mantis.yaml"
MINERS = 256
DAYS = 60.0
WORKERS = 2
EPOCH_SAMPLES = 72  # what one epoch adds (360 blocks, a sample every 5)
DAY_SAMPLES = 1440  # the fixed-mode gates read whole days: a day's first epoch computes them anew
# rough seconds at this size, for the order of the queue (the costliest first keeps two workers busy)
_COST = {"range_breakout_multi": 60, "xsec_rank": 120, "lbfgs": 110, "funding_xsec": 70, "binary": 30, "hitfirst": 25,
         "trade_mix": 5}


def _plant(profile: profiles.Profile, directory: Path, miners: int, days: float) -> dict[str, Path]:
    """Every MANTIS challenge's planted panel saved under `directory`, one at a time (a 33-asset
    panel is 2.9 GB while planted). Paths and shared draws as the devnet's world sets them."""
    challenges = profile.mantis_challenges
    longest = max(profile.horizon_samples(c) for c in challenges)
    single = [profile.horizon_samples(c) for c in challenges if not MECHANISMS[c.mechanism].assets]
    roles = RoleMix().scaled(miners)
    specs = {c.name: replace(spec_for(profile, c, seed=11, days=days), roles=roles, copy_lag=profile.horizon_samples(c),
                             path_horizon=max(single), market_horizon=longest) for c in challenges}
    market = xsec_market(specs[next(c.name for c in challenges if c.mechanism == "xsec_rank")])
    paths = {}
    for c in challenges:
        paths[c.name] = directory / f"{c.name}-{miners}x{days:g}d-sorted.npz"
        if not paths[c.name].exists():
            generate(specs[c.name], market).in_hotkey_order().save(paths[c.name], "panel")  # as the ledger's are
    return paths


def _score(challenge_name: str, path: Path, mode: str, cache: MemoryFitCache | None, epoch: int) -> tuple[dict, Any]:
    """One challenge scored in a worker on the panel as it stood `epoch` epochs after the newest
    day boundary but two epochs (0: the epoch before it): (figures, the fits it kept)."""
    profile = profiles.load(LIVE)
    challenge = profile.challenge(challenge_name)
    mechanism = MECHANISMS[challenge.mechanism]
    panel = Panel.load(path, "panel")
    sidx = panel.sidx(profile.chain.sample_every)
    day = (int(sidx[-1]) - 2 * EPOCH_SAMPLES) // DAY_SAMPLES * DAY_SAMPLES
    panel = panel.head(int(np.searchsorted(sidx, day + epoch * EPOCH_SAMPLES)))
    cache = cache if cache is not None else (MemoryFitCache() if mechanism.cached and mode == "fixed" else None)
    misses = cache.misses if cache is not None else 0
    t0 = time.perf_counter()
    salience = mechanism.score(panel, mode, challenge.params, sample_every=profile.chain.sample_every,
                               horizon_blocks=challenge.mantis.horizon_blocks, cache=cache)
    seconds = time.perf_counter() - t0
    figures = {"seconds": round(seconds, 1), "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
               "miners_with_salience": sum(v > 0 for k, v in salience.items() if k != "__burn__")}
    if cache is not None:
        figures |= {"fits_new": cache.misses - misses, "fits_reused": cache.hits}
    if salience and panel.roles:
        figures |= {k: round(v, 4) for k, v in quality(panel, as_array(panel, salience)).items()}
    if "__burn__" in salience:
        figures["burn"] = round(salience["__burn__"], 4)
    return figures, cache


class _MemorySampler(threading.Thread):
    """The resident memory of this process's children together, sampled every 0.2 s from /proc."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        me = str(os.getpid())
        while not self.done.wait(0.2):
            total = 0
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        if f.read().rsplit(")", 1)[1].split()[1] != me:
                            continue
                    with open(f"/proc/{pid}/status") as f:
                        total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) * 1024
                except (OSError, StopIteration, IndexError):
                    continue
            self.peak = max(self.peak, total)


def _pass(paths: dict[str, Path], order: list[str], mode: str, caches: dict[str, Any], epoch: int) -> tuple[float, dict, dict, int]:
    """Score every challenge on WORKERS processes (one task each, a fresh process per task, so one
    challenge's memory is gone before the next starts). (wall seconds, figures, caches, peak bytes)."""
    sampler = _MemorySampler()
    sampler.start()
    t0 = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=context, max_tasks_per_child=1) as pool:
        futures = {name: pool.submit(_score, name, paths[name], mode, caches.get(name), epoch) for name in order}
        results = {name: f.result() for name, f in futures.items()}
    wall = time.perf_counter() - t0
    sampler.done.set()
    sampler.join()
    return wall, {n: r[0] for n, r in results.items()}, {n: r[1] for n, r in results.items() if r[1] is not None}, sampler.peak


def run(scale: float = 1.0) -> dict[str, Any]:
    mode = os.environ.get("INCENTIVE_BENCH_MODE", "fixed")
    profile = profiles.load(LIVE)
    miners, days = max(16, round(MINERS * scale)), max(20.0, DAYS * scale)
    names = [c.name for c in profile.mantis_challenges]
    order = sorted(names, key=lambda n: -_COST.get(profile.challenge(n).mechanism, 10))
    kept = os.environ.get("INCENTIVE_BENCH_PANELS")
    with tempfile.TemporaryDirectory(prefix="mantis-all-") as tmp:
        t0 = time.perf_counter()
        directory = Path(kept or tmp)
        directory.mkdir(parents=True, exist_ok=True)
        paths = _plant(profile, directory, miners, days)
        plant_s = time.perf_counter() - t0
        scratch_wall, scratch, caches, scratch_peak = _pass(paths, order, mode, {}, 0)
        day_wall, day, caches, day_peak = _pass(paths, order, mode, caches, 1)
        epoch_wall, epoch, _, epoch_peak = _pass(paths, order, mode, caches, 2)

    def shares(figures: dict) -> dict:
        total = sum(r["seconds"] for r in figures.values())
        return {n: figures[n] | {"share": round(figures[n]["seconds"] / total, 3)} for n in names}

    return {
        "benchmark": "mantis-all",
        "machine": machine(),
        "mode": mode,
        "workers": WORKERS,
        "miners": miners,
        "days": days,
        "plant_seconds": round(plant_s, 1),
        "from_scratch": {"wall_seconds": round(scratch_wall, 1), "peak_rss_mib": round(scratch_peak / 2**20),
                         "challenges": shares(scratch)},
        "days_first_epoch": {"wall_seconds": round(day_wall, 1), "peak_rss_mib": round(day_peak / 2**20),
                             "challenges": shares(day)},
        "incremental_epoch": {"wall_seconds": round(epoch_wall, 1), "peak_rss_mib": round(epoch_peak / 2**20),
                              "challenges": shares(epoch)},
    }
