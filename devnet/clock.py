"""The devnet's world time, kept in the ledger so every process (CLI, runs, daemon) agrees on it.

Manual mode (tests, `make run`): time moves only when told to. Scaled mode (`make ui`): world time
runs `speed` times faster than the wall clock from an anchor, so sensors and automation run live.
"""

from __future__ import annotations

import time
from typing import Protocol

KEY = "clock"


class StateStore(Protocol):
    def devnet_get(self, key: str): ...
    def devnet_set(self, key: str, value) -> None: ...


class DevnetClock:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    def now(self) -> float:
        state = self._store.devnet_get(KEY)
        if state is None:
            raise RuntimeError("the devnet clock is not set: install the devnet first")
        if state["mode"] == "manual":
            return float(state["now"])
        return state["world_anchor"] + (time.time() - state["wall_anchor"]) * state["speed"]

    def set_manual(self, now: float) -> None:
        self._store.devnet_set(KEY, {"mode": "manual", "now": float(now)})

    def advance(self, seconds: float) -> float:
        """Move a manual clock forward (never back); returns the new time."""
        state = self._store.devnet_get(KEY)
        if state is None or state["mode"] != "manual":
            raise RuntimeError("only a manual clock can be advanced")
        if seconds < 0:
            raise ValueError("the devnet clock never goes back")
        self.set_manual(state["now"] + seconds)
        return state["now"] + seconds

    def set_scaled(self, speed: float, world_now: float | None = None) -> None:
        """Run from `world_now` (default: the current world time) at `speed` × the wall clock."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        start = self.now() if world_now is None else world_now
        self._store.devnet_set(KEY, {"mode": "scaled", "world_anchor": float(start),
                                     "wall_anchor": time.time(), "speed": float(speed)})
