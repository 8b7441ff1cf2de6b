"""The ledger as a Dagster resource: one SQLAlchemy URL (SQLite file by default, PostgreSQL in production)."""

from __future__ import annotations

from functools import lru_cache

import dagster as dg

from ledger import Ledger


def resolved_url(url: str) -> str:
    """The URL itself: an `EnvVar` (a URL that may hold a password) is read from the environment.

    Inside a run Dagster has already resolved it; outside one (the CLI using resources directly)
    the field still holds the `EnvVar`, whose string is the variable's name.
    """
    return url.get_value() if isinstance(url, dg.EnvVar) else url


@lru_cache(maxsize=8)
def _open(url: str) -> Ledger:
    return Ledger(url)


class LedgerResource(dg.ConfigurableResource):
    url: str  # build_resources passes dg.EnvVar("INCENTIVE_LEDGER_URL") when that is set

    def ledger(self) -> Ledger:
        """The migrated ledger, opened once per process."""
        return _open(resolved_url(self.url))
