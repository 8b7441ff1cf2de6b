"""Time-series building blocks the MANTIS scorers share: pairing a row with the row a horizon later,
log returns over that horizon, and rolling standard deviations (mantis.md §11.0, §15 F4, F5).

Rows are samples in time order, keyed by their sample index `sidx`; the validator misses samples
now and then, so rows and sample indices drift apart. compat pairs rows by offset as the reference
does (F5); fixed pairs by sample index, so a label always spans exactly its horizon.
"""

from __future__ import annotations

import numpy as np

from mechanisms.mantis.panel import Mode

EPS = 1e-12


def priced_rows(sidx: np.ndarray, prices: np.ndarray) -> np.ndarray:
    """Row indices in sample order whose price is finite and > 0 (the reference's builders drop
    the rest; a missing price is NaN in the ledger, 0.0 in the reference)."""
    order = np.argsort(sidx, kind="stable")
    with np.errstate(invalid="ignore"):
        return order[np.isfinite(prices[order]) & (prices[order] > 0)]


def capped_history(rows: np.ndarray, sidx: np.ndarray, mode: Mode, samples: int, rows_cap: int) -> np.ndarray:
    """The training history of `rows` (in sample order), F6: fixed keeps the rows within `samples`
    sample indices of the newest (gaps count as time); compat keeps the last `rows_cap` rows, as
    the reference applies its cap to rows."""
    if mode == "fixed":
        return rows[sidx[rows] > sidx[rows].max(initial=0) - samples]
    return rows[max(0, len(rows) - rows_cap) :]


def forward_rows(sidx: np.ndarray, ahead: int, mode: Mode) -> np.ndarray:
    """(T,) index of the row `ahead` later, or -1 where there is none.

    compat: row i + ahead (a row offset, whatever the gaps); fixed: the row whose sample index is
    exactly sidx_i + ahead (a row without one gets no label)."""
    sidx = np.asarray(sidx, dtype=np.int64)
    T = len(sidx)
    if mode == "compat":
        out = np.arange(T, dtype=np.int64) + ahead
        out[out >= T] = -1
        return out
    pos = np.searchsorted(sidx, sidx + ahead)
    hit = (pos < T) & (sidx[np.minimum(pos, T - 1)] == sidx + ahead)
    return np.where(hit, pos, -1).astype(np.int64)


def causal_ends(sidx: np.ndarray, ahead: int, mode: Mode) -> np.ndarray:
    """(T,) for each row, the last row whose `ahead`-return had ended by it (−1 if none): where a
    causal σ's window ends (F4). compat: row t − ahead (a row offset, F5); fixed: the last row with
    sidx ≤ sidx_t − ahead."""
    sidx = np.asarray(sidx, dtype=np.int64)
    if mode == "compat":
        return np.arange(len(sidx), dtype=np.int64) - ahead
    return np.searchsorted(sidx, sidx - ahead, side="right").astype(np.int64) - 1


def forward_log_returns(log_price: np.ndarray, sidx: np.ndarray, ahead: int, mode: Mode) -> np.ndarray:
    """(T,) log return from each row to the row `ahead` later (NaN where there is none)."""
    ahead_rows = forward_rows(sidx, ahead, mode)
    out = np.full(len(log_price), np.nan)
    ok = ahead_rows >= 0
    out[ok] = log_price[ahead_rows[ok]] - log_price[ok]
    return out


def rolling_std(x: np.ndarray, w: int) -> np.ndarray:
    """Sample std (ddof 1) of every window of `w` consecutive values; length n − w + 1 (§11.0).

    As the reference computes it: x centred by its global mean, then cumulative sums of x and x²,
    so the result matches it to the last bits the float64 sums allow. NaN inputs are not allowed."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if w < 2 or n < w:
        return np.empty(0)
    c = x - x.mean()
    s1 = np.concatenate([[0.0], np.cumsum(c)])
    s2 = np.concatenate([[0.0], np.cumsum(c * c)])
    total = s1[w:] - s1[:-w]
    var = (s2[w:] - s2[:-w] - total * total / w) / (w - 1)
    return np.sqrt(np.maximum(var, 0.0))


def trailing_std(values: np.ndarray, ends: np.ndarray, w: int) -> np.ndarray:
    """For each position k, the std of the `w` finite values of `values` ending at index ends[k]
    (inclusive), NaN where fewer than `w` finite values lie at or before it.

    `values` may hold NaN (returns without a partner row); they are skipped, so a window always
    holds `w` real returns. Used for causal σ: returns that ended before the row they scale."""
    values = np.asarray(values, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.int64)
    finite = np.flatnonzero(np.isfinite(values))
    out = np.full(len(ends), np.nan)
    if len(finite) < w:
        return out
    stds = rolling_std(values[finite], w)  # stds[k]: the window finite[k .. k + w − 1]
    last = np.searchsorted(finite, ends, side="right") - 1  # the newest finite value at or before each end
    ok = (ends >= 0) & (last >= w - 1)
    out[ok] = stds[last[ok] - (w - 1)]
    return out


def safe_logit(p: np.ndarray, eps: float = EPS) -> np.ndarray:
    """logit of probabilities clipped to [eps, 1 − eps]; non-finite inputs give 0 (even odds)."""
    p = np.clip(np.where(np.isfinite(p), p, 0.5), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)
