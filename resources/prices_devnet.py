"""PriceFeed on the devnet's planted price path: the price of the sample at `now`; TAO at the market's price.

`World.prices(row)` gives every key the challenges read, funding rates under `funding_key(asset)`;
the snapshot splits them back into the feed's two maps, with the live feed's rules (a price must be
finite and > 0, a rate finite), so the collection stores the same keys from either feed.
"""

from __future__ import annotations

from resources.devnet_context import devnet_state
from resources.prices import PriceFeed, PriceFeedError, PriceSnapshot, price_value, rate_value
from mechanisms.mantis.universe import FUNDING_PREFIX


class DevnetPriceFeed(PriceFeed):
    profile_path: str = ""
    ledger_url: str

    def snapshot(self, now: float) -> PriceSnapshot:
        world = devnet_state(self.profile_path, self.ledger_url).world
        block = world.block_at(now)
        row = world.row(block // world.sample_every)
        if row is None:
            raise PriceFeedError(f"block {block} is outside the devnet world")
        prices: dict[str, float] = {}
        rates: dict[str, float] = {}
        for key, value in world.prices(row).items():
            if key.startswith(FUNDING_PREFIX):
                rates[key[len(FUNDING_PREFIX):]] = rate_value(float(value))
            else:
                prices[key] = price_value(float(value))
        return PriceSnapshot(now, prices, rates)

    def tao_usd(self, now: float) -> float:
        return devnet_state(self.profile_path, self.ledger_url).world.profile.devnet.market.tao_usd
