"""Multi-asset values (mantis.md §9): `{asset: value}` objects, flat lists, and the plaintext room they need.

An object is never refused: each asset's cell is kept, clipped or zeroed on its own. A flat list
follows the signed rule whole; anything else is refused with a reason.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mechanisms.mantis.universe import BREAKOUT_ASSETS, FUNDING_ASSETS
from protocol import json_guard
from protocol import payload as pl
from protocol.validation import ChallengeFormat, challenge_values, max_plaintext_bytes, object_vector

XSEC = ChallengeFormat("XSEC-RANK", "MULTIXSEC", len(BREAKOUT_ASSETS), "object", BREAKOUT_ASSETS)
FUNDING = ChallengeFormat("FUNDING-XSEC", "FUNDINGXSEC", len(FUNDING_ASSETS), "object", FUNDING_ASSETS)
BINARY = ChallengeFormat("ETH-1H-BINARY", "ETH", 2)
LBFGS = ChallengeFormat("ETH-LBFGS", "ETHLBFGS", 17, "lbfgs")
LONGEST = -2.2250738585072014e-308  # Python's longest float repr in [-1, 1] (24 characters)
HOTKEY = "5" + "H" * 127  # the longest hotkey a payload may carry


def cells(value, fmt: ChallengeFormat = XSEC) -> list[float]:
    vectors, problems = challenge_values({fmt.ticker: value}, [fmt])
    assert problems == {}
    return vectors[fmt.name]


@pytest.mark.parametrize("cell, expected", [
    (0.5, 0.5), (-1, -1.0), (1, 1.0), (0, 0.0), (5e-324, 5e-324),
    (1.5, 0.0), (-1.0000001, 0.0), (10**400, 0.0), (-(10**400), 0.0),  # out of range: no value, never clipped
    (True, 0.0), (False, 0.0), (math.nan, 0.0), (math.inf, 0.0), (-math.inf, 0.0),
    ("0.5", 0.0), (None, 0.0), ({"v": 0.5}, 0.0), ((0.5,), 0.0),
    ([0.5], 0.5), ([1], 1.0), ([3], 1.0), ([-2.5], -1.0), ([1e308], 1.0),  # one-element lists clip
    ([10**400], 1.0), ([-(10**400)], -1.0),  # an int no float holds clips before float()
    ([math.nan], 0.0), ([math.inf], 0.0), ([True], 0.0), (["0.5"], 0.0), ([None], 0.0), ([[0.5]], 0.0),
    ([], 0.0), ([0.1, 0.2], 0.0),
])
def test_each_cell_is_kept_clipped_or_zeroed(cell, expected):
    vector = cells({"BTC": cell, "ETH": 0.25})
    assert vector[:2] == [expected, 0.25] and vector[2:] == [0.0] * (XSEC.dim - 2)
    assert all(type(x) is float for x in vector)


def test_unknown_assets_are_ignored_and_missing_ones_are_zero():
    value = {"DOGECOIN": 0.9, "btc": 0.5, "": 1, "hotkey": 0.3, "SKY": -0.75, "BTC": 0.125}
    assert cells(value) == [0.125] + [0.0] * (XSEC.dim - 2) + [-0.75]
    assert cells({}) == [0.0] * XSEC.dim  # an empty object counts, as all zeros: absent downstream


def test_cells_follow_the_asset_order_not_the_object_order():
    value = {a: i / 100 for i, a in reversed(list(enumerate(FUNDING_ASSETS)))}
    assert cells(value, FUNDING) == [i / 100 for i in range(FUNDING.dim)]
    assert challenge_values({"FUNDING-XSEC": value}, [FUNDING])[0] == {"FUNDING-XSEC": cells(value, FUNDING)}  # by name too


@pytest.mark.parametrize("value, reason", [
    ([0.1] * 32, "32 values, expected 33"),
    ([0.1] * 34, "34 values, expected 33"),
    ([0.1] * 32 + [1.5], "values outside [-1, 1]"),
    ([0.1] * 32 + [10**400], "values outside [-1, 1]"),
    ([0.1] * 32 + [True], "not all finite numbers"),
    ([0.1] * 32 + [math.nan], "not all finite numbers"),
    ([[0.1]] * 33, "not all finite numbers"),  # one-element lists are for objects only
    ("0.5", "not an object or list but str"),
    (0.5, "not an object or list but float"),
    (1, "not an object or list but int"),
    (None, "not an object or list but NoneType"),
    (True, "not an object or list but bool"),
])
def test_other_values_are_refused_with_a_reason(value, reason):
    assert challenge_values({"MULTIXSEC": value}, [XSEC]) == ({}, {"XSEC-RANK": reason})
    assert object_vector(value, XSEC) == (None, reason)


def test_a_flat_list_follows_the_signed_rule():
    flat = [(-1) ** i * i / 40 for i in range(XSEC.dim)]
    assert cells(flat) == flat
    assert cells([0] * XSEC.dim) == [0.0] * XSEC.dim


def test_each_challenge_keeps_its_own_rule_next_to_objects():
    values = {"MULTIXSEC": "junk", "FUNDINGXSEC": {"BTC": [2]}, "ETH": [0.1, -0.2], "ETHLBFGS": [0] * 17}
    vectors, problems = challenge_values(values, [BINARY, LBFGS, XSEC, FUNDING])
    assert problems == {"XSEC-RANK": "not an object or list but str"}
    assert vectors == {"ETH-1H-BINARY": [0.1, -0.2], "ETH-LBFGS": [0.0] * 17,
                       "FUNDING-XSEC": [1.0] + [0.0] * (FUNDING.dim - 1)}


def test_json_literals_no_float_holds_are_no_value():
    """json.loads lets NaN, Infinity and 1e999 through; each is an asset without a value."""
    text = '{"MULTIXSEC": {"BTC": NaN, "ETH": [Infinity], "XRP": 1e999, "SOL": [-1e999], "TRX": [-Infinity], "DOGE": -0.5}}'
    assert cells(json_guard.loads(text)["MULTIXSEC"]) == [0.0] * 5 + [-0.5] + [0.0] * (XSEC.dim - 6)


def test_an_object_format_needs_its_assets():
    with pytest.raises(ValueError, match="needs 3 assets"):
        ChallengeFormat("X", "XT", 3, "object", ("A", "B"))
    with pytest.raises(ValueError, match="needs 2 assets"):
        ChallengeFormat("X", "XT", 4, "pairs", ("A", "B", "C"))


# --- pairs (MULTI-BREAKOUT): [p_continuation, p_reversal] per asset --------------------------------

BREAKOUT = ChallengeFormat("MULTI-BREAKOUT", "MULTIBREAKOUT", 2 * len(BREAKOUT_ASSETS), "pairs", BREAKOUT_ASSETS)


@pytest.mark.parametrize("pair, expected", [
    ([0.7, 0.3], [0.7, 0.3]), ([0, 1], [0.0, 1.0]), ([1, 1], [1.0, 1.0]), ([0.25, 0.0], [0.25, 0.0]),
    ([1.5, 0.2], [0, 0]), ([-0.1, 0.5], [0, 0]), ([0.5, 1.0000001], [0, 0]),  # out of [0, 1]: never clipped
    ([0.5], [0, 0]), ([0.5, 0.5, 0.0], [0, 0]), ([], [0, 0]), (0.5, [0, 0]), (None, [0, 0]),
    ([True, 0.5], [0, 0]), ([0.5, False], [0, 0]), (["0.5", 0.5], [0, 0]), ([math.nan, 0.5], [0, 0]),
    ([0.5, math.inf], [0, 0]), ([[0.5], 0.5], [0, 0]), ({"p": 0.5}, [0, 0]), ((0.5, 0.5), [0, 0]),
    ([10**400, 0], [0, 0]), ([0, 10**400], [0, 0]),
])
def test_each_pair_is_kept_or_zeroed(pair, expected):
    vector = cells({"BTC": pair, "SKY": [0.125, 0.875]}, BREAKOUT)
    assert vector[:2] == expected and vector[-2:] == [0.125, 0.875] and vector[2:-2] == [0.0] * (BREAKOUT.dim - 4)
    assert all(type(x) is float for x in vector)


def test_a_flat_breakout_list_follows_the_signed_rule():
    """§9: a flat MULTIBREAKOUT list is checked against [-1, 1], not [0, 1], and kept whole."""
    flat = [-0.5] * BREAKOUT.dim
    assert cells(flat, BREAKOUT) == flat
    vectors, problems = challenge_values({"MULTIBREAKOUT": [0.5] * (BREAKOUT.dim - 1)}, [BREAKOUT])
    assert vectors == {} and "65 values, expected 66" in problems["MULTI-BREAKOUT"]


# --- the plaintext room an object needs ---------------------------------------------------------


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
@pytest.mark.parametrize("form", ["number", "one-element", "flat"])
def test_the_plaintext_limit_admits_every_well_formed_object(form, separators):
    formats = [BINARY, LBFGS, XSEC, FUNDING, BREAKOUT]
    values = {f.ticker: [LONGEST] * f.dim for f in formats}
    for f in (XSEC, FUNDING):
        if form != "flat":
            values[f.ticker] = {a: LONGEST if form == "number" else [LONGEST] for a in f.assets}
    if form != "flat":
        values[BREAKOUT.ticker] = {a: [5e-324, 2.2250738585072014e-308] for a in BREAKOUT.assets}
    plaintext = pl.plaintext_bytes(values, HOTKEY)
    if separators != (",", ":"):  # as a serialiser with spaces writes it
        plaintext = json.dumps(json.loads(plaintext), separators=separators).encode()
    assert json.loads(plaintext)["MULTIXSEC"] == values["MULTIXSEC"]
    limit = max_plaintext_bytes(formats)
    assert len(plaintext) <= limit
    # and not wildly more than the longest of them: the room per number (NUMBER_CHARS) and the slack
    longest = values | {f.ticker: {a: [LONGEST] for a in f.assets} for f in (XSEC, FUNDING)}
    longest[BREAKOUT.ticker] = {a: [LONGEST, LONGEST] for a in BREAKOUT.assets}
    assert limit <= 1.5 * len(pl.plaintext_bytes(longest, HOTKEY)) + 1024


def test_an_object_needs_more_room_than_its_flat_list():
    flat = ChallengeFormat(XSEC.name, XSEC.ticker, XSEC.dim)
    one_element = len(json.dumps({a: [LONGEST] for a in XSEC.assets}))
    assert flat.max_json_chars() < one_element < XSEC.max_json_chars()
    assert BINARY.max_json_chars() == len("ETH-1H-BINARY") + 8 + 2 * 34  # unchanged for the other rules


# --- fuzz: whatever each asset carries ----------------------------------------------------------

FUZZ = settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck),
                print_blob=False, max_examples=400)
huge_ints = st.integers(300, 1000).map(lambda n: int("9" * n)) | st.integers(300, 1000).map(lambda n: -int("7" * n))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), huge_ints, st.floats(),
                    st.sampled_from([1e308, -0.0, 5e-324, 1.0, -1.0, 1, -1, 0]), st.text(max_size=5))
json_like = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                               max_size=3), max_leaves=6)
cell_values = st.one_of(scalars, st.lists(scalars, min_size=1, max_size=1), json_like)
keys = st.sampled_from(XSEC.assets) | st.sampled_from(["btc", "BTC ", "hotkey", "MULTIXSEC"]) | st.text(max_size=4)


def oracle(x) -> float:
    """§9 read literally: a number is an int (not a bool) or a finite float."""
    def number(v) -> bool:
        return type(v) is int or (type(v) is float and math.isfinite(v))
    if type(x) is list and len(x) == 1 and number(x[0]):
        return -1.0 if x[0] < -1 else 1.0 if x[0] > 1 else float(x[0])
    return float(x) if number(x) and -1 <= x <= 1 else 0.0


@FUZZ
@given(value=st.dictionaries(keys, cell_values, max_size=12), other=cell_values, data=st.data())
def test_each_asset_depends_only_on_its_own_value(value, other, data):
    vector = cells(value)
    assert len(vector) == XSEC.dim
    assert all(type(x) is float and math.isfinite(x) and -1 <= x <= 1 for x in vector), vector
    assert vector == [oracle(value[a]) if a in value else 0.0 for a in XSEC.assets]
    # another asset's value changed, added or removed changes no other cell
    asset = data.draw(st.sampled_from(XSEC.assets))
    changed = dict(value) | {asset: other}
    removed = {k: v for k, v in value.items() if k != asset}
    i = XSEC.assets.index(asset)
    for edited in (changed, removed):
        after = cells(edited)
        assert after[:i] + after[i + 1:] == vector[:i] + vector[i + 1:]


@FUZZ
@given(value=cell_values | st.dictionaries(keys, cell_values, max_size=6)
       | st.lists(st.floats(-1, 1) | st.integers(-1, 1), min_size=XSEC.dim, max_size=XSEC.dim))
def test_any_value_is_a_vector_or_a_reason(value):
    vectors, problems = challenge_values({"MULTIXSEC": value}, [XSEC])
    assert (XSEC.name in vectors) != (XSEC.name in problems)
    if isinstance(value, dict):
        assert XSEC.name in vectors
    if XSEC.name in vectors:
        assert [oracle(x) for x in value] == vectors[XSEC.name] if isinstance(value, list) else True
        assert all(type(x) is float and math.isfinite(x) and -1 <= x <= 1 for x in vectors[XSEC.name])
    else:
        assert problems[XSEC.name] and not isinstance(value, dict)


def pair_oracle(x) -> list[float]:
    """§9 read literally for MULTI-BREAKOUT: a list of exactly two numbers, both in [0, 1]."""
    def number(v) -> bool:
        return type(v) is int or (type(v) is float and math.isfinite(v))
    if type(x) is list and len(x) == 2 and all(number(v) and 0 <= v <= 1 for v in x):
        return [float(x[0]), float(x[1])]
    return [0.0, 0.0]


@FUZZ
@given(value=st.dictionaries(keys, cell_values | st.lists(scalars, min_size=2, max_size=2), max_size=12))
def test_each_breakout_pair_depends_only_on_its_own_value(value):
    vector = cells(value, BREAKOUT)
    assert vector == [v for a in BREAKOUT.assets for v in (pair_oracle(value[a]) if a in value else [0.0, 0.0])]
    assert all(type(x) is float and 0 <= x <= 1 for x in vector)
