"""Almanac §2–§3 and §14 on records: every anomaly a record can carry, and what it does to the matrices."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mechanisms.almanac.matrices import build_epoch_matrices
from mechanisms.almanac.params import AlmanacParams
from mechanisms.almanac.records import parse_trades
from mechanisms.almanac.scoring import score_snapshot
from mechanisms.almanac.weights import verify_profiles

D = dt.date(2026, 12, 5)  # the boundary: days 2026-11-05 … 2026-12-04 are scored
UIDS = list(range(8))
HOTKEYS = [f"hk{u}" for u in UIDS]
COMPAT, FIXED = AlmanacParams(), AlmanacParams(mode="fixed")


def trade(**over) -> dict:
    """A miner trade by uid 3 completed yesterday: reward eligible, a winner, fees collected."""
    rec = {"position_id": 1, "account_id": 7, "profile_id": "0xabcdef", "miner_id": 3, "miner_hotkey": "hk3",
           "is_general_pool": False, "market_id": "1", "token_id": "2", "date_created": "2026-12-03T10:00:00Z",
           "volume": 100.0, "expected_volume": 100.0, "expected_fees": 1.0, "actual_fees": 1.0, "pnl": 20.0,
           "is_correct": True, "is_completed": True, "completed_at": "2026-12-04T11:31:15.127Z",
           "is_reward_eligible": True}
    rec.update(over)
    return rec


def gp(**over) -> dict:
    return trade(is_general_pool=True, miner_id=None, miner_hotkey=None, **over)


def miner_matrices(records, params=COMPAT):
    return build_epoch_matrices(parse_trades(records, fixed=params.fixed), UIDS, HOTKEYS, "miner", D, params)


def test_a_good_trade_lands_on_yesterdays_row():
    m = miner_matrices([trade()])
    assert m.entities == [3] and m.n_epochs == 30
    assert m.epoch_dates[0] == dt.date(2026, 11, 5) and m.epoch_dates[-1] == dt.date(2026, 12, 4)
    assert m.volume[-1, 0] == 100.0 and m.qualified[-1, 0] == 99.0 and m.profit[-1, 0] == 20.0
    assert m.fees[-1, 0] == 1.0 and m.trade_count[-1, 0] == 1 and m.correct_count[-1, 0] == 1
    assert m.volume[:-1].sum() == 0


@pytest.mark.parametrize("change", [
    {"account_id": None}, {"is_completed": False}, {"completed_at": "2026-12-05T00:00:00Z"},
    {"completed_at": "2026-11-04T23:59:59Z"}, {"is_general_pool": True}, {"miner_id": None},
    {"miner_hotkey": None}, {"miner_id": 9}, {"miner_id": 12}, {"miner_hotkey": "hk4"},
])
def test_trades_the_miner_pool_drops(change):
    """Null account, not completed, outside [D−30, D), GP trades, no uid, an unknown uid, an uid past
    the hotkeys, and a hotkey that is not the one now at the uid (re-registration)."""
    m = miner_matrices([trade(**change)])
    assert m.n == 0
    assert parse_trades([trade(**change)]).skipped == {}  # dropped by the rules, not malformed


def test_an_uid_missing_from_the_metagraph_uids_is_dropped_even_with_a_hotkey():
    m = build_epoch_matrices(parse_trades([trade()]), [0, 1, 2], HOTKEYS, "miner", D)
    assert m.n == 0


def test_first_day_of_the_window_is_row_zero():
    m = miner_matrices([trade(completed_at="2026-11-05T00:00:00Z")])
    assert m.volume[0, 0] == 100.0 and m.volume[1:].sum() == 0


def test_a_grown_position_is_not_eligible_but_its_fees_count():
    m = miner_matrices([trade(volume=106.0, expected_volume=100.0)])
    assert m.volume.sum() == 0 and m.trade_count.sum() == 0 and m.fees[-1, 0] == 1.0
    within = miner_matrices([trade(volume=105.0, expected_volume=100.0)])  # $5 tolerance
    assert within.volume[-1, 0] == 105.0
    missing = dict(trade(volume=50.0))
    del missing["expected_volume"]  # treated as null = 0: 50 > 0 + 5, so not eligible
    assert miner_matrices([missing]).volume.sum() == 0


def test_fees_not_collected():
    assert miner_matrices([trade(actual_fees=0.85, expected_fees=1.0)]).volume.sum() == 0
    assert miner_matrices([trade(actual_fees=0.95, expected_fees=1.0)]).volume[-1, 0] == 100.0
    no_fee_expected = miner_matrices([trade(actual_fees=0.5, expected_fees=0.0)])  # no division by zero
    assert no_fee_expected.volume[-1, 0] == 100.0
    free = miner_matrices([trade(actual_fees=0.0, expected_fees=0.0)])  # eligible but no fee: not counted
    assert free.volume.sum() == 0 and free.n == 1


def test_losing_and_api_ineligible_trades():
    m = miner_matrices([trade(is_correct=False, pnl=-100.0), trade(is_reward_eligible=False)])
    assert m.unqualified[-1, 0] == 100.0 and m.qualified.sum() == 0 and m.profit[-1, 0] == -100.0
    assert m.trade_count[-1, 0] == 1 and m.correct_count.sum() == 0 and m.fees[-1, 0] == 2.0


def test_nulls_read_as_zero_or_false():
    m = miner_matrices([trade(pnl=None, is_correct=None)])
    assert m.profit[-1, 0] == 0.0 and m.unqualified[-1, 0] == 100.0


def test_general_pool_entities_are_profile_ids_in_string_order():
    records = [gp(profile_id="0xbb"), gp(profile_id="0xAA"), gp(profile_id="0xaa"), trade()]
    m = build_epoch_matrices(parse_trades(records), UIDS, HOTKEYS, "gp", D)
    assert m.entities == ["0xAA", "0xaa", "0xbb"] and m.volume[-1].tolist() == [100.0, 100.0, 100.0]


def test_miner_profiles_and_the_one_sided_lower_case_of_the_reference():
    two = [trade(), trade(), trade(profile_id="0x999999"), trade(profile_id="0x999999")]
    assert miner_matrices(two).profiles == {3: "0xabcdef,0x999999,0x999999"}  # once a comma, always appended
    assert miner_matrices(two, FIXED).profiles == {3: "0xabcdef,0x999999"}
    upper = [trade(profile_id="0xABCDEF"), trade(profile_id="0xABCDEF")]
    assert miner_matrices(upper).profiles == {3: "0xabcdef,0xabcdef"}        # compat: fails verification
    assert miner_matrices(upper, FIXED).profiles == {3: "0xabcdef"}          # fixed: one profile
    assert verify_profiles(miner_matrices(upper).profiles, {3: "0xabc"}) == {3: "more than one profile id"}
    assert verify_profiles(miner_matrices(upper, FIXED).profiles, {3: "0xabc"}) == {}
    # only the API flag counts, before the record rules; ineligible trades leave no profile
    assert miner_matrices([trade(is_reward_eligible=False)]).profiles == {}
    assert miner_matrices([trade(actual_fees=0.0)]).profiles == {3: "0xabcdef"}


def test_completion_dates_in_another_offset():
    late = trade(completed_at="2026-12-05T01:00:00+05:00")  # 2026-12-04 20:00 UTC
    assert miner_matrices([late]).n == 0                      # compat: the offset's own date, D itself
    assert miner_matrices([late], FIXED).volume[-1, 0] == 100.0  # fixed: the UTC date, yesterday
    naive = trade(completed_at="2026-12-04T10:00:00")
    assert miner_matrices([naive]).volume[-1, 0] == 100.0


def test_replay_rows_stop_at_the_target_but_entities_stay():
    records = [trade(completed_at="2026-11-06T10:00:00Z"), trade(miner_id=4, miner_hotkey="hk4")]
    m = build_epoch_matrices(parse_trades(records), UIDS, HOTKEYS, "miner", D, COMPAT, target_epoch_idx=5)
    assert m.n_epochs == 6 and m.entities == [3, 4]
    assert m.volume[1, 0] == 100.0 and m.volume[:, 1].sum() == 0


MALFORMED = [
    ("not_an_object", ["a", "list"]),
    ("not_an_object", None),
    ("missing_key:volume", {k: v for k, v in trade().items() if k != "volume"}),
    ("missing_key:is_completed", {k: v for k, v in trade().items() if k != "is_completed"}),
    ("not_a_number:volume", trade(volume="100.0")),
    ("not_a_number:pnl", trade(pnl=True)),
    ("not_finite:pnl", trade(pnl=float("nan"))),
    ("not_finite:actual_fees", trade(actual_fees=float("inf"))),
    ("negative:volume", trade(volume=-1.0)),
    ("negative:actual_fees", trade(actual_fees=-0.5)),
    ("out_of_range:volume", trade(volume=10**400)),
    ("out_of_range:expected_volume", trade(expected_volume=1e300)),
    ("bad_date:completed_at", trade(completed_at="yesterday")),
    ("bad_date:completed_at", trade(completed_at="2026-13-45T00:00:00Z")),
    ("bad_date:completed_at", trade(completed_at=None)),
    ("not_a_bool:is_correct", trade(is_correct="false")),
    ("not_a_bool:is_completed", trade(is_completed=1)),
    ("not_an_int:miner_id", trade(miner_id=3.0)),
    ("not_a_string:miner_hotkey", trade(miner_hotkey=3)),
    ("not_a_string:profile_id", trade(profile_id=["0xabc"])),
    ("null:profile_id", gp(profile_id=None)),
    ("bad_type:account_id", trade(account_id={"id": 7})),
]


@pytest.mark.parametrize("reason,record", MALFORMED, ids=[f"{r}-{i}" for i, (r, _) in enumerate(MALFORMED)])
def test_a_malformed_record_is_skipped_with_its_reason(reason, record):
    trades = parse_trades([trade(), record, gp()])
    assert trades.skipped == {reason: 1}
    assert trades.ok.tolist() == [True, False, True]
    m = build_epoch_matrices(trades, UIDS, HOTKEYS, "miner", D)
    assert m.volume.sum() == 100.0  # the good miner trade is untouched


def test_malformed_records_anywhere_in_a_long_list_are_counted_once_each():
    records = [trade(position_id=i) for i in range(10_000)]
    bad = {17: trade(volume="x"), 4_100: None, 9_999: trade(pnl=float("nan"))}
    for i, rec in bad.items():
        records[i] = rec
    trades = parse_trades(records)
    assert trades.skipped == {"not_a_number:volume": 1, "not_an_object": 1, "not_finite:pnl": 1}
    assert np.flatnonzero(~trades.ok).tolist() == sorted(bad)
    assert parse_trades([]).skipped == {} and len(parse_trades([])) == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)
FIELDS = list(trade())


@st.composite
def hostile_records(draw):
    """A good record with some fields replaced by arbitrary JSON values or removed, or anything at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    rec = trade(miner_id=draw(st.sampled_from([3, 4, None])), miner_hotkey=draw(st.sampled_from(["hk3", "hk4"])))
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
        if draw(st.booleans()):
            rec[key] = draw(json_values)
        else:
            rec.pop(key, None)
    return rec


@settings(max_examples=300, deadline=None)
@given(st.lists(hostile_records(), max_size=12), st.sampled_from(["compat", "fixed"]),
       st.sampled_from(["head", "seed_excerpt"]))
def test_hostile_records_never_crash_and_never_touch_the_good_ones(records, mode, variant):
    params = AlmanacParams(mode=mode, variant=variant)
    good = [trade(miner_id=5, miner_hotkey="hk5", completed_at=f"2026-11-{d:02d}T12:00:00Z", position_id=d)
            for d in range(6, 30)]
    commitments = {5: "0xabc", 3: "0xabc", 4: "0xabc"}
    alone = score_snapshot(good, UIDS + [210], HOTKEYS + ["x"] * 203, commitments, 500.0, D, params)
    mixed = score_snapshot(good + records, UIDS + [210], HOTKEYS + ["x"] * 203, commitments, 500.0, D, params)
    trades = parse_trades(good + records, fixed=params.fixed)
    assert sum(trades.skipped.values()) == int((~trades.ok).sum())
    assert trades.ok[:len(good)].all()
    for result in (alone, mixed):
        assert all(math.isfinite(w) and w >= 0 for w in result.weights.values())
        assert sum(result.weights.values()) == pytest.approx(1.0, abs=1e-9)
        for pool in (result.miner, result.gp):
            assert np.isfinite(pool.tokens).all() and (pool.tokens >= -1e-12).all()
            assert pool.tokens.sum() <= pool.budget * (1 + 1e-9) + 1e-12
    # uid 5's own matrices are the same with and without the others' records
    i, j = alone.miner.entities.index(5), mixed.miner.entities.index(5)
    np.testing.assert_array_equal(alone.miner.matrices.volume[:, i], mixed.miner.matrices.volume[:, j])


def test_fixed_mode_skips_a_profit_no_binary_share_can_pay():
    records = [trade(pnl=1e9), trade(pnl=99_000.0), trade(volume=0.5, expected_volume=0.5, pnl=1.4)]
    assert parse_trades(records).skipped == {}  # compat: as the reference, every profit counts
    assert parse_trades(records, fixed=True).skipped == {"implausible:pnl": 1}


def test_a_completion_time_that_leaves_the_calendar_in_utc_is_a_bad_date():
    records = [trade(completed_at="9999-12-31T23:59:59-01:00"), trade(completed_at="0001-01-01T00:00:00+01:00")]
    assert parse_trades(records, fixed=True).skipped == {"bad_date:completed_at": 2}
    assert parse_trades(records).skipped == {}  # compat reads the offset's own date: both are dates


def test_profiles_of_a_miner_with_many_trades_are_built_once():
    upper = [trade(profile_id="0xABCDEF")] * 20_000
    assert miner_matrices(upper).profiles[3] == ",".join(["0xabcdef"] * 20_000)
    assert miner_matrices(upper, FIXED).profiles[3] == "0xabcdef"
    many = [trade(profile_id=f"0x{i:06x}") for i in range(20_000)]
    assert miner_matrices(many, FIXED).profiles[3].count(",") == 19_999
    # an id equal to the string built so far is not appended (the reference compares whole strings)
    odd = [trade(profile_id="0xa"), trade(profile_id="0xb"), trade(profile_id="0xa,0xb"), trade(profile_id="0xc")]
    assert miner_matrices(odd).profiles[3] == "0xa,0xb,0xc"
