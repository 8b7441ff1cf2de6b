"""Fixtures shared by test modules."""

from tests.postgres import pg_cluster  # noqa: F401 - one PostgreSQL cluster per session
