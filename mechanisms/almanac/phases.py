"""Phase 1 and Phase 2 in closed form (§8, §9): deterministic, solver-free, O(n) per bisection step.

Phase 1 at head maximises routed volume plus a weak entropy term under a budget, a per-entity
diversity cap, eligibility, the gate ceiling and the dust floor. Every entity then has the same
benefit/cost ratio, and the KKT conditions give one common level L clipped to each entity's bounds.
The seed excerpt's Phase 1 is a fractional knapsack. Phase 2 is a separable QP whose solution is
x1 moved by (w − μc)/2λ, clipped, with μ the price of the payout cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from mechanisms.almanac.params import AlmanacParams

ITERATIONS = 1100  # bisection steps: enough to reach adjacent floats from any bracket used here
TIE = 1e-9        # relative tolerance within which two knapsack ratios count as tied


@dataclass(frozen=True)
class Phase1:
    status: str                 # optimal | infeasible | empty
    x: np.ndarray | None
    t_star: float = 0.0         # routed volume r·x1
    payout: float = 0.0         # the reference's diagnostic Σ v_b·max(roi, 0)·x1 (volume × ROI units)
    level: float | None = None  # head: the common level L
    dust_relieved: bool = False  # relieve_dust: some dust floor was lowered or dropped
    num_funded: int = 0
    num_eligible: int = 0


@dataclass(frozen=True)
class Phase2:
    status: str                 # optimal | infeasible | not_run
    x: np.ndarray | None
    c: np.ndarray | None        # κ·v_eff, the token cost of an entity fully open
    payout: float = 0.0         # the cap min(P1, B, maxB): what the pool pays
    mu: float | None = None     # the price of the cap (0 when it does not bind)
    dust_dropped: bool = False  # fixed mode: the dust floor alone exceeded the cap and was dropped


def _bracket(crossed: Callable[[float], bool], a: float, b: float) -> tuple[float, float]:
    """Shrink [a, b], with `crossed` monotone, false at a and true at b, to adjacent floats."""
    for _ in range(ITERATIONS):
        mid = 0.5 * (a + b)
        if mid <= a or mid >= b:
            break
        if crossed(mid):
            b = mid
        else:
            a = mid
    return a, b


def _level(weights: np.ndarray, lo: np.ndarray, hi: np.ndarray, target: float, top: float) -> float:
    """The highest level L ∈ [0, top] with Σ w·clip(L, lo, hi) ≤ target, to float resolution."""
    return _bracket(lambda level: float(weights @ np.clip(level, lo, hi)) > target, 0.0, top)[0]


def _phase1_outputs(x: np.ndarray, v_b: np.ndarray, roi: np.ndarray, e1: np.ndarray, **extra) -> Phase1:
    funded = v_b * np.maximum(roi, 0.0) * x
    return Phase1("optimal", x, t_star=float(v_b @ x), payout=float(funded.sum()),
                  num_funded=int(np.count_nonzero(funded > 0)), num_eligible=int(e1.sum()), **extra)


def head_bounds(v_b: np.ndarray, e1: np.ndarray, max_gate: np.ndarray, kappa: float, budget: float,
                params: AlmanacParams) -> tuple[np.ndarray, np.ndarray, bool]:
    """Phase 1 (head) bounds: lo = dust·e1, hi = min(1, e1, max_gate, ρB/(κ·v_b)).

    With `relieve_dust`, an entity whose diversity cap is below the dust floor has its floor lowered
    to the cap, and the floors are dropped if together they exceed the budget, so one entity's volume
    cannot make the whole pool infeasible. Returns (lo, hi, whether any floor was relieved).
    """
    lo = params.dust_gate * e1
    hi = np.minimum(np.minimum(1.0, e1), np.minimum(max_gate, params.rho_cap * budget / (kappa * v_b)))
    relieved = False
    if params.relieve_dust:
        if np.any(lo > hi):
            lo, relieved = np.minimum(lo, hi), True
        if kappa * float(v_b @ lo) > budget:
            lo, relieved = np.zeros_like(lo), True
    return lo, hi, relieved


def phase1_head(v_b: np.ndarray, roi: np.ndarray, e1: np.ndarray, max_gate: np.ndarray, kappa: float,
                budget: float, params: AlmanacParams) -> Phase1:
    """§8.2: a common level clipped to [dust·e1, min(1, e1, max_gate, ρB/(κ·v_b))]; the budget sets it.

    Infeasible when an entity's diversity cap is below its dust floor or the floors exceed the budget.
    """
    if len(v_b) == 0:
        return Phase1("empty", np.zeros(0))
    lo, hi, relieved = head_bounds(v_b, e1, max_gate, kappa, budget, params)
    if np.any(lo > hi) or kappa * float(v_b @ lo) > budget:
        return Phase1("infeasible", None, num_eligible=int(e1.sum()))
    weights = kappa * v_b
    if float(weights @ hi) <= budget:
        level = 1.0
    else:
        level = _level(weights, lo, hi, budget, 1.0)
    return _phase1_outputs(np.clip(level, lo, hi), v_b, roi, e1, level=level, dust_relieved=relieved)


def phase1_seed(v_b: np.ndarray, v_eff: np.ndarray, roi: np.ndarray, e1: np.ndarray, kappa: float,
                budget: float, params: AlmanacParams) -> Phase1:
    """§8.3: fractional knapsack of v_b·x under κ·Σ v_eff·x ≤ B and the v_eff-priced diversity cap.

    Entities fill to their bound in decreasing v_b/(κ·v_eff); a margin of tied ratios shares one
    level (the optimum is not unique there: compare objective values).
    """
    n = len(v_b)
    if n == 0:
        return Phase1("empty", np.zeros(0))
    cost = kappa * v_eff
    with np.errstate(divide="ignore"):
        cap = np.where(cost > 0, params.rho_cap * budget / np.where(cost > 0, cost, 1.0), np.inf)
    hi = np.minimum(np.minimum(1.0, e1), cap)
    full = cost * hi
    if float(full.sum()) <= budget:
        return _phase1_outputs(hi.copy(), v_b, roi, e1)
    ratio = np.where(cost > 0, v_b / np.where(cost > 0, cost, 1.0), np.inf)
    order = np.argsort(-ratio, kind="stable")
    spent = np.cumsum(full[order])
    k = int(np.searchsorted(spent, budget, side="right"))  # first entity that does not fit whole
    margin = ratio[order[k]]
    better = ratio > margin * (1 + TIE)
    tied = ~better & (ratio >= margin * (1 - TIE)) & (hi > 0)
    x = np.where(better, hi, 0.0)
    rest = budget - float(cost[better] @ hi[better])
    if tied.any() and rest > 0:
        w, h = cost[tied], hi[tied]
        level = _level(w, np.zeros_like(h), h, rest, float(h.max()))
        x[tied] = np.clip(level, 0.0, h)
    return _phase1_outputs(x, v_b, roi, e1)


def phase2(x1: np.ndarray, v_eff: np.ndarray, roi: np.ndarray, e2: np.ndarray, max_gate: np.ndarray | None,
           kappa: float, budget: float, max_budget: float | None, params: AlmanacParams) -> Phase2:
    """§9: maximise (roi − κ)·x − λ‖x − x1‖² under c·x ≤ min(P1, B, maxB); c = κ·v_eff.

    At head the dust floor and gate ceiling apply. If the dust floor alone exceeds the cap, the
    reference's solver fails (compat: status infeasible, the caller falls back to x1); fixed mode
    drops the floor, which is always feasible.
    """
    c = kappa * v_eff
    cap = min(float(c @ x1), budget, budget if max_budget is None else max_budget)
    w = roi - kappa
    lam2 = 2.0 * params.phase2_lambda
    hi = np.minimum(1.0, e2)
    lo = np.zeros_like(hi)
    if params.head:
        hi = np.minimum(hi, max_gate)
        lo = params.dust_gate * e2
    dropped = False
    if float(c @ lo) > cap:
        if not params.fixed:
            return Phase2("infeasible", None, c, payout=cap)
        lo, dropped = np.zeros_like(lo), True
    start = x1 + w / lam2
    step = c / lam2

    def paid(mu: float) -> float:  # non-increasing in μ
        return float(c @ np.clip(start - mu * step, lo, hi))

    mu = 0.0
    if paid(0.0) > cap:
        top = 1.0
        while paid(top) > cap and top < 1e300:
            top *= 2.0
        mu = _bracket(lambda m: paid(m) <= cap, 0.0, top)[1]  # the feasible end
    return Phase2("optimal", np.clip(start - mu * step, lo, hi), c, payout=cap, mu=mu, dust_dropped=dropped)
