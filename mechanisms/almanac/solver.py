"""Phase 1 and Phase 2 as cvxpy programs (§8, §9), solved with CLARABEL.

The closed forms in `phases` are what scoring uses; this formulation cross-checks them in tests and
is selected by `AlmanacParams(solver="cvxpy")`. Every constraint is one vector constraint: the
reference's per-entity diversity constraints, built in a Python loop, make canonicalisation
superlinear, and remain available (`vectorised=False`) only so a benchmark can show the difference.
"""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np

from mechanisms.almanac.params import AlmanacParams
from mechanisms.almanac.phases import Phase1, Phase2, _phase1_outputs, head_bounds
from mechanisms.almanac.pool import Eligibility, PoolVectors

# Tolerances that make CLARABEL converge to ~1e-6 on the entropy program (its defaults stop near 1e-4).
TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "max_iter": 500}
SOLVED = ("optimal", "optimal_inaccurate")


def _solve(problem: cp.Problem, tight: bool) -> str:
    """Solve with CLARABEL; tight tolerances where they converge, its defaults where they do not."""
    for options in ([TIGHT, {}] if tight else [{}]):
        try:
            with warnings.catch_warnings():  # optimal_inaccurate is accepted, as the reference does
                warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                problem.solve(solver=cp.CLARABEL, **options)
        except cp.SolverError:
            continue
        if problem.status in SOLVED:
            return "optimal"
    return "infeasible"


def phase1_problem(vec: PoolVectors, elig: Eligibility, kappa: float, budget: float, params: AlmanacParams,
                   vectorised: bool = True) -> tuple[cp.Problem, cp.Variable]:
    """head: max v_b·x + τ·v_b·entr(x); seed excerpt: max v_b·x with budget and cap priced on v_eff."""
    n = len(vec.v_b)
    x = cp.Variable(n)
    basis = vec.v_b if params.head else vec.v_eff  # what the budget and the diversity cap price
    cons = [x >= 0, x <= 1, kappa * (basis @ x) <= budget, x <= elig.e1]
    if vectorised:
        cons.append(cp.multiply(kappa * basis, x) <= params.rho_cap * budget)
    else:
        cons += [kappa * basis[i] * x[i] <= params.rho_cap * budget for i in range(n)]
    objective = vec.v_b @ x
    if params.head:
        lo = head_bounds(vec.v_b, elig.e1, elig.max_gate, kappa, budget, params)[0]
        cons += [x <= elig.max_gate, x >= lo]
        objective = objective + params.entropy_tau * (basis @ cp.entr(x))
    return cp.Problem(cp.Maximize(objective), cons), x


def phase1(vec: PoolVectors, elig: Eligibility, kappa: float, budget: float, params: AlmanacParams,
           tight: bool = False, vectorised: bool = True) -> Phase1:
    if len(vec.v_b) == 0:
        return Phase1("empty", np.zeros(0))
    problem, x = phase1_problem(vec, elig, kappa, budget, params, vectorised)
    if _solve(problem, tight) != "optimal" or x.value is None:
        return Phase1("infeasible", None, num_eligible=int(elig.e1.sum()))
    return _phase1_outputs(np.asarray(x.value, dtype=float), vec.v_b, vec.roi_trailing, elig.e1)


def phase2(x1: np.ndarray, v_eff: np.ndarray, roi: np.ndarray, e2: np.ndarray, max_gate: np.ndarray | None,
           kappa: float, budget: float, max_budget: float | None, params: AlmanacParams,
           tight: bool = False) -> Phase2:
    """max (roi − κ)·x − λ‖x − x1‖² under c·x ≤ min(P1, B, maxB); fixed mode retries without the dust floor."""
    c = kappa * v_eff
    cap = min(float(c @ x1), budget, budget if max_budget is None else max_budget)
    x = cp.Variable(len(x1))
    base = [x >= 0, x <= 1, x <= e2, c @ x <= cap]
    floor = []
    if params.head:
        base.append(x <= max_gate)
        floor = [x >= params.dust_gate * e2]
    objective = cp.Maximize((roi - kappa) @ x - params.phase2_lambda * cp.sum_squares(x - x1))
    if _solve(cp.Problem(objective, base + floor), tight) == "optimal" and x.value is not None:
        return Phase2("optimal", np.asarray(x.value, dtype=float), c, payout=cap)
    if not (params.fixed and floor):
        return Phase2("infeasible", None, c, payout=cap)
    if _solve(cp.Problem(objective, base), tight) == "optimal" and x.value is not None:
        return Phase2("optimal", np.asarray(x.value, dtype=float), c, payout=cap, dust_dropped=True)
    return Phase2("infeasible", None, c, payout=cap)
