"""Seeded Almanac (SN41) trade histories with planted trader roles, as validator snapshots.

Every trader buys outcome shares at a price p and wins with probability p + edge: the edge is the
planted skill (positive for skilled traders and whales, zero for noise, negative for losers), so a
trader's expected ROI is edge / p before fees. Other roles break the rules the scoring must catch:
miners that stopped trading, newcomers below the build-up, fee dodgers, positions grown outside
Almanac, re-registered hotkeys, two profiles behind one uid, wrong commitments, sybils that split one
stream over several uids, and records that are garbage. Tests, benchmarks and the devnet use it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, fields

import numpy as np

EDGE = {"skilled": 0.06, "whale": 0.05, "noise": 0.0, "loser": -0.06, "inactive": 0.05, "newcomer": 0.05,
        "fee_dodger": 0.05, "grower": 0.05, "reregistered": 0.05, "two_profiles": 0.05, "bad_commitment": 0.05,
        "sybil": 0.06}


@dataclass(frozen=True)
class TraderMix:
    """How many traders play each role (sybils come in groups of three uids sharing one stream)."""

    skilled: int = 8
    whale: int = 1
    noise: int = 6
    loser: int = 4
    inactive: int = 2
    newcomer: int = 2
    fee_dodger: int = 1
    grower: int = 1
    reregistered: int = 1
    two_profiles: int = 1
    bad_commitment: int = 1
    sybil: int = 3

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    def scaled(self, total: int) -> "TraderMix":
        """The same proportions for `total` traders (largest remainders)."""
        names = [f.name for f in fields(self)]
        shares = {r: getattr(self, r) * total / self.total for r in names}
        counts = {r: int(shares[r]) for r in names}
        for r in sorted(names, key=lambda r: shares[r] - counts[r], reverse=True)[:total - sum(counts.values())]:
            counts[r] += 1
        return TraderMix(**counts)

    def roles(self) -> list[str]:
        return [f.name for f in fields(self) for _ in range(getattr(self, f.name))]


GP_MIX = TraderMix(skilled=10, whale=1, noise=12, loser=8, inactive=2, newcomer=3, fee_dodger=1, grower=1,
                   reregistered=0, two_profiles=0, bad_commitment=0, sybil=0)


def _iso(day: dt.date, seconds: np.ndarray) -> list[str]:
    base = dt.datetime(day.year, day.month, day.day)
    return [(base + dt.timedelta(seconds=float(s))).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" for s in seconds]


def generate_snapshot(seed: int, today: dt.date, miners: TraderMix = TraderMix(), gp: TraderMix = GP_MIX,
                      trades_per_day: float = 1.2, n_uids: int = 256, epoch_budget: float | None = None,
                      garbage: int = 0, days: int = 34) -> dict:
    """A snapshot for `incentive almanac score --today today`: trades of the `days` days before `today`
    (some also on `today`, outside the window), the metagraph, commitments and U.

    `garbage` appends that many malformed records. The planted role of each miner uid and GP profile
    is returned under the extra key `roles` (the scorer ignores unknown keys).
    """
    rng = np.random.default_rng(seed)
    uids = list(range(n_uids))
    hotkeys = [f"5hk{seed:04d}{u:05d}" for u in uids]
    free = [u for u in uids[1:] if u != 210]
    miner_roles = miners.roles()
    if len(miner_roles) > len(free):
        raise ValueError(f"{len(miner_roles)} miners do not fit in {n_uids} uids")
    miner_uids = sorted(rng.choice(free, size=len(miner_roles), replace=False).tolist())
    traders = [Trader("miner", u, hotkeys[u], r) for u, r in zip(miner_uids, miner_roles)] + \
              [Trader("gp", i, None, r) for i, r in enumerate(gp.roles())]
    records, roles, committed = trade_history(rng, seed, traders, today, days, trades_per_day)
    records += [malformed_record(rng, i) for i in range(garbage)]
    order = rng.permutation(len(records))
    records = [records[i] for i in order]
    if epoch_budget is None:
        epoch_budget = float(rng.choice([50.0, 500.0, 50_000.0]))
    commitments: dict[str, str | None] = {str(u): None for u in uids} | {str(u): c for u, c in committed.items()}
    return {"all_uids": uids, "all_hotkeys": hotkeys, "commitments": commitments,
            "current_epoch_budget": epoch_budget, "data": records, "roles": roles}


@dataclass(frozen=True)
class Trader:
    pool: str  # "miner" or "gp"
    ident: int  # the miner's uid, or the GP trader's index
    hotkey: str | None  # the miner's hotkey
    role: str


def trade_history(rng: np.random.Generator, seed: int, traders: list[Trader], today: dt.date, days: int,
                  trades_per_day: float, median_volume: float = math.exp(4.0)
                  ) -> tuple[list[dict], dict[str, str], dict[int, str]]:
    """Every trader's records over the `days` days before `today` (and on it), with the planted role
    of each miner uid and GP profile, and each miner's commitment (uid → first 5 characters of its
    profile id, or a wrong one). Volumes are log-normal around `median_volume` USD (whales' 20× it)."""
    records: list[dict] = []
    roles: dict[str, str] = {}
    commitments: dict[int, str] = {}
    streams: dict[int, tuple] = {}
    for t, trader in enumerate(traders):
        pool, ident, role = trader.pool, trader.ident, trader.role
        profile = f"0x{rng.integers(0, 2**63):016x}{t:08x}{seed:016x}"
        roles[str(ident) if pool == "miner" else profile] = role
        if pool == "miner":
            commitments[ident] = (profile[:5] if role != "bad_commitment" else "0xfff").lower()
            if rng.random() < 0.1:  # some miners commit in capitals: compared lower-case
                commitments[ident] = commitments[ident].upper()
        group = t // 3 if role == "sybil" else None
        if group is not None and group in streams:
            active_days, per_day, prices, wins, volumes = streams[group]
        else:
            active_days = _active_days(rng, role, days)
            per_day = rng.poisson(trades_per_day * (3 if role == "whale" else 1), size=len(active_days))
            m = int(per_day.sum())
            prices = rng.uniform(0.2, 0.8, size=m)
            wins = rng.random(m) < np.clip(prices + EDGE[role], 0.01, 0.99)
            volumes = rng.lognormal(math.log(median_volume) + (3.0 if role == "whale" else 0.0), 1.0, size=m).round(6)
            if group is not None:
                streams[group] = (active_days, per_day, prices, wins, volumes)
        if group is not None:
            volumes = volumes / 3
        records += _trades(rng, trader, profile, today, active_days, per_day, prices, wins, volumes, t)
    return records, roles, commitments


def _active_days(rng: np.random.Generator, role: str, days: int) -> np.ndarray:
    """Days before `today` (1 = yesterday; 0 = today, outside the window) on which a trader trades."""
    if role == "inactive":
        start = int(rng.integers(12, 25))
        return np.arange(start, days + 1)[rng.random(days + 1 - start) < 0.7]
    if role == "newcomer":
        return np.sort(rng.choice(np.arange(1, 4), size=int(rng.integers(1, 3)), replace=False))
    return np.arange(0, days + 1)[rng.random(days + 1) < (0.85 if role in ("skilled", "whale", "sybil") else 0.6)]


def _trades(rng, trader: Trader, profile, today, active_days, per_day, prices, wins, volumes, t) -> list[dict]:
    pool, ident, role, hotkey = trader.pool, trader.ident, trader.role, trader.hotkey
    m = len(prices)
    day_of = np.repeat(active_days, per_day)
    fees_expected = (0.01 * volumes).round(8)
    fees = fees_expected * (0.5 if role == "fee_dodger" else 1.0)
    pnl = np.where(wins, volumes * (1 - prices) / prices, -volumes) - fees
    grown = role == "grower"
    out = []
    for j in range(m):
        day = today - dt.timedelta(days=int(day_of[j]))
        rec = {
            "position_id": t * 100_000 + j, "account_id": 1000 + t if rng.random() > 0.01 else None,
            "profile_id": profile if not (role == "two_profiles" and j % 2) else profile[:-4] + "beef",
            "miner_id": ident if pool == "miner" else None,
            "miner_hotkey": (hotkey if role != "reregistered" else "5old" + hotkey[4:]) if pool == "miner" else None,
            "is_general_pool": pool == "gp", "market_id": str(500_000 + j), "token_id": str(10**20 + j),
            "date_created": _iso(day - dt.timedelta(days=1), rng.uniform(0, 86400, 1))[0],
            "volume": float(volumes[j]) + (50.0 if grown and j % 2 else 0.0),
            "expected_volume": float(volumes[j]) if rng.random() > 0.05 else None,
            "expected_fees": float(fees_expected[j]), "actual_fees": float(fees[j]),
            "pnl": float(pnl[j]), "is_correct": bool(wins[j]),
            "is_completed": bool(rng.random() > 0.03),
            "completed_at": _iso(day, rng.uniform(0, 86400, 1))[0],
            "is_reward_eligible": bool(rng.random() > 0.05),
        }
        if rng.random() < 0.02:
            del rec["expected_volume"]  # the API sometimes omits it
        out.append(rec)
    return out


def malformed_record(rng: np.random.Generator, i: int, completed_at: str = "2026-01-01T00:00:00Z") -> object:
    """One malformed record of a kind the checks must name."""
    base = {"account_id": 1, "profile_id": "0xbad", "miner_id": None, "miner_hotkey": None,
            "is_general_pool": True, "volume": 10.0, "expected_volume": 10.0, "expected_fees": 0.1,
            "actual_fees": 0.1, "pnl": 1.0, "is_correct": True, "is_completed": True,
            "completed_at": completed_at, "is_reward_eligible": True}
    kind = i % 8
    if kind == 0:
        return ["not", "an", "object"]
    if kind == 1:
        del base["volume"]
    elif kind == 2:
        base["volume"] = "10.0"
    elif kind == 3:
        base["pnl"] = float("nan")
    elif kind == 4:
        base["volume"] = -5.0
    elif kind == 5:
        base["completed_at"] = "yesterday"
    elif kind == 6:
        base["is_correct"] = "true"
    else:
        base["actual_fees"] = 10**400
    return base
