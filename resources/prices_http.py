"""Live price feed: the MANTIS price snapshot over HTTP (mantis.md §1, §10).

Format: `{"prices": {KEY: number}, "funding_rates": {ASSET: number}, <timestamp>: …}`. Project
rules: an invalid price (not a finite number > 0) is NaN, never 0 (builders drop both alike, but
NaN cannot be mistaken for a quote); an invalid funding rate (not a finite number; zero and negative
rates are valid) is NaN; a snapshot whose own timestamp is older than `max_age_s` is refused. The
collection stores `PriceSnapshot.values(keys)`: every key the profile's challenges read, an asset's
funding rate under `funding_key(asset)`, NaN for what the snapshot lacks.

Timestamp fields accepted, first present wins: "timestamp", "ts", "time", "updated_at". A value is
unix seconds as a JSON number (values above 1e11 are taken as milliseconds: 1e11 seconds is the
year 5138) or an ISO-8601 string (no zone means UTC). A snapshot with none of these fields is
dated `now` (the spec checks freshness only "if present"); one with an unreadable timestamp is
refused, since its freshness cannot be checked.

`tao_usd` reads CoinGecko's simple price (almanac_sn41.md §15 "Budget"): `{"bittensor": {"usd": N}}`,
where N must be a positive finite JSON number; anything else is a PriceFeedError, never a guess.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import Any

import requests
from pydantic import Field

from protocol import json_guard
from resources.payloads_http import BodyTooLarge, DeadlinePassed, describe_error, read_capped
from resources.prices import PriceFeed, PriceFeedError, PriceSnapshot, price_value, rate_value

DEFAULT_PRICE_URL = "https://pub-ba8c1b8edb8046edaccecbd26b5ca7f8.r2.dev/latest_prices.json"
DEFAULT_TAO_USD_URL = "https://api.coingecko.com/api/v3/simple/price?ids=bittensor&vs_currencies=usd"
TAO_USD_MAX_BYTES = 64 * 1024  # the answer is a few dozen bytes; more is not CoinGecko's simple price
TIMESTAMP_FIELDS = ("timestamp", "ts", "time", "updated_at")
_MILLISECONDS_ABOVE = 1e11


def snapshot_time(doc: dict[str, Any]) -> float | None:
    """The snapshot's own unix time from the first TIMESTAMP_FIELDS entry, None if it has none.

    Raises PriceFeedError for a present but unreadable value: a feed whose age cannot be told must
    not pass the freshness check by accident.
    """
    for name in TIMESTAMP_FIELDS:
        if name not in doc:
            continue
        value = doc[name]
        seconds: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                seconds = float(value)
            except OverflowError:
                seconds = None
            if seconds is not None and seconds > _MILLISECONDS_ABOVE:
                seconds /= 1000.0
        elif isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None:
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=timezone.utc)
                seconds = parsed.timestamp()
        if seconds is None or not math.isfinite(seconds):
            raise PriceFeedError(f"snapshot field {name!r} is not a timestamp: {str(value)[:64]!r}")
        return seconds
    return None


def parse_snapshot(body: bytes, now: float, max_age_s: float) -> PriceSnapshot:
    """A PriceSnapshot from the feed's bytes, or PriceFeedError (not JSON, no prices, stale).

    A timestamp more than `max_age_s` in the future is refused as well: it means a broken clock or
    unit on the feed's side, and would otherwise pass every later freshness check.
    """
    try:
        doc = json_guard.loads_object(body)
    except ValueError as exc:
        raise PriceFeedError(f"price feed is {exc}") from None
    prices = doc.get("prices")
    if not isinstance(prices, dict):
        raise PriceFeedError('price feed has no "prices" object')
    taken_at = snapshot_time(doc)
    if taken_at is None:
        taken_at = now
    age = now - taken_at
    if age > max_age_s:
        raise PriceFeedError(f"price snapshot is {age:.0f} s old (limit {max_age_s:g} s)")
    if -age > max_age_s:
        raise PriceFeedError(f"price snapshot is dated {-age:.0f} s in the future")
    rates = doc.get("funding_rates")
    return PriceSnapshot(
        taken_at=taken_at,
        prices={str(k): price_value(v) for k, v in prices.items()},
        funding_rates={str(k): rate_value(v) for k, v in rates.items()} if isinstance(rates, dict) else {},
    )


def parse_tao_usd(body: bytes) -> float:
    """TAO's USD price from CoinGecko's `{"bittensor": {"usd": N}}`, or PriceFeedError saying why not."""
    try:
        doc = json_guard.loads_object(body)
    except ValueError as exc:
        raise PriceFeedError(f"TAO/USD answer is {exc}") from None
    entry = doc.get("bittensor")
    if not isinstance(entry, dict) or "usd" not in entry:
        raise PriceFeedError('TAO/USD answer has no "bittensor": {"usd": …} entry')
    price = price_value(entry["usd"])
    if math.isnan(price):
        raise PriceFeedError(f"TAO/USD price is not a positive finite number: {repr(entry['usd'])[:64]}")
    return price


class HttpPriceFeed(PriceFeed):
    """GETs the price snapshot URL; refuses unreachable, non-JSON and stale snapshots."""

    url: str = Field(default=DEFAULT_PRICE_URL, description="Price snapshot URL (mantis.md §1).")
    max_age_s: float = Field(default=120.0, description="Oldest acceptable snapshot timestamp, in seconds.")
    connect_timeout_s: float = Field(default=5.0, description="Socket connect timeout.")
    read_timeout_s: float = Field(default=10.0, description="Socket read timeout.")
    max_bytes: int = Field(default=8 * 1024 * 1024, description="Body size cap, enforced while streaming.")
    tao_usd_url: str = Field(default=DEFAULT_TAO_USD_URL, description="TAO/USD price URL (almanac §15).")
    tao_usd_timeout_s: float = Field(default=30.0, description="Connect and read timeout for tao_usd.")

    def snapshot(self, now: float) -> PriceSnapshot:
        timeout = (self.connect_timeout_s, self.read_timeout_s)
        body = self._get(self.url, "price feed", timeout, self.max_bytes)
        return parse_snapshot(body, now, max_age_s=self.max_age_s)

    def tao_usd(self, now: float) -> float:
        """The current CoinGecko price; `now` is unused, since the live answer is always the present one."""
        timeout = (self.tao_usd_timeout_s, self.tao_usd_timeout_s)
        return parse_tao_usd(self._get(self.tao_usd_url, "TAO/USD feed", timeout, TAO_USD_MAX_BYTES))

    def _get(self, url: str, what: str, timeout: tuple[float, float], max_bytes: int) -> bytes:
        """The body of a 200 answer, or PriceFeedError naming `what`.

        The whole request ends within connect + read timeout: a trickling body beats every socket
        timeout, so only this deadline stops it.
        """
        until = time.monotonic() + sum(timeout)
        try:
            with requests.get(
                url,
                stream=True,
                timeout=timeout,
                headers={"Accept": "application/json"},
            ) as response:
                if response.status_code != 200:
                    raise PriceFeedError(f"{what} answered HTTP {response.status_code}")
                return read_capped(response, max_bytes, until)
        except PriceFeedError:
            raise
        except BodyTooLarge:
            raise PriceFeedError(f"{what} body is larger than {max_bytes} bytes") from None
        except DeadlinePassed:
            raise PriceFeedError(f"{what} body still arriving after the request's time") from None
        except Exception as exc:  # noqa: BLE001 - requests / urllib3 failures: unreachable, timeouts
            raise PriceFeedError(f"{what} unreachable: {describe_error(exc)}") from None
