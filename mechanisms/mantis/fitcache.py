"""Fits keyed by what they were fitted on, so an epoch refits only what changed.

Fixed-mode walk-forward windows are anchored on absolute sample indices, so a closed window's fit
sees the same rows every epoch; its key is a hash of exactly those inputs (the mechanism's tag
and parameters, the rows' values, labels and weights). A lookup can therefore never return a fit
of other data: a late-revealed value or a changed parameter is a different key and a fresh fit,
and a scorer given a cache returns bit for bit what it returns without one. The scorers take any
`FitCache`; the platform keeps one per challenge in the storage directory (assets/mantis/fits.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from mechanisms.mantis.panel import row_blocks


class FitCache(Protocol):
    """Stored fits by key: float64 arrays (coefficients, an intercept, a marker for "no model")."""

    def get(self, key: bytes) -> np.ndarray | None: ...

    def put(self, key: bytes, value: np.ndarray) -> None: ...


class MemoryFitCache:
    """A FitCache in a dict (tests, one-off scoring, and the layer in front of a stored one)."""

    def __init__(self) -> None:
        self.fits: dict[bytes, np.ndarray] = {}
        self.hits = self.misses = 0

    def get(self, key: bytes) -> np.ndarray | None:
        value = self.fits.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: bytes, value: np.ndarray) -> None:
        self.fits[key] = np.asarray(value, dtype=np.float64).copy()


@dataclass(frozen=True, eq=False)
class Rows:
    """array[index] as a part of `fit_key`: the same key as that array, hashed a block of rows at a
    time, so a fit's training rows are never copied whole just to be named."""

    array: np.ndarray
    index: np.ndarray

    BLOCK = 2048


def _update(h: "hashlib._Hash", part: np.ndarray | Rows) -> None:
    """Hash an array (or `Rows`) by dtype, shape and bytes."""
    if isinstance(part, Rows):
        shape = (len(part.index),) + part.array.shape[1:]
        h.update(f"|{part.array.dtype.str}{shape}|".encode())
        for _, block in row_blocks(part.array, part.index, Rows.BLOCK):  # views where rows are consecutive
            h.update(np.ascontiguousarray(block).data)
        return
    a = np.ascontiguousarray(part)
    h.update(f"|{a.dtype.str}{a.shape}|".encode())
    h.update(a.data)


def fit_key(tag: str, *parts: object) -> bytes:
    """A 32-byte key over a tag and parts: arrays (and `Rows`) by dtype, shape and bytes; anything
    else by repr."""
    h = hashlib.sha256(tag.encode())  # SHA-256: twice BLAKE2b's speed where the CPU has SHA extensions
    for part in parts:
        if isinstance(part, (np.ndarray, Rows)):
            _update(h, part)
        else:
            h.update(f"|{part!r}|".encode())
    return h.digest()


def digest(*arrays: np.ndarray | Rows) -> bytes:
    """SHA-256 over arrays' (or `Rows`') dtypes, shapes and bytes: a short stand-in for large inputs
    in a fit key."""
    h = hashlib.sha256()
    for a in arrays:
        _update(h, a)
    return h.digest()


def kept(cache: FitCache | None, key: bytes | None, compute: Callable[[], np.ndarray],
         valid: Callable[[np.ndarray], bool] = lambda value: True) -> np.ndarray:
    """The float64 vector stored under `key` if `valid` accepts it (anything else stored there is
    damaged, and computed again), else `compute()` as a float64 vector, stored there. A kept value
    and a fresh one are the same bits. Without a cache (or a key) it just computes."""
    if cache is not None and key is not None:
        found = cache.get(key)
        if found is not None and valid(found):
            return found
    value = np.asarray(compute(), dtype=np.float64).ravel()
    if cache is not None and key is not None:
        cache.put(key, value)
    return value
