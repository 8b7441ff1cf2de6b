"""The jobs sensors and schedules request: an epoch's collection and its reveal (MANTIS), its trades pull (Almanac)."""

import dagster as dg

from assets.partitions import EPOCHS

collect_job = dg.define_asset_job("collection", selection=dg.AssetSelection.groups("ingest"), partitions_def=EPOCHS,
                                  description="One epoch's live sampling run (payloads, prices, metagraph).")
reveal_job = dg.define_asset_job("reveal", selection=dg.AssetSelection.groups("reveal"), partitions_def=EPOCHS,
                                 description="Verified signatures and validated embeddings of a closed epoch.")
trades_job = dg.define_asset_job("trades_pull", selection=dg.AssetSelection.groups("trades"), partitions_def=EPOCHS,
                                description="A closed epoch's Almanac trades pull, budget inputs and commitments.")
