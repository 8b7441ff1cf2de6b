"""A plaintext's values per challenge (mantis.md §9): the signed rule and the lbfgs rule."""

import math

import pytest

from protocol.validation import ChallengeFormat, challenge_values, lbfgs_vector

LBFGS = ChallengeFormat("ETH-LBFGS", "ETHLBFGS", 17, "lbfgs")
HIT = ChallengeFormat("ETH-HITFIRST-100M", "ETHHITFIRST", 3)


def test_lbfgs_buckets_are_clipped_and_renormalised_and_barriers_clipped():
    value = [0.5, 0.5, 0, 0, 0] + [2, -1, 0.3] + [0.25] * 9
    vector, problem = lbfgs_vector(value, 17)
    assert problem is None
    total = 1 + 3e-6  # 0.5 + 0.5 + three buckets raised to 1e-6
    assert vector[:5] == pytest.approx([0.5 / total, 0.5 / total, 1e-6 / total, 1e-6 / total, 1e-6 / total], rel=1e-15)
    assert vector[5:8] == [1 - 1e-6, 1e-6, 0.3]
    assert vector[8:] == [0.25] * 9


def test_lbfgs_values_of_any_size_clip_and_zeros_stay_zero():
    vector, _ = lbfgs_vector([10**400] + [0] * 16, 17)  # an int too large for float(): clipped first
    assert vector[0] == pytest.approx(1 / (1 + 4e-6)) and vector[5] == 1e-6
    assert lbfgs_vector([0] * 17, 17) == ([0.0] * 17, None)  # the reference keeps an all-zero vector


@pytest.mark.parametrize("value, reason", [
    ([0.2] * 16, "16 values, expected 17"),
    ({"p": 1}, "not a list but dict"),
    ([True] + [0.2] * 16, "not all finite numbers"),
    ([math.nan] + [0.2] * 16, "not all finite numbers"),
    (["0.2"] + [0.2] * 16, "not all finite numbers"),
])
def test_lbfgs_malformed_values_are_refused_with_a_reason(value, reason):
    assert lbfgs_vector(value, 17) == (None, reason)


def test_each_challenge_keeps_its_own_rule():
    values = {"ETHLBFGS": [3.0] * 17, "ETHHITFIRST": [0.2, 0.3, 1.5]}
    vectors, problems = challenge_values(values, [LBFGS, HIT])
    assert list(vectors) == ["ETH-LBFGS"]  # any size is a probability once clipped: five equal buckets
    assert vectors["ETH-LBFGS"] == pytest.approx([0.2] * 5 + [1 - 1e-6] * 12, rel=1e-15)
    assert problems == {"ETH-HITFIRST-100M": "values outside [-1, 1]"}  # the signed rule refuses 1.5
