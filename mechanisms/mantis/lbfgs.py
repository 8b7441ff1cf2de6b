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
    walk-forward on the classifier's segment grid (S8): each (bucket, barrier) model is fitted on
    the embargoed training window and gives meta-weights |coef| / max; a miner's edge is the
    out-of-sample AUC − 0.5 of its own q against the hits on the segment's rows of that bucket
    (rows where it submitted); its q importance is the pooled edge × meta-weight (S1, S3). So q
    pays only for barrier probabilities that rank future hits better than chance on data no fit saw;
  - F6: the history is capped by sample range (sidx > max − history_samples), not by rows;
  - F7: presence is an explicit mask (`panel.presence`): an absent miner casts no vote, is never
    "correct" in a balanced accuracy, its q is even odds, and overlaps count only jointly present
    rows; cohorts use present rows; fixed mode finds them on the whole days before the current one
    (kept per day) and scores a cohort on its member present longest, paying each member by its
    rows the gate read (`clones.group_shares`), so a copy under a smaller hotkey cannot stand for
    the miner it copies;
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
  - S7 (a significance gate before any salience): values that persist (noise that wanders like a
    real view of prices, a value held for hours) meet labels that overlap for h samples, so the rows
    of a segment are far from independent and a worthless miner's segment edges, meta-weights and
    votes spread far wider than their row counts suggest; S1's average over a handful of segments
    does not remove that, and such miners were paid several per cent. A miner now earns in a path
    only if its forecasts beat chance against the outcomes they claim to forecast, with the
    dependence kept in the null (`significance_gate`): a circular-shift test over the whole history
    of the ranks of its five bucket probabilities against the realised bucket (one-hot), and one of
    its twelve barrier probabilities against the barrier events on the rows of their bucket. A
    shift keeps each series' own persistence and breaks only their alignment; shifts start at a day
    of samples (`sig_min_shift`, and at least 2·ahead), past the label's span, so a skilled forecast
    is not compared with itself, and past any persistence a day does not outlast. The p-value counts
    the null's independent shifts, not its shifts (`shift_p`): the empirical p of a value held for
    hours is 1/n about once in n/τ panels; nor is it below the empirical p where a shift reaches
    the aligned value, which a one-sample spike of a forecast (τ = 1, a tiny t tail) needs no skill
    to do. Holm's step-down at `sig_alpha` = 0.01 over every (miner, path) tested bounds by 1 % the
    chance that any miner without skill earns in either path: each admitted miner is paid like a
    skilled one (a few per cent of the salience), so it is that chance, not the share of worthless
    miners among the admitted (Benjamini–Hochberg's false-discovery rate, which at q = 0.05
    admitted worthless miners in 10 of 16 devnet panels), that must be small. A miner that fails
    still enters the fits as a regressor (so they do not depend on the gate); its edge in that path
    is 0, so it earns nothing there and carries no weight in the sanity vote. The gate reads whole
    days before the current one (`kept_gate`), so it is computed once a day and kept.
  - S8 (segments on absolute sample indices, fits kept by their inputs): the reference counts
    segments in rows from the history's first, so every boundary, and every fit, moves whenever
    rows are added or the 60-day history start moves. Fixed anchors validation segments on the
    samples [k·chunk, (k + 1)·chunk) and trains on the `train_window` samples ending `ahead`
    before (F1); seeds count from k. The first segment starts at least `warmup` samples after the
    history's first; once the history holds its full `history_samples` (its first sample then
    moves every epoch), only segments whose training window and label σ windows lie inside it
    count. The
    activity rule choosing a segment's meta-model miners is applied to its training rows, so
    nothing outside them enters its fit. Each fit, and a closed segment's edges, are looked up in a
    FitCache (`lbfgs_salience(cache=…)`) by the hash of exactly their inputs, so an epoch fits
    only a segment that is new, and the salience is bit for bit that of a scorer without a cache.
    As the newest segment is usually short, the classifier weighs a segment's edge by its recency
    × the edge's precision Σ_c n₁n₀/(n + 1) (S3's pooling) instead of by recency alone.

Everything runs single-threaded in sorted-hotkey column order with stable sorts and fixed seeds, so
identical panels give identical salience on every validator (§14).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Mapping, NamedTuple, Sequence

import numpy as np
from scipy.fft import prev_fast_len
from sklearn.linear_model import LogisticRegression

from mechanisms.mantis.bootstrap import block_bootstrap_coefs
from mechanisms.mantis.clones import group_shares, is_roots
from mechanisms.mantis.entry import checked_panel, single_threaded
from mechanisms.mantis.fitcache import FitCache, Rows, digest, fit_key, kept
from mechanisms.mantis.panel import Mode, presence, row_blocks
from mechanisms.mantis.significance import auc_columns, gate_window, holm, ranks, shift_p
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
    # fixed mode only: the significance gate (S7)
    sig_alpha: float = 0.01  # family-wise error over the (miner, path) hypotheses tested (Holm)
    sig_min_shift: int = 1_440  # the smallest circular shift of the null, in samples (at least 2·ahead)

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


def kept_cohorts(raw: np.ndarray, present: np.ndarray, sidx: np.ndarray, p: LbfgsParams,
                 cache: FitCache | None = None) -> np.ndarray:
    """Fixed mode's `find_cohorts`, on the whole days of the history before the current one (as the
    gate's window, `gate_window`), looked up in `cache` by exactly its inputs: a cohort needs
    cohort_min_rows joint rows, days of them, so a day's lag costs nothing, and each day's cohorts
    are computed once."""
    lo, hi = gate_window(int(sidx[0]), int(sidx[-1]), p.rows_per_day, p.history_samples, 0, 0)
    w = slice(*(int(i) for i in np.searchsorted(sidx, [lo, hi])))
    H = raw.shape[1]
    key = None if cache is None else fit_key(
        "lbfgs.cohorts.v1", p.cohort_min_rows, p.cohort_mean_tol, p.cohort_corr, digest(raw[w], present[w]))
    root = kept(cache, key, lambda: find_cohorts(raw[w], present[w], p), lambda v: is_roots(v, H))
    return root.astype(np.intp)


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
    # fixed mode (S7): which miners may earn salience in the classifier path and in the q-path
    cls_ok: np.ndarray | None = None  # (R,) bool; None: every miner (compat)
    q_ok: np.ndarray | None = None
    cache: FitCache | None = None  # fixed mode (S8): fits and closed segments' edges by their inputs


def _read(X: np.ndarray, rows: np.ndarray, cols: np.ndarray, dims: slice) -> np.ndarray:
    """X[rows][:, cols, dims] as float32 with non-finite values → 0, read in row blocks."""
    out = np.empty((len(rows), len(cols), len(range(*dims.indices(X.shape[2])))), dtype=np.float32)
    whole = np.array_equal(cols, np.arange(X.shape[1]))
    for r0, block in row_blocks(X, rows, _BLOCK_ROWS // 4):  # (a block the cache holds)
        o = out[r0 : r0 + len(block)]
        if whole:
            o[...] = block[:, :, dims]
        else:
            np.take(block[:, :, dims], cols, axis=1, out=o)
        np.copyto(o, np.float32(0), where=~np.isfinite(o))
    return out


def _present(X: np.ndarray, rows: np.ndarray, cols: np.ndarray, mode: Mode) -> np.ndarray:
    out = np.empty((len(rows), len(cols)), dtype=bool)
    for r0, block in row_blocks(X, rows, _BLOCK_ROWS):
        out[r0 : r0 + len(block)] = presence(block, mode)[:, cols]
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
    if mode == "fixed":
        imp = _classifier_anchored(d, valid, y, votes, p)
        if imp is None:
            return {}
        imp = uniqueness_penalty(imp, votes[-p.overlap_rows :], mode, y[-p.overlap_rows :])
        return keep_top(imp, p.keep_top)
    segments = walk_forward_segments(len(y), p)
    gamma = recency_gamma(p)
    acc = np.zeros(R)
    weight_sum = 0.0
    for si, (vs, ve) in enumerate(segments):
        yv = y[vs:ve]
        if np.unique(yv).size < 2:
            continue
        edge = balanced_accuracy(votes[vs:ve], yv, mode) - chance_level(yv, mode)
        lift = np.maximum(edge, 0.0)
        if lift.max() <= 0:
            continue
        train = np.arange(max(0, vs - p.train_window), vs)
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
                meta_imp += coefs**2  # the reference's |coef|² (fixed: S5)
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
        acc += rw * seg_imp
        weight_sum += rw
    if weight_sum <= 0:
        return {}
    imp = uniqueness_penalty(acc / weight_sum, votes[-p.overlap_rows :], mode, y[-p.overlap_rows :])
    return keep_top(imp, p.keep_top)


class Segment(NamedTuple):
    """A fixed-mode walk-forward segment on the absolute grid of sample indices (S8)."""

    k: int  # validation samples [k·chunk, (k + 1)·chunk); seeds count from k
    start: int  # k·chunk
    end: int  # (k + 1)·chunk
    closed: bool  # every validation sample's label horizon has passed: its rows are final


def anchored_segments(sidx: np.ndarray, p: LbfgsParams) -> list[Segment]:
    """S8: the segments of a history whose samples are `sidx` (sorted): validation on the samples
    [k·chunk, (k + 1)·chunk), training on [start − train_window, start − ahead), so a segment's rows,
    and its fits, are the same in every epoch that scores it. The first starts at least `warmup`
    samples after the history's first. While the history is shorter than `history_samples` its
    first sample is the panel's first and stays, so a training window may begin before it; once
    the history is full and its first sample moves every epoch, only segments whose training window
    and the σ windows its labels need lie inside it count."""
    if not len(sidx):
        return []
    first, last = int(sidx[0]), int(sidx[-1])
    young = first > last - p.history_samples + 1
    margin = max(p.sigma_window, p.q_sigma_window) + 2 * p.ahead
    out = []
    for k in range(-(-(first + p.warmup) // p.chunk), last // p.chunk + 1):
        start, end = k * p.chunk, (k + 1) * p.chunk
        if young or start - p.train_window - margin >= first:
            out.append(Segment(k, start, end, last >= end - 1 + p.ahead))
    return out


def _lookup(cache: FitCache | None, key: bytes, compute) -> np.ndarray:
    """The stored float64 array under `key`, or `compute()` stored there; downstream values are always
    computed from the array as stored, so a hit and a fresh fit give the same bits."""
    def packed() -> np.ndarray:  # stores keep flat vectors: the shape goes first
        got = np.asarray(compute(), dtype=np.float64)
        return np.concatenate([[got.ndim], got.shape, got.ravel()])

    return _unpacked(kept(cache, key, packed, lambda v: _unpacked(v) is not None))


def _unpacked(flat: np.ndarray | None) -> np.ndarray | None:
    """An array `_lookup` stored ([ndim, *shape, *values]), or None when the entry is not one (a
    damaged store: a miss, fitted again)."""
    if flat is None or flat.ndim != 1 or not len(flat) or not 0 <= flat[0] <= 8 or flat[0] != int(flat[0]):
        return None
    ndim = int(flat[0])
    shape = flat[1 : 1 + ndim]
    if len(shape) != ndim or not np.all((shape >= 0) & (shape == np.floor(shape))):
        return None
    shape = tuple(int(n) for n in shape)
    values = flat[1 + ndim :]
    return values.reshape(shape) if values.size == int(np.prod(shape)) else None


def _classifier_anchored(d: _Data, valid: np.ndarray, y: np.ndarray, votes: np.ndarray,
                         p: LbfgsParams) -> np.ndarray | None:
    """Fixed mode's classifier importance before the uniqueness penalty: per anchored segment (S8),
    the S4 edge on its validation rows × the meta-weights of the bootstrapped one-vs-rest models
    fitted on its training window over the miners active there (S6) with the best training
    balanced accuracy (S5); signed and clipped after the recency-weighted average (S1). None when
    no segment counts."""
    sidx = d.sidx[valid]
    segments = [g for g in anchored_segments(d.sidx, p)
                if np.searchsorted(sidx, g.end) - np.searchsorted(sidx, g.start) >= p.min_segment]
    gamma = recency_gamma(p)
    R = d.raw.shape[1]
    acc = np.zeros(R)
    weight_sum = 0.0
    for si, g in enumerate(segments):
        v0, v1 = np.searchsorted(sidx, [g.start, g.end])
        yv = y[v0:v1]
        if np.unique(yv).size < 2:
            continue
        edge = _segment_edge(d, valid[v0:v1], yv, p, g.closed)  # S4
        if d.cls_ok is not None:
            edge = edge * d.cls_ok  # S7: only a miner whose forecasts pass the test earns
        lift = np.maximum(edge, 0.0)
        if lift.max() <= 0:
            continue
        t0, t1 = np.searchsorted(sidx, [g.start - p.train_window, g.start - p.ahead])  # F1 in samples
        if t1 <= t0:
            continue
        meta_weight = _meta_weights(d, valid[t0:t1], y[t0:t1], votes[t0:t1], g.k, p)
        if not sanity_vote(votes[v0:v1], lift * meta_weight, yv, "fixed"):
            continue
        rw = gamma ** (len(segments) - 1 - si) * _edge_precision(yv)  # S8: recency × evidence
        acc += rw * edge * meta_weight  # S1: signed, clipped after averaging
        weight_sum += rw
    if weight_sum <= 0:
        return None
    return np.maximum(acc / weight_sum, 0.0)


def _edge_precision(y: np.ndarray) -> float:
    """Σ_c n₁n₀/(n + 1) over the buckets of y: the inverse variance (÷ 12) of probability_edge's
    pooled AUC under no skill, so a segment's edge counts by the evidence it rests on (S3, S8)."""
    n = len(y)
    counts = np.bincount(y[y >= 0], minlength=N_CLASSES).astype(np.float64)
    return float((counts * (n - counts)).sum() / (n + 1))


def _segment_edge(d: _Data, rows: np.ndarray, y: np.ndarray, p: LbfgsParams, closed: bool) -> np.ndarray:
    """probability_edge on a segment's validation rows; a closed segment's is kept in the cache."""
    if not closed:
        return probability_edge(d, rows, y, p)
    key = fit_key("lbfgs.edge.v1", p.prob_floor, digest(Rows(d.raw, rows), Rows(d.present, rows), y))
    return _lookup(d.cache, key, lambda: probability_edge(d, rows, y, p))


def _meta_weights(d: _Data, rows: np.ndarray, y: np.ndarray, votes: np.ndarray, k: int,
                  p: LbfgsParams) -> np.ndarray:
    """(R,) a segment's meta-weights: the miners active on its training rows (S6), the best
    `top_by_ba` of them by training balanced accuracy, one bootstrapped L2 model per bucket on their
    bucket probabilities (seed = seed + cls_seed_stride·(k + 1) + bucket), Σ_c |coef_c| (S5)
    normalised to a maximum of 1; all ones when no model has weight. The weights are looked up by
    the hash of exactly these inputs (a segment's training rows lie in the past: every epoch finds
    them), and the models by the hash of theirs."""
    if d.cache is None:
        return _meta_weights_of(d, d.raw[rows], y, votes, k, p)
    key = fit_key("lbfgs.meta.v1", p.prob_floor, p.cls_C, p.cls_max_iter, p.replicates, p.block, p.seed,
                  p.cls_seed_stride, p.recent, p.recent_mass, p.active_p, p.active_frac, p.top_by_ba, k,
                  digest(Rows(d.raw, rows), votes, y))
    return _lookup(d.cache, key, lambda: _meta_weights_of(d, d.raw[rows], y, votes, k, p))


def _meta_weights_of(d: _Data, raw: np.ndarray, y: np.ndarray, votes: np.ndarray, k: int,
                     p: LbfgsParams) -> np.ndarray:
    """`_meta_weights` computed, on the training rows' bucket probabilities `raw`."""
    R = d.raw.shape[1]
    act = np.flatnonzero((raw > p.active_p).any(axis=2).sum(axis=0) > p.active_frac * len(raw))
    ba = balanced_accuracy(votes, y, "fixed")
    sel = act[np.argsort(-ba[act], kind="stable")[: min(p.top_by_ba, len(act))]]
    x = raw[:, sel]
    seed = p.seed + p.cls_seed_stride * (k + 1)
    key = fit_key("lbfgs.cls.v1", p.prob_floor, p.cls_C, p.cls_max_iter, p.replicates, p.block, seed, p.recent,
                  p.recent_mass, digest(x, y))

    def fit() -> np.ndarray:
        coefs = np.full((N_CLASSES, len(sel)), np.nan)  # NaN: no model for that bucket
        bp = bucket_probabilities(x, p.prob_floor)
        w = recent_mass_weights(len(raw), p.recent, p.recent_mass)
        for c in range(N_CLASSES):
            yc = (y == c).astype(np.int64)
            if np.unique(yc).size < 2:
                continue
            got = _bootstrap(bp[:, :, c].astype(np.float64), yc, w, p.cls_C, p.cls_max_iter, seed + c, "fixed", p)
            if got is not None:
                coefs[c] = got
        return coefs.ravel()

    coefs = _lookup(d.cache, key, fit).reshape(N_CLASSES, len(sel))
    meta_imp = np.zeros(len(sel))
    for c in range(N_CLASSES):
        if not np.isnan(coefs[c]).any():
            meta_imp += coefs[c]
    meta_weight = np.zeros(R)
    if meta_imp.max(initial=0.0) > 0:
        meta_weight[sel] = meta_imp / meta_imp.max()
    else:
        meta_weight[:] = 1.0
    return meta_weight


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


def _q_walk_forward(d, bins, p, valid, sig, up, dn) -> np.ndarray | None:
    """Fixed mode's q importance (F4, S1, S3, S8): per anchored segment and per (bucket, barrier), a
    bootstrapped fit on the segment's embargoed training rows of that bucket (seed = seed +
    cls_seed_stride·(k + 1) + q_seed_stride·bucket + barrier, k the segment's number) gives
    meta-weights |coef|/max; each miner's out-of-sample AUC edge on the segment is weighted by that,
    by 1/Var(AUC) and by the segment's recency; the pooled signed mean is clipped at 0. Fits, and a
    closed segment's AUCs, are looked up by the hash of their inputs."""
    rows_all = np.flatnonzero(valid)
    s_all = d.sidx[rows_all]
    segments = [g for g in anchored_segments(d.sidx, p)
                if np.searchsorted(s_all, g.end) - np.searchsorted(s_all, g.start) >= p.min_segment]
    gamma = recency_gamma(p)
    acc = np.zeros(d.raw.shape[1])
    weight_sum = 0.0
    for si, g in enumerate(segments):
        bounds = [g.start - p.train_window, g.start - p.ahead, g.start, g.end]
        t0, t1, v0, v1 = np.searchsorted(s_all, bounds)
        train_all, val_all = rows_all[t0:t1], rows_all[v0:v1]  # F1: training ends h samples before
        active = d.present[train_all].mean(axis=0) > p.active_frac  # the classifier's activity rule (S6)
        seg = np.zeros(d.raw.shape[1])
        n_models = 0
        seg_w = 0.0
        for c, start in Q_START.items():
            train = train_all[bins.labels[train_all] == c]
            val = val_all[bins.labels[val_all] == c]
            if len(train) < p.q_min_rows or len(val) == 0:
                continue
            for j, m in enumerate(p.q_thresholds):
                hit_t = _hit(c, m, train, sig, up, dn)
                hit_v = _hit(c, m, val, sig, up, dn)
                if np.unique(hit_t).size < 2 or np.unique(hit_v).size < 2:
                    continue
                coefs = _q_fit(d, train, hit_t, active, start + j,
                               p.seed + p.cls_seed_stride * (g.k + 1) + p.q_seed_stride * c + j, p)
                if np.isnan(coefs).any() or not coefs.max() > 0:
                    continue
                shown = d.present[val].mean(axis=0) * active  # S6: edges count by the rows they were shown on
                if d.q_ok is not None:
                    shown = shown * d.q_ok  # S7
                edge = (_q_auc(d, val, hit_v, start + j, g.closed) - 0.5) * shown
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


def _q_values(d: _Data, rows: np.ndarray, col: int) -> np.ndarray:
    """(n, R) float32 q column as stored (the inputs of `_q_features`)."""
    return d.X[d.rows[rows][:, None], d.cols[None, :], col]


def _q_fit(d: _Data, train: np.ndarray, hit: np.ndarray, active: np.ndarray, col: int, seed: int,
           p: LbfgsParams) -> np.ndarray:
    """(R,) bootstrapped |coef| of one (bucket, barrier) model on logit(q) of the training rows (miners
    inactive there count as even odds), NaN when no model fits; looked up by its inputs' hash."""
    values = _q_values(d, train, col)
    present = d.present[train]
    times = d.sidx[train]
    key = fit_key("lbfgs.q.v1", p.q_C, p.q_max_iter, p.replicates, p.block, seed, p.recent, p.recent_mass, EPS,
                  digest(values, present, active, hit, times))

    def fit() -> np.ndarray:
        Z = _q_features(d, train, col)
        Z[:, ~active] = 0.0  # a miner seen on a few rows cannot own a model's largest |coef|
        w = recent_mass_weights(len(train), _recent_count(times, p.recent), p.recent_mass)
        coefs = _bootstrap(Z, hit, w, p.q_C, p.q_max_iter, seed, "fixed", p)
        return np.full(d.raw.shape[1], np.nan) if coefs is None else coefs

    return _lookup(d.cache, key, fit)


def _q_auc(d: _Data, val: np.ndarray, hit: np.ndarray, col: int, closed: bool) -> np.ndarray:
    """(R,) each miner's AUC of its q on the validation rows it submitted; a closed segment's is kept."""
    if not closed:
        return auc_columns(_q_features(d, val, col), hit, d.present[val])
    key = fit_key("lbfgs.qauc.v1", EPS, digest(_q_values(d, val, col), d.present[val], hit))
    return _lookup(d.cache, key, lambda: auc_columns(_q_features(d, val, col), hit, d.present[val]))


# -- significance gate (fixed, S7) --------------------------------------------------------------


_GATE_CHUNK = 16  # miners read together by the significance gate


def fast_ranks(values: np.ndarray) -> np.ndarray:
    """significance.ranks of each column of `values` (T,) or (T, C): average ranks 1..n of the finite
    values, NaN elsewhere; by counting when every finite value is a float16 (as the ledger stores
    them, §14), the same numbers in O(n)."""
    v = np.asarray(values, dtype=np.float32)
    if v.ndim == 1:
        return fast_ranks(v[:, None])[:, 0]
    ok = np.isfinite(v)
    with np.errstate(over="ignore", invalid="ignore"):
        half = np.where(ok, v, np.float32(0)).astype(np.float16)
    if not (half.astype(np.float32) == np.where(ok, v, np.float32(0))).all():
        return np.stack([ranks(v[:, c].astype(np.float64)) for c in range(v.shape[1])], axis=1)
    bits = half.view(np.uint16)
    key = np.where(bits >= 0x8000, 0xFFFF - bits, bits + 0x8000).astype(np.uint16)  # order-preserving
    key[half == 0] = 0x8000  # −0 ties with +0
    key[~ok] = 0  # counted below the finite values, then taken out
    out = np.empty(v.shape)
    for c in range(v.shape[1]):
        k = key[:, c]
        counts = np.bincount(k, minlength=0x10000)
        counts[0] -= int(len(k) - ok[:, c].sum())
        before = np.cumsum(counts) - counts
        out[:, c] = before[k] + (counts[k] + 1) / 2.0
    out[~ok] = np.nan
    return out


def _centred_columns(values: np.ndarray, pos: np.ndarray, n: int) -> np.ndarray:
    """(C, n) float64: column c of `values` (T, C) centred over its finite entries and placed at grid
    positions `pos`; 0 wherever there is no value (a missed sample, an absent forecast, a row without
    that outcome), so every series is defined at every sample and a shift moves all of it."""
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    counts = ok.sum(axis=0)
    sums = np.where(ok, values, 0.0).sum(axis=0)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    out = np.zeros((values.shape[1], n))
    out[:, pos] = np.where(ok, values - means, 0.0).T
    return out


def gate_outcomes(d: _Data, bins: Bins, p: LbfgsParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rows, pos, bucket outcome spectra (5, ·), barrier outcome spectra (12, ·)) on the sample grid:
    the realised bucket one-hot where a row has a label, and per q column the barrier event it prices
    on the rows of its bucket (causal σ: the q-path's rows), centred and 0 elsewhere. The grid is the
    newest n samples, n the largest FFT-friendly length within the panel's span (a few of the oldest
    samples may be left out); `rows` are d's rows on it, `pos` their positions."""
    span = int(d.sidx[-1] - d.sidx[0]) + 1
    n = prev_fast_len(span, real=True)
    pos = (d.sidx - (d.sidx[-1] - n + 1)).astype(np.int64)
    rows = np.flatnonzero(pos >= 0)
    pos = pos[rows]
    labels = bins.labels[rows]
    onehot = np.where((labels >= 0)[:, None], (labels[:, None] == np.arange(N_CLASSES)).astype(np.float64), np.nan)
    valid, sig, up, dn = _q_models(d, bins, p)
    events = np.full((len(d.sidx), 3 * len(Q_START)), np.nan)
    for c, start in Q_START.items():
        at = np.flatnonzero(valid & (bins.labels == c))
        for j, m in enumerate(p.q_thresholds):
            events[at, start - N_CLASSES + j] = _hit(c, m, at, sig, up, dn)
    return (rows, pos, np.fft.rfft(_centred_columns(onehot, pos, n), axis=1),
            np.fft.rfft(_centred_columns(events[rows], pos, n), axis=1))


def significance_gate(d: _Data, bins: Bins, p: LbfgsParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """S7: (cls_ok, q_ok, p-values (R, 2)): may a miner earn in the classifier path, in the q-path?

    Per miner present on more than `active_frac` of the rows, two circular-shift tests of its
    forecasts against the outcomes they claim to forecast, S(k) = Σ_c Σ_t f_c(t − k)·o_c(t) (as
    significance.shift_statistics): the ranks of its five submitted bucket probabilities (over the
    rows it submitted) against the realised bucket's one-hot, jointly, and the ranks of its twelve
    barrier probabilities against the barrier events on the rows of their bucket, jointly. Every
    series is centred over the samples where it has a value and is 0 elsewhere, so a shifted forecast
    meets the outcomes at as many rows as the aligned one (the support of a sparse outcome, its
    bucket's rows, is not carried into the null). On ranks a column's aligned statistic is
    ≈ n₁n₀·(AUC − 0.5), so the joint statistic pools the per-column AUC edges with S3/S4's
    inverse-variance weights. p-values by `shift_p`; Holm's step-down at `sig_alpha` over every
    (miner, path) tested; untested miners pass nothing."""
    R = d.raw.shape[1]
    pvals = np.ones((R, 2))
    ok = np.zeros((R, 2), dtype=bool)
    tested = np.flatnonzero(d.present.mean(axis=0) > p.active_frac)
    if not len(tested):
        return ok[:, 0], ok[:, 1], pvals
    rows, pos, spec_b, spec_q = gate_outcomes(d, bins, p)
    n = int(pos[-1]) + 1
    min_shift = max(p.sig_min_shift, 2 * p.ahead)
    for c0 in range(0, len(tested), _GATE_CHUNK):
        chunk = tested[c0 : c0 + _GATE_CHUNK]
        values = np.empty((len(rows), len(chunk), DIM), dtype=np.float32)
        for r0, block in row_blocks(d.X, d.rows[rows], _BLOCK_ROWS):
            values[r0 : r0 + len(block)] = block[:, d.cols[chunk]]
        here = d.present[rows][:, chunk]
        for m, j in enumerate(chunk):
            ranked = fast_ranks(np.where(here[:, m, None], values[:, m], np.nan))
            spectra = np.conj(np.fft.rfft(_centred_columns(ranked, pos, n), axis=1))
            pvals[j, 0] = shift_p((spectra[:N_CLASSES] * spec_b).sum(axis=0), n, min_shift)[1]
            pvals[j, 1] = shift_p((spectra[N_CLASSES:] * spec_q).sum(axis=0), n, min_shift)[1]
    ok[tested] = holm(pvals[tested].ravel(), p.sig_alpha).reshape(len(tested), 2)
    return ok[:, 0], ok[:, 1], pvals


def gate_bounds(first: int, last: int, p: LbfgsParams) -> tuple[int, int]:
    """S7's window of days (`gate_window`): σ windows, two horizons and a day settle the labels and
    barrier events after a moving history start, as for the segments."""
    return gate_window(first, last, p.rows_per_day, p.history_samples,
                       max(p.sigma_window, p.q_sigma_window) + 2 * p.ahead + p.rows_per_day, p.ahead)


def kept_gate(d: _Data, bins: Bins, p: LbfgsParams, first: int) -> tuple[np.ndarray, np.ndarray]:
    """S7's (cls_ok, q_ok) on the day's window of d's rows (`gate_window`; `first` is the history's
    first sample), looked up in d's cache by exactly its inputs and stored: the gate is the same
    all day, so the epochs after a day's first compute none."""
    R = d.raw.shape[1]
    lo, hi = gate_bounds(first, int(d.sidx[-1]), p)
    w = slice(*(int(i) for i in np.searchsorted(d.sidx, [lo, hi])))  # views, not copies
    if w.stop <= w.start:
        return np.zeros(R, dtype=bool), np.zeros(R, dtype=bool)
    window = _Data(d.mode, d.sidx[w], d.prices[w], d.present[w], d.raw[w], d.X, d.rows[w], d.cols)
    window_bins = Bins(bins.labels[w], bins.returns[w], bins.sigma[w])  # (σ: unread by the gate)
    key = None if d.cache is None else fit_key(
        "lbfgs.gate.v2", p.sig_alpha, p.sig_min_shift, p.active_frac, p.ahead, p.q_thresholds, p.q_sigma_window, EPS,
        Rows(d.X, window.rows), d.cols, window.sidx, window.prices, window.present, window_bins.labels,
        window_bins.returns)
    ok = kept(d.cache, key, lambda: np.concatenate(significance_gate(window, window_bins, p)[:2]),
              lambda v: v.shape == (2 * R,) and bool(np.isin(v, (0.0, 1.0)).all()))
    return ok[:R] == 1.0, ok[R:] == 1.0


# -- entry point --------------------------------------------------------------------------------


def lbfgs_salience(
    X: np.ndarray,
    sidx: np.ndarray,
    prices: np.ndarray,
    hotkeys: Sequence[str],
    mode: Mode = "fixed",
    params: LbfgsParams = LbfgsParams(),
    cache: FitCache | None = None,
) -> dict[str, float]:
    """Salience per hotkey (sums to 1; every hotkey a key, 0.0 when unpaid), or {} when nothing can
    be learned from the panel. Columns are taken in sorted-hotkey order, so the result does not
    depend on panel order. Fixed mode looks its fits (and closed segments' edges) up in `cache` and
    stores the ones it computes (S8): the result is the same with or without one; compat ignores it."""
    X, sidx, prices, hotkeys, cols = checked_panel(X, sidx, prices, hotkeys, mode, dim=DIM)
    with single_threaded():
        scores = _salience(X, sidx, prices, cols, mode, params, cache if mode == "fixed" else None)
    if scores is None:
        return {}
    return {hotkeys[c]: float(s) for c, s in zip(cols, scores)}


def _salience(X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, cols: np.ndarray, mode: Mode,
              p: LbfgsParams, cache: FitCache | None = None) -> np.ndarray | None:
    """Scores (H,) in sorted-hotkey column order, or None; the caller holds the thread limit."""
    rows = capped_history(priced_rows(sidx, prices), sidx, mode, p.history_samples, p.history_rows)
    if len(rows) < p.min_rows or len(cols) == 0:
        return None
    present = _present(X, rows, cols, mode)
    raw = _read(X, rows, cols, slice(0, N_CLASSES))
    root = find_cohorts(raw, present, p) if mode == "compat" else kept_cohorts(raw, present, sidx[rows], p, cache)
    share = None
    if mode == "fixed" and (root != np.arange(len(cols))).any():
        s = sidx[rows]
        lo, hi = gate_bounds(int(s[0]), int(s[-1]), p)
        root, share = group_shares(root, present, (s >= lo) & (s < hi))
    reps = np.flatnonzero(root == np.arange(len(cols)))
    d = _Data(mode, sidx[rows], prices[rows], present[:, reps], raw[:, reps], X, rows, cols[reps], cache=cache)
    bins = make_bins(d.prices, d.sidx, p.ahead, p.sigma_window, mode, p.z_inner, p.z_outer)
    if int((bins.labels >= 0).sum()) < p.min_rows:
        return None
    if mode == "fixed":
        d.cls_ok, d.q_ok = kept_gate(d, bins, p, int(sidx[rows[0]]))  # S7
    cls = classifier_path(d, bins, p)
    q = q_path(d, bins, p)
    blended = combine(cls, q, p)
    if not blended:
        return None
    scores = np.zeros(len(cols))
    for k, v in blended.items():
        scores[reps[k]] = v
    scores = spread_cohorts(scores, root) if share is None else scores[root] * share
    total = scores.sum()
    return scores / total if total > 0 else None
