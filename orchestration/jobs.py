"""The jobs sensors and schedules request: an epoch's collection and its reveal (MANTIS), its trades pull (Almanac)."""

import dagster as dg

from assets.partitions import EPOCHS, PROFILE

# A collection run lasts its epoch at most; one alive but stuck for two epochs' time is cancelled by run
# monitoring and failed, and the block sensor (or the reconcile) takes over from its samples.
COLLECTION_MAX_RUNTIME_S = 2 * PROFILE.chain.tempo * PROFILE.chain.block_time
collect_job = dg.define_asset_job("collection", selection=dg.AssetSelection.groups("ingest"), partitions_def=EPOCHS,
                                  tags={"dagster/max_runtime": str(round(COLLECTION_MAX_RUNTIME_S))},
                                  description="One epoch's live sampling run (payloads, prices, metagraph).")
reveal_job = dg.define_asset_job("reveal", selection=dg.AssetSelection.groups("reveal"), partitions_def=EPOCHS,
                                 description="Verified signatures and validated embeddings of a closed epoch.")
trades_job = dg.define_asset_job("trades_pull", selection=dg.AssetSelection.groups("trades"), partitions_def=EPOCHS,
                                description="A closed epoch's Almanac trades pull, budget inputs and commitments.")
