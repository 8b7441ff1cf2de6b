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

- T9, alike beyond chance, and by shared noise: the seniority pass projects a junior off a senior
  whose RV book has |cos| ≥ 0.2 with its own, so that a copy keeps only what it adds. But traders
  who see the same future hold books alike through their skill alone (the cosine of two independent
  traders is about the product of their books' correlations with what is coming: 0.44 each gives
  0.19), and over 30 days of persistent books a cosine scatters by ±0.07. On the devnet's 60-day
  panels 11–22 of 300 pairs of independent skilled traders reached 0.2, the juniors lost up to half
  their t (4.3 → 2.4) or their gate, and the pay's rank correlation with planted skill was 0.69 /
  0.74 / 0.87. Fixed mode counts a pair alike (`fixed_alikeness`) when the cosine of its books, or
  of what is left of them once the residual returns of the next 1–48 hours (the labels' span) have
  explained what they can (`unexplained`, least squares per asset), passes 0.2 by two of its
  standard errors (`cosine_error`: the books' persistence sets how many values a cosine really
  rests on), and the pass projects only where the books' own cosine reaches 0.2. A copy shares its
  source's noise, so its remainder is its source's (cos 1.0); independent traders share only skill,
  and the same 300 pairs are alike in none. A remainder alone never makes a pair alike: two traders
  who see different parts of the same returns have remainders that lean against each other (−0.2
  to −0.36 where their books' cosine is 0). T8 reads the same line (0.2 plus two standard errors)
  for its alike books, so persistent honest books no longer trail each other by chance, and its
  margin shrinks as 1 − cos², a cosine's sampling error, so a late copy of a book rebalanced every
  day or two (cos 0.98 with its source) still trails it. And a suspect of copying late, a book that
  trails some book, by T8 or by the cosines over the rows both books trade (a copy that sends flat
  books first dilutes its cosines below any line), keeps nothing when the books likest to it, at
  lags 1–12 (no one sees a book within its hour), explain it together to a cosine of 0.95 over its
  own rows (`joint_copies`): an average of eight traders' books an hour late, alike by remainder with
  few of them, took 29–44 % of the RV pool (uncapped) under the remainders alone, and 15 % of the
  whole pool when sent only for the last ten days; both take nothing now. The beta channel, which
  has no seniority pass, gets T8's test on the market exposures (one series, not four, so alike
  beyond two standard errors and leading by at least one): a late copy of a market timer's exposure
  has no beta evidence and took half the timer's beta pool before.
- T10, pnl over the evidence's rows: the reference pays on the trailing 720 rows' costed pnl while
  its evidence reads the whole history. A month's pnl of traders of equal skill is largely that
  month's luck (eight independent twins of one trader: ±28–59 % around their mean), and
  softplus(t − 2) multiplies in a second draw of it. Fixed mode takes the costed pnl over every
  row of the history and scales it per row of the miner's life there (attribution_hours over the
  rows since its first sample): ±12–25 % for the same twins, and a miner younger than the history
  is paid its rate, not its age. A book that no longer trades earns nothing (`trading`): over the
  trailing attribution window its size (root mean square) must reach the activity gate's 1e−4 and
  a tenth of its size over the miner's life, so a trader that went flat a month ago, or keeps a
  token book of ±0.001 moving, is not paid for the months before (it took a fifth of its trading
  pay).
- T11, one book on several hotkeys: dedup gives a cluster of near-identical books (cos ≥ 0.95) one
  credit, split among its paid members. But the seniority pass has already left every junior
  copy nothing, so the senior alone is paid, with the whole credit, and among hotkeys that sent
  the book from the same first sample the senior is whichever sorts first, which the sender
  chooses. Positions are timelocked: no one sees another's book within its hour, and a late copy
  trails its source (T8). Hotkeys that send one book from the same start are one book split (one
  operator's hotkeys, or one model run twice) and none is the original. Fixed mode counts in a
  cluster's n, paid or not, every member standing as early as the cluster's earliest (by first
  sample; a book that trails another stands NEVER, and a cluster of such books nowhere): they share
  one credit n² ways, so a book on n hotkeys earns 1/n of what it earns on one. On the devnet's
  60-day panels a top-quartile trader with three such copies took 1.3–1.8 × what an independent
  twin of it took; with T11 0.3–0.8 ×.
- T12, one book, one test and one pnl: Benjamini–Hochberg's bar falls as discoveries rise, so one
  book on four hotkeys, four equal p-values, passed where the book alone (p 0.008) did not. Fixed
  mode runs it over the dedup clusters, each one test at its smallest p (`clustered_discoveries`).
  And a junior passes on what it adds to its seniors (T5) but the reference pays it on its whole
  book's pnl: three hotkeys sending one operator's book with modest noise each (cos 0.85, under
  dedup's 0.95) kept 10–15 % of the book after the pass, passed, and were each paid on all of it.
  Fixed mode scales a book's costed pnl by the share of its gross pnl that what it adds earns
  (fees are the whole book's: what is left after a projection trades the seniors' turnover too).

Both modes: the panel's rows after the last sample any miner has a value for (the platform's
panels carry prices to the epoch's end, values to the training cutoff) are not hours anyone could
have traded: the scored rows end there, as the reference's data ends at its cutoff. A price that
is NaN, infinite or ≤ 0 is missing.

Compat agrees with the reference to the bit (checked on synthetic panels up to 256 miners × 60
days): the same operations in the same order, each miner's moments over the shifts reduced as the
reference reduces its own 1-D array (`_row_moments`).

Sizes: the hourly grid of 60 days is ~1 440 rows, so only those rows of the panel are read (a few
MB at 256 miners), and every step is a few FFTs and small matrix products: 2.3 s at 256 miners ×
60 days in fixed mode (T8's lagged cosines and projections and T9's remainders and standard errors
included; 1.1 s before T9–T12), 0.3 s in compat, about 90 MB beyond the panel. The circle of the
shift test is the panel's own T rows (the statistic is defined mod T, and numpy's FFT of any length near 1 500 costs
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
NEVER = np.iinfo(np.int64).max  # T11: the standing of a book that trails another
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


def unexplained(q: np.ndarray, resid: np.ndarray, valid: np.ndarray, hours: int) -> np.ndarray:
    """(T, H, A) (fixed, T9): each RV book less what the residual returns of the next 1..`hours` rows
    explain of it, asset by asset (least squares on those `hours` returns, one coefficient per asset,
    row ahead and miner; returns past the panel's end, or on rows before the factors' warm-up, are
    0). What is left is the part of a book that no view of the coming `hours` accounts for: a
    skilled trader's noise, and all of a worthless book."""
    T, H, A = q.shape
    r = np.where(valid[:, None], resid, 0.0)
    out = np.empty(q.shape)
    for a in range(A):
        ahead = np.zeros((T, hours))
        for k in range(1, min(hours, T - 1) + 1):
            ahead[: T - k, k - 1] = r[k:, a]
        fit = np.linalg.lstsq(ahead, q[:, :, a], rcond=None)[0]
        out[:, :, a] = q[:, :, a] - ahead @ fit
    return out


def label_spectra(labels: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The rfft (F, C) of each label array (T,) or (T, C) over rows, NaN as 0: shared by all miners."""
    return [np.fft.rfft(np.nan_to_num(y.reshape(len(y), -1), nan=0.0), axis=0) for y in labels]


def circular_statistics(x: np.ndarray, spectrum: np.ndarray, Xf: np.ndarray | None = None) -> np.ndarray:
    """(H, T): S_j(k) = Σ_c Σ_t x[(t − k) mod T, j, c]·y[t, c] for every miner j and shift k, of books
    x (T, H, C) against the labels whose rfft is `spectrum` (F, C); `Xf`, the books' own rfft over
    rows, when the caller has it (one for every horizon). Row j is contiguous, so each miner's
    reductions over k run as over its own 1-D array."""
    T = x.shape[0]
    Xf = np.fft.rfft(x, axis=0) if Xf is None else Xf
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
    Xf = np.fft.rfft(x, axis=0)
    for w_h, spectrum in zip(blend, spectra):
        S = circular_statistics(x, spectrum, Xf)
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


def clustered_discoveries(p: np.ndarray, considered: np.ndarray, clusters: list[list[int]], q: float) -> np.ndarray:
    """(H,) bool (fixed, T12): Benjamini–Hochberg at level q over the dedup clusters with a considered
    member, each one test at its members' smallest p; a member of a discovered cluster passes when its
    own p is within the largest p discovered. n hotkeys sending one book are one test, not n."""
    out = np.zeros(len(p), dtype=bool)
    groups = [[i for i in c if considered[i]] for c in clusters]
    groups = [g for g in groups if g]
    if not groups:
        return out
    best = np.array([min(p[i] for i in g) for g in groups])
    found = benjamini_hochberg(best, q)
    if found.any():
        cutoff = best[found].max()
        for g in (g for g, hit in zip(groups, found.tolist()) if hit):
            out[[i for i in g if p[i] <= cutoff]] = True
    return out


def cosine_matrix(books: np.ndarray) -> np.ndarray:
    """(H, H) cosine similarity of flattened books (H, N), ε in the norms (a zero book has 0)."""
    norm = np.linalg.norm(books, axis=1) + EPS
    return (books @ books.T) / np.outer(norm, norm)


def cosine_error(books: np.ndarray, per_row: int, max_lag: int = 168) -> np.ndarray:
    """(H, H) the standard error of the cosine of two unrelated books (H, W, A) over their rows:
    √((1 + 2·Σ_k a_i(k)·a_j(k)) / (W·per_row)), a_i(k) book i's autocorrelation at lag k rows
    (pooled over assets) up to `max_lag`, per_row the values a row of the book can vary in (an RV
    book A − 1: w·q = 0; the market exposure 1)."""
    H, W, _ = books.shape
    flat = books.reshape(H, -1)
    energy = np.einsum("ij,ij->i", flat, flat) + EPS
    acf = np.array([np.einsum("ij,ij->i", books[:, k:].reshape(H, -1), books[:, : W - k].reshape(H, -1)) / energy
                    for k in range(1, min(max_lag, W - 1) + 1)])  # (K, H)
    return np.sqrt(np.maximum(1.0 + 2.0 * acf.T @ acf, 1.0) / max(W * per_row, 1))


def seniority_order(first_seen: np.ndarray) -> np.ndarray:
    """Columns from the most senior: first_seen, then column (columns are in hotkey order)."""
    return np.lexsort((np.arange(len(first_seen)), first_seen))


def _cosines_at_lag(books: np.ndarray, k: int, trading: bool = False) -> np.ndarray:
    """(H, H) c[i, j] = cos(book_i(t), book_j(t − k)) over the rows t ≥ k of books (H, W, A); with
    `trading`, over those rows where both books are not flat (i's at t, j's at t − k): flat rows, of
    a copy that starts late, would dilute its cosines."""
    H, W, _ = books.shape
    now, before = books[:, k:].reshape(H, -1), books[:, : W - k].reshape(H, -1)
    if not trading:
        return (now @ before.T) / np.outer(np.linalg.norm(now, axis=1) + EPS, np.linalg.norm(before, axis=1) + EPS)
    e_now = np.einsum("ita,ita->it", books[:, k:], books[:, k:])
    e_before = np.einsum("jta,jta->jt", books[:, : W - k], books[:, : W - k])
    a_now, a_before = (e_now > 0).astype(np.float64), (e_before > 0).astype(np.float64)
    return (now @ before.T) / (np.sqrt((e_now @ a_before.T) * (a_now @ e_before.T)) + EPS)


def lagged_cosines(books: np.ndarray, max_lag: int, trading: bool = False) -> np.ndarray:
    """(H, H) lead[i, j] = max over k in 1..max_lag of |cos(book_i(t), book_j(t − k))| over the
    rows both cover (`trading`: and both trade): how well j's book of k hours before explains i's
    now. books (H, W, A)."""
    H, W, _ = books.shape
    lead = np.zeros((H, H))
    for k in range(1, min(max_lag, W - 1) + 1):
        np.maximum(lead, np.abs(_cosines_at_lag(books, k, trading)), out=lead)
    return lead


def trailing(sim: np.ndarray, lead: np.ndarray, threshold: float, margin: float) -> np.ndarray:
    """(H, H) bool, [i, j]: i's book trails j's (T8). Their books are alike (|sim| ≥ threshold; it
    and the margin a number or (H, H)), j's book of some hours before explains i's now better than j's at the same
    moment (lead[i, j] > |sim[i, j]|), and better than i's earlier book explains j's, by the margin
    times 1 − sim² (a cosine's sampling error shrinks so as it nears 1: a late copy of a slow book
    leads by little, and surely)."""
    out = (np.abs(sim) >= threshold) & (lead > np.abs(sim)) & (lead - lead.T > margin * (1.0 - sim**2))
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


def joint_copies(books: np.ndarray, sim: np.ndarray, suspects: np.ndarray, sources: np.ndarray, lags: int,
                 copy_cosine: float) -> np.ndarray:
    """(H,) bool (fixed, T9): the `suspects` that the `sources` books likest to them, at lags
    1..`lags` rows together (no one sees a book within its hour), explain to a cosine of
    `copy_cosine` over their own rows of `books` (H, W, A) (those not flat: a copy may start late,
    and flat rows dilute its cosines below any line): a late copy of several books at once (an
    average of many traders' books an hour late), which T8 projects off one leader at a time. At
    most one column per eight values, so that chance explains little."""
    H, W, A = books.shape
    out = np.zeros(H, dtype=bool)
    room = max(1, W * A // (8 * lags))  # books, at the most
    for j in np.flatnonzero(suspects).tolist():
        alike = np.flatnonzero(sources)
        alike = alike[alike != j]
        alike = alike[np.argsort(-np.abs(sim[j, alike]), kind="stable")][:room]
        if len(alike) < 2:  # one leader is T8's
            continue
        rows = np.flatnonzero(np.any(books[j] != 0.0, axis=1))  # its own rows: a copy may start late
        if len(rows) * A < 8 * len(alike) * lags:
            continue
        y = books[j, rows].reshape(-1)
        basis = np.zeros((len(rows), A, len(alike) * lags))
        for n, s in enumerate(alike.tolist()):
            for k in range(1, lags + 1):
                ok = rows >= k
                basis[ok, :, n * lags + k - 1] = books[s, rows[ok] - k]
        basis = basis.reshape(len(rows) * A, -1)
        fit = basis @ np.linalg.lstsq(basis, y, rcond=None)[0]
        out[j] = y @ y > 0 and (y - fit) @ (y - fit) <= (1.0 - copy_cosine**2) * (y @ y)
    return out


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
    spans: dict[int, list[np.ndarray]] = {}
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
                if s not in spans:  # the senior's lag span, block by block, for every junior trailing it
                    basis = np.zeros((len(xj), lags + 1))
                    for k in range(lags + 1):
                        basis[k * width :, k] = books[s][: len(xj) - k * width]  # its raw book: all of it is old news
                    spans[s] = [np.linalg.qr(basis[lo : lo + block * width])[0] for lo in range(0, len(xj), block * width)]
                before = xj @ xj
                for lo, q in zip(range(0, len(xj), block * width), spans[s]):  # a copy that starts late is one
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


def split_clusters(raw: np.ndarray, clusters: list[list[int]], standing: np.ndarray | None = None) -> np.ndarray:
    """Each cluster's members with raw > 0 share one credit: n of them get total/n² each. With
    `standing` (fixed, T11: the first sample, NEVER for a book that trails another) n also counts
    the members that stand as early as the cluster's earliest, paid or not: hotkeys that sent one
    book from the same start are one book split n ways. A cluster of trailing books stands nowhere."""
    out = raw.copy()
    for members in clusters:
        first = None if standing is None else min(standing[j] for j in members)
        paid = [i for i in members if raw[i] > 0 or (first is not None and first != NEVER and standing[i] == first)]
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
                   params: TradeMixParams, mode: Mode, standing: np.ndarray | None = None,
                   clusters: list[list[int]] | None = None) -> tuple[np.ndarray, float]:
    """(shares (H,), burn) of one channel: raw = softplus(t − shift)·attribution·coverage for gated
    miners, dedup clusters seeded by t split, then `capped_shares`: per miner (compat), or per
    cluster, its members sharing the cluster's capped share equally (fixed, T6)."""
    raw = np.zeros(len(t))
    for i in np.flatnonzero(gate).tolist():
        raw[i] = softplus(t[i] - params.softplus_shift) * attribution[i] * coverage[i]
    clusters = dedup_clusters(sim, params.dedup_cosine_threshold, t) if clusters is None else clusters
    raw = split_clusters(raw, clusters, standing)
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


def late_copies(books: np.ndarray, sim: np.ndarray, trails: np.ndarray, sources: np.ndarray,
                params: TradeMixParams) -> np.ndarray:
    """(H,) bool (fixed, T9): RV books (H, W, A) over the dedup window that copy several books late:
    `joint_copies` of the suspects, the books that trail one (T8's `trails`) or that trail one over
    the rows both books trade (flat rows first dilute a copy's cosines)."""
    suspects = trails.any(axis=1) | trailing(_cosines_at_lag(books, 0, trading=True),
                                             lagged_cosines(books, params.lead_lag_hours, trading=True),
                                             params.seniority_cosine, params.lead_margin).any(axis=1)
    return joint_copies(books, sim, suspects, sources, params.lead_lag_hours, params.dedup_cosine_threshold)


def late_exposures(m: np.ndarray, sim: np.ndarray, params: TradeMixParams) -> np.ndarray:
    """(H,) bool (fixed, T9): market exposures m (W, H) over the dedup window that trail another's
    (T8 on the beta channel, which has no seniority pass). One series, not four, scatters wider: the
    books must be alike beyond two standard errors, and lead by at least one."""
    exposure = np.ascontiguousarray(m.T)[:, :, None]
    error = cosine_error(exposure, 1)
    return trailing(sim, lagged_cosines(exposure, params.lead_lag_hours), params.seniority_cosine + 2.0 * error,
                    np.maximum(params.lead_margin, error)).any(axis=1)


def fixed_alikeness(q: np.ndarray, f: Factors, sim: np.ndarray, params: TradeMixParams) -> tuple[np.ndarray, np.ndarray]:
    """(alike (H, H): `sim` where two RV books count as alike for the seniority pass, 0 elsewhere;
    trails (H, H): T8) in fixed mode, over the newest dedup_hours rows. T9: a pair is alike when the
    cosine of its books, or of their remainders (`unexplained`), passes the threshold by two of its
    standard errors (`cosine_error`), or when one of them trails the other (T8's test, at the
    threshold itself: its lead test guards against chance). The pass projects only where the books'
    own cosine reaches the threshold."""
    T, H, _ = q.shape
    books = q[max(0, T - params.dedup_hours) :].transpose(1, 0, 2)
    line = params.seniority_cosine + 2.0 * cosine_error(books, q.shape[2] - 1)
    trails = trailing(sim, lagged_cosines(books, params.lead_lag_hours), line, params.lead_margin)
    rest = unexplained(q, f.resid, f.valid, max(params.horizons_hours))[T - books.shape[1] :].transpose(1, 0, 2)
    shared = np.abs(cosine_matrix(rest.reshape(H, -1))) >= line
    return np.where(shared | (np.abs(sim) >= line) | trails | trails.T, sim, 0.0), trails


def trading(books: np.ndarray, recent: slice, life: np.ndarray, params: TradeMixParams) -> np.ndarray:
    """(H,) bool (fixed, T10): books (T, H, C) still traded over the `recent` rows: their size there
    (root mean square) is at least activity_min_std and a tenth of their size over the miner's life
    (`life` = attribution rows per row of it). A book gone flat, or kept to a token of itself, is
    not paid for the rows before."""
    recent_size = np.sqrt(np.mean(books[recent] ** 2, axis=(0, 2)))
    life_size = np.sqrt(np.sum(books**2, axis=(0, 2)) * life / params.attribution_hours)
    return (recent_size >= params.activity_min_std) & (recent_size >= 0.1 * life_size)


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
    alike, trails = (sim_rv, None) if mode == "compat" else fixed_alikeness(q, f, sim_rv, params)
    books = seniority_residualize(q.transpose(1, 0, 2).reshape(H, -1), alike, first_seen, params.seniority_cosine,
                                  None if t_own is None else t_own > 0, trails, params.lead_lag_hours, q.shape[2],
                                  params.lead_block_hours, params.dedup_cosine_threshold)
    q_gate = books.reshape(H, T, -1).transpose(1, 0, 2)
    if mode == "fixed":  # T9: a late copy of several books keeps nothing
        q_gate[:, late_copies(q[lo:].transpose(1, 0, 2), sim_rv, trails, t_own > 0, params)] = 0.0
    if t_own is None:
        t_rv, p_rv = evidence(q_gate, spectra_rv, params.blend_weights, params, mode)
    else:  # a book the pass left as it was has its own evidence (each miner's is its own)
        t_rv, p_rv = t_own.copy(), p_own.copy()
        moved = np.flatnonzero(np.any(q_gate != q, axis=(0, 2)))
        if len(moved):
            t_moved, p_moved = evidence(q_gate[:, moved], spectra_rv, params.blend_weights, params, mode)
            t_rv[moved], p_rv[moved] = np.minimum(t_moved, t_own[moved]), np.maximum(p_moved, p_own[moved])
    t_be, p_be = evidence(m[:, :, None], label_spectra([y_beta]), (1.0,), params, mode)
    late_be = np.zeros(H, dtype=bool) if mode == "compat" else late_exposures(m[lo:], sim_beta, params)
    t_be[late_be], p_be[late_be] = 0.0, 1.0  # T9: a late copy of a market timer has no evidence of its own

    # the dedup clusters (seeded by t) that pay splits, and that T12 counts once in the gate
    clusters_rv, clusters_be = (dedup_clusters(sim, params.dedup_cosine_threshold, t)
                                for sim, t in ((sim_rv, t_rv), (sim_beta, t_be)))
    gate_rv, gate_be = np.zeros(H, dtype=bool), np.zeros(H, dtype=bool)
    for gate, considered, p, clusters in ((gate_rv, eligible & active_rv, p_rv, clusters_rv),
                                          (gate_be, eligible, p_be, clusters_be)):
        if mode == "compat":
            idx = np.flatnonzero(considered)
            if len(idx):
                gate[idx] = benjamini_hochberg(p[idx], params.fdr_q)
        else:  # T12: one book is one test, on however many hotkeys
            gate[:] = clustered_discoveries(p, considered, clusters, params.fdr_q)

    if mode == "compat":
        lo_a = max(0, T - params.attribution_hours)
        attr_rv = costed_pnl(q[lo_a:], f.resid[lo_a:], params.fee)
        attr_be = costed_pnl(m[lo_a:], f.mkt[lo_a:], params.fee)
    else:  # T10: the costed pnl of every row the evidence reads, per row of the miner's life there,
        # for a book that still trades
        # (T12: the RV book's pnl scaled by the share of its gross pnl that what it adds to its seniors earns)
        life = params.attribution_hours / np.maximum(T - first_seen, 1)
        recent = slice(max(0, T - params.attribution_hours), T)
        gross = costed_pnl(q, f.resid, 0.0)
        added = np.clip(costed_pnl(q_gate, f.resid, 0.0) / np.where(gross > 0, gross, 1.0), 0.0, 1.0)
        attr_rv = costed_pnl(q, f.resid, params.fee) * added * life * trading(q, recent, life, params)
        attr_be = costed_pnl(m, f.mkt, params.fee) * life * trading(m[:, :, None], recent, life, params)

    # T11: who stands as a book's owner in a dedup cluster; a book that trails another (T8) never does
    senior_rv = senior_be = None
    if mode == "fixed":
        senior_rv = np.where(trails.any(axis=1), NEVER, first_seen)
        senior_be = np.where(late_be, NEVER, first_seen)
    s_rv, burn_rv = channel_shares(gate_rv, t_rv, attr_rv, coverage, sim_rv, params, mode, senior_rv, clusters_rv)
    s_be, burn_be = channel_shares(gate_be, t_be, attr_be, coverage, sim_beta, params, mode, senior_be, clusters_be)
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


__all__ = ["NEVER", "Factors", "Scored", "TradeMixParams", "benjamini_hochberg", "capped_shares", "causal_factors",
           "channel_shares", "circular_statistics", "clustered_discoveries", "cosine_error", "cosine_matrix",
           "costed_pnl", "decompose", "dedup_clusters", "evidence", "fixed_alikeness", "forward_sum", "grid_rows",
           "hourly_panel", "joint_copies", "label_spectra", "lagged_cosines", "late_copies", "late_exposures",
           "lead_lag_order", "null_shifts", "p_values", "priced", "score_grid", "seniority_order",
           "seniority_residualize", "softplus", "split_clusters", "trade_mix_salience", "trading",
           "trailing", "unexplained"]
