"""`incentive almanac score`: score a validator snapshot offline with the SN41 mechanism."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from cli import UsageError
from mechanisms.almanac.params import MODES, SOLVERS, VARIANTS, AlmanacParams
from mechanisms.almanac.scoring import AlmanacScore, PoolResult, score_snapshot
from mechanisms.almanac.snapshot import SnapshotError, parse_snapshot


def load(path: str) -> object:
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{path} is not JSON: {str(exc).splitlines()[0][:200]}") from None


def pool_json(pool: PoolResult) -> dict:
    """One pool as the command prints it: every entity's tokens (zeros included), budget, κ, statuses."""
    return {
        "tokens": {str(e): float(t) for e, t in zip(pool.entities, pool.tokens)},
        "budget": pool.budget,
        "kappa": pool.kappa,
        "sol1": {"status": pool.sol1.status},
        "sol2": {"status": pool.sol2.status},
        "n_entities": len(pool.entities),
    }


def as_json(result: AlmanacScore) -> dict:
    return {
        "pools": {"miner": pool_json(result.miner), "gp": pool_json(result.gp)},
        "weights": {str(uid): w for uid, w in result.weights.items()},
        "miners_to_penalize": list(result.penalised),
        "skipped": result.skipped,
    }


def print_text(result: AlmanacScore) -> None:
    first = result.boundary - dt.timedelta(days=result.miner.matrices.n_epochs or 30)
    print(f"Almanac epochs {first} … {result.boundary - dt.timedelta(days=1)}, U = {result.epoch_budget:,.2f} USD")
    for name, pool in (("miner", result.miner), ("general", result.gp)):
        kappa = "-" if pool.kappa is None else f"{pool.kappa:.6g}"
        print(f"  {name} pool: {len(pool.entities)} entities, budget {pool.budget:,.4f}, kappa {kappa}, "
              f"phase 1 {pool.sol1.status}, phase 2 {pool.sol2.status}, paid {float(pool.tokens.sum()):,.4f}")
    for uid, why in result.penalised.items():
        print(f"  penalised uid {uid}: {why}")
    for reason, count in result.skipped.items():
        print(f"  skipped {count} record(s): {reason}")
    for warning in result.warnings:
        print(f"  warning: {warning}")
    for uid, weight in sorted(result.weights.items(), key=lambda kv: (-kv[1], kv[0])):
        if weight > 0:
            print(f"  uid {uid:>5}  {weight:.6f}")


def run(args: argparse.Namespace) -> int:
    try:
        today = dt.date.fromisoformat(args.today)
    except ValueError:
        raise UsageError(f"--today must be YYYY-MM-DD; got {args.today!r}") from None
    if not dt.date(1971, 1, 1) <= today <= dt.date(9999, 12, 31):
        raise UsageError(f"--today {today} is out of range")
    try:
        snapshot = parse_snapshot(load(args.snapshot))
    except SnapshotError as exc:
        raise UsageError(f"{args.snapshot}: {exc}") from None
    params = AlmanacParams(variant=args.variant, mode=args.mode, solver=args.solver, burn_uid=args.burn_uid)
    result = score_snapshot(snapshot.data, snapshot.uids, snapshot.hotkeys, snapshot.commitments,
                            snapshot.epoch_budget, today, params)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(as_json(result), allow_nan=False))
    else:
        print_text(result)
    return 0


def register(groups: argparse._SubParsersAction) -> None:
    p = groups.add_parser("almanac", help="Sportstensor SN41 (Almanac) scoring offline")
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = commands.add_parser("score", help="score a validator snapshot: tokens per pool and the weights")
    s.add_argument("snapshot", metavar="SNAPSHOT.json",
                   help="{all_uids, all_hotkeys, commitments, current_epoch_budget, data}")
    s.add_argument("--today", required=True, help="UTC date D; the scored days are D−30 … D−1")
    s.add_argument("--variant", choices=VARIANTS, default="head")
    s.add_argument("--mode", choices=MODES, default="compat")
    s.add_argument("--solver", choices=SOLVERS, default="closed_form",
                   help="the closed forms (default) or the cvxpy program solved with CLARABEL")
    s.add_argument("--burn-uid", type=int, default=210)
    s.add_argument("--json", action="store_true", help="print the result as one JSON object")
    s.set_defaults(run=run)
