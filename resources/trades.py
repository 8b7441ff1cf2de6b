"""Almanac trade history: `trades_http.HttpTradesSource` (the trading-history API) or the devnet's.

A pull is all-or-nothing: every page arrives, or the pull fails with the reason. A partial history
would silently score traders on part of their window.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import dagster as dg


@dataclass(frozen=True)
class TradesPull:
    records: list  # the API's `data` elements, exactly as they arrived (checked later, per record)
    pages: int
    pulled_at: float  # unix seconds when the pull finished


class TradesSourceError(RuntimeError):
    """The history could not be had whole (unreachable, refused, malformed, or a cursor that loops)."""


class TradesSource(dg.ConfigurableResource, abc.ABC):
    @abc.abstractmethod
    def pull(self, now: float) -> TradesPull:
        """Every trade of the last `days` days; raises TradesSourceError rather than return part."""
