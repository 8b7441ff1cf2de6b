"""Per miner and UTC day: wagers, active days, the four composite components, the composite and the
daily ROI the gate reads (vesting_bettensor.md §6, §7, §8.4). Pure array arithmetic over a `Book`.

A day's outcomes are the predictions whose result arrived that day; a miner without any has a
composite of 0 that day, and zeros count in every window mean. Within a day, CLV is the mean over
the predictions that had a closing offer and risk the mean over those that did not push; when none
is left the component is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mechanisms.bettensor.config import BettensorConfig
from mechanisms.bettensor.settlement import Book


@dataclass(frozen=True)
class Daily:
    """Matrices of shape (miners, days) over days `first .. first + days − 1`; rows follow `book.hotkeys`."""

    first: int
    wager: np.ndarray       # wagers received that day
    active: np.ndarray      # bool: at least one accepted prediction received that day
    settled: np.ndarray     # int: predictions whose result arrived that day
    clv: np.ndarray
    roi: np.ndarray         # the day's mean ROI (0 without settled predictions; see `settled`)
    risk: np.ndarray
    entropy: np.ndarray     # the day's entropy score: the miner's sum over the day's maximum
    composite: np.ndarray

    def column(self, day: int) -> int:
        return day - self.first

    def window(self, day: int, days: int) -> slice:
        """The `days` days ending with `day`, inclusive, clipped to the matrices."""
        end = self.column(day) + 1
        return slice(max(0, end - days), max(0, end))


def _sum(flat: np.ndarray, weights: np.ndarray, size: int, shape: tuple[int, int]) -> np.ndarray:
    return np.bincount(flat, weights=weights, minlength=size).reshape(shape).astype(float)  # int when empty


def _mean(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def compute(book: Book, contributions: np.ndarray, first: int, last: int, cfg: BettensorConfig) -> Daily:
    """Every matrix for the days first..last."""
    n_miners, n_days = len(book.hotkeys), last - first + 1
    shape, size = (n_miners, n_days), n_miners * n_days
    recv = book.received_day - first
    keep = (recv >= 0) & (recv < n_days)
    flat = book.miner[keep].astype(np.int64) * n_days + recv[keep]
    wager = _sum(flat, book.wager[keep], size, shape)
    active = np.bincount(flat, minlength=size).reshape(shape) > 0

    res = book.result_day - first
    keep = (book.result_day >= 0) & (res >= 0) & (res < n_days)
    flat = book.miner[keep].astype(np.int64) * n_days + res[keep]
    settled = np.bincount(flat, minlength=size).reshape(shape)
    clv_k, risk_k = book.clv[keep], book.risk[keep]
    has_clv, has_risk = np.isfinite(clv_k), np.isfinite(risk_k)
    clv = _mean(_sum(flat[has_clv], clv_k[has_clv], size, shape), np.bincount(flat[has_clv], minlength=size).reshape(shape))
    risk = _mean(_sum(flat[has_risk], risk_k[has_risk], size, shape), np.bincount(flat[has_risk], minlength=size).reshape(shape))
    roi = _mean(_sum(flat, book.roi[keep], size, shape), settled.astype(float))
    sums = _sum(flat, contributions[keep], size, shape)
    top = sums.max(axis=0, initial=0.0)
    divisor = np.abs(sums).max(axis=0, initial=0.0) if cfg.entropy_bounded else top
    entropy = np.divide(sums, divisor, out=np.zeros_like(sums), where=top > 0)
    composite = cfg.w_clv * clv + cfg.w_roi * roi + cfg.w_risk * risk + cfg.w_entropy * entropy
    composite[settled == 0] = 0.0
    return Daily(first, wager, active, settled, clv, roi, risk, entropy, composite)


def tier_score(daily: Daily, day: int, window_days: int) -> np.ndarray:
    """The mean daily composite over a tier's window ending with `day` (zeros count; days before the
    matrices are zeros too)."""
    return daily.composite[:, daily.window(day, window_days)].sum(axis=1) / window_days


def gate_roi(daily: Daily, day: int, days: int) -> tuple[np.ndarray, np.ndarray]:
    """§7: the mean daily ROI over the `days` days ending with `day`, over days with settled
    predictions, and how many such days there were."""
    cols = daily.window(day, days)
    had = daily.settled[:, cols] > 0
    count = had.sum(axis=1)
    return _mean((daily.roi[:, cols] * had).sum(axis=1), count.astype(float)), count
