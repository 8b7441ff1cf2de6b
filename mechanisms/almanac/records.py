"""The API's trade records (§2) as checked columns.

Records come from the Almanac API and carry what traders did, so every field is checked before it
reaches a matrix: a record that is not an object, lacks a key, holds a string or a non-finite value
where a number belongs, a negative amount, or a completion time that does not parse is skipped and
counted under its first reason. Checking runs in chunks of records, column by column: one type scan
per column, a per-element loop only where a chunk's column holds something other than what belongs
there, so 370 000 records take under half a second and one bad record slows only its chunk.
"""

from __future__ import annotations

import datetime as dt
import gc
import operator
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

# Keys every record must carry (§2). `expected_volume` may be absent (treated as null); `miner_id` and
# `miner_hotkey` may be absent (treated as null, as the reference reads them with .get).
REQUIRED = ("account_id", "profile_id", "is_general_pool", "is_completed", "completed_at", "volume",
            "expected_fees", "actual_fees", "pnl", "is_correct", "is_reward_eligible")
AMOUNTS = ("volume", "expected_volume", "expected_fees", "actual_fees")  # USD, never negative
NUMBERS = AMOUNTS + ("pnl",)
FLAGS = ("is_general_pool", "is_completed", "is_correct", "is_reward_eligible")
LIMIT = 1e15  # USD; larger is not a trade, and sums of such values would overflow into inf
MAX_RETURN = 1000.0  # fixed mode: profit per USD of volume a binary share priced ≥ 0.1¢ can pay


class _Missing:
    """The type of the marker for an absent key (a type of its own, so a type scan finds it)."""


_MISSING = _Missing()
_EPOCH = dt.date(1970, 1, 1).toordinal()


@dataclass
class Trades:
    """Checked records: one entry per record of the input, `ok` false for the skipped ones.

    `day` is the completion date as days since 1970-01-01 (−1 where not completed); null numbers are 0
    and null flags false, as the reference reads them.
    """

    ok: np.ndarray
    has_account: np.ndarray  # account_id not null
    completed: np.ndarray
    day: np.ndarray
    general_pool: np.ndarray
    miner_id: np.ndarray     # int64, −1 = null or no possible uid
    miner_hotkey: Sequence
    profile_id: Sequence
    volume: np.ndarray
    expected_volume: np.ndarray
    expected_fees: np.ndarray
    actual_fees: np.ndarray
    pnl: np.ndarray
    correct: np.ndarray
    reward_eligible: np.ndarray
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ok)


class _Reasons:
    """The first reason each record fails, as codes into a list of labels."""

    def __init__(self, n: int) -> None:
        self.code = np.zeros(n, dtype=np.int32)
        self.labels: list[str] = [""]

    def flag(self, mask: np.ndarray, label: str) -> None:
        fresh = mask & (self.code == 0)
        if fresh.any():
            self.labels.append(label)
            self.code[fresh] = len(self.labels) - 1

    def counts(self) -> dict[str, int]:
        found = Counter(self.code[self.code > 0].tolist())
        out: Counter[str] = Counter()
        for code, count in found.items():
            out[self.labels[code]] += count
        return dict(sorted(out.items()))


_NONE = type(None)
_NUMERIC = {float, int, _NONE}


def _odd(col: Sequence, kinds: set, allowed: set) -> list[int]:
    """Indexes of values whose type is not allowed (a second pass only when the kinds show some)."""
    if kinds <= allowed:
        return []
    return [i for i, v in enumerate(col) if type(v) not in allowed]


def _mask(n: int, idx: list[int]) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[idx] = True
    return out


def _numbers(col: Sequence, kinds: set, key: str, reasons: _Reasons) -> np.ndarray:
    """A float column: null → 0; non-numbers, non-finite and out-of-range values flagged (and 0)."""
    n = len(col)
    odd = _odd(col, kinds, _NUMERIC)
    if odd:
        reasons.flag(_mask(n, odd), f"not_a_number:{key}")
        col = list(col)
        for i in odd:
            col[i] = None
    try:
        arr = np.array(col, dtype=np.float64)  # None → nan, told apart below
    except OverflowError:  # an int beyond float range
        big = [i for i, v in enumerate(col) if type(v) is int and abs(v) > LIMIT]
        reasons.flag(_mask(n, big), f"out_of_range:{key}")
        col = list(col)
        for i in big:
            col[i] = None
        arr = np.array(col, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if len(bad):
        reasons.flag(_mask(n, [i for i in bad.tolist() if col[i] is not None]), f"not_finite:{key}")
        arr[bad] = 0.0
    reasons.flag(np.abs(arr) > LIMIT, f"out_of_range:{key}")
    if key in AMOUNTS:
        reasons.flag(arr < 0, f"negative:{key}")
    return arr


def _flags(col: Sequence, kinds: set, key: str, reasons: _Reasons) -> np.ndarray:
    """A boolean column: null → false; anything but a bool flagged (a string "false" is not false)."""
    if kinds <= {bool}:
        return np.array(col, dtype=bool)
    odd = _odd(col, kinds, {bool, _NONE})
    if odd:
        reasons.flag(_mask(len(col), odd), f"not_a_bool:{key}")
    return np.array([v is True for v in col], dtype=bool)


def _types(col: Sequence, kinds: set, allowed: set, label: str, reasons: _Reasons) -> None:
    odd = _odd(col, kinds, allowed)
    if odd:
        reasons.flag(_mask(len(col), odd), label)


def _day(value: Any, utc: bool) -> int:
    """Completion date as days since 1970-01-01, or −2 if the value is not an ISO-8601 time.

    The reference takes `.date()` of the parsed time, which is the date in the record's own offset;
    `utc=True` (fixed mode) converts to UTC first, as §3 means. A naive time is read as UTC.
    """
    if type(value) is not str:
        return -2
    try:
        t = dt.datetime.fromisoformat(value)
        if utc and t.tzinfo is not None:
            t = t.astimezone(dt.timezone.utc)  # may leave the calendar: year 1 or 9999 at an offset
    except (ValueError, OverflowError):
        return -2
    return t.toordinal() - _EPOCH


OPTIONAL = ("expected_volume", "miner_id", "miner_hotkey")
KEYS = REQUIRED + OPTIONAL
_GET = operator.itemgetter(*REQUIRED)
CHUNK = 4096  # records checked together: a malformed one slows only its own chunk


def _required(record: Any) -> tuple:
    """The record's required values, _MISSING where absent (None for a record that is no object)."""
    if type(record) is not dict:
        return (None,) * len(REQUIRED)
    return tuple([record.get(k, _MISSING) for k in REQUIRED])


def _columns(chunk: Sequence[Any], reasons: _Reasons) -> dict[str, Sequence]:
    """The chunk's values per key: one C-level pass for the required keys when every record is an
    object that has them all, a pass per optional key."""
    try:
        rows = list(map(_GET, chunk))
        if not all(type(r) is dict for r in chunk):
            raise TypeError
        objects = chunk
    except (KeyError, TypeError, IndexError):
        rows = [_required(r) for r in chunk]
        is_object = [type(r) is dict for r in chunk]
        reasons.flag(~np.array(is_object, dtype=bool), "not_an_object")
        objects = [r if ok else {} for r, ok in zip(chunk, is_object)]
    cols: dict[str, Sequence] = dict(zip(REQUIRED, zip(*rows))) if rows else {k: () for k in REQUIRED}
    for key in OPTIONAL:
        cols[key] = [r.get(key) for r in objects]  # absent = null
    return cols


def _days(stamps: list, utc: bool) -> np.ndarray:
    """`_day` of every stamp; one comprehension when all are ISO-8601 strings in UTC or without offset."""
    iso = dt.datetime.fromisoformat
    try:
        times = [iso(s) for s in stamps]
    except (TypeError, ValueError):
        return np.array([_day(s, utc) for s in stamps], dtype=np.int64)
    if utc and not {t.utcoffset() for t in times} <= {None, dt.timedelta(0)}:
        return np.array([_day(s, utc) for s in stamps], dtype=np.int64)
    return np.array([t.toordinal() for t in times], dtype=np.int64) - _EPOCH


def _parse_chunk(chunk: Sequence[Any], fixed: bool, reasons: _Reasons) -> dict[str, Any]:
    n = len(chunk)
    cols = _columns(chunk, reasons)
    kinds = {key: set(map(type, col)) for key, col in cols.items()}
    for key in REQUIRED:
        if _Missing in kinds[key]:
            col = cols[key]
            reasons.flag(np.array([v is _MISSING for v in col], dtype=bool), f"missing_key:{key}")
            cols[key] = [None if v is _MISSING else v for v in col]
            kinds[key] = (kinds[key] - {_Missing}) | {_NONE}
    out: dict[str, Any] = {key: _flags(cols[key], kinds[key], key, reasons) for key in FLAGS}
    out.update({key: _numbers(cols[key], kinds[key], key, reasons) for key in NUMBERS})
    if fixed:
        # a share bought at ≥ 0.1¢ pays at most 1000× its cost: one impossible profit would otherwise
        # set the pool's kappa (profit on profitable days) and cut every other trader's pay
        reasons.flag(out["pnl"] > MAX_RETURN * np.minimum(out["volume"], LIMIT) + 1.0, "implausible:pnl")

    account = cols["account_id"]
    _types(account, kinds["account_id"], {_NONE, int, str}, "bad_type:account_id", reasons)
    out["has_account"] = (np.ones(n, dtype=bool) if _NONE not in kinds["account_id"]
                          else np.array([a is not None for a in account], dtype=bool))
    miner = cols["miner_id"]
    _types(miner, kinds["miner_id"], {_NONE, int}, "not_an_int:miner_id", reasons)
    # −1 = no uid: null, negative, or too large for any metagraph (all of them fail the uid check)
    out["miner_id"] = np.array([v if type(v) is int and 0 <= v < 2**62 else -1 for v in miner], dtype=np.int64)
    _types(cols["miner_hotkey"], kinds["miner_hotkey"], {_NONE, str}, "not_a_string:miner_hotkey", reasons)
    profile = cols["profile_id"]
    _types(profile, kinds["profile_id"], {_NONE, str}, "not_a_string:profile_id", reasons)
    if _NONE in kinds["profile_id"]:
        # the profile id is the GP entity and the miner's profile: a null one cannot be scored there
        needs = out["is_general_pool"] | out["is_reward_eligible"]
        reasons.flag(needs & np.array([v is None for v in profile], dtype=bool), "null:profile_id")
    out["miner_hotkey"], out["profile_id"] = list(cols["miner_hotkey"]), list(profile)

    day = np.full(n, -1, dtype=np.int64)
    done = np.flatnonzero(out["is_completed"])
    stamps = cols["completed_at"]
    day[done] = _days([stamps[i] for i in done.tolist()], fixed)
    reasons.flag(day == -2, "bad_date:completed_at")
    out["day"] = day
    return out


def parse_trades(data: Sequence[Any], *, fixed: bool = False) -> Trades:
    """Check every record of an API `data` array; nothing here raises on a record's content.

    `fixed` (fixed mode): completion dates in UTC, and a profit no binary position can make skipped.
    """
    parts, codes, skipped = [], [], Counter()
    paused = gc.isenabled()
    gc.disable()  # hundreds of thousands of new tuples would trigger full collections, and none is a cycle
    try:
        for start in range(0, max(len(data), 1), CHUNK):
            reasons = _Reasons(len(data[start:start + CHUNK]))
            parts.append(_parse_chunk(data[start:start + CHUNK], fixed, reasons))
            codes.append(reasons.code == 0)
            skipped.update(reasons.counts())
    finally:
        if paused:
            gc.enable()

    def joined(key: str) -> Any:
        if key in ("miner_hotkey", "profile_id"):
            return [v for part in parts for v in part[key]]
        return np.concatenate([part[key] for part in parts])

    return Trades(ok=np.concatenate(codes), has_account=joined("has_account"), completed=joined("is_completed"),
                  day=joined("day"), general_pool=joined("is_general_pool"), miner_id=joined("miner_id"),
                  miner_hotkey=joined("miner_hotkey"), profile_id=joined("profile_id"), volume=joined("volume"),
                  expected_volume=joined("expected_volume"), expected_fees=joined("expected_fees"),
                  actual_fees=joined("actual_fees"), pnl=joined("pnl"), correct=joined("is_correct"),
                  reward_eligible=joined("is_reward_eligible"), skipped=dict(sorted(skipped.items())))
