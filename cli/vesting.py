"""`incentive vesting replay`: holding metrics and multipliers from a flows file, for offline audit."""

from __future__ import annotations

import argparse
import json
from fractions import Fraction

from cli import UsageError
from mechanisms.vesting.ledger import FORMULAS, KINDS, Flow, FlowError, VestingLedger
from protocol import json_guard


LIMIT = 2**62  # epochs, blocks and rao amounts: far beyond any chain's, within the ledger's int64 arrays
MAX_EPOCH_SECONDS = 10**9


def _int(value: object, what: str, low: int = -LIMIT) -> int:
    if type(value) is not int or not low <= value <= LIMIT:
        raise UsageError(f"{what} must be an integer in {low}..2^62, got {json.dumps(value)[:40]}")
    return value


def read_flows(path: str) -> tuple[Fraction, int, dict[str, str], dict[str, int], list[Flow]]:
    """(epoch_seconds, activation_epoch, miners, opening, flows) of a flows file; UsageError naming the fault."""
    try:
        with open(path, "rb") as f:
            doc = json_guard.loads(f.read(), parse_int=json_guard.bounded_int)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{path} is not JSON: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: the flows file is not a JSON object")
    missing = [k for k in ("epoch_seconds", "activation_epoch", "miners", "opening", "events") if k not in doc]
    if missing:
        raise UsageError(f"{path}: missing {', '.join(missing)}")
    seconds = doc["epoch_seconds"]
    if type(seconds) not in (int, float) or not 0 < seconds <= MAX_EPOCH_SECONDS:
        raise UsageError(f"epoch_seconds must be a positive number of at most {MAX_EPOCH_SECONDS}")
    activation = _int(doc["activation_epoch"], "activation_epoch")
    miners, opening, events = doc["miners"], doc["opening"], doc["events"]
    if not isinstance(miners, dict) or not all(isinstance(c, str) for c in miners.values()):
        raise UsageError('miners must be an object {"<hotkey>": "<coldkey>"}')
    if not isinstance(opening, dict):
        raise UsageError('opening must be an object {"<coldkey>": rao}')
    for coldkey, amount in opening.items():
        if type(amount) is not int or not 0 <= amount <= LIMIT:
            raise UsageError(f"opening of {_shown(coldkey)}: a negative or non-integer amount (or above 2^62 rao)")
    if not isinstance(events, list):
        raise UsageError("events must be a list")
    flows = [_flow(i, e, miners) for i, e in enumerate(events)]
    return Fraction(str(seconds)) if type(seconds) is float else Fraction(seconds), activation, miners, opening, flows


def _flow(i: int, e: object, miners: dict[str, str]) -> Flow:
    where = f"event {i}"
    if not isinstance(e, dict):
        raise UsageError(f"{where} is not an object")
    for key in ("epoch", "block", "coldkey", "kind", "amount_rao"):
        if key not in e:
            raise UsageError(f"{where} has no {key}")
    kind, coldkey, hotkey, amount = e["kind"], e["coldkey"], e.get("hotkey"), e["amount_rao"]
    if kind not in KINDS:
        raise UsageError(f"{where}: unknown kind {json.dumps(kind)[:40]}; kinds: {', '.join(KINDS)}")
    if type(amount) is not int or not 0 <= amount <= LIMIT:
        raise UsageError(f"{where}: a negative or non-integer amount_rao (or above 2^62) {json.dumps(amount)[:40]}")
    if not isinstance(coldkey, str) or not (hotkey is None or isinstance(hotkey, str)):
        raise UsageError(f"{where}: coldkey must be a string and hotkey a string or null")
    if kind == "emission":
        if hotkey not in miners:
            raise UsageError(f"{where}: an emission to hotkey {_shown(hotkey)}, which is not in miners")
        if miners[hotkey] != coldkey:
            raise UsageError(f"{where}: an emission under coldkey {_shown(coldkey)}, but miners gives "
                             f"{_shown(hotkey)} the coldkey {_shown(miners[hotkey])}")
    return Flow(_int(e["epoch"], f"{where}: epoch"), _int(e["block"], f"{where}: block"), coldkey, hotkey, kind, amount)


def _shown(key: object) -> str:
    """A key from the file as one printable line (escapes for control characters and lone surrogates)."""
    return json.dumps(key)[1:-1][:48] if isinstance(key, str) else str(key)[:48]


def run_replay(args: argparse.Namespace) -> int:
    seconds, activation, miners, opening, flows = read_flows(args.flows)
    at = _int(args.at, "--at")
    try:
        ledger = VestingLedger.open(miners, activation, opening)
        if at >= activation:
            ledger.advance(flows, at)
        holdings = ledger.holdings(at, seconds, args.formula)
    except FlowError as exc:
        raise UsageError(str(exc)) from None
    out = {hk: {"h": float(v.h), "d": float(v.d), "m": float(v.m)} for hk, v in holdings.items()}
    if args.json:
        print(json.dumps(out))
    else:
        for hotkey, v in out.items():
            print(f"{_shown(hotkey):<48}  h {v['h']:.6f}  d {v['d']:9.4f}  m {v['m']:.6f}")
    return 0


def register(groups: argparse._SubParsersAction) -> None:
    p = groups.add_parser("vesting", help="vesting multipliers offline (holding metrics from stake flows)")
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    r = commands.add_parser("replay", help="replay a flows file to an epoch: h, d and m of every miner hotkey")
    r.add_argument("flows", metavar="FLOWS.json",
                   help="{epoch_seconds, activation_epoch, miners, opening, events: [{epoch, block, coldkey, "
                        "hotkey, kind, amount_rao}]}")
    r.add_argument("--at", type=int, required=True, help="evaluate at the end of this epoch")
    r.add_argument("--formula", choices=FORMULAS, default="table")
    r.add_argument("--json", action="store_true", help='print {"<hotkey>": {"h", "d", "m"}}')
    r.set_defaults(run=run_replay)
