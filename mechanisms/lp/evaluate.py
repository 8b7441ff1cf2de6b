"""One recorded round replayed: each miner's history, backtest and score, the round's winner, and the
reputation state after it (forevermoney.md §3–§6)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mechanisms.lp.backtest import Result, Tape, backtest, history
from mechanisms.lp.records import Round
from mechanisms.lp.reputation import Reputation, State, after_evaluation, after_live
from mechanisms.lp.scoring import inventory_losses, normalised, s1, s2, smooth_max

SCORERS = ("s1", "s2")


@dataclass(frozen=True)
class Options:
    scorer: str = "s1"
    aggregator: str = "anchored"  # S1's loss aggregator: anchored, lse (the reference's) or max
    s2_fixed: bool = True         # S2 divides a negative score by the in-range factor


@dataclass(frozen=True)
class MinerRound:
    uid: int
    out: str | None             # why the miner is out of the round (score 0); None when scored
    result: Result | None
    losses: tuple[float, float]
    loss: float                 # S1's aggregated inventory loss (S2 reads the IL)
    score: float                # the round score in the scorer's own units (S1: raw token1)
    reputation_score: float     # what the EMA reads (S1 normalised by the initial value)


@dataclass(frozen=True)
class RoundResult:
    round: Round
    miners: dict[str, MinerRound]
    winner: str | None
    state: State


def score_miner(rnd: Round, uid: int, answers, tape: Tape, opts: Options) -> MinerRound:
    entries, out = history(rnd, answers, tape.blocks)
    if out is None and not answers:
        out = "no answer recorded"
    if out is not None:
        return MinerRound(uid, out, None, (0.0, 0.0), 0.0, 0.0, 0.0)
    r = backtest(rnd, entries, tape)
    losses = inventory_losses(r)
    raw = s1(r, opts.aggregator) if opts.scorer == "s1" else s2(r, opts.s2_fixed)
    return MinerRound(uid, None, r, losses, smooth_max(*losses, opts.aggregator), raw, normalised(raw, r, opts.scorer))


def replay(rnd: Round, opts: Options | None = None, state: State | None = None) -> RoundResult:
    opts = opts or Options()
    if opts.scorer not in SCORERS:
        raise ValueError(f"scorer must be one of {', '.join(SCORERS)}")
    tape = Tape.of(rnd.swaps)
    miners = {h: score_miner(rnd, uid, answers, tape, opts) for h, (uid, answers) in rnd.miners.items()}
    before = dict((state or State()).jobs.get(rnd.job_id, {}))
    # a uid whose hotkey changed starts afresh: drop the old hotkey's entry for that uid
    uids = {m.uid: h for h, m in miners.items()}
    before = {h: r for h, r in before.items() if uids.get(r.uid, h) == h}

    def rank(h: str) -> tuple:
        m = miners[h]
        s = m.score if m.out is None and not math.isnan(m.score) else -math.inf
        return (-s, -(before[h].combined if h in before else 0.0), m.uid)

    scored = [h for h, m in miners.items() if m.out is None]
    winner = min(scored, key=rank) if scored else None
    after = dict(before)
    for h, m in miners.items():
        rep = before.get(h) or Reputation(m.uid)
        if rep.uid != m.uid:
            rep = Reputation(m.uid)
        if rnd.round_type == "evaluation":
            after[h] = after_evaluation(rep, m.reputation_score, m.out is None, rnd.date)
        else:
            after[h] = after_live(rep, m.reputation_score, rnd.executions_failed)
    jobs = {**(state or State()).jobs, rnd.job_id: after}
    return RoundResult(rnd, miners, winner, State(jobs))
