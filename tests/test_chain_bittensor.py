"""BittensorChain (resources/chain_bittensor.py) against a fake `bt.Substrate`.

The fake answers the reads the adapter reaches with the decoded shapes a subtensor node returns
(ss58 strings for accounts, rao integers for stakes, `{"RawN": "0x…"}` commitment fields,
compact-prefixed revealed payloads) and records every call. Writes go through the SDK's real intent
and executor (`bt.SetWeights`: plan, preflight, compose, `submit`), signed by a keyfile wallet
created offline in a temporary directory. The one step no offline test can take is SCALE-encoding
the call: the SDK composes and signs against runtime metadata it downloads from the node, and none
ships with the SDK, so the fake's `compose` keeps the SDK's (module, function, params) and its
`submit` signs a deterministic encoding of it with the signer the SDK hands over.

No test connects to a network: the only substrate any test uses is the fake.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import bittensor as bt
import numpy as np
import pytest

from resources.chain import ChainError, ChainParams, Commitment, WeightsReceipt
from mechanisms.weights import quantize_u16, sdk_pass
from resources.chain_bittensor import DRY_RUN_DETAIL, BittensorChain

NETUID = 7
HEAD = 1000
AFTER_BURN_EXAMPLE = [0.35, 0.3249675, 0.1949805, 0.129987, 0.000065]  # tests/test_weights.py step 5


def account(uri: str) -> str:
    return bt.sp_core.Keypair.create_from_uri(uri).ss58_address


HOTKEYS = [account(f"//hot{i}") for i in range(6)]
COLDKEYS = [account(f"//cold{i}") for i in range(6)]


def hash_of(block: int) -> str:
    return "0x" + block.to_bytes(32, "big").hex()


def raw_field(text: str) -> dict:
    data = text.encode()
    return {f"Raw{len(data)}": "0x" + data.hex()}


def revealed(text: str, reveal_block: int) -> tuple[str, int]:
    """One RevealedCommitments entry: SCALE bytes (compact length ‖ plaintext) and its block."""
    data = text.encode()
    assert len(data) < 64  # single-byte compact length
    return "0x" + (bytes([len(data) << 2]) + data).hex(), reveal_block


def graph(block: int, neurons: list[dict]) -> dict:
    """A decoded `SubnetInfoRuntimeApi.get_metagraph` record (the fields the SDK reads)."""
    col = lambda key: [n[key] for n in neurons]  # noqa: E731
    n = len(neurons)
    return {
        "netuid": NETUID,
        "name": list(b"test subnet"),
        "symbol": list("η".encode()),
        "identity": None,
        "network_registered_at": 10,
        "owner_hotkey": HOTKEYS[0],
        "owner_coldkey": COLDKEYS[0],
        "block": block,
        "tempo": 360,
        "last_step": block - 5,
        "blocks_since_last_step": 5,
        "num_uids": n,
        "max_uids": 256,
        "tao_in": 10**12,
        "alpha_in": 2 * 10**12,
        "moving_price": {"bits": 2**31},
        "hotkeys": col("hotkey"),
        "coldkeys": col("coldkey"),
        "identities": [None] * n,
        "axons": [{"ip": 0, "port": 0, "ip_type": 4}] * n,
        "active": [True] * n,
        "validator_permit": col("permit"),
        "pruning_score": [0] * n,
        "last_update": [block - 20] * n,
        "emission": [0] * n,
        "dividends": [0] * n,
        "incentives": [0] * n,
        "consensus": [0] * n,
        "trust": [0] * n,
        "rank": [0] * n,
        "block_at_registration": col("registered"),
        "alpha_stake": col("alpha"),
        "tao_stake": [5 * 10**9] * n,
        "total_stake": [a + 10**9 for a in col("alpha")],
    }


def neuron(uid: int, alpha: int, registered: int, permit: bool, hotkey: str | None = None) -> dict:
    return {
        "hotkey": hotkey or HOTKEYS[uid],
        "coldkey": COLDKEYS[uid],
        "alpha": alpha,
        "registered": registered,
        "permit": permit,
    }


@dataclass
class Composed:
    """What the fake's `compose` returns: the SDK's call, plus deterministic bytes standing in for
    the SCALE call data a node-backed substrate would produce."""

    module: str
    function: str
    params: dict

    @property
    def data(self) -> bytes:
        def plain(value: Any) -> Any:
            return "0x" + bytes(value).hex() if isinstance(value, (bytes, bytearray)) else value

        body = {k: plain(v) for k, v in self.params.items()}
        return json.dumps([self.module, self.function, body], sort_keys=True).encode()


@dataclass
class Submitted:
    call: Composed
    signer: str
    public_key: bytes
    payload: bytes
    signature: bytes


@dataclass
class FakeSubstrate:
    """The `bt.Substrate` methods BittensorChain reaches, over in-memory state."""

    head: int = HEAD
    storage: dict = field(default_factory=dict)  # (module, item, *params) -> decoded value
    maps: dict = field(default_factory=dict)  # (module, item, *params) -> [(key, value)]
    graphs: dict = field(default_factory=dict)  # block -> get_metagraph record
    fail: dict = field(default_factory=dict)  # method name -> exception to raise
    reject: str | None = None  # submit returns a failed ExtrinsicResult with this message
    calls: list = field(default_factory=list)
    submitted: list = field(default_factory=list)
    token_symbols: dict = field(default_factory=dict)

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))
        if name in self.fail:
            raise self.fail[name]

    def called(self, name: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == name]

    @staticmethod
    def block_of(block_hash: str | None) -> int | None:
        return None if block_hash is None else int(block_hash, 16)

    # synchronous, as in the protocol
    def balance(self, rao: int, netuid: int = 0) -> bt.Balance:
        return bt.Balance.from_rao(rao, netuid)

    # lifecycle and chain metadata
    async def connect(self) -> None:
        self._record("connect")

    async def close(self) -> None:
        self._record("close")

    async def block_number(self) -> int:
        self._record("block_number")
        return self.head

    async def finalized_block_number(self) -> int:
        self._record("finalized_block_number")
        return self.head - 2

    async def block_hash(self, block: int | None = None) -> str:
        self._record("block_hash", block)
        return hash_of(self.head if block is None else block)

    async def block_time(self) -> float:
        self._record("block_time")
        return 12.0

    async def spec_version(self) -> int:
        self._record("spec_version")
        return 400

    # reads
    async def query(self, module, storage_function, params=None, block_hash=None):
        self._record("query", module, storage_function, tuple(params or ()), block_hash)
        return self.storage.get((module, storage_function, *(params or ())))

    async def query_map(self, module, storage_function, params=None, block_hash=None):
        self._record("query_map", module, storage_function, tuple(params or ()), block_hash)
        return list(self.maps.get((module, storage_function, *(params or ())), []))

    async def runtime_call(self, api, method, params, block_hash=None):
        self._record("runtime_call", api, method, tuple(params), block_hash)
        if (api, method) == ("SubnetInfoRuntimeApi", "get_metagraph") and params == [NETUID]:
            record = self.graphs.get(self.block_of(block_hash))
            return json.loads(json.dumps(record)) if record is not None else None
        return None

    async def constant(self, module, name):
        self._record("constant", module, name)
        return None

    async def events(self, block_hash=None):
        self._record("events", block_hash)
        return []

    # calls, fees and writes
    async def compose(self, call) -> Composed:
        self._record("compose", call.module, call.function)
        return Composed(call.module, call.function, dict(call.params))

    async def estimate_fee(self, call, keypair) -> bt.Balance:
        self._record("estimate_fee", call.function, keypair.ss58_address)
        return bt.Balance.from_rao(123_456)

    async def account_next_index(self, address: str) -> int:
        self._record("account_next_index", address)
        return 0

    async def submit(
        self, call, keypair, *, nonce=None, period=128, wait_for_inclusion=True,
        wait_for_finalization=True,
    ) -> bt.ExtrinsicResult:
        self._record("submit", call.function, keypair.ss58_address)
        genesis = bytes(32)
        payload = (
            call.data + (nonce or 0).to_bytes(8, "little") + int(period).to_bytes(8, "little")
            + genesis
        )
        signature = bytes(keypair.sign(payload))
        self.submitted.append(
            Submitted(call, keypair.ss58_address, bytes(keypair.public_key), payload, signature)
        )
        if self.reject is not None:
            return bt.ExtrinsicResult(
                success=False, message=self.reject, error=bt.ChainError(self.reject)
            )
        block = self.head + 1
        return bt.ExtrinsicResult(
            success=True, message="Success", block_hash=hash_of(block),
            extrinsic_id=f"{block}-0002",
        )

    async def _unexpected(self, *args, **kwargs):
        raise AssertionError("the adapter reached a submission path it does not use")

    sign_extrinsic = prepare = submit_signature = submit_signed = submit_multisig = _unexpected
    mev_next_key = _unexpected


@pytest.fixture(autouse=True)
def _token_symbol_cache(tmp_path, monkeypatch):
    # Client.connect() caches token symbols on disk (~/.bittensor by default); keep it per test.
    monkeypatch.setenv("BTCLI_TOKEN_SYMBOLS_CACHE", str(tmp_path / "token_symbols.json"))


@pytest.fixture
def fake() -> FakeSubstrate:
    return FakeSubstrate()


@pytest.fixture
def chains():
    made: list[BittensorChain] = []

    def make(substrate: FakeSubstrate, **config: Any) -> BittensorChain:
        chain = BittensorChain.with_substrate(substrate, netuid=NETUID, network="local", **config)
        made.append(chain)
        return chain

    yield make
    for chain in made:
        chain.teardown_after_execution(None)


# -------------------------------------------------------------------------------------------------
# construction and head


def test_subtensor_is_built_lazily_once_and_head_block_reads_the_chain(fake, chains):
    chain = chains(fake)
    assert chain._subtensor is None and fake.calls == []  # construction touches nothing
    fake.head = 4321
    assert chain.head_block() == 4321
    first = chain._subtensor
    fake.head = 4322
    assert chain.head_block() == 4322
    assert chain._subtensor is first
    assert len(fake.called("connect")) == 1
    assert len(fake.called("block_number")) == 2


def test_default_config_is_finney_dry_run_and_offline():
    chain = BittensorChain(netuid=3)
    assert (chain.network, chain.wallet_name) == ("finney", None)
    receipt = chain.set_weights([1, 2], [0, 5], version_key=1)
    assert receipt.sent is False and chain._subtensor is None


# -------------------------------------------------------------------------------------------------
# metagraph


def metagraph_fake() -> FakeSubstrate:
    fake = FakeSubstrate()
    fake.graphs[HEAD] = graph(HEAD, [
        neuron(0, alpha=1_500_000_000, registered=12, permit=True),
        neuron(1, alpha=0, registered=340, permit=False),
        neuron(2, alpha=250_000_000_000, registered=341, permit=True),
        neuron(3, alpha=7, registered=999, permit=False),
    ])
    fake.graphs[900] = graph(900, [
        neuron(0, alpha=1_000_000_000, registered=12, permit=True),
        neuron(1, alpha=3_000_000_000, registered=340, permit=True),
        neuron(2, alpha=2_000_000_000, registered=341, permit=False),
        neuron(3, alpha=9_000_000_000, registered=500, permit=False, hotkey=HOTKEYS[5]),
    ])
    return fake


def test_metagraph_at_head_converts_neurons_in_uid_order(chains):
    fake = metagraph_fake()
    mg = chains(fake).metagraph()
    assert (mg.netuid, mg.block) == (NETUID, HEAD)
    assert mg.uids == (0, 1, 2, 3)
    assert mg.hotkeys == tuple(HOTKEYS[:4])
    assert [n.coldkey for n in mg.neurons] == COLDKEYS[:4]
    assert [n.stake for n in mg.neurons] == [1.5, 0.0, 250.0, 7e-9]
    assert all(isinstance(n.stake, float) for n in mg.neurons)
    assert [n.registered_at for n in mg.neurons] == [12, 340, 341, 999]
    assert [n.validator_permit for n in mg.neurons] == [True, False, True, False]
    assert mg.by_hotkey()[HOTKEYS[2]].uid == 2
    # One runtime call, pinned to the head's hash.
    (call,) = fake.called("runtime_call")
    assert call == ("runtime_call", "SubnetInfoRuntimeApi", "get_metagraph", (NETUID,),
                    hash_of(HEAD))


def test_metagraph_at_a_historical_block_passes_its_hash(chains):
    fake = metagraph_fake()
    mg = chains(fake).metagraph(block=900)
    assert mg.block == 900
    assert mg.hotkeys == (HOTKEYS[0], HOTKEYS[1], HOTKEYS[2], HOTKEYS[5])
    assert [n.stake for n in mg.neurons] == [1.0, 3.0, 2.0, 9.0]
    assert [n.validator_permit for n in mg.neurons] == [True, True, False, False]
    assert mg.neurons[3].registered_at == 500
    assert ("block_hash", 900) in fake.calls
    (call,) = fake.called("runtime_call")
    assert call[-1] == hash_of(900)
    assert fake.called("block_number") == []  # a pinned read never asks for the head


def test_metagraph_of_a_missing_subnet_is_a_chain_error(fake, chains):
    with pytest.raises(ChainError, match=f"subnet {NETUID} does not exist"):
        chains(fake).metagraph()


# -------------------------------------------------------------------------------------------------
# commitments


def commitments_fake() -> FakeSubstrate:
    fake = FakeSubstrate()
    committed = [
        # plain URL, committed at 950
        (HOTKEYS[0], {"deposit": 0, "block": 950,
                      "info": {"fields": [raw_field("https://a.example/p0")]}}),
        # timelocked at 955, revealed twice since: the newest reveal is the content
        (HOTKEYS[1], {"deposit": 0, "block": 955, "info": {"fields": [
            {"TimelockEncrypted": {"encrypted": "0x00", "reveal_round": 123}}]}}),
        # still sealed: nothing readable yet
        (HOTKEYS[2], {"deposit": 0, "block": 970, "info": {"fields": [
            {"TimelockEncrypted": {"encrypted": "0x00", "reveal_round": 999_999}}]}}),
    ]
    reveals = [
        (HOTKEYS[1], [
            revealed("https://b.example/old", 960),
            revealed("https://b.example/new", 990),
            revealed("https://b.example/stale", 900),
        ]),
        # storage entry dropped after the reveal; only the history remains
        (HOTKEYS[4], [revealed("https://d.example/1", 800), revealed("https://d.example/2", 880)]),
    ]
    fake.maps[("Commitments", "CommitmentOf", NETUID)] = committed
    fake.maps[("Commitments", "RevealedCommitments", NETUID)] = reveals
    fake.maps[("SubtensorModule", "Uids", NETUID)] = [(HOTKEYS[i], i) for i in range(5)]
    return fake


def test_commitments_newest_readable_per_hotkey(chains):
    fake = commitments_fake()
    got = chains(fake).commitments()
    assert got == {
        HOTKEYS[0]: Commitment(HOTKEYS[0], 950, "https://a.example/p0"),
        HOTKEYS[1]: Commitment(HOTKEYS[1], 955, "https://b.example/new"),
        HOTKEYS[4]: Commitment(HOTKEYS[4], 880, "https://d.example/2"),
    }
    assert HOTKEYS[2] not in got  # sealed
    assert HOTKEYS[3] not in got  # never committed
    reads = fake.called("query_map")
    assert {(c[1], c[2], c[4]) for c in reads if c[2] != "TokenSymbol"} == {
        ("Commitments", "CommitmentOf", hash_of(HEAD)),
        ("Commitments", "RevealedCommitments", hash_of(HEAD)),
        ("SubtensorModule", "Uids", hash_of(HEAD)),
    }


def test_commitments_at_a_historical_block_pass_its_hash(chains):
    fake = commitments_fake()
    fake.maps[("Commitments", "RevealedCommitments", NETUID)] = []
    got = chains(fake).commitments(block=960)
    assert set(got) == {HOTKEYS[0]}
    hashes = {c[4] for c in fake.called("query_map") if c[2] != "TokenSymbol"}
    assert hashes == {hash_of(960)}


# -------------------------------------------------------------------------------------------------
# params


def params_fake(**overrides: Any) -> FakeSubstrate:
    fake = FakeSubstrate()
    values = {
        "NetworksAdded": True, "Tempo": 360, "WeightsSetRateLimit": 100, "MaxWeightsLimit": 45_000,
        "MinAllowedWeights": 8, "CommitRevealWeightsEnabled": True, **overrides,
    }
    for item, value in values.items():
        fake.storage[("SubtensorModule", item, NETUID)] = value
    return fake


def test_params_read_at_one_block(chains):
    fake = params_fake()
    assert chains(fake).params() == ChainParams(
        tempo=360, weights_rate_limit=100, max_weight_limit=45_000, min_allowed_weights=8,
        commit_reveal=True,
    )
    queries = fake.called("query")
    assert {c[2] for c in queries} == {
        "NetworksAdded", "Tempo", "WeightsSetRateLimit", "MaxWeightsLimit", "MinAllowedWeights",
        "CommitRevealWeightsEnabled",
    }
    assert {c[4] for c in queries} == {hash_of(HEAD)}
    assert len(fake.called("block_number")) == 1


def test_params_commit_reveal_off(chains):
    assert chains(params_fake(CommitRevealWeightsEnabled=False)).params().commit_reveal is False


def test_params_of_a_missing_subnet_is_a_chain_error(chains):
    with pytest.raises(ChainError, match=f"subnet {NETUID} does not exist"):
        chains(params_fake(NetworksAdded=False)).params()


# -------------------------------------------------------------------------------------------------
# moving_price


def price_fake(bits: Any = 2**31, added: bool = True) -> FakeSubstrate:
    """`SubnetMovingPrice` as a node decodes it: I96F32 as `{"bits": raw}` (raw / 2**32 TAO)."""
    fake = FakeSubstrate()
    fake.storage[("SubtensorModule", "NetworksAdded", NETUID)] = added
    fake.storage[("SubtensorModule", "SubnetMovingPrice", NETUID)] = {"bits": bits}
    return fake


def test_moving_price_at_head_is_tao_per_alpha(chains):
    bits = round(0.0123 * 2**32)
    fake = price_fake(bits)
    fake.graphs[HEAD] = {**graph(HEAD, [neuron(0, 1, 1, True)]), "moving_price": {"bits": bits}}
    chain = chains(fake)
    price = chain.moving_price()
    assert type(price) is float and price == bits / 2**32 == pytest.approx(0.0123, abs=1e-9)
    # The same number the SDK's own metagraph decodes from get_metagraph's moving_price.
    assert chain._sub().subnets.metagraph(NETUID, commitments=False).moving_price == price
    reads = [c for c in fake.called("query") if c[2] != "TokenSymbol"]
    assert [(c[2], c[3], c[4]) for c in reads] == [
        ("NetworksAdded", (NETUID,), hash_of(HEAD)),
        ("SubnetMovingPrice", (NETUID,), hash_of(HEAD)),
    ]


def test_moving_price_at_a_historical_block_passes_its_hash(chains):
    fake = price_fake(3 * 2**32)
    assert chains(fake).moving_price(block=900) == 3.0
    assert {c[4] for c in fake.called("query")} == {hash_of(900)}
    assert fake.called("block_number") == []


def test_moving_price_of_a_missing_subnet_is_a_chain_error(chains):
    fake = price_fake(added=False)
    with pytest.raises(ChainError, match=f"moving_price: subnet {NETUID} does not exist"):
        chains(fake).moving_price()
    assert "SubnetMovingPrice" not in {c[2] for c in fake.called("query")}


@pytest.mark.parametrize(
    ("bits", "match"),
    [
        (0, rf"moving price 0\.0 TAO at block {HEAD}; a price must be positive"),  # the map's default
        (-(2**32), r"moving price -1\.0 TAO"),  # I96F32 is signed
        (None, r"not an I96F32 value: \{'bits': None\}"),
        ("0x01", "not an I96F32 value"),
        (True, "not an I96F32 value"),
    ],
)
def test_unusable_moving_price_is_a_chain_error(chains, bits, match):
    with pytest.raises(ChainError, match=match):
        chains(price_fake(bits)).moving_price()


def test_absent_moving_price_entry_is_a_chain_error(chains):
    fake = price_fake()
    del fake.storage[("SubtensorModule", "SubnetMovingPrice", NETUID)]
    with pytest.raises(ChainError, match="moving_price: not an I96F32 value: None"):
        chains(fake).moving_price()


def test_rpc_failure_reading_moving_price_is_a_chain_error(chains):
    fake = price_fake()
    fake.fail["query"] = bt.RpcConnectionError("connection reset by peer")
    with pytest.raises(ChainError, match=r"moving_price\(block=None\) failed .*RpcConnectionError"):
        chains(fake).moving_price()


# -------------------------------------------------------------------------------------------------
# set_weights: dry run


def test_dry_run_without_wallet_touches_nothing(fake, chains):
    chain = chains(fake)
    receipt = chain.set_weights([0, 1, 2, 3], [0, 100, 65535, 7], version_key=5)
    assert receipt == WeightsReceipt(
        netuid=NETUID, block=0, uids=(1, 2, 3), weights=(100, 65535, 7), version_key=5, hotkey="",
        sent=False, detail=DRY_RUN_DETAIL,
    )
    assert "no wallet" in receipt.detail
    assert fake.calls == []  # no connect, no read, no compose, no submit
    assert chain._subtensor is None


@pytest.mark.parametrize(
    ("uids", "weights", "message"),
    [
        ([1, 2], [5], "2 uids but 1 weights"),
        ([1, 70_000], [5, 5], "u16"),
        ([1, 2], [5, 65_536], "u16"),
        ([1, 2], [5, -1], "u16"),
        ([1, 1], [5, 6], "duplicate"),
        ([1, 2], [0, 0], "all weights are zero"),
        ([1, 2], [0.5, 1], "integers"),
    ],
)
def test_bad_weight_vectors_are_refused_before_anything_else(fake, chains, uids, weights, message):
    with pytest.raises(ChainError, match=message):
        chains(fake).set_weights(uids, weights, version_key=1)
    assert fake.calls == []


# -------------------------------------------------------------------------------------------------
# set_weights with an offline wallet


@pytest.fixture
def wallet(tmp_path) -> bt.Wallet:
    w = bt.Wallet("validator", "vhot", str(tmp_path / "wallets"))
    w.create_new_coldkey(use_password=False, overwrite=True, suppress=True)
    w.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    return w


def weights_fake(hotkey: str, *, uid: int | None = 2, min_allowed: int = 2,
                 max_limit: int = 65535, commit_reveal: bool = False) -> FakeSubstrate:
    fake = FakeSubstrate()
    st = lambda item, *params: ("SubtensorModule", item, *params)  # noqa: E731
    fake.storage.update({
        st("Uids", NETUID, hotkey): uid,
        st("CommitRevealWeightsEnabled", NETUID): commit_reveal,
        st("WeightsSetRateLimit", NETUID): 100,
        st("LastUpdate", NETUID): [0, 0, HEAD - 500, 0, 0],
        st("MinAllowedWeights", NETUID): min_allowed,
        st("MaxWeightsLimit", NETUID): max_limit,
        st("SubnetEpochConsensus", NETUID): "Yuma",
        # read only on the commit-reveal path
        st("Tempo", NETUID): 360,
        st("RevealPeriodEpochs", NETUID): 1,
        st("LastEpochBlock", NETUID): HEAD - 40,
        st("PendingEpochAt", NETUID): 0,
        st("SubnetEpochIndex", NETUID): 2,
        st("BlocksSinceLastStep", NETUID): 40,
    })
    return fake


def wallet_config(w: bt.Wallet) -> dict:
    return {"wallet_name": w.name, "wallet_hotkey": w.hotkey_str, "wallet_path": w.path}


def test_set_weights_signs_a_plain_set_with_the_keyfile_hotkey(wallet, chains, caplog):
    hotkey = wallet.hotkeypub.ss58_address
    fake = weights_fake(hotkey)
    chain = chains(fake, **wallet_config(wallet))
    with caplog.at_level(logging.DEBUG):
        receipt = chain.set_weights([0, 1, 2, 3, 4], [0, 65535, 0, 30000, 1], version_key=7)

    (sub,) = fake.submitted
    assert (sub.call.module, sub.call.function) == ("SubtensorModule", "set_mechanism_weights")
    assert sub.call.params == {
        "netuid": NETUID, "mecid": 0, "dests": [1, 3, 4], "weights": [65535, 30000, 1],
        "version_key": 7,
    }
    # Signed by the wallet's hotkey (read from the keyfile), not its coldkey.
    assert sub.signer == hotkey != wallet.coldkeypub.ss58_address
    assert sub.public_key == bytes(wallet.hotkeypub.public_key)
    verifier = bt.sp_core.Keypair(ss58_address=hotkey)
    assert verifier.verify(sub.payload, sub.signature)
    assert not verifier.verify(sub.payload + b"x", sub.signature)

    assert receipt == WeightsReceipt(
        netuid=NETUID, block=HEAD, uids=(1, 3, 4), weights=(65535, 30000, 1), version_key=7,
        hotkey=hotkey, sent=True, detail=f"extrinsic {HEAD + 1}-0002 in block {hash_of(HEAD + 1)}",
    )
    # The SDK preflighted registration and the rate limit at the head before signing.
    items = {c[2] for c in fake.called("query")}
    assert {"Uids", "WeightsSetRateLimit", "LastUpdate", "MinAllowedWeights"} <= items
    assert [c[0] for c in fake.calls].index("compose") < [c[0] for c in fake.calls].index("submit")

    # No key material in the receipt or the logs.
    keyfile = json.loads(open(wallet.hotkey_file.path).read())
    secrets = [keyfile["secretPhrase"], keyfile["privateKey"], keyfile["secretSeed"]]
    text = repr(receipt) + caplog.text
    assert all(s and s not in text and s.removeprefix("0x") not in text for s in secrets)


@pytest.mark.parametrize("limit", [65535, 45_000, 19_661, 6_553])
def test_set_weights_sends_exactly_the_stored_u16(wallet, chains, limit):
    """The requirement: the u16 the chain receives are the u16 stored, also when the subnet's
    max_weight_limit clips (every limit below 65535 here binds some of these vectors), and they pass
    the chain's own limit check."""
    rng = np.random.default_rng(limit)
    vectors = [rng.pareto(1.0, 64) * (rng.random(64) > 0.2) for _ in range(12)]
    if len(AFTER_BURN_EXAMPLE) * limit >= 65535:  # five entries cannot all stay under 10 %
        vectors.append(np.array(AFTER_BURN_EXAMPLE))
    clipped = 0
    for weights in vectors:
        stored = quantize_u16(weights, limit).tolist()
        clipped += stored != sdk_pass(weights).tolist()
        fake = weights_fake(wallet.hotkeypub.ss58_address, max_limit=limit, min_allowed=1)
        uids = list(range(100, 100 + len(stored)))
        receipt = chains(fake, **wallet_config(wallet)).set_weights(uids, stored, version_key=0)
        (sub,) = fake.submitted
        sent = dict(zip(sub.call.params["dests"], sub.call.params["weights"]))
        assert sent == {u: q for u, q in zip(uids, stored) if q > 0}
        assert dict(zip(receipt.uids, receipt.weights)) == sent
        assert max(sent.values()) * 65535 <= limit * sum(sent.values())  # the chain's own limit holds
    assert (clipped > 0) == (limit < 65535)  # the limits really clipped


@pytest.mark.parametrize(("weights", "limit"), [([100, 200], 65535), ([65535, 100, 100], 32768)])
def test_u16_the_sdk_would_change_are_refused(wallet, chains, weights, limit):
    """Not max-upscaled ([100, 200] would go out as [32768, 65535]) or above the limit (the SDK would
    clip the 65535): sending them would put other u16 on chain than the caller holds."""
    fake = weights_fake(wallet.hotkeypub.ss58_address, max_limit=limit)
    with pytest.raises(ChainError, match="would clip or rescale"):
        chains(fake, **wallet_config(wallet)).set_weights(list(range(1, len(weights) + 1)), weights, version_key=0)
    assert fake.called("compose") == [] and fake.submitted == []


def test_set_weights_uses_commit_reveal_when_the_subnet_wants_it(wallet, chains):
    fake = weights_fake(wallet.hotkeypub.ss58_address, commit_reveal=True)
    receipt = chains(fake, **wallet_config(wallet)).set_weights([1, 3], [65535, 100], version_key=9)
    (sub,) = fake.submitted
    assert sub.call.function == "commit_timelocked_mechanism_weights"
    params = sub.call.params
    assert (params["netuid"], params["mecid"], params["commit_reveal_version"]) == (NETUID, 0, 4)
    assert isinstance(params["commit"], (bytes, bytearray)) and len(params["commit"]) > 100
    assert params["reveal_round"] > 0
    assert "dests" not in params and "weights" not in params  # weights travel encrypted
    assert receipt.sent and receipt.detail.endswith(
        f"timelocked commit, revealed at drand round {params['reveal_round']}"
    )
    assert (receipt.uids, receipt.weights, receipt.version_key) == ((1, 3), (65535, 100), 9)


def test_fewer_weights_than_min_allowed_is_a_chain_error(wallet, chains):
    fake = weights_fake(wallet.hotkeypub.ss58_address, min_allowed=4)
    with pytest.raises(ChainError, match=r"at least 4 non-zero weights .*got 3"):
        chains(fake, **wallet_config(wallet)).set_weights([1, 2, 3, 4], [9, 9, 0, 9], version_key=1)
    assert fake.called("compose") == [] and fake.submitted == []


def test_a_lone_self_weight_is_exempt_from_min_allowed(wallet, chains):
    fake = weights_fake(wallet.hotkeypub.ss58_address, uid=2, min_allowed=4)
    receipt = chains(fake, **wallet_config(wallet)).set_weights([2], [65535], version_key=1)
    (sub,) = fake.submitted
    assert (sub.call.params["dests"], sub.call.params["weights"]) == ([2], [65535])
    assert receipt.sent and receipt.weights == (65535,)


def test_a_lone_weight_on_another_uid_is_not_exempt(wallet, chains):
    fake = weights_fake(wallet.hotkeypub.ss58_address, uid=2, min_allowed=4)
    with pytest.raises(ChainError, match="min_allowed_weights"):
        chains(fake, **wallet_config(wallet)).set_weights([3], [10], version_key=1)
    assert fake.submitted == []


def test_unregistered_hotkey_is_a_chain_error(wallet, chains):
    fake = weights_fake(wallet.hotkeypub.ss58_address, uid=None)
    with pytest.raises(ChainError, match="set_weights failed.*not registered"):
        chains(fake, **wallet_config(wallet)).set_weights([1, 2], [65535, 2], version_key=1)
    assert fake.submitted == []


def test_a_refused_extrinsic_is_a_chain_error(wallet, chains):
    fake = weights_fake(wallet.hotkeypub.ss58_address)
    fake.reject = "Custom error: 11 (MaxWeightExceeded)"
    with pytest.raises(ChainError, match="refused the weights.*MaxWeightExceeded"):
        chains(fake, **wallet_config(wallet)).set_weights([1, 2], [65535, 2], version_key=1)
    assert len(fake.submitted) == 1


def test_missing_hotkey_keyfile_is_a_chain_error(wallet, fake, chains):
    config = {**wallet_config(wallet), "wallet_hotkey": "nope"}
    with pytest.raises(ChainError, match="hotkey keyfile .*nope.* does not exist"):
        chains(fake, **config).set_weights([1, 2], [65535, 2], version_key=1)
    assert fake.calls == []


@pytest.mark.slow  # encrypting the keyfile runs the SDK's password KDF (≈ 5 s)
def test_encrypted_hotkey_without_env_password_is_refused_without_prompting(tmp_path, fake, chains):
    w = bt.Wallet("enc", "hot", str(tmp_path / "wallets"))
    w.create_new_coldkey(use_password=False, overwrite=True, suppress=True)
    w.create_new_hotkey(hotkey_password="correct horse", overwrite=True, suppress=True)
    assert w.hotkey_file.is_encrypted()
    with pytest.raises(ChainError, match="encrypted.*BT_PW_"):
        chains(fake, **wallet_config(w)).set_weights([1, 2], [65535, 2], version_key=1)
    assert fake.calls == []


# -------------------------------------------------------------------------------------------------
# RPC failures


def test_rpc_failures_become_chain_errors_naming_the_call(chains):
    fake = metagraph_fake()
    fake.fail["runtime_call"] = bt.RpcConnectionError("connection reset by peer")
    chain = chains(fake)
    with pytest.raises(ChainError, match=r"metagraph\(block=None\) failed .*RpcConnectionError"):
        chain.metagraph()
    fake.fail["block_number"] = bt.RpcConnectionError("connection reset by peer")
    with pytest.raises(ChainError, match="head_block failed .*connection reset"):
        chain.head_block()


def test_connection_failure_is_a_chain_error_and_retried_next_call(fake, chains):
    fake.fail["connect"] = bt.RpcConnectionError("could not connect to any endpoint")
    chain = chains(fake)
    with pytest.raises(ChainError, match="head_block failed .*could not connect"):
        chain.head_block()
    del fake.fail["connect"]
    assert chain.head_block() == HEAD


def test_rpc_failure_during_set_weights_is_a_chain_error(wallet, chains):
    fake = weights_fake(wallet.hotkeypub.ss58_address)
    fake.fail["compose"] = bt.RpcConnectionError("socket closed")
    with pytest.raises(ChainError, match="set_weights failed .*socket closed"):
        chains(fake, **wallet_config(wallet)).set_weights([1, 2], [65535, 2], version_key=1)
    assert fake.submitted == []
