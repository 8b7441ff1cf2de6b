"""Liquidity for token amounts and amounts for liquidity over a tick range (forevermoney.md §4.1),
integer floor division throughout, so neither direction ever gives out more than it was given.

Branches by where the current sqrt price P stands against the range's [a, b]: at or below a the
position is all token0, at or above b all token1, strictly inside both.
"""

from __future__ import annotations

from mechanisms.lp.tickmath import Q96, sqrt_ratio_at_tick


def liquidity_for_amounts(sa: int, sb: int, sp: int, amount0: int, amount1: int) -> int:
    if sp <= sa:
        return amount0 * (sa * sb // Q96) // (sb - sa)
    if sp >= sb:
        return amount1 * Q96 // (sb - sa)
    return min(amount0 * (sp * sb // Q96) // (sb - sp), amount1 * Q96 // (sp - sa))


def amounts_for_liquidity(sa: int, sb: int, sp: int, liquidity: int) -> tuple[int, int]:
    if sp <= sa:
        return liquidity * (sb - sa) * Q96 // (sa * sb), 0
    if sp >= sb:
        return 0, liquidity * (sb - sa) // Q96
    return liquidity * (sb - sp) * Q96 // (sp * sb), liquidity * (sp - sa) // Q96


def position_liquidity_and_used_amounts(tick_lower: int, tick_upper: int, sp: int, alloc0: int,
                                        alloc1: int) -> tuple[int, int, int]:
    """(L, used0, used1): the most liquidity the allocations buy at price sp, and what it takes."""
    sa, sb = sqrt_ratio_at_tick(tick_lower), sqrt_ratio_at_tick(tick_upper)
    liquidity = liquidity_for_amounts(sa, sb, sp, alloc0, alloc1)
    used0, used1 = amounts_for_liquidity(sa, sb, sp, liquidity)
    return liquidity, used0, used1
