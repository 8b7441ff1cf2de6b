"""Almanac §5–§13 on arrays: the golden examples of almanac_sn41.md §16 and every branch around them."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from mechanisms.almanac.matrices import EpochMatrices
from mechanisms.almanac.params import AlmanacParams
from mechanisms.almanac.phases import phase1_head, phase1_seed, phase2
from mechanisms.almanac.pool import eligibility, kappa, pool_vectors
from mechanisms.almanac.scoring import allocate, budgets, fee_floor, score_pool
from mechanisms.almanac.weights import form_weights, verify_profiles

HEAD = AlmanacParams()
SEED = AlmanacParams(variant="seed_excerpt")
FIXED = AlmanacParams(mode="fixed")

# Example A (§16): four miner entities, κ = 0.01, B = 30
A_VB_RAW = np.array([1000.0, 400.0, 0.0, 2500.0])
A_VMEM = np.array([5000.0, 3000.0, 2000.0, 6000.0])
A_ROI = np.array([0.05, 0.10, 0.02, 0.01])
A_VEFF = HEAD.alpha * A_VB_RAW + (1 - HEAD.alpha) * A_VMEM
ONES = np.ones(4)


def test_example_a_effective_volume_and_gate():
    assert HEAD.alpha == pytest.approx(0.8695652173913044, abs=1e-15)
    np.testing.assert_allclose(A_VEFF, [1521.739130435, 739.130434783, 260.869565217, 2956.521739130], atol=1e-9)


def example_a(params: AlmanacParams = HEAD):
    v_b = np.maximum(A_VB_RAW, 1e-12)
    gate = np.where(A_VB_RAW >= 1, 1.0, 0.001)
    sol1 = phase1_head(v_b, A_ROI, ONES, gate, 0.01, 30.0, params)
    sol2 = phase2(sol1.x, A_VEFF, A_ROI, ONES, gate, 0.01, 30.0, 30.0, params)
    return sol1, sol2


def test_example_a_diversity_caps_bind_then_the_phase2_cap():
    sol1, sol2 = example_a()
    assert sol1.status == "optimal" and sol1.level == 1.0
    np.testing.assert_allclose(sol1.x, [0.18, 0.45, 0.001, 0.072], rtol=1e-12)
    assert sol2.payout == pytest.approx(8.196521739130432, rel=1e-12)
    assert sol2.mu == pytest.approx(0.001097914630172685, rel=1e-9)
    np.testing.assert_allclose(sol2.x, [0.182329260, 0.458188498, 0.001, 0.068753992], atol=1e-9)
    tokens = allocate(sol1, sol2, 0.01, A_VEFF, HEAD)
    np.testing.assert_allclose(tokens, [2.774575701, 3.386610637, 0.002608696, 2.032726706], atol=1e-9)
    assert tokens.sum() == pytest.approx(8.196521739, abs=1e-9)


def test_example_a_weights():
    _, sol2 = example_a()
    tokens = allocate(None, sol2, 0.01, A_VEFF, HEAD)
    uids = [3, 5, 8, 13]
    w = form_weights(uids, tokens, 20.0, 100.0, [], list(range(256)), HEAD)
    np.testing.assert_allclose([w[u] for u in uids], [0.048555075, 0.059265686, 0.000045652, 0.035572717],
                               atol=1e-9)
    assert w[210] == pytest.approx(0.856560870, abs=1e-9)
    assert sum(w.values()) == pytest.approx(1.0, abs=1e-12)
    assert all(v == 0 for u, v in w.items() if u not in uids + [210])


def test_example_b_budget_binds_at_a_common_level():
    v = np.full(20, 100.0)
    roi = 0.01 * np.arange(20)
    e, gate = np.ones(20), np.ones(20)
    sol1 = phase1_head(v, roi, e, gate, 0.01, 15.0, HEAD)
    assert sol1.level == pytest.approx(0.75, abs=1e-12)
    np.testing.assert_allclose(sol1.x, 0.75, atol=1e-12)
    sol2 = phase2(sol1.x, v, roi, e, gate, 0.01, 15.0, 15.0, HEAD)
    assert sol2.payout == pytest.approx(15.0, abs=1e-12)
    assert sol2.mu == pytest.approx(0.085, abs=1e-12)
    np.testing.assert_allclose(sol2.x, 0.7405 + 0.001 * np.arange(20), atol=1e-12)
    np.testing.assert_allclose(allocate(sol1, sol2, 0.01, v, HEAD), sol2.x, atol=1e-12)


def test_seed_excerpt_example_a():
    v_b = np.maximum(A_VB_RAW, 1e-12)
    sol1 = phase1_seed(v_b, A_VEFF, A_ROI, ONES, 0.01, 30.0, SEED)
    np.testing.assert_allclose(sol1.x, [0.118285714, 0.243529412, 0.69, 0.060882353], atol=1e-9)
    sol2 = phase2(sol1.x, A_VEFF, A_ROI, ONES, None, 0.01, 30.0, 30.0, SEED)
    assert sol2.payout == pytest.approx(7.2, abs=1e-12)
    assert sol2.mu == pytest.approx(0.0011138646, abs=1e-10)
    np.testing.assert_allclose(sol2.x, [0.120590703, 0.251706121, 0.690709427, 0.057589188], atol=1e-9)
    np.testing.assert_allclose(allocate(sol1, sol2, 0.01, A_VEFF, SEED),
                               [1.835075914, 1.860436543, 1.801850678, 1.702636864], atol=1e-9)


def test_seed_excerpt_knapsack_fills_by_ratio_and_splits_a_tied_margin():
    # ratios v_b/(κ v_eff): 100, 50, 50, 25 (κ = 0.01); costs κ·v_eff: 1, 2, 2, 4; budget 3 + the cap
    v_b = np.array([1.0, 1.0, 1.0, 1.0])
    v_eff = np.array([100.0, 200.0, 200.0, 400.0])
    p = AlmanacParams(variant="seed_excerpt", rho_cap=1.0)
    sol = phase1_seed(v_b, v_eff, np.zeros(4), np.ones(4), 0.01, 3.0, p)
    # the first fills (cost 1); the tied pair shares the remaining 2 at level 0.5; the last gets 0
    np.testing.assert_allclose(sol.x, [1.0, 0.5, 0.5, 0.0], atol=1e-12)
    assert 0.01 * v_eff @ sol.x == pytest.approx(3.0, abs=1e-12)


def test_seed_excerpt_knapsack_with_room_for_everyone_opens_all():
    sol = phase1_seed(np.array([5.0, 0.0 + 1e-12]), np.array([5.0, 3.0]), np.zeros(2), np.ones(2), 0.01, 100.0,
                      AlmanacParams(variant="seed_excerpt", rho_cap=1.0))
    np.testing.assert_allclose(sol.x, [1.0, 1.0])


def test_phase1_infeasible_when_the_dust_floors_exceed_the_budget():
    v_b = np.array([1e6, 10.0])
    sol = phase1_head(v_b, np.zeros(2), np.ones(2), np.ones(2), 0.01, 1.0, HEAD)  # κ·1e6·0.001 = 10 > 1
    assert sol.status == "infeasible" and sol.x is None
    zero_budget = phase1_head(np.array([1e-12]), np.zeros(1), np.ones(1), np.array([0.001]), 0.01, 0.0, HEAD)
    assert zero_budget.status == "infeasible"
    nobody = phase1_head(np.array([5.0]), np.zeros(1), np.zeros(1), np.ones(1), 0.01, 0.0, HEAD)
    assert nobody.status == "optimal" and nobody.t_star == 0.0


def test_phase2_dust_floor_above_the_cap():
    # x1 = dust for both, but Phase 2 eligibility prices on v_eff: c·lo = κ·Σv_eff·0.001 > cap = B
    x1 = np.array([0.001, 0.001])
    v_eff = np.array([5e5, 5e5])
    args = (x1, v_eff, np.array([0.1, 0.0]), np.ones(2), np.array([0.001, 0.001]), 0.01, 1.0, None)
    compat = phase2(*args, HEAD)
    assert compat.status == "infeasible" and compat.x is None and compat.payout == 1.0
    # compat pays Phase 1's gates with the cap, as the reference falls back
    sol1 = phase1_head(np.array([1.0, 1.0]), np.zeros(2), np.ones(2), np.ones(2), 0.01, 1.0, HEAD)
    np.testing.assert_allclose(allocate(sol1, compat, 0.01, v_eff, HEAD).sum(), 1.0)
    fixed = phase2(*args, FIXED)
    assert fixed.status == "optimal" and fixed.dust_dropped
    assert 0.01 * v_eff @ fixed.x == pytest.approx(1.0, rel=1e-12)
    assert fixed.x[0] > fixed.x[1]  # the ROI above κ keeps more


def matrices(volume, profit, fees=None, qualified=None, trade_count=None, pool="miner") -> EpochMatrices:
    volume = np.asarray(volume, dtype=float)
    rows, n = volume.shape
    start = dt.date(2026, 11, 1)
    return EpochMatrices(
        pool=pool, epoch_dates=tuple(start + dt.timedelta(days=i) for i in range(rows)), entities=list(range(n)),
        volume=volume, qualified=volume * 0.5 if qualified is None else np.asarray(qualified, float),
        unqualified=volume * 0.5, profit=np.asarray(profit, dtype=float),
        fees=volume * 0.01 if fees is None else np.asarray(fees, float),
        trade_count=(volume > 0).astype(float) * 2 if trade_count is None else np.asarray(trade_count, float),
        correct_count=(volume > 0).astype(float))


def test_kappa_checks():
    four = matrices(np.full((4, 2), 100.0), np.full((4, 2), 10.0))
    assert kappa(four, HEAD) == 0.03  # fewer than 5 rows: the fallback, unscaled
    q = np.zeros((30, 1))
    q[:2] = 10_000.0
    two_active = matrices(np.full((30, 1), 100.0), np.where(q > 0, 500.0, -1.0), qualified=q)
    assert kappa(two_active, HEAD) == 0.03  # fewer than 3 active epochs
    golden = matrices(np.full((30, 2), 100.0), np.full((30, 2), 250.0), qualified=np.full((30, 2), 5_000.0))
    assert kappa(golden, HEAD) == pytest.approx(0.025, rel=1e-12)  # κ_stat = 0.01·300 000/15 000 = 0.2


def test_vectors_and_eligibility_of_each_pool_and_variant():
    volume = np.zeros((30, 5))
    volume[[5, 10, 15, 28, 29], 0] = 100.0  # trades yesterday
    volume[[5, 10, 15, 25], 1] = 100.0      # last trade 5 days ago: dusted at head
    volume[[1, 2, 3, 5], 2] = 100.0         # last trade 25 days ago: inactive at head
    volume[[28, 29], 3] = 100.0             # only two days: no build-up
    volume[[10, 20, 29], 4] = 100.0         # loses: ROI below 0
    profit = volume * 0.1
    profit[:, 4] = -volume[:, 4] * 0.1
    m = matrices(volume, profit)
    vec = pool_vectors(m, HEAD)
    expected_memory = sum(0.85 ** (29 - e) * volume[e] for e in range(30))
    np.testing.assert_allclose(vec.v_memory, expected_memory, rtol=1e-12)
    np.testing.assert_allclose(vec.v_eff, HEAD.alpha * volume[29] + (1 - HEAD.alpha) * expected_memory, rtol=1e-12)
    np.testing.assert_allclose(vec.roi_trailing, [0.1, 0.1, 0.1, 0.1, -0.1], rtol=1e-12)
    assert vec.build_up.tolist() == [True, True, True, False, True]
    head = eligibility(vec, "miner", HEAD)
    assert head.e1.tolist() == [1, 1, 0, 0, 0] and head.max_gate.tolist() == [1, 0.001, 0.001, 1, 1]
    seed = eligibility(vec, "miner", SEED)
    assert seed.e1.tolist() == [1, 1, 1, 0, 0] and seed.max_gate is None
    assert seed.e2.tolist() == [1, 1, int(vec.v_eff[2] >= 1), 0, 0]
    gp = eligibility(vec, "gp", HEAD)
    assert gp.e1.tolist() == [1, 0, 0, 0, 0] == gp.e2.tolist()


def test_a_pool_without_entities_is_empty():
    m = matrices(np.zeros((30, 0)), np.zeros((30, 0)))
    result = score_pool(m, 10.0, 10.0, HEAD)
    assert result.sol1.status == "empty" and result.sol2.status == "not_run"
    assert result.kappa is None and result.tokens.shape == (0,)


def test_budgets_dynamic_static_and_the_boost_that_never_pays():
    assert budgets(12.0, 30.0, 1000.0, HEAD) == budgets(12.0, 30.0, 1000.0, HEAD)
    dyn = budgets(12.0, 30.0, 1000.0, HEAD)
    assert (dyn.miner, dyn.miner_max, dyn.gp) == (12.0, 12.0, 30.0)
    boosted = budgets(12.0, 30.0, 1000.0, AlmanacParams(miner_budget_boost=0.5))
    assert boosted.miner_max == 18.0 and boosted.miner == 12.0
    assert budgets(12.0, 30.0, 40.0, AlmanacParams(miner_budget_boost=0.5)).miner_max == 12.0
    static = budgets(12.0, 30.0, 1000.0, AlmanacParams(static_weighting=True))
    assert (static.miner, static.gp, static.miner_max) == (500.0, 500.0, 125.0)


def test_fee_floor_lifts_a_loser_with_a_profitable_history_and_rescales():
    volume = np.full((30, 3), 100.0)
    profit = np.full((30, 3), 5.0)
    profit[-1] = [-20.0, 3.0, -20.0]  # 0 and 2 lose yesterday; 1 wins
    profit[:-1, 2] = -1.0             # 2's history is not profitable: no floor
    m = matrices(volume, profit, fees=np.full((30, 3), 10.0))
    result = dataclasses.replace(score_pool(m, 30.0, 30.0, HEAD), tokens=np.array([0.5, 4.0, 0.0]))
    lifted = fee_floor(result, 30.0, HEAD)
    np.testing.assert_allclose(lifted.tokens, [7.0, 4.0, 0.0])  # 0.7 × yesterday's fees of 10
    assert lifted.floored == (0,)
    tight = fee_floor(result, 5.0, HEAD)  # floors above the budget: everyone scaled back to it
    np.testing.assert_allclose(tight.tokens, np.array([7.0, 4.0, 0.0]) * 5.0 / 11.0)
    assert fee_floor(result, 30.0, SEED) is result  # the seed excerpt has no floor
    one_day = matrices(volume[-1:], profit[-1:], fees=np.full((1, 3), 10.0))
    short = dataclasses.replace(score_pool(one_day, 30.0, 30.0, HEAD), tokens=np.zeros(3))
    assert fee_floor(short, 30.0, HEAD).tokens.tolist() == [0.0, 0.0, 0.0]  # no history before the day


def test_verify_profiles():
    profiles = {3: "0xabcdef", 4: "0xabcdef,0x123456", 5: "0x99999", 6: "0xabcdef", 7: "0xabcdef"}
    commitments = {3: "0xabc", 4: "0xabc", 5: "0xabc", 6: None, 7: "  "}
    failed = verify_profiles(profiles, commitments)
    assert list(failed) == [4, 5, 6, 7]
    assert verify_profiles({3: "0xabcdef"}, {3: "0XABC"}) == {}  # both sides lower-case


def test_weights_without_boost_room_renormalise_and_a_miner_at_the_burn_uid_is_overwritten():
    # fees above the day's emission: no boost, burn clipped at 0, renormalised
    w = form_weights([1, 2], np.array([80.0, 40.0]), 30.0, 100.0, [], [0, 1, 2, 210], HEAD)
    assert w[210] == 0.0 and w[1] == pytest.approx(2 / 3) and w[2] == pytest.approx(1 / 3)
    w = form_weights([210, 2], np.array([10.0, 10.0]), 0.0, 100.0, [], [2, 210], HEAD)
    assert w[210] == pytest.approx(1 - 1.75 * 0.1) and w[2] == pytest.approx(1.75 * 0.1)
    w = form_weights([1, 2], np.array([10.0, 10.0]), 0.0, 100.0, [2], [1, 2, 210], HEAD)
    assert w[2] == 0.0 and w[1] == pytest.approx(0.175)
    # the burn uid outside the metagraph: its share is dropped and the miners renormalised
    w = form_weights([1, 2], np.array([10.0, 30.0]), 0.0, 100.0, [], [1, 2], HEAD)
    assert w == {1: pytest.approx(0.25), 2: pytest.approx(0.75)}
    static = form_weights([1], np.array([10.0]), 0.0, 100.0, [], [1, 210], AlmanacParams(static_weighting=True))
    # compat: the GP weight is 0.5·U (a bug kept for fidelity), which leaves no excess to boost miners
    assert static[1] == pytest.approx(0.1) and static[210] == pytest.approx(0.9)
    fixed = form_weights([1], np.array([10.0]), 0.0, 100.0, [], [1, 210],
                         AlmanacParams(static_weighting=True, mode="fixed"))
    assert fixed[1] == pytest.approx(0.175 / (0.175 + 0.825)) and fixed[210] == pytest.approx(0.825)


def test_weights_stay_finite_when_the_day_is_worth_almost_nothing():
    w = form_weights([1, 2, 3], np.array([10.0, 30.0, 5.0]), 7.0, 1e-320, [3], [1, 2, 3, 210], HEAD)
    assert w == {1: pytest.approx(0.25), 2: pytest.approx(0.75), 3: 0.0, 210: 0.0}
    assert form_weights([1], np.array([0.0]), 0.0, 1e-320, [], [1, 210], HEAD) == {1: 0.0, 210: 1.0}


def test_one_entity_whose_cap_is_below_the_dust_floor_makes_phase1_infeasible_unless_relieved():
    # entity 0 trades so much that ρB/(κ·v_b) < 0.001; the others are ordinary
    v_b = np.array([1e9, 100.0, 200.0, 300.0])
    args = (v_b, np.full(4, 0.05), np.ones(4), np.ones(4), 0.01, 50.0)
    assert phase1_head(*args, HEAD).status == "infeasible"
    relieved = phase1_head(*args, AlmanacParams(relieve_dust=True))
    assert relieved.status == "optimal" and relieved.dust_relieved
    assert relieved.x[0] == pytest.approx(0.06 * 50.0 / (0.01 * 1e9))  # pinned at its own cap
    assert np.all(relieved.x[1:] == 1.0)  # the others are funded as if it were not there
    assert 0.01 * v_b @ relieved.x <= 50.0 + 1e-9
