"""The closed forms of Phase 1 and Phase 2 against the cvxpy program (CLARABEL) on random pools.

almanac_sn41.md §10: Phase 2 agrees to ~1e-7 in x; Phase 1 at head to ~1e-4 with CLARABEL's default
tolerances (the entropy term is weak) and ~1e-6 with tight ones; the seed excerpt's Phase 1 optimum is
not unique, so it is compared by objective value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest

from devnet.almanac.trades import TraderMix, generate_snapshot
from mechanisms.almanac import solver
from mechanisms.almanac.params import AlmanacParams
from mechanisms.almanac.phases import phase1_head, phase1_seed, phase2
from mechanisms.almanac.pool import Eligibility, PoolVectors, eligibility
from mechanisms.almanac.scoring import allocate, score_snapshot

HEAD, SEED = AlmanacParams(), AlmanacParams(variant="seed_excerpt")
KINDS = ("budget", "cap", "slack", "ineligible", "zero", "single", "dust", "infeasible")


def instance(rng: np.random.Generator, kind: str, pool: str, params: AlmanacParams):
    """A pool's vectors drawn for one regime: the budget binding, the diversity caps binding, nothing
    binding, nobody eligible, no volume at all, one entity, mostly inactive (dusted) entities, or dust
    floors that alone exceed the budget."""
    n = 1 if kind == "single" else int(rng.integers(2, 40))
    active = rng.random(n) < (0.2 if kind == "dust" else 0.75)
    v_block = np.where(active, rng.lognormal(5, 1.5, n), 0.0)
    v_memory = v_block + rng.lognormal(6, 1.5, n) * (rng.random(n) < 0.9)
    if kind == "zero":
        v_block, v_memory = np.zeros(n), np.zeros(n)
    alpha = params.alpha
    roi = rng.uniform(-0.05, 0.25, n)
    vec = PoolVectors(roi_trailing=roi, v_block_raw=v_block, v_b=np.maximum(v_block, 1e-12),
                      roi_block=roi, v_memory=v_memory, v_eff=alpha * v_block + (1 - alpha) * v_memory,
                      build_up=rng.random(n) < 0.9 if kind != "ineligible" else np.zeros(n, bool),
                      recent=rng.random(n) < 0.9)
    elig = eligibility(vec, pool, params)
    kappa = float(rng.uniform(0.002, 0.03))
    full = kappa * float(vec.v_b @ np.maximum(elig.e1, 0)) + 1e-9
    dust = kappa * params.dust_gate * float(vec.v_b @ elig.e1)
    budget = {"budget": rng.uniform(0.1, 0.6) * full, "cap": rng.uniform(3, 10) * full,
              "slack": 50 * full + 1.0, "infeasible": 0.5 * dust}.get(kind, float(rng.uniform(0.5, 5.0)) * full + 0.5)
    return vec, elig, kappa, float(budget)


def cases(count: int, params: AlmanacParams):
    rng = np.random.default_rng(41 if params.head else 42)
    for i in range(count):
        yield instance(rng, KINDS[i % len(KINDS)], ("miner", "gp")[i % 2], params)


def _assert_phase2_close(closed, conic, atol):
    assert closed.status == conic.status
    if closed.x is not None:
        np.testing.assert_allclose(closed.x, conic.x, atol=atol)


def test_head_closed_forms_match_clarabel_on_210_pools():
    worst = {"p1_default": 0.0, "p1_tight": 0.0, "p2": 0.0, "tokens": 0.0}
    statuses = set()
    for vec, elig, k, budget in cases(210, HEAD):
        closed = phase1_head(vec.v_b, vec.roi_trailing, elig.e1, elig.max_gate, k, budget, HEAD)
        tight = solver.phase1(vec, elig, k, budget, HEAD, tight=True)
        default = solver.phase1(vec, elig, k, budget, HEAD)
        statuses.add(closed.status)
        assert tight.status == closed.status == default.status
        if closed.x is None:
            continue
        worst["p1_tight"] = max(worst["p1_tight"], float(np.abs(closed.x - tight.x).max()))
        worst["p1_default"] = max(worst["p1_default"], float(np.abs(closed.x - default.x).max()))
        if closed.t_star <= 0:
            continue
        args = (closed.x, vec.v_eff, vec.roi_trailing, elig.e2, elig.max_gate, k, budget, budget, HEAD)
        p2, p2_conic = phase2(*args), solver.phase2(*args, tight=True)
        _assert_phase2_close(p2, p2_conic, 1e-6)
        if p2.x is not None:
            worst["p2"] = max(worst["p2"], float(np.abs(p2.x - p2_conic.x).max()))
            tokens = allocate(closed, p2, k, vec.v_eff, HEAD)
            conic_tokens = allocate(closed, p2_conic, k, vec.v_eff, HEAD)
            worst["tokens"] = max(worst["tokens"], float(np.abs(tokens - conic_tokens).max()) / max(budget, 1e-9))
    print(worst)  # recorded in the closing note of the issue that added this check
    assert statuses >= {"optimal", "infeasible"}
    assert worst["p1_tight"] < 2e-5 and worst["p1_default"] < 1e-3
    assert worst["p2"] < 1e-6 and worst["tokens"] < 1e-4, worst


def test_seed_excerpt_closed_forms_match_clarabel_by_objective_on_210_pools():
    for vec, elig, k, budget in cases(210, SEED):
        closed = phase1_seed(vec.v_b, vec.v_eff, vec.roi_trailing, elig.e1, k, budget, SEED)
        conic = solver.phase1(vec, elig, k, budget, SEED, tight=True)
        assert closed.status == conic.status == "optimal"
        # the closed form is feasible and its objective at least the solver's (to the solver's tolerance)
        assert k * vec.v_eff @ closed.x <= budget * (1 + 1e-12) + 1e-12
        assert np.all(closed.x <= np.minimum(1, elig.e1) + 1e-12) and np.all(closed.x >= 0)
        assert vec.v_b @ closed.x >= vec.v_b @ conic.x - 1e-6 * max(1.0, vec.v_b @ conic.x)
        if closed.t_star <= 0:
            continue
        args = (closed.x, vec.v_eff, vec.roi_trailing, elig.e2, None, k, budget, budget)
        _assert_phase2_close(phase2(*args, SEED), solver.phase2(*args, SEED, tight=True), 1e-6)


def test_phase2_fixed_mode_drops_the_dust_floor_like_the_solver():
    x1 = np.array([0.001, 0.001, 0.3])
    v_eff = np.array([5e5, 5e5, 10.0])
    args = (x1, v_eff, np.array([0.1, 0.0, 0.2]), np.ones(3), np.array([0.001, 0.001, 1.0]), 0.01, 1.0, None)
    fixed = AlmanacParams(mode="fixed")
    closed, conic = phase2(*args, fixed), solver.phase2(*args, fixed, tight=True)
    assert closed.dust_dropped and conic.dust_dropped
    np.testing.assert_allclose(closed.x, conic.x, atol=1e-7)
    assert solver.phase2(*args, HEAD).status == "infeasible" == phase2(*args, HEAD).status


def test_the_looped_and_vectorised_formulations_agree():
    vec, elig, k, budget = instance(np.random.default_rng(3), "cap", "miner", HEAD)
    looped = solver.phase1(vec, elig, k, budget, HEAD, tight=True, vectorised=False)
    vectorised = solver.phase1(vec, elig, k, budget, HEAD, tight=True)
    np.testing.assert_allclose(looped.x, vectorised.x, atol=1e-7)
    problem, _ = solver.phase1_problem(vec, elig, k, budget, HEAD)
    assert len(problem.constraints) == 7  # one constraint per vector, whatever n


@pytest.mark.parametrize("variant", ["head", "seed_excerpt"])
def test_the_solver_setting_scores_a_snapshot_like_the_closed_forms(variant):
    today = dt.date(2026, 12, 5)
    snap = generate_snapshot(5, today, miners=TraderMix(), epoch_budget=500.0)
    commitments = {int(k): v for k, v in snap["commitments"].items()}
    params = AlmanacParams(variant=variant)
    closed = score_snapshot(snap["data"], snap["all_uids"], snap["all_hotkeys"], commitments, 500.0, today, params)
    conic = score_snapshot(snap["data"], snap["all_uids"], snap["all_hotkeys"], commitments, 500.0, today,
                           replace(params, solver="cvxpy"))
    for a, b in ((closed.miner, conic.miner), (closed.gp, conic.gp)):
        assert a.sol1.status == b.sol1.status and a.sol2.status == b.sol2.status
        assert a.tokens.sum() > 0
        if variant == "head":  # the seed excerpt's Phase 1 is not unique: its tokens may differ
            np.testing.assert_allclose(a.tokens, b.tokens, atol=1e-4 * a.budget)
    if variant == "head":
        assert max(abs(closed.weights[u] - conic.weights[u]) for u in closed.weights) < 1e-5
