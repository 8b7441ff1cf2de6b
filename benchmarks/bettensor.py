"""Bettensor scoring: 256 miners × 45 days of predictions (about a million) scored for one day, with
time and peak memory, and the figures of each role of synthetic bettors over three seeds.

The export is generated in memory (devnet/bettensor.py); the timed part parses it and scores its last
day twice: from no state (45 days of tier management replayed) and from the previous day's state
(one day managed, as a validator does each day). Memory is the process's peak RSS.
"""

from __future__ import annotations

import resource
import time
from collections import defaultdict
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from benchmarks.common import machine, pin_to_one_core
from devnet.bettensor import season
from mechanisms.bettensor.evaluate import evaluate
from mechanisms.bettensor.records import parse_export

ROLES = ("sharp", "square", "reckless", "inactive")


def quality(seed: int, uids: int = 256) -> dict[str, Any]:
    """One season's last day: per role the mean display tier, the highest tier held on any day, the
    role's share of the weight, and the mean 15-day ROI; Spearman of planted skill against weight."""
    s = season(seed, uids=uids)
    result = evaluate(parse_export(s.export), s.first_day + s.days - 1)
    highest: dict[str, int] = defaultdict(lambda: -1)
    for _, tiers in result.history:
        for h, t in tiers.items():
            if h in s.role:
                highest[s.role[h]] = max(highest[s.role[h]], t - 1)
    roles: dict[str, Any] = {}
    for role in sorted(set(s.role.values())):
        ms = [m for h, m in result.miners.items() if s.role.get(h) == role]
        roles[role] = {"miners": len(ms), "mean_tier": round(float(np.mean([m.tier for m in ms])), 2),
                       "highest_tier_held": highest[role],
                       "weight_share": round(sum(m.weight for m in ms), 4),
                       "mean_roi_15d": round(float(np.mean([m.gate_roi for m in ms])), 4),
                       "mean_clv_today": round(float(np.mean([m.components["clv"] for m in ms])), 4)}
    ranked = [h for h in s.skill if s.skill[h] is not None]
    rho = spearmanr([s.skill[h] for h in ranked], [result.weights.get(h, 0.0) for h in ranked]).statistic
    sharp_min = min(result.miners[h].weight for h in s.role if s.role[h] == "sharp")
    others_max = max(result.miners[h].weight for h in s.role if s.role[h] in ("square", "reckless", "inactive"))
    idle = sum(m.weight for h, m in result.miners.items() if h not in s.role)
    return {"seed": seed, "uids": uids, "spearman_skill_weight": round(float(rho), 4),
            "every_sharp_above_every_other": bool(sharp_min > others_max), "idle_uids_weight": idle, "roles": roles}


def at_scale(miners: int = 256, days: int = 45) -> dict[str, Any]:
    s = season(7, days=days, games_per_day=40, n_sharp=16, n_square=miners - 16 - 8 - 2, n_reckless=8, n_inactive=2,
               adversaries=False, square_bets=87)
    n = len(s.export["predictions"])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    export = parse_export(s.export)
    t1 = time.perf_counter()
    last = s.first_day + days - 1
    previous = evaluate(export, last - 1)
    t2 = time.perf_counter()
    daily = evaluate(export, last, state=previous.state)
    t3 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"miners": len(s.role), "days": days, "games": len(s.export["games"]), "offers": len(s.export["offers"]),
            "predictions": n,
            "parse_s": round(t1 - t0, 2), "score_without_state_s": round(t2 - t1, 2),
            "score_one_day_with_state_s": round(t3 - t2, 2), "peak_rss_mib": round(peak / 1024, 1),
            "rss_before_mib": round(before / 1024, 1), "weights_sum": round(sum(daily.weights.values()), 6)}


def one_flooding_miner(n: int = 100_000) -> dict[str, Any]:
    """One registered hotkey sending 100 000 one-cent predictions on one level of one game, beside a
    small season: parse and score the day (the per-game limit keeps 10 of them)."""
    s = season(5, days=12, games_per_day=6, n_sharp=2, n_square=3, n_reckless=1, n_inactive=1, adversaries=False)
    export = dict(s.export)
    p = next(x for x in export["predictions"] if x["bet_type"] == "moneyline")
    export["predictions"] = export["predictions"] + [{**p, "hotkey": "5FLOOD", "prediction_id": f"f{k}", "wager": 0.01}
                                                     for k in range(n)]
    export["metagraph"] = export["metagraph"] + [{"uid": len(export["metagraph"]), "hotkey": "5FLOOD"}]
    t0 = time.perf_counter()
    parsed = parse_export(export)
    t1 = time.perf_counter()
    result = evaluate(parsed, s.first_day + s.days - 1)
    t2 = time.perf_counter()
    refused = sum(1 for r in result.refusals if r.hotkey == "5FLOOD")
    return {"predictions": n, "refused": refused, "parse_s": round(t1 - t0, 2), "score_s": round(t2 - t1, 2)}


def run(scale: float = 1.0) -> dict[str, Any]:
    pin_to_one_core()
    return {"machine": machine(), "scale_256x45d": at_scale(), "one_flooding_miner": one_flooding_miner(),
            "quality": [quality(seed) for seed in (1, 2, 3)]}
