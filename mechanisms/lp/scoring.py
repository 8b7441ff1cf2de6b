"""Round scores S1 (the guide's, the project's default) and S2 (forevermoney.md §5).

S1 is in raw token1 units, which differ by pool and by round; the reputation EMA (§6) stores values
with 6 decimals below 10⁴ in magnitude, and S2 lives in [−100, 10]. The two clash, so the score the
EMA reads is S1 over the round's initial value, clamped to S2's range (`normalised`); the raw S1 is
kept for display. Within a round every miner starts from the same value, so the normalisation never
reorders a round (docs/lp.md).
"""

from __future__ import annotations

import math

from mechanisms.lp.backtest import Result

BETA = 4.0
SCORE_RANGE = (-100.0, 10.0)
IN_RANGE_BONUS = 0.08


def inventory_losses(r: Result) -> tuple[float, float]:
    """ℓ0, ℓ1: the share of each starting token the miner ends without (holdings, idle + deployed)."""
    (x0, y0), (xf, yf) = r.initial_amounts, r.holdings
    return (max(0, x0 - xf) / x0 if x0 else 0.0, max(0, y0 - yf) / y0 if y0 else 0.0)


def smooth_max(l0: float, l1: float, aggregator: str = "anchored", beta: float = BETA) -> float:
    """`lse` (the reference's: max + up to ln 2/β even at no loss), `anchored` (≥ max, = max when
    either is 0, 0 at (0, 0)) or `max`."""
    if aggregator == "max":
        return max(l0, l1)
    if aggregator == "lse":
        m = max(l0, l1)
        return m + math.log(math.exp(beta * (l0 - m)) + math.exp(beta * (l1 - m))) / beta
    if aggregator == "anchored":
        return math.log(math.expm1(beta * l0) + math.expm1(beta * l1) + 1.0) / beta
    raise ValueError(f"unknown loss aggregator {aggregator!r}")


def s1(r: Result, aggregator: str = "anchored") -> float:
    """G·π for a gain, G/π for a loss, π = exp(−10·L); −∞ when the round had no initial value."""
    if r.initial_value <= 0:
        return -math.inf
    gain = float(r.final_value - r.initial_value)
    penalty = math.exp(-10.0 * smooth_max(*inventory_losses(r), aggregator))
    return gain * penalty if gain >= 0 else gain / penalty


def s2(r: Result, fixed: bool = True) -> float:
    """Relative return with the IL penalty and the in-range bonus, clamped to [−100, 10]. `fixed`
    divides a negative score by the in-range factor (the reference multiplies, softening losses)."""
    if r.initial_value <= 0:
        return SCORE_RANGE[0]
    ret = min(10.0, max(-10.0, (r.final_value - r.initial_value) / r.initial_value))
    penalty = math.exp(-10.0 * r.impermanent_loss)
    s = ret * penalty if ret >= 0 else ret / penalty
    factor = 1.0 - IN_RANGE_BONUS + IN_RANGE_BONUS * min(1.0, max(0.0, r.in_range_ratio))
    s = s / factor if fixed and s < 0 else s * factor
    return min(SCORE_RANGE[1], max(SCORE_RANGE[0], s))


def normalised(raw: float, r: Result, scorer: str) -> float:
    """The score the reputation reads: S2 as it is; S1 over the initial value, clamped to S2's range."""
    if scorer == "s2":
        return raw
    if r.initial_value <= 0 or math.isnan(raw):
        return SCORE_RANGE[0]
    return min(SCORE_RANGE[1], max(SCORE_RANGE[0], raw / r.initial_value))
