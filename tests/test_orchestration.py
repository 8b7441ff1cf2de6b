"""Definitions, sensors and blocking checks, on the devnet with a driven clock."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import pytest

import profiles
from assets.epochs import SampleRules
from assets.mantis.ingest import PAYLOADS
from assets.mantis.reveal import awaited_round, drand_signatures, embeddings
from assets.weights import (uids_registered, weights_finite, weights_match_stored, weights_nonnegative, weights_normalized,
                            weights_not_degenerate, weights_sendable)
from devnet.chain import DevnetChainState
from devnet.world import World
from ledger import Ledger, RawPayload, StoredWeights
from orchestration.definitions import defs
from assets.partitions import EPOCHS, epoch_key
from orchestration.sensors import MAX_COLLECT_ATTEMPTS, block_sensor, reveal_ready_sensor
from protocol import payload as pl
from protocol.timelock import TimelockEncryptor
from resources.chain_devnet import DevnetChain
from resources.chain_types import ChainParams, Metagraph, Neuron
from resources.drand import DrandUnavailable
from resources.drand_devnet import DevnetDrand
from resources.ledger import LedgerResource
from resources.settings_resource import SettingsResource


def test_definitions_graph():
    defs.resolve_all_job_defs()
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {"raw/payloads", "market/prices", "chain/metagraph", "drand/signatures", "embeddings", "panels",
                    "mantis/salience", "almanac/trades_pull", "epoch_matrices", "almanac/salience", "final_weights",
                    "chain/weight_submission", "vesting_multipliers"}
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups["raw/payloads"] == "ingest" and groups["embeddings"] == "reveal"
    assert groups["mantis/salience"] == groups["almanac/salience"] == groups["epoch_matrices"] == "scoring"
    parents = lambda name: {p.to_user_string() for p in graph.get(dg.AssetKey.from_user_string(name)).parent_keys}  # noqa: E731
    # each challenge's salience shows its real input: the Almanac one never comes from MANTIS panels
    assert parents("almanac/salience") == {"epoch_matrices"} and parents("mantis/salience") == {"panels"}
    assert parents("epoch_matrices") == {"almanac/trades_pull"}
    assert parents("final_weights") == {"mantis/salience", "almanac/salience", "panels", "vesting_multipliers"}
    # vesting reads the chain's stake history once the epoch's collection has its metagraph; one run at a time
    assert parents("vesting_multipliers") == {"chain/metagraph"} and groups["vesting_multipliers"] == "weights"
    vesting = graph.get(dg.AssetKey("vesting_multipliers"))
    assert vesting.backfill_policy == dg.BackfillPolicy.single_run() and vesting.automation_condition is not None
    node = lambda name: graph.get(dg.AssetKey.from_user_string(name))  # noqa: E731
    assert node("raw/payloads").automation_condition is None and node("embeddings").automation_condition is None
    assert node("panels").automation_condition is not None and node("final_weights").automation_condition is not None
    submission = str(node("chain/weight_submission").automation_condition)
    assert "missing" in submission.lower() and "check" in submission.lower(), submission
    checks = {c.name for c in graph.asset_check_keys}
    assert checks == {"weights_finite", "weights_nonnegative", "weights_normalized", "uids_registered",
                      "weights_not_degenerate", "weights_match_stored", "weights_sendable", "phases_feasible"}
    assert {s.name for s in defs.sensors} == {"block_sensor", "reveal_ready_sensor", "trades_sensor", "epoch_automation"}


@pytest.fixture
def devnet(tmp_path):
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    state = DevnetChainState(World(profiles.load()), Ledger(url))
    state.install()
    resources = {
        "chain": DevnetChain(netuid=1, ledger_url=url, payload_dir=str(tmp_path / "payloads")),
        "drand": DevnetDrand(ledger_url=url),
        "ledger": LedgerResource(url=url),
        "settings": SettingsResource(),
    }
    return state, resources


def test_block_sensor_adds_each_epoch_once_and_restarts_a_lost_collection(devnet):
    state, resources = devnet
    tempo = state.world.tempo
    epoch = state.head_block() // tempo  # the devnet starts at an epoch boundary
    key = epoch_key(epoch)
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, resources=resources)
        result = block_sensor(ctx)
        assert [r.run_key for r in result.run_requests] == [f"collect-{key}"]
        assert result.run_requests[0].partition_key == key
        assert result.dynamic_partitions_requests[0].partition_keys == [key]
        assert result.cursor == str(epoch)
        instance.add_dynamic_partitions(EPOCHS.name, [key])
        # Inside the epoch, with no run recorded for it: the collection was lost, so restart it.
        state.clock.advance(100 * state.world.block_time)
        again = block_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=str(epoch)))
        assert [r.run_key for r in again.run_requests] == [f"collect-{key}-0"]
        # Once the epoch's payloads are materialised, nothing more is asked inside the epoch.
        instance.report_runless_asset_event(dg.AssetMaterialization(PAYLOADS, partition=key))
        quiet = block_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=str(epoch)))
        assert isinstance(quiet, dg.SkipReason) and "next starts at block" in quiet.skip_message
        # The next boundary: the next epoch is added and collected.
        state.clock.set_manual(state.world.time_of((epoch + 1) * tempo))
        nxt = block_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=str(epoch)))
        assert [r.run_key for r in nxt.run_requests] == [f"collect-{epoch_key(epoch + 1)}"]


def test_reveal_sensor_waits_for_the_beacon_then_requests_the_reveal(devnet):
    state, resources = devnet
    epoch = state.head_block() // state.world.tempo
    key = epoch_key(epoch)
    sidx = epoch * state.world.tempo // 5
    now = state.clock.now()
    future_round = state.world.beacon.chain.current_round(now) + 1200
    state.ledger.record_sample(sidx, sidx * 5, now)
    state.ledger.record_payloads([RawPayload(sidx, "5Abc", "u", "fetched", b"{}", "", future_round, now),
                                  RawPayload(sidx, "5Def", "u", "round", b"{}", "too late", None, now)])
    with dg.instance_for_test() as instance:
        assert isinstance(reveal_ready_sensor(dg.build_sensor_context(instance=instance, resources=resources)), dg.SkipReason)
        instance.add_dynamic_partitions(EPOCHS.name, [key])
        instance.report_runless_asset_event(dg.AssetMaterialization(PAYLOADS, partition=key))
        waiting = reveal_ready_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(waiting, dg.SkipReason) and f"round {future_round}" in waiting.skip_message
        state.clock.set_manual(state.world.beacon.chain.reveal_time(future_round))
        ready = reveal_ready_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert [r.partition_key for r in ready.run_requests] == [key]
        assert ready.run_requests[0].run_key == f"reveal-{key}-0"


def test_an_epoch_waits_for_a_round_only_until_its_samples_deadline():
    profile = profiles.load()
    deadline = profile.round_deadline_seconds()
    rounds = {1000.0: {10, 20}, 1060.0: {30}}
    published = lambda r: r <= 10  # noqa: E731
    assert awaited_round(rounds, published, 1100.0, profile) == (20, 1000.0 + deadline)
    # The first sample's deadline has passed: its round 20 no longer holds the epoch; the next sample's does.
    assert awaited_round(rounds, published, 1000.0 + deadline, profile) == (30, 1060.0 + deadline)
    assert awaited_round(rounds, published, 1060.0 + deadline, profile) is None
    assert awaited_round(rounds, lambda r: True, 1100.0, profile) is None


GOOD = {"epoch": 1, "block": 719, "uids": [0, 1, 2], "hotkeys": ["h0", "h1", "h2"], "weights": [0.35, 0.4, 0.25],
        "u16": [57344, 65535, 40960], "rejected": None, "source": "computed"}


@pytest.mark.parametrize(
    ("check", "bad"),
    [
        (weights_finite, {"weights": [0.35, float("nan"), 0.65]}),
        (weights_nonnegative, {"weights": [0.5, -0.1, 0.6]}),
        (weights_normalized, {"weights": [0.35, 0.4, 0.2]}),
        (weights_not_degenerate, {"rejected": "flat", "source": "none: flat"}),
    ],
)
def test_blocking_checks(check, bad):
    assert check(GOOD).passed
    failed = check(GOOD | bad)
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR


def test_uids_registered_check(tmp_path):
    url = f"sqlite:///{tmp_path}/l.sqlite"
    store = Ledger(url)
    store.store_metagraph(Metagraph(1, 719, tuple(Neuron(u, f"h{u}", f"c{u}", 1.0, 0) for u in range(3))))
    ctx = dg.build_asset_check_context()
    assert uids_registered(ctx, GOOD, LedgerResource(url=url)).passed
    swapped = GOOD | {"hotkeys": ["h0", "h2", "h1"]}
    assert not uids_registered(ctx, swapped, LedgerResource(url=url)).passed
    unknown = GOOD | {"block": 10}  # no metagraph snapshot at or before that block
    assert not uids_registered(ctx, unknown, LedgerResource(url=url)).passed


def test_a_rerun_that_differs_from_the_stored_vector_fails_its_blocking_check(tmp_path):
    """The stored vector is the one submitted; a rerun computing any other u16 (or uids) must block."""
    url = f"sqlite:///{tmp_path}/l.sqlite"
    store, ctx = Ledger(url), dg.build_asset_check_context()
    assert not weights_match_stored(ctx, GOOD, LedgerResource(url=url)).passed  # nothing stored
    store.store_weights(StoredWeights(1, 719, (0, 1, 2), ("h0", "h1", "h2"), (0.35, 0.4, 0.25),
                                      (57344, 65535, 40960), {}))
    assert weights_match_stored(ctx, GOOD, LedgerResource(url=url)).passed
    for changed in ({"u16": [57344, 65535, 40961]}, {"uids": [0, 1, 3]}, {"hotkeys": ["h0", "h2", "h1"]}):
        failed = weights_match_stored(ctx, GOOD | changed, LedgerResource(url=url))
        assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR


def test_weights_sendable_check_applies_the_epochs_chain_limits(tmp_path):
    """At the limit recorded for the epoch's block: the top share within max_weight_limit as the SDK
    sends the u16, and at least min_allowed_weights of them non-zero; no recorded limit, no send."""
    url = f"sqlite:///{tmp_path}/l.sqlite"
    store, ctx = Ledger(url), dg.build_asset_check_context()
    assert not weights_sendable(ctx, GOOD, LedgerResource(url=url)).passed
    store.store_chain_params(719, ChainParams(360, 100, 30000, 3, False))  # 65535/163839 = 0.40 ≤ 0.4578
    assert weights_sendable(ctx, GOOD, LedgerResource(url=url)).passed
    store.store_chain_params(720, ChainParams(360, 100, 26000, 3, False))  # 0.40 > 0.3967
    assert not weights_sendable(ctx, GOOD | {"block": 720}, LedgerResource(url=url)).passed
    store.store_chain_params(721, ChainParams(360, 100, 65535, 4, False))  # three non-zero, four required
    assert not weights_sendable(ctx, GOOD | {"block": 721}, LedgerResource(url=url)).passed
    store.store_chain_params(722, ChainParams(360, 100, 65535, 1, False))
    assert not weights_sendable(ctx, GOOD | {"block": 722, "u16": [100, 200, 50]}, LedgerResource(url=url)).passed


def test_a_reveal_rerun_corrects_the_epochs_embeddings(devnet, tmp_path):
    """A rerun restates the epoch: vectors it now refuses leave the ledger with their reasons, and
    vectors it accepts again come back with the reasons gone (here the rerun runs under a profile
    whose owner key is not the one the payloads were sealed to, then under the right one again)."""
    state, resources = devnet
    world, profile = state.world, state.world.profile
    epoch = state.head_block() // world.tempo
    key, sidx = epoch_key(epoch), epoch * world.tempo // world.sample_every
    taken_at = state.clock.now()
    rules = SampleRules.of(world.beacon.chain, profile, taken_at)
    encryptor = TimelockEncryptor(world.beacon.chain.public_key)
    miners = ["5One" + "1" * 44, "5Two" + "2" * 44]
    state.ledger.record_sample(sidx, sidx * world.sample_every, taken_at)
    state.ledger.record_payloads([
        RawPayload(sidx, hk, f"u/{hk}", "fetched", pl.build(hk, rules.window.first, {world.challenge.mantis.ticker: [0.25, -0.5]},
                                                              encryptor, rules.owner_pk).canonical(), "", rules.window.first, taken_at)
        for hk in miners])
    state.clock.set_manual(world.beacon.chain.reveal_time(rules.window.first) + 1)
    other = tmp_path / "other-owner.yaml"
    other.write_text(Path(profiles.DEFAULT).read_text().replace(profile.protocol.owner_pk, "ab" * 32))

    def reveal(settings) -> set[str]:
        done = dg.materialize([drand_signatures, embeddings], partition_key=key, instance=instance,
                              resources=resources | {"settings": settings})
        assert done.success
        return set(state.ledger.embeddings(world.challenge.name, sidx, sidx + 1)[1])

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(EPOCHS.name, [key])
        assert reveal(SettingsResource()) == set(miners) and state.ledger.rejections(sidx, sidx + 1) == []
        assert reveal(SettingsResource(profile_path=str(other))) == set()
        assert {(r.hotkey, r.reason) for r in state.ledger.rejections(sidx, sidx + 1)} == {(hk, "owner-key") for hk in miners}
        assert reveal(SettingsResource()) == set(miners) and state.ledger.rejections(sidx, sidx + 1) == []


class PatchyDrand(DevnetDrand):
    """The devnet beacon behind relays that have every round but one (`missing`: each relay answers
    404) and fail on another (`failing`: timeouts everywhere)."""

    missing: int = 0
    failing: int = 0

    def signature(self, round_: int) -> bytes | None:
        if round_ == self.failing:
            raise DrandUnavailable(f"no relay gave a verified round {round_}: read timeout")
        return None if round_ == self.missing else super().signature(round_)


def test_a_round_no_relay_has_costs_only_the_payloads_naming_it(devnet):
    """Three miners lock to three due rounds. The relays fail on the third for a while: the epoch
    waits for it (a relay outage costs nobody). Then it is served, and no relay has the second: the
    reveal runs at once, without waiting to the deadline or failing, the second miner's payload is
    `timelock-unavailable` and the others count; a later run whose relays have the round clears the mark."""
    state, resources = devnet
    world, profile = state.world, state.world.profile
    epoch = state.head_block() // world.tempo
    key, sidx = epoch_key(epoch), epoch * world.tempo // world.sample_every
    taken_at = state.clock.now()
    rules = SampleRules.of(world.beacon.chain, profile, taken_at)
    good, missing, failing = rules.window.first, rules.window.first + 1, rules.window.first + 2
    encryptor = TimelockEncryptor(world.beacon.chain.public_key)
    miners = {"5Good" + "g" * 43: good, "5Miss" + "m" * 43: missing, "5Fail" + "f" * 43: failing}
    rows = [RawPayload(sidx, hk, f"u/{hk}", "fetched", pl.build(hk, r, {world.challenge.mantis.ticker: [0.25, -0.5]},
                                                                 encryptor, rules.owner_pk).canonical(), "", r, taken_at)
            for hk, r in miners.items()]
    state.ledger.record_sample(sidx, sidx * world.sample_every, taken_at)
    state.ledger.record_payloads(rows)
    state.clock.set_manual(world.beacon.chain.reveal_time(failing) + 1)  # all due, long before the deadline
    url = resources["ledger"].url
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(EPOCHS.name, [key])

        def reveal(drand):
            return dg.materialize([drand_signatures, embeddings], partition_key=key, instance=instance,
                                  resources=resources | {"drand": drand}, raise_on_error=False)

        outage = reveal(PatchyDrand(ledger_url=url, missing=missing, failing=failing))
        assert not outage.success and state.ledger.unserved({failing}) == {}
        (failure,) = outage.get_step_failure_events()
        assert f"round {failing} is not published yet" in failure.step_failure_data.user_failure_data.description
        assert set(state.ledger.unserved({good, missing})) == {missing}
        assert reveal(PatchyDrand(ledger_url=url, missing=missing)).success
        _, hotkeys, _ = state.ledger.embeddings(world.challenge.name, sidx, sidx + 1)
        assert set(hotkeys) == {"5Good" + "g" * 43, "5Fail" + "f" * 43}
        assert [(r.hotkey, r.reason) for r in state.ledger.rejections(sidx, sidx + 1)] == [
            ("5Miss" + "m" * 43, "timelock-unavailable")]
        again = dg.materialize([drand_signatures], partition_key=key, instance=instance, resources=resources)
        assert again.success and state.ledger.unserved({missing}) == {} and missing in state.ledger.signatures({missing})


def test_block_sensor_finishes_a_collection_that_died_as_its_epoch_closed(devnet):
    """A collection killed near its epoch's end is restarted once after the close (it then records the
    samples it missed and completes the epoch), not left to the hourly reconcile; an epoch that was
    never collected, or whose restart after the close failed too, is left to the reconcile."""
    state, resources = devnet
    tempo = state.world.tempo
    epoch = state.head_block() // tempo
    key, older, nxt = epoch_key(epoch), epoch_key(epoch - 1), epoch_key(epoch + 1)

    def tick(cursor: int):
        return block_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=str(cursor)))

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(EPOCHS.name, [older, key])
        add_run(instance, key, dg.DagsterRunStatus.FAILURE)
        state.clock.set_manual(state.world.time_of((epoch + 1) * tempo + 3))
        result = tick(epoch)
        assert sorted(r.run_key for r in result.run_requests) == sorted([f"collect-{nxt}", f"collect-{key}-1"])
        restart = next(r for r in result.run_requests if r.partition_key == key)
        instance.add_dynamic_partitions(EPOCHS.name, [nxt])
        add_run(instance, nxt, dg.DagsterRunStatus.STARTED)
        add_run(instance, key, dg.DagsterRunStatus.STARTED, restart.tags)
        assert isinstance(tick(epoch + 1), dg.SkipReason)  # running: nothing more
        add_run(instance, key, dg.DagsterRunStatus.FAILURE, restart.tags, replace=True)
        assert isinstance(tick(epoch + 1), dg.SkipReason)  # the restart after the close failed: the reconcile's


def test_block_sensor_gives_up_an_epoch_whose_collection_keeps_failing(devnet):
    """A collection that fails at once, again and again (a node that cannot serve it), is started at
    most MAX_COLLECT_ATTEMPTS times per epoch, not on every tick until the epoch ends."""
    state, resources = devnet
    epoch = state.head_block() // state.world.tempo
    key = epoch_key(epoch)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(EPOCHS.name, [key])
        for attempt in range(MAX_COLLECT_ATTEMPTS):
            result = block_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=str(epoch)))
            assert [r.run_key for r in result.run_requests] == [f"collect-{key}-{attempt}"]
            add_run(instance, key, dg.DagsterRunStatus.FAILURE)
        quiet = block_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=str(epoch)))
        assert isinstance(quiet, dg.SkipReason) and "hourly reconcile" in quiet.skip_message


def add_run(instance, key: str, status, tags=None, replace: bool = False) -> None:
    """A collection run record of epoch `key` (replace: change the newest one's status)."""
    if replace:
        run = instance.get_runs(dg.RunsFilter(job_name="collection", tags={"dagster/partition": key}))[0]
        instance.delete_run(run.run_id)
    instance.add_run(dg.DagsterRun(job_name="collection", run_id=str(uuid.uuid4()), status=status,
                                   tags={"dagster/partition": key, **(tags or {})}))
