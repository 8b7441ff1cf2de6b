"""Vesting in the platform on the devnet: months of stake history read from the devnet chain through the
chain interface, the `vesting_multipliers` asset, ordered backfills, bad input, and the operator commands.

One module-scoped ledger books the history up to 101 epochs before the first live epoch (about 9 s);
each test works on its own copy.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from fractions import Fraction

import dagster as dg
import pytest

import profiles
from assets.epochs import EpochBlocks, epoch_metagraph
from assets.partitions import EPOCHS, epoch_key
from assets.vesting import Vesting, miners_of, stored_state, vesting_multipliers
from cli.main import main
from devnet.chain import DevnetChainState
from devnet.world import World
from ledger import Ledger
from resources.chain import ChainError, StakeSnapshot
from resources.chain_devnet import DevnetChain
from resources.ledger import LedgerResource
from resources.settings_resource import SettingsResource

PROFILE = profiles.load()
V = PROFILE.vesting


@pytest.fixture(scope="module")
def world() -> World:
    return World(PROFILE)


@pytest.fixture(scope="module")
def booked(tmp_path_factory, world):
    """A devnet ledger whose vesting is booked from activation to L − 101 (L: the first live epoch)."""
    home = tmp_path_factory.mktemp("vesting")
    url = f"sqlite:///{home}/ledger.sqlite"
    state = DevnetChainState(world, Ledger(url))
    state.install()
    live = world.live_start_block // world.tempo
    state.clock.set_manual(world.time_of((live + 1) * world.tempo))
    chain = DevnetChain(netuid=PROFILE.chain.netuid, ledger_url=url, payload_dir=str(home))
    store = Ledger(url)
    Vesting(PROFILE, store, chain).evaluate(live - 101, metagraph(store, chain, live - 101))
    store.dispose()
    return home / "ledger.sqlite", live


def metagraph(store, chain, epoch):
    return epoch_metagraph(store, chain, EpochBlocks.of(epoch, PROFILE).last)


class FaultyChain(DevnetChain):
    """The devnet chain with one bad block: its state unreadable, or one undecodable event in it."""

    bad_block: int = -1
    fault: str = "snapshot"  # snapshot | event

    def stake_snapshot(self, block, coldkeys) -> StakeSnapshot:
        if self.fault == "snapshot" and block == self.bad_block:
            raise ChainError(f"state of block {block} is pruned on this node")
        return super().stake_snapshot(block, coldkeys)

    def stake_events(self, first, last):
        out = super().stake_events(first, last)
        if self.fault == "fuzz":  # hostile records between the real ones, as any account could cause
            rng = random.Random(first)
            atoms = [None, 0, -1, 2**64, 2**70, 1.5, "x", "", PROFILE.chain.netuid, [], {}, True, "\x00"]
            names = ["StakeAdded", "StakeRemoved", "StakeMoved", "StakeSwapped", "StakeTransferred", "AlphaBurned"]
            real = [r for _, r in out] or [{}]
            for _ in range(200):
                base = json.loads(json.dumps(rng.choice(real)))
                event = base.get("event", {})
                attrs = list(event.get("attributes") or [])
                for k in range(len(attrs)):
                    if rng.random() < 0.3:
                        attrs[k] = rng.choice(atoms + attrs)
                event.update(event_id=rng.choice(names), attributes=attrs[:rng.randint(0, 7)])
                base["extrinsic_idx"] = rng.choice([1, 2, 2**40, None, "3"])
                out.insert(rng.randint(0, len(out)), (rng.randint(first, last), base))
            return out
        if self.fault == "event" and first <= self.bad_block <= last:
            garbled = {"event": {"module_id": "SubtensorModule", "event_id": "StakeRemoved",
                                 "attributes": ["5GarbledAccount", 1, 2]}, "extrinsic_idx": 1}
            out.append((self.bad_block, garbled))
        return out


@pytest.fixture
def copy(tmp_path, booked):
    """(store, chain factory, live epoch) on a private copy of the booked ledger."""
    path, live = booked
    clone(path, tmp_path)
    url = f"sqlite:///{tmp_path}/ledger.sqlite"

    def chain(cls=DevnetChain, **kw):
        return cls(netuid=PROFILE.chain.netuid, ledger_url=url, payload_dir=str(tmp_path), **kw)

    return Ledger(url), chain, live, url


def clone(path, directory):
    """Copy a SQLite ledger with its write-ahead log (other connections to it may still be open)."""
    for suffix in ("", "-wal", "-shm"):
        if path.with_name(path.name + suffix).exists():
            shutil.copy(path.with_name(path.name + suffix), directory / (path.name + suffix))


def plain(rows):
    """Rows without the time they were recorded, for comparing two ways of booking them."""
    return [(r.epoch, r.step_block, r.status, r.reason, r.undecoded, r.chain, r.flows, r.factors) for r in rows]


def test_planted_behaviours_come_through_the_chain_and_match_the_planted_truth(copy, world):
    store, chain, live, _ = copy
    c = chain()
    row = Vesting(PROFILE, store, c).evaluate(live, metagraph(store, c, live))
    expected = world.stake.expected(V, live)
    assert row.status == "ok" and row.factors
    assert {hk: f["m"] for hk, f in row.factors.items() if hk in expected} == pytest.approx(expected, abs=1e-12)
    by = {}
    for hk, f in row.factors.items():
        by.setdefault(world.stake.behaviour_of(hk), []).append(f)
    top = max(f["m"] for f in row.factors.values())
    assert top == 1.5 and all(f["m"] == 1.5 for f in by["holder"])  # long holders reach the top tier
    assert max(f["m"] for f in by["seller_all"]) < min(f["m"] for f in by["seller_part"]) < 1.5  # sellers get less
    assert all(f["m"] == 1.5 for f in by["mover"])  # moving to a validator within the subnet is no sell (V6)
    assert max(f["m"] for f in by["late"]) < 1.5  # a short history: a lower time tier
    multi = by["multi"]
    assert len(multi) == 3 and len({f["coldkey"] for f in multi}) == 1
    state, _ = stored_state(store, PROFILE, live, miners_of(metagraph(store, c, live)))
    held = state.coldkeys[multi[0]["coldkey"]].held
    for hk, f in row.factors.items():
        if world.stake.behaviour_of(hk) == "multi":  # the coldkey's retained emissions split evenly (V7)
            assert f["h"] == pytest.approx(min(1, held / 3 / state.emitted[hk]), abs=1e-12)
    reasons = Counter(why for r in store.vesting_epochs(V.activation_epoch, live, ("flows",)) for *_, why in r.flows)
    for reason in ("StakeAdded on S", "StakeRemoved on S", "StakeMoved within S (V6)", "StakeMoved from S to another subnet",
                   "StakeSwapped from S to another subnet", "StakeTransferred to another coldkey",
                   "StakeTransferred from another coldkey", "emission at the step"):
        assert reasons[reason] > 0, reason


def test_nothing_before_activation_counts(copy, world):
    store, chain, live, _ = copy
    c = chain()
    early = Vesting(PROFILE, store, c).evaluate(V.activation_epoch - 1, metagraph(store, c, live))
    assert early.status == "inactive" and early.flows == [] and {f["m"] for f in early.factors.values()} == {1.0}
    assert store.vesting_span()[0] == V.activation_epoch  # an epoch before activation opens nothing
    first = store.vesting_epoch(V.activation_epoch)
    assert first.chain["opening"]  # the stake held at activation: an opening tranche, never rewards
    assert all(kind != "emission" or f_epoch >= V.activation_epoch
               for f_epoch, kind in ((r.epoch, f[3]) for r in store.vesting_epochs(0, live, ("flows",)) for f in r.flows))


@pytest.mark.slow
def test_a_backfill_of_100_epochs_in_one_run_equals_them_one_by_one(tmp_path, booked):
    path, live = booked
    keys = [epoch_key(e) for e in range(live - 100, live)]
    stores = {}
    for way in ("range", "single"):
        (tmp_path / way).mkdir()
        clone(path, tmp_path / way)
        url = f"sqlite:///{tmp_path / way}/ledger.sqlite"
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions(EPOCHS.name, keys)
        resources = {"chain": DevnetChain(netuid=PROFILE.chain.netuid, ledger_url=url, payload_dir=str(tmp_path)),
                     "ledger": LedgerResource(url=url), "settings": SettingsResource()}
        if way == "range":
            result = dg.materialize([vesting_multipliers], instance=instance, resources=resources, tags={
                "dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]})
            assert result.success
            meta = result.asset_materializations_for_node("vesting_multipliers")[-1].metadata
            assert meta["epochs"].value == f"{live - 100}–{live - 1} in order (100)"
        else:
            for key in keys:
                assert dg.materialize([vesting_multipliers], partition_key=key, instance=instance,
                                      resources=resources).success
        stores[way] = Ledger(url)
    rows = {way: stores[way].vesting_epochs(live - 100, live - 1) for way in stores}
    assert len(rows["range"]) == 100 and plain(rows["range"]) == plain(rows["single"])
    assert all(r.factors for r in rows["range"])


def test_a_missing_snapshot_block_falls_back_visibly_and_loses_no_state(copy, world):
    store, chain, live, url = copy
    epoch = live - 100
    step = chain().last_step(EpochBlocks.of(epoch, PROFILE).last)
    faulty = chain(FaultyChain, bad_block=step, fault="snapshot")
    before = store.vesting_epoch(epoch - 1)
    row = Vesting(PROFILE, store, faulty).evaluate(epoch, metagraph(store, faulty, epoch))
    assert row.status == "fallback" and "snapshot" in row.reason and "pruned" in row.reason
    assert {hk: f["m"] for hk, f in row.factors.items()} == {hk: f["m"] for hk, f in before.factors.items()}
    assert all(f["rule"].startswith("previous epoch's factors") for f in row.factors.values())
    assert not any(f[3] == "emission" for f in row.flows)  # no snapshots, no emission; the events still count
    # The next epoch goes on from the kept state; the bad epoch is read again and heals once the block is back.
    c = chain()
    after = Vesting(PROFILE, store, c).evaluate(epoch + 1, metagraph(store, c, epoch + 1))
    assert after.status == "ok" and store.vesting_epoch(epoch).status == "ok"
    assert any(f[3] == "emission" for f in store.vesting_epoch(epoch).flows)


def test_an_undecodable_event_is_recorded_counted_and_the_epoch_falls_back(copy, world):
    store, chain, live, _ = copy
    epoch = live - 100
    blocks = EpochBlocks.of(epoch, PROFILE)
    faulty = chain(FaultyChain, bad_block=blocks.first + 7, fault="event")
    row = Vesting(PROFILE, store, faulty).evaluate(epoch, metagraph(store, faulty, epoch))
    assert row.status == "fallback" and row.undecoded == 1 and "could not be decoded" in row.reason
    (bad,) = store.vesting_undecoded(epoch)
    assert bad["block"] == blocks.first + 7 and bad["name"] == "StakeRemoved" and bad["reason"]
    assert {f[5] for f in row.flows} <= {"snapshot difference (§3.4)", "emission at the step"}
    # No state is lost: the snapshot difference books what the planted operations did.
    miners = miners_of(metagraph(store, faulty, epoch))
    state, _ = stored_state(store, PROFILE, epoch, miners)
    got = state.holdings(epoch, Fraction(PROFILE.chain.tempo) * Fraction(str(PROFILE.chain.block_time)), V.formula)
    truth = world.stake.holdings(V, epoch)
    steady = [hk for hk in truth if world.stake.behaviour_of(hk) in ("holder", "buyer", "mover", "multi", "late")]
    assert steady and all((got[hk].h, got[hk].d) == (truth[hk].h, truth[hk].d) for hk in steady)


def test_show_and_export_replay_to_the_assets_multipliers(copy, world, tmp_path, capsys, monkeypatch):
    store, chain, live, url = copy
    c = chain()
    row = Vesting(PROFILE, store, c).evaluate(live - 100, metagraph(store, c, live - 100))
    monkeypatch.setenv("INCENTIVE_LEDGER_URL", url)
    holder = next(hk for hk in row.factors if world.stake.behaviour_of(hk) == "holder")
    assert main(["vesting", "show", holder, "--epoch", str(live - 100), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["h"], shown["d"], shown["m"]) == tuple(row.factors[holder][k] for k in "hdm")
    assert shown["rule"].startswith("table:") and shown["tranches"] and shown["qualified"] in (True, False)
    assert main(["vesting", "show", holder]) == 0 and "live tranche(s)" in capsys.readouterr().out
    out = tmp_path / "flows.json"
    assert main(["vesting", "export", "--epoch", str(live - 100), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["vesting", "replay", str(out), "--at", str(live - 100), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert replayed == {hk: {k: f[k] for k in "hdm"} for hk, f in row.factors.items()}
    assert main(["vesting", "show", "5NotAMiner", "--epoch", str(live - 100)]) == 2


def test_snapshot_flows_book_what_the_events_would(copy, world):
    """Without an event stream (§3.4) an epoch's flows are each coldkey's total difference less its
    emissions: on the devnet (one operation per coldkey an epoch at most) that is the planted truth."""
    store, chain, live, _ = copy
    c = chain()
    snapshots = PROFILE.model_copy(update={"vesting": V.model_copy(update={"flows": "snapshots"})})
    epochs = range(live - 100, live - 90)
    for epoch in epochs:
        row = Vesting(snapshots, store, c).evaluate(epoch, metagraph(store, c, epoch))
        assert row.status == "ok" and {f[5] for f in row.flows} <= {"snapshot difference (§3.4)", "emission at the step"}
    expected = world.stake.expected(V, epochs[-1])
    # an operation after the last epoch's step shows in the next epoch's difference (post to post), not yet
    blocks, step = EpochBlocks.of(epochs[-1], PROFILE), row.step_block
    pending = {op.coldkey for op in world.stake.operations if step < op.block <= blocks.last}
    settled = {hk: m for hk, m in expected.items() if row.factors[hk]["coldkey"] not in pending}
    assert len(settled) > 60 and {hk: row.factors[hk]["m"] for hk in settled} == pytest.approx(settled, abs=1e-12)
    assert any(f[3] == "outflow" for e in epochs for f in store.vesting_epoch(e).flows)  # sells seen as differences


def test_hostile_stake_records_never_crash_an_epoch_or_lose_its_state(copy):
    store, chain, live, _ = copy
    epoch = live - 100
    c = chain(FaultyChain, fault="fuzz")
    checkpoints = store.vesting_checkpoint(epoch - 1)
    row = Vesting(PROFILE, store, c).evaluate(epoch, metagraph(store, c, epoch))
    assert row.status in ("ok", "fallback") and row.factors
    if row.status == "fallback":  # recorded and counted, with the previous epoch's factors
        assert row.undecoded == len(store.vesting_undecoded(epoch)) > 0 and row.reason
    stored_state(store, PROFILE, epoch, miners_of(metagraph(store, c, epoch)))  # the booked flows replay
    again = Vesting(PROFILE, store, chain()).evaluate(epoch - 150, metagraph(store, c, epoch - 150))
    assert again.status == "ok" and again.factors  # a kept epoch evaluated again keeps the checkpoints after it
    assert checkpoints[0] > epoch - 150 and store.vesting_checkpoint(epoch - 1) == checkpoints
