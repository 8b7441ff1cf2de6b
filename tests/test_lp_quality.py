"""Synthetic SN98 rounds over three seeds (devnet/lp.py), scorer S1: ranked by round score and by
reputation, the skilled range-setter is first, the bleeder (re-centring a narrow range every query)
is below the passive wide miner, and refusing, silent and malformed miners are at exactly zero."""

from __future__ import annotations

import pytest

from benchmarks.lp import quality


@pytest.fixture(scope="module", params=[1, 2, 3])
def ranked(request):
    return quality(request.param, "s1", rounds=16)


@pytest.mark.parametrize("order", ["order_by_score", "order_by_reputation"])
def test_range_setter_first_and_bleeder_below_passive(ranked, order):
    kinds = ranked[order]
    assert kinds[0] == "range"
    assert kinds.index("churn") > kinds.index("wide")


def test_refusing_silent_and_malformed_miners_score_zero(ranked):
    for kind in ("refuser", "silent", "garbage"):
        assert ranked["mean_score"][kind] == 0.0 and ranked["eval_ema"][kind] == 0.0
    assert ranked["mean_score"]["wide"] > 0 and ranked["eval_ema"]["range"] > ranked["eval_ema"]["wide"] > 0
