"""Tier weights (vesting_bettensor.md §6, v2.2+): rank by (tier, score), exponential in the rank.

Every valid miner holds a tier, so every one is ranked: tier first, then its score on its own tier's
window, then the lower uid ranks lower on a tie. Weight = exp(7·rank) with rank evenly spaced over
[0, 1], plus 0.15 for each populated tier below the miner's; miners below the minimum stake keep
their place in the ranking but get 0; the rest are normalised to sum 1.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mechanisms.bettensor.config import LOWEST_VALID, BettensorConfig


def tier_weights(tiers: Mapping[str, int], scores: Mapping[str, float], uid: Mapping[str, int],
                 qualified: Mapping[str, bool], cfg: BettensorConfig) -> dict[str, float]:
    """{hotkey: weight} over the miners in tiers ≥ 2; all zero when none of them qualifies."""
    ranked = sorted((h for h, t in tiers.items() if t >= LOWEST_VALID), key=lambda h: (tiers[h], scores[h], uid[h]))
    if not ranked:
        return {}
    populated = sorted({tiers[h] for h in ranked})
    below = {t: i for i, t in enumerate(populated)}
    rank = np.linspace(0.0, 1.0, len(ranked))
    raw = np.exp(cfg.steepness * rank) + cfg.tier_bonus * np.array([below[tiers[h]] for h in ranked], dtype=float)
    raw *= np.array([qualified.get(h, True) for h in ranked], dtype=float)
    total = raw.sum()
    w = raw / total if total > 0 else raw
    return {h: float(x) for h, x in zip(ranked, w)}
