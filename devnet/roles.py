"""Each devnet neuron's planted role, as `make run` prints it and the weights' metadata shows it.

Written to the ledger when the devnet is installed, so an asset can show a miner's role beside its
weight without rebuilding the world.
"""

from __future__ import annotations

from devnet.world import World
from ledger.store import PLANTED_ROLES as ROLES  # the ledger's devnet key


def planted_roles(world: World) -> dict[str, str]:
    """hotkey → role: a miner's role (hostile ones with their attack), `trader:<role>`, owner, validator."""
    from devnet.mantis.miners import hostility

    roles = {m.hotkey: f"{m.role}:{hostility(world, m.hotkey)}" if m.role == "hostile" else m.role
             for m in world.miners}
    roles |= {hotkey: f"trader:{role}" for _, hotkey, role in world.traders}
    return roles | {world.owner.ss58_address: "owner (burn)", world.validator.ss58_address: "validator"}
