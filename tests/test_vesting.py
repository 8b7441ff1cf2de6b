"""Vesting (vesting_bettensor.md §1–§4, §9): the tranche ledger, exact h and d, the multipliers, and
`incentive vesting replay`."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.main import main
from mechanisms.vesting.ledger import (Flow, VestingLedger, continuous_multiplier, meets_min_stake, table_multiplier)

DAY = Fraction(86_400)
INCENTIVE = str(Path(sys.executable).parent / "incentive")


def flow(epoch, kind, amount, block=None, coldkey="c", hotkey="h"):
    return Flow(epoch, epoch * 10 if block is None else block, coldkey, hotkey if kind == "emission" else None,
                kind, amount)


def holdings(flows, at, miners=None, opening=None, formula="table", activation=0):
    ledger = VestingLedger.open(miners or {"h": "c"}, activation, opening or {})
    if at >= activation:
        ledger.advance(flows, at)
    return ledger.holdings(at, DAY, formula)


def test_the_worked_example():
    """§4.3: emissions of 10 on days 0, 1, 2; 15 sold right after day 2's; 10 more on day 3; at day 17."""
    flows = [flow(0, "emission", 10), flow(1, "emission", 10), flow(2, "emission", 10),
             flow(2, "outflow", 15, block=21), flow(3, "emission", 10)]
    (v,) = holdings(flows, 17).values()
    assert (v.h, v.d, v.m) == (Fraction(5, 8), Fraction(78, 5), Fraction(5, 4))  # 0.625, 15.6, 1.25
    (c,) = holdings(flows, 17, formula="continuous").values()
    assert c.m == pytest.approx(1.300463, abs=1e-6)


def test_the_even_split_example():
    """Two miner hotkeys of one coldkey earned 30 and 10 and the coldkey retains 20: 10 held each."""
    miners = {"h1": "c", "h2": "c"}
    flows = [flow(0, "emission", 30, hotkey="h1"), flow(0, "emission", 10, hotkey="h2"), flow(1, "outflow", 20)]
    out = holdings(flows, 1, miners)
    assert (out["h1"].h, out["h2"].h) == (Fraction(1, 3), Fraction(1))


@pytest.mark.parametrize(("held", "a"), [(3, Fraction(1)), (5, Fraction(11, 10)), (7, Fraction(6, 5)),
                                          (8, Fraction(13, 10))])
def test_amount_thresholds_are_strict_and_exact(held, a):
    """h exactly 0.3, 0.5 or 0.7 is not above the threshold: the tier below (design: "> 30 %")."""
    flows = [flow(0, "emission", 10), flow(0, "outflow", 10 - held, block=1)]
    (v,) = holdings(flows, 0).values()
    assert v.h == Fraction(held, 10) and v.d == 0
    assert v.m == table_multiplier(v.h, v.d) == 1 + ((a + 1) / 2 - 1) * Fraction(5, 3)
    assert table_multiplier(v.h, v.d, amount_strict=False) >= v.m


@pytest.mark.parametrize(("days", "m"), [(13, Fraction(15, 12)), (14, Fraction(16, 12)), (29, Fraction(16, 12)),
                                          (30, Fraction(17, 12)), (59, Fraction(17, 12)), (60, Fraction(18, 12))])
def test_time_thresholds_count_from_the_day_they_are_reached(days, m):
    """d exactly 14, 30 or 60 days reaches its tier (≥: "held two weeks"); everything held, so a = 1.3."""
    (v,) = holdings([flow(0, "emission", 10)], days).values()
    assert v.d == days and v.h == 1 and v.m == m
    assert table_multiplier(Fraction(1), Fraction(days), time_strict=True) <= m


def test_table_values_are_twelfths_capped_at_one_and_a_half():
    for h in (Fraction(0), Fraction(31, 100), Fraction(51, 100), Fraction(71, 100)):
        for d in (Fraction(0), Fraction(14), Fraction(30), Fraction(60)):
            m = table_multiplier(h, d)
            assert (m * 12).denominator == 1 and 1 <= m <= Fraction(3, 2)
    assert table_multiplier(Fraction(1), Fraction(1000)) == Fraction(3, 2)
    assert continuous_multiplier(Fraction(0), Fraction(30)) == 1.0 == continuous_multiplier(Fraction(1), Fraction(0))
    assert continuous_multiplier(Fraction(7, 10), Fraction(14)) == pytest.approx(1.3012, abs=1e-4)
    assert continuous_multiplier(Fraction(9, 10), Fraction(30)) == 1.5


def test_moves_within_the_subnet_change_nothing():
    """V6: to another of the coldkey's hotkeys, or to a validator of the subnet, arrives as `neutral`."""
    base = [flow(0, "emission", 10), flow(5, "emission", 10)]
    moved = base + [flow(3, "neutral", 10), flow(5, "neutral", 7, block=49)]
    assert holdings(moved, 20) == holdings(base, 20)


def test_nothing_before_activation_counts():
    """V9: the stake at activation opens one tranche that is never rewards; earlier emissions are ignored."""
    flows = [flow(1, "emission", 100), flow(4, "emission", 10), flow(6, "emission", 10)]
    out = holdings(flows, 10, opening={"c": 500}, activation=4)
    assert out["h"].h == 1 and out["h"].d == Fraction(5)  # only 4 and 6 count: (10·6 + 10·4)/20
    before = holdings(flows, 3, opening={"c": 500}, activation=4)
    assert (before["h"].h, before["h"].d, before["h"].m) == (0, 0, 1)


def test_bought_alpha_is_never_held_rewards_but_is_consumed_newest_first():
    earned = [flow(0, "emission", 10)]
    bought = earned + [flow(2, "inflow", 50)]
    assert holdings(bought, 20) == holdings(earned, 20)  # an inflow is not a reward held
    # a sale takes the bought tranche first (newest), so the reward stays held
    sold = bought + [flow(3, "outflow", 50)]
    assert holdings(sold, 20)["h"].h == 1
    # with the inflow older than a later emission, the sale takes that emission first
    later = [flow(0, "inflow", 50), flow(2, "emission", 10), flow(3, "outflow", 10)]
    assert holdings(later, 20)["h"].h == 0


def test_a_total_seller_gets_one_and_partial_sellers_fall_between():
    earned = [flow(k, "emission", 10) for k in range(40)]
    total = holdings(earned + [flow(40, "outflow", 10**12)], 80)["h"]
    assert (total.h, total.d, total.m) == (0, 0, 1)
    keep_all = holdings(earned, 80)["h"].m
    partial = [holdings(earned + [flow(40, "outflow", sold)], 80)["h"].m for sold in (50, 150, 250, 350)]
    assert keep_all == Fraction(3, 2) and all(1 < m <= keep_all for m in partial)
    assert partial == sorted(partial, reverse=True)


def test_the_minimum_stake_gate():
    assert meets_min_stake(30 * 10**9, 0.01)  # 30 alpha × 0.01 TAO = 0.3 TAO exactly
    assert not meets_min_stake(30 * 10**9 - 1, 0.01) and not meets_min_stake(10**12, float("nan"))


FLOWS = st.lists(st.tuples(st.integers(0, 12), st.integers(0, 3), st.sampled_from(["c1", "c2", "c3"]),
                           st.sampled_from(["emission", "inflow", "outflow", "neutral"]), st.integers(0, 50),
                           st.sampled_from(["h1", "h2", "h3"])), max_size=60)
MINERS = {"h1": "c1", "h2": "c1", "h3": "c2"}


def _flows(raw):
    out = []
    for epoch, block, coldkey, kind, amount, hotkey in raw:
        if kind == "emission":
            coldkey = MINERS[hotkey]
        out.append(Flow(epoch, epoch * 4 + block, coldkey, hotkey if kind == "emission" else None, kind, amount))
    return out


@settings(max_examples=150, deadline=None)
@given(FLOWS, st.integers(0, 12), st.integers(0, 3))
def test_incremental_steps_equal_one_replay(raw, at, activation):
    """One replay to K equals K steps carrying the state forward; splitting anywhere changes nothing."""
    flows = _flows(raw)
    opening = {"c1": 7, "c3": 3}
    if at < activation:
        return
    once = VestingLedger.open(MINERS, activation, opening).advance(flows, at)
    stepped = VestingLedger.open(MINERS, activation, opening)
    for k in range(activation, at + 1):
        stepped = stepped.copy().advance(flows, k)
    assert stepped.holdings(at, DAY) == once.holdings(at, DAY)
    assert stepped.coldkeys == once.coldkeys and stepped.emitted == once.emitted
    for cut in range(activation, at + 1):
        split = VestingLedger.open(MINERS, activation, opening).advance([f for f in flows if f.epoch <= cut], cut)
        split.advance([f for f in flows if f.epoch > cut], at)
        assert split.holdings(at, DAY, "continuous") == once.holdings(at, DAY, "continuous")


def write(tmp_path, doc, name="flows.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


EXAMPLE = {"epoch_seconds": 86_400, "activation_epoch": 0, "miners": {"hk": "ck"}, "opening": {"ck": 5},
           "events": [{"epoch": e, "block": e * 10, "coldkey": "ck", "hotkey": "hk", "kind": "emission",
                       "amount_rao": 10} for e in (0, 1, 2)]
           + [{"epoch": 2, "block": 20, "coldkey": "ck", "hotkey": None, "kind": "outflow", "amount_rao": 15},
              {"epoch": 3, "block": 30, "coldkey": "ck", "hotkey": "hk", "kind": "emission", "amount_rao": 10}]}


def test_the_replay_command(tmp_path, capsys):
    """Within one block the outflow comes before the emission: the 15 sold take day 1's 10 and 5 of
    day 0's (newest first), then day 2's and day 3's 10 arrive: R = 25 of E = 40, d = (5·17 + 10·15 +
    10·14)/25 = 15 days."""
    path = write(tmp_path, EXAMPLE)
    assert main(["vesting", "replay", path, "--at", "17", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"hk": {"h": 0.625, "d": 15.0, "m": 1.25}}
    assert main(["vesting", "replay", path, "--at", "17", "--formula", "continuous", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hk"]["m"] == pytest.approx(1 + 0.5 * (0.625 / 0.9 * 0.5) ** 0.5)
    late = write(tmp_path, EXAMPLE | {"activation_epoch": 3}, "late.json")
    assert main(["vesting", "replay", late, "--at", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"hk": {"h": 0.0, "d": 0.0, "m": 1.0}}
    done = subprocess.run([INCENTIVE, "vesting", "replay", path, "--at", "17"], capture_output=True, text=True)
    assert done.returncode == 0 and "m 1.250000" in done.stdout


def _event(**kw):
    return {"epoch": 1, "block": 10, "coldkey": "ck", "hotkey": "hk", "kind": "emission", "amount_rao": 1} | kw


@pytest.mark.parametrize(("event", "message"), [
    (_event(hotkey=None), "names no hotkey"),
    (_event(coldkey="ck2"), "miners gives"),
    (_event(kind="stake"), "unknown kind"),
    (_event(amount_rao=-1), "negative or non-integer"),
    (_event(amount_rao=1.5), "negative or non-integer"),
    (_event(amount_rao=True), "negative or non-integer"),
    (_event(epoch="1"), "must be an integer"),
    ({"epoch": 1}, "has no block"),
])
def test_bad_events_exit_2_with_one_line(tmp_path, capsys, event, message):
    path = write(tmp_path, EXAMPLE | {"events": [event]})
    assert main(["vesting", "replay", path, "--at", "5", "--json"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_bad_file_exits_2(tmp_path, capsys):
    assert main(["vesting", "replay", str(tmp_path / "absent.json"), "--at", "1"]) == 2
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    assert main(["vesting", "replay", str(deep), "--at", "1"]) == 2
    assert write(tmp_path, {"epoch_seconds": 0}) and main(["vesting", "replay", str(tmp_path / "flows.json"),
                                                           "--at", "1"]) == 2
    assert "missing" in capsys.readouterr().err


def test_a_profile_switches_vesting_on_with_its_own_rules(tmp_path):
    import profiles

    assert profiles.load(profiles.DIRECTORY / "almanac.yaml").vesting.enabled is False  # off unless a profile says so
    devnet = profiles.load().vesting  # the devnet switches it on, from a fixed epoch
    assert (devnet.enabled, devnet.activation_epoch, devnet.shadow) == (True, 100, False)
    text = (profiles.DIRECTORY / "almanac.yaml").read_text() + "vesting: {enabled: true, formula: continuous, max_multiplier: 1.25}\n"
    (tmp_path / "p.yaml").write_text(text)
    v = profiles.load(tmp_path / "p.yaml").vesting
    assert (v.enabled, v.formula, v.amount_strict, v.time_strict, v.min_stake_tao) == (True, "continuous", True, False, 0.3)
    assert (v.activation_epoch, v.flows) == (None, "events")
    cap = Fraction(str(v.max_multiplier))
    assert table_multiplier(Fraction(1), Fraction(60), cap=cap) == Fraction(5, 4)
    assert continuous_multiplier(Fraction(1), Fraction(30), cap) == 1.25
    (tmp_path / "bad.yaml").write_text(text.replace("continuous", "linear"))
    with pytest.raises(profiles.ProfileError, match="vesting.formula"):
        profiles.load(tmp_path / "bad.yaml")


@pytest.mark.parametrize("doc", [
    EXAMPLE | {"opening": {"ck": 2**63}},
    EXAMPLE | {"events": [_event(amount_rao=2**63)]},
    EXAMPLE | {"events": [_event(epoch=2**63)]},
    EXAMPLE | {"epoch_seconds": 10**400},
    EXAMPLE | {"epoch_seconds": float("nan")},
])
def test_numbers_beyond_the_ledgers_range_exit_2(tmp_path, capsys, doc):
    path = tmp_path / "big.json"
    path.write_text(json.dumps(doc))
    assert main(["vesting", "replay", str(path), "--at", "5"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["vesting", "replay", write(tmp_path, EXAMPLE, "ok.json"), "--at", str(2**63)]) == 2


def test_hostile_keys_print_on_one_line_and_big_merges_stay_exact(tmp_path):
    doc = EXAMPLE | {"miners": {"h\ud800\n": "ck"},
                     "events": [_event(hotkey="h\ud800\n", amount_rao=2**62), _event(hotkey="h\ud800\n", amount_rao=2**62)]}
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(doc))
    done = subprocess.run([INCENTIVE, "vesting", "replay", str(path), "--at", "3"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.count("\n") == 1 and "\\ud800\\n" in done.stdout
    ledger = VestingLedger.open({"h": "c"}, 0, {}).advance([flow(1, "emission", 2**62), flow(1, "emission", 2**62)], 1)
    assert ledger.tranche_count == 2 and ledger.holdings(1, DAY)["h"].h == 1  # no int64 overflow in a merge


def test_the_library_refuses_what_it_cannot_book():
    from mechanisms.vesting.ledger import FlowError

    ledger = VestingLedger.open({"h": "c"}, 0, {}).advance([flow(1, "emission", 10)], 4)
    with pytest.raises(ValueError, match="advance it to 3"):
        ledger.holdings(3, DAY)  # reading it at another epoch would count later flows or miss earlier ones
    with pytest.raises(FlowError, match="unknown kind"):
        ledger.advance([Flow(5, 50, "c", None, "sell", 1)], 5)
    with pytest.raises(FlowError, match="within 64 bits"):
        VestingLedger.open({"h": "c"}, 0, {}).advance([flow(1, "inflow", -1)], 1)
    assert ledger.holdings(4, 86_400.0)["h"].d == 3  # a float epoch length is read as its decimal, exactly


def test_multipliers_scale_scores_before_normalisation_and_the_gate_zeroes():
    from mechanisms.vesting.ledger import apply_multipliers

    scores = {"a": 0.5, "b": 0.25, "c": 0.25, "__burn__": 0.0}
    out = apply_multipliers(scores, {"a": Fraction(1), "b": Fraction(3, 2)}, {"c": False})
    assert out == {"__burn__": 0.0, "a": 0.5 / 0.875, "b": 0.375 / 0.875, "c": 0.0}
    # only the factors differ from a vesting-off run: ratios move by m_a / m_b exactly
    plain = apply_multipliers(scores, {})
    assert plain == {k: scores[k] for k in sorted(scores)}
    assert out["b"] / out["a"] == pytest.approx(1.5 * plain["b"] / plain["a"], rel=1e-15)
    assert apply_multipliers({"a": 1.0}, {}, {"a": False}) == {}
