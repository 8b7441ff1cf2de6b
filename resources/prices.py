"""Price snapshots for labels: `prices_http.HttpPriceFeed` or `prices_devnet.DevnetPriceFeed`.

A snapshot carries two maps, as the feed does (mantis.md §10): asset prices (`prices`, finite and
> 0, else NaN) and funding rates by asset (`funding_rates`, any finite number, else NaN). The ledger
keeps one series per key: an asset's price under its own name, its funding rate under
`funding_key(asset)`; `PriceSnapshot.values(keys)` gives exactly the keys a profile's challenges read.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from mechanisms.mantis.universe import FUNDING_PREFIX


def price_value(value: Any) -> float:
    """A price as float, or NaN unless it is a finite JSON number > 0 (bools and strings are not)."""
    price = rate_value(value)
    return price if price > 0 else math.nan


def rate_value(value: Any) -> float:
    """A funding rate as float, or NaN unless it is a finite JSON number (zero and negative are valid;
    bools and strings are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    try:
        rate = float(value)
    except OverflowError:  # an integer beyond float range
        return math.nan
    return rate if math.isfinite(rate) else math.nan


@dataclass(frozen=True)
class PriceSnapshot:
    taken_at: float  # unix seconds the snapshot describes
    prices: dict[str, float]  # key → price; a missing or invalid price is NaN, never 0
    funding_rates: dict[str, float] = field(default_factory=dict)  # asset → funding rate (NaN if invalid)

    def values(self, keys: Iterable[str]) -> dict[str, float]:
        """{key: value} for every key asked, in order: `funding_key(asset)` reads the asset's
        funding rate, any other key its price; NaN where the snapshot has none."""
        out: dict[str, float] = {}
        for key in keys:
            if key.startswith(FUNDING_PREFIX):
                out[key] = float(self.funding_rates.get(key[len(FUNDING_PREFIX):], math.nan))
            else:
                out[key] = float(self.prices.get(key, math.nan))
        return out


def missing(keys: Iterable[str]) -> dict[str, float]:
    """What a sample stores when the feed gave nothing usable: NaN for every key (§10's project rule)."""
    return dict.fromkeys(keys, math.nan)


class PriceFeedError(RuntimeError):
    """The feed gave nothing usable (unreachable, not JSON, or stale)."""


class PriceFeed(dg.ConfigurableResource, abc.ABC):
    @abc.abstractmethod
    def snapshot(self, now: float) -> PriceSnapshot:
        """The current snapshot; raises PriceFeedError rather than returning stale or zero prices."""

    @abc.abstractmethod
    def tao_usd(self, now: float) -> float:
        """TAO's price in USD now (positive and finite), or PriceFeedError: Almanac's budget needs it."""
