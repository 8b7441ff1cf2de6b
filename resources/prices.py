"""Price snapshots for labels: `prices_http.HttpPriceFeed` or `prices_devnet.DevnetPriceFeed`."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import dagster as dg


@dataclass(frozen=True)
class PriceSnapshot:
    taken_at: float  # unix seconds the snapshot describes
    prices: dict[str, float]  # key → price; a missing or invalid price is NaN, never 0
    funding_rates: dict[str, float] = field(default_factory=dict)


class PriceFeedError(RuntimeError):
    """The feed gave nothing usable (unreachable, not JSON, or stale)."""


class PriceFeed(dg.ConfigurableResource, abc.ABC):
    @abc.abstractmethod
    def snapshot(self, now: float) -> PriceSnapshot:
        """The current snapshot; raises PriceFeedError rather than returning stale or zero prices."""

    @abc.abstractmethod
    def tao_usd(self, now: float) -> float:
        """TAO's price in USD now (positive and finite), or PriceFeedError: Almanac's budget needs it."""
