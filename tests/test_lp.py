"""SN98 liquidity-position scoring (forevermoney.md §4–§7) by worked examples: every expected number is
either the spec's own golden value, the canonical Uniswap V3 value, or computed here by hand from the
spec's formulas with Python integers, never read back from mechanisms/lp."""

from __future__ import annotations

import json
import math
import random
from decimal import Decimal, localcontext

import pytest

from mechanisms.lp.backtest import Result, Tape, backtest, history
from mechanisms.lp.evaluate import Options, replay
from mechanisms.lp.liquidity import amounts_for_liquidity, liquidity_for_amounts, position_liquidity_and_used_amounts
from mechanisms.lp.records import parse_answer, parse_round
from mechanisms.lp.reputation import Reputation, State, after_evaluation, after_live
from mechanisms.lp.scoring import inventory_losses, normalised, s1, s2, smooth_max
from mechanisms.lp.tickmath import sqrt_ratio_at_tick, valid_range, value_in_token1
from mechanisms.lp.weights import job_winners, miner_ratio, weight_vector

Q96 = 2**96
Q192 = 2**192
MIN_SQRT = 4295128739
MAX_SQRT = 1461446703485210103287273052203988822378723970342
E18 = 10**18
SPACING = 60
START, END = 1_000, 2_000


# ---------------------------------------------------------------------------------------------- helpers

def swap(block: int, tick: int, amount0: int, amount1: int, liquidity: int, price: int | None = None, log: int = 0):
    return {"block": block, "log_index": log, "tick": tick,
            "sqrt_price_x96": str(sqrt_ratio_at_tick(tick) if price is None else price),
            "amount0": str(amount0), "amount1": str(amount1), "liquidity": str(liquidity)}


def pos(lo: int, hi: int, a0, a1) -> dict:
    return {"tick_lower": lo, "tick_upper": hi,
            "allocation0": a0 if not isinstance(a0, int) or isinstance(a0, bool) else str(a0),
            "allocation1": a1 if not isinstance(a1, int) or isinstance(a1, bool) else str(a1)}


def ok(*positions) -> dict:
    return {"accepted": True, "desired_positions": list(positions)}


def round_file(swaps, miners: dict, inventory=(E18, E18), positions=(), fee_pips=3000, start_tick=0,
               round_type="evaluation", executions_failed=False, date="2026-01-10") -> dict:
    """miners: {hotkey: (uid, [(block, response), ...])}."""
    return {"format": "lp-round/1",
            "round": {"round_id": "r1", "job_id": "job", "round_type": round_type, "date": date,
                      "start_block": START, "end_block": END, "tick_spacing": SPACING, "fee_pips": fee_pips,
                      "sqrt_price_x96": str(sqrt_ratio_at_tick(start_tick)),
                      "inventory": {"amount0": str(inventory[0]), "amount1": str(inventory[1])},
                      "positions": list(positions), "executions_failed": executions_failed},
            "swaps": list(swaps),
            "miners": {h: {"uid": uid, "answers": [{"block": b, "response": r} for b, r in answers]}
                       for h, (uid, answers) in miners.items()}}


def run(raw: dict, hotkey: str):
    rnd = parse_round(raw)
    tape = Tape.of(rnd.swaps)
    entries, out = history(rnd, rnd.miners[hotkey][1], tape.blocks)
    return entries, out, (backtest(rnd, entries, tape) if out is None else None)


def L_hand(sa: int, sb: int, sp: int, x: int, y: int) -> int:
    """§4.1 liquidity for amounts, written out again."""
    if sp <= sa:
        return x * (sa * sb // Q96) // (sb - sa)
    if sp >= sb:
        return y * Q96 // (sb - sa)
    return min(x * (sp * sb // Q96) // (sb - sp), y * Q96 // (sp - sa))


def amounts_hand(sa: int, sb: int, sp: int, L: int) -> tuple[int, int]:
    if sp <= sa:
        return L * (sb - sa) * Q96 // (sa * sb), 0
    if sp >= sb:
        return 0, L * (sb - sa) // Q96
    return L * (sb - sp) * Q96 // (sp * sb), L * (sp - sa) // Q96


def result(initial_amounts=(1000, 1000), holdings=(1000, 1000), initial_value=10_000, final_value=10_000,
           il=0.0, in_range=1.0) -> Result:
    return Result(rebalances=1, final_positions=(), fees=(0, 0), in_range_ratio=in_range,
                  initial_amounts=initial_amounts, deployed=(0, 0), holdings=holdings, final_sqrt_price_x96=Q96,
                  initial_value=initial_value, hodl_value=initial_value, lp_value=final_value, fees_value=0,
                  final_value=final_value, impermanent_loss=il)


# ---------------------------------------------------------------------------------------------- 1. tick math

def test_tick_math_edges_are_the_canonical_values():
    assert sqrt_ratio_at_tick(0) == Q96 == 79228162514264337593543950336
    assert sqrt_ratio_at_tick(-887272) == MIN_SQRT
    assert sqrt_ratio_at_tick(887272) == MAX_SQRT
    # Uniswap v3-core TickMath test vectors
    assert sqrt_ratio_at_tick(-887271) == 4295343490
    assert sqrt_ratio_at_tick(887271) == 1461373636630004318706518188784493106690254656249
    assert sqrt_ratio_at_tick(1) == 79232123823359799118286999568
    assert sqrt_ratio_at_tick(-1) == 79224201403219477170569942574
    assert sqrt_ratio_at_tick(50) == 79426470787362580746886972461
    assert sqrt_ratio_at_tick(1000) == 83290069058676223003182343270
    for bad in (887273, -887273, 10**9, 0.0, True, "0"):
        with pytest.raises(ValueError):
            sqrt_ratio_at_tick(bad)


def test_q128_to_q96_conversion_rounds_up():
    # tick −1: the ladder is just bit 0's multiplier (TickMath.sol 0xfffcb933bd6fad37aa2d162d1a594001), whose
    # low 32 bits 0x1a594001 are not zero, so the Q64.96 value is the truncation plus one
    ratio = 0xfffcb933bd6fad37aa2d162d1a594001
    assert ratio & 0xFFFFFFFF == 0x1A594001
    assert sqrt_ratio_at_tick(-1) == (ratio >> 32) + 1
    # tick +1: the inverse, max_uint256 // ratio, also with non-zero low bits
    inv = ((1 << 256) - 1) // ratio
    assert inv & 0xFFFFFFFF != 0
    assert sqrt_ratio_at_tick(1) == (inv >> 32) + 1
    # tick 0: ratio 2^128 exactly, low bits 0: no round-up
    assert sqrt_ratio_at_tick(0) == (1 << 128) >> 32


def test_sqrt_ratio_is_increasing_and_close_to_the_real_value():
    rng = random.Random(7)
    ticks = sorted({-887272, 887272, -887271, 887271, 0, -1, 1} | {rng.randint(-887272, 887272) for _ in range(400)})
    values = [sqrt_ratio_at_tick(t) for t in ticks]
    assert all(a < b for a, b in zip(values, values[1:]))
    assert all(sqrt_ratio_at_tick(t) < sqrt_ratio_at_tick(t + 1) for t in range(-300, 300))
    with localcontext() as ctx:
        ctx.prec = 60
        for t in [rng.randint(-200_000, 200_000) for _ in range(300)] + [-1, 1, 60, -60, 100_000]:
            exact = (Decimal("1.0001") ** t).sqrt() * Q96
            assert abs((Decimal(sqrt_ratio_at_tick(t)) - exact) / exact) < Decimal("1e-12"), t


def test_valid_range_checks_order_spacing_and_bounds():
    assert valid_range(-600, 600, 60) is None
    assert valid_range(-887220, 887220, 60) is None  # the widest spaced range for spacing 60
    assert "spacing" in valid_range(-61, 600, 60)
    assert "spacing" in valid_range(-600, 601, 60)
    assert "spacing" in valid_range(-100, 100, 200)
    assert valid_range(-200, 200, 200) is None
    assert "tick_lower < tick_upper" in valid_range(600, -600, 60)
    assert "tick_lower < tick_upper" in valid_range(600, 600, 60)
    assert valid_range(-887280, 0, 60) is not None  # a multiple of 60 below MIN_TICK
    assert valid_range(0, 887280, 60) is not None
    assert "integers" in valid_range(-600.0, 600, 60)
    assert "integers" in valid_range(-600, True, 60)
    assert "integers" in valid_range("-600", 600, 60)


def test_value_in_token1_by_hand():
    assert value_in_token1(5, 7, Q96) == 12
    assert value_in_token1(10, 0, 2 * Q96) == 40          # price 4
    assert value_in_token1(3, 1, Q96 // 2) == 1            # 3·¼ = 0.75 floors to 0
    sp = sqrt_ratio_at_tick(-300)
    assert value_in_token1(E18, 5, sp) == E18 * sp * sp // Q192 + 5


# ---------------------------------------------------------------------------------------------- 2. liquidity

def test_liquidity_worked_example_with_simple_prices():
    # range [1, 2] in sqrt price, current sqrt price 1.5: L0 = x·(1.5·2)/(2 − 1.5) = 6x, L1 = y/(1.5 − 1) = 2y
    sa, sb, sp = Q96, 2 * Q96, 3 * Q96 // 2
    x = y = E18
    assert liquidity_for_amounts(sa, sb, sp, x, y) == 2 * E18
    # amounts: x = L·(2 − 1.5)/(1.5·2) = L/6 floored, y = L·(1.5 − 1) = L/2
    assert amounts_for_liquidity(sa, sb, sp, 2 * E18) == (333333333333333333, E18)
    # at the lower bound exactly: token0 only, L = x·(1·2)/(2 − 1) = 2x, and back x = L·1/(1·2)
    assert liquidity_for_amounts(sa, sb, sa, x, y) == 2 * x
    assert amounts_for_liquidity(sa, sb, sa, 2 * x) == (x, 0)
    # at the upper bound exactly: token1 only, L = y/(2 − 1)
    assert liquidity_for_amounts(sa, sb, sb, x, y) == y
    assert amounts_for_liquidity(sa, sb, sb, y) == (0, y)
    # beyond either bound the same branches
    assert liquidity_for_amounts(sa, sb, sa // 2, x, 0) == 2 * x
    assert liquidity_for_amounts(sa, sb, 3 * sb, 0, y) == y
    assert amounts_for_liquidity(sa, sb, sa // 2, 2 * x) == (x, 0)
    assert amounts_for_liquidity(sa, sb, 3 * sb, y) == (0, y)


def test_liquidity_worked_example_on_real_ticks():
    sa, sb = sqrt_ratio_at_tick(-600), sqrt_ratio_at_tick(600)
    sp = sqrt_ratio_at_tick(120)
    x, y = 3 * E18, 2 * E18
    l0 = x * (sp * sb // Q96) // (sb - sp)
    l1 = y * Q96 // (sp - sa)
    L = min(l0, l1)
    assert liquidity_for_amounts(sa, sb, sp, x, y) == L
    used = (L * (sb - sp) * Q96 // (sp * sb), L * (sp - sa) // Q96)
    assert amounts_for_liquidity(sa, sb, sp, L) == used
    assert position_liquidity_and_used_amounts(-600, 600, sp, x, y) == (L, *used)
    # y binds here (l1 < l0), so nearly all of y is used and some x is left over
    assert l1 < l0 and y - used[1] <= 1 and used[0] < x
    # exactly at sqrt(tick_lower): the token0-only branch, even with y offered
    assert position_liquidity_and_used_amounts(-600, 600, sa, x, y) == (
        x * (sa * sb // Q96) // (sb - sa), x * (sa * sb // Q96) // (sb - sa) * (sb - sa) * Q96 // (sa * sb), 0)
    # exactly at sqrt(tick_upper): token1 only
    Lb = y * Q96 // (sb - sa)
    assert position_liquidity_and_used_amounts(-600, 600, sb, x, y) == (Lb, 0, Lb * (sb - sa) // Q96)


def test_liquidity_round_trips_never_create_tokens():
    rng = random.Random(11)
    for _ in range(1500):
        lo = rng.randrange(-30_000, 30_000, SPACING)
        hi = lo + SPACING * rng.randint(1, 300)
        sa, sb = sqrt_ratio_at_tick(lo), sqrt_ratio_at_tick(hi)
        t = rng.randint(lo - 2000, hi + 2000)
        sp = sqrt_ratio_at_tick(t) + rng.randint(0, 10**15)
        x, y = rng.randint(10**15, 10**24), rng.randint(10**15, 10**24)
        L = liquidity_for_amounts(sa, sb, sp, x, y)
        assert L == L_hand(sa, sb, sp, x, y)
        ax, ay = amounts_for_liquidity(sa, sb, sp, L)
        assert (ax, ay) == amounts_hand(sa, sb, sp, L)
        assert ax <= x and ay <= y
        L2 = liquidity_for_amounts(sa, sb, sp, ax, ay)
        assert L2 <= L and L - L2 <= max(2, L * 1e-12)
        # and the other way round: amounts for L, then L for those amounts
        ax2, ay2 = amounts_for_liquidity(sa, sb, sp, L2)
        assert ax2 <= ax and ay2 <= ay


# ---------------------------------------------------------------------------------------------- 3. fees

def _fee(amount_in: int, fee_pips: int, l_in: int, pool: int) -> int:
    return amount_in * fee_pips * l_in // (10**6 * (pool + l_in))


def test_fees_on_a_hand_built_round():
    sa, sb, s0 = sqrt_ratio_at_tick(-600), sqrt_ratio_at_tick(600), Q96
    L = L_hand(sa, sb, s0, E18, E18)
    swaps = [swap(1100, 100, 5 * 10**17, -4 * 10**17, 3 * 10**20),     # token0 in, in range
             swap(1200, 700, -10**17, 2 * 10**17, 3 * 10**20),         # out of range (tick ≥ 600)
             swap(1300, -300, -6 * 10**17, 7 * 10**17, 2 * 10**20)]    # token1 in, in range
    raw = round_file(swaps, {"m": (1, [(START, ok(pos(-600, 600, E18, E18)))])}, fee_pips=3000)
    entries, out, r = run(raw, "m")
    assert out is None and entries[-1].positions[0].liquidity == L
    fee0 = 5 * 10**17 * 3000 * L // (10**6 * (3 * 10**20 + L))
    fee1 = 7 * 10**17 * 3000 * L // (10**6 * (2 * 10**20 + L))
    assert r.fees == (fee0, fee1)
    assert fee0 > 0 and fee1 > 0
    assert r.in_range_ratio == pytest.approx(2 / 3)
    # valuation at the last swap's price (§4.3)
    pf = sqrt_ratio_at_tick(-300)
    used = amounts_hand(sa, sb, s0, L)
    idle = (E18 - used[0], E18 - used[1])
    dep = amounts_hand(sa, sb, pf, L)
    hold = (dep[0] + idle[0], dep[1] + idle[1])
    assert r.final_sqrt_price_x96 == pf
    assert r.deployed == dep and r.holdings == hold
    assert r.initial_value == E18 * s0 * s0 // Q192 + E18 == 2 * E18
    lp = hold[0] * pf * pf // Q192 + hold[1]
    fees_v = fee0 * pf * pf // Q192 + fee1
    assert r.final_value == lp + fees_v
    hodl = E18 * pf * pf // Q192 + E18
    assert r.impermanent_loss == pytest.approx(max(0.0, (hodl - lp) / hodl))


def test_a_swap_through_an_empty_pool_pays_the_whole_fee():
    # pool liquidity 0 besides ours: share = L/(0 + L) = 1, fee = amount_in·3000/10^6 exactly
    swaps = [swap(1100, 0, 10**24, -10**20, 0), swap(1200, 0, -10**20, 7 * 10**23 + 999, 0)]
    raw = round_file(swaps, {"m": (1, [(START, ok(pos(-600, 600, E18, E18)))])})
    _, out, r = run(raw, "m")
    assert out is None
    assert r.fees == (3 * 10**21, (7 * 10**23 + 999) * 3 // 1000)


def test_a_swap_in_the_rebalance_block_meets_the_previous_positions():
    s0 = Q96
    sa, sb = sqrt_ratio_at_tick(-600), sqrt_ratio_at_tick(600)
    L = L_hand(sa, sb, s0, E18, E18)
    pool = 10**20
    swaps = [swap(1500, 0, 10**17, -10**17, pool, log=0),   # same block as the move: old range, earns
             swap(1501, 0, 10**17, -10**17, pool)]          # after the move: new range far above, earns nothing
    answers = [(START, ok(pos(-600, 600, E18, E18))), (1500, ok(pos(6000, 6600, 4 * 10**17, 0)))]
    entries, out, r = run(round_file(swaps, {"m": (1, answers)}), "m")
    assert out is None and len(entries) == 3 and entries[2].block == 1500
    assert r.fees == (_fee(10**17, 3000, L, pool), 0)
    assert r.in_range_ratio == pytest.approx(1 / 2)


def test_the_initial_positions_earn_before_any_rebalance():
    sa, sb = sqrt_ratio_at_tick(-600), sqrt_ratio_at_tick(600)
    L = L_hand(sa, sb, Q96, E18, E18)
    pool = 10**20
    swaps = [swap(1100, 10, 10**17, -10**17, pool)]
    # the miner only ever keeps what is on chain (an answer equal to the current positions: no rebalance)
    raw = round_file(swaps, {"m": (1, [(START, ok(pos(-600, 600, E18, E18)))])}, inventory=(0, 0),
                     positions=[pos(-600, 600, E18, E18)])
    entries, out, r = run(raw, "m")
    assert out is None and len(entries) == 1 and r.rebalances == 0
    assert r.fees == (_fee(10**17, 3000, L, pool), 0)


def test_price_exactly_at_the_upper_bound_is_in_range():
    sa, sb = sqrt_ratio_at_tick(-600), sqrt_ratio_at_tick(600)
    L = L_hand(sa, sb, Q96, E18, E18)
    pool = 10**20
    swaps = [swap(1100, 600, -10**16, 3 * 10**17, pool, price=sb),          # exactly sqrt(tick_upper): in
             swap(1200, 600, -10**16, 2 * 10**17, pool, price=sb + 1),      # just above: out
             swap(1300, -600, 4 * 10**17, -10**16, pool, price=sa),         # exactly sqrt(tick_lower): in
             swap(1400, -601, 5 * 10**17, -10**16, pool)]                   # below: out
    raw = round_file(swaps, {"m": (1, [(START, ok(pos(-600, 600, E18, E18)))])})
    _, out, r = run(raw, "m")
    assert out is None
    assert r.fees == (_fee(4 * 10**17, 3000, L, pool), _fee(3 * 10**17, 3000, L, pool))
    assert r.in_range_ratio == pytest.approx(2 / 4)


def test_two_positions_share_the_fee_and_in_range_ratio_may_exceed_one():
    s0 = Q96
    a1, b1 = sqrt_ratio_at_tick(-600), sqrt_ratio_at_tick(600)
    a2, b2 = sqrt_ratio_at_tick(-1200), sqrt_ratio_at_tick(1200)
    half = E18 // 2
    L1, L2 = L_hand(a1, b1, s0, half, half), L_hand(a2, b2, s0, half, half)
    pool = 5 * 10**19
    swaps = [swap(1100, 0, 10**17, -10**17, pool),     # both in range
             swap(1200, 900, -10**16, 10**17, pool)]   # only the wide one
    answers = [(START, ok(pos(-600, 600, half, half), pos(-1200, 1200, half, half)))]
    _, out, r = run(round_file(swaps, {"m": (1, answers)}), "m")
    assert out is None
    assert r.fees == (_fee(10**17, 3000, L1 + L2, pool), _fee(10**17, 3000, L2, pool))
    assert r.in_range_ratio == pytest.approx(3 / 2)


# ---------------------------------------------------------------------------------------------- 4. S1 and S2

S1_TABLE = [  # (ℓ0, ℓ1), lse (L, π), anchored (L, π), max π
    ((0.0, 0.0), (0.173287, 0.176777), (0.0, 1.000000), 1.000000),
    ((0.05, 0.0), (0.199535, 0.135966), (0.05, 0.606531), 0.606531),
    ((0.1, 0.0), (0.228254, 0.102025), (0.1, 0.367879), 0.367879),
    ((0.2, 0.0), (0.292775, 0.053517), (0.2, 0.135335), 0.135335),
    ((0.5, 0.0), (0.531732, 0.004906), (0.5, 0.006738), 0.006738),
    ((0.1, 0.1), (0.273287, 0.065033), (0.171235, 0.180442), 0.367879),
    ((0.3, 0.1), (0.392775, 0.019688), (0.334535, 0.035248), 0.049787),
]


@pytest.mark.parametrize("losses,lse,anchored,max_pi", S1_TABLE)
def test_s1_golden_table(losses, lse, anchored, max_pi):
    for agg, (L, pi) in (("lse", lse), ("anchored", anchored)):
        got = smooth_max(*losses, aggregator=agg)
        assert got == pytest.approx(L, abs=1e-6)
        assert math.exp(-10 * got) == pytest.approx(pi, abs=1e-6)
        assert smooth_max(*reversed(losses), aggregator=agg) == pytest.approx(got, abs=1e-12)  # symmetric
    assert math.exp(-10 * smooth_max(*losses, aggregator="max")) == pytest.approx(max_pi, abs=1e-6)
    # and through a Result: a gain of 1000 scaled by π
    x0 = y0 = 10**6
    r = result(initial_amounts=(x0, y0), holdings=(round(x0 * (1 - losses[0])), round(y0 * (1 - losses[1]))),
               initial_value=10**6, final_value=10**6 + 1000)
    assert s1(r, "lse") == pytest.approx(1000 * lse[1], abs=1e-3)
    assert s1(r, "anchored") == pytest.approx(1000 * anchored[1], abs=1e-3)
    assert s1(r, "max") == pytest.approx(1000 * max_pi, abs=1e-3)


def test_s1_guide_examples_under_anchored():
    assert s1(result(final_value=12_200)) == pytest.approx(2200, abs=1e-9)
    lost_tenth = dict(initial_amounts=(1000, 1000), holdings=(900, 1000))
    assert s1(result(final_value=13_800, **lost_tenth)) == pytest.approx(1397.94, abs=0.005)
    assert s1(result(final_value=9_000, **lost_tenth)) == pytest.approx(-2718.28, abs=0.005)
    assert s1(result(final_value=15_000, initial_amounts=(1000, 1000), holdings=(1000, 500))) == \
        pytest.approx(33.69, abs=0.005)
    # zero loss is no penalty under anchored and max, but lse still takes π = 0.176777
    assert s1(result(final_value=12_200), "max") == pytest.approx(2200)
    assert s1(result(final_value=12_200), "lse") == pytest.approx(2200 * 0.176777, abs=1e-3)
    # gains above the start in a token count as no loss
    assert inventory_losses(result(holdings=(5000, 1000))) == (0.0, 0.0)
    assert inventory_losses(result(initial_amounts=(0, 1000), holdings=(0, 750))) == (0.0, 0.25)
    assert s1(result(initial_value=0, final_value=10)) == -math.inf


def test_s1_normalised_for_the_reputation():
    r = result(final_value=13_800, initial_amounts=(1000, 1000), holdings=(900, 1000))
    assert normalised(1397.94, r, "s1") == pytest.approx(0.139794)
    assert normalised(10**9, r, "s1") == 10.0
    assert normalised(-(10**9), r, "s1") == -100.0
    assert normalised(float("nan"), r, "s1") == -100.0
    assert normalised(0.5, r, "s2") == 0.5


def test_s2_examples():
    gain = result(initial_value=100_000, final_value=102_000, il=0.01, in_range=0.5)
    assert s2(gain) == pytest.approx(0.017373, abs=1e-6)
    loss = result(initial_value=100_000, final_value=98_000, il=0.01, in_range=0.5)
    assert s2(loss, fixed=False) == pytest.approx(-0.021219, abs=1e-6)
    # fixed: −0.02 / e^{−0.1} / (0.92 + 0.08·0.5) = −0.0221034 / 0.96
    assert s2(loss, fixed=True) == pytest.approx(-0.02 / math.exp(-0.1) / 0.96, rel=1e-9)
    assert s2(loss, fixed=True) == pytest.approx(-0.023024, abs=1e-6)
    assert s2(result(initial_value=100_000, final_value=105_000, il=0.0, in_range=1.0)) == pytest.approx(0.05)
    # clamps: the return to ±10, in-range ratio to [0, 1], the score to [−100, 10]; no initial value ⇒ −100
    assert s2(result(initial_value=1, final_value=1000, in_range=3.0)) == pytest.approx(10.0)
    assert s2(result(initial_value=1, final_value=1000, in_range=-1.0)) == pytest.approx(10 * 0.92)
    assert s2(result(initial_value=1, final_value=-1000, il=0.9, in_range=0.0)) == -100.0
    assert s2(result(initial_value=0, final_value=5)) == -100.0


# ---------------------------------------------------------------------------------------------- 5. reputation

def test_ema_golden():
    rep = Reputation(7)
    emas = []
    for i, s in enumerate((1.0, 0.0, 2.0)):
        rep = after_evaluation(rep, s, True, f"2026-01-0{i + 1}")
        emas.append(rep.eval_ema)
    assert emas == [0.1, 0.09, 0.281]
    rep = after_live(rep, 1.0, False)
    assert rep.live_ema == 0.3
    assert rep.combined == 0.2886
    assert (rep.total_evaluations, rep.successful_evaluations, rep.total_live_rounds, rep.successful_live_rounds) == \
        (3, 3, 1, 1)
    # a refusal feeds 0 whatever score comes with it
    refused = after_evaluation(rep, 5.0, False, "2026-01-04")
    assert refused.eval_ema == pytest.approx(0.9 * 0.281, abs=1e-6) and refused.refusals == 1
    assert refused.days["2026-01-04"] == (0, 1)


def test_a_live_round_whose_executions_all_failed_changes_no_ema():
    rep = after_live(after_evaluation(Reputation(3), 1.0, True, "2026-01-01"), 2.0, False)
    before = (rep.eval_ema, rep.live_ema, rep.combined)
    assert before == (0.1, 0.6, pytest.approx(0.6 * 0.1 + 0.4 * 0.6))
    after = after_live(rep, 9.0, True)
    assert (after.eval_ema, after.live_ema, after.combined) == before
    assert after.successful_live_rounds == rep.successful_live_rounds


def test_a_failed_live_round_through_replay_changes_no_ema():
    swaps = [swap(1100, 0, 10**17, -10**17, 10**20)]
    miners = {"m": (1, [(START, ok(pos(-600, 600, E18, E18)))])}
    state = State({"job": {"m": Reputation(1, eval_ema=0.5, live_ema=0.2, combined=0.38, total_live_rounds=2)}})
    res = replay(parse_round(round_file(swaps, miners, round_type="live", executions_failed=True)), Options(), state)
    rep = res.state.jobs["job"]["m"]
    assert (rep.eval_ema, rep.live_ema, rep.combined) == (0.5, 0.2, 0.38)
    res2 = replay(parse_round(round_file(swaps, miners, round_type="live")), Options(), state)
    rep2 = res2.state.jobs["job"]["m"]
    score = res2.miners["m"].reputation_score
    assert rep2.eval_ema == 0.5
    assert rep2.live_ema == pytest.approx(0.7 * 0.2 + 0.3 * score, abs=1e-6)


def _days(dates_ok: list[str], dates_refused: list[str] = ()) -> dict:
    return {**{d: (1, 0) for d in dates_ok}, **{d: (0, 1) for d in dates_refused}}


def test_live_eligibility():
    today = "2026-01-10"
    window = [f"2026-01-{d:02d}" for d in range(3, 11)]   # the 8 dates [today − 7 d, today]
    seven = _days(window[:7])
    assert Reputation(1, combined=0.1, days=seven).eligible(today)
    assert Reputation(1, combined=0.1, days=_days(window[1:])).eligible(today)
    assert not Reputation(1, combined=0.1, days=_days(window[:6])).eligible(today)
    # a date before the window does not count
    assert not Reputation(1, combined=0.1, days=_days(["2026-01-02"] + window[:6])).eligible(today)
    # refused more than participated on a date: not participated
    assert not Reputation(1, combined=0.1, days={**_days(window[:6]), window[6]: (1, 1)}).eligible(today)
    assert Reputation(1, combined=0.1, days={**_days(window[:6]), window[6]: (2, 1)}).eligible(today)
    # combined must be positive, whitelisted or not
    assert not Reputation(1, combined=0.0, days=_days(window)).eligible(today)
    assert not Reputation(1, combined=-0.5, whitelisted=True).eligible(today)
    assert Reputation(1, combined=0.01, whitelisted=True).eligible(today)
    # days counted by after_evaluation
    rep = Reputation(1)
    for d in window[:7]:
        rep = after_evaluation(rep, 1.0, True, d)
    assert rep.participated_days(today) == 7 and rep.eligible(today)


def test_state_json_round_trip_and_malformed_state():
    rep = after_live(after_evaluation(Reputation(4, whitelisted=True), 1.5, True, "2026-01-02"), 0.5, False)
    state = State({"job": {"hk": rep, "hk2": Reputation(9)}, "job2": {}})
    back = State.from_json(json.loads(json.dumps(state.to_json())))
    assert back == state
    good = state.to_json()

    def broken(**changes):
        obj = json.loads(json.dumps(good))
        obj["jobs"]["job"]["hk"].update(changes)
        return obj

    for bad in (None, [], {"format": "lp-state/2", "jobs": {}}, {"format": "lp-state/1"},
                {"format": "lp-state/1", "jobs": {"job": []}},
                broken(eval_ema="0.1"), broken(eval_ema=1e9), broken(combined=float("nan")),
                broken(total_evaluations=-1), broken(uid=1.0), broken(whitelisted="yes"),
                broken(days={"not a date": [1, 0]}), broken(days={"2026-01-02": [1]}), broken(days=[1, 2]),
                broken(unknown_field=1)):
        with pytest.raises(ValueError):
            State.from_json(bad)


# ---------------------------------------------------------------------------------------------- 6. weights

def _rep(uid, combined, evals=0, lives=0, whitelisted=True, **kw):
    return Reputation(uid, combined=combined, total_evaluations=evals, total_live_rounds=lives,
                      whitelisted=whitelisted, **kw)


def test_job_winners_tie_breaks():
    today = "2026-01-10"
    # by combined
    assert job_winners({"j": {"a": _rep(5, 0.3), "b": _rep(2, 0.2)}}, today) == {5: 0.3}
    # equal combined: more evaluations
    assert job_winners({"j": {"a": _rep(5, 0.3, evals=10), "b": _rep(2, 0.3, evals=9)}}, today) == {5: 0.3}
    # equal evaluations too: more live rounds
    assert job_winners({"j": {"a": _rep(5, 0.3, 10, 1), "b": _rep(2, 0.3, 10, 2)}}, today) == {2: 0.3}
    # all equal: the lower uid
    assert job_winners({"j": {"a": _rep(5, 0.3, 10, 2), "b": _rep(2, 0.3, 10, 2)}}, today) == {2: 0.3}
    # ineligible (not whitelisted, no participation) or non-positive miners never win
    assert job_winners({"j": {"a": _rep(5, 0.9, whitelisted=False), "b": _rep(2, 0.1)}}, today) == {2: 0.1}
    assert job_winners({"j": {"a": _rep(5, 0.0), "b": _rep(2, -0.1)}}, today) == {}
    # a uid topping two jobs sums its combined scores
    jobs = {"j1": {"a": _rep(5, 0.3), "b": _rep(2, 0.2)}, "j2": {"a": _rep(5, 0.25)}, "j3": {"c": _rep(7, 0.4)}}
    assert job_winners(jobs, today) == {5: pytest.approx(0.55), 7: 0.4}


def test_miner_ratio_cases():
    assert miner_ratio(0.0, 2.0, 100.0) == 0.0            # no revenue: all burns
    assert miner_ratio(-5.0, 2.0, 100.0) == 0.0
    assert miner_ratio(100.0, 2.0, 0.0) == 0.0            # no emission
    assert miner_ratio(100.0, 2.0, float("nan")) == 0.0
    for bad_price in (0.0, -1.0, float("nan"), float("inf")):
        assert miner_ratio(100.0, bad_price, 100.0) == 1.0  # unusable alpha price: miners in full
    assert miner_ratio(100.0, 2.0, 100.0) == pytest.approx(0.5)   # 100 USD = 50 alpha of 100
    assert miner_ratio(10**6, 2.0, 100.0) == 1.0          # clamped to 1
    assert miner_ratio(100.0, 2.0, 100.0, cap=0.3) == pytest.approx(0.3)


def test_weight_vector():
    w = weight_vector([0, 1, 2, 3], {1: 0.3, 2: 0.1}, 0.4)
    assert w == {0: pytest.approx(0.6), 1: pytest.approx(0.3), 2: pytest.approx(0.1), 3: 0.0}
    assert weight_vector([0, 1, 2], {}, 0.4) == {0: 1.0, 1: 0.0, 2: 0.0}
    assert weight_vector([0, 1, 2], {1: 0.5}, 0.0) == {0: 1.0, 1: 0.0, 2: 0.0}
    assert weight_vector([0, 1, 2], {1: -0.5, 2: 0.0}, 0.7) == {0: 1.0, 1: 0.0, 2: 0.0}
    assert weight_vector([0, 1, 2], {1: 2.0, 2: 6.0}, 1.0) == {0: 0.0, 1: pytest.approx(0.25), 2: pytest.approx(0.75)}


# ---------------------------------------------------------------------------------------------- 7. malformed answers

GOOD_SWAPS = [swap(1100, 30, 2 * 10**17, -10**17, 10**20), swap(1250, -200, -10**17, 3 * 10**17, 10**20),
              swap(1400, 150, 10**17, -10**17, 10**20), swap(1900, 10, 5 * 10**16, -10**16, 10**20)]
GOOD_ANSWERS = [(START, ok(pos(-600, 600, 9 * 10**17, 9 * 10**17))),
                (1300, ok(pos(-1200, 0, 10**17, 5 * 10**17), pos(0, 1200, 4 * 10**17, 10**17)))]
HUGE = {**ok(pos(-600, 600, 10**17, 10**17)), "junk": "x" * (64 * 1024 + 1)}

MALFORMED = [
    ("inverted ticks", [(START, ok(pos(600, -600, 10**17, 10**17)))], "tick_lower < tick_upper"),
    ("equal ticks", [(START, ok(pos(600, 600, 10**17, 10**17)))], "tick_lower < tick_upper"),
    ("off spacing", [(START, ok(pos(-61, 600, 10**17, 10**17)))], "tick spacing"),
    ("above inventory", [(START, ok(pos(-600, 600, E18 + 1, 10**17)))], "above the inventory"),
    ("above inventory summed", [(START, ok(pos(-600, 0, 6 * 10**17, 0), pos(0, 600, 5 * 10**17, 0)))],
     "above the inventory"),
    ("above inventory later", [(START, ok(pos(-600, 600, 9 * 10**17, 9 * 10**17))),
                               (1300, ok(pos(-600, 0, 3 * E18, 0)))], "above the inventory"),
    ("negative string", [(START, ok(pos(-600, 600, "-5", 10**17)))], "allocation0"),
    ("negative int", [(START, ok(pos(-600, 600, 10**17, -5)))], "allocation1"),
    ("float", [(START, ok(pos(-600, 600, 1.5e17, 10**17)))], "allocation0"),
    ("float string", [(START, ok(pos(-600, 600, 10**17, "1.5e18")))], "allocation1"),
    ("decimal string", [(START, ok(pos(-600, 600, "100.0", 10**17)))], "allocation0"),
    ("bool", [(START, ok(pos(-600, 600, True, 10**17)))], "allocation0"),
    ("missing amount", [(START, ok({"tick_lower": -600, "tick_upper": 600, "allocation0": "1"}))], "allocation1"),
    ("float tick", [(START, ok(pos(-600.0, 600, 10**17, 10**17)))], "integers"),
    ("huge body", [(START, HUGE)], "above 65536"),
    ("timeout", [(START, None)], "timeout"),
    ("accepted false", [(START, {"accepted": False, "refusal_reason": "too volatile"})], "refused: too volatile"),
    ("accepted missing", [(START, {"desired_positions": [pos(-600, 600, 1, 1)]})], "refused"),
    ("not running", [(START, {"accepted": True, "desired_positions": None})], "not running"),
    ("not a list", [(START, {"accepted": True, "desired_positions": {"a": 1}})], "malformed"),
    ("not an object", [(START, ["accepted", True])], "malformed"),
    ("bad after good", [GOOD_ANSWERS[0], (1300, ok(pos(-600, 601, 10**17, 10**17)))], "tick spacing"),
]


@pytest.fixture(scope="module")
def good_alone():
    raw = round_file(GOOD_SWAPS, {"good": (1, GOOD_ANSWERS)})
    return replay(parse_round(raw))


@pytest.mark.parametrize("name,answers,reason", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_answer_puts_out_only_its_miner(good_alone, name, answers, reason):
    raw = round_file(GOOD_SWAPS, {"good": (1, GOOD_ANSWERS), "bad": (2, answers)})
    res = replay(parse_round(raw))
    bad = res.miners["bad"]
    assert bad.out is not None and reason in bad.out, bad.out
    assert bad.result is None and bad.score == 0.0 and bad.reputation_score == 0.0
    good = res.miners["good"]
    assert good.out is None and good.result is not None
    assert good == good_alone.miners["good"]
    assert res.winner == "good"
    assert res.state.jobs["job"]["good"] == good_alone.state.jobs["job"]["good"]
    rep = res.state.jobs["job"]["bad"]
    assert (rep.eval_ema, rep.refusals, rep.successful_evaluations) == (0.0, 1, 0)


def test_parse_answer_refusals_directly():
    assert parse_answer({"block": 5, "response": None}, 60).refusal == "no response (timeout)"
    big = parse_answer({"block": 5, "response": HUGE}, 60)
    assert big.positions is None and big.refusal.startswith("malformed")
    fits = parse_answer({"block": 5, "response": ok(pos(-600, 600, 10**17, 10**17))}, 60)
    assert fits.refusal is None and fits.positions[0].allocation0 == 10**17
    # amounts as JSON integers are accepted as well as decimal strings
    as_int = parse_answer({"block": 5, "response": ok({"tick_lower": -600, "tick_upper": 600,
                                                       "allocation0": 7, "allocation1": 0})}, 60)
    assert as_int.positions[0].allocation0 == 7
    with pytest.raises(ValueError):
        parse_answer({"block": "5", "response": None}, 60)


# ---------------------------------------------------------------------------------------------- 8. chaining

def test_rebalancing_back_and_forth_keeps_the_holdings():
    r1, r2 = pos(-600, 600, 9 * 10**17, 9 * 10**17), pos(-1800, 1200, 9 * 10**17, 9 * 10**17)
    moves = 30
    many = [(START + 10 * k, ok(r2 if k % 2 else r1)) for k in range(2 * moves + 1)]  # r1, r2, …, r1
    assert many[-1][0] < 1700
    swaps = [swap(1800, 100, 10**17, -10**16, 10**20), swap(1900, -50, -10**16, 10**17, 10**20)]
    raw = round_file(swaps, {"once": (1, [(START, ok(r1))]), "many": (2, many)})
    _, out_once, once = run(raw, "once")
    entries, out_many, churn = run(raw, "many")
    assert out_once is None and out_many is None
    assert churn.rebalances == 2 * moves + 1 and once.rebalances == 1
    # each credit-back can lose a wei or so per token to floor division, never gain
    for a, b in zip(churn.holdings, once.holdings):
        assert 0 <= b - a <= 2 * moves
    assert 0 <= once.final_value - churn.final_value <= 4 * moves
    # without the credit-back 61 deployments of 0.9 tokens each would need 54.9 tokens of a 1-token inventory
    assert churn.initial_amounts == once.initial_amounts == (E18, E18)
    # and the idle inventory after every return to r1 is the same within rounding
    idles = [e.inventory for e in entries[1::2]]
    assert max(i[0] for i in idles) - min(i[0] for i in idles) <= 4 * moves
    assert max(i[1] for i in idles) - min(i[1] for i in idles) <= 4 * moves


def test_a_swap_down_that_stops_on_a_tick_price_reports_the_tick_below():
    """The pool reports tick −1 for a swap down that ends exactly at sqrt(tick 0) = 2^96: the record is
    taken, and its tick becomes 0, the tick whose price it is, for the range tests."""
    from mechanisms.lp.records import _swap
    s = _swap({"block": 1, "sqrt_price_x96": str(2**96), "tick": -1, "amount0": "10", "amount1": "-9",
               "liquidity": "1"})
    assert s.tick == 0 and s.sqrt_price_x96 == 2**96
    with pytest.raises(ValueError, match="does not hold"):
        _swap({"block": 1, "sqrt_price_x96": str(2**96 + 1), "tick": -1, "amount0": "10", "amount1": "-9",
               "liquidity": "1"})


def test_revenue_uses_each_tokens_decimals_and_emission_a_day():
    from mechanisms.lp.weights import emission_per_day, miner_ratio, revenue_usd
    # 2 USDC (6 decimals, $1) and 0.001 WETH (18 decimals, $3000) collected: $5, not 2e-12 + $3
    assert revenue_usd([(2_000_000, 10**15)], (6, 18), (1.0, 3000.0)) == pytest.approx(5.0)
    # 1.48 alpha a tempo of 360 blocks is 29.6 alpha a day; $5 of revenue at $0.5 an alpha is 10 alpha
    per_day = emission_per_day(1.48, 360)
    assert per_day == pytest.approx(29.6)
    assert miner_ratio(5.0, 0.5, per_day) == pytest.approx(10 / 29.6)
