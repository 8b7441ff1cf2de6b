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
      - F4, out of sample: walk-forward over `wf_blocks` contiguous blocks of the labelled rows.
        Block k ≥ 1 is judged by a fit on the rows before it whose labels were complete when the
        block starts (sidx_i + ahead ≤ sidx of its first row: an embargo of `ahead` samples);
        block 0 is training only. A miner's importance in a model is |coef| of the newest of these
        fits (the one with the most data), times its out-of-sample evidence share (H2).
      - F6: the history is capped by sample index (the last history_days·rows_per_day samples).
      - F7: presence is the explicit mask (no NaN); a genuine all-zero vector is a submission
        (its features are logit(1/3)).
    and three fixes of our own:
      - H1, standardised features: in each fit an absent row takes the miner's mean over its
        present training rows (no information, where compat's 0 is the claim "probability 1/2"),
        and every column is scaled to unit std over the training rows; a feature that does not
        vary over them is a zero column, so its coefficient is exactly 0 (compat pays constant
        miners: a constant column and the intercept are one direction the fit leaves
        undetermined). On raw logits |coef| shrinks for a miner who states the same information
        with sharper probabilities; standardised, |coef| is the std of the miner's term in the
        model's log-odds over the rows (a miner present on a fraction f of them, with the same
        skill, has √f of it), on one scale for every miner, and lbfgs is well conditioned.
      - H2, out-of-sample evidence share: on every judged block, a miner's evidence is the
        covariance of its standardised forecast with the label (balanced weights), signed by the
        coefficient the block's fit gives it; pooled over the blocks it is a z-statistic τ (its
        variance from sums over batches of `ahead` consecutive rows, since neighbouring labels
        share most of their horizon). E[τ²] = θ² + 1, so √max(0, 1 − 1/τ²) (0 when τ ≤ 0) is the
        share of the evidence that is not noise, and |coef| is scaled by it. A miner whose fitted
        coefficient is noise has τ ≈ N(0, 1) and keeps little of it (a tenth on average); a
        miner whose forecasts pointed against the fit's use of them gets 0; a skilled miner's
        τ is large and its |coef| is kept whole. The evidence is the miner's own forecast, not
        its marginal value given the others, so k exact clones share the original's |coef|
        (L2 splits it evenly) and keep its evidence share: cloning neither gains nor loses.
      - H3, copies and splits gain nothing: exact clones and soft cohorts (§12.1's finders on the
        newest scan_rows rows) are reduced to their first hotkey before the fits and the group's
        score is shared equally among its members (compat collapses and equalises after the fit,
        where near-copies that miss the exact-clone tolerance inflate the L2 fit's Σ|coef|: 30 of
        them took four times the original's pay). A miner's importance is also scaled by √f, f the
        share of the newest fit's training rows it submitted on: H1 leaves a column present on a
        fraction f about √f of a full miner's |coef|, so without it a model split over k hotkeys
        on disjoint rows earned √k times as much.
    A miner is paid only for what the newest fit learned from its training rows, so one that
    joined during the last block earns nothing yet (the platform's young-uid rule covers it).

Determinism (§14): columns in sorted-hotkey order, one BLAS thread, fixed block boundaries, no RNG
(lbfgs is deterministic; random_state is passed as the reference does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from mechanisms.mantis.clones import SCAN_ROWS, clone_post_pass, find_clusters, find_correlated_cohorts
from mechanisms.mantis.entry import checked_panel, single_threaded
from mechanisms.mantis.panel import Mode, presence
from mechanisms.mantis.series import (
    EPS, capped_history, causal_ends, forward_log_returns, forward_rows, priced_rows, rolling_std, safe_logit, trailing_std,
)

_BLOCK_ROWS = 4096  # row block of the feature pass: bounded temporaries


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
    wf_blocks: int = 4  # fixed: walk-forward blocks (the first is training only)
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
    X: np.ndarray, mode: Mode, eps: float = EPS, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(up, dn, present) for the rows `rows` of X (all rows by default): (N, H) float64 logits of
    P(up first) and P(down first) and the (N, H) presence mask.

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
    N, H = len(rows), X.shape[1]
    up, dn = np.zeros((N, H)), np.zeros((N, H))
    present = np.zeros((N, H), dtype=bool)
    for r0 in range(0, N, _BLOCK_ROWS):
        block = np.asarray(X[rows[r0 : r0 + _BLOCK_ROWS]], dtype=np.float64)
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
    Ft, Pt = F[train], present[train]
    for j in range(H):
        v = Ft[Pt[:, j], j]
        if len(v) >= 2 and np.ptp(v) > 0:
            mean[j] = v.mean()
            scale[j] = math.sqrt(float(np.sum((v - mean[j]) ** 2)) / len(train))
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


def walk_forward_folds(sidx: np.ndarray, ahead: int, blocks: int) -> list[tuple[int, int, int]]:
    """(train_end, lo, hi) per judged block: the labelled rows (sample indices `sidx`, increasing)
    are cut by `block_bounds`; block k ≥ 1 = rows [lo, hi) is judged by a fit on rows
    [0, train_end), the rows before it whose horizon had ended when it starts:
    sidx_i + ahead ≤ sidx_lo (an embargo of `ahead` samples). Block 0 is training only."""
    sidx = np.asarray(sidx, dtype=np.int64)
    bounds = block_bounds(len(sidx), blocks)
    out = []
    for k in range(1, blocks):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        if hi > lo:
            out.append((int(np.searchsorted(sidx[:lo], sidx[lo] - ahead, side="right")), lo, hi))
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


def walk_forward_importance(
    F: np.ndarray, present: np.ndarray, y: np.ndarray, sidx: np.ndarray, params: HitfirstParams = HitfirstParams()
) -> np.ndarray | None:
    """(H,) fixed-mode importance of one model: |coef| of the newest walk-forward fit (H1
    standardised), times each miner's out-of-sample evidence share (H2); None when no fold has a
    training set with both classes.

    Folds as `walk_forward_folds`. On each judged block with both classes, a miner's evidence is
    Σ_i w_i (y_i − ȳ) · z_ij · sign(coef_j): the balanced-weighted covariance of its standardised
    forecast with the label, signed by how the fit uses it. Labels `ahead` rows apart share most
    of their horizon, so the variance is taken over sums of consecutive `ahead`-row batches (batch
    means), not over rows. Evidence and variance are pooled over the judged blocks.
    """
    F = np.asarray(F, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    H = F.shape[1]
    evidence, variance = np.zeros(H), np.zeros(H)
    newest, newest_end = None, 0
    for train_end, lo, hi in walk_forward_folds(sidx, params.ahead, params.wf_blocks):
        train = np.arange(train_end)
        if np.unique(y[train]).size < 2:
            continue
        mean, scale = _standardise(F, present, train)
        newest = _model(params).fit(_design(F, present, train, mean, scale), y[train]).coef_.ravel()
        newest_end = train_end
        judged = y[lo:hi]
        if np.unique(judged).size < 2:
            continue
        w = _balanced_weights(judged)
        residual = w * (judged - (w @ judged) / w.sum())
        batch = max(1, params.ahead)
        for b0 in range(lo, hi, batch):  # one batch of rows at a time: (batch, H) temporaries
            b1 = min(hi, b0 + batch)
            z = _design(F, present, np.arange(b0, b1), mean, scale)
            sums = (residual[b0 - lo : b1 - lo] @ z) * np.sign(newest)
            evidence += sums
            variance += sums * sums
    if newest is None:
        return None
    # H1 pays a miner present on a fraction f of the rows about √f of a full one: √f more makes
    # submitting on few rows, or splitting one model over hotkeys, gain nothing (H3)
    shown = np.sqrt(present[:newest_end].mean(axis=0))
    return np.abs(newest) * evidence_share(evidence, variance) * shown


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
) -> dict[str, float]:
    """Salience per hotkey (sums to 1, every hotkey a key), or {} when nothing can be learned.

    Columns are put in sorted-hotkey order first, so the result does not depend on panel order.
    """
    X, sidx, prices, hotkeys, cols = checked_panel(X, sidx, prices, hotkeys, mode, dim=3)
    if not hotkeys:
        return {}
    with single_threaded():  # the clone pass included
        return _salience(X[:, cols], sidx, prices, [hotkeys[c] for c in cols], mode, params)


def copy_groups(X: np.ndarray, hotkeys: list[str], mode: Mode) -> np.ndarray:
    """(H,) each miner's group root (the index of its group's first hotkey; hotkeys sorted): exact
    clones and soft cohorts of §12.1 on X's rows, joined (H3)."""
    root = np.arange(len(hotkeys))
    index = {h: j for j, h in enumerate(hotkeys)}
    for group in find_clusters(X, hotkeys, mode=mode) + find_correlated_cohorts(X, hotkeys, mode=mode):
        members = sorted({int(root[index[h]]) for h in group})
        for j in range(len(root)):
            if root[j] in members:
                root[j] = members[0]
    return root


def _salience(
    X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, hotkeys: list[str], mode: Mode, p: HitfirstParams
) -> dict[str, float]:
    """hitfirst_salience on a checked panel in hotkey order; its caller holds the thread limit."""
    rows = training_rows(sidx, prices, mode, p)
    if mode == "fixed" and len(rows):  # H3: each copy group is scored once and shares its score
        root = copy_groups(X[rows[-p.scan_rows :]], hotkeys, mode)
        reps = np.flatnonzero(root == np.arange(len(hotkeys)))
        if len(reps) < len(hotkeys):
            scored = _group_salience(X[:, reps], sidx, prices, [hotkeys[j] for j in reps], mode, p)
            size = np.bincount(root, minlength=len(hotkeys))
            return {h: scored[hotkeys[root[j]]] / int(size[root[j]]) for j, h in enumerate(hotkeys)} if scored else {}
    return _group_salience(X, sidx, prices, hotkeys, mode, p)


def _group_salience(
    X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, hotkeys: list[str], mode: Mode, p: HitfirstParams
) -> dict[str, float]:
    """The salience of a panel whose columns are distinct miners (fixed) or all of them (compat)."""
    rows = training_rows(sidx, prices, mode, p)
    if len(rows) < max(p.min_rows, 1):
        return {}
    sidx, prices = sidx[rows], prices[rows]

    # compat: the reference's log(price + ε); fixed: the price is known to be positive
    log_price = np.log(prices + EPS) if mode == "compat" else np.log(prices)
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
        if mode == "fixed":
            coef = walk_forward_importance(F, present, y, sidx[labelled], p)
            if coef is not None:
                importance += coef
        else:
            coef = leave_one_block_out(F, y, p)
            if coef is not None:
                importance += coef
    total = float(importance.sum())
    if not np.isfinite(total) or total <= 0:
        return {}
    salience = {hk: float(v) for hk, v in zip(hotkeys, importance / total)}
    if mode == "fixed":
        return salience  # copy groups were reduced before the fit (H3)
    # the post-pass reads the newest scan_rows rows only: hand it just those (no copy of the rest)
    return clone_post_pass(salience, X[rows[-p.scan_rows :]], hotkeys, mode=mode, scan_rows=p.scan_rows)
