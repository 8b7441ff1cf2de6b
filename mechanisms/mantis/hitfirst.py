"""MANTIS HITFIRST salience (mantis.md §11.3, then the §12.1 clone post-pass): which miners' 3-way
probabilities tell which barrier the price touches first.

At each sample t a miner submits [P(up first), P(down first), P(neither)] for the next `ahead`
samples. The label asks whether the log price, measured from t, first reaches +σ_t (label 0), first
reaches −σ_t (label 1), or neither / both at the same sample (label 2); σ_t is the rolling std of
`ahead`-sample log returns over a `vol_window` window. Each miner's probabilities become two
features, logit P(up) and logit P(down) (after clipping to [ε, 1 − ε] and renormalising), and two
L2 logistic models, "up first" on the up features and "down first" on the down features, weigh all
miners together. A miner is paid for the weight its feature carries in both models, so for the
information it adds to the others, not for its own accuracy alone.

Panels: X (T, H, 3) with NaN where a miner did not submit, sample indices `sidx` (T,), prices (T,)
(NaN or ≤ 0 = missing: such rows are dropped, as the reference's builder drops them).

Modes:
  * "compat" reproduces the reference: rows are paired by row offset (F5), σ_t's window ends at the
    forward return r_t itself (F4), an all-zero row is a non-submission (F7, §7.4) whose features
    are 0, the history is capped at 432 000 *rows* (F6), and importance is the mean |coef| of four
    in-sample leave-one-block-out fits (a full fit when they all fail).
  * "fixed" applies §15:
      - F5: rows are paired by sample index. A label needs every sample of its horizon
        (sidx_t, sidx_t + ahead]: a missed sample could hide the first touch, and dropping the row
        whatever its path keeps the choice of labelled rows independent of the outcome (labelling
        rows whose first touch was seen before the hole would over-represent quick hits).
      - F4, causal σ: σ_t is the std of the `vol_window` newest returns r_i that had ended by t
        (sidx_i + ahead ≤ sidx_t).
      - F4, out of sample, anchored walk-forward: folds start on the absolute grid of sample
        indices k·fold_samples (7 days), and each is judged by a fit on the labelled rows of the
        train_samples (28 days) before it whose labels had ended when it starts (an embargo of
        `ahead` samples), so a fold's fit sees the same rows in every epoch. A fold is used only
        while the moving start of the F6 history cannot reach its training rows' σ windows (older
        ones drop out instead of changing); a panel too short for two folds tries half the
        length, a quarter, … (`anchored_folds`). A miner's importance in a model is |coef| of a
        fit on the labelled rows of the newest train_samples samples (so it follows the newest
        epochs), times its out-of-sample evidence share over the folds (H2). Every fit is kept in
        the caller's FitCache (the platform's is in the storage directory) under the hash of its
        exact inputs, design matrix and labels: an epoch refits only that newest fit of each model
        (and a fold that has just begun), and the result is the same bits with or without a cache.
      - F6: the history is capped by sample index (the last history_days·rows_per_day samples).
      - F7: presence is the explicit mask (no NaN); a genuine all-zero vector is a submission
        (its features are logit(1/3)).
    and four fixes of our own:
      - H1, standardised features: in each fit an absent row takes the miner's mean over its
        present training rows (no information, where compat's 0 is the claim "probability 1/2"),
        and every column is scaled to unit std over the training rows; a feature that does not
        vary over them is a zero column, so its coefficient is exactly 0 (compat pays constant
        miners: a constant column and the intercept are one direction the fit leaves
        undetermined). On raw logits |coef| shrinks for a miner who states the same information
        with sharper probabilities; standardised, |coef| is the std of the miner's term in the
        model's log-odds over the rows (a miner present on a fraction f of them, with the same
        skill, has √f of it), on one scale for every miner, and lbfgs is well conditioned.
      - H2, out-of-sample evidence share: on every judged fold, a miner's evidence is the
        covariance of its standardised forecast with the label (balanced weights), signed by the
        coefficient the fold's fit gives it; pooled over the folds it is a z-statistic τ (its
        variance from sums over batches of `ahead` consecutive rows, since neighbouring labels
        share most of their horizon). E[τ²] = θ² + 1, so √max(0, 1 − 1/τ²) (0 when τ ≤ 0) is the
        share of the evidence that is not noise, and |coef| is scaled by it. A miner whose fitted
        coefficient is noise has τ ≈ N(0, 1) and keeps little of it (a tenth on average); a
        miner whose forecasts pointed against the fit's use of them gets 0; a skilled miner's
        τ is large and its |coef| is kept whole. The evidence is the miner's own forecast, not
        its marginal value given the others, so k exact clones share the original's |coef|
        (L2 splits it evenly) and keep its evidence share: cloning neither gains nor loses.
      - H3, copies and splits gain nothing: exact clones and soft cohorts (§12.1's finders, on the
        newest scan_rows rows; cohorts, which need days of joint rows, on the whole days before
        today, found once a day and kept: `kept_cohorts`) are reduced to the member that
        submitted on the most rows before the fits, and the group's score is shared by the rows
        each member submitted among those the gate read (`clones.group_shares`: a copy that
        appears today takes nothing, and cannot stand for the group under a smaller hotkey)
        (compat collapses and equalises after the fit, where near-copies that miss the
        exact-clone tolerance inflate the L2 fit's Σ|coef|: 30 of them took four times the
        original's pay). A miner's importance is also scaled by √f, f the
        share of the importance fit's rows it submitted on: H1 leaves a column present on a
        fraction f about √f of a full miner's |coef|, so without it a model split over k hotkeys
        on disjoint rows earned √k times as much.
      - H4, significance before salience: forecasts that persist (noise that wanders like a real
        view of prices, a value held for hours) meet labels that overlap for `ahead` samples, so
        the rows are far from independent and chance alignment looks like skill: H1–H3 paid such
        miners 1–6 % of the devnet's salience. A miner earns only if its probabilities beat
        chance with the dependence kept in the null (`significance_gate`): one statistic, the
        ranks of its logit P(up) against 1[up first] plus the ranks of its logit P(down) against
        1[down first] (0 where it did not submit), against the same statistic with the forecast
        shifted circularly by sig_min_shift samples (a day) or more. A shift keeps both series'
        persistence and breaks only their alignment, so under "no skill" the aligned value is one
        more draw from the shifted ones whatever either series' autocorrelation; a day is far past
        the label's span (a shifted skilled forecast would still meet its own outcomes) and past
        any persistence a day does not outlast. The shifts of a persistent forecast hold far fewer
        independent draws than shifts, so p is taken from their effective number (`shift_p`).
        The test is run on the forecast as stated and on its AR(1) innovations (prewhitened by its
        own lag-1 autocorrelation: a skilled miner whose noise persists shows its skill in how its
        forecast moves: about twice the z on our AR(1) panels; the innovation at t meets the
        outcomes' at t + 1, since paired at t it would also meet the label of t − 1, which a
        forecast of recent returns knows in part), and the better p of the two is doubled. Each
        forecast is first standardised against its own past four horizons (`causal_z`): a level
        that wanders, the price's own above all, leans on the prices that follow it within a
        sample, and would pass as stated. Holm's step-down at sig_alpha = 0.05 over the miners
        tested (copy groups count once) bounds by 5 % the chance that any miner without skill
        earns: each one admitted is paid like a skilled one, so that chance, not the share of
        worthless miners among those admitted (Benjamini–Hochberg's false-discovery rate: it
        admitted a worthless miner in 5 of 12 planted panels, Holm in none), must be small. The
        gate leaves the fits alone (they and their cache do not depend on it); a miner that fails
        it gets 0. It reads whole days before the current one (`kept_gate`,
        `significance.gate_window`), so it is computed once a day and kept with the fits.
    A miner earns only once a fold whose fit saw it has been judged (H2) and it has a day of
    labelled rows (H4), so a new one earns nothing for a while (the platform's young-uid rule
    covers it).

Determinism (§14): columns in sorted-hotkey order, one BLAS thread, fixed block and fold boundaries,
no RNG (lbfgs is deterministic; random_state is passed as the reference does), a cached fit is the
stored float64 array a fresh one would give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sklearn
from scipy.fft import prev_fast_len
from sklearn.linear_model import LogisticRegression

from mechanisms.mantis.clones import (
    MIN_CORR,
    MIN_ROWS,
    SCAN_ROWS,
    clone_post_pass,
    find_clusters,
    find_correlated_cohorts,
    group_shares,
    is_roots,
    join_groups,
)
from mechanisms.mantis.entry import checked_panel, single_threaded
from mechanisms.mantis.fitcache import FitCache, Rows, fit_key, kept
from mechanisms.mantis.panel import Mode, in_columns, presence, row_blocks, take_rows
from mechanisms.mantis.significance import causal_z, gate_window, holm, ranks, shift_p
from mechanisms.mantis.series import (
    EPS, capped_history, causal_ends, forward_log_returns, forward_rows, priced_rows, rolling_std, safe_logit, trailing_std,
)

_BLOCK_ROWS = 4096  # row block of the feature pass: bounded temporaries
_BLOCK_COLS = 32  # column block of a fit's standardisation and of the gate's per-miner reads


@dataclass(frozen=True)
class HitfirstParams:
    """The reference's constants (rows are samples: 1440 a day).

    `ahead` is the label horizon in samples. A profile cannot override it: the registry sets it to the
    challenge's horizon_blocks / chain.sample_every (500 blocks: 100 samples in the reference).
    """

    ahead: int = 100
    # max(MIN_REQUIRED_SAMPLES = 7200, ceil(rows_per_day · 5 days)) = 7200, used three times:
    min_rows: int = 7_200  # rows (with a price) needed at all
    vol_window: int = 7_200  # returns in each σ window
    min_labelled: int = 7_200  # labelled rows needed
    eps: float = EPS  # probability clip before the logit
    # the two L2 logistic models (balanced, lbfgs)
    C: float = 1.0
    max_iter: int = 500
    tol: float = 1e-4
    random_state: int = 42
    lobo_blocks: int = 4  # compat: leave-one-block-out replicates
    # fixed: anchored walk-forward (F4 and the fit cache): folds start at multiples of fold_samples
    # (7 days); each is judged by a fit on the labelled rows of the train_samples (28 days) before it,
    # which needs at least min_train_rows of them
    fold_samples: int = 10_080
    train_samples: int = 40_320
    min_train_rows: int = 1_440
    # fixed: the significance gate (H4)
    sig_alpha: float = 0.05  # family-wise error over the miners tested (Holm)
    sig_min_shift: int = 1_440  # the smallest circular shift of the null, in samples (at least 2·ahead)
    sig_horizons: int = 4  # forecasts are standardised against their own past over this many horizons
    # history caps
    history_rows: int = 432_000  # compat: MAX_BLOCK_HISTORY applied to rows (F6)
    history_days: int = 60  # fixed: MAX_DAYS of samples
    rows_per_day: int = 1_440
    scan_rows: int = SCAN_ROWS  # the clone post-pass reads the newest rows only (§12.1)


def _check_mode(mode: str) -> None:
    if mode not in ("compat", "fixed"):
        raise ValueError(f"mode must be 'compat' or 'fixed', not {mode!r}")


# -- labels -------------------------------------------------------------------------------------


def sigma_series(log_price: np.ndarray, sidx: np.ndarray, ahead: int, window: int, mode: Mode) -> np.ndarray:
    """(T,) σ_t, the barrier distance at row t; NaN where it is not defined.

    r_i = lnp(i + ahead) − lnp(i), paired as `forward_log_returns` pairs rows in this mode.
    compat: σ_t = std(r_{t−window+1} … r_t), defined for window − 1 ≤ t < T − ahead; the window
    ends at the return over t's own horizon (the reference's look-ahead, F4), and rows are offsets
    (F5). fixed: the std of the `window` newest returns that had ended by t, i.e. of returns r_i
    with sidx_i + ahead ≤ sidx_t (returns without a partner sample are skipped).
    Both are sample stds (ddof 1) as `rolling_std` computes them. log_price must be finite.
    """
    _check_mode(mode)
    log_price = np.asarray(log_price, dtype=np.float64)
    sidx = np.asarray(sidx, dtype=np.int64)
    T = len(log_price)
    if mode == "compat":
        out = np.full(T, np.nan)
        r = forward_log_returns(log_price, sidx, ahead, "compat")[: max(0, T - ahead)]
        if len(r) >= window:
            out[window - 1 : T - ahead] = rolling_std(r, window)
        return out
    r = forward_log_returns(log_price, sidx, ahead, "fixed")
    return trailing_std(r, causal_ends(sidx, ahead, "fixed"), window)


def first_hit_labels(
    log_price: np.ndarray, sidx: np.ndarray, sigma: np.ndarray, ahead: int, mode: Mode
) -> np.ndarray:
    """(T,) int8: 0 = +σ_t reached first, 1 = −σ_t first, 2 = neither (or both at the same
    sample), −1 = no label.

    The path is lnp − lnp_t over the `ahead` rows after t; a touch is ≥ σ_t (up) or ≤ −σ_t (down),
    and "first" is the smaller offset. Rows without a finite σ_t > 0 get no label. compat: the next
    `ahead` rows whatever their sample indices (F5). fixed: the samples sidx_t + 1 … sidx_t + ahead,
    and only rows for which every one of them is present; since sample indices strictly increase,
    that is exactly the rows whose row t + ahead has sample index sidx_t + ahead.
    """
    _check_mode(mode)
    log_price = np.asarray(log_price, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    T = len(log_price)
    rows = np.flatnonzero(forward_rows(sidx, ahead, mode) >= 0)  # compat: t + ahead < T
    if mode == "fixed":
        rows = rows[forward_rows(sidx, ahead, "fixed")[rows] == rows + ahead]  # no missed sample inside
    with np.errstate(invalid="ignore"):
        rows = rows[np.isfinite(sigma[rows]) & (sigma[rows] > 0)]
    labels = np.full(T, -1, dtype=np.int8)
    if ahead < 1 or not len(rows):
        return labels
    s, base = sigma[rows], log_price[rows]
    never = ahead + 1
    up = np.full(len(rows), never, dtype=np.int64)
    dn = np.full(len(rows), never, dtype=np.int64)
    for k in range(1, ahead + 1):  # a loop over the horizon: (rows,) temporaries, never (rows, ahead)
        move = log_price[rows + k] - base
        up[(up == never) & (move >= s)] = k
        dn[(dn == never) & (move <= -s)] = k
    labels[rows] = np.where(up < dn, 0, np.where(dn < up, 1, 2))
    return labels


# -- features -----------------------------------------------------------------------------------


def _logit(p: np.ndarray, eps: float, mode: Mode) -> np.ndarray:
    """compat: the reference's log(p) − log(1 − p), so features (and scores) are bit-identical to
    it; fixed: `safe_logit` (log1p(−p): a rounding more accurate)."""
    if mode == "compat":
        q = np.clip(p, eps, 1 - eps)
        return np.log(q) - np.log(1.0 - q)
    return safe_logit(p, eps)


def hitfirst_features(
    X: np.ndarray, mode: Mode, eps: float = EPS, rows: np.ndarray | None = None, cols: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(up, dn, present) for the rows `rows` and columns `cols` of X (all by default): (N, H)
    float64 logits of P(up first) and P(down first) and the (N, H) presence mask.

    A submitted vector is clipped to [eps, 1 − eps] and renormalised to sum 1; up = logit of the
    first element, dn = logit of the second; 0 where the miner did not submit; non-finite → 0.
    Presence follows `mode` (compat: some element non-zero after NaN → 0, so an all-zero vector is
    absent; fixed: no NaN, so an all-zero vector counts and gives logit(1/3) twice).
    """
    _check_mode(mode)
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[2] != 3:
        raise ValueError(f"X must be (T, H, 3), got shape {X.shape}")
    rows = np.arange(X.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    N, H = len(rows), X.shape[1] if cols is None else len(cols)
    up, dn = np.zeros((N, H)), np.zeros((N, H))
    present = np.zeros((N, H), dtype=bool)
    for r0, block in row_blocks(X, rows, _BLOCK_ROWS):
        block = np.asarray(block if cols is None else block[:, cols], dtype=np.float64)
        here = presence(block, mode)
        with np.errstate(invalid="ignore", over="ignore"):
            clipped = [np.clip(np.where(np.isnan(block[:, :, d]), 0.0, block[:, :, d]), eps, 1 - eps) for d in range(3)]
            total = clipped[0] + clipped[1] + clipped[2]  # ≥ 3·eps > 0
            for out, d in ((up, 0), (dn, 1)):
                value = np.where(here, _logit(clipped[d] / total, eps, mode), 0.0)
                out[r0 : r0 + _BLOCK_ROWS] = np.nan_to_num(value, nan=0.0, posinf=0.0, neginf=0.0)
        present[r0 : r0 + _BLOCK_ROWS] = here
    return up, dn, present


# -- compat: in-sample leave-one-block-out ------------------------------------------------------


def block_bounds(n: int, blocks: int) -> np.ndarray:
    """Boundaries of `blocks` contiguous blocks of n rows: linspace(0, n, blocks + 1) truncated to
    integers (numpy's astype(int)), e.g. n = 10, 4 blocks → [0, 2, 5, 7, 10]."""
    return np.linspace(0, n, blocks + 1).astype(np.int64)


def _model(p: HitfirstParams) -> LogisticRegression:
    return LogisticRegression(
        C=p.C, l1_ratio=0.0, solver="lbfgs", class_weight="balanced", max_iter=p.max_iter, tol=p.tol,
        random_state=p.random_state,
    )


def _abs_coef(F: np.ndarray, y: np.ndarray, p: HitfirstParams) -> np.ndarray | None:
    if np.unique(y).size < 2:
        return None
    return np.abs(_model(p).fit(F, y).coef_.ravel())


def leave_one_block_out(F: np.ndarray, y: np.ndarray, params: HitfirstParams = HitfirstParams()) -> np.ndarray | None:
    """Mean |coef| of `lobo_blocks` L2 logistic fits, each on all rows but one block of
    `block_bounds`; replicates with one class are skipped. A single full fit when lobo_blocks ≤ 1,
    when there are fewer than 2·lobo_blocks rows, or when every replicate was skipped; None if that
    fit has one class too."""
    F = np.asarray(F, dtype=np.float64)
    y = np.asarray(y)
    n, blocks = len(y), params.lobo_blocks
    if blocks <= 1 or n < 2 * blocks:
        return _abs_coef(F, y, params)
    bounds = block_bounds(n, blocks)
    replicates = []
    for b in range(blocks):
        keep = np.ones(n, dtype=bool)
        keep[bounds[b] : bounds[b + 1]] = False
        coef = _abs_coef(F[keep], y[keep], params)
        if coef is not None:
            replicates.append(coef)
    if not replicates:
        return _abs_coef(F, y, params)
    return np.mean(np.stack(replicates), axis=0)


# -- fixed: walk-forward, out of sample ---------------------------------------------------------


def _standardise(F: np.ndarray, present: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """H1: per miner, the mean over its present training rows and the std over all training rows
    with absent rows at that mean; scale 0 marks a column to zero (fewer than two present rows, or a
    feature that does not vary)."""
    H = F.shape[1]
    mean, scale = np.zeros(H), np.zeros(H)
    for c0 in range(0, H, _BLOCK_COLS):  # a block of columns at a time: (rows, 32) temporaries
        c = slice(c0, c0 + _BLOCK_COLS)
        Ft, Pt = F[train, c], present[train, c]
        count = Pt.sum(axis=0)
        with np.errstate(invalid="ignore"):
            varies = (count >= 2) & (np.where(Pt, Ft, -np.inf).max(axis=0) > np.where(Pt, Ft, np.inf).min(axis=0))
        mean[c] = np.where(varies, np.where(Pt, Ft, 0.0).sum(axis=0) / np.maximum(count, 1), 0.0)
        dev = np.where(Pt, Ft - mean[c], 0.0)
        scale[c] = np.where(varies, np.sqrt((dev * dev).sum(axis=0) / max(len(train), 1)), 0.0)
    return mean, scale


def _design(F: np.ndarray, present: np.ndarray, rows: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Standardised features of `rows`; absent cells and non-varying columns are 0."""
    inv = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale > 0)
    Z = (F[rows] - mean) * inv
    Z[~present[rows]] = 0.0
    return Z


def _balanced_weights(y: np.ndarray) -> np.ndarray:
    """n / (2·n_class) per row (mean 1), the weights class_weight="balanced" gives a fit; y has
    both classes."""
    counts = np.bincount(y, minlength=2).astype(np.float64)
    return (len(y) / (2.0 * counts))[y]


@dataclass(frozen=True)
class Fold:
    """One anchored walk-forward fold, as ranges of the labelled rows (in sample order): rows
    [lo, hi) are judged by a fit on rows [train_lo, train_hi); `start` is its first sample index."""

    start: int
    train_lo: int
    train_hi: int
    lo: int
    hi: int


def anchored_folds(
    sidx: np.ndarray, ahead: int, history_start: int, params: HitfirstParams = HitfirstParams()
) -> list[Fold]:
    """The walk-forward folds of the labelled rows with sample indices `sidx` (increasing).

    Folds start on the absolute grid of sample indices k·L (L = fold_samples) and run to the next
    grid point. A fold starting at b is judged by a fit on the labelled rows with
    b − train_samples ≤ sidx_i and sidx_i + ahead ≤ b (their label had ended when the fold starts: an
    embargo of `ahead` samples), once there are min_train_rows of them. Its training rows are then
    the same in every epoch that sees it, provided their labels cannot change: a label needs the
    σ window before its row, so a fold is used only while b − train_samples lies at least
    vol_window + ahead samples, and a day of missed samples more, after `history_start` (the first
    sample of the F6 history: it moves on with every epoch once the history is full).

    A short panel with fewer than two such folds falls back to half the length, then a quarter, …
    (still on the absolute grid, so stable while the fallback holds), while a fold spans at least
    4·ahead samples: the longest length with two folds, else the longest with one, else none."""
    sidx = np.asarray(sidx, dtype=np.int64)
    if not len(sidx):
        return []
    length, fallback = max(1, params.fold_samples), []
    while True:
        folds = _folds_of_length(sidx, ahead, history_start, length, params)
        if len(folds) >= 2:
            return folds
        fallback = fallback or folds
        if length // 2 < max(4 * ahead, 1):
            return fallback
        length //= 2


def _folds_of_length(s: np.ndarray, ahead: int, history_start: int, length: int, p: HitfirstParams) -> list[Fold]:
    stable_from = history_start + p.vol_window + ahead + p.rows_per_day
    out = []
    for start in range((int(s[0]) // length + 1) * length, int(s[-1]) + 1, length):
        if start - p.train_samples < stable_from:
            continue
        train_lo, train_hi, lo, hi = (int(i) for i in np.searchsorted(
            s, [start - p.train_samples, start - ahead + 1, start, start + length]))
        if hi > lo and train_hi - train_lo >= p.min_train_rows:
            out.append(Fold(start, train_lo, train_hi, lo, hi))
    return out


def evidence_share(evidence: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """H2: the share of out-of-sample evidence that exceeds noise, per miner.

    τ = evidence / √variance is a z-statistic (≈ N(θ, 1)); E[τ²] = θ² + 1, so √max(0, τ² − 1)
    estimates |θ| and the share is √max(0, 1 − 1/τ²) for τ > 0, and 0 for τ ≤ 0 (the forecasts
    pointed against the model's use of them) or without evidence (variance 0)."""
    evidence = np.asarray(evidence, dtype=np.float64)
    variance = np.asarray(variance, dtype=np.float64)
    tau = np.divide(evidence, np.sqrt(variance, where=variance > 0, out=np.zeros_like(variance)),
                    where=variance > 0, out=np.zeros_like(evidence))
    tau2 = np.maximum(tau * tau, 1.0)
    return np.where(tau > 1.0, np.sqrt(1.0 - 1.0 / tau2), 0.0)


def fold_fit(D: np.ndarray, y: np.ndarray, params: HitfirstParams = HitfirstParams()) -> np.ndarray:
    """coef_ (k,) float64 of the L2 logistic model (balanced, lbfgs) on design D (n, k) and labels
    y (n,), both classes present. (Only |coef| and its sign are used: the intercept is not kept.)"""
    return np.array(_model(params).fit(D, y).coef_, dtype=np.float64).ravel()


def _standardised_fit(F: np.ndarray, present: np.ndarray, y: np.ndarray, train: np.ndarray, params: HitfirstParams,
                      cache: FitCache | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coef (H,), mean, scale): the model fitted on rows `train` (both classes) of H1's
    standardised features; columns that do not vary over them are left out of the fit (coef 0).
    With a cache the three are looked up by exactly their inputs (the solver's settings and
    version, the rows' features, presence and labels) and stored after fitting; the caller reads
    the stored float64 arrays either way, so a kept fit gives the same bits as a fresh one."""
    H = F.shape[1]

    def fit() -> np.ndarray:
        mean, scale = _standardise(F, present, train)
        cols = np.flatnonzero(scale > 0)
        coef = np.zeros(H)
        if len(cols):
            D = F[np.ix_(train, cols)]  # the one (rows, H) copy a fit holds: standardised in place
            D -= mean[cols]
            D *= 1.0 / scale[cols]
            D[~present[np.ix_(train, cols)]] = 0.0
            coef[cols] = fold_fit(D, y[train], params)
        return np.concatenate([coef, mean, scale])

    key = None if cache is None else fit_key(
        "hitfirst.standardised-fit", sklearn.__version__, params.C, params.max_iter, params.tol,
        params.random_state, Rows(F, train), Rows(present, train), np.asarray(y[train], dtype=np.int64))
    out = kept(cache, key, fit, lambda v: v.shape == (3 * H,) and bool(np.isfinite(v).all()))
    return out[:H], out[H : 2 * H], out[2 * H :]


def walk_forward_importance(
    F: np.ndarray, present: np.ndarray, y: np.ndarray, sidx: np.ndarray, folds: Sequence[Fold],
    params: HitfirstParams = HitfirstParams(), cache: FitCache | None = None, rows: np.ndarray | None = None,
) -> np.ndarray | None:
    """(H,) fixed-mode importance of one model: |coef| of a fit (H1 standardised) on the labelled
    rows of the newest train_samples samples, times each miner's out-of-sample evidence share over
    the walk-forward folds (H2) and √(its presence on that fit's rows) (H3); None when no fold
    has a fit (a training set with both classes).

    `rows` (default: all) are the labelled rows of F, present, y and sidx, in sample order; the
    folds' indices count them. Each fold's fit (and the newest one) is looked up in `cache` by its
    exact inputs (`_standardised_fit`). On each judged fold with both classes, a miner's evidence is
    Σ_i w_i (y_i − ȳ) · z_ij · sign(coef_j): the balanced-weighted covariance of its standardised
    forecast with the label, signed by how the fold's fit uses it. Labels `ahead` rows apart share
    most of their horizon, so the variance is taken over sums of consecutive `ahead`-row batches
    (batch means), not over rows. Evidence and variance are pooled over the judged folds.
    """
    F = np.asarray(F, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    rows = np.arange(len(y)) if rows is None else np.asarray(rows, dtype=np.int64)
    H = F.shape[1]
    evidence, variance = np.zeros(H), np.zeros(H)
    fitted = False
    for fold in folds:
        train = rows[fold.train_lo : fold.train_hi]
        if np.unique(y[train]).size < 2:
            continue
        coef, mean, scale = _standardised_fit(F, present, y, train, params, cache)
        fitted = True
        judged = y[rows[fold.lo : fold.hi]]
        if np.unique(judged).size < 2:
            continue
        w = _balanced_weights(judged)
        residual = w * (judged - (w @ judged) / w.sum())
        batch = max(1, params.ahead)
        for b0 in range(fold.lo, fold.hi, batch):  # one batch of rows at a time: (batch, H) temporaries
            b1 = min(fold.hi, b0 + batch)
            z = _design(F, present, rows[b0:b1], mean, scale)
            sums = (residual[b0 - fold.lo : b1 - fold.lo] @ z) * np.sign(coef)
            evidence += sums
            variance += sums * sums
    if not fitted:
        return None
    s = np.asarray(sidx, dtype=np.int64)[rows]
    newest = rows[int(np.searchsorted(s, s[-1] - params.train_samples + 1)) :]
    if np.unique(y[newest]).size < 2:
        return None
    coef = _standardised_fit(F, present, y, newest, params, cache)[0]
    # H1 pays a miner present on a fraction f of the rows about √f of a full one: √f more makes
    # submitting on few rows, or splitting one model over hotkeys, gain nothing (H3)
    shown = np.sqrt(present[newest].mean(axis=0))
    return np.abs(coef) * evidence_share(evidence, variance) * shown


# -- fixed: the significance gate (H4) ----------------------------------------------------------


def significance_gate(
    up: np.ndarray, dn: np.ndarray, present: np.ndarray, labels: np.ndarray, sidx: np.ndarray,
    params: HitfirstParams = HitfirstParams(),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """H4: (passed, z, p) per column: may the miner earn salience at all?

    Rows are consecutive panel rows (sample indices `sidx`, increasing) with their features and
    labels (−1: none). On the grid of the newest n samples (n the largest FFT-friendly length in
    their span), one joint circular-shift statistic per miner, S(k) = Σ_t [u(t − k)·a(t) +
    d(t − k)·b(t)]: u, d its ranks of logit P(up) and logit P(down), each first standardised
    against its own past sig_horizons·ahead values (`causal_z`), over the rows it submitted on,
    standardised, 0 where it did not submit (no claim; a missed sample is 0 in every series); a, b
    the standardised indicators 1[label = up], 1[label = down] on the labelled rows, 0 elsewhere. So
    a shifted forecast meets as many labels as the aligned one, and on ranks each term is a
    Mann–Whitney AUC edge that no extreme probability can dominate. The same statistic is also
    taken on the miner's AR(1) innovations, every series x replaced by x(t) − φ·x(t − 1) (φ the
    forecast's own lag-1 autocorrelation, so the null keeps its validity: the filter reads the
    forecast alone) and the forecast's innovation at t paired with the outcomes' at t + 1, where a
    persistent noise no longer hides a skilled miner's signal; p is twice
    the smaller of the two views' p. One-sided: a miner passes only if its probabilities move with
    what happens (`shift_p`, shifts of at least sig_min_shift and 2·ahead samples). Tested are the
    miners with a varying forecast on at least that many labelled rows (fewer: too few independent
    label spans for a normal statistic); Holm's step-down at sig_alpha over them: the chance that
    any miner without skill passes is at most sig_alpha. z is the view as stated."""
    H = up.shape[1]
    z_out, p_out = np.full(H, np.nan), np.ones(H)
    passed = np.zeros(H, dtype=bool)
    s = np.asarray(sidx, dtype=np.int64)
    min_shift = max(params.sig_min_shift, 2 * params.ahead)
    if not len(s) or min_shift < 1:
        return passed, z_out, p_out
    n = prev_fast_len(int(s[-1] - s[0]) + 1, real=True)
    first = int(np.searchsorted(s, s[-1] - n + 1))
    pos = s[first:] - (s[-1] - n + 1)
    lab = np.asarray(labels)[first:]
    known = lab >= 0
    # Each outcome column o as A = rfft(o) and, for the prewhitened view, o(t) − φ·o(t − 1) on the
    # samples t where both are labelled (0 elsewhere) = irfft(B − φ·C)
    pair = np.zeros(n, dtype=bool)
    pair[pos[known]] = True
    pair[1:] &= pair[:-1].copy()
    pair[0] = False
    outcomes = []
    for F, cls in ((up, 0), (dn, 1)):
        v = (lab[known] == cls).astype(np.float64)
        if len(v) and v.std() > 0:
            o = np.zeros(n)
            o[pos[known]] = (v - v.mean()) / v.std()
            before = np.zeros(n)
            before[1:] = o[:-1]
            outcomes.append((F, np.fft.rfft(o), np.fft.rfft(np.where(pair, o, 0.0)),
                             np.fft.rfft(np.where(pair, before, 0.0))))
    window = params.sig_horizons * params.ahead
    tested = []
    for j in range(H):
        if j % _BLOCK_COLS == 0:  # a block of miners' series, each contiguous (rows: one miner each)
            block = [np.ascontiguousarray(F[first:, j : j + _BLOCK_COLS].T) for F, *_ in outcomes]
        here = present[first:, j]
        if np.count_nonzero(here & known) < min_shift:
            continue
        raw = white = None
        for FT, (_, A, B, C) in zip(block, outcomes):
            # each value against the miner's own past (`causal_z`): a level that wanders, the
            # price's above all, is no skill however it meets the labels that follow
            cz = causal_z(FT[j % _BLOCK_COLS][here], window)
            ok = np.isfinite(cz)
            r = ranks(cz[ok])
            sd = float(r.std()) if len(r) else 0.0
            if not sd > 0:
                continue
            at = pos[here][ok]
            f = np.zeros(n)
            f[at] = (r - r.mean()) / sd
            term = np.conj(np.fft.rfft(f)) * A
            raw = term if raw is None else raw + term
            # prewhitened: x(t) − φ·x(t − 1) where both samples have a value, 0 elsewhere (a missed
            # sample is 0 in every series: filtered across it, the forecast and the outcomes would
            # jump at the same places, which only the aligned statistic would count); φ the
            # forecast's own lag-1 autocorrelation. The forecast's innovation at t meets the
            # outcomes' at t + 1, o(t + 1) − φ·o(t): paired at t it would also meet o(t − 1),
            # whose span the forecast made at t has partly seen, and recent returns would pass.
            mine = np.zeros(n, dtype=bool)
            mine[at] = True
            both = np.zeros(n, dtype=bool)
            both[1:] = mine[1:] & mine[:-1]
            lagged = np.zeros(n)
            lagged[1:] = f[:-1]
            phi = float(f[both] @ lagged[both]) / float(f @ f)
            innovation = np.roll(np.where(both, f - phi * lagged, 0.0), 1)
            term = np.conj(np.fft.rfft(innovation)) * (B - phi * C)
            white = term if white is None else white + term
        if raw is None:
            continue
        (z, p_raw), (_, p_white) = shift_p(raw, n, min_shift), shift_p(white, n, min_shift)
        if math.isfinite(z):
            tested.append(j)
            z_out[j], p_out[j] = z, min(1.0, 2.0 * min(p_raw, p_white))
    passed[tested] = holm(p_out[tested], params.sig_alpha)
    return passed, z_out, p_out


def gate_bounds(first: int, last: int, params: HitfirstParams = HitfirstParams()) -> tuple[int, int]:
    """H4's window of days (`gate_window`): σ windows and a horizon, and a day of missed samples,
    settle the labels after a moving history start, as for the folds."""
    return gate_window(first, last, params.rows_per_day, params.history_days * params.rows_per_day,
                       params.vol_window + params.ahead + params.rows_per_day, params.ahead)


def kept_gate(
    up: np.ndarray, dn: np.ndarray, present: np.ndarray, labels: np.ndarray, sidx: np.ndarray, first: int,
    params: HitfirstParams = HitfirstParams(), cache: FitCache | None = None,
) -> np.ndarray:
    """H4's `passed` (H,) on the day's window of the rows (`gate_window`; `first` is the history's
    first sample), looked up in `cache` by exactly its inputs and stored: the gate is the same all
    day, so the epochs after a day's first compute none."""
    lo, hi = gate_bounds(first, int(sidx[-1]), params)
    window = slice(*(int(i) for i in np.searchsorted(sidx, [lo, hi])))
    inputs = (up[window], dn[window], present[window], labels[window], sidx[window])
    key = None if cache is None else fit_key(
        "hitfirst.gate", params.sig_alpha, params.sig_min_shift, params.sig_horizons, params.ahead, *inputs)
    passed = kept(cache, key, lambda: significance_gate(*inputs, params)[0],
                  lambda v: v.shape == (up.shape[1],) and bool(np.isin(v, (0.0, 1.0)).all()))
    return passed == 1.0


# -- the salience -------------------------------------------------------------------------------


def training_rows(
    sidx: np.ndarray, prices: np.ndarray, mode: Mode, params: HitfirstParams = HitfirstParams()
) -> np.ndarray:
    """Panel rows the scorer trains on, in sample order: rows with a finite price > 0 (as the
    reference's builder keeps them), then the history cap: compat keeps the last `history_rows`
    of them (the reference applies its 432 000-block cap to rows, F6); fixed keeps those with
    sidx > max sidx − history_days·rows_per_day. Repeated sample indices are an error."""
    _check_mode(mode)
    sidx = np.asarray(sidx, dtype=np.int64)
    prices = np.asarray(prices, dtype=np.float64)
    if np.any(np.diff(np.sort(sidx)) == 0):
        raise ValueError("sidx must not repeat")
    return capped_history(priced_rows(sidx, prices), sidx, mode, params.history_days * params.rows_per_day,
                          params.history_rows)


def hitfirst_salience(
    X: np.ndarray,
    sidx: np.ndarray,
    prices: np.ndarray,
    hotkeys: Sequence[str],
    mode: Mode = "fixed",
    params: HitfirstParams = HitfirstParams(),
    cache: FitCache | None = None,
) -> dict[str, float]:
    """Salience per hotkey (sums to 1, every hotkey a key), or {} when nothing can be learned.

    Columns are put in sorted-hotkey order first, so the result does not depend on panel order.
    Fixed mode looks its fold fits up in `cache` and stores the ones it makes (the result is the
    same bits with or without one); compat ignores it.
    """
    X, sidx, prices, hotkeys, cols = checked_panel(X, sidx, prices, hotkeys, mode, dim=3)
    if not hotkeys:
        return {}
    with single_threaded():  # the clone pass included
        return _salience(in_columns(X, cols), sidx, prices, [hotkeys[c] for c in cols], mode, params, cache)


def copy_groups(X: np.ndarray, hotkeys: list[str], mode: Mode, cohorts: np.ndarray | None = None) -> np.ndarray:
    """(H,) each miner's group root (the index of its group's first hotkey; hotkeys sorted): exact
    clones of §12.1 on X's rows, joined with the soft cohorts' roots `cohorts` (default: §12.1's
    cohort finder on X's rows) (H3)."""
    if cohorts is None:
        cohorts = join_groups(find_correlated_cohorts(X, hotkeys, mode=mode), hotkeys)
    return join_groups(find_clusters(X, hotkeys, mode=mode), hotkeys, cohorts)


def kept_cohorts(X: np.ndarray, sidx: np.ndarray, rows: np.ndarray, hotkeys: list[str], p: HitfirstParams,
                 cache: FitCache | None = None) -> np.ndarray:
    """(H,) soft-cohort roots (§12.1's finder) on the whole days of the history `rows` before the
    current day (the gate's days, `gate_window`), at most scan_rows of them, looked up in `cache` by
    exactly its inputs: a cohort needs days of joint rows, so a day's lag costs nothing, and each
    day's cohorts are found once (exact clones, which need a single row's copy, are found every
    epoch)."""
    s = sidx[rows]
    lo, hi = gate_window(int(s[0]), int(s[-1]), p.rows_per_day, p.history_days * p.rows_per_day, 0, 0)
    window = rows[int(np.searchsorted(s, lo)) : int(np.searchsorted(s, hi))][-p.scan_rows :]
    H = len(hotkeys)
    key = None if cache is None else fit_key("hitfirst.cohorts", MIN_ROWS, MIN_CORR, tuple(hotkeys), Rows(X, window))
    compute = lambda: join_groups(find_correlated_cohorts(take_rows(X, window), hotkeys, mode="fixed"), hotkeys)  # noqa: E731
    return kept(cache, key, compute, lambda v: is_roots(v, H)).astype(np.intp)


def _salience(
    X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, hotkeys: list[str], mode: Mode, p: HitfirstParams,
    cache: FitCache | None = None,
) -> dict[str, float]:
    """hitfirst_salience on a checked panel in hotkey order; its caller holds the thread limit."""
    if mode == "compat":
        return _compat_salience(X, sidx, prices, hotkeys, p)
    rows = training_rows(sidx, prices, mode, p)
    if len(rows):  # H3: each copy group is scored once and its score is shared (`group_shares`)
        root = copy_groups(take_rows(X, rows[-p.scan_rows :]), hotkeys, mode, kept_cohorts(X, sidx, rows, hotkeys, p, cache))
        if (root != np.arange(len(hotkeys))).any():
            s = sidx[rows]
            lo, hi = gate_bounds(int(s[0]), int(s[-1]) - p.ahead, p)  # a horizon back: about the newest label
            rep, share = group_shares(root, presence(X, mode)[rows], (s >= lo) & (s < hi))
            reps = np.unique(rep)
            scored = _fixed_salience(X, sidx, prices, [hotkeys[j] for j in reps], p, cache, cols=reps)
            paid = np.array([scored[hotkeys[rep[j]]] * share[j] for j in range(len(hotkeys))]) if scored else []
            total = float(np.sum(paid))
            return {h: float(v / total) for h, v in zip(hotkeys, paid)} if total > 0 else {}
    return _fixed_salience(X, sidx, prices, hotkeys, p, cache)


def _compat_salience(
    X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, hotkeys: list[str], p: HitfirstParams
) -> dict[str, float]:
    """The reference's salience (compat): in-sample leave-one-block-out fits, then §12.1's post-pass."""
    mode: Mode = "compat"
    rows = training_rows(sidx, prices, mode, p)
    if len(rows) < max(p.min_rows, 1):
        return {}
    sidx, prices = sidx[rows], prices[rows]
    log_price = np.log(prices + EPS)  # the reference's log(price + ε)
    sigma = sigma_series(log_price, sidx, p.ahead, p.vol_window, mode)
    labels = first_hit_labels(log_price, sidx, sigma, p.ahead, mode)
    labelled = np.flatnonzero(labels >= 0)
    if len(labelled) < max(p.min_labelled, 1):
        return {}
    y_up = (labels[labelled] == 0).astype(np.int64)
    y_dn = (labels[labelled] == 1).astype(np.int64)
    up, dn, present = hitfirst_features(X, mode, p.eps, rows=rows[labelled])

    importance = np.zeros(len(hotkeys))
    for F, y in ((up, y_up), (dn, y_dn)):
        if np.unique(y).size < 2:
            continue
        coef = leave_one_block_out(F, y, p)
        if coef is not None:
            importance += coef
    total = float(importance.sum())
    if not np.isfinite(total) or total <= 0:
        return {}
    salience = {hk: float(v) for hk, v in zip(hotkeys, importance / total)}
    # the post-pass reads the newest scan_rows rows only: hand it just those (no copy of the rest)
    return clone_post_pass(salience, take_rows(X, rows[-p.scan_rows :]), hotkeys, mode=mode, scan_rows=p.scan_rows)


def _fixed_salience(
    X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, hotkeys: list[str], p: HitfirstParams,
    cache: FitCache | None = None, cols: np.ndarray | None = None,
) -> dict[str, float]:
    """Fixed mode on the columns `cols` of X (default: all), distinct miners (copy groups reduced,
    H3), read from X in row blocks (no copy of the panel)."""
    rows = training_rows(sidx, prices, "fixed", p)
    if len(rows) < max(p.min_rows, 1):
        return {}
    s = sidx[rows]
    log_price = np.log(prices[rows])  # the price is known to be positive
    sigma = sigma_series(log_price, s, p.ahead, p.vol_window, "fixed")
    labels = first_hit_labels(log_price, s, sigma, p.ahead, "fixed")
    labelled = np.flatnonzero(labels >= 0)
    if len(labelled) < max(p.min_labelled, 1):
        return {}
    # every row of the labelled span (the gate reads forecasts on rows whose label is unknown too);
    # the fits and the evidence read its labelled rows
    span = rows[labelled[0] : labelled[-1] + 1]
    s, labels = s[labelled[0] : labelled[-1] + 1], labels[labelled[0] : labelled[-1] + 1]
    labelled = np.flatnonzero(labels >= 0)
    up, dn, present = hitfirst_features(X, "fixed", p.eps, rows=span, cols=cols)

    passed = kept_gate(up, dn, present, labels, s, int(sidx[rows[0]]), p, cache)  # H4
    if not passed.any():
        return {}
    history_start = int(sidx[rows[-1]]) - p.history_days * p.rows_per_day + 1  # F6: the first sample kept
    folds = anchored_folds(s[labelled], p.ahead, history_start, p)
    importance = np.zeros(len(hotkeys))
    for F, cls in ((up, 0), (dn, 1)):
        y = (labels == cls).astype(np.int64)
        if np.unique(y[labelled]).size < 2:
            continue
        coef = walk_forward_importance(F, present, y, s, folds, p, cache, rows=labelled)
        if coef is not None:
            importance += coef
    importance *= passed  # H4: only a miner whose forecasts beat chance earns
    total = float(importance.sum())
    if not np.isfinite(total) or total <= 0:
        return {}
    return {hk: float(v) for hk, v in zip(hotkeys, importance / total)}
