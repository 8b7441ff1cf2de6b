"""Block arithmetic of an epoch: its blocks, samples and training cutoff; and its chain parameters."""

from __future__ import annotations

from dataclasses import dataclass

from ledger import Ledger
from profiles import Profile
from protocol import payload as pl
from protocol.drand import BeaconChain
from resources.chain import ChainParams, ChainResource, Metagraph

TRAIN_GAP_BLOCKS = 500  # MANTIS TASK_INTERVAL: training data ends this far before the calc block


@dataclass(frozen=True)
class EpochBlocks:
    epoch: int
    first: int  # first block of the epoch
    last: int  # last block (the calc block)
    every: int  # blocks per sample

    @classmethod
    def of(cls, epoch: int, profile: Profile) -> "EpochBlocks":
        tempo = profile.chain.tempo
        return cls(epoch, epoch * tempo, epoch * tempo + tempo - 1, profile.chain.sample_every)

    @property
    def sample_blocks(self) -> range:
        start = -(-self.first // self.every) * self.every
        return range(start, self.last + 1, self.every)

    @property
    def sidx_range(self) -> range:
        """Sample indices of the epoch: [lo, hi)."""
        return range(self.sample_blocks.start // self.every, self.last // self.every + 1)

    @property
    def train_cutoff_sidx(self) -> int:
        """The last sample index whose values may train this epoch's salience."""
        return (self.last - TRAIN_GAP_BLOCKS) // self.every


def last_round(beacon: BeaconChain, profile: Profile, taken_at: float) -> int:
    """The newest round a payload of a sample taken at `taken_at` may name: the one the beacon
    publishes by the latest lock that counts (`Profile.latest_lock_seconds`), so an epoch waits for
    its rounds as long as its challenges' horizons need, whatever round one miner names."""
    return beacon.current_round(taken_at + profile.latest_lock_seconds())


def first_round(beacon: BeaconChain, profile: Profile, taken_at: float) -> int | None:
    """The oldest round a payload of that sample may name where the lock rule has a lower bound:
    the first one published no earlier than the shortest lock that counts (else reason `lock`)."""
    earliest = profile.earliest_lock_seconds()
    return None if earliest is None else beacon.round_at(taken_at + earliest)


@dataclass(frozen=True)
class SampleRules:
    """What every payload of one sample is held to: the owner key, the rounds it may name, sizes."""

    owner_pk: bytes
    window: pl.RoundWindow
    limits: pl.Limits

    @classmethod
    def of(cls, beacon: BeaconChain, profile: Profile, taken_at: float) -> "SampleRules":
        window = pl.RoundWindow(first_round(beacon, profile, taken_at), last_round(beacon, profile, taken_at))
        return cls(bytes.fromhex(profile.protocol.owner_pk), window, profile.payload_limits())


def epoch_params(store: Ledger, chain: ChainResource, block: int) -> ChainParams:
    """The chain's weight-setting parameters at an epoch's last block, read once and then kept.

    The epoch's u16 are quantised under them, so a rerun must see the same ones whatever the chain
    says later (or whether the node still holds that block's state).
    """
    params = store.chain_params(block)
    if params is None:
        store.store_chain_params(block, chain.params(block))
        params = store.chain_params(block)
    return params


def epoch_metagraph(store: Ledger, chain: ChainResource, block: int) -> Metagraph:
    """The metagraph at an epoch's last block, read from the chain once and then kept (as its params)."""
    metagraph = store.metagraph(block)
    if metagraph is None or metagraph.block != block:
        metagraph = chain.metagraph(block)
        store.store_metagraph(metagraph)
    return metagraph
