"""Synthetic bettors over a synthetic sports market, written as the bettensor-days/1 export the scorer
reads (docs/bettensor.md).

Each game has true expected scores. The odds feed prices every level (moneyline, spreads, totals) from
its own estimate of them, which gets closer to the truth at each of three stages (open, mid, close),
with a bookmaker's margin tilted against long odds. A bettor with skill s knows the expected scores
through noise that shrinks with s and bets, soon after the open, the levels its estimate says are
worth more than their price. The other roles are the ones a scorer must not pay:

- square: random levels in the last eight hours, modest wagers; no edge, so the margin is its loss;
- reckless: long odds in the last hour, large wagers, on the worst value on the board (negative skill);
- inactive: registered, bets on a handful of days;
- copycat: a sharp's picks half an hour later; sybils: three hotkeys with one square's picks;
- stale: resends yesterday's predictions under the same ids; garbage: predictions intake must refuse.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from mechanisms.bettensor.records import FORMAT, iso

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
START = dt.date(2025, 9, 1)
SAMPLES = 2_000  # Monte Carlo scores per game and estimate
STAGES = (-30, -8, -1)  # hours before the start at which the feed publishes prices
STAGE_NOISE = (0.12, 0.06, 0.02)  # the feed's error on each team's expected score, in units of the sport's scale
MARGIN, LONGSHOT = 0.05, 0.7  # implied probability ∝ p^LONGSHOT, summing to 1 + MARGIN


@dataclass(frozen=True)
class Season:
    export: dict
    role: dict[str, str]
    skill: dict[str, float]  # planted skill (sharps: in (0, 1]; square 0; reckless −1; others None)
    first_day: int           # UTC day number of the first day
    days: int


def _sample(sport: str, mu: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SAMPLES final scores (2 × SAMPLES) for expected scores mu."""
    if sport == "soccer":
        return rng.poisson(np.maximum(mu, 0.05)[:, None], (2, SAMPLES))
    return np.maximum(0, np.rint(rng.normal(mu[:, None], 10.0, (2, SAMPLES)))).astype(int)


def _levels(sport: str, can_tie: bool, mu: np.ndarray) -> list[tuple[str, float | None, str]]:
    """The levels of a game, placed around the opening estimate (fixed for the game's life)."""
    sides = [("moneyline", None, "a"), ("moneyline", None, "b")] + ([("moneyline", None, "draw")] if can_tie else [])
    margin, total = mu[0] - mu[1], mu.sum()
    step = 1.0 if sport == "soccer" else 3.0
    base = np.floor(-margin) + 0.5
    for k in (-step, 0.0, step, 0.5 if sport == "soccer" else -0.5):  # the last line is whole: it can push
        line = float(base + k)
        sides += [("spread", line, "a"), ("spread", -line, "b")]
    tbase = np.floor(total) + 0.5
    for k in (-step, 0.0, step, -0.5):
        sides += [("total", float(tbase + k), "over"), ("total", float(tbase + k), "under")]
    return sides


def _probabilities(scores: np.ndarray, levels: list[tuple[str, float | None, str]]) -> np.ndarray:
    """For each level, the probability it wins, and it pushes (as a 2 × n array)."""
    a, b = scores
    out = np.zeros((2, len(levels)))
    for i, (kind, line, side) in enumerate(levels):
        if kind == "moneyline":
            win = (a > b) if side == "a" else (b > a) if side == "b" else (a == b)
            out[:, i] = win.mean(), 0.0
        elif kind == "spread":
            m = (a - b if side == "a" else b - a) + line
            out[:, i] = (m > 0).mean(), (m == 0).mean()
        else:
            t = a + b
            out[:, i] = ((t > line) if side == "over" else (t < line)).mean(), (t == line).mean()
    return out


def _odds(prob: np.ndarray, levels: list[tuple[str, float | None, str]]) -> np.ndarray:
    """Decimal odds per level: within each market (a moneyline, or one line's two sides) the implied
    probabilities are ∝ p^LONGSHOT and sum to 1 + MARGIN, so long odds carry the most margin."""
    win, push = prob
    odds = np.empty(len(levels))
    groups: dict[tuple, list[int]] = {}
    for i, (kind, line, side) in enumerate(levels):
        groups.setdefault((kind, -line if kind == "spread" and side == "b" else line), []).append(i)
    for members in groups.values():
        p = np.clip(win[members] / np.maximum(1e-9, 1 - push[members]), 0.005, 0.995)  # a push refunds
        q = p**LONGSHOT
        q *= (1 + MARGIN) / q.sum()
        odds[members] = np.round(np.clip(1 / q, 1.01, 100.0), 3)
    return odds


def season(seed: int, days: int = 45, games_per_day: int = 24, n_sharp: int = 8, n_square: int = 10,
           n_reckless: int = 4, n_inactive: int = 3, adversaries: bool = True, square_bets: int = 20,
           uids: int | None = None) -> Season:
    """A season of `days` UTC days from 2025-09-01; sharps' skills are evenly spaced in (0, 1]."""
    rng = np.random.default_rng(seed)
    first = (START - dt.date(1970, 1, 1)).days
    roles: dict[str, str] = {}
    skill: dict[str, float] = {}

    def add(role: str, value: float | None, count: int) -> list[str]:
        keys = [f"5{role[:3].upper()}{seed:02d}x{i:03d}" for i in range(count)]
        for i, h in enumerate(keys):
            roles[h] = role
            skill[h] = value if value is not None else (i + 1) / count
        return keys

    sharps = add("sharp", None, n_sharp)
    squares = add("square", 0.0, n_square)
    reckless = add("reckless", -1.0, n_reckless)
    inactive = add("inactive", None, n_inactive)
    extra = {}
    if adversaries:
        extra = {"copycat": add("copycat", None, 1), "sybil": add("sybil", None, 3), "stale": add("stale", None, 1),
                 "garbage": add("garbage", None, 1)}
    for h in inactive + sum(extra.values(), []):
        skill[h] = None  # not ranked
    games, offers, predictions = [], [], []
    board: list[dict] = []  # per game: levels, odds per stage, the truth
    for day in range(days):
        day_ms = (first + day) * DAY_MS
        for g in range(games_per_day):
            sport = "soccer" if g % 2 == 0 else "football"
            scale = 1.0 if sport == "soccer" else 7.0
            mu = rng.uniform(0.7, 2.2, 2) if sport == "soccer" else rng.uniform(17, 31, 2)
            commence = day_ms + int(rng.uniform(12, 23.5) * HOUR_MS)
            gid = f"g{seed}-{day:02d}-{g:02d}"
            estimates = [mu + rng.normal(0, s * scale, 2) for s in STAGE_NOISE]
            levels = _levels(sport, sport == "soccer", estimates[0])
            odds = [_odds(_probabilities(_sample(sport, est, rng), levels), levels) for est in estimates]
            withdrawn = set(rng.choice(len(levels), 2, replace=False)) if rng.random() < 0.3 else set()
            for s, hours in enumerate(STAGES):
                for i, (kind, line, side) in enumerate(levels):
                    if i in withdrawn and s == 2:
                        continue  # withdrawn three hours before the start: no closing offer
                    offers.append({"game_id": gid, "bet_type": kind, "line": line, "side": side,
                                   "odds": float(odds[s][i]), "offered_at": iso(commence + hours * HOUR_MS),
                                   "withdrawn_at": iso(commence - 3 * HOUR_MS) if i in withdrawn and s == 1 else None})
            a, b = _sample(sport, mu, rng)[:, 0]
            game = {"game_id": gid, "sport": sport, "team_a": f"A{g}", "team_b": f"B{g}",
                    "commence_time": iso(commence), "can_tie": sport == "soccer"}
            if rng.random() < 0.02:
                game["status"] = "cancelled"
            else:
                game.update(status="final", score_a=int(a), score_b=int(b),
                            result_at=iso(commence + int(rng.uniform(2, 3.5) * HOUR_MS)))
            games.append(game)
            truth = _probabilities(_sample(sport, mu, rng), levels)
            board.append({"id": gid, "sport": sport, "scale": scale, "mu": mu, "commence": commence, "truth": truth,
                          "levels": levels, "odds": odds, "withdrawn": withdrawn, "day": day})
    by_day: list[list[dict]] = [[] for _ in range(days)]
    for g in board:
        by_day[g["day"]].append(g)
    count = iter(range(10**9))

    def bet(h: str, g: dict, i: int, wager: float, at: int) -> dict:
        stage = sum(at >= g["commence"] + hours * HOUR_MS for hours in STAGES) - 1
        kind, line, side = g["levels"][i]
        p = {"prediction_id": f"p{next(count)}", "hotkey": h, "game_id": g["id"], "bet_type": kind,
             "line": line, "side": side, "predicted_odds": float(g["odds"][max(stage, 0)][i]),
             "wager": round(float(wager), 2), "received_at": iso(at)}
        predictions.append(p)
        return p

    for day in range(days):
        todays = by_day[day]
        for h in sharps:
            s = skill[h]
            picks = []
            for g in todays:
                own = g["mu"] + rng.normal(0, (0.16 * (1 - s) + 0.02) * g["scale"], 2)
                p = _probabilities(_sample(g["sport"], own, rng), g["levels"])
                ev = p[0] * g["odds"][0] + p[1] - 1  # expected return per unit at the opening price
                for i in np.argsort(-ev)[:2]:
                    if ev[i] > 0.03 and i not in g["withdrawn"]:
                        picks.append((ev[i], g, i))
            picks.sort(key=lambda x: -x[0])
            picks = picks[:24]
            total = sum(e for e, _, _ in picks) or 1.0
            for e, g, i in picks:
                bet(h, g, i, 900 * e / total, g["commence"] + STAGES[0] * HOUR_MS + int(rng.uniform(0.1, 4) * HOUR_MS))
        for h in squares + reckless:
            n = square_bets if roles[h] == "square" else 50
            for _ in range(n):
                g = todays[rng.integers(len(todays))]
                if roles[h] == "square":
                    i = int(rng.integers(len(g["levels"])))
                    wager = rng.uniform(0.4, 0.9) * 1000 / n
                else:
                    ev = g["truth"][0] * g["odds"][2] + g["truth"][1] - 1  # at the closing price
                    long = (g["odds"][2] >= 3.5) & (g["odds"][2] <= 8.0)
                    i = int(np.argmin(np.where(long, ev, np.inf))) if long.any() else int(np.argmax(g["odds"][2]))
                    wager = 950 / n
                at = g["commence"] + int(rng.uniform(STAGES[1] if roles[h] == "square" else STAGES[2], -0.2) * HOUR_MS)
                bet(h, g, i, wager, at)
        for h in inactive:
            if rng.random() < 0.08:
                g = todays[0]
                bet(h, g, 0, 20.0, g["commence"] - 5 * HOUR_MS)
    if adversaries:
        _adversaries(extra, sharps[-1], squares[0], predictions, board, rng)
    export = {"format": FORMAT, "games": games, "offers": offers, "predictions": predictions,
              "metagraph": [{"uid": uid, "hotkey": h, "alpha_stake_rao": 10**12} for uid, h in enumerate(roles)],
              "moving_price_tao": 0.01}
    if uids is not None:
        export["metagraph"] += [{"uid": u, "hotkey": f"5IDLE{seed:02d}x{u:03d}"} for u in range(len(roles), uids)]
    return Season(export, roles, skill, first, days)


def _adversaries(extra: dict[str, list[str]], sharp: str, square: str, predictions: list[dict], board: list[dict],
                 rng: np.random.Generator) -> None:
    """Copycat, sybils, stale repeats and garbage, derived from the honest predictions."""
    start = {g["id"]: g["commence"] for g in board}
    honest = list(predictions)
    stamp = lambda p: int(np.datetime64(p["received_at"].rstrip("Z"), "ms").astype(np.int64))  # noqa: E731
    for p in honest:
        if p["hotkey"] == sharp and stamp(p) + HOUR_MS // 2 < start[p["game_id"]]:
            predictions.append({**p, "prediction_id": p["prediction_id"] + "c", "hotkey": extra["copycat"][0],
                                "received_at": iso(stamp(p) + HOUR_MS // 2)})
        if p["hotkey"] == square:
            for k, h in enumerate(extra["sybil"]):
                predictions.append({**p, "prediction_id": f"{p['prediction_id']}s{k}", "hotkey": h,
                                    "received_at": iso(stamp(p) + 1000 * (k + 1))})
    stale = [p for p in honest if p["hotkey"] == square][:200]
    for p in stale:
        predictions.append({**p, "hotkey": extra["stale"][0], "prediction_id": "stale-" + p["prediction_id"]})
        predictions.append({**p, "hotkey": extra["stale"][0], "prediction_id": "stale-" + p["prediction_id"],
                            "received_at": iso(stamp(p) + 60_000)})  # the same id again, a minute later
    g = extra["garbage"][0]
    some = honest[: 400 : 4]
    for k, p in enumerate(some):
        bad = [{**p, "predicted_odds": p["predicted_odds"] * 1.5},       # odds
               {**p, "wager": -5}, {**p, "wager": "lots"},                # wager
               {**p, "game_id": "nope"},                                  # game
               {**p, "line": 0.25}, {**p, "side": "both"},                # level
               {**p, "received_at": iso(start[p["game_id"]] + 60_000)},   # started
               {**p, "wager": 5_000.0},                                   # balance
               {"hotkey": g, "prediction_id": None}, "junk", [1, 2]]      # malformed
        for j, item in enumerate(bad):
            if isinstance(item, dict) and item.get("prediction_id") is not None:
                item = {**item, "hotkey": g, "prediction_id": f"bad{k}-{j}"}
            predictions.append(item)
    flood = honest[0]
    for k in range(200):  # many tiny wagers on one game: the per-game limit stops them
        predictions.append({**flood, "hotkey": g, "prediction_id": f"flood{k}", "wager": 0.01})
    rng.shuffle(predictions)
