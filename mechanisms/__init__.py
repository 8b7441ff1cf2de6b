"""Pure scoring and weight mechanisms: numpy and plain data in, numbers out; no Dagster, no I/O."""
