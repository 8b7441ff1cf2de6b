"""PTN miner buckets: who is in the challenge, the main competition or probation, and who is out (ptn.md §9).

The bucket state is explicit: `step` takes the previous state, one snapshot per hotkey and the evaluation
time, and returns the next state with the events that led there. It reads no clock and keeps nothing
between calls, so stepping at t1 and then at t2 with the carried state is exactly the defined semantics,
and a backfill can replay epochs in order. Eliminated hotkeys keep their record and never re-enter.

Details that ptn.md §9 leaves open follow upstream `taoshidev/proprietary-trading-network`:
* the V1 rank rule and the probation bucket: commit 41ff6b7a (2025-07-01, "Main competition
  promotion/demotion update"), the first revision that has them; the mid-June 2025 revision
  (61b862ef, unchanged until then) still promoted by percentile, and the V0 rule follows it;
* the per-asset-class rule (V2/V3): commit acf1fb0c (2025-07-29, "Asset class based promotion");
* the precedence of elimination reasons: a hotkey that left the metagraph is a ZOMBIE whatever
  else holds (the reference's position and ledger managers drop it before any other check), then
  the validator loop of 41ff6b7a records LIQUIDATED, the challenge period's TIME / DRAWDOWN and the
  main competition's drawdown, and the first recorded reason stands;
* the ranking pool leaves out fully penalised miners (S = 0): a main-competition miner without a
  ledger is neither demoted nor counted towards the rank (checked against the reference's own
  refresh, bb847286).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from mechanisms.ptn.config import DAY_MS, PTNConfig
from mechanisms.ptn.scoring import percentiles

CHALLENGE = "CHALLENGE"
MAINCOMP = "MAINCOMP"
PROBATION = "PROBATION"
BUCKETS = (CHALLENGE, MAINCOMP, PROBATION)

FAILED_CHALLENGE_PERIOD_TIME = "FAILED_CHALLENGE_PERIOD_TIME"
FAILED_CHALLENGE_PERIOD_DRAWDOWN = "FAILED_CHALLENGE_PERIOD_DRAWDOWN"
MAX_TOTAL_DRAWDOWN = "MAX_TOTAL_DRAWDOWN"
LIQUIDATED = "LIQUIDATED"
ZOMBIE = "ZOMBIE"
REASONS = (FAILED_CHALLENGE_PERIOD_TIME, FAILED_CHALLENGE_PERIOD_DRAWDOWN, MAX_TOTAL_DRAWDOWN, LIQUIDATED, ZOMBIE)

MAX_MS = 2**53  # beyond this a millisecond time is not a time (nor exact as a JSON double)

ScorePool = Callable[[Sequence[str], "str | None"], Mapping[str, float]]


@dataclass(frozen=True)
class Standing:
    """A live miner's bucket and when it entered that bucket (the clock its time limit runs on)."""

    bucket: str
    start_ms: int

    def __post_init__(self) -> None:
        if self.bucket not in BUCKETS:
            raise ValueError(f"bucket {self.bucket!r} is not one of {', '.join(BUCKETS)}")


@dataclass(frozen=True)
class Elimination:
    """Why and when a hotkey was eliminated; the drawdown (percent) where a drawdown rule fired."""

    reason: str
    at_ms: int
    drawdown_pct: float | None = None

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"elimination reason {self.reason!r} is not one of {', '.join(REASONS)}")


def _sorted_view(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType({k: d[k] for k in sorted(d)})


@dataclass(frozen=True)
class State:
    """Every live hotkey's standing and every eliminated hotkey's record; a hotkey is in one or neither."""

    standings: Mapping[str, Standing] = field(default_factory=dict)
    eliminated: Mapping[str, Elimination] = field(default_factory=dict)

    def __post_init__(self) -> None:
        both = sorted(set(self.standings) & set(self.eliminated))
        if both:
            raise ValueError(f"hotkey {both[0]!r} is both standing and eliminated")
        # read-only and in hotkey order, so nothing downstream depends on insertion order
        object.__setattr__(self, "standings", _sorted_view(self.standings))
        object.__setattr__(self, "eliminated", _sorted_view(self.eliminated))

    @staticmethod
    def empty() -> State:
        return State({}, {})

    def to_json(self) -> dict[str, Any]:
        """A plain JSON object, keys in hotkey order (stable bytes for the same state)."""
        return {
            "standings": {hk: {"bucket": s.bucket, "start_ms": s.start_ms} for hk, s in self.standings.items()},
            "eliminated": {hk: {"reason": e.reason, "at_ms": e.at_ms, "drawdown_pct": e.drawdown_pct}
                           for hk, e in self.eliminated.items()},
        }

    @staticmethod
    def from_json(obj: object) -> State:
        """The state written by `to_json`. The previous epoch's state is read back from storage, so any
        malformed part is refused with a ValueError naming the hotkey and the field; nothing is guessed."""
        if not isinstance(obj, Mapping):
            raise ValueError(f"state must be a JSON object, not {type(obj).__name__}")
        extra = sorted(str(k) for k in obj if k not in ("standings", "eliminated"))
        if extra:
            raise ValueError(f"state has unknown field {extra[0]!r}")
        standings = {hk: _standing(hk, raw) for hk, raw in _section(obj, "standings")}
        eliminated = {hk: _elimination(hk, raw) for hk, raw in _section(obj, "eliminated")}
        return State(standings, eliminated)


def _section(obj: Mapping, name: str) -> Iterable[tuple[str, Mapping]]:
    section = obj.get(name)
    if not isinstance(section, Mapping):
        raise ValueError(f"state field {name!r} must be a JSON object")
    for hk, raw in section.items():
        if not isinstance(hk, str) or not hk:
            raise ValueError(f"{name}: hotkey {hk!r} must be a non-empty string")
        if not isinstance(raw, Mapping):
            raise ValueError(f"{name}: hotkey {hk!r} must map to a JSON object")
        yield hk, raw


def _fields(hk: str, raw: Mapping, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    for key in raw:
        if key not in required + optional:
            raise ValueError(f"hotkey {hk!r}: unknown field {key!r}")
    for key in required:
        if key not in raw:
            raise ValueError(f"hotkey {hk!r}: missing field {key!r}")


def _time_field(hk: str, raw: Mapping, key: str) -> int:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_MS:
        raise ValueError(f"hotkey {hk!r}: field {key!r} must be a whole number of ms in [0, 2^53), not {value!r}")
    return value


def _choice(hk: str, raw: Mapping, key: str, allowed: tuple[str, ...]) -> str:
    value = raw[key]
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"hotkey {hk!r}: field {key!r} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _standing(hk: str, raw: Mapping) -> Standing:
    _fields(hk, raw, ("bucket", "start_ms"))
    return Standing(_choice(hk, raw, "bucket", BUCKETS), _time_field(hk, raw, "start_ms"))


def _elimination(hk: str, raw: Mapping) -> Elimination:
    _fields(hk, raw, ("reason", "at_ms"), ("drawdown_pct",))
    dd = raw.get("drawdown_pct")
    if dd is not None:
        if isinstance(dd, bool) or not isinstance(dd, int | float) or not (math.isfinite(dd) and 0 <= dd <= 100):
            raise ValueError(f"hotkey {hk!r}: field 'drawdown_pct' must be null or a percent in [0, 100], not {dd!r}")
        dd = float(dd)
    return Elimination(_choice(hk, raw, "reason", REASONS), _time_field(hk, raw, "at_ms"), dd)


@dataclass(frozen=True)
class MinerView:
    """What the bucket rules need to know about one hotkey at the evaluation time (built by the evaluator).

    `drawdown_pct` is 100·(1 − min mdd) over the lookback window (0 without a ledger); `ledger_start_ms` is
    None without a ledger; `asset_classes` are the classes the miner traded (per-class promotion only)."""

    first_order_ms: int | None
    ledger_start_ms: int | None
    has_positions: bool
    trading_days: int
    drawdown_pct: float
    liquidated: bool
    in_metagraph: bool
    asset_classes: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.drawdown_pct) and self.drawdown_pct >= 0):
            raise ValueError(f"drawdown_pct must be finite and non-negative, not {self.drawdown_pct!r}")
        if self.trading_days < 0:
            raise ValueError(f"trading_days must be non-negative, not {self.trading_days!r}")


@dataclass(frozen=True)
class Event:
    """One transition: enter (→ CHALLENGE), promote (→ MAINCOMP), demote (→ PROBATION) or eliminate."""

    hotkey: str
    kind: str
    from_bucket: str | None
    to_bucket: str | None
    reason: str | None
    at_ms: int


def step(state: State, miners: Mapping[str, MinerView], at_ms: int, cfg: PTNConfig,
         score_pool: ScorePool) -> tuple[State, list[Event]]:
    """One refresh of the bucket state machine at `at_ms` (ptn.md §9.1, §9.2).

    `miners` must hold a view for every hotkey in the metagraph; a standing hotkey without a view is
    taken to have left it. `score_pool(pool, asset_class)` returns S (§8 step 2, no softmax; under
    per-class promotion the class score that is ranked, §9.2) for every hotkey of `pool`, computed
    within that pool; `asset_class` is None except under `cfg.promotion_per_class`.

    Order: new hotkeys enter; CHALLENGE starts follow the first order; eliminations (reason precedence
    ZOMBIE, then LIQUIDATED, then the bucket's own rule); promotion and demotion among the survivors.
    Eliminations are decided on the snapshot before ranking, so a hotkey that is eliminated in this step
    holds no rank and cannot push a live miner into probation (upstream ranks it once more before the
    elimination pass records it). Events come in that order, each phase in hotkey order.
    """
    standings: dict[str, Standing] = dict(state.standings)
    eliminated: dict[str, Elimination] = dict(state.eliminated)
    enter: list[Event] = []

    # New hotkeys enter the challenge; start = first order time, or now without orders. Upstream (41ff6b7a)
    # also moves a challenger's start to its first order time whenever the two differ (a hotkey that
    # registered before trading), which the loop below reproduces without an event.
    for hk in sorted(miners):
        view = miners[hk]
        if hk in eliminated or not view.in_metagraph:
            continue
        current = standings.get(hk)
        if current is None:
            start = view.first_order_ms if view.first_order_ms is not None else at_ms
            standings[hk] = Standing(CHALLENGE, start)
            enter.append(Event(hk, "enter", None, CHALLENGE, None, at_ms))
        elif current.bucket == CHALLENGE and view.first_order_ms is not None and current.start_ms != view.first_order_ms:
            standings[hk] = Standing(CHALLENGE, view.first_order_ms)

    limit_pct = 100.0 * cfg.drawdown_limit
    v0 = cfg.promotion == "percentile"
    minimum = cfg.challenge_minimum(at_ms)
    doomed: dict[str, Elimination] = {}
    candidates: list[str] = []
    expiring: set[str] = set()  # V0: out of time but tested once more; eliminated unless promoted
    for hk in sorted(standings):
        s, view = standings[hk], miners.get(hk)
        if view is None or not view.in_metagraph:
            doomed[hk] = Elimination(ZOMBIE, at_ms)
            continue
        if view.liquidated:
            doomed[hk] = Elimination(LIQUIDATED, at_ms)
            continue
        if s.bucket == MAINCOMP:
            if view.drawdown_pct >= limit_pct:
                doomed[hk] = Elimination(MAX_TOTAL_DRAWDOWN, at_ms, view.drawdown_pct)
        else:
            reason, candidate = _testing_rules(s, view, at_ms, cfg, limit_pct, minimum, v0)
            if reason == FAILED_CHALLENGE_PERIOD_TIME and candidate and view.in_metagraph:
                expiring.add(hk)  # V0 only: promoted now, or failed below
            elif reason is not None:
                dd = view.drawdown_pct if reason == FAILED_CHALLENGE_PERIOD_DRAWDOWN else None
                doomed[hk] = Elimination(reason, at_ms, dd)
                continue
            if candidate:
                candidates.append(hk)

    candidates = [hk for hk in candidates if hk not in doomed]
    maincomp = [hk for hk in sorted(standings) if standings[hk].bucket == MAINCOMP and hk not in doomed]
    if v0:
        promote, demote = _promote_percentile(candidates, maincomp, cfg, score_pool), set()
        for hk in sorted(expiring - promote):
            doomed[hk] = Elimination(FAILED_CHALLENGE_PERIOD_TIME, at_ms)
    elif cfg.promotion_per_class:
        promote, demote = _promote_per_class(candidates, maincomp, miners, cfg, score_pool)
    else:
        promote, demote = _promote_rank(candidates, maincomp, cfg.promotion_rank, score_pool)

    events = enter
    for hk in sorted(doomed):
        events.append(Event(hk, "eliminate", standings.pop(hk).bucket, None, doomed[hk].reason, at_ms))
        eliminated[hk] = doomed[hk]
    for hk in sorted(promote):
        events.append(Event(hk, "promote", standings[hk].bucket, MAINCOMP, None, at_ms))
        standings[hk] = Standing(MAINCOMP, at_ms)
    for hk in sorted(demote):
        events.append(Event(hk, "demote", MAINCOMP, PROBATION, None, at_ms))
        standings[hk] = Standing(PROBATION, at_ms)
    return State(standings, eliminated), events


def _testing_rules(s: Standing, view: MinerView, at_ms: int, cfg: PTNConfig, limit_pct: float, minimum: int,
                   v0: bool) -> tuple[str | None, bool]:
    """A CHALLENGE or PROBATION miner's elimination reason (or None) and whether it is a candidate, by the
    §9.1 rules in order. V0 (61b862ef) tests an out-of-time miner with data once more before failing it."""
    ledger = view.ledger_start_ms
    if ledger is not None and (view.first_order_ms is None or ledger < view.first_order_ms):
        return None, False  # re-registered: the ledger predates the orders and must rebuild first
    max_days = cfg.challenge_max_days if s.bucket == CHALLENGE else cfg.probation_max_days
    expired = max_days is not None and at_ms - s.start_ms > max_days * DAY_MS
    if not view.has_positions or ledger is None:
        return (FAILED_CHALLENGE_PERIOD_TIME if expired else None), False
    if expired and not v0:
        return FAILED_CHALLENGE_PERIOD_TIME, False
    if view.drawdown_pct >= limit_pct:
        return FAILED_CHALLENGE_PERIOD_DRAWDOWN, False
    candidate = view.trading_days >= minimum
    if expired:  # V0: a candidate is still tested; a miner short of days fails now
        return FAILED_CHALLENGE_PERIOD_TIME, candidate
    return None, candidate


def _scores(pool: Sequence[str], asset_class: str | None, score_pool: ScorePool) -> dict[str, float]:
    """S for every hotkey of the pool; a missing or non-finite score is a broken caller, not a low score."""
    got = score_pool(pool, asset_class)
    out = {}
    for hk in pool:
        value = got.get(hk)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"score_pool gave no finite score for {hk!r} (class {asset_class!r}): {value!r}")
        out[hk] = float(value)
    return out


def _threshold(scores: Mapping[str, float], rank: int) -> float | None:
    """S at the 1-based `rank` of the pool sorted descending; None when the pool is smaller."""
    ordered = sorted(scores.values(), reverse=True)
    return ordered[rank - 1] if len(ordered) >= rank else None


def _promote_rank(candidates: list[str], maincomp: list[str], rank: int,
                  score_pool: ScorePool) -> tuple[set[str], set[str]]:
    """V1: one pool of the miners with S > 0; candidates at or above θ move up, main-competition miners
    below θ go on probation."""
    if not candidates and not maincomp:
        return set(), set()
    scores = {hk: s for hk, s in _scores(sorted(candidates + maincomp), None, score_pool).items() if s > 0}
    theta = _threshold(scores, rank)
    if theta is None:
        return {hk for hk in candidates if hk in scores}, set()
    return ({hk for hk in candidates if scores.get(hk, 0.0) >= theta},
            {hk for hk in maincomp if hk in scores and scores[hk] < theta})


def _promote_per_class(candidates: list[str], maincomp: list[str], miners: Mapping[str, MinerView],
                       cfg: PTNConfig, score_pool: ScorePool) -> tuple[set[str], set[str]]:
    """V2/V3 (acf1fb0c): per asset class, the top `promotion_rank` with S > 0 (ties at θ included, θ = 0
    for a smaller pool) are the main competition; a class pool holds the miners that traded the class."""
    top: set[str] = set()
    for asset_class in sorted(cfg.class_shares):
        pool = sorted(hk for hk in candidates + maincomp if asset_class in miners[hk].asset_classes)
        if not pool:
            continue
        scores = _scores(pool, asset_class, score_pool)
        theta = _threshold(scores, cfg.promotion_rank)
        theta = 0.0 if theta is None else theta
        top |= {hk for hk, s in scores.items() if s >= theta and s > 0}
    return top & set(candidates), set(maincomp) - top


def _promote_percentile(candidates: list[str], maincomp: list[str], cfg: PTNConfig,
                        score_pool: ScorePool) -> set[str]:
    """V0 (61b862ef): each candidate alone joins the main competition's pool (as it stood before this
    step) and moves up if its percentile of S there reaches `promotion_percentile`. No demotion."""
    promote = set()
    for hk in candidates:
        pool = sorted(maincomp + [hk])
        scores = _scores(pool, None, score_pool)
        pct = percentiles(np.array([scores[h] for h in pool]), "rank")[pool.index(hk)]
        if pct >= cfg.promotion_percentile:
            promote.add(hk)
    return promote
