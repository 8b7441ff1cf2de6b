"""Where fixed-mode scorers keep their fits: `<artifacts>/fits/<challenge>/<key[:2]>/<key>.npy`.

A fit's key is a hash of the exact inputs it was fitted on (mechanisms/mantis/fitcache.py), so a
file is never stale: a rerun of any epoch finds the fits its data implies and refits the rest.
A file that cannot be read is a miss and is fitted again; a store that cannot be written costs
time, never a result. Every read marks its file as used, and once a day the salience asset drops
the files no epoch has read for `keep_days` (closed windows that the history cap has passed, gates
of past days): the store stays the size of the live history, and a rerun of an older epoch fits
what it needs again.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
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
            path = self._path(key)
            value = _read_vector(path)
            if value is None:
                self.misses += 1
                return None
            with contextlib.suppress(OSError):  # in use: `prune` keeps it
                os.utime(path)
            self.memory[key] = value
        self.hits += 1
        return value

    def put(self, key: bytes, value: np.ndarray) -> None:
        value = np.asarray(value, dtype=np.float64).ravel().copy()
        self.memory[key] = value
        path = self._path(key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                np.save(f, value, allow_pickle=False)
            os.replace(tmp, path)
            self.written += 1
        except OSError:
            if tmp is not None:  # a full disk must not fill up with half-written temporaries
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def prune(self, keep_days: float, now: float | None = None, every_s: float = 86_400.0) -> int:
        """Remove the fits (and stray temporaries) not read or written for `keep_days`; at most once
        per `every_s` (a marker file's time), so an epoch normally costs one stat. Returns how
        many files went. Errors (a file already gone, a read-only store) are skipped."""
        now = time.time() if now is None else now
        marker = self.root / ".pruned"
        try:
            if now - marker.stat().st_mtime < every_s:
                return 0
        except OSError:
            pass
        cutoff, removed = now - keep_days * 86_400.0, 0
        for path in self.root.glob("*/*"):
            with contextlib.suppress(OSError):
                if path.suffix in (".npy", ".tmp") and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        with contextlib.suppress(OSError):
            self.root.mkdir(parents=True, exist_ok=True)
            marker.touch()
            os.utime(marker, (now, now))
        return removed


_MAX_BYTES = 1 << 16  # a fit is a few dozen numbers: a larger file is not one


def _read_vector(path: Path) -> np.ndarray | None:
    """The float64 vector a `put` wrote at `path`, or None for anything else: a missing or
    unreadable file, an empty or truncated one (a crash between the rename and the data reaching
    the disk), another format, dtype or shape. The header is checked against the file's length
    before anything is allocated, so no file can make the reader raise or allocate more than
    `_MAX_BYTES`."""
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_BYTES + 1)
        stream = io.BytesIO(data)
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            return None
    except (OSError, ValueError, EOFError):
        return None
    offset = stream.tell()
    if dtype != np.float64 or len(shape) != 1 or shape[0] * 8 != len(data) - offset:
        return None
    return np.frombuffer(data, dtype=np.float64, count=shape[0], offset=offset).copy()


class FitStore(dg.ConfigurableResource):
    base_dir: str  # the artifacts directory (the IO manager's)
    # fits no epoch has read for this long are dropped (the fixed-mode history is 60 days)
    keep_days: float = 90.0

    def cache(self, challenge: str) -> DirectoryFitCache:
        return DirectoryFitCache(Path(self.base_dir, "fits", safe_name(challenge)))
