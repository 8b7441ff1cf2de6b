"""Stake events read by name (mechanisms/vesting/events.py), an epoch's booking (flows.book), the tranche
ledger's compact state and the ledger's vesting rows."""

import random
from fractions import Fraction

import pytest
from bittensor_core import Keypair

from ledger import Ledger, VestingEpoch
from mechanisms.vesting.events import combine, decode, decode_one, pair_changes
from mechanisms.vesting.flows import book, classify
from mechanisms.vesting.ledger import Flow, VestingLedger

S = 7
C1, C2, H1, H2, V = (Keypair.create_from_uri(f"//{n}").ss58_address for n in ("C1", "C2", "H1", "H2", "V"))


def rec(name, *fields, x=1):
    return {"event": {"module_id": "SubtensorModule", "event_id": name, "attributes": list(fields)}, "extrinsic_idx": x}


def added(c, h, alpha, netuid=S, x=1):
    return rec("StakeAdded", c, h, alpha * 2, alpha, netuid, 0, x=x)


def removed(c, h, alpha, netuid=S, x=1):
    return rec("StakeRemoved", c, h, alpha * 2, alpha, netuid, 0, x=x)


def effects(records, netuid=S):
    good, bad = decode(records)
    events, unjoined = combine(good, netuid)
    return [(c.coldkey, c.kind, c.amount) for e in events for c in classify(e, netuid)], bad + unjoined


def test_each_operation_is_one_classified_effect():
    ops = [
        (10, added(C1, H1, 5)),  # buy on S: inflow
        (11, removed(C1, H1, 3)),  # sell on S: outflow
        (12, removed(C1, H1, 4, x=2)), (12, added(C1, V, 4, x=2)), (12, rec("StakeMoved", C1, H1, S, V, S, 8, x=2)),
        (13, removed(C1, H1, 6, x=3)), (13, added(C1, H1, 9, S + 1, x=3)),
        (13, rec("StakeMoved", C1, H1, S, H1, S + 1, 12, x=3)),  # to another subnet: outflow of the alpha that left S
        (14, removed(C1, H1, 2, S + 1, x=4)), (14, added(C1, H1, 1, x=4)),
        (14, rec("StakeSwapped", C1, H1, S + 1, S, 4, x=4)),  # from another subnet: inflow
        (15, removed(C1, H1, 7, x=5)), (15, added(C2, H2, 7, x=5)),
        (15, rec("StakeTransferred", C1, C2, H1, S, S, 14, x=5)),  # to another coldkey: one's sell, the other's inflow
        (16, rec("AlphaRecycled", C1, H1, 2, S, x=6)),  # destroyed: no longer held
    ]
    got, bad = effects(ops)
    assert not bad
    assert got == [(C1, "inflow", 5), (C1, "outflow", 3), (C1, "neutral", 0), (C1, "outflow", 6), (C1, "inflow", 1),
                   (C1, "outflow", 7), (C2, "inflow", 7), (C1, "outflow", 2)]


def test_named_attributes_decode_like_positional_ones():
    named = {"event": {"module_id": "SubtensorModule", "event_id": "StakeRemoved",
                       "attributes": {"netuid": S, "alpha": 3, "hotkey": H1, "coldkey": C1, "tao": 6, "fee": 0}}}
    assert decode_one(5, named).fields == decode_one(5, removed(C1, H1, 3)).fields


@pytest.mark.parametrize(("record", "reason"), [
    (rec("StakeAdded", C1, H1, 1, 2), "no known field layout"),
    (rec("StakeAdded", C1, H1, 1, 2, "7", 0), "field netuid"),
    (rec("StakeAdded", C1, "not-an-address", 1, 2, S, 0), "field hotkey"),
    (rec("StakeAdded", C1, H1, -1, 2, S, 0), "field tao"),
    (rec("StakeAdded", C1, H1, 1, 2**64, S, 0), "field alpha"),
    ({"event": {"module_id": "SubtensorModule", "event_id": "StakeMoved", "attributes": "x"}}, "attributes are str"),
    ("garbage", "not an event record"),
])
def test_an_event_that_fits_no_layout_is_undecodable_with_its_reason(record, reason):
    out = decode_one(9, record)
    assert out.reason.startswith(reason) if hasattr(out, "reason") else False


def test_a_summary_taking_alpha_off_s_without_its_leg_is_undecodable_and_one_without_arrival_brought_nothing():
    got, bad = effects([(20, rec("StakeMoved", C1, H1, S, H1, S + 1, 12))])
    assert got == [] and len(bad) == 1 and "leg on the subnet is missing" in bad[0].reason
    got, bad = effects([(20, removed(C1, H1, 6)), (20, rec("StakeMoved", C1, H1, S, H1, S + 1, 12))])
    assert got == [(C1, "outflow", 6)] and not bad  # too little left to stake again off S: no leg there, none needed
    got, bad = effects([(20, removed(C1, H1, 6, S + 1)), (20, rec("StakeSwapped", C1, H1, S + 1, S, 12))])
    assert got == [(C1, "inflow", 0)] and not bad  # nothing arrived on S: no inflow, and no reason to fall back
    got, bad = effects([(20, rec("StakeMoved", C1, H1, S, V, S, 12))])
    assert got == [(C1, "neutral", 0)] and not bad


def test_a_sell_batched_with_a_dust_move_is_still_a_sell():
    """utility.batch([remove_stake(X), move_stake within S (ε)]): the move's legs are the ones next to it."""
    ops = [(30, removed(C1, H1, 10**12, x=4)),
           (30, removed(C1, H1, 1, x=4)), (30, added(C1, V, 1, x=4)), (30, rec("StakeMoved", C1, H1, S, V, S, 2, x=4)),
           (30, removed(C1, H1, 5, x=4)), (30, added(C1, V, 5, x=4)), (30, rec("StakeMoved", C1, H1, S, V, S, 9, x=4)),
           (30, removed(C1, H1, 7, x=4))]
    got, bad = effects(ops)
    assert not bad and sorted(got) == sorted([(C1, "outflow", 10**12), (C1, "neutral", 0), (C1, "neutral", 0),
                                              (C1, "outflow", 7)])


def test_other_modules_and_events_are_ignored():
    other = {"event": {"module_id": "Balances", "event_id": "Transfer", "attributes": [C1, C2, 5]}}
    weights = {"event": {"module_id": "SubtensorModule", "event_id": "WeightsSet", "attributes": [S, 3]}}
    assert decode([(1, other), (1, weights)]) == ([], [])


def test_decoding_never_raises_on_hostile_records():
    rng = random.Random(5)
    atoms = [None, 0, -1, 2**70, 1.5, "x", C1, H1, S, [], {}, [C1], {"a": 1}, True, "\x00", "7" * 60]
    names = ["StakeAdded", "StakeRemoved", "StakeMoved", "StakeSwapped", "StakeTransferred", "Other", None, 3]
    records = []
    for _ in range(3000):
        attrs = [rng.choice(atoms) for _ in range(rng.randint(0, 8))]
        shape = rng.random()
        event = {"module_id": rng.choice(["SubtensorModule", None, 5]), "event_id": rng.choice(names),
                 "attributes": attrs if shape < 0.6 else dict(zip("abcdef", attrs)) if shape < 0.8 else rng.choice(atoms)}
        records.append((rng.randint(0, 9), {"event": event, "extrinsic_idx": rng.choice([0, 1, None, "2"])}
                        if rng.random() < 0.9 else rng.choice(atoms)))
    good, bad = decode(records)
    events, unjoined = combine(good, S)
    assert len(good) + len(bad) <= len(records) and all(u.reason for u in bad + unjoined)
    for e in events:
        classify(e, S)  # every combined event classifies
    assert all(v == int(v) for v in pair_changes(good, S, range(0, 10)).values())


def test_pair_changes_sum_the_legs_on_s_in_the_step_block():
    good, _ = decode([(30, added(C1, H1, 5)), (30, removed(C1, V, 2)), (30, added(C1, H1, 9, S + 1)), (31, added(C1, H1, 4))])
    assert pair_changes(good, S, range(30, 31)) == {(C1, H1): 5, (C1, V): -2}


def test_book_splits_the_step_into_emission_dividends_and_losses():
    pre = {(C1, H1): 100, (C1, V): 50, (C2, H2): 40}
    post = {(C1, H1): 110, (C1, V): 53, (C2, H2): 35}
    booked = book(4, S, {H1: C1, H2: C2}, 1000, pre, post, [], {}, None)
    got = sorted((f.coldkey, f.hotkey or "", f.kind, f.amount, why) for f, why in booked)
    assert got == sorted([(C1, "", "inflow", 3, "dividends on delegated stake"), (C1, H1, "emission", 10, "emission at the step"),
                          (C2, "", "outflow", 5, "stake fell across the step (§3.2)")])
    no_step = book(4, S, {H1: C1}, None, None, None, [], {}, None)
    assert no_step == []  # an epoch without a step has no emission


def test_stake_another_coldkey_puts_on_a_miner_at_the_step_is_never_that_miners_emission():
    pre, post = {(C1, H1): 100}, {(C1, H1): 110, (C2, H1): 50_000}  # C2 stakes on C1's miner at the step block
    booked = book(4, S, {H1: C1}, 1000, pre, post, [], {}, None)
    got = sorted((f.coldkey, f.kind, f.amount) for f, _ in booked)
    assert got == [(C1, "emission", 10), (C2, "inflow", 50_000)]


def test_book_from_snapshots_nets_each_coldkeys_total():
    pre, post = {(C1, H1): 100}, {(C1, H1): 110, (C1, V): 20}
    booked = book(4, S, {H1: C1}, 1000, pre, post, None, {}, {C1: 90})
    got = sorted((f.kind, f.amount) for f, _ in booked)
    assert got == [("emission", 10), ("inflow", 30)]  # 130 − 90 − 10: a buy (or dividends) of 30


def test_the_compact_state_reloads_to_the_same_holdings():
    rng = random.Random(3)
    miners = {f"h{i}": f"c{i % 5}" for i in range(12)}
    state = VestingLedger.open(miners, 10, {"c0": 500, "c3": 9})
    flows = []
    for epoch in range(10, 400):
        for hk, ck in miners.items():
            flows.append(Flow(epoch, epoch * 10 + 5, ck, hk, "emission", rng.randint(1, 10**12)))
        if rng.random() < 0.2:
            flows.append(Flow(epoch, epoch * 10, f"c{rng.randint(0, 4)}", None, rng.choice(["inflow", "outflow"]),
                              rng.randint(1, 10**13)))
    state.advance(flows, 399)
    again = VestingLedger.load(state.dump(), miners)
    assert again.holdings(399, Fraction(4320)) == state.holdings(399, Fraction(4320))
    assert again.tranche_count == state.tranche_count and again.epoch == 399
    assert len(state.dump()) < 17 * state.tranche_count  # compressed below the raw arrays


def test_the_ledger_keeps_vesting_rows_undecodable_events_and_checkpoints(tmp_path):
    store = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    row = VestingEpoch(5, 1805, "fallback", "1 stake event(s) could not be decoded", 1,
                       {"pre": [[C1, H1, 3]], "post": [[C1, H1, 4]], "opening": None},
                       [[1805, C1, H1, "emission", 1, "emission at the step"]], {H1: {"m": 1.25}}, 12.5)
    store.store_vesting_checkpoint(3, b"three")
    store.store_vesting_checkpoint(6, b"six")
    store.store_vesting_epoch(row, [(1801, 2, "StakeAdded", "field netuid has the wrong type or range", "[…]\x00")])
    assert store.vesting_epoch(5) == row and store.vesting_span() == (5, 5)
    assert store.vesting_undecoded(5)[0]["raw"] == "[…]\\x00"
    assert store.vesting_checkpoint(10) == (3, b"three")  # the checkpoint after the rewritten epoch is gone
    assert store.vesting_epochs(0, 9, ("factors",))[0].flows == []  # only what was asked for is unpacked
