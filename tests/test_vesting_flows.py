"""Stake flows for vesting (vesting_bettensor.md §3): every §3.3 event class, §3.2 emissions, §3.4
snapshot flows, and their effect on the ledger's multipliers."""

from __future__ import annotations

from fractions import Fraction

import pytest

from mechanisms.vesting.flows import Classified, StakeEvent, classify, emissions, epoch_flows, snapshot_flows
from mechanisms.vesting.ledger import VestingLedger

S, OTHER = 30, 7


def ev(name, oc="c", on=S, dc="c", dn=S, out=5, inn=5, block=1):
    return StakeEvent(name, block, oc, on, dc, dn, out, inn)


@pytest.mark.parametrize(("event", "expected"), [
    (ev("StakeAdded", oc=None, on=None), [("c", "inflow", 5)]),
    (ev("StakeAdded", oc=None, on=None, dn=OTHER), []),
    (ev("StakeRemoved", dc=None, dn=None), [("c", "outflow", 5)]),
    (ev("StakeRemoved", dc=None, dn=None, on=OTHER), []),
    (ev("StakeMoved"), [("c", "neutral", 0)]),  # another hotkey or a validator of S: not a sell (V6)
    (ev("StakeMoved", dn=OTHER), [("c", "outflow", 5)]),
    (ev("StakeMoved", on=OTHER, inn=9), [("c", "inflow", 9)]),
    (ev("StakeSwapped", dn=OTHER, out=4), [("c", "outflow", 4)]),
    (ev("StakeSwapped", on=OTHER, inn=3), [("c", "inflow", 3)]),
    (ev("StakeSwapped"), [("c", "neutral", 0)]),
    (ev("StakeTransferred", dc="d"), [("c", "outflow", 5), ("d", "inflow", 5)]),
    (ev("StakeTransferred", dc="d", dn=OTHER), [("c", "outflow", 5)]),
    (ev("StakeTransferred", dc="d", on=OTHER), [("d", "inflow", 5)]),
    (ev("StakeTransferred", dn=OTHER), [("c", "outflow", 5)]),  # to oneself on another subnet: it left S
    (ev("StakeMoved", dn=None), [("c", "neutral", 0)]),  # no subnet information: neutral, with its reason
    (ev("StakeMoved", on=OTHER, dn=OTHER), []),
    (ev("Transfer"), []),
])
def test_every_event_class(event, expected):
    got = classify(event, S)
    assert [(c.coldkey, c.kind, c.amount) for c in got] == expected
    assert all(c.reason for c in got)


def test_emissions_subtract_manual_flows_and_turn_losses_into_outflows():
    pre = {("c", "h1"): 100, ("c", "h2"): 50, ("d", "h3"): 10}
    post = {("c", "h1"): 130, ("c", "h2"): 40, ("d", "h3"): 25}
    emitted, lost = emissions(pre, post, manual={("d", "h3"): 5})
    assert emitted == {("c", "h1"): 30, ("d", "h3"): 10} and lost == {"c": 10}


def test_snapshot_flows_see_through_moves_within_the_coldkey():
    emitted = {("c", "h1"): 30}
    # c moved 40 from h1 to a validator of S (its total does not change) and earned 30: no flow
    assert snapshot_flows({"c": 200}, {"c": 230}, emitted) == {}
    # c sold 25 and bought 5 in the epoch: they net to an outflow of 20
    assert snapshot_flows({"c": 200, "b": 0}, {"c": 210, "b": 7}, emitted) == {"c": -20, "b": 7}


def _ledger(epochs):
    ledger = VestingLedger.open({"h": "c"}, 0, {})
    for k, flows in enumerate(epochs):
        ledger.advance(flows, k)
    return ledger.holdings(len(epochs) - 1, Fraction(86_400))["h"]


def test_through_the_ledger_a_mover_keeps_its_multiplier_and_a_transferer_does_not():
    def epoch(k, events=()):
        classified = [(e.block, c) for e in events for c in classify(e, S)]
        return epoch_flows(k, k * 10 + 9, {("c", "h"): 10}, classified)

    def history(event=None):  # 130 days of rewards held (d ≥ 60 after 120), one event on day 100
        return [epoch(k, [event] if event and k == 100 else []) for k in range(130)]

    held = _ledger(history())
    assert held.m == Fraction(3, 2) == _ledger(history(ev("StakeMoved", out=800, block=1001))).m
    sold = _ledger(history(ev("StakeTransferred", dc="d", out=800, block=1001)))
    # the sale takes days 99…20 (newest first): 500 of 1 300 held (a = 1.1), d = 56.5 days (t = 1.2)
    assert (sold.h, sold.d, sold.m) == (Fraction(5, 13), Fraction(113, 2), Fraction(5, 4))


def test_an_epoch_without_a_step_has_no_emission_and_snapshot_flows_book_at_the_step():
    assert epoch_flows(5, None, {("c", "h"): 10}) == []
    flows = epoch_flows(5, 59, {("c", "h"): 10}, signed={"c": -4, "b": 3})
    assert [(f.coldkey, f.kind, f.amount, f.block) for f in flows] == [
        ("b", "inflow", 3, 59), ("c", "outflow", 4, 59), ("c", "emission", 10, 59)]
    assert isinstance(classify(ev("StakeAdded", oc=None, on=None), S)[0], Classified)
