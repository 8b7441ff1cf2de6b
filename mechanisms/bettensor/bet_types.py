"""The bet types behind one interface (vesting_bettensor.md §8.1, §8.4; design Goal 1).

A bet type says which sides and lines a game can carry and how a final result settles a prediction.
CLV, ROI and risk are the same for every type (§8.4, "Metrics"), so they live on the base class.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from mechanisms.bettensor.records import Game

WIN, PUSH, LOSS, VOID = "win", "push", "loss", "void"  # VOID: the game was cancelled, the wager refunded


class BetType(ABC):
    name = ""

    @abstractmethod
    def sides(self, game: Game) -> tuple[str, ...]:
        """The sides a game offers for this type."""

    def valid_line(self, line: float | None) -> bool:
        """Moneyline has no line; spread and total lines are finite multiples of 0.5."""
        return line is not None and math.isfinite(line) and 2 * line == int(2 * line)

    def validate(self, game: Game, line: float | None, side: str) -> bool:
        """Whether (line, side) can be a level of this game at all; whether it is offered is intake's question."""
        return side in self.sides(game) and self.valid_line(line)

    @abstractmethod
    def outcome(self, game: Game, line: float | None, side: str) -> str:
        """WIN, PUSH or LOSS from the final score; VOID for a cancelled game. The game must be settled."""

    # --- the same for every type -----------------------------------------------------------------

    @staticmethod
    def payout(outcome: str, odds: float, wager: float) -> float:
        return wager * odds if outcome == WIN else wager if outcome in (PUSH, VOID) else 0.0

    @staticmethod
    def calculate_roi(outcome: str, odds: float) -> float:
        """(payout − wager)/wager: odds − 1 on a win, 0 on a push, −1 on a loss."""
        return odds - 1.0 if outcome == WIN else 0.0 if outcome == PUSH else -1.0

    @staticmethod
    def calculate_clv(odds: float, closing_odds: float | None) -> float | None:
        """The odds taken over the closing odds of the same level; None when the level had no close."""
        return None if closing_odds is None else odds / closing_odds

    @staticmethod
    def calculate_risk(outcome: str, odds: float) -> float | None:
        """§6: a win's ROI over (1 − 0.95/odds); a loss's ROI over (0.95/odds + 1e-5), floored at −10;
        None for a push (it leaves the risk mean)."""
        roi = BetType.calculate_roi(outcome, odds)
        if outcome == WIN:
            return roi / (1.0 - 0.95 / odds)
        if outcome == LOSS:
            return max(roi / (0.95 / odds + 1e-5), -10.0)
        return None


class Moneyline(BetType):
    """A side wins outright. In a game that cannot tie, a level result pushes."""

    name = "moneyline"

    def sides(self, game: Game) -> tuple[str, ...]:
        return ("a", "b", "draw") if game.can_tie else ("a", "b")

    def valid_line(self, line: float | None) -> bool:
        return line is None

    def outcome(self, game: Game, line: float | None, side: str) -> str:
        if game.status == "cancelled":
            return VOID
        a, b = game.score_a, game.score_b
        if a == b and not game.can_tie:
            return PUSH
        result = "a" if a > b else "b" if b > a else "draw"
        return WIN if side == result else LOSS


class Spread(BetType):
    """The line is the handicap added to the chosen side's score: `a −3.5` wins if a wins by 4 or more."""

    name = "spread"

    def sides(self, game: Game) -> tuple[str, ...]:
        return ("a", "b")

    def outcome(self, game: Game, line: float | None, side: str) -> str:
        if game.status == "cancelled":
            return VOID
        mine, other = (game.score_a, game.score_b) if side == "a" else (game.score_b, game.score_a)
        margin = mine + line - other
        return WIN if margin > 0 else PUSH if margin == 0 else LOSS


class Total(BetType):
    """A line on the combined score: over wins above it, under below it, a total equal to it pushes."""

    name = "total"

    def sides(self, game: Game) -> tuple[str, ...]:
        return ("over", "under")

    def outcome(self, game: Game, line: float | None, side: str) -> str:
        if game.status == "cancelled":
            return VOID
        total = game.score_a + game.score_b
        if total == line:
            return PUSH
        return WIN if (total > line) == (side == "over") else LOSS


TYPES: dict[str, BetType] = {t.name: t for t in (Moneyline(), Spread(), Total())}
