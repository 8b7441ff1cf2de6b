"""A validator snapshot (`incentive almanac score`'s input): the metagraph, commitments, U and the trades."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

REQUIRED = ("all_uids", "all_hotkeys", "commitments", "current_epoch_budget", "data")


class SnapshotError(ValueError):
    """The snapshot as a whole is unusable (one line, for the command's error message)."""


@dataclass(frozen=True)
class Snapshot:
    uids: list[int]
    hotkeys: list[str | None]
    commitments: dict[int, str | None]
    epoch_budget: float
    data: list


def parse_snapshot(obj: Any) -> Snapshot:
    """Check the snapshot's shape; the trade records themselves are checked one by one when scored.

    Unknown extra keys are ignored.
    """
    if not isinstance(obj, dict):
        raise SnapshotError(f"the snapshot is not a JSON object (got {type(obj).__name__})")
    missing = [key for key in REQUIRED if key not in obj]
    if missing:
        raise SnapshotError(f"the snapshot lacks {', '.join(missing)}")
    uids = obj["all_uids"]
    if not isinstance(uids, list) or not all(type(u) is int and u >= 0 for u in uids):
        raise SnapshotError("all_uids must be a list of non-negative integers")
    if len(set(uids)) != len(uids):
        raise SnapshotError("all_uids lists a uid more than once")
    hotkeys = obj["all_hotkeys"]
    if not isinstance(hotkeys, list) or not all(h is None or isinstance(h, str) for h in hotkeys):
        raise SnapshotError("all_hotkeys must be a list of strings (index = uid)")
    raw = obj["commitments"]
    if not isinstance(raw, dict):
        raise SnapshotError('commitments must be an object {"<uid>": string or null}')
    commitments: dict[int, str | None] = {}
    for key, value in raw.items():
        if not (isinstance(key, str) and key.isdigit() and key.isascii() and len(key) <= 9):
            raise SnapshotError(f"commitments key {key[:40]!r} is not a uid")
        if value is not None and not isinstance(value, str):
            raise SnapshotError(f"commitment of uid {key} must be a string or null")
        commitments[int(key)] = value
    budget = obj["current_epoch_budget"]
    if type(budget) not in (int, float) or not math.isfinite(budget) or budget <= 0:
        raise SnapshotError("current_epoch_budget must be a positive number of USD")
    data = obj["data"]
    if not isinstance(data, list):
        raise SnapshotError("data must be a list of trade records")
    return Snapshot(uids, hotkeys, commitments, float(budget), data)
