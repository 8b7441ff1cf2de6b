"""Which predictions are accepted, and the offers they are measured against (vesting_bettensor.md §8.4).

A prediction is validated at `received_at`, the time the validator recorded, against the offers in
force then; the first failing check gives its refusal reason. Predictions are taken in the order they
were received (file order breaks ties), so the daily balance and duplicates are decided as a live
validator would have decided them.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from mechanisms.bettensor.bet_types import TYPES
from mechanisms.bettensor.config import BettensorConfig
from mechanisms.bettensor.records import Game, Offer, Prediction, Refusal, day_of

REASONS = ("unregistered", "game", "started", "level", "odds", "wager", "balance", "duplicate", "limit")
Level = tuple[str, str, float | None, str]


class Offers:
    """Every level's offers in the order they were published, for "in force at t" and "closing" lookups."""

    def __init__(self, offers: Iterable[Offer], games: Mapping[str, Game]):
        by_level: dict[Level, list[tuple[int, int, Offer]]] = defaultdict(list)
        for i, o in enumerate(offers):
            by_level[o.level].append((o.offered_ms, i, o))
        self._games = games
        self._levels: dict[Level, tuple[list[int], list[Offer]]] = {}
        for level, items in by_level.items():
            items.sort(key=lambda x: (x[0], x[1]))  # equal times: the later one in the file is the latest
            self._levels[level] = ([t for t, _, _ in items], [o for _, _, o in items])

    def in_force(self, level: Level, t: int) -> Offer | None:
        """The latest offer of the level published at or before t, unless withdrawn by t or the game started."""
        game = self._games.get(level[0])
        entry = self._levels.get(level)
        if game is None or entry is None or t >= game.commence_ms:
            return None
        i = bisect.bisect_right(entry[0], t) - 1
        if i < 0:
            return None
        offer = entry[1][i]
        return offer if offer.withdrawn_ms is None or t < offer.withdrawn_ms else None

    def closing(self, level: Level) -> Offer | None:
        """The offer in force just before the game started; None if the level was withdrawn before then."""
        game = self._games.get(level[0])
        entry = self._levels.get(level)
        if game is None or entry is None:
            return None
        i = bisect.bisect_left(entry[0], game.commence_ms) - 1  # published strictly before the start
        if i < 0:
            return None
        offer = entry[1][i]
        return offer if offer.withdrawn_ms is None or offer.withdrawn_ms >= game.commence_ms else None


@dataclass(frozen=True)
class Intake:
    accepted: tuple[Prediction, ...]  # in the order they were received
    refusals: tuple[Refusal, ...]


def refusal_reason(p: Prediction, game: Game | None, offer: Offer | None, cfg: BettensorConfig) -> str | None:
    """The stateless checks, in order: game, started, level, odds, wager."""
    if game is None:
        return "game"
    if p.received_ms >= game.commence_ms:
        return "started"
    bet_type = TYPES.get(p.bet_type)
    if offer is None or bet_type is None or not bet_type.validate(game, p.line, p.side):
        return "level"
    if not math.isclose(p.odds, offer.odds, rel_tol=cfg.odds_rel_tol, abs_tol=0.0):
        return "odds"
    if not (math.isfinite(p.wager) and p.wager > 0):
        return "wager"
    return None


def admit(predictions: Iterable[Prediction], games: Mapping[str, Game], offers: Offers,
          cfg: BettensorConfig, until_ms: int | None = None, registered: Collection[str] | None = None) -> Intake:
    """Validate every prediction received before `until_ms` (all when None), in received order.

    With `registered`, a hotkey outside it is refused (`unregistered`) before anything else: a validator
    only hears its subnet's miners, and the per-game limit bounds the entropy pools only per hotkey.

    The balance counts a hotkey's accepted wagers by the UTC day of `received_at`; a prediction on a
    game that was later cancelled is refunded and leaves the balance (§8.4: it leaves every wager sum).
    """
    ordered = sorted((p for p in predictions if until_ms is None or p.received_ms < until_ms),
                     key=lambda p: p.received_ms)  # stable: file order breaks ties
    spent: dict[tuple[str, int], float] = defaultdict(float)
    per_game: dict[tuple[str, str], int] = defaultdict(int)
    seen: set[tuple[str, str]] = set()
    accepted: list[Prediction] = []
    refused: list[Refusal] = []
    for p in ordered:
        if registered is not None and p.hotkey not in registered:
            refused.append(Refusal("prediction", p.prediction_id, p.hotkey, "unregistered"))
            continue
        game = games.get(p.game_id)
        reason = refusal_reason(p, game, offers.in_force(p.level, p.received_ms) if game else None, cfg)
        counted = game is not None and game.status != "cancelled"
        day = (p.hotkey, day_of(p.received_ms))
        if reason is None and counted and spent[day] + p.wager > cfg.daily_balance * (1 + 1e-12):
            reason = "balance"
        if reason is None and (p.hotkey, p.prediction_id) in seen:
            reason = "duplicate"
        if reason is None and per_game[(p.hotkey, p.game_id)] >= cfg.max_per_game:
            reason = "limit"
        if reason is not None:
            refused.append(Refusal("prediction", p.prediction_id, p.hotkey, reason))
            continue
        accepted.append(p)
        seen.add((p.hotkey, p.prediction_id))
        per_game[(p.hotkey, p.game_id)] += 1
        if counted:
            spent[day] += p.wager
    return Intake(tuple(accepted), tuple(refused))
