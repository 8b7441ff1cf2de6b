"""Who does what with their stake on the devnet: each miner hotkey's coldkey, registration block,
stake behaviour, emission per step and opening stake, drawn from the world's seed.

Kept apart from the stake history itself (devnet/stake.py) because `World.neurons()` needs the
coldkeys and registration blocks, and the history needs the neurons' plan, not the other way round.
Behaviours go round a fixed cycle in uid order over MANTIS miners and Almanac traders alike, so each
occurs several times among ~90 miners; three informative MANTIS miners share one coldkey (the even
split of V7), one coldkey receives transfers from outside, and the late holders register within the
last weeks (the young MANTIS miners, and two more 20 and 45 days before the live start).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from devnet.world import World

RAO = 10**9
CYCLE = ("holder", "seller_part", "seller_all", "mover", "bridger", "swapper", "transferrer", "buyer")
BEHAVIOURS = (*CYCLE, "receiver", "multi", "late")
LATE_DAYS = (20.0, 45.0)  # the late holders register this long before the live start: lower time tiers
EMISSION_ALPHA = (0.2, 2.0)  # per step, uniform per hotkey
INITIAL_ALPHA = (20.0, 400.0)  # the opening stake of half the founders


@dataclass(frozen=True)
class Planted:
    """One miner hotkey's stake plan."""

    uid: int
    hotkey: str
    coldkey: str
    behaviour: str  # one of BEHAVIOURS (a young MANTIS miner is late: it registers when it starts submitting)
    registered_at: int  # it earns at the steps after this block
    emission: int  # rao credited at every step after registration
    initial: int  # rao on (coldkey, hotkey) at the start of the stake history


def rng(seed: int, *names: str) -> np.random.Generator:
    """A generator from the seed and names alone: the same in every process (unlike `hash`)."""
    digest = hashlib.sha256(":".join(("incentive-devnet-stake", str(seed), *names)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _assign(world: "World") -> dict[str, str]:
    """hotkey → behaviour: multi and young first, then receiver and late at seeded places, the cycle
    (rotated by the seed) for everyone else, in uid order."""
    mantis = [(m.hotkey, m.role) for m in world.miners]
    everyone = mantis + [(hotkey, "trader") for _, hotkey, _ in world.traders]
    r = rng(world.seed, "assign")
    informative = [h for h, role in mantis if role == "informative"]
    out = {informative[i]: "multi" for i in sorted(r.choice(len(informative), 3, replace=False))}
    out |= {h: "late" for h, role in mantis if role == "young"}  # registered when they start submitting
    rest = [h for h, _ in everyone if h not in out]
    special = r.choice(len(rest), 1 + len(LATE_DAYS), replace=False)
    out[rest[special[0]]] = "receiver"
    out |= {rest[i]: "late" for i in special[1:]}
    offset = world.seed % len(CYCLE)
    cycled = [h for h in rest if h not in out]
    out |= {h: CYCLE[(offset + k) % len(CYCLE)] for k, h in enumerate(cycled)}
    return out


def plan(world: "World") -> list[Planted]:
    """Every miner hotkey's plan, in uid order (MANTIS miners, then traders)."""
    from devnet.world import devnet_keypair  # lazy: world.py imports this module lazily too

    seed, behaviour = world.seed, _assign(world)
    per_day = 86_400 / world.block_time
    young = {m.hotkey: int(world.panel.block[m.first_sample]) for m in world.miners if m.role == "young"}
    hotkeys = [(world.miner_uid(i), m.hotkey) for i, m in enumerate(world.miners)] + \
              [(uid, hotkey) for uid, hotkey, _ in world.traders]
    multi = [h for _, h in hotkeys if behaviour[h] == "multi"]
    shared = devnet_keypair(seed, f"cold:{multi[0]}").ss58_address if multi else None
    late = iter(LATE_DAYS)
    out = []
    for uid, hotkey in hotkeys:
        b = behaviour[hotkey]
        coldkey = shared if b == "multi" else devnet_keypair(seed, f"cold:{hotkey}").ss58_address
        if hotkey in young:
            registered = young[hotkey]
        elif b == "late":
            registered = max(world.genesis_block, world.live_start_block - round(next(late) * per_day))
        else:
            registered = world.genesis_block
        founder = registered == world.genesis_block
        r = rng(seed, "amounts", hotkey)
        emission = int(r.uniform(*EMISSION_ALPHA) * RAO)
        initial = int(r.uniform(*INITIAL_ALPHA) * RAO) if founder and r.random() < 0.5 else 0
        out.append(Planted(uid, hotkey, coldkey, b, registered, emission, initial))
    return out
