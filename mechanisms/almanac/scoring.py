"""A snapshot scored end to end: budgets (§4), both pools' phases and tokens (§11), the miner fee
floor (§12.1), profile verification (§14) and the weights (§13)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from mechanisms.almanac.matrices import AlmanacMatrices, EpochMatrices, build_epoch_matrices
from mechanisms.almanac.params import AlmanacParams
from mechanisms.almanac.phases import Phase1, Phase2, phase1_head, phase1_seed, phase2
from mechanisms.almanac.pool import Eligibility, PoolVectors, eligibility, kappa, pool_vectors
from mechanisms.almanac.records import parse_trades
from mechanisms.almanac.weights import form_weights, verify_profiles

NOT_RUN = Phase2("not_run", None, None)
ALPHA_PER_DAY = 2952  # alpha a subnet's miners earn per day (almanac_sn41.md §15)


def daily_budget(moving_price: float | None, tao_usd: float | None) -> float | None:
    """U = moving alpha price (TAO) × TAO/USD × 2952: the USD value of a day of miner emission (§15);
    None when an input could not be read."""
    if moving_price is None or tao_usd is None:
        return None
    return moving_price * tao_usd * ALPHA_PER_DAY


@dataclass(frozen=True)
class Budgets:
    miner: float
    miner_max: float
    gp: float


def budgets(miner_fees: float, gp_fees: float, epoch_budget: float, params: AlmanacParams) -> Budgets:
    """§4. Dynamic (live): each pool's budget is its fees on the scored day. The miner boost only
    raises maxB, which Phase 2's min(P1, B, maxB) never reaches: a no-op kept for fidelity."""
    if params.static_weighting:
        gp_share = params.gp_weight_share
        miner_share = 1 - gp_share
        return Budgets(miner=miner_share * epoch_budget,
                       miner_max=max(miner_share * (miner_fees + gp_fees),
                                     params.max_budget_share_for_boost * miner_share * epoch_budget),
                       gp=gp_share * epoch_budget)
    boost = params.miner_budget_boost
    miner_max = miner_fees
    if boost > 0 and miner_fees * (1 + boost) + gp_fees <= epoch_budget:
        miner_max = miner_fees * (1 + boost)
    return Budgets(miner=miner_fees, miner_max=miner_max, gp=gp_fees)


@dataclass(frozen=True)
class PoolResult:
    """One pool's scoring: the inputs the phases saw, both phases, and the USD tokens per entity."""

    matrices: EpochMatrices
    budget: float
    max_budget: float | None
    kappa: float | None
    vectors: PoolVectors | None
    eligible: Eligibility | None
    sol1: Phase1
    sol2: Phase2
    tokens: np.ndarray
    floored: tuple = ()  # miner pool: entities lifted to the fee floor

    @property
    def entities(self) -> list:
        return self.matrices.entities


def _phases(vec: PoolVectors, elig: Eligibility, k: float, budget: float, max_budget: float | None,
            params: AlmanacParams) -> tuple[Phase1, Phase2]:
    if params.solver == "cvxpy":
        from mechanisms.almanac import solver  # cvxpy costs a second to import: only when selected
        p1, p2 = solver.phase1, solver.phase2
    else:
        p1, p2 = _closed_phase1, phase2
    sol1 = p1(vec, elig, k, budget, params)
    if sol1.status != "optimal" or sol1.t_star <= 0:
        return sol1, NOT_RUN
    return sol1, p2(sol1.x, vec.v_eff, vec.roi_trailing, elig.e2, elig.max_gate, k, budget, max_budget, params)


def _closed_phase1(vec: PoolVectors, elig: Eligibility, k: float, budget: float, params: AlmanacParams) -> Phase1:
    if params.head:
        return phase1_head(vec.v_b, vec.roi_trailing, elig.e1, elig.max_gate, k, budget, params)
    return phase1_seed(vec.v_b, vec.v_eff, vec.roi_trailing, elig.e1, k, budget, params)


def allocate(sol1: Phase1, sol2: Phase2, k: float, v_eff: np.ndarray, params: AlmanacParams) -> np.ndarray:
    """§11: tokens ∝ x·κ·v_eff, scaled to the pool's payout.

    Phase 2's x and cap when it ran; when its solver failed (compat: the dust floor above the cap),
    Phase 1's x with the cap, as the reference falls back. A pool whose Phase 2 never ran pays the
    reference's Phase 1 diagnostic in compat mode (volume × ROI units; zero in practice, since Phase 2
    is skipped only when nothing is routed) and nothing in fixed mode. The seed excerpt pays only
    from Phase 2.
    """
    n = len(v_eff)
    if sol2.x is not None:
        x, c, payout = sol2.x, sol2.c, sol2.payout
    elif not params.head or sol1.x is None:
        return np.zeros(n)
    else:
        x, c = np.clip(sol1.x, 0.0, 1.0), k * v_eff
        payout = sol2.payout if sol2.status != "not_run" else (0.0 if params.fixed else sol1.payout)
    raw = x * c
    total = float(raw.sum())
    return raw / total * payout if total > 0 else np.zeros(n)


def score_pool(m: EpochMatrices, budget: float, max_budget: float | None, params: AlmanacParams) -> PoolResult:
    """Vectors, kappa, eligibility, both phases and the tokens of one pool; never raises on its data."""
    if m.n == 0:
        return PoolResult(m, budget, max_budget, None, None, None, Phase1("empty", np.zeros(0)), NOT_RUN,
                          np.zeros(0))
    vec = pool_vectors(m, params)
    k = kappa(m, params)
    elig = eligibility(vec, m.pool, params)
    sol1, sol2 = _phases(vec, elig, k, budget, max_budget, params)
    tokens = allocate(sol1, sol2, k, vec.v_eff, params)
    return PoolResult(m, budget, max_budget, k, vec, elig, sol1, sol2, tokens)


def fee_floor(result: PoolResult, budget: float, params: AlmanacParams) -> PoolResult:
    """§12.1: a miner that lost on the scored day after a profitable history keeps at least
    0.7 × that day's fees; the pool is scaled back to its budget if the floors overshoot it."""
    m = result.matrices
    if not (params.head and params.fee_floor) or m.n == 0 or m.n_epochs <= 1 or result.sol1.status == "infeasible":
        return result
    before_profit = m.profit[:-1].sum(axis=0)
    before_volume = m.volume[:-1].sum(axis=0)
    before_roi = np.divide(before_profit, before_volume, out=np.zeros(m.n), where=before_volume > 0)
    lost = (m.profit[-1] < 0) & (before_profit > 0) & (before_roi > 0)
    floor = params.fee_floor_multiplier * m.fees[-1]
    tokens = np.where(lost, np.maximum(result.tokens, floor), result.tokens)
    floored = tuple(m.entities[i] for i in np.flatnonzero(lost & (floor > result.tokens)))
    total = float(tokens.sum())
    if total > budget:
        tokens = tokens * (budget / total)
    return dataclasses.replace(result, tokens=tokens, floored=floored)


@dataclass(frozen=True)
class AlmanacScore:
    """Everything `incentive almanac score` prints, and what explains it."""

    boundary: dt.date
    epoch_budget: float
    budgets: Budgets
    miner: PoolResult
    gp: PoolResult
    penalised: dict[int, str]
    weights: dict[int, float]
    skipped: dict[str, int]
    warnings: list[str] = field(default_factory=list)


def score_snapshot(data: Sequence[Any], uids: Sequence[int], hotkeys: Sequence[str | None],
                   commitments: Mapping[int, str | None], epoch_budget: float, boundary: dt.date,
                   params: AlmanacParams = AlmanacParams(), target_epoch_idx: int | None = None) -> AlmanacScore:
    """Score the days boundary − window … boundary − 1 for both pools and form the weights.

    `epoch_budget` is U, the USD value of one day of miner emission. The general pool's tokens are
    paid off-chain; on chain they are the burn uid's share.
    """
    matrices = build_matrices(data, uids, hotkeys, boundary, params, target_epoch_idx)
    return score_matrices(matrices, uids, commitments, epoch_budget, params, target_epoch_idx)


def build_matrices(data: Sequence[Any], uids: Sequence[int], hotkeys: Sequence[str | None], boundary: dt.date,
                   params: AlmanacParams = AlmanacParams(), target_epoch_idx: int | None = None) -> AlmanacMatrices:
    """Both pools' §3 matrices from raw records, with the count of records skipped per reason."""
    trades = parse_trades(data, fixed=params.fixed)
    return AlmanacMatrices(boundary,
                           build_epoch_matrices(trades, uids, hotkeys, "miner", boundary, params, target_epoch_idx),
                           build_epoch_matrices(trades, uids, hotkeys, "gp", boundary, params, target_epoch_idx),
                           trades.skipped)


def score_matrices(matrices: AlmanacMatrices, uids: Sequence[int], commitments: Mapping[int, str | None],
                   epoch_budget: float, params: AlmanacParams = AlmanacParams(),
                   target_epoch_idx: int | None = None) -> AlmanacScore:
    """Budgets, both pools' tokens, the fee floor, profile verification and the weights (§4–§14)."""
    miner_m, gp_m = matrices.miner, matrices.gp
    row = -1 if target_epoch_idx is None else target_epoch_idx
    pool_budgets = budgets(float(miner_m.fees[row].sum()) if miner_m.n else 0.0,
                           float(gp_m.fees[row].sum()) if gp_m.n else 0.0, epoch_budget, params)
    miner = fee_floor(score_pool(miner_m, pool_budgets.miner, pool_budgets.miner_max, params),
                      pool_budgets.miner, params)
    gp = score_pool(gp_m, pool_budgets.gp, None, params)
    penalised = verify_profiles(miner_m.profiles, commitments)
    weights = form_weights(miner.entities, miner.tokens, float(gp.tokens.sum()), epoch_budget,
                           list(penalised), uids, params)
    warnings = []
    if params.burn_uid not in uids:
        warnings.append(f"the burn uid {params.burn_uid} is not in the metagraph: its share is dropped and "
                        f"the miners' weights renormalised, as the reference does")
    if params.burn_uid in miner.entities:
        warnings.append(f"a miner at the burn uid {params.burn_uid} is overwritten by the burn weight")
    for pool in (miner, gp):
        if pool.sol1.status == "infeasible":
            warnings.append(f"{pool.matrices.pool} pool: Phase 1 infeasible (an entity's diversity cap is below "
                            f"the dust floor, or the floors exceed the budget); the pool pays nothing")
        if pool.sol1.dust_relieved:
            warnings.append(f"{pool.matrices.pool} pool: Phase 1 lowered dust floors that made it infeasible")
        if pool.sol2.status == "infeasible":
            warnings.append(f"{pool.matrices.pool} pool: Phase 2 infeasible (the dust floor exceeds the cap); "
                            f"Phase 1's gates are paid")
        if pool.sol2.dust_dropped:
            warnings.append(f"{pool.matrices.pool} pool: Phase 2 dropped the dust floor, which exceeded the cap")
    return AlmanacScore(matrices.boundary, epoch_budget, pool_budgets, miner, gp, penalised, weights,
                        matrices.skipped, warnings)
