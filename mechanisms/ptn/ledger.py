"""A miner's performance ledger (ptn.md §4): its portfolio value marked at every price the export
carries, cut into 12-hour cells, and the complete-day series the metrics read.

The portfolio value is the product of every position's return after fees (closed ones frozen at
their close, open ones marked at the latest price at or before each time), so its log is a sum
over positions, and each position adds its log return only over its own open span. The times the
value is taken at are the miner's fills, the price marks of the pairs it holds while it holds them,
the cell boundaries and the evaluation time. A cell's gain and loss are the sums of the positive and
negative steps of the log value ending inside it; its mdd the lowest value over the running peak.

Carry fees (§3) accrue at their interval ends while a position is open, each interval at the
highest leverage held during it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mechanisms.ptn.config import CELL_MS, DAY_MS, PTNConfig
from mechanisms.ptn.positions import Position

HOUR_MS = 3_600_000
CRYPTO_FEE_HOURS = (4, 12, 20)  # UTC hours at which a crypto interval's carry is charged
FOREX_FEE_HOUR = 21             # UTC hour of the daily rollover for the other categories
WEDNESDAY = 2                   # date.weekday() numbering; 1970-01-01 was a Thursday (3)

PriceMarks = Mapping[str, tuple[np.ndarray, np.ndarray]]  # per pair: int64 times ascending, prices


@dataclass(frozen=True)
class Ledger:
    """What the metrics, penalties and buckets read. Cells and days are oldest first; the daily series
    holds only the complete UTC days inside the lookback."""

    start_ms: int | None            # the first fill: where the ledger begins
    cell_start: np.ndarray          # int64 ms of each full cell in the window
    gain: np.ndarray
    loss: np.ndarray
    carry_loss: np.ndarray
    mdd: np.ndarray
    days: np.ndarray                # int64 UTC day numbers of the complete days
    returns: np.ndarray             # daily log returns of those days
    pnl: np.ndarray                 # daily USD pnl of those days
    drawdown_pct: float             # 100·(1 − lowest value over its running peak) inside the window
    liquidated_ms: int | None       # when the portfolio's value reached 0, if it did
    value: float                    # the portfolio's value at the evaluation time (0 if liquidated)
    position_values: np.ndarray = field(default_factory=lambda: np.zeros(0))  # each position's return
    # after fees at the evaluation time (a closed one's at its close), in the order given

    @property
    def trading_days(self) -> int:
        return len(self.days)

    @classmethod
    def empty(cls) -> Ledger:
        z, zi = np.zeros(0), np.zeros(0, dtype=np.int64)
        return cls(None, zi, z, z, z, z, zi, z, z, 0.0, None, 1.0)


def fee_times(category: str, start_ms: int, end_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """The carry charges falling in (start, end] and how many intervals each one charges: crypto three
    times a day, the other categories at the daily rollover, none at weekends and three on Wednesday
    for forex."""
    first_day, last_day = start_ms // DAY_MS, end_ms // DAY_MS + 1
    days = np.arange(first_day, last_day + 1, dtype=np.int64)
    if category == "crypto":
        t = (days[:, None] * DAY_MS + np.array(CRYPTO_FEE_HOURS) * HOUR_MS).ravel()
        count = np.ones(len(t))
    else:
        t = days * DAY_MS + FOREX_FEE_HOUR * HOUR_MS
        weekday = (days + 3) % 7
        count = np.ones(len(t))
        if category == "forex":
            count = np.where(weekday >= 5, 0.0, np.where(weekday == WEDNESDAY, 3.0, 1.0))
    keep = (t > start_ms) & (t <= end_ms) & (count > 0)
    return t[keep], count[keep]


def _first_fee_after(category: str, start_ms: int) -> int:
    """The first charge time after `start_ms` (for forex perhaps a weekend one, which charges nothing)."""
    day = start_ms // DAY_MS * DAY_MS
    hours = CRYPTO_FEE_HOURS + (24 + CRYPTO_FEE_HOURS[0],) if category == "crypto" else (FOREX_FEE_HOUR, 24 + FOREX_FEE_HOUR)
    return next(day + h * HOUR_MS for h in hours if day + h * HOUR_MS > start_ms)


def _carry_log(p: Position, end_ms: int, grid: np.ndarray, cfg: PTNConfig) -> np.ndarray:
    """The position's cumulative log carry factor at each grid time (grid inside its span)."""
    if _first_fee_after(p.category, p.open_ms) > end_ms:  # most positions of an active trader: no charge
        return np.zeros(len(grid))
    times, count = fee_times(p.category, p.open_ms, end_ms)
    if not len(times):
        return np.zeros(len(grid))
    lev = np.abs(p.net)
    # the state in force at each interval's start, and every state entered during the interval
    begin = np.searchsorted(p.ms, np.concatenate(([p.open_ms], times[:-1])), "right") - 1
    stop = np.searchsorted(p.ms, times, "right") - 1
    highest = lev[stop].copy()
    for j in np.flatnonzero(stop > begin):  # only intervals with orders inside need a range
        highest[j] = lev[begin[j]:stop[j] + 1].max()
    charge = np.cumsum(highest * count * np.log(cfg.carry_factor(p.category)))
    k = np.searchsorted(times, grid, "right") - 1
    return np.where(k >= 0, charge[np.maximum(k, 0)], 0.0)


def _position_log(p: Position, grid: np.ndarray, marks: tuple[np.ndarray, np.ndarray] | None,
                  end_ms: int, cfg: PTNConfig) -> tuple[np.ndarray, np.ndarray, int | None]:
    """The position's log return after fees at each grid time inside its span, the carry part of it,
    and the index of the first time its return reaches 0 (liquidation), if it does."""
    k = np.searchsorted(p.ms, grid, "right") - 1
    price = p.price[k]  # the position's own latest fill, unless a mark came later
    if marks is not None and len(marks[0]):
        mark_t, mark_p = marks
        m = np.searchsorted(mark_t, grid, "right") - 1
        later = (m >= 0) & (mark_t[np.maximum(m, 0)] > p.ms[k])
        price = np.where(later, mark_p[np.maximum(m, 0)], price)
    value = p.value(k, price)
    # The reference values an adding order's own instant with the position as it stood before the
    # order, at the raw price: the fill's slippage shows from the next time on (a reduction's at once).
    gross = np.abs(p.net)
    adding = np.concatenate(([True], gross[1:] > gross[:-1]))
    at_fill = (grid == p.ms[k]) & adding[k]
    if at_fill.any():
        value = np.where(at_fill, np.where(k > 0, p.value(np.maximum(k - 1, 0), price), 1.0), value)
    dead = np.flatnonzero(value <= 0)
    carry = _carry_log(p, end_ms, grid, cfg)
    with np.errstate(divide="ignore"):
        log = np.log(np.maximum(value, 0.0)) + carry
    return log, carry, (int(dead[0]) if len(dead) else None)


def build(positions: Sequence[Position], prices: PriceMarks, at_ms: int, account_size: float,
          cfg: PTNConfig) -> Ledger:
    """The ledger of these positions (all of a miner's, or one asset segment's) at `at_ms`."""
    if not positions:
        return Ledger.empty()
    start = min(p.open_ms for p in positions)
    window = max(start, at_ms - cfg.lookback_ms)
    boundaries = np.arange((start // CELL_MS + 1) * CELL_MS, at_ms + 1, CELL_MS, dtype=np.int64)
    parts = [boundaries, np.array([start, at_ms], dtype=np.int64)]
    for p in positions:
        end = at_ms if p.close_ms is None else p.close_ms
        parts.append(p.ms)
        marks = prices.get(p.pair)
        if marks is not None and len(marks[0]):
            lo, hi = np.searchsorted(marks[0], [p.open_ms, end], side="right")
            parts.append(marks[0][lo:hi])
    grid = np.unique(np.concatenate(parts))
    grid = grid[(grid >= start) & (grid <= at_ms)]
    log_value, carry = np.zeros(len(grid)), np.zeros(len(grid))
    liquidated: int | None = None
    finals = np.empty(len(positions))
    for i, p in enumerate(positions):
        end = at_ms if p.close_ms is None else p.close_ms
        lo, hi = np.searchsorted(grid, [p.open_ms, end], side="left")
        hi = min(hi + 1, len(grid))  # the span includes its end time
        log, fee, dead = _position_log(p, grid[lo:hi], prices.get(p.pair), end, cfg)
        log_value[lo:hi] += log
        log_value[hi:] += log[-1]
        carry[lo:hi] += fee
        carry[hi:] += fee[-1]
        finals[i] = 0.0 if dead is not None else float(np.exp(log[-1]))
        if dead is not None:
            liquidated = lo + dead if liquidated is None else min(liquidated, lo + dead)
    if liquidated is not None:
        grid, log_value, carry = grid[:liquidated + 1], log_value[:liquidated + 1], carry[:liquidated + 1]
        log_value[-1] = -np.inf
    out = _cells(grid, log_value, carry, start, window, at_ms, account_size,
                 None if liquidated is None else int(grid[-1]), cfg.lookback_ms // CELL_MS)
    return replace(out, position_values=finals)


def _peaks(cell: np.ndarray, log_value: np.ndarray, first: int, last: int, retained: int) -> np.ndarray:
    """The running peak (in logs) each point of cells `first`…`last` is measured against: the highest
    value of the `retained − 1` cells before its own and of its own cell so far, and at least the
    inception value 1. The reference re-derives its peak from the cells it keeps at every update
    and stores each cell's drawdown as measured then, so a peak that has left the window still
    counts for the cells recorded while it was in it."""
    lo = int(cell[0])
    n = last - lo + 1
    cell_max = np.full(n, -np.inf)
    np.maximum.at(cell_max, cell - lo, log_value)
    before = np.concatenate((np.full(retained, -np.inf), cell_max[:-1]))  # before[retained + j] = cell_max[j]
    prior = np.maximum(sliding_window_view(before, retained - 1).max(axis=1)[1:n + 1], 0.0) if retained > 1 \
        else np.zeros(n)
    a, b = np.searchsorted(cell, [first, last + 1])
    peaks = np.empty(b - a)
    bounds = np.searchsorted(cell[a:b], np.arange(first, last + 2))
    for c, (i, j) in enumerate(zip(bounds[:-1], bounds[1:]), start=first):
        if j > i:
            peaks[i:j] = np.maximum(np.maximum.accumulate(log_value[a + i:a + j]), prior[c - lo])
    return peaks


def _cells(grid: np.ndarray, log_value: np.ndarray, carry: np.ndarray, start: int, window: int, at_ms: int,
           account_size: float, liquidated_ms: int | None, retained: int) -> Ledger:
    """Cut the value path into full cells and complete days inside the window; `retained` is the
    number of cells the lookback keeps."""
    step = np.diff(np.concatenate(([0.0], log_value)))  # the first fill's step starts from value 1
    step_f = np.where(np.isfinite(step), step, 0.0)
    # a step ending on a boundary belongs to the cell (and day) it closes; the first fill's to the
    # cell it opens, even at 00:00 or 12:00 sharp
    cell, day = (grid - 1) // CELL_MS, (grid - 1) // DAY_MS
    cell[0], day[0] = grid[0] // CELL_MS, grid[0] // DAY_MS
    # The reference opens a ledger with a cell whose clock is set to the time since the last 00:00 or
    # 12:00, so the cell holding the first fill counts as full; once the lookback trims, whole cells
    # inside it remain. Full cells: from there to the last that ended by the evaluation time.
    aligned = (start // CELL_MS) * CELL_MS if window == start else window
    first_cell, last_cell = -(-aligned // CELL_MS), at_ms // CELL_MS
    n_cells = max(0, last_cell - first_cell)
    inside = (cell >= first_cell) & (cell < last_cell)
    idx = (cell - first_cell)[inside]
    gain = np.bincount(idx, np.maximum(step_f[inside], 0.0), n_cells)
    loss = np.bincount(idx, np.minimum(step_f[inside], 0.0), n_cells)
    carry_loss = np.bincount(idx, np.diff(np.concatenate(([0.0], carry)))[inside], n_cells)
    kept = (cell >= first_cell) & (cell <= last_cell)  # the full cells and the current one
    with np.errstate(invalid="ignore"):
        under = np.nan_to_num(np.exp(log_value[kept] - _peaks(cell, log_value, first_cell, last_cell, retained)),
                              nan=0.0)
    mdd = np.ones(n_cells)
    np.minimum.at(mdd, idx, under[inside[kept]])
    drawdown = 100.0 * (1.0 - float(under.min())) if len(under) else 0.0
    pnl_step = np.expm1(step_f) * account_size
    first_day, last_day = -(-aligned // DAY_MS), at_ms // DAY_MS  # days whose two cells are full
    if liquidated_ms is not None:  # no day holding the liquidation, or after it, is complete
        last_day = min(last_day, liquidated_ms // DAY_MS if liquidated_ms % DAY_MS else liquidated_ms // DAY_MS - 1)
    n_days = max(0, last_day - first_day)
    in_days = (day >= first_day) & (day < last_day)
    didx = (day - first_day)[in_days]
    returns = np.bincount(didx, step_f[in_days], n_days)
    pnl = np.bincount(didx, pnl_step[in_days], n_days)
    value = 0.0 if liquidated_ms is not None else float(np.exp(log_value[-1]))
    return Ledger(start, np.arange(first_cell, last_cell, dtype=np.int64) * CELL_MS, gain, loss, carry_loss, mdd,
                  np.arange(first_day, first_day + n_days, dtype=np.int64), returns, pnl, drawdown, liquidated_ms,
                  value)
