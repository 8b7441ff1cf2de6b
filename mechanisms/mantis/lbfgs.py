"""MANTIS LBFGS salience (mantis.md §11.2): which miners' 17-dim forecasts of the return's z-bucket
and of barrier hits carry information about the realised outcome.

A miner submits, per sample, five probabilities for the bucket of the standardised return over the
horizon h (`z = r/σ`: ≤ −2, (−2, −1), [−1, 1], (1, 2), ≥ 2) and, for each of the four outer buckets,
three probabilities that the path, given that bucket, moves against it by 0.5σ, 1σ or 2σ on the way
(a rebound inside a fall, a dip inside a rise). Two paths score it:

* the **classifier path** walks forward over validation segments: a miner's lift is its balanced
  accuracy (the argmax of its bucket probabilities vs the realised bucket) above chance on the
  segment (fixed: S4 below); a bootstrapped one-vs-rest L2 model per bucket, fitted on the preceding
  training window over the miners with the best training accuracy, turns |coef|² (fixed: S5) into
  meta-weights, so a miner is
  paid for lift the others do not already carry. Segments that a vote of the weighted miners
  cannot beat chance on are dropped; the rest are averaged with a recency decay. A smooth penalty
  `(1 − overlap)²` against every higher-ranked miner's argmax then shrinks echoes; the top 25 stay.
* the **q-path** fits, per extreme bucket and barrier, a bootstrapped L2 model of the barrier hit on
  every miner's logit(q), and averages the normalised |coef|.

Each path is rank-sharpened (`topk_renorm`) and the two are blended 0.75 / 0.25 (a uniform path is
dropped). Near-duplicate miners (joint cohorts on the bucket probabilities) are scored once, by
their lexicographically smallest hotkey, and share that score equally.

Panels: X (T, H, 17) float32 with NaN where a miner did not submit, sample indices `sidx` (T,),
prices (T,) (NaN or ≤ 0 = missing).

Modes:

* ``"compat"`` reproduces the reference: the horizon is a row offset (F5); the classifier trains up to
  the validation start, so its last h labels overlap validation (F1); the q-path's σ window contains
  the forward return it scales and its coefficients are in-sample (F4); an all-zero vector is a
  non-submission whose argmax is bucket 0, so it votes and counts in overlaps (F7); balanced
  accuracy divides by 5 whatever classes occur (F8); median-of-means drops leftover replicates
  (F10); the history cap of 432 000 is applied to rows (F6).
* ``"fixed"`` applies, each as a visible branch on the mode:

  - F5: rows pair by sample index (`forward_rows(sidx, h, "fixed")`); a row without the exact
    partner sample has no label, and a barrier path spans the samples [sidx, sidx + h] (against
    the previous row's price, as in the reference);
  - F1: classifier training rows end h samples before the validation start ([vs − window, vs − h));
  - F4: causal σ for the q-path (the returns that had ended by the row), and the q-path is
    walk-forward on the classifier's segment grid: each (bucket, barrier) model is fitted on the
    embargoed training window and gives meta-weights |coef| / max; a miner's edge is the
    out-of-sample AUC − 0.5 of its own q against the hits on the segment's rows of that bucket
    (rows where it submitted); its q importance is the pooled edge × meta-weight (S1, S3). So q
    pays only for barrier probabilities that rank future hits better than chance on data no fit saw;
  - F6: the history is capped by sample range (sidx > max − history_samples), not by rows;
  - F7: presence is an explicit mask (`panel.presence`): an absent miner casts no vote, is never
    "correct" in a balanced accuracy, its q is even odds, and overlaps count only jointly present
    rows; cohorts use present rows;
  - F8: balanced accuracy divides by the number of classes present, and chance is then 1/K (the
    accuracy of any constant forecast), the baseline of the lift and of the sanity vote;
  - F10: every bootstrap replicate counts (groups of near-equal size).

  and fixes of our own, each because the reference's estimator pays for noise:

  - S1 (clip after averaging): the reference clips each segment's lift at 0 and averages the
    clipped values, so a worthless miner collects E[max(noise, 0)] ≈ 0.4 SE per segment. Fixed
    averages the signed edge × meta-weight over segments (and, in the q-path, over models) and
    clips the average: noise then averages towards 0 instead of accumulating. The per-segment
    gate (some lift > 0) and the sanity vote still use the clipped lifts, as in the reference.
  - S2 (agreement beyond chance in the uniqueness penalty): two independent miners that both
    forecast well agree often just by being right, and a lower-ranked miner meets more
    higher-ranked ones, so the reference's raw overlap penalises skill and rank, not redundancy.
    Fixed uses Cohen's κ against conditional independence given the realised bucket,
    p_e = Σ_k P(y=k) Σ_c P(a=c | y=k) P(b=c | y=k) on the jointly present rows:
    ov = max(0, (p_o − p_e)/(1 − p_e)), 1 for a copy and ≈ 0 for an independent miner.
  - S3 (inverse-variance pooling in the q-path): the (bucket, barrier) models see from a few dozen
    rows (2σ moves inside the extreme buckets) to thousands, so their AUC edges are pooled with
    weights 1/Var(AUC) = 12·n₁·n₀/(n + 1) (the null variance of the Mann–Whitney AUC) times the
    segment's recency weight, the fixed-effect meta-analysis estimate, instead of an equal average
    in which the thinnest models dominate the noise.
  - S4 (the classifier's lift from the probabilities): the reference's lift is the balanced
    accuracy of the argmax, which throws the submitted probabilities away and, with two of five
    buckets at ~2 % of rows, varies so much between segments that two miners of equal skill are
    paid very differently. Fixed measures a miner's lift on a segment as its one-vs-rest AUC − 0.5
    per bucket (how well P(bucket c) ranks the rows of bucket c), pooled over the buckets with the
    same inverse-variance weights as S3. The argmax still casts the miner's vote (the sanity vote,
    the uniqueness penalty).
  - S5 (meta-weights from |coef|): the reference weighs a miner by Σ_c |coef_c|², which doubles the
    relative noise of each coefficient; fixed uses Σ_c |coef_c|, as the other meta-models here do.
  - S6 (edges count by the rows they were shown on): an AUC measured on the few rows a miner chose
    to submit on is a ±0.5 lottery, and a model split over hotkeys that never submit on the same
    rows escapes both the cohorts and the overlap penalty. A miner's edge on a segment (classifier
    and q-path) is multiplied by the fraction of the segment's rows it submitted on, and the q-path
    applies the classifier's activity rule (present on more than `active_frac` of the training
    rows) before a miner enters its fits: sparse noise and split models gain nothing.

Everything runs single-threaded in sorted-hotkey column order with stable sorts and fixed seeds, so
identical panels give identical salience on every validator (§14).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Mapping, NamedTuple, Sequence

import numpy as np
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression

from mechanisms.mantis.bootstrap import block_bootstrap_coefs
from mechanisms.mantis.entry import checked_panel, single_threaded
from mechanisms.mantis.panel import Mode, presence
from mechanisms.mantis.series import (
    EPS, capped_history, causal_ends, forward_log_returns, forward_rows, priced_rows, rolling_std, safe_logit,
    trailing_std,
)

N_CLASSES = 5  # z-buckets
DIM = 17  # 5 bucket probabilities + 4 buckets × 3 barrier probabilities
# q columns per extreme bucket and the barrier direction they forecast (§8): down buckets → up moves
Q_START = {0: 5, 1: 8, 3: 11, 4: 14}
Q_TARGET_UP = {0: True, 1: True, 3: False, 4: False}

_BLOCK_ROWS = 4096  # row block for streamed reads of the panel (bounded temporaries)


@dataclass(frozen=True)
class LbfgsParams:
    """The reference's constants (rows are samples: 1440 a day).

    `ahead` is the label horizon in samples; the platform sets it from the challenge's
    horizon_blocks (reserved, like BinaryParams.ahead). The default is ETH's hour.

    Windows a devnet may scale (the embedded devnet holds ~14–16 days ≈ 20 000 rows, while the
    reference warms up over 24 000): `min_rows`, `sigma_window`, `q_sigma_window`, `warmup`,
    `chunk`, `train_window`, `recent`, `overlap_rows`, `cohort_min_rows` (and, rarely needed,
    `min_segment`, `q_min_rows`). Suggested for 14 days: warm-up 8 640, chunk 2 880, train window
    8 640, recent 4 320, overlap rows 2 880, σ windows 1 440 / 2 880, min rows 2 880, cohort min
    rows 2 880 (four validation segments). Derived quantities follow the windows: the segment
    recency γ = 0.5^((chunk / rows_per_day) / half_life_days) (≈ 0.680395 at the reference values,
    ≈ 0.911722 with a 2 880-row chunk). The history caps never bind on a devnet; counts of miners,
    model constants and seeds are not scaled.
    """

    ahead: int = 60
    # data
    history_rows: int = 432_000  # compat: the reference's MAX_BLOCK_HISTORY applied to rows (F6)
    history_samples: int = 86_400  # fixed: 60 days of samples
    rows_per_day: int = 1440
    min_rows: int = 7_200  # price rows, valid labels, and q-path rows
    # labels
    sigma_window: int = 3_600  # σ of the bucket labels (returns ending at t − h)
    q_sigma_window: int = 7_200  # σ of the barrier thresholds
    z_inner: float = 1.0
    z_outer: float = 2.0
    # classifier path
    prob_floor: float = 1e-6  # bucket probabilities are clipped to at least this, then renormalised
    active_p: float = 0.01  # a row is active if some raw bucket probability exceeds this …
    active_frac: float = 0.05  # … and a miner is active if more than this share of rows are
    min_active: int = 2
    chunk: int = 12_000  # validation segment length
    warmup: int = 24_000  # first validation start
    train_window: int = 36_000
    min_segment: int = 200
    top_by_ba: int = 100  # miners entering the meta-model, by training balanced accuracy
    recent: int = 14_000  # rows counted as "recent" by recent_mass_weights
    recent_mass: float = 0.5  # share of the total weight the recent rows carry
    cls_C: float = 0.1
    cls_max_iter: int = 100
    cls_seed_stride: int = 1_000  # classifier seed = seed + stride·(segment + 1) + class
    half_life_days: float = 15.0  # segment recency decay
    overlap_rows: int = 12_000  # rows of the uniqueness penalty
    keep_top: int = 25  # classifier and q-path keep this many miners
    # q-path
    q_thresholds: tuple[float, ...] = (0.5, 1.0, 2.0)
    q_min_rows: int = 100
    q_C: float = 0.5
    q_max_iter: int = 500
    q_seed_stride: int = 17  # q seed = seed + stride·bucket + threshold index
    # bootstrap (§11.0)
    replicates: int = 20
    block: int = 120
    seed: int = 42
    # combination
    topk: int = 50
    blend_cls: float = 0.75
    blend_q: float = 0.25
    uniform_tol: float = 0.01
    min_share: float = 1e-6
    # cohorts
    cohort_min_rows: int = 10_080
    cohort_mean_tol: float = 0.10
    cohort_corr: float = 0.80

    def __post_init__(self) -> None:
        if self.ahead < 1:
            raise ValueError("ahead must be at least one sample")
        for name in ("sigma_window", "q_sigma_window", "chunk", "block"):
            if getattr(self, name) < 2:
                raise ValueError(f"{name} must be at least 2")


# -- building blocks ----------------------------------------------------------------------------


class Bins(NamedTuple):
    labels: np.ndarray  # (T,) int8 bucket 0..4, −1 where there is no valid label
    returns: np.ndarray  # (T,) log return to the row `ahead` later (NaN where none)
    sigma: np.ndarray  # (T,) causal σ of that return (NaN where undefined)


def bucketize(z: np.ndarray, inner: float = 1.0, outer: float = 2.0) -> np.ndarray:
    """z → 0 (z ≤ −outer), 1 (−outer < z < −inner), 2 (|z| ≤ inner), 3 (inner < z < outer), 4 (z ≥ outer);
    −1 where z is not finite."""
    z = np.asarray(z, dtype=np.float64)
    out = np.full(z.shape, -1, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        out[z <= -outer] = 0
        out[(z > -outer) & (z < -inner)] = 1
        out[(z >= -inner) & (z <= inner)] = 2
        out[(z > inner) & (z < outer)] = 3
        out[z >= outer] = 4
    return out


def make_bins(prices: np.ndarray, sidx: np.ndarray, ahead: int, window: int, mode: Mode,
              inner: float = 1.0, outer: float = 2.0) -> Bins:
    """Bucket labels (§11.2): `r_t = ln(p_{t+h} + ε) − ln(p_t + ε)`, σ_t = std (ddof 1) of the
    `window` h-returns ending at row t − h (compat: a row offset; fixed: the returns whose partner
    sample lies at or before sidx_t), `z = r/σ` bucketed; valid where r and σ are finite and σ > 0."""
    r = forward_log_returns(np.log(np.asarray(prices, dtype=np.float64) + EPS), sidx, ahead, mode)
    sigma = trailing_std(r, causal_ends(sidx, ahead, mode), window)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(np.isfinite(sigma) & (sigma > 0), r / sigma, np.nan)
    return Bins(bucketize(z, inner, outer), r, sigma)


def balanced_accuracy(pred: np.ndarray, y: np.ndarray, mode: Mode, n_classes: int = N_CLASSES) -> np.ndarray:
    """Balanced accuracy of each column of `pred` (n,) or (n, H) against y (n,): the sum over the
    classes present in y of the recall, divided by `n_classes` in compat (the reference's
    vectorised version, F8) or by the number of present classes in fixed. pred = −1 is no vote."""
    pred = np.asarray(pred)
    y = np.asarray(y)
    classes = np.unique(y[y >= 0])
    total = np.zeros(pred.shape[1:], dtype=np.float64)
    for c in classes:
        rows = y == c
        total += (pred[rows] == c).mean(axis=0)
    if mode == "compat":
        return total / n_classes
    return total / max(len(classes), 1)


def chance_level(y: np.ndarray, mode: Mode, n_classes: int = N_CLASSES) -> float:
    """The balanced accuracy a constant forecast gets: 1/5 in compat; 1/K for K present classes in fixed."""
    if mode == "compat":
        return 1.0 / n_classes
    return 1.0 / max(np.unique(np.asarray(y)[np.asarray(y) >= 0]).size, 1)


def recent_mass_weights(n: int, recent: int, mass: float = 0.5) -> np.ndarray:
    """(n,) weights, mean 1: the last `recent` rows together carry `mass` of the total, the older
    rows weigh 1 each. With mass 0.5 a recent row weighs 0.5·n_old / (0.5·n_recent) before the
    normalisation. All ones if either group is empty."""
    n_recent = min(max(int(recent), 0), n)
    n_old = n - n_recent
    w = np.ones(n, dtype=np.float64)
    if n_recent == 0 or n_old == 0:
        return w
    w[n_old:] = mass * n_old / ((1.0 - mass) * n_recent)
    return w / w.mean()


def recency_gamma(params: LbfgsParams) -> float:
    """Per-segment recency decay: half-life `half_life_days`, a segment spanning chunk/rows_per_day days."""
    return 0.5 ** ((params.chunk / params.rows_per_day) / params.half_life_days)


def walk_forward_segments(n: int, params: LbfgsParams) -> list[tuple[int, int]]:
    """Validation segments [f, min(f + chunk, n)) for f = warm-up, warm-up + chunk, …, stopping at
    the first one shorter than `min_segment`."""
    out = []
    f = params.warmup
    while f < n and min(f + params.chunk, n) - f >= params.min_segment:
        out.append((f, min(f + params.chunk, n)))
        f += params.chunk
    return out


def ensemble_vote(votes: np.ndarray, weights: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """(n,) the class with the largest summed weight of the miners voting for it (ties: lowest
    class); −1 on rows where no miner with weight votes. votes (n, H) with −1 = no vote."""
    votes = np.asarray(votes)
    score = np.zeros((len(votes), n_classes), dtype=np.float64)
    for c in range(n_classes):
        score[:, c] = (votes == c).astype(np.float64) @ np.asarray(weights, dtype=np.float64)
    pred = score.argmax(axis=1)
    return np.where(score.max(axis=1) > 0, pred, -1)


def sanity_vote(votes: np.ndarray, seg_imp: np.ndarray, y: np.ndarray, mode: Mode) -> bool:
    """Does the importance-weighted vote of the miners beat chance on the segment?

    The balanced accuracy is the mean over present classes in both modes (the reference's scalar
    version); the bar is 0.2 in compat and 1/K (chance for the present classes, F8) in fixed."""
    total = float(np.sum(seg_imp))
    if not total > 0:
        return False
    pred = ensemble_vote(votes, np.asarray(seg_imp) / total)
    ba = float(balanced_accuracy(pred, y, "fixed"))
    return ba > chance_level(y, mode)


def uniqueness_penalty(imp: np.ndarray, votes: np.ndarray, mode: Mode, y: np.ndarray | None = None) -> np.ndarray:
    """imp × (1 − ov)² for every ranked miner but the first: miners with imp > 0 are ranked by imp
    (descending, stable), and ov measures how much its argmax repeats a higher-ranked miner's.

    compat: ov = the largest fraction of rows on which its argmax equals that of a higher-ranked
    miner, over every row (an absent miner's argmax is bucket 0, F7). fixed: only rows where both
    voted count (−1 = absent; no such rows: ov = 0), and with the labels `y` given, agreement is
    measured in excess of chance (S2): two independent forecasters of the same outcome agree on
    p_e = Σ_k P(y=k) Σ_c P(a=c | y=k) P(b=c | y=k) of the rows just by being right (and by
    sharing base rates), so ov = max(0, (p_o − p_e) / (1 − p_e)) — 1 for a copy, ≈ 0 for an
    independent miner however skilled — rather than p_o, which grows with skill and with rank."""
    imp = np.asarray(imp, dtype=np.float64).copy()
    votes = np.asarray(votes)
    ranked = [int(j) for j in np.argsort(-imp, kind="stable") if imp[j] > 0]
    if len(ranked) < 2 or len(votes) == 0:
        return imp
    v = votes[:, ranked]
    onehot = np.stack([(v == c) for c in range(N_CLASSES)], axis=0).astype(np.float32)  # (5, n, K)
    equal = np.zeros((len(ranked), len(ranked)), dtype=np.float64)
    for c in range(N_CLASSES):  # float32 products of 0/1 counts are exact below 2^24 rows
        equal += (onehot[c].T @ onehot[c]).astype(np.float64)
    if mode == "compat":
        joint = np.full_like(equal, float(len(votes)))
    else:
        p = (v >= 0).astype(np.float32)
        joint = (p.T @ p).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(joint > 0, equal / joint, 0.0)
    if mode == "fixed" and y is not None:
        frac = _excess_agreement(frac, onehot, p, np.asarray(y), joint)
    for i in range(1, len(ranked)):
        ov = float(frac[i, :i].max())
        imp[ranked[i]] *= (1.0 - ov) ** 2
    return imp


def _excess_agreement(p_o: np.ndarray, onehot: np.ndarray, present: np.ndarray, y: np.ndarray,
                      joint: np.ndarray) -> np.ndarray:
    """(K, K) Cohen-style excess agreement given the label, over each pair's jointly present rows."""
    p_e = np.zeros_like(p_o)
    for k in range(N_CLASSES):
        rows = (y == k).astype(np.float32)
        n_k = ((present * rows[:, None]).T @ present).astype(np.float64)  # joint rows of class k
        for c in range(N_CLASSES):
            a = ((onehot[c] * rows[:, None]).T @ present).astype(np.float64)  # [i, j]: i votes c, j present
            with np.errstate(invalid="ignore", divide="ignore"):
                p_e += np.where(n_k > 0, a * a.T / np.maximum(n_k, 1.0), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_e = np.where(joint > 0, p_e / np.maximum(joint, 1.0), 0.0)
        kappa = np.where(p_e < 1, (p_o - p_e) / (1.0 - p_e), 0.0)
    return np.clip(kappa, 0.0, 1.0)


def keep_top(imp: np.ndarray, k: int) -> dict[int, float]:
    """The top k entries by value (stable), normalised to 1; {} when their total is not positive."""
    order = np.argsort(-np.asarray(imp, dtype=np.float64), kind="stable")[:k]
    total = float(np.sum(imp[order]))
    if not total > 0 or not math.isfinite(total):
        return {}
    return {int(j): float(imp[j] / total) for j in order}


def is_uniform(s: Mapping[Hashable, float], tol: float = 0.01) -> bool:
    """A path that says nothing: empty, total ≤ 0, or (max − min) / mean < tol."""
    if not s:
        return True
    v = np.array(list(s.values()), dtype=np.float64)
    if not v.sum() > 0 or not np.isfinite(v).all():
        return True
    return (v.max() - v.min()) / v.mean() < tol


def topk_renorm(s: Mapping[Hashable, float], k: int = 50, min_share: float = 1e-6) -> dict[Hashable, float]:
    """Sort the positive entries descending (stable), keep k, multiply by exp(−rank/τ) with
    τ = max(1, k/3) (rank 0-based), renormalise, drop entries below `min_share`."""
    items = sorted(((key, float(v)) for key, v in s.items() if v > 0), key=lambda kv: -kv[1])[:k]
    tau = max(1.0, k / 3.0)
    sharp = [(key, v * math.exp(-rank / tau)) for rank, (key, v) in enumerate(items)]
    total = sum(v for _, v in sharp)
    if not total > 0:
        return {}
    return {key: v / total for key, v in sharp if v / total >= min_share}


def combine(cls: Mapping[Hashable, float], q: Mapping[Hashable, float], params: LbfgsParams = LbfgsParams()) -> dict[Hashable, float]:
    """Blend the two paths (§11.2): a uniform path is dropped; each survivor goes through
    topk_renorm; `blend_cls·cls + blend_q·q` (a single survivor alone), renormalised."""
    paths = [(params.blend_cls, cls), (params.blend_q, q)]
    kept = [(w, topk_renorm(s, params.topk, params.min_share)) for w, s in paths if not is_uniform(s, params.uniform_tol)]
    kept = [(w, s) for w, s in kept if s]
    if not kept:
        return {}
    if len(kept) == 1:
        kept = [(1.0, kept[0][1])]
    out: dict[Hashable, float] = {}
    for w, s in kept:
        for key, v in s.items():
            out[key] = out.get(key, 0.0) + w * v
    total = sum(out.values())
    return {key: v / total for key, v in out.items()} if total > 0 else {}


# -- cohorts ------------------------------------------------------------------------------------


def find_cohorts(raw: np.ndarray, present: np.ndarray, params: LbfgsParams = LbfgsParams()) -> np.ndarray:
    """(H,) the representative column of each miner's cohort (itself when alone), §11.2.

    raw (T, H, 5): bucket probabilities (absent cells are ignored); present (T, H). Miners need
    ≥ cohort_min_rows present rows, pairs as many joint rows; the per-bucket means over each
    miner's own present rows may differ by at most cohort_mean_tol; and |corr| ≥ cohort_corr, the
    correlation of the miners' values centred on their own means, accumulated over joint rows and
    the five buckets. Union-find with the smaller column as root, so the representative of a cohort
    is its first column (in sorted-hotkey order, its lexicographically smallest hotkey).
    """
    T, H, _ = raw.shape
    root = np.arange(H)
    counts = present.sum(axis=0)
    cand = np.flatnonzero(counts >= params.cohort_min_rows)
    if len(cand) < 2:
        return root
    M = len(cand)
    sums = np.zeros((M, raw.shape[2]), dtype=np.float64)
    for r0 in range(0, T, _BLOCK_ROWS):
        a = np.take(raw[r0 : r0 + _BLOCK_ROWS], cand, axis=1).astype(np.float64)
        m = np.take(present[r0 : r0 + _BLOCK_ROWS], cand, axis=1)
        sums += np.where(m[:, :, None], a, 0.0).sum(axis=0)
    means = sums / counts[cand][:, None]
    G = np.zeros((M, M))  # Σ_joint Σ_d a_i a_j (centred values, zero where absent)
    Q = np.zeros((M, M))  # Q[i, j] = Σ_{rows where j present} Σ_d a_i²
    N = np.zeros((M, M))  # joint rows
    for r0 in range(0, T, _BLOCK_ROWS):
        m = np.take(present[r0 : r0 + _BLOCK_ROWS], cand, axis=1)
        a = np.take(raw[r0 : r0 + _BLOCK_ROWS], cand, axis=1).astype(np.float64) - means[None]
        a = np.where(m[:, :, None], a, 0.0)
        flat = a.transpose(1, 0, 2).reshape(M, -1)
        G += flat @ flat.T
        mf = m.astype(np.float64)
        Q += (a * a).sum(axis=2).T @ mf
        N += mf.T @ mf
    gap = np.abs(means[:, None, :] - means[None, :, :]).max(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where((Q > 0) & (Q.T > 0), G / np.sqrt(Q * Q.T), 0.0)
    link = (N >= params.cohort_min_rows) & (gap <= params.cohort_mean_tol) & (np.abs(corr) >= params.cohort_corr)

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for a_ in range(M):
        for b_ in np.flatnonzero(link[a_, a_ + 1 :]) + a_ + 1:
            ra, rb = find(int(cand[a_])), find(int(cand[b_]))
            if ra != rb:
                root[max(ra, rb)] = min(ra, rb)
    return np.array([find(j) for j in range(H)])


def spread_cohorts(scores: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Every member of a cohort gets its representative's score ÷ the cohort size."""
    root = np.asarray(root)
    size = np.bincount(root, minlength=len(root))
    return np.asarray(scores, dtype=np.float64)[root] / size[root]


# -- the panel ----------------------------------------------------------------------------------


@dataclass
class _Data:
    """The builder's rows (sorted by sidx, price finite > 0, history-capped) for the scored columns."""

    mode: Mode
    sidx: np.ndarray  # (T,)
    prices: np.ndarray  # (T,)
    present: np.ndarray  # (T, R)
    raw: np.ndarray  # (T, R, 5) bucket probabilities as submitted (non-finite → 0)
    X: np.ndarray  # the caller's panel, for the q columns
    rows: np.ndarray  # (T,) rows of X
    cols: np.ndarray  # (R,) columns of X


def _read(X: np.ndarray, rows: np.ndarray, cols: np.ndarray, dims: slice) -> np.ndarray:
    """X[rows][:, cols, dims] as float32 with non-finite values → 0, read in row blocks."""
    out = np.empty((len(rows), len(cols), len(range(*dims.indices(X.shape[2])))), dtype=np.float32)
    for r0 in range(0, len(rows), _BLOCK_ROWS):
        block = X[rows[r0 : r0 + _BLOCK_ROWS]][:, cols, dims]
        out[r0 : r0 + _BLOCK_ROWS] = np.where(np.isfinite(block), block, np.float32(0))
    return out


def _present(X: np.ndarray, rows: np.ndarray, cols: np.ndarray, mode: Mode) -> np.ndarray:
    out = np.empty((len(rows), len(cols)), dtype=bool)
    for r0 in range(0, len(rows), _BLOCK_ROWS):
        out[r0 : r0 + _BLOCK_ROWS] = presence(X[rows[r0 : r0 + _BLOCK_ROWS]][:, cols], mode)
    return out


def bucket_probabilities(raw: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """clip(p, floor, 1) renormalised per row (an all-zero row becomes uniform 0.2, argmax bucket 0).

    The reference clips at the floor only; validated vectors (§9) never exceed 1, so the upper clip
    changes no well-formed panel and keeps garbage finite."""
    bp = np.clip(raw, np.float32(floor), np.float32(1.0))
    return bp / bp.sum(axis=-1, keepdims=True)


def _lr(C: float, max_iter: int, random_state: int) -> LogisticRegression:
    return LogisticRegression(C=C, l1_ratio=0.0, solver="liblinear", max_iter=max_iter,
                              class_weight="balanced", random_state=random_state)


def _bootstrap(Z: np.ndarray, y: np.ndarray, w: np.ndarray, C: float, max_iter: int, seed: int,
               mode: Mode, p: LbfgsParams) -> np.ndarray | None:
    """Bootstrapped |coef| (§11.0), falling back to one fit when no replicate fits."""
    coefs = block_bootstrap_coefs(Z, y, w, lambda rs: _lr(C, max_iter, rs), replicates=p.replicates,
                                  block=p.block, seed=seed, use_all_replicates=mode == "fixed")
    if coefs is None and np.unique(y).size == 2:
        try:
            coefs = np.abs(_lr(C, max_iter, seed).fit(Z, y, sample_weight=w).coef_.ravel())
        except (ValueError, FloatingPointError):
            return None
    if coefs is not None and not np.isfinite(coefs).all():
        return None
    return coefs


# -- classifier path ----------------------------------------------------------------------------


def classifier_path(d: _Data, bins: Bins, p: LbfgsParams) -> dict[int, float]:
    """Walk-forward balanced-accuracy lift × bootstrapped meta-weights (§11.2); {} when nothing passes."""
    mode = d.mode
    valid = np.flatnonzero(bins.labels >= 0)
    y = bins.labels[valid].astype(np.int64)
    sidx = d.sidx[valid]
    R = d.raw.shape[1]
    votes = np.empty((len(valid), R), dtype=np.int8)
    active_rows = np.zeros(R, dtype=np.int64)
    for r0 in range(0, len(valid), _BLOCK_ROWS):  # streamed: no (T, H, 5) temporaries
        block = d.raw[valid[r0 : r0 + _BLOCK_ROWS]]
        votes[r0 : r0 + _BLOCK_ROWS] = bucket_probabilities(block, p.prob_floor).argmax(axis=2)
        active_rows += (block > p.active_p).any(axis=2).sum(axis=0)
    # compat: an absent (zero) row is uniform and votes bucket 0
    if mode == "fixed":
        votes[~d.present[valid]] = -1  # F7: an absent miner does not vote
    active = active_rows > p.active_frac * len(valid)
    act = np.flatnonzero(active)
    if len(act) < p.min_active:
        return {}
    segments = walk_forward_segments(len(y), p)
    gamma = recency_gamma(p)
    acc = np.zeros(R)
    weight_sum = 0.0
    for si, (vs, ve) in enumerate(segments):
        yv = y[vs:ve]
        if np.unique(yv).size < 2:
            continue
        if mode == "fixed":
            edge = probability_edge(d, valid[vs:ve], yv, p)  # S4
        else:
            edge = balanced_accuracy(votes[vs:ve], yv, mode) - chance_level(yv, mode)
        lift = np.maximum(edge, 0.0)
        if lift.max() <= 0:
            continue
        train = np.arange(max(0, vs - p.train_window), vs)
        if mode == "fixed":
            train = train[sidx[train] + p.ahead < sidx[vs]]  # F1: [vs − window, vs − h) in samples
        if len(train) == 0:
            continue
        yt = y[train]
        ba_train = balanced_accuracy(votes[train], yt, mode)
        sel = act[np.argsort(-ba_train[act], kind="stable")[: min(p.top_by_ba, len(act))]]
        w = recent_mass_weights(len(train), p.recent, p.recent_mass)
        meta_imp = np.zeros(len(sel))
        bp = bucket_probabilities(d.raw[valid[train][:, None], sel[None, :], :], p.prob_floor)
        for c in range(N_CLASSES):
            yc = (yt == c).astype(np.int64)
            if np.unique(yc).size < 2:
                continue
            Z = bp[:, :, c].astype(np.float64)
            coefs = _bootstrap(Z, yc, w, p.cls_C, p.cls_max_iter, p.seed + p.cls_seed_stride * (si + 1) + c, mode, p)
            if coefs is not None:
                meta_imp += coefs if mode == "fixed" else coefs**2
        del bp
        meta_weight = np.zeros(R)
        if meta_imp.max(initial=0.0) > 0:
            meta_weight[sel] = meta_imp / meta_imp.max()
        else:
            meta_weight[:] = 1.0
        seg_imp = lift * meta_weight
        if not sanity_vote(votes[vs:ve], seg_imp, yv, mode):
            continue
        rw = gamma ** (len(segments) - 1 - si)
        if mode == "fixed":
            acc += rw * edge * meta_weight  # S1: signed, clipped after averaging
        else:
            acc += rw * seg_imp
        weight_sum += rw
    if weight_sum <= 0:
        return {}
    imp = acc / weight_sum
    if mode == "fixed":
        imp = np.maximum(imp, 0.0)
    imp = uniqueness_penalty(imp, votes[-p.overlap_rows :], mode, y[-p.overlap_rows :])
    return keep_top(imp, p.keep_top)


def probability_edge(d: _Data, rows: np.ndarray, y: np.ndarray, p: LbfgsParams) -> np.ndarray:
    """(R,) each miner's one-vs-rest AUC − 0.5 of its bucket probabilities on `rows` (S4), pooled
    over the buckets present in y by inverse variance: how well P(bucket c) ranks the rows of bucket
    c, over the rows the miner submitted, times the fraction of `rows` it submitted on (S6)."""
    bp = bucket_probabilities(d.raw[rows], p.prob_floor)
    present = d.present[rows]
    edge, weight = np.zeros(bp.shape[1]), 0.0
    for c in range(N_CLASSES):
        n1 = int((y == c).sum())
        n0 = len(y) - n1
        if n1 and n0:
            w = n1 * n0 / (len(y) + 1)  # 1/Var of the AUC under no skill (÷ 12): S3's pooling
            edge += w * (auc_columns(bp[:, :, c], (y == c).astype(np.int64), present) - 0.5)
            weight += w
    edge *= present.mean(axis=0)  # an edge shown on a fraction f of the rows counts f times (S6)
    return edge / weight if weight > 0 else edge


# -- q-path -------------------------------------------------------------------------------------


def barrier_moves(lnp: np.ndarray, sidx: np.ndarray, ahead: int, mode: Mode) -> tuple[np.ndarray, np.ndarray]:
    """(up, dn) per row: the largest rise and fall of the log price along the label's path.

    compat: rows t … t + h against the price of row t − 1 (defined for 1 ≤ t < T − h);
    fixed (F5): the samples sidx_t … sidx_t + h against the price at sidx_t (defined where the row
    has its partner sample). NaN elsewhere."""
    T = len(lnp)
    up = np.full(T, np.nan)
    dn = np.full(T, np.nan)
    if mode == "compat":
        if T <= ahead + 1:
            return up, dn
        win = np.lib.stride_tricks.sliding_window_view(lnp, ahead + 1)  # win[t] = lnp[t .. t + h]
        t = np.arange(1, T - ahead)
        up[t] = win[t].max(axis=1) - lnp[t - 1]
        dn[t] = win[t].min(axis=1) - lnp[t - 1]
        return up, dn
    fwd = forward_rows(sidx, ahead, mode)
    rows = np.flatnonzero(fwd >= 0)
    if not len(rows):
        return up, dn
    s0 = int(sidx[0])
    span = int(sidx[-1]) - s0 + 1
    hi = np.full(span + ahead, -np.inf)
    lo = np.full(span + ahead, np.inf)
    hi[sidx - s0] = lnp
    lo[sidx - s0] = lnp
    rows = rows[rows >= 1]  # the base is the previous row's price, as in compat
    off = sidx[rows] - s0
    hi_w = np.lib.stride_tricks.sliding_window_view(hi, ahead + 1)
    lo_w = np.lib.stride_tricks.sliding_window_view(lo, ahead + 1)
    for r0 in range(0, len(rows), _BLOCK_ROWS):  # bounded (block, h + 1) temporaries
        o = off[r0 : r0 + _BLOCK_ROWS]
        rr = rows[r0 : r0 + _BLOCK_ROWS]
        up[rr] = hi_w[o].max(axis=1) - lnp[rr - 1]
        dn[rr] = lo_w[o].min(axis=1) - lnp[rr - 1]
    return up, dn


def q_sigma(bins: Bins, sidx: np.ndarray, p: LbfgsParams, mode: Mode) -> np.ndarray:
    """σ of the barrier thresholds: compat (F4) the std of r_{t−W+1} … r_t, which includes the
    forward return r_t; fixed the std of the W returns that had ended by row t."""
    r = bins.returns
    if mode == "compat":
        out = np.full(len(r), np.nan)
        len_r = max(len(r) - p.ahead, 0)
        stds = rolling_std(r[:len_r], p.q_sigma_window)  # stds[k] = std(r[k .. k + W − 1])
        out[p.q_sigma_window - 1 : len_r] = stds
        return out
    return trailing_std(r, causal_ends(sidx, p.ahead, mode), p.q_sigma_window)


def _q_features(d: _Data, rows: np.ndarray, col: int) -> np.ndarray:
    """logit(q) (n, R) of one q column: non-finite or exactly 0 (an absent value) → 0.5, clipped to [ε, 1 − ε]."""
    q = d.X[d.rows[rows][:, None], d.cols[None, :], col].astype(np.float64)
    if d.mode == "fixed":
        q[~d.present[rows]] = np.nan  # F7: an absent miner's value is even odds, whatever is stored
    q[q == 0] = 0.5
    return safe_logit(q)


def _q_models(d: _Data, bins: Bins, p: LbfgsParams):
    """Yield (bucket, threshold index, rows of that bucket with valid σ^Q, hit (n,)) per model."""
    mode = d.mode
    lnp = np.log(d.prices + EPS)
    sig = q_sigma(bins, d.sidx, p, mode)
    up, dn = barrier_moves(lnp, d.sidx, p.ahead, mode)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(sig) & (sig > 0) & (bins.labels >= 0) & np.isfinite(up)
    return valid, sig, up, dn


def q_path(d: _Data, bins: Bins, p: LbfgsParams) -> dict[int, float]:
    """Barrier-hit models on logit(q) (§11.2). compat: in-sample average of normalised |coef|;
    fixed (F4): walk-forward, out-of-sample AUC lift × meta-weights (module docstring)."""
    if d.raw.shape[1] == 0 or len(d.sidx) < p.min_rows:
        return {}
    valid, sig, up, dn = _q_models(d, bins, p)
    if d.mode == "compat":
        imp = _q_in_sample(d, bins, p, valid, sig, up, dn)
    else:
        imp = _q_walk_forward(d, bins, p, valid, sig, up, dn)
    if imp is None:
        return {}
    if len(imp) > p.keep_top:
        return keep_top(imp, p.keep_top)
    total = float(imp.sum())
    return {int(j): float(v / total) for j, v in enumerate(imp)} if total > 0 else {}


def _hit(c: int, m: float, rows: np.ndarray, sig: np.ndarray, up: np.ndarray, dn: np.ndarray) -> np.ndarray:
    if Q_TARGET_UP[c]:
        return (up[rows] >= m * sig[rows]).astype(np.int64)
    return (dn[rows] <= -m * sig[rows]).astype(np.int64)


def _recent_count(times: np.ndarray, recent: int) -> int:
    """How many of the (sorted) times lie within `recent` of the newest: t ≥ max(t) − (recent − 1)."""
    if not len(times):
        return 0
    return int(len(times) - np.searchsorted(times, times[-1] - (recent - 1), side="left"))


def _q_in_sample(d, bins, p, valid, sig, up, dn) -> np.ndarray | None:
    total = np.zeros(d.raw.shape[1])
    n_models = 0
    for c, start in Q_START.items():
        rows = np.flatnonzero(valid & (bins.labels == c))
        if len(rows) < p.q_min_rows:
            continue
        w = recent_mass_weights(len(rows), _recent_count(rows, p.recent), p.recent_mass)
        for j, m in enumerate(p.q_thresholds):
            hit = _hit(c, m, rows, sig, up, dn)
            if np.unique(hit).size < 2:
                continue
            Z = _q_features(d, rows, start + j)
            coefs = _bootstrap(Z, hit, w, p.q_C, p.q_max_iter, p.seed + p.q_seed_stride * c + j, d.mode, p)
            if coefs is None or not coefs.sum() > 0:
                continue
            total += coefs / coefs.sum()
            n_models += 1
    return total / n_models if n_models else None


def auc_columns(F: np.ndarray, y: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """(R,) ROC AUC of each column of F (n, R) for the binary y (n,), over the rows where the column
    is present; 0.5 where a column has fewer than two classes among them. Ties count half."""
    n, R = F.shape
    out = np.full(R, 0.5)
    for j in range(R):
        rows = slice(None) if present is None else present[:, j]
        f, t = F[rows, j], y[rows]
        n1 = int(t.sum())
        n0 = len(t) - n1
        if n1 == 0 or n0 == 0:
            continue
        ranks = rankdata(f)
        out[j] = (ranks[t == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    return out


def _q_walk_forward(d, bins, p, valid, sig, up, dn) -> np.ndarray | None:
    """Fixed mode's q importance (F4, S1, S3): per classifier-style segment of the valid rows and per
    (bucket, barrier), a bootstrapped fit on the embargoed training window (seed = seed +
    cls_seed_stride·(segment + 1) + q_seed_stride·bucket + barrier) gives meta-weights |coef|/max;
    each miner's out-of-sample AUC edge on the segment is weighted by that, by 1/Var(AUC) and by the
    segment's recency; the pooled signed mean is clipped at 0."""
    rows_all = np.flatnonzero(valid)
    segments = walk_forward_segments(len(rows_all), p)
    gamma = recency_gamma(p)
    acc = np.zeros(d.raw.shape[1])
    weight_sum = 0.0
    for si, (vs, ve) in enumerate(segments):
        start_sidx = d.sidx[rows_all[vs]]
        train_all = rows_all[max(0, vs - p.train_window) : vs]
        train_all = train_all[d.sidx[train_all] + p.ahead < start_sidx]  # as F1
        val_all = rows_all[vs:ve]
        active = d.present[train_all].mean(axis=0) > p.active_frac  # the classifier's activity rule (S6)
        seg = np.zeros(d.raw.shape[1])
        n_models = 0
        seg_w = 0.0
        for c, start in Q_START.items():
            train = train_all[bins.labels[train_all] == c]
            val = val_all[bins.labels[val_all] == c]
            if len(train) < p.q_min_rows or len(val) == 0:
                continue
            w = recent_mass_weights(len(train), _recent_count(d.sidx[train], p.recent), p.recent_mass)
            for j, m in enumerate(p.q_thresholds):
                hit_t = _hit(c, m, train, sig, up, dn)
                hit_v = _hit(c, m, val, sig, up, dn)
                if np.unique(hit_t).size < 2 or np.unique(hit_v).size < 2:
                    continue
                Z = _q_features(d, train, start + j)
                Z[:, ~active] = 0.0  # a miner seen on a few rows cannot own a model's largest |coef|
                coefs = _bootstrap(Z, hit_t, w, p.q_C, p.q_max_iter,
                                   p.seed + p.cls_seed_stride * (si + 1) + p.q_seed_stride * c + j, d.mode, p)
                if coefs is None or not coefs.max() > 0:
                    continue
                shown = d.present[val].mean(axis=0) * active  # S6: edges count by the rows they were shown on
                edge = (auc_columns(_q_features(d, val, start + j), hit_v, d.present[val]) - 0.5) * shown
                n1 = float(hit_v.sum())
                n0 = len(hit_v) - n1
                prec = 12.0 * n1 * n0 / (n1 + n0 + 1.0)  # S3: 1 / Var(AUC) under the null
                seg += prec * edge * coefs / coefs.max()  # S1: signed, clipped after averaging
                seg_w += prec
                n_models += 1
        if n_models == 0:
            continue
        rw = gamma ** (len(segments) - 1 - si)
        acc += rw * seg
        weight_sum += rw * seg_w
    return np.maximum(acc / weight_sum, 0.0) if weight_sum > 0 else None


# -- entry point --------------------------------------------------------------------------------


def lbfgs_salience(
    X: np.ndarray,
    sidx: np.ndarray,
    prices: np.ndarray,
    hotkeys: Sequence[str],
    mode: Mode = "fixed",
    params: LbfgsParams = LbfgsParams(),
) -> dict[str, float]:
    """Salience per hotkey (sums to 1; every hotkey a key, 0.0 when unpaid), or {} when nothing can
    be learned from the panel. Columns are taken in sorted-hotkey order, so the result does not
    depend on panel order."""
    X, sidx, prices, hotkeys, cols = checked_panel(X, sidx, prices, hotkeys, mode, dim=DIM)
    with single_threaded():
        scores = _salience(X, sidx, prices, cols, mode, params)
    if scores is None:
        return {}
    return {hotkeys[c]: float(s) for c, s in zip(cols, scores)}


def _salience(X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, cols: np.ndarray, mode: Mode,
              p: LbfgsParams) -> np.ndarray | None:
    """Scores (H,) in sorted-hotkey column order, or None; the caller holds the thread limit."""
    rows = capped_history(priced_rows(sidx, prices), sidx, mode, p.history_samples, p.history_rows)
    if len(rows) < p.min_rows or len(cols) == 0:
        return None
    present = _present(X, rows, cols, mode)
    raw = _read(X, rows, cols, slice(0, N_CLASSES))
    root = find_cohorts(raw, present, p)
    reps = np.flatnonzero(root == np.arange(len(cols)))
    d = _Data(mode, sidx[rows], prices[rows], present[:, reps], raw[:, reps], X, rows, cols[reps])
    bins = make_bins(d.prices, d.sidx, p.ahead, p.sigma_window, mode, p.z_inner, p.z_outer)
    if int((bins.labels >= 0).sum()) < p.min_rows:
        return None
    cls = classifier_path(d, bins, p)
    q = q_path(d, bins, p)
    blended = combine(cls, q, p)
    if not blended:
        return None
    scores = np.zeros(len(cols))
    for k, v in blended.items():
        scores[reps[k]] = v
    scores = spread_cohorts(scores, root)
    total = scores.sum()
    return scores / total if total > 0 else None
