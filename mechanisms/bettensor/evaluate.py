"""One scored day from an export (vesting_bettensor.md §6–§8.4): intake, settlement, entropy, daily
composites, tier management carried from the state, the ROI gate, the minimum-stake gate and weights.

Without a state the tiers are rebuilt by managing every day of the 45-day history in turn, from
everyone at internal 2; with a state at day S the days after S are managed (at most the last 45); with
a state at the day itself, that day is managed again from the tiers before it, so a rerun gives the
same state.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from mechanisms.bettensor.config import DAY_MS, HISTORY_DAYS, BettensorConfig
from mechanisms.bettensor.daily import Daily, compute
from mechanisms.bettensor.entropy import contributions
from mechanisms.bettensor.intake import Offers, admit
from mechanisms.bettensor.records import Export, Refusal
from mechanisms.bettensor.settlement import settle
from mechanisms.bettensor.tiers import Move, Requirements, State, manage, own_scores
from mechanisms.bettensor.weights import tier_weights
from mechanisms.vesting.ledger import meets_min_stake


@dataclass(frozen=True)
class Miner:
    uid: int
    tier: int            # display tier (internal − 1); −1 when not a valid miner
    composite: float     # the day's composite
    components: dict[str, float]  # the day's clv, roi, risk, entropy
    settled: int         # predictions settled that day
    tier_score: float    # the mean composite over its tier's window
    gate: str            # the ROI gate's verdict and figures
    gate_roi: float      # the mean daily ROI over the gate's 15 days (0 without settled days)
    gate_days: int       # the days among them with settled predictions
    wagered: float       # wagers received over the 45-day history
    stake: str           # "qualified", "below minimum" or "not checked: …"
    ranked: bool         # active in the last `weight_active_days` days, so ranked for weights
    weight: float


@dataclass(frozen=True)
class Evaluation:
    day: int
    miners: dict[str, Miner]
    weights: dict[str, float]
    moves: tuple[Move, ...]
    refusals: tuple[Refusal, ...]
    history: tuple[tuple[int, dict[str, int]], ...]  # (day, internal tiers after it) for every day managed
    state: State


class StateError(ValueError):
    pass


def _replay_from(day: int, state: State | None) -> tuple[int, dict[str, int]]:
    """The first day to manage and the tiers to start from."""
    if state is None or state.day is None:
        return day - HISTORY_DAYS + 1, {}
    if state.day > day:
        raise StateError(f"the state is at a later day ({state.day - day} days after the day scored)")
    if state.day == day:
        return day, dict(state.before)
    return max(state.day + 1, day - HISTORY_DAYS + 1), dict(state.tiers)


def _stake(export: Export, cfg_min: Fraction) -> dict[str, str]:
    out = {}
    for n in export.neurons:
        if export.moving_price_tao is None or n.alpha_stake_rao is None:
            out[n.hotkey] = "not checked: " + ("no moving_price_tao" if export.moving_price_tao is None else "no alpha_stake_rao")
        else:
            out[n.hotkey] = "qualified" if meets_min_stake(n.alpha_stake_rao, export.moving_price_tao, cfg_min) else "below minimum"
    return out


def evaluate(export: Export, day: int, cfg: BettensorConfig | None = None, state: State | None = None,
             min_stake_tao: Fraction = Fraction(3, 10)) -> Evaluation:
    cfg = cfg or BettensorConfig()
    start, tiers = _replay_from(day, state)
    cut = (day + 1) * DAY_MS
    offers = Offers(export.offers, export.games)
    valid = [n.hotkey for n in export.neurons]
    intake = admit(export.predictions, export.games, offers, cfg, until_ms=cut, registered=frozenset(valid))
    uid = {n.hotkey: n.uid for n in export.neurons}
    book = settle(intake.accepted, export.games, offers, cut, known=valid)
    row = {h: i for i, h in enumerate(book.hotkeys)}
    daily: Daily = compute(book, contributions(book, cfg), start - HISTORY_DAYS + 1, day, cfg)
    moves: list[Move] = []
    before, history = tiers, []
    for d in range(start, day + 1):
        before = tiers
        tiers, moves = manage(d, tiers, valid, uid, row, daily, cfg)
        history.append((d, tiers))
    stake = _stake(export, min_stake_tao)
    scores = own_scores(tiers, row, daily, day, cfg)
    recent = daily.active[:, daily.window(day, cfg.weight_active_days)].any(axis=1)
    ranked = {h: t for h, t in tiers.items() if recent[row[h]]}
    weights = tier_weights(ranked, scores, uid, {h: s != "below minimum" for h, s in stake.items()}, cfg)
    req = Requirements(daily, day, cfg)
    col, last45 = daily.column(day), daily.window(day, HISTORY_DAYS)
    miners = {}
    for h, r in row.items():
        miners[h] = Miner(
            uid[h], tiers[h] - 1, float(daily.composite[r, col]),
            {k: float(getattr(daily, k)[r, col]) for k in ("clv", "roi", "risk", "entropy")},
            int(daily.settled[r, col]), scores[h], req.gate(r),
            float(req.roi[r]), int(req.roi_days[r]),
            float(daily.wager[r, last45].sum()), stake[h], h in ranked, weights.get(h, 0.0))
    return Evaluation(day, miners, weights, tuple(moves), export.refusals + intake.refusals, tuple(history),
                      State(day, dict(tiers), dict(before)))
