"""MANTIS final weights (mantis.md §13.1–13.3): the §13.2 worked example, each guard, aggregation,
EMA, the u16 quantiser checked against the bittensor 11 SDK, and determinism.

Expected numbers are worked by hand from the spec (the arithmetic is in the comments), never read
back from the implementation.
"""

from __future__ import annotations

import dataclasses
import math
import statistics

import numpy as np
import pytest
from bittensor.intents.weights import clip_to_max_weight, normalize

from mechanisms import weights as mw
from mechanisms.weights import (
    BURN_KEY,
    WeightRules,
    WeightVector,
    aggregate_challenges,
    blend_ema,
    ema_alpha_per_epoch,
    quantize_u16,
    weight_vector,
)

# §13.2 worked example: uids 0–5 with hotkeys h0–h5; scores uid1 0.5 / uid2 0.3 / uid3 0.2; h4 young;
# h5 never seen. B is arbitrary; h4 first seen 35 999 blocks before it (young), h1–h3 long before.
HOTKEYS = [f"h{i}" for i in range(6)]
UIDS = list(range(6))
SCORES = {"h1": 0.5, "h2": 0.3, "h3": 0.2}
B = 1_000_000
FIRST_SEEN = {"h1": 5, "h2": 10, "h3": 500_000, "h4": B - 35_999}
PREVIOUS = {"h0": 0.35, "h1": 0.2, "h2": 0.45}

# Steps 3–4: young h4 gets 0.0001; mature share 0.9999 split 0.5/0.3/0.2 → 0.49995, 0.29997, 0.19998.
AFTER_YOUNG = [0.0, 0.49995, 0.29997, 0.19998, 0.0001, 0.0]
# Step 5: ×0.65 then +0.35 on uid 0: 0.49995·0.65 = 0.3249675, 0.29997·0.65 = 0.1949805, …
AFTER_BURN = [0.35, 0.3249675, 0.1949805, 0.129987, 0.000065, 0.0]
# Step 9, α = 0.3: h1 = 0.3·0.3249675 + 0.7·0.2 = 0.23749025; h2 = 0.05849415 + 0.315 = 0.37349415;
# h0 = 0.3·0.35 + 0.7·0.35 = 0.35; h3, h4 have no old value: 0.3·0.129987, 0.3·0.000065.
AFTER_EMA = [0.35, 0.23749025, 0.37349415, 0.0389961, 0.0000195, 0.0]
U16 = [61413, 41671, 65535, 6842, 3, 0]


def example(rules: WeightRules = WeightRules()) -> WeightVector:
    return weight_vector(SCORES, UIDS, HOTKEYS, FIRST_SEEN, B, rules)


# ----------------------------------------------------------------------------------------------
# §13.2 golden values


def test_example_after_young_rule_and_normalise() -> None:
    # With no burn, the remaining steps (guards pass, normalise) leave the steps 3–4 vector as it is.
    v = example(WeightRules(burn_share=0.0))
    assert v.rejected is None
    np.testing.assert_allclose(v.weights, AFTER_YOUNG, rtol=0, atol=1e-15)


def test_example_after_burn() -> None:
    v = example()
    assert v.rejected is None
    assert v.uids.dtype == np.int64 and v.weights.dtype == np.float64
    assert v.uids.tolist() == UIDS and v.hotkeys == tuple(HOTKEYS)
    np.testing.assert_allclose(v.weights, AFTER_BURN, rtol=0, atol=1e-15)
    assert math.fsum(v.weights.tolist()) == pytest.approx(1.0, abs=1e-15)


def test_example_rel_std_is_the_spec_value() -> None:
    # The spec's 0.7203207 is statistics.stdev (n − 1) / mean of the five positive entries.
    positive = [x for x in AFTER_BURN if x > 0]
    assert statistics.stdev(positive) / statistics.mean(positive) == pytest.approx(0.7203207, abs=5e-8)
    assert mw._rel_std(np.array(positive)) == pytest.approx(0.7203207, abs=5e-8)


@pytest.mark.parametrize("floor, reason", [(0.7203206, None), (0.7203208, "flat")])
def test_example_flat_guard_threshold_brackets_spec_value(floor: float, reason: str | None) -> None:
    # The guard is a strict "<": a floor just below 0.7203207 keeps the vector, just above rejects it.
    assert example(WeightRules(degenerate_rel_std=floor)).rejected == reason


def test_example_after_ema() -> None:
    v = blend_ema(example(), PREVIOUS, 0.3)
    assert v.rejected is None
    np.testing.assert_allclose(v.weights, AFTER_EMA, rtol=0, atol=1e-15)
    assert math.fsum(v.weights.tolist()) == pytest.approx(1.0, abs=1e-15)


def test_example_u16() -> None:
    # By hand: max = 0.37349415; 0.35/max·65535 = 61412.6 → 61413; 0.23749025/max·65535 = 41670.7
    # → 41671; 0.0389961/max·65535 = 6842.4 → 6842; 0.0000195/max·65535 = 3.42 → 3; zero stays 0.
    assert quantize_u16(blend_ema(example(), PREVIOUS, 0.3).weights).tolist() == U16
    assert quantize_u16(np.array(AFTER_EMA)).tolist() == U16
    assert quantize_u16(np.array(AFTER_EMA)).dtype == np.uint16


# ----------------------------------------------------------------------------------------------
# young rule, burn, guards, empty


@pytest.mark.parametrize("age, young", [(35_999, True), (36_000, False), (-5, True)])
def test_young_window_boundary(age: int, young: bool) -> None:
    # h1 scored 1, h2 scored 1; h2's age decides. Young: h2 gets 0.0001, h1 0.9999 (then burn: ×0.65).
    # Mature: 0.5 each → ×0.65 = 0.325 each.
    v = weight_vector({"h1": 1.0, "h2": 1.0}, [0, 1, 2], ["h0", "h1", "h2"], {"h2": B - age}, B,
                      WeightRules())
    expected_h2 = 0.0001 * 0.65 if young else 0.325
    assert v.weights[2] == pytest.approx(expected_h2, abs=1e-15)


def test_young_uid_gets_fixed_weight_even_with_a_high_score() -> None:
    # h1 young with score 0.9 still gets 0.0001; mature h2 (score 0.1) gets all of 0.9999; no burn.
    v = weight_vector({"h1": 0.9, "h2": 0.1}, [0, 1, 2], ["h0", "h1", "h2"], {"h1": B}, B,
                      WeightRules(burn_share=0.0))
    np.testing.assert_allclose(v.weights, [0.0, 0.0001, 0.9999], rtol=0, atol=1e-15)


def test_burn_key_maps_to_burn_uid_and_adds_to_its_own_score() -> None:
    # Scores after step 2: uid0 = 0.2 (h0) + 0.2 (burn key) = 0.4, uid1 = 0.6; unknown "hx" dropped.
    # Burn: uid0 = 0.35 + 0.65·0.4 = 0.61, uid1 = 0.65·0.6 = 0.39.
    scores = {BURN_KEY: 0.2, "h0": 0.2, "h1": 0.6, "hx": 5.0}
    v = weight_vector(scores, [0, 1], ["h0", "h1"], {}, B, WeightRules())
    assert v.rejected is None
    np.testing.assert_allclose(v.weights, [0.61, 0.39], rtol=0, atol=1e-15)


def test_burn_uid_other_than_zero() -> None:
    # burn_uid 7 (listed first, uids need not be 0-based): burn key 0.5 → uid 7; h1 0.5.
    # Burn 0.2: uid7 = 0.2 + 0.8·0.5 = 0.6, uid1 = 0.4.
    rules = WeightRules(burn_uid=7, burn_share=0.2)
    v = weight_vector({BURN_KEY: 0.5, "h1": 0.5}, [7, 1], ["h7", "h1"], {}, B, rules)
    np.testing.assert_allclose(v.weights, [0.6, 0.4], rtol=0, atol=1e-15)


def test_identical_guard() -> None:
    # burn 0.5 and one miner with everything: [0.5, 0.5] — two identical positive entries.
    v = weight_vector({"h1": 1.0}, [0, 1, 2], ["h0", "h1", "h2"], {}, B, WeightRules(burn_share=0.5))
    assert v.rejected == "identical"
    assert v.weights.tolist() == [0.0, 0.0, 0.0]
    # Only the burn key: a lone positive entry (1.0 on uid 0) is "all identical" too.
    assert weight_vector({BURN_KEY: 1.0}, [0, 1], ["h0", "h1"], {}, B, WeightRules()).rejected == "identical"


@pytest.mark.parametrize("second, reason", [(1.001, "flat"), (1.002, None)])
def test_flat_guard(second: float, reason: str | None) -> None:
    # No burn; two entries ∝ 1 and b: unbiased std/mean = √2·(b − 1)/(b + 1).
    # b = 1.001: √2·0.001/2.001 = 0.000707 < 0.001 ⇒ flat; b = 1.002: 0.001413 ⇒ kept.
    rules = WeightRules(burn_share=0.0)
    v = weight_vector({"h1": 1.0, "h2": second}, [0, 1, 2], ["h0", "h1", "h2"], {}, B, rules)
    assert v.rejected == reason
    if reason is None:
        np.testing.assert_allclose(v.weights, [0.0, 1 / (1 + second), second / (1 + second)], rtol=1e-15)


@pytest.mark.parametrize("scores", [{}, {"nobody": 1.0}, {"h1": 0.0, BURN_KEY: 0.0}])
def test_empty(scores: dict[str, float]) -> None:
    v = weight_vector(scores, [0, 1], ["h0", "h1"], {"h1": B}, B, WeightRules())
    assert v.rejected == "empty"
    assert v.weights.tolist() == [0.0, 0.0]
    assert v.uids.tolist() == [0, 1] and v.hotkeys == ("h0", "h1")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_score_is_rejected(bad: float) -> None:
    v = weight_vector({"h1": 0.5, "unknown": bad}, [0, 1], ["h0", "h1"], {}, B, WeightRules())
    assert v.rejected == "non-finite"
    assert v.weights.tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    "scores, uids, hotkeys, rules",
    [
        ({"h1": -0.1}, [0, 1], ["h0", "h1"], WeightRules()),  # negative score
        ({"h1": 1.0}, [0, 1, 2], ["h0", "h1"], WeightRules()),  # mismatched lengths
        ({"h1": 1.0}, [0, 1], ["h1", "h1"], WeightRules()),  # duplicate hotkeys
        ({"h1": 1.0}, [0, 0], ["h0", "h1"], WeightRules()),  # duplicate uids
        ({"h1": 1.0}, [0.0, 1.5], ["h0", "h1"], WeightRules()),  # non-integer uids
        ({"h1": 1.0}, [1, 2], ["h1", "h2"], WeightRules()),  # burn uid 0 not registered
        ({"h1": 1.0}, [0, 1], ["h0", BURN_KEY], WeightRules()),  # burn key as a hotkey
    ],
)
def test_weight_vector_value_errors(scores, uids, hotkeys, rules) -> None:
    with pytest.raises(ValueError):
        weight_vector(scores, uids, hotkeys, {}, B, rules)


@pytest.mark.parametrize(
    "kwargs",
    [{"burn_share": 1.5}, {"burn_share": math.nan}, {"young_weight": -0.1}, {"ema_alpha": 0.0},
     {"degenerate_rel_std": -1.0}, {"burn_uid": -1}, {"young_window_blocks": -1}],
)
def test_rules_refuse_bad_values(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        WeightRules(**kwargs)


def test_weight_vector_is_read_only() -> None:
    v = example()
    with pytest.raises(ValueError):
        v.weights[0] = 1.0


# ----------------------------------------------------------------------------------------------
# §13.1 aggregation


def test_aggregate_redistributes_missing_challenge_weight() -> None:
    # a: {x 3, y 1} → {x 0.75, y 0.25}; b: {x 1, y 1} → {x 0.5, y 0.5}; c has no results, d totals 0,
    # e is not in saliences at all: none is kept, their weights are redistributed.
    # Kept weights 0.5 + 0.25 = 0.75: x = (0.5·0.75 + 0.25·0.5)/0.75 = 2/3;
    # y = (0.5·0.25 + 0.25·0.5)/0.75 = 1/3.
    # (Burning the missing weight instead would give x = 0.5, y = 0.25.)
    saliences = {"a": {"x": 3.0, "y": 1.0}, "b": {"y": 1.0, "x": 1.0}, "c": {}, "d": {"x": 0.0}}
    weights = {"a": 0.5, "b": 0.25, "c": 0.2, "d": 0.05, "e": 0.3}
    got = aggregate_challenges(saliences, weights)
    assert list(got) == ["x", "y"]
    assert got["x"] == pytest.approx(2 / 3, abs=1e-15)
    assert got["y"] == pytest.approx(1 / 3, abs=1e-15)


def test_aggregate_passes_burn_key_through() -> None:
    # trade: {burn 0.6, x 0.4}; a: {x 2} → {x 1}. Equal weights: burn = 0.3, x = 0.2 + 0.5 = 0.7.
    saliences = {"trade": {BURN_KEY: 0.6, "x": 0.4}, "a": {"x": 2.0}}
    got = aggregate_challenges(saliences, {"trade": 1.0, "a": 1.0})
    assert got == pytest.approx({BURN_KEY: 0.3, "x": 0.7}, abs=1e-15)


def test_aggregate_nothing_kept_is_empty() -> None:
    assert aggregate_challenges({"a": {}, "b": {"x": 0.0}}, {"a": 1.0, "b": 1.0}) == {}
    assert aggregate_challenges({"a": {"x": 1.0}}, {"a": 0.0}) == {}


@pytest.mark.parametrize(
    "saliences, weights",
    [
        ({"a": {"x": 1.0}}, {}),  # challenge without a weight
        ({"a": {"x": -1.0}}, {"a": 1.0}),  # negative salience
        ({"a": {"x": math.nan}}, {"a": 1.0}),  # NaN salience
        ({"a": {"x": 1.0}}, {"a": math.inf}),  # infinite weight
    ],
)
def test_aggregate_value_errors(saliences, weights) -> None:
    with pytest.raises(ValueError):
        aggregate_challenges(saliences, weights)


# ----------------------------------------------------------------------------------------------
# §13.2 step 9 EMA, §13.3 alpha


def test_ema_drops_deregistered_and_adds_new_hotkey() -> None:
    # new a 0.5, b 0.3, c 0.2 (c is new); previous a 0.4, z 0.6 (z deregistered). α = 0.3:
    # a = 0.15 + 0.28 = 0.43, b = 0.09, c = 0.06; total 0.58 ⇒ 43/58, 9/58, 6/58.
    new = WeightVector(np.array([0, 1, 2]), ("a", "b", "c"), np.array([0.5, 0.3, 0.2]), None)
    got = blend_ema(new, {"a": 0.4, "z": 0.6}, 0.3)
    assert got.hotkeys == ("a", "b", "c") and got.uids.tolist() == [0, 1, 2]
    np.testing.assert_allclose(got.weights, [43 / 58, 9 / 58, 6 / 58], rtol=1e-15)


def test_carry_forward_maps_the_previous_vector_onto_todays_metagraph() -> None:
    # uid 1 changed hands (h1 → h9): its old weight leaves with h1; h2 moved from uid 2 to uid 3.
    v = mw.carry_forward({"h0": 0.35, "h1": 0.4, "h2": 0.25}, [0, 1, 3], ["h0", "h9", "h2"])
    assert v.rejected is None and v.hotkeys == ("h0", "h9", "h2")
    assert v.weights.tolist() == pytest.approx([0.35 / 0.6, 0.0, 0.25 / 0.6], abs=1e-15)
    assert math.fsum(v.weights.tolist()) == 1.0
    assert mw.carry_forward({"h1": 1.0}, [0, 1], ["h0", "h9"]).rejected == "empty"
    with pytest.raises(ValueError):
        mw.carry_forward({"h0": -1.0}, [0], ["h0"])


def test_ema_without_previous_or_with_rejected_new_is_unchanged() -> None:
    new = example()
    assert blend_ema(new, None, 0.3) is new
    rejected = weight_vector({}, UIDS, HOTKEYS, {}, B, WeightRules())
    assert blend_ema(rejected, PREVIOUS, 0.3) is rejected


@pytest.mark.parametrize(
    "previous, alpha", [({"h0": -0.1}, 0.3), ({"h0": math.nan}, 0.3), (PREVIOUS, 0.0), (PREVIOUS, 1.5)]
)
def test_ema_value_errors(previous: dict[str, float], alpha: float) -> None:
    with pytest.raises(ValueError):
        blend_ema(example(), previous, alpha)


def test_ema_alpha_per_epoch() -> None:
    # 1 − 0.7^0.36 = 1 − e^(0.36·ln 0.7) = 1 − e^(−0.128403) = 0.12050
    assert ema_alpha_per_epoch(360) == pytest.approx(0.1205, abs=5e-5)
    # The reference cadence: one blend per 1000 blocks with α = 0.3.
    assert ema_alpha_per_epoch(1000) == pytest.approx(0.3, abs=1e-15)
    # Same time constant: 1000/360 epochs of decay compose to the reference's 0.7 per 1000 blocks.
    assert (1 - ema_alpha_per_epoch(360)) ** (1000 / 360) == pytest.approx(0.7, abs=1e-12)
    with pytest.raises(ValueError):
        ema_alpha_per_epoch(0)


# ----------------------------------------------------------------------------------------------
# determinism


def test_same_inputs_give_identical_bytes_whatever_the_dict_order() -> None:
    rng = np.random.default_rng(7)
    hotkeys = [f"hk{i:03d}" for i in range(64)]
    scores = {hk: float(x) for hk, x in zip(hotkeys, rng.exponential(size=64))}
    scores[BURN_KEY] = 0.123
    first_seen = {hk: int(b) for hk, b in zip(hotkeys, rng.integers(0, B, size=64))}
    previous = {hk: float(x) for hk, x in zip(hotkeys[::-1], rng.random(64))}

    def run(order: list[str]) -> tuple[bytes, bytes, bytes]:
        s = {k: scores[k] for k in order}
        f = {k: first_seen[k] for k in reversed(hotkeys)}
        v = blend_ema(weight_vector(s, range(64), hotkeys, f, B, WeightRules()), previous, 0.3)
        return v.uids.tobytes(), v.weights.tobytes(), quantize_u16(v.weights).tobytes()

    keys = list(scores)
    shuffled = [keys[i] for i in rng.permutation(len(keys))]
    assert run(keys) == run(keys) == run(shuffled) == run(keys[::-1])
    sal = {"a": scores, "b": dict(reversed(list(scores.items())))}
    assert aggregate_challenges(sal, {"a": 1.0, "b": 2.0}) == aggregate_challenges(
        dict(reversed(list(sal.items()))), {"b": 2.0, "a": 1.0}
    )


# ----------------------------------------------------------------------------------------------
# u16 quantisation against the SDK


def sdk_u16(weights: np.ndarray, max_weight_limit: int) -> list[int]:
    """What bittensor 11 sends for the positive entries (§13.3), via its own functions."""
    sent = [i for i, w in enumerate(weights.tolist()) if w > 0]
    floats = [float(weights[i]) for i in sent]
    if max_weight_limit < 65535:
        floats = clip_to_max_weight(floats, max_weight_limit / 65535)
    uids, values = normalize(sent, floats)
    out = [0] * len(weights)
    for uid, value in zip(uids, values):
        out[uid] = value
    return out


def test_u16_rounds_half_to_even_and_drops_zeros() -> None:
    # top 65535 ⇒ each entry's scaled value is itself: k + 0.5 exactly, rounded half to even.
    got = quantize_u16(np.array([65535.0, 0.5, 1.5, 2.5, 3.5, 0.0, 0.49]))
    assert got.tolist() == [65535, 0, 2, 2, 4, 0, 0]


def test_u16_clips_to_max_weight_limit() -> None:
    # Limit 26214/65535 ≈ 0.4: clip 0.6 to c with c/(c + 0.4) = 0.4 ⇒ c = 0.2667; normalised
    # [0.4, 0.3, 0.15, 0.15] ⇒ u16 [65535, 49151.25 → 49151, 24575.625 → 24576, 24576]
    # (the SDK's 1e-7 slack moves these by < 0.01, far from a rounding boundary).
    assert quantize_u16(np.array([0.6, 0.2, 0.1, 0.1]), 26214).tolist() == [65535, 49151, 24576, 24576]
    # Without a limit nothing is clipped: 1/4·65535 = 16383.75 → 16384, 0.5/4·65535 = 8191.875 → 8192
    # (all exact in binary); with the limit 26214 the 4.0 would be cut down.
    assert quantize_u16(np.array([4.0, 1.0, 0.5])).tolist() == [65535, 16384, 8192]
    assert quantize_u16(np.array([4.0, 1.0, 0.5]), 26214).tolist() != [65535, 16384, 8192]


def sdk_cases() -> list[tuple[str, np.ndarray, int]]:
    rng = np.random.default_rng(123)
    ties = np.array([65535.0, 0.5, 1.5, 2.5, 3.5, 4.5, 32767.5, 0.0, 100.5])
    near_ties = np.array([65535.0, np.nextafter(2.5, 3.0), np.nextafter(2.5, 2.0), np.nextafter(0.5, 0.0)])
    skewed = rng.pareto(1.0, size=256) * (rng.random(256) > 0.3)
    cases = [("example", np.array(AFTER_EMA), 65535), ("ties", ties, 65535), ("near-ties", near_ties, 65535)]
    for limit in (65535, 65534, 30000, 6553, 1000, 100):
        cases.append((f"skewed-{limit}", skewed, limit))
        cases.append((f"uniform-{limit}", rng.random(256), limit))
        cases.append((f"example-{limit}", np.array(AFTER_EMA), limit))
        cases.append((f"ties-{limit}", ties, limit))
    return cases


@pytest.mark.parametrize("name, weights, limit", sdk_cases(), ids=[c[0] for c in sdk_cases()])
def test_sdk_pass_matches_sdk(name: str, weights: np.ndarray, limit: int) -> None:
    assert mw.sdk_pass(weights, limit).tolist() == sdk_u16(weights, limit)


def assert_sendable_and_least_changed(weights: np.ndarray, limit: int, stored: np.ndarray) -> None:
    """The requirements on the stored u16: the SDK, handed them, sends exactly them (its own
    functions say so); the chain's limit check passes whenever some vector of the positive entries
    can (n · limit ≥ 65535); no entry is below what the SDK makes of the floats; and no more units
    are added than the limit check needs."""
    assert sdk_u16(stored.astype(np.float64), limit) == stored.tolist()
    sdk = np.array(sdk_u16(weights, limit))
    feasible = (weights > 0).sum() * limit >= 65535
    assert mw.within_limit(stored, limit) == feasible
    assert (stored.astype(int) >= sdk).all() and ((stored > 0) <= (weights > 0)).all()
    need = max(0, -(-65535 * 65535 // limit) - int(sdk.sum())) if feasible else 0
    assert int(stored.astype(int).sum()) - int(sdk.sum()) == need


@pytest.mark.parametrize("name, weights, limit", sdk_cases(), ids=[c[0] for c in sdk_cases()])
def test_quantized_u16_go_out_unchanged_and_within_the_limit(name: str, weights: np.ndarray, limit: int) -> None:
    assert_sendable_and_least_changed(weights, limit, quantize_u16(weights, limit))


def test_quantized_u16_meet_the_limit_whenever_some_vector_can() -> None:
    """Near limits of 65535/k, with many entries clipped to 65535 and tiny entries the SDK rounds to
    0, one unit on each entry below 65535 may not be enough: then the tiny entries rise too."""
    weights = np.array([0.0, 0.05402785191577399, 0.0, 0.0, 0.18482244958469904, 0.0, 1.018075679717947e-07,
                        0.15187158139433896, 1.4016332655369107e-07, 3.331423716843055e-07])
    # The SDK: [65489, 65535, 65535], sum 196559 < ceil(65535² / 21850) = 196561: two units short, and
    # only one entry below 65535 is sent. The largest deficits after it are the tiny entries'.
    assert sdk_u16(weights, 21850) == [0, 65489, 0, 0, 65535, 0, 0, 65535, 0, 0]
    assert quantize_u16(weights, 21850).tolist() == [0, 65490, 0, 0, 65535, 0, 0, 65535, 0, 1]
    rng = np.random.default_rng(1)
    short = 0
    for _ in range(3000):
        n = int(rng.integers(3, 60))
        weights = rng.pareto(float(rng.uniform(0.3, 3.0)), n) * (rng.random(n) > 0.2)
        weights[rng.random(n) < 0.3] *= 1e-7
        positive = int((weights > 0).sum())
        if positive < 2:
            continue
        limit = min(65535, -(-65535 // int(rng.integers(1, positive + 1))) + int(rng.integers(0, 40)))
        sdk = np.array(sdk_u16(weights, limit))
        short += not mw.within_limit(sdk, limit)
        assert_sendable_and_least_changed(weights, limit, quantize_u16(weights, limit))
    assert short >= 100  # the SDK's vector failed the limit often enough to exercise the repair


def test_u16_over_the_limit_after_rounding_are_raised_where_rounding_cut_most() -> None:
    """Where the SDK's rounding leaves the top share above the limit, the chain would refuse its
    vector: the entries rounded down the most get one unit each, just enough to meet the limit."""
    rng = np.random.default_rng(5)
    raised = 0
    for _ in range(400):
        weights, limit = rng.pareto(1.0, 48), int(rng.integers(3000, 30000))
        sdk, stored = np.array(sdk_u16(weights, limit)), quantize_u16(weights, limit).astype(int)
        if mw.within_limit(sdk, limit):
            assert stored.tolist() == sdk.tolist()  # nothing to fix: exactly the SDK's
            continue
        raised += 1
        scaled = mw._sdk_scaled(weights, limit)[2]
        cut = scaled - sdk  # how far rounding moved each entry down
        up = np.flatnonzero(stored != sdk)
        assert set(np.unique(stored[up] - sdk[up])) == {1} and mw.within_limit(stored, limit)
        assert cut[up].min() >= np.delete(cut, up)[sdk[np.delete(np.arange(48), up)] < 65535].max()
        fewer = stored.copy()
        fewer[up[np.argmin(cut[up])]] -= 1
        assert not mw.within_limit(fewer, limit)  # one unit less and the chain would refuse it
    assert raised >= 10  # the case is common enough to have been exercised


def test_sdk_cases_exercise_ties_and_clipping() -> None:
    # Guard the comparison itself: the tie vector really hits exact .5 under the SDK's arithmetic,
    # and the limits really clip (the clipped vector differs from plain sum-normalisation).
    ties = dict((c[0], c[1]) for c in sdk_cases())["ties"]
    scaled = [(w / max(ties)) * 65535 for w in ties.tolist()]
    assert sum(1 for x in scaled if x % 1 == 0.5) >= 6
    skewed = dict((c[0], c[1]) for c in sdk_cases())["skewed-6553"]
    positive = [w for w in skewed.tolist() if w > 0]
    clipped = clip_to_max_weight(positive, 6553 / 65535)
    assert max(clipped) < max(positive) / sum(positive)
    assert len(positive) * 100 / 65535 <= 1  # limit 100: the SDK's uniform branch


@pytest.mark.parametrize("bad", [np.array([0.0, 0.0]), np.array([1.0, -0.1]), np.array([1.0, math.nan])])
def test_u16_value_errors(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        quantize_u16(bad)
    with pytest.raises(ValueError):
        quantize_u16(np.array([1.0]), 70000)
    with pytest.raises(ValueError, match="overflow"):
        quantize_u16(np.array([1e308, 1e308, 1.0]), 30000)  # the SDK's total would be inf


def test_all_burn_is_accepted_only_where_the_profile_says_it_is_legitimate():
    """Almanac burns what nobody earned: everything on the burn uid is its result, not a degenerate
    vector. Elsewhere it stays rejected, and a lone miner still is under either rule."""
    rules = WeightRules(burn_uid=2, burn_share=0.0, young_window_blocks=0, ema_alpha=1.0, accept_all_burn=True)
    v = weight_vector({BURN_KEY: 1.0, "h0": 0.0}, [0, 1, 2], ["h0", "h1", "h2"], {}, B, rules)
    assert v.rejected is None and v.weights.tolist() == [0.0, 0.0, 1.0]
    assert weight_vector({BURN_KEY: 1.0}, [0, 1, 2], ["h0", "h1", "h2"], {}, B,
                         dataclasses.replace(rules, accept_all_burn=False)).rejected == "identical"
    assert weight_vector({"h1": 1.0}, [0, 1, 2], ["h0", "h1", "h2"], {}, B, rules).rejected == "identical"
