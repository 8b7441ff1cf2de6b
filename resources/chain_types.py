"""The chain's facts as plain dataclasses, free of Dagster so the ledger and devnet can use them."""

from __future__ import annotations

from dataclasses import dataclass

from mechanisms.vesting.flows import coldkey_totals


@dataclass(frozen=True)
class Neuron:
    uid: int
    hotkey: str
    coldkey: str
    stake: float  # alpha staked on this subnet, in alpha units
    registered_at: int  # block of registration
    validator_permit: bool = False


@dataclass(frozen=True)
class Metagraph:
    netuid: int
    block: int
    neurons: tuple[Neuron, ...]  # in uid order

    @property
    def uids(self) -> tuple[int, ...]:
        return tuple(n.uid for n in self.neurons)

    @property
    def hotkeys(self) -> tuple[str, ...]:
        return tuple(n.hotkey for n in self.neurons)

    def by_hotkey(self) -> dict[str, Neuron]:
        return {n.hotkey: n for n in self.neurons}


@dataclass(frozen=True)
class Commitment:
    hotkey: str
    block: int  # block at which it was committed
    data: str  # for MANTIS: the payload URL


@dataclass(frozen=True)
class ChainParams:
    """The hyperparameters weight setting has to respect."""

    tempo: int
    weights_rate_limit: int  # blocks between two set_weights of one validator
    max_weight_limit: int  # u16; 65535 = no clipping
    min_allowed_weights: int
    commit_reveal: bool


@dataclass(frozen=True)
class WeightsReceipt:
    """What happened to one set_weights call."""

    netuid: int
    block: int  # chain head when submitted
    uids: tuple[int, ...]
    weights: tuple[int, ...]  # u16 as sent
    version_key: int
    hotkey: str  # the validator's hotkey ("" in a dry run without a wallet)
    sent: bool  # False for a dry run
    detail: str  # extrinsic hash, devnet record id, or why it was not sent


@dataclass(frozen=True)
class StakeSnapshot:
    """Alpha staked on the subnet at one block, in rao, per (coldkey, hotkey) for the coldkeys asked
    (every hotkey of theirs on the subnet, miners' and validators' alike; zero positions left out)."""

    block: int
    pairs: dict[tuple[str, str], int]

    def totals(self) -> dict[str, int]:
        """Each coldkey's alpha on the subnet across all its hotkeys (§3.1)."""
        return coldkey_totals(self.pairs)


class ChainError(RuntimeError):
    """The chain could not be read or refused a call; the message says which and why."""
