"""Almanac (SN41) scoring at production scale: 256 miners × 10 000 general-pool traders, one core.

The records are in memory as `json.loads` returns them. Reported: the matrices (checking the records
and building both pools' epoch matrices), each phase of each pool, and the whole scoring, each with
its time and peak traced memory; then the same phases as the reference shapes them (cvxpy with one
constraint per entity, solved by CLARABEL since ECOS is not installed) and as one vectorised program.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import time
import tracemalloc
from typing import Any, Callable

from benchmarks.common import machine, pin_to_one_core
from devnet.almanac.trades import GP_MIX, TraderMix, generate_snapshot
from mechanisms.almanac import solver
from mechanisms.almanac.matrices import build_epoch_matrices
from mechanisms.almanac.params import AlmanacParams
from mechanisms.almanac.phases import phase2
from mechanisms.almanac.pool import eligibility, kappa, pool_vectors
from mechanisms.almanac.records import parse_trades
from mechanisms.almanac.scoring import _closed_phase1, budgets, score_snapshot

TODAY = dt.date(2026, 12, 5)


def _measure(fn: Callable[[], Any], repeat: int = 1) -> tuple[Any, dict[str, float]]:
    """Best of `repeat` wall times, and the peak traced memory of one run."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, {"seconds": round(best, 5), "peak_traced_mib": round(peak / 2**20, 2)}


def run(scale: float = 1.0) -> dict[str, Any]:
    pin_to_one_core()
    miners, traders = max(8, round(256 * scale)), max(40, round(10_000 * scale))
    t0 = time.perf_counter()
    snap = generate_snapshot(7, TODAY, miners=TraderMix().scaled(miners), gp=GP_MIX.scaled(traders),
                             trades_per_day=1.55, n_uids=max(256, miners + 2), epoch_budget=50_000.0)
    snap = json.loads(json.dumps(snap))  # records laid out in memory as a parsed API response is
    generate_s = time.perf_counter() - t0
    data, uids, hotkeys = snap["data"], snap["all_uids"], snap["all_hotkeys"]
    commitments = {int(k): v for k, v in snap["commitments"].items()}
    params = AlmanacParams()

    def matrices():
        trades = parse_trades(data)
        return (build_epoch_matrices(trades, uids, hotkeys, "miner", TODAY, params),
                build_epoch_matrices(trades, uids, hotkeys, "gp", TODAY, params))

    (miner_m, gp_m), matrices_fig = _measure(matrices, repeat=3)
    pool_budgets = budgets(float(miner_m.fees[-1].sum()), float(gp_m.fees[-1].sum()), 50_000.0, params)
    phases, reference, vectorised = {}, {}, {}
    for name, m, budget in (("miner", miner_m, pool_budgets.miner), ("gp", gp_m, pool_budgets.gp)):
        vec, k = pool_vectors(m, params), kappa(m, params)
        elig = eligibility(vec, m.pool, params)
        sol1, p1 = _measure(lambda: _closed_phase1(vec, elig, k, budget, params), repeat=5)
        args = (sol1.x, vec.v_eff, vec.roi_trailing, elig.e2, elig.max_gate, k, budget, budget, params)
        _, p2 = _measure(lambda: phase2(*args), repeat=5)
        phases[name] = {"entities": m.n, "phase1": p1, "phase2": p2}
        # the same pool with half of what Phase 1 spent as its budget, so the level and the price bisect
        tight = 0.5 * k * float(vec.v_b @ sol1.x)
        sol1t, p1t = _measure(lambda: _closed_phase1(vec, elig, k, tight, params), repeat=5)
        _, p2t = _measure(lambda: phase2(sol1t.x, vec.v_eff, vec.roi_trailing, elig.e2, elig.max_gate, k, tight,
                                         tight, params), repeat=5)
        phases[name]["budget_binding"] = {"phase1": p1t, "phase2": p2t, "level": sol1t.level}
        for figures, looped in ((reference, True), (vectorised, False)):
            t0 = time.perf_counter()
            conic1 = solver.phase1(vec, elig, k, budget, params, vectorised=not looped)
            t1 = time.perf_counter()
            solver.phase2(conic1.x, vec.v_eff, vec.roi_trailing, elig.e2, elig.max_gate, k, budget, budget, params)
            t2 = time.perf_counter()
            figures[name] = {"phase1_seconds": round(t1 - t0, 3), "phase2_seconds": round(t2 - t1, 3)}
    result, whole = _measure(lambda: score_snapshot(data, uids, hotkeys, commitments, 50_000.0, TODAY, params),
                             repeat=3)
    phases_of = lambda figs: sum(v["phase1_seconds"] + v["phase2_seconds"] for v in figs.values())  # noqa: E731
    reference_total = matrices_fig["seconds"] + phases_of(reference)
    return {
        "benchmark": "almanac",
        "machine": machine(),
        "cores_used": 1,
        "miners": miner_m.n,
        "gp_traders": gp_m.n,
        "trades": len(data),
        "generate_seconds": round(generate_s, 1),
        "matrices": matrices_fig,
        "phases": phases,
        "whole_scoring": whole,
        "target_whole_seconds": 0.8,
        "reference_shape_cvxpy": {**reference, "with_matrices_seconds": round(reference_total, 2)},
        "vectorised_cvxpy": vectorised,
        "speedup_vs_reference_shape": round(reference_total / whole["seconds"], 1),
        "statuses": {p.matrices.pool: [p.sol1.status, p.sol2.status] for p in (result.miner, result.gp)},
        "process_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
