"""TRADE-MIX salience (mantis.md §11.7): which miners hold positions in BTC, ETH, TAO and SOL that
earn money, paid only on evidence that could not come from chance, and the unearned rest burned.

A miner submits one target position in [−1, 1] per asset. The scorer reads the panel on an hourly
grid (a sample near each hour) and splits every position into two books: its exposure to an
inverse-volatility market factor, m = Σ_a w_a·P_a (the beta channel), and what is left once that
exposure is taken out in beta units, q = P − m·β (the relative-value, RV, channel). Factor weights
and betas are estimated causally, from hourly returns strictly before each row, refreshed daily.
Each channel then asks of each miner:

- evidence: does its book line up with the next 12, 24 and 48 hours of residual returns (RV), or
  the next 24 hours of the market factor (beta), better than the same book shifted circularly
  against them by four days or more? Every shift keeps the book's own persistence and breaks only
  its alignment with the future, so slowly wandering noise meets a null that wanders as much. The
  statistic is the raw cross-moment S(k) = Σ_t x_{(t−k) mod T}·y_t for all k at once by FFT; the
  horizons' z-scores are blended 0.25/0.5/0.25 against the same shifts; p is empirical, or the
  normal tail where that is smaller (many miners must be able to pass a correction);
- gates: 21 days since its first submission with 90 % of the last 21 days' hours submitted
  (probation), an RV book that moves at all, and Benjamini–Hochberg at 5 % over the miners
  considered;
- copies: before the RV evidence, each miner's RV book is projected off every senior book (earlier
  first submission, then hotkey order) whose cosine with it over the last 30 days reaches 0.2 in
  size, in sequence (Gram–Schmidt), so a copy only shows what it adds; at payment, miners whose
  books' cosine reaches 0.95 with a cluster's seed (the highest t) share one credit, each paid
  total/n², so splitting a book among n hotkeys earns 1/n of it;
- payment: softplus(t − 2) × the trailing 30 days' costed pnl (10 bps a side on turnover), floored
  at 0, × coverage; normalised, capped at 20 % with one proportional redistribution within the
  room under the cap; what is not paid is burned ("__burn__", sent to UID 0).

The channels are combined 0.75 RV / 0.25 beta, shares and burn alike.

Compat mode follows the reference (its 432 000-row history cap, "submitted = some asset non-zero",
its sorts and ties). Fixed mode applies F6 (the history is capped by sample index) and F7 (presence
is an explicit mask: a NaN vector is absent, an all-zero vector is a flat book and counts as
submitted), and:

- T1, the hour's row: the reference takes the first row at or after each hour mark within the
  tolerance and then drops the hour if that row misses a price, although a row with all four may
  lie a minute later; a dropped hour makes the next return span two hours, paired with a one-hour
  position. Fixed mode picks the first row with all four prices. The marks are whole hours of the
  sample index, not hours from the panel's first row: under F6 the first row moves every epoch,
  and marks counted from it would re-sample every hour of the history (and so every miner's
  evidence) at different minutes from one epoch to the next.
- T2, betas with one ddof: the reference divides the covariance with the market by n − 1 and the
  market's variance by n, so its betas are n/(n − 1) too large and Σ_a w_a·β_a ≠ 1 (1.006 at the
  120-hour warm-up). With the same ddof (n) for both, Σ w·β = 1 exactly, shrinkage included, so the residual returns
  carry no market factor (w·resid = 0) and the RV book none of the market portfolio (w·q = 0), as
  the decomposition claims; in the reference the RV labels leak a sliver of the market.
- T3, beta-channel copies: the reference clusters the beta channel's duplicates by the RV books'
  cosine, so a copy of a market timer's exposure m with any unrelated RV book is never clustered
  with it and takes a second full credit (the beta channel has no seniority pass either). Fixed
  mode clusters the beta channel on the cosine of the market exposures m over the same window,
  with the same 0.95.
- T4, a null without spread: when a book is constant over the panel, every shift gives the same
  S(k) but for rounding, and the reference standardises the rounding: its z, and then its t, are
  arbitrary (from −3 to 10¹⁰ on constant books of 500 rows). The natural case is a book long (or
  short) the same amount of every asset: its market exposure is m = c·Σ_a w_a = c on every row,
  whatever the weights, and its beta-channel p came out at 0.005 on one synthetic panel. Fixed
  mode gives such a horizon no evidence (z = 0) when the null's spread is below 1e−9 of the
  statistic's size, far below any spread a real series has.
- T5, evidence borrowed from a senior: the seniority pass projects a junior's RV book off a senior
  whose cosine with it reaches ±0.2, and the junior is then tested on what is left. When the two
  are anti-aligned (a book leaning the other way on average, say a constant one), what is left is
  the junior plus a multiple of the senior, and it inherits the senior's skill: a constant book
  leaning against a skilled senior's average position has t = 0.3 on its own and t = 3.8 (about
  the senior's) after the projection, passes the gate and is paid on its own (random) pnl. Fixed
  mode tests the RV book both on its own and after the projection, and keeps the weaker result
  (p = max, t = min: an intersection–union test, still of level α): a copy fails on what it adds,
  a worthless book on itself. And a junior is projected only off seniors whose own RV evidence is
  positive (t > 0). A projection is blind to sign: a hotkey that sent flat books from the start (a
  flat book counts as submitted, so seniority costs nothing) and then a skilled trader's book
  negated, an hour late, left the trader nothing to show once projected off it (t 3.7 → 0.9–2.1 on
  two of three 33-day panels), took its pay to 0 and gained nothing itself. A senior without
  positive evidence has nothing a junior could borrow.
- T6, the cap per credit: a dedup cluster earns one credit (its n paid members get total/n² each),
  but the reference caps each member at 20 % after normalising, so where the cap binds (a channel
  with few paid miners) n copies take n caps: one market timer alone in the beta channel gets
  20 % of it and burns 80 %; three copies of it, clustered, get 20 % each. Fixed mode caps each
  cluster's total at 20 % and splits it among its paid members.
- The scorer's output: compat drops shares ≤ 1e−9 as the reference does (the map then sums to a
  hair under 1); fixed adds what it drops to the burn, so shares and burn sum to 1.

- T7, the p-value over independent shifts: the reference's empirical p is the rank of S(0) among
  the shifts at least four days away, and its normal tail treats those shifts as independent; for
  a book and labels that both vary over days (a constant book, whose exposure moves with the
  daily weights and betas; an AR(1) book; a value held for hours) neighbouring shifts are nearly
  the same draw, and such books reach the floor 1/(n + 1) (≈ 0.2 %) in 3–4 % of panels, which
  Benjamini–Hochberg (the more skilled miners pass, the more it lets in) then admits: a constant
  book took the beta channel's 20 % cap on devnet panels. Fixed mode judges t against a t tail
  with the null's effective number of independent shifts (its integrated autocorrelation time
  over k, as `significance.shift_p` does for the other scorers), never below the empirical p
  where some shift reaches the aligned value.

- T8, seniority by who leads: seniority by first sample is free to take (a flat book counts as
  submitted) and blind to copying late. A late copy of a trader's book keeps most of its skill
  (positions aimed 12–48 hours ahead are still worth something an hour later), and projected off
  the trader at the same hour it keeps what the trader loses to its own seniors: at 256 miners ×
  60 days an hour-late copy of the best trader kept t 4.7 while the trader, projected off the
  other skilled traders, kept 0.3, and the copy took 11 % of the pool. Fixed mode says book i
  trails book j when they are alike (|cos| ≥ 0.2), j's book of 1–12 hours before explains i's now
  better than j's of the same hour, and better than i's earlier book explains j's by 0.05
  (`lagged_cosines`, `trailing`); a book comes after every book it trails, and is projected off
  the span of that book's raw lags 0–12 in 48-hour blocks (a copy that starts late, after flat
  books, is still a copy block by block). A trailing book whose cosine with that span reaches
  dedup's 0.95 is a copy and keeps nothing: what is left of it (hours where the grid's rows fall a
  minute apart) would otherwise be tested, and a t-statistic does not care how small it is (such
  a copy had t 3.8 and was paid on its whole book's pnl).

Both modes: the panel's rows after the last sample any miner has a value for (the platform's
panels carry prices to the epoch's end, values to the training cutoff) are not hours anyone could
have traded: the scored rows end there, as the reference's data ends at its cutoff. A price that
is NaN, infinite or ≤ 0 is missing.

Compat agrees with the reference to the bit (checked on synthetic panels up to 256 miners × 60
days): the same operations in the same order, each miner's moments over the shifts reduced as the
reference reduces its own 1-D array (`_row_moments`).

Sizes: the hourly grid of 60 days is ~1 440 rows, so only those rows of the panel are read (a few
MB at 256 miners), and every step is a few FFTs and small matrix products: 1.7 s at 256 miners ×
60 days in fixed mode (T8's lagged cosines and projections included), 0.5 s in compat, about 90 MB
beyond the panel. The circle of the shift test is the panel's own T
rows (the statistic is defined mod T, and numpy's FFT of any length near 1 500 costs
microseconds), so no rows are dropped to reach a fast FFT length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mechanisms.mantis.entry import checked_panel, single_threaded
from mechanisms.mantis.panel import Mode, in_columns, presence
from mechanisms.mantis.significance import P_FLOOR, draws_p, effective_draws
from mechanisms.mantis.universe import TRADE_MIX_ASSETS
from mechanisms.weights import BURN_KEY

EPS = 1e-12  # the reference's guard in every denominator
MIN_SHARE = 1e-9  # shares at or below this are not reported (the reference's cut)
FLAT_NULL = 1e-9  # T4: a null whose spread is below this fraction of |S| is rounding, not variation
A = len(TRADE_MIX_ASSETS)


@dataclass(frozen=True)
class TradeMixParams:
    """The reference's constants. Windows named `_hours` count rows of the hourly grid (an hour
    apart); `ahead`, `grid_tolerance`, `history` and `compat_rows` count samples or panel rows.

    `ahead` is the challenge's horizon in samples, which the platform sets from horizon_blocks
    (300 blocks: 60 samples), and is the grid's step: TRADE-MIX's positions are scored hourly."""

    ahead: int = 60  # grid step, samples (an hour)
    grid_tolerance: int = 10  # a grid point takes the first row at or after it within this many samples
    min_grid_rows: int = 10  # grid rows (and rows with prices) below which the pool is burned
    horizons_hours: tuple[int, ...] = (12, 24, 48)  # RV labels: residual returns over the next h rows
    blend_weights: tuple[float, ...] = (0.25, 0.5, 0.25)  # the horizons' z-scores blended so
    beta_horizon_hours: int = 24  # beta label: the market factor over the next 24 rows
    channel_split_rv: float = 0.75  # RV's share of the pool; beta has the rest
    fdr_q: float = 0.05  # Benjamini–Hochberg's level, per channel
    probation_hours: int = 504  # rows since the first submission a miner needs (21 days) …
    probation_coverage: float = 0.9  # … with this share of the last probation_hours rows submitted
    activity_min_std: float = 1e-4  # an RV book whose std over the valid rows is below this is inactive
    seniority_cosine: float = 0.2  # |cos| at which a junior's RV book is projected off a senior's
    lead_lag_hours: int = 12  # fixed (T8): lags at which one book may trail another …
    lead_margin: float = 0.05  # … and by how much its lagged cosine must beat the reverse one;
    lead_block_hours: int = 48  # a trailing book is projected off its leader's lags in blocks of this many rows
    dedup_cosine_threshold: float = 0.95  # cos at which books share one credit
    dedup_hours: int = 720  # rows the cosines are taken over (the newest)
    fee_bps: float = 10.0  # per side, on turnover, in the attribution
    softplus_shift: float = 2.0  # raw pay is softplus(t − shift) × attribution × coverage
    miner_cap: float = 0.2  # the largest share of a channel's pool one miner takes
    min_hours: int = 288  # grid rows a panel needs (fewer: the pool is burned) …
    min_rows: int = 120  # … and more than this many
    refresh_hours: int = 24  # factor weights and betas are re-estimated on rows t % refresh == 0 …
    factor_warmup_hours: int = 120  # … from t = warm-up on; rows before it have no labels
    vol_window_hours: int = 720  # inverse-vol weights from the std over this many rows before t
    market_window_hours: int = 1440  # betas from this many rows before t
    beta_shrink: float = 0.7  # β = beta_shrink·β̂ + (1 − beta_shrink)·1
    null_margin_hours: int = 96  # the null's shifts k in [margin, T − margin] (and T ≥ 3·margin)
    min_null: int = 50  # shifts the null needs
    attribution_hours: int = 720  # rows of the trailing costed pnl
    coverage_hours: int = 720  # rows of the coverage that scales pay
    history: int = 86_400  # fixed (F6): samples of history kept (60 days)
    compat_rows: int = 432_000  # compat: the reference's cap, MAX_BLOCK_HISTORY applied to rows (F6)

    def __post_init__(self) -> None:
        problems = []
        if any(int(h) != h for h in self.horizons_hours):
            problems.append("horizons_hours must be whole rows")
        object.__setattr__(self, "horizons_hours", tuple(int(h) for h in self.horizons_hours))
        object.__setattr__(self, "blend_weights", tuple(float(w) for w in self.blend_weights))
        positive = ("ahead", "lead_lag_hours", "lead_block_hours", "min_grid_rows", "beta_horizon_hours", "probation_hours", "dedup_hours", "min_hours",
                    "min_rows", "refresh_hours", "null_margin_hours", "min_null", "coverage_hours", "history",
                    "compat_rows")
        problems += [f"{n} must be ≥ 1" for n in positive if not getattr(self, n) >= 1]
        at_least_two = ("factor_warmup_hours", "vol_window_hours", "market_window_hours", "attribution_hours")
        problems += [f"{n} must be ≥ 2 (a window of one row has no spread)" for n in at_least_two
                     if not getattr(self, n) >= 2]
        if not 0 <= self.grid_tolerance < self.ahead:
            problems.append("grid_tolerance must lie in [0, ahead): a grid point's row is within it")
        if not self.horizons_hours or min(self.horizons_hours) < 1:
            problems.append("horizons_hours must be one or more horizons ≥ 1")
        w = self.blend_weights
        if len(w) != len(self.horizons_hours) or not all(math.isfinite(x) and x >= 0 for x in w) or not sum(w) > 0:
            problems.append("blend_weights must be one finite weight ≥ 0 per horizon, not all 0")
        for name in ("channel_split_rv", "probation_coverage", "seniority_cosine", "dedup_cosine_threshold",
                     "beta_shrink", "lead_margin"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must lie in [0, 1]")
        if not 0 < self.fdr_q < 1:
            problems.append("fdr_q must lie in (0, 1)")
        if not 0 < self.miner_cap <= 1:
            problems.append("miner_cap must lie in (0, 1]")
        for name in ("fee_bps", "activity_min_std", "softplus_shift"):
            v = getattr(self, name)
            if not (math.isfinite(v) and (v >= 0 or name == "softplus_shift")):
                problems.append(f"{name} must be finite" + ("" if name == "softplus_shift" else " and ≥ 0"))
        if problems:
            raise ValueError("TradeMixParams: " + "; ".join(problems))
        # windows that contradict each other: a panel the scorer accepts must be able to score
        longest = max(max(self.horizons_hours), self.beta_horizon_hours)
        if self.factor_warmup_hours > self.min_rows:
            problems.append(f"factor_warmup_hours {self.factor_warmup_hours} > min_rows {self.min_rows}: "
                            "a panel just long enough would have no factor")
        if self.min_hours < 3 * self.null_margin_hours:
            problems.append(f"min_hours {self.min_hours} < 3 × null_margin_hours {self.null_margin_hours}: "
                            "a panel just long enough would have no null")
        if self.min_hours - 2 * self.null_margin_hours + 1 < self.min_null:
            problems.append(f"min_hours {self.min_hours} leaves fewer than min_null {self.min_null} shifts "
                            f"between the null's margins ({self.null_margin_hours})")
        if self.min_hours <= self.factor_warmup_hours + longest:
            problems.append(f"min_hours {self.min_hours} ≤ factor_warmup_hours + the longest horizon "
                            f"({self.factor_warmup_hours} + {longest}): a panel just long enough has no label")
        hours_kept = self.history // self.ahead + 1
        for name in ("min_hours", "probation_hours"):
            if getattr(self, name) > hours_kept:
                problems.append(f"{name} {getattr(self, name)} exceeds the {hours_kept} grid rows that "
                                f"history {self.history} holds at one row every {self.ahead} samples")
        if problems:
            raise ValueError("TradeMixParams: " + "; ".join(problems))

    def lookback(self, mode: Mode) -> int:
        """Samples before the newest a panel must hold: the history cap (compat: the reference's
        row cap, which is samples where no sample was missed)."""
        return self.compat_rows if mode == "compat" else self.history

    @property
    def fee(self) -> float:
        return self.fee_bps * 1e-4


# -- the hourly grid ----------------------------------------------------------------------------


def priced(prices: np.ndarray) -> np.ndarray:
    """(T, A) bool: a price that is finite and > 0 (NaN, inf, 0 and negatives are missing)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(prices) & (prices > 0)


def grid_rows(sidx: np.ndarray, step: int, tolerance: int, anchored: bool) -> np.ndarray:
    """Rows (indices into sidx, increasing) of the hourly grid: for each grid point g, the first row
    with sidx ≥ g, taken if sidx − g ≤ tolerance (< step, so no row serves two points). The points
    run from sidx[0] in steps (anchored=False, the reference) or are the multiples of step from the
    first at or after sidx[0] (anchored: whole hours of the sample index), up to sidx[-1].

    Computed row by row, without listing the points (a panel with a long gap has many): a row
    serves the point g = sidx − (sidx − anchor) mod step if it lies within the tolerance of it, and
    the first such row of each point is the first row at or after it."""
    sidx = np.asarray(sidx, dtype=np.int64)
    if len(sidx) == 0:
        return np.zeros(0, dtype=np.int64)
    off = (sidx - (0 if anchored else sidx[0])) % step
    point = sidx - off
    rows = np.flatnonzero((off <= tolerance) & (point >= sidx[0]))
    first = np.ones(len(rows), dtype=bool)
    first[1:] = point[rows[1:]] != point[rows[:-1]]
    return rows[first]


def _last_value_row(X: np.ndarray) -> int:
    """The last row at which some miner has a value (−1: none), read from the end a block at a time."""
    step = 256
    for hi in range(len(X), 0, -step):
        block = X[max(0, hi - step) : hi]
        has = ~np.isnan(block).all(axis=(1, 2)) if block.shape[1] else np.zeros(len(block), dtype=bool)
        if has.any():
            return max(0, hi - step) + int(np.flatnonzero(has)[-1])
    return -1


def hourly_panel(sidx: np.ndarray, prices: np.ndarray, end: int, mode: Mode, params: TradeMixParams
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows of the panel on the hourly grid (R,), their prices (R, A)), or None when fewer than
    min_grid_rows are left (the pool is burned).

    compat: the rows with some price, the newest compat_rows of them, on the grid from the first;
    then the grid rows without all four prices are dropped. fixed: the rows with all four prices
    whose sample lies within `history` of the panel's newest (F6), on whole hours (T1). Rows after
    `end` (the last with a value) are not read."""
    ok = priced(prices[: end + 1])
    if mode == "compat":
        kept = np.flatnonzero(ok.any(axis=1))[-params.compat_rows :]
        rows = kept[grid_rows(sidx[kept], params.ahead, params.grid_tolerance, anchored=False)]
        if len(rows) < params.min_grid_rows:
            return None
        rows = rows[ok[rows].all(axis=1)]
    else:
        kept = np.flatnonzero(ok.all(axis=1))
        kept = kept[sidx[kept] > sidx[-1] - params.history] if len(sidx) else kept
        rows = kept[grid_rows(sidx[kept], params.ahead, params.grid_tolerance, anchored=True)]
    if len(rows) < params.min_grid_rows:
        return None
    return rows, prices[rows]


# -- the factor structure -----------------------------------------------------------------------


@dataclass(frozen=True)
class Factors:
    """Per grid row t: log return r (T, A) from t − 1 to t (r[0] = 0), factor weights w (T, A) and
    betas (T, A) as estimated from rows before t, the market factor mkt = r·w (T,), the residual
    returns r − β·mkt (T, A), and valid (T,): rows from the warm-up on (before it w = 1/A, β = 1)."""

    r: np.ndarray
    w: np.ndarray
    beta: np.ndarray
    mkt: np.ndarray
    resid: np.ndarray
    valid: np.ndarray


def causal_factors(prices: np.ndarray, params: TradeMixParams, mode: Mode) -> Factors:
    """The factor structure, causal: each refresh row t (t ≥ warm-up, t % refresh == 0) estimates
    inverse-vol weights from the population std of the vol window's returns before t (plus ε),
    the market m_hist = r·w over the market window before t, and β_a = cov(r_a, m)/(var m + ε),
    shrunk toward 1; rows up to the next refresh use them. compat: cov with ddof 1, var with ddof 0;
    fixed (T2): both ddof 0, so Σ w·β = 1."""
    logp = np.log(prices)
    r = np.diff(logp, axis=0, prepend=logp[:1])
    r[0] = 0.0
    T, n_assets = r.shape
    w = np.full((T, n_assets), 1.0 / n_assets)
    beta = np.ones((T, n_assets))
    ddof = 1 if mode == "compat" else 0
    # the prior's weight as the decimal it is (1 − 0.7 is 0.30000000000000004 in binary; the
    # reference's constant is 0.3)
    toward = float(f"{1.0 - params.beta_shrink:.15g}")
    refreshes = [t for t in range(params.factor_warmup_hours, T) if t % params.refresh_hours == 0]
    for i, t in enumerate(refreshes):
        vol = r[max(0, t - params.vol_window_hours) : t].std(axis=0) + EPS
        wt = 1.0 / vol
        wt /= wt.sum()
        window = r[max(0, t - params.market_window_hours) : t]
        m_hist = window @ wt
        vm = m_hist.var() + EPS
        b = np.array([np.cov(window[:, a], m_hist, ddof=ddof)[0, 1] / vm for a in range(n_assets)])
        b = params.beta_shrink * b + toward * 1.0
        stop = refreshes[i + 1] if i + 1 < len(refreshes) else T
        w[t:stop], beta[t:stop] = wt, b
    mkt = np.zeros(T)
    resid = np.zeros((T, n_assets))
    for t in range(T):  # row by row, as the reference: a 4-element dot rounds as it does
        mkt[t] = r[t] @ w[t]
        resid[t] = r[t] - beta[t] * mkt[t]
    valid = np.zeros(T, dtype=bool)
    valid[params.factor_warmup_hours :] = True
    return Factors(r, w, beta, mkt, resid, valid)


def decompose(P: np.ndarray, f: Factors) -> tuple[np.ndarray, np.ndarray]:
    """(m (T, H) market exposure Σ_a w_a·P_a, q (T, H, A) the RV book P − m·β) of positions P
    (T, H, A), absent = 0."""
    m = np.sum(f.w[:, None, :] * P, axis=2)
    q = P - m[:, :, None] * f.beta[:, None, :]
    return m, q


def forward_sum(y: np.ndarray, h: int) -> np.ndarray:
    """out[t] = y[t + 1] + … + y[t + h] (by cumulative sums); NaN where the window runs off the end."""
    T = len(y)
    c = np.concatenate([np.zeros((1,) + y.shape[1:]), np.cumsum(y, axis=0)])
    out = np.full(y.shape, np.nan)
    if T > h:
        out[: T - h] = c[1 + h : T + 1] - c[1 : T - h + 1]
    return out


# -- evidence: the circular-shift null ----------------------------------------------------------


def label_spectra(labels: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The rfft (F, C) of each label array (T,) or (T, C) over rows, NaN as 0: shared by all miners."""
    return [np.fft.rfft(np.nan_to_num(y.reshape(len(y), -1), nan=0.0), axis=0) for y in labels]


def circular_statistics(x: np.ndarray, spectrum: np.ndarray) -> np.ndarray:
    """(H, T): S_j(k) = Σ_c Σ_t x[(t − k) mod T, j, c]·y[t, c] for every miner j and shift k, of books
    x (T, H, C) against the labels whose rfft is `spectrum` (F, C). Row j is contiguous, so each
    miner's reductions over k run as over its own 1-D array."""
    T = x.shape[0]
    Xf = np.fft.rfft(x, axis=0)
    S = np.fft.irfft(np.conj(Xf) * spectrum[:, None, :], n=T, axis=0).sum(axis=2)
    return np.ascontiguousarray(S.T)


def null_shifts(T: int, margin: int) -> np.ndarray:
    """(T,) bool: the shifts k in [margin, T − margin] that make up the null."""
    k = np.arange(T)
    return (k >= margin) & (k <= T - margin)


def _row_moments(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, population sd) of each row of a (H, n), row by row: numpy reduces a 1-D array by
    pairwise sums but a 2-D one along its rows in another order, and the reference takes each
    miner's moments on its own 1-D array (compat agrees to the bit)."""
    mean = np.array([row.mean() for row in a])
    sd = np.array([row.std() for row in a])
    return mean, sd


def p_values(z_obs: np.ndarray, z_null: np.ndarray, mode: Mode = "compat") -> tuple[np.ndarray, np.ndarray]:
    """(t (H,), p (H,)) of blended observed z (H,) against the blended null (H, n) over consecutive
    shifts: t = (z_obs − mean)/(sd + ε); p_emp = (1 + #{null ≥ obs})/(1 + n). compat: p = min(p_emp,
    max(½·erfc(t/√2), 1e−12)) where t > 0, else p_emp. fixed (T7): the t tail over the null's
    effective number of independent shifts, never below p_emp where some shift reaches z_obs."""
    n = z_null.shape[1]
    mean, sd = _row_moments(z_null)
    t = (z_obs - mean) / (sd + EPS)
    reached = np.sum(z_null >= z_obs[:, None], axis=1)
    p_emp = (1.0 + reached) / (1.0 + n)
    if mode == "fixed":
        spectrum = np.fft.rfft(z_null - mean[:, None], n=2 * n, axis=1)  # zero-padded: lags within the segment
        acf = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=2 * n, axis=1)[:, : max(2, n // 2)]
        p = np.array([draws_p(ti, effective_draws(a, n)) for ti, a in zip(t.tolist(), acf)])
        return t, np.where(reached > 0, np.maximum(p, p_emp), p)
    p = np.array([min(pe, max(0.5 * math.erfc(ti / math.sqrt(2.0)), P_FLOOR)) if ti > 0 else pe
                  for ti, pe in zip(t.tolist(), p_emp.tolist())])
    return t, p


def evidence(x: np.ndarray, spectra: Sequence[np.ndarray], blend: Sequence[float], params: TradeMixParams,
             mode: Mode) -> tuple[np.ndarray, np.ndarray]:
    """(t (H,), p (H,)) of books x (T, H, C) against the labels of `spectra`, one per horizon: each
    horizon's S(0) and null standardised by the null's mean and population sd (+ ε), blended with
    `blend`, and judged by `p_values`. (0, 1) for every miner when T < 3·margin or the null has fewer
    than min_null shifts. Fixed (T4): a horizon whose null's sd is below FLAT_NULL × max|S| adds 0."""
    T, H = x.shape[:2]
    shifts = null_shifts(T, params.null_margin_hours)
    n = int(shifts.sum())
    if T < 3 * params.null_margin_hours or n < params.min_null or H == 0:
        return np.zeros(H), np.ones(H)
    z_obs, z_null = np.zeros(H), np.zeros((H, n))
    for w_h, spectrum in zip(blend, spectra):
        S = circular_statistics(x, spectrum)
        null = S[:, shifts]
        mu, spread = _row_moments(null)
        sd = spread + EPS
        z0 = w_h * (S[:, 0] - mu) / sd
        zn = w_h * (null - mu[:, None]) / sd[:, None]
        if mode == "fixed":
            flat = ~(spread > FLAT_NULL * np.abs(S).max(axis=1))
            z0[flat], zn[flat] = 0.0, 0.0
        z_obs += z0
        z_null += zn
    return p_values(z_obs, z_null, mode)


# -- gates and copies ---------------------------------------------------------------------------


def benjamini_hochberg(p: np.ndarray, q: float) -> np.ndarray:
    """(m,) bool: Benjamini–Hochberg's discoveries at level q. The k-th smallest p (k from 1) is held
    to q·k/m; every p up to the largest that meets its bound passes (step-up: a p above its own
    bound passes when a larger one meets its bound). Ties in stable order."""
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    out = np.zeros(m, dtype=bool)
    order = np.argsort(p, kind="stable")
    ok = np.flatnonzero(p[order] <= q * np.arange(1, m + 1) / m)
    if len(ok):
        out[order[: ok[-1] + 1]] = True
    return out


def cosine_matrix(books: np.ndarray) -> np.ndarray:
    """(H, H) cosine similarity of flattened books (H, N), ε in the norms (a zero book has 0)."""
    norm = np.linalg.norm(books, axis=1) + EPS
    return (books @ books.T) / np.outer(norm, norm)


def seniority_order(first_seen: np.ndarray) -> np.ndarray:
    """Columns from the most senior: first_seen, then column (columns are in hotkey order)."""
    return np.lexsort((np.arange(len(first_seen)), first_seen))


def lagged_cosines(books: np.ndarray, max_lag: int) -> np.ndarray:
    """(H, H) lead[i, j] = max over k in 1..max_lag of |cos(book_i(t), book_j(t − k))| over the
    rows both cover: how well j's book of k hours before explains i's now. books (H, W, A)."""
    H, W, _ = books.shape
    lead = np.zeros((H, H))
    for k in range(1, min(max_lag, W - 1) + 1):
        now = books[:, k:].reshape(H, -1)
        before = books[:, : W - k].reshape(H, -1)
        c = (now @ before.T) / np.outer(np.linalg.norm(now, axis=1) + EPS, np.linalg.norm(before, axis=1) + EPS)
        np.maximum(lead, np.abs(c), out=lead)
    return lead


def trailing(sim: np.ndarray, lead: np.ndarray, threshold: float, margin: float) -> np.ndarray:
    """(H, H) bool, [i, j]: i's book trails j's (T8). Their books are alike (|sim| ≥ threshold),
    j's book of some hours before explains i's now better than j's at the same moment (lead[i, j] >
    |sim[i, j]|), and better than i's earlier book explains j's, by the margin."""
    out = (np.abs(sim) >= threshold) & (lead > np.abs(sim)) & (lead - lead.T > margin)
    np.fill_diagonal(out, False)
    return out


def lead_lag_order(first_seen: np.ndarray, trails: np.ndarray) -> np.ndarray:
    """Seniority by who leads (T8): a book comes after every book it trails; otherwise, and within
    a cycle, the order is `seniority_order`'s."""
    H = len(first_seen)
    rank = np.empty(H, dtype=np.int64)
    rank[seniority_order(first_seen)] = np.arange(H)
    left = np.ones(H, dtype=bool)
    order = []
    for _ in range(H):
        ready = left & ~(trails & left[None, :]).any(axis=1)  # none of the books it trails still to come
        pool = np.flatnonzero(ready if ready.any() else left)
        j = int(pool[np.argmin(rank[pool])])
        order.append(j)
        left[j] = False
    return np.array(order, dtype=np.int64)


def seniority_residualize(books: np.ndarray, sim: np.ndarray, first_seen: np.ndarray, threshold: float,
                          sources: np.ndarray | None = None, trails: np.ndarray | None = None,
                          lags: int = 0, width: int = 1, block: int = 48, copy_cosine: float = 0.95) -> np.ndarray:
    """(H, N): books in seniority order, each junior projected in turn off every already-processed
    senior whose cosine with it (from `sim`, the raw books) reaches the threshold in size:
    sequential Gram–Schmidt against the seniors as they were left (a senior with a zero norm after
    its own projections is skipped). `sources` (H,) bool: the seniors a junior may be projected
    off (None: all; fixed mode passes those with positive evidence of their own, T5).

    `trails` (H, H) bool (fixed mode, T8): the order is `lead_lag_order`'s, and a junior that trails
    a senior is projected off the span of the senior's raw book at lags 0..`lags` rows (a book is
    rows of `width` values, time first), in blocks of `block` rows, so a copy of it some hours late
    shows only what it adds, even one that sends something else (a flat book) for a while; one whose
    cosine with that span reaches `copy_cosine` (dedup's) is a copy and keeps nothing."""
    out = np.array(books, dtype=np.float64, copy=True)
    order = seniority_order(first_seen) if trails is None else lead_lag_order(first_seen, trails)
    norm2 = np.zeros(len(out))  # a processed senior's squared norm: it no longer changes
    step = np.empty(out.shape[1])
    usable = np.ones(len(out), dtype=bool) if sources is None else np.asarray(sources, dtype=bool)
    for pos, j in enumerate(order.tolist()):
        seniors = order[:pos]
        xj = out[j]
        alike = seniors[(np.abs(sim[seniors, j]) >= threshold) & usable[seniors]]
        if trails is not None:  # the books it trails first, the likest first: a copy is a copy of its source
            alike = alike[np.lexsort((-np.abs(sim[alike, j]), ~trails[j, alike]))]
        for s in alike.tolist():
            if norm2[s] <= EPS:
                continue
            if trails is not None and trails[j, s] and lags > 0:
                basis = np.zeros((len(xj), lags + 1))
                for k in range(lags + 1):
                    basis[k * width :, k] = books[s][: len(xj) - k * width]  # its raw book: all of it is old news
                before = xj @ xj
                for lo in range(0, len(xj), block * width):  # block by block: a copy that starts late is one
                    q = np.linalg.qr(basis[lo : lo + block * width])[0]
                    xj[lo : lo + block * width] -= q @ (q.T @ xj[lo : lo + block * width])
                if xj @ xj <= (1.0 - copy_cosine**2) * before:
                    xj[:] = 0.0  # a copy of the leader's lags (cosine ≥ copy_cosine): what is left is not its own
            else:
                np.multiply(out[s], (xj @ out[s]) / norm2[s], out=step)
                np.subtract(xj, step, out=xj)
        norm2[j] = xj @ xj
    return out


def dedup_clusters(sim: np.ndarray, threshold: float, priority: np.ndarray) -> list[list[int]]:
    """Greedy clusters: the unassigned miner of highest priority (ties: lower column) seeds a
    cluster of itself and every unassigned miner whose cosine with it is ≥ threshold (signed)."""
    H = sim.shape[0]
    free = np.ones(H, dtype=bool)
    clusters = []
    for i in np.argsort(-priority, kind="stable").tolist():
        if not free[i]:
            continue
        members = free & (sim[i] >= threshold)
        members[i] = True
        clusters.append(np.flatnonzero(members).tolist())
        free &= ~members
    return clusters


def split_clusters(raw: np.ndarray, clusters: list[list[int]]) -> np.ndarray:
    """Each cluster's members with raw > 0 share one credit: n of them get total/n² each."""
    out = raw.copy()
    for members in clusters:
        paid = [i for i in members if raw[i] > 0]
        if len(paid) > 1:
            total = sum(raw[i] for i in paid)
            for i in paid:
                out[i] = total / len(paid) ** 2
    return out


def capped_shares(raw: np.ndarray, cap: float) -> tuple[np.ndarray, float]:
    """(shares, burn): raw normalised to 1, each share above the cap cut to it, and the excess
    handed once to the miners under it in proportion to their shares, none beyond the room under
    the cap; burn = 1 − Σ shares (all of it when nothing is raw > 0)."""
    total = raw.sum()
    if not total > 0:
        return np.zeros(len(raw)), 1.0
    shares = raw / total
    over = shares > cap
    if over.any():
        excess = float(np.sum(shares[over] - cap))
        shares[over] = cap
        under = ~over & (shares > 0)
        if under.any():
            room = np.minimum(cap - shares[under], excess * shares[under] / max(shares[under].sum(), EPS))
            shares[under] += room
    return shares, float(1.0 - shares.sum())


def softplus(x: float) -> float:
    return float(np.log1p(np.exp(-abs(x))) + max(x, 0.0))


def channel_shares(gate: np.ndarray, t: np.ndarray, attribution: np.ndarray, coverage: np.ndarray, sim: np.ndarray,
                   params: TradeMixParams, mode: Mode) -> tuple[np.ndarray, float]:
    """(shares (H,), burn) of one channel: raw = softplus(t − shift)·attribution·coverage for gated
    miners, dedup clusters seeded by t split, then `capped_shares`: per miner (compat), or per
    cluster, its members sharing the cluster's capped share equally (fixed, T6)."""
    raw = np.zeros(len(t))
    for i in np.flatnonzero(gate).tolist():
        raw[i] = softplus(t[i] - params.softplus_shift) * attribution[i] * coverage[i]
    clusters = dedup_clusters(sim, params.dedup_cosine_threshold, t)
    raw = split_clusters(raw, clusters)
    if mode == "compat":
        return capped_shares(raw, params.miner_cap)
    totals = np.array([raw[c].sum() for c in clusters])
    cluster_shares, burn = capped_shares(totals, params.miner_cap)
    shares = np.zeros(len(t))
    for members, total, share in zip(clusters, totals.tolist(), cluster_shares.tolist()):
        if total > 0:
            shares[members] = share * raw[members] / total
    return shares, burn


def costed_pnl(book: np.ndarray, returns: np.ndarray, fee: float) -> np.ndarray:
    """(H,) max(0, Σ_t book_t·returns_{t+1} − fee·Σ_t |book_t − book_{t−1}|) over a window: book
    (n, H) or (n, H, C) held from row t to t + 1, returns (n,) or (n, C) earned on arriving at row t."""
    n, H = book.shape[:2]
    if n < 2:
        return np.zeros(H)
    if book.ndim == 2:  # the market book: one column (summed as the reference sums it)
        nxt = np.concatenate([returns[1:], [0.0]])
        pnl = (book[:-1] * nxt[:-1, None]).sum(axis=0)
        turnover = np.abs(np.diff(book, axis=0)).sum(axis=0)
    else:
        nxt = np.vstack([returns[1:], np.zeros((1, returns.shape[1]))])
        pnl = np.einsum("tha,ta->h", book[:-1], nxt[:-1])
        turnover = np.abs(np.diff(book, axis=0)).sum(axis=(0, 2))
    return np.maximum(0.0, pnl - fee * turnover)


# -- scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """One panel's diagnostics per column (sorted hotkeys) and the two channels' shares and burns."""

    t_rv: np.ndarray
    p_rv: np.ndarray
    t_beta: np.ndarray
    p_beta: np.ndarray
    gate_rv: np.ndarray
    gate_beta: np.ndarray
    eligible: np.ndarray
    coverage: np.ndarray
    first_seen: np.ndarray
    attr_rv: np.ndarray
    attr_beta: np.ndarray
    shares_rv: np.ndarray
    shares_beta: np.ndarray
    burn_rv: float
    burn_beta: float
    split: tuple[float, float]  # (RV, beta) shares of the pool

    @property
    def shares(self) -> np.ndarray:
        return self.split[0] * self.shares_rv + self.split[1] * self.shares_beta

    @property
    def burn(self) -> float:
        return self.split[0] * self.burn_rv + self.split[1] * self.burn_beta


def score_grid(P: np.ndarray, submitted: np.ndarray, prices: np.ndarray, mode: Mode, params: TradeMixParams) -> Scored:
    """Score positions P (T, H, A) (absent = 0, clipped), presence `submitted` (T, H) and prices
    (T, A) (all > 0) on the hourly grid, at its last row."""
    T, H, _ = P.shape
    f = causal_factors(prices, params, mode)
    m, q = decompose(P, f)

    coverage = submitted[-params.coverage_hours :].mean(axis=0)
    first_seen = np.where(submitted.any(axis=0), np.argmax(submitted, axis=0), T).astype(np.int64)
    age_ok = (T - first_seen) >= params.probation_hours
    eligible = age_ok & (submitted[-params.probation_hours :].mean(axis=0) >= params.probation_coverage)
    active_rv = q[f.valid].std(axis=(0, 2)) >= params.activity_min_std

    lo = max(0, T - params.dedup_hours)
    sim_rv = cosine_matrix(q[lo:].transpose(1, 0, 2).reshape(H, -1))
    sim_beta = sim_rv if mode == "compat" else cosine_matrix(np.ascontiguousarray(m[lo:].T))  # T3

    labels_rv = []
    for h in params.horizons_hours:
        y = forward_sum(f.resid, h)
        y[~f.valid] = np.nan
        labels_rv.append(y)
    y_beta = forward_sum(f.mkt[:, None], params.beta_horizon_hours)[:, 0]
    y_beta[~f.valid] = np.nan
    spectra_rv = label_spectra(labels_rv)
    # T5: a book passes on its own evidence as well as on what it adds to its seniors', and only a
    # senior with positive evidence of its own is one a junior is projected off
    t_own, p_own = evidence(q, spectra_rv, params.blend_weights, params, mode) if mode == "fixed" else (None, None)
    trails = None if mode == "compat" else trailing(sim_rv, lagged_cosines(q[lo:].transpose(1, 0, 2), params.lead_lag_hours),
                                                    params.seniority_cosine, params.lead_margin)  # T8
    books = seniority_residualize(q.transpose(1, 0, 2).reshape(H, -1), sim_rv, first_seen, params.seniority_cosine,
                                  None if t_own is None else t_own > 0, trails, params.lead_lag_hours, q.shape[2],
                                  params.lead_block_hours, params.dedup_cosine_threshold)
    q_gate = books.reshape(H, T, -1).transpose(1, 0, 2)
    t_rv, p_rv = evidence(q_gate, spectra_rv, params.blend_weights, params, mode)
    if t_own is not None:
        t_rv, p_rv = np.minimum(t_rv, t_own), np.maximum(p_rv, p_own)
    t_be, p_be = evidence(m[:, :, None], label_spectra([y_beta]), (1.0,), params, mode)

    gate_rv, gate_be = np.zeros(H, dtype=bool), np.zeros(H, dtype=bool)
    for gate, considered, p in ((gate_rv, eligible & active_rv, p_rv), (gate_be, eligible, p_be)):
        idx = np.flatnonzero(considered)
        if len(idx):
            gate[idx] = benjamini_hochberg(p[idx], params.fdr_q)

    lo_a = max(0, T - params.attribution_hours)
    attr_rv = costed_pnl(q[lo_a:], f.resid[lo_a:], params.fee)
    attr_be = costed_pnl(m[lo_a:], f.mkt[lo_a:], params.fee)

    s_rv, burn_rv = channel_shares(gate_rv, t_rv, attr_rv, coverage, sim_rv, params, mode)
    s_be, burn_be = channel_shares(gate_be, t_be, attr_be, coverage, sim_beta, params, mode)
    return Scored(t_rv, p_rv, t_be, p_be, gate_rv, gate_be, eligible, coverage, first_seen, attr_rv, attr_be,
                  s_rv, s_be, burn_rv, burn_be, (params.channel_split_rv, 1.0 - params.channel_split_rv))


def _checked(X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, hotkeys: Sequence[str], mode: str
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], np.ndarray]:
    """(X as given, sidx int64, prices float64 (T, A), hotkeys sorted, cols: X's columns in that
    order): the panel checked (ValueError saying what disagrees). X is not converted: only its grid
    rows are ever read."""
    X, sidx = np.asarray(X), np.asarray(sidx)
    prices = np.asarray(prices, dtype=np.float64)
    if X.ndim != 3 or sidx.ndim != 1 or len(sidx) != len(X) or prices.shape != (len(X), A):
        raise ValueError(f"panel shapes disagree: X (T, H, {A}), sidx (T,), prices (T, {A}), hotkeys (H,)")
    if X.dtype.kind not in "fiu":
        raise ValueError("X must hold numbers")
    # the shared checks (mode, dim, hotkeys, sidx dtype, column order) on the panel's shape alone
    _, _, _, hotkeys, cols = checked_panel(X[:0], sidx[:0], prices[:0, 0], hotkeys, mode, dim=A)
    sidx = sidx.astype(np.int64)
    if np.any(np.diff(sidx) <= 0):
        raise ValueError("sidx must be strictly increasing")
    return X, sidx, prices, [hotkeys[c] for c in cols], cols


def _result(shares: np.ndarray, burn: float, hotkeys: Sequence[str], mode: Mode) -> dict[str, float]:
    out = {hotkeys[j]: float(v) for j, v in enumerate(shares.tolist()) if v > MIN_SHARE}
    if mode == "compat":
        out[BURN_KEY] = max(0.0, float(burn))
    else:
        out[BURN_KEY] = max(0.0, 1.0 - math.fsum(out.values()))
    return out


def trade_mix_salience(X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, hotkeys: Sequence[str], mode: Mode,
                       params: TradeMixParams = TradeMixParams()) -> dict[str, float]:
    """TRADE-MIX salience (§11.7): X (T, H, 4) positions per sample (float16 or float32, NaN where a
    miner sent no vector, 0 where it left an asset out), prices (T, 4) of BTC ETH TAO SOL (NaN or
    ≤ 0: missing). {hotkey: share, "__burn__": burn}, shares and burn summing to 1; {"__burn__": 1.0}
    when the panel is too short. compat returns {} where the reference has no data to score (no
    miners, no values, no price), so the challenge's weight goes to the others as it does there."""
    X, sidx, prices, hotkeys, cols = _checked(X, sidx, prices, hotkeys, mode)
    burn_all = {BURN_KEY: 1.0}
    end = _last_value_row(X) if len(hotkeys) else -1
    if end < 0 or not priced(prices[: end + 1]).any():
        return {} if mode == "compat" else burn_all
    with single_threaded(), np.errstate(all="ignore"):
        grid = hourly_panel(sidx, prices, end, mode, params)
        if grid is None:
            return burn_all
        rows, grid_prices = grid
        values = in_columns(np.asarray(X[rows], dtype=np.float32), cols)
        submitted = presence(values, mode)
        P = np.where(submitted[:, :, None] | (mode == "compat"), np.nan_to_num(values, nan=0.0), 0.0)
        P = np.clip(P, -1.0, 1.0).astype(np.float32)
        T = len(rows)
        if T < params.min_hours or T <= params.min_rows:
            return burn_all
        s = score_grid(P, submitted, grid_prices, mode, params)
        return _result(s.shares, s.burn, hotkeys, mode)


__all__ = ["Factors", "Scored", "TradeMixParams", "benjamini_hochberg", "capped_shares", "causal_factors",
           "channel_shares", "circular_statistics", "cosine_matrix", "costed_pnl", "decompose", "dedup_clusters",
           "evidence", "forward_sum", "grid_rows", "hourly_panel", "label_spectra", "lagged_cosines",
           "lead_lag_order", "null_shifts", "p_values", "priced", "score_grid", "seniority_order",
           "seniority_residualize", "softplus", "split_clusters", "trade_mix_salience", "trailing"]
