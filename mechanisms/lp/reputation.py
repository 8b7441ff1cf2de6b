"""Reputation per (job, miner) (forevermoney.md §6): evaluation and live EMAs, their combination,
counters and daily participation, carried between rounds as explicit state.

Values are stored rounded to 6 decimals (half away from zero), as the reference's numeric(10, 6)
column holds them; the combination is formed from the new value before rounding and the stored other.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

EVAL_KEEP, EVAL_NEW = 0.9, 0.1
LIVE_KEEP, LIVE_NEW = 0.7, 0.3
W_EVAL, W_LIVE = 0.6, 0.4
ELIGIBILITY_DAYS = 7  # participated dates needed in the window [today − 7 d, today]
STATE_FORMAT = "lp-state/1"


def stored(x: float) -> float:
    return float(Decimal(repr(x)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Reputation:
    uid: int
    eval_ema: float = 0.0
    live_ema: float = 0.0
    combined: float = 0.0
    total_evaluations: int = 0
    successful_evaluations: int = 0
    refusals: int = 0
    total_live_rounds: int = 0
    successful_live_rounds: int = 0
    days: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # date → (rounds participated, refused)
    whitelisted: bool = False

    def participated_days(self, today: str) -> int:
        start = (dt.date.fromisoformat(today) - dt.timedelta(days=7)).isoformat()
        return sum(1 for d, (ok, refused) in self.days.items() if start <= d <= today and ok > refused)

    def eligible(self, today: str) -> bool:
        """Live eligibility: whitelisted, or 7 participated dates in the 8 ending today; and combined > 0."""
        return self.combined > 0 and (self.whitelisted or self.participated_days(today) >= ELIGIBILITY_DAYS)


def after_evaluation(rep: Reputation, score: float, accepted: bool, date: str) -> Reputation:
    """Every queried miner after an evaluation round: a refusal or timeout feeds 0."""
    new = EVAL_KEEP * rep.eval_ema + EVAL_NEW * (score if accepted else 0.0)
    ok, refused = rep.days.get(date, (0, 0))
    days = {**rep.days, date: (ok + accepted, refused + (not accepted))}
    return replace(rep, eval_ema=stored(new), combined=stored(W_EVAL * new + W_LIVE * rep.live_ema),
                   total_evaluations=rep.total_evaluations + 1,
                   successful_evaluations=rep.successful_evaluations + accepted, refusals=rep.refusals + (not accepted),
                   days=days)


def after_live(rep: Reputation, score: float, every_execution_failed: bool) -> Reputation:
    """The live round's miner; nothing changes when every execution the bot tried failed."""
    if every_execution_failed:
        return replace(rep, total_live_rounds=rep.total_live_rounds + 1)
    new = LIVE_KEEP * rep.live_ema + LIVE_NEW * score
    return replace(rep, live_ema=stored(new), combined=stored(W_EVAL * rep.eval_ema + W_LIVE * new),
                   total_live_rounds=rep.total_live_rounds + 1, successful_live_rounds=rep.successful_live_rounds + 1)


def _counts(v: object) -> tuple[int, int]:
    """A date's (rounds participated, refused): two non-negative integers."""
    if not (isinstance(v, list | tuple) and len(v) == 2 and all(type(x) is int and 0 <= x < 2**53 for x in v)):
        raise ValueError("a day's counts are two non-negative integers")
    return v[0], v[1]


def _check(rep: Reputation) -> None:
    floats = (rep.eval_ema, rep.live_ema, rep.combined)
    ints = (rep.uid, rep.total_evaluations, rep.successful_evaluations, rep.refusals, rep.total_live_rounds,
            rep.successful_live_rounds)
    if not all(type(x) in (int, float) and math.isfinite(x) and abs(x) < 1e4 for x in floats) or \
            not all(type(x) is int and x >= 0 for x in ints) or not isinstance(rep.whitelisted, bool):
        raise ValueError("bad field")


@dataclass(frozen=True)
class State:
    """{job: {hotkey: Reputation}}. A uid whose hotkey changed starts afresh (the new hotkey has no entry)."""

    jobs: Mapping[str, Mapping[str, Reputation]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"format": STATE_FORMAT, "jobs": {j: {h: {**r.__dict__, "days": {d: list(v) for d, v in r.days.items()}}
                                                     for h, r in sorted(ms.items())} for j, ms in sorted(self.jobs.items())}}

    @classmethod
    def from_json(cls, obj: object) -> State:
        if not isinstance(obj, Mapping) or obj.get("format") != STATE_FORMAT or not isinstance(obj.get("jobs"), Mapping):
            raise ValueError(f"not an {STATE_FORMAT} state")
        jobs = {}
        for job, miners in obj["jobs"].items():
            if not isinstance(miners, Mapping):
                raise ValueError(f"job {str(job)[:40]!r}: miners must be an object")
            out = {}
            for hotkey, raw in miners.items():
                try:
                    days = {dt.date.fromisoformat(d).isoformat(): _counts(v) for d, v in raw.get("days", {}).items()}
                    rep = Reputation(**{**raw, "days": days})
                    _check(rep)
                except (TypeError, ValueError, AttributeError, IndexError, KeyError):
                    raise ValueError(f"job {str(job)[:40]!r}, miner {str(hotkey)[:40]!r}: not a reputation") from None
                out[str(hotkey)] = rep
            jobs[str(job)] = out
        return cls(jobs)
