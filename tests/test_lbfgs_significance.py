"""LBFGS fixed mode's significance gate (S7, mechanisms/mantis/lbfgs.py): persistent noise and stale
repeaters earn nothing, informative miners keep their ranking, compat is untouched."""

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.signal import lfilter

import profiles
from devnet.mantis.quality import WORTHLESS, as_array, quality
from devnet.mantis.signals import generate, spec_for
from mechanisms.mantis import lbfgs
from mechanisms.mantis.lbfgs import LbfgsParams, bucketize, fast_ranks, lbfgs_salience
from mechanisms.mantis.significance import shift_p
from mechanisms.mantis.significance import ranks
from mechanisms.registry import MECHANISMS

PROFILE = profiles.load()
CHALLENGE = PROFILE.challenge("ETH-LBFGS")


def _score(panel, mode="fixed", **overrides):
    return MECHANISMS["lbfgs"].score(panel, mode, {**CHALLENGE.params, **overrides},
                                     sample_every=PROFILE.chain.sample_every,
                                     horizon_blocks=CHALLENGE.mantis.horizon_blocks)


def test_fast_ranks_are_the_average_ranks():
    rng = np.random.default_rng(0)
    cases = [
        rng.uniform(0, 1, 2000).astype(np.float16).astype(np.float32),  # the ledger's values: counted
        rng.normal(size=500).astype(np.float16).astype(np.float32),  # negative values too
        np.array([0.0, -0.0, 1, np.nan, -2, 1, np.inf, 0.5], dtype=np.float32),  # ties, ±0, non-finite
        rng.normal(size=300).astype(np.float32),  # not float16: the sorting fallback
        np.array([1e30, 0.5, 0.25], dtype=np.float32),  # beyond float16's range
    ]
    for x in cases:
        np.testing.assert_array_equal(fast_ranks(x), ranks(x.astype(np.float64)))


def _ar1(rng, phi, T):
    e = rng.normal(size=T) * math.sqrt(1 - phi * phi)
    e[0] = rng.normal()
    return lfilter([1.0], [1.0, -phi], e)


def _one_hot_buckets(rng, T, h):
    """Centred one-hot of the z-bucket of overlapping h-step returns of a random walk, (T, 5)."""
    walk = np.cumsum(rng.normal(size=T + h))
    y = bucketize((walk[h:] - walk[:-h]) / math.sqrt(h))
    onehot = (y[:, None] == np.arange(5)).astype(np.float64)
    return onehot - onehot.mean(axis=0)


def _p(forecasts, outcomes, min_shift):
    f = np.stack([fast_ranks(forecasts[:, c].astype(np.float32)) for c in range(forecasts.shape[1])], axis=1)
    f = f - f.mean(axis=0)
    cross = (np.conj(np.fft.rfft(f, axis=0)) * np.fft.rfft(outcomes, axis=0)).sum(axis=1)
    return shift_p(cross, len(f), min_shift)


def test_shift_p_holds_its_level_for_persistent_and_held_forecasts():
    """Under no skill, values that wander (AR(1), φ = 0.97) or are held for hours against labels
    that overlap for an hour: P(p < 0.05) stays near 5 %, and p < 0.001 stays rare (the empirical
    p of significance.shift_test would give its floor 1/n about once in n/τ panels)."""
    rng = np.random.default_rng(7)
    T, h = 8_000, 60
    out = _one_hot_buckets(rng, T, h)
    ps = []
    for i in range(200):
        if i % 2:
            f = np.stack([_ar1(rng, 0.97, T) for _ in range(5)], axis=1)
        else:  # a random value held 2–8 hours
            holds = np.cumsum(rng.integers(120, 480, size=T // 120))
            f = rng.dirichlet(np.ones(5), size=len(holds) + 1)[np.searchsorted(holds, np.arange(T), side="right")]
        ps.append(_p(f, out, 1_440)[1])
    ps = np.array(ps)
    assert 0.01 <= (ps < 0.05).mean() <= 0.10
    assert (ps < 0.001).mean() <= 0.01


def test_shift_p_finds_a_weak_forecaster():
    rng = np.random.default_rng(8)
    T, h = 8_000, 60
    walk = np.cumsum(rng.normal(size=T + h))
    z = (walk[h:] - walk[:-h]) / math.sqrt(h)
    onehot = (bucketize(z)[:, None] == np.arange(5)).astype(np.float64)
    f = 0.3 * onehot + np.stack([_ar1(rng, 0.9, T) for _ in range(5)], axis=1)  # skill under persistent noise
    z_stat, p = _p(f, onehot - onehot.mean(axis=0), 1_440)
    assert z_stat > 5 and p < 1e-6
    assert _p(f, onehot - onehot.mean(axis=0), T)[1] == 1.0  # no shifts left: nothing can be claimed


@pytest.mark.parametrize("seed", [0, 1])
def test_persistent_and_stale_miners_earn_nothing(seed):
    """Small devnet panels (32 miners, 14 days) with AR(1) noise miners and stale repeaters: the
    worthless roles together ≤ 2 % (before S7 stale repeaters took up to 11 % of the full devnet
    panels), informative miners still ranked by skill."""
    panel = generate(spec_for(PROFILE, CHALLENGE, seed=seed, miners=32))
    assert {"persistent", "stale"} <= set(panel.roles)
    salience = as_array(panel, _score(panel))
    figures = quality(panel, salience)
    roles = np.array(panel.roles)
    assert salience[np.isin(roles, ("persistent", "stale"))].sum() <= 0.02, figures
    assert figures["worthless_share"] <= 0.02, figures
    assert figures["spearman"] >= 0.9, figures


def test_gate_refuses_worthless_miners_and_admits_informative_ones():
    """The p-values behind the gate on a devnet panel whose informative miners' noise is AR(1) too."""
    spec = replace(spec_for(PROFILE, CHALLENGE, seed=2, miners=32), noise_phi=(0.8, 0.97))
    panel = generate(spec)
    params = MECHANISMS["lbfgs"].make_params(CHALLENGE.params, ahead=PROFILE.horizon_samples(CHALLENGE))
    X, sidx, prices, hotkeys, cols = lbfgs.checked_panel(panel.embeddings, panel.sidx(PROFILE.chain.sample_every),
                                                         panel.price, panel.hotkeys, "fixed", dim=17)
    rows = lbfgs.capped_history(lbfgs.priced_rows(sidx, prices), sidx, "fixed", params.history_samples,
                                params.history_rows)
    d = lbfgs._Data("fixed", sidx[rows], prices[rows], lbfgs._present(X, rows, cols, "fixed"),
                    lbfgs._read(X, rows, cols, slice(0, 5)), X, rows, cols)
    bins = lbfgs.make_bins(d.prices, d.sidx, params.ahead, params.sigma_window, "fixed")
    cls_ok, q_ok, p = lbfgs.significance_gate(d, bins, params)
    roles = np.array(panel.roles)[cols]
    worthless = np.isin(roles, WORTHLESS)
    assert not cls_ok[worthless].any() and not q_ok[worthless].any()
    informative = roles == "informative"
    assert cls_ok[informative].mean() >= 0.5  # the weakest under AR(1) noise may not show their skill
    assert (p[worthless] > 1e-3).all()


def test_compat_ignores_the_gate():
    """compat is the reference: the gate's parameters change nothing there (and fixed mode uses them)."""
    rng = np.random.default_rng(3)
    T, H = 5_000, 4
    lnp = np.log(100.0) + np.concatenate([[0.0], np.cumsum(rng.normal(0, 1e-3, T - 1))])
    X = np.empty((T, H, 17), np.float32)
    X[:, :, :5] = rng.dirichlet(np.ones(5), size=(T, H))
    X[:, :, 5:] = rng.uniform(0.05, 0.95, (T, H, 12))
    z = np.zeros(T)
    z[:-60] = (lnp[60:] - lnp[:-60]) / (1e-3 * math.sqrt(60))
    X[:, 0, :5] = 0.5 * X[:, 0, :5] + 0.5 * (bucketize(z)[:, None] == np.arange(5))
    small = LbfgsParams(min_rows=1000, sigma_window=400, q_sigma_window=800, warmup=2000, chunk=1000,
                        train_window=2000, recent=800, overlap_rows=1000, cohort_min_rows=1000, replicates=4)
    hks = [f"hk{j}" for j in range(H)]
    args = (X, 10_000 + np.arange(T), np.exp(lnp), hks)
    assert lbfgs_salience(*args, "compat", small) == lbfgs_salience(*args, "compat", replace(small, sig_alpha=1e-9))
    fixed = lbfgs_salience(*args, "fixed", small)
    assert fixed["hk0"] > 0.9  # the one informative miner; the noise miners fail the gate
    assert lbfgs_salience(*args, "fixed", replace(small, sig_alpha=1e-300)) == {}  # nobody passes: nothing learned


def test_shift_p_gives_a_few_bursts_no_tail_beyond_its_resolution():
    """A forecast flat but for three hour-long bursts, aligned where it meets the outcomes best of
    all offsets (what one of many such sybils reaches by luck): its null is a few lumps, far from
    normal, and the t tail would call it p < 1e-8; p stays at the test's resolution, 1/(1 + n_eff)."""
    rng = np.random.default_rng(11)
    T, h = 16_000, 60
    out = _one_hot_buckets(rng, T, h)
    f = np.tile([0.02, 0.14, 0.68, 0.14, 0.02], (T, 1))
    for t0 in (3_000, 7_000, 12_000):
        f[t0 : t0 + h] = [0.25, 0.12, 0.26, 0.12, 0.25]
    ranked = np.stack([fast_ranks(f[:, c].astype(np.float32)) for c in range(5)], axis=1)
    ranked -= ranked.mean(axis=0)
    S = np.fft.irfft((np.conj(np.fft.rfft(ranked, axis=0)) * np.fft.rfft(out, axis=0)).sum(axis=1), T)
    best = int(np.argmax(S))  # the luckiest offset: shifted there, the forecast beats every other shift
    z, p = _p(np.roll(f, best, axis=0), out, 1_440)
    assert z > 4
    assert p > 1e-3
