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
        """`signature` of each round that could be told (None: not published, no relay has it);
        live clients ask in parallel. See `signatures_from`."""
        return signatures_from(rounds, map(self._signature_or_error, rounds))

    def _signature_or_error(self, round_: int) -> bytes | None | DrandUnavailable:
        try:
            return self.signature(round_)
        except DrandUnavailable as exc:
            return exc

    @abc.abstractmethod
    def latest_round(self) -> int:
        """The newest published round."""


def signatures_from(rounds: list[int], answers) -> dict[int, bytes | None]:
    """The answers per round, without the rounds that could not be told (relays failing: timeouts,
    errors, wrong signatures), which the caller asks again later. One failing round never fails
    the others; only when every round failed is the beacon unreachable: DrandUnavailable."""
    out, failures = {}, []
    for round_, answer in zip(rounds, answers):
        if isinstance(answer, DrandUnavailable):
            failures.append(answer)
        else:
            out[round_] = answer
    if failures and not out:
        raise failures[0]
    return out
