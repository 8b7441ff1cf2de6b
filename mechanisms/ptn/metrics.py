"""The per-miner PTN metrics (ptn.md §5, §6) as pure functions of the daily series.

Every metric takes the complete-UTC-day log returns `r`, oldest first, and builds its own recency
weights from the configuration, so a caller never has to keep a weight vector in step with a series.
Where the spec leaves a detail open, the functions follow the reference validator as it stood on
2025-06-16 (taoshidev/proprietary-trading-network a0382f75, `vali_objects/utils/metrics.py` and
`ledger_utils.py`): Sharpe and Sortino subtract the *annual* risk-free rate from the annualised
weighted mean; volatilities are population-style weighted variances; Calmar's drawdown factor is
`1/dd%` strictly inside (0, cap) with no other factor. The PnL metric (2025-08-15, 7184e95d) and the
dynamic confidence gate (2025-08-22, ac399221) follow the commits that introduced them.

Hostile input never raises: an empty series, or one holding NaN or ±inf, gives the metric's gated
value (calmar, sharpe, sortino and t-stat `cfg.gated_value`, omega 0, pnl 0), and so does a result
that overflows, since a miner whose numbers cannot be evaluated must not outrank one whose can.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import numpy as np

from mechanisms.ptn.config import METRICS, PTNConfig

OMEGA_GATED = 0.0             # omega below the confidence gate (and PnL with no data)
ZERO_VARIANCE_ATOL = 1e-8      # the reference's np.isclose(var, 0): below this the t-stat is gated


def decay_weights(n: int, rate: float, floor: float) -> np.ndarray:
    """Recency weights for n daily values, oldest first: `floor + (1 − floor)·exp(−rate·age)`, the
    newest day (age 0) weighing 1, so recent days dominate while old ones keep at least `floor`."""
    if n <= 0:
        return np.zeros(0)
    age = np.arange(n - 1, -1, -1, dtype=float)
    return floor + (1.0 - floor) * np.exp(-rate * age)


def weighted_mean(x: np.ndarray, w: np.ndarray) -> float:
    """Σ w·x / Σ w; 0 for no values or no weight (the reference's average of nothing)."""
    x = np.asarray(x, dtype=float).ravel()
    w = np.asarray(w, dtype=float).ravel()
    total = float(np.sum(w))
    if x.size == 0 or not total > 0:
        return 0.0
    return float(np.dot(w, x) / total)


def weighted_variance(x: np.ndarray, w: np.ndarray) -> float:
    """Population-style weighted variance around the weighted mean (no Bessel correction: the
    reference divides by Σ w, not by an effective sample size)."""
    x = np.asarray(x, dtype=float).ravel()
    mu = weighted_mean(x, w)
    return weighted_mean((x - mu) ** 2, w)


def _series(values: np.ndarray | Sequence[float]) -> np.ndarray | None:
    """The values as a flat float array, or None when any is NaN or ±inf (they cannot be scored)."""
    x = np.asarray(values, dtype=float).ravel()
    return x if bool(np.all(np.isfinite(x))) else None


def _finite(value: float, fallback: float) -> float:
    return float(value) if math.isfinite(value) else float(fallback)


def _weights(n: int, cfg: PTNConfig) -> np.ndarray:
    return decay_weights(n, cfg.decay_rate, cfg.decay_floor)


def _excess_return(x: np.ndarray, w: np.ndarray, cfg: PTNConfig, days: int) -> float:
    """Annualised weighted mean minus the annual risk-free rate (the reference subtracts rf itself,
    not ln(1 + rf))."""
    return weighted_mean(x, w) * days - cfg.risk_free_rate


def sharpe(r: np.ndarray, cfg: PTNConfig, category: str = "crypto") -> float:
    """Annual excess return over annualised weighted volatility, the volatility floored at
    `cfg.metric_floor` so a near-constant series cannot score without bound. One day has no
    volatility: the reference calls it infinite, giving 0."""
    x = _series(r)
    if x is None or x.size == 0:
        return float(cfg.gated_value)
    if x.size < 2:
        return 0.0
    days = cfg.days_in_year[category]
    w = _weights(x.size, cfg)
    with np.errstate(over="ignore", invalid="ignore"):
        volatility = math.sqrt(weighted_variance(x, w) * days)
        value = _excess_return(x, w, cfg, days) / max(volatility, cfg.metric_floor)
    return _finite(value, cfg.gated_value)


def sortino(r: np.ndarray, cfg: PTNConfig, category: str = "crypto") -> float:
    """Sharpe's numerator over the downside volatility: the days below the daily log risk-free rate,
    with their own recency weights and their own weighted mean. Fewer than two downside days make
    the reference's volatility infinite and the ratio 0, which punishes a miner for never losing;
    `cfg.sortino_floor_fix` uses the volatility floor instead."""
    x = _series(r)
    if x is None or x.size == 0:
        return float(cfg.gated_value)
    days = cfg.days_in_year[category]
    w = _weights(x.size, cfg)
    down = x < cfg.daily_risk_free(category)
    with np.errstate(over="ignore", invalid="ignore"):
        if int(down.sum()) < 2:
            if not cfg.sortino_floor_fix:
                return 0.0
            volatility = 0.0
        else:
            volatility = math.sqrt(weighted_variance(x[down], w[down]) * days)
        value = _excess_return(x, w, cfg, days) / max(volatility, cfg.metric_floor)
    return _finite(value, cfg.gated_value)


def omega(r: np.ndarray, cfg: PTNConfig, category: str = "crypto") -> float:
    """Weighted gains over weighted losses, `(P·W⁻) / max(|N|·W⁺, floor)` with both weight sums
    floored: the reference floors the cross products rather than the per-side means, and this keeps
    that. `category` is accepted for a uniform signature; omega is not annualised."""
    x = _series(r)
    if x is None or x.size == 0:
        return OMEGA_GATED
    w = _weights(x.size, cfg)
    up = x > 0
    floor = cfg.metric_floor
    with np.errstate(over="ignore", invalid="ignore"):
        gains = float(np.dot(w[up], x[up]))
        losses = float(np.dot(w[~up], x[~up]))
        weight_up = max(float(w[up].sum()), floor)
        weight_down = max(float(w[~up].sum()), floor)
        value = gains * weight_down / max(abs(losses) * weight_up, floor)
    return _finite(value, OMEGA_GATED)


def calmar(r: np.ndarray, drawdown_pct: float, cfg: PTNConfig, category: str = "crypto") -> float:
    """Annualised weighted return in percent times `A`, the inverse drawdown percentage. In the
    reference (a0382f75) `A = 1/dd%` for `0 < dd% < cap` and 0 otherwise, so a miner that never drew
    down scores 0; `cfg.calmar_zero_dd_fix` uses `1/max(dd%, 0.5)` below the cap instead. A drawdown
    that is NaN or ±inf gives the gated value, like a series that is."""
    x = _series(r)
    dd = float(drawdown_pct)
    if x is None or x.size == 0 or not math.isfinite(dd):
        return float(cfg.gated_value)
    if dd >= cfg.calmar_drawdown_cap:
        factor = 0.0
    elif cfg.calmar_zero_dd_fix:
        factor = 1.0 / max(dd, cfg.calmar_fix_floor_pct)
    else:
        factor = 1.0 / dd if dd > 0 else 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        value = 100.0 * weighted_mean(x, _weights(x.size, cfg)) * cfg.days_in_year[category] * factor
    return _finite(value, cfg.gated_value)


def t_stat(r: np.ndarray, gated_value: float = PTNConfig.gated_value) -> float:
    """One-sample t of the unweighted daily returns against 0, `mean / (s/√n)` with the sample
    standard deviation. Gated for fewer than two days or a variance the reference deems zero (its
    `np.isclose(var, 0)`: population variance within 1e-8)."""
    x = _series(r)
    if x is None or x.size < 2:
        return float(gated_value)
    n = x.size
    with np.errstate(over="ignore", invalid="ignore"):
        variance = float(np.var(x))
        if not variance > ZERO_VARIANCE_ATOL:
            return float(gated_value)
        value = float(np.mean(x)) / math.sqrt(variance / (n - 1))
    return _finite(value, gated_value)


def pnl_metric(daily_pnl: np.ndarray, cfg: PTNConfig) -> float:
    """Recency-weighted mean of the daily USD PnL with its own floor `cfg.pnl_decay_floor`; 0 with no
    data. Never gated by days: it is what lets a new miner rank at all from V2."""
    x = _series(daily_pnl)
    if x is None or x.size == 0:
        return OMEGA_GATED
    with np.errstate(over="ignore", invalid="ignore"):
        value = weighted_mean(x, decay_weights(x.size, cfg.decay_rate, cfg.pnl_decay_floor))
    return _finite(value, OMEGA_GATED)


def miner_metrics(r: np.ndarray, daily_pnl: np.ndarray, drawdown_pct: float, min_days: int, cfg: PTNConfig,
                  category: str = "crypto") -> dict[str, float]:
    """All six metrics, keyed as `config.METRICS`, behind the confidence gate: with fewer than
    `min_days` days calmar, sharpe, sortino and t-stat are `cfg.gated_value` and omega 0, so a short
    record cannot rank on luck. PnL is never gated."""
    x = _series(r)
    if x is None or x.size == 0 or x.size < min_days:
        gated = float(cfg.gated_value)
        out = {"calmar": gated, "sharpe": gated, "omega": OMEGA_GATED, "sortino": gated, "t_stat": gated}
    else:
        out = {"calmar": calmar(x, drawdown_pct, cfg, category), "sharpe": sharpe(x, cfg, category),
               "omega": omega(x, cfg, category), "sortino": sortino(x, cfg, category),
               "t_stat": t_stat(x, cfg.gated_value)}
    out["pnl"] = pnl_metric(daily_pnl, cfg)
    return {name: out[name] for name in METRICS}


def dynamic_min_days(trading_days: Sequence[int], cfg: PTNConfig) -> int:
    """The V2+ confidence gate (ac399221): among participants with at least one trading day, the
    shorter of the `cfg.dynamic_confidence_rank`-th longest record and the median (truncated to a
    whole day), clamped to `cfg.dynamic_confidence_bounds`. With no participants listed at all the
    upper bound applies; with some listed but fewer than the rank holding a trading day, the lower
    bound, so a thin competition opens quickly."""
    low, high = cfg.dynamic_confidence_bounds
    days = [int(d) if math.isfinite(d) else 0 for d in (float(v) for v in trading_days)]
    if not days:
        return int(high)
    active = sorted((d for d in days if d > 0), reverse=True)
    rank = cfg.dynamic_confidence_rank
    if len(active) < rank:
        return int(low)
    chosen = min(active[rank - 1], int(statistics.median(active)))
    return int(max(low, min(high, chosen)))
