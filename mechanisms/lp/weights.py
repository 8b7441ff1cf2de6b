"""The weight vector (forevermoney.md §7): each job's best eligible miner, and the owner's burn share
gated by the vault's fee revenue against the subnet's emission in the same time base."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from mechanisms.lp.reputation import Reputation

BURN_UID = 0


def job_winners(jobs: Mapping[str, Mapping[str, Reputation]], today: str) -> dict[int, float]:
    """{uid: Σ combined over the jobs it tops}. Per job the eligible miners with combined > 0, best by
    (combined, evaluations, live rounds), then the lower uid."""
    agg: dict[int, float] = {}
    for miners in jobs.values():
        ranked = sorted((r for r in miners.values() if r.eligible(today)),
                        key=lambda r: (-r.combined, -r.total_evaluations, -r.total_live_rounds, r.uid))
        if ranked:
            agg[ranked[0].uid] = agg.get(ranked[0].uid, 0.0) + ranked[0].combined
    return agg


BLOCKS_PER_DAY = 7_200


def revenue_usd(collected: Sequence[tuple[int, int]], decimals: tuple[int, int], prices_usd: tuple[float, float]) -> float:
    """The USD value of the vault's fee collections (raw amounts per token), each token with its own
    decimals (the reference assumes 18 for both)."""
    return sum(a0 / 10 ** decimals[0] * prices_usd[0] + a1 / 10 ** decimals[1] * prices_usd[1] for a0, a1 in collected)


def emission_per_day(emission_per_tempo: float, tempo: int) -> float:
    """The subnet's emission per day from the metagraph's per-tempo figure, so it compares with a day's
    revenue (the reference compares the per-tempo figure with daily revenue)."""
    return emission_per_tempo * BLOCKS_PER_DAY / tempo


def miner_ratio(revenue_usd_per_day: float, alpha_price_usd: float, emission_alpha_per_day: float,
                cap: float = 1.0) -> float:
    """The miners' share: the vault's daily fee revenue in alpha over the subnet's daily emission,
    clamped to [0, cap]. No revenue or no emission burns everything; an unusable alpha price pays
    miners in full (the reference's order of cases)."""
    if not emission_alpha_per_day > 0 or not revenue_usd_per_day > 0:
        return 0.0
    if not (math.isfinite(alpha_price_usd) and alpha_price_usd > 0):
        return min(1.0, max(0.0, cap))
    return max(0.0, min(cap, 1.0, revenue_usd_per_day / alpha_price_usd / emission_alpha_per_day))


def weight_vector(uids: Sequence[int], agg: Mapping[int, float], ratio: float) -> dict[int, float]:
    """uid 0 gets 1 − ratio, the winners share `ratio` by their summed combined scores; without winners
    the miners' share burns too."""
    w = {u: 0.0 for u in uids}
    w[BURN_UID] = 1.0 - ratio
    total = sum(v for u, v in agg.items() if u != BURN_UID and v > 0)
    if ratio > 0 and total > 0:
        for u, v in agg.items():
            if u != BURN_UID and v > 0:
                w[u] = ratio * v / total
    else:
        w[BURN_UID] = 1.0
    s = sum(w.values())
    return {u: x / s for u, x in w.items()}
