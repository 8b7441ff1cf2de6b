"""Block arithmetic of an epoch: its blocks, samples and training cutoff."""

from __future__ import annotations

from dataclasses import dataclass

from profiles import Profile
from protocol.drand import BeaconChain

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
    publishes by the sample's hard deadline (mantis.md §7.3)."""
    return beacon.current_round(taken_at + profile.round_deadline_seconds())
