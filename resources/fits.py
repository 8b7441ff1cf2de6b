"""Where fixed-mode scorers keep their fits: `<artifacts>/fits/<challenge>/<key[:2]>/<key>.npy`.

A fit's key is a hash of the exact inputs it was fitted on (mechanisms/mantis/fitcache.py), so a
file is never stale: a rerun of any epoch finds the fits its data implies and refits the rest.
A file that cannot be read is a miss and is fitted again; a store that cannot be written costs
time, never a result.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dagster as dg
import numpy as np

from resources.storage import safe_name


class DirectoryFitCache:
    """A FitCache over one directory, with an in-memory layer for the run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.memory: dict[bytes, np.ndarray] = {}
        self.hits = self.misses = self.written = 0

    def _path(self, key: bytes) -> Path:
        name = key.hex()
        return self.root / name[:2] / f"{name}.npy"

    def get(self, key: bytes) -> np.ndarray | None:
        value = self.memory.get(key)
        if value is None:
            try:
                value = np.load(self._path(key), allow_pickle=False)
            except (OSError, ValueError):
                self.misses += 1
                return None
            if value.dtype != np.float64 or value.ndim != 1:
                self.misses += 1
                return None
            self.memory[key] = value
        self.hits += 1
        return value

    def put(self, key: bytes, value: np.ndarray) -> None:
        value = np.asarray(value, dtype=np.float64).ravel().copy()
        self.memory[key] = value
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                np.save(f, value, allow_pickle=False)
            os.replace(tmp, path)
            self.written += 1
        except OSError:
            pass


class FitStore(dg.ConfigurableResource):
    base_dir: str  # the artifacts directory (the IO manager's)

    def cache(self, challenge: str) -> DirectoryFitCache:
        return DirectoryFitCache(Path(self.base_dir, "fits", safe_name(challenge)))
