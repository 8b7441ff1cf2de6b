"""The planted-panel generator: roles, calibrated skills, copies and determinism."""

import hashlib
from dataclasses import replace

import numpy as np
import pytest
from bittensor_core import ss58_decode
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

import profiles
from devnet.mantis.signals import ADVERSARIAL, ROLES, RoleMix, SignalSpec, generate, rho_for_auc, spec_for

SPEC = SignalSpec(seed=3, days=6)


@pytest.fixture(scope="module")
def panel():
    return generate(SPEC)


@pytest.fixture(scope="module")
def long_panel():
    """14 days without the validator's missed rows: a row is a sample."""
    return generate(replace(SPEC, days=14, gap_rate=0.0))


def labels(panel, horizon=60):
    sidx = panel.sidx()
    pos = np.searchsorted(sidx, sidx + horizon)
    ok = pos < len(sidx)
    ok[ok] &= sidx[pos[ok]] == sidx[ok] + horizon
    return ok, (panel.price[pos[ok]] > panel.price[ok]).astype(int)


def test_rho_for_auc_is_monotone_and_anchored():
    assert rho_for_auc(0.5 + 1e-9) == pytest.approx(0.0, abs=1e-6)
    rhos = [rho_for_auc(a) for a in (0.51, 0.55, 0.6, 0.7)]
    assert rhos == sorted(rhos) and 0 < rhos[0] < rhos[-1] < 1


def test_roles_and_shapes(panel):
    T = round(SPEC.days * SPEC.samples_per_day)
    assert len(panel.hotkeys) == SPEC.roles.total == 57
    assert panel.embeddings.shape[1:] == (57, 2) and T * 0.99 < len(panel.block) <= T
    assert {r: panel.roles.count(r) for r in ROLES} == {r: getattr(SPEC.roles, r) for r in ROLES}
    assert np.all(np.diff(panel.block) > 0) and np.all(panel.block % 5 == 0)
    for hotkey in panel.hotkeys:
        assert len(ss58_decode(hotkey)) == 32  # a real SS58 address of a 32-byte key


def test_informative_miners_have_their_planted_auc(panel):
    ok, y = labels(panel)
    roles = np.array(panel.roles)
    planted, measured = [], []
    for j in np.flatnonzero(roles == "informative"):
        f = panel.embeddings[ok, j, 0]
        m = ~np.isnan(f)
        planted.append(panel.skill[j])
        measured.append(roc_auc_score(y[m], f[m]))
    assert len(set(np.round(planted, 6))) >= 8
    assert min(planted) >= 0.51 and max(planted) <= 0.60
    assert np.max(np.abs(np.array(planted) - measured)) < 0.03
    assert spearmanr(planted, measured).statistic > 0.8


def test_worthless_roles(panel):
    roles = np.array(panel.roles)
    X = panel.embeddings
    assert np.isnan(X[:, roles == "silent"]).all()
    const = X[:, roles == "constant"]
    assert (const == const[0]).all()
    ok, y = labels(panel)
    for j in np.flatnonzero(roles == "noise"):
        assert abs(roc_auc_score(y, X[ok, j, 0]) - 0.5) < 0.03


def test_clones_twin_and_copycats(panel):
    roles = np.array(panel.roles)
    source = panel.hotkeys.index(panel.sources[panel.roles.index("clone")])
    informative = panel.skill[roles == "informative"]
    assert panel.skill[source] >= np.quantile(informative, 0.75) - 1e-12  # a top-quartile miner
    for j in np.flatnonzero(roles == "clone"):
        both = ~np.isnan(X := panel.embeddings[:, j, 0]) & ~np.isnan(panel.embeddings[:, source, 0])
        assert np.max(np.abs(X[both] - panel.embeddings[both, source, 0])) < 1e-3
    twin = np.flatnonzero(roles == "twin")[0]
    assert panel.skill[twin] == panel.skill[source]
    assert not np.allclose(np.nan_to_num(panel.embeddings[:, twin]), np.nan_to_num(panel.embeddings[:, source]))
    best = int(np.nanargmax(np.where(roles == "informative", panel.skill, np.nan)))
    for j in np.flatnonzero(roles == "copycat"):
        assert panel.sources[j] == panel.hotkeys[best]
        lag = SPEC.copy_lag
        sidx = panel.sidx()
        rows = np.flatnonzero(np.isin(sidx - lag, sidx))
        src_rows = np.searchsorted(sidx, sidx[rows] - lag)
        a, b = panel.embeddings[rows, j], panel.embeddings[src_rows, best]
        both = ~np.isnan(a).any(1) & ~np.isnan(b).any(1)
        assert both.sum() > 1000 and np.array_equal(a[both], b[both])


def test_young_miners_start_late(panel):
    roles = np.array(panel.roles)
    start = round((SPEC.days - SPEC.young_days) * SPEC.samples_per_day)
    first_block = SPEC.first_block + 5 * start
    for j in np.flatnonzero(roles == "young"):
        assert np.isnan(panel.embeddings[panel.block < first_block, j]).all()
        assert (~np.isnan(panel.embeddings[panel.block >= first_block, j, 0])).mean() > 0.95


def test_same_seed_same_panel_other_seed_other_panel(panel):
    again = generate(SPEC)
    assert again.hotkeys == panel.hotkeys and again.roles == panel.roles
    assert np.array_equal(again.embeddings, panel.embeddings, equal_nan=True)
    assert np.array_equal(again.price, panel.price)
    other = generate(SignalSpec(seed=4, days=6))
    assert other.hotkeys != panel.hotkeys and not np.array_equal(other.price, panel.price)


@pytest.mark.parametrize("total", [10, 12, 16, 48, 256])
def test_role_mix_scales(total):
    mix = RoleMix().scaled(total)
    assert mix.total == total and mix.informative >= 8


def test_spec_for_profile_lock_rules():
    profile = profiles.load()
    challenge = profile.challenge("ETH")
    assert spec_for(profile, challenge).copy_lag == 60  # horizon rule: 300 blocks = 60 samples
    reference = profile.model_copy(update={"protocol": profile.protocol.model_copy(update={"lock_rule": "reference"})})
    assert spec_for(reference, challenge).copy_lag == 1  # a 30 s lock is readable a sample later
    assert spec_for(profile, challenge, miners=256).roles.total == 256


def test_spec_validation():
    with pytest.raises(ValueError):
        SignalSpec(roles=RoleMix(informative=7))
    with pytest.raises(ValueError):
        SignalSpec(auc_range=(0.6, 0.55))


@pytest.mark.parametrize("kind, dim, horizon", [("hitfirst", 3, 100), ("lbfgs", 17, 60)])
def test_probability_kinds_share_the_population_and_carry_their_skill(kind, dim, horizon):
    from dataclasses import replace

    from devnet.mantis.signals import _price_path, truth

    base = replace(SPEC, path_horizon=100, gap_rate=0.0)  # a world: one path for its longest horizon
    binary, spec = generate(base), replace(base, kind=kind, dim=dim, horizon=horizon)
    other = generate(spec)
    # One seed, one population: the same hotkeys, roles, informative skills, rows and price path.
    assert other.hotkeys == binary.hotkeys and other.roles == binary.roles
    assert np.array_equal(other.block, binary.block) and np.array_equal(other.price, binary.price)
    roles = np.array(other.roles)
    assert np.array_equal(other.skill[roles != "young"], binary.skill[roles != "young"], equal_nan=True)
    X = other.embeddings
    assert X.shape[2] == dim and np.nanmin(X) > 0 and np.nanmax(X) <= 1
    if kind == "lbfgs":
        assert np.allclose(np.nansum(X[:, :, :5], axis=2)[~np.isnan(X[:, :, 0])], 1, atol=3e-3)
    # Each probability's AUC on its own outcome is the planted skill (the generator's own truth).
    T = round(spec.days * spec.samples_per_day)
    outcome = truth(kind, _price_path(spec, np.random.default_rng(spec.seed), T), T, horizon, spec.vol_per_sample)
    col = int(np.argmin(np.abs((outcome > 0).mean(axis=0) - 0.5)))  # the most balanced event: the tightest AUC
    errors = []
    for j in np.flatnonzero(roles == "informative"):
        f, y = X[:, j, col], outcome[:, col] > 0
        m = ~np.isnan(f)
        errors.append(roc_auc_score(y[m], f[m]) - other.skill[j])
    assert np.max(np.abs(errors)) < 0.04, errors
    skills = other.skill[roles == "informative"]
    assert spearmanr(skills, skills + np.array(errors)).statistic > 0.95  # graded as planted
    for j in np.flatnonzero(roles == "noise"):
        assert abs(roc_auc_score(outcome[:, col] > 0, X[:, j, col]) - 0.5) < 0.04
    for j in np.flatnonzero(roles == "persistent"):  # smooth probabilities that know nothing
        assert all(lag1(X[:, j, d]) > 0.7 for d in range(dim))
    for j in np.flatnonzero(roles == "stale"):  # one probability vector for hours
        assert (X[1:, j] != X[:-1, j]).any(axis=1).mean() <= 0.01
    # A stale miner holds its values for the same hours in every challenge (one stream per miner).
    for j in np.flatnonzero(roles == "stale"):
        changed = lambda v: np.flatnonzero((v[1:] != v[:-1]).any(axis=1))  # noqa: E731
        assert np.array_equal(changed(X[:, j]), changed(binary.embeddings[:, j]))


def test_a_price_key_of_its_own_gets_its_own_path():
    from dataclasses import replace

    eth, btc = generate(SPEC), generate(replace(SPEC, price_key="BTC"))
    assert eth.hotkeys == btc.hotkeys and eth.roles == btc.roles
    assert not np.allclose(eth.price, btc.price)


def lag1(x: np.ndarray) -> float:
    a, b = x[:-1], x[1:]
    both = ~np.isnan(a) & ~np.isnan(b)
    return float(np.corrcoef(a[both], b[both])[0, 1])


def test_the_adversarial_roles_leave_every_other_miner_as_it_was(panel):
    # Without them (and with iid noise) the panel is the generator's before they existed, bit for bit.
    mix = RoleMix(persistent=0, stale=0)
    before = {replace(SPEC, roles=mix): "32442e7a81ce249d62e72df8d9a625942e990d978d45541fd6cc094e8e997373",
              SignalSpec(seed=3, days=2, kind="lbfgs", dim=17, roles=mix):
              "185ff1a8dba1b9236f1521e0f56796b80e3b94105ff301e23964dfee34458689"}
    for spec, digest in before.items():
        assert hashlib.sha256(generate(spec).embeddings.tobytes()).hexdigest() == digest, spec.kind
    # With them, the other miners' roles, values and skills are the same, in the same column order.
    without = generate(replace(SPEC, roles=mix))
    others = [j for j, r in enumerate(panel.roles) if r not in ADVERSARIAL]
    assert [panel.roles[j] for j in others] == list(without.roles)
    assert np.array_equal(panel.embeddings[:, others], without.embeddings, equal_nan=True)
    assert np.array_equal(panel.skill[others], without.skill, equal_nan=True)
    hostile = generate(replace(SPEC, days=1, roles=RoleMix(hostile=3)))
    assert hostile.roles[-3:] == ("hostile",) * 3  # still the last hotkeys


def test_persistent_miners_wander_but_know_nothing(long_panel):
    roles, X = np.array(long_panel.roles), long_panel.embeddings
    h = SPEC.horizon
    log_price = np.log(long_panel.price)
    future = log_price[h:] - log_price[:-h]  # the coming horizon's return, row by row
    corr = []
    for j in np.flatnonzero(roles == "persistent"):
        assert 0.005 < np.isnan(X[:, j, 0]).mean() < 0.02  # missing at the honest rate
        for d in range(X.shape[2]):
            assert 0.75 <= lag1(X[:, j, d]) <= 0.98, (j, d)
            x = X[:-h, j, d]
            m = ~np.isnan(x)
            corr.append(np.corrcoef(x[m], future[m])[0, 1])
    # A 0.97-persistent series against an hour's overlapping returns has ~35× fewer independent rows
    # than samples: one coordinate's correlation spreads ±0.04 around 0, so the mean size is the test.
    assert len(corr) == 2 * SPEC.roles.persistent
    assert np.mean(np.abs(corr)) < 0.05 and np.max(np.abs(corr)) < 0.12 and abs(np.mean(corr)) < 0.03, corr


def test_stale_miners_hold_each_value_for_hours(long_panel):
    roles, X = np.array(long_panel.roles), long_panel.embeddings
    per_hour = SPEC.samples_per_day // 24
    for j in np.flatnonzero(roles == "stale"):
        assert not np.isnan(X[:, j]).any()
        changes = np.flatnonzero((X[1:, j] != X[:-1, j]).any(axis=1)) + 1
        assert 0 < len(changes) <= len(X) / 100
        holds = np.diff(np.concatenate([[0], changes]))  # every hold but the last, cut by the panel's end
        assert holds.min() >= 2 * per_hour and holds.max() <= 8 * per_hour, holds
        assert len(np.unique(X[:, j], axis=0)) == len(changes) + 1  # a new value each time


def test_ar1_noise_for_informative_miners_keeps_their_skill():
    ar = generate(replace(SPEC, days=14, noise_phi=(0.9, 0.9)))
    ok, y = labels(ar)
    roles = np.array(ar.roles)
    errors = []
    for j in np.flatnonzero(roles == "informative"):
        assert lag1(ar.embeddings[:, j, 1]) == pytest.approx(0.9, abs=0.02)  # pure noise feature
        f = ar.embeddings[ok, j, 0]
        m = ~np.isnan(f)
        errors.append(roc_auc_score(y[m], f[m]) - ar.skill[j])
    # Autocorrelated noise leaves the expected AUC alone but spreads its sample value more than iid.
    assert abs(np.mean(errors)) < 0.02 and np.max(np.abs(errors)) < 0.05, errors
    skills = ar.skill[roles == "informative"]
    assert spearmanr(skills, skills + np.array(errors)).statistic > 0.8
    for j in np.flatnonzero(roles == "noise"):  # the worthless roles are untouched
        assert abs(lag1(ar.embeddings[:, j, 0])) < 0.05
    spec = SignalSpec(seed=3, days=3, kind="lbfgs", dim=17, noise_phi=(0.85, 0.95), gap_rate=0.0)
    lbfgs, iid = generate(spec), generate(replace(spec, noise_phi=None))
    for j in np.flatnonzero(np.array(lbfgs.roles) == "informative"):
        assert 0.8 < lag1(lbfgs.embeddings[:, j, 8]) < 0.97 and abs(lag1(iid.embeddings[:, j, 8])) < 0.1
    with pytest.raises(ValueError):
        SignalSpec(noise_phi=(0.9, 1.0))
