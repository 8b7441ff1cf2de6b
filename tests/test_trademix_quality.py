"""TRADE-MIX at the live profile's windows (288 hours, 21 days of probation, 30-day windows) on the
devnet's population over 60 days, seeds 0–2, fixed mode: the salience recovers the planted truth
(`devnet/mantis/quality.py`). Targets: Spearman over the informative traders ≥ 0.85, worthless
miners ≤ 2 % of the salience, the clone group (a top-quartile trader and three same-hour copies)
≤ 1.1 × an independent twin of the same skill. `make bench` (quality-full) records the figures."""

from __future__ import annotations

from dataclasses import replace

import pytest

import profiles
from devnet.mantis.quality import as_array, quality
from devnet.mantis.signals import RoleMix, generate, spec_for
from mechanisms.registry import MECHANISMS

pytestmark = pytest.mark.slow
LIVE, DEVNET = profiles.load("mantis.yaml"), profiles.load()
CHALLENGE = LIVE.challenge("TRADE-MIX")


@pytest.fixture(scope="module")
def reports() -> dict[int, dict]:
    roles = RoleMix(**DEVNET.devnet.roles.model_dump())
    out = {}
    for seed in (0, 1, 2):
        spec = spec_for(LIVE, CHALLENGE, seed=seed, days=60)
        panel = generate(replace(spec, roles=roles, copy_lag=LIVE.horizon_samples(CHALLENGE)))
        salience = MECHANISMS["trade_mix"].score(panel, "fixed", CHALLENGE.params,
                                                 sample_every=LIVE.chain.sample_every,
                                                 horizon_blocks=CHALLENGE.mantis.horizon_blocks)
        assert sum(salience.values()) == pytest.approx(1.0, abs=1e-9)
        out[seed] = quality(panel, as_array(panel, salience))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pay_ranks_the_traders_by_planted_skill(reports, seed):
    assert reports[seed]["spearman"] >= 0.85, reports[seed]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_worthless_miners_earn_nothing(reports, seed):
    assert reports[seed]["worthless_share"] <= 0.02, reports[seed]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_book_and_its_copies_earn_no_more_than_an_independent_twin(reports, seed):
    assert reports[seed]["clone_group_over_twin"] <= 1.1, reports[seed]
