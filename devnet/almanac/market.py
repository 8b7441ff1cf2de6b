"""The devnet's Almanac market: the world's traders and what the trading-history API shows at a moment.

The traders' histories are generated once per world (`trades.trade_history`) over the 32 days before
the live start and the live days after it; a weekday rhythm thins weekend trading. A position exists
from its creation and reads settled only some hours after it completed (an exponential delay): a
pull before that returns it open (not completed, no completion time, no pnl), a later pull returns
the settled record, so the same day reads differently in a later pull. The API returns positions
completed within its `days` window and every open one, plus two malformed records a day; a few
completion times are written at a UTC offset, and a loser now and then reports a profit no share can
pay (the two things compat and fixed mode read differently).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from devnet.almanac.trades import EDGE, GP_MIX, Trader, TraderMix, malformed_record, trade_history

HISTORY_BEFORE_LIVE_DAYS = 32  # the scoring window (30 days) and a day either side
WEEKEND_KEEP = 0.5  # share of a non-whale trader's weekend trades that happen
GARBAGE_PER_DAY = 2
STRAY_UID = 60_000  # a uid no metagraph has: its trades are dropped at the uid check
OFFSET_SHARE = 0.05  # records whose completion time is written at a UTC offset (compat reads its local date)
OFFSETS = (-7, 5, 9)  # hours
IMPLAUSIBLE = 5_000.0  # a profit this many times the volume: skipped in fixed mode, sets kappa in compat


@dataclass(frozen=True)
class PlantedTrader:
    uid: int
    hotkey: str
    role: str
    edge: float  # win probability above the price paid: the planted skill


class Market:
    """Every record the devnet API will ever serve, with when it opens and when it reads settled."""

    def __init__(self, seed: int, traders: list[tuple[int, str, str]], first_day: dt.date, last_day: dt.date,
                 gp: TraderMix = GP_MIX, trades_per_day: float = 1.2, median_volume: float = 55.0,
                 settle_lag_hours: float = 6.0) -> None:
        """`traders`: (uid, hotkey, role) of the miners that trade; `first_day` … `last_day` the days traded."""
        self.traders = tuple(PlantedTrader(u, h, r, EDGE[r]) for u, h, r in traders)
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(f"incentive-market:{seed}".encode()).digest()[:8],
                                                   "little"))
        today = last_day + dt.timedelta(days=1)
        days = (today - first_day).days
        planted = [Trader("miner", t.uid, t.hotkey, t.role) for t in self.traders] + \
                  [Trader("gp", i, None, r) for i, r in enumerate(gp.roles())]
        records, self.roles, self.commitments = trade_history(rng, seed, planted, today, days, trades_per_day,
                                                              median_volume)
        records = [r for r in records if _happens(rng, r, self.roles)]
        for i in np.flatnonzero(rng.random(len(records)) < OFFSET_SHARE).tolist():
            records[i] = records[i] | {"completed_at": _at_offset(records[i]["completed_at"], int(rng.choice(OFFSETS)))}
        losers = [i for i, r in enumerate(records) if self.roles.get(str(r["miner_id"])) == "loser"]
        for i in rng.choice(losers, size=min(len(losers), max(1, days // 10)), replace=False).tolist():
            records[i] = records[i] | {"pnl": IMPLAUSIBLE * records[i]["volume"]}  # no share pays this
        mined = [i for i, r in enumerate(records) if r["miner_id"] is not None]
        for i in rng.choice(mined, size=min(len(mined), max(1, len(mined) // 200)), replace=False).tolist():
            records[i] = records[i] | {"miner_id": STRAY_UID}  # a uid the metagraph has never had
        for day in range(days):
            date = first_day + dt.timedelta(days=day)
            stamps = [f"{date.isoformat()}T{int(h):02d}:30:00Z" for h in rng.uniform(0, 24, GARBAGE_PER_DAY)]
            records += [malformed_record(rng, day * GARBAGE_PER_DAY + i, s) for i, s in enumerate(stamps)]
        created = np.array([_time(r.get("date_created") if isinstance(r, dict) else None) for r in records])
        completed = np.array([_time(r.get("completed_at") if isinstance(r, dict) else None) for r in records])
        created = np.where(np.isnan(created), completed, created)
        created = np.where(np.isnan(created), _time(f"{first_day.isoformat()}T00:00:00Z"), created)
        lag = rng.exponential(settle_lag_hours * 3600.0, len(records)) if settle_lag_hours > 0 else np.zeros(len(records))
        self.records = records
        self.opens = created
        self.settles = np.where(np.isnan(completed), created, completed + lag)
        self.completed = completed

    def pull(self, now: float, days: int = 30) -> list:
        """What the API returns at `now`: positions created by then, open ones as open."""
        out = []
        since = now - days * 86_400
        for i in np.flatnonzero(self.opens <= now).tolist():
            record = self.records[i]
            if self.settles[i] > now:
                out.append(_open(record))
            elif math.isnan(self.completed[i]) or self.completed[i] >= since:
                out.append(record)
        return out

    @cached_property
    def edge_of(self) -> dict[str, float]:
        """Planted edge per miner hotkey."""
        return {t.hotkey: t.edge for t in self.traders}


def _time(stamp: object) -> float:
    if not isinstance(stamp, str):
        return math.nan
    try:
        t = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return math.nan
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).timestamp()


def _at_offset(stamp: str, hours: int) -> str:
    """The same instant written at a UTC offset of `hours`."""
    tz = dt.timezone(dt.timedelta(hours=hours))
    return dt.datetime.fromisoformat(stamp).astimezone(tz).isoformat(timespec="milliseconds")


def _happens(rng: np.random.Generator, record: dict, roles: dict[str, str]) -> bool:
    """Weekly rhythm: part of a trader's weekend trades never happen (whales trade every day)."""
    role = roles.get(str(record["miner_id"]) if record["miner_id"] is not None else record["profile_id"])
    weekend = dt.datetime.fromisoformat(record["completed_at"]).weekday() >= 5
    return not weekend or role == "whale" or rng.random() < WEEKEND_KEEP


def _open(record: object) -> object:
    """A position as the API shows it before it settles."""
    if not isinstance(record, dict):
        return record
    return record | {"is_completed": False, "completed_at": None, "pnl": None, "is_correct": None}
