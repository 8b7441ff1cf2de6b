"""MANTIS BINARY salience (mantis.md §11.1): which miners' features predict the 1-hour direction.

Each miner's D-vector feeds its own L2 logistic model, fitted walk-forward so every score is out of
sample; miners whose daily out-of-sample AUC beats chance are selected, their out-of-sample scores
become the columns of an elastic-net meta-model, and the block-bootstrapped |coefficients| are the
salience. A miner is paid for the information it adds to the others, not for its own AUC alone.

Panels: X (T, H, D) with NaN where a miner did not submit, sample indices `sidx` (T,), prices (T,).
Modes: "compat" reproduces the reference; "fixed" applies F6 (history capped by sample index, not
rows), F7 (presence is an explicit mask: a genuine all-zero prediction counts), F10 (every
bootstrap replicate counts) and one fix of our own, S1: the meta-model's inputs are standardised.
A base model's decision values carry the scale of its own coefficients, so on raw inputs a weak
miner's small-scale column needs a large meta coefficient and |coef| stops measuring information;
standardised, |coef| is comparable across miners, and a missing value (0) is the column mean.
Columns are scaled to variance 1/K so rows have unit norm on average, the conditioning saga's step
size assumes (it converges in ~20 iterations instead of ~200; the ranking is the same).
And S2: a miner whose inputs do not vary over a fit window gets no model there; otherwise its
decision values differ between refits only by solver round-off, which the daily AUC can read as
skill (and standardisation would then blow up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from mechanisms.mantis.bootstrap import block_bootstrap_coefs
from mechanisms.mantis.clones import clone_post_pass
from mechanisms.mantis.entry import checked_panel, single_threaded
from mechanisms.mantis.panel import Mode, presence
from mechanisms.mantis.series import capped_history, forward_rows


@dataclass(frozen=True)
class BinaryParams:
    """The reference's constants (rows are samples: 1440 a day).

    `ahead` is the label horizon in samples. A profile cannot override it: the registry sets it to the
    challenge's horizon_blocks / chain.sample_every, so labels and the lock rule share one horizon.
    The default is the reference's one hour at one sample a minute, for direct calls.
    """

    ahead: int = 60
    max_unchanged: int = 15
    history: int = 86_400
    min_rows: int = 500
    rows_per_day: int = 1440
    half_life_days: float = 15.0
    # walk-forward selection
    sel_start: int = 21_600
    refit: int = 7_200
    fit_rows: int = 43_200
    min_base_train: int = 50
    min_scored_rows: int = 80
    min_windows: int = 5
    top_k: int = 50
    margin: float = 0.005
    max_extra: int = 15
    # out-of-sample predictions and the meta-model
    oos_segment: int = 4_000
    base_C: float = 0.5
    base_max_iter: int = 100
    base_tol: float = 1e-3
    meta_C: float = 1.0
    meta_l1_ratio: float = 0.5
    meta_tol: float = 1e-4
    meta_max_iter: int = 800
    meta_fallback_iter: int = 2_000
    replicates: int = 10
    block: int = 120
    seed: int = 42


@dataclass(frozen=True)
class BinaryData:
    """The rows the scorer trains on, after the builder's filters."""

    X: np.ndarray  # (T, H, D) float32, absent = 0
    present: np.ndarray  # (T, H) bool
    y: np.ndarray  # (T,) int8, 1 if the price rose over `ahead` samples
    sidx: np.ndarray  # (T,) int64
    weights: np.ndarray  # (T,) recency weights, mean 1
    mode: Mode


def _unchanged_streak(prices: np.ndarray) -> np.ndarray:
    """For each row, how many rows in a row (ending here) kept the previous row's price."""
    same = np.zeros(len(prices), dtype=bool)
    same[1:] = prices[1:] == prices[:-1]
    streak = np.zeros(len(prices), dtype=np.int64)
    run = 0
    for i, s in enumerate(same):
        run = run + 1 if s else 0
        streak[i] = run
    return streak


def build_dataset(
    X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, mode: Mode = "fixed", params: BinaryParams = BinaryParams()
) -> BinaryData | None:
    """Label each row by the exact sample `ahead` later; None when too little or one-class data."""
    order = np.argsort(sidx, kind="stable")
    X, sidx, prices = X[order], np.asarray(sidx, dtype=np.int64)[order], np.asarray(prices, dtype=np.float64)[order]
    Xz = np.where(np.isnan(X), np.float32(0), X).astype(np.float32)
    present = presence(X, mode)

    ahead = forward_rows(sidx, params.ahead, "fixed")  # the exact sample, in both modes (§11.1)
    p_fut = np.where(ahead >= 0, prices[ahead], np.nan)
    with np.errstate(invalid="ignore"):
        keep = (
            (_unchanged_streak(prices) <= params.max_unchanged)
            & (prices > 0)
            & (p_fut > 0)
            & present.any(axis=1)
        )
    rows = capped_history(np.flatnonzero(keep), sidx, mode, params.history, params.history)
    if len(rows) < params.min_rows:
        return None
    y = (p_fut[rows] > prices[rows]).astype(np.int8)
    if np.unique(y).size < 2:
        return None
    T = len(rows)
    age = np.arange(T, 0, -1, dtype=np.float64)
    weights = np.exp(-math.log(2) / (params.half_life_days * params.rows_per_day) * age)
    return BinaryData(Xz[rows], present[rows], y, sidx[rows], weights / weights.mean(), mode)


def _base_model(n_features: int, p: BinaryParams) -> LogisticRegression:
    return LogisticRegression(
        C=p.base_C, l1_ratio=0.0, class_weight="balanced", max_iter=p.base_max_iter, tol=p.base_tol,
        random_state=p.seed, solver="liblinear" if n_features <= 4 else "lbfgs",
    )


def _fit_score(d: BinaryData, j: int, fit: np.ndarray, score: np.ndarray, p: BinaryParams) -> np.ndarray | None:
    """Fit miner j's base model on its present rows in `fit`; decision values on its rows in `score`."""
    fit = fit[d.present[fit, j]]
    if len(fit) < p.min_base_train or np.unique(d.y[fit]).size < 2:
        return None
    if d.mode == "fixed" and not np.ptp(d.X[fit, j], axis=0).any():
        return None  # S2: constant inputs
    model = _base_model(d.X.shape[2], p).fit(d.X[fit, j], d.y[fit], sample_weight=d.weights[fit])
    return model.decision_function(d.X[score, j])


def selection_auc(d: BinaryData, j: int, p: BinaryParams) -> float:
    """Recency-weighted mean of daily walk-forward AUCs; 0.5 without enough evidence."""
    T = len(d.y)
    split = T // 2
    boundaries = range(min(p.sel_start, split), T - p.ahead, p.refit)
    rows_j = np.flatnonzero(d.present[:, j])
    if split < p.min_base_train or not len(boundaries) or not len(rows_j) or rows_j[0] >= boundaries[-1]:
        return 0.5
    scores = np.full(T, np.nan)
    for b in boundaries:
        target = np.arange(b, min(b + p.refit, T))
        target = target[d.present[target, j]]
        if not len(target):
            continue
        values = _fit_score(d, j, np.arange(max(0, b - p.fit_rows), b - p.ahead), target, p)
        if values is not None:
            scores[target] = values
    aucs, weights = [], []
    for day in range(math.ceil(T / p.rows_per_day)):
        lo, hi = day * p.rows_per_day, min((day + 1) * p.rows_per_day, T)
        scored = lo + np.flatnonzero(~np.isnan(scores[lo:hi]))
        if len(scored) < p.min_scored_rows or np.unique(d.y[scored]).size < 2:
            continue
        aucs.append(roc_auc_score(d.y[scored], scores[scored]))
        weights.append(2.0 ** (-((T - hi) / p.rows_per_day) / p.half_life_days))
    if len(aucs) < p.min_windows:
        return 0.5
    return float(np.average(aucs, weights=weights))


def select(aucs: np.ndarray, p: BinaryParams) -> np.ndarray:
    """Top K by AUC (stable), a margin band of near-ties after the K-th, and only AUC > 0.5."""
    order = np.argsort(-aucs, kind="stable")
    k = min(p.top_k, len(aucs))
    chosen = list(order[:k])
    if len(aucs) > k:
        floor = aucs[order[k - 1]] - p.margin
        for j in order[k : k + p.max_extra]:
            if aucs[j] < floor:
                break
            chosen.append(j)
    return np.array([j for j in chosen if aucs[j] > 0.5], dtype=np.int64)


def oos_matrix(d: BinaryData, selected: np.ndarray, p: BinaryParams) -> np.ndarray:
    """Out-of-sample decision values (T, K): each segment predicted by a fit on everything before it."""
    T = len(d.y)
    out = np.full((T, len(selected)), np.nan)
    s = 0
    while s < T:
        end = min(s + p.oos_segment, T)
        target = np.arange(min(s + p.ahead, end), end)
        for col, j in enumerate(selected):
            rows = target[d.present[target, j]]
            if len(rows):
                values = _fit_score(d, j, np.arange(s), rows, p)
                if values is not None:
                    out[rows, col] = values
        s = end
    return out


def _meta_model(random_state: int, p: BinaryParams, max_iter: int) -> LogisticRegression:
    return LogisticRegression(
        C=p.meta_C, l1_ratio=p.meta_l1_ratio, solver="saga", class_weight="balanced", tol=p.meta_tol,
        max_iter=max_iter, random_state=random_state,
    )


def meta_coefficients(d: BinaryData, oos: np.ndarray, p: BinaryParams) -> np.ndarray | None:
    """Bootstrapped |coef| of the elastic-net meta-model over rows with any out-of-sample value."""
    rows = np.flatnonzero(~np.isnan(oos).all(axis=1))
    if len(rows) < p.min_base_train:
        return None
    if d.mode == "fixed":
        mean, std = np.nanmean(oos[rows], axis=0), np.nanstd(oos[rows], axis=0)
        oos = (oos - mean) / np.where(std > 0, std, 1.0) / math.sqrt(oos.shape[1])
    Z, y, w = np.nan_to_num(oos[rows]), d.y[rows], d.weights[rows]
    coefs = block_bootstrap_coefs(
        Z, y, w, lambda rs: _meta_model(rs, p, p.meta_max_iter),
        replicates=p.replicates, block=p.block, seed=p.seed, use_all_replicates=d.mode == "fixed",
    )
    if coefs is None and np.unique(y).size == 2:
        coefs = np.abs(_meta_model(p.seed, p, p.meta_fallback_iter).fit(Z, y, sample_weight=w).coef_.ravel())
    return coefs


def binary_salience(
    X: np.ndarray,
    sidx: np.ndarray,
    prices: np.ndarray,
    hotkeys: Sequence[str],
    mode: Mode = "fixed",
    params: BinaryParams = BinaryParams(),
) -> dict[str, float]:
    """Salience per hotkey (sums to 1), or {} when nothing can be learned from the panel.

    Columns are put in sorted-hotkey order first, so the result does not depend on panel order.
    """
    X, sidx, prices, hotkeys, cols = checked_panel(X, sidx, prices, hotkeys, mode)
    with single_threaded():  # the clone pass included
        return _salience(X[:, cols], sidx, prices, [hotkeys[c] for c in cols], mode, params)


def _salience(
    X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, hotkeys: list[str], mode: Mode, params: BinaryParams
) -> dict[str, float]:
    """binary_salience on a checked panel in hotkey order; its caller holds the thread limit."""
    d = build_dataset(X, sidx, prices, mode, params)
    if d is None:
        return {}
    aucs = np.array([selection_auc(d, j, params) for j in range(len(hotkeys))])
    selected = select(aucs, params)
    if not len(selected):
        return {}
    coefs = meta_coefficients(d, oos_matrix(d, selected, params), params)
    if coefs is None or not np.isfinite(coefs).all() or coefs.sum() <= 0:
        return {}
    salience = dict.fromkeys(hotkeys, 0.0)
    for j, c in zip(selected, coefs / coefs.sum()):
        salience[hotkeys[j]] = float(c)
    absent = np.where(d.present[:, :, None], d.X, np.nan)
    return clone_post_pass(salience, absent, hotkeys, mode=mode)
