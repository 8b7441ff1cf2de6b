"""Fixed-mode BINARY across epochs: anchored windows (S3), the significance gate (S4) and kept fits (S5)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from devnet.mantis.signals import RoleMix, SignalSpec, generate
from mechanisms.mantis.binary import BinaryParams, binary_salience, windows
from mechanisms.mantis.fitcache import MemoryFitCache
from mechanisms.mantis.logistic import QuadraticElasticNet, ridge_step
from resources.fits import FitStore

# Scaled windows so a 6-day panel has several: a window a day, fitted once it has a day of history.
P = BinaryParams(refit=1_440, fit_rows=4_320, min_fit_span=1_440, min_windows=2, sig_min_shift=360)
EPOCH = 72  # samples an epoch adds


def _panel(seed: int = 4):
    roles = RoleMix(informative=8, noise=2, persistent=2, stale=1, clone=1, twin=1, copycat=1, constant=1,
                    silent=0, young=0)
    return generate(SignalSpec(seed=seed, days=6.0, roles=roles))


def _score(panel, rows: int, cache=None) -> dict[str, float]:
    return binary_salience(panel.embeddings[:rows], panel.sidx()[:rows], panel.price[:rows], panel.hotkeys,
                           "fixed", P, cache=cache)


def test_windows_sit_on_the_absolute_grid_and_never_move():
    s = np.arange(100_123, 100_123 + 8 * 1_440)
    kept = np.ones(len(s), dtype=bool)
    a, b = windows(s[:-500], kept[:-500], P), windows(s, kept, P)
    assert len(a) >= 4 and all(w.start % P.refit == 0 for w in b)
    assert [(w.start, w.fit_lo, w.fit_hi) for w in a] == [(w.start, w.fit_lo, w.fit_hi) for w in b[: len(a)]]
    assert all(s[w.fit_hi - 1] == w.start - P.ahead - 1 and s[w.score_lo] == w.start for w in b[1:])  # one horizon's embargo


def test_incremental_epochs_equal_scoring_from_scratch(tmp_path):
    """Ten consecutive epochs scored with the fits kept (in memory and in the storage directory)
    give exactly what scoring each from scratch gives, and reuse almost every fit."""
    panel = _panel()
    memory, stored = MemoryFitCache(), FitStore(base_dir=str(tmp_path)).cache("ETH-1H-BINARY")
    first = len(panel.block) - 10 * EPOCH
    paid = []
    for epoch in range(10):
        rows = first + epoch * EPOCH
        scratch = _score(panel, rows)
        before = memory.misses
        assert _score(panel, rows, memory) == scratch
        assert _score(panel, rows, stored) == scratch
        if epoch:
            assert memory.misses - before <= len(panel.hotkeys)  # at most one new window's fits
        paid.append(sum(v > 0 for v in scratch.values()))
    assert min(paid) >= 3  # the equality is about real results, not empty ones
    assert memory.hits > 5 * memory.misses
    fresh = FitStore(base_dir=str(tmp_path)).cache("ETH-1H-BINARY")  # a rerun in a new process
    assert _score(panel, first + 9 * EPOCH, fresh) == _score(panel, first + 9 * EPOCH)
    assert fresh.misses == 0 and fresh.hits > 0


def test_a_changed_value_in_a_closed_window_is_refitted():
    panel = _panel()
    rows = len(panel.block) - EPOCH
    cache = MemoryFitCache()
    _score(panel, rows, cache)
    X = panel.embeddings.copy()
    X[10, 0] = 0.5 if np.isnan(X[10, 0]).any() else -X[10, 0]  # one early value of one miner
    changed = replace(panel, embeddings=X)
    misses = cache.misses
    assert _score(changed, rows, cache) == _score(changed, rows)
    assert cache.misses > misses


@pytest.mark.parametrize("seed", [0, 1])
def test_persistent_noise_and_stale_repeaters_are_not_paid(seed):
    """S4 on the devnet's population (14 days, reference windows) and on one whose informative
    miners' noise is persistent too, as an independent generator plants it."""
    for spec in (SignalSpec(seed=seed), SignalSpec(seed=seed, noise_phi=(0.8, 0.97))):
        panel = generate(spec)
        s = binary_salience(panel.embeddings, panel.sidx(), panel.price, panel.hotkeys, "fixed")
        roles = np.array(panel.roles)
        paid = np.array([s.get(h, 0.0) for h in panel.hotkeys])
        assert paid[np.isin(roles, ["persistent", "stale", "noise", "constant"])].sum() <= 0.02
        assert paid[roles == "informative"].sum() >= 0.6


def test_ridge_step_is_the_quadratic_minimum_and_near_sklearns_logistic_fit():
    rng = np.random.default_rng(0)
    K, D, N = 5, 2, 6_000
    X = rng.normal(size=(K, D, N))
    y = (rng.random((K, N)) < 1 / (1 + np.exp(-(0.15 * X[:, 0] - 0.1 * X[:, 1] + 0.05)))).astype(float)
    s = rng.uniform(0.2, 2.0, size=(K, N))
    w = ridge_step(X, y, s, 0.5)
    alone = np.stack([ridge_step(X[k : k + 1], y[k : k + 1], s[k : k + 1], 0.5)[0] for k in range(K)])
    assert np.array_equal(w, alone)  # the same bits in any batch
    for k in range(K):
        ref = LogisticRegression(C=0.5, class_weight="balanced", tol=1e-12, max_iter=1_000).fit(X[k].T, y[k], sample_weight=s[k])
        assert np.allclose(w[k, :D], ref.coef_.ravel(), rtol=0.02, atol=1e-3)


def test_quadratic_elastic_net_meets_its_optimality_conditions():
    rng = np.random.default_rng(1)
    N, K = 4_000, 6
    Z = rng.normal(size=(N, K))
    y = (rng.random(N) < 1 / (1 + np.exp(-(Z[:, 0] * 0.3 + Z[:, 1] * 0.1)))).astype(int)
    s = rng.uniform(0.5, 1.5, N)
    model = QuadraticElasticNet(C=0.01, l1_ratio=0.5).fit(Z, y, sample_weight=s)
    w = model.coef_.ravel()
    assert w[0] > w[1] > 0 and (w[2:] == 0).any()  # the penalty keeps the signal and drops some noise
    cw = np.where(y == 1, N / (2 * y.sum()), N / (2 * (N - y.sum()))) * s
    zc = Z - (cw @ Z) / cw.sum()
    grad = zc.T @ (cw * (y - (cw @ y) / cw.sum())) - 0.25 * (zc.T @ (zc * cw[:, None])) @ w  # the expansion's
    smooth = 0.01 * grad - 0.5 * w  # C·(g − H w) − (1 − l1)·w: must equal l1·sign(w), or lie within ±l1 at 0
    assert np.allclose(smooth[w != 0], 0.5 * np.sign(w[w != 0]), atol=1e-8)
    assert np.all(np.abs(smooth[w == 0]) <= 0.5 + 1e-8)


def test_daily_auc_is_the_weighted_mean_of_each_days_roc_auc():
    from sklearn.metrics import roc_auc_score

    from mechanisms.mantis.binary import daily_auc
    from mechanisms.mantis.significance import ranks

    rng = np.random.default_rng(5)
    p = BinaryParams(rows_per_day=100, min_scored_rows=20, min_windows=3, half_life_days=2.0)
    s = np.arange(1_050, 1_750)
    y = (rng.random(len(s)) < 0.5).astype(float)
    score = np.round(rng.normal(size=len(s)) + 0.3 * y, 1)  # many ties
    score[rng.random(len(s)) < 0.2] = np.nan
    want, weights = [], []
    for day in np.unique(s // 100):
        sel = (s // 100 == day) & np.isfinite(score)
        if sel.sum() >= 20 and 0 < y[sel].sum() < sel.sum():
            want.append(roc_auc_score(y[sel], score[sel]))
            weights.append(2.0 ** (-(s[-1] // 100 - day) / 2.0))
    assert len(want) >= 3
    assert np.isclose(daily_auc(ranks(score), y, s, p), np.average(want, weights=weights), rtol=0, atol=1e-12)
