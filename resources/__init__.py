"""Dagster resources for external systems: one abstract interface each, a live and a devnet implementation."""
