"""Epoch partitions: one dynamic key per chain epoch (zero-padded), and the challenge dimension."""

from __future__ import annotations

import dagster as dg

import profiles

EPOCHS = dg.DynamicPartitionsDefinition(name="epochs")
CHALLENGES = dg.StaticPartitionsDefinition([c.name for c in profiles.load().challenges])
EPOCH_X_CHALLENGE = dg.MultiPartitionsDefinition({"epoch": EPOCHS, "challenge": CHALLENGES})
BY_EPOCH = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="epoch")


def epoch_key(epoch: int) -> str:
    return f"{epoch:08d}"


def parse_epoch(key: str) -> int:
    return int(key)


def epoch_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> int:
    """The epoch of a partitioned run, whether the asset is per epoch or epoch × challenge."""
    key = context.partition_key
    if isinstance(key, dg.MultiPartitionKey):
        return parse_epoch(key.keys_by_dimension["epoch"])
    return parse_epoch(key)
