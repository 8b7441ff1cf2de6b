"""Panels of multi-asset challenges (XSEC-RANK, FUNDING-XSEC) from the ledger, and panels that scale:
built and saved one challenge at a time, float16 as the ledger stores them, and a first-seen record
the young-uid rule reads instead of the panels."""

from __future__ import annotations

import gc
import json
import math
import tracemalloc
import weakref

import dagster as dg
import numpy as np
import pytest
import yaml

import profiles
from assets.epochs import EpochBlocks
from assets.mantis import scoring
from assets.mantis.ingest import price_keys
from assets.mantis.scoring import FIRST_SEEN, build_panel
from assets.partitions import epoch_key
from assets.weights import _first_seen
from ledger import Ledger
from mechanisms.mantis.panel import Panel, first_seen_blocks
from mechanisms.mantis.universe import BREAKOUT_ASSETS, FUNDING_ASSETS, funding_key
from resources.chain_types import Metagraph, Neuron
from resources.ledger import LedgerResource
from resources.prices import PriceSnapshot, missing
from resources.settings_resource import SettingsResource
from resources.storage import BuiltOnAccess, EpochArtifactIOManager, StoredArtifacts

EPOCH = 40
MINERS = [f"5Miner{i:02d}" + "x" * 40 for i in range(6)]
UNREGISTERED = MINERS[5]  # submits, but is not in the epoch's metagraph
FUNDING_KEYS = tuple(funding_key(a) for a in FUNDING_ASSETS)


def multi_profile(tmp_path_factory) -> tuple[str, profiles.Profile]:
    """The devnet profile's MANTIS challenges with XSEC-RANK and FUNDING-XSEC added (no Almanac)."""
    d = profiles.load().model_dump(mode="json", exclude_none=True)
    d["challenges"] = [c for c in d["challenges"] if c["mechanism"] == "binary"] + [
        {"name": "XSEC-RANK", "mechanism": "xsec_rank", "weight": 3.0, "mode": "fixed",
         "mantis": {"ticker": "MULTIXSEC", "dim": 33, "horizon_blocks": 1200}},
        {"name": "FUNDING-XSEC", "mechanism": "funding_xsec", "weight": 4.0, "mode": "compat",
         "mantis": {"ticker": "FUNDINGXSEC", "dim": 20, "horizon_blocks": 2400}},
    ]
    d["protocol"]["round_deadline_blocks"] = 3000  # the funding horizon's lock must fit
    d["vesting"]["enabled"] = False
    path = tmp_path_factory.mktemp("profile") / "multi.yaml"
    path.write_text(yaml.safe_dump(d))
    return str(path), profiles.load(str(path))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A ledger with 300 samples before the epoch's end (the last 100 after the training cutoff): prices of every key (some missing), values of
    every challenge, a metagraph without UNREGISTERED."""
    path, profile = multi_profile(tmp_path_factory)
    url = f"sqlite:///{tmp_path_factory.mktemp('ledger')}/ledger.sqlite"
    store = Ledger(url)
    blocks = EpochBlocks.of(EPOCH, profile)
    hi = blocks.sidx_range.stop
    sidxs = np.arange(hi - 300, hi)
    rng = np.random.default_rng(7)
    snapshots = {}
    for s in sidxs.tolist():
        snap = {"ETH": float(rng.uniform(1000, 2000))}
        snap |= {a: float(rng.uniform(1, 100)) for a in BREAKOUT_ASSETS}
        snap |= {k: float(rng.normal(0, 1e-4)) for k in FUNDING_KEYS}
        snapshots[s] = snap
    snapshots[int(sidxs[3])]["SOL"] = math.nan  # a missing price is NaN in its column
    for s in sidxs[10:13].tolist():  # funding rates only: rows of FUNDING-XSEC's panel, of no other
        snapshots[s] = {k: snapshots[s][k] for k in FUNDING_KEYS}
    snapshots[int(sidxs[20])] = {funding_key("TAO"): -3e-4}  # one funding key only: a FUNDING row, no other
    del snapshots[int(sidxs[30])]  # no prices: no row anywhere
    store.store_prices_many(snapshots)
    values = {}
    for c in profile.mantis_challenges:
        vals = rng.uniform(-1, 1, size=(len(sidxs), len(MINERS), c.mantis.dim))
        pres = rng.random((len(sidxs), len(MINERS))) < 0.8
        pres[:, 4] = np.arange(len(sidxs)) >= 50 + 10 * (c.name == "XSEC-RANK")  # a late starter
        store.store_embeddings_many(c.name, sidxs.tolist(), MINERS, vals, pres)
        values[c.name] = (vals.astype(np.float16), pres)
    neurons = tuple(Neuron(uid, hk, "5Cold", 1.0, 0) for uid, hk in enumerate(MINERS[:5] + ["5Silent" + "x" * 40]))
    store.store_metagraph(Metagraph(1, blocks.last, neurons))
    return dict(path=path, profile=profile, url=url, store=store, blocks=blocks, sidxs=sidxs, values=values,
                active=set(n.hotkey for n in neurons))


def test_multi_asset_panels_read_every_key_in_asset_order(setup):
    profile, store, blocks, sidxs = setup["profile"], setup["store"], setup["blocks"], setup["sidxs"]
    xsec, funding = profile.challenge("XSEC-RANK"), profile.challenge("FUNDING-XSEC")
    p = build_panel(store, profile, xsec, blocks, setup["active"])
    gone = {int(sidxs[i]) for i in (10, 11, 12, 20, 30)}
    assert p.sidx(blocks.every).tolist() == [s for s in sidxs.tolist() if s not in gone]
    assert p.price.shape == (len(p.block), 33) and p.price.dtype == np.float64
    sol = BREAKOUT_ASSETS.index("SOL")
    assert math.isnan(p.price[3, sol]) and np.isfinite(np.delete(p.price, sol, axis=1)).all()
    s, btc = store.prices("BTC", 0, 10**9)
    np.testing.assert_array_equal(p.price[:, 0], btc[np.isin(s, p.sidx(blocks.every))])
    assert p.hotkeys == tuple(sorted(MINERS[:5]))  # registered and submitting; sorted
    assert p.embeddings.dtype == np.float16 and p.embeddings.shape == (len(p.block), 5, 33)
    vals, pres = setup["values"]["XSEC-RANK"]
    rows = np.searchsorted(sidxs, p.sidx(blocks.every))
    cutoff = p.sidx(blocks.every) <= blocks.train_cutoff_sidx
    assert not cutoff.all() and cutoff.any()
    for j, hk in enumerate(p.hotkeys):
        i = MINERS.index(hk)
        want = np.where(pres[rows, i][:, None], vals[rows, i], np.nan)
        want[~cutoff] = np.nan  # values only to the training cutoff
        np.testing.assert_array_equal(p.embeddings[:, j], want)

    f = build_panel(store, profile, funding, blocks, setup["active"])
    assert f.price.shape == (len(f.block), 20) and int(sidxs[20]) in f.sidx(blocks.every)
    at = f.sidx(blocks.every).tolist().index(int(sidxs[20]))
    assert f.price[at, FUNDING_ASSETS.index("TAO")] == -3e-4 and np.isnan(np.delete(f.price[at], FUNDING_ASSETS.index("TAO"))).all()
    assert (f.price < 0).any()  # funding rates keep their sign

    eth = build_panel(store, profile, profile.challenge("ETH-1H-BINARY"), blocks, setup["active"])
    assert eth.price.ndim == 1 and len(eth.block) == len(sidxs) - 5  # every sample with an ETH row
    assert len(f.block) == len(sidxs) - 1
    assert eth.embeddings.dtype == np.float16


def test_panel_files_keep_float16_and_export_what_the_ledger_holds(setup, tmp_path):
    profile, store, blocks = setup["profile"], setup["store"], setup["blocks"]
    p = build_panel(store, profile, profile.challenge("XSEC-RANK"), blocks, setup["active"])
    p.save(tmp_path / "x.npz", "XSEC-RANK")
    back = Panel.load(tmp_path / "x.npz", "XSEC-RANK")
    assert back.embeddings.dtype == np.float16 and back.price.shape == p.price.shape
    assert np.array_equal(back.embeddings, p.embeddings, equal_nan=True)
    assert np.array_equal(back.price, p.price, equal_nan=True) and back.hotkeys == p.hotkeys
    with np.load(tmp_path / "x.npz") as f:
        assert "XSEC-RANK__prices" in f.files and f["XSEC-RANK__embeddings"].dtype == np.float16
    wide = Panel(p.hotkeys, p.block, p.price, p.embeddings.astype(np.float32))
    wide.save(tmp_path / "w.npz", "W")  # float32 values that are float16 numbers: stored as float16
    assert Panel.load(tmp_path / "w.npz", "W").embeddings.dtype == np.float16
    odd = Panel(p.hotkeys, p.block, p.price, p.embeddings.astype(np.float32) + np.float32(1e-5))
    odd.save(tmp_path / "o.npz", "O")
    assert Panel.load(tmp_path / "o.npz", "O").embeddings.dtype == np.float32


def materialize_panels(setup, base_dir):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("epochs", [epoch_key(EPOCH)])
    resources = {"ledger": LedgerResource(url=setup["url"]), "settings": SettingsResource(profile_path=setup["path"]),
                 "io_manager": EpochArtifactIOManager(base_dir=str(base_dir))}
    return dg.materialize([scoring.panels], partition_key=epoch_key(EPOCH), instance=instance, resources=resources,
                          raise_on_error=False)


def test_panels_are_built_one_at_a_time_with_a_first_seen_record(setup, tmp_path, monkeypatch):
    alive: list[weakref.ref] = []
    built = []

    def one_at_a_time(*args, **kwargs):
        gc.collect()
        assert not [r for r in alive if r() is not None], "a panel built before is still in memory"
        panel = build_panel(*args, **kwargs)
        alive.append(weakref.ref(panel))
        built.append(args[2].name)
        return panel

    monkeypatch.setattr(scoring, "build_panel", one_at_a_time)
    result = materialize_panels(setup, tmp_path)
    assert result.success
    profile, names = setup["profile"], [c.name for c in setup["profile"].mantis_challenges]
    assert built == names  # each once
    meta = result.asset_materializations_for_node("panels")[0].metadata
    assert meta["train_cutoff_sidx"].value == setup["blocks"].train_cutoff_sidx
    assert "samples × 5 miners" in meta["XSEC-RANK"].value

    directory = tmp_path / "panels" / epoch_key(EPOCH)
    assert json.loads((directory / "index.json").read_text()) == dict.fromkeys(names, "panel")
    io = EpochArtifactIOManager(base_dir=str(tmp_path))
    stored = io._load(dg.AssetKey("panels"), epoch_key(EPOCH))
    assert isinstance(stored, StoredArtifacts) and sorted(stored) == sorted(names)
    modes = {c.name: c.mode for c in profile.mantis_challenges}
    record = stored.record(FIRST_SEEN)
    assert record["modes"] == modes
    expected = first_seen_blocks(stored, modes)  # from the panels, each loaded in turn
    assert record["blocks"] == expected and expected[MINERS[4]] > min(expected.values())
    for name in names:
        panel = stored[name]
        assert panel.embeddings.dtype == np.float16
        fresh = build_panel(setup["store"], profile, profile.challenge(name), setup["blocks"], setup["active"])
        assert np.array_equal(panel.embeddings, fresh.embeddings, equal_nan=True)

    # The young-uid rule reads the record and opens no panel file ...
    for name in names:
        (directory / f"{name}.npz").write_bytes(b"not read")
    assert _first_seen(io._load(dg.AssetKey("panels"), epoch_key(EPOCH)), modes) == expected
    # ... and without it (an epoch saved before the record), or for other modes, reads the panels.
    (directory / "first_seen.json").unlink()
    with pytest.raises(Exception, match="not a readable npz"):
        _first_seen(io._load(dg.AssetKey("panels"), epoch_key(EPOCH)), modes)
    assert materialize_panels(setup, tmp_path).success
    other = modes | {"XSEC-RANK": "compat"}
    assert _first_seen(io._load(dg.AssetKey("panels"), epoch_key(EPOCH)), other) == first_seen_blocks(
        io._load(dg.AssetKey("panels"), epoch_key(EPOCH)), other)


def test_a_salience_run_loads_one_panel(setup, tmp_path):
    assert materialize_panels(setup, tmp_path).success
    directory = tmp_path / "panels" / epoch_key(EPOCH)
    (directory / "ETH-1H-BINARY.npz").write_bytes(b"not read")
    io = EpochArtifactIOManager(base_dir=str(tmp_path))
    ctx = dg.build_input_context(asset_key=dg.AssetKey("panels"),
                                 asset_partitions_def=dg.StaticPartitionsDefinition([epoch_key(EPOCH)]),
                                 asset_partition_key_range=dg.PartitionKeyRange(epoch_key(EPOCH), epoch_key(EPOCH)),
                                 partition_key=dg.MultiPartitionKey({"epoch": epoch_key(EPOCH), "challenge": "XSEC-RANK"}))
    loaded = io.load_input(ctx)
    assert isinstance(loaded, dict) and list(loaded) == ["XSEC-RANK"]
    assert loaded["XSEC-RANK"].embeddings.dtype == np.float16


def test_a_build_that_fails_half_way_leaves_no_index(setup, tmp_path):
    assert materialize_panels(setup, tmp_path).success
    io = EpochArtifactIOManager(base_dir=str(tmp_path))
    directory = tmp_path / "panels" / epoch_key(EPOCH)
    panel = io._load(dg.AssetKey("panels"), epoch_key(EPOCH))["XSEC-RANK"]

    def build(name):
        if name == "B":
            raise RuntimeError("ledger gone")
        return panel

    ctx = dg.build_output_context(asset_key=dg.AssetKey("panels"), partition_key=epoch_key(EPOCH))
    with pytest.raises(RuntimeError, match="ledger gone"):
        io.handle_output(ctx, BuiltOnAccess(["A", "B"], build))
    assert not list(directory.glob("*.json"))  # neither the old index nor the old record


def test_building_holds_about_one_float16_panel(setup, tmp_path):
    """Peak traced memory of building and saving a 33-asset panel is the panel's float16 size plus
    little: not a float32 copy, not the ledger's blobs held beside it."""
    profile, blocks = setup["profile"], setup["blocks"]
    store = Ledger(f"sqlite:///{tmp_path}/big.sqlite")
    T, H = 3000, 32
    sidxs = list(range(blocks.train_cutoff_sidx + 1 - T, blocks.train_cutoff_sidx + 1))  # values to the cutoff
    hotkeys = [f"5Big{i:03d}" + "x" * 40 for i in range(H)]
    rng = np.random.default_rng(1)
    store.store_prices_many({s: dict.fromkeys(BREAKOUT_ASSETS, 1.0) for s in sidxs})
    for lo in range(0, T, 1000):
        n = min(1000, T - lo)
        store.store_embeddings_many("XSEC-RANK", sidxs[lo:lo + n], hotkeys, rng.uniform(-1, 1, (n, H, 33)),
                                    rng.random((n, H)) < 0.95)
    size = T * H * 33 * 2

    def traced_peak() -> tuple[Panel, int]:
        gc.collect()
        tracemalloc.start()
        try:
            p = build_panel(store, profile, profile.challenge("XSEC-RANK"), blocks, set(hotkeys))
            p.save(tmp_path / "big.npz", "XSEC-RANK")
            return p, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # the least of three: tracemalloc also counts what another thread allocates meanwhile (a pool's
    # manager left by an earlier test of the suite), which the build itself never holds
    runs = [traced_peak() for _ in range(3)]
    p, peak = runs[0][0], min(r[1] for r in runs)
    assert p.embeddings.nbytes == size
    assert peak < 1.25 * size + 4 * 2**20, f"peak {peak / 2**20:.1f} MiB for a {size / 2**20:.1f} MiB panel"


def test_snapshot_values_and_the_collection_keys(setup):
    keys = price_keys(setup["profile"])
    assert keys == ("ETH",) + tuple(a for a in BREAKOUT_ASSETS if a != "ETH") + FUNDING_KEYS
    snap = PriceSnapshot(0.0, {"ETH": 3000.0, "BTC": math.nan}, {"BTC": -2e-4, "ETH": 0.0})
    got = snap.values(["ETH", "BTC", "SOL", funding_key("BTC"), funding_key("ETH"), funding_key("SOL")])
    assert got["ETH"] == 3000.0 and got[funding_key("BTC")] == -2e-4 and got[funding_key("ETH")] == 0.0
    assert all(math.isnan(got[k]) for k in ("BTC", "SOL", funding_key("SOL")))
    assert list(missing(keys)) == list(keys) and all(math.isnan(v) for v in missing(keys).values())
