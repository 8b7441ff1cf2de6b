"""`incentive lp backtest`: replay one recorded SN98 round offline (docs/lp.md)."""

from __future__ import annotations

import argparse
import json
import math

from cli import UsageError, read_input, write_json
from mechanisms.lp.evaluate import SCORERS, MinerRound, Options, RoundResult, replay
from mechanisms.lp.records import MAX_DEPTH, parse_round
from mechanisms.lp.reputation import State
from mechanisms.lp.weights import job_winners, weight_vector


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def miner_json(m: MinerRound, rep) -> dict:
    out: dict = {"uid": m.uid, "out": m.out, "score": _num(m.score), "reputation_score": _num(m.reputation_score),
                 "reputation": {"eval_ema": rep.eval_ema, "live_ema": rep.live_ema, "combined": rep.combined}}
    r = m.result
    if r is None:
        return out
    out.update({
        "rebalances": r.rebalances,
        "positions": [{"tick_lower": d.position.tick_lower, "tick_upper": d.position.tick_upper,
                       "liquidity": str(d.liquidity), "amount0": str(a0), "amount1": str(a1)}
                      for d, (a0, a1) in ((d, d.amounts(r.final_sqrt_price_x96)) for d in r.final_positions)],
        "fees": {"amount0": str(r.fees[0]), "amount1": str(r.fees[1]), "value": str(r.fees_value)},
        "in_range_ratio": r.in_range_ratio,
        "value": {"initial": str(r.initial_value), "final": str(r.final_value), "hodl": str(r.hodl_value),
                  "lp": str(r.lp_value)},
        "holdings": {"amount0": str(r.holdings[0]), "amount1": str(r.holdings[1])},
        "inventory_loss": {"token0": m.losses[0], "token1": m.losses[1], "aggregated": m.loss},
        "impermanent_loss": r.impermanent_loss,
    })
    return out


def weights(res: RoundResult, ratio: float) -> dict[str, float]:
    """§7 over uid 0 and the round's uids, from the reputation after the round, with a fixed miner share."""
    uids = sorted({0} | {m.uid for m in res.miners.values()})
    vector = weight_vector(uids, job_winners(res.state.jobs, res.round.date), ratio)
    return {str(u): w for u, w in vector.items()}


def as_json(res: RoundResult, scorer: str, ratio: float | None) -> dict:
    rnd, reps = res.round, res.state.jobs[res.round.job_id]
    return {**({"weights": weights(res, ratio)} if ratio is not None else {}), "round_id": rnd.round_id, "job_id": rnd.job_id, "round_type": rnd.round_type, "scorer": scorer,
            "start_block": rnd.start_block, "end_block": rnd.end_block, "swaps": len(rnd.swaps),
            "winner": res.winner, "miners": {h: miner_json(m, reps[h]) for h, m in sorted(res.miners.items())},
            "state": res.state.to_json()}


def print_text(res: RoundResult, scorer: str) -> None:
    rnd = res.round
    print(f"SN98 round {rnd.round_id} ({rnd.round_type}, job {rnd.job_id}), blocks {rnd.start_block}–{rnd.end_block}, "
          f"{len(rnd.swaps)} swaps, scorer {scorer}; winner {res.winner or '-'}")
    print(f"  {'uid':>4} {'hotkey':<20} {'score':>14} {'fees value':>22} {'loss':>8} {'rebal':>5}  out")
    for h, m in sorted(res.miners.items(), key=lambda kv: (kv[1].out is not None, -kv[1].reputation_score, kv[1].uid)):
        r = m.result
        fees = str(r.fees_value) if r else "-"
        rebal = r.rebalances if r else "-"
        print(f"  {m.uid:>4} {h[:20]:<20} {m.score:>14.6g} {fees:>22} {m.loss:>8.4f} {rebal:>5}  {m.out or ''}")


def run(args: argparse.Namespace) -> int:
    rnd = read_input(args.round, parse_round, MAX_DEPTH)
    state = None if args.state is None else read_input(args.state, State.from_json)
    opts = Options(scorer=args.scorer, aggregator=args.aggregator)
    res = replay(rnd, opts, state)
    if args.write_state:
        write_json(args.write_state, res.state.to_json())
    if args.miner_ratio is not None and not 0.0 <= args.miner_ratio <= 1.0:
        raise UsageError("--miner-ratio must be in [0, 1]")
    if args.json:
        print(json.dumps(as_json(res, args.scorer, args.miner_ratio), allow_nan=False, sort_keys=True))
    else:
        print_text(res, args.scorer)
        if args.miner_ratio is not None:
            print("  weights: " + ", ".join(f"uid {u} {w:.6f}" for u, w in weights(res, args.miner_ratio).items() if w))
    return 0


def register(groups: argparse._SubParsersAction) -> None:
    p = groups.add_parser("lp", help="SN98 ForeverMoney liquidity rounds offline")
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = commands.add_parser("backtest", help="replay one recorded round: positions, fees, value, loss, score")
    s.add_argument("round", metavar="ROUND.json", help="an lp-round/1 file (docs/lp.md)")
    s.add_argument("--scorer", default="s1", choices=SCORERS, help="s1 (the miner guide's, default) or s2")
    s.add_argument("--aggregator", default="anchored", choices=("anchored", "lse", "max"),
                   help="S1's loss aggregator (default anchored; lse is the reference's)")
    s.add_argument("--state", metavar="STATE.json", help="the reputation state an earlier round wrote")
    s.add_argument("--write-state", metavar="F.json", help="also write the new state to this file")
    s.add_argument("--miner-ratio", type=float, metavar="R",
                   help="also print §7's weights with this fixed miner share (offline mode), uid 0 burning the rest")
    s.add_argument("--json", action="store_true", help="print the result as one JSON object")
    s.set_defaults(run=run)
