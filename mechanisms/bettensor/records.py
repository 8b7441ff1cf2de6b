"""Games, offers and predictions, and the `bettensor-days/1` export that carries them (docs/bettensor.md).

Games and offers come from the validator's odds feed; predictions come from miners and are hostile.
A malformed record is dropped with its reason and nothing else is affected: a bad prediction costs
only itself, a bad game or offer only the predictions that would have needed it (they are then refused
as `game` or `level`). Only a file that is not an export at all raises.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

from mechanisms.bettensor.config import BET_TYPES
from mechanisms.fields import finite_number, printable_id

FORMAT = "bettensor-days/1"
MAX_DEPTH = 64  # an export is 4 levels deep; room for fields nobody reads
MAX_ID = 128
MAX_ODDS = 1e6  # decimal odds beyond this are not a price anyone offers
MAX_WAGER = 1e12
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def parse_time(value: object) -> int | None:
    """An ISO 8601 time as UTC milliseconds (a time without a zone is UTC); None if it is not one."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    if not 1971 <= when.year <= 9998:
        return None
    return (when - _EPOCH) // dt.timedelta(milliseconds=1)


def iso(ms: int) -> str:
    return (_EPOCH + dt.timedelta(milliseconds=ms)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def day_of(ms: int) -> int:
    """The UTC day number (days since 1970-01-01) of a time."""
    return ms // 86_400_000


def day_number(text: str) -> int | None:
    try:
        return (dt.date.fromisoformat(text) - dt.date(1970, 1, 1)).days
    except (TypeError, ValueError):
        return None


def day_text(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()


def _line(value: object) -> float | None | str:
    """A line: None for moneyline, else a finite multiple of 0.5 (returned as a float); a string on error."""
    if value is None:
        return None
    x = finite_number(value)
    if x is None or abs(x) > 1e6 or (2 * x) != int(2 * x):
        return "line is not a multiple of 0.5"
    return x


@dataclass(frozen=True)
class Game:
    game_id: str
    sport: str
    team_a: str
    team_b: str
    commence_ms: int
    can_tie: bool
    status: str  # "scheduled", "final" or "cancelled"
    score_a: int | None = None
    score_b: int | None = None
    result_ms: int | None = None  # when the (first) final result arrived; outcomes count on its UTC day


@dataclass(frozen=True)
class Offer:
    game_id: str
    bet_type: str
    line: float | None
    side: str
    odds: float
    offered_ms: int
    withdrawn_ms: int | None

    @property
    def level(self) -> tuple[str, str, float | None, str]:
        return (self.game_id, self.bet_type, self.line, self.side)


@dataclass(frozen=True)
class Prediction:
    prediction_id: str
    hotkey: str
    game_id: str
    bet_type: str
    line: float | None
    side: str
    odds: float
    wager: float
    received_ms: int  # recorded by the validator on receipt; a time the miner states is never read

    @property
    def level(self) -> tuple[str, str, float | None, str]:
        return (self.game_id, self.bet_type, self.line, self.side)


@dataclass(frozen=True)
class Refusal:
    """A record that does not count, and why. `kind` is "prediction", "game", "offer" or "miner"."""

    kind: str
    key: str  # the prediction id (or game id, or hotkey), printable
    hotkey: str | None
    reason: str


@dataclass(frozen=True)
class Neuron:
    uid: int
    hotkey: str
    alpha_stake_rao: int | None


@dataclass(frozen=True)
class Export:
    games: Mapping[str, Game]
    offers: tuple[Offer, ...]
    predictions: tuple[Prediction, ...]  # well-formed, in file order; validation (intake.py) comes later
    neurons: tuple[Neuron, ...]
    moving_price_tao: float | None
    refusals: tuple[Refusal, ...]


def _printable(value: object) -> str:
    """A refused record's key as printable ASCII (control and non-ASCII characters escaped), from at most
    128 characters of it. Only strings and small scalars are shown: repr of a hostile container is as
    large as the record (or, nested deep enough, overflows the C stack), and repr of an int past 4300
    digits raises."""
    if isinstance(value, str):
        text = value[:MAX_ID]
    elif value is None or isinstance(value, bool | float) or (isinstance(value, int) and value.bit_length() < 400):
        text = repr(value)
    else:
        text = f"<{type(value).__name__}>"
    return text if text.isascii() and text.isprintable() else text.encode("unicode_escape").decode()


def parse_game(raw: object) -> Game | str:
    if not isinstance(raw, Mapping):
        return "a game is not an object"
    gid = raw.get("game_id")
    if not printable_id(gid):
        return "game_id is not an identifier"
    texts = [raw.get(k, "") for k in ("sport", "team_a", "team_b")]
    if not all(isinstance(t, str) and len(t) <= 200 for t in texts):
        return "sport, team_a and team_b must be strings of at most 200 characters"
    commence = parse_time(raw.get("commence_time"))
    if commence is None:
        return "commence_time is not an ISO 8601 time"
    can_tie = raw.get("can_tie", False)
    status = raw.get("status", "scheduled")
    if not isinstance(can_tie, bool) or status not in ("scheduled", "final", "cancelled"):
        return "can_tie must be a boolean and status scheduled, final or cancelled"
    if status != "final":
        return Game(gid, *texts, commence, can_tie, status)
    a, b = raw.get("score_a"), raw.get("score_b")
    if not all(type(s) is int and 0 <= s < 10**6 for s in (a, b)):
        return "a final game needs integer scores score_a and score_b"
    result = parse_time(raw.get("result_at"))
    if result is None:
        return "a final game needs result_at, the time its result arrived"
    return Game(gid, *texts, commence, can_tie, status, a, b, result)


def parse_offer(raw: object) -> Offer | str:
    if not isinstance(raw, Mapping):
        return "an offer is not an object"
    gid, bet_type, side = raw.get("game_id"), raw.get("bet_type"), raw.get("side")
    if not printable_id(gid) or bet_type not in BET_TYPES or not isinstance(side, str):
        return "an offer needs game_id, a bet_type (moneyline, spread, total) and a side"
    line = _line(raw.get("line"))
    if isinstance(line, str) or (line is None) != (bet_type == "moneyline"):
        return "line must be null for moneyline and a multiple of 0.5 otherwise"
    odds = finite_number(raw.get("odds"))
    if odds is None or not 1 < odds <= MAX_ODDS:
        return "odds must be decimal odds above 1"
    offered = parse_time(raw.get("offered_at"))
    withdrawn = raw.get("withdrawn_at")
    withdrawn_ms = None if withdrawn is None else parse_time(withdrawn)
    if offered is None or (withdrawn is not None and withdrawn_ms is None):
        return "offered_at (and withdrawn_at when set) must be ISO 8601 times"
    return Offer(gid, bet_type, line, side, odds, offered, withdrawn_ms)


def parse_prediction(raw: object) -> Prediction | str:
    """A prediction's shape; whether it can be accepted is intake.py's decision."""
    if not isinstance(raw, Mapping):
        return "a prediction is not an object"
    pid, hotkey, gid = raw.get("prediction_id"), raw.get("hotkey"), raw.get("game_id")
    if not (printable_id(pid) and printable_id(hotkey) and printable_id(gid)):
        return "prediction_id, hotkey and game_id must be identifiers"
    bet_type, side = raw.get("bet_type"), raw.get("side")
    if not isinstance(bet_type, str) or not isinstance(side, str) or len(bet_type) > 16 or len(side) > 16:
        return "bet_type and side must be short strings"
    received = parse_time(raw.get("received_at"))
    if received is None:
        return "received_at is not an ISO 8601 time"
    # A line, odds or wager that cannot be one is refused at intake, in the order of the reasons: a line
    # that matches no level (infinity) is `level`, odds that are not a number (NaN) are `odds`, a wager
    # that is not a finite positive number is `wager`.
    line = _line(raw.get("line"))
    odds, wager = finite_number(raw.get("predicted_odds")), finite_number(raw.get("wager"))
    return Prediction(pid, hotkey, gid, bet_type, math.inf if isinstance(line, str) else line, side,
                      math.nan if odds is None else odds,
                      math.nan if wager is None or wager > MAX_WAGER else wager, received)


def _neuron(raw: object) -> Neuron | str:
    if not isinstance(raw, Mapping) or type(raw.get("uid")) is not int or not 0 <= raw["uid"] <= 65535:
        return "a metagraph entry needs a uid in 0..65535"
    if not printable_id(raw.get("hotkey")):
        return "a metagraph entry needs a hotkey"
    stake = raw.get("alpha_stake_rao")
    if stake is not None and (type(stake) is not int or not 0 <= stake < 2**63):
        return "alpha_stake_rao must be a non-negative integer"
    return Neuron(raw["uid"], raw["hotkey"], stake)


def parse_export(obj: object) -> Export:
    """The whole export; only a file that is not one raises (ValueError)."""
    lists = ("games", "offers", "predictions", "metagraph")
    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT or not all(isinstance(obj.get(k), list) for k in lists):
        raise ValueError(f"not a {FORMAT} export: an object with \"format\": \"{FORMAT}\" and the lists {', '.join(lists)}")
    refusals: list[Refusal] = []
    games: dict[str, Game] = {}
    for raw in obj["games"]:
        game = parse_game(raw)
        key = _printable(raw.get("game_id")) if isinstance(raw, Mapping) else ""
        if isinstance(game, str):
            refusals.append(Refusal("game", key, None, game))
        elif game.game_id in games:
            refusals.append(Refusal("game", key, None, "game_id repeats an earlier game"))
        else:
            games[game.game_id] = game
    offers = []
    for raw in obj["offers"]:
        offer = parse_offer(raw)
        if isinstance(offer, str):
            key = _printable(raw.get("game_id")) if isinstance(raw, Mapping) else ""
            refusals.append(Refusal("offer", key, None, offer))
        else:
            offers.append(offer)
    predictions = []
    for raw in obj["predictions"]:
        p = parse_prediction(raw)
        if isinstance(p, str):
            m = raw if isinstance(raw, Mapping) else {}
            hk = m.get("hotkey")
            refusals.append(Refusal("prediction", _printable(m.get("prediction_id")),
                                    hk if printable_id(hk) else None, "malformed: " + p))
        else:
            predictions.append(p)
    neurons: dict[int, Neuron] = {}
    hotkeys: set[str] = set()
    for raw in obj["metagraph"]:
        n = _neuron(raw)
        if isinstance(n, str) or n.uid in neurons or n.hotkey in hotkeys:
            refusals.append(Refusal("miner", _printable(raw.get("hotkey") if isinstance(raw, Mapping) else raw), None,
                                    n if isinstance(n, str) else "uid or hotkey repeats an earlier entry"))
        else:
            neurons[n.uid] = n
            hotkeys.add(n.hotkey)
    price = obj.get("moving_price_tao")
    price_value = None if price is None else finite_number(price)
    if price is not None and (price_value is None or price_value < 0):
        raise ValueError("moving_price_tao must be a non-negative number or null")
    return Export(games, tuple(offers), tuple(predictions), tuple(sorted(neurons.values(), key=lambda n: n.uid)),
                  price_value, tuple(refusals))
