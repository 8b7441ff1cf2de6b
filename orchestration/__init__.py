"""Dagster Definitions, partitions, sensors, schedules and jobs (built from the active profile)."""
