"""PTN weights of the softmax era, V0–V3 (ptn.md §10.1): the main competition shares the emission by
softmax, and testing miners (challenge and probation) get a small fixed dust by rank.

The dust keeps testing miners registered and visible without paying them for unproven results; ranking
by the softmaxed score times sqrt(trading days / 120) favours miners that have been scored over more
days. Order as in the reference (a0382f75, 2025-06-16: `Scoring.compute_results_checkpoint` then
`Scoring.score_testing_miners` and `Metrics.time_weighted_scores`): softmax within the testing group,
fully penalised miners appended with 0; × sqrt factor; stable sort descending; `linspace(high, low, N)`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from mechanisms.ptn.config import PTNConfig
from mechanisms.ptn.scoring import positive_softmax


def _softmaxed(scores: Mapping[str, float], cfg: PTNConfig) -> dict[str, float]:
    """Softmax of S over the miners with S > 0 (`positive_softmax`), by hotkey."""
    hotkeys = sorted(scores)
    w = positive_softmax(np.array([scores[hk] for hk in hotkeys]), cfg.softmax_temperature, cfg.softmax_nonzero_only)
    return {hk: float(x) for hk, x in zip(hotkeys, w)}


def testing_dust(scores: Mapping[str, float], trading_days: Mapping[str, int], cfg: PTNConfig,
                 shares: bool = False) -> dict[str, float]:
    """Dust for the testing group (CHALLENGE ∪ PROBATION): `linspace(dust_high, dust_low, N)` by the rank of
    softmax(S) · sqrt(trading_days / dust_full_days); ties by hotkey. Every testing miner gets dust, a
    fully penalised one the lowest (a missing trading-day count counts as 0 days). With `shares` the
    scores are already softmaxed shares (V2+: the sub-categories' softmaxes blended)."""
    if not scores:
        return {}
    days = {hk: trading_days.get(hk, 0) for hk in scores}
    negative = sorted(hk for hk, d in days.items() if d < 0)
    if negative:
        raise ValueError(f"trading_days of {negative[0]!r} is negative: {days[negative[0]]}")
    soft = dict(scores) if shares else _softmaxed(scores, cfg)
    scaled = {hk: soft[hk] * math.sqrt(days[hk] / cfg.dust_full_days) for hk in soft}
    ranked = sorted(scaled, key=lambda hk: (-scaled[hk], hk))
    dust = np.linspace(cfg.dust_high, cfg.dust_low, num=len(ranked))
    return {hk: float(d) for hk, d in sorted(zip(ranked, dust))}


def v1_weights(maincomp_scores: Mapping[str, float], testing_scores: Mapping[str, float],
               testing_days: Mapping[str, int], cfg: PTNConfig, shares: bool = False) -> dict[str, float]:
    """The submitted vector: the main competition's softmax normalised to sum 1, plus the testing dust; no
    burn (the chain normalises, so the dust is a share of about N·1.8e-5 / (1 + N·1.8e-5)).

    A main competition where every S is 0 gets all zeros (the reference then sets no weights at all,
    dust included; the caller decides). A lone main-competition miner gets 1 if S > 0, else 0 (§7:
    fully penalised miners get weight 0; the reference's lone-miner shortcut gave it 1). With `shares`
    the scores are already softmaxed shares (V2+), only normalised here."""
    both = sorted(set(maincomp_scores) & set(testing_scores))
    if both:
        raise ValueError(f"hotkey {both[0]!r} is in both the main competition and the testing group")
    main = dict(maincomp_scores) if shares else _softmaxed(maincomp_scores, cfg)
    total = sum(main.values())
    if total > 0:
        main = {hk: w / total for hk, w in main.items()}
    weights = main | testing_dust(testing_scores, testing_days, cfg, shares)
    return {hk: weights[hk] for hk in sorted(weights)}
