"""Stake events as the node decodes `System.Events`, read by event name (vesting_bettensor.md §3.3).

A record is `{"event": {"module_id", "event_id", "attributes"}, "extrinsic_idx"}`. Subtensor's stake
events are tuple variants, so the node hands their fields over positionally (or, for runtimes and
clients that name them, as a dict). Fields are looked up in the layout registered for the event's
name and field count, and every field is checked against its type (an account is an SS58 string, a
netuid a u16, an amount a u64): a record that fits no layout, or whose values have the wrong types,
is undecodable, with its reason, never guessed at.

Every change of a stake position emits a leg: `StakeRemoved(coldkey, hotkey, tao, alpha, netuid, fee)`
where alpha leaves a position, `StakeAdded(...)` where it arrives. A move, swap or transfer adds a
summary event after its legs (`StakeMoved`, `StakeSwapped`, `StakeTransferred`, amounts in TAO). The
legs carry the alpha; the summary says what the operation was. `combine` joins each summary with its
legs into one `StakeEvent` (origin and destination, alpha out and in), so a move within the subnet
is one neutral operation rather than a sell and a buy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mechanisms.vesting.flows import EVENTS, StakeEvent

MODULE = "SubtensorModule"
LEGS = ("StakeAdded", "StakeRemoved", "AlphaRecycled", "AlphaBurned")  # each changes one position's alpha
SUMMARIES = ("StakeMoved", "StakeSwapped", "StakeTransferred")
_LEG = ("coldkey", "hotkey", "tao", "alpha", "netuid")
LAYOUTS: dict[tuple[str, int], tuple[str, ...]] = {
    ("StakeAdded", 6): (*_LEG, "fee"),
    ("StakeAdded", 5): _LEG,
    ("StakeRemoved", 6): (*_LEG, "fee"),
    ("StakeRemoved", 5): _LEG,
    ("StakeMoved", 6): ("coldkey", "origin_hotkey", "origin_netuid", "destination_hotkey", "destination_netuid", "tao"),
    ("StakeTransferred", 6): ("origin_coldkey", "destination_coldkey", "hotkey", "origin_netuid",
                              "destination_netuid", "tao"),
    ("StakeSwapped", 5): ("coldkey", "hotkey", "origin_netuid", "destination_netuid", "tao"),
    ("AlphaRecycled", 4): ("coldkey", "hotkey", "alpha", "netuid"),  # stake destroyed: no longer held
    ("AlphaBurned", 4): ("coldkey", "hotkey", "alpha", "netuid"),
}
_SS58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{46,48}$")
U64 = 2**64 - 1


@dataclass(frozen=True)
class StakeRecord:
    """One decoded stake event: its name, where it happened and its fields by name."""

    name: str
    block: int
    extrinsic: int | None
    fields: Mapping[str, object]


@dataclass(frozen=True)
class Undecodable:
    """A stake event that could not be read, kept with why and a bounded copy of what came."""

    block: int
    extrinsic: int | None
    name: str
    reason: str
    raw: str


def _field_type(name: str) -> str:
    if name.endswith("coldkey") or name.endswith("hotkey"):
        return "account"
    return "netuid" if name.endswith("netuid") else "amount"


def _valid(kind: str, value: object) -> bool:
    if kind == "account":
        return isinstance(value, str) and bool(_SS58.match(value))
    if type(value) is not int:
        return False
    return 0 <= value <= (65535 if kind == "netuid" else U64)


def _raw(record: object) -> str:
    try:
        text = json.dumps(record, default=repr, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        text = repr(record)
    return text[:400]


def decode_one(block: int, record: object) -> StakeRecord | Undecodable | None:
    """A record of a stake event, decoded by name; None for any other event."""
    event = record.get("event", record) if isinstance(record, dict) else None
    if not isinstance(event, dict):
        return Undecodable(block, None, "?", "not an event record", _raw(record))
    module, name = event.get("module_id"), event.get("event_id")
    if module != MODULE or name not in EVENTS:
        return None
    extrinsic = record.get("extrinsic_idx")
    extrinsic = extrinsic if type(extrinsic) is int and 0 <= extrinsic < 2**32 else None
    attributes = event.get("attributes")
    if isinstance(attributes, dict):
        layout = next((v for (n, _), v in LAYOUTS.items() if n == name and set(v) <= set(attributes)), None)
        values = None if layout is None else [attributes[f] for f in layout]
    elif isinstance(attributes, (list, tuple)):
        layout = LAYOUTS.get((name, len(attributes)))
        values = list(attributes)
    else:
        return Undecodable(block, extrinsic, name, f"attributes are {type(attributes).__name__}, not fields", _raw(record))
    if layout is None:
        return Undecodable(block, extrinsic, name, "no known field layout for this event and field count", _raw(record))
    bad = [f for f, v in zip(layout, values) if not _valid(_field_type(f), v)]
    if bad:
        return Undecodable(block, extrinsic, name, f"field {bad[0]} has the wrong type or range", _raw(record))
    return StakeRecord(name, block, extrinsic, dict(zip(layout, values)))


def decode(records: Iterable[tuple[int, object]]) -> tuple[list[StakeRecord], list[Undecodable]]:
    """Every stake event of (block, record) pairs, decoded, and those that could not be."""
    good: list[StakeRecord] = []
    bad: list[Undecodable] = []
    for block, record in records:
        out = decode_one(block, record)
        if isinstance(out, StakeRecord):
            good.append(out)
        elif out is not None:
            bad.append(out)
    return good, bad


def _sides(s: StakeRecord) -> tuple[tuple, tuple]:
    """(coldkey, hotkey or None, netuid) of a summary's origin and destination."""
    f = s.fields
    if s.name == "StakeMoved":
        return (f["coldkey"], f["origin_hotkey"], f["origin_netuid"]), (f["coldkey"], f["destination_hotkey"], f["destination_netuid"])
    if s.name == "StakeSwapped":
        return (f["coldkey"], f["hotkey"], f["origin_netuid"]), (f["coldkey"], f["hotkey"], f["destination_netuid"])
    # a transfer may land on another hotkey of the receiver (transfer_stake_and_hotkey)
    return (f["origin_coldkey"], f["hotkey"], f["origin_netuid"]), (f["destination_coldkey"], None, f["destination_netuid"])


def _matches(leg: StakeRecord, side: tuple) -> bool:
    coldkey, hotkey, netuid = side
    f = leg.fields
    return f["coldkey"] == coldkey and f["netuid"] == netuid and (hotkey is None or f["hotkey"] == hotkey)


def combine(records: list[StakeRecord], netuid: int) -> tuple[list[StakeEvent], list[Undecodable]]:
    """One `StakeEvent` per operation, in event order: each summary joined with the legs before it in
    its extrinsic (its StakeRemoved where the alpha left, its StakeAdded where it arrived), and every
    leg no summary claims on its own. A summary that takes alpha off subnet `netuid` without the leg that
    says how much (its amount is TAO) is undecodable; one without a StakeAdded where it went brought
    nothing there (the runtime refunds a remainder too small to stake again). Linear in the records."""
    out: list[tuple[int, StakeEvent]] = []
    bad: list[Undecodable] = []
    used: set[int] = set()
    legs: dict[tuple, list[int]] = {}  # (block, extrinsic) → its legs so far, in event order
    since: dict[tuple, int] = {}  # (block, extrinsic) → index of its previous summary
    for i, s in enumerate(records):
        where = (s.block, s.extrinsic)
        if s.name not in SUMMARIES:
            if s.name in LEGS:
                legs.setdefault(where, []).append(i)
            continue
        origin, destination = _sides(s)
        # A summary's legs are the ones between it and the previous summary of its extrinsic: the
        # nearest that match, so a sell batched with a move is never taken for the move's leg.
        mine = [j for j in reversed(legs.get(where, ())) if j > since.get(where, -1) and j not in used]
        since[where] = i
        out_leg = next((j for j in mine if records[j].name == "StakeRemoved" and _matches(records[j], origin)), None)
        in_leg = next((j for j in mine if records[j].name == "StakeAdded" and _matches(records[j], destination)), None)
        crosses = origin[2] != destination[2] or origin[0] != destination[0]
        if crosses and origin[2] == netuid and out_leg is None:
            bad.append(Undecodable(s.block, s.extrinsic, s.name, "its StakeRemoved leg on the subnet is missing, so "
                                   "the alpha it moved is unknown", _raw(dict(s.fields))))
            continue
        # no StakeAdded where it went: nothing arrived (a remainder too small to stake again is refunded)
        used.update(j for j in (out_leg, in_leg) if j is not None)
        alpha_out = records[out_leg].fields["alpha"] if out_leg is not None else 0
        alpha_in = records[in_leg].fields["alpha"] if in_leg is not None else 0
        out.append((i, StakeEvent(s.name, s.block, origin[0], origin[2], destination[0], destination[2],
                                  alpha_out, alpha_in)))
    for j, leg in enumerate(records):
        if leg.name in LEGS and j not in used:
            f = leg.fields
            event = (StakeEvent(leg.name, leg.block, None, None, f["coldkey"], f["netuid"], 0, f["alpha"])
                     if leg.name == "StakeAdded" else  # removed, recycled or burned: alpha left the position
                     StakeEvent(leg.name, leg.block, f["coldkey"], f["netuid"], None, None, f["alpha"], 0))
            out.append((j, event))
    return [e for _, e in sorted(out, key=lambda x: x[0])], bad


def pair_changes(records: Iterable[StakeRecord], netuid: int, blocks: range) -> dict[tuple[str, str], int]:
    """Signed alpha that stake operations added to each (coldkey, hotkey) position on `netuid` within
    `blocks`: what §3.2 subtracts from a snapshot difference before calling the rest emission."""
    out: dict[tuple[str, str], int] = {}
    for r in records:
        if r.name in LEGS and r.block in blocks and r.fields["netuid"] == netuid:
            pair = (r.fields["coldkey"], r.fields["hotkey"])
            out[pair] = out.get(pair, 0) + (r.fields["alpha"] if r.name == "StakeAdded" else -r.fields["alpha"])
    return {k: v for k, v in out.items() if v}
