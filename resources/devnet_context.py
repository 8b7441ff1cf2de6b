"""What the devnet resources share: the ledger and the world, opened once per process and URL."""

from __future__ import annotations

from functools import lru_cache

import profiles
from devnet.chain import DevnetChainState
from devnet.world import World


@lru_cache(maxsize=8)
def devnet_state(profile_path: str, ledger_url: str) -> DevnetChainState:
    from ledger import Ledger

    return DevnetChainState(World(profiles.load(profile_path or None)), Ledger(ledger_url))
