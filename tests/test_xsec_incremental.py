"""Fixed-mode XSEC-RANK and FUNDING-XSEC across epochs: segments on the grid of absolute sample
indices (X4), the day's gate (X1) and kept fits."""

from __future__ import annotations

import numpy as np

from mechanisms.mantis import xsec
from mechanisms.mantis.fitcache import MemoryFitCache
from mechanisms.mantis.xsec import FundingParams, XsecParams
from resources.fits import FitStore
from tests.test_xsec import SMALL, _panel

# 1 000-sample segments reading 3 000 samples back, and a 6 000-sample history the panel outgrows
P = XsecParams(**(SMALL | dict(chunk=1000, train_window=3000, history=6000)))
EPOCH = 72  # samples an epoch adds


def test_segments_sit_on_the_grid_and_never_move():
    plan = xsec.plan_for(P, "fixed", False)
    young = xsec.anchored_segments(10_123, 14_500, True, plan, P)
    later = xsec.anchored_segments(10_123, 15_700, True, plan, P)
    assert [g.start for g in young] == list(range(10_000, 15_000, 1000))
    assert all(g.val_start == g.start + 240 and g.origin == max(g.start - 3000, 10_123) for g in later)
    assert later[: len(young) - 1] == young[:-1]  # closed segments keep every window
    assert young[-1].end == 14_500 and later[len(young) - 1].end == 15_000
    # once the cap cuts (first sample 10 700), only segments whose window lies inside the history count
    full = xsec.anchored_segments(10_700, 17_000, False, plan, P)
    assert [g.k for g in full] == [14, 15, 16] and all(g.origin == g.start - 3000 for g in full)


def _epochs(score, T: int, n: int, store_dir) -> None:
    """n consecutive epochs scored with kept fits (in memory and in a storage directory) give
    exactly what scoring each from scratch gives, and refit only what changed."""
    memory, stored = MemoryFitCache(), FitStore(base_dir=str(store_dir)).cache("XSEC")
    paid, new_fits = [], []
    for epoch in range(n):
        rows = T - (n - 1 - epoch) * EPOCH
        scratch = score(rows)
        before = memory.misses
        assert score(rows, memory) == scratch
        assert score(rows, stored) == scratch
        new_fits.append(memory.misses - before)
        paid.append(len(scratch))
    assert min(paid) >= 3  # the equality is about real results, not empty ones
    assert memory.hits > 2 * memory.misses
    assert min(new_fits[1:]) < new_fits[0] / 5  # an epoch within a day refits only the newest segment's


def test_incremental_xsec_epochs_equal_scoring_from_scratch(tmp_path):
    X, sidx, prices, hks = _panel(3, 7400, 10, 8, {0: 0.3, 1: 0.25, 2: 0.2, 3: 0.15})

    def score(rows, cache=None):
        return xsec.xsec_salience(X[:rows], sidx[:rows], prices[:rows], hks, "fixed", P, cache=cache)

    _epochs(score, len(X), 5, tmp_path)


def test_incremental_funding_epochs_equal_scoring_from_scratch(tmp_path):
    X, sidx, rates, hks = _panel(5, 7400, 10, 8, {0: 0.3, 1: 0.25, 2: 0.2, 3: 0.15})
    params = FundingParams(**(SMALL | dict(chunk=1000, train_window=3000, history=6000, ahead=240)))

    def score(rows, cache=None):
        return xsec.funding_salience(X[:rows], sidx[:rows], np.log(rates[:rows]), hks, "fixed", params, cache=cache)

    _epochs(score, len(X), 5, tmp_path)


def test_the_gate_reads_whole_days_and_refits_only_a_changed_miner():
    """A miner's gate reads its days before its current one (offset by `gate_phase`): values it
    sent since change no p, and a value changed inside its window is one new key, that miner's, so
    a kept p never stands for other data."""
    X, sidx, prices, hks = _panel(3, 7400, 10, 8, {0: 0.3, 1: 0.25, 2: 0.2, 3: 0.15})
    rows, y2 = xsec._labels_xsec(prices, sidx, P.ahead, "fixed")
    cache = MemoryFitCache()

    def gate(X: np.ndarray) -> np.ndarray:
        return xsec._gate(xsec._pool(X.astype(np.float16), rows, y2, sidx), y2, rows, sidx, P.ahead, P, hks, cache)

    passed = gate(X)
    assert passed[:2].all() and not passed[4:].any() and cache.misses == 10
    phase = xsec.gate_phase(hks[5], P.gate_phases, P.day)
    assert phase % 72 == 0 and {xsec.gate_phase(h, P.gate_phases, P.day) for h in hks} != {phase}
    day_start = (sidx[-1] - phase) // P.day * P.day + phase  # miner 5's current day began here
    today = X.copy()
    today[sidx >= day_start - P.ahead, 5] = X[sidx >= day_start - P.ahead, 0]
    assert (gate(today) == passed).all() and cache.misses == 10
    changed = X.copy()
    changed[day_start - P.ahead - 10_000 - 500, 5, 0] *= -1  # a row inside its window (sidx from 10 000)
    assert (gate(changed) == passed).all() and cache.misses == 11


def test_a_young_history_and_any_hotkey_score_without_a_test_of_the_gate():
    """Under a day and a horizon of samples some miners' gate days hold no rows: they stay untested
    (nothing earns yet) instead of failing the run; a hotkey no codec takes still has a phase."""
    X, sidx, prices, hks = _panel(3, 1400, 6, 8, {0: 0.3, 1: 0.25})
    hks = hks[:-1] + ["5Gx\ud800"]
    for T in (800, 1400):
        assert xsec.xsec_salience(X[:T], sidx[:T], prices[:T], hks, "fixed", XsecParams()) == {}
        assert xsec.funding_salience(X[:T], sidx[:T], np.log(prices[:T]), hks, "fixed", FundingParams()) == {}
    assert 0 <= xsec.gate_phase(hks[-1], 20, 1440) < 1440


def test_damaged_stored_fits_are_computed_again(tmp_path):
    """Every stored entry overwritten with a value no fit of its kind can have (a wrong length, an
    AUC or p outside [0, 1], no miner taken from a non-empty order): the scorer refits and gives the
    salience it gives without a store."""
    X, sidx, prices, hks = _panel(3, 7400, 10, 8, {0: 0.3, 1: 0.25, 2: 0.2, 3: 0.15})
    scratch = xsec.xsec_salience(X, sidx, prices, hks, "fixed", P)
    store = FitStore(base_dir=str(tmp_path))
    assert xsec.xsec_salience(X, sidx, prices, hks, "fixed", P, cache=store.cache("XSEC")) == scratch and scratch
    files = list(tmp_path.rglob("*.npy"))
    for damaged in ([0.5, 0.5, 0.5], [], [-1.0], [2.0, 0.5]):
        for f in files:
            np.save(f, np.array(damaged))
        assert xsec.xsec_salience(X, sidx, prices, hks, "fixed", P, cache=FitStore(base_dir=str(tmp_path)).cache("XSEC")) == scratch
