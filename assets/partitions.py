"""Epoch partitions: one dynamic key per chain epoch (zero-padded), and each family's challenge dimension.

The challenge dimensions come from the active profile ($INCENTIVE_PROFILE or devnet), as the
Definitions do: a family without challenges in it has an empty dimension and no assets."""

from __future__ import annotations

import dagster as dg

import profiles

PROFILE = profiles.load()
EPOCHS = dg.DynamicPartitionsDefinition(name="epochs")


def epoch_x_challenge(family: str) -> dg.MultiPartitionsDefinition:
    """Epoch × the profile's challenges of `family`: one of them can be rerun alone."""
    names = [c.name for c in PROFILE.family_challenges(family)]
    return dg.MultiPartitionsDefinition({"epoch": EPOCHS, "challenge": dg.StaticPartitionsDefinition(names)})


EPOCH_X_MANTIS = epoch_x_challenge("mantis")
EPOCH_X_ALMANAC = epoch_x_challenge("almanac")
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
