"""Almanac in the platform on the devnet: the market's API view, the epoch's pull and what it keeps,
the matrices and salience assets, skipped epochs, failed pulls, the sensor and the live profile."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import dagster as dg
import numpy as np
import pytest

import profiles
from assets.almanac import (TRADES_PULL, almanac_salience, budget_of, epoch_matrices, params_of, record_days,
                            trades_pull)
from assets.partitions import EPOCHS, epoch_key
from devnet.chain import DevnetChainState
from devnet.world import World
from ledger import Ledger
from mechanisms.almanac.records import parse_trades
from mechanisms.weights import BURN_KEY, WeightRules, weight_vector
from orchestration.sensors import trades_sensor
from resources.chain_devnet import DevnetChain
from resources.ledger import LedgerResource
from resources.prices_devnet import DevnetPriceFeed
from resources.prices_http import HttpPriceFeed
from resources.settings_resource import SettingsResource
from resources.charts import ChartStore
from resources.storage import EpochArtifactIOManager
from resources.trades_devnet import DevnetTradesSource
from resources.trades_http import HttpTradesSource
from tests.loopback import reply, serve

PROFILE = profiles.load()
CHALLENGE = PROFILE.almanac_challenges[0]


@pytest.fixture(scope="module")
def world() -> World:
    return World(PROFILE)


@pytest.fixture
def devnet(tmp_path, world):
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    state = DevnetChainState(world, Ledger(url))
    state.install()
    resources = {
        "chain": DevnetChain(netuid=1, ledger_url=url, payload_dir=str(tmp_path / "payloads")),
        "ledger": LedgerResource(url=url),
        "settings": SettingsResource(),
        "prices": DevnetPriceFeed(ledger_url=url),
        "trades": DevnetTradesSource(ledger_url=url),
        "io_manager": EpochArtifactIOManager(base_dir=str(tmp_path / "artifacts")),
        "charts": ChartStore(base_dir=str(tmp_path / "artifacts")),
    }
    return state, resources


def close_first_epoch(state) -> tuple[int, str]:
    """Put the devnet clock just past the first live epoch; its number and partition key."""
    epoch = state.world.live_start_block // state.world.tempo
    state.clock.set_manual(state.world.time_of((epoch + 1) * state.world.tempo))
    return epoch, epoch_key(epoch)


def materialize(instance, resources, assets, key, **kw):
    return dg.materialize(assets, partition_key=key, instance=instance, resources=resources,
                          raise_on_error=False, **kw)


def failure(result) -> str:
    """Why a run's step failed, as the operator reads it."""
    return " ".join(str(e.step_failure_data.user_failure_data.description if e.step_failure_data.user_failure_data
                        else e.step_failure_data.error.message) for e in result.all_events if e.is_step_failure)


# --- the devnet market -------------------------------------------------------------------------


def test_positions_read_open_until_they_settle_and_every_anomaly_is_served(world):
    market = world.market
    at = world.time_of(world.live_start_block)
    first, later = market.pull(at), market.pull(at + 3 * 86_400)
    assert market.pull(at) == first  # the same moment reads the same
    ids = lambda recs, done: {r["position_id"] for r in recs  # noqa: E731
                              if isinstance(r, dict) and "position_id" in r and r["is_completed"] is done}
    settled_since = ids(first, False) & ids(later, True)
    assert settled_since, "no position open at the first pull settled by the later one"
    opened = [r for r in first if isinstance(r, dict) and r.get("position_id") in settled_since]
    assert all(r["completed_at"] is None and r["pnl"] is None for r in opened)
    skipped = parse_trades(first, fixed=True).skipped
    assert {"not_an_object", "missing_key:volume", "not_finite:pnl", "bad_date:completed_at"} <= set(skipped)
    records = [r for r in first if isinstance(r, dict)]
    assert any(r["account_id"] is None for r in records) and any("expected_volume" not in r for r in records)
    assert any(r.get("miner_id") == 60_000 for r in records)  # a uid no metagraph has
    hotkeys = {h for _, h, _ in world.traders}
    assert any(r.get("miner_hotkey", "") and r["miner_hotkey"].startswith("5old") for r in records)
    assert {r["miner_hotkey"] for r in records if r.get("miner_hotkey") and not r["miner_hotkey"].startswith("5old")
            and r.get("miner_id") != 60_000} <= hotkeys
    days = [d for d in record_days(records) if d is not None]
    weekday = np.array([(dt.date(1970, 1, 1) + dt.timedelta(days=d)).weekday() for d in days])
    assert (weekday >= 5).mean() < 2 / 7  # weekends are quieter


def test_trader_roles_and_commitments_are_on_the_devnet_chain(devnet, world):
    state, _ = devnet
    metagraph = state.metagraph()
    by_uid = dict(zip(metagraph.uids, metagraph.hotkeys))
    commitments = state.commitments()
    for uid, hotkey, role in world.traders:
        assert by_uid[uid] == hotkey and uid > max(world.miner_uid(i) for i in range(len(world.miners)))
        assert commitments[hotkey].data == world.market.commitments[uid]
    assert {role for *_, role in world.traders} == {"skilled", "whale", "noise", "loser", "inactive", "newcomer",
                                                    "fee_dodger", "grower", "reregistered", "two_profiles",
                                                    "bad_commitment", "sybil"}


# --- the epoch's assets --------------------------------------------------------------------------


def test_an_epoch_pulls_once_builds_its_matrices_and_scores(devnet):
    state, resources = devnet
    epoch, key = close_first_epoch(state)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(EPOCHS.name, [key])
        result = materialize(instance, resources, [trades_pull, epoch_matrices], key)
        assert result.success
        kept = state.ledger.almanac_epoch(epoch)
        boundary = dt.datetime.fromtimestamp(state.world.time_of(epoch * 360 + 359), dt.timezone.utc).date()
        m = PROFILE.devnet.market
        assert kept.boundary == boundary and budget_of(kept) == m.alpha_price_tao * m.tao_usd * 2952
        meta = result.asset_materializations_for_node("epoch_matrices")[0].metadata
        assert meta["evaluation_day_D"].value == boundary.isoformat()
        assert "entities" in meta[f"{CHALLENGE.name} miner pool"].value
        # a second run, later, reuses the pull: nothing new is fetched
        state.clock.advance(86_400)
        again = materialize(instance, resources, [trades_pull], key)
        meta = again.asset_materializations_for_node("almanac__trades_pull")[0].metadata
        assert meta["reused"].value is True and len(state.ledger.trade_pulls()) == 1
        multi = dg.MultiPartitionKey({"epoch": key, "challenge": CHALLENGE.name})
        scored = dg.materialize([trades_pull, epoch_matrices, almanac_salience], partition_key=multi,
                                selection=[almanac_salience.key], instance=instance, resources=resources)
        salience = scored.output_for_node("almanac__salience")
        assert salience[BURN_KEY] > 0 and abs(sum(salience.values()) - 1) < 1e-12
        checks = scored.get_asset_check_evaluations()
        assert [c.passed for c in checks] == [True]
        meta = scored.asset_materializations_for_node("almanac__salience")[0].metadata
        assert {"U_usd", "budgets_usd", "miner pool", "gp pool", "top_tokens", "miner_tokens"} <= set(meta)


def test_an_open_epoch_is_not_pulled(devnet):
    state, resources = devnet
    epoch = state.world.live_start_block // state.world.tempo
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(EPOCHS.name, [epoch_key(epoch)])
        result = materialize(instance, resources, [trades_pull], epoch_key(epoch))
    assert not result.success and state.ledger.almanac_epoch(epoch) is None
    assert "has not closed" in failure(result)


def test_a_failed_pull_keeps_nothing_and_says_why(devnet, monkeypatch):
    state, resources = devnet
    monkeypatch.setenv("TEST_ALMANAC_HOTKEY", "//Alice")
    epoch, key = close_first_epoch(state)
    with serve(lambda h, s: reply(h, 500, b"down")) as (base, _), dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(EPOCHS.name, [key])
        live = HttpTradesSource(url=f"{base}/history", hotkey_env="TEST_ALMANAC_HOTKEY", backoff_s=[0.0], timeout_s=2.0)
        result = materialize(instance, resources | {"trades": live}, [trades_pull], key)
    assert not result.success
    assert "trades pull failed, nothing kept" in failure(result) and "500" in failure(result)
    assert state.ledger.almanac_epoch(epoch) is None and state.ledger.trade_pulls() == []


def test_without_a_budget_input_the_epoch_is_skipped_with_its_reason(devnet):
    state, resources = devnet
    epoch, key = close_first_epoch(state)
    with serve(lambda h, s: reply(h, 503, b"busy")) as (base, _), dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(EPOCHS.name, [key])
        down = HttpPriceFeed(tao_usd_url=f"{base}/simple/price", tao_usd_timeout_s=2.0)
        multi = dg.MultiPartitionKey({"epoch": key, "challenge": CHALLENGE.name})
        resources = resources | {"prices": down}
        assert materialize(instance, resources, [trades_pull, epoch_matrices], key).success
        scored = dg.materialize([trades_pull, epoch_matrices, almanac_salience], partition_key=multi,
                                selection=[almanac_salience.key], instance=instance, resources=resources)
    kept = state.ledger.almanac_epoch(epoch)
    assert budget_of(kept) is None and "TAO/USD" in kept.missing and "503" in kept.missing
    assert scored.output_for_node("almanac__salience") == {}
    meta = scored.asset_materializations_for_node("almanac__salience")[0].metadata
    assert "no budget U" in meta["skipped"].value and "TAO/USD" in meta["skipped"].value


def test_the_sensor_pulls_each_closed_epoch_once(devnet):
    state, resources = devnet
    epoch, key = close_first_epoch(state)
    with dg.instance_for_test() as instance:
        # with MANTIS challenges the block sensor adds epochs: an epoch it never added is not pulled
        unknown = trades_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(unknown, dg.SkipReason) and "never added" in unknown.skip_message
        instance.add_dynamic_partitions(EPOCHS.name, [key])
        result = trades_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert [r.partition_key for r in result.run_requests] == [key]
        assert result.run_requests[0].run_key == f"trades-{key}-0" and not result.dynamic_partitions_requests
        instance.report_runless_asset_event(dg.AssetMaterialization(TRADES_PULL, partition=key))
        quiet = trades_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(quiet, dg.SkipReason) and key in quiet.skip_message
    # an Almanac-only profile (SN41's, here on the devnet's head) has no block sensor: this one adds epochs
    almanac_only = resources | {"settings": SettingsResource(profile_path=str(profiles.DIRECTORY / "almanac.yaml"))}
    with dg.instance_for_test() as instance:
        first = trades_sensor(dg.build_sensor_context(instance=instance, resources=almanac_only))
        assert first.dynamic_partitions_requests[0].partition_keys == [key]
        assert [r.partition_key for r in first.run_requests] == [key]


# --- the live profile -----------------------------------------------------------------------------


def test_the_live_profile_sets_the_mechanisms_vector_and_accepts_all_burn():
    live = profiles.load("almanac.yaml")
    assert (live.chain.netuid, live.weights.burn_uid, live.families) == (41, 210, ("almanac",))
    assert live.sources.trades.startswith("https://api.almanac.market/")
    w = live.weights
    rules = WeightRules(w.burn_uid, w.burn_share, w.young_window_blocks, w.young_weight, live.ema_alpha,
                        w.degenerate_rel_std, w.accept_all_burn)
    uids, hotkeys = [3, 7, 210], ["a", "b", "owner"]
    salience = {"a": 0.25, "b": 0.125, BURN_KEY: 0.625}
    v = weight_vector(salience, uids, hotkeys, {"a": 10**9}, 10**9, rules)  # "a" first seen now: no young rule
    assert v.rejected is None and v.weights.tolist() == [0.25, 0.125, 0.625]
    all_burn = weight_vector({BURN_KEY: 1.0, "a": 0.0}, uids, hotkeys, {}, 10**9, rules)
    assert all_burn.rejected is None and all_burn.weights.tolist() == [0.0, 0.0, 1.0]


def test_the_export_carries_its_day_and_scores_from_the_file(devnet, tmp_path, monkeypatch, capsys):
    from cli.main import main

    state, resources = devnet
    epoch, key = close_first_epoch(state)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(EPOCHS.name, [key])
        assert materialize(instance, resources, [trades_pull], key).success
    monkeypatch.setenv("INCENTIVE_LEDGER_URL", resources["ledger"].url)
    out = tmp_path / "snap.json"
    assert main(["almanac", "export", "--epoch", str(epoch), "--out", str(out)]) == 0
    snap = json.loads(out.read_text())
    assert snap["today"] == state.ledger.almanac_epoch(epoch).boundary.isoformat()
    assert snap["params"] == dataclasses.asdict(params_of(CHALLENGE, PROFILE))  # overrides, mode, burn uid
    capsys.readouterr()
    assert main(["almanac", "score", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["weights"]
    assert main(["almanac", "export", "--epoch", str(epoch + 5), "--out", str(out)]) == 2
    assert "no Almanac trades pull" in capsys.readouterr().err


def test_a_salience_run_loads_only_its_own_challenges_input(tmp_path, world):
    """Two challenges' matrices in one epoch's artifact: a run of one challenge reads one file."""
    from mechanisms.almanac.scoring import build_matrices

    at = world.time_of(world.live_start_block)
    neurons = world.neurons()
    m = build_matrices(world.market.pull(at), [n.uid for n in neurons], [n.hotkey for n in neurons],
                       dt.date(2025, 10, 23))
    io = EpochArtifactIOManager(base_dir=str(tmp_path))
    key = dg.AssetKey("epoch_matrices")
    io.handle_output(dg.build_output_context(asset_key=key, partition_key="00000007"), {"A": m, "B|x": m})
    (tmp_path / "epoch_matrices" / "00000007" / "A.npz").write_bytes(b"not read")  # A is never opened
    ctx = dg.build_input_context(asset_key=key, asset_partitions_def=dg.StaticPartitionsDefinition(["00000007"]),
                                 asset_partition_key_range=dg.PartitionKeyRange("00000007", "00000007"),
                                 partition_key=dg.MultiPartitionKey({"epoch": "00000007", "challenge": "B|x"}))
    loaded = io.load_input(ctx)
    assert list(loaded) == ["B|x"]
    for name in ("volume", "profit", "fees"):
        assert np.array_equal(getattr(loaded["B|x"].miner, name), getattr(m.miner, name))
    assert loaded["B|x"].gp.entities == m.gp.entities and loaded["B|x"].skipped == m.skipped
