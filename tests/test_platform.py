"""The platform end to end on the devnet: `incentive run` through a real instance, then reruns and commands.

One module-scoped run (two live epochs, as `make run` does) feeds every test here.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import spearmanr

import profiles
from assets.almanac import budget_of, params_of, record_days, snapshot_of, uid_table
from assets.epochs import EpochBlocks
from devnet.mantis.miners import HOSTILITIES, hostility
from devnet.world import World
from ledger import Ledger
from mechanisms.weights import BURN_KEY, within_limit

pytestmark = [pytest.mark.slow, pytest.mark.integration]
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORTHLESS = ("noise", "constant", "copycat", "persistent", "stale", "malformed", "silent", "hostile")


def run_cli(platform, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(list(argv), env=platform.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (argv, done.stderr[-4000:])
    return done


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    home = tmp_path_factory.mktemp("platform")
    dagster_home = home / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").symlink_to(ROOT / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k not in (profiles.ENV, "INCENTIVE_LEDGER_URL")}
    env |= {"DAGSTER_HOME": str(dagster_home), "INCENTIVE_HOME": str(home / "incentive"),
            "PATH": f"{BIN}:{env.get('PATH', '')}"}
    p = SimpleNamespace(env=env, home=home / "incentive")
    p.run = run_cli(p, str(BIN / "incentive"), "run", timeout=900)
    p.ledger = Ledger(f"sqlite:///{p.home}/ledger.sqlite")
    p.world = World(profiles.load())
    p.epochs = sorted({s.epoch for s in p.ledger.submissions()})
    return p


def artifact(platform, *path: str):
    return json.loads(Path(platform.home, "artifacts", *path).with_suffix(".json").read_text())


def test_run_prints_every_neuron_with_role_and_weight(platform):
    lines = [line for line in platform.run.stdout.splitlines() if line[:4].strip().isdigit()]
    assert len(lines) == len(platform.world.neurons())
    # uid, hotkey, planted role, weight, u16 sent, vesting m, stake behaviour
    assert abs(sum(float(line.split()[-4]) for line in lines) - 1) < 1e-3
    stored = platform.ledger.weights(platform.epochs[-1])
    assert {int(line.split()[0]): int(line.split()[-3]) for line in lines} == dict(zip(stored.uids, stored.u16))
    assert [float(line.split()[-2]) for line in lines] == [round(m, 4) for _, m in sorted(
        zip(stored.weights, stored.meta["multipliers"]), key=lambda x: -x[0])]
    assert "m (applied)" in platform.run.stdout
    assert "make ui" in platform.run.stdout
    top = lines[0].split()
    assert top[0] == "0" and top[2] == "owner"  # the burn share is the largest single weight


def test_two_epochs_submitted_on_the_devnet_chain(platform):
    assert len(platform.epochs) == 2 and platform.epochs[1] == platform.epochs[0] + 1
    validator = platform.world.validator.ss58_address
    recorded = platform.ledger.devnet_weights(validator)
    assert len(recorded) == 2 and recorded[0]["block"] < recorded[1]["block"]
    burn_uid, burn_share = platform.world.profile.weights.burn_uid, platform.world.profile.weights.burn_share
    for epoch, on_chain in zip(platform.epochs, recorded):
        (submission,) = platform.ledger.submissions(epoch)
        stored = platform.ledger.weights(epoch)
        sent = [(u, q) for u, q in zip(stored.uids, stored.u16) if q > 0]
        assert submission.sent and submission.hotkey == validator
        # The u16 the chain holds are the stored ones, under a max_weight_limit that binds the burn.
        assert list(zip(submission.uids, submission.weights)) == sent
        assert list(zip(on_chain["uids"], on_chain["weights"])) == sent
        limit = platform.ledger.chain_params(stored.block).max_weight_limit
        assert limit == platform.world.profile.devnet.max_weight_limit < 65535 and within_limit(stored.u16, limit)
        burn_sent = dict(sent)[burn_uid] / sum(q for _, q in sent)
        # the platform's burn share, and what the Almanac challenge burns (unearned budget, general pool)
        assert burn_sent <= limit / 65535 < burn_share < stored.weights[stored.uids.index(burn_uid)]


def test_vesting_scales_the_aggregated_scores_by_its_factors_only(platform):
    """The epoch's scores with vesting are the vesting-off scores times m and the stake gate, renormalised
    (§5, V8); the planted behaviours come through: holders at the top tier, sellers below."""
    from assets.weights import _vesting
    from mechanisms.weights import aggregate_challenges

    world, epoch = platform.world, platform.epochs[-1]
    profile, key = world.profile, f"{epoch:08d}"
    saliences = {c.name: artifact(platform, "almanac" if c.almanac else "mantis", "salience", f"{c.name}__{key}")
                 for c in profile.challenges}
    scores = aggregate_challenges(saliences, {c.name: c.weight for c in profile.challenges})
    with_vesting, report = _vesting(platform.ledger, profile, epoch, scores)
    off, none = _vesting(platform.ledger, profile.model_copy(update={"vesting": profile.vesting.model_copy(
        update={"enabled": False})}), epoch, scores)
    shadow, _ = _vesting(platform.ledger, profile.model_copy(update={"vesting": profile.vesting.model_copy(
        update={"shadow": True})}), epoch, scores)
    assert none is None and off == scores == shadow  # off and shadow leave the scores as they are
    factors = platform.ledger.vesting_epoch(epoch).factors
    factor = {k: (factors[k]["m"] if factors[k]["qualified"] else 0.0) if k in factors else 1.0 for k in scores}
    ratios = {k: with_vesting[k] / (v * factor[k]) for k, v in scores.items() if v > 0 and factor[k] > 0}
    assert len(ratios) > 20 and max(ratios.values()) == pytest.approx(min(ratios.values()), rel=1e-12)
    assert all(with_vesting[k] == 0 for k in scores if factor[k] == 0)  # the gate's exclusions get nothing
    assert report["vesting"] == "applied" and platform.ledger.weights(epoch).meta["vesting"] == "applied"
    by = {}
    for hk, f in factors.items():
        by.setdefault(world.stake.behaviour_of(hk), []).append(f["m"])
    assert set(by["holder"]) == {1.5} and max(by["seller_all"]) < min(by["holder"])


# TRADE-MIX's devnet windows are scaled by about a quarter (its 16 days hold less than the reference's
# 288 hours and 504 of probation), where 24 traders of modest skill are not told apart reliably: its
# quality is judged at the reference's windows (`python -m benchmarks quality-full`); here, that the
# pipeline pays no worthless miner and burns what it does not pay.
SCALED = ("TRADE-MIX",)


@pytest.mark.parametrize("challenge", [c.name for c in profiles.load().mantis_challenges if c.name not in SCALED])
def test_quality_holds_through_the_pipeline(platform, challenge):
    world, key = platform.world, f"{platform.epochs[-1]:08d}"
    salience = artifact(platform, "mantis", "salience", f"{challenge}__{key}")
    roles = {m.hotkey: m for m in world.miners}
    panel = world.panels[challenge]
    skill = dict(zip(panel.hotkeys, panel.skill))  # the challenge's own planted skill
    source = next(m.source for m in world.miners if m.role == "clone")
    honest = [h for h, m in roles.items() if m.role == "informative" and h != source]
    rho = spearmanr([skill[h] for h in honest], [salience.get(h, 0) for h in honest]).statistic
    assert rho >= 0.8
    assert sum(v for h, v in salience.items() if roles[h].role in WORTHLESS) <= 0.05
    top = sorted(salience, key=lambda h: -salience[h])[: len(salience) // 4]
    assert not [h for h in top if roles[h].role in WORTHLESS]
    group = salience.get(source, 0) + sum(v for h, v in salience.items() if roles[h].role == "clone")
    twin = sum(v for h, v in salience.items() if roles[h].role == "twin")
    assert group <= 1.1 * twin


def test_trade_mix_pays_no_worthless_miner_and_burns_the_rest(platform):
    world, key = platform.world, f"{platform.epochs[-1]:08d}"
    salience = artifact(platform, "mantis", "salience", f"TRADE-MIX__{key}")
    roles = {m.hotkey: m.role for m in world.miners}
    assert 0 < salience[BURN_KEY] < 1 and math.fsum(salience.values()) == pytest.approx(1.0, abs=1e-12)
    paid = {roles[h] for h, v in salience.items() if h != BURN_KEY and v > 0}
    assert "informative" in paid and not paid & set(WORTHLESS), paid


def test_young_miners_get_the_young_weight_whatever_they_score(platform):
    """The young-uid rule, exactly: a young miner's new weight is young_weight·(1 − burn_share)
    whatever its score, then blended with its previous weight (EMA) and renormalised."""
    roles = {m.hotkey: m for m in platform.world.miners}
    rules = platform.world.profile.weights
    alpha, fresh = platform.world.profile.ema_alpha, rules.young_weight * (1 - rules.burn_share)
    for epoch in platform.epochs:
        weights, before = platform.ledger.weights(epoch), platform.ledger.latest_weights_before(epoch)
        old = dict(zip(before.hotkeys, before.weights)) if before else {}
        total = alpha + (1 - alpha) * math.fsum(old.get(h, 0.0) for h in weights.hotkeys) if before else 1.0
        young = {h: w for h, w in zip(weights.hotkeys, weights.weights) if h in roles and roles[h].role == "young"}
        assert young
        for hotkey, w in young.items():
            expected = (alpha * fresh + (1 - alpha) * old.get(hotkey, 0.0)) / total if before else fresh
            assert w == pytest.approx(expected, rel=1e-9), hotkey


def test_hostile_miners_cost_only_themselves_and_hold_no_epoch_back(platform):
    """One miner per attack on the validator: each meets its refusal in every sample, every other
    miner's stored vectors are its planted ones (what the world without them gives), and each epoch
    waited for its rounds no longer than the challenges' horizons plus the margin."""
    world, store, profile = platform.world, platform.ledger, platform.world.profile
    hostile = {m.hotkey: hostility(world, m.hotkey) for m in world.miners if m.role == "hostile"}
    assert set(hostile.values()) == set(HOSTILITIES)
    beacon = world.beacon.chain
    for epoch in platform.epochs:
        rng = EpochBlocks.of(epoch, profile).sidx_range
        sidx, hotkeys, values = store.embeddings(world.challenge.name, rng.start, rng.stop)
        rows = [world.row(int(s)) for s in sidx]
        others = [m.hotkey for m in world.miners if m.hotkey not in hostile
                  and not np.isnan(world.panel.embeddings[rows, world.panel.hotkeys.index(m.hotkey)]).all()]
        assert set(others) <= set(hotkeys)
        for j, hotkey in enumerate(hotkeys):
            if hotkey not in hostile:
                planted = world.panel.embeddings[rows, world.panel.hotkeys.index(hotkey)]
                assert np.array_equal(values[:, j], planted, equal_nan=True), hotkey
        for hotkey, kind in hostile.items():
            payloads = store.raw_payloads(rng.start, rng.stop, hotkey=hotkey)
            refused = {r.sidx: r.reason for r in store.rejections(rng.start, rng.stop, hotkey=hotkey)}
            outcomes = {refused.get(p.sidx, None) if p.status == "fetched" else p.status for p in payloads}
            assert len(payloads) == len(sidx) and outcomes == {HOSTILITIES[kind]}, (kind, outcomes)
        taken = {s.sidx: s.taken_at for s in store.samples(rng.start, rng.stop)}
        waits = [beacon.reveal_time(r) - taken[s] for s, rounds in store.payload_rounds(rng.start, rng.stop).items()
                 for r in rounds]
        assert profile.lock_seconds(world.challenge) < max(waits) <= profile.latest_lock_seconds()
        assert store.weights(epoch) is not None


def test_rerun_of_an_epoch_from_the_ledger_reproduces_its_u16(platform):
    """After a later epoch exists, re-materialise the first one with the operator CLI."""
    epoch = platform.epochs[0]
    key = f"{epoch:08d}"
    stored = platform.ledger.weights(epoch)
    challenges = [c.name for c in platform.world.profile.mantis_challenges]
    before = {c: artifact(platform, "mantis", "salience", f"{c}__{key}") for c in challenges}
    assert all(before.values())  # every MANTIS challenge paid someone
    dagster = str(BIN / "dagster")
    module = ["-m", "orchestration.definitions"]
    run_cli(platform, dagster, "asset", "materialize", *module, "--select", "embeddings,panels", "--partition", key)
    for challenge in challenges:  # each mechanism end to end: the same ledger gives the same salience
        run_cli(platform, dagster, "asset", "materialize", *module, "--select", "mantis/salience",
                "--partition", f"{challenge}|{key}")
        assert artifact(platform, "mantis", "salience", f"{challenge}__{key}") == before[challenge], challenge
    run_cli(platform, dagster, "asset", "materialize", *module, "--select", "final_weights", "--partition", key)
    rerun = artifact(platform, "final_weights", key)
    assert rerun["u16"] == list(stored.u16) and rerun["uids"] == list(stored.uids)
    assert len(platform.ledger.submissions(epoch)) == 1  # the submission was not selected: not resent


def test_operator_commands(platform, tmp_path):
    incentive = str(BIN / "incentive")
    epoch = platform.epochs[-1]
    rows = json.loads(run_cli(platform, incentive, "weights", "--epoch", str(epoch), "--json").stdout)
    stored = platform.ledger.weights(epoch)
    assert [(r["uid"], r["hotkey"], r["u16"]) for r in rows] == list(zip(stored.uids, stored.hotkeys, stored.u16))
    roles = json.loads(run_cli(platform, incentive, "devnet", "roles", "--json").stdout)
    assert len(roles) == len(platform.world.neurons()) and {"uid", "hotkey", "role", "skill"} <= set(roles[5])
    traders = {r["hotkey"]: r for r in roles if r["role"].startswith("trader:")}
    assert {r["role"] for r in traders.values()} == {f"trader:{role}" for _, _, role in platform.world.traders}
    assert all(r["skill"] == platform.world.market.edge_of[h] for h, r in traders.items())
    for challenge in platform.world.profile.mantis_challenges:  # an epoch's panel scores offline as it did
        out, name = tmp_path / f"{challenge.mechanism}.npz", challenge.name
        run_cli(platform, incentive, "panel", "export", "--challenge", name, "--epoch", str(epoch), "--out", str(out))
        scored = json.loads(run_cli(platform, incentive, "score", "--panel", str(out), "--challenge", name,
                                    "--json").stdout)
        assert scored == artifact(platform, "mantis", "salience", f"{name}__{epoch:08d}"), name


def almanac_score(platform, epoch: int, records: list | None = None):
    """The epoch's Almanac score from what its ledger row holds (or from other `records`)."""
    from mechanisms.almanac.scoring import score_snapshot

    profile = platform.world.profile
    kept = platform.ledger.almanac_epoch(epoch)
    params = params_of(profile.almanac_challenges[0], profile)
    metagraph, stored = snapshot_of(platform.ledger, kept, params.window_days)
    uids, hotkeys = uid_table(metagraph)
    return score_snapshot(stored if records is None else records, uids, hotkeys, kept.commitments,
                          budget_of(kept), kept.boundary, params)


def test_almanac_salience_pays_no_rule_breaker_and_burns_the_rest(platform):
    world, epoch = platform.world, platform.epochs[-1]
    name = world.profile.almanac_challenges[0].name
    salience = artifact(platform, "almanac", "salience", f"{name}__{epoch:08d}")
    role = {hotkey: r for _, hotkey, r in world.traders}
    assert math.isclose(sum(salience.values()), 1.0, rel_tol=1e-12) and salience["__burn__"] > 0
    paid = {role[h] for h, w in salience.items() if w > 0 and h in role}
    # penalised profiles, a hotkey that is not the uid's, no trades lately, build-up not reached, fees dodged
    assert not paid & {"two_profiles", "bad_commitment", "reregistered", "inactive", "newcomer", "fee_dodger"}
    assert paid & {"skilled", "whale", "sybil"}
    assert {h for h, w in salience.items() if w > 0} - {"__burn__"} <= set(role)  # MANTIS miners never trade
    hotkey = hotkeys_by_uid(platform, epoch)
    score = almanac_score(platform, epoch)
    assert {("__burn__" if u == 0 else hotkey[u]): w for u, w in score.weights.items()} == salience


def hotkeys_by_uid(platform, epoch) -> dict[int, str]:
    metagraph = platform.ledger.metagraph(platform.ledger.almanac_epoch(epoch).block)
    return dict(zip(metagraph.uids, metagraph.hotkeys))


def test_almanac_rerun_after_later_settlement_reproduces_the_epochs_weights(platform):
    """A later pull (positions open at the epoch's pull have settled since) is in the ledger; rerunning
    the first epoch's Almanac assets and weights from the operator CLI still gives its u16."""
    world, epoch = platform.world, platform.epochs[0]
    kept = platform.ledger.almanac_epoch(epoch)
    later = kept.read_at + 2 * 86_400
    records = world.market.pull(later)
    platform.ledger.record_trade_pull(records, record_days(records), pulled_at=later, pages=1)
    before = almanac_score(platform, epoch)
    settled = almanac_score(platform, epoch, records)
    assert not np.array_equal(settled.miner.tokens, before.miner.tokens)  # the later pull would change the epoch
    key, name = f"{epoch:08d}", world.profile.almanac_challenges[0].name
    dagster, module = str(BIN / "dagster"), ["-m", "orchestration.definitions"]
    run_cli(platform, dagster, "asset", "materialize", *module, "--select", "almanac/trades_pull,epoch_matrices",
            "--partition", key)
    run_cli(platform, dagster, "asset", "materialize", *module, "--select", "almanac/salience", "--partition",
            f"{name}|{key}")
    run_cli(platform, dagster, "asset", "materialize", *module, "--select", "final_weights", "--partition", key)
    assert platform.ledger.almanac_epoch(epoch) == kept
    rerun, stored = artifact(platform, "final_weights", key), platform.ledger.weights(epoch)
    assert rerun["u16"] == list(stored.u16) and rerun["uids"] == list(stored.uids)


def test_almanac_export_scores_to_the_epochs_tokens(platform, tmp_path):
    epoch, name = platform.epochs[-1], platform.world.profile.almanac_challenges[0]
    out = tmp_path / "snapshot.json"
    incentive = str(BIN / "incentive")
    run_cli(platform, incentive, "almanac", "export", "--epoch", str(epoch), "--out", str(out))
    assert json.loads(out.read_text())["today"] == platform.ledger.almanac_epoch(epoch).boundary.isoformat()
    scored = json.loads(run_cli(platform, incentive, "almanac", "score", str(out), "--json").stdout)
    expected = almanac_score(platform, epoch)
    assert scored["pools"]["miner"]["tokens"] == {str(e): t for e, t in zip(expected.miner.entities,
                                                                          expected.miner.tokens.tolist())}
    assert sum(scored["pools"]["gp"]["tokens"].values()) == pytest.approx(float(expected.gp.tokens.sum()), rel=1e-12)
    salience = artifact(platform, "almanac", "salience", f"{name.name}__{epoch:08d}")
    hotkey = hotkeys_by_uid(platform, epoch)
    assert {("__burn__" if int(u) == 0 else hotkey[int(u)]): w for u, w in scored["weights"].items()} == salience


def test_the_reveal_opens_the_same_in_a_pool_as_in_one_process(platform):
    """An epoch's samples (hostile payloads included) open to the same vectors and rejections in a
    two-process pool as one by one here."""
    from assets.epochs import EpochBlocks
    from assets.mantis.reveal import opened_samples

    profile, store = platform.world.profile, platform.ledger
    blocks = EpochBlocks.of(platform.epochs[0], profile)
    samples = [s for s in store.samples(blocks.sidx_range.start, blocks.sidx_range.stop) if s.status == "taken"]
    signatures = store.signatures(set().union(*store.payload_rounds(blocks.sidx_range.start, blocks.sidx_range.stop).values()))
    opened = {n: [(s.sidx, dict(v), sorted(map(repr, r)))
                  for s, v, r in opened_samples(store, samples, signatures, profile, platform.world.beacon.chain, workers=n)]
              for n in (1, 2)}
    assert len(opened[1]) == len(samples) and opened[1] == opened[2]
    assert any(rejections for _, _, rejections in opened[2])  # the hostile miners' refusals came back too
