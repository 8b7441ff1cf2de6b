"""The embedded devnet: world, clock, chain, miners, payload store, beacon and bootstrap history."""

from __future__ import annotations

import numpy as np
import pytest

import profiles
from assets.epochs import SampleRules
from assets.mantis.ingest import screened_row
from assets.mantis.reveal import _open_sample
from devnet.bootstrap import write_bootstrap
from devnet.chain import DevnetChainState, payload_url
from devnet.clock import DevnetClock
from devnet.mantis.miners import HOSTILITIES, MALFORMATIONS, Miners, hostility
from devnet.world import FIRST_BLOCK, World
from ledger import Ledger
from protocol import payload as pl
from mechanisms.weights import quantize_u16
from resources.chain import ChainError
from resources.chain_devnet import DevnetChain
from resources.drand_devnet import DevnetDrand
from resources.payloads import ABSENT, FETCHED
from resources.payloads_devnet import DevnetPayloadStore
from resources.prices_devnet import DevnetPriceFeed

WEIGHTS_RATE_LIMIT = profiles.load().devnet.weights_rate_limit  # blocks between two set_weights


@pytest.fixture(scope="module")
def world() -> World:
    return World(profiles.load())


@pytest.fixture
def ledger_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/ledger.sqlite"


@pytest.fixture
def state(world, ledger_url) -> DevnetChainState:
    s = DevnetChainState(world, Ledger(ledger_url))
    s.install()
    return s


def test_world_layout(world):
    assert world.live_start_block % world.tempo == 0
    assert world.live_start_block >= FIRST_BLOCK + 14 * 7200
    assert world.time_of(world.block_at(world.time_of(FIRST_BLOCK + 1234))) == world.time_of(FIRST_BLOCK + 1234)
    neurons = world.neurons()
    assert [n.uid for n in neurons] == list(range(len(neurons)))
    assert neurons[1].validator_permit and not any(n.validator_permit for n in neurons[2:])
    assert len({n.hotkey for n in neurons}) == len(neurons)
    young = [n for n, m in zip(neurons[2:], world.miners) if m.role == "young"]
    assert young and all(FIRST_BLOCK < n.registered_at < world.end_block for n in young)
    assert World(profiles.load()).panel.hotkeys == world.panel.hotkeys  # rebuilt identically


def test_clock_manual_and_scaled(ledger_url):
    clock = DevnetClock(Ledger(ledger_url))
    with pytest.raises(RuntimeError):
        clock.now()
    clock.set_manual(1000.0)
    assert clock.advance(60) == 1060.0 == clock.now()
    with pytest.raises(ValueError):
        clock.advance(-1)
    clock.set_scaled(speed=1000.0)
    t0 = clock.now()
    assert 1060.0 <= t0 < 1060.0 + 1000  # ran at most about a second of wall time
    with pytest.raises(RuntimeError):
        clock.advance(5)


def test_install_is_idempotent_and_sets_the_chain(state, world):
    state.install()
    assert state.head_block() == world.live_start_block
    meta = state.metagraph()
    assert meta.uids[:2] == (0, 1) and meta.block == world.live_start_block
    commits = state.commitments()
    silent = {m.hotkey for m in world.miners if m.role == "silent"}
    assert silent and not silent & set(commits)
    some = next(iter(commits.values()))
    assert some.data == payload_url(world.profile.devnet.payload_port, some.hotkey)
    other = DevnetChainState(World(world.profile.model_copy(update={"devnet": world.profile.devnet.model_copy(update={"seed": 99})})), state.ledger)
    with pytest.raises(ChainError, match="seed"):
        other.install()


def test_young_miners_appear_in_the_metagraph_when_they_register(state, world):
    young = [n for n, m in zip(world.neurons()[2:], world.miners) if m.role == "young"][0]
    assert young.hotkey not in state.metagraph(young.registered_at - 1).hotkeys
    assert young.hotkey in state.metagraph(young.registered_at).hotkeys


def test_set_weights_accepts_only_the_validator_and_the_rate_limit(state, world):
    chain = DevnetChain(netuid=world.profile.chain.netuid, ledger_url=str(state.ledger.engine.url), payload_dir="unused")
    quarters = [65535, 0, 65535, 65535, 65535]  # uids 0, 3, 4, 5 a quarter each: within the 30 % limit
    receipt = chain.set_weights([0, 2, 3, 4, 5], quarters, version_key=7)
    assert receipt.sent and receipt.uids == (0, 3, 4, 5) and receipt.weights == (65535,) * 4
    assert receipt.hotkey == world.validator.ss58_address and receipt.block == state.head_block()
    recorded = state.ledger.devnet_weights(world.validator.ss58_address)
    assert recorded[-1]["uids"] == [0, 3, 4, 5] and recorded[-1]["version_key"] == 7
    with pytest.raises(ChainError, match="rate limit"):
        chain.set_weights([0, 3, 4, 5], [65535] * 4, 7)
    state.clock.advance(WEIGHTS_RATE_LIMIT * world.block_time)
    assert chain.set_weights([1], [7], 7).sent  # a lone self-weight: exempt from the limit
    with pytest.raises(ChainError, match="not a registered validator"):
        state.set_weights(world.miners[0].hotkey, [0], [1], 0)
    with pytest.raises(ChainError, match="not registered"):
        state.clock.advance(WEIGHTS_RATE_LIMIT * world.block_time)
        chain.set_weights([10_000], [1], 0)


def test_devnet_chain_takes_the_stored_u16_under_a_binding_max_weight_limit(state, world):
    """The devnet's max_weight_limit (30 %) binds the 35 % burn: quantize_u16 makes u16 the chain
    takes exactly as stored, and the chain refuses what the limit forbids, as subtensor does."""
    limit = state.params().max_weight_limit
    assert limit < 65535 and limit / 65535 < world.profile.weights.burn_share
    chain = DevnetChain(netuid=world.profile.chain.netuid, ledger_url=str(state.ledger.engine.url), payload_dir="unused")
    uids = [n.uid for n in state.metagraph().neurons]
    rng = np.random.default_rng(11)
    weights = rng.random(len(uids)) * 0.65 / len(uids)
    weights[0] = 0.35  # the burn
    stored = quantize_u16(weights, limit)
    assert stored.tolist() != quantize_u16(weights).tolist()  # the limit really clipped
    receipt = chain.set_weights(uids, stored.tolist(), 0)
    record = state.ledger.devnet_weights()[-1]
    assert record["weights"] == list(receipt.weights) == [int(q) for q in stored if q > 0]
    state.clock.advance(WEIGHTS_RATE_LIMIT * world.block_time)
    with pytest.raises(ChainError, match="above max_weight_limit"):
        chain.set_weights(uids, quantize_u16(weights).tolist(), 0)  # quantised without the limit
    assert len(state.ledger.devnet_weights()) == 1


def test_a_live_epoch_opens_to_the_planted_values(state, world, tmp_path):
    """Payloads fetched through the payload store and opened with the drand resource's signatures."""
    url = str(state.ledger.engine.url)
    store = DevnetPayloadStore(directory=str(tmp_path / "payloads"), port=world.profile.devnet.payload_port)
    drand = DevnetDrand(ledger_url=url)
    owner = bytes.fromhex(world.profile.protocol.owner_pk)
    first = world.live_start_block // world.sample_every
    samples = range(first, first + 6)
    fetched = {}
    with Miners(world, store.directory, workers=1) as miners:
        for sidx in samples:
            state.clock.set_manual(world.time_of(sidx * world.sample_every))
            jobs = miners.publish(sidx, state.clock.now())
            urls = {hk: c.data for hk, c in state.commitments().items()}
            results = store.fetch_all(urls, deadline_s=5)
            fetched[sidx] = (jobs, results)
            # Locked: nothing of this sample can be opened yet.
            assert drand.signature(next(iter(jobs.values())).round) is None
    profile, beacon = world.profile, drand.chain()
    newest = max(job.round for jobs, _ in fetched.values() for job in jobs.values() if job.malformation != "late-round")
    state.clock.set_manual(beacon.reveal_time(newest))
    opened = refused = 0
    for sidx, (jobs, results) in fetched.items():
        # as the collection screens and the reveal opens them
        taken_at, row = world.time_of(sidx * world.sample_every), world.row(sidx)
        rules = SampleRules.of(beacon, profile, taken_at)
        rows = [screened_row(r, sidx, taken_at, rules) for r in results.values()]
        signatures = {r.round: drand.signature(r.round) for r in rows if r.round}
        vectors, rejections = _open_sample(rows, signatures, profile, taken_at, rules, beacon.reveal_time)
        reasons = {r.hotkey: r.reason for r in rejections} | {r.hotkey: r.status for r in rows if r.status != FETCHED}
        for i, miner in enumerate(world.miners):
            result = results.get(miner.hotkey)
            if miner.role == "hostile":
                continue  # test_hostile_miners_cost_nobody_but_themselves
            if miner.role == "silent":
                assert result is None  # no commitment at all
                continue
            if miner.hotkey not in jobs:  # nothing to send for any challenge this sample
                assert result.status == ABSENT
                assert all(np.isnan(p.embeddings[row, i]).any() for p in world.panels.values())
                continue
            assert result.status == FETCHED
            if miner.role == "malformed":
                assert reasons[miner.hotkey] == MALFORMATIONS[jobs[miner.hotkey].malformation]
                assert all(miner.hotkey not in vectors[c.name] for c in profile.mantis_challenges)
                refused += 1
                continue
            assert miner.hotkey not in reasons, (miner.role, reasons.get(miner.hotkey))
            for c in profile.mantis_challenges:  # each challenge's planted values, where it has them
                planted = world.panels[c.name].embeddings[row, i]
                if np.isnan(planted).any():
                    assert miner.hotkey not in vectors[c.name]
                elif c.mechanism == "lbfgs":  # the validator renormalises the float16-rounded buckets
                    assert vectors[c.name][miner.hotkey] == pytest.approx(planted.tolist(), rel=2e-3)
                else:
                    assert vectors[c.name][miner.hotkey] == planted.tolist()
            opened += 1
    assert opened >= 40 * len(samples) and refused == 2 * len(samples)


def test_every_malformation_occurs_over_a_few_samples(world, tmp_path):
    kinds = set()
    with Miners(world, tmp_path, workers=1) as miners:
        for sidx in range(world.live_start_block // 5, world.live_start_block // 5 + len(MALFORMATIONS)):
            jobs, _ = miners.jobs(sidx, world.time_of(sidx * 5))
            kinds |= {j.malformation for j in jobs if j.malformation and not j.malformation.startswith("hostile:")}
    assert kinds == set(MALFORMATIONS)


def test_worker_pool_builds_the_same_payloads(world, tmp_path):
    sidx = world.live_start_block // 5
    now = world.time_of(sidx * 5)
    with Miners(world, tmp_path / "a", workers=2) as pooled:
        jobs = pooled.publish(sidx, now)
    sig_round = next(iter(jobs.values())).round
    sig = world.beacon.signature(sig_round, world.beacon.chain.reveal_time(sig_round))
    owner = bytes.fromhex(world.profile.protocol.owner_pk)
    honest = [m for m in world.miners if m.hotkey in jobs and not jobs[m.hotkey].malformation]
    for miner in honest:
        body = (tmp_path / "a" / miner.hotkey).read_bytes()
        assert pl.open_payload(body, sig, owner, hotkey=miner.hotkey).plaintext == jobs[miner.hotkey].plaintext


def test_payload_store_refuses_foreign_urls(tmp_path):
    store = DevnetPayloadStore(directory=str(tmp_path), port=8787)
    out = store.fetch_all({"5Abc": "http://127.0.0.1:8787/5Other", "5Def": "https://x.r2.dev/5Def"}, 1)
    assert {r.status for r in out.values()} == {"bad-url"}


def test_price_feed_follows_the_world(state, world):
    feed = DevnetPriceFeed(ledger_url=str(state.ledger.engine.url))
    now = state.clock.now()
    snap = feed.snapshot(now)
    row = world.row(world.block_at(now) // world.sample_every)
    assert snap.prices[world.challenge.mantis.price] == float(world.panel.price[row])
    # Every key the collection stores: asset prices in `prices`, funding rates in `funding_rates`.
    from assets.mantis.ingest import price_keys

    got, planted = snap.values(price_keys(world.profile)), world.prices(row)
    assert list(got) == list(planted) and np.array_equal(list(got.values()), list(planted.values()), equal_nan=True)
    assert not any(k.startswith("funding:") for k in snap.prices)


def test_bootstrap_history_reads_back_as_the_planted_panel(world, ledger_url):
    small = World(world.profile.model_copy(update={"devnet": world.profile.devnet.model_copy(update={"bootstrap_days": 0.25, "live_days": 0.1})}))
    ledger = Ledger(ledger_url)
    written = write_bootstrap(small, ledger)
    assert written == len(small.bootstrap_sidx()) and write_bootstrap(small, ledger) == 0
    rng = small.bootstrap_sidx()
    sidx, hotkeys, values = ledger.embeddings(small.challenge.name, rng.start, rng.stop)
    assert sidx.tolist() == list(rng)
    cols = [small.panel.hotkeys.index(h) for h in hotkeys]
    expected = small.panel.embeddings[: len(rng)][:, cols]
    assert np.array_equal(values, expected, equal_nan=True)
    assert ledger.embedding_sources(small.challenge.name, rng.start, rng.stop) == {"bootstrap": len(rng)}
    p_sidx, prices = ledger.prices(small.challenge.mantis.ticker, rng.start, rng.stop)
    assert np.array_equal(prices, small.panel.price[: len(rng)])


def test_served_directory_through_the_live_http_store(state, world, tmp_path):
    from devnet.server import serve
    from resources.payloads_http import HttpPayloadStore

    directory = tmp_path / "payloads"
    sidx = world.live_start_block // world.sample_every
    with Miners(world, directory, workers=1) as miners:
        jobs = miners.publish(sidx, world.time_of(sidx * world.sample_every))
    (directory / ".hidden").write_bytes(b"never served")
    server = serve(directory)
    try:
        port = server.server_address[1]
        live = HttpPayloadStore(allowed_host_suffixes=[], allowed_hosts=[f"127.0.0.1:{port}"])
        embedded = DevnetPayloadStore(directory=str(directory), port=port)
        hotkeys = [m.hotkey for m in world.miners[:12]]
        urls = {hk: payload_url(port, hk) for hk in hotkeys}
        over_http, from_disk = live.fetch_all(urls, deadline_s=10), embedded.fetch_all(urls, deadline_s=10)
        for hk in hotkeys:
            assert over_http[hk].status == from_disk[hk].status
            assert over_http[hk].body == from_disk[hk].body
        assert sum(r.status == FETCHED for r in over_http.values()) == sum(hk in jobs for hk in hotkeys)
        assert live.fetch_all({".hidden": payload_url(port, ".hidden")}, 5)[".hidden"].status != FETCHED
    finally:
        server.shutdown()


def _reveal_samples(world: World, tmp_path, samples) -> tuple[dict, dict, float]:
    """Samples of `world` through its chain, payload store, screening and reveal, as the platform
    takes them: ({sidx: vectors by hotkey}, {sidx: reasons by hotkey}, the longest round wait)."""
    profile, beacon = world.profile, world.beacon.chain
    state = DevnetChainState(world, Ledger(f"sqlite:///{tmp_path}/ledger.sqlite"))
    state.install()
    store = DevnetPayloadStore(directory=str(tmp_path / "payloads"), port=profile.devnet.payload_port,
                               max_bytes=profile.payload_limits().body)
    vectors, reasons, wait = {}, {}, 0.0
    with Miners(world, store.directory, workers=1) as miners:
        for sidx in samples:
            taken_at = world.time_of(sidx * world.sample_every)
            state.clock.set_manual(taken_at)
            miners.publish(sidx, taken_at)
            results = store.fetch_all({hk: c.data for hk, c in state.commitments().items()}, deadline_s=5)
            rules = SampleRules.of(beacon, profile, taken_at)
            rows = [screened_row(r, sidx, taken_at, rules) for r in results.values()]
            rounds = {r.round for r in rows if r.round}
            wait = max(wait, max(beacon.reveal_time(r) for r in rounds) - taken_at)
            signatures = {r: world.beacon.signature(r, beacon.reveal_time(r)) for r in rounds}
            got, rejections = _open_sample(rows, signatures, profile, taken_at, rules, beacon.reveal_time)
            vectors[sidx] = got[world.challenge.name]
            reasons[sidx] = {r.hotkey: r.reason for r in rejections} | {r.hotkey: r.status for r in rows
                                                                        if r.status != FETCHED}
    return vectors, reasons, wait


def test_hostile_miners_cost_nobody_but_themselves(world, tmp_path):
    """One miner per attack on the validator (HOSTILITIES), against the same world without them."""
    assert world.profile.devnet.roles.hostile >= len(HOSTILITIES)
    calm_roles = world.profile.devnet.roles.model_copy(update={"hostile": 0})
    calm = World(world.profile.model_copy(update={"devnet": world.profile.devnet.model_copy(update={"roles": calm_roles})}))
    first = world.live_start_block // world.sample_every
    samples = range(first, first + 3)
    vectors, reasons, wait = _reveal_samples(world, tmp_path / "hostile", samples)
    calm_vectors, calm_reasons, calm_wait = _reveal_samples(calm, tmp_path / "calm", samples)
    hostile = {m.hotkey: hostility(world, m.hotkey) for m in world.miners if m.role == "hostile"}
    assert set(hostile.values()) == set(HOSTILITIES)
    for sidx in samples:
        # every other miner's vector and refusal exactly as in the world without hostile miners
        assert {h: v for h, v in vectors[sidx].items() if h not in hostile} == calm_vectors[sidx]
        assert {h: r for h, r in reasons[sidx].items() if h not in hostile} == calm_reasons[sidx]
        for hotkey, kind in hostile.items():
            assert reasons[sidx].get(hotkey) == HOSTILITIES[kind], (kind, reasons[sidx].get(hotkey))
            assert (hotkey in vectors[sidx]) == (HOSTILITIES[kind] is None)
    # The late-locking miner holds the reveal no longer than the challenges' horizons need.
    assert calm_wait <= wait <= world.profile.latest_lock_seconds()
    assert world.profile.latest_lock_seconds() < world.profile.round_deadline_seconds()  # and it ends before the deadline


def test_payload_store_reads_only_regular_files(tmp_path):
    """A FIFO would block the sample for good and a link would copy any file into the ledger."""
    import os

    store = DevnetPayloadStore(directory=str(tmp_path), port=8787, max_bytes=64)
    (tmp_path / "5Good").write_bytes(b"{}")
    os.mkfifo(tmp_path / "5Fifo")
    (tmp_path / "5Link").symlink_to(tmp_path / "5Good")
    (tmp_path / "5Dir").mkdir()
    (tmp_path / "5Big").write_bytes(b"x" * 65)
    names = ["5Good", "5Fifo", "5Link", "5Dir", "5Big", "5None"]
    out = store.fetch_all({h: payload_url(8787, h) for h in names}, deadline_s=1)
    assert out["5Good"].status == FETCHED and out["5Good"].body == b"{}"
    assert {h: out[h].status for h in names[1:]} == {"5Fifo": "fetch-error", "5Link": "fetch-error",
                                                     "5Dir": "fetch-error", "5Big": "fetch-error", "5None": ABSENT}
