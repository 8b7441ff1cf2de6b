"""The ledger as a Dagster resource: one SQLAlchemy URL (SQLite file by default, PostgreSQL in production)."""

from __future__ import annotations

from functools import lru_cache

import dagster as dg

from ledger import Ledger


@lru_cache(maxsize=8)
def _open(url: str) -> Ledger:
    return Ledger(url)


class LedgerResource(dg.ConfigurableResource):
    url: str

    def ledger(self) -> Ledger:
        """The migrated ledger, opened once per process."""
        return _open(self.url)
