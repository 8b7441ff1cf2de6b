"""Synthetic SN98 rounds: a pool whose price swings around a level (whole cycles a round, so it ends
about where it began), its swaps, and miners of planted kinds answering the rebalance queries,
written as lp-round/1 files (docs/lp.md).

- range: knows the level and the swings' amplitude, deploys nearly the whole inventory in a range a
  little wider than the swings around the level and keeps it (the skilled kind);
- wide: one very wide range, never touched (passive);
- churn: 40 % of what it holds in a narrow range re-centred on the price at every query (it earns the
  most fees and realises the price's swings as token losses: the bleeder);
- refuser: answers `accepted: false`; silent: never answers;
- garbage: malformed answers (off-spacing or inverted ticks, allocations above the inventory,
  negative or non-integer amounts, a huge body).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from mechanisms.lp.backtest import deploy
from mechanisms.lp.records import FORMAT, parse_position
from mechanisms.lp.tickmath import sqrt_ratio_at_tick

SPACING = 60
FEE_PIPS = 3000
QUERY_EVERY = 100
ROUND_BLOCKS = 450  # 900 s of 2-second blocks
POOL_LIQUIDITY = 4 * 10**20
INVENTORY = (10**18, 10**18)
KINDS = ("range", "wide", "churn", "refuser", "silent", "garbage")
GARBAGE = ({"tick_lower": -61, "tick_upper": 600}, {"tick_lower": 600, "tick_upper": -600},
           {"allocation0": str(10**30)}, {"allocation0": "-5"}, {"allocation1": "1.5e18"}, {"allocation1": 12.5})


@dataclass(frozen=True)
class Market:
    level: int   # the tick the price swings around
    spread: int  # the swings' amplitude, in ticks


def _align(tick: int) -> int:
    return int(tick // SPACING * SPACING)


def _position(lower: int, upper: int, share: float = 1.0, inventory=INVENTORY) -> dict:
    return {"tick_lower": int(lower), "tick_upper": int(upper), "allocation0": str(int(inventory[0] * share)),
            "allocation1": str(int(inventory[1] * share))}


def _answer(kind: str, tick: int, market: Market, k: int, garbage: int, inventory: tuple[int, int] = INVENTORY):
    """What a miner of `kind` answers at its k-th query with the pool at `tick`; `inventory` is what the
    miner could deploy (its idle inventory and its positions' amounts at the pool's price)."""
    if kind == "silent":
        return None
    if kind == "refuser":
        return {"accepted": False, "refusal_reason": "pool too volatile"}
    if kind == "range":
        half = max(SPACING, _align(1.3 * market.spread) + SPACING)
        lo, hi = _align(market.level) - half, _align(market.level) + half
        return {"accepted": True, "desired_positions": [_position(lo, hi, 0.98)]}
    if kind == "wide":
        return {"accepted": True, "desired_positions": [_position(-60 * SPACING * 50, 60 * SPACING * 50, 0.98)]}
    if kind == "churn":
        lo = _align(tick)
        return {"accepted": True, "desired_positions": [_position(lo - SPACING, lo + 2 * SPACING, 0.4, inventory)]}
    if k == 0:
        bad = dict(_position(-600, 600, 0.5))
        bad.update(GARBAGE[garbage % len(GARBAGE)])
        return {"accepted": True, "desired_positions": [bad]}
    return {"accepted": True, "desired_positions": [_position(-600, 600, 0.5)] * 3, "junk": "x" * 70_000}


def round_file(seed: int, number: int, miners: dict[str, str], swaps: int = 300, market: Market | None = None) -> dict:
    """Round `number` of a seeded job: the pool's swaps over ROUND_BLOCKS blocks and every miner's answers."""
    rng = np.random.default_rng([seed, number])
    market = market or Market(level=int(rng.integers(-3000, 3000)), spread=int(rng.integers(150, 400)))
    start = 1_000_000 + number * 2 * ROUND_BLOCKS
    # a ranging market: whole cycles around the level over the round (so it ends about where it began),
    # plus noise
    cycles, phase = int(rng.integers(2, 6)), float(rng.uniform(0, 2 * np.pi))
    t = np.linspace(0.0, 1.0, swaps + 1)
    x = market.level + market.spread * np.sin(2 * np.pi * cycles * t + phase) + rng.normal(0, market.spread / 8, swaps + 1)
    blocks = np.sort(rng.integers(start, start + ROUND_BLOCKS + 1, swaps))
    ticks = np.floor(x[1:]).astype(int)
    out_swaps = []
    for i in range(swaps):
        t = int(ticks[i])
        lo, hi = sqrt_ratio_at_tick(t), sqrt_ratio_at_tick(t + 1)
        price = lo + int((hi - lo) * float(rng.random()))
        size = int(rng.integers(10**17, 10**18))
        up = x[i + 1] > x[i]  # token1 in pushes the price up
        out_swaps.append({"block": int(blocks[i]), "log_index": i, "sqrt_price_x96": str(price), "tick": t,
                          "amount0": str(-size if up else size), "amount1": str(size if up else -size),
                          "liquidity": str(POOL_LIQUIDITY)})
    start_tick = int(np.floor(x[0]))
    start_price = sqrt_ratio_at_tick(start_tick)
    queries = list(range(start, start + ROUND_BLOCKS + 1, QUERY_EVERY))
    seen = np.searchsorted(blocks, queries, side="right")  # swaps at or before each query
    at_query = [(int(ticks[n - 1]), int(out_swaps[n - 1]["sqrt_price_x96"])) if n else (start_tick, start_price)
                for n in seen]
    answers: dict[str, dict] = {}
    for uid, (hotkey, kind) in enumerate(miners.items(), start=1):
        rows, held, idle = [], [], INVENTORY
        for k, (block, (tick, price)) in enumerate(zip(queries, at_query)):
            # what the query tells the miner: its idle inventory and its positions, valued at the price
            back = [d.amounts(price) for d in held]
            avail = (idle[0] + sum(a for a, _ in back), idle[1] + sum(b for _, b in back))
            response = _answer(kind, tick, market, k, uid, avail)
            rows.append({"block": block, "response": response})
            if kind == "churn":
                held = [deploy(parse_position(p, SPACING), price) for p in response["desired_positions"]]
                idle = (avail[0] - sum(d.used0 for d in held), avail[1] - sum(d.used1 for d in held))
        answers[hotkey] = {"uid": uid, "answers": rows}
    date = (dt.date(2026, 1, 1) + dt.timedelta(days=number // 48)).isoformat()
    return {"format": FORMAT,
            "round": {"round_id": f"r{seed}-{number}", "job_id": f"job{seed}", "round_type": "evaluation", "date": date,
                      "start_block": start, "end_block": start + ROUND_BLOCKS, "tick_spacing": SPACING,
                      "fee_pips": FEE_PIPS, "sqrt_price_x96": str(start_price),
                      "inventory": {"amount0": str(INVENTORY[0]), "amount1": str(INVENTORY[1])}, "positions": []},
            "swaps": out_swaps, "miners": answers}


def miners_of(seed: int, per_kind: int = 2) -> dict[str, str]:
    return {f"5LP{kind[:4].upper()}{seed:02d}x{i}": kind for kind in KINDS for i in range(per_kind)}

