"""Stake flows for the tranche ledger (vesting_bettensor.md §3): emissions from the snapshots around an
epoch's step, and the coldkeys' other flows either from classified stake events or from snapshots.

Everything is alpha of the scored subnet S in integer rao. Flows are classified by coldkey and netuid,
never by hotkey registration: stake moved to any hotkey of S is still held, and selling it from there
is a sell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from mechanisms.vesting.ledger import Flow

EVENTS = ("StakeAdded", "StakeRemoved", "StakeMoved", "StakeSwapped", "StakeTransferred", "AlphaRecycled", "AlphaBurned")
_LEAVES = ("StakeRemoved", "AlphaRecycled", "AlphaBurned")  # alpha leaves the position and is no longer held


@dataclass(frozen=True)
class StakeEvent:
    """One decoded stake event, by name, with what left and what arrived where.

    `origin_*` is where the stake came from (for StakeAdded: none), `destination_*` where it went (for
    StakeRemoved: none); a move or swap within one coldkey has the same coldkey on both sides.
    `alpha_out` is the alpha of the origin subnet that left it, `alpha_in` the alpha of the
    destination subnet that arrived (they differ when a swap crosses subnets).
    """

    name: str
    block: int
    origin_coldkey: str | None
    origin_netuid: int | None
    destination_coldkey: str | None
    destination_netuid: int | None
    alpha_out: int = 0
    alpha_in: int = 0


@dataclass(frozen=True)
class Classified:
    coldkey: str
    kind: str  # inflow | outflow | neutral
    amount: int
    reason: str  # the §3.3 row that decided it


def classify(event: StakeEvent, netuid: int) -> list[Classified]:
    """§3.3 for subnet `netuid`: what the event means for each coldkey's holding there (possibly two
    coldkeys: a transfer is one's outflow and the other's inflow). Events that touch no side on S
    mean nothing here; an event without subnet information is neutral, with its reason."""
    e, s = event, netuid
    if e.name not in EVENTS:
        return []
    if (e.origin_netuid is None and e.name != "StakeAdded") or (e.destination_netuid is None and e.name not in _LEAVES):
        coldkey = e.origin_coldkey or e.destination_coldkey
        return [Classified(coldkey, "neutral", 0, f"{e.name} without subnet information")] if coldkey else []
    if e.name == "StakeAdded":
        return [Classified(e.destination_coldkey, "inflow", e.alpha_in, "StakeAdded on S")] if e.destination_netuid == s else []
    if e.name in _LEAVES:
        return [Classified(e.origin_coldkey, "outflow", e.alpha_out, f"{e.name} on S")] if e.origin_netuid == s else []
    if e.name == "StakeTransferred" and e.origin_coldkey != e.destination_coldkey:
        out = []
        if e.origin_netuid == s:
            out.append(Classified(e.origin_coldkey, "outflow", e.alpha_out, "StakeTransferred to another coldkey"))
        if e.destination_netuid == s:
            out.append(Classified(e.destination_coldkey, "inflow", e.alpha_in, "StakeTransferred from another coldkey"))
        return out
    # a move, a swap, or a transfer to oneself: the coldkey's stake changes hotkey or subnet
    coldkey = e.origin_coldkey
    if e.origin_netuid == s and e.destination_netuid == s:
        return [Classified(coldkey, "neutral", 0, f"{e.name} within S (V6)")]
    if e.origin_netuid == s:
        return [Classified(coldkey, "outflow", e.alpha_out, f"{e.name} from S to another subnet")]
    if e.destination_netuid == s:
        return [Classified(coldkey, "inflow", e.alpha_in, f"{e.name} from another subnet to S")]
    return []


def emissions(pre: Mapping[tuple[str, str], int], post: Mapping[tuple[str, str], int],
              manual: Mapping[tuple[str, str], int] = {}) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """§3.2 per (coldkey, hotkey) pair: e = S(post) − S(pre) − the net manual flow between the two
    blocks. A negative result is no emission and an outflow of its size (summed per coldkey)."""
    emitted: dict[tuple[str, str], int] = {}
    lost: dict[str, int] = {}
    for pair in sorted(set(pre) | set(post)):
        e = post.get(pair, 0) - pre.get(pair, 0) - manual.get(pair, 0)
        if e > 0:
            emitted[pair] = e
        elif e < 0:
            lost[pair[0]] = lost.get(pair[0], 0) - e
    return emitted, lost


def coldkey_totals(pairs: Mapping[tuple[str, str], int]) -> dict[str, int]:
    """Each coldkey's alpha on S across all its hotkeys, from its (coldkey, hotkey) positions (§3.1)."""
    out: dict[str, int] = {}
    for (coldkey, _), rao in pairs.items():
        out[coldkey] = out.get(coldkey, 0) + rao
    return out


def snapshot_flows(total_before: Mapping[str, int], total_after: Mapping[str, int],
                   emitted: Mapping[tuple[str, str], int]) -> dict[str, int]:
    """§3.4, without an event stream: f_c = S_c(post_k) − S_c(post_k−1) − E_c(k) per coldkey, its total
    alpha on S across all hotkeys (so moves between its hotkeys or to validators of S are invisible,
    V6). Signed: below 0 an outflow, above 0 an inflow; a sell and a buy in one epoch net out."""
    by_coldkey: dict[str, int] = {}
    for (coldkey, _), e in emitted.items():
        by_coldkey[coldkey] = by_coldkey.get(coldkey, 0) + e
    coldkeys = sorted(set(total_before) | set(total_after) | set(by_coldkey))
    flows = {c: total_after.get(c, 0) - total_before.get(c, 0) - by_coldkey.get(c, 0) for c in coldkeys}
    return {c: f for c, f in flows.items() if f}


def epoch_flows(epoch: int, step_block: int | None, emitted: Mapping[tuple[str, str], int],
                classified: Iterable[tuple[int, Classified]] = (), signed: Mapping[str, int] = {},
                lost: Mapping[str, int] = {}) -> list[Flow]:
    """One epoch's flows for the ledger: classified events (with their blocks) and the §3.2 losses
    their manual flows do not explain, or (without events) the signed snapshot flows, which include
    those losses already; then the emissions at the step block. An epoch without a step
    (`step_block` None) has no emission."""
    out = [Flow(epoch, block, c.coldkey, None, c.kind, c.amount) for block, c in classified]
    at = step_block if step_block is not None else max((b for b, _ in classified), default=0)
    for coldkey, f in sorted(signed.items()):
        out.append(Flow(epoch, at, coldkey, None, "outflow" if f < 0 else "inflow", abs(f)))
    out += [Flow(epoch, at, coldkey, None, "outflow", amount) for coldkey, amount in sorted(lost.items())]
    if step_block is not None:
        out += [Flow(epoch, step_block, c, h, "emission", e) for (c, h), e in sorted(emitted.items())]
    return out


def book(epoch: int, netuid: int, miners: Mapping[str, str], step_block: int | None,
         pre: Mapping[tuple[str, str], int] | None, post: Mapping[tuple[str, str], int] | None,
         events: Iterable[StakeEvent] | None, manual: Mapping[tuple[str, str], int],
         totals_before: Mapping[str, int] | None) -> list[tuple[Flow, str]]:
    """One epoch's flows with the reason for each, from what could be read.

    `events` None means flows from snapshots (§3.4: `totals_before` is each coldkey's total at the
    previous post snapshot); otherwise classified events (§3.3) plus the §3.2 losses. Emissions are the
    step's gains on a miner hotkey's position of its own coldkey (`miners`: hotkey → coldkey) and need
    both snapshots; without them (or without a step) the epoch books none. A gain at the step on any
    other position (a validator the coldkey delegates to, or someone else's stake on a miner) is
    dividends: an inflow, never held rewards. `manual` is the signed alpha stake
    operations added to each position at the step block (§3.2)."""
    emitted: dict[tuple[str, str], int] = {}
    lost: dict[str, int] = {}
    dividends: dict[str, int] = {}
    if step_block is not None and pre is not None and post is not None:
        own = lambda pair: miners.get(pair[1]) == pair[0]  # noqa: E731
        mine = lambda snap: {p: v for p, v in snap.items() if own(p)}  # noqa: E731
        emitted, lost = emissions(mine(pre), mine(post), manual)
        for pair in set(pre) | set(post):
            if not own(pair):
                change = post.get(pair, 0) - pre.get(pair, 0) - manual.get(pair, 0)
                dividends[pair[0]] = dividends.get(pair[0], 0) + change
    if events is None:
        if post is None or totals_before is None:
            return [(f, "emission at the step") for f in epoch_flows(epoch, step_block, emitted)]
        flows = epoch_flows(epoch, step_block, emitted, signed=snapshot_flows(totals_before, coldkey_totals(post), emitted))
        return [(f, "emission at the step" if f.kind == "emission" else "snapshot difference (§3.4)") for f in flows]
    classified = [(e.block, c) for e in events for c in classify(e, netuid)]
    lost = {c: lost.get(c, 0) - min(0, dividends.get(c, 0)) for c in set(lost) | {c for c, v in dividends.items() if v < 0}}
    gained = {c: v for c, v in dividends.items() if v > 0}
    flows = epoch_flows(epoch, step_block, emitted, classified, signed=gained, lost=lost)
    reasons = ([c.reason for _, c in classified] + ["dividends on delegated stake"] * len(gained)
               + ["stake fell across the step (§3.2)"] * len(lost))
    return list(zip(flows, reasons + ["emission at the step"] * (len(flows) - len(reasons))))
