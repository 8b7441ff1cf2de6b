"""BittensorChain's stake reads (last_step, stake_snapshot, stake_events) against the fake
`bt.Substrate` of tests/test_chain_bittensor.py, extended with per-block state, stake infos and
events; and the §3.3 classes end to end (vesting_bettensor.md): event records in the current
runtime's layouts → `stake_events` → `events.decode` → `events.combine` → `flows.classify`.

The fake serves no block above its head (as a node: `BlockNotFound`), so a read that asked the
head instead of its block could not pass these tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import bittensor as bt
import pytest

from mechanisms.vesting import events as ev
from mechanisms.vesting.flows import Classified, classify
from resources.chain import ChainError, StakeSnapshot
from resources.chain_bittensor import MAX_EVENT_BLOCKS, STAKE_CHUNK, BittensorChain
from tests.test_chain_bittensor import HEAD, NETUID, FakeSubstrate, account, hash_of

S = NETUID
OTHER = 9
SUBTENSOR = "SubtensorModule"


@dataclass
class StakeFake(FakeSubstrate):
    """The shared fake plus what the stake reads reach: storage per block, the stake-info runtime
    API, `System.Events` per block, and blocks whose reads fail."""

    history: dict = field(default_factory=dict)  # (block, module, item, *params) -> value
    stakes: dict = field(default_factory=dict)  # block -> {coldkey: [StakeInfo]}
    block_events: dict = field(default_factory=dict)  # block -> [event records]
    broken: dict = field(default_factory=dict)  # block -> exception any read at it raises

    def _at(self, block_hash: str | None) -> int | None:
        block = self.block_of(block_hash)
        if block in self.broken:
            raise self.broken[block]
        return block

    async def block_hash(self, block: int | None = None) -> str:
        if block is not None and block > self.head:
            self._record("block_hash", block)
            raise bt.ChainError(f"no block at height {block}")
        return await super().block_hash(block)

    async def query(self, module, storage_function, params=None, block_hash=None):
        value = await super().query(module, storage_function, params, block_hash)
        key = (self._at(block_hash), module, storage_function, *(params or ()))
        return self.history.get(key, value)

    async def runtime_call(self, api, method, params, block_hash=None):
        if (api, method) != ("StakeInfoRuntimeApi", "get_stake_info_for_coldkeys"):
            return await super().runtime_call(api, method, params, block_hash)
        self._record("runtime_call", api, method, tuple(params), block_hash)
        by_coldkey = self.stakes.get(self._at(block_hash), {})
        # Vec<(AccountId32, Vec<StakeInfo>)>: every coldkey asked, with or without stake
        return [(c, json.loads(json.dumps(by_coldkey.get(c, [])))) for c in params[0]]

    async def events(self, block_hash=None):
        self._record("events", block_hash)
        return list(self.block_events.get(self._at(block_hash), []))


@dataclass
class Wrapped:
    """A transport object carrying its decoded value in `.value` (as scale objects do)."""

    value: Any


@pytest.fixture(autouse=True)
def _token_symbol_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BTCLI_TOKEN_SYMBOLS_CACHE", str(tmp_path / "token_symbols.json"))


@pytest.fixture
def chains():
    made: list[BittensorChain] = []

    def make(substrate: FakeSubstrate) -> BittensorChain:
        chain = BittensorChain.with_substrate(substrate, netuid=S, network="local")
        made.append(chain)
        return chain

    yield make
    for chain in made:
        chain.teardown_after_execution(None)


def subnet_fake(*netuids: int) -> StakeFake:
    fake = StakeFake()
    for netuid in netuids:
        fake.storage[(SUBTENSOR, "NetworksAdded", netuid)] = True
    return fake


ALICE, BOB, CAROL = (account(f"//{n}") for n in ("Alice", "Bob", "Carol"))
HA1, HA2, HC, VAL, VAL2 = (account(f"//{n}") for n in ("AliceHot1", "AliceHot2", "CarolHot",
                                                        "Validator", "OtherValidator"))


# -------------------------------------------------------------------------------------------------
# last_step


def test_last_step_reads_blocks_since_last_step_at_that_block(chains):
    fake = subnet_fake(S)
    fake.history[(900, SUBTENSOR, "BlocksSinceLastStep", S)] = 40
    fake.history[(HEAD, SUBTENSOR, "BlocksSinceLastStep", S)] = 5
    chain = chains(fake)
    assert chain.last_step(900) == 860
    reads = [c for c in fake.called("query") if c[2] != "TokenSymbol"]
    assert [(c[2], c[3], c[4]) for c in reads] == [
        ("NetworksAdded", (S,), hash_of(900)),
        ("BlocksSinceLastStep", (S,), hash_of(900)),
    ]
    assert fake.called("block_number") == []  # never the head
    assert chain.last_step(HEAD) == HEAD - 5


def test_last_step_at_the_step_block_is_that_block(chains):
    fake = subnet_fake(S)
    fake.history[(720, SUBTENSOR, "BlocksSinceLastStep", S)] = 0
    assert chains(fake).last_step(720) == 720


@pytest.mark.parametrize(
    ("setup", "block", "match"),
    [
        (lambda f: f.broken.update({900: bt.RpcConnectionError("state discarded")}), 900,
         r"last_step\(block=900\) failed .*RpcConnectionError: state discarded"),
        (lambda f: None, HEAD + 1, rf"last_step\(block={HEAD + 1}\) failed .*no block at height"),
        (lambda f: f.storage.pop((SUBTENSOR, "NetworksAdded", S)), 900,
         f"last_step: subnet {S} does not exist"),
        (lambda f: f.history.update({(900, SUBTENSOR, "BlocksSinceLastStep", S): 901}), 900,
         "BlocksSinceLastStep .* is 901 at block 900"),
    ],
    ids=["read-fails", "beyond-head", "no-subnet", "impossible-value"],
)
def test_last_step_failures_are_chain_errors(chains, setup, block, match):
    fake = subnet_fake(S)
    fake.history[(900, SUBTENSOR, "BlocksSinceLastStep", S)] = 40
    setup(fake)
    with pytest.raises(ChainError, match=match):
        chains(fake).last_step(block)


# -------------------------------------------------------------------------------------------------
# stake_snapshot


def info(coldkey: str, hotkey: str, netuid: int, stake: int) -> dict:
    """One decoded `StakeInfo` of the runtime API."""
    return {"hotkey": hotkey, "coldkey": coldkey, "netuid": netuid, "stake": stake, "locked": 0,
            "emission": 0, "tao_emission": 0, "drain": 0, "is_registered": True}


def test_stake_snapshot_keeps_this_subnets_nonzero_positions_per_pair(chains):
    fake = subnet_fake(S)
    fake.stakes[900] = {
        ALICE: [
            info(ALICE, HA1, S, 5_000_000_000),
            info(ALICE, HA2, S, 0),  # zero position
            info(ALICE, HA1, OTHER, 7_000_000_000),  # other subnet, same hotkey
            info(ALICE, VAL, S, 250),
            info(ALICE, HA1, S, 1),  # the same pair again: summed
        ],
        BOB: [info(BOB, VAL, 0, 9_000_000_000), info(BOB, HA1, S, 3)],
    }
    fake.stakes[HEAD] = {ALICE: [info(ALICE, HA1, S, 1)]}
    snap = chains(fake).stake_snapshot(900, [ALICE, BOB, CAROL])
    assert snap == StakeSnapshot(block=900, pairs={
        (ALICE, HA1): 5_000_000_001, (ALICE, VAL): 250, (BOB, HA1): 3,
    })
    assert all(type(v) is int for v in snap.pairs.values())
    assert snap.totals() == {ALICE: 5_000_000_251, BOB: 3}
    (call,) = fake.called("runtime_call")
    assert call == ("runtime_call", "StakeInfoRuntimeApi", "get_stake_info_for_coldkeys",
                    ([ALICE, BOB, CAROL],), hash_of(900))
    assert fake.called("block_number") == []


def test_stake_snapshot_chunks_the_coldkeys(chains):
    coldkeys = [account(f"//c{i}") for i in range(2 * STAKE_CHUNK + 44)]
    fake = subnet_fake(S)
    fake.stakes[950] = {c: [info(c, HA1, S, i + 1)] for i, c in enumerate(coldkeys)}
    snap = chains(fake).stake_snapshot(950, coldkeys + coldkeys[:5])  # repeats asked once
    assert snap.pairs == {(c, HA1): i + 1 for i, c in enumerate(coldkeys)}
    calls = fake.called("runtime_call")
    assert [len(c[3][0]) for c in calls] == [STAKE_CHUNK, STAKE_CHUNK, 44]
    assert [k for c in calls for k in c[3][0]] == coldkeys
    assert {c[4] for c in calls} == {hash_of(950)}


def test_stake_snapshot_without_coldkeys_reads_nothing(chains):
    fake = subnet_fake(S)
    assert chains(fake).stake_snapshot(900, []) == StakeSnapshot(900, {})
    assert fake.calls == []


@pytest.mark.parametrize(
    ("setup", "block", "match"),
    [
        (lambda f: f.broken.update({900: bt.RpcConnectionError("connection reset")}), 900,
         r"stake_snapshot\(block=900, 2 coldkeys\) failed .*connection reset"),
        (lambda f: f.fail.update({"runtime_call": bt.ChainError("runtime api failed")}), 900,
         "runtime api failed"),
        (lambda f: None, HEAD + 5, "no block at height"),
        (lambda f: f.storage.pop((SUBTENSOR, "NetworksAdded", S)), 900,
         f"stake_snapshot: subnet {S} does not exist"),
    ],
    ids=["block-fails", "runtime-call-fails", "beyond-head", "no-subnet"],
)
def test_stake_snapshot_failures_are_chain_errors(chains, setup, block, match):
    fake = subnet_fake(S)
    fake.stakes[900] = {ALICE: [info(ALICE, HA1, S, 1)]}
    setup(fake)
    with pytest.raises(ChainError, match=match):
        chains(fake).stake_snapshot(block, [ALICE, BOB])


# -------------------------------------------------------------------------------------------------
# stake_events


def record(module: str, name: str, attributes: Any, extrinsic: int | None = 1) -> dict:
    """A `System.Events` record as the node decodes it."""
    phase = {"ApplyExtrinsic": extrinsic} if extrinsic is not None else "Finalization"
    return {"phase": phase, "extrinsic_idx": extrinsic, "event_index": "0x0700",
            "event": {"module_id": module, "event_id": name, "attributes": attributes},
            "topics": []}


def noise(extrinsic: int | None = 1) -> list[dict]:
    """Events of other modules, and Subtensor events that are not stake events."""
    return [
        record("System", "ExtrinsicSuccess", {"dispatch_info": {"weight": 1}}, extrinsic),
        record("Balances", "Withdraw", {"who": ALICE, "amount": 10}, extrinsic),
        record(SUBTENSOR, "WeightsSet", (S, 3), extrinsic),
        record(SUBTENSOR, "AxonServed", (S, HA1), extrinsic),
    ]


def test_stake_events_filters_and_normalises_in_block_and_event_order(chains):
    fake = subnet_fake(S)
    added = (ALICE, HA1, 2_000_000_000, 10_000_000_000, S, 1000)
    named = {"coldkey": CAROL, "origin_hotkey": HC, "origin_netuid": OTHER,
             "destination_hotkey": HC, "destination_netuid": S, "tao": 5}
    fake.block_events = {
        900: [*noise(0), record(SUBTENSOR, "StakeAdded", added, 2), *noise(3)],
        # 901: no events at all
        902: [
            Wrapped(record(SUBTENSOR, "StakeRemoved", (ALICE, Wrapped(HA1), 1, 2, S, 0), 0)),
            record("Utility", "ItemCompleted", (), 0),
            record(SUBTENSOR, "StakeMoved", named, 4),
            record(SUBTENSOR, "StakeAdded", [BOB, VAL, 3, 4, S, 0], None),  # no extrinsic
        ],
        903: [record(SUBTENSOR, "StakeSwapped", (ALICE, HA2, S, OTHER, 7), 1),
              record(SUBTENSOR, "StakeTransferred", (ALICE, BOB, HA1, S, S, 8), 1)],
    }
    got = chains(fake).stake_events(900, 903)
    plain = lambda name, attributes, idx: {  # noqa: E731
        "event": {"module_id": SUBTENSOR, "event_id": name, "attributes": attributes},
        "extrinsic_idx": idx}
    assert got == [
        (900, plain("StakeAdded", list(added), 2)),
        (902, plain("StakeRemoved", [ALICE, HA1, 1, 2, S, 0], 0)),
        (902, plain("StakeMoved", named, 4)),
        (902, plain("StakeAdded", [BOB, VAL, 3, 4, S, 0], None)),
        (903, plain("StakeSwapped", [ALICE, HA2, S, OTHER, 7], 1)),
        (903, plain("StakeTransferred", [ALICE, BOB, HA1, S, S, 8], 1)),
    ]
    assert json.loads(json.dumps(got)) == [list(x) for x in got]  # plain data only
    assert [c[1] for c in fake.called("events")] == [hash_of(b) for b in range(900, 904)]
    assert fake.called("block_number") == []


def test_stake_events_of_one_block(chains):
    fake = subnet_fake(S)
    fake.block_events[HEAD] = [record(SUBTENSOR, "StakeRemoved", (ALICE, HA1, 1, 2, S, 0))]
    assert [b for b, _ in chains(fake).stake_events(HEAD, HEAD)] == [HEAD]


def test_a_failing_block_fails_the_range_and_stops_reading(chains):
    fake = subnet_fake(S)
    fake.block_events = {b: [record(SUBTENSOR, "StakeAdded", (ALICE, HA1, 1, 2, S, 0))]
                         for b in range(900, 906)}
    fake.broken[902] = bt.RpcConnectionError("connection reset by peer")
    with pytest.raises(ChainError, match=r"stake_events\(900\.\.905\) at block 902 failed .*reset"):
        chains(fake).stake_events(900, 905)
    assert [c[1] for c in fake.called("events")] == [hash_of(b) for b in (900, 901, 902)]


def test_a_block_beyond_the_head_is_a_chain_error(chains):
    fake = subnet_fake(S)
    with pytest.raises(ChainError, match=f"at block {HEAD + 1} failed .*no block at height"):
        chains(fake).stake_events(HEAD - 1, HEAD + 1)


def test_a_block_without_a_hash_is_a_chain_error(chains):
    class NoHash(StakeFake):
        async def block_hash(self, block=None):
            return None if block == 901 else await super().block_hash(block)

    fake = NoHash()
    with pytest.raises(ChainError, match="no hash for block 901"):
        chains(fake).stake_events(900, 902)
    assert [c[1] for c in fake.called("events")] == [hash_of(900)]  # never events(None)


def test_a_record_that_is_not_an_event_record_is_a_chain_error(chains):
    fake = subnet_fake(S)
    fake.block_events[900] = [*noise(), "0xdeadbeef"]
    with pytest.raises(ChainError, match="record 4 of block 900 is not a decoded EventRecord"):
        chains(fake).stake_events(900, 900)


@pytest.mark.parametrize(
    ("first", "last", "match"),
    [(901, 900, "first <= last"), (-1, 5, "first <= last"),
     (0, MAX_EVENT_BLOCKS, f"{MAX_EVENT_BLOCKS + 1} blocks; at most {MAX_EVENT_BLOCKS}")],
)
def test_stake_events_refuses_bad_ranges_before_reading(chains, first, last, match):
    fake = subnet_fake(S)
    with pytest.raises(ChainError, match=match):
        chains(fake).stake_events(first, last)
    assert fake.calls == []


# -------------------------------------------------------------------------------------------------
# §3.3 end to end: current runtime layouts → stake_events → decode → combine → classify

TAO = 10**9


def added(coldkey, hotkey, alpha, netuid, extrinsic=1, tao=TAO, fee=50_000):
    return record(SUBTENSOR, "StakeAdded", (coldkey, hotkey, tao, alpha, netuid, fee), extrinsic)


def removed(coldkey, hotkey, alpha, netuid, extrinsic=1, tao=TAO, fee=50_000):
    return record(SUBTENSOR, "StakeRemoved", (coldkey, hotkey, tao, alpha, netuid, fee), extrinsic)


def moved(coldkey, origin_hotkey, origin_netuid, destination_hotkey, destination_netuid, tao=TAO,
          extrinsic=1):
    return record(SUBTENSOR, "StakeMoved", (coldkey, origin_hotkey, origin_netuid,
                                            destination_hotkey, destination_netuid, tao), extrinsic)


def swapped(coldkey, hotkey, origin_netuid, destination_netuid, tao=TAO, extrinsic=1):
    return record(SUBTENSOR, "StakeSwapped", (coldkey, hotkey, origin_netuid, destination_netuid, tao),
                  extrinsic)


def transferred(origin_coldkey, destination_coldkey, hotkey, origin_netuid, destination_netuid,
                tao=TAO, extrinsic=1):
    return record(SUBTENSOR, "StakeTransferred", (origin_coldkey, destination_coldkey, hotkey,
                                                  origin_netuid, destination_netuid, tao), extrinsic)


# (class, block, the block's stake records in chain order, the expected §3.3 effects on S)
SCENARIO = [
    ("add stake on S", 950, [added(ALICE, HA1, 10 * TAO, S)],
     [(ALICE, "inflow", 10 * TAO)]),
    ("remove stake on S", 951, [removed(ALICE, HA1, 3 * TAO, S)],
     [(ALICE, "outflow", 3 * TAO)]),
    ("move within S to a validator", 952,
     [removed(ALICE, HA1, 2 * TAO, S), added(ALICE, VAL, 2 * TAO, S), moved(ALICE, HA1, S, VAL, S)],
     [(ALICE, "neutral", 0)]),
    ("move S -> other subnet", 953,
     [removed(ALICE, HA1, 1 * TAO, S), added(ALICE, VAL2, 4 * TAO, OTHER),
      moved(ALICE, HA1, S, VAL2, OTHER)],
     [(ALICE, "outflow", 1 * TAO)]),
    ("move other subnet -> S", 954,
     [removed(CAROL, HC, 8 * TAO, OTHER), added(CAROL, HC, 6 * TAO, S), moved(CAROL, HC, OTHER, HC, S)],
     [(CAROL, "inflow", 6 * TAO)]),
    ("swap S -> other subnet", 955,
     [removed(ALICE, HA2, 500_000_000, S), added(ALICE, HA2, 2 * TAO, OTHER),
      swapped(ALICE, HA2, S, OTHER)],
     [(ALICE, "outflow", 500_000_000)]),
    ("transfer to another coldkey on S", 956,
     [removed(ALICE, HA1, 700_000_000, S), added(BOB, HA1, 700_000_000, S),
      transferred(ALICE, BOB, HA1, S, S)],
     [(ALICE, "outflow", 700_000_000), (BOB, "inflow", 700_000_000)]),
]
UNDECODABLE = [  # (block, record, expected reason)
    (957, record(SUBTENSOR, "StakeAdded", (ALICE, HA1, TAO, TAO), 1),
     "no known field layout for this event and field count"),
    (957, record(SUBTENSOR, "StakeRemoved", (ALICE, HA1, TAO, TAO, str(S), 0), 2),
     "field netuid has the wrong type or range"),
]


def scenario_fake() -> StakeFake:
    """The scenario's blocks, each with the noise of a real block around its stake events (two
    extrinsics' worth where a move's legs and summary share one extrinsic index)."""
    fake = subnet_fake(S, OTHER)
    for _, block, records, _ in SCENARIO:
        fake.block_events[block] = [*noise(0), *records, *noise(1)]
    for block, rec, _ in UNDECODABLE:
        fake.block_events.setdefault(block, []).append(rec)
    return fake


def classified_scenario(chain: BittensorChain) -> tuple[list[tuple[str, int, list[Classified]]],
                                                        list[ev.Undecodable]]:
    """(event name, block, its §3.3 effects on S) per operation, and the undecodable records."""
    records, bad = ev.decode(chain.stake_events(950, 957))
    operations, unjoined = ev.combine(records, S)
    return [(e.name, e.block, classify(e, S)) for e in operations], bad + unjoined


def test_section_3_3_classes_end_to_end(chains):
    fake = scenario_fake()
    got, bad = classified_scenario(chains(fake))
    assert [(name, block) for name, block, _ in got] == [
        ("StakeAdded", 950), ("StakeRemoved", 951), ("StakeMoved", 952), ("StakeMoved", 953),
        ("StakeMoved", 954), ("StakeSwapped", 955), ("StakeTransferred", 956),
    ]
    for (label, block, _, expected), (_, got_block, effects) in zip(SCENARIO, got):
        assert got_block == block
        assert [(c.coldkey, c.kind, c.amount) for c in effects] == expected, label
    assert [(b.block, b.name, b.reason) for b in bad] == [
        (957, "StakeAdded", UNDECODABLE[0][2]), (957, "StakeRemoved", UNDECODABLE[1][2])]
    assert all(b.raw for b in bad)
