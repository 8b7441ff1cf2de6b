"""The bootstrap history a new validator starts from: decrypted values and prices before live.

A live validator warms up from a datalog snapshot; the devnet writes the same thing from its planted
world, tagged `bootstrap`, at the sample indices before the first live epoch.
"""

from __future__ import annotations

import numpy as np

from devnet.world import World

SOURCE = "bootstrap"


def write_bootstrap(world: World, ledger) -> int:
    """Store the bootstrap samples (idempotent); returns how many samples were new."""
    new = 0
    day = round(86_400 / (world.sample_every * world.block_time))
    for start in range(world.bootstrap_sidx().start, world.bootstrap_sidx().stop, day):
        with ledger.transaction():  # one commit per day of samples, not three per sample
            new += _write_range(world, ledger, range(start, min(start + day, world.bootstrap_sidx().stop)))
    return new


def _write_range(world: World, ledger, sidxs: range) -> int:
    panel, challenge = world.panel, world.challenge
    new = 0
    for sidx in sidxs:
        row = world.row(sidx)
        if row is None:
            continue
        block = sidx * world.sample_every
        if not ledger.record_sample(sidx, block, world.time_of(block), source=SOURCE):
            continue
        values = panel.embeddings[row]
        present = ~np.isnan(values).any(axis=1)
        ledger.store_embeddings(challenge.name, sidx, panel.hotkeys, np.nan_to_num(values), present, source=SOURCE)
        ledger.store_prices(sidx, {challenge.mantis.ticker: float(panel.price[row])}, source=SOURCE)
        new += 1
    return new
