"""From per-miner metrics to weights within one ranking universe (ptn.md §8).

Metrics live on incomparable scales (a Sharpe near 2, a t-statistic near 5, PnL in dollars), so each
is turned into a percentile among the miners being ranked before the configured weights combine
them; the penalties then multiply the combined score, and a softmax with temperature turns scores
into emission shares that favour the top without giving it everything. The reference (a0382f75,
2025-06-16, `vali_objects/scoring/scoring.py`) used scipy's `percentileofscore(kind='rank')`; the
`strict` kind is the V2 change of 2025-07-14.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mechanisms.ptn.config import PTNConfig

SOFTMAX_EPSILON = 1e-6  # added to the softmax denominator, as in the reference from V2 on (§8)


def percentiles(values: np.ndarray, kind: str) -> np.ndarray:
    """Each value's percentile among all of them, in [0, 1].

    `rank`: the average rank over N, so the lowest distinct value gets 1/N, the highest 1 and ties
    share their average. `strict`: the fraction of values strictly below (the lowest gets 0). A lone
    value gets 1 under either kind. NaN ranks as −inf: below every number, tied with other NaNs.
    """
    v = np.asarray(values, dtype=float).ravel()
    if kind not in ("rank", "strict"):
        raise ValueError(f"percentile kind {kind!r} is not rank or strict")
    n = v.size
    if n == 0:
        return np.zeros(0)
    if n == 1:
        return np.ones(1)
    v = np.where(np.isnan(v), -np.inf, v)
    ordered = np.sort(v)
    below = np.searchsorted(ordered, v, side="left")
    # scipy's arithmetic, which the reference calls (then /100), so that scores equal in exact
    # arithmetic tie the same way at the rank-25 threshold
    if kind == "strict":
        return below * (100.0 / n) / 100.0
    at_or_below = np.searchsorted(ordered, v, side="right")
    return (below + at_or_below + 1) * (50.0 / n) / 100.0


def combine(metrics: Mapping[str, np.ndarray], penalty: np.ndarray, cfg: PTNConfig) -> np.ndarray:
    """`S = (Σ_m weight_m · percentile_m) × penalty`, one entry per miner.

    Percentiles are taken over the miners whose penalty is positive only: a fully penalised miner
    (penalty exactly 0) is out of the competition, gets S = 0 and does not push the others'
    percentiles up. A penalty that is NaN or infinite cannot come from §7 and is treated as 0. A
    metric whose weight is 0 may be left out of `metrics`.
    """
    pen = np.asarray(penalty, dtype=float).ravel()
    live = np.isfinite(pen) & (pen > 0)
    score = np.zeros(pen.size)
    for name, weight in cfg.metric_weights.items():
        if weight == 0:
            continue
        if name not in metrics:
            raise ValueError(f"metric {name!r} has weight {weight} but no values")
        values = np.asarray(metrics[name], dtype=float).ravel()
        if values.size != pen.size:
            raise ValueError(f"metric {name!r} has {values.size} values for {pen.size} miners")
        score[live] += weight * percentiles(values[live], cfg.percentile_kind)
    score[live] *= pen[live]
    return score


def positive_softmax(S: np.ndarray, temperature: float, nonzero_only: bool) -> np.ndarray:
    """`softmax` over the entries with a finite S > 0, the others 0. S is 0 exactly for a fully
    penalised miner under `rank` percentiles (every percentile is positive), and the reference leaves
    those out of the softmax; under `strict` percentiles (V2+) zeros stay out anyway. So leaving out
    S ≤ 0 is the reference in every version."""
    s = np.asarray(S, dtype=float).ravel()
    live = np.isfinite(s) & (s > 0)
    out = np.zeros(s.size)
    if live.any():
        out[live] = softmax(s[live], temperature, nonzero_only)
    return out


def softmax(S: np.ndarray, temperature: float, nonzero_only: bool) -> np.ndarray:
    """`exp((S_i − max S)/T) / (Σ_j exp((S_j − max S)/T) + 1e-6)`: a low temperature concentrates the
    emission on the best scores. With `nonzero_only` (V2+) a zero score stays 0 and is left out of
    the sum; non-finite scores are always left out with 0. A lone miner gets 1 and no miners give an
    empty vector, as in the reference.

    In V0/V1 mode every entry takes part, so a caller must leave the fully penalised miners (whose
    S is 0 from `combine`) out of S: the reference appends them with weight 0 after the softmax.
    """
    if not temperature > 0:
        raise ValueError(f"softmax temperature must be positive, not {temperature!r}")
    s = np.asarray(S, dtype=float).ravel()
    if s.size <= 1:
        return np.ones(s.size)
    use = np.isfinite(s)
    if nonzero_only:
        use &= s != 0
    out = np.zeros(s.size)
    if not use.any():
        return out
    with np.errstate(over="ignore"):  # a gap too wide to represent is −inf, which weighs 0
        exps = np.exp((s[use] - s[use].max()) / temperature)
    out[use] = exps / (exps.sum() + SOFTMAX_EPSILON)
    return out
