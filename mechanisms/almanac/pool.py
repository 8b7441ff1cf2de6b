"""A pool's derived vectors (§5), its kappa (§6) and who may be funded (§7)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mechanisms.almanac.matrices import EpochMatrices
from mechanisms.almanac.params import AlmanacParams

FLOOR = 1e-12  # the reference's numerical floor


@dataclass(frozen=True)
class PoolVectors:
    """Per-entity quantities of the last row and the window, as the optimisation phases read them."""

    roi_trailing: np.ndarray  # window profit / window eligible volume (0 without volume)
    v_block_raw: np.ndarray   # eligible volume on the last day
    v_b: np.ndarray           # max(v_block_raw, 1e-12)
    roi_block: np.ndarray
    v_memory: np.ndarray      # decayed volume, this epoch included
    v_eff: np.ndarray         # α·v_block_raw + (1 − α)·v_memory
    build_up: np.ndarray      # ≥ min_epochs days with trades and ≥ min_trades trades
    recent: np.ndarray        # a trade in the last `inactivity_epochs` rows


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, np.maximum(den, FLOOR), out=np.zeros_like(num), where=den > 0)


def pool_vectors(m: EpochMatrices, params: AlmanacParams) -> PoolVectors:
    decay = params.volume_decay
    v_memory = np.zeros(m.n)
    for row in m.volume:  # the reference's recursion, row by row, so the rounding is the same
        v_memory = decay * v_memory + row
    last = m.volume[-1] if m.n_epochs else np.zeros(m.n)
    alpha = params.alpha
    traded = m.trade_count > 0
    recent_rows = m.trade_count[max(0, m.n_epochs - max(1, params.inactivity_epochs)):]
    return PoolVectors(
        roi_trailing=_ratio(m.profit.sum(axis=0), m.volume.sum(axis=0)),
        v_block_raw=last,
        v_b=np.maximum(last, FLOOR),
        roi_block=_ratio(m.profit[-1] if m.n_epochs else np.zeros(m.n), last),
        v_memory=v_memory,
        v_eff=alpha * last + (1.0 - alpha) * v_memory,
        build_up=(traded.sum(axis=0) >= params.min_epochs) & (m.trade_count.sum(axis=0) >= params.min_trades),
        recent=(recent_rows > 0).any(axis=0),
    )


def kappa(m: EpochMatrices, params: AlmanacParams) -> float:
    """§6: fees on winning volume over the pool's profit on profitable days, divided by the scaling.

    With too little history the fallback `kappa_next` is returned unscaled, as the reference does.
    """
    if m.n_epochs < params.kappa_min_rows:
        return params.kappa_next
    lookback = params.window_days
    vols = m.qualified[-lookback:].sum(axis=1)
    prof = m.profit[-lookback:].sum(axis=1)
    active = (vols > 0) & (prof > 0)
    if np.count_nonzero(active) < max(3, lookback // 10):
        return params.kappa_next
    stat = params.volume_fee * float(np.sum(vols[active])) / max(float(np.sum(prof[active])), FLOOR)
    # the reference smooths towards a prior that is never passed (prior = stat): inert, but written out
    # so the rounding is the reference's to the last bit
    joint = (1.0 - params.kappa_smooth) * stat + params.kappa_smooth * stat
    return max(joint, FLOOR) / params.kappa_scaling


@dataclass(frozen=True)
class Eligibility:
    """0/1 vectors for Phase 1 and Phase 2, and the gate ceiling (None: no ceiling, seed excerpt)."""

    e1: np.ndarray
    e2: np.ndarray
    max_gate: np.ndarray | None


def eligibility(vec: PoolVectors, pool: str, params: AlmanacParams) -> Eligibility:
    """§7. The general pool needs this epoch's volume; the miner pool decayed volume (Phase 1) or
    effective volume (Phase 2) and, at head, a trade in the last `inactivity_epochs` days."""
    common = (vec.roi_trailing >= params.roi_min) & vec.build_up
    v_min = params.volume_min
    if pool == "gp":
        e1 = e2 = common & (vec.v_b >= v_min)
    else:
        e1 = common & (vec.v_memory >= v_min)
        e2 = common & (vec.v_eff >= v_min)
        if params.head:
            e1, e2 = e1 & vec.recent, e2 & vec.recent
    max_gate = np.where(vec.v_block_raw >= v_min, 1.0, params.dust_gate) if params.head else None
    return Eligibility(e1.astype(float), e2.astype(float), max_gate)
