"""MULTI-BREAKOUT salience (mantis.md §11.4): which miners tell, when an asset breaks out of its
recent range, whether the move continues or reverses.

Events (`breakout_events`). Each of the 33 assets is replayed over the panel's prices. A row's
range is the min and max of the asset's valid prices (finite, > 0) at samples [sidx − L, sidx),
the row itself excluded; it needs at least L/2 of them and a width of at least 1 % of the price.
A price above the range opens a pending *high* event with barriers at ±25 % of the width around
the trigger price, a price below it a pending *low* one. The event resolves at the first later
valid price that reaches a barrier: the one in the breakout's direction is a continuation (label
1), the other a reversal (label 0). One older than max_pending samples when a price arrives is
dropped there without a label. A row resolves first and triggers after, so the row that closes
an event may open the next; the high and low slots never meet. Only events resolved within the
panel count: its rows end at the calculation's max block, so no label reaches past it.

The replay is vectorised: per asset a sparse table of minima and maxima gives every row's range
in two lookups, the rows where a trigger fires if its slot is free are found at once, and a loop
over the events (not the rows) finds each one's resolution by searching forward from its
trigger; a slot holds one event at a time, so its searches never overlap and the replay reads
each row a bounded number of times (0.35 s for 33 assets over 64 days). The devnet plants skill
at the same events by calling it on its own path.

Scoring. A miner's value for an event is its p_continuation for that asset at the trigger row;
only those rows of the panel's values are read (about 1 500 of 92 160 at 60 days, never a copy
of the panel). Miners that pass a gate enter scikit-learn's balanced L2 logistic regression
(C = 0.01, lbfgs, 1 000 iterations, random_state 42) of the labels on their standardised values,
absent = the column's mean, and a miner's salience is its share of Σ|coef| (shares below 1e-6
dropped). No clone pass (§12.2).

Compat mode is the reference: each event is weighted 1/|its episode| (episodes: triggers split
where one lies more than a day after the previous), rescaled to sum to the number of events; a
hotkey has a value at an event when its stored vector is not all zero (§7.4), and then its slice
is its value even when it is [0, 0] (F7 as the reference has it; a non-finite cell is 0.0, the
storage rule of an absent one); the gate is §11.4's (≥ 2 episodes, std ≥ 0.03, both labels,
roc_auc_score > 0.5) and the design is z-scored over present values; a panel needs ≥ 50 events
and ≥ 2 episodes. The events are taken in the reference's order (by asset, then resolution) so
every sum rounds as its sums do: the shares are the reference's to the last bit, normalised again
after the drop. The reference scores every event it ever completed (its breakout loader has no
cap); a panel is finite, so compat reads the 432 000-row cap of the reference's other challenges
(§11; 300 days) plus the range window and scores the events triggered in its last 432 000 rows:
every event the reference has while the ledger holds no more.

Two properties of the reference matter for what fixed mode does. Episodes: with 33 correlated
assets some asset breaks out nearly every day, so a history is one episode (every one of our
60-day random-walk markets; 0.75 events per asset and day), and the reference then scores
nothing (it needs two). Its gate: AUC > 0.5 passes about half of all worthless miners, and L2
pays them like weak real ones (20 % of the salience on a 256-miner, 60-day panel of noise and
40 real miners).

Fixed mode applies F6 (the events triggered in the last `history` samples, by sample index) and
F7 (a value is a pair of numbers in [0, 1], not both 0; a [0, 0] slice, NaN, ±inf or a number out
of range is no value, never 0.0), and:

- B1, a significance gate in place of the reference's: a miner is tested on the events it valued
  (≥ gate_min_events, both labels, on ≥ gate_min_clusters days, std ≥ min_std) by a one-sided
  test of AUC > 0.5 (`clustered_auc`, `auc_p`): DeLong's structural components give each event's
  influence on the AUC, Obuchowski's variance sums them per cluster (the clusters are trigger
  days) and is never taken below DeLong's for independent events, and the statistic is referred
  to Student's t with days − 1 degrees of freedom. Holm's step-down at gate_alpha over the miners
  tested bounds by 5 % the chance that any miner without skill earns (each one admitted is paid
  like a skilled one, so that chance must be small, not the share of them among the admitted).
  Labels cluster in time (correlated assets break out together, one move resolves many pending
  events, and a median event lives 9 hours) and a worthless forecast can cluster too (a value
  held for hours, one value for every asset); summed per day, the variance keeps any dependence
  within a day whatever its form. A day outlasts the persistence of the worthless forecasts the
  devnet plants (AR(1) noise, φ ≤ 0.97 a sample; values held ≤ 8 hours) and there are enough days
  for a t reference (14 in two weeks, 60 in the history). The floor: with a dozen days of unequal
  size the day sum is a noisy estimate whose low draws let noise through (3× the nominal rate at
  p = 0.0005 on two-week random-walk panels); with it, iid, AR(1), held and every-asset noise
  stay at or below the nominal rate (per-asset) or within 2× of it (one value for all assets)
  at the p-values Holm asks for, while a miner of AUC 0.65 passes 98 % of two-week panels at
  p = 0.002. The reference's episodes cannot be the clusters: there is one.
- B2, copies: exact clones and soft cohorts (§12.1's finders, fixed mode) over the events' values
  are scored once, on the member that valued the most events among those that pass B1 on their
  own, and the group's pay is split by events valued (`clones.group_shares`). L2 alone does not
  split identical columns evenly enough: at C = 0.01 and a few hundred events a column's |coef| is
  close to C·(its covariance with the labels) whatever its copies, and three clones and their
  source took 1.6–2.1 times what an independent miner of the same skill (a twin) took on
  two-week planted panels; with B2 the group takes what its source alone would (0.88–1.10 of the
  twins' mean over 20 panels: the spread of equal miners' coefficients in one fit). The soft
  cohorts are found on the values and on their ranks: B1 and B3 read only ranks, so a copy through
  any increasing map (v⁴, a logit stretch) is the same column in the fit and passes B1 exactly as
  its source does, while its values' Pearson correlation with the source's can be far below 0.92
  (0.87 for v⁴ of uniform values); found on values alone, one such copy took as much as its source
  and cut the source's share by a third, three copies cut it to a third.
- B3, ranks: an entrant's column in the fit is its values' ranks over the events it valued,
  standardised, 0 where it has none. B1 tests a rank statistic, and on ranks a few extreme
  values (0 and 1 among 0.5s) cannot make a column mostly 0 with spikes, nor values that flip
  between extremes their own scale.
- B4, events, not episodes: every event weighs the same (what the reference's weights are with
  one episode) and a panel needs no second episode; the days B1 counts take their place. An
  isolated burst is a rare second episode whose few events the reference would weigh like all
  the others together.

A miner's values never raise: NaN, ±inf, numbers out of range and constant columns are read as
above, and a panel without events, valid values or both labels scores {}. A malformed panel
(shapes, sidx not strictly increasing integers, duplicate hotkeys, an unknown mode) is a
ValueError.

Determinism (§14): columns in sorted-hotkey order, one BLAS thread (`single_threaded`), stable
sorts, lbfgs with the reference's random_state; nothing is drawn at random.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtr

from mechanisms.mantis.clones import find_clusters, find_correlated_cohorts, group_shares, join_groups
from mechanisms.mantis.entry import checked_panel, single_threaded
from mechanisms.mantis.panel import Mode, in_columns, presence
from mechanisms.mantis.significance import average_ranks, holm, ranks
from mechanisms.mantis.universe import BREAKOUT_ASSETS

A = len(BREAKOUT_ASSETS)  # 33 assets, two values each
DIM = 2 * A
SEED = 42
COMPAT_ROWS = 432_000  # the reference's row cap of its other challenges (300 days): compat's panel


@dataclass(frozen=True)
class BreakoutParams:
    ahead: int = 240  # the challenge's horizon in samples (the lock rule's; scoring does not use it)
    range_lookback: int = 5760  # L, samples (28 800 blocks)
    barrier_pct: float = 25.0  # barriers at ± this share of the range's width around the trigger price
    min_range_pct: float = 1.0  # a range narrower than this share of the price triggers nothing
    max_pending: int = 8640  # samples (43 200 blocks): an older pending event is dropped
    min_events: int = 50  # completed events (all assets) a panel needs
    episode_gap: int = 1440  # samples: a trigger further than this from the previous one starts an episode
    min_episodes: int = 2
    min_std: float = 0.03  # a miner's values over its events must vary this much
    C: float = 0.01  # the L2 model's inverse strength
    max_iter: int = 1000
    min_coef: float = 1e-6  # a normalised |coef| below this is dropped
    history: int = 86_400  # fixed (F6): samples of history scored (60 days); compat: the last 432 000 rows
    # fixed mode
    gate_alpha: float = 0.05  # B1: Holm's family-wise level
    cluster: int = 1440  # B1: the test's clusters are trigger days (sidx // cluster)
    gate_min_clusters: int = 5  # B1: days with a value a miner needs to be tested
    gate_min_events: int = 20  # B1: events with a value a miner needs to be tested
    copy_min_events: int = 50  # B2: jointly valued events before two miners can be copies

    def lookback(self, mode: Mode) -> int:
        """Samples before the newest a panel must hold: the history scored plus the range window,
        so the first scored row has its L of prices."""
        return (COMPAT_ROWS if mode == "compat" else self.history) + self.range_lookback


@dataclass(frozen=True)
class Events:
    """Completed events sorted by trigger sample (ties: asset order); arrays of equal length."""

    asset: np.ndarray  # int64, index into BREAKOUT_ASSETS (a column of the prices)
    trigger_row: np.ndarray  # int64, row of the panel
    trigger_sidx: np.ndarray  # int64
    resolution_sidx: np.ndarray  # int64
    direction: np.ndarray  # int64: +1 high breakout, −1 low
    label: np.ndarray  # int64: 1 continuation, 0 reversal

    def __len__(self) -> int:
        return len(self.label)

    def take(self, keep: np.ndarray) -> "Events":
        return Events(*(getattr(self, f)[keep] for f in _FIELDS))


_FIELDS = ("asset", "trigger_row", "trigger_sidx", "resolution_sidx", "direction", "label")


# -- events ---------------------------------------------------------------------------------------


def _window_extremes(p: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) of p[start[t] : t] for every row t (±inf where that is empty; NaN never wins):
    a sparse table of minima and maxima over runs of 2^k rows, each query two lookups."""
    T = len(p)
    lo_src = np.where(np.isnan(p), np.inf, p)
    hi_src = np.where(np.isnan(p), -np.inf, p)
    length = np.arange(T) - start
    levels = max(1, int(np.max(length, initial=1)).bit_length())
    mins, maxs = [lo_src], [hi_src]
    for k in range(1, levels):
        half = 1 << (k - 1)
        prev_lo, prev_hi = mins[-1], maxs[-1]
        mins.append(np.minimum(prev_lo[: len(prev_lo) - half], prev_lo[half:]))
        maxs.append(np.maximum(prev_hi[: len(prev_hi) - half], prev_hi[half:]))
    lo, hi = np.full(T, np.inf), np.full(T, -np.inf)
    has = length > 0
    k = np.frexp(np.maximum(length, 1))[1] - 1  # floor(log2(length)), exactly: the largest run that fits
    for level in np.unique(k[has]):
        rows = np.flatnonzero(has & (k == level))
        a, b = start[rows], rows - (1 << int(level))
        lo[rows] = np.minimum(mins[level][a], mins[level][b])
        hi[rows] = np.maximum(maxs[level][a], maxs[level][b])
    return lo, hi


def _first_cross(p: np.ndarray, first: int, stop: int, up: float, down: float) -> int:
    """The first row in [first, stop) with p ≥ up or p ≤ down (NaN never), or stop: read forward in
    runs that double, so an event costs about the rows it stays pending."""
    step = 64
    while first < stop:
        end = min(stop, first + step)
        seg = p[first:end]
        hit = (seg >= up) | (seg <= down)
        if hit.any():
            return first + int(np.argmax(hit))
        first, step = end, step * 2
    return stop


def breakout_events(prices: np.ndarray, sidx: np.ndarray, params: BreakoutParams = BreakoutParams()) -> Events:
    """The completed breakout events of a price panel: prices (T, A) (NaN or ≤ 0: no price for that
    asset at that row), sidx (T,) strictly increasing integers. Events still pending at the last row,
    or dropped for age, are not returned."""
    prices = np.asarray(prices, dtype=np.float64)
    sidx = np.asarray(sidx)
    if prices.ndim != 2 or sidx.shape != (len(prices),):
        raise ValueError("prices must be (T, A) and sidx (T,)")
    if len(sidx) and (sidx.dtype.kind not in "iu" or np.any(np.diff(sidx) <= 0)):
        raise ValueError("sidx must be strictly increasing integers")
    sidx = sidx.astype(np.int64)
    T, n_assets = prices.shape
    L = int(params.range_lookback)
    need = max(L // 2, 1)  # the reference's L // 2, and an empty window has no range
    barrier, min_range = params.barrier_pct / 100.0, params.min_range_pct / 100.0  # the reference's factors
    start = np.searchsorted(sidx, sidx - L, side="left")  # each row's window: rows [start, t)
    after_age = np.searchsorted(sidx, sidx + params.max_pending, side="right")  # first row past max_pending
    out: list[tuple[np.ndarray, ...]] = []
    for a in range(n_assets):
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(prices[:, a]) & (prices[:, a] > 0)
        if not valid.any():
            continue
        p = np.where(valid, prices[:, a], np.nan)
        counts = np.concatenate([[0], np.cumsum(valid)])
        in_window = counts[:-1] - counts[start]
        lo, hi = _window_extremes(p, start)
        width = hi - lo
        with np.errstate(invalid="ignore"):
            ok = valid & (in_window >= need) & ~(width < p * min_range)
            bd = width * barrier
            fire = {1: ok & (p > hi), -1: ok & (p < lo)}
        # the next valid row at or after each row (T: none), for an expiry at the first price after it
        nxt = np.full(T + 1, T, dtype=np.int64)
        nxt[:T] = np.where(valid, np.arange(T), T)
        nxt = np.minimum.accumulate(nxt[::-1])[::-1]
        for d, rows in ((1, np.flatnonzero(fire[1])), (-1, np.flatnonzero(fire[-1]))):
            free = 0  # the first row at which the slot is empty
            found: list[tuple[int, int, int]] = []
            while True:
                k = int(np.searchsorted(rows, free, side="left"))
                if k == len(rows):
                    break
                t0 = int(rows[k])
                cont, rev = p[t0] + d * bd[t0], p[t0] - d * bd[t0]
                expiry = int(nxt[after_age[t0]])  # dropped there, before any resolution
                up, down = (cont, rev) if d == 1 else (rev, cont)
                r = _first_cross(p, t0 + 1, expiry, up, down)
                if r < expiry:
                    label = int(p[r] >= cont) if d == 1 else int(p[r] <= cont)
                    found.append((t0, r, label))
                    free = r  # the row that resolved it may trigger the next
                elif expiry < T:
                    free = expiry
                else:
                    break  # pending at the panel's end
            if found:
                f = np.array(found, dtype=np.int64)
                m = len(f)
                out.append((np.full(m, a), f[:, 0], sidx[f[:, 0]], sidx[f[:, 1]], np.full(m, d), f[:, 2]))
    if not out:
        empty = np.zeros(0, dtype=np.int64)
        return Events(*(empty for _ in _FIELDS))
    cols = [np.concatenate([o[i] for o in out]).astype(np.int64) for i in range(len(_FIELDS))]
    order = np.lexsort((cols[0], cols[1]))  # by trigger row, then asset
    return Events(*(c[order] for c in cols))


def episodes(trigger_sidx: np.ndarray, gap: int) -> np.ndarray:
    """(n,) episode ids in time order: sorted by trigger sample (stable), a trigger more than `gap`
    samples after the previous one starts a new episode (§11.4)."""
    s = np.asarray(trigger_sidx, dtype=np.int64)
    if not len(s):
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(s, kind="stable")
    ids = np.empty(len(s), dtype=np.int64)
    ids[order] = np.concatenate([[0], np.cumsum(np.diff(s[order]) > gap)])
    return ids


def episode_weights(ids: np.ndarray) -> np.ndarray:
    """(n,) 1/|episode| per event, rescaled to sum to n (the reference's float steps)."""
    n = len(ids)
    w = np.zeros(n, dtype=np.float64)
    for ep in range(int(ids.max()) + 1 if n else 0):
        mask = ids == ep
        cnt = mask.sum()
        if cnt > 0:
            w[mask] = 1.0 / cnt
    w /= w.sum()
    w *= n
    return w


# -- the clustered AUC test (B1) ------------------------------------------------------------------


def clustered_auc(values: np.ndarray, labels: np.ndarray, clusters: np.ndarray) -> tuple[float, float, int]:
    """(AUC, its standard error, clusters) of values (n,) against binary labels (n,), ties counting
    half. DeLong's structural components (a positive's share of the negatives below it, a
    negative's share of the positives above it; ties half) give the AUC's influence φ_e of each
    event; Obuchowski's cluster-robust variance sums them per cluster, K/(K − 1)·Σ_k (Σ_{e∈k} φ_e)²,
    keeping any dependence inside a cluster. With a dozen clusters of unequal size that sum is a
    noisy estimate, and its low draws let noise through (3× the nominal rate at p = 0.0005 on
    two-week random-walk panels), so the variance is never taken below DeLong's for independent
    events. (AUC, NaN, K) without both labels or two clusters."""
    v = np.asarray(values, dtype=np.float64)
    y = np.asarray(labels) > 0
    _, c = np.unique(np.asarray(clusters), return_inverse=True)
    K = int(c.max()) + 1 if len(c) else 0
    M, N = int(y.sum()), int((~y).sum())
    if M == 0 or N == 0:
        return 0.5, math.nan, K
    r = average_ranks(v)
    below = np.empty(len(v))  # positives: negatives below (ties half); negatives: positives below
    below[y] = r[y] - average_ranks(v[y])
    below[~y] = r[~y] - average_ranks(v[~y])
    v10 = below[y] / N
    v01 = 1.0 - below[~y] / M
    auc = float(v10.mean())
    if K < 2:
        return auc, math.nan, K
    phi = np.empty(len(v))
    phi[y] = (v10 - auc) / M
    phi[~y] = (v01 - auc) / N
    per = np.bincount(c, weights=phi, minlength=K)
    clustered = K / (K - 1) * float(per @ per)
    independent = (float(v10.var(ddof=1)) / M if M > 1 else 0.0) + (float(v01.var(ddof=1)) / N if N > 1 else 0.0)
    return auc, math.sqrt(max(clustered, independent)), K


def auc_p(auc: float, se: float, K: int) -> float:
    """One-sided p of AUC > 0.5: Student's t with K − 1 degrees of freedom; a zero standard error is
    certainty either way, an undefined one no evidence."""
    if not math.isfinite(auc) or not math.isfinite(se) or K < 2:
        return 1.0
    if se <= 0:
        return 0.0 if auc > 0.5 else 1.0
    return float(stdtr(K - 1, -(auc - 0.5) / se))


# -- entry ----------------------------------------------------------------------------------------


def _checked(X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, hotkeys: Sequence[str], mode: str
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], np.ndarray]:
    """(X as given, sidx, prices (T, 33) float64, hotkeys, sorted-column order), or ValueError saying
    what disagrees. `checked_panel` checks the shapes on a stand-in of X's shape (float32, no memory),
    so the float16 panel is never copied."""
    X = np.asarray(X)
    prices = np.asarray(prices, dtype=np.float64)
    if X.ndim != 3 or X.dtype.kind != "f":
        raise ValueError(f"X must be a float (T, H, {DIM}) array, got {X.dtype} {X.shape}")
    if prices.shape != (len(X), A):
        raise ValueError(f"prices must be (T, {A}) = ({len(X)}, {A}), got {prices.shape}")
    stand_in = np.broadcast_to(np.float32(0), X.shape)
    _, sidx, _, hotkeys, cols = checked_panel(stand_in, sidx, prices[:, 0], hotkeys, mode, dim=DIM)
    if np.any(np.diff(sidx) <= 0):
        raise ValueError("sidx must be strictly increasing")
    return X, sidx, prices, hotkeys, cols


def _as_stored(v: np.ndarray) -> np.ndarray:
    """Values at the ledger's precision, as float64: float16 as they are, wider ones rounded to
    float16 (beyond its range: inf)."""
    with np.errstate(over="ignore"):
        return v.astype(np.float16).astype(np.float64)


def _gather(X: np.ndarray, rows: np.ndarray, cols: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """(n, H) X[rows[e], cols[h], dims[e]] as float64 at the ledger's precision: only the cells asked for."""
    return _as_stored(X[rows[:, None], cols[None, :], dims[:, None]])


def _present_compat(X: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(n, H) whether each miner's vector at each row is stored in the reference: not all zero
    after NaN → 0 (§7.4), read a block of distinct rows at a time."""
    uniq, inv = np.unique(rows, return_inverse=True)
    out = np.zeros((len(uniq), len(cols)), dtype=bool)
    for r0 in range(0, len(uniq), 256):
        out[r0 : r0 + 256] = presence(in_columns(X[uniq[r0 : r0 + 256]], cols), "compat")
    return out[inv]


def trigger_samples(sidx: np.ndarray, prices: np.ndarray, mode: Mode, params: BreakoutParams) -> np.ndarray:
    """The sample indices whose values the scorer reads from a panel of these rows and prices: its
    events' triggers (both modes read no other row; fixed mode's history cap only drops some). The
    platform reads only these rows from the ledger."""
    return np.unique(breakout_events(np.asarray(prices, dtype=np.float64), np.asarray(sidx), params).trigger_sidx)


def breakout_salience(X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, hotkeys: Sequence[str], mode: str,
                      params: BreakoutParams = BreakoutParams()) -> dict[str, float]:
    """MULTI-BREAKOUT salience (§11.4): X (T, H, 66) float16 or float32, NaN where a miner sent no
    vector, 33 pairs [p_continuation, p_reversal] in asset order; prices (T, 33). {hotkey: share}
    summing to 1, or {} when nothing scores."""
    X, sidx, prices, hotkeys, cols = _checked(X, sidx, prices, hotkeys, mode)
    if not hotkeys or not len(sidx):
        return {}
    names = [hotkeys[c] for c in cols]
    with single_threaded():
        events = breakout_events(prices, sidx, params)
        if mode == "fixed":
            events = events.take(events.trigger_sidx > sidx[-1] - params.history)  # F6
        else:
            events = events.take(events.trigger_row >= len(sidx) - COMPAT_ROWS)
        if len(events) < params.min_events:
            return {}
        return (_fixed if mode == "fixed" else _compat)(X, cols, events, names, params)


def _result(importance: np.ndarray, names: Sequence[str], min_coef: float) -> dict[str, float]:
    """|coef| normalised, shares below min_coef dropped, the rest normalised again (the platform
    normalises each challenge's map, §13.1: the same weights as the reference's unnormalised rest)."""
    total = float(importance.sum())
    if not math.isfinite(total) or total < 1e-12:
        return {}
    w = importance / total
    out = {names[j]: float(w[j]) for j in range(len(names)) if w[j] > min_coef}
    total = sum(out.values())
    return {h: v / total for h, v in out.items()} if total > 0 else {}


def _fit(Z: np.ndarray, y: np.ndarray, weights: np.ndarray, params: BreakoutParams) -> np.ndarray | None:
    """|coef| of the reference's model: scikit-learn's balanced L2 LogisticRegression, lbfgs
    (l1_ratio=0 is scikit-learn 1.8's spelling of penalty="l2")."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=params.C, l1_ratio=0.0, solver="lbfgs", class_weight="balanced",
                             max_iter=params.max_iter, random_state=SEED)
    try:
        clf.fit(Z, y, sample_weight=weights)
    except ValueError:
        return None
    coef = np.abs(np.asarray(clf.coef_, dtype=np.float64).ravel())
    return coef if np.isfinite(coef).all() else None


# -- compat ---------------------------------------------------------------------------------------


def reference_order(events: Events) -> np.ndarray:
    """The order the reference lists the events in: by asset, then by resolution, a high event
    before a low one resolved on the same row."""
    return np.lexsort((-events.direction, events.resolution_sidx, events.asset))


def compat_values(X: np.ndarray, cols: np.ndarray, events: Events) -> tuple[np.ndarray, np.ndarray]:
    """((n, H) present, (n, H) values) as the reference reads them: a hotkey is present at an event
    when its stored vector at the trigger row is not all zero (§7.4), and its value is the slice's
    p_continuation, 0.0 for a [0, 0] slice (F7 as the reference has it) and for a non-finite cell
    (the storage rule of an absent one)."""
    present = _present_compat(X, events.trigger_row, cols)
    values = _gather(X, events.trigger_row, cols, 2 * events.asset)
    values[~np.isfinite(values)] = 0.0
    return present, values


def _compat(X: np.ndarray, cols: np.ndarray, events: Events, names: list[str], params: BreakoutParams
            ) -> dict[str, float]:
    """The reference's scoring (§11.4) of the events, in its order and with its calls."""
    from sklearn.metrics import roc_auc_score

    ev = events.take(reference_order(events))
    present, values = compat_values(X, cols, ev)
    labels = ev.label
    ids = episodes(ev.trigger_sidx, params.episode_gap)
    qualified = []
    for j in range(len(names)):
        m = present[:, j]
        if not m.any():
            continue
        e, y = values[m, j], labels[m]
        if len(np.unique(ids[m])) < params.min_episodes or e.std() < params.min_std or len(np.unique(y)) < 2:
            continue
        if roc_auc_score(y, e) > 0.50:
            qualified.append(j)
    if not qualified:
        return {}
    q = np.array(qualified, dtype=np.int64)
    mat = np.ascontiguousarray(np.where(present[:, q], values[:, q], np.nan))  # C order: nanstd sums as the reference's
    mu, sd = np.nanmean(mat, axis=0), np.nanstd(mat, axis=0)
    sd[sd < 1e-8] = 1.0
    Z = np.nan_to_num((mat - mu) / sd, nan=0.0)
    coef = _fit(Z, labels, episode_weights(ids), params)
    if coef is None:
        return {}
    return _result(coef, [names[j] for j in q], params.min_coef)


# -- fixed ----------------------------------------------------------------------------------------


def event_values(X: np.ndarray, cols: np.ndarray, events: Events) -> np.ndarray:
    """(n, H) each miner's p_continuation at each event's trigger row and asset, NaN where it has
    none (F7): its pair must be two numbers in [0, 1], not both 0."""
    cont = _gather(X, events.trigger_row, cols, 2 * events.asset)
    rev = _gather(X, events.trigger_row, cols, 2 * events.asset + 1)
    with np.errstate(invalid="ignore"):
        ok = (cont >= 0) & (cont <= 1) & (rev >= 0) & (rev <= 1) & ((cont != 0) | (rev != 0))
    return np.where(ok, cont, np.nan)


def gate(values: np.ndarray, labels: np.ndarray, clusters: np.ndarray, params: BreakoutParams
         ) -> tuple[np.ndarray, np.ndarray]:
    """B1: ((H,) passed, (H,) p-values, 1 where untested) of the clustered one-sided AUC test, Holm
    at gate_alpha over the miners tested."""
    H = values.shape[1]
    p = np.ones(H)
    tested = np.zeros(H, dtype=bool)
    for j in range(H):
        m = np.isfinite(values[:, j])
        if m.sum() < params.gate_min_events:
            continue
        v, y, c = values[m, j], labels[m], clusters[m]
        if len(np.unique(y)) < 2 or v.std() < params.min_std or len(np.unique(c)) < params.gate_min_clusters:
            continue
        auc, se, K = clustered_auc(v, y, c)
        p[j], tested[j] = auc_p(auc, se, K), True
    passed = np.zeros(H, dtype=bool)
    if tested.any():
        passed[tested] = holm(p[tested], params.gate_alpha)
    return passed, p


def ranked(values: np.ndarray) -> np.ndarray:
    """(n, H) each column's average ranks over its finite values, NaN where it has none: what B2's
    rank cohorts and B3's fit read, computed once."""
    return np.column_stack([ranks(values[:, j]) for j in range(values.shape[1])]) if values.shape[1] else \
        np.full(values.shape, np.nan)


def rank_scores(ranks: np.ndarray) -> np.ndarray:
    """B3: (n, K) each column's ranks (`ranked`) standardised over its finite values (mean 0, std 1;
    a column that does not vary, or has fewer than two values, is 0), 0 where a value is missing."""
    Z = np.zeros(ranks.shape)
    for j in range(ranks.shape[1]):
        m = np.isfinite(ranks[:, j])
        if m.sum() < 2:
            continue
        r = ranks[m, j]
        sd = r.std()
        if sd > 0:
            Z[m, j] = (r - r.mean()) / sd
    return Z


def copy_groups(values: np.ndarray, ranks: np.ndarray, names: list[str], params: BreakoutParams) -> np.ndarray:
    """B2: (H,) each column's group root: exact clones of the events' values, and soft cohorts of
    the values and of their ranks (what B1 and B3 read: an increasing map of a source's values is
    its copy there, however far its values' correlation with the source's falls)."""
    V = values[:, :, None]
    kw = {"mode": "fixed", "min_rows": params.copy_min_events}
    roots = join_groups(find_correlated_cohorts(V, names, **kw), names)
    roots = join_groups(find_correlated_cohorts(ranks[:, :, None], names, **kw), names, roots)
    return join_groups(find_clusters(V, names, **kw), names, roots)


def _fixed(X: np.ndarray, cols: np.ndarray, events: Events, names: list[str], params: BreakoutParams
           ) -> dict[str, float]:
    """Fixed mode on the history's events: F7 values, the B1 gate, B2 groups scored on one member each,
    the fit on B3 ranks with B4's equal weights."""
    labels = events.label
    if len(np.unique(labels)) < 2:
        return {}
    values = event_values(X, cols, events)
    passed, _ = gate(values, labels, events.trigger_sidx // params.cluster, params)
    if not passed.any():
        return {}
    present = np.isfinite(values)
    ranks = ranked(values)
    rep, share = group_shares(copy_groups(values, ranks, names, params), present, np.ones(len(labels), dtype=bool),
                              eligible=passed)
    reps = np.unique(rep[passed])
    coef = _fit(rank_scores(ranks[:, reps]), labels, np.ones(len(labels)), params)  # B4
    if coef is None:
        return {}
    importance = np.zeros(len(names))
    importance[reps] = coef
    return _result(np.where(passed, importance[rep] * share, 0.0), names, params.min_coef)
