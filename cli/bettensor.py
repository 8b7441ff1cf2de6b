"""`incentive bettensor predict` (a miner's prediction checked against the offers in force) and
`incentive bettensor score` (one day of an export scored offline). Formats: docs/bettensor.md."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import uuid

from cli import UsageError, load_json, read_input, write_json
from mechanisms.bettensor.config import BET_TYPES, BettensorConfig
from mechanisms.bettensor.evaluate import Evaluation, StateError, evaluate
from mechanisms.bettensor.intake import Offers, refusal_reason
from mechanisms.bettensor.records import (MAX_DEPTH, Prediction, day_number, day_text, iso, parse_export, parse_game,
                                          parse_offer, parse_time)
from mechanisms.bettensor.tiers import State
from mechanisms.fields import printable_id

EXPLAIN = {
    "game": "no game {game} in the offers file",
    "started": "the game started at {start}",
    "level": "no offer in force for {type} {level} at {at}",
    "odds": "the offer for this level is at {offer}, not {odds}",
    "wager": "the wager must be a finite amount above 0",
    "balance": "{spent} already wagered today plus {wager} exceeds the daily {cap}",
}


def _feed(path: str):
    """The games and offers of an offers file: {"games": [...], "offers": [...]} (an export works too)."""
    obj = load_json(path, MAX_DEPTH)
    if not isinstance(obj, dict) or not isinstance(obj.get("games"), list) or not isinstance(obj.get("offers"), list):
        raise UsageError(f"{path}: an offers file is an object with \"games\" and \"offers\" lists")
    games = {g.game_id: g for g in map(parse_game, obj["games"]) if not isinstance(g, str)}
    offers = [o for o in map(parse_offer, obj["offers"]) if not isinstance(o, str)]
    return games, Offers(offers, games)


def predict(args: argparse.Namespace) -> int:
    at = parse_time(args.at) if args.at else int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
    if at is None:
        raise UsageError(f"--at must be an ISO 8601 time; got {args.at[:40]!r}")
    if not printable_id(args.game) or (args.hotkey is not None and not printable_id(args.hotkey)):
        raise UsageError("--game and --hotkey must be 1–128 printable characters without spaces")
    if not (math.isfinite(args.spent) and args.spent >= 0):
        raise UsageError(f"--spent must be a finite amount of at least 0; got {args.spent!r}")
    line = None if args.line is None else float(args.line)
    if (line is None) != (args.type == "moneyline"):
        raise UsageError("--line is required for spread and total, and not taken for moneyline")
    games, offers = _feed(args.offers)
    p = Prediction(str(uuid.uuid4()), args.hotkey or "-", args.game, args.type, line, args.side, args.odds, args.wager, at)
    game = games.get(args.game)
    offer = offers.in_force(p.level, at) if game else None
    cfg = BettensorConfig()
    reason = refusal_reason(p, game, offer, cfg)
    if reason is None and args.spent + args.wager > cfg.daily_balance:
        reason = "balance"
    if reason is not None:
        detail = EXPLAIN[reason].format(game=args.game, start=iso(game.commence_ms) if game else "", type=args.type,
                                        level=f"{args.side}" + ("" if line is None else f" {line:+g}"), at=iso(at),
                                        offer=offer.odds if offer else "", odds=args.odds, spent=args.spent,
                                        wager=args.wager, cap=cfg.daily_balance)
        print(f"refused: {reason}: {detail}", file=sys.stderr)
        return 1
    out = {"prediction_id": p.prediction_id, "game_id": p.game_id, "bet_type": p.bet_type, "line": p.line,
           "side": p.side, "predicted_odds": p.odds, "wager": p.wager}
    if args.hotkey:
        out["hotkey"] = args.hotkey
    print(json.dumps(out, sort_keys=True))
    return 0


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def as_json(r: Evaluation) -> dict:
    return {
        "day": day_text(r.day),
        "managed_days": len(r.history),
        "miners": {h: {"uid": m.uid, "tier": m.tier, "composite": _finite(m.composite),
                       "components": {k: _finite(v) for k, v in m.components.items()}, "settled": m.settled,
                       "tier_score": _finite(m.tier_score), "gate": m.gate,
                       "roi_15d": _finite(m.gate_roi), "roi_days": m.gate_days, "wagered_45d": _finite(m.wagered),
                       "stake": m.stake, "ranked": m.ranked, "weight": m.weight}
                   for h, m in sorted(r.miners.items())},
        "weights": dict(sorted(r.weights.items())),
        "moves": [{"hotkey": m.hotkey, "kind": m.kind, "from": m.from_tier, "to": m.to_tier, "reason": m.reason}
                  for m in r.moves],
        "refusals": [{"kind": x.kind, "id": x.key, "hotkey": x.hotkey, "reason": x.reason} for x in r.refusals],
        "state": r.state.to_json(),
    }


def print_text(r: Evaluation) -> None:
    print(f"Bettensor {day_text(r.day)}: {len(r.miners)} miners, {len(r.history)} day(s) of tier management")
    print(f"  {'uid':>4} {'hotkey':<20} {'tier':>4} {'composite':>10} {'tier score':>10} {'weight':>10}  gate")
    for h, m in sorted(r.miners.items(), key=lambda kv: (-kv[1].weight, kv[1].uid)):
        print(f"  {m.uid:>4} {h[:20]:<20} {m.tier:>4} {m.composite:>10.4f} {m.tier_score:>10.4f} {m.weight:>10.6f}  {m.gate}")
    for m in r.moves:
        print(f"  {m.kind} {m.hotkey}: tier {m.from_tier} → {m.to_tier} ({m.reason})")
    if r.refusals:
        print(f"  {len(r.refusals)} refused record(s); --json lists them with their reasons")


def score(args: argparse.Namespace) -> int:
    day = day_number(args.day)
    if day is None:
        raise UsageError(f"--day must be YYYY-MM-DD; got {args.day[:40]!r}")
    export = read_input(args.days, parse_export, MAX_DEPTH)
    state = None if args.state is None else read_input(args.state, State.from_json)
    try:
        result = evaluate(export, day, BettensorConfig(), state)
    except StateError as exc:
        raise UsageError(f"{args.state}: {exc}") from None
    if args.write_state:
        write_json(args.write_state, result.state.to_json())
    if args.json:
        print(json.dumps(as_json(result), allow_nan=False, sort_keys=True))
    else:
        print_text(result)
    return 0


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text[:40]!r}") from None


def register(groups: argparse._SubParsersAction) -> None:
    p = groups.add_parser("bettensor", help="Bettensor predictions and scoring offline")
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = commands.add_parser("predict", help="build a prediction and check it against the offers in force")
    s.add_argument("--game", required=True, help="the game_id")
    s.add_argument("--type", required=True, choices=BET_TYPES, help="the bet type")
    s.add_argument("--side", required=True, help="a, b or draw (moneyline); a or b (spread); over or under (total)")
    s.add_argument("--line", type=_number, help="the level's line (spread: the handicap on the side; total: the points)")
    s.add_argument("--odds", required=True, type=_number, help="the decimal odds of the offer taken")
    s.add_argument("--wager", required=True, type=_number, help="the wager in USD")
    s.add_argument("--offers", required=True, metavar="OFFERS.json", help="the games and offers (docs/bettensor.md)")
    s.add_argument("--at", metavar="ISO8601", help="check at this time instead of now")
    s.add_argument("--spent", type=_number, default=0.0, help="wagers already placed today (for the daily balance)")
    s.add_argument("--hotkey", help="the miner's hotkey, added to the prediction")
    s.set_defaults(run=predict)
    s = commands.add_parser("score", help="score one day of an export: composites, tiers, ROI gate, weights")
    s.add_argument("days", metavar="DAYS.json", help="a bettensor-days/1 export (docs/bettensor.md)")
    s.add_argument("--day", required=True, metavar="YYYY-MM-DD", help="the UTC day to score")
    s.add_argument("--state", metavar="STATE.json", help="the tier state an earlier day wrote")
    s.add_argument("--write-state", metavar="F.json", help="also write the new state to this file")
    s.add_argument("--json", action="store_true", help="print the result as one JSON object")
    s.set_defaults(run=score)
