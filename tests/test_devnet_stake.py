"""The devnet's planted stake history (devnet/stake.py): the chain rule, what each behaviour does to the
snapshots and events, that every record decodes and classifies as planted, and the multipliers the
planted truth earns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

import profiles
from devnet.chain import DevnetChainState
from devnet.stake_plan import BEHAVIOURS
from devnet.world import World
from ledger import Ledger
from mechanisms.vesting import events as ev
from mechanisms.vesting.flows import book, classify
from mechanisms.vesting.ledger import VestingLedger
from resources.chain import ChainError
from resources.chain_devnet import DevnetChain

ROOT = Path(__file__).resolve().parent.parent
THREE_HALVES = Fraction(3, 2)


@pytest.fixture(scope="module")
def world() -> World:
    return World(profiles.load())


@pytest.fixture(scope="module")
def sw(world):
    return world.stake


@pytest.fixture(scope="module")
def at(world) -> int:
    return world.epoch_of(world.live_start_block)


@pytest.fixture(scope="module")
def holdings(sw, world, at):
    return sw.holdings(world.profile.vesting, at)


def of(sw, behaviour: str):
    return [p for p in sw.planted if p.behaviour == behaviour]


def ops_of(sw, coldkey: str):
    return [op for op in sw.operations if op.coldkey == coldkey]


def total(sw, block: int, coldkey: str) -> int:
    return sw.snapshot(block, [coldkey]).totals().get(coldkey, 0)


# --- the plan -------------------------------------------------------------------------------------


def test_every_behaviour_is_planted_over_mantis_miners_and_traders(world, sw):
    counts = Counter(p.behaviour for p in sw.planted)
    assert set(counts) == set(BEHAVIOURS)
    assert counts["multi"] == 3 and counts["receiver"] == 1
    assert all(counts[b] >= 5 for b in BEHAVIOURS if b not in ("multi", "receiver"))
    traders = {hotkey for _, hotkey, _ in world.traders}
    for b in ("holder", "seller_all", "mover", "bridger", "swapper", "transferrer", "buyer"):
        assert {p.hotkey in traders for p in of(sw, b)} == {True, False}  # MANTIS miners and traders alike
    assert any(p.initial for p in sw.planted) and any(not p.initial for p in sw.planted)
    assert all(2 * 10**8 <= p.emission <= 2 * 10**9 for p in sw.planted)


def test_one_coldkey_owns_three_informative_miners(world, sw):
    multi = of(sw, "multi")
    roles = {m.hotkey: m.role for m in world.miners}
    assert len({p.coldkey for p in multi}) == 1 and {roles.get(p.hotkey) for p in multi} == {"informative"}
    neurons = world.neurons()
    shared = Counter(n.coldkey for n in neurons)
    assert [c for c, k in shared.items() if k > 1] == [multi[0].coldkey]
    assert {n.hotkey: n.coldkey for n in neurons}[multi[1].hotkey] == multi[0].coldkey


def test_the_history_is_rebuilt_identically(world, sw):
    again = World(profiles.load()).stake
    assert again is not sw and world.stake is sw  # cached per world
    assert [(op.block, op.records) for op in again.operations] == [(op.block, op.records) for op in sw.operations]
    block = sw.end - 17
    coldkeys = sorted({p.coldkey for p in sw.planted})
    assert again.snapshot(block, coldkeys) == sw.snapshot(block, coldkeys)


def test_the_history_is_the_same_in_another_process(sw):
    code = ("import json, profiles; from devnet.world import World; s = World(profiles.load()).stake; "
            "print(json.dumps([[b, r] for b, r in s.events(s.start, s.end)][::97]))")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == json.loads(json.dumps([[b, r] for b, r in sw.events(sw.start, sw.end)][::97]))


# --- the chain rule -------------------------------------------------------------------------------


def test_steps_follow_the_chain_rule_one_per_epoch_at_most(sw, world):
    netuid, tempo = world.profile.chain.netuid, world.tempo
    steps = list(sw.steps(sw.start, sw.end))
    assert steps and all((s + netuid + 1) % (tempo + 1) == 0 for s in steps)
    epochs = Counter(s // tempo for s in steps)
    assert max(epochs.values()) == 1
    assert len(epochs) < sw.end // tempo - sw.start // tempo + 1  # now and then an epoch has none
    s = steps[100]
    assert sw.last_step(s) == s and sw.last_step(s - 1) == steps[99] and sw.last_step(s + tempo) == s
    assert sw.start >= 0 and sw.start % tempo == 0
    assert world.live_start_block - sw.start >= world.profile.devnet.stake_history_days * 86_400 / world.block_time


def test_operations_avoid_steps_and_have_blocks_of_their_own(sw):
    blocks = [op.block for op in sw.operations]
    assert len(blocks) == len(set(blocks)) and blocks == sorted(blocks)
    assert not [b for b in blocks if sw.is_step(b) or sw.is_step(b + 1)]
    assert sw.start < blocks[0] and blocks[-1] <= sw.end


def test_the_emission_at_a_step_is_post_minus_pre(sw):
    coldkeys = sorted({p.coldkey for p in sw.planted})
    for s in list(sw.steps(sw.start + 1, sw.end))[::400]:
        pre, post = sw.snapshot(s - 1, coldkeys).pairs, sw.snapshot(s, coldkeys).pairs
        for p in sw.planted:
            pair = (p.coldkey, p.hotkey)
            assert post.get(pair, 0) - pre.get(pair, 0) == (p.emission if s > sw.earns_from(p) else 0)
        assert {k for k in set(pre) | set(post) if k[1] not in {p.hotkey for p in sw.planted}
                and pre.get(k) != post.get(k)} == set()  # positions on the validator earn nothing here
    holder = of(sw, "holder")[0]
    s = sw.last_step(sw.end)
    assert total(sw, s, holder.coldkey) - total(sw, s - 1, holder.coldkey) == holder.emission


def test_reads_outside_the_history_are_chain_errors(sw, world, tmp_path):
    state = DevnetChainState(world, Ledger(f"sqlite:///{tmp_path}/ledger.sqlite"))
    chain = DevnetChain(netuid=world.profile.chain.netuid, ledger_url=f"sqlite:///{tmp_path}/ledger.sqlite",
                        payload_dir="unused")
    coldkey = sw.planted[0].coldkey
    for reader in (state, chain):
        with pytest.raises(ChainError, match="before the devnet's stake history"):
            reader.last_step(sw.start - 1)
        with pytest.raises(ChainError, match="past the end"):
            reader.stake_snapshot(sw.end + 1, [coldkey])
        with pytest.raises(ChainError, match="before"):
            reader.stake_events(sw.start - 5, sw.start + 5)
        with pytest.raises(ChainError, match="past the end"):
            reader.stake_events(sw.end, sw.end + 1)
        assert reader.last_step(sw.end) == sw.last_step(sw.end)
        assert reader.stake_snapshot(sw.start, [coldkey]) == sw.snapshot(sw.start, [coldkey])
        first = sw.operations[0].block
        assert reader.stake_events(first, first + 1000) == sw.events(first, first + 1000) != []


# --- each behaviour in snapshots and events -----------------------------------------------------


def test_every_operation_changes_its_coldkeys_total_by_its_planted_amount(sw):
    sign = {"inflow": 1, "outflow": -1, "neutral": 0}
    for op in sw.operations[::7]:
        assert total(sw, op.block, op.coldkey) - total(sw, op.block - 1, op.coldkey) == sign[op.kind] * op.alpha


def test_snapshots_leave_out_zero_positions(sw):
    p = of(sw, "seller_all")[0]
    sale = ops_of(sw, p.coldkey)[5]
    assert total(sw, sale.block - 1, p.coldkey) > 0
    assert sw.snapshot(sale.block, [p.coldkey]).pairs == {}  # it sold everything


def test_seller_all_sells_everything_every_day(sw):
    for p in of(sw, "seller_all"):
        sales = ops_of(sw, p.coldkey)
        days = (sw.end - sw.earns_from(p)) * sw.world.block_time / 86_400
        assert len(sales) >= days - 2 and {op.kind for op in sales} == {"outflow"}
        assert all(total(sw, op.block, p.coldkey) == 0 for op in sales[::10])


def test_seller_part_sells_sixty_percent_of_what_it_earned_since_the_last_sale(sw):
    p = of(sw, "seller_part")[0]
    sales = ops_of(sw, p.coldkey)
    for before, op in zip(sales[:5], sales[1:6]):
        earned = p.emission * (sw.steps_through(op.block) - sw.steps_through(before.block))
        assert op.alpha == earned * 3 // 5 and total(sw, op.block, p.coldkey) > 0


def test_mover_moves_to_the_validator_and_keeps_its_total(sw):
    v = sw.validator
    for p in of(sw, "mover"):
        first = ops_of(sw, p.coldkey)[0]
        before, after = sw.snapshot(first.block - 1, [p.coldkey]).pairs, sw.snapshot(first.block, [p.coldkey]).pairs
        assert (p.coldkey, v) not in before and (p.coldkey, p.hotkey) not in after
        assert after[(p.coldkey, v)] == before[(p.coldkey, p.hotkey)] == first.alpha
        assert sum(before.values()) == sum(after.values())
    p = of(sw, "mover")[0]
    earned = p.emission * (sw.steps_through(sw.end) - sw.steps_through(sw.start))
    assert total(sw, sw.end, p.coldkey) == p.initial + earned  # moves within S keep the whole stake


@pytest.mark.parametrize("behaviour, low, high",
                         [("bridger", 0.7, 0.9), ("swapper", 0.7, 0.9), ("transferrer", 0.5, 0.5)])
def test_bridgers_swappers_and_transferrers_take_most_or_half_of_it_away(sw, behaviour, low, high):
    for p in of(sw, behaviour):
        for op in ops_of(sw, p.coldkey)[:4]:
            before = total(sw, op.block - 1, p.coldkey)
            assert low - 1e-9 <= op.alpha / before <= high + 1e-9
            assert total(sw, op.block, p.coldkey) == before - op.alpha


def test_a_transfer_lands_on_an_outside_coldkey(sw):
    p = of(sw, "transferrer")[0]
    op = ops_of(sw, p.coldkey)[0]
    (outside, hotkey), = [pair for pair, d in op.deltas if d > 0]
    assert hotkey == p.hotkey and outside not in {q.coldkey for q in sw.planted}
    assert sw.snapshot(op.block, [outside]).pairs == {(outside, p.hotkey): op.alpha}


def test_receiver_and_buyer_gain_stake(sw):
    r, = of(sw, "receiver")
    got = ops_of(sw, r.coldkey)
    assert got and {op.kind for op in got} == {"inflow"}
    assert sw.snapshot(got[-1].block, [r.coldkey]).pairs[(r.coldkey, sw.validator)] == sum(op.alpha for op in got)
    for p in of(sw, "buyer"):
        assert {op.kind for op in ops_of(sw, p.coldkey)} == {"inflow"}


def test_holders_never_operate(sw):
    for b in ("holder", "multi", "late"):
        assert not [op for p in of(sw, b) for op in ops_of(sw, p.coldkey)]


# --- decoding and classification ----------------------------------------------------------------

EXPECTED_CLASS = {"seller_all": ("outflow", "StakeRemoved on S"), "seller_part": ("outflow", "StakeRemoved on S"),
                  "buyer": ("inflow", "StakeAdded on S"), "mover": ("neutral", "StakeMoved within S (V6)"),
                  "bridger": ("outflow", "StakeMoved from S to another subnet"),
                  "swapper": ("outflow", "StakeSwapped from S to another subnet"),
                  "transferrer": ("outflow", "StakeTransferred to another coldkey"),
                  "receiver": ("inflow", "StakeTransferred from another coldkey")}


def test_every_record_decodes_and_classifies_as_planted(sw):
    netuid = sw.netuid
    records = sw.events(sw.start, sw.end)
    assert len(records) == sum(len(op.records) for op in sw.operations) > len(sw.operations)
    decoded, bad = ev.decode(records)
    assert bad == [] and len(decoded) == len(records)
    seen = Counter()
    for op in sw.operations:
        decoded, bad = ev.decode((op.block, r) for r in op.records)
        names = [d.name for d in decoded]
        assert names[-1] in ev.SUMMARIES or len(names) == 1  # legs, then the summary
        assert len({d.extrinsic for d in decoded}) == 1
        events, unjoined = ev.combine(decoded, netuid)
        assert bad == unjoined == [] and len(events) == 1
        mine = [c for c in classify(events[0], netuid) if c.coldkey == op.coldkey]
        assert [(c.kind, c.reason) for c in mine] == [EXPECTED_CLASS[op.behaviour]]
        assert mine[0].amount == (0 if op.kind == "neutral" else op.alpha)
        seen[op.behaviour] += 1
    assert set(seen) == set(EXPECTED_CLASS)


def test_legs_carry_the_alpha_and_the_summary_the_tao(sw):
    op = next(op for op in sw.operations if op.behaviour == "bridger")
    removed, added, moved = [r["event"] for r in op.records]
    assert (removed["event_id"], added["event_id"], moved["event_id"]) == ("StakeRemoved", "StakeAdded", "StakeMoved")
    assert removed["attributes"][3] == op.alpha and removed["attributes"][4] == sw.netuid
    assert added["attributes"][4] == sw.netuid + 1 and moved["attributes"][4] == sw.netuid + 1
    assert moved["attributes"][5] == removed["attributes"][2] == int(op.alpha * sw.price)


# --- the multipliers the planted truth earns -----------------------------------------------------


def test_holders_reach_the_top_tier_and_movers_receivers_and_buyers_equal_them(sw, holdings):
    for b in ("holder", "mover", "receiver", "buyer"):
        ms = {holdings[p.hotkey].m for p in of(sw, b)}
        assert ms == {THREE_HALVES}, b
        assert {holdings[p.hotkey].h for p in of(sw, b)} == {1}


def test_sellers_and_leavers_get_less(sw, holdings):
    assert {holdings[p.hotkey].m for p in of(sw, "seller_all")} == {1}
    part = [holdings[p.hotkey] for p in of(sw, "seller_part")]
    assert all(Fraction(3, 10) < x.h < Fraction(1, 2) and 1 < x.m < THREE_HALVES for x in part)
    for b in ("bridger", "swapper", "transferrer"):
        assert all(holdings[p.hotkey].h < Fraction(3, 10) and holdings[p.hotkey].m <= Fraction(5, 4)
                   for p in of(sw, b)), b


def test_late_holders_reach_only_lower_time_tiers(sw, holdings, world, at):
    for p in of(sw, "late"):
        if p.registered_at > at * world.tempo + world.tempo - 1:
            assert p.hotkey not in holdings  # registers after the evaluated epoch
            continue
        x = holdings[p.hotkey]
        assert x.h == 1 and x.d < 30 and x.m < THREE_HALVES


def test_the_multi_coldkey_splits_its_held_emissions_evenly(sw, holdings, world, at):
    multi = of(sw, "multi")
    k0 = world.profile.vesting.activation_epoch or sw.first_epoch
    steps = len([s for s in sw.steps(k0 * sw.tempo, at * sw.tempo + sw.tempo - 1) if s > sw.start])
    earned = {p.hotkey: p.emission * steps for p in multi}
    held = sum(earned.values())  # it never sells
    for p in multi:
        assert holdings[p.hotkey].h == min(Fraction(1), Fraction(held, 3 * earned[p.hotkey]))
    assert len({holdings[p.hotkey].h for p in multi}) > 1  # the split, not each key's own share


def test_buying_does_not_raise_h(sw, world, at):
    """A buyer's manual inflows are left out of h: without them its holdings are the same."""
    v = world.profile.vesting
    k0 = v.activation_epoch or sw.first_epoch
    opening, flows = sw.flows(k0, at)
    buyers = {p.coldkey for p in of(sw, "buyer")}
    miners = {p.hotkey: p.coldkey for p in sw.planted if p.registered_at <= at * sw.tempo + sw.tempo - 1}
    seconds = Fraction(sw.tempo) * Fraction(str(world.block_time))
    with_buys = VestingLedger.open(miners, k0, opening).advance(flows, at).holdings(at, seconds)
    without = [f for f in flows if not (f.coldkey in buyers and f.kind == "inflow")]
    no_buys = VestingLedger.open(miners, k0, opening).advance(without, at).holdings(at, seconds)
    assert any(f.coldkey in buyers and f.kind == "inflow" for f in flows)
    for p in of(sw, "buyer"):
        assert with_buys[p.hotkey].h == no_buys[p.hotkey].h and with_buys[p.hotkey].m == no_buys[p.hotkey].m


def test_the_chain_path_finds_the_planted_multipliers(sw, world, at, holdings):
    """Snapshots and decoded events, booked epoch by epoch as the vesting asset books them, give the
    tranche ledger the planted truth gives."""
    v, netuid, tempo = world.profile.vesting, sw.netuid, sw.tempo
    k0 = v.activation_epoch or sw.first_epoch
    miners = {p.hotkey: p.coldkey for p in sw.planted if p.registered_at <= at * tempo + tempo - 1}
    coldkeys = sorted(set(miners.values()))
    ledger = VestingLedger.open(miners, k0, sw.snapshot(k0 * tempo - 1, coldkeys).totals())
    for k in range(k0, at + 1):
        first, last = k * tempo, k * tempo + tempo - 1
        step = sw.last_step(last)
        step = step if step >= first else None
        pre = sw.snapshot(step - 1, coldkeys).pairs if step else None
        post = sw.snapshot(step, coldkeys).pairs if step else None
        records, bad = ev.decode(sw.events(first, last))
        events, unjoined = ev.combine(records, netuid)
        assert bad == unjoined == []
        manual = ev.pair_changes(records, netuid, range(step, step + 1)) if step else {}
        ledger.advance([f for f, _ in book(k, netuid, miners, step, pre, post, events, manual, None)], k)
    got = ledger.holdings(at, Fraction(tempo) * Fraction(str(world.block_time)), v.formula,
                          amount_strict=v.amount_strict, time_strict=v.time_strict,
                          max_multiplier=Fraction(str(v.max_multiplier)))
    assert {h: (x.h, x.d, x.m) for h, x in got.items()} == {h: (x.h, x.d, x.m) for h, x in holdings.items()}


def test_devnet_roles_shows_stake_behaviour_and_expected_multiplier(capsys, sw):
    from cli.main import main

    assert main(["devnet", "roles", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["stake"] is None and rows[0]["expected_m"] is None and rows[1]["expected_m"] is None
    by_hotkey = {r["hotkey"]: r for r in rows}
    for p in sw.planted:
        assert by_hotkey[p.hotkey]["stake"] == p.behaviour
    assert {by_hotkey[p.hotkey]["expected_m"] for p in of(sw, "holder")} == {1.5}
    assert {by_hotkey[p.hotkey]["expected_m"] for p in of(sw, "seller_all")} == {1.0}
    assert main(["devnet", "roles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(rows)
    holder = of(sw, "holder")[0]
    line = next(line for line in lines if holder.hotkey in line)
    assert line.split()[-2:] == ["holder", "1.5000"]
