"""The tier state machine (vesting_bettensor.md §6) with the ROI gate (§7), one UTC day at a time.

The state is explicit and carried from day to day: the tiers after the last day managed and the tiers
before it, so managing the same day again starts from the same place and gives the same result.
Each day: valid miners below internal 2 are lifted to 2; demotions run top-down, a miner falling one
tier at a time while it fails its tier's requirements; then promotions run top-down, filling a
tier's open places with the best qualified miners of the tier below and then swapping while the best
remaining challenger beats the tier's worst member on the tier's window score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mechanisms.bettensor.config import LOWEST_VALID, BettensorConfig
from mechanisms.bettensor.daily import Daily, gate_roi, tier_score
from mechanisms.bettensor.records import day_number, day_text
from mechanisms.fields import printable_id

STATE_FORMAT = "bettensor-state/1"


@dataclass(frozen=True)
class State:
    day: int | None = None                                       # the last day managed
    tiers: Mapping[str, int] = field(default_factory=dict)       # internal tiers after `day`
    before: Mapping[str, int] = field(default_factory=dict)      # internal tiers before `day`

    def to_json(self) -> dict:
        return {"format": STATE_FORMAT, "day": None if self.day is None else day_text(self.day),
                "tiers": dict(sorted(self.tiers.items())), "before": dict(sorted(self.before.items()))}

    @classmethod
    def from_json(cls, obj: object, top: int = 6) -> State:
        if not isinstance(obj, Mapping) or obj.get("format") != STATE_FORMAT:
            raise ValueError(f"not a {STATE_FORMAT} state")
        day = obj.get("day")
        number = None if day is None else day_number(day)
        if day is not None and number is None:
            raise ValueError("day must be YYYY-MM-DD or null")

        def tiers(key: str) -> dict[str, int]:
            raw = obj.get(key, {})
            if not isinstance(raw, Mapping) or not all(printable_id(h) and type(t) is int and 0 <= t <= top
                                                       for h, t in raw.items()):
                raise ValueError(f"{key} must map hotkeys to internal tiers 0..{top}")
            return dict(raw)

        return cls(number, tiers("tiers"), tiers("before"))


@dataclass(frozen=True)
class Move:
    hotkey: str
    kind: str        # "promoted", "demoted", "swapped in", "swapped out"
    from_tier: int   # display tiers
    to_tier: int
    reason: str


class Requirements:
    """What a miner needs to hold internal tier t on a day: the tier window's wagers and active days,
    and from the gate tier up a 15-day mean ROI ≥ 0 (or fewer than 5 days with settled outcomes)."""

    def __init__(self, daily: Daily, day: int, cfg: BettensorConfig):
        self.cfg, self.daily, self.day = cfg, daily, day
        self.roi, self.roi_days = gate_roi(daily, day, cfg.gate_days)

    def failure(self, row: int, t: int) -> str | None:
        """Why the miner of `row` cannot hold internal tier t; None if it can."""
        if t <= LOWEST_VALID:
            return None
        tier, cols = self.cfg.tiers[t], self.daily.window(self.day, self.cfg.tiers[t].window_days)
        wagered = float(self.daily.wager[row, cols].sum())
        if wagered < tier.min_wager:
            return f"wagered {wagered:.2f} over {tier.window_days} days, below {tier.min_wager:g}"
        active = int(self.daily.active[row, cols].sum())
        if active < tier.min_active_days:
            return f"active on {active} of {tier.window_days} days, below {tier.min_active_days}"
        if t >= self.cfg.gate_tier and not self.gate_passes(row):
            return f"mean ROI {self.roi[row]:.4f} over the last {self.cfg.gate_days} days is negative"
        return None

    def gate_passes(self, row: int) -> bool:
        return self.roi_days[row] < self.cfg.gate_min_days or self.roi[row] >= 0.0

    def gate(self, row: int) -> str:
        days = int(self.roi_days[row])
        if days < self.cfg.gate_min_days:
            return f"pass: {days} of {self.cfg.gate_min_days} days needed"
        verdict = "pass" if self.roi[row] >= 0.0 else "fail"
        return f"{verdict}: mean ROI {self.roi[row]:.4f} over {days} days"


def manage(day: int, tiers: Mapping[str, int], valid: Sequence[str], uid: Mapping[str, int],
           row: Mapping[str, int], daily: Daily, cfg: BettensorConfig) -> tuple[dict[str, int], list[Move]]:
    """One day of tier management for the valid hotkeys (the metagraph's miners); anyone else holds no tier."""
    req = Requirements(daily, day, cfg)
    current = {h: max(LOWEST_VALID, tiers.get(h, LOWEST_VALID)) for h in valid}
    moves: list[Move] = []
    for t in range(cfg.top, LOWEST_VALID, -1):
        for h in sorted((h for h in valid if current[h] == t), key=uid.__getitem__):
            reason, new = req.failure(row[h], t), t
            while new > LOWEST_VALID and req.failure(row[h], new) is not None:
                new -= 1
            if new != t:
                current[h] = new
                moves.append(Move(h, "demoted", t - 1, new - 1, reason or ""))
    n_uids = len(valid)
    for t in range(cfg.top, LOWEST_VALID, -1):
        score = tier_score(daily, day, cfg.tiers[t].window_days)
        value = {h: float(score[row[h]]) for h in valid if current[h] in (t, t - 1)}
        challengers = sorted((h for h in valid if current[h] == t - 1 and req.failure(row[h], t) is None),
                             key=lambda h: (-value[h], uid[h]))
        members = [h for h in valid if current[h] == t]
        open_places = max(0, cfg.tiers[t].capacity(n_uids) - len(members))
        for h in challengers[:open_places]:
            current[h] = t
            moves.append(Move(h, "promoted", t - 2, t - 1, f"an open place; tier score {value[h]:.6g}"))
        members += challengers[:open_places]
        members.sort(key=lambda h: (value[h], -uid[h]))  # the worst first
        for h in challengers[open_places:]:
            if not members or value[h] <= value[members[0]]:
                break
            out = members.pop(0)
            current[h], current[out] = t, t - 1
            moves.append(Move(h, "swapped in", t - 2, t - 1, f"tier score {value[h]:.6g} beats {value[out]:.6g}"))
            moves.append(Move(out, "swapped out", t - 1, t - 2, f"tier score {value[out]:.6g} below {value[h]:.6g}"))
    return current, moves


def own_scores(tiers: Mapping[str, int], row: Mapping[str, int], daily: Daily, day: int,
               cfg: BettensorConfig) -> dict[str, float]:
    """Each miner's score on its own tier's window."""
    by_window = {t: tier_score(daily, day, cfg.tiers[t].window_days) for t in set(tiers.values()) if t >= LOWEST_VALID}
    return {h: float(by_window[t][row[h]]) if t >= LOWEST_VALID else 0.0 for h, t in tiers.items()}

