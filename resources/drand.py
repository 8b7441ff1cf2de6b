"""drand beacon rounds, verified: `drand_http.HttpDrand` (quicknet relays) or `drand_devnet.DevnetDrand`."""

from __future__ import annotations

import abc

import dagster as dg

from protocol.drand import BeaconChain


class DrandUnavailable(RuntimeError):
    """No relay answered (or every answer failed verification); retry later."""


class DrandResource(dg.ConfigurableResource, abc.ABC):
    @abc.abstractmethod
    def chain(self) -> BeaconChain:
        """Public key, genesis and period of the beacon."""

    @abc.abstractmethod
    def signature(self, round_: int) -> bytes | None:
        """The round's 48-byte signature, verified under the chain's key; None if not published yet.

        Raises DrandUnavailable when it cannot tell (relays down, wrong signatures everywhere).
        """

    def signatures(self, rounds: list[int]) -> dict[int, bytes | None]:
        """`signature` of each round (None: not published yet); live clients ask in parallel."""
        return {r: self.signature(r) for r in rounds}

    @abc.abstractmethod
    def latest_round(self) -> int:
        """The newest published round."""
