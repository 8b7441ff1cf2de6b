"""The planted panels of the cross-sectional challenges (XSEC-RANK, FUNDING-XSEC): the shared population,
per-asset skill against the spec's labels (mantis.md §11.5, §11.6), the roles, the XSEC market and
the funding world, and the devnet world's one price per key."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

import profiles
from devnet.mantis.signals import F16_TINY, SignalSpec, _as_stored_scores, funding_rates, generate, spec_for, xsec_market
from devnet.world import World
from mechanisms.mantis.universe import BREAKOUT_ASSETS, FUNDING_ASSETS, TRADE_MIX_ASSETS, funding_key
from mechanisms.registry import MECHANISMS

# A world's specs: one path horizon (its longest, FUNDING's 480), no missed rows (a row is a sample).
BASE = SignalSpec(seed=3, days=6, path_horizon=480, gap_rate=0.0)
SPECS = {"xsec_rank": replace(BASE, kind="xsec_rank", dim=33, horizon=240, price_key="MULTIXSEC"),
         "funding_xsec": replace(BASE, kind="funding_xsec", dim=20, horizon=480, price_key="FUNDINGXSEC")}
ETH = BREAKOUT_ASSETS.index("ETH")


@pytest.fixture(scope="module")
def panels():
    return {kind: generate(spec) for kind, spec in SPECS.items()} | {"binary": generate(BASE)}


def labels(panel, kind):
    """(rows with a label, y (rows, A)) as the scorers label: XSEC by a 240-row offset on the return,
    FUNDING by pairing each sample with the one 480 samples later, on the rate's change; 1 above the
    cross-sectional median."""
    if kind == "xsec_rank":
        change = panel.price[240:] / panel.price[:-240] - 1
    else:
        sidx = panel.sidx()
        later = np.searchsorted(sidx, sidx + 480)
        assert np.array_equal(sidx[later[later < len(sidx)]], sidx[: (later < len(sidx)).sum()] + 480)
        change = panel.price[later[later < len(sidx)]] - panel.price[: (later < len(sidx)).sum()]
    return len(change), (change > np.median(change, axis=1, keepdims=True)).astype(int)


def auc(y: np.ndarray, f: np.ndarray) -> float:
    """ROC AUC of scores f on labels y (ties count a half), by ranks."""
    pos = y == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return float((rankdata(f)[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def per_asset_auc(panel, kind, j) -> np.ndarray:
    """Miner j's AUC on each asset's label, over the rows where it gave that asset a value."""
    n, y = labels(panel, kind)
    X = panel.embeddings[:n, j]
    out = []
    for a in range(X.shape[1]):
        m = ~np.isnan(X[:, a]) & (X[:, a] != 0)
        out.append(auc(y[m, a], X[m, a]))
    return np.array(out)


def test_spec_for_the_cross_sectional_challenges():
    p = cross_profile()
    xs, fu = spec_for(p, p.challenge("XSEC-RANK")), spec_for(p, p.challenge("FUNDING-XSEC"))
    assert (xs.kind, xs.dim, xs.horizon, xs.copy_lag) == ("xsec_rank", 33, 240, 240)
    assert (fu.kind, fu.dim, fu.horizon, fu.copy_lag) == ("funding_xsec", 20, 480, 480)
    with pytest.raises(ValueError):
        generate(replace(xs, dim=20, days=1))


@pytest.mark.parametrize("kind", list(SPECS))
def test_one_population_and_the_shapes(panels, kind):
    p, binary = panels[kind], panels["binary"]
    A = SPECS[kind].dim
    T = round(BASE.days * BASE.samples_per_day)
    assert p.hotkeys == binary.hotkeys and p.roles == binary.roles and np.array_equal(p.block, binary.block)
    roles = np.array(p.roles)
    assert np.array_equal(p.skill[roles != "young"], binary.skill[roles != "young"], equal_nan=True)
    assert p.price.shape == (T, A) and p.embeddings.shape == (T, len(p.hotkeys), A)
    assert p.embeddings.dtype == np.float32 and p.price.dtype == np.float64
    X = p.embeddings
    assert np.nanmin(X) >= -1 and np.nanmax(X) <= 1
    assert np.array_equal(X.astype(np.float16).astype(np.float32), X, equal_nan=True)  # what the ledger stores
    assert (np.isnan(X).any(axis=2) == np.isnan(X).all(axis=2)).all()  # a miner's row is there whole, or not


@pytest.mark.parametrize("kind", list(SPECS))
def test_informative_miners_have_their_planted_skill_on_every_asset(panels, kind):
    p = panels[kind]
    roles = np.array(p.roles)
    planted, measured = [], []
    for j in np.flatnonzero(np.isin(roles, ("informative", "twin"))):
        aucs = per_asset_auc(p, kind, j)
        assert np.max(np.abs(aucs - p.skill[j])) < 0.04, (j, p.skill[j], aucs)
        planted.append(p.skill[j])
        measured.append(aucs.mean())
    assert np.max(np.abs(np.array(measured) - planted)) < 0.01, np.array(measured) - planted
    assert spearmanr(planted, measured).statistic > 0.95
    n, y = labels(p, kind)

    def pooled(j: int) -> float:  # over every (sample, asset) with a value, as the scorers pool
        x = p.embeddings[:n, j].ravel()
        m = ~np.isnan(x) & (x != 0)
        return auc(y.ravel()[m], x[m])

    for j in np.flatnonzero(np.isin(roles, ("noise", "persistent"))):
        assert abs(pooled(j) - 0.5) < 0.02, (roles[j], pooled(j))
        assert abs(per_asset_auc(p, kind, j).mean() - 0.5) < 0.02
    for j in np.flatnonzero(roles == "constant"):  # one value per asset for ever: no asset's rows ranked
        assert np.all(per_asset_auc(p, kind, j) == 0.5)


@pytest.mark.parametrize("kind", list(SPECS))
def test_honest_values_are_never_zero_but_a_few_assets_are_left_out(panels, kind):
    p = panels[kind]
    roles, X = np.array(p.roles), p.embeddings
    source = p.hotkeys.index(p.sources[p.roles.index("clone")])
    for j in np.flatnonzero(roles == "informative"):
        there = ~np.isnan(X[:, j, 0])
        assert 0.005 < 1 - there.mean() < 0.02  # missing samples: the whole row
        assert 0.015 < (X[there, j] == 0).mean() < 0.025  # cells left out: "no value" (§9)
        assert np.std(X[there, j], axis=0).min() > 0.2  # far above FUNDING's stale filter (1e-4)
    for j in np.flatnonzero(roles == "clone"):  # a near copy, leaving out what its source leaves out
        both = ~np.isnan(X[:, j, 0]) & ~np.isnan(X[:, source, 0])
        assert np.array_equal(X[both, j] == 0, X[both, source] == 0)
        assert np.max(np.abs(X[both, j] - X[both, source])) < 1e-3
    for j in np.flatnonzero(np.isin(roles, ("noise", "persistent", "stale", "constant"))):
        assert not (X[:, j] == 0).any()
    for j in np.flatnonzero(roles == "constant"):  # what FUNDING's stale filter zeroes
        assert (X[:, j] == X[0, j]).all()
    for j in np.flatnonzero(roles == "stale"):  # one vector held for hours
        changes = np.flatnonzero((X[1:, j] != X[:-1, j]).any(axis=1)) + 1
        assert np.diff(changes).min() >= 120 and 0 < len(changes) <= len(X) / 100
    best = p.hotkeys.index(p.sources[p.roles.index("copycat")])
    lag = SPECS[kind].copy_lag
    for j in np.flatnonzero(roles == "copycat"):
        assert np.array_equal(X[lag:, j], X[:-lag, best], equal_nan=True)
    assert np.isnan(X[:, roles == "silent"]).all()


def test_stored_scores_round_as_float16_and_never_to_zero():
    a = np.array([0.3, -0.7, 1e-9, -1e-9, 0.0, np.nan, 2.5, -3.0, 1e-5, 3 * 2.0**-25], dtype=np.float32)
    want = np.clip(a, -1, 1).astype(np.float16).astype(np.float32)
    want[2:4] = [F16_TINY, -F16_TINY]
    _as_stored_scores(a)
    assert np.array_equal(a, want, equal_nan=True)
    x = np.random.default_rng(0).normal(0, 0.3, 100_000).astype(np.float32)
    x[::7] *= 1e-4  # float16's subnormal range too
    want = np.clip(x, -1, 1).astype(np.float16).astype(np.float32)
    lost = want == 0
    assert lost.sum() > 3
    want[lost] = np.copysign(F16_TINY, x[lost])
    _as_stored_scores(x)
    assert np.array_equal(x, want)


def test_the_xsec_market(panels):
    p = panels["xsec_rank"]
    assert np.array_equal(p.price[:, ETH], panels["binary"].price)  # the seed's ETH path, bit for bit
    r = np.diff(np.log(p.price), axis=0)
    assert np.allclose(r.std(axis=0), BASE.vol_per_sample, rtol=0.05)  # every asset: ETH's vol
    corr = np.corrcoef(r.T)[np.triu_indices(33, 1)]
    assert corr.min() > 0 and 0.2 < corr.mean() < 0.6  # a market factor; sectors spread the pairs
    assert np.corrcoef(r.T)[ETH].mean() > corr.mean()  # ETH is the market factor
    market = xsec_market(SPECS["xsec_rank"])
    assert market.shape == (len(p.block) + 480 + 1, 33)
    assert np.array_equal(generate(replace(SPECS["xsec_rank"], days=1), xsec_market(replace(BASE, days=1))).price,
                          generate(replace(SPECS["xsec_rank"], days=1)).price)


def test_funding_rates_settle_every_eight_hours(panels):
    p = panels["funding_xsec"]
    sidx = p.sidx()
    changed = np.flatnonzero((p.price[1:] != p.price[:-1]).any(axis=1)) + 1
    assert len(changed) == len(sidx) // 480 and np.all(sidx[changed] % 480 == 0)
    assert (p.price[changed] != p.price[changed - 1]).all()  # every asset gets a new rate
    assert 0.5e-4 < p.price.mean() < 1.5e-4 and 3e-5 < p.price.std() < 1.5e-4
    f = funding_rates(SPECS["funding_xsec"])
    assert f.shape == (len(sidx) + 481, 20) and np.array_equal(f[: len(sidx)], p.price)
    n, y = labels(p, "funding_xsec")
    first = changed[0]  # a label over one period is the next settlement's change
    nxt = p.price[first] - p.price[first - 1]
    assert np.array_equal(y[0], (nxt > np.median(nxt)).astype(int)) and y.mean() == 0.5


def cross_profile(**devnet) -> profiles.Profile:
    """The devnet profile (it holds XSEC-RANK and FUNDING-XSEC) with devnet settings overridden."""
    d = profiles.load().model_dump(mode="json")
    assert {"XSEC-RANK", "FUNDING-XSEC"} <= {c["name"] for c in d["challenges"]}
    d["devnet"] |= devnet
    return profiles.Profile.model_validate(d)


def test_the_world_has_one_price_per_key():
    short = {"bootstrap_days": 1.0, "live_days": 0.5}
    world = World(cross_profile(**short))
    base = profiles.load()
    plain = World(base.model_copy(update={  # the same world without the cross-sectional challenges
        "devnet": base.devnet.model_copy(update=short),
        "challenges": tuple(c for c in base.challenges if not (c.mantis and MECHANISMS[c.mechanism].assets))}))
    xs, fu, eth = (world.panels[n] for n in ("XSEC-RANK", "FUNDING-XSEC", "ETH-1H-BINARY"))
    assert xs.embeddings.shape[1:] == (len(world.panel.hotkeys), 33) and fu.price.shape[1] == 20
    # The XSEC market is the source of ETH's path, which is the seed's ETH path: the plain world's.
    assert np.array_equal(eth.price, xs.price[:, ETH])
    assert np.array_equal(eth.price, plain.panels["ETH-1H-BINARY"].price)
    for row in (0, 700, len(eth.block) - 1):
        prices = world.prices(row)
        keys = {k for c in world.profile.mantis_challenges for k in c.price_keys}
        assert set(prices) == keys == {"ETH", *BREAKOUT_ASSETS, *map(funding_key, FUNDING_ASSETS)}
        assert prices["ETH"] == eth.price[row] == xs.price[row, ETH]
        assert [prices[a] for a in BREAKOUT_ASSETS] == xs.price[row].tolist()
        assert [prices[funding_key(a)] for a in FUNDING_ASSETS] == fu.price[row].tolist()
        assert plain.prices(row) == {"ETH": float(plain.panels["ETH-1H-BINARY"].price[row])}
    # MULTI-BREAKOUT's events and TRADE-MIX's books read the same market: XSEC's columns, to the bit
    breakout, trade = world.panels["MULTI-BREAKOUT"], world.panels["TRADE-MIX"]
    assert np.array_equal(breakout.price, xs.price)
    assert np.array_equal(trade.price, xs.price[:, [BREAKOUT_ASSETS.index(a) for a in TRADE_MIX_ASSETS]])


def test_ar1_noise_keeps_the_skill():
    spec = replace(SPECS["xsec_rank"], days=4, noise_phi=(0.9, 0.9))
    p = generate(spec)
    for j in np.flatnonzero(np.array(p.roles) == "informative")[:6]:
        x = p.embeddings[:, j, 5]
        both = ~np.isnan(x[1:]) & ~np.isnan(x[:-1]) & (x[1:] != 0) & (x[:-1] != 0)
        assert np.corrcoef(x[1:][both], x[:-1][both])[0, 1] > 0.8  # the noise wanders
        assert abs(per_asset_auc(p, "xsec_rank", j).mean() - p.skill[j]) < 0.02
