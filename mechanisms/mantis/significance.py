"""Does a miner's forecast track the outcome more than chance allows, when both are persistent?

Overlapping labels (each row's label spans the next `ahead` samples) and persistent forecasts (a
value that drifts slowly, or is held for hours) make the rows of a panel far from independent, so
an AUC or a correlation over them looks like skill far more often than row counts suggest: a
miner submitting slowly drifting noise reaches a "significant" AUC on one sample in five. The
test here keeps the dependence in its null: the forecast is shifted in time against the outcome,
circularly, by every offset far from zero (the shifted series keep their own autocorrelation, and
only the alignment with the outcome is broken), as mantis.md §11.7 does for TRADEMIX. The observed
statistic is judged against those shifts, and Holm's step-down correction over the miners tested
bounds the chance that any miner without skill passes (Benjamini–Hochberg's false-discovery rate
would not do: with many skilled miners it lets one worthless miner in for every twenty, and each
one is paid like a skilled one).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import stdtr

P_FLOOR = 1e-12  # the smallest p-value the normal approximation may claim (§11.7)
MIN_NULL = 50  # offsets the null needs (§11.7)
MAX_EXCESS_KURTOSIS = 1.0  # a circular-shift null further from normal than this gets no t tail (shift_p)
MIN_OVERLAP = 0.5  # a shift counts in the null if it keeps this share of the aligned rows


def _centred(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """values minus their mean over `valid` rows, 0 elsewhere (an invalid row contributes nothing
    to any shift)."""
    out = np.zeros(len(values))
    if valid.any():
        out[valid] = values[valid] - values[valid].mean()
    return out


def ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1..n) of finite values, ties shared; NaN stays NaN. On ranks, the statistic is
    the Mann–Whitney form of the AUC (a binary outcome) and no single extreme value can dominate it."""
    out = np.full(len(values), np.nan)
    ok = np.flatnonzero(np.isfinite(values))
    if len(ok):
        out[ok] = average_ranks(values[ok])
    return out


def average_ranks(v: np.ndarray) -> np.ndarray:
    """Average ranks (1..n) of values without NaN, ties shared (scipy's rankdata, without its
    per-call overhead: the AUC loops call it for every miner)."""
    order = np.argsort(v)  # any order of equal values gives the same average ranks
    sorted_v = v[order]
    first = np.r_[True, sorted_v[1:] != sorted_v[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(v)]
    mean_rank = (starts + ends + 1) / 2.0  # ranks are 1-based: the mean of start+1 .. end
    r = np.empty(len(v))
    r[order] = mean_rank[group]
    return r


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
        if np.isnan(f).any():  # (rankdata's NaN policy)
            out[j] = np.nan
            continue
        ranks = average_ranks(f)
        out[j] = (ranks[t == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    return out


def shift_statistics(forecasts: np.ndarray, outcomes: np.ndarray) -> np.ndarray:
    """(T,) S(k) = Σ_c Σ_t f_c[(t − k) mod T] · o_c[t] for every offset k, by FFT.

    forecasts and outcomes are (T,) or (T, C) with NaN where a row has no value; each column is
    centred over the rows where both are finite and those rows alone take part. Columns add up
    at each offset (one joint statistic over a miner's several forecasts)."""
    f = np.asarray(forecasts, dtype=np.float64)
    o = np.asarray(outcomes, dtype=np.float64)
    if f.ndim == 1:
        f, o = f[:, None], o[:, None]
    T = f.shape[0]
    spectrum = np.zeros(T // 2 + 1, dtype=np.complex128)
    for c in range(f.shape[1]):
        valid = np.isfinite(f[:, c]) & np.isfinite(o[:, c])
        spectrum += np.conj(np.fft.rfft(_centred(f[:, c], valid))) * np.fft.rfft(_centred(o[:, c], valid))
    return np.fft.irfft(spectrum, n=T)


def causal_z(values: np.ndarray, window: int) -> np.ndarray:
    """Each finite value standardised by the mean and std of the `window` finite values before it
    (NaN until there are that many, or where they do not vary).

    A forecast that wanders, the price level itself above all (every miner knows it), pinned to one
    sample's ranks leans on the prices after it: within a sample its high values precede falls, so
    it "predicts" and beats its own circular shifts. Measured against its own past alone a forecast
    is a function of what was known when it was made, and against a martingale price that carries
    no edge whatever the forecast is; a stationary forecast keeps its order (a slowly varying
    scale only), and with it its skill."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(len(values), np.nan)
    ok = np.flatnonzero(np.isfinite(values))
    if window < 2 or len(ok) <= window:
        return out
    v = values[ok]
    c1 = np.concatenate([[0.0], np.cumsum(v)])
    c2 = np.concatenate([[0.0], np.cumsum(v * v)])
    k = np.arange(window, len(v))  # the value at k against v[k − window .. k − 1]
    mean = (c1[k] - c1[k - window]) / window
    var = np.maximum((c2[k] - c2[k - window]) / window - mean * mean, 0.0)
    sd = np.sqrt(var)
    scale = np.maximum(np.abs(mean), 1.0) * 1e-9  # below this the window is constant to rounding
    z = np.where(sd > scale, (v[k] - mean) / np.where(sd > scale, sd, 1.0), np.nan)
    out[ok[k]] = z
    return out


def forecast_test(forecasts: np.ndarray, outcomes: np.ndarray, min_shift: int, window: int) -> tuple[float, float]:
    """(z, p) of `shift_test` on the ranks of the forecasts standardised against their own past
    (`causal_z` over `window` values): the test the MANTIS scorers gate salience with."""
    return shift_test(ranks(causal_z(forecasts, window)), outcomes, min_shift)


def fast_length(n: int) -> int:
    """The largest length ≤ n whose prime factors are all ≤ 11: an FFT of a length with a
    large prime factor costs many times more, so the test drops the few oldest rows above it."""
    for m in range(n, 0, -1):
        k = m
        for f in (2, 3, 5, 7, 11):
            while k % f == 0:
                k //= f
        if k == 1:
            return m
    return 0


def shift_test(forecasts: np.ndarray, outcomes: np.ndarray, min_shift: int) -> tuple[float, float]:
    """(z, p): how far the aligned statistic lies above the shifted ones, one-sided.

    Only the newest `fast_length(T)` rows take part. S(k) sums over rows(k), the rows t where both
    series have a value at t and at t − k, so a forecast present in bursts (or an outcome with
    gaps, such as a closed market's weekends) meets far fewer rows at most shifts than aligned:
    its null would be narrower than the aligned statistic's own spread, and noise would pass. So
    each shift's statistic is S(k) / √rows(k), and the null takes the shifts k in
    [min_shift, T − min_shift] (a forecast shifted by less still overlaps its own outcome through
    the labels' span) that keep at least MIN_OVERLAP of the aligned rows. z = (S(0)/√rows(0)
    − mean) / sd over the null. p is the empirical (1 + #{null ≥ aligned}) / (1 + n), or, where
    z > 0, the smaller of that and the normal tail (floored at P_FLOOR): with a few thousand
    offsets the empirical p cannot go below 1/n, and a strong miner must be able to pass a
    correction over many miners. (nan, 1.0) when fewer than MIN_NULL offsets qualify or the null
    does not vary.
    """
    n = fast_length(len(forecasts))
    if min_shift < 1 or n - 2 * min_shift + 1 < MIN_NULL:
        return math.nan, 1.0
    f, o = forecasts[len(forecasts) - n :], outcomes[len(outcomes) - n :]
    S = shift_statistics(f, o)
    spectrum = np.fft.rfft((np.isfinite(f) & np.isfinite(o)).astype(np.float64))
    rows = np.rint(np.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=n))  # exact: integers far below 2^53
    if not rows[0] > 0:
        return math.nan, 1.0
    shifts = np.arange(min_shift, n - min_shift + 1)
    shifts = shifts[rows[shifts] >= MIN_OVERLAP * rows[0]]
    if len(shifts) < MIN_NULL:
        return math.nan, 1.0
    aligned = float(S[0]) / math.sqrt(rows[0])
    null = S[shifts] / np.sqrt(rows[shifts])
    sd = float(null.std())
    if not sd > 0:
        return math.nan, 1.0
    z = (aligned - float(null.mean())) / sd
    p = (1.0 + float(np.count_nonzero(null >= aligned))) / (1.0 + len(null))
    if z > 0:
        p = min(p, max(0.5 * math.erfc(z / math.sqrt(2.0)), P_FLOOR))
    return z, p


def effective_draws(acf: np.ndarray, m: int) -> float:
    """m / τ within [2, m]: how many independent draws m consecutive shifts of a statistic hold, τ
    its integrated autocorrelation time over the shifts from its autocovariance `acf` (lags 0, 1,
    …), summed by Geyer's initial positive sequence."""
    if not acf[0] > 0:
        return 2.0
    pairs = (acf[: 2 * (len(acf) // 2)] / acf[0]).reshape(-1, 2).sum(axis=1)  # Γ_i = ρ(2i) + ρ(2i + 1)
    stop = np.flatnonzero(pairs <= 0)
    tau = max(2.0 * float(pairs[: stop[0] if len(stop) else len(pairs)].sum()) - 1.0, 1.0)
    return min(max(m / tau, 2.0), float(m))


def draws_p(z: float, n_eff: float) -> float:
    """One-sided p of an aligned statistic z standard deviations above a normal null sample of
    n_eff independent draws: P(t_{n_eff − 1} > z / √(1 + 1/n_eff))."""
    return float(stdtr(n_eff - 1.0, -z / math.sqrt(1.0 + 1.0 / n_eff)))


def shift_p(cross: np.ndarray, n: int, min_shift: int, lumpy_floor: bool = True) -> tuple[float, float]:
    """(z, p): the aligned statistic S(0) against its circular shifts, S = irfft(cross) (length n).

    The null is S(k) for k in [min_shift, n − min_shift]; z = (S(0) − mean) / sd over it. Under the
    null hypothesis (a forecast independent of the outcomes, each series stationary) every S(k) has
    S(0)'s law whatever either series' autocorrelation, but neighbouring shifts move a persistent
    series by one sample and give nearly the same value: the m shifts hold only m / τ independent
    draws, τ the integrated autocorrelation time of S over k (from its spectrum |cross|², summed by
    Geyer's initial positive sequence). So S(0) is judged as one more draw from a normal sample of
    that size: p = P(t_{n_eff − 1} > z / √(1 + 1/n_eff)). Neither an empirical p over the m shifts
    (a value held for hours beats all of them about once in n_eff panels, not once in m) nor the
    normal tail of z (whose sd comes from n_eff draws) may be trusted at the levels a correction
    over many miners asks for. The t tail extrapolates a normal null; a forecast of a few spikes or
    bursts makes a null of a few lumps (excess kurtosis 2–14 where skilled and noise miners' stay
    within ±0.3), whose tail it understates by orders of magnitude, and the aligned value of such a
    forecast beats every shift about once in n_eff trials, not once in m. So where the null's excess
    kurtosis exceeds MAX_EXCESS_KURTOSIS in size, p is at least 1/(1 + n_eff), the test's own
    resolution. Nor is p below the empirical (1 + #{null ≥ S(0)}) / (1 + m) where some shift
    reaches S(0) (a lucky spike on a rare outcome ties with every shift that lands on the same
    outcome). (nan, 1.0) with fewer than MIN_NULL shifts or a null that does not vary. The test
    both HITFIRST and LBFGS gate salience with, on their spectra. `lumpy_floor=False` drops the
    kurtosis floor for forecasts that cannot be lumpy (ranked or clipped): the lumps left come from outcomes held
    for hours (a skilled forecast's null is then the outcome's few independent periods aligned with
    each other, excess kurtosis 6–9), whose persistence n_eff already counts."""
    m = n - 2 * min_shift + 1
    if min_shift < 1 or m < MIN_NULL:
        return math.nan, 1.0
    S = np.fft.irfft(cross, n)
    null = S[min_shift : n - min_shift + 1]
    sd = float(null.std())
    if not sd > 0:
        return math.nan, 1.0
    mean = float(null.mean())
    z = (float(S[0]) - mean) / sd
    acf = np.fft.irfft(cross.real**2 + cross.imag**2, n)[: n // 2]  # Σ_k S(k)·S(k + j): S sums to 0 over k
    if not acf[0] > 0:
        return math.nan, 1.0
    n_eff = effective_draws(acf, m)
    p = draws_p(z, n_eff)
    if lumpy_floor and abs(float((((null - mean) / sd) ** 4).mean()) - 3.0) > MAX_EXCESS_KURTOSIS:
        p = max(p, 1.0 / (1.0 + n_eff))  # a null far from normal: no tail beyond the test's resolution
    reached = int(np.count_nonzero(null >= S[0]))
    return z, max(p, (1.0 + reached) / (1.0 + m)) if reached else p


def gate_window(first: int, last: int, day: int, history: int, settle: int, ahead: int,
                phase: int = 0) -> tuple[int, int]:
    """[lo, hi): the sample indices a fixed-mode gate reads on a panel whose kept rows run from sample
    `first` to `last` (the history cap keeps the `history` samples up to `last`). The window holds
    whole days and is the same all day, so each day's gate is computed once and kept (its key is a
    hash of its inputs), and a rerun of any epoch of the day finds it. hi is the current day's first
    sample less `ahead`: every label in the window had ended when the day began. lo is `first`
    while the cap cannot reach past it within the day; once it can, the first day boundary `settle`
    samples (σ windows and a horizon) after the latest history start of the day, so no label or σ
    in the window depends on where the history starts. A miner is thus gated on data up to the
    day's start: a new miner is judged from the day after its first labelled day. Days begin at
    `phase` samples past a multiple of `day` (a scorer may stagger its miners' days)."""
    current = (last - phase) // day * day + phase
    latest_start = current + day - history  # the cap keeps samples > last − history
    lo = first if first >= latest_start else -(-(latest_start + settle - phase) // day) * day + phase
    return lo, current - ahead


def holm(p: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's step-down test at family-wise level alpha: (m,) bool, True where the null is rejected.
    The k-th smallest p (k from 0) must be ≤ alpha / (m − k), and every smaller one must have passed."""
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    out = np.zeros(m, dtype=bool)
    order = np.argsort(p, kind="stable")
    failed = np.flatnonzero(p[order] > alpha / (m - np.arange(m)))
    out[order[: failed[0] if len(failed) else m]] = True
    return out
