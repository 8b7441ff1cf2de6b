"""Synthetic PTN traders: a market with a predictable part, and miners who know graded amounts of it,
written as the ptn-orders/1 export the scorer reads (docs/ptn.md).

Each pair's hourly log return is a daily drift drawn at the start of the day plus noise. A miner
with skill s sees the coming day's drift through noise (signal = s·drift + √(1 − s²)·noise, in units
of the drift's spread) and holds a position proportional to it, rebalanced twice a day. The other
kinds are the ones a scorer must not pay:

- reckless: the largest positions the caps allow, no skill, and adding to losers (stepping in);
- drawdown: a skilled trader who sometimes bets big on a coin flip;
- inactive: trades for a couple of weeks, then flat for good;
- copycat: a skilled trader's orders replayed a minute later (it pays the same, later, slippage);
- garbage: orders the scorer must refuse (unknown pairs, bad prices, absurd leverage, repeats).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mechanisms.ptn.config import DAY_MS, utc_ms, v1_proposal
from mechanisms.ptn.pairs import PAIRS as PAIR_TABLE

HOUR_MS = 3_600_000
PAIRS = ("BTCUSD", "ETHUSD", "SOLUSD", "XRPUSD", "DOGEUSD", "EURUSD", "GBPUSD")
DAILY_VOL = {"BTCUSD": 0.03, "ETHUSD": 0.035, "SOLUSD": 0.045, "XRPUSD": 0.045, "DOGEUSD": 0.05,
             "EURUSD": 0.005, "GBPUSD": 0.006}
LEVERAGE = {p: v1_proposal().leverage_bounds[PAIR_TABLE[p].category] for p in PAIRS}  # (min, max) a position


@dataclass(frozen=True)
class Panel:
    """A generated export and its planted truth."""

    export: dict
    skill: dict[str, float]        # planted skill per hotkey (0 for the kinds without any)
    kind: dict[str, str]
    start_ms: int
    end_ms: int


def market(rng: np.random.Generator, start_ms: int, days: int, drift_share: float = 0.35
           ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Hourly marks and each pair's daily drift (the predictable part, in units of its spread)."""
    hours = days * 24
    t = start_ms + np.arange(hours + 1, dtype=np.int64) * HOUR_MS
    prices, drifts = {}, {}
    for pair in PAIRS:
        vol = DAILY_VOL[pair]
        z = rng.standard_normal(days)
        drift = drift_share * vol * z / 24  # per hour, constant within the day
        noise = rng.standard_normal(hours) * vol * np.sqrt(1 - drift_share**2) / np.sqrt(24)
        log_r = np.repeat(drift, 24) + noise
        prices[pair] = 100.0 * np.exp(np.concatenate(([0.0], np.cumsum(log_r))))
        drifts[pair] = z
    return t, prices, drifts


def _book(rng: np.random.Generator, kind: str, skill: float, drifts: dict[str, np.ndarray], days: int
          ) -> dict[str, np.ndarray]:
    """Target leverage per pair per half day."""
    out = {}
    for pair in PAIRS:
        z = np.repeat(drifts[pair], 2)
        noise = rng.standard_normal(2 * days)
        cap = LEVERAGE[pair][1]
        if kind == "reckless":
            target = np.sign(noise) * cap
        else:
            signal = skill * z + np.sqrt(max(0.0, 1 - skill**2)) * noise
            target = np.clip(signal * 0.08 * cap, -0.25 * cap, 0.25 * cap)
            if kind == "drawdown":
                bets = rng.random(2 * days) < 0.05
                target = np.where(bets, np.sign(rng.standard_normal(2 * days)) * cap, target)
            if kind == "inactive":
                target[28:] = 0.0
        out[pair] = target
    return out


def _orders(book: dict[str, np.ndarray], t: np.ndarray, prices: dict[str, np.ndarray], start_ms: int,
            offset_ms: int, rng: np.random.Generator, prefix: str, reckless: bool) -> list[dict]:
    """The orders that move the miner's positions to each half day's target."""
    orders: list[dict] = []
    n = 0
    for pair in PAIRS:
        current = 0.0
        low = LEVERAGE[pair][0]
        for k, target in enumerate(book[pair]):
            ms = start_ms + k * DAY_MS // 2 + offset_ms + int(rng.integers(0, 600_000))
            px = float(prices[pair][np.searchsorted(t, ms, "right") - 1])
            if reckless and current != 0 and np.sign(target) == np.sign(current):
                target = current * 1.5  # stepping in: add to what it holds
            if abs(target) < low:
                target = 0.0
            if np.sign(target) != np.sign(current) and current != 0:
                orders.append(_order(f"{prefix}{n}", pair, "FLAT", 0.0, px, ms))
                n, current, ms = n + 1, 0.0, ms + 20_000
            delta = target - current
            if abs(delta) >= 0.001 and target != 0:
                orders.append(_order(f"{prefix}{n}", pair, "LONG" if delta > 0 else "SHORT", abs(delta), px, ms))
                n, current = n + 1, target
    return orders


def _order(uuid: str, pair: str, kind: str, leverage: float, price: float, ms: int) -> dict:
    return {"order_uuid": uuid, "trade_pair": pair, "order_type": kind, "leverage": round(leverage, 6),
            "price": price, "slippage": 0.0002 if pair in ("EURUSD", "GBPUSD") else 0.0008, "processed_ms": ms}


def _garbage(prefix: str, start_ms: int) -> list[dict]:
    return [
        {"order_uuid": f"{prefix}a", "trade_pair": "NOPE", "order_type": "LONG", "leverage": 0.1, "price": 1.0,
         "processed_ms": start_ms},
        {"order_uuid": f"{prefix}b", "trade_pair": "BTCUSD", "order_type": "LONG", "leverage": 1e9, "price": 1.0,
         "processed_ms": start_ms},
        {"order_uuid": f"{prefix}c", "trade_pair": "BTCUSD", "order_type": "LONG", "leverage": 0.1, "price": "NaN",
         "processed_ms": start_ms},
        {"order_uuid": f"{prefix}d", "trade_pair": "ETHUSD", "order_type": "SHORT", "leverage": 0, "price": 10.0,
         "processed_ms": start_ms},
        "not an order",
    ]


def traders(seed: int, n_skilled: int = 20, days: int = 150, start: tuple[int, int, int] = (2025, 4, 1),
            extra: dict[str, int] | None = None) -> Panel:
    """A population of miners over `days` days: graded skill, then the other kinds (default 4 reckless,
    4 drawdown-prone, 3 inactive, 2 copycats, 1 garbage)."""
    rng = np.random.default_rng(seed)
    start_ms = utc_ms(*start)
    t, prices, drifts = market(rng, start_ms, days)
    counts = {"reckless": 4, "drawdown": 4, "inactive": 3, "copycat": 2, "garbage": 1, **(extra or {})}
    miners: dict[str, dict] = {}
    skill: dict[str, float] = {}
    kind: dict[str, str] = {}
    skills = np.linspace(0.0, 0.6, n_skilled)
    for i, s in enumerate(skills):
        hk = f"skill-{i:03d}"
        miners[hk] = {"orders": _orders(_book(rng, "skilled", float(s), drifts, days), t, prices, start_ms,
                                        int(rng.integers(0, 3_600_000)), rng, f"{hk}-", False),
                      "account_size": 150_000.0}
        skill[hk], kind[hk] = float(s), "skilled"
    for k, count in counts.items():
        for i in range(count):
            hk = f"{k}-{i:03d}"
            if k == "copycat":
                source = f"skill-{n_skilled - 1 - i:03d}"
                orders = [dict(o, order_uuid=f"{hk}-{j}", processed_ms=o["processed_ms"] + 60_000)
                          for j, o in enumerate(miners[source]["orders"])]
                s = skill[source]
            elif k == "garbage":
                orders, s = _garbage(f"{hk}-", start_ms), 0.0
            else:
                s = 0.0 if k == "reckless" else (0.3 if k == "drawdown" else 0.4)
                orders = _orders(_book(rng, k, s, drifts, days), t, prices, start_ms,
                                 int(rng.integers(0, 3_600_000)), rng, f"{hk}-", k == "reckless")
                s = 0.0 if k == "inactive" else s  # its skill shows for two weeks of months
            miners[hk] = {"orders": orders, "account_size": 150_000.0}
            skill[hk], kind[hk] = s, k
    export = {"format": "ptn-orders/1", "miners": miners,
              "prices": {p: [[int(a), float(b)] for a, b in zip(t, prices[p])] for p in PAIRS}}
    return Panel(export, skill, kind, start_ms, int(t[-1]))
