"""The Almanac constants (§1 at upstream HEAD) and the two switches: variant and mode."""

from __future__ import annotations

from dataclasses import dataclass

VARIANTS = ("head", "seed_excerpt")
MODES = ("compat", "fixed")
SOLVERS = ("closed_form", "cvxpy")
POOLS = ("miner", "gp")


@dataclass(frozen=True)
class AlmanacParams:
    """Defaults are upstream HEAD's values; `variant` picks the Phase 1/2 shape (§8, §9), `mode` whether
    the §17 corrections that change results apply, `solver` the closed forms or the cvxpy program."""

    variant: str = "head"
    mode: str = "compat"
    solver: str = "closed_form"
    window_days: int = 30          # ROLLING_HISTORY_IN_DAYS: epochs in the window
    volume_fee: float = 0.01       # fee rate inside kappa
    roi_min: float = 0.0
    volume_min: float = 1.0        # v_min: eligibility floor and "epoch-active" threshold
    volume_decay: float = 0.85
    rho_cap: float = 0.06          # Phase 1 per-entity share of the budget
    kappa_next: float = 0.03       # fallback, deliberately not divided by the scaling factor
    kappa_scaling: float = 8.0
    kappa_min_rows: int = 5
    kappa_smooth: float = 0.3      # weight of the statistic against a prior that is never given
    dust_gate: float = 0.001
    relieve_dust: bool = False     # Phase 1: lower a floor above its diversity cap (not upstream; off)
    entropy_tau: float = 0.005     # Phase 1 entropy smoothing (head)
    phase2_lambda: float = 5.0
    min_epochs: int = 3            # build-up: epochs with an eligible trade
    min_trades: int = 5            # build-up: eligible trades in the window
    inactivity_epochs: int = 10    # miner pool (head): a trade in the last N epochs
    volume_tolerance: float = 5.0  # record rule: volume grown outside Almanac
    fee_tolerance: float = 0.9     # record rule: fee not collected
    fee_floor: bool = True         # §12.1 (head only; the seed excerpt has none)
    fee_floor_multiplier: float = 0.7
    static_weighting: bool = False
    gp_weight_share: float = 0.5
    max_budget_share_for_boost: float = 0.25
    miner_budget_boost: float = 0.0
    miner_weight_boost: float = 0.75
    burn_uid: int = 210

    def __post_init__(self) -> None:
        for name, value, allowed in (("variant", self.variant, VARIANTS), ("mode", self.mode, MODES),
                                     ("solver", self.solver, SOLVERS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if self.window_days < 1:
            raise ValueError("window_days must be at least 1")

    @property
    def head(self) -> bool:
        return self.variant == "head"

    @property
    def fixed(self) -> bool:
        return self.mode == "fixed"

    @property
    def alpha(self) -> float:
        """Weight of this epoch's volume in v_eff: 1 / (2 − decay)."""
        return 1.0 / (2.0 - self.volume_decay)
