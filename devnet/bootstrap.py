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
    """One statement per table for a range of samples: the samples not stored yet, their values
    per challenge and their prices."""
    rows = {sidx: row for sidx in sidxs if (row := world.row(sidx)) is not None}
    new = sorted(ledger.record_samples_taken(
        [(sidx, sidx * world.sample_every, world.time_of(sidx * world.sample_every)) for sidx in rows], source=SOURCE))
    if not new:
        return 0
    at = [rows[sidx] for sidx in new]
    for name, panel in world.panels.items():
        values = panel.embeddings[at]
        present = ~np.isnan(values).any(axis=2)
        ledger.store_embeddings_many(name, new, panel.hotkeys, np.nan_to_num(values), present, source=SOURCE)
    ledger.store_snapshots({sidx: world.prices(rows[sidx]) for sidx in new}, world.profile.price_layout(), source=SOURCE)
    return len(new)
