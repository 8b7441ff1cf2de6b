"""Synthetic bettors over 45 days, three seeds (devnet/bettensor.py): sharps rank on top, reckless
bettors (negative ROI) never hold display tier 3 or above, and the adversarial roles earn no more
than the honest role they imitate. Capacities are those of a 256-uid metagraph, so it is the ROI gate,
not a full tier, that keeps the reckless out."""

from __future__ import annotations

import pytest

from devnet.bettensor import season
from mechanisms.bettensor.evaluate import evaluate
from mechanisms.bettensor.records import parse_export


@pytest.fixture(scope="module", params=[1, 2, 3])
def scored(request):
    s = season(request.param, uids=256)
    return s, evaluate(parse_export(s.export), s.first_day + s.days - 1)


def _of(s, role):
    return [h for h, r in s.role.items() if r == role]


def test_sharps_rank_on_top(scored):
    s, r = scored
    sharps = [r.miners[h].weight for h in _of(s, "sharp")]
    others = [r.miners[h].weight for role in ("square", "reckless", "inactive") for h in _of(s, role)]
    assert min(sharps) > max(others)
    assert sum(r.miners[h].tier for h in _of(s, "sharp")) / len(sharps) >= 4.0
    assert all(r.miners[h].gate_roi > 0 for h in _of(s, "sharp")) or sum(r.miners[h].gate_roi > 0 for h in _of(s, "sharp")) >= 6


def test_reckless_never_hold_display_tier_3(scored):
    s, r = scored
    reckless = set(_of(s, "reckless"))
    assert all(r.miners[h].gate_roi < 0 and r.miners[h].gate.startswith("fail") for h in reckless)
    # on every one of the 45 days managed, not only the last
    assert len(r.history) == s.days
    assert max(t for _, tiers in r.history for h, t in tiers.items() if h in reckless) - 1 <= 2
    # they qualify on wagers alone: it is the gate that stops them
    assert all(r.miners[h].wagered >= 10_000 for h in reckless)


def test_inactive_and_garbage_hold_the_lowest_tier(scored):
    s, r = scored
    for h in _of(s, "inactive") + _of(s, "garbage"):
        assert r.miners[h].tier == 1
        assert r.miners[h].weight < min(r.miners[x].weight for x in _of(s, "square"))
    # the metagraph's idle uids (no prediction at all) are not ranked and earn nothing
    idle = [m for h, m in r.miners.items() if h not in s.role]
    assert len(idle) == 256 - len(s.role) and not any(m.ranked or m.weight for m in idle)
    refused = {x.reason for x in r.refusals if x.hotkey in _of(s, "garbage")}
    assert {"game", "started", "level", "odds", "wager", "balance", "limit"} <= refused
    assert any(x.reason == "duplicate" and x.hotkey in _of(s, "stale") for x in r.refusals)
