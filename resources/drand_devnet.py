"""DrandResource on the devnet's local beacon: a round is signed only once the devnet clock reaches it."""

from __future__ import annotations

from protocol.drand import BeaconChain
from resources.devnet_context import devnet_state
from resources.drand import DrandResource


class DevnetDrand(DrandResource):
    profile_path: str = ""
    ledger_url: str

    def chain(self) -> BeaconChain:
        return devnet_state(self.profile_path, self.ledger_url).world.beacon.chain

    def signature(self, round_: int) -> bytes | None:
        state = devnet_state(self.profile_path, self.ledger_url)
        beacon, now = state.world.beacon, state.clock.now()
        if not beacon.chain.is_published(round_, now):
            return None
        signature = beacon.signature(round_, now)
        beacon.chain.verify(round_, signature)  # the same contract as the live client: verified
        return signature

    def latest_round(self) -> int:
        state = devnet_state(self.profile_path, self.ledger_url)
        return state.world.beacon.chain.current_round(state.clock.now())
