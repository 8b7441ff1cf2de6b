"""SN98 liquidity scoring: one round of 256 miners replayed over 10 000 swaps (time and peak memory),
and the ranking of the planted kinds of miner by round score and by reputation over three seeds.

The round is generated in memory (devnet/lp.py); the timed part parses it and replays it (histories,
fee accrual over every swap, valuation, scores, the reputation update).
"""

from __future__ import annotations

import resource
import time
from collections import defaultdict
from typing import Any

import numpy as np

from benchmarks.common import machine, pin_to_one_core
from devnet.lp import KINDS, miners_of, round_file
from mechanisms.lp.evaluate import Options, replay
from mechanisms.lp.records import parse_round

QUALITY_ROUNDS = 24


def quality(seed: int, scorer: str = "s1", rounds: int = QUALITY_ROUNDS) -> dict[str, Any]:
    """Mean round score (as the reputation reads it) and the final evaluation EMA per kind, and the
    kinds ordered by each."""
    miners = miners_of(seed, per_kind=2)
    state, scores = None, defaultdict(list)
    for n in range(rounds):
        res = replay(parse_round(round_file(seed, n, miners)), Options(scorer=scorer), state)
        state = res.state
        for h, m in res.miners.items():
            scores[miners[h]].append(m.reputation_score)
    reps = state.jobs[f"job{seed}"]
    ema = {k: float(np.mean([reps[h].eval_ema for h in miners if miners[h] == k])) for k in KINDS}
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    return {"seed": seed, "scorer": scorer, "rounds": rounds,
            "mean_score": {k: round(v, 6) for k, v in mean.items()}, "eval_ema": {k: round(v, 6) for k, v in ema.items()},
            "order_by_score": sorted(KINDS, key=lambda k: -mean[k]), "order_by_reputation": sorted(KINDS, key=lambda k: -ema[k])}


def at_scale(miners: int = 256, swaps: int = 10_000) -> dict[str, Any]:
    kinds = [KINDS[i % 3] for i in range(miners - 8)] + ["refuser", "silent", "garbage", "garbage"] * 2
    hotkeys = {f"5LPBENCH{i:03d}": k for i, k in enumerate(kinds)}
    raw = round_file(5, 0, hotkeys, swaps=swaps)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    rnd = parse_round(raw)
    t1 = time.perf_counter()
    res = replay(rnd)
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scored = [m for m in res.miners.values() if m.out is None]
    return {"miners": miners, "swaps": swaps, "rebalances": sum(m.result.rebalances for m in scored),
            "parse_s": round(t1 - t0, 2), "replay_s": round(t2 - t1, 2), "peak_rss_mib": round(peak / 1024, 1),
            "rss_before_mib": round(before / 1024, 1), "scored": len(scored)}


def one_churning_miner(swaps: int = 10_000) -> dict[str, Any]:
    """A hostile miner at the record's limits: 1 000 answers, one a block, alternating between two sets
    of 20 in-range positions, so 1 000 rebalances over 10 000 swaps (ten a block), beside 6 others."""
    from devnet.lp import INVENTORY, SPACING
    from mechanisms.lp.records import MAX_POSITIONS, MAX_RESPONSES

    raw = round_file(11, 2, miners_of(11, per_kind=1), swaps=swaps)
    start = raw["round"]["start_block"]
    for i, s in enumerate(raw["swaps"]):
        s["block"] = start + i // 10
    raw["round"]["end_block"] = start + MAX_RESPONSES
    n = INVENTORY[0] // 40
    sets = [[{"tick_lower": -6000 + SPACING * k - d, "tick_upper": 6000 - SPACING * k + d,
              "allocation0": str(n - d), "allocation1": str(n)} for k in range(MAX_POSITIONS)] for d in (0, SPACING)]
    raw["miners"]["5HOSTILE"] = {"uid": 77, "answers": [
        {"block": start + i, "response": {"accepted": True, "desired_positions": sets[i % 2]}}
        for i in range(MAX_RESPONSES)]}
    t0 = time.perf_counter()
    rnd = parse_round(raw)
    t1 = time.perf_counter()
    res = replay(rnd)
    t2 = time.perf_counter()
    return {"answers": MAX_RESPONSES, "positions_each": MAX_POSITIONS, "swaps": swaps,
            "rebalances": res.miners["5HOSTILE"].result.rebalances, "parse_s": round(t1 - t0, 2),
            "replay_s": round(t2 - t1, 2)}


def run(scale: float = 1.0) -> dict[str, Any]:
    pin_to_one_core()
    return {"machine": machine(), "round_256x10000": at_scale(), "one_miner_at_the_record_limits": one_churning_miner(),
            "quality_s1": [quality(seed) for seed in (1, 2, 3)], "quality_s2": [quality(seed, "s2") for seed in (1, 2, 3)]}
