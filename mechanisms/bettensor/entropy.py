"""Entropy contributions (vesting_bettensor.md §8.2, with §8.4's pools per level).

A prediction's contribution is fixed when it arrives, against the predictions already in its pool
(same game, bet type, line and side): it earns for being unlike them (time, wager, odds) and for
taking the less crowded side of its market. Raw values are min-max scaled to [−10, 10] against the
raw values already in the pool and its own; the first prediction in a pool gets 0.

Project choices (docs/bettensor.md): the scaling compares raw values with raw values (the reference
compared a new raw value with the pool's already scaled ones, mixing two scales); the first
prediction, which has nothing to be similar to, has no raw value in the range (its 0.4·0.5 would be
every pool's maximum, so every later prediction would score below it and the second always −10).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from mechanisms.bettensor.config import BettensorConfig
from mechanisms.bettensor.records import Prediction
from mechanisms.bettensor.settlement import Book

_ROWS = 512  # similarity rows computed at a time: memory stays ~ _ROWS × pool size


def _similarity(t: np.ndarray, w: np.ndarray, o: np.ndarray, scale_s: float) -> np.ndarray:
    """For each prediction after the first, its mean similarity to those before it in the pool."""
    n = len(t)
    out = np.zeros(n)
    for start in range(1, n, _ROWS):
        rows = np.arange(start, min(n, start + _ROWS))
        ti, wi, oi = t[rows, None], w[rows, None], o[rows, None]
        tj, wj, oj = t[None, : rows[-1]], w[None, : rows[-1]], o[None, : rows[-1]]
        s = (0.5 / (1.0 + np.abs(ti - tj) / scale_s)
             + 0.4 * (1.0 - np.abs(wi - wj) / np.maximum(wi, wj))
             + 0.1 / (1.0 + np.abs(oi - oj)))
        s *= np.arange(rows[-1])[None, :] < rows[:, None]  # only the predictions that came before
        out[rows] = np.clip(s.sum(axis=1) / rows, 0.0, 1.0)
    return out


def market(p: Prediction) -> tuple:
    """A game, bet type and line as side a sees it: a spread's `b +1.5` is the market of `a −1.5`."""
    return (p.game_id, p.bet_type, -p.line if p.bet_type == "spread" and p.side == "b" else p.line)


def contributions(book: Book, cfg: BettensorConfig) -> np.ndarray:
    """The contribution of every row of `book` (received order), in [−10, 10]."""
    n = len(book.predictions)
    in_pool = np.empty(n, np.int64)   # predictions already in the same pool
    in_line = np.empty(n, np.int64)   # predictions already in the same market: game, bet type and line
                                      # (a spread's line as side a sees it, so `b +1.5` meets `a −1.5`)
    pools: dict[tuple, list[int]] = defaultdict(list)
    lines: dict[tuple, int] = defaultdict(int)
    for i, p in enumerate(book.predictions):
        members = pools[p.level]
        in_pool[i] = len(members)
        members.append(i)
        key = market(p)
        in_line[i] = lines[key]
        lines[key] += 1
    share = np.divide(in_pool, in_line, out=np.zeros(n), where=in_line > 0)
    contrarian = np.where(in_line > 0, np.sqrt(np.clip(1.0 - share, 0.0, 1.0)) - 0.5, 0.5)
    seconds = np.array([p.received_ms / 1000.0 for p in book.predictions])
    odds = np.array([p.odds for p in book.predictions])
    out = np.zeros(n)
    for members in pools.values():
        if len(members) < 2:
            continue
        idx = np.asarray(members)
        sim = _similarity(seconds[idx], book.wager[idx], odds[idx], cfg.entropy_time_scale_s)
        raw = (-0.6 * sim + 0.4 * contrarian[idx])[1:]  # the first has no pool to be compared with
        lo, hi = np.minimum.accumulate(raw), np.maximum.accumulate(raw)
        span = hi - lo
        scaled = np.divide(2 * cfg.entropy_range * (raw - lo), span, out=np.zeros(len(raw)), where=span > 0)
        out[idx[1:]] = np.where(span > 0, scaled - cfg.entropy_range, 0.0)
    return out
