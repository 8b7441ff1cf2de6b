"""The PTN scoring constants as one versioned object (ptn.md §1, §2).

V1 (the 2025 proposal) is the default. V0, V2 and V3 are the other selectable versions. Each of V2
and V3 changed several settings on different dates inside its period; the configuration for such a
version holds its settings as they stood at the end of the period, and docs/ptn.md lists the dates.
Every constant is a field, so an operator can pin any one of them (`dataclasses.replace`). No field
reads a clock: the evaluation time is always an argument.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from mechanisms.ptn.pairs import PAIRS

DAY_MS = 86_400_000
CELL_MS = 43_200_000  # a performance cell: 12 hours aligned to 00:00 and 12:00 UTC
METRICS = ("calmar", "sharpe", "omega", "sortino", "t_stat", "pnl")
VERSIONS = ("v0", "v1", "v2", "v3")


# pairs whose maximum leverage was 0 throughout V0–V3: metals and equities from 2025-04-15, indices from
# 2024-11-15 (the reference's vali_config.py of 2025-06-16)
BLOCKED_2025 = frozenset(p.id for p in PAIRS.values() if p.category in ("equities", "indices")) | {"XAUUSD", "XAGUSD"}


def _frozen(d: Mapping) -> Mapping:
    return MappingProxyType(dict(d))


def utc_ms(year: int, month: int, day: int) -> int:
    return int(dt.datetime(year, month, day, tzinfo=dt.timezone.utc).timestamp() * 1000)


@dataclass(frozen=True)
class Ramp:
    """The challenge period's minimum trading days as a step ramp: `start + step·⌊days since day0 / period⌋`,
    capped at `stop`; `start` before day0."""

    day0_ms: int
    start: int
    step: int
    period_days: int
    stop: int

    def at(self, at_ms: int) -> int:
        days = max(0, (at_ms - self.day0_ms) // DAY_MS)
        return min(self.stop, self.start + self.step * (days // self.period_days))


@dataclass(frozen=True)
class PTNConfig:
    """Every scoring constant of one version. Leverage is notional (1× = the account size)."""

    version: str = "v1"
    # recency weights (§5)
    decay_rate: float = 0.075
    decay_floor: float = 0.15
    pnl_decay_floor: float = 0.15
    lookback_days: int = 120
    # metrics (§6)
    metric_weights: Mapping[str, float] = field(default_factory=lambda: _frozen(
        {"calmar": 0.2, "sharpe": 0.2, "omega": 0.2, "sortino": 0.2, "t_stat": 0.2, "pnl": 0.0}))
    risk_free_rate: float = 0.0419
    days_in_year: Mapping[str, int] = field(default_factory=lambda: _frozen(
        {"crypto": 365, "forex": 365, "indices": 365, "equities": 365}))
    confidence_min_days: int = 60
    dynamic_confidence: bool = False          # V2+: min(20th-longest, median) of the competition, in [7, 60]
    dynamic_confidence_bounds: tuple[int, int] = (7, 60)
    dynamic_confidence_rank: int = 20
    metric_floor: float = 0.01                # the floors inside sharpe, sortino and omega
    gated_value: float = -100.0               # calmar, sharpe, sortino, t-stat below the confidence gate
    calmar_drawdown_cap: float = 10.0         # dd% at or above this gives calmar 0
    # the §11 corrections (off: the reference's behaviour)
    calmar_zero_dd_fix: bool = False          # A = 1/max(dd%, calmar_fix_floor_pct) instead of 0 at zero drawdown
    calmar_fix_floor_pct: float = 0.5
    sortino_floor_fix: bool = False           # < 2 downside days: the 0.01 floor instead of sortino 0
    # penalties (§7)
    drawdown_limit: float = 0.10
    min_collateral: bool = False              # V2+: a penalty below the minimum account size
    min_account_size: float = 150_000.0
    collateral_shortfall: float = 0.01        # that penalty
    default_account_size: float = 5_000.0     # the USD size when a miner's is unknown (pnl cells)
    risk_steps_against: int = 3
    risk_steps_new_max: int = 2
    risk_margin_utilisation: float = 0.5
    risk_advancement: float = 1.5
    risk_time_orders: int = 3
    risk_time_deviation: float = 0.185
    risk_return_power: float = 100.0
    risk_penalty_slope: float = 4.0
    risk_penalty_centre: float = 1.2
    # combination (§8)
    percentile_kind: str = "rank"             # rank (V0/V1) or strict (V2+)
    softmax_temperature: float = 0.25
    softmax_nonzero_only: bool = False        # V2+: zeros stay 0
    # asset segmentation (V2+): sub-category weights within a class, class emission shares
    segmented: bool = False
    class_shares: Mapping[str, float] = field(default_factory=lambda: _frozen({"crypto": 0.5, "forex": 0.5}))
    subcategory_weights: Mapping[str, float] = field(default_factory=lambda: _frozen({}))
    # buckets (§9)
    challenge_min_days: int | Ramp = field(default_factory=lambda: Ramp(utc_ms(2025, 6, 6), 60, 7, 14, 120))
    challenge_max_days: int = 150
    probation_max_days: int | None = 30
    promotion: str = "rank"                   # "percentile" (V0) or "rank"
    promotion_rank: int = 25
    promotion_percentile: float = 0.75
    promotion_per_class: bool = False         # V2+: the rank applies within each asset class
    # weights (§10.1)
    dust_high: float = 2.4e-5
    dust_low: float = 1.2e-5
    dust_full_days: int = 120                 # testing scores × sqrt(trading days / this)
    # positions (§3)
    leverage_bounds: Mapping[str, tuple[float, float]] = field(default_factory=lambda: _frozen(
        {"crypto": (0.01, 0.5), "forex": (0.1, 5.0), "indices": (0.1, 5.0), "equities": (0.1, 3.0)}))
    portfolio_leverage_cap: float = 10.0
    portfolio_multipliers: Mapping[str, float] = field(default_factory=lambda: _frozen(
        {"crypto": 10.0, "forex": 1.0, "indices": 1.0, "equities": 2.0}))
    order_leverage_bounds: tuple[float, float] = (0.001, 500.0)
    cooldown_ms: int = 10_000
    min_position_ms: int = 60_000             # a closed position shorter than this is not a position (§9 screen)
    max_open_orders: int | None = 200         # orders across a miner's open positions (FLAT always passes)
    fill_mark_factor: float = 2.0             # a fill more than this factor off the pair's nearest mark is refused
    blocked_pairs: frozenset[str] = field(default_factory=lambda: BLOCKED_2025)
    carry_annual: Mapping[str, float] = field(default_factory=lambda: _frozen(
        {"crypto": 0.1095, "forex": 0.03, "indices": 0.0525, "equities": 0.0525}))

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ValueError(f"version {self.version!r} is not one of {', '.join(VERSIONS)}")
        if self.percentile_kind not in ("rank", "strict"):
            raise ValueError(f"percentile_kind {self.percentile_kind!r} is not rank or strict")
        if self.promotion not in ("percentile", "rank"):
            raise ValueError(f"promotion {self.promotion!r} is not percentile or rank")
        if set(self.metric_weights) != set(METRICS):
            raise ValueError(f"metric_weights must name exactly {', '.join(METRICS)}")
        for name in ("decay_rate", "softmax_temperature", "lookback_days", "challenge_max_days"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive and finite, not {value!r}")
        if not 0 <= self.decay_floor <= 1 or not 0 <= self.pnl_decay_floor <= 1:
            raise ValueError("decay floors must lie in [0, 1]")

    @property
    def lookback_ms(self) -> int:
        return self.lookback_days * DAY_MS

    def challenge_minimum(self, at_ms: int) -> int:
        """Trading days a challenger needs before it can be promoted, at the evaluation time."""
        m = self.challenge_min_days
        return m.at(at_ms) if isinstance(m, Ramp) else int(m)

    def daily_risk_free(self, category: str = "crypto") -> float:
        """The daily log risk-free rate: ln(1 + rf)/D (as `log(1 + rf)`, bit for bit the reference's: a
        day returning exactly this is not a downside day in either)."""
        return math.log(1.0 + self.risk_free_rate) / self.days_in_year[category]

    def carry_factor(self, category: str) -> float:
        """One fee interval's factor: crypto three times a day, the others daily."""
        per_year = 365 * 3 if category == "crypto" else 365
        return (1.0 - self.carry_annual[category]) ** (1.0 / per_year)

    def with_fixes(self) -> PTNConfig:
        """The §11 corrections on: the project's fixed mode."""
        return dataclasses.replace(self, calmar_zero_dd_fix=True, sortino_floor_fix=True)


def v0() -> PTNConfig:
    """Pre-proposal: five metrics × 0.2, decay 0.08 floor 0.40, 90 days, T 0.125, 60 days in at most
    90, promotion at the 75th percentile of the main competition, no probation."""
    return PTNConfig(version="v0", decay_rate=0.08, decay_floor=0.40, pnl_decay_floor=0.40, lookback_days=90,
                     softmax_temperature=0.125, challenge_min_days=60, challenge_max_days=90,
                     probation_max_days=None, promotion="percentile")


def v1_proposal() -> PTNConfig:
    """The 2025 proposal (the default): decay 0.075 floor 0.15, 120 days, T 0.25, the 60 → 120 ramp,
    150 days at most, promotion by rank 25, 30 days of probation."""
    return PTNConfig()


# the reference's sub-category shares of their class's emission (vali_config.py, 2025-08-30)
_V2_SUBCATEGORIES = {"crypto_majors": 0.5, "crypto_alts": 0.5, "forex_group1": 0.2927, "forex_group2": 0.1463,
                     "forex_group3": 0.2073, "forex_group4": 0.0976, "forex_group5": 0.2561}


def v2() -> PTNConfig:
    """Asset-segmented, as it stood from 2025-08-22: T 0.15, strict percentiles, rank 15 per asset
    class, PnL 0.30 and the others 0.14, the minimum-collateral penalty, the dynamic confidence gate,
    252 trading days a year for forex."""
    return dataclasses.replace(
        v1_proposal(), version="v2", softmax_temperature=0.15, percentile_kind="strict", softmax_nonzero_only=True,
        metric_weights=_frozen({"calmar": 0.14, "sharpe": 0.14, "omega": 0.14, "sortino": 0.14, "t_stat": 0.14,
                                "pnl": 0.30}),
        days_in_year=_frozen({"crypto": 365, "forex": 252, "indices": 252, "equities": 252}),
        min_collateral=True, dynamic_confidence=True, segmented=True,
        subcategory_weights=_frozen(_V2_SUBCATEGORIES), promotion_rank=15, promotion_per_class=True)


def v3() -> PTNConfig:
    """Shortened challenge period, as it stood from 2025-10-23: 61 days in at most 90, PnL 0.90 and the
    others 0.02, the PnL decay floor 0.045, risk-free 3.89 %."""
    return dataclasses.replace(
        v2(), version="v3", challenge_min_days=61, challenge_max_days=90, pnl_decay_floor=0.045,
        risk_free_rate=0.0389,
        metric_weights=_frozen({"calmar": 0.02, "sharpe": 0.02, "omega": 0.02, "sortino": 0.02, "t_stat": 0.02,
                                "pnl": 0.90}))


CONFIGS = {"v0": v0, "v1": v1_proposal, "v2": v2, "v3": v3}


def config_for(version: str, fixed: bool = False) -> PTNConfig:
    """The named version's configuration; `fixed` turns on the §11 corrections."""
    try:
        config = CONFIGS[version.lower()]()
    except KeyError:
        raise ValueError(f"unknown PTN version {version!r}: one of {', '.join(VERSIONS)}") from None
    return config.with_fixes() if fixed else config
