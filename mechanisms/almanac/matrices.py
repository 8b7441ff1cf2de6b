"""The §3 epoch matrices of one pool for an explicit evaluation boundary D."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mechanisms.almanac.params import AlmanacParams
from mechanisms.almanac.records import Trades

_EPOCH = dt.date(1970, 1, 1)
MATRICES = ("volume", "qualified", "unqualified", "profit", "fees", "trade_count", "correct_count")


@dataclass(frozen=True)
class EpochMatrices:
    """One pool's history: rows are UTC days (row 0 = D − window, last row = D − 1), columns entities.

    `entities` are uids (miner pool, ascending) or profile ids (general pool, ascending as strings).
    `profiles` maps a miner uid to the profile id(s) of its reward-eligible trades in the order the
    reference builds them (a second id is appended after a comma, which fails verification, §14).
    """

    pool: str
    epoch_dates: tuple[dt.date, ...]
    entities: list
    volume: np.ndarray
    qualified: np.ndarray
    unqualified: np.ndarray
    profit: np.ndarray
    fees: np.ndarray
    trade_count: np.ndarray
    correct_count: np.ndarray
    profiles: dict[int, str] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.entities)

    @property
    def n_epochs(self) -> int:
        return len(self.epoch_dates)


@dataclass(frozen=True)
class AlmanacMatrices:
    """An evaluation day's matrices of both pools, and how many records were skipped and why."""

    boundary: dt.date  # D
    miner: EpochMatrices
    gp: EpochMatrices
    skipped: dict[str, int]

    def save(self, path: str | Path, prefix: str) -> None:
        """One npz: each pool's seven matrices, and its entities, dates and profiles as JSON."""
        meta = {"boundary": self.boundary.isoformat(), "skipped": self.skipped}
        arrays = {}
        for m in (self.miner, self.gp):
            meta[m.pool] = {"entities": m.entities, "epoch_dates": [d.isoformat() for d in m.epoch_dates],
                            "profiles": {str(u): p for u, p in m.profiles.items()}}
            arrays |= {f"{prefix}__{m.pool}__{name}": getattr(m, name) for name in MATRICES}
        meta_bytes = np.frombuffer(json.dumps(meta).encode("ascii"), dtype=np.uint8)  # not UCS-4: 4× smaller
        np.savez_compressed(path, meta=meta_bytes, **arrays)

    @classmethod
    def load(cls, path: str | Path, prefix: str) -> "AlmanacMatrices":
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(f["meta"].tobytes())
            pools = [EpochMatrices(
                pool=pool, epoch_dates=tuple(dt.date.fromisoformat(d) for d in meta[pool]["epoch_dates"]),
                entities=meta[pool]["entities"],
                profiles={int(u): p for u, p in meta[pool]["profiles"].items()},
                **{name: f[f"{prefix}__{pool}__{name}"] for name in MATRICES}) for pool in ("miner", "gp")]
        return cls(dt.date.fromisoformat(meta["boundary"]), *pools, meta["skipped"])


def window(boundary: dt.date, params: AlmanacParams, target_epoch_idx: int | None = None) -> tuple[dt.date, ...]:
    """The epoch dates: D − window … D − 1, or the first `target_epoch_idx + 1` of them in a replay."""
    start = boundary - dt.timedelta(days=params.window_days)
    n_epochs = params.window_days if target_epoch_idx is None else target_epoch_idx + 1
    return tuple(start + dt.timedelta(days=i) for i in range(n_epochs))


def build_epoch_matrices(trades: Trades, uids: Sequence[int], hotkeys: Sequence[str | None], pool: str,
                         boundary: dt.date, params: AlmanacParams = AlmanacParams(),
                         target_epoch_idx: int | None = None) -> EpochMatrices:
    """§3: filter the pool's trades into the window, apply the record rules, sum per (day, entity).

    `boundary` is D, the UTC midnight that ends the last scored day, as a date. In a replay
    (`target_epoch_idx`) entities trading after the target row still exist, with zero rows, as in
    the reference.
    """
    if pool not in ("miner", "gp"):
        raise ValueError(f"pool must be 'miner' or 'gp'; got {pool!r}")
    dates = window(boundary, params, target_epoch_idx)
    first = (boundary - dt.timedelta(days=params.window_days) - _EPOCH).days
    last = (boundary - _EPOCH).days
    keep = (trades.ok & trades.completed & (trades.day >= first) & (trades.day < last)
            & trades.has_account)
    if pool == "miner":
        keep &= ~trades.general_pool & (trades.miner_id >= 0)
        uid_set = np.zeros(len(hotkeys), dtype=bool)
        known = np.asarray([u for u in uids if 0 <= u < len(hotkeys)], dtype=np.int64)
        uid_set[known] = True
        rows = np.flatnonzero(keep)
        ids = trades.miner_id[rows]
        in_range = ids < len(hotkeys)
        rows, ids = rows[in_range], ids[in_range]
        # re-registration protection: the trade's hotkey must be the one now at its uid
        same = np.fromiter((trades.miner_hotkey[r] is not None and hotkeys[u] == trades.miner_hotkey[r]
                            for r, u in zip(rows.tolist(), ids.tolist())), bool, len(rows))
        rows = rows[uid_set[ids] & same]
        entities, col = np.unique(trades.miner_id[rows], return_inverse=True)
        entities = entities.tolist()
        profiles = _profiles(trades, rows, params)
    else:
        rows = np.flatnonzero(keep & trades.general_pool)
        codes, uniques = pd.factorize(np.array([trades.profile_id[r] for r in rows.tolist()], dtype=object))
        order = sorted(range(len(uniques)), key=uniques.__getitem__)
        rank = np.empty(len(uniques), dtype=np.int64)
        rank[order] = np.arange(len(uniques))
        entities = [uniques[i] for i in order]
        col = rank[codes] if len(rows) else np.zeros(0, dtype=np.int64)
        profiles = {}

    n, n_epochs = len(entities), len(dates)
    epoch = trades.day[rows] - first
    vol, exp_vol = trades.volume[rows], trades.expected_volume[rows]
    exp_fee, fee = trades.expected_fees[rows], trades.actual_fees[rows]
    elig = trades.reward_eligible[rows].copy()
    # position grown outside Almanac; fee not collected (skipped when no fee was expected: the
    # reference would divide by zero)
    elig &= ~((vol > exp_vol) & (np.abs(vol - exp_vol) > params.volume_tolerance))
    with np.errstate(divide="ignore", invalid="ignore"):
        elig &= ~((exp_fee > 0) & (fee < exp_fee) & (fee / np.where(exp_fee > 0, exp_fee, 1.0) < params.fee_tolerance))
    counted = elig & (fee > 0)
    correct = trades.correct[rows]
    in_rows = epoch < n_epochs
    cell = (epoch * n + col)[in_rows]
    size = n_epochs * n

    def total(weights: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        w = weights[in_rows] if mask is None else np.where(mask, weights, 0.0)[in_rows]
        return np.bincount(cell, weights=w, minlength=size).reshape(n_epochs, n)

    ones = np.ones(len(rows))
    return EpochMatrices(
        pool=pool, epoch_dates=dates, entities=entities,
        volume=total(vol, counted), qualified=total(vol - fee, counted & correct),
        unqualified=total(vol, counted & ~correct), profit=total(trades.pnl[rows], counted),
        fees=total(fee), trade_count=total(ones, counted), correct_count=total(ones, counted & correct),
        profiles=profiles)


def _profiles(trades: Trades, rows: np.ndarray, params: AlmanacParams) -> dict[int, str]:
    """Each miner uid's profile id(s), from its reward-eligible trades (the API flag), in record order.

    The reference lower-cases the first id but compares each later one, raw, with the string built so
    far, appending it (lower-cased) when they differ: a miner whose id carries upper-case letters gets
    it appended again and fails verification. Fixed mode compares lower-case and appends only an id
    not seen yet. Built in one pass (a miner's many trades cannot make this quadratic).
    """
    parts: dict[int, list[str]] = {}
    seen: dict[int, set[str]] = {}
    length: dict[int, int] = {}  # of the reference's string: sum of parts and their commas
    flagged = rows[trades.reward_eligible[rows]]
    for r, uid in zip(flagged.tolist(), trades.miner_id[flagged].tolist()):
        pid = trades.profile_id[r]
        ids = parts.get(uid)
        if ids is None:
            low = pid.lower()
            parts[uid], seen[uid], length[uid] = [low], {low}, len(low)
        elif params.fixed:
            low = pid.lower()
            if low not in seen[uid]:
                seen[uid].add(low)
                ids.append(low)
        elif len(pid) != length[uid] or pid != ",".join(ids):
            ids.append(pid.lower())
            length[uid] += 1 + len(ids[-1])
    return {uid: ",".join(ids) for uid, ids in parts.items()}
