"""HITFIRST and LBFGS on the devnet's planted panels (its profile's windows and population, 14 days,
three seeds), fixed mode: the salience recovers the planted truth (`devnet/mantis/quality.py`).

Targets: Spearman over informative miners ≥ 0.9, worthless miners (noise, constant, copycat, persistent,
stale) ≤ 2 % of the salience, the clone group ≤ 1.1 × the independent twin of the same skill. Compat mode and the
reference windows at production scale are measured by `make bench` (benchmarks/mantis_scoring.py).
"""

from __future__ import annotations

import pytest

import profiles
from devnet.mantis.quality import as_array, quality
from devnet.mantis.signals import generate, spec_for
from mechanisms.registry import MECHANISMS

pytestmark = pytest.mark.slow
SEEDS = (0, 1, 2)
PROFILE = profiles.load()
CHALLENGES = [c.name for c in PROFILE.mantis_challenges if c.mechanism in ("hitfirst", "lbfgs")]


@pytest.fixture(scope="module")
def reports() -> dict[tuple[str, int], dict]:
    out = {}
    for name in CHALLENGES:
        challenge = PROFILE.challenge(name)
        for seed in SEEDS:
            panel = generate(spec_for(PROFILE, challenge, seed=seed))
            salience = MECHANISMS[challenge.mechanism].score(
                panel, "fixed", challenge.params, sample_every=PROFILE.chain.sample_every,
                horizon_blocks=challenge.mantis.horizon_blocks)
            assert abs(sum(salience.values()) - 1) < 1e-9
            out[name, seed] = quality(panel, as_array(panel, salience))
    return out


def test_the_devnet_profile_has_both_new_mechanisms():
    assert {PROFILE.challenge(n).mechanism for n in CHALLENGES} == {"hitfirst", "lbfgs"}


@pytest.mark.parametrize("name", CHALLENGES)
@pytest.mark.parametrize("seed", SEEDS)
def test_salience_ranks_informative_miners_by_skill(reports, name, seed):
    assert reports[name, seed]["spearman"] >= 0.9, reports[name, seed]


@pytest.mark.parametrize("name", CHALLENGES)
@pytest.mark.parametrize("seed", SEEDS)
def test_worthless_miners_earn_almost_nothing(reports, name, seed):
    assert reports[name, seed]["worthless_share"] <= 0.02, reports[name, seed]
    assert reports[name, seed]["worthless_in_top_quartile"] == 0, reports[name, seed]


@pytest.mark.parametrize("name", CHALLENGES)
@pytest.mark.parametrize("seed", SEEDS)
def test_clone_group_earns_no_more_than_an_independent_twin(reports, name, seed):
    assert reports[name, seed]["clone_group_over_twin"] <= 1.1, reports[name, seed]
