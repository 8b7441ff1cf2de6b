"""Profile files: the default loads; every kind of mistake is refused with its location."""

import dataclasses

import numpy as np
import pytest

import profiles
from mechanisms.mantis.universe import BREAKOUT_ASSETS, FUNDING_ASSETS
from mechanisms.mantis.panel import Panel
from mechanisms.registry import MECHANISMS
from profiles import ProfileError

DEVNET = (profiles.DIRECTORY / "devnet.yaml").read_text()


def write(tmp_path, text: str):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_default_profile_loads():
    p = profiles.load()
    assert p.name == "devnet" and p.chain.tempo == 360
    c = p.challenge("ETH-1H-BINARY")
    assert c is p.challenge("ETH") and c.mechanism == "binary" and c.mode == "fixed"
    assert p.ema_alpha == pytest.approx(1 - 0.7 ** 0.36)
    assert p.lock_seconds(c) == 3600 and p.horizon_samples(c) == 60


def test_environment_variable_selects_the_profile(tmp_path, monkeypatch):
    monkeypatch.setenv(profiles.ENV, str(write(tmp_path, DEVNET.replace("name: devnet", "name: mine"))))
    assert profiles.load().name == "mine"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  tempo: 360", "  tempo: 0", "chain.tempo"),
        ("  tempo: 360", "  tempo: 360\n  tempi: 5", "chain.tempi"),
        ("    mechanism: binary", "    mechanism: quantum", "unknown mechanism 'quantum'"),
        ("    params: {}", "    params: {C: 5}", "unknown binary parameters: C"),
        ("    params: {}", "    params: {ahead: 60}", "ahead comes from the profile; set the challenge's mantis.horizon_blocks"),
        ("      horizon_blocks: 300", "      horizon_blocks: 302", "horizon_blocks 302 is not a whole number of samples"),
        ("  sample_every: 5", "  sample_every: 7", "horizon_blocks 300 is not a whole number of samples"),
        ("    weight: 1.0", "    weight: -1", "challenges.0.weight"),
        ("    mode: fixed", "    mode: strict", "challenges.0.mode"),
        ("  owner_pk: fbfe", "  owner_pk: zzfe", "protocol.owner_pk"),
        ("  lock_rule: horizon", "  lock_rule: never", "protocol.lock_rule"),
        ("  auc_range: [0.51, 0.60]", "  auc_range: [0.6, 0.51]", "auc_range"),
        ("informative: 24", "informative: 3", "devnet.roles.informative"),
        ("  burn_share: 0.35", "  burn_share: 1.5", "weights.burn_share"),
        ("  payload_hosts: [.r2.dev,", "  payload_hosts: [evil.example/x,", "payload_hosts"),
        ("  round_deadline_blocks: 2880", "  round_deadline_blocks: 2699", "longest horizon plus maturity_blocks (2700)"),
        ("    mantis:  ", "    other:  ", "challenges.0.other"),
        ("      ticker: ETH\n", "", "challenges.0.mantis.ticker"),
    ],
)
def test_invalid_profiles_name_the_problem(tmp_path, old, new, message):
    assert old in DEVNET
    with pytest.raises(ProfileError, match="invalid profile") as exc:
        profiles.load(write(tmp_path, DEVNET.replace(old, new, 1)))
    assert message in str(exc.value)


def test_duplicate_challenges_are_refused(tmp_path):
    block = DEVNET[DEVNET.index("  - name: ETH-1H-BINARY"):DEVNET.index("vesting:")]
    text = DEVNET.replace(block, block + block)
    with pytest.raises(ProfileError, match="unique"):
        profiles.load(write(tmp_path, text))


@pytest.mark.parametrize("text", ["- a list", "name: [unclosed", ""])
def test_unreadable_profiles(tmp_path, text):
    with pytest.raises(ProfileError):
        profiles.load(write(tmp_path, text))


def test_missing_file():
    with pytest.raises(ProfileError, match="cannot read"):
        profiles.load("/nonexistent/profile.yaml")


def test_unknown_challenge_lists_the_known_ones():
    with pytest.raises(KeyError, match="ETH-1H-BINARY"):
        profiles.load().challenge("BTC")


def test_lock_rules_per_challenge_mode(tmp_path):
    fixed = profiles.load()
    c = fixed.challenges[0]
    assert fixed.uses_horizon_lock(c) and fixed.round_deadline_seconds() == 2880 * 12.0
    compat = profiles.load(write(tmp_path, DEVNET.replace("    mode: fixed", "    mode: compat")))
    assert not compat.uses_horizon_lock(compat.challenges[0])
    assert compat.lock_seconds(compat.challenges[0]) == 30.0 and compat.maturity_seconds() == 300 * 12.0
    reference = profiles.load(write(tmp_path, DEVNET.replace("lock_rule: horizon", "lock_rule: reference")))
    assert not reference.uses_horizon_lock(reference.challenges[0])


@pytest.mark.parametrize(("horizon", "every", "ahead"), [(300, 5, 60), (600, 5, 120), (600, 10, 60)])
def test_binary_labels_use_the_profiles_horizon(tmp_path, monkeypatch, horizon, every, ahead):
    """BINARY's label horizon is the challenge's horizon_blocks in samples, the same time the lock
    rule waits: change one and the other follows."""
    text = DEVNET.replace("horizon_blocks: 300", f"horizon_blocks: {horizon}", 1)
    p = profiles.load(write(tmp_path, text.replace("sample_every: 5", f"sample_every: {every}", 1)))
    c = p.challenges[0]
    got = []
    binary = MECHANISMS["binary"]
    monkeypatch.setitem(MECHANISMS, "binary", dataclasses.replace(binary, scorer=lambda *a: got.append(a[-1]) or {}))
    panel = Panel(("a",), every * np.arange(10), np.ones(10), np.zeros((10, 1, 2), dtype=np.float32))
    MECHANISMS[c.mechanism].score(panel, c.mode, c.params, sample_every=p.chain.sample_every,
                                  horizon_blocks=c.mantis.horizon_blocks)
    assert got[0].ahead == p.horizon_samples(c) == ahead
    assert p.lock_seconds(c) == ahead * every * p.chain.block_time
    with pytest.raises(ValueError, match="ahead"):
        binary.make_params({"ahead": ahead}, ahead=ahead)  # even an agreeing override: one source only


def test_a_challenge_carries_exactly_its_familys_settings():
    from profiles.schema import Challenge
    with pytest.raises(ValueError, match="needs its mantis settings"):
        Challenge(name="X", mechanism="binary", weight=1.0)
    c = Challenge(name="X", mechanism="binary", weight=1.0, mantis={"ticker": "X", "dim": 2, "horizon_blocks": 300})
    assert c.mantis.dim == 2 and profiles.load().mantis_challenges == profiles.load().challenges[:7]
    with pytest.raises(ValueError, match="almanac family; mantis settings do not apply"):
        Challenge(name="A", mechanism="almanac", weight=1.0, almanac={}, mantis={"ticker": "X", "dim": 2,
                                                                             "horizon_blocks": 300})
    assert Challenge(name="A", mechanism="almanac", weight=1.0, almanac={}).almanac.variant == "head"


def test_the_devnet_trader_roles_are_the_generators():
    from devnet.almanac.trades import TraderMix
    from profiles.schema import TRADER_ROLES

    assert TRADER_ROLES == tuple(f.name for f in dataclasses.fields(TraderMix))
    with pytest.raises(ValueError, match="unknown trader roles: genius"):
        profiles.schema.Market(miners={"genius": 3})


def test_the_live_mantis_profile_has_all_twelve_challenges_in_reference_order():
    live = profiles.load("mantis.yaml")
    assert (live.chain.network, live.chain.netuid, live.name) == ("finney", 123, "mantis")
    assert (live.weights.burn_uid, live.weights.burn_share) == (0, 0.35)
    assert live.protocol.owner_pk == "fbfe185ded7a4e6865effceb23cbac32894170587674e751ac237a06f72b3067"
    assert (live.sources.payloads, live.sources.prices, live.sources.drand) == ("http", "http", "http")
    # mantis.md §8: name, ticker, price key, dim, horizon, mechanism, weight; the order is the reference's.
    assert [(c.name, c.mantis.ticker, c.mantis.price, c.mantis.dim, c.mantis.horizon_blocks, c.mechanism, c.weight)
            for c in live.challenges] == [
        ("ETH-1H-BINARY", "ETH", "ETH", 2, 300, "binary", 1.0),
        ("ETH-HITFIRST-100M", "ETHHITFIRST", "ETH", 3, 500, "hitfirst", 1.25),
        ("ETH-LBFGS", "ETHLBFGS", "ETH", 17, 300, "lbfgs", 3.5),
        ("BTC-LBFGS-6H", "BTCLBFGS", "BTC", 17, 1800, "lbfgs", 2.875),
        ("CADUSD-1H-BINARY", "CADUSD", "CADUSD", 2, 300, "binary", 0.5),
        ("NZDUSD-1H-BINARY", "NZDUSD", "NZDUSD", 2, 300, "binary", 0.5),
        ("CHFUSD-1H-BINARY", "CHFUSD", "CHFUSD", 2, 300, "binary", 1.0),
        ("XAGUSD-1H-BINARY", "XAGUSD", "XAGUSD", 2, 300, "binary", 1.0),
        ("MULTI-BREAKOUT", "MULTIBREAKOUT", "MULTIBREAKOUT", 66, 1200, "range_breakout_multi", 5.0),
        ("XSEC-RANK", "MULTIXSEC", "MULTIXSEC", 33, 1200, "xsec_rank", 3.0),
        ("FUNDING-XSEC", "FUNDINGXSEC", "FUNDINGXSEC", 20, 2400, "funding_xsec", 4.0),
        ("TRADE-MIX", "TRADEMIX", "TRADEMIX", 4, 300, "trade_mix", 2.625),
    ]
    # TRADE-MIX is 10 % of the total weight (§8: 0.1 · 23.625 / 0.9), and the pool shares are §8's
    total = sum(c.weight for c in live.challenges)
    assert total == 26.25 and live.challenge("TRADE-MIX").weight / total == pytest.approx(0.10, abs=1e-12)
    assert round(100 * live.challenge("MULTI-BREAKOUT").weight / total, 2) == 19.05
    # the multi-asset challenges read one price per asset: the 33 breakout assets (MULTI-BREAKOUT's
    # events replay XSEC's prices), the 20 funding rates, TRADE-MIX's four
    breakout, xsec, funding, trade = live.challenges[-4:]
    assert breakout.price_keys == xsec.price_keys == BREAKOUT_ASSETS
    assert funding.price_keys == tuple(f"funding:{a}" for a in FUNDING_ASSETS)
    assert trade.price_keys == ("BTC", "ETH", "TAO", "SOL")
    assert live.price_layout() == (("ETH", "BTC", "CADUSD", "NZDUSD", "CHFUSD", "XAGUSD"),
                                   (xsec.price_keys, funding.price_keys, trade.price_keys))
    # Compat everywhere, under the reference's lock rule: a 30 s lock counts, rounds wait the maturity.
    assert {c.mode for c in live.challenges} == {"compat"} and live.protocol.lock_rule == "reference"
    assert live.earliest_lock_seconds() is None and live.latest_lock_blocks() == live.protocol.maturity_blocks == 300
    assert [f.rule for f in live.challenge_formats()] == (["signed", "signed", "lbfgs", "lbfgs"] + ["signed"] * 4
                                                          + ["pairs", "object", "object", "object"])


def test_fixed_mode_rules_apply_only_to_fixed_challenges(tmp_path):
    """A BTC-LBFGS horizon (1800 blocks) needs a longer round deadline only under the horizon lock rule."""
    text = (profiles.DIRECTORY / "mantis.yaml").read_text()
    assert profiles.load(write(tmp_path, text)).protocol.round_deadline_blocks == 1200  # compat: fine
    btc = "    mode: compat\n    mantis: {ticker: BTCLBFGS"
    assert btc in text
    fixed = text.replace("lock_rule: reference", "lock_rule: horizon").replace(btc, btc.replace("compat", "fixed"))
    with pytest.raises(ProfileError, match=r"longest horizon plus maturity_blocks \(2100\)"):
        profiles.load(write(tmp_path, fixed))


def test_the_live_mantis_profile_definitions_load(tmp_path):
    """The real CLI loads the platform's Definitions under mantis.yaml: assets, partitions, jobs."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "INCENTIVE_LEDGER_URL"}
    env |= {profiles.ENV: str(profiles.DIRECTORY / "mantis.yaml"), "DAGSTER_HOME": str(tmp_path),
            "INCENTIVE_HOME": str(tmp_path / "home")}
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    done = subprocess.run([dagster, "definitions", "validate", "-m", "orchestration.definitions"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    probe = ("from orchestration.definitions import defs; from assets.partitions import EPOCH_X_MANTIS; "
             "print(sorted(defs.resolve_asset_graph().get_all_asset_keys()).__len__()); "
             "print(','.join(EPOCH_X_MANTIS.get_partitions_def_for_dimension('challenge').get_partition_keys()))")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    count, challenges = out.stdout.split()
    assert int(count) >= 8 and challenges.split(",") == [c.name for c in profiles.load("mantis.yaml").challenges]
