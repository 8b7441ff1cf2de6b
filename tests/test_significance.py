"""The circular-shift significance test and Holm's correction (mechanisms/mantis/significance.py)."""

from __future__ import annotations

import math

import numpy as np

from mechanisms.mantis.significance import gate_window, holm, ranks, shift_statistics, shift_test


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    x = np.empty(n)
    x[0] = rng.normal()
    e = rng.normal(size=n) * math.sqrt(1 - phi * phi)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def _labels(rng: np.random.Generator, n: int, ahead: int = 60) -> np.ndarray:
    """Direction of a random walk over the next `ahead` steps: overlapping, persistent labels."""
    walk = np.cumsum(rng.normal(size=n + ahead))
    return (walk[ahead:] > walk[:-ahead]).astype(float)


def test_statistic_at_every_shift_is_the_direct_sum():
    rng = np.random.default_rng(0)
    f, o = rng.normal(size=50), rng.normal(size=50)
    f[3] = np.nan
    S = shift_statistics(f, o)
    valid = np.isfinite(f)
    fc = np.where(valid, f - f[valid].mean(), 0.0)
    oc = np.where(valid, o - o[valid].mean(), 0.0)
    for k in (0, 1, 7, 49):
        assert math.isclose(S[k], float(np.sum(np.roll(fc, k) * oc)), abs_tol=1e-9)


def test_persistent_noise_is_not_significant_more_often_than_the_level():
    """Forty AR(1) series (φ = 0.95) against overlapping labels: a test over rows as if independent
    rejects most of them; the shift test about as often as its level says."""
    rng = np.random.default_rng(1)
    n, naive, shifted = 8_000, 0, 0
    for _ in range(40):
        x, y = _ar1(rng, n, 0.95), _labels(rng, n)
        r = np.corrcoef(x, y)[0, 1]
        naive += abs(r) * math.sqrt(n) > 1.96
        shifted += shift_test(ranks(x), y, 1_440)[1] < 0.05
    assert naive >= 20
    assert shifted <= 6


def test_skill_is_significant():
    rng = np.random.default_rng(2)
    n = 8_000
    walk = np.cumsum(rng.normal(size=n + 60))
    future = walk[60:] - walk[:-60]
    x = 0.15 * future / future.std() + _ar1(rng, n, 0.9)
    z, p = shift_test(ranks(x), (future > 0).astype(float), 1_440)
    assert z > 4 and p < 1e-4


def test_too_short_or_flat_series_are_not_tested():
    assert shift_test(np.arange(100.0), np.ones(100), 40)[1] == 1.0
    assert shift_test(np.ones(500), np.arange(500.0), 10)[1] == 1.0


def test_holm_steps_down():
    p = np.array([0.001, 0.04, 0.012, 0.3])
    assert holm(p, 0.05).tolist() == [True, False, True, False]  # 0.001 ≤ .05/4, 0.012 ≤ .05/3, 0.04 > .05/2
    assert not holm(np.array([0.03, 0.03]), 0.05).any()  # 0.03 > .05/2: the first fails, so all do
    assert holm(np.array([]), 0.05).tolist() == []


def test_ranks_share_ties_and_keep_nan():
    assert np.array_equal(ranks(np.array([3.0, np.nan, 1.0, 3.0])), np.array([2.5, np.nan, 1.0, 2.5]), equal_nan=True)


def test_causal_z_uses_only_the_past_window():
    from mechanisms.mantis.significance import causal_z

    rng = np.random.default_rng(4)
    x = rng.normal(size=40)
    x[[5, 17]] = np.nan
    z = causal_z(x, 6)
    finite = np.flatnonzero(np.isfinite(x))
    assert np.isnan(z[finite[:6]]).all() and np.isnan(z[[5, 17]]).all()
    for i, k in enumerate(finite[6:], start=6):
        past = x[finite[i - 6 : i]]
        assert math.isclose(z[k], (x[k] - past.mean()) / past.std(), rel_tol=1e-9, abs_tol=1e-12)
    later = x.copy()
    later[30:] += 100.0  # the future never moves an earlier value
    assert np.array_equal(causal_z(later, 6)[:30], z[:30], equal_nan=True)
    assert np.isnan(causal_z(np.ones(20), 5)).all()  # no spread, no scale


def test_gate_window_is_the_same_all_day_and_ends_a_horizon_before_it():
    # Cap inactive (the panel starts after the day's latest history start): from the first sample
    # to the current day's start (8 640 = 6·1 440) less the horizon, for every epoch of the day.
    for last in (8_640, 10_000, 10_079):
        assert gate_window(0, last, 1_440, 86_400, 10_000, 60) == (0, 8_580)
    # Cap active: the day's latest history start is 198 720 + 1 440 − 86 400 = 113 760; settled
    # 10 000 samples later, 123 760, rounded up to a day boundary: 86·1 440 = 123 840.
    for last in (198_720, 200_000, 200_159):
        assert gate_window(100_000, last, 1_440, 86_400, 10_000, 60) == (123_840, 198_660)
    assert gate_window(100_000, 200_160, 1_440, 86_400, 10_000, 60) == (125_280, 200_100)  # the next day
