"""What every MANTIS scorer does on entry: check the panel it is given, put its columns in
sorted-hotkey order, and run single-threaded (mantis.md §14)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits


def checked_panel(X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, hotkeys: Sequence[str], mode: str,
                  dim: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], np.ndarray]:
    """(X float32, sidx int64, prices float64, hotkeys, cols): the panel checked (ValueError saying
    what disagrees), with `cols` the column order that sorts the hotkeys (stable)."""
    if mode not in ("compat", "fixed"):
        raise ValueError(f"mode must be 'compat' or 'fixed', not {mode!r}")
    X = np.asarray(X)
    X = X if X.dtype == np.float32 else X.astype(np.float32)
    sidx, prices = np.asarray(sidx), np.asarray(prices, dtype=np.float64)
    hotkeys = [str(h) for h in hotkeys]
    width = "D" if dim is None else str(dim)
    if (X.ndim != 3 or (dim is not None and X.shape[2] != dim) or X.shape[1] != len(hotkeys)
            or sidx.shape != (len(X),) or prices.shape != (len(X),)):
        raise ValueError(f"panel shapes disagree: X (T, H, {width}), sidx (T,), prices (T,), hotkeys (H,)")
    if sidx.dtype.kind not in "iu":
        raise ValueError("sidx must be integers")
    if len(set(hotkeys)) != len(hotkeys):
        raise ValueError("hotkeys must be unique")
    return X, sidx.astype(np.int64), prices, hotkeys, np.argsort(np.asarray(hotkeys, dtype=str), kind="stable")


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """One thread for every BLAS/OpenMP call (threaded reductions round differently from run to run
    and machine to machine, and validators must agree to the bit), solver warnings silenced."""
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
