"""The trade pairs a PTN miner may order, with their asset category and, for the asset-segmented
versions (V2+), their sub-category. The list and the groups are the reference's of mid-2025
(ptn.md §3); pairs without a sub-category (metals, equities, indices) are scored only unsegmented.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pair:
    id: str
    category: str
    subcategory: str | None


_CRYPTO = {"BTCUSD": "crypto_majors", "ETHUSD": "crypto_majors", "SOLUSD": "crypto_alts", "XRPUSD": "crypto_alts",
           "DOGEUSD": "crypto_alts"}
_FOREX_GROUPS = {
    "forex_group1": ("AUDUSD", "EURUSD", "NZDUSD", "GBPUSD", "USDCAD", "USDCHF"),
    "forex_group2": ("AUDJPY", "CADJPY", "CHFJPY", "EURJPY", "NZDJPY", "GBPJPY", "USDJPY"),
    "forex_group3": ("EURAUD", "EURCAD", "EURCHF", "EURGBP", "EURNZD"),
    "forex_group4": ("GBPAUD", "GBPCAD", "GBPCHF", "GBPNZD"),
    "forex_group5": ("AUDCAD", "AUDCHF", "AUDNZD", "CADCHF", "NZDCAD", "NZDCHF", "USDMXN"),
}
_OTHERS = {"XAUUSD": "forex", "XAGUSD": "forex", "NVDA": "equities", "AAPL": "equities", "TSLA": "equities",
           "AMZN": "equities", "MSFT": "equities", "GOOG": "equities", "META": "equities", "SPX": "indices",
           "DJI": "indices", "NDX": "indices", "VIX": "indices", "FTSE": "indices", "GDAXI": "indices"}

PAIRS: dict[str, Pair] = {
    **{p: Pair(p, "crypto", sub) for p, sub in _CRYPTO.items()},
    **{p: Pair(p, "forex", group) for group, pairs in _FOREX_GROUPS.items() for p in pairs},
    **{p: Pair(p, category, None) for p, category in _OTHERS.items()},
}
SUBCATEGORIES = {sub: ("crypto" if sub.startswith("crypto") else "forex")
                 for sub in dict.fromkeys(p.subcategory for p in PAIRS.values() if p.subcategory)}
