"""The Bettensor scoring constants as one object (vesting_bettensor.md §6, §7, §8).

Every constant is a field so an operator can pin any one of them (`dataclasses.replace`); nothing
here reads a clock: the day being scored is always an argument.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_MS = 86_400_000
BET_TYPES = ("moneyline", "spread", "total")
HISTORY_DAYS = 45  # the circular buffer of daily wagers and composites, and the longest tier window


@dataclass(frozen=True)
class Tier:
    """One row of the §6 table. `index` is internal; operators see `index − 1`."""

    index: int
    window_days: int
    min_wager: float
    share: float  # capacity as a share of the metagraph's uids: int(n·share), 51 of 256 for 0.2

    def capacity(self, n_uids: int) -> int:
        return int(n_uids * self.share)

    @property
    def display(self) -> int:
        return self.index - 1

    @property
    def min_active_days(self) -> int:
        return max(1, int(0.5 * self.window_days))


TIERS = (
    Tier(0, 0, 0.0, 1.0),        # empty: not a registered miner
    Tier(1, 0, 0.0, 1.0),        # display 0, invalid
    Tier(2, 3, 0.0, 1.0),        # display 1, every valid miner
    Tier(3, 7, 4_000.0, 0.2),
    Tier(4, 15, 10_000.0, 0.2),
    Tier(5, 30, 20_000.0, 0.1),
    Tier(6, 45, 35_000.0, 0.05),
)
LOWEST_VALID = 2  # valid miners never go below internal 2 (display 1)


@dataclass(frozen=True)
class BettensorConfig:
    tiers: tuple[Tier, ...] = TIERS
    # §6 composite
    w_clv: float = 0.3
    w_roi: float = 0.3
    w_risk: float = 0.3
    w_entropy: float = 0.1
    # §6 weights: exp(steepness·rank) plus `tier_bonus` per tier step above the lowest populated tier
    steepness: float = 7.0
    tier_bonus: float = 0.15
    # only miners with an accepted prediction received in the last `weight_active_days` days are ranked
    # (the reference computes this filter and never applies it, so idle uids share the weights)
    weight_active_days: int = 7
    # §7 ROI gate: internal tier ≥ gate_tier needs mean daily ROI ≥ 0 over gate_days, when at least
    # gate_min_days of them have settled predictions
    gate_tier: int = 4
    gate_days: int = 15
    gate_min_days: int = 5
    # §8.4 intake
    daily_balance: float = 1_000.0
    odds_rel_tol: float = 1e-9
    # a hotkey's accepted predictions per game: bounds the entropy pools' quadratic work against one
    # miner flooding a game with tiny wagers (docs/bettensor.md, "Limits")
    max_per_game: int = 10
    # §8.2 entropy
    entropy_range: float = 10.0
    # The day's entropy score divides each miner's sum by the day's largest absolute sum, so it stays in
    # [−1, 1]; False divides by the largest sum as §8.2 writes, which is unbounded when that sum is
    # barely positive (docs/bettensor.md). Either way a day whose largest sum is ≤ 0 scores 0.
    entropy_bounded: bool = True
    entropy_time_scale_s: float = 3_600.0

    def __post_init__(self) -> None:
        if [t.index for t in self.tiers] != list(range(len(self.tiers))) or len(self.tiers) < 4:
            raise ValueError("tiers must be indexed 0, 1, 2, … in order, at least up to 3")
        if any(t.window_days > HISTORY_DAYS for t in self.tiers):
            raise ValueError(f"a tier window longer than the {HISTORY_DAYS}-day history")
        if not 0 < self.gate_days <= HISTORY_DAYS or self.daily_balance <= 0 or self.max_per_game < 1:
            raise ValueError("gate_days must be in 1..45, daily_balance > 0 and max_per_game ≥ 1")

    @property
    def top(self) -> int:
        return len(self.tiers) - 1
