"""Worked examples for the Bettensor scoring package (vesting_bettensor.md §6, §7, §8.2, §8.4).

Every expected number below is worked out by hand in the comment next to it; the exports are small
Python dicts in the `bettensor-days/1` shape, read with `parse_export`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pytest

from mechanisms.bettensor import daily as daily_mod
from mechanisms.bettensor.bet_types import LOSS, PUSH, TYPES, WIN
from mechanisms.bettensor.config import BettensorConfig
from mechanisms.bettensor.daily import Daily, compute, gate_roi
from mechanisms.bettensor.entropy import contributions
from mechanisms.bettensor.evaluate import evaluate
from mechanisms.bettensor.intake import Offers, admit
from mechanisms.bettensor.records import day_number, iso, parse_export, parse_time
from mechanisms.bettensor.settlement import UNSETTLED, settle
from mechanisms.bettensor.tiers import Move, Requirements, State, manage
from mechanisms.bettensor.weights import tier_weights

CFG = BettensorConfig()
BASE = dt.date(2024, 3, 1)
D0 = day_number(BASE.isoformat())


# --- builders ------------------------------------------------------------------------------------

def at(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> str:
    """An ISO time `day` days after 2024-03-01, UTC."""
    when = dt.datetime.combine(BASE + dt.timedelta(days=day), dt.time(hour, minute, second))
    return when.isoformat() + "Z"


def game(gid, commence, *, can_tie=False, status="scheduled", score=None, result_at=None):
    g = {"game_id": gid, "sport": "test", "team_a": "A", "team_b": "B", "commence_time": commence,
         "can_tie": can_tie, "status": status}
    if score is not None:
        g.update(status="final", score_a=score[0], score_b=score[1], result_at=result_at)
    return g


def offer(gid, bet_type, side, odds, offered, line=None, withdrawn=None):
    return {"game_id": gid, "bet_type": bet_type, "line": line, "side": side, "odds": odds,
            "offered_at": offered, "withdrawn_at": withdrawn}


def pred(pid, hotkey, gid, bet_type, side, odds, wager, received, line=None):
    return {"prediction_id": pid, "hotkey": hotkey, "game_id": gid, "bet_type": bet_type, "line": line,
            "side": side, "predicted_odds": odds, "wager": wager, "received_at": received}


def export(games, offers, preds, hotkeys=(), price=None):
    return parse_export({"format": "bettensor-days/1", "games": list(games), "offers": list(offers),
                         "predictions": list(preds),
                         "metagraph": [{"uid": i, "hotkey": h} for i, h in enumerate(hotkeys)],
                         "moving_price_tao": price})


def intake(exp, cfg=CFG):
    offers = Offers(exp.offers, exp.games)
    return admit(exp.predictions, exp.games, offers, cfg), offers


def book_of(exp, cfg=CFG):
    result, offers = intake(exp, cfg)
    assert result.refusals == ()
    return settle(result.accepted, exp.games, offers, cut_ms=10**15)


def reasons(exp, cfg=CFG):
    return {r.key: r.reason for r in intake(exp, cfg)[0].refusals}


def by_id(book):
    return {p.prediction_id: i for i, p in enumerate(book.predictions)}


# --- records -------------------------------------------------------------------------------------

def test_parse_time_and_iso_round_trip():
    ms = parse_time("2024-03-01T12:00:00Z")
    # 19783 days from 1970-01-01 to 2024-03-01, plus 12 hours
    assert ms == 19_783 * 86_400_000 + 12 * 3_600_000
    assert parse_time("2024-03-01T12:00:00") == ms            # no zone: UTC
    assert parse_time("2024-03-01T14:00:00+02:00") == ms
    assert iso(ms) == "2024-03-01T12:00:00.000Z"
    assert parse_time("yesterday") is None and parse_time(12) is None


# --- 1. settlement -------------------------------------------------------------------------------

def test_moneyline_win_loss_draw_and_level_push():
    exp = export(
        [game("g1", at(0, 18), score=(3, 1), result_at=at(0, 21)),
         game("g2", at(0, 18), can_tie=True, score=(2, 2), result_at=at(0, 21)),
         game("g3", at(0, 18), can_tie=False, score=(1, 1), result_at=at(0, 21)),
         game("g4", at(0, 18), score=(0, 1), result_at=at(0, 21))],
        [offer("g1", "moneyline", "a", 2.0, at(0, 8)), offer("g1", "moneyline", "b", 1.8, at(0, 8)),
         offer("g2", "moneyline", "draw", 3.5, at(0, 8)), offer("g2", "moneyline", "a", 2.2, at(0, 8)),
         offer("g3", "moneyline", "a", 2.0, at(0, 8)), offer("g4", "moneyline", "a", 20.0, at(0, 8))],
        [pred("win", "h", "g1", "moneyline", "a", 2.0, 10, at(0, 9)),
         pred("loss", "h", "g1", "moneyline", "b", 1.8, 10, at(0, 9)),
         pred("draw", "h", "g2", "moneyline", "draw", 3.5, 10, at(0, 9)),
         pred("not-draw", "h", "g2", "moneyline", "a", 2.2, 10, at(0, 9)),
         pred("level", "h", "g3", "moneyline", "a", 2.0, 10, at(0, 9)),
         pred("long", "h", "g4", "moneyline", "a", 20.0, 10, at(0, 9))])
    book = book_of(exp)
    i = by_id(book)
    out = {k: book.outcome[v] for k, v in i.items()}
    assert out == {"win": WIN, "loss": LOSS, "draw": WIN, "not-draw": LOSS, "level": PUSH, "long": LOSS}
    roi = {k: book.roi[v] for k, v in i.items()}
    assert roi == {"win": 1.0, "loss": -1.0, "draw": 2.5, "not-draw": -1.0, "level": 0.0, "long": -1.0}
    risk = {k: book.risk[v] for k, v in i.items()}
    assert risk["win"] == pytest.approx(1.0 / 0.525)                  # 1/(1 − 0.95/2) = 1.904762
    assert risk["loss"] == pytest.approx(-1.0 / (0.95 / 1.8 + 1e-5))  # −1.894701
    assert risk["draw"] == pytest.approx(2.5 / (1 - 0.95 / 3.5))      # 3.431373
    assert risk["long"] == -10.0                                      # −1/(0.0475 + 1e-5) = −21.05, floored
    assert math.isnan(risk["level"])                                  # a push leaves the risk mean
    # the result arrived on day 0: every row counts on day 0
    assert set(book.result_day.tolist()) == {D0}


def test_a_level_result_push_leaves_the_risk_mean_but_counts_in_roi():
    exp = export(
        [game("g1", at(0, 18), score=(3, 1), result_at=at(0, 21)),
         game("g3", at(0, 18), can_tie=False, score=(1, 1), result_at=at(0, 21))],
        [offer("g1", "moneyline", "a", 2.0, at(0, 8)), offer("g3", "moneyline", "a", 2.0, at(0, 8))],
        [pred("win", "h", "g1", "moneyline", "a", 2.0, 10, at(0, 9)),
         pred("level", "h", "g3", "moneyline", "a", 2.0, 10, at(0, 9))])
    book = book_of(exp)
    d = compute(book, np.zeros(2), D0, D0, CFG)
    assert d.settled[0, 0] == 2
    assert d.roi[0, 0] == pytest.approx(0.5)            # (1 + 0)/2: the push counts as ROI 0
    assert d.risk[0, 0] == pytest.approx(1.0 / 0.525)   # the win's risk alone, not (1.904762 + 0)/2
    assert d.clv[0, 0] == pytest.approx(1.0)            # both took the closing odds 2.0


def test_spread_win_push_loss_for_both_sides():
    # A 24, B 20: a's margin is 24 + line − 20, b's is 20 + line − 24.
    g = game("s", at(0, 18), score=(24, 20), result_at=at(0, 21))
    legs = [("a-3.5", "a", -3.5, WIN), ("a-4", "a", -4.0, PUSH), ("a-4.5", "a", -4.5, LOSS),
            ("b+4.5", "b", 4.5, WIN), ("b+4", "b", 4.0, PUSH), ("b+3.5", "b", 3.5, LOSS)]
    exp = export([g], [offer("s", "spread", side, 1.9, at(0, 8), line=line) for _, side, line, _ in legs],
                 [pred(pid, "h", "s", "spread", side, 1.9, 10, at(0, 9), line=line) for pid, side, line, _ in legs])
    book = book_of(exp)
    i = by_id(book)
    for pid, _, _, expected in legs:
        assert book.outcome[i[pid]] == expected, pid
    assert [book.roi[i[p]] for p, *_ in legs] == pytest.approx([0.9, 0.0, -1.0, 0.9, 0.0, -1.0])
    assert book.risk[i["a-3.5"]] == pytest.approx(1.8)                       # 0.9/(1 − 0.5)
    assert book.risk[i["b+3.5"]] == pytest.approx(-1.0 / 0.50001)           # −1.99996
    assert math.isnan(book.risk[i["a-4"]]) and math.isnan(book.risk[i["b+4"]])


def test_total_over_under_push():
    # 3 + 4 = 7
    g = game("t", at(0, 18), score=(3, 4), result_at=at(0, 21))
    legs = [("o6.5", "over", 6.5, WIN), ("u6.5", "under", 6.5, LOSS), ("o7", "over", 7.0, PUSH),
            ("u7", "under", 7.0, PUSH), ("u7.5", "under", 7.5, WIN), ("o7.5", "over", 7.5, LOSS)]
    exp = export([g], [offer("t", "total", side, 1.9, at(0, 8), line=line) for _, side, line, _ in legs],
                 [pred(pid, "h", "t", "total", side, 1.9, 10, at(0, 9), line=line) for pid, side, line, _ in legs])
    book = book_of(exp)
    i = by_id(book)
    assert {p: book.outcome[i[p]] for p, *_ in legs} == {p: o for p, _, _, o in legs}
    assert book.roi[i["o6.5"]] == pytest.approx(0.9) and book.roi[i["o7"]] == 0.0
    # the bet-type objects directly
    final = exp.games["t"]
    assert TYPES["total"].outcome(final, 7.0, "under") == PUSH
    assert TYPES["spread"].outcome(final, 1.0, "a") == PUSH     # 3 + 1 − 4 = 0
    assert TYPES["moneyline"].outcome(final, None, "b") == WIN


def test_cancelled_game_leaves_every_metric_wager_sum_and_the_balance():
    games = [game("x", at(5, 18), status="cancelled"),
             game("y", at(5, 18), score=(2, 0), result_at=at(5, 21))]
    offers = [offer("x", "moneyline", "a", 3.0, at(5, 8)), offer("y", "moneyline", "a", 2.0, at(5, 8)),
              offer("y", "moneyline", "b", 2.0, at(5, 8))]
    y_preds = [pred("y1", "h", "y", "moneyline", "a", 2.0, 1000, at(5, 11)),
               pred("y2", "k", "y", "moneyline", "b", 2.0, 300, at(5, 12))]
    # 800 on the cancelled game first; 800 + 1000 would exceed 1000, but the refund leaves the balance
    x_preds = [pred("x1", "h", "x", "moneyline", "a", 3.0, 800, at(5, 10)),
               pred("x2", "k", "x", "moneyline", "a", 3.0, 50, at(5, 10))]
    with_x = export(games, offers, x_preds + y_preds, hotkeys=("h", "k"))
    without_x = export(games, offers, y_preds, hotkeys=("h", "k"))
    result, _ = intake(with_x)
    assert result.refusals == ()
    assert {p.prediction_id for p in result.accepted} == {"x1", "x2", "y1", "y2"}
    assert [p.prediction_id for p in book_of(with_x).predictions] == ["y1", "y2"]  # no row for x
    a, b = evaluate(with_x, D0 + 5), evaluate(without_x, D0 + 5)
    assert a.miners == b.miners and a.weights == b.weights
    assert a.miners["h"].wagered == 1000.0 and a.miners["k"].wagered == 300.0
    assert a.miners["h"].settled == 1 and a.miners["h"].components["roi"] == 1.0


# --- 2. refusals ---------------------------------------------------------------------------------

REFUSAL_GAMES = [game("g", at(0, 18)), game("h", at(0, 18)), game("tie", at(0, 18), can_tie=False)]
REFUSAL_OFFERS = [
    offer("g", "moneyline", "a", 2.0, at(0, 8)),
    offer("g", "moneyline", "b", 1.9, at(0, 8), withdrawn=at(0, 12)),           # withdrawn at noon
    offer("g", "spread", "a", 1.9, at(0, 8), line=-1.5),                          # superseded at 11:00 …
    offer("g", "spread", "a", 1.95, at(0, 11), line=-1.5, withdrawn=at(0, 13)),  # … by this one, withdrawn at 13:00
    offer("h", "moneyline", "a", 2.0, at(0, 8)),
    offer("tie", "moneyline", "draw", 3.0, at(0, 8)),  # a draw offer on a game that cannot tie
]


def test_each_refusal_reason():
    preds = [
        pred("unknown", "m", "nope", "moneyline", "a", 2.0, 1, at(0, 9)),
        pred("late", "m", "g", "moneyline", "a", 2.0, 1, at(0, 18)),                  # exactly at commence
        pred("early", "m", "g", "moneyline", "a", 2.0, 1, at(0, 7)),                  # before any offer
        pred("no-line", "m", "g", "spread", "a", 1.9, 1, at(0, 9), line=-2.5),        # a line never offered
        pred("bad-type", "m", "g", "parlay", "a", 2.0, 1, at(0, 9)),
        pred("withdrawn", "m", "g", "moneyline", "b", 1.9, 1, at(0, 12)),             # at withdrawn_at
        pred("before-withdrawal", "m", "g", "moneyline", "b", 1.9, 1, at(0, 11, 59)),  # accepted
        # after 13:00 the latest offer of the level is withdrawn; the superseded 08:00 one does not revive
        pred("superseded", "m", "g", "spread", "a", 1.9, 1, at(0, 14), line=-1.5),
        pred("old-price", "m", "g", "spread", "a", 1.9, 1, at(0, 12), line=-1.5),    # 1.95 in force: odds
        pred("new-price", "m", "g", "spread", "a", 1.95, 1, at(0, 12), line=-1.5),   # accepted
        pred("draw", "m", "tie", "moneyline", "draw", 3.0, 1, at(0, 9)),              # not a level of the game
        pred("odds", "m", "g", "moneyline", "a", 2.01, 1, at(0, 9)),
        pred("close-odds", "m", "g", "moneyline", "a", 2.0 * (1 + 1e-10), 1, at(0, 9)),  # within 1e-9
        pred("zero", "m", "g", "moneyline", "a", 2.0, 0, at(0, 9)),
        pred("negative", "m", "g", "moneyline", "a", 2.0, -5, at(0, 9)),
        pred("nan", "m", "g", "moneyline", "a", 2.0, float("nan"), at(0, 9)),
    ]
    exp = export(REFUSAL_GAMES, REFUSAL_OFFERS, preds)
    assert reasons(exp) == {
        "unknown": "game", "late": "started", "early": "level", "no-line": "level", "bad-type": "level",
        "withdrawn": "level", "superseded": "level", "old-price": "odds", "draw": "level", "odds": "odds",
        "zero": "wager", "negative": "wager", "nan": "wager"}
    accepted = {p.prediction_id for p in intake(exp)[0].accepted}
    assert accepted == {"before-withdrawal", "new-price", "close-odds"}


def test_balance_exactly_1000_accepted_then_refused():
    preds = [
        pred("a600", "m1", "g", "moneyline", "a", 2.0, 600, at(0, 9)),
        pred("a400", "m1", "h", "moneyline", "a", 2.0, 400, at(0, 10)),      # 1000 exactly: accepted
        pred("a-cent", "m1", "h", "moneyline", "a", 2.0, 0.01, at(0, 11)),   # 1000.01: balance
        pred("b-over", "m2", "g", "moneyline", "a", 2.0, 1000.01, at(0, 9)),  # balance on its own
        pred("b-then", "m2", "g", "moneyline", "a", 2.0, 1000, at(0, 10)),   # the refusal spent nothing
    ]
    exp = export(REFUSAL_GAMES, REFUSAL_OFFERS, preds)
    assert reasons(exp) == {"a-cent": "balance", "b-over": "balance"}


def test_balance_is_per_utc_day_of_received_at_in_received_order():
    games = [game("d0", at(0, 23, 30)), game("d1", at(1, 18))]
    offers = [offer("d0", "moneyline", "a", 2.0, at(0, 8)), offer("d1", "moneyline", "a", 2.0, at(0, 8))]
    preds = [
        # listed first, received last: the 900 received earlier is taken first
        pred("late-in-day", "m", "d0", "moneyline", "a", 2.0, 200, at(0, 23)),
        pred("first", "m", "d0", "moneyline", "a", 2.0, 900, at(0, 10)),
        pred("next-day", "m", "d1", "moneyline", "a", 2.0, 1000, at(1, 0)),  # a new UTC day: a new balance
    ]
    assert reasons(export(games, offers, preds)) == {"late-in-day": "balance"}


def test_duplicate_and_limit():
    preds = [
        pred("p1", "m", "g", "moneyline", "a", 2.0, 1, at(0, 9)),
        pred("p1", "m", "h", "moneyline", "a", 2.0, 1, at(0, 9, 1)),    # same hotkey and id: duplicate
        pred("p1", "n", "g", "moneyline", "a", 2.0, 1, at(0, 9, 2)),    # another hotkey may use the id
        pred("p2", "m", "g", "moneyline", "a", 2.0, 1, at(0, 9, 3)),    # m's 2nd on g
        pred("p3", "m", "g", "moneyline", "a", 2.0, 1, at(0, 9, 4)),    # m's 3rd on g: limit
        pred("p4", "m", "h", "moneyline", "a", 2.0, 1, at(0, 9, 5)),    # another game: fine
        pred("p5", "n", "g", "moneyline", "a", 2.0, 1, at(0, 9, 6)),    # n's 2nd on g
    ]
    cfg = dataclasses.replace(CFG, max_per_game=2)
    exp = export(REFUSAL_GAMES, REFUSAL_OFFERS, preds)
    got = [(r.key, r.hotkey, r.reason) for r in intake(exp, cfg)[0].refusals]
    assert got == [("p1", "m", "duplicate"), ("p3", "m", "limit")]
    # with the default limit of 10 the third is accepted
    assert [(r.key, r.reason) for r in intake(exp)[0].refusals] == [("p1", "duplicate")]


def test_first_failure_wins():
    cfg = dataclasses.replace(CFG, max_per_game=1)
    preds = [
        pred("started+odds+wager", "m", "g", "moneyline", "a", 5.0, -1, at(0, 19)),
        pred("level+odds+wager", "m", "g", "moneyline", "b", 5.0, -1, at(0, 13)),    # b withdrawn at 12:00
        pred("odds+wager", "m", "g", "moneyline", "a", 5.0, -1, at(0, 9)),
        pred("wager+balance", "m", "g", "moneyline", "a", 2.0, float("inf"), at(0, 9)),
        pred("ok", "m", "g", "moneyline", "a", 2.0, 900, at(0, 9, 1)),
        # both a duplicate of "ok", over the balance and over the per-game limit: balance comes first
        pred("ok", "m", "g", "moneyline", "a", 2.0, 200, at(0, 9, 2)),
        # a duplicate and over the per-game limit: duplicate comes first
        pred("ok", "m", "g", "moneyline", "a", 2.0, 10, at(0, 9, 3)),
        pred("limit", "m", "g", "moneyline", "a", 2.0, 10, at(0, 9, 4)),
        # a refused prediction's id is not taken: this is the first accepted "odds+wager" id
        pred("odds+wager", "m", "h", "moneyline", "a", 2.0, 10, at(0, 9, 5)),
    ]
    exp = export(REFUSAL_GAMES, REFUSAL_OFFERS, preds)
    got = [(r.key, r.reason) for r in intake(exp, cfg)[0].refusals]
    assert got == [("odds+wager", "odds"), ("wager+balance", "wager"), ("ok", "balance"), ("ok", "duplicate"),
                   ("limit", "limit"), ("level+odds+wager", "level"), ("started+odds+wager", "started")]


# --- 3. CLV --------------------------------------------------------------------------------------

def test_clv_against_the_closing_offer():
    exp = export(
        [game("g", at(0, 15), score=(2, 1), result_at=at(0, 18))],
        [offer("g", "moneyline", "a", 2.0, at(0, 10)),
         offer("g", "moneyline", "a", 1.8, at(0, 12)),      # re-priced after the prediction: the close
         offer("g", "moneyline", "a", 1.5, at(0, 15)),      # published at the start: never in force
         offer("g", "moneyline", "b", 2.1, at(0, 10), withdrawn=at(0, 14)),  # withdrawn before the start
         offer("g", "moneyline", "draw", 9.0, at(0, 10)),   # not a side of this game
         ],
        [pred("a", "m", "g", "moneyline", "a", 2.0, 10, at(0, 11)),
         pred("b", "m", "g", "moneyline", "b", 2.1, 10, at(0, 11))])
    offers = Offers(exp.offers, exp.games)
    assert offers.closing(("g", "moneyline", None, "a")).odds == 1.8
    assert offers.closing(("g", "moneyline", None, "b")) is None
    assert offers.in_force(("g", "moneyline", None, "a"), parse_time(at(0, 11))).odds == 2.0
    assert offers.in_force(("g", "moneyline", None, "a"), parse_time(at(0, 14, 59))).odds == 1.8
    book = book_of(exp)
    i = by_id(book)
    assert book.clv[i["a"]] == pytest.approx(2.0 / 1.8)   # 1.111111
    assert math.isnan(book.clv[i["b"]])
    d = compute(book, np.zeros(2), D0, D0, CFG)
    assert d.clv[0, 0] == pytest.approx(2.0 / 1.8)         # b leaves the CLV mean: not (1.1111 + 0)/2
    assert d.roi[0, 0] == pytest.approx(0.0)               # (+1 − 1)/2
    # risk mean: (1/(1 − 0.95/2) + (−1/(0.95/2.1 + 1e-5)))/2
    assert d.risk[0, 0] == pytest.approx((1 / 0.525 - 1 / (0.95 / 2.1 + 1e-5)) / 2)
    # no predictions in the pools of anyone else: entropy 0; composite 0.3·(1.1111 + 0 + risk)
    assert d.composite[0, 0] == pytest.approx(0.3 * (2 / 1.8) + 0.3 * d.risk[0, 0])


def test_withdrawn_exactly_at_the_start_still_closes():
    exp = export([game("g", at(0, 15))],
                 [offer("g", "moneyline", "a", 2.0, at(0, 10), withdrawn=at(0, 15)),
                  offer("g", "moneyline", "b", 2.0, at(0, 10), withdrawn=at(0, 14, 59))], [])
    offers = Offers(exp.offers, exp.games)
    assert offers.closing(("g", "moneyline", None, "a")).odds == 2.0
    assert offers.closing(("g", "moneyline", None, "b")) is None


# --- 4. the ROI gate -----------------------------------------------------------------------------

HOTKEYS = ("m0", "m1", "m2", "m3", "m4")   # 5 uids: tiers 3 and 4 hold int(5·0.2) = 1 each, 5 and 6 none
D = D0 + 20


def gate_export(results, extra=()):
    """m0 wagers 1000 on side a on each of the 10 days D−9..D; results[k] is "w", "l" or None (no
    result) for day D−9+k. Odds 2.0: a win is ROI +1, a loss −1."""
    games, offers, preds = [], [], []
    for k, r in enumerate(results):
        day = D - D0 - 9 + k
        gid = f"g{k}"
        score = None if r is None else ((1, 0) if r == "w" else (0, 1))
        games.append(game(gid, at(day, 18), score=score, result_at=at(day, 21) if score else None))
        offers += [offer(gid, "moneyline", "a", 2.0, at(day, 0)), offer(gid, "moneyline", "b", 2.0, at(day, 0))]
        preds.append(pred(f"p{k}", "m0", gid, "moneyline", "a", 2.0, 1000, at(day, 12)))
        for hk, side, wager in extra:
            preds.append(pred(f"{hk}-{k}", hk, gid, "moneyline", side, 2.0, wager, at(day, 12, 30)))
    return export(games, offers, preds, hotkeys=HOTKEYS)


def test_gate_mean_roi_exactly_zero_passes():
    # +1 −1 +1 −1 … over 10 days with settled predictions: mean 0 ≥ 0
    ev = evaluate(gate_export("wlwlwlwlwl"), D)
    m = ev.miners["m0"]
    assert m.wagered == 10_000.0               # 15-day window: 10 000 ≥ 10 000, 10 active days ≥ 7
    assert m.tier == 3                          # internal 4
    assert m.gate == "pass: mean ROI 0.0000 over 10 days"
    assert Move("m0", "promoted", 2, 3, f"an open place; tier score {m.tier_score:.6g}") in ev.moves
    assert ev.state.tiers["m0"] == 4


def test_gate_negative_mean_fails():
    # day 8 (D−1) flips to a loss: 4 wins, 6 losses → mean (4 − 6)/10 = −0.2
    ev = evaluate(gate_export("wlwlwlwlll"), D)
    m = ev.miners["m0"]
    assert m.wagered == 10_000.0
    assert m.tier == 2                          # qualifies on wagers for display 3, the gate keeps it out
    assert m.gate == "fail: mean ROI -0.2000 over 10 days"
    assert ev.state.tiers["m0"] == 3
    # held at internal 4 the day before: demoted by the gate, one tier, with the gate's reason
    ev2 = evaluate(gate_export("wlwlwlwlll"), D, state=State(D - 1, {"m0": 4}, {}))
    assert ev2.moves == (Move("m0", "demoted", 3, 2, "mean ROI -0.2000 over the last 15 days is negative"),)


def test_gate_fewer_than_5_settled_days_passes():
    # only 4 days have results, all losses: mean −1 over 4 days < 5 → the gate passes
    ev = evaluate(gate_export([None] * 6 + ["l"] * 4), D)
    m = ev.miners["m0"]
    assert m.gate == "pass: 4 of 5 days needed"
    assert m.tier == 3


def test_gate_roi_and_requirements_directly():
    exp = gate_export("wlwlwlwlll")
    offers = Offers(exp.offers, exp.games)
    accepted = admit(exp.predictions, exp.games, offers, CFG).accepted
    book = settle(accepted, exp.games, offers, (D + 1) * 86_400_000, known=HOTKEYS)
    d = compute(book, contributions(book, CFG), D - 44, D, CFG)
    roi, days = gate_roi(d, D, 15)
    assert days[0] == 10 and roi[0] == pytest.approx(-0.2)
    assert days[1] == 0 and roi[1] == 0.0
    req = Requirements(d, D, CFG)
    assert req.failure(0, 3) is None
    assert req.failure(0, 4) == "mean ROI -0.2000 over the last 15 days is negative"
    assert req.failure(0, 5) == "wagered 10000.00 over 30 days, below 20000"
    assert req.failure(1, 3) == "wagered 0.00 over 7 days, below 4000"
    # the same with an exactly-zero mean over 5 days: +1 −1 +1 −1 0
    zero = gate_export([None] * 5 + ["w", "l", "w", "l", "w"])
    b = settle(admit(zero.predictions, zero.games, Offers(zero.offers, zero.games), CFG).accepted,
               zero.games, Offers(zero.offers, zero.games), (D + 1) * 86_400_000, known=HOTKEYS)
    dz = compute(b, np.zeros(len(b.predictions)), D - 44, D, CFG)
    assert gate_roi(dz, D, 15)[0][0] == pytest.approx(0.2)   # 3 wins, 2 losses over 5 days
    dz.roi[0, dz.column(D)] = 0.0                              # make the last day a push day
    roi_z, n_z = gate_roi(dz, D, 15)
    assert n_z[0] == 5 and roi_z[0] == 0.0
    assert Requirements(dz, D, CFG).gate_passes(0)
    dz.roi[0, dz.column(D)] = -1e-12
    assert not Requirements(dz, D, CFG).gate_passes(0)


# --- 5. demotion cascade and promotion swap ------------------------------------------------------

def test_demotion_cascade_in_one_day():
    # m0 held internal 6; it wagered 1000 on each of the last 5 days: 5000 over 7 days (≥ 4000, 5 ≥ 3
    # active days) but < 10 000 over 15, < 20 000 over 30, < 35 000 over 45 → straight to internal 3
    games, offers, preds = [], [], []
    for k in range(5):
        day = D - D0 - 4 + k
        games.append(game(f"g{k}", at(day, 18), score=(1, 0), result_at=at(day, 21)))  # wins: the gate passes
        offers.append(offer(f"g{k}", "moneyline", "a", 2.0, at(day, 0)))
        preds.append(pred(f"p{k}", "m0", f"g{k}", "moneyline", "a", 2.0, 1000, at(day, 12)))
    exp = export(games, offers, preds, hotkeys=HOTKEYS)
    ev = evaluate(exp, D, state=State(D - 1, {"m0": 6}, {}))
    assert ev.moves == (Move("m0", "demoted", 5, 2, "wagered 5000.00 over 45 days, below 35000"),)
    assert ev.miners["m0"].tier == 2
    assert ev.state.tiers == {"m0": 3, "m1": 2, "m2": 2, "m3": 2, "m4": 2}
    assert ev.state.before == {"m0": 6}


def _daily(n_miners: int, wager_days: dict[int, int], composite_last: dict[int, float], day: int) -> Daily:
    """45 days ending with `day`: miner r wagers 1000 on each of its last wager_days[r] days and has
    composite composite_last[r] on the last day only."""
    shape = (n_miners, 45)
    wager = np.zeros(shape)
    for r, k in wager_days.items():
        wager[r, 45 - k:] = 1000.0
    composite = np.zeros(shape)
    settled = np.zeros(shape, int)
    for r, c in composite_last.items():
        composite[r, -1] = c
        settled[r, -1] = 1
    z = np.zeros(shape)
    return Daily(day - 44, wager, wager > 0, settled, z, z.copy(), z.copy(), z.copy(), composite)


def test_promotion_swap_with_the_worst_incumbent():
    # 10 uids: internal 3 holds int(10·0.2) = 2. i1 and i2 hold it; c and c2 challenge from internal 2.
    # Everyone wagered 1000 on each of the last 5 days: qualified for 3, not for 4 (5000 < 10 000).
    # Tier-3 scores are the last day's composite over the 7-day window: i1 3.5/7 = 0.5, i2 1.4/7 = 0.2,
    # c 2.1/7 = 0.3, c2 1.75/7 = 0.25.
    hk = ["i1", "i2", "c", "c2"] + [f"z{k}" for k in range(6)]
    uid = {h: k for k, h in enumerate(hk)}
    row = dict(uid)
    d = _daily(10, {0: 5, 1: 5, 2: 5, 3: 5}, {0: 3.5, 1: 1.4, 2: 2.1, 3: 1.75}, D)
    tiers, moves = manage(D, {"i1": 3, "i2": 3}, hk, uid, row, d, CFG)
    assert moves == [Move("c", "swapped in", 1, 2, "tier score 0.3 beats 0.2"),
                     Move("i2", "swapped out", 2, 1, "tier score 0.2 below 0.3")]
    assert tiers["i1"] == 3 and tiers["c"] == 3 and tiers["i2"] == 2 and tiers["c2"] == 2
    # c2 (0.25) beats i2 (0.2) too, but only one place was given up: it challenges i1 (0.5) and stops
    assert all(tiers[f"z{k}"] == 2 for k in range(6))
    # a challenger that does not beat the worst incumbent (a tie) does not swap
    d2 = _daily(10, {0: 5, 1: 5, 2: 5}, {0: 3.5, 1: 2.1, 2: 2.1}, D)
    tiers2, moves2 = manage(D, {"i1": 3, "i2": 3}, hk, uid, row, d2, CFG)
    assert moves2 == [] and tiers2["c"] == 2
    # the same one tier up: the swapped-out incumbent goes from internal 4 to 3, not to 2. Ten days of
    # 1000 qualify everyone for 4 (10 000 over 15 days, 10 ≥ 7 active days), not for 5 (< 20 000);
    # tier-4 scores over 15 days: i1 7.5/15 = 0.5, i2 3/15 = 0.2, c 4.5/15 = 0.3, c2 3.75/15 = 0.25
    d3 = _daily(10, {0: 10, 1: 10, 2: 10, 3: 10}, {0: 7.5, 1: 3.0, 2: 4.5, 3: 3.75}, D)
    tiers3, moves3 = manage(D, {"i1": 4, "i2": 4, "c": 3, "c2": 3}, hk, uid, row, d3, CFG)
    assert moves3 == [Move("c", "swapped in", 2, 3, "tier score 0.3 beats 0.2"),
                      Move("i2", "swapped out", 3, 2, "tier score 0.2 below 0.3")]
    assert {h: tiers3[h] for h in ("i1", "i2", "c", "c2")} == {"i1": 4, "i2": 3, "c": 4, "c2": 3}


def test_promotion_into_open_places_best_first():
    # 5 uids: internal 3 has one place; both a and b qualify, b scores higher
    hk = ["a", "b", "x", "y", "z"]
    uid = {h: k for k, h in enumerate(hk)}
    d = _daily(5, {0: 4, 1: 4}, {0: 0.7, 1: 1.4}, D)
    tiers, moves = manage(D, {}, hk, uid, dict(uid), d, CFG)
    assert moves == [Move("b", "promoted", 1, 2, "an open place; tier score 0.2")]
    assert tiers == {"a": 2, "b": 3, "x": 2, "y": 2, "z": 2}


# --- 6. reruns and day-by-day evaluation ---------------------------------------------------------

def _busy_export():
    # m0 on side a, m1 on side b of the same games with smaller wagers; m2 on side a on some days
    return gate_export("wlwwlwlwwl", extra=(("m1", "b", 800), ("m2", "a", 450)))


def test_rerunning_the_same_day_gives_the_same_state_and_weights():
    exp = _busy_export()
    first = evaluate(exp, D)
    again = evaluate(exp, D, state=first.state)
    assert again.state == first.state
    assert again.weights == first.weights
    assert again.miners == first.miners
    assert State.from_json(first.state.to_json()) == first.state
    assert sum(first.weights.values()) == pytest.approx(1.0)
    assert first.state.tiers["m0"] >= 3    # something happened: the example is not trivial


def test_day_by_day_equals_one_evaluation():
    exp = _busy_export()
    whole = evaluate(exp, D)
    ev = evaluate(exp, D - 9)   # the first day with a result
    seen = [ev.state.tiers]
    for day in range(D - 8, D + 1):
        ev = evaluate(exp, day, state=ev.state)
        seen.append(ev.state.tiers)
    assert ev.state == whole.state
    assert ev.weights == whole.weights
    assert [t for _, t in whole.history[-10:]] == seen
    assert len({tuple(sorted(t.items())) for t in seen}) > 1   # the tiers did change along the way


# --- 7. tier weights -----------------------------------------------------------------------------

def test_tier_weights_by_hand():
    # ranked by (tier, score, uid): a (2, 0.1), b (2, 0.3), c (4, 0.0), d (4, 0.5) → ranks 0, 1/3, 2/3, 1
    # tiers 2 and 4 are populated (3 is empty): tier 4 is one populated tier above → +0.15
    tiers = {"a": 2, "b": 2, "c": 4, "d": 4, "gone": 1}
    scores = {"a": 0.1, "b": 0.3, "c": 0.0, "d": 0.5, "gone": 9.0}
    uid = {"a": 3, "b": 2, "c": 1, "d": 0, "gone": 4}
    raw = {"a": 1.0, "b": math.exp(7 / 3), "c": math.exp(14 / 3) + 0.15, "d": math.exp(7) + 0.15}
    # raw ≈ 1, 10.3123, 106.3427 + 0.15 = 106.4927, 1096.6332 + 0.15 = 1096.7832; total ≈ 1214.5881
    total = sum(raw.values())
    w = tier_weights(tiers, scores, uid, {}, CFG)
    assert set(w) == {"a", "b", "c", "d"}
    for h in raw:
        assert w[h] == pytest.approx(raw[h] / total)
    assert w["d"] == pytest.approx(0.903008, abs=1e-6)   # 1096.7832/1214.5881
    # c below the minimum stake: it keeps its rank (b stays at 1/3, d at 1) but gets 0
    w2 = tier_weights(tiers, scores, uid, {"c": False}, CFG)
    total2 = raw["a"] + raw["b"] + raw["d"]
    assert w2["c"] == 0.0
    assert w2["b"] == pytest.approx(raw["b"] / total2)
    assert w2["d"] == pytest.approx(raw["d"] / total2)


def test_tier_weights_tie_goes_to_the_higher_uid():
    # equal tier and score: the lower uid ranks lower. Ranks 0, 1/2, 1 over x (uid 1), y (uid 5), z (tier 3)
    w = tier_weights({"x": 2, "y": 2, "z": 3}, {"x": 0.2, "y": 0.2, "z": -1.0}, {"x": 1, "y": 5, "z": 0}, {}, CFG)
    raw = [1.0, math.exp(3.5), math.exp(7) + 0.15]
    assert [w["x"], w["y"], w["z"]] == pytest.approx([r / sum(raw) for r in raw])
    assert tier_weights({"x": 2}, {"x": 0.0}, {"x": 0}, {"x": False}, CFG) == {"x": 0.0}


# --- 8. entropy ----------------------------------------------------------------------------------

def test_entropy_contributions_by_hand():
    # Pool (g, moneyline, a) gets p1, p3, p4; p2 is on side b of the same game and line.
    g = game("g", at(0, 18))
    offers = [offer("g", "moneyline", "a", 2.0, at(0, 8)), offer("g", "moneyline", "a", 3.0, at(0, 10, 30)),
              offer("g", "moneyline", "b", 2.0, at(0, 8))]
    preds = [pred("p1", "m1", "g", "moneyline", "a", 2.0, 100, at(0, 9)),
             pred("p2", "m2", "g", "moneyline", "b", 2.0, 50, at(0, 9, 10)),
             pred("p3", "m3", "g", "moneyline", "a", 2.0, 200, at(0, 9, 30)),
             pred("p4", "m4", "g", "moneyline", "a", 3.0, 50, at(0, 11))]
    book = book_of(export([g], offers, preds))
    c = contributions(book, CFG)
    # p1, p2: first in their pools → 0.
    # raw(p1) = −0.6·0 + 0.4·0.5 = 0.2 (no earlier prediction on the line: contrarian 0.5)
    # p3: vs p1: Δt 1800 s → 0.5/(1 + 0.5) = 1/3; wagers 100, 200 → 0.4·(1 − 100/200) = 0.2;
    #     Δodds 0 → 0.1 ⇒ sim = 0.633333. Contrarian: 1 of 2 on the line on a → √0.5 − 0.5 = 0.207107.
    #     raw = −0.38 + 0.082843 = −0.297157. The first's raw is out of the range, so the range is
    #     {−0.297157} alone → 0.
    # p4: vs p1: Δt 7200 s → 0.5/3 = 0.166667, wagers 100/50 → 0.4·0.5 = 0.2, Δodds 1 → 0.05 ⇒ 0.416667
    #     vs p3: Δt 5400 s → 0.5/2.5 = 0.2, wagers 200/50 → 0.4·0.25 = 0.1, Δodds 1 → 0.05 ⇒ 0.35
    #     sim = (0.416667 + 0.35)/2 = 0.383333. Contrarian: 2 of 3 on a → √(1/3) − 0.5 = 0.077350.
    #     raw = −0.23 + 0.030940 = −0.199060. Scaled against {−0.297157, −0.199060}: the maximum → +10
    #     (with the first's 0.2 in the range it would be 20·0.0980974/0.4971573 − 10 = −6.053668)
    i = by_id(book)
    raw1 = 0.2
    raw3 = -0.6 * (1 / 3 + 0.2 + 0.1) + 0.4 * (math.sqrt(0.5) - 0.5)
    raw4 = -0.6 * ((0.5 / 3 + 0.2 + 0.05) + (0.2 + 0.1 + 0.05)) / 2 + 0.4 * (math.sqrt(1 / 3) - 0.5)
    assert raw3 == pytest.approx(-0.297157, abs=1e-6) and raw4 == pytest.approx(-0.199060, abs=1e-6)
    assert c[i["p1"]] == 0.0 and c[i["p2"]] == 0.0
    assert raw1 > raw4 > raw3
    assert c[i["p3"]] == 0.0
    assert c[i["p4"]] == pytest.approx(10.0)


def test_entropy_scales_against_the_pool_so_far_and_a_nonpositive_day_scores_zero():
    # Pool a: q1, then q2 far from it in time and wager, then q3 a copy of q2; q0 is on side b first.
    g = game("g", at(0, 23), score=(1, 0), result_at=at(0, 23, 30))
    offers = [offer("g", "moneyline", "a", 2.0, at(0, 0)), offer("g", "moneyline", "b", 2.0, at(0, 0))]
    preds = [pred("q0", "m0", "g", "moneyline", "b", 2.0, 10, at(0, 1)),
             pred("q1", "m1", "g", "moneyline", "a", 2.0, 10, at(0, 2)),
             pred("q2", "m2", "g", "moneyline", "a", 2.0, 990, at(0, 22)),
             pred("q3", "m3", "g", "moneyline", "a", 2.0, 990, at(0, 22))]
    book = book_of(export([g], offers, preds))
    c = contributions(book, CFG)
    # q1: first in pool a → 0 (its raw: sim 0, contrarian √(1 − 0/1) − 0.5 = 0.5 → 0.2)
    # q2: sim to q1 = 0.5/(1 + 20) + 0.4·(1 − 980/990) + 0.1 = 0.023810 + 0.004040 + 0.1 = 0.127850;
    #     contrarian √(1 − 1/2) − 0.5 = 0.207107; raw = −0.076710 + 0.082843 = 0.006133, alone → 0
    # q3: sim = (0.127850 + 1.0)/2 = 0.563925; contrarian √(1 − 2/3) − 0.5 = 0.077350;
    #     raw = −0.338355 + 0.030940 = −0.307415, the new minimum → −10. q2 keeps 0: it was scaled
    #     when it arrived (against both it would be +10).
    assert c.tolist() == pytest.approx([0.0, 0.0, 0.0, -10.0])
    d = compute(book, c, D0, D0, CFG)
    # day sums: m0 0, m1 0, m2 0, m3 −10; the largest sum is 0 (≤ 0) → every entropy score is 0
    assert d.entropy[:, 0].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_entropy_contrarian_counts_the_same_line_only():
    # Total pools: t1, t4, t5 on (over, 6.5); t2 on (under, 6.5); t3 on (over, 7.5), another line.
    g = game("g", at(0, 18))
    offers = [offer("g", "total", "over", 2.0, at(0, 0), line=6.5), offer("g", "total", "under", 2.0, at(0, 0), line=6.5),
              offer("g", "total", "over", 2.0, at(0, 0), line=7.5)]
    preds = [pred("t1", "m1", "g", "total", "over", 2.0, 100, at(0, 1), line=6.5),
             pred("t2", "m2", "g", "total", "under", 2.0, 100, at(0, 2), line=6.5),
             pred("t4", "m4", "g", "total", "over", 2.0, 200, at(0, 2, 15), line=6.5),
             pred("t3", "m3", "g", "total", "over", 2.0, 100, at(0, 3), line=7.5),
             pred("t5", "m5", "g", "total", "over", 2.0, 300, at(0, 5), line=6.5)]
    c = contributions(book_of(export([g], offers, preds)), CFG)
    # t1, t2, t3 first in their pools → 0; t4 second in (over, 6.5) → 0, its raw alone in the range:
    #   sim to t1 = 0.5/(1 + 1.25) + 0.4·(1 − 100/200) + 0.1 = 0.522222; before it on line 6.5: t1, t2,
    #   1 over → contrarian √(1/2) − 0.5; raw4 = −0.313333 + 0.082843 = −0.230491.
    # t5: sim = mean(0.5/5 + 0.4·(1 − 200/300) + 0.1, 0.5/(1 + 2.75) + 0.4·(1 − 100/300) + 0.1) = 0.416667;
    #   on line 6.5 before it: t1, t2, t4, 2 over → contrarian √(1/3) − 0.5 = 0.077350;
    #   raw5 = −0.25 + 0.030940 = −0.219060, above raw4 → +10.
    #   Counting t3 (line 7.5) as well: 3 of 4 over → contrarian 0, raw −0.25, below raw4 → −10.
    sim4 = 0.5 / 2.25 + 0.4 * 0.5 + 0.1
    raw4 = -0.6 * sim4 + 0.4 * (math.sqrt(0.5) - 0.5)
    sim5 = ((0.5 / 5 + 0.4 * (1 - 100 / 300) + 0.1) + (0.5 / 3.75 + 0.4 * (1 - 200 / 300) + 0.1)) / 2
    raw5_line, raw5_game = -0.6 * sim5 + 0.4 * (math.sqrt(1 / 3) - 0.5), -0.6 * sim5 + 0.4 * (math.sqrt(1 / 4) - 0.5)
    assert raw5_game < raw4 < raw5_line
    assert c.tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0, 10.0])


def test_daily_entropy_score_divides_by_the_largest_absolute_sum():
    # two miners, one day, one settled prediction each; contributions +4 and −8 → scores 0.5 and −1
    exp = export([game("g", at(0, 18), score=(1, 0), result_at=at(0, 21))],
                 [offer("g", "moneyline", "a", 2.0, at(0, 8)), offer("g", "moneyline", "b", 2.0, at(0, 8))],
                 [pred("p", "m0", "g", "moneyline", "a", 2.0, 10, at(0, 9)),
                  pred("q", "m1", "g", "moneyline", "b", 2.0, 10, at(0, 9))])
    book = book_of(exp)
    d = compute(book, np.array([4.0, -8.0]), D0, D0, CFG)
    assert d.entropy[:, 0].tolist() == [0.5, -1.0]
    unbounded = compute(book, np.array([4.0, -8.0]), D0, D0, dataclasses.replace(CFG, entropy_bounded=False))
    assert unbounded.entropy[:, 0].tolist() == [1.0, -2.0]
    # composite: m0 0.3·1 (clv) + 0.3·1 (roi) + 0.3·1.904762 (risk) + 0.1·0.5
    assert d.composite[0, 0] == pytest.approx(0.3 + 0.3 + 0.3 / 0.525 + 0.05)
    assert book.result_day.tolist() != [UNSETTLED, UNSETTLED]
    assert daily_mod.tier_score(d, D0, 3)[0] == pytest.approx(d.composite[0, 0] / 3)


def test_entropy_spread_market_is_both_sides_of_one_handicap():
    # `a −1.5` and `b +1.5` are one market: the second pick on a −1.5 sees the b +1.5 pick before it
    g = game("g", at(0, 18))
    offers = [offer("g", "spread", "a", 1.9, at(0, 0), line=-1.5), offer("g", "spread", "b", 1.9, at(0, 0), line=1.5),
              offer("g", "spread", "b", 1.9, at(0, 0), line=-1.5)]
    preds = [pred("s1", "m1", "g", "spread", "a", 1.9, 100, at(0, 1), line=-1.5),
             pred("s2", "m2", "g", "spread", "a", 1.9, 300, at(0, 2), line=-1.5),
             pred("s3", "m3", "g", "spread", "b", 1.9, 100, at(0, 3), line=1.5),
             pred("s4", "m4", "g", "spread", "b", 1.9, 100, at(0, 3, 30), line=-1.5),
             pred("s5", "m5", "g", "spread", "a", 1.9, 100, at(0, 4), line=-1.5)]
    c = contributions(book_of(export([g], offers, preds)), CFG)
    # s5 is the third in pool (a −1.5). Before it in its market: s1, s2 (a −1.5) and s3 (b +1.5), not
    # s4 (b −1.5 is the market a +1.5) → contrarian √(1 − 2/3) − 0.5; s2 had √(1 − 1/1) − 0.5 = −0.5.
    sim2 = 0.5 / 2 + 0.4 / 3 + 0.1
    sim5 = ((0.5 / 4 + 0.4 + 0.1) + (0.5 / 3 + 0.4 / 3 + 0.1)) / 2
    raw2, raw5 = -0.6 * sim2 - 0.2, -0.6 * sim5 + 0.4 * (math.sqrt(1 / 3) - 0.5)
    raw5_literal = -0.6 * sim5 + 0.4 * (math.sqrt(1 - 2 / 2) - 0.5)  # s3 not counted: 2 of 2 on a
    assert raw5_literal < raw2 < raw5
    assert c[4] == pytest.approx(10.0) and c[1] == 0.0
