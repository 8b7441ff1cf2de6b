"""Block-bootstrap aggregation of |coefficients| (mantis.md §11.0), shared by the meta-models.

Blocks of consecutive rows keep the serial dependence of overlapping labels inside each replicate,
and a median of replicate means makes one unlucky replicate unable to move the result.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np


class LinearModel(Protocol):
    coef_: np.ndarray

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> "LinearModel": ...


def block_bootstrap_coefs(
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray,
    model: Callable[[int], LinearModel],
    *,
    replicates: int,
    block: int,
    seed: int,
    use_all_replicates: bool,
) -> np.ndarray | None:
    """Median of means of |coef| over block-bootstrap replicates; None when no replicate fits.

    `model(random_state)` builds a fresh estimator. Replicate j draws T // block sorted block starts
    from default_rng(seed + j) and fits with random_state = seed + j. The reference groups successful
    replicates into min(4, n) groups of n // g consecutive ones and drops the remainder (F10);
    `use_all_replicates` spreads every replicate over near-equal groups instead.
    """
    T = len(y)
    if T < 2 * block or np.unique(y).size < 2:
        return None
    n_blocks = T // block
    coefs = []
    for j in range(replicates):
        rng = np.random.default_rng(seed + j)
        starts = np.sort(rng.integers(0, T - block + 1, size=n_blocks))
        idx = (starts[:, None] + np.arange(block)[None, :]).ravel()
        if np.unique(y[idx]).size < 2:
            continue
        try:
            fitted = model(seed + j).fit(X[idx], y[idx], sample_weight=sample_weight[idx])
        except (ValueError, FloatingPointError):
            continue
        coefs.append(np.abs(np.asarray(fitted.coef_, dtype=np.float64).ravel()))
    if not coefs:
        return None
    return median_of_means(np.stack(coefs), use_all_replicates)


def median_of_means(stack: np.ndarray, use_all_replicates: bool) -> np.ndarray:
    """Element-wise median of the means of min(4, n) groups of consecutive replicates (n, K): the
    reference's groups of n // g, the remainder dropped (F10), or with `use_all_replicates` every
    replicate in near-equal groups; the plain mean with fewer than two groups."""
    groups = min(4, len(stack))
    if groups < 2:
        return stack.mean(axis=0)
    if use_all_replicates:
        parts = np.array_split(stack, groups)
    else:
        size = len(stack) // groups
        parts = [stack[g * size : (g + 1) * size] for g in range(groups)]
    return np.median(np.stack([p.mean(axis=0) for p in parts]), axis=0)
