"""Vesting in the platform: the devnet's months of stake history (activation to the first live epoch)
read through the chain interface and booked into a fresh ledger by `vesting_multipliers`' code, as a
new validator's first run does; then one more epoch, as every later run does.

Time of the first run and of a steady epoch, and what the ledger keeps per epoch (the vesting row:
snapshots and flows; the sparse checkpoints).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import profiles
from assets.epochs import EpochBlocks, epoch_metagraph
from assets.vesting import Vesting
from benchmarks.common import machine
from devnet.chain import DevnetChainState
from devnet.world import World
from ledger import Ledger
from resources.chain_devnet import DevnetChain


def run(scale: float = 1.0) -> dict[str, Any]:
    profile = profiles.load()
    world = World(profile)
    live = world.live_start_block // world.tempo
    with tempfile.TemporaryDirectory() as home:
        url = f"sqlite:///{Path(home) / 'ledger.sqlite'}"
        state = DevnetChainState(world, Ledger(url))
        state.install()
        state.clock.set_manual(world.time_of((live + 2) * world.tempo))
        chain = DevnetChain(netuid=profile.chain.netuid, ledger_url=url, payload_dir=home)
        store = Ledger(url)
        graph = lambda e: epoch_metagraph(store, chain, EpochBlocks.of(e, profile).last)  # noqa: E731
        t0 = time.perf_counter()
        first = Vesting(profile, store, chain).evaluate(live, graph(live))
        first_s = time.perf_counter() - t0
        g = graph(live + 1)
        t0 = time.perf_counter()
        Vesting(profile, store, chain).evaluate(live + 1, g)  # a new run: checkpoint + stored flows + one read
        steady_s = time.perf_counter() - t0
        with store.engine.connect() as conn:
            rows, chain_b, flows_b, factors_b = conn.execute(sa.text(
                "select count(*), sum(length(chain)), sum(length(flows)), sum(length(factors)) from vesting_epochs")).one()
            checkpoints, state_b = conn.execute(sa.text(
                "select count(*), sum(length(state)) from vesting_checkpoints")).one()
        booked = live - profile.vesting.activation_epoch + 1
        return {
            "benchmark": "vesting-history",
            "machine": machine(),
            "miners": len(first.factors), "epochs_booked": booked, "epochs_stored": rows,
            "first_run_seconds": round(first_s, 2), "first_run_ms_per_epoch": round(1000 * first_s / booked, 2),
            "next_epoch_seconds": round(steady_s, 3),
            "snapshot_bytes_per_epoch": round(chain_b / rows), "flow_bytes_per_epoch": round(flows_b / rows),
            "factor_bytes_total": factors_b, "checkpoints": checkpoints,
            "checkpoint_bytes_each": round(state_b / max(1, checkpoints)),
            "note": "devnet profile: every miner coldkey's stake behaviour planted from ~5 days before activation; "
                    "events decoded by name; SQLite",
        }
