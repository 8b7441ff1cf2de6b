"""The chain as the platform sees it: head, metagraph, commitments, hyperparameters, set_weights.

Implementations: `chain_bittensor.BittensorChain` (bittensor 11 `Subtensor`) and
`chain_devnet.DevnetChain` (the embedded devnet chain in the ledger database). Both return these
plain dataclasses, so nothing above the resource knows which chain it talks to.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence

import dagster as dg

from resources.chain_types import (ChainError, ChainParams, Commitment, Metagraph, Neuron, StakeSnapshot,
                                   WeightsReceipt)

__all__ = ["ChainError", "ChainParams", "ChainResource", "Commitment", "Metagraph", "Neuron", "StakeSnapshot",
           "WeightsReceipt"]


class ChainResource(dg.ConfigurableResource, abc.ABC):
    """One subnet on one chain."""

    netuid: int

    @abc.abstractmethod
    def head_block(self) -> int:
        """The current head block."""

    @abc.abstractmethod
    def params(self, block: int | None = None) -> ChainParams:
        """Tempo and the weight-setting hyperparameters at `block` (None: head)."""

    @abc.abstractmethod
    def metagraph(self, block: int | None = None) -> Metagraph:
        """Registered neurons (uid order) at `block` (None: head)."""

    @abc.abstractmethod
    def commitments(self, block: int | None = None) -> dict[str, Commitment]:
        """Each hotkey's newest commitment at `block` (None: head)."""

    @abc.abstractmethod
    def moving_price(self, block: int | None = None) -> float:
        """The subnet's moving (EMA) alpha price in TAO at `block` (None: head); ChainError if unreadable.

        Almanac's daily budget is priced with it (almanac_sn41.md §15)."""

    @abc.abstractmethod
    def last_step(self, block: int) -> int:
        """The block of the subnet's last epoch step at or before `block` (`block` minus the chain's
        BlocksSinceLastStep there); ChainError if that block's state cannot be read.

        The step credits the epoch's emission: its block is the post snapshot, the one before it the
        pre snapshot (vesting_bettensor.md §3.1)."""

    @abc.abstractmethod
    def stake_snapshot(self, block: int, coldkeys: Sequence[str]) -> StakeSnapshot:
        """Each coldkey's alpha on this subnet, per hotkey, at `block` (historical state: an archive
        node for old blocks); ChainError if that block's state cannot be read."""

    @abc.abstractmethod
    def stake_events(self, first: int, last: int) -> list[tuple[int, dict]]:
        """The stake events of blocks first..last (inclusive), in block and event order, as
        (block, record) with each record as the node decodes `System.Events`:
        `{"event": {"module_id", "event_id", "attributes"}, "extrinsic_idx"}`; only SubtensorModule's
        `Stake*` events are returned. Records are not interpreted here: `mechanisms.vesting.events`
        decodes them by name. ChainError if a block's events cannot be read."""

    @abc.abstractmethod
    def set_weights(self, uids: list[int], weights: list[int], version_key: int) -> WeightsReceipt:
        """Send exactly these u16 weights (zeros dropped), or raise ChainError and send nothing.

        A dry run when no wallet is configured."""

    def now(self) -> float:
        """The time the chain lives in (unix seconds): the wall clock live, the world time on the devnet."""
        return time.time()

    def time_of_block(self, block: int, block_time: float = 12.0) -> float:
        """When `block` was (or will be) produced, in the chain's time: estimated from the head here;
        the devnet knows it exactly."""
        return self.now() - (self.head_block() - block) * block_time

    def wait_for_block(self, block: int, timeout_s: float, poll_s: float = 3.0) -> int:
        """Return the head once it reaches `block` (polling); raise ChainError after `timeout_s`.

        The devnet overrides this: its world advances to the block (and its miners act) instead.
        """
        deadline = time.monotonic() + timeout_s
        while (head := self.head_block()) < block:
            if time.monotonic() >= deadline:
                raise ChainError(f"head {head} did not reach block {block} within {timeout_s:.0f} s")
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
        return head
