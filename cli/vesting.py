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
        if hotkey is None:
            raise UsageError(f"{where}: an emission names no hotkey")
        if hotkey in miners and miners[hotkey] != coldkey:  # a hotkey no longer a miner still earned it
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
    prof = {"default": None, "help": "profile YAML (default: $INCENTIVE_PROFILE or profiles/devnet.yaml)"}
    s = commands.add_parser("show", help="one miner hotkey's tranches, h, d, m and the rule that set m, from the ledger")
    s.add_argument("hotkey", metavar="HOTKEY")
    s.add_argument("--epoch", type=int, default=None, help="at the end of this epoch (default: the newest booked)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--profile", **prof)
    s.set_defaults(run=run_show)
    e = commands.add_parser("export", help="write an epoch's flows in the replay format (vesting replay reproduces m)")
    e.add_argument("--epoch", type=int, required=True)
    e.add_argument("--out", required=True, metavar="F.json")
    e.add_argument("--profile", **prof)
    e.set_defaults(run=run_export)


def _stored(args: argparse.Namespace):
    """The profile, the ledger, the epoch asked for (default: the newest booked) and its vesting row."""
    from cli.platform import _ledger
    from cli.score import load_profile

    profile = load_profile(args.profile)
    store = _ledger(profile)
    span = store.vesting_span()
    if span is None:
        raise UsageError("the ledger holds no vesting epochs: materialize vesting_multipliers (make run) first")
    epoch = span[1] if args.epoch is None else _int(args.epoch, "--epoch")
    row = store.vesting_epoch(epoch)
    if row is None or not row.factors:
        raise UsageError(f"epoch {epoch} has no vesting factors (booked epochs with factors end at {span[1]})")
    return profile, store, epoch, row


def run_show(args: argparse.Namespace) -> int:
    from assets.vesting import epoch_seconds, stored_state

    profile, store, epoch, row = _stored(args)
    f = row.factors.get(args.hotkey)
    if f is None:
        raise UsageError(f"{_shown(args.hotkey)} is not a miner hotkey at epoch {epoch}")
    miners = {hk: x["coldkey"] for hk, x in row.factors.items()}
    try:
        state, k0 = stored_state(store, profile, epoch, miners)
    except LookupError as exc:
        raise UsageError(str(exc)) from None
    t = state.coldkeys.get(f["coldkey"])
    days = float(epoch_seconds(profile)) / 86_400
    tranches = [] if t is None else [
        {"entry_epoch": int(e), "kind": "emission" if k else "opening/inflow", "remaining_rao": int(r),
         "age_days": (epoch - int(e)) * days} for e, k, r in zip(t.entry, t.kind, t.remaining)]
    out = {"epoch": epoch, "hotkey": args.hotkey, "uid": f["uid"], "coldkey": f["coldkey"],
           "coldkey_hotkeys": sorted(hk for hk, c in miners.items() if c == f["coldkey"]),
           "emitted_rao": state.emitted.get(args.hotkey, 0), "held_rao": 0 if t is None else t.held,
           "h": f["h"], "d": f["d"], "m": f["m"], "rule": f["rule"], "stake": f["stake"], "qualified": f["qualified"],
           "epoch_status": row.status, "epoch_reason": row.reason, "activation_epoch": k0, "tranches": tranches}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{_shown(args.hotkey)} (uid {f['uid']}) at epoch {epoch}: h {f['h']:.4f}  d {f['d']:.2f} days  m {f['m']:.4f}"
          f"  gate {'ok' if f['qualified'] else 'below the minimum stake'}")
    print(f"  rule: {f['rule']}")
    print(f"  coldkey {_shown(f['coldkey'])}: {len(out['coldkey_hotkeys'])} miner hotkey(s), held emissions "
          f"{out['held_rao'] / 1e9:.4f} α, this hotkey earned {out['emitted_rao'] / 1e9:.4f} α since epoch {k0}")
    if row.status == "fallback":
        print(f"  epoch {epoch} fell back: {row.reason}")
    print(f"  {len(tranches)} live tranche(s), newest last:")
    for x in tranches[-20:] if len(tranches) > 20 else tranches:
        print(f"    epoch {x['entry_epoch']:>8}  {x['kind']:<15} {x['remaining_rao'] / 1e9:14.6f} α  age {x['age_days']:7.2f} days")
    if len(tranches) > 20:
        print(f"    … {len(tranches) - 20} older tranche(s) not shown (--json lists all)")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from assets.vesting import epoch_seconds

    profile, store, epoch, row = _stored(args)
    k0 = profile.vesting.activation_epoch if profile.vesting.activation_epoch is not None else store.vesting_span()[0]
    rows = store.vesting_epochs(k0, epoch, ("chain", "flows"))
    if not rows or rows[0].epoch != k0 or [r.epoch for r in rows] != list(range(k0, epoch + 1)):
        have = {r.epoch for r in rows}
        missing = next(k for k in range(k0, epoch + 1) if k not in have)
        raise UsageError(f"epoch {missing} has no vesting row: the export needs every epoch from {k0} to {epoch}")
    seconds = epoch_seconds(profile)
    v = profile.vesting
    doc = {"epoch_seconds": seconds.numerator if seconds.denominator == 1 else float(seconds),
           "activation_epoch": k0, "at": epoch,
           "miners": {hk: x["coldkey"] for hk, x in sorted(row.factors.items())},
           "opening": rows[0].chain.get("opening") or {},
           "settings": {"formula": v.formula, "amount_strict": v.amount_strict, "time_strict": v.time_strict,
                        "max_multiplier": v.max_multiplier},
           "fallback_epochs": {str(r.epoch): r.reason for r in rows if r.status == "fallback"},
           "events": [{"epoch": r.epoch, "block": b, "coldkey": c, "hotkey": h, "kind": kind, "amount_rao": amount,
                       "reason": why} for r in rows for b, c, h, kind, amount, why in r.flows]}
    with open(args.out, "w") as f:
        json.dump(doc, f)
    note = "" if row.status != "fallback" else f"; epoch {epoch} fell back, so its asset factors are epoch {epoch - 1}'s"
    print(f"wrote {len(doc['events'])} flows of epochs {k0}–{epoch} for {len(doc['miners'])} miners to {args.out}{note}")
    return 0
