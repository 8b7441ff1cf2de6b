"""Accepted predictions settled into columns: one row per prediction, the days it counts on, and its
ROI, CLV and risk (vesting_bettensor.md §8.4, "Settlement", "Days", "Metrics").

Wagers count on the UTC day a prediction was received; outcomes count on the UTC day the game's
result arrived, and only once it has arrived by the end of the day being scored. A cancelled game's
predictions are refunded and leave everything, so they have no row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mechanisms.bettensor.bet_types import TYPES, VOID
from mechanisms.bettensor.intake import Offers
from mechanisms.bettensor.records import Game, Prediction, day_of

UNSETTLED = -1


@dataclass(frozen=True)
class Book:
    """Columns over the accepted predictions of games not cancelled, in received order."""

    hotkeys: tuple[str, ...]      # the miners, in first-seen order; `miner` indexes this
    predictions: tuple[Prediction, ...]
    miner: np.ndarray             # int32
    received_day: np.ndarray      # int64 UTC day numbers
    result_day: np.ndarray        # int64, UNSETTLED when there is no result by the cut-off
    wager: np.ndarray
    roi: np.ndarray               # NaN while unsettled
    clv: np.ndarray               # NaN while unsettled or without a closing offer
    risk: np.ndarray              # NaN while unsettled or on a push
    outcome: tuple[str | None, ...]


def settle(accepted: Sequence[Prediction], games: Mapping[str, Game], offers: Offers, cut_ms: int,
           known: Sequence[str] = ()) -> Book:
    """Settle every accepted prediction whose game's result arrived before `cut_ms`. The miners are
    `known` (the metagraph's hotkeys, so each has a row) followed by any other hotkey that predicted."""
    index: dict[str, int] = {h: i for i, h in enumerate(dict.fromkeys(known))}
    rows = [p for p in accepted if games[p.game_id].status != "cancelled"]
    n = len(rows)
    miner = np.empty(n, np.int32)
    received = np.empty(n, np.int64)
    result = np.full(n, UNSETTLED, np.int64)
    wager = np.empty(n)
    roi, clv, risk = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    outcomes: list[str | None] = []
    closing: dict[tuple, float | None] = {}
    for i, p in enumerate(rows):
        miner[i] = index.setdefault(p.hotkey, len(index))
        received[i] = day_of(p.received_ms)
        wager[i] = p.wager
        game = games[p.game_id]
        if game.status != "final" or game.result_ms >= cut_ms:
            outcomes.append(None)
            continue
        outcome = TYPES[p.bet_type].outcome(game, p.line, p.side)
        assert outcome != VOID
        outcomes.append(outcome)
        result[i] = day_of(game.result_ms)
        roi[i] = TYPES[p.bet_type].calculate_roi(outcome, p.odds)
        if p.level not in closing:
            close = offers.closing(p.level)
            closing[p.level] = None if close is None else close.odds
        c = TYPES[p.bet_type].calculate_clv(p.odds, closing[p.level])
        clv[i] = np.nan if c is None else c
        r = TYPES[p.bet_type].calculate_risk(outcome, p.odds)
        risk[i] = np.nan if r is None else r
    return Book(tuple(index), tuple(rows), miner, received, result, wager, roi, clv, risk, tuple(outcomes))
