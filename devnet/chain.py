"""The devnet chain: neurons, commitments, head block and weight records, kept in the ledger.

It implements what a real subnet offers the validator (the same `resources.chain` types), on the
devnet clock, so everything above the chain resource runs unchanged against it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from devnet.clock import DevnetClock
from devnet.roles import ROLES, planted_roles
from devnet.world import FIRST_BLOCK, World
from mechanisms.weights import within_limit
from resources.chain_types import ChainError, ChainParams, Commitment, Metagraph, StakeSnapshot, WeightsReceipt

INSTALLED = "installed"


def payload_url(port: int, hotkey: str) -> str:
    return f"http://127.0.0.1:{port}/{hotkey}"


class DevnetChainState:
    def __init__(self, world: World, ledger) -> None:
        self.world, self.ledger = world, ledger
        self.clock = DevnetClock(ledger)
        self._miners = None

    @property
    def netuid(self) -> int:
        return self.world.profile.chain.netuid

    def installed(self) -> bool:
        return self.ledger.devnet_get(INSTALLED) is not None

    def install(self) -> None:
        """Register everyone, commit the miners' URLs and start the clock at the live start; once.
        The planted roles are written too (also to a ledger installed before they were kept)."""
        if self.installed():
            mark = self.ledger.devnet_get(INSTALLED)
            if mark["seed"] != self.world.seed:
                raise ChainError(f"this ledger holds a devnet with seed {mark['seed']}, not {self.world.seed}")
            if self.ledger.devnet_get(ROLES) is None:
                self.ledger.devnet_set(ROLES, planted_roles(self.world))
            return
        from devnet.mantis.miners import hostility

        port = self.world.profile.devnet.payload_port
        for neuron in self.world.neurons():
            self.ledger.devnet_register(neuron)
        for miner, neuron in zip(self.world.miners, self.world.neurons()[2:]):
            if miner.role != "silent":  # a silent miner never commits a URL
                url = payload_url(port, miner.hotkey)
                if hostility(self.world, miner.hotkey) == "nul-url":
                    url += "\x00"
                self.ledger.devnet_commit(miner.hotkey, neuron.registered_at, url)
        for uid, hotkey, _ in self.world.traders:  # each trader's profile id prefix (or a wrong one)
            self.ledger.devnet_commit(hotkey, FIRST_BLOCK, self.world.market.commitments[uid])
        self.clock.set_manual(self.world.time_of(self.world.live_start_block))
        self.ledger.devnet_set(ROLES, planted_roles(self.world))
        self.ledger.devnet_set(INSTALLED, {"seed": self.world.seed, "profile": self.world.profile.name})

    def head_block(self) -> int:
        return self.world.block_at(self.clock.now())

    def advance_to(self, block: int, payload_dir: str, timeout_s: float, poll_s: float = 1.0) -> int:
        """Bring the world to `block`: a manual clock is set there, a scaled one is waited for; then,
        at a sample block, every miner publishes its payload for that sample (once)."""
        if block >= self.world.end_block:
            raise ChainError(f"block {block} is past the end of the devnet world ({self.world.end_block})")
        target = self.world.time_of(block)
        state = self.ledger.devnet_get("clock")
        if state is not None and state["mode"] == "manual":
            if self.clock.now() < target:
                self.clock.set_manual(target)
        else:
            deadline = time.monotonic() + timeout_s
            while self.clock.now() < target:
                if time.monotonic() >= deadline:
                    raise ChainError(f"the devnet did not reach block {block} within {timeout_s:.0f} s")
                time.sleep(poll_s)
        if block % self.world.sample_every == 0:
            self._publish(block // self.world.sample_every, payload_dir)
        return self.head_block()

    def _publish(self, sidx: int, payload_dir: str) -> None:
        from devnet.mantis.miners import Miners

        key = f"published:{payload_dir}"
        if (self.ledger.devnet_get(key) or -1) >= sidx:
            return
        if self._miners is None or str(self._miners.directory) != payload_dir:
            self._miners = Miners(self.world, payload_dir)
        self._miners.publish(sidx, self.world.time_of(sidx * self.world.sample_every))
        self.ledger.devnet_set(key, sidx)

    def moving_price(self) -> float:
        """The subnet's moving alpha price in TAO: the planted market's, constant."""
        return self.world.profile.devnet.market.alpha_price_tao

    # Stake reads: the planted stake history (devnet/stake.py), the same in every process; ChainError
    # before the history or past the world's end, as for a block an archive node cannot serve.

    def last_step(self, block: int) -> int:
        return self.world.stake.last_step(block)

    def stake_snapshot(self, block: int, coldkeys: Sequence[str]) -> StakeSnapshot:
        return self.world.stake.snapshot(block, coldkeys)

    def stake_events(self, first: int, last: int) -> list[tuple[int, dict]]:
        return self.world.stake.events(first, last)

    def params(self) -> ChainParams:
        devnet = self.world.profile.devnet
        return ChainParams(self.world.tempo, devnet.weights_rate_limit, devnet.max_weight_limit, devnet.min_allowed_weights, False)

    def metagraph(self, block: int | None = None) -> Metagraph:
        """The registered neurons at `block`; a miner's stake is its hotkey's alpha in the planted stake
        history then (sellers fall below the minimum-stake gate, holders grow), others keep theirs."""
        block = self.head_block() if block is None else block
        staked = self.world.stake.hotkey_stakes(block)
        planted = self.world.stake_plan
        return Metagraph(self.netuid, block, tuple(
            replace(n, stake=staked.get(n.hotkey, 0) / 1e9) if n.hotkey in planted else n
            for n in self.ledger.devnet_neurons(block)))

    def commitments(self, block: int | None = None) -> dict[str, Commitment]:
        return self.ledger.devnet_commitments(self.head_block() if block is None else block)

    def _check_limits(self, own_uid: int, kept: list[tuple[int, int]]) -> None:
        """The chain's checks on the values it stores: at least `min_allowed_weights` non-zero, and
        no share above `max_weight_limit`/65535 (a lone self-weight is exempt)."""
        params = self.params()
        if [u for u, _ in kept] == [own_uid]:
            return
        if len(kept) < params.min_allowed_weights:
            raise ChainError(f"{len(kept)} non-zero weights; netuid {self.netuid} requires {params.min_allowed_weights}")
        values = [w for _, w in kept]
        if not within_limit(values, params.max_weight_limit):
            top, total = max(values), sum(values)
            raise ChainError(f"max weight {top}/{total} = {top / total:.6f} of the total is above max_weight_limit "
                             f"{params.max_weight_limit}/65535 = {params.max_weight_limit / 65535:.6f}")

    def set_weights(self, hotkey: str, uids: list[int], weights: list[int], version_key: int) -> WeightsReceipt:
        """Record a weight set from a registered validator, as the chain would accept it."""
        head = self.head_block()
        metagraph = self.metagraph(head)
        by_hotkey = metagraph.by_hotkey()
        if hotkey not in by_hotkey or not by_hotkey[hotkey].validator_permit:
            raise ChainError(f"{hotkey} is not a registered validator on devnet netuid {self.netuid}")
        if len(uids) != len(weights) or not uids:
            raise ChainError("set_weights needs one weight per uid and at least one uid")
        unknown = sorted(set(uids) - set(metagraph.uids))
        if unknown:
            raise ChainError(f"uids not registered: {unknown}")
        if any(not 0 <= w <= 65535 for w in weights):
            raise ChainError("weights must be u16")
        last = [r["block"] for r in self.ledger.devnet_weights(hotkey)]
        limit = self.world.profile.devnet.weights_rate_limit
        if last and head - last[-1] < limit:
            raise ChainError(f"rate limit: last weights at block {last[-1]}, head {head}, limit {limit}")
        kept = [(u, w) for u, w in zip(uids, weights) if w > 0]
        self._check_limits(by_hotkey[hotkey].uid, kept)
        record = self.ledger.devnet_record_weights(head, hotkey, [u for u, _ in kept], [w for _, w in kept], version_key)
        return WeightsReceipt(self.netuid, head, tuple(u for u, _ in kept), tuple(w for _, w in kept), version_key,
                              hotkey, True, f"devnet weights record {record}")

