"""Uniswap V3 tick ↔ sqrt-price math in exact integers (forevermoney.md §4.1).

`sqrt_ratio_at_tick` is the protocol's own Q128.128 bit ladder (one multiplier per bit of |tick|,
inverted for positive ticks) with its final round-up to Q64.96, so a price here is bit for bit the
price the pool contract uses; `sqrt(1.0001^t)·2^96` in floating point is not.
"""

from __future__ import annotations

MIN_TICK = -887272
MAX_TICK = 887272
MIN_SQRT_RATIO = 4295128739
MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342
Q96 = 1 << 96
Q192 = 1 << 192

# sqrt(1.0001^-(2^i)) in Q128.128 for bits i = 1 … 19 of |tick| (bit 0's is the ladder's start)
_LADDER = (
    0xfff97272373d413259a46990580e213a, 0xfff2e50f5f656932ef12357cf3c7fdcc, 0xffe5caca7e10e4e61c3624eaa0941cd0,
    0xffcb9843d60f6159c9db58835c926644, 0xff973b41fa98c081472e6896dfb254c0, 0xff2ea16466c96a3843ec78b326b52861,
    0xfe5dee046a99a2a811c461f1969c3053, 0xfcbe86c7900a88aedcffc83b479aa3a4, 0xf987a7253ac413176f2b074cf7815e54,
    0xf3392b0822b70005940c7a398e4b70f3, 0xe7159475a2c29b7443b29c7fa6e889d9, 0xd097f3bdfd2022b8845ad8f792aa5825,
    0xa9f746462d870fdf8a65dc1f90e061e5, 0x70d869a156d2a1b890bb3df62baf32f7, 0x31be135f97d08fd981231505542fcfa6,
    0x09aa508b5b7a84e1c677de54f3e99bc9, 0x5d6af8dedb81196699c329225ee604, 0x2216e584f5fa1ea926041bedfe98,
    0x48a170391f7dc42444e8fa2,
)
_BIT0 = 0xfffcb933bd6fad37aa2d162d1a594001
_MAX_U256 = (1 << 256) - 1


def sqrt_ratio_at_tick(tick: int) -> int:
    """sqrt(1.0001^tick)·2^96 as the pool computes it; a tick outside ±887272 raises ValueError."""
    if type(tick) is not int or not MIN_TICK <= tick <= MAX_TICK:
        raise ValueError(f"tick {tick!r} outside [{MIN_TICK}, {MAX_TICK}]")
    a = abs(tick)
    ratio = _BIT0 if a & 1 else 1 << 128
    for i, m in enumerate(_LADDER, start=1):
        if a & (1 << i):
            ratio = (ratio * m) >> 128
    if tick > 0:
        ratio = _MAX_U256 // ratio
    return (ratio >> 32) + (1 if ratio & 0xFFFFFFFF else 0)  # Q128.128 → Q64.96, rounded up


def valid_range(tick_lower: int, tick_upper: int, spacing: int) -> str | None:
    """Why (tick_lower, tick_upper) is not a position range for this tick spacing; None if it is."""
    if type(tick_lower) is not int or type(tick_upper) is not int:
        return "ticks must be integers"
    if not MIN_TICK <= tick_lower < tick_upper <= MAX_TICK:
        return f"ticks must satisfy {MIN_TICK} ≤ tick_lower < tick_upper ≤ {MAX_TICK}"
    if tick_lower % spacing or tick_upper % spacing:
        return f"ticks must be multiples of the tick spacing {spacing}"
    return None


def value_in_token1(amount0: int, amount1: int, sqrt_price_x96: int) -> int:
    """amount0 at the price plus amount1, in raw token1 units, floored (x·sP²/2^192 + y)."""
    return amount0 * sqrt_price_x96 * sqrt_price_x96 // Q192 + amount1
