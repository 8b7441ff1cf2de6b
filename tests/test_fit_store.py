"""The fit store's upkeep (resources/fits.py): fits an epoch reads stay, fits no epoch has read for
`keep_days` go, at most one scan a day."""

import os
import time

import numpy as np

from resources.fits import DirectoryFitCache

DAY = 86_400.0


def _age(path, days: float, now: float) -> None:
    os.utime(path, (now - days * DAY, now - days * DAY))


def test_prune_drops_what_no_epoch_read_and_keeps_what_one_did(tmp_path):
    now = time.time()
    cache = DirectoryFitCache(tmp_path)
    keys = [bytes([k]) * 32 for k in range(4)]
    for k, key in enumerate(keys):
        cache.put(key, np.full(3, float(k)))
    old_read, old_unread, recent, _ = (cache._path(k) for k in keys)
    for path in (old_read, old_unread):
        _age(path, 100, now)
    _age(recent, 10, now)
    stray = old_read.parent / "x.tmp"  # a crash's half-written temporary
    stray.write_bytes(b"\x00")
    _age(stray, 100, now)
    assert DirectoryFitCache(tmp_path).get(keys[0]) is not None  # an epoch reads it: it is in use
    assert DirectoryFitCache(tmp_path).prune(90, now=now) == 2
    assert not old_unread.exists() and not stray.exists()
    fresh = DirectoryFitCache(tmp_path)
    assert [fresh.get(k) is not None for k in keys] == [True, False, True, True]
    assert np.array_equal(fresh.get(keys[2]), np.full(3, 2.0))


def test_prune_scans_at_most_once_a_day(tmp_path):
    now = time.time()
    cache = DirectoryFitCache(tmp_path)
    cache.put(b"\x01" * 32, np.ones(2))
    assert cache.prune(90, now=now) == 0
    _age(cache._path(b"\x01" * 32), 100, now)
    assert cache.prune(90, now=now + 3_600) == 0  # scanned an hour ago: no scan
    assert cache.prune(90, now=now + DAY + 1) == 1


def test_prune_touches_only_fits_and_a_missing_store_is_no_error(tmp_path):
    assert DirectoryFitCache(tmp_path / "never-written").prune(90) == 0
    cache = DirectoryFitCache(tmp_path / "store")
    cache.put(b"\x02" * 32, np.ones(2))
    other = cache._path(b"\x02" * 32).parent / "notes.txt"  # an operator's file beside the fits
    other.write_text("kept")
    _age(other, 100, time.time())
    assert cache.prune(90) == 0 and other.exists()
