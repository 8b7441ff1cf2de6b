"""MANTIS BINARY salience (mantis.md §11.1): which miners' features predict the 1-hour direction.

Each miner's D-vector feeds its own L2 logistic model, fitted walk-forward so every score is out of
sample; miners whose daily out-of-sample AUC beats chance are selected, their out-of-sample scores
become the columns of an elastic-net meta-model, and the block-bootstrapped |coefficients| are the
salience. A miner is paid for the information it adds to the others, not for its own AUC alone.

Panels: X (T, H, D) with NaN where a miner did not submit, sample indices `sidx` (T,), prices (T,).
Modes: "compat" reproduces the reference; "fixed" applies F6 (history capped by sample index, not
rows), F7 (presence is an explicit mask: a genuine all-zero prediction counts), F10 (every
bootstrap replicate counts) and fixes of our own:
  * S1: the meta-model's inputs are standardised. A base model's decision values carry the scale of
    its own coefficients, so on raw inputs a weak miner's small-scale column needs a large meta
    coefficient and |coef| stops measuring information; standardised, |coef| is comparable across
    miners, and a missing value (0) is the column mean. Columns are scaled to variance 1/K, so rows
    have unit norm on average.
  * S2: a miner whose inputs do not vary over a fit window gets no model there; otherwise its
    decision values differ between refits only by round-off, which the daily AUC can read as skill.
  * S3, anchored walk-forward: windows start on the grid of sample indices k·refit (a young panel
    first gets one from its first whole day with enough history) and are fitted on the samples
    [start − fit_rows, start − ahead), so a closed window's fit never changes from epoch to epoch.
    One walk-forward serves both the selection's daily AUCs and the meta-model (the reference runs
    a second, expanding one whose fits change whenever the history does).
  * S4, significance: persistent forecasts (slow noise, values held for hours) against labels that
    overlap for an hour make chance AUCs look like skill, so a miner is selected only if its
    out-of-sample scores, standardised against their own past four horizons (so a forecast that
    wanders with the price level, which every miner knows, is measured by what was known when it
    was made), rank against the labels better than their own circular shifts by a day or more
    (mechanisms/mantis/significance.py), under Holm's correction over the miners tested: the chance
    that any miner without skill is paid stays near sig_alpha.
  * S5, closed-form models: the base models and the meta-model are the logistic objectives'
    quadratic expansion at even odds (mechanisms/mantis/logistic.py), equal to the logistic fit to
    the cube of the log-odds, which stay near 0 at these AUCs; exact, with nothing for validators to
    converge on, and cheap. Base fits are kept in a FitCache under the hash of their exact inputs
    (the platform's is in the storage directory), so an epoch fits only the windows that are new.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from mechanisms.mantis.bootstrap import block_bootstrap_coefs
from mechanisms.mantis.clones import clone_post_pass
from mechanisms.mantis.entry import checked_panel, single_threaded
from mechanisms.mantis.fitcache import FitCache, MemoryFitCache, fit_key
from mechanisms.mantis.logistic import QuadraticElasticNet, ridge_step
from mechanisms.mantis.panel import Mode, in_columns, presence
from mechanisms.mantis.series import capped_history, forward_rows
from mechanisms.mantis.significance import forecast_test, holm, ranks


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
    # fixed mode only (S3–S5 below)
    min_fit_span: int = 4_320  # a window is fitted once its training range spans this many samples
    sig_alpha: float = 0.05  # S4: family-wise error over the miners tested (Holm)
    sig_min_shift: int = 1_440  # S4: the smallest circular shift of the null, in rows
    sig_horizons: int = 4  # S4: scores are standardised against their own past over this many horizons

    def lookback(self, mode: Mode) -> int:
        """Samples before the newest a panel needs: the history, and in fixed mode the training
        range of the oldest window scoring in it (S3) and the price streak before that."""
        if mode == "compat":
            return self.history
        return self.history + self.refit + self.fit_rows + self.max_unchanged + 1


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
    if d.mode == "fixed":  # S5: the elastic net's quadratic expansion, exact (mechanisms/mantis/logistic.py)
        model = lambda rs, max_iter: QuadraticElasticNet(p.meta_C, p.meta_l1_ratio)  # noqa: E731
    else:
        model = lambda rs, max_iter: _meta_model(rs, p, max_iter)  # noqa: E731
    coefs = block_bootstrap_coefs(
        Z, y, w, lambda rs: model(rs, p.meta_max_iter),
        replicates=p.replicates, block=p.block, seed=p.seed, use_all_replicates=d.mode == "fixed",
    )
    if coefs is None and np.unique(y).size == 2:
        coefs = np.abs(model(p.seed, p.meta_fallback_iter).fit(Z, y, sample_weight=w).coef_.ravel())
    return coefs


def binary_salience(
    X: np.ndarray,
    sidx: np.ndarray,
    prices: np.ndarray,
    hotkeys: Sequence[str],
    mode: Mode = "fixed",
    params: BinaryParams = BinaryParams(),
    cache: FitCache | None = None,
) -> dict[str, float]:
    """Salience per hotkey (sums to 1), or {} when nothing can be learned from the panel.

    Columns are taken in sorted-hotkey order, so the result does not depend on panel order. Fixed
    mode looks its base models up in `cache` (S5) and stores the ones it fits; compat ignores it.
    """
    X, sidx, prices, hotkeys, cols = checked_panel(X, sidx, prices, hotkeys, mode)
    with single_threaded():  # the clone pass included
        if mode == "compat":
            return _salience(in_columns(X, cols), sidx, prices, [hotkeys[c] for c in cols], mode, params)
        if np.any(np.diff(sidx) <= 0):  # fixed reads rows as views: time order first
            order = np.argsort(sidx, kind="stable")
            X, sidx, prices = X[order], sidx[order], prices[order]
        return fixed_salience(X, sidx, prices, hotkeys, cols, params, cache)


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


# -- fixed mode: anchored walk-forward (S3), significance (S4), kept fits (S5) --------------------


@dataclass(frozen=True)
class Window:
    """One walk-forward window, as ranges of panel rows (in sample order): its model is fitted on
    rows [fit_lo, fit_hi) and scores rows [score_lo, score_hi); `start` is its first sample index."""

    start: int
    fit_lo: int
    fit_hi: int
    score_lo: int
    score_hi: int


def labels(sidx: np.ndarray, prices: np.ndarray, params: BinaryParams) -> tuple[np.ndarray, np.ndarray]:
    """(kept, y) per panel row (sample order): whether the row has a label under §11.1's builder
    filters (an unchanged price for more than `max_unchanged` rows, a price ≤ 0, no price exactly
    `ahead` samples on), and its direction label (0 where it has none)."""
    ahead = forward_rows(sidx, params.ahead, "fixed")
    p_fut = np.where(ahead >= 0, prices[np.maximum(ahead, 0)], np.nan)
    with np.errstate(invalid="ignore"):
        kept = (_unchanged_streak(prices) <= params.max_unchanged) & (prices > 0) & (p_fut > 0)
        return kept, (kept & (p_fut > prices)).astype(np.int8)


def windows(sidx: np.ndarray, kept: np.ndarray, params: BinaryParams) -> list[Window]:
    """S3: windows on the absolute grid of sample indices k·refit, so a window's rows (and its fit)
    are the same in every epoch that sees it. A window is fitted on the samples
    [start − fit_rows, start − ahead) (an embargo of one horizon) once they span `min_fit_span`
    samples of labelled rows, and scores its own samples that lie in the history (F6). A panel
    younger than its first such grid point starts with a shorter window at the first whole day (a
    multiple of rows_per_day) that can be fitted, which stays put while the panel grows."""
    labelled = sidx[kept]
    if not len(labelled):
        return []
    first, last = int(labelled[0]), int(labelled[-1])
    history_from = last - params.history + 1
    ready = first + params.ahead + params.min_fit_span  # the first start with enough training samples
    starts = list(range(-(-ready // params.refit) * params.refit, last + 1, params.refit))
    day = -(-ready // params.rows_per_day) * params.rows_per_day
    if day <= last and (not starts or day < starts[0]):
        starts.insert(0, day)  # a young panel: a first window from the first whole day that can be fitted
    out = []
    for start, end in zip(starts, starts[1:] + [starts[-1] + params.refit] if starts else []):
        if end <= history_from:
            continue
        lo, hi, a, b = np.searchsorted(sidx, [start - params.fit_rows, start - params.ahead, max(start, history_from),
                                              min(end, last + 1)])
        out.append(Window(start, int(lo), int(hi), int(a), int(b)))
    return out


class _RangeDigests:
    """Per-miner digests of the panel's values over row ranges, built from per-day pieces so that
    overlapping training ranges hash each day once."""

    def __init__(self, X: np.ndarray, sidx: np.ndarray, rows_per_day: int) -> None:
        self.X, self.day = X, sidx // rows_per_day
        self.pieces: dict[tuple[int, int], list[bytes]] = {}

    def _piece(self, lo: int, hi: int) -> list[bytes]:
        if (lo, hi) not in self.pieces:
            block = np.ascontiguousarray(self.X[lo:hi].transpose(1, 0, 2))
            self.pieces[lo, hi] = [hashlib.blake2b(block[j].data, digest_size=16).digest() for j in range(len(block))]
        return self.pieces[lo, hi]

    def __call__(self, lo: int, hi: int) -> list[bytes]:
        cuts = [lo, *(lo + 1 + np.flatnonzero(self.day[lo + 1 : hi] != self.day[lo : hi - 1])), hi] if hi > lo else [lo, hi]
        pieces = [self._piece(int(a), int(b)) for a, b in zip(cuts, cuts[1:])]
        return [b"".join(p[j] for p in pieces) for j in range(self.X.shape[1])]


_NO_MODEL = np.array([np.nan])
_CHUNK = 16  # miners per batch of base fits: (rows × 16 × D) temporaries


def _window_fits(X: np.ndarray, sidx: np.ndarray, kept: np.ndarray, y: np.ndarray, w: Window, cols: np.ndarray,
                 digests: _RangeDigests, params: BinaryParams, cache: FitCache) -> list[np.ndarray]:
    """Each column's base model for window w: [coef…, intercept], or _NO_MODEL (fewer than
    min_base_train labelled rows, one class, inputs that never vary (S2), or a fit that is not
    finite). Looked up in `cache` by its exact inputs (the window's rows, labels and the miner's
    values); misses are fitted together, as the quadratic expansion of the L2 logistic model (S5)."""
    lo, hi = w.fit_lo, w.fit_hi
    decay = np.exp(-math.log(2) / (params.half_life_days * params.rows_per_day) * (w.start - sidx[lo:hi]))
    window_key = fit_key("binary.window.ridge-step", params.base_C, params.half_life_days, params.rows_per_day,
                         params.min_base_train, sidx[lo:hi] - w.start, kept[lo:hi], y[lo:hi])
    by_miner = digests(lo, hi)
    keys = [fit_key("binary.base", window_key, by_miner[c]) for c in cols]
    found = [_stored_fit(cache.get(k), X.shape[2]) for k in keys]
    todo = [m for m, got in enumerate(found) if got is None]
    for c0 in range(0, len(todo), _CHUNK):
        chunk = todo[c0 : c0 + _CHUNK]
        values = np.take(X[lo:hi], cols[chunk], axis=1)  # (n, k, D) float32, NaN = absent
        here = kept[lo:hi, None] & ~np.isnan(values).any(axis=2)
        batch = []
        for i, m in enumerate(chunk):
            xm = values[here[:, i], i]
            if len(xm) < params.min_base_train or np.unique(y[lo:hi][here[:, i]]).size < 2 or not np.ptp(xm, axis=0).any():
                found[m] = _NO_MODEL
                cache.put(keys[m], _NO_MODEL)
            else:
                batch.append(i)
        if batch:
            weights = np.where(here[:, batch].T, decay, 0.0)
            coefs = ridge_step(np.nan_to_num(values[:, batch].transpose(1, 2, 0)), np.broadcast_to(y[lo:hi], weights.shape),
                               weights / (weights.sum(axis=1, keepdims=True) / here[:, batch].sum(axis=0)[:, None]),
                               params.base_C)
            for i, coef in zip(batch, coefs):
                coef = coef if np.isfinite(coef).all() else _NO_MODEL  # inputs no valid forecast has
                found[chunk[i]] = coef
                cache.put(keys[chunk[i]], coef)
    return found


def _stored_fit(value: np.ndarray | None, D: int) -> np.ndarray | None:
    """A cached entry as _window_fits stores it (the no-model marker, or D finite coefficients then
    the intercept), else None: an entry of any other shape (a damaged store) is a miss and is
    fitted again, never read past its end."""
    if value is None or value.ndim != 1:
        return None
    if len(value) == 1 and np.isnan(value[0]):
        return _NO_MODEL
    return value if len(value) == D + 1 and np.isfinite(value).all() else None


def _decisions(values: np.ndarray, coefs: list[np.ndarray]) -> np.ndarray:
    """(n, k) x·w + b per row and column in float64, one feature at a time (the same bits cached or
    fresh); NaN where the row is absent or the column has no model."""
    out = np.full(values.shape[:2], np.nan)
    for m, coef in enumerate(coefs):
        if not np.isnan(coef[0]):
            z = np.full(len(values), coef[-1])
            for d in range(values.shape[2]):
                z = z + values[:, m, d].astype(np.float64) * coef[d]
            out[:, m] = z
    return out


def daily_auc(rank: np.ndarray, y: np.ndarray, s: np.ndarray, params: BinaryParams) -> float:
    """Recency-weighted mean of AUCs per calendar day of samples (sidx // rows_per_day), over days
    with ≥ min_scored_rows scored rows and both classes; 0.5 with fewer than min_windows such days.

    `rank` holds the scores' ranks over all rows (NaN = unscored): ordering by (day, rank) gives
    the ranks within each day (ties share their average), and each day's AUC is the Mann–Whitney
    form of them."""
    ok = np.flatnonzero(np.isfinite(rank))
    if not len(ok):
        return 0.5
    day = s[ok] // params.rows_per_day
    key = (day - day[0]) * (2.0 * len(rank) + 2.0) + 2.0 * rank[ok]  # exact: integers below 2^53
    order = np.argsort(key)  # equal keys are ties within a day: their order does not matter
    key, day, yy = key[order], day[order], y[ok][order].astype(np.int64)
    n = len(key)
    new_day = np.r_[True, day[1:] != day[:-1]]
    new_value = np.r_[True, key[1:] != key[:-1]]
    first_of_day = np.maximum.accumulate(np.where(new_day, np.arange(n), 0))
    tie_start = np.flatnonzero(new_value)
    tie = np.cumsum(new_value) - 1
    within = (tie_start + np.r_[tie_start[1:], n] + 1)[tie] / 2.0 - first_of_day  # 1-based average rank in the day
    days = np.flatnonzero(new_day)
    rows = np.diff(np.r_[days, n])
    pos = np.add.reduceat(yy, days)
    rank_pos = np.add.reduceat(within * yy, days)
    valid = (rows >= params.min_scored_rows) & (pos > 0) & (pos < rows)
    if valid.sum() < params.min_windows:
        return 0.5
    pos, rows, rank_pos = pos[valid].astype(np.float64), rows[valid], rank_pos[valid]
    aucs = (rank_pos - pos * (pos + 1) / 2.0) / (pos * (rows - pos))
    newest = int(s[-1] // params.rows_per_day)
    weights = 2.0 ** (-(newest - day[days[valid]]) / params.half_life_days)
    return float(np.average(aucs, weights=weights))


def evidence(scores: np.ndarray, y: np.ndarray, s: np.ndarray, params: BinaryParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(aucs, p, significant) per column of out-of-sample scores (T, K) over consecutive panel rows
    (NaN = unscored; y NaN where a row has no label). S4: each column's ranks against the label,
    judged against the same ranks shifted circularly by a day or more, then Holm's correction
    over the columns with ≥ min_scored_rows scores (p = 1 for the rest, never significant)."""
    K = scores.shape[1]
    aucs, p = np.full(K, 0.5), np.ones(K)
    tested = []
    for j in range(K):
        r = ranks(scores[:, j].astype(np.float64))
        aucs[j] = daily_auc(r, y, s, params)
        if np.isfinite(r).sum() >= params.min_scored_rows:
            p[j] = forecast_test(scores[:, j], y, params.sig_min_shift, params.sig_horizons * params.ahead)[1]
            tested.append(j)
    significant = np.zeros(K, dtype=bool)
    significant[tested] = holm(p[tested], params.sig_alpha)
    return aucs, p, significant


def fixed_salience(X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, hotkeys: list[str], cols: np.ndarray,
                   params: BinaryParams, cache: FitCache | None = None) -> dict[str, float]:
    """Fixed-mode salience of a panel in sample order; X (T, H, D) in panel column order, `cols`
    the sorted-hotkey order in which miners are taken."""
    cache = MemoryFitCache() if cache is None else cache
    kept, y = labels(sidx, prices, params)
    wins = windows(sidx, kept, params)
    if kept.sum() < params.min_rows or np.unique(y[kept]).size < 2 or not wins:
        return {}
    h0 = wins[0].score_lo  # the history's rows: scored, AUC'd and fed to the meta-model
    scores = np.full((len(sidx) - h0, len(cols)), np.nan, dtype=np.float32)
    digests = _RangeDigests(X, sidx, params.rows_per_day)
    for w in wins:
        fits = _window_fits(X, sidx, kept, y, w, cols, digests, params, cache)
        for c0 in range(0, len(cols), _CHUNK):
            values = np.take(X[w.score_lo : w.score_hi], cols[c0 : c0 + _CHUNK], axis=1)
            z = _decisions(values, fits[c0 : c0 + _CHUNK])
            z[~kept[w.score_lo : w.score_hi]] = np.nan
            scores[w.score_lo - h0 : w.score_hi - h0, c0 : c0 + _CHUNK] = z
    s_h, y_h = sidx[h0:], np.where(kept[h0:], y[h0:], np.nan)
    aucs, _, significant = evidence(scores, y_h, s_h, params)
    selected = select(np.where(significant, aucs, 0.5), params)
    if not len(selected):
        return {}
    oos = scores[:, selected].astype(np.float64)
    used = np.flatnonzero(~np.isnan(oos).all(axis=1))
    if len(used) < params.min_base_train:
        return {}
    age = (s_h[-1] - s_h[used]).astype(np.float64)
    weights = np.exp(-math.log(2) / (params.half_life_days * params.rows_per_day) * age)
    d = BinaryData(np.empty((0, 0, 0), np.float32), np.empty((0, 0), bool), y[h0:][used], s_h[used],
                   weights / weights.mean(), "fixed")
    coefs = meta_coefficients(d, oos[used], params)
    if coefs is None or not np.isfinite(coefs).all() or coefs.sum() <= 0:
        return {}
    salience = dict.fromkeys(hotkeys, 0.0)
    for j, c in zip(selected, coefs / coefs.sum()):
        salience[hotkeys[cols[j]]] = float(c)
    return clone_post_pass(salience, X[h0:], hotkeys, mode="fixed")  # the history's rows (a view)
