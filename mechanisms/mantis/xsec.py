"""XSEC-RANK and FUNDING-XSEC salience (mantis.md §11.5, §11.6): which miners rank assets against
their cross-sectional median.

Both challenges pool (row, asset) cells into one binary problem (does the asset beat the row's
median: its forward return for XSEC, its funding-rate change over 8 hours for FUNDING) and walk
forward over segments of rows: per segment a 1-D logistic model per miner picks the 20 best by
AUC, their out-of-sample decision values feed a block-bootstrapped L2 meta-model, and each picked
miner's importance is |coef| scaled by the meta-model's validation AUC, weighted by recency.

Every 1-D model reads its miner's values at the ledger's float16 precision, so a fit needs only
the counts of each of the 65 536 float16 values per class over its rows (`_Histograms`): the
logistic objective is a sum over those counts, minimised exactly by Newton's method, and the
AUC of a 1-D model's decision values is the AUC of the values themselves, reversed when its slope
is negative. A miner's column is read once per segment, never pooled with the others: the panel
is held at 2 bytes a cell and a run holds one miner's column (and the meta-model's 20) at a time.

Compat mode follows the reference. Fixed mode applies F2 and F3 (every fit ends a horizon before
what it is judged on), F5 (rows pair by sample index), F6 (the history is capped by sample index),
F9 (stable ranking) and F10 (all bootstrap replicates), and adds:

- X1, a significance gate: a miner is picked only if its forecasts, standardised against their own
  past four horizons (`causal_scores`, `significance.causal_z`'s rule over rows) and clipped at ±3, track the labels better than the same
  forecasts shifted circularly by a day or more (`significance.shift_p`, Holm at 5 % over the
  miners tested). Persistent noise (AR(1) values, values held for hours) against labels 4 or
  8 hours long otherwise wins AUCs that look like skill. Clipped, a forecast has no spikes, so the
  null's lumps can only come from the labels, whose persistence the test's effective number of
  shifts already counts: shift_p's kurtosis floor is off here (with labels held for a horizon or a
  whole settlement, it would fail every skilled miner of a history shorter than months).
- X2, copies: exact clones and soft cohorts (`clones`) over the newest days are scored once, on the
  member that submitted most among those that pass the gate on their own, and the group's
  importance is split by rows submitted among them; and a segment takes no second miner whose
  values over its eval window correlate at 0.8 or more with one it took (`_distinct`), so sybils
  that differ only where the copy scan looks take one place. The reference lets five copies of one
  model take five of the twenty places.
- X3, standardised meta inputs: a base model's decision values have its own slope's scale, so on
  raw inputs |coef| measures the inverse of that scale as much as information.
- X4, segments on the grid of absolute sample indices, fits kept: the reference counts segments in
  rows from the history's first, so every boundary and every fit moves each epoch once the 60-day
  history is full. Fixed mode's segment k validates on chunk k ([k·chunk + offset, (k + 1)·chunk))
  and every fit of it (selection, sub-segments, meta-model) reads the `train_window` samples
  before k·chunk (5 chunks; from the history's first while the cap has cut nothing). Once the cap
  cuts, only segments whose window lies inside the history count. A copy choice ranks seniority
  on the segment's own rows. A miner's gate reads whole days before its current one
  (`significance.gate_window`), its days offset by a hash of its hotkey (`gate_phase`: 20 offsets
  an epoch apart), so an epoch tests a twentieth of the miners anew instead of all at the day's
  turn. Each miner's gate p, its selection AUC per segment, a segment's copy choice and its
  meta-model are kept in a FitCache by the hash of exactly their inputs (the grid's chunks their
  windows span), so an epoch fits the newest segment and a share of the gates, and the salience is
  bit for bit that of a scorer without a cache.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mechanisms.mantis.bootstrap import median_of_means
from mechanisms.mantis.clones import find_clusters, find_correlated_cohorts, group_shares, join_groups
from mechanisms.mantis.entry import single_threaded
from mechanisms.mantis.fitcache import FitCache, digest, fit_key, kept
from mechanisms.mantis.panel import Mode, in_columns, row_blocks, take_rows
from mechanisms.mantis.significance import auc_columns, fast_length, gate_window, holm, shift_p

SEED = 42
_CODES = 1 << 16  # float16 bit patterns


@dataclass(frozen=True)
class XsecParams:
    ahead: int = 240  # samples between a row and its label's price (the challenge's horizon)
    lag: int = 60  # the reference's LAG: validation starts this long after a segment's start
    chunk: int = 8000  # rows per walk-forward segment
    top_k: int = 20  # miners the meta-model takes per segment
    half_life: int = 3  # segments: recency weight γ = 0.5^(1/half_life)
    min_rows: int = 200  # pooled cells a fit or a validation needs
    min_fit: int = 50  # a miner's non-zero fit cells for selection
    min_eval: int = 20  # … and eval cells
    C: float = 0.5  # L2 inverse strength of the base and meta models
    replicates: int = 20  # meta-model bootstrap replicates
    block: int = 120  # bootstrap block length, pooled cells
    min_history: int = 500  # rows with a label the panel needs
    history: int = 86_400  # fixed (F6): samples of history kept (60 days); compat keeps 432 000 rows
    train_window: int = 40_000  # fixed (X4): samples a segment's fits read before its validation start
    # fixed mode
    gate_alpha: float = 0.05  # X1: Holm's family-wise level
    min_shift: int = 1440  # X1: the null's smallest circular shift, samples (a day)
    gate_min_rows: int = 1440  # X1: rows a miner needs to be tested
    clone_rows: int = 2880  # X2: the newest rows the copy scan reads
    day: int = 1440  # X1: samples a day (the gate's window moves a day at a time)
    gate_phases: int = 20  # X1: the offsets of the miners' gate days (a day / 20: an epoch of 72 samples)
    max_corr: float = 0.8  # X2: a segment takes no second miner whose eval values correlate this much with one taken

    @property
    def embargo(self) -> int:
        return max(self.lag, self.ahead)


@dataclass(frozen=True)
class FundingParams(XsecParams):
    ahead: int = 480
    min_unique: int = 5  # distinct non-zero fit values a miner needs for selection
    stale_std: float = 1e-4  # a (miner, asset) column whose std over paired rows is below this is zeroed
    tolerance: float = 0.15  # pairing by sample index: the partner lies within int(tolerance · ahead)


# -- float16 codes ------------------------------------------------------------------------------


def _order_table() -> tuple[np.ndarray, np.ndarray]:
    """(key of each float16 bit pattern, in value order; value of each key)."""
    bits = np.arange(_CODES, dtype=np.uint32)
    key = np.where(bits >= 0x8000, 0xFFFF - bits, bits + 0x8000).astype(np.uint16)
    value = np.empty(_CODES)
    value[key] = bits.astype(np.uint16).view(np.float16).astype(np.float64)
    return key, value


_KEY, _VALUE = _order_table()


def _keys(v16: np.ndarray) -> np.ndarray:
    """Monotone uint16 keys of float16 values (−0 and +0 differ: zeros are never counted)."""
    return _KEY[v16.view(np.uint16)]


# -- the pooled problem -------------------------------------------------------------------------


@dataclass
class _Pool:
    """The (row, asset) cells with a label, row-major: `t` (n,) time coordinate (compat: the row;
    fixed: the sample index from the first row), `cell` (n,) flat index into (rows, assets), `y` (n,)
    labels."""

    X: np.ndarray  # (R, H, A) float16 values of the kept rows, NaN = no vector
    t: np.ndarray
    cell: np.ndarray
    y: np.ndarray
    zeroed: np.ndarray | None = None  # (H, A) bool: FUNDING's stale columns

    def column(self, j: int, a: int = 0, b: int | None = None) -> np.ndarray:
        """Miner j's values at the pooled cells [a, b) (all of them by default), float16, 0 where it
        has none; only the rows holding those cells are read."""
        cell = self.cell[a:b]
        if not len(cell):
            return np.zeros(0, dtype=np.float16)
        A = self.X.shape[2]
        r0 = int(cell[0]) // A
        v = self.X[r0 : int(cell[-1]) // A + 1, j, :].reshape(-1)[cell - r0 * A]
        v = np.where(np.isnan(v), np.float16(0), v)
        if self.zeroed is not None and self.zeroed[j].any():
            v[self.zeroed[j][cell % A]] = 0
        return v

    def at(self, t: int) -> int:
        """The first pooled cell at time ≥ t."""
        return int(np.searchsorted(self.t, t, side="left"))


def _labels_xsec(prices: np.ndarray, sidx: np.ndarray, ahead: int, mode: Mode) -> tuple[np.ndarray, np.ndarray]:
    """(rows (U,), y (U, A) in {0, 1, NaN}): the rows that have a partner `ahead` on and their labels
    1[ret > nanmedian ret] (compat: the partner is `ahead` rows on; fixed: the sample `ahead` on)."""
    T = len(prices)
    if mode == "compat":
        rows = np.arange(max(T - ahead, 0))
        partner = rows + ahead
    else:
        at = np.searchsorted(sidx, sidx + ahead)
        found = (at < T) & (sidx[np.minimum(at, T - 1)] == sidx + ahead)
        rows, partner = np.flatnonzero(found), at[found]
    p0, p1 = prices[rows], prices[partner]
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = np.where((p0 > 0) & (p1 > 0), p1 / p0 - 1.0, np.nan)
    return rows, _above_median(ret)


def _above_median(d: np.ndarray) -> np.ndarray:
    """1[d > the row's nanmedian] (strict: a lone asset is 0), NaN where d or the median is NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row's median is NaN, as wanted
        med = np.nanmedian(d, axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(d) | np.isnan(med), np.nan, (d > med).astype(np.float64))


def funding_pairs(sidx: np.ndarray, ahead: int, tol: int) -> np.ndarray:
    """(T,) each row's partner row, or −1: of the rows just before and at the first sample index
    ≥ sidx + ahead, the one closest to that target, strictly after the row and within `tol`
    (inclusive); a tie goes to the earlier row (§11.6)."""
    T = len(sidx)
    target = sidx + ahead
    at = np.searchsorted(sidx, target, side="left")
    out = np.full(T, -1, dtype=np.int64)
    best = np.full(T, np.inf)
    for cand in (at - 1, at):
        ok = (cand > np.arange(T)) & (cand < T)
        c = np.where(ok, cand, 0)
        dist = np.abs(sidx[c] - target).astype(np.float64)
        take = ok & (dist <= tol) & (dist < best)
        out[take], best[take] = c[take], dist[take]
    return out


def _pool(X: np.ndarray, rows: np.ndarray, y: np.ndarray, t_of_row: np.ndarray) -> _Pool:
    A = y.shape[1]
    flat = np.isfinite(y).ravel()
    cell_in_rows = np.flatnonzero(flat)
    r = rows[cell_in_rows // A]
    return _Pool(X, t_of_row[r], r * A + cell_in_rows % A, y.ravel()[flat])


# -- histograms and 1-D fits --------------------------------------------------------------------


class _Histograms:
    """A miner's counts of each float16 value per class over prefixes of the pool: `range(a, b)`
    gives the counts over pooled cells [a, b) from prefix sums at the positions asked for."""

    def __init__(self, keys: np.ndarray, y: np.ndarray, nz: np.ndarray, cuts: Sequence[int]) -> None:
        self.cuts = sorted(set(int(c) for c in cuts) | {0})
        code = keys.astype(np.int64) + _CODES * (y > 0.5)
        prefix, acc, last = {}, np.zeros(2 * _CODES, dtype=np.int64), 0
        for c in self.cuts:
            if c > last:
                acc = acc + np.bincount(code[last:c][nz[last:c]], minlength=2 * _CODES)
                last = c
            prefix[c] = acc
        self.prefix = prefix

    def range(self, a: int, b: int) -> np.ndarray:
        return self.prefix[b] - self.prefix[a]


def fit_1d(counts: np.ndarray, C: float) -> tuple[float, float]:
    """(intercept, slope) minimising ½b² + C·Σ logloss over cells counted per float16 value and
    class (`counts` (2·65 536,): class 0 then class 1), by Newton's method to convergence:
    scikit-learn's L2 LogisticRegression on the same cells, without its solver tolerance. The
    objective is strictly convex and smooth; a step that would raise it is halved."""
    n0, n1 = counts[:_CODES], counts[_CODES:]
    used = np.flatnonzero(n0 + n1)
    x, w0, w1 = _VALUE[used], n0[used].astype(np.float64), n1[used].astype(np.float64)
    w = w0 + w1
    a, b = math.log(w1.sum() / w0.sum()), 0.0

    def loss(a: float, b: float) -> float:
        z = a + b * x
        return 0.5 * b * b + C * float((w1 * np.logaddexp(0, -z) + w0 * np.logaddexp(0, z)).sum())

    current = None
    for _ in range(100):
        z = a + b * x
        p = 0.5 * (1 + np.tanh(0.5 * z))
        r = w * p - w1
        ga, gb = C * r.sum(), b + C * float((r * x).sum())
        s = C * w * p * (1 - p)
        haa, hab, hbb = float(s.sum()), float((s * x).sum()), float((s * x * x).sum()) + 1.0
        det = haa * hbb - hab * hab
        if not det > 0:
            break
        da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        if abs(da) + abs(db) < 1e-12 * (1 + abs(a) + abs(b)):
            break
        step = 1.0
        if abs(db) > 0.5 or abs(da) > 0.5:  # far from the optimum: guard against overshooting
            current = loss(a, b) if current is None else current
            while step > 1e-8 and loss(a - step * da, b - step * db) > current:
                step /= 2
            current = loss(a - step * da, b - step * db)
        else:
            current = None
        a, b = a - step * da, b - step * db
    return a, b


def auc_of_counts(counts: np.ndarray) -> float:
    """AUC of the values against the labels, from counts per value (ties count half)."""
    n0, n1 = counts[:_CODES].astype(np.float64), counts[_CODES:].astype(np.float64)
    N0, N1 = n0.sum(), n1.sum()
    below = np.cumsum(n0) - n0
    return float((n1 * (below + 0.5 * n0)).sum() / (N0 * N1))


def _oriented_auc(counts: np.ndarray, slope: float) -> float:
    """The AUC of a 1-D model's decision values a + b·x: the values' own AUC, reversed for b < 0."""
    if slope == 0:
        return 0.5
    auc = auc_of_counts(counts)
    return auc if slope > 0 else 1.0 - auc


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """The meta-model's validation AUC; 0.5 where it has none (one class, or a non-finite score: the
    reference's roc_auc_score raises there and it takes 0.5)."""
    auc = float(auc_columns(score[:, None], (y > 0.5).astype(np.int64))[0])
    return auc if math.isfinite(auc) else 0.5


# -- the meta-model -----------------------------------------------------------------------------


def _balanced(y: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """scikit-learn's class_weight="balanced" over the resampled cells, times each cell's count."""
    n = counts.sum()
    n1 = counts[y > 0.5].sum()
    return counts * np.where(y > 0.5, n / (2.0 * n1), n / (2.0 * (n - n1)))


def quadratic_meta(X: np.ndarray, y: np.ndarray, counts: np.ndarray, C: float) -> np.ndarray:
    """(K + 1,) the balanced L2 logistic meta-model as its quadratic expansion at even odds (fixed
    mode, as `logistic.ridge_step`): w = (C·H + I)⁻¹·C·g with g = Σ s(y − ȳ)x̃, H = ¼ Σ s·x̃x̃ᵀ, the
    cells weighted s by their count and class; one pass over the design, no solver tolerance."""
    s = _balanced(y, counts)
    total = s.sum()
    xbar = (s @ X) / total
    ybar = float(s @ y) / total
    G = X.T @ (X * s[:, None]) - total * np.outer(xbar, xbar)
    g = X.T @ (s * (y - ybar)) - xbar * float(s @ (y - ybar))
    w = np.linalg.solve(C * 0.25 * G + np.eye(len(xbar)), C * g)
    return np.r_[w, math.log(ybar / (1 - ybar)) - float(xbar @ w)]


def sklearn_meta(X: np.ndarray, y: np.ndarray, counts: np.ndarray, C: float, seed: int) -> np.ndarray:
    """(K + 1,) the reference's fit (compat): scikit-learn's balanced L2 LogisticRegression, lbfgs,
    100 iterations, on the drawn cells with their counts as weights (the same objective and so the
    same iterates as the drawn copies, without copying the design)."""
    from sklearn.linear_model import LogisticRegression

    drawn = counts > 0
    clf = LogisticRegression(C=C, class_weight="balanced", solver="lbfgs", max_iter=100, random_state=seed)
    clf.fit(X[drawn], y[drawn], sample_weight=counts[drawn])
    return np.r_[np.asarray(clf.coef_, dtype=np.float64).ravel(), float(clf.intercept_[0])]


def sklearn_1d(counts: np.ndarray, C: float) -> tuple[float, float]:
    """(intercept, slope) of the reference's 1-D fit (compat): scikit-learn's L2 LogisticRegression,
    lbfgs, 200 iterations, on each float16 value and class once with its count as weight."""
    from sklearn.linear_model import LogisticRegression

    used = np.flatnonzero(counts)
    x = _VALUE[used % _CODES].astype(np.float32).reshape(-1, 1)
    clf = LogisticRegression(C=C, solver="lbfgs", max_iter=200, random_state=SEED)
    clf.fit(x, (used >= _CODES).astype(np.float64), sample_weight=counts[used].astype(np.float64))
    return float(clf.intercept_[0]), float(clf.coef_[0, 0])


def bootstrap_meta(X: np.ndarray, y: np.ndarray, *, seed: int, replicates: int, block: int, C: float,
                   fixed: bool) -> tuple[np.ndarray, float, np.ndarray] | None:
    """(signed mean coef, mean intercept, median-of-means |coef|) over block-bootstrap replicates
    of the balanced L2 logistic meta-model (§11.0), or None. A replicate's cells carry counts (how
    often each was drawn). Fixed mode uses every replicate (F10) and the quadratic model."""
    T = len(y)
    if T < 2 * block or replicates <= 1 or np.unique(y).size < 2:
        return None
    n_blocks = max(1, T // block)
    X32 = None if fixed else X.astype(np.float32)
    coefs, intercepts = [], []
    for b in range(replicates):
        rng = np.random.default_rng(seed + b)
        starts = np.sort(rng.integers(0, T - block + 1, size=n_blocks))
        edges = np.zeros(T + 1, dtype=np.int64)
        np.add.at(edges, starts, 1)
        np.add.at(edges, starts + block, -1)
        counts = np.cumsum(edges[:T]).astype(np.float64)
        if np.unique(y[counts > 0]).size < 2:
            continue
        try:
            beta = quadratic_meta(X, y, counts, C) if fixed else sklearn_meta(X32, y, counts, C, seed + b)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if not np.isfinite(beta).all():
            continue
        coefs.append(beta[:-1])
        intercepts.append(beta[-1])
    if not coefs:
        return None
    stack = np.stack(coefs)
    return stack.mean(axis=0), float(np.mean(intercepts)), median_of_means(np.abs(stack), fixed)


# -- the walk-forward ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Where a segment's windows end, per challenge and mode (§11.5, §11.6, F2, F3)."""

    offset: int  # validation start − segment start
    eval_back: int  # selection eval end = validation start − eval_back
    fit_back: int  # selection fit end = eval start − fit_back
    train_back: int  # meta-train end = validation start − train_back
    sub_offset: int  # a sub-segment's OOS start − its start
    sub_fit_back: int  # a sub-segment fit ends this long before its OOS start
    min_unique: int
    stable: bool
    fixed: bool  # F10, X3 and exact models instead of the reference's scikit-learn fits

    def base(self, counts: np.ndarray, C: float) -> tuple[float, float]:
        return fit_1d(counts, C) if self.fixed else sklearn_1d(counts, C)


def plan_for(params: XsecParams, mode: Mode, funding: bool) -> Plan:
    fixed = mode == "fixed"
    h, lag = params.ahead, params.lag
    if funding:
        return Plan(params.embargo, h, h, h, h, h if fixed else 0, params.min_unique, fixed, fixed)
    if fixed:
        return Plan(params.embargo, h, h, h, lag, h, 0, True, True)
    return Plan(lag, 0, lag, 0, lag, 0, 0, True, False)


def recency_weight(n_segments: int, i: int, half_life: int) -> float:
    """γ^(n − 1 − i), γ = 0.5^(1/half_life): the newest segment weighs 1, one half-life back ½."""
    return (0.5 ** (1.0 / max(1, half_life))) ** (n_segments - 1 - i)


def windows(segment: tuple[int, int, int], plan: Plan, chunk: int) -> tuple[int, int, int, int]:
    """(selection fit end, eval start, eval end, meta-train end) of a segment (s, vs, e): times, not
    cells. The selection fits rows before the fit end, is judged on [eval start, eval end), and the
    meta-model trains before the meta-train end."""
    _, vs, _ = segment
    eval_end = max(0, vs - plan.eval_back)
    eval_start = max(0, eval_end - chunk)
    return max(0, eval_start - plan.fit_back), eval_start, eval_end, vs - plan.train_back


def segments_of(T_u: int, offset: int, chunk: int) -> list[tuple[int, int, int]]:
    out, s = [], 0
    while s < T_u:
        vs = s + offset
        if vs >= T_u:
            break
        e = min(s + chunk, T_u)
        if e <= vs:
            break
        out.append((s, vs, e))
        s = e
    return out


@dataclass(frozen=True)
class Segment:
    """A fixed-mode segment on the grid of absolute sample indices (X4): chunk k validates on
    [val_start, end) and every fit of it reads samples from `origin` on."""

    k: int
    origin: int
    start: int  # k·chunk
    val_start: int
    end: int

    @property
    def span(self) -> tuple[int, int, int]:
        return self.start, self.val_start, self.end


def anchored_segments(first: int, T_u: int, young: bool, plan: Plan, params: XsecParams) -> list[Segment]:
    """X4: the segments of a history whose first sample is `first` and whose labelled samples end
    before T_u. Segment k validates on [k·chunk + offset, min((k + 1)·chunk, T_u)) and its fits read
    the `train_window` samples before k·chunk, so its inputs are the same in every epoch that
    scores it. While the history is young (the cap has cut nothing) a window starts no earlier than
    its first sample; once the cap cuts, only segments whose window lies inside the history count."""
    C = params.chunk
    out = []
    for k in range(first // C, -(-T_u // C)):
        s = k * C
        vs, e, origin = s + plan.offset, min(s + C, T_u), s - params.train_window
        if vs < e and (young or origin >= first):
            out.append(Segment(k, max(origin, first), s, vs, e))
    return out


def _selection_auc(hist: _Histograms, o: int, f: int, a: int, b: int, params: XsecParams, plan: Plan) -> float:
    """A miner's selection AUC in a segment: its 1-D model fitted on the cells [o, f) and judged on
    [a, b); 0.5 where either holds too few of its values or one class."""
    fit, ev = hist.range(o, f), hist.range(a, b)
    if fit.sum() < params.min_fit or ev.sum() < params.min_eval:
        return 0.5
    if min(fit[:_CODES].sum(), fit[_CODES:].sum()) == 0 or min(ev[:_CODES].sum(), ev[_CODES:].sum()) == 0:
        return 0.5
    if plan.min_unique and np.count_nonzero(fit[:_CODES] + fit[_CODES:]) < plan.min_unique:
        return 0.5
    _, slope = plan.base(fit, params.C)
    return _oriented_auc(ev, slope)


def _usable(pool: _Pool, o: int, f: int, a: int, b: int, params: XsecParams) -> bool:
    """A segment selects only with enough fit and eval cells, each holding both classes."""
    return (f - o >= params.min_rows and b - a >= params.min_rows and np.unique(pool.y[o:f]).size == 2
            and np.unique(pool.y[a:b]).size == 2)


def _walk_forward(pool: _Pool, T_u: int, H: int, params: XsecParams, plan: Plan) -> np.ndarray:
    """Compat: (H,) importance, summed over the reference's segments (counted in rows from the
    history's first) with recency weights and divided by their total; T_u is where the segments end
    (the row after the last labelled one)."""
    segments = segments_of(T_u, plan.offset, params.chunk)
    if not segments:
        return np.zeros(H)
    cells = [tuple(pool.at(t) for t in windows(seg, plan, params.chunk)[:3]) for seg in segments]
    cuts = [c for w in cells for c in w]
    aucs = np.full((len(segments), H), 0.5, dtype=np.float32)
    ok_seg = np.array([_usable(pool, 0, f, a, b, params) for f, a, b in cells], dtype=bool)
    for j in range(H):
        if not ok_seg.any():
            break
        v = pool.column(j)
        hist = _Histograms(_keys(v), pool.y, v != 0, cuts)
        for i, (f, a, b) in enumerate(cells):
            if ok_seg[i]:
                aucs[i, j] = _selection_auc(hist, 0, f, a, b, params, plan)
    importance = np.zeros(H)
    total_w = 0.0
    for i, seg in enumerate(segments):
        if not ok_seg[i]:
            continue
        selected = np.argsort(-aucs[i], kind="stable" if plan.stable else None)[: min(params.top_k, H)]
        got = _segment(pool, params, plan, SEED + 7919 * (i + 1), seg, selected)
        if got is None:
            continue
        w = recency_weight(len(segments), i, params.half_life)
        importance[selected] += w * got
        total_w += w
    return importance / total_w if total_w > 0 else np.zeros(H)


class _Chunks:
    """Digests of a pool's cells per chunk of the grid, [g·chunk, (g + 1)·chunk) in sample indices:
    a fit's key names the chunks its window spans (a miner's values there and the labels), so a
    window whose rows are final has the same key in every epoch."""

    def __init__(self, pool: _Pool, segments: Sequence[Segment], chunk: int) -> None:
        self.chunk = chunk
        self.g0 = min(g.origin for g in segments) // chunk
        g1 = -(-max(g.end for g in segments) // chunk)
        self.bounds = [pool.at(g * chunk) for g in range(self.g0, g1 + 1)]
        A = pool.X.shape[2]
        self.labels = [digest(pool.t[a:b], pool.cell[a:b] % A, pool.y[a:b]) for a, b in self._pairs()]

    def _pairs(self) -> list[tuple[int, int]]:
        return list(zip(self.bounds[:-1], self.bounds[1:]))

    def of(self, v: np.ndarray) -> list[bytes]:
        """A column's digest per chunk."""
        return [digest(v[a:b]) for a, b in self._pairs()]

    def span(self, parts: Sequence[bytes], lo: int, hi: int) -> list[bytes]:
        """The parts of the chunks that the samples [lo, hi) touch."""
        return list(parts[lo // self.chunk - self.g0 : -(-hi // self.chunk) - self.g0])


def _walk_anchored(pool: _Pool, segments: Sequence[Segment], H: int, params: XsecParams, plan: Plan,
                   candidates: np.ndarray, sidx: np.ndarray, cache: FitCache | None) -> np.ndarray:
    """Fixed mode's walk-forward over the anchored segments (X4): (H,) importance, weighted by
    recency as in compat. Each candidate's selection AUC in a segment, and each segment's copy choice
    and meta-model importances, are kept in `cache` by the hash of exactly their inputs (the chunks
    their windows span), so an epoch refits only the segments whose rows changed: the newest, as a
    rule."""
    if not segments or not len(candidates):
        return np.zeros(H)
    C = params.chunk
    wins = [windows(g.span, plan, C)[:3] for g in segments]  # (fit end, eval start, eval end) times
    cells = [(pool.at(g.origin), pool.at(f), pool.at(max(a, g.origin)), pool.at(b))
             for g, (f, a, b) in zip(segments, wins)]
    ok_seg = [_usable(pool, *c, params) for c in cells]
    chunks = _Chunks(pool, segments, C)
    cuts = [c for cs in cells for c in cs]
    tag = (plan, params.C, params.min_fit, params.min_eval, C)
    aucs = np.full((len(segments), H), 0.5)
    digests: dict[int, list[bytes]] = {}
    for j in (int(j) for j in candidates):
        v = pool.column(j)
        digests[j] = chunks.of(v)
        hist: list[_Histograms] = []  # built on the first miss only

        def compute(o: int, f: int, a: int, b: int) -> list[float]:
            if not hist:
                hist.append(_Histograms(_keys(v), pool.y, v != 0, cuts))
            return [_selection_auc(hist[0], o, f, a, b, params, plan)]

        for i, g in enumerate(segments):
            if ok_seg[i]:
                hi = wins[i][2]
                key = fit_key("xsec.auc.v1", tag, g.origin, wins[i], *chunks.span(digests[j], g.origin, hi),
                              *chunks.span(chunks.labels, g.origin, hi))
                aucs[i, j] = kept(cache, key, lambda c=cells[i]: compute(*c), lambda x: len(x) == 1 and 0 <= x[0] <= 1)[0]
    importance = np.zeros(H)
    total_w = 0.0
    for i, g in enumerate(segments):
        if not ok_seg[i]:
            continue
        order = np.argsort(-aucs[i], kind="stable")
        order = order[np.isin(order, candidates)]
        order = order[aucs[i, order] > 0.5]
        a, b = wins[i][1:]
        rank = _seniority(pool.X, sidx, order, g.origin, b)
        key = fit_key("xsec.distinct.v1", params.top_k, params.max_corr, rank,
                      *(d for j in order for d in chunks.span(digests[int(j)], max(a, g.origin), b)))
        taken = kept(cache, key, lambda: _distinct(pool, order, cells[i][2:], params, rank),
                     lambda x: len(x) <= len(order) and bool(np.all((x >= 0) & (x < len(order)) & (x == np.floor(x))))
                     and len(np.unique(x)) == len(x) and (len(x) > 0) == (len(order) > 0))
        selected = order[taken.astype(np.int64)]
        if not len(selected):
            continue
        key = fit_key("xsec.segment.v1", tag, params.replicates, params.block, params.min_rows, g,
                      *(d for j in selected for d in chunks.span(digests[int(j)], g.origin, g.end)),
                      *chunks.span(chunks.labels, g.origin, g.end))
        got = kept(cache, key, lambda: _packed(_segment(pool, params, plan, SEED + 7919 * (g.k + 1), g.span,
                                                        selected, g.origin)),
                   lambda x: (len(x) == 1 and x[0] == 0.0) or (len(x) == len(selected) + 1 and x[0] == 1.0))
        if not got[0]:
            continue
        w = recency_weight(len(segments), i, params.half_life)
        importance[selected] += w * got[1:]
        total_w += w
    return importance / total_w if total_w > 0 else np.zeros(H)


def _packed(importance: np.ndarray | None) -> np.ndarray:
    """A segment's result as the fit store keeps it: [0] when it was skipped, else [1, *importance]."""
    return np.zeros(1) if importance is None else np.r_[1.0, importance]


def _seniority(X: np.ndarray, sidx: np.ndarray, order: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """(len(order),) the ordered miners' seniority ranks (0 the most senior) over the rows of the
    samples [lo, hi) (a segment's window: the same in every epoch): the first row present, then more
    rows present, then column order. A copier starts after what it copies."""
    r0, r1 = np.searchsorted(sidx, [lo, hi])
    present = ~np.isnan(X[r0:r1, order, 0])
    first = np.where(present.any(axis=0), present.argmax(axis=0), r1 - r0)
    rank = np.empty(len(order), dtype=np.int64)
    rank[np.lexsort((order, -present.sum(axis=0), first))] = np.arange(len(order))
    return rank


def _distinct(pool: _Pool, order: np.ndarray, window: tuple[int, int], params: XsecParams,
              seniority: np.ndarray) -> np.ndarray:
    """X2 within a segment: the top_k miners in AUC order, where a miner whose values over the
    selection's eval cells correlate (|r| ≥ max_corr, over the cells both scored) with one already
    taken shares its place: the senior of the two holds it (`seniority` of each position in `order`,
    smaller is senior: `_seniority`). Sybils of one model that differ only where the copy scan looks
    take one place, and a transformed copy that happens to rank above its original in a segment does
    not take the original's place. Returns the taken miners' positions in `order`."""
    a, b = window
    taken: list[int] = []
    kept_values: list[np.ndarray] = []
    for pos, j in enumerate(order):
        v = pool.column(int(j), a, b).astype(np.float64)
        twin = next((k for k, u in enumerate(kept_values) if abs(_corr(v, u)) >= params.max_corr), None)
        if twin is None:
            if len(taken) == params.top_k:
                break
            taken.append(pos)
            kept_values.append(v)
        elif seniority[pos] < seniority[taken[twin]]:
            taken[twin], kept_values[twin] = pos, v
    return np.array(taken, dtype=np.int64)


def _corr(v: np.ndarray, u: np.ndarray) -> float:
    both = (v != 0) & (u != 0)
    if both.sum() < 3:
        return 0.0
    x, y = v[both] - v[both].mean(), u[both] - u[both].mean()
    denom = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y) / denom if denom > 0 else 0.0


def _segment(pool: _Pool, params: XsecParams, plan: Plan, seed: int, segment: tuple[int, int, int],
             selected: np.ndarray, origin: int = 0) -> np.ndarray | None:
    """(K,) importance of the selected miners from one segment's meta-model, or None (skipped). Its
    fits read the cells from time `origin` on (compat: the history's first)."""
    _, vs, e = segment
    cutoff = windows(segment, plan, params.chunk)[3]
    if cutoff <= origin:
        return None
    o = pool.at(origin)
    n_tr, v0, v1 = pool.at(cutoff) - o, pool.at(vs) - o, pool.at(e) - o  # cells from o
    y = pool.y[o : o + v1]
    y_tr, y_va = y[:n_tr], y[v0:v1]
    if v1 - v0 < params.min_rows or np.unique(y_va).size < 2:
        return None
    subs = segments_of(cutoff - origin, plan.sub_offset, max(params.chunk, 2000))
    sub_cells = [tuple(max(pool.at(origin + t) - o, 0) for t in (ss_val - plan.sub_fit_back, ss_val, ss_end))
                 for _, ss_val, ss_end in subs]
    K = len(selected)
    meta_tr = np.full((n_tr, K), np.nan, dtype=np.float32)
    meta_va = np.full((v1 - v0, K), np.nan, dtype=np.float32)
    cuts = [c for sc in sub_cells for c in sc] + [n_tr]
    for col, j in enumerate(selected):
        v = pool.column(int(j), o, o + v1)
        nz = v != 0
        keys = _keys(v)
        hist = _Histograms(keys, y, nz, cuts)
        for f, a, b in sub_cells:
            fit = hist.range(0, f)
            oos = np.flatnonzero(nz[a:b]) + a
            if fit.sum() < params.min_fit or not len(oos) or min(fit[:_CODES].sum(), fit[_CODES:].sum()) == 0:
                continue
            icpt, slope = plan.base(fit, params.C)
            meta_tr[oos, col] = icpt + slope * _VALUE[keys[oos]]
        full = hist.range(0, n_tr)
        if full.sum() >= params.min_fit and min(full[:_CODES].sum(), full[_CODES:].sum()) > 0:
            icpt, slope = plan.base(full, params.C)
            va = np.flatnonzero(nz[v0:v1]) + v0
            meta_va[va - v0, col] = icpt + slope * _VALUE[keys[va]]
    has = ~np.isnan(meta_tr).all(axis=1)
    if has.sum() < params.min_rows:
        return None
    X_tr = np.nan_to_num(meta_tr[has].astype(np.float64), copy=False, nan=0.0)  # in place: the design is
    del meta_tr                                                                    # the segment's largest array
    y_meta = y_tr[has]
    if np.unique(y_meta).size < 2:
        return None
    X_va = np.nan_to_num(meta_va.astype(np.float64), copy=False, nan=0.0)
    fixed = plan.fixed
    if fixed:  # X3: standardised meta inputs (fixed)
        mu, sd = X_tr.mean(axis=0), X_tr.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        for a in (X_tr, X_va):
            a -= mu
            a /= sd
    agg = bootstrap_meta(X_tr, y_meta, seed=seed, replicates=params.replicates,
                         block=params.block, C=params.C, fixed=fixed)
    if agg is not None:
        signed, intercept, coef = agg
        with np.errstate(over="ignore"):
            proba = 1.0 / (1.0 + np.exp(-(X_va @ signed + intercept)))
        auc = roc_auc(y_va, proba)
    else:  # the reference's single fit (a history too short for the bootstrap)
        ones = np.ones(len(y_meta))
        beta = quadratic_meta(X_tr, y_meta, ones, params.C) if fixed else sklearn_meta(
            X_tr.astype(np.float32), y_meta, ones, params.C, SEED)
        auc = roc_auc(y_va, X_va @ beta[:-1] + beta[-1])
        coef = np.abs(beta[:-1])
    return coef * max((auc - 0.5) / 0.5, 0.0)


# -- fixed mode's gate and copy groups ----------------------------------------------------------


def gate_phase(hotkey: str, phases: int, day: int) -> int:
    """X1: the offset, in samples, of a miner's gate days: a hash of its hotkey spreads the miners
    over `phases` offsets a day apart / phases, so an epoch computes a share of the gates anew
    instead of every gate at the day's turn."""
    h = hashlib.sha256(hotkey.encode("utf-8", "surrogatepass")).digest()  # any str hashes
    return int.from_bytes(h[:4], "big") % phases * (day // phases)


def _gate(pool: _Pool, y2: np.ndarray, rows: np.ndarray, sidx: np.ndarray, label_lag: int, params: XsecParams,
          hotkeys: Sequence[str], cache: FitCache | None) -> np.ndarray:
    """X1: (H,) whether each miner's forecasts beat their circular shifts (Holm over those tested).
    A miner's test reads the labelled rows of its whole days (`gate_phase`) before its current one
    whose labels had ended when that day began (`significance.gate_window`: the same window all its
    day), and its p is kept in `cache` by the hash of its values there and the labels, so each p is
    computed once a day, a twentieth of the miners an epoch."""
    X = pool.X
    H, A = X.shape[1:]
    phase = np.array([gate_phase(h, params.gate_phases, params.day) for h in hotkeys], dtype=np.int64)
    tag = (params.ahead, params.min_shift, params.gate_min_rows, 4 * params.ahead)
    p = np.full(H, np.nan)
    for ph in np.unique(phase):
        lo, hi = gate_window(int(sidx[0]), int(sidx[-1]), params.day, params.history, 0, label_lag, int(ph))
        inside = (sidx[rows] >= lo) & (sidx[rows] < hi)
        w_rows, w_y = rows[inside], y2[inside]
        n = fast_length(len(w_rows))
        w_rows, w_y = w_rows[len(w_rows) - n :], w_y[len(w_y) - n :]
        if n < params.gate_min_rows:  # a young history: these miners' days hold too few rows to test
            continue
        labels = digest(sidx[w_rows], w_y)
        centred: list[tuple[np.ndarray, np.ndarray]] = []  # the labels' transform, on the first miss

        def compute(v16: np.ndarray, zeroed: np.ndarray) -> list[float]:
            if not centred:
                o = w_y - 0.5
                o_ok = np.isfinite(o)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # an asset never labelled in the window
                    o = np.where(o_ok, o - np.nanmean(np.where(o_ok, o, np.nan), axis=0), 0.0)
                centred.append((np.fft.rfft(o, axis=0), o_ok))
            return _gate_p(v16, zeroed, *centred[0], params)

        for j in np.flatnonzero(phase == ph):
            v16 = X[w_rows, j, :]  # one miner's rows: never a copy of the whole window
            zeroed = pool.zeroed[j] if pool.zeroed is not None else np.zeros(A, dtype=bool)
            key = None if cache is None else fit_key("xsec.gate.v2", tag, labels, zeroed, v16)
            got = kept(cache, key, lambda: compute(v16, zeroed),
                       lambda x: len(x) == 2 and x[0] in (0.0, 1.0) and not x[1] < 0 and not x[1] > 1)
            if got[0]:
                p[j] = got[1] if math.isfinite(got[1]) else 1.0
    out = np.zeros(H, dtype=bool)
    tested = np.flatnonzero(np.isfinite(p))
    if len(tested):
        out[tested] = holm(p[tested], params.gate_alpha)
    return out


def _gate_p(v16: np.ndarray, zeroed: np.ndarray, O: np.ndarray, o_ok: np.ndarray, params: XsecParams) -> list[float]:
    """[1, p] of one miner's forecasts v16 (n, A) against the centred labels' transform O, or [0, 1]
    when it has too few rows to be tested."""
    v = v16.astype(np.float64)
    v[v == 0] = np.nan
    v[:, zeroed] = np.nan
    if np.count_nonzero(np.isfinite(v).any(axis=1)) < params.gate_min_rows:
        return [0.0, 1.0]
    f = causal_scores(v, 4 * params.ahead)
    ok = np.isfinite(f) & o_ok
    if ok.sum() < params.gate_min_rows:
        return [0.0, 1.0]
    used = ok.any(axis=0)  # an asset the miner never scored contributes nothing
    f[:, used] -= np.nanmean(np.where(ok[:, used], f[:, used], np.nan), axis=0)
    f = np.where(ok, f, 0.0)
    cross = (np.conj(np.fft.rfft(f, axis=0)) * O).sum(axis=1)
    _, p = shift_p(cross, len(v), params.min_shift, lumpy_floor=False)
    return [1.0, p]


def causal_scores(v: np.ndarray, window: int) -> np.ndarray:
    """(n, A) each column's values standardised by the mean and std of its values in the `window`
    rows before (`significance.causal_z`'s rule, over rows rather than values, so all columns go in
    one pass) and clipped to ±3, so no spike can stand for a forecast; NaN where a value is absent,
    or its window holds fewer than half a window of values or does not vary."""
    n, A = v.shape
    ok = np.isfinite(v)
    x = np.where(ok, v, 0.0)
    c = np.empty((3, n + 1, A))  # running sums of x, x² and the count, from a zero row
    c[:, 0] = 0.0
    np.cumsum(x, axis=0, out=c[0, 1:])
    np.cumsum(np.square(x, out=x), axis=0, out=c[1, 1:])
    np.cumsum(ok, axis=0, out=c[2, 1:])
    s = c[:, :-1].copy()  # sums over the rows before each row …
    w = min(window, n)
    s[:, w:] -= c[:, : n - w]  # … back to `window` rows before it
    mean, var, k = s
    with np.errstate(invalid="ignore", divide="ignore"):
        mean /= k
        var /= k
        var -= mean * mean
        sd = np.sqrt(np.maximum(var, 0.0, out=var), out=var)
        valid = ok & (k >= window / 2) & (sd > 1e-9 * np.maximum(np.abs(mean), 1.0))
        z = v - mean
        z /= np.where(valid, sd, 1.0)
    np.clip(z, -3.0, 3.0, out=z)
    z[~valid] = np.nan
    return z


def _copy_groups(X: np.ndarray, hotkeys: Sequence[str], params: XsecParams) -> np.ndarray:
    """X2: (H,) each column's group root: exact clones and soft cohorts over the newest rows."""
    recent = np.asarray(X[-params.clone_rows:], dtype=np.float32)
    roots = join_groups(find_correlated_cohorts(recent, hotkeys, mode="fixed"), hotkeys)
    return join_groups(find_clusters(recent, hotkeys, mode="fixed"), hotkeys, roots)


# -- entry --------------------------------------------------------------------------------------


def _checked(X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, hotkeys: Sequence[str], mode: Mode
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The panel as float16 values in sorted-hotkey columns (ValueError saying what disagrees)."""
    if mode not in ("compat", "fixed"):
        raise ValueError(f"mode must be 'compat' or 'fixed', not {mode!r}")
    X, sidx, prices = np.asarray(X), np.asarray(sidx), np.asarray(prices, dtype=np.float64)
    hotkeys = [str(h) for h in hotkeys]
    if (X.ndim != 3 or X.shape[1] != len(hotkeys) or sidx.shape != (len(X),) or prices.shape != (len(X), X.shape[2])):
        raise ValueError("panel shapes disagree: X (T, H, A), sidx (T,), prices (T, A), hotkeys (H,)")
    if sidx.dtype.kind not in "iu" or np.any(np.diff(sidx) <= 0):
        raise ValueError("sidx must be strictly increasing integers")
    if len(set(hotkeys)) != len(hotkeys):
        raise ValueError("hotkeys must be unique")
    cols = np.argsort(np.asarray(hotkeys, dtype=str), kind="stable")
    hotkeys = [hotkeys[c] for c in cols]
    if X.dtype == np.float16 and not any(np.isinf(block).any() for _, block in row_blocks(X, np.arange(len(X)))):
        return in_columns(X, cols), sidx.astype(np.int64), prices, hotkeys
    # the ledger's precision (a float32 panel file is read as the ledger stores it), a block of rows at a
    # time so a large float32 panel is never copied whole
    out = np.empty(X.shape, dtype=np.float16)
    for r0, block in row_blocks(X, np.arange(len(X))):
        part = out[r0 : r0 + len(block)]
        with np.errstate(over="ignore", invalid="ignore"):
            part[:] = in_columns(block, cols)
        part[np.isinf(part)] = np.nan  # beyond float16's range: not a value the ledger could hold
    return out, sidx.astype(np.int64), prices, hotkeys


def _kept_rows(sidx: np.ndarray, any_value: np.ndarray, mode: Mode, params: XsecParams) -> tuple[np.ndarray, bool]:
    """(rows with a price (or rate) under the history cap (compat: 432 000 rows; fixed F6: by sample
    index), whether the cap cut none: a young history, whose first sample stays)."""
    rows = np.flatnonzero(any_value)
    if mode == "compat":
        kept = rows[-432_000:]
    else:
        kept = rows[sidx[rows] > sidx[rows[-1]] - params.history] if len(rows) else rows
    return kept, len(kept) == len(rows)


def _result(importance: np.ndarray, hotkeys: Sequence[str]) -> dict[str, float]:
    out = {hotkeys[j]: float(v) for j, v in enumerate(importance) if v > 0}
    total = sum(out.values())
    return {h: v / total for h, v in out.items()} if total > 0 else {}


def _score(X: np.ndarray, sidx: np.ndarray, young: bool, rows: np.ndarray, y2: np.ndarray, label_lag: int,
           hotkeys: list[str], mode: Mode, params: XsecParams, funding: bool, cache: FitCache | None,
           zeroed: np.ndarray | None = None) -> dict[str, float]:
    """Salience of the kept history X (its samples `sidx`) whose labelled rows `rows` have labels y2,
    known `label_lag` samples after their row."""
    H = X.shape[1]
    pool = _pool(X, rows, y2, np.arange(len(sidx)) if mode == "compat" else sidx)  # fixed: absolute times
    pool.zeroed = zeroed
    if len(pool.y) < params.min_rows or np.unique(pool.y).size < 2:
        return {}
    plan = plan_for(params, mode, funding)
    if mode == "compat":
        return _result(_walk_forward(pool, int(rows[-1]) + 1, H, params, plan), hotkeys)
    passed = _gate(pool, y2, rows, sidx, label_lag, params, hotkeys, cache)
    present = ~np.isnan(X[:, :, 0])
    rep, share = group_shares(_copy_groups(X, hotkeys, params), present, np.ones(len(X), dtype=bool), eligible=passed)
    segments = anchored_segments(int(sidx[0]), int(sidx[rows[-1]]) + 1, young, plan, params)
    group_imp = _walk_anchored(pool, segments, H, params, plan, np.unique(rep[passed]), sidx, cache)
    return _result(group_imp[rep] * share, hotkeys)


def xsec_salience(X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, hotkeys: Sequence[str], mode: Mode,
                  params: XsecParams = XsecParams(), cache: FitCache | None = None) -> dict[str, float]:
    """XSEC-RANK salience (§11.5): X (T, H, A) scores in [−1, 1] (NaN: no vector; 0: no value for
    that asset), prices (T, A) of the same assets. {hotkey: share}, empty when nothing scores. Fixed
    mode keeps its fits in `cache` (the result is the same without one)."""
    X, sidx, prices, hotkeys = _checked(X, sidx, prices, hotkeys, mode)
    with single_threaded():
        with np.errstate(invalid="ignore"):
            kept, young = _kept_rows(sidx, (prices > 0).any(axis=1), mode, params)
        X, sidx, prices = take_rows(X, kept), sidx[kept], prices[kept]  # a view: the history is consecutive rows
        rows, y2 = _labels_xsec(prices, sidx, params.ahead, mode)
        if len(rows) < params.min_history:
            return {}
        return _score(X, sidx, young, rows, y2, params.ahead, hotkeys, mode, params, False, cache)


def funding_salience(X: np.ndarray, sidx: np.ndarray, rates: np.ndarray, hotkeys: Sequence[str], mode: Mode,
                     params: FundingParams = FundingParams(), cache: FitCache | None = None) -> dict[str, float]:
    """FUNDING-XSEC salience (§11.6): X (T, H, A) scores, rates (T, A) funding rates (NaN: missing)."""
    X, sidx, rates, hotkeys = _checked(X, sidx, rates, hotkeys, mode)
    with single_threaded():
        kept, young = _kept_rows(sidx, np.isfinite(rates).any(axis=1), mode, params)
        X, sidx, rates = take_rows(X, kept), sidx[kept], rates[kept]
        tol = max(1, int(params.tolerance * params.ahead))
        partner = funding_pairs(sidx, params.ahead, tol)
        rows = np.flatnonzero(partner >= 0)
        if len(rows) < params.min_history:
            return {}
        y2 = _above_median(rates[partner[rows]] - rates[rows])
        zeroed = stale_columns(X, rows, params.stale_std)
        return _score(X, sidx, young, rows, y2, params.ahead + tol, hotkeys, mode, params, True, cache, zeroed)


def stale_columns(X: np.ndarray, rows: np.ndarray, min_std: float) -> np.ndarray:
    """(H, A) the (miner, asset) columns whose population std over the paired rows, absent values as
    0, is below min_std (§11.6); a NaN std (never, from float16 values) zeroes nothing."""
    H, A = X.shape[1:]
    out = np.zeros((H, A), dtype=bool)
    for j in range(H):
        v = X[rows, j, :].astype(np.float32)
        v[np.isnan(v)] = 0
        out[j] = v.std(axis=0) < min_std
    return out
