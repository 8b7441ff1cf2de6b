"""The live chain resource: `ChainResource` on the bittensor 11 SDK (`bt.Subtensor`).

Reads go through the SDK's typed namespaces and are converted to the project dataclasses of
`resources.chain`; nothing of the SDK's types leaves this module.

SDK calls per method:

- `head_block`: `sub.block`.
- `params`: `sub.at(block)` (one block for every read), `query(storage.SubtensorModule.NetworksAdded)`,
  `query(storage.SubtensorModule.Tempo)`, `hyperparameters.weights_rate_limit`,
  `.max_weight_limit`, `.min_allowed_weights`, `subnets.commit_reveal_enabled`.
- `metagraph`: `sub.subnets.metagraph(netuid, block, commitments=False)`, one
  `SubnetInfoRuntimeApi.get_metagraph` runtime call.
- `commitments`: `sub.subnets.commitments(netuid, block)`, the `Commitments.CommitmentOf`,
  `Commitments.RevealedCommitments` and `SubtensorModule.Uids` maps at one block.
- `moving_price`: `sub.at(block)`, `query(storage.SubtensorModule.NetworksAdded)` and
  `query(storage.SubtensorModule.SubnetMovingPrice)`, the I96F32 EMA price (TAO per alpha) that
  `get_metagraph` reports as `moving_price`, without fetching the whole metagraph for it.
- `last_step`: `sub.at(block)`, `query(storage.SubtensorModule.NetworksAdded)` and
  `epochs.blocks_since_last_step(netuid)`, i.e. `query(SubtensorModule.BlocksSinceLastStep,
  [netuid])` at the block's hash.
- `stake_snapshot`: `sub.at(block)`, `query(storage.SubtensorModule.NetworksAdded)`, then
  `staking.stake_for_coldkeys(chunk)` per 128 coldkeys, each one
  `StakeInfoRuntimeApi.get_stake_info_for_coldkeys` runtime call at the block's hash.
- `stake_events`: per block, `block_hash(block)` and `events(block_hash)` (the decoded
  `System.Events`) on the SDK client's `bt.Substrate` (`sub._client._substrate`), run on the
  Subtensor's loop (`sub._call`). The SDK exposes neither publicly and reads no events for callers;
  its own multisig and CLI code reach `client._substrate` the same way.
- `set_weights`: `sub.at()` with `hyperparameters.min_allowed_weights` / `.max_weight_limit`
  (and `neurons.uid` for a lone weight), then `sub.execute(bt.SetWeights(...), wallet)` with the u16
  as weights, only when the SDK's clip and upscale leave them as they are
  (`mechanisms.weights.sent_unchanged`, which `quantize_u16` guarantees at the same limit): the SDK
  preflights registration and the rate limit, composes `set_mechanism_weights` or, when the subnet
  has commit-reveal on, `commit_timelocked_mechanism_weights`, signs with the hotkey and waits for
  finalisation.

The `bt.Subtensor` is built lazily, once per resource instance, in blocking mode (the SDK runs a
private event loop on a daemon thread). Dagster re-instantiates resources for each run, so each run
gets its own connection; `teardown_after_execution` closes it.

Tests inject a fake `bt.Substrate` with `BittensorChain.with_substrate(fake, netuid=...)`. The
injected substrate is private state: it survives direct use of the instance, but not Dagster's
re-instantiation inside `materialize` (asset-level tests use the devnet chain instead).

Wallets: `wallet_name` names a keyfile wallet (`<wallet_path>/<name>/hotkeys/<hotkey>`); only the
hotkey is read, and only to sign. An encrypted hotkey is used only when its password is in the
keyfile's `BT_PW_…` environment variable; there is never an interactive prompt. Without
`wallet_name`, `set_weights` is a dry run that touches neither the keyfiles nor the network.
"""

from __future__ import annotations

import contextlib
import logging
import math
import operator
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import bittensor as bt
import numpy as np
from pydantic import PrivateAttr

from mechanisms.vesting.flows import EVENTS as STAKE_EVENTS
from mechanisms.weights import sent_unchanged

from resources.chain import (
    ChainError,
    ChainParams,
    ChainResource,
    Commitment,
    Metagraph,
    Neuron,
    StakeSnapshot,
    WeightsReceipt,
)

log = logging.getLogger(__name__)

U16_MAX = 65535
I96F32_ONE = 2**32  # I96F32 fixed point: 32 fractional bits
DRY_RUN_DETAIL = "dry run: no wallet configured (wallet_name is unset); nothing was signed or sent"
STAKE_CHUNK = 128  # coldkeys per get_stake_info_for_coldkeys call
MAX_EVENT_BLOCKS = 10_000  # blocks per stake_events call: ≈ 28 tempos, 20 000 RPCs
STAKE_MODULE = "SubtensorModule"

T = TypeVar("T")


class BittensorChain(ChainResource):
    """One subnet on a bittensor chain (finney, test, local or a ws:// endpoint)."""

    network: str = "finney"  # finney | test | local | ws://… | wss://…
    wallet_name: str | None = None  # keyfiles only; None ⇒ set_weights is a dry run
    wallet_hotkey: str | None = None  # None ⇒ "default"
    wallet_path: str | None = None  # None ⇒ the SDK's default (~/.bittensor/wallets)

    _substrate: Any = PrivateAttr(default=None)  # injected bt.Substrate (tests); None ⇒ RPC
    _subtensor: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def with_substrate(cls, substrate: Any, netuid: int, **config: Any) -> BittensorChain:
        """An instance that talks to `substrate` (any `bt.Substrate`) instead of an RPC node."""
        chain = cls(netuid=netuid, **config)
        chain._substrate = substrate
        return chain

    # -- plumbing -------------------------------------------------------------------------------

    def _sub(self) -> Any:
        with self._lock:
            if self._subtensor is None:
                with self._calling("creating bt.Subtensor"):
                    self._subtensor = bt.Subtensor(self.network, substrate=self._substrate)
            return self._subtensor

    @contextlib.contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """Turn anything the SDK or the connection raises into a ChainError naming the call."""
        try:
            yield
        except ChainError:
            raise
        except Exception as error:  # noqa: BLE001 - every SDK/transport failure is a chain failure
            raise ChainError(
                f"{what} failed on network {self.network!r}, netuid {self.netuid}: "
                f"{type(error).__name__}: {error}"
            ) from error

    def _on_substrate(self, make: Callable[[Any], Awaitable[T]]) -> T:
        """Run `make(substrate)` on the SDK client's `bt.Substrate`, on the Subtensor's own loop (for
        what the SDK only offers there, such as a block's events)."""
        sub = self._sub()
        return sub._call(make(sub._client._substrate))

    def teardown_after_execution(self, context: Any) -> None:
        with self._lock:
            sub, self._subtensor = self._subtensor, None
        if sub is not None:
            with contextlib.suppress(Exception):
                sub.close()

    # -- reads ----------------------------------------------------------------------------------

    def head_block(self) -> int:
        with self._calling("head_block"):
            return int(self._sub().block)

    def _subnet_at(self, block: int | None, what: str) -> Any:
        """A snapshot pinned to `block` (None: head); ChainError if the subnet does not exist there
        (storage maps with defaults would otherwise answer for a missing subnet)."""
        snap = self._sub().at(block)
        if not snap.query(bt.storage.SubtensorModule.NetworksAdded, [self.netuid]):
            raise ChainError(
                f"{what}: subnet {self.netuid} does not exist on {self.network!r} "
                f"at block {snap.block}"
            )
        return snap

    def params(self, block: int | None = None) -> ChainParams:
        with self._calling(f"params(block={block})"):
            snap = self._subnet_at(block, "params")
            hyper = snap.hyperparameters
            return ChainParams(
                tempo=int(snap.query(bt.storage.SubtensorModule.Tempo, [self.netuid])),
                weights_rate_limit=int(hyper.weights_rate_limit(self.netuid)),
                max_weight_limit=int(hyper.max_weight_limit(self.netuid)),
                min_allowed_weights=int(hyper.min_allowed_weights(self.netuid)),
                commit_reveal=bool(snap.subnets.commit_reveal_enabled(self.netuid)),
            )

    def metagraph(self, block: int | None = None) -> Metagraph:
        with self._calling(f"metagraph(block={block})"):
            graph = self._sub().subnets.metagraph(self.netuid, block=block, commitments=False)
            if graph is None:
                raise ChainError(
                    f"metagraph(block={block}): subnet {self.netuid} does not exist on "
                    f"{self.network!r}"
                )
            neurons = tuple(
                Neuron(
                    uid=int(n.uid),
                    hotkey=str(n.hotkey),
                    coldkey=str(n.coldkey),
                    # Alpha on this subnet, in alpha units (rao / 1e9); `.amount` is the balance in
                    # its own currency, so it also works for the root subnet (TAO).
                    stake=float(n.alpha_stake.amount),
                    registered_at=int(n.block_at_registration),
                    validator_permit=bool(n.validator_permit),
                )
                for n in sorted(graph.neurons, key=lambda n: n.uid)
            )
            return Metagraph(netuid=self.netuid, block=int(graph.block), neurons=neurons)

    def commitments(self, block: int | None = None) -> dict[str, Commitment]:
        """Each hotkey's newest readable commitment.

        The chain keeps one `CommitmentOf` entry per hotkey (a new commit replaces the old); a
        timelocked commitment reads as its newest chain-decrypted plaintext, and one whose storage
        entry was dropped after its reveal as that reveal (block = the reveal block). Commitments
        that are still sealed (or whose reveal failed) have no text yet and are left out, as are
        hotkeys that never committed. Hotkeys no longer registered keep their entry: callers match
        commitments against the metagraph of the same block.
        """
        with self._calling(f"commitments(block={block})"):
            records = self._sub().subnets.commitments(self.netuid, block=block)
            # One record per hotkey; `value` is its newest readable text (None while sealed).
            return {
                str(hk): Commitment(hotkey=str(hk), block=int(rec.block), data=str(rec.value))
                for hk, rec in records.items()
                if rec.value is not None
            }

    def moving_price(self, block: int | None = None) -> float:
        """`SubnetMovingPrice`: the chain's EMA of the alpha price, in TAO per alpha.

        The default of that storage map is 0, so a zero (or negative, or undecodable) value is an
        error, never a price: a budget priced with it would pay nothing.
        """
        with self._calling(f"moving_price(block={block})"):
            snap = self._subnet_at(block, "moving_price")
            raw = snap.query(bt.storage.SubtensorModule.SubnetMovingPrice, [self.netuid])
            price = _i96f32(raw, "moving_price")
            if not (math.isfinite(price) and price > 0):
                raise ChainError(
                    f"moving_price: subnet {self.netuid} on {self.network!r} has moving price "
                    f"{price!r} TAO at block {snap.block}; a price must be positive and finite"
                )
            return price

    def last_step(self, block: int) -> int:
        with self._calling(f"last_step(block={block})"):
            block = operator.index(block)
            snap = self._subnet_at(block, "last_step")
            since = snap.epochs.blocks_since_last_step(self.netuid)
            if not 0 <= since <= block:
                raise ChainError(
                    f"last_step: BlocksSinceLastStep of subnet {self.netuid} on {self.network!r} is "
                    f"{since} at block {block}; it must lie in 0..{block}"
                )
            return block - since

    def stake_snapshot(self, block: int, coldkeys: Sequence[str]) -> StakeSnapshot:
        """One runtime call per chunk of coldkeys, all at `block`; a missing subnet is an error, not
        an empty snapshot (which would read as every coldkey having sold)."""
        wanted = list(dict.fromkeys(str(c) for c in coldkeys))
        pairs: dict[tuple[str, str], int] = {}
        with self._calling(f"stake_snapshot(block={block}, {len(wanted)} coldkeys)"):
            block = operator.index(block)
            if not wanted:
                return StakeSnapshot(block=block, pairs=pairs)
            snap = self._subnet_at(block, "stake_snapshot")
            asked = set(wanted)
            for i in range(0, len(wanted), STAKE_CHUNK):
                positions = snap.staking.stake_for_coldkeys(wanted[i:i + STAKE_CHUNK])
                for p in (p for ps in positions.values() for p in ps):
                    if p.netuid == self.netuid and p.coldkey in asked:
                        pair = (p.coldkey, p.hotkey)
                        pairs[pair] = pairs.get(pair, 0) + int(p.stake.rao)
        return StakeSnapshot(block=block, pairs={k: v for k, v in sorted(pairs.items()) if v})

    def stake_events(self, first: int, last: int) -> list[tuple[int, dict]]:
        """Every block's `System.Events`, filtered to the stake events and made plain data.

        Reads are sequential, two per block (hash, events); the range is bounded so that a wrong
        argument cannot start an unbounded scan of the archive."""
        what = f"stake_events({first}..{last})"
        with self._calling(what):
            first, last = operator.index(first), operator.index(last)
        if not 0 <= first <= last:
            raise ChainError(f"{what}: need 0 <= first <= last")
        if last - first + 1 > MAX_EVENT_BLOCKS:
            raise ChainError(f"{what}: {last - first + 1} blocks; at most {MAX_EVENT_BLOCKS} per call")

        async def read(substrate: Any) -> list[tuple[int, dict]]:
            out: list[tuple[int, dict]] = []
            for block in range(first, last + 1):
                with self._calling(f"{what} at block {block}"):
                    block_hash = await substrate.block_hash(block)
                    if not block_hash:  # events(None) would read the head's
                        raise ChainError(f"{what}: the node has no hash for block {block}")
                    records = await substrate.events(block_hash)
                out += [(block, r) for r in _stake_records(block, records)]
            return out

        with self._calling(what):
            return self._on_substrate(read)

    # -- set_weights ----------------------------------------------------------------------------

    def set_weights(self, uids: list[int], weights: list[int], version_key: int) -> WeightsReceipt:
        nz_uids, nz_weights = _nonzero_u16(uids, weights)
        version_key = _u64(version_key, "version_key")
        if self.wallet_name is None:
            return WeightsReceipt(
                netuid=self.netuid,
                block=0,  # not read: a dry run does not touch the network
                uids=nz_uids,
                weights=nz_weights,
                version_key=version_key,
                hotkey="",
                sent=False,
                detail=DRY_RUN_DETAIL,
            )

        wallet, hotkey_ss58 = self._wallet()
        with self._calling("set_weights"):
            sub = self._sub()
            snap = sub.at()
            min_allowed = int(snap.hyperparameters.min_allowed_weights(self.netuid))
            max_limit = int(snap.hyperparameters.max_weight_limit(self.netuid))
            if len(nz_uids) < min_allowed:
                # The chain exempts a lone weight on the validator's own uid (a pure self-weight).
                own_uid = (
                    snap.neurons.uid(hotkey_ss58, self.netuid) if len(nz_uids) == 1 else None
                )
                if own_uid is None or nz_uids != (int(own_uid),):
                    raise ChainError(
                        f"set_weights: subnet {self.netuid} requires at least {min_allowed} "
                        f"non-zero weights (min_allowed_weights); got {len(nz_uids)} after "
                        "dropping zeros; nothing was sent"
                    )
            if not sent_unchanged(np.array(nz_weights), max_limit):
                raise ChainError(
                    f"set_weights: the SDK would clip or rescale these u16 under netuid {self.netuid}'s "
                    f"max_weight_limit {max_limit}, so the chain would not receive them as given; nothing "
                    "was sent (the limit is not the one they were quantised under, or they are not "
                    "mechanisms.weights.quantize_u16 output)"
                )
            intent = bt.SetWeights(
                netuid=self.netuid,
                uids=list(nz_uids),
                weights=[float(w) for w in nz_weights],
                version_key=version_key,
            )
            log.info(
                "set_weights: netuid %s, %d uids, version_key %s, hotkey %s, block %s",
                self.netuid, len(nz_uids), version_key, hotkey_ss58, snap.block,
            )
            result = sub.execute(intent, wallet, retries=2)
            if not result.success:
                raise ChainError(
                    f"set_weights: the chain refused the weights on netuid {self.netuid}: "
                    f"{result.message or 'no message'}"
                )
        return WeightsReceipt(
            netuid=self.netuid,
            block=int(snap.block),
            uids=nz_uids,
            weights=nz_weights,
            version_key=version_key,
            hotkey=hotkey_ss58,
            sent=True,
            detail=_detail(result),
        )

    def _wallet(self) -> tuple[Any, str]:
        """The keyfile wallet and its hotkey address; refuses what would need a prompt."""
        with self._calling("set_weights (wallet)"):
            kwargs = {} if self.wallet_path is None else {"path": self.wallet_path}
            wallet = bt.Wallet(self.wallet_name, self.wallet_hotkey or "default", **kwargs)
            keyfile = wallet.hotkey_file
            if not keyfile.is_readable():
                raise ChainError(
                    f"set_weights: hotkey keyfile {keyfile.path} does not exist or is not readable"
                )
            if keyfile.is_encrypted() and not bt.sp_core.get_password_from_environment(
                keyfile.env_var_name()
            ):
                raise ChainError(
                    f"set_weights: hotkey keyfile {keyfile.path} is encrypted and its password "
                    f"variable {keyfile.env_var_name()} is not set; refusing to prompt"
                )
            try:
                public = wallet.hotkeypub
            except FileNotFoundError:  # legacy wallets have no hotkeypub.txt
                public = wallet.hotkey
            return wallet, str(public.ss58_address)


def _nonzero_u16(
    uids: Sequence[int], weights: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Validated (uid, u16) pairs with the zeros dropped, in the caller's order."""
    if len(uids) != len(weights):
        raise ChainError(f"set_weights: {len(uids)} uids but {len(weights)} weights")
    try:
        pairs = [(operator.index(u), operator.index(w)) for u, w in zip(uids, weights)]
    except TypeError as error:
        raise ChainError(f"set_weights: uids and weights must be integers ({error})") from error
    bad = [(u, w) for u, w in pairs if not (0 <= u <= U16_MAX and 0 <= w <= U16_MAX)]
    if bad:
        raise ChainError(f"set_weights: uids and weights must be u16 (0..65535); got {bad[:3]}")
    if len({u for u, _ in pairs}) != len(pairs):
        raise ChainError("set_weights: duplicate uids")
    kept = [(u, w) for u, w in pairs if w > 0]
    if not kept:
        raise ChainError("set_weights: all weights are zero; nothing to send")
    return tuple(u for u, _ in kept), tuple(w for _, w in kept)


def _u64(value: int, name: str) -> int:
    try:
        value = operator.index(value)
    except TypeError as error:
        raise ChainError(f"set_weights: {name} must be an integer") from error
    if not 0 <= value < 2**64:
        raise ChainError(f"set_weights: {name} must be a u64; got {value}")
    return value


def _i96f32(value: Any, what: str) -> float:
    """An I96F32 storage value as a float: the node decodes fixed point as `{"bits": raw}` (the
    shape the SDK's metagraph reads); a bare integer is taken as the bits."""
    bits = value.get("bits") if isinstance(value, dict) else value
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise ChainError(f"{what}: not an I96F32 value: {value!r:.80}")
    return bits / I96F32_ONE


def _stake_records(block: int, records: Any) -> list[dict]:
    """The block's stake events as plain records, in event order; other events are dropped. A record
    that is not a decoded EventRecord is an error: it could be a stake event we cannot see."""
    out = []
    for i, entry in enumerate(records or []):
        record = entry.value if hasattr(entry, "value") else entry
        event = record.get("event", record) if isinstance(record, dict) else None
        if not isinstance(event, dict):
            raise ChainError(
                f"stake_events: record {i} of block {block} is not a decoded EventRecord: {entry!r:.120}"
            )
        if event.get("module_id") != STAKE_MODULE or event.get("event_id") not in STAKE_EVENTS:
            continue
        index = record.get("extrinsic_idx")
        out.append({
            "event": {
                "module_id": STAKE_MODULE,
                "event_id": event["event_id"],
                "attributes": _plain(event.get("attributes")),
            },
            "extrinsic_idx": int(index) if isinstance(index, int) and not isinstance(index, bool) else None,
        })
    return out


def _plain(value: Any) -> Any:
    """JSON-like data of a decoded value: tuples become lists, wrapped values (`.value`) unwrapped,
    bytes 0x-hex; numbers and strings are kept as decoded (never interpreted)."""
    if value is None or isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "value"):
        return _plain(value.value)
    return str(value)


def _detail(result: Any) -> str:
    """Where the extrinsic landed, from the SDK's result (which carries no extrinsic hash)."""
    if result.extrinsic_id:
        text = f"extrinsic {result.extrinsic_id}"
        if result.block_hash:
            text += f" in block {result.block_hash}"
    else:
        text = result.message or "submitted"
    reveal_round = (result.data or {}).get("reveal_round")
    if reveal_round is not None:
        text += f"; timelocked commit, revealed at drand round {reveal_round}"
    return text
