"""A miner's round: its rebalance history from its answers (forevermoney.md §3), the fees its positions
earn from the pool's swaps (§4.2) and its value at the end (§4.3), in exact integers.

The project's behaviour throughout (§8): the on-chain positions at the start are the history's first
entry; a position's liquidity is fixed when it is deployed; a rebalance first takes back the replaced
positions at the rebalance price, so inventory is neither drained nor created by rebalancing; the
fee rate is the pool's fee tier.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from mechanisms.lp.liquidity import amounts_for_liquidity, liquidity_for_amounts
from mechanisms.lp.records import Answer, Position, Round, Swap
from mechanisms.lp.tickmath import sqrt_ratio_at_tick, value_in_token1

TOLERANCE = 50  # an answer within 1/50 = 2 % of the current allocations (same ranges) is no rebalance
PIPS = 1_000_000


@dataclass(frozen=True)
class Deployed:
    position: Position
    sa: int
    sb: int
    liquidity: int
    used0: int
    used1: int

    def amounts(self, sp: int) -> tuple[int, int]:
        return amounts_for_liquidity(self.sa, self.sb, sp, self.liquidity)


@dataclass(frozen=True)
class Entry:
    """The positions in force from `block` on (a swap in the same block still meets the previous ones),
    and the idle inventory beside them."""

    block: int
    sqrt_price_x96: int
    positions: tuple[Deployed, ...]
    inventory: tuple[int, int]


@dataclass(frozen=True)
class Result:
    rebalances: int
    final_positions: tuple[Deployed, ...]
    fees: tuple[int, int]
    in_range_ratio: float
    initial_amounts: tuple[int, int]   # inventory plus the starting positions' amounts, at the start price
    deployed: tuple[int, int]          # the last positions' amounts at the final price
    holdings: tuple[int, int]          # deployed + idle
    final_sqrt_price_x96: int
    initial_value: int                 # token1 raw units
    hodl_value: int
    lp_value: int
    fees_value: int
    final_value: int
    impermanent_loss: float


def deploy(p: Position, sp: int) -> Deployed:
    sa, sb = sqrt_ratio_at_tick(p.tick_lower), sqrt_ratio_at_tick(p.tick_upper)
    liquidity = liquidity_for_amounts(sa, sb, sp, p.allocation0, p.allocation1)
    used0, used1 = amounts_for_liquidity(sa, sb, sp, liquidity)
    return Deployed(p, sa, sb, liquidity, used0, used1)


def price_at(rnd: Round, blocks: list[int], block: int) -> int:
    """The pool price after the last swap at or before `block` (the start price before any)."""
    i = bisect.bisect_right(blocks, block)
    return rnd.swaps[i - 1].sqrt_price_x96 if i else rnd.sqrt_price_x96


def _close(a: int, b: int) -> bool:
    """Within 2 % of the larger of the two (1 at least), inclusive."""
    return TOLERANCE * abs(a - b) <= max(abs(a), abs(b), 1)


def _unchanged(wanted: tuple[Position, ...], current: tuple[Deployed, ...]) -> bool:
    """The same ranges, in any order, each wanted position matched to its own current one of the same
    range with both allocations within 2 % (a matching within each range, at most 20 positions)."""
    if len(wanted) != len(current):
        return False
    have = [d.position for d in current]
    owner: dict[int, int] = {}  # current index → wanted index

    def place(i: int, seen: set[int]) -> bool:
        w = wanted[i]
        for j, c in enumerate(have):
            if j in seen or (c.tick_lower, c.tick_upper) != (w.tick_lower, w.tick_upper) or not (
                    _close(w.allocation0, c.allocation0) and _close(w.allocation1, c.allocation1)):
                continue
            seen.add(j)
            if j not in owner or place(owner[j], seen):
                owner[j] = i
                return True
        return False

    return all(place(i, set()) for i in range(len(wanted)))


def opening(rnd: Round) -> Entry:
    return Entry(rnd.start_block, rnd.sqrt_price_x96, tuple(deploy(p, rnd.sqrt_price_x96) for p in rnd.positions),
                 rnd.inventory)


def history(rnd: Round, answers: tuple[Answer, ...], blocks: list[int]) -> tuple[list[Entry], str | None]:
    """The entries a miner's answers make, or the reason it is out of the round (score 0)."""
    entries = [opening(rnd)]
    for a in answers:
        if a.block > rnd.end_block:
            break
        if a.positions is None:
            return entries, a.refusal
        last = entries[-1]
        if _unchanged(a.positions, last.positions):
            continue
        sp = price_at(rnd, blocks, a.block)
        back = [d.amounts(sp) for d in last.positions]
        avail0 = last.inventory[0] + sum(x for x, _ in back)
        avail1 = last.inventory[1] + sum(y for _, y in back)
        want0, want1 = sum(p.allocation0 for p in a.positions), sum(p.allocation1 for p in a.positions)
        if want0 > avail0 or want1 > avail1:
            return entries, f"malformed: allocations ({want0}, {want1}) above the inventory ({avail0}, {avail1})"
        deployed = tuple(deploy(p, sp) for p in a.positions)
        entries.append(Entry(max(a.block, rnd.start_block), sp, deployed,
                             (avail0 - sum(d.used0 for d in deployed), avail1 - sum(d.used1 for d in deployed))))
    return entries, None


@dataclass(frozen=True)
class Tape:
    """The round's swaps as columns: ticks for the range test, exact integers for the fee."""

    blocks: list[int]
    ticks: np.ndarray
    prices: list[int]
    amount_in: list[int]  # the input amount (positive side); 0 when neither side is positive
    token: list[int]      # 0 or 1: which token the input (and the fee) is in
    liquidity: list[int]

    @classmethod
    def of(cls, swaps: tuple[Swap, ...]) -> Tape:
        return cls([s.block for s in swaps], np.array([s.tick for s in swaps], dtype=np.int64),
                   [s.sqrt_price_x96 for s in swaps],
                   [s.amount0 if s.amount0 > 0 else max(s.amount1, 0) for s in swaps],
                   [0 if s.amount0 > 0 else 1 for s in swaps], [s.liquidity for s in swaps])


def fees(entries: list[Entry], tape: Tape, fee_pips: int) -> tuple[tuple[int, int], int]:
    """Fees per token and the count of (position, swap) pairs in range. A swap meets the entry whose
    block is before its own; a position is in range when sqrt(tl) ≤ price ≤ sqrt(tu), which for a swap
    whose tick holds its price is tl ≤ tick < tu, or the price exactly at sqrt(tu)."""
    earned = [0, 0]
    pairs = 0
    n = len(tape.blocks)
    for k, entry in enumerate(entries):
        lo = 0 if k == 0 else bisect.bisect_right(tape.blocks, entry.block)
        hi = n if k + 1 == len(entries) else bisect.bisect_right(tape.blocks, entries[k + 1].block)
        if lo >= hi or not entry.positions:
            continue
        ticks = tape.ticks[lo:hi]
        inside = np.array([(ticks >= d.position.tick_lower) & (ticks < d.position.tick_upper) for d in entry.positions])
        for j, d in enumerate(entry.positions):  # a price exactly at the upper bound is in range too
            for i in np.flatnonzero(ticks == d.position.tick_upper):
                if tape.prices[lo + i] == d.sb:
                    inside[j, i] = True
        pairs += int(inside[[d.liquidity > 0 for d in entry.positions]].sum())  # an empty position is not in range
        for i in np.flatnonzero(inside.any(axis=0)):
            s = lo + int(i)
            if tape.amount_in[s] <= 0:
                continue
            l_in = sum(d.liquidity for j, d in enumerate(entry.positions) if inside[j, i])
            if l_in:
                earned[tape.token[s]] += tape.amount_in[s] * fee_pips * l_in // (PIPS * (tape.liquidity[s] + l_in))
    return (earned[0], earned[1]), pairs


def backtest(rnd: Round, entries: list[Entry], tape: Tape) -> Result:
    (f0, f1), pairs = fees(entries, tape, rnd.fee_pips)
    p_i = rnd.sqrt_price_x96
    p_f = tape.prices[-1] if tape.prices else p_i
    first, last = entries[0], entries[-1]
    x0 = first.inventory[0] + sum(d.used0 for d in first.positions)
    y0 = first.inventory[1] + sum(d.used1 for d in first.positions)
    dep = [d.amounts(p_f) for d in last.positions]
    deployed = (sum(x for x, _ in dep), sum(y for _, y in dep))
    holdings = (deployed[0] + last.inventory[0], deployed[1] + last.inventory[1])
    hodl = value_in_token1(x0, y0, p_f)
    lp = value_in_token1(*holdings, p_f)
    fees_v = value_in_token1(f0, f1, p_f)
    return Result(len(entries) - 1, last.positions, (f0, f1), pairs / len(tape.blocks) if tape.blocks else 0.0,
                  (x0, y0), deployed, holdings, p_f, value_in_token1(x0, y0, p_i), hodl, lp, fees_v, lp + fees_v,
                  max(0.0, (hodl - lp) / hodl) if hodl > 0 else 0.0)
