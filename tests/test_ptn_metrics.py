"""PTN metrics, score combination and penalties (ptn.md §5–§8, §11, §12).

The §12 golden numbers are checked as printed in the spec; every other expected value is worked out
here in plain Python from the formulas (the arithmetic is in the code or the comments), never read
back from the functions under test.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mechanisms.ptn.config import METRICS, PTNConfig, v0, v1_proposal, v3
from mechanisms.ptn.metrics import (
    calmar,
    decay_weights,
    dynamic_min_days,
    miner_metrics,
    omega,
    pnl_metric,
    sharpe,
    sortino,
    t_stat,
    weighted_mean,
    weighted_variance,
)
from mechanisms.ptn.penalties import (
    collateral_penalty,
    drawdown_penalty,
    risk_profile_flag,
    risk_profile_penalty,
    risk_profile_score,
)
from mechanisms.ptn.scoring import combine, percentiles, softmax

V1 = v1_proposal()
FIXED = V1.with_fixes()
R5 = [0.01, -0.02, 0.03, 0.0, 0.01]  # the §5 small example
CRYPTO = (0.01, 0.5)


def hand_weights(n: int, rate: float = 0.075, floor: float = 0.15) -> list[float]:
    return [floor + (1 - floor) * math.exp(-rate * (n - 1 - i)) for i in range(n)]


def hand_mean(x: list[float], w: list[float]) -> float:
    return sum(a * b for a, b in zip(x, w)) / sum(w)


def hand_var(x: list[float], w: list[float]) -> float:
    mu = hand_mean(x, w)
    return sum(b * (a - mu) ** 2 for a, b in zip(x, w)) / sum(w)


# --- §5 recency weights --------------------------------------------------------------------------

@pytest.mark.parametrize("rate, floor, n, total, last10, last30, last70, oldest50, oldest", [
    (0.08, 0.40, 90, 43.798173, 0.1894, 0.4360, 0.8168, 0.4638, 0.400485),      # V0
    (0.075, 0.15, 120, 29.762194, 0.2589, 0.5048, 0.7460, 0.2540, 0.150113),    # V1
    (0.075, 0.045, 120, 18.615170, 0.3988, 0.7077, 0.8755, 0.1245, 0.045127),   # PnL from 2025-10-08
])
def test_decay_shares_golden(rate, floor, n, total, last10, last30, last70, oldest50, oldest):
    w = decay_weights(n, rate, floor)
    s = w.sum()
    assert s == pytest.approx(total, abs=1e-6)
    assert w[-10:].sum() / s == pytest.approx(last10, abs=5e-5)
    assert w[-30:].sum() / s == pytest.approx(last30, abs=5e-5)
    assert w[-70:].sum() / s == pytest.approx(last70, abs=5e-5)
    assert w[:50].sum() / s == pytest.approx(oldest50, abs=5e-5)
    assert w[0] == pytest.approx(oldest, abs=1e-6)
    assert w[-1] == 1.0 and np.all(np.diff(w) > 0)


def test_decay_weights_follow_the_configs():
    assert decay_weights(90, v0().decay_rate, v0().decay_floor).sum() == pytest.approx(43.798173, abs=1e-6)
    assert decay_weights(120, v3().decay_rate, v3().pnl_decay_floor).sum() == pytest.approx(18.615170, abs=1e-6)
    assert decay_weights(0, 0.075, 0.15).size == 0
    assert decay_weights(1, 0.075, 0.15).tolist() == [1.0]


def test_small_example_weights_mean_variance():
    w = decay_weights(5, V1.decay_rate, V1.decay_floor)
    assert w == pytest.approx([0.779695, 0.828739, 0.881602, 0.938582, 1.0], abs=1e-6)
    assert weighted_mean(np.array(R5), w) == pytest.approx(0.006248051, abs=1e-9)
    assert weighted_variance(np.array(R5), w) == pytest.approx(0.000255163, abs=1e-9)
    assert weighted_mean(np.zeros(0), np.zeros(0)) == 0.0
    assert weighted_variance(np.zeros(0), np.zeros(0)) == 0.0


# --- §6 daily risk-free rates --------------------------------------------------------------------

def test_daily_risk_free_golden():
    assert V1.daily_risk_free("crypto") == pytest.approx(1.124547e-4, abs=1e-10)
    low = dataclasses.replace(V1, risk_free_rate=0.0389)
    assert low.daily_risk_free("crypto") == pytest.approx(1.045547e-4, abs=1e-10)
    assert v3().daily_risk_free("forex") == pytest.approx(1.514383e-4, abs=1e-10)


# --- §6 worked examples, one per metric ----------------------------------------------------------

def test_sharpe_worked_example():
    w = hand_weights(5)
    mu, var = hand_mean(R5, w), hand_var(R5, w)
    # the annual rf itself is subtracted, not ln(1 + rf)
    expected = (mu * 365 - 0.0419) / max(math.sqrt(var * 365), 0.01)
    assert sharpe(np.array(R5), V1) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx((0.006248051 * 365 - 0.0419) / math.sqrt(0.000255163 * 365), rel=1e-5)


def test_sharpe_uses_the_category_year_and_the_volatility_floor():
    cfg = v3()  # forex: 252 days
    w = hand_weights(5)
    expected = (hand_mean(R5, w) * 252 - 0.0389) / math.sqrt(hand_var(R5, w) * 252)
    assert sharpe(np.array(R5), cfg, "forex") == pytest.approx(expected, rel=1e-12)
    flat = np.full(10, 0.001)  # no volatility: the 0.01 floor applies
    assert sharpe(flat, V1) == pytest.approx((0.001 * 365 - 0.0419) / 0.01, rel=1e-9)
    assert sharpe(np.array([0.05]), V1) == 0.0  # one day: volatility ∞ in the reference


def test_sortino_worked_example():
    w = hand_weights(5)
    rf_d = math.log(1.0419) / 365
    down = [i for i, x in enumerate(R5) if x < rf_d]
    assert down == [1, 3]  # −0.02 and 0.0 (0 is below the daily risk-free rate)
    xd, wd = [R5[i] for i in down], [w[i] for i in down]
    expected = (hand_mean(R5, w) * 365 - 0.0419) / max(math.sqrt(hand_var(xd, wd) * 365), 0.01)
    assert sortino(np.array(R5), V1) == pytest.approx(expected, rel=1e-12)


def test_sortino_quirk_and_fix():
    gains = np.array([0.01, 0.02, 0.005, 0.01])  # no downside day at all
    assert sortino(gains, V1) == 0.0
    mu = hand_mean(gains.tolist(), hand_weights(4))
    assert sortino(gains, FIXED) == pytest.approx((mu * 365 - 0.0419) / 0.01, rel=1e-12)
    one_loss = np.array([0.01, -0.02, 0.005, 0.01])
    assert sortino(one_loss, V1) == 0.0
    mu = hand_mean(one_loss.tolist(), hand_weights(4))
    assert sortino(one_loss, FIXED) == pytest.approx((mu * 365 - 0.0419) / 0.01, rel=1e-12)


def test_omega_worked_example():
    w = hand_weights(5)
    pos = w[0] * 0.01 + w[2] * 0.03 + w[4] * 0.01
    neg = w[1] * -0.02 + w[3] * 0.0          # r ≤ 0 counts as a loss day
    w_pos, w_neg = w[0] + w[2] + w[4], w[1] + w[3]
    expected = pos * w_neg / max(abs(neg) * w_pos, 0.01)
    assert omega(np.array(R5), V1) == pytest.approx(expected, rel=1e-12)
    # all gains: the loss side is floored on the products (|N|·W⁺ = 0 → 0.01, W⁻ = 0 → 0.01)
    g = [0.01, 0.02]
    wg = hand_weights(2)
    assert omega(np.array(g), V1) == pytest.approx((wg[0] * 0.01 + wg[1] * 0.02) * 0.01 / 0.01, rel=1e-12)
    assert omega(np.array([-0.01, -0.02]), V1) == 0.0


def test_calmar_worked_example():
    mu = hand_mean(R5, hand_weights(5))
    assert calmar(np.array(R5), 4.0, V1) == pytest.approx(100 * mu * 365 / 4.0, rel=1e-12)
    assert calmar(np.array(R5), 4.0, v3(), "forex") == pytest.approx(100 * mu * 252 / 4.0, rel=1e-12)


def test_calmar_quirk_and_fix():
    r = np.array(R5)
    base = 100 * hand_mean(R5, hand_weights(5)) * 365
    assert calmar(r, 0.0, V1) == 0.0                       # flawless miner scores 0 (quirk)
    assert calmar(r, 0.0, FIXED) == pytest.approx(base / 0.5, rel=1e-12)
    assert calmar(r, 0.3, V1) == pytest.approx(base / 0.3, rel=1e-12)
    assert calmar(r, 0.3, FIXED) == pytest.approx(base / 0.5, rel=1e-12)
    assert calmar(r, 2.0, FIXED) == pytest.approx(base / 2.0, rel=1e-12)
    for cfg in (V1, FIXED):
        assert calmar(r, 10.0, cfg) == 0.0
        assert calmar(r, 9.99, cfg) == pytest.approx(base / 9.99, rel=1e-12)
        assert calmar(r, float("nan"), cfg) == cfg.gated_value


def test_t_stat_worked_example():
    n = len(R5)
    mean = sum(R5) / n
    s = math.sqrt(sum((x - mean) ** 2 for x in R5) / (n - 1))
    assert t_stat(np.array(R5)) == pytest.approx(mean / (s / math.sqrt(n)), rel=1e-12)
    assert t_stat(np.full(30, 0.002)) == -100.0          # zero variance
    assert t_stat(np.array([1e-5, -1e-5] * 20)) == -100.0  # population variance 1e-10 ≤ 1e-8: "zero"
    assert t_stat(np.array([0.01])) == -100.0


def test_pnl_metric_worked_example():
    pnl = [100.0, -50.0, 25.0, 0.0]
    assert pnl_metric(np.array(pnl), V1) == pytest.approx(hand_mean(pnl, hand_weights(4)), rel=1e-12)
    assert pnl_metric(np.array(pnl), v3()) == pytest.approx(hand_mean(pnl, hand_weights(4, floor=0.045)),
                                                            rel=1e-12)
    assert pnl_metric(np.zeros(0), V1) == 0.0


# --- confidence gate -----------------------------------------------------------------------------

def test_confidence_gate():
    rng = np.random.default_rng(7)
    r = rng.normal(0.001, 0.01, 59)
    pnl = np.array([10.0, 20.0])
    gated = miner_metrics(r, pnl, 3.0, 60, V1)
    assert tuple(gated) == METRICS
    assert gated == {"calmar": -100.0, "sharpe": -100.0, "omega": 0.0, "sortino": -100.0, "t_stat": -100.0,
                     "pnl": pytest.approx(hand_mean([10.0, 20.0], hand_weights(2)))}
    r60 = np.append(r, 0.002)
    open_ = miner_metrics(r60, pnl, 3.0, 60, V1)
    assert open_["sharpe"] == sharpe(r60, V1) and open_["sortino"] == sortino(r60, V1)
    assert open_["calmar"] == calmar(r60, 3.0, V1) and open_["omega"] == omega(r60, V1)
    assert open_["t_stat"] == t_stat(r60) and open_["t_stat"] != -100.0
    assert miner_metrics(r60, pnl, 3.0, 7, V1) == open_
    cfg = dataclasses.replace(V1, gated_value=-7.0)
    assert miner_metrics(r[:3], pnl, 3.0, 60, cfg)["t_stat"] == -7.0
    assert miner_metrics(np.zeros(0), np.zeros(0), 0.0, 0, V1) == {
        "calmar": -100.0, "sharpe": -100.0, "omega": 0.0, "sortino": -100.0, "t_stat": -100.0, "pnl": 0.0}


def test_dynamic_min_days():
    assert dynamic_min_days([], V1) == 60
    assert dynamic_min_days([100] * 19, V1) == 7                # fewer than 20 participants
    assert dynamic_min_days([50] * 19 + [0] * 5, V1) == 7       # zero-day miners do not participate
    # 30 participants with 1…30 days: 20th longest 11, median 15.5 → 15; min 11
    assert dynamic_min_days(list(range(1, 31)), V1) == 11
    # 21 participants: 20 with 40 days, one with 5: 20th longest 40, median 40
    assert dynamic_min_days([40] * 20 + [5], V1) == 40
    # 41 participants: 20 with 50 days, 21 with 12: 20th longest 50, median 12
    assert dynamic_min_days([50] * 20 + [12] * 21, V1) == 12
    assert dynamic_min_days([200] * 25, V1) == 60                # clamped above
    assert dynamic_min_days([3] * 25, V1) == 7                   # clamped below


# --- §8 percentiles, combination, softmax --------------------------------------------------------

def test_percentile_examples():
    v = np.array([0.1, 0.5, 0.5, 0.9])
    assert percentiles(v, "rank").tolist() == [0.25, 0.625, 0.625, 1.0]
    assert percentiles(v, "strict").tolist() == [0.0, 0.25, 0.25, 0.75]
    assert percentiles(np.array([0.9, 0.1, 0.5, 0.5]), "rank").tolist() == [1.0, 0.25, 0.625, 0.625]
    for kind in ("rank", "strict"):
        assert percentiles(np.array([-3.0]), kind).tolist() == [1.0]
        assert percentiles(np.zeros(0), kind).size == 0
    with pytest.raises(ValueError):
        percentiles(v, "dense")


def test_combine_excludes_fully_penalised_miners():
    # miners 0–2 compete; miner 3 (penalty 0) has the best calmar but must not shift the percentiles
    metrics = {"calmar": np.array([1.0, 2.0, 3.0, 100.0]), "sharpe": np.array([3.0, 2.0, 1.0, 100.0]),
               "omega": np.array([1.0, 1.0, 2.0, 100.0]), "sortino": np.array([2.0, 3.0, 1.0, 100.0]),
               "t_stat": np.array([5.0, 4.0, 6.0, 100.0])}
    penalty = np.array([1.0, 0.5, 0.9, 0.0])
    third = 1 / 3
    # rank percentiles over three: calmar [⅓, ⅔, 1]; sharpe [1, ⅔, ⅓]; omega's tie (0+2+1)/6 = ½, so
    # [½, ½, 1]; sortino [⅔, 1, ⅓]; t_stat [⅔, ⅓, 1]
    p0 = third + 1 + 0.5 + 2 * third + 2 * third
    p1 = 2 * third + 2 * third + 0.5 + 1 + third
    p2 = 1 + third + 1 + third + 1
    expected = [0.2 * p0 * 1.0, 0.2 * p1 * 0.5, 0.2 * p2 * 0.9, 0.0]
    assert combine(metrics, penalty, V1) == pytest.approx(expected, abs=1e-12)
    # strict percentiles (V2 weights: pnl 0.30, others 0.14)
    cfg = dataclasses.replace(V1, percentile_kind="strict", metric_weights={
        "calmar": 0.14, "sharpe": 0.14, "omega": 0.14, "sortino": 0.14, "t_stat": 0.14, "pnl": 0.30})
    metrics["pnl"] = np.array([10.0, 30.0, 20.0, 1e9])
    s0 = 0.14 * (0 + 2 * third + 0 + third + third) + 0.30 * 0
    s1 = 0.14 * (third + third + 0 + 2 * third + 0) + 0.30 * 2 * third
    s2 = 0.14 * (2 * third + 0 + 2 * third + 0 + 2 * third) + 0.30 * third
    assert combine(metrics, penalty, cfg) == pytest.approx([s0, s1 * 0.5, s2 * 0.9, 0.0], abs=1e-12)
    with pytest.raises(ValueError):
        combine({"calmar": np.ones(4)}, penalty, V1)


@pytest.mark.parametrize("temperature, expected", [
    (0.25, [0.615223, 0.276437, 0.083261, 0.025078]),
    (0.125, [0.818415, 0.165235, 0.014990, 0.001360]),
    (0.15, [0.766812, 0.202130, 0.027355, 0.003702]),
])
def test_softmax_golden(temperature, expected):
    w = softmax(np.array([1.0, 0.8, 0.5, 0.2]), temperature, False)
    assert w == pytest.approx(expected, abs=1e-6)
    total = sum(math.exp((x - 1.0) / temperature) for x in (1.0, 0.8, 0.5, 0.2))
    assert w.sum() == pytest.approx(total / (total + 1e-6), abs=1e-15)  # the 1e-6 keeps it just below 1


def test_softmax_edges():
    assert softmax(np.zeros(0), 0.25, False).size == 0
    assert softmax(np.array([0.3]), 0.25, False).tolist() == [1.0]
    both = softmax(np.array([0.5, 0.0]), 0.25, False)
    e = math.exp(-0.5 / 0.25)
    assert both == pytest.approx([1 / (1 + e + 1e-6), e / (1 + e + 1e-6)], abs=1e-12)
    only = softmax(np.array([0.5, 0.0, 0.4]), 0.15, True)
    e = math.exp(-0.1 / 0.15)
    assert only == pytest.approx([1 / (1 + e + 1e-6), 0.0, e / (1 + e + 1e-6)], abs=1e-12)
    assert softmax(np.zeros(3), 0.15, True).tolist() == [0.0, 0.0, 0.0]


# --- §7 penalties --------------------------------------------------------------------------------

def test_drawdown_penalty():
    assert drawdown_penalty(10.0, V1) == 0.0
    assert drawdown_penalty(25.0, V1) == 0.0
    assert drawdown_penalty(9.999, V1) == 1.0
    assert drawdown_penalty(0.0, V1) == 1.0
    assert drawdown_penalty(float("nan"), V1) == 0.0


def test_risk_penalty_golden():
    assert risk_profile_penalty(np.zeros(0), np.zeros(0), V1) == pytest.approx(0.9918, abs=5e-5)
    assert risk_profile_penalty(np.array([0, 0]), np.array([1.1, 0.9]), V1) == pytest.approx(0.9918, abs=5e-5)
    assert risk_profile_penalty(np.array([1, 1]), np.array([1.1, 0.9]), V1) == pytest.approx(0.6900, abs=5e-5)
    assert 1 / (1 + math.exp(4 * (0 - 1.2))) == pytest.approx(0.9918, abs=5e-5)


def test_risk_score_weights_by_return_power():
    # one flagged loser (0.95) and one clean winner (1.05): weights 0.95^100 and 1.05^100
    a, b = 0.95 ** 100, 1.05 ** 100
    score = risk_profile_score(np.array([1, 0]), np.array([0.95, 1.05]), V1)
    assert score == pytest.approx(a / (a + b), rel=1e-9)
    assert risk_profile_penalty(np.array([1, 0]), np.array([0.95, 1.05]), V1) == pytest.approx(
        1 / (1 + math.exp(4 * (a / (a + b) - 1.2))), rel=1e-12)
    # no overflow with huge powers: 3^100 vs 1 in logs
    assert risk_profile_score(np.array([1, 0]), np.array([3.0, 1.0]), V1) == pytest.approx(1.0, abs=1e-12)
    assert risk_profile_score(np.array([1, 0]), np.array([0.0, 1.0]), V1) == pytest.approx(0.0, abs=1e-12)


MIN = 60_000
MARTINGALE = dict(ms=np.array([0, 60, 90, 300, 400]) * MIN, price=np.array([100.0, 95.0, 90.0, 85.0, 110.0]),
                  leverage=np.array([0.05, 0.1, 0.2, 0.4, 0.0]))


def flag(ms, price, leverage, closed=True, cfg=V1, bounds=CRYPTO) -> bool:
    return risk_profile_flag(np.asarray(ms), np.asarray(price), np.asarray(leverage), closed, cfg, *bounds)


def test_martingale_position_is_flagged():
    # steps: adds at 95 < 100, 90 < 97.5, 85 < 93.75 (running |Δ|-weighted entry) → 3;
    # leverage: margin (0.4 − 0.01)/0.49 = 0.80; time: gaps 60, 30, 210 min vs ideal 100 → 0.733
    assert flag(**MARTINGALE)
    assert flag(MARTINGALE["ms"][:4], MARTINGALE["price"][:4], MARTINGALE["leverage"][:4], closed=False)
    short = dict(MARTINGALE, price=np.array([100.0, 105.0, 110.0, 115.0, 90.0]), leverage=-MARTINGALE["leverage"])
    assert flag(**short)


def test_twap_position_is_not_flagged():
    # same steps and sizes, evenly spaced up to the peak: deviation 0 < 0.185
    assert not flag(np.array([0, 60, 120, 180, 400]) * MIN, MARTINGALE["price"], MARTINGALE["leverage"])
    # nearly even: gaps 60, 66, 54 vs 60 → (0 + 0.1 + 0.1)/3 = 0.067
    assert not flag(np.array([0, 60, 126, 180, 400]) * MIN, MARTINGALE["price"], MARTINGALE["leverage"])


def test_risk_flag_needs_every_group():
    ms, price, lev = MARTINGALE["ms"], MARTINGALE["price"], MARTINGALE["leverage"]
    # winning adds (price rising on a long): no step group
    assert not flag(ms, np.array([100.0, 105.0, 110.0, 115.0, 120.0]), lev)
    # small steps: margin (0.013 − 0.01)/0.49 and advancement 1.3 both below thresholds
    assert not flag(ms, price, np.array([0.01, 0.011, 0.012, 0.013, 0.0]))
    # forex bounds, so margin (0.4 − 0.1)/4.9 = 0.06 never fires; steps (two losing new highs) and time
    # (gaps 10, 90 vs 50 → 0.8) do. Closed, the closing order is left out of the advancement:
    # 0.4/0.3 = 1.33 < 1.5, not flagged. Read as open, its net 0 counts: 0.4/max(0, 0.01) = 40, flagged.
    ms4, price4, lev4 = np.array([0, 10, 100, 130]) * MIN, np.array([100.0, 95.0, 90.0, 80.0]), np.array(
        [0.3, 0.35, 0.4, 0.0])
    assert not flag(ms4, price4, lev4, closed=True, bounds=(0.1, 5.0))
    assert flag(ms4, price4, lev4, closed=False, bounds=(0.1, 5.0))


def test_risk_flag_new_highs_while_losing():
    # two losing adds that each set a new |net| high (0.2 > 0.1, 0.4 > 0.2): the second step rule fires
    # with only 2 steps; advancement 0.4/0.1 = 4; gaps 10, 90 vs ideal 50 → 0.8
    ms, price, lev = np.array([0, 10, 100]) * MIN, np.array([100.0, 90.0, 80.0]), np.array([0.1, 0.2, 0.4])
    assert flag(ms, price, lev, closed=False)
    assert not flag(ms, price, np.array([0.1, 0.2, 0.2]), closed=False)  # a single new high
    # the reference raises the mark only on a flagged order. Here a winning add takes net to 0.5 first;
    # the mark stays 0.1, so losing adds to 0.4 (95 < signed average 108) and 0.6 (90 < 104.75) are two
    # new highs. Steps against the |Δ|-weighted entry: 2 (95, 90); margin 1.2; gaps 10, 10, 10, 170 vs
    # 50 → 1.2. Against the position's true maximum (0.5) only the last would count.
    ms5 = np.array([0, 10, 20, 30, 200]) * MIN
    assert flag(ms5, np.array([100.0, 110.0, 108.0, 95.0, 90.0]), np.array([0.1, 0.5, 0.3, 0.4, 0.6]), closed=False)
    # and once raised, a later losing add below it is no new high: 0.3 at 90 is flagged (mark 0.3), the
    # reduction to 0.2 at 95 is not losing, 0.25 at 92 < 92.5 stays under the mark, the add to 0.5 at
    # 100 wins. One new high, two steps against: not flagged (advancement 5 and timing 1.2 would be).
    assert not flag(ms5, np.array([100.0, 90.0, 95.0, 92.0, 100.0]), np.array([0.1, 0.3, 0.2, 0.25, 0.5]),
                    closed=False)


def test_risk_flag_degenerate_positions():
    assert not flag(np.zeros(0), np.zeros(0), np.zeros(0))
    assert not flag(np.array([0]), np.array([100.0]), np.array([0.4]), closed=False)
    assert not flag(np.array([0, MIN]), np.array([100.0, 90.0]), np.array([0.0, 0.4]))
    with pytest.raises(ValueError):
        flag(np.array([0, 1]), np.array([100.0]), np.array([0.1, 0.2]))


def test_collateral_penalty():
    assert collateral_penalty(None, V1) == 1.0  # V1: off
    cfg = dataclasses.replace(V1, min_collateral=True)
    assert collateral_penalty(150_000.0, cfg) == 1.0
    assert collateral_penalty(149_999.0, cfg) == 0.01
    assert collateral_penalty(None, cfg) == 0.01
    assert collateral_penalty(float("nan"), cfg) == 0.01


# --- hostile input -------------------------------------------------------------------------------

HOSTILE = st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                             st.floats(min_value=-0.5, max_value=0.5)), max_size=12)


@settings(max_examples=150, deadline=None)
@given(r=HOSTILE, pnl=HOSTILE, dd=st.floats(allow_nan=True, allow_infinity=True), min_days=st.integers(-1, 15),
       fixed=st.booleans())
def test_metrics_never_raise_and_stay_finite(r, pnl, dd, min_days, fixed):
    cfg = FIXED if fixed else V1
    x, p = np.array(r, dtype=float), np.array(pnl, dtype=float)
    out = miner_metrics(x, p, dd, min_days, cfg)
    assert tuple(out) == METRICS and all(math.isfinite(v) for v in out.values())
    for value in (sharpe(x, cfg), sortino(x, cfg, "forex"), omega(x, cfg), calmar(x, dd, cfg), t_stat(x),
                  pnl_metric(p, cfg), drawdown_penalty(dd, cfg), collateral_penalty(dd, v3())):
        assert math.isfinite(value)


@settings(max_examples=150, deadline=None)
@given(values=HOSTILE, penalty=HOSTILE, kind=st.sampled_from(["rank", "strict"]), nonzero=st.booleans())
def test_scoring_never_raises(values, penalty, kind, nonzero):
    v = np.array(values, dtype=float)
    pct = percentiles(v, kind)
    assert pct.shape == v.shape and np.all((pct >= 0) & (pct <= 1 + 1e-12))  # scipy's arithmetic may pass 1 by an ulp
    w = softmax(v, 0.25, nonzero)
    assert w.shape == v.shape and np.all(np.isfinite(w)) and w.sum() <= 1 + 1e-12
    pen = np.resize(np.array(penalty, dtype=float), v.size) if penalty else np.ones(v.size)
    cfg = dataclasses.replace(V1, percentile_kind=kind)
    s = combine({m: v for m in METRICS}, pen, cfg)
    assert s.shape == v.shape and np.all(np.isfinite(s)) and np.all(s[~(pen > 0)] == 0)


@settings(max_examples=150, deadline=None)
@given(data=st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True),
                               st.floats(allow_nan=True, allow_infinity=True),
                               st.floats(allow_nan=True, allow_infinity=True)), max_size=8),
       closed=st.booleans())
def test_risk_profile_never_raises(data, closed):
    ms = np.array([d[0] for d in data], dtype=float)
    price = np.array([d[1] for d in data], dtype=float)
    lev = np.array([d[2] for d in data], dtype=float)
    assert risk_profile_flag(ms, price, lev, closed, V1, 0.01, 0.5) in (True, False)
    flags = np.isfinite(lev)
    pen = risk_profile_penalty(flags, price, V1)
    assert math.isfinite(pen) and 0 <= pen <= 1


def test_config_type_is_the_versioned_one():
    assert isinstance(V1, PTNConfig) and V1.version == "v1" and FIXED.calmar_zero_dd_fix and FIXED.sortino_floor_fix
