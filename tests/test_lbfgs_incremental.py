"""LBFGS fixed mode's anchored segments and kept fits (S8, mechanisms/mantis/lbfgs.py): a cache never
changes the salience, a warm cache fits nothing, and an epoch's new samples refit nothing."""

from dataclasses import replace

import numpy as np
import pytest

import profiles
from devnet.mantis.signals import generate, spec_for
from mechanisms.mantis import lbfgs
from mechanisms.mantis.fitcache import MemoryFitCache
from mechanisms.mantis.lbfgs import LbfgsParams, anchored_segments, lbfgs_salience
from mechanisms.registry import MECHANISMS
from resources.fits import FitStore

PROFILE = profiles.load()
CHALLENGE = PROFILE.challenge("ETH-LBFGS")
EPOCH = 72  # samples an epoch adds


@pytest.fixture(scope="module")
def panel():
    return generate(spec_for(PROFILE, CHALLENGE, seed=4, miners=32))


@pytest.fixture(scope="module")
def params():
    return MECHANISMS["lbfgs"].make_params(CHALLENGE.params, ahead=PROFILE.horizon_samples(CHALLENGE))


def _score(panel, params, mode="fixed", cache=None):
    return lbfgs_salience(panel.embeddings, panel.sidx(PROFILE.chain.sample_every), panel.price, panel.hotkeys,
                          mode, params, cache=cache)


def _counting_fits(monkeypatch):
    calls = []
    real = lbfgs._bootstrap

    def counted(*args):
        calls.append(args[5])  # the seed
        return real(*args)

    monkeypatch.setattr(lbfgs, "_bootstrap", counted)
    return calls


def test_a_cache_changes_nothing_and_a_warm_one_fits_nothing(panel, params, monkeypatch):
    plain = _score(panel, params)
    cache = MemoryFitCache()
    assert _score(panel, params, cache=cache) == plain  # bit for bit
    assert cache.misses > 0 and cache.fits
    misses = cache.misses
    fits = _counting_fits(monkeypatch)
    assert _score(panel, params, cache=cache) == plain
    assert cache.misses == misses and not fits  # every fit and closed edge found, nothing fitted


def test_an_epoch_of_new_samples_refits_nothing(panel, params, monkeypatch):
    """The panel less its newest epoch, then the whole panel with the same cache: the segments'
    training rows did not move, so no model is fitted again, and the salience is the one a scorer
    without a cache gives."""
    previous = panel.head(len(panel.block) - EPOCH)
    s_prev = previous.sidx(PROFILE.chain.sample_every)
    s_all = panel.sidx(PROFILE.chain.sample_every)
    assert [g.k for g in anchored_segments(s_prev, params)] == [g.k for g in anchored_segments(s_all, params)]
    cache = MemoryFitCache()
    _score(previous, params, cache=cache)
    fits = _counting_fits(monkeypatch)
    incremental = _score(panel, params, cache=cache)
    assert not fits
    monkeypatch.undo()
    assert incremental == _score(panel, params)


@pytest.mark.slow
def test_ten_consecutive_epochs_equal_scoring_from_scratch(tmp_path, params):
    """Ten consecutive epochs across a day boundary (where the kept gate and cohorts are computed
    anew), each scored with the fits kept in the storage directory, give exactly what scoring it
    from scratch gives, and a rerun of an epoch in a new process finds every fit."""
    small = generate(spec_for(PROFILE, CHALLENGE, seed=5, miners=16))
    p = replace(params, replicates=2)
    sidx = small.sidx(PROFILE.chain.sample_every)
    day = p.rows_per_day
    boundary = (int(sidx[-1]) - 5 * EPOCH) // day * day
    first = int(np.searchsorted(sidx, boundary)) - 5 * EPOCH
    store = FitStore(base_dir=str(tmp_path)).cache("ETH-LBFGS")
    paid = []
    for epoch in range(10):
        head = small.head(first + (epoch + 1) * EPOCH)
        scratch = _score(head, p)
        assert _score(head, p, cache=store) == scratch
        paid.append(sum(v > 0 for v in scratch.values()))
    assert sidx[first + EPOCH - 1] < boundary <= sidx[first + 10 * EPOCH - 1]
    assert min(paid) >= 3  # the equality is about real results, not empty ones
    fresh = FitStore(base_dir=str(tmp_path)).cache("ETH-LBFGS")
    assert _score(head, p, cache=fresh) == scratch and fresh.misses == 0


def test_compat_ignores_the_cache(panel, params):
    cache = MemoryFitCache()
    assert _score(panel, params, "compat", cache) == _score(panel, params, "compat")
    assert cache.hits == cache.misses == 0 and not cache.fits


def test_segments_are_anchored_on_sample_indices():
    p = LbfgsParams(warmup=300, chunk=300, train_window=300, sigma_window=50, q_sigma_window=50, ahead=10,
                    history_samples=2_000)
    # a young history (shorter than history_samples): segments on the grid k·300 from warm-up
    # samples after its first (1 050 + 300 → the cell starting at 1 500); the last, open one is
    # not closed until its horizon has passed (1 800 + 300 − 1 + 10 > 1 999)
    young = np.arange(1_050, 2_000)
    segs = anchored_segments(young, p)
    assert [(g.k, g.start, g.end) for g in segs] == [(5, 1_500, 1_800), (6, 1_800, 2_100)]
    assert [g.closed for g in segs] == [True, False]
    # more samples: the same segments (plus new ones)
    assert anchored_segments(np.arange(1_050, 2_400), p)[:2] == [g._replace(closed=True) for g in segs]
    # a full history whose first sample moves: only segments whose training window and σ
    # windows (max σ window + 2·ahead = 70 samples) lie inside it; k = 8 needs first ≤ 2 400 − 370
    full = np.arange(2_001, 4_001)
    assert [g.k for g in anchored_segments(full, p)] == [8, 9, 10, 11, 12, 13]
    assert [g.k for g in anchored_segments(full + 40, p)] == [9, 10, 11, 12, 13]


def test_fits_kept_in_the_storage_directory_give_the_same_result(tmp_path):
    """The directory store keeps flat vectors; LBFGS's arrays of any shape come back whole."""
    from mechanisms.mantis.lbfgs import _lookup
    from resources.fits import FitStore

    store = FitStore(base_dir=str(tmp_path)).cache("ETH-LBFGS")
    value = np.arange(12.0).reshape(3, 4)
    assert np.array_equal(_lookup(store, b"k" * 32, lambda: value), value)
    fresh = FitStore(base_dir=str(tmp_path)).cache("ETH-LBFGS")
    again = _lookup(fresh, b"k" * 32, lambda: np.zeros(1))
    assert again.shape == (3, 4) and np.array_equal(again, value) and fresh.hits == 1
