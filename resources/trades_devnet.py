"""TradesSource on the devnet's Almanac market: what its API would return at `now`, in 1000-record pages."""

from __future__ import annotations

import json
import math

from protocol import json_guard
from resources.devnet_context import devnet_state
from resources.trades import TradesPull, TradesSource, TradesSourceError

PAGE = 1000


class DevnetTradesSource(TradesSource):
    profile_path: str = ""
    ledger_url: str
    days: int = 30

    def pull(self, now: float) -> TradesPull:
        world = devnet_state(self.profile_path, self.ledger_url).world
        if not world.traders:
            raise TradesSourceError("the devnet profile has no Almanac challenge, so its market has no traders")
        records = world.market.pull(now, self.days)
        # as the live client reads them: through JSON, with its integer bound
        records = json_guard.loads(json.dumps(records), max_depth=1 << 20, parse_int=json_guard.bounded_int)
        return TradesPull(records, max(1, math.ceil(len(records) / PAGE)), now)
