"""The asset lists of MANTIS's multi-asset challenges (mantis.md §8) and the price keys they read.

Order matters: it is the order of a challenge's vector, of its panel's price columns and of the
miners' object values once flattened.
"""

from __future__ import annotations

BREAKOUT_ASSETS = (
    "BTC", "ETH", "XRP", "SOL", "TRX", "DOGE", "ADA", "BCH", "XMR", "LINK", "LEO", "HYPE", "XLM", "ZEC", "SUI",
    "LTC", "AVAX", "HBAR", "SHIB", "TON", "CRO", "DOT", "UNI", "MNT", "BGB", "TAO", "AAVE", "PEPE", "NEAR", "ICP",
    "ETC", "ONDO", "SKY",
)  # also MULTIXSEC's order
FUNDING_ASSETS = (
    "BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "AVAX", "LINK", "DOT", "SUI", "NEAR", "AAVE", "UNI", "LTC", "HBAR",
    "PEPE", "TRX", "SHIB", "TAO", "ONDO",
)
TRADE_MIX_ASSETS = ("BTC", "ETH", "TAO", "SOL")

# The ledger keeps one series per price key: an asset's price under its own name (the snapshot's
# `prices`), its funding rate under this prefix (the snapshot's `funding_rates`).
FUNDING_PREFIX = "funding:"


def funding_key(asset: str) -> str:
    return FUNDING_PREFIX + asset
