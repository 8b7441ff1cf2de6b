"""`incentive almanac score`: score a validator snapshot offline with the SN41 mechanism."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import re
import sys

from cli import UsageError, load_json
from mechanisms.almanac.params import MODES, SOLVERS, VARIANTS, AlmanacParams
from mechanisms.almanac.scoring import AlmanacScore, PoolResult, score_snapshot
from mechanisms.almanac.snapshot import SnapshotError, parse_snapshot


ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


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


def snapshot_params(raw: dict) -> AlmanacParams:
    """The parameters a snapshot names under "params" (an export writes the epoch's), else the defaults:
    upstream HEAD in compat mode with burn uid 210. Each value must have its default's type."""
    given = raw.get("params", {})
    if not isinstance(given, dict):
        raise UsageError('the snapshot\'s "params" must be an object')
    defaults = AlmanacParams()
    fields = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(AlmanacParams)}
    for name, value in given.items():
        if name not in fields:
            raise UsageError(f"unknown Almanac parameter {str(name)[:40]!r} in the snapshot")
        want = type(fields[name])
        ok = type(value) is want or (want is float and type(value) is int)
        if not ok or (want is float and not math.isfinite(value)):
            raise UsageError(f"the snapshot's parameter {name} must be a finite {want.__name__}")
    try:
        return AlmanacParams(**given)
    except ValueError as exc:
        raise UsageError(f"the snapshot's params: {exc}") from None


def run(args: argparse.Namespace) -> int:
    raw = load_json(args.snapshot)
    if not isinstance(raw, dict):
        raise UsageError(f"{args.snapshot}: the snapshot is not a JSON object (got {type(raw).__name__})")
    text = args.today if args.today is not None else raw.get("today")
    if text is None:
        raise UsageError(f"--today is needed: {args.snapshot} has no \"today\"")
    try:
        today = dt.date.fromisoformat(text) if isinstance(text, str) and ISO_DAY.fullmatch(text) else None
    except ValueError:
        today = None
    if today is None:
        raise UsageError(f"--today (or the snapshot's \"today\") must be YYYY-MM-DD; got {str(text)[:40]!r}")
    if not dt.date(1971, 1, 1) <= today <= dt.date(9999, 12, 31):
        raise UsageError(f"--today {today} is out of range")
    try:
        snapshot = parse_snapshot(raw)
    except SnapshotError as exc:
        raise UsageError(f"{args.snapshot}: {exc}") from None
    given = {"variant": args.variant, "mode": args.mode, "solver": args.solver, "burn_uid": args.burn_uid}
    params = dataclasses.replace(snapshot_params(raw), **{k: v for k, v in given.items() if v is not None})
    result = score_snapshot(snapshot.data, snapshot.uids, snapshot.hotkeys, snapshot.commitments,
                            snapshot.epoch_budget, today, params)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(as_json(result), allow_nan=False))
    else:
        print_text(result)
    return 0


def run_export(args: argparse.Namespace) -> int:
    """An epoch's Almanac input as the snapshot `score` reads: what the epoch itself scored."""
    from assets.almanac import budget_of, params_of, snapshot_of, uid_table
    from cli.score import load_profile
    from resources.settings import build_resources

    profile = load_profile(args.profile)
    if not profile.almanac_challenges:
        raise UsageError(f"profile {profile.name!r} has no Almanac challenge")
    try:
        challenge = profile.challenge(args.challenge) if args.challenge else profile.almanac_challenges[0]
    except KeyError as exc:
        raise UsageError(str(exc).strip('"')) from None
    if challenge.almanac is None:
        raise UsageError(f"challenge {challenge.name} is not an Almanac challenge")
    store = build_resources(profile)["ledger"].ledger()
    kept = store.almanac_epoch(args.epoch)
    if kept is None:
        raise UsageError(f"epoch {args.epoch} has no Almanac trades pull in the ledger")
    budget = budget_of(kept)
    if budget is None:
        raise UsageError(f"epoch {args.epoch} was not scored: no budget U ({kept.missing})")
    params = params_of(challenge, profile)
    metagraph, records = snapshot_of(store, kept, params.window_days)
    uids, hotkeys = uid_table(metagraph)
    snapshot = {"all_uids": uids, "all_hotkeys": hotkeys,
                "commitments": {str(u): kept.commitments.get(u) for u in uids},
                "current_epoch_budget": budget, "data": records, "today": kept.boundary.isoformat(),
                "params": dataclasses.asdict(params)}
    try:
        with open(args.out, "w") as f:
            json.dump(snapshot, f)  # records as pulled; NaN stays NaN, as the API's JSON parser read it
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror}") from None
    print(f"wrote {args.out}: epoch {args.epoch}, D = {kept.boundary}, {len(records)} records of pull {kept.pull}, "
          f"U = {budget:,.2f} USD, with the challenge's parameters\nscore it with: incentive almanac score "
          f"{args.out}", file=sys.stderr)
    return 0


def register(groups: argparse._SubParsersAction) -> None:
    p = groups.add_parser("almanac", help="Sportstensor SN41 (Almanac) scoring offline")
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = commands.add_parser("score", help="score a validator snapshot: tokens per pool and the weights")
    s.add_argument("snapshot", metavar="SNAPSHOT.json",
                   help="{all_uids, all_hotkeys, commitments, current_epoch_budget, data[, today, params]}")
    s.add_argument("--today", help="UTC date D; the scored days are D−30 … D−1 (default: the snapshot's \"today\")")
    s.add_argument("--variant", choices=VARIANTS, help="default: the snapshot's params, else head")
    s.add_argument("--mode", choices=MODES, help="default: the snapshot's params, else compat")
    s.add_argument("--solver", choices=SOLVERS,
                   help="the closed forms (default) or the cvxpy program solved with CLARABEL")
    s.add_argument("--burn-uid", type=int, help="default: the snapshot's params, else 210")
    s.add_argument("--json", action="store_true", help="print the result as one JSON object")
    s.set_defaults(run=run)
    e = commands.add_parser("export", help="an epoch's Almanac input from the ledger, as a snapshot `score` reads")
    e.add_argument("--epoch", type=int, required=True)
    e.add_argument("--out", required=True, metavar="F.json")
    e.add_argument("--challenge", help="the Almanac challenge (default: the profile's first)")
    e.add_argument("--profile", help="profile YAML (default: $INCENTIVE_PROFILE or profiles/devnet.yaml)")
    e.set_defaults(run=run_export)
