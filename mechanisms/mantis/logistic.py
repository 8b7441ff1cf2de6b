"""Logistic models as their quadratic approximation at even odds: one Newton step, in closed form.

Fixed mode's models see forecasts whose AUCs lie within a few points of 0.5, so the fitted
log-odds stay near 0, where the logistic loss is its second-order expansion to within the cube of
the log-odds: the model that minimises the expansion is the logistic fit to that order (on the
devnet's panels the salience is the same to three decimals). It has a closed form, or for the
elastic net an exact coordinate descent on a small Gram matrix, so there is no solver tolerance or
iteration count for validators to agree on, and a fit costs one pass over its rows.

The objective is scikit-learn's, with class_weight="balanced" (n / (2·n_class) per row, times the
sample weight s): C·Σ sᵢ·logloss(yᵢ, xᵢ·w + b) + penalty(w), the intercept unpenalised. At
w = 0, b = 0 the loss is ln 2 + (½ − y)·η + η²/8, η = x·w + b; minimising over b centres x and y by
their weighted means, leaving C·(−g·w + ½·w·H·w) + penalty(w) with g = Σ s (y − ȳ) x̃ and
H = ¼ Σ s x̃ x̃ᵀ.
"""

from __future__ import annotations

import numpy as np


def _balanced(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Row weights: s times n / (2·n_class) over the rows with s > 0 (scikit-learn's "balanced",
    which counts the labels alone)."""
    used = s > 0
    n = used.sum(axis=-1, keepdims=True).astype(np.float64)
    ones = (used & (y == 1)).sum(axis=-1, keepdims=True).astype(np.float64)
    zeros = n - ones
    with np.errstate(divide="ignore", invalid="ignore"):
        cw = np.where(y == 1, n / (2.0 * ones), n / (2.0 * zeros))
    return np.where(used, s * cw, 0.0)


def ridge_step(X: np.ndarray, y: np.ndarray, s: np.ndarray, C: float) -> np.ndarray:
    """(K, D + 1) coefficients then intercept of K independent L2 problems (penalty ½‖w‖²), each
    the minimiser of the quadratic expansion: w = (C·H + I)⁻¹ C·g, b = logit(ȳ) − x̄·w.

    X (K, D, N) features, y (K, N) labels in {0, 1}, s (K, N) row weights ≥ 0 (0: not in that
    problem; both classes must have weight). Sums run along each problem's own row, and the solve
    is per matrix, so a problem gives the same bits alone or in any batch. A problem whose C·H + I
    is singular in floating point (only values far beyond any valid forecast: ±inf, or ~1e8 and
    more with collinear features) gets NaN coefficients and leaves the others as they are.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    s = _balanced(y, np.asarray(s, dtype=np.float64))
    K, D, _ = X.shape
    total = np.sum(s, axis=-1)
    ybar = np.sum(s * y, axis=-1) / total
    xbar = np.stack([np.sum(s * X[:, d, :], axis=-1) / total for d in range(D)], axis=1)  # (K, D)
    xc = X - xbar[:, :, None]
    resid = s * (y - ybar[:, None])
    g = np.stack([np.sum(resid * xc[:, d, :], axis=-1) for d in range(D)], axis=1)
    H = np.empty((K, D, D))
    for a in range(D):
        sa = s * xc[:, a, :]
        for b in range(a, D):
            H[:, a, b] = H[:, b, a] = 0.25 * np.sum(sa * xc[:, b, :], axis=-1)
    A, rhs = C * H + np.eye(D), C * g[:, :, None]
    try:
        w = np.linalg.solve(A, rhs)[:, :, 0]
    except np.linalg.LinAlgError:  # one problem's overflowing inputs must not fail the batch
        w = np.stack([_solve_or_nan(A[k], rhs[k]) for k in range(K)])
    intercept = np.log(ybar) - np.log1p(-ybar) - np.sum(xbar * w, axis=1)
    return np.concatenate([w, intercept[:, None]], axis=1)


def _solve_or_nan(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A (D, D) · w = b (D, 1) solved alone, or NaN where A is singular (ridge_step's fallback)."""
    try:
        return np.linalg.solve(A, b)[:, 0]
    except np.linalg.LinAlgError:
        return np.full(len(b), np.nan)


class QuadraticElasticNet:
    """The elastic-net logistic model (penalty l1·‖w‖₁ + (1 − l1)/2·‖w‖²) through its quadratic
    expansion; `coef_` (1, K) as scikit-learn's estimators give it, for the block bootstrap.

    The problem is a small strictly convex quadratic with an ℓ1 term. Cyclic coordinate descent
    finds its signs, then the active set is solved exactly (a linear system on the nonzero
    coordinates, their signs fixed) and corrected until the optimality conditions hold: the
    result is the minimiser to rounding, not to a tolerance."""

    def __init__(self, C: float, l1_ratio: float, *, sweeps: int = 200, refinements: int = 100) -> None:
        self.C, self.l1_ratio, self.sweeps, self.refinements = C, l1_ratio, sweeps, refinements
        self.coef_ = np.zeros((1, 0))

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> "QuadraticElasticNet":
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        s = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if np.unique(y).size < 2:
            raise ValueError("one class")
        s = _balanced(y[None, :], s[None, :])[0]
        total = s.sum()
        xc = X - (s @ X) / total
        # the objective C·(−g·w + ½ w·H·w) + l1‖w‖₁ + (1 − l1)/2‖w‖², as ½ w·Q·w − b·w + l1‖w‖₁
        b = self.C * (xc.T @ (s * (y - (s @ y) / total)))
        Q = 0.25 * self.C * (xc.T @ (xc * s[:, None])) + (1.0 - self.l1_ratio) * np.eye(X.shape[1])
        self.coef_ = _lasso_qp(Q, b, self.l1_ratio, self.sweeps, self.refinements)[None, :]
        return self


def _lasso_qp(Q: np.ndarray, b: np.ndarray, lam: float, sweeps: int, refinements: int) -> np.ndarray:
    """argmin ½ w·Q·w − b·w + lam·‖w‖₁ for Q symmetric positive definite."""
    K = len(b)
    w = np.zeros(K)
    diag = np.diag(Q)
    for _ in range(sweeps):
        largest = 0.0
        for j in range(K):
            rho = b[j] - Q[j] @ w + diag[j] * w[j]
            new = np.sign(rho) * max(abs(rho) - lam, 0.0) / diag[j]
            largest = max(largest, abs(new - w[j]))
            w[j] = new
        if largest < 1e-10:
            break
    for _ in range(refinements):  # exact on the active set, then the conditions
        active = np.flatnonzero(w)
        sign = np.sign(w[active])
        w = np.zeros(K)
        if len(active):
            w[active] = np.linalg.solve(Q[np.ix_(active, active)], b[active] - lam * sign)
        flipped = active[np.sign(w[active]) != sign]
        if len(flipped):
            w[flipped] = 0.0
            continue
        grad = b - Q @ w  # optimal: grad = lam·sign(w) where w ≠ 0, |grad| ≤ lam where w = 0
        slack = np.where(w == 0, np.abs(grad) - lam, 0.0)
        worst = int(np.argmax(slack))
        if slack[worst] <= 1e-12 * max(1.0, lam):
            break
        w[worst] = np.sign(grad[worst]) * 1e-300  # enters the active set with the sign it wants
    return w
