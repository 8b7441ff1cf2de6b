"""Devnet generation: a 14-day bootstrap into the ledger and one live epoch of encrypted payloads."""

from __future__ import annotations

import resource
from dataclasses import asdict
import tempfile
import time
from typing import Any

import profiles
from benchmarks.common import machine
from devnet.bootstrap import write_bootstrap
from devnet.chain import DevnetChainState
from devnet.mantis.miners import Miners
from devnet.mantis.signals import RoleMix
from devnet.world import World
from ledger import Ledger


def world_for(miners: int, bootstrap_days: float) -> World:
    base = profiles.load()
    mix = RoleMix(**base.devnet.roles.model_dump()).scaled(miners)
    devnet = base.devnet.model_copy(update={"bootstrap_days": bootstrap_days, "live_days": 0.5,
                                            "roles": base.devnet.roles.model_copy(update=asdict(mix))})
    return World(base.model_copy(update={"devnet": devnet}))


def run(scale: float = 1.0) -> dict[str, Any]:
    """Timed without tracemalloc (it slows py_ecc several-fold); memory is the processes' peak RSS."""
    miners, days = max(8, round(64 * scale)), max(1.0, 14 * scale)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        world = world_for(miners, days)
        world.panel
        world_s = time.perf_counter() - t0
        ledger = Ledger(f"sqlite:///{tmp}/ledger.sqlite")
        state = DevnetChainState(world, ledger)
        t0 = time.perf_counter()
        state.install()
        samples = write_bootstrap(world, ledger)
        bootstrap_s = time.perf_counter() - t0
        first = world.live_start_block // world.sample_every
        epoch = range(first, first + world.tempo // world.sample_every)
        t0 = time.perf_counter()
        payloads = 0
        with Miners(world, f"{tmp}/payloads") as m:
            for sidx in epoch:
                payloads += len(m.publish(sidx, world.time_of(sidx * world.sample_every)))
        epoch_s = time.perf_counter() - t0
    return {
        "benchmark": "devnet",
        "machine": machine(),
        "workers": m.workers,
        "miners": len(world.miners),
        "bootstrap_days": days,
        "bootstrap_samples": samples,
        "world_seconds": round(world_s, 2),
        "install_and_bootstrap_seconds": round(bootstrap_s, 1),
        "epoch_samples": len(epoch),
        "epoch_payloads": payloads,
        "epoch_seconds": round(epoch_s, 1),
        "payloads_per_second": round(payloads / epoch_s, 1),
        "process_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "worker_max_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }
