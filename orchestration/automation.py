"""Declarative automation below the reveal step, evaluated by an explicit sensor."""

import dagster as dg

epoch_automation = dg.AutomationConditionSensorDefinition(
    "epoch_automation",
    target=dg.AssetSelection.groups("scoring", "weights", "chain"),
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
