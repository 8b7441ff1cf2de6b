"""What the devnet resources share: the ledger and the world, opened once per process and URL.

The one door from `resources/` into `devnet/`: the devnet resources import the devnet's state and
its payload URLs from here, so the devnet can change behind it without touching them."""

from __future__ import annotations

from functools import lru_cache

import profiles
from devnet.chain import DevnetChainState, payload_url
from devnet.world import World
from resources.ledger import resolved_url

__all__ = ["DevnetChainState", "devnet_state", "payload_url"]


def devnet_state(profile_path: str, ledger_url: str) -> DevnetChainState:
    """The devnet of this profile over this ledger (`ledger_url` may be the resource's `EnvVar`)."""
    return _state(profile_path, resolved_url(ledger_url))


@lru_cache(maxsize=8)
def _state(profile_path: str, ledger_url: str) -> DevnetChainState:
    from ledger import Ledger

    return DevnetChainState(World(profiles.load(profile_path or None)), Ledger(ledger_url))
