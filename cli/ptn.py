"""`incentive ptn score`: score an export of miners' filled orders offline with the PTN mechanism."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math

from cli import UsageError, read_input, write_json
from mechanisms.ptn.buckets import State
from mechanisms.ptn.config import VERSIONS, config_for
from mechanisms.ptn.evaluate import Evaluation, evaluate
from mechanisms.ptn.orders import MAX_DEPTH, parse_file


def parse_time(text: str) -> int:
    """An ISO 8601 time as UTC milliseconds; a time without a zone is UTC."""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--at must be an ISO 8601 time such as 2025-07-01T00:00:00Z; got {text[:40]!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    if not dt.datetime(1971, 1, 1, tzinfo=dt.timezone.utc) <= when <= dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc):
        raise UsageError(f"--at {text[:40]} is out of range")
    return int(when.timestamp() * 1000)


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _finite(x: float) -> float | None:
    """JSON has no NaN or infinity: a value that overflowed is printed as null."""
    return x if math.isfinite(x) else None


def as_json(result: Evaluation) -> dict:
    def metrics(values):
        return ({k: _finite(v) for k, v in values.items()} if all(not isinstance(v, dict) for v in values.values())
                else {seg: metrics(v) for seg, v in values.items()})

    return {
        "at": iso(result.at_ms),
        "version": result.version,
        "miners": {h: {"bucket": m.bucket, "eliminated": m.elimination, "trading_days": m.trading_days,
                       "drawdown_pct": _finite(m.drawdown_pct), "value": _finite(m.value),
                       "metrics": metrics(m.metrics), "penalties": {k: _finite(v) for k, v in m.penalties.items()},
                       "score": _finite(m.score), "weight": m.weight,
                       "rejected_orders": m.rejected_orders}
                   for h, m in result.miners.items()},
        "weights": dict(result.weights),
        "events": [{"hotkey": e.hotkey, "kind": e.kind, "from": e.from_bucket, "to": e.to_bucket,
                    "reason": e.reason, "at": iso(e.at_ms)} for e in result.events],
        "rejections": [{"hotkey": r.hotkey, "order_uuid": r.uuid, "reason": r.reason} for r in result.rejections],
        "state": result.state.to_json(),
    }


def print_text(result: Evaluation) -> None:
    print(f"PTN {result.version} at {iso(result.at_ms)}: {len(result.miners)} miners")
    print(f"  {'hotkey':<20} {'bucket':<12} {'days':>4} {'dd %':>6} {'score':>8} {'weight':>10}  penalties")
    for h, m in sorted(result.miners.items(), key=lambda kv: (-kv[1].weight, kv[0])):
        where = m.bucket or f"out: {m.elimination}"
        pens = " ".join(f"{k} {v:.4g}" for k, v in m.penalties.items())
        print(f"  {h[:20]:<20} {where:<12} {m.trading_days:>4} {m.drawdown_pct:>6.2f} {m.score:>8.4f} "
              f"{m.weight:>10.6g}  {pens}")
    for e in result.events:
        print(f"  {e.kind} {e.hotkey}: {e.from_bucket or '-'} → {e.to_bucket or '-'}{' (' + e.reason + ')' if e.reason else ''}")
    if result.rejections:
        print(f"  {len(result.rejections)} refused input(s); --json lists them with their reasons")


def run(args: argparse.Namespace) -> int:
    at_ms = parse_time(args.at)
    cfg = config_for(args.version, fixed=args.mode == "fixed")
    orders = read_input(args.orders, lambda obj: parse_file(obj, cfg.order_leverage_bounds), MAX_DEPTH)
    state = None if args.state is None else read_input(args.state, State.from_json)
    result = evaluate(orders, at_ms, cfg, state)
    if args.write_state:
        write_json(args.write_state, result.state.to_json())
    if args.json:
        print(json.dumps(as_json(result), allow_nan=False, sort_keys=True))
    else:
        print_text(result)
    return 0


def register(groups: argparse._SubParsersAction) -> None:
    p = groups.add_parser("ptn", help="Taoshi PTN scoring offline")
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = commands.add_parser("score", help="score an export of filled orders: buckets, metrics, penalties, weights")
    s.add_argument("orders", metavar="ORDERS.json", help="a ptn-orders/1 export (docs/ptn.md)")
    s.add_argument("--at", required=True, metavar="ISO8601", help="the evaluation time (UTC if no zone is given)")
    s.add_argument("--version", default="v1", choices=VERSIONS, help="the scoring version (default v1)")
    s.add_argument("--mode", default="compat", choices=("compat", "fixed"),
                   help="fixed turns on the corrections of docs/ptn.md (default compat: the reference's behaviour)")
    s.add_argument("--state", metavar="STATE.json", help="the bucket state an earlier evaluation wrote")
    s.add_argument("--write-state", metavar="F.json", help="also write the new state to this file")
    s.add_argument("--json", action="store_true", help="print the result as one JSON object")
    s.set_defaults(run=run)
