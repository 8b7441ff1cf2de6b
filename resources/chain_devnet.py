"""ChainResource on the embedded devnet chain (state in the ledger, time on the devnet clock)."""

from __future__ import annotations

from collections.abc import Sequence

from resources.chain import ChainParams, ChainResource, Commitment, Metagraph, StakeSnapshot, WeightsReceipt
from resources.devnet_context import DevnetChainState, devnet_state


class DevnetChain(ChainResource):
    profile_path: str = ""  # "" = $INCENTIVE_PROFILE or profiles/devnet.yaml
    ledger_url: str
    payload_dir: str  # where the devnet miners publish (served by the devnet payload store)
    validator_hotkey: str = ""  # "" = the devnet's own validator

    def _state(self) -> DevnetChainState:
        return devnet_state(self.profile_path, self.ledger_url)

    def head_block(self) -> int:
        return self._state().head_block()

    def params(self, block: int | None = None) -> ChainParams:
        return self._state().params()

    def metagraph(self, block: int | None = None) -> Metagraph:
        return self._state().metagraph(block)

    def commitments(self, block: int | None = None) -> dict[str, Commitment]:
        return self._state().commitments(block)

    def moving_price(self, block: int | None = None) -> float:
        return self._state().moving_price()

    def last_step(self, block: int) -> int:
        return self._state().last_step(block)

    def stake_snapshot(self, block: int, coldkeys: Sequence[str]) -> StakeSnapshot:
        return self._state().stake_snapshot(block, coldkeys)

    def stake_events(self, first: int, last: int) -> list[tuple[int, dict]]:
        """The planted history's stake events (devnet/stake.py), as the node would decode them."""
        return self._state().stake_events(first, last)

    def now(self) -> float:
        return self._state().clock.now()

    def time_of_block(self, block: int, block_time: float = 12.0) -> float:
        return self._state().world.time_of(block)

    def wait_for_block(self, block: int, timeout_s: float, poll_s: float = 1.0) -> int:
        """Let the devnet world reach `block`; its miners publish the payloads of a sample block."""
        return self._state().advance_to(block, self.payload_dir, timeout_s, poll_s)

    def set_weights(self, uids: list[int], weights: list[int], version_key: int) -> WeightsReceipt:
        state = self._state()
        hotkey = self.validator_hotkey or state.world.validator.ss58_address
        return state.set_weights(hotkey, uids, weights, version_key)
