"""PriceFeed on the devnet's planted price path: the price of the sample at `now`; TAO at the market's price."""

from __future__ import annotations

import math

from resources.devnet_context import devnet_state
from resources.prices import PriceFeed, PriceFeedError, PriceSnapshot


class DevnetPriceFeed(PriceFeed):
    profile_path: str = ""
    ledger_url: str

    def snapshot(self, now: float) -> PriceSnapshot:
        world = devnet_state(self.profile_path, self.ledger_url).world
        block = world.block_at(now)
        row = world.row(block // world.sample_every)
        if row is None:
            raise PriceFeedError(f"block {block} is outside the devnet world")
        return PriceSnapshot(now, {k: p if math.isfinite(p) else math.nan for k, p in world.prices(row).items()})

    def tao_usd(self, now: float) -> float:
        return devnet_state(self.profile_path, self.ledger_url).world.profile.devnet.market.tao_usd
