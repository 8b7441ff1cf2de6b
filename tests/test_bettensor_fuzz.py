"""Hostile-input fuzz of the Bettensor scorer (`mechanisms/bettensor`, `incentive bettensor score`).

Everything in a prediction record is the miner's: ids, hotkey, game, bet type, line, side, odds, wager,
extra fields and their nesting, how many records it sends and when they arrive relative to the offers.
Whatever one hostile miner sends, the evaluation must not raise, must print JSON without NaN or ±inf,
and must leave the other miners' own figures exactly as they are without the hostile predictions:

* what must not change: their accepted and refused predictions, settled counts, CLV, ROI, risk,
  45-day wagers, ROI-gate verdicts, stake verdicts, and the entropy contribution of every prediction
  on a (game, bet type, line) the hostile miner has no accepted prediction on;
* what legitimately changes by the hostile miner's mere presence: entropy contributions in the lines
  it shares (pools and the contrarian count), each day's entropy normaliser (the largest sum over
  miners), so composites and through them tiers and weights, and the weights' normalisation (the
  hostile miner takes a rank). So with the entropy weight at 0 the composites and tier scores must be
  unchanged too, and, as long as the hostile miner never climbs above display tier 1, so must every
  other miner's tier and the order of their weights.

The honest miners are a small devnet season (`devnet.bettensor.season`); the hostile miner is a
registered hotkey whose records start as copies of honest ones and are mutated at random. Runs are
seeded and deterministic. The named cases below the fuzz are reduced hostile inputs.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import math
import random
from functools import lru_cache

import numpy as np
import pytest

from cli.bettensor import as_json
from cli.main import main
from devnet.bettensor import season
from mechanisms.bettensor.config import LOWEST_VALID, BettensorConfig
from mechanisms.bettensor.entropy import contributions, market
from mechanisms.bettensor.evaluate import evaluate
from mechanisms.bettensor.intake import Offers, admit
from mechanisms.bettensor.records import FORMAT, iso, parse_export, parse_time
from mechanisms.bettensor.settlement import settle
from protocol import json_guard

NAN, INF = float("nan"), float("inf")
HOSTILE = "5HOSTILE"
CFG = BettensorConfig()
NO_ENTROPY = dataclasses.replace(CFG, w_entropy=0.0)
OWN = ("settled", "wagered", "gate", "stake", "uid")


# --- the honest season -----------------------------------------------------------------------------

@lru_cache(maxsize=1)
def world():
    s = season(5, days=12, games_per_day=6, n_sharp=3, n_square=3, n_reckless=1, n_inactive=1,
               adversaries=False, square_bets=8, uids=16)
    export = copy.deepcopy(s.export)
    uid = max(n["uid"] for n in export["metagraph"]) + 1
    export["metagraph"].append({"uid": uid, "hotkey": HOSTILE, "alpha_stake_rao": 10**12})
    honest = sorted({p["hotkey"] for p in export["predictions"]} | {n["hotkey"] for n in s.export["metagraph"]})
    day = s.first_day + s.days - 1
    return s, export, honest, day


def reread(export: dict) -> object:
    """The export as the command reads it from a file (NaN literals allowed, long ints bounded)."""
    return json_guard.loads(json.dumps(export), 16, parse_int=json_guard.bounded_int)


def run(export: dict, cfg: BettensorConfig):
    ex = parse_export(export)
    _, _, _, day = world()
    result = evaluate(ex, day, cfg)
    offers = Offers(ex.offers, ex.games)
    intake = admit(ex.predictions, ex.games, offers, cfg, until_ms=(day + 1) * 86_400_000)
    book = settle(intake.accepted, ex.games, offers, (day + 1) * 86_400_000, known=[n.hotkey for n in ex.neurons])
    contrib = {(p.hotkey, p.prediction_id): float(c) for p, c in zip(book.predictions, contributions(book, cfg))}
    return ex, result, intake, book, contrib


@lru_cache(maxsize=2)
def baseline(entropy: bool):
    _, export, _, _ = world()
    return run(export, CFG if entropy else NO_ENTROPY)


# --- hostile records -------------------------------------------------------------------------------

def _nested(depth: int) -> object:
    x: object = 1
    for k in range(depth):
        x = [x] if k % 2 else {"k": x}
    return x


WEIRD = [None, True, False, 0, -0.0, 1, -1, 5e-324, 1e-300, 1e308, -1e308, INF, -INF, NAN, 10**30, 10**400,
         "", "1.5", "NaN", "x" * 300, "é", "\u202e", "\x00", "\x1b[2J", [], {}, [[1]], {"a": {"b": [1]}},
         _nested(10)]
TIMES = ["", "2025-09-05", "2025-09-05T25:00:00Z", "9998-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
         "0001-01-01T00:00:00Z", "2025-09-05T12:00:00+23:59", "2025-09-05T12:00:00-23:59", "x" * 41,
         "２０２５-09-05T00:00:00", "2025-09-05T12:00:00.123456789Z"]


def _offers_by_game(export: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for o in export["offers"]:
        out.setdefault(o["game_id"], []).append(o)
    return out


def _valid_at(rng: random.Random, export: dict, by_game: dict, start: dict) -> dict:
    """A well-formed prediction on a random offer, received at one of its boundaries."""
    gid = rng.choice(sorted(by_game))
    o = rng.choice(by_game[gid])
    offered, commence = parse_time(o["offered_at"]), start[gid]
    withdrawn = parse_time(o["withdrawn_at"]) if o["withdrawn_at"] else None
    at = rng.choice([offered, offered - 1, offered + 1, commence, commence - 1, commence + 1]
                    + ([withdrawn, withdrawn - 1] if withdrawn else []))
    return {"game_id": gid, "bet_type": o["bet_type"], "line": o["line"], "side": o["side"],
            "predicted_odds": o["odds"], "wager": rng.choice([1e-9, 0.01, 5.0, 999.99, 1000.0]), "received_at": iso(at)}


def mutate(rng: random.Random, rec: dict, ctx: dict) -> object:
    export, honest_ids, by_game, start = ctx["export"], ctx["ids"], ctx["by_game"], ctx["start"]
    field = rng.choice(["prediction_id", "hotkey", "game_id", "bet_type", "line", "side", "predicted_odds",
                        "wager", "received_at", "delete", "extra", "whole", "boundary"])
    rec = dict(rec)
    if field == "whole":
        return rng.choice(WEIRD)
    if field == "delete":
        rec.pop(rng.choice(sorted(rec)), None)
    elif field == "extra":
        rec[rng.choice(["nesting", "model_name", "confidence_score", "prediction_id "])] = rng.choice(WEIRD)
    elif field == "boundary":
        rec.update(_valid_at(rng, export, by_game, start))
    elif field == "prediction_id":
        rec[field] = rng.choice([rng.choice(WEIRD), rng.choice(honest_ids), "p" * 128, "p" * 129, "a b", "id\x7f",
                                 "h0"])
    elif field == "hotkey":
        rec[field] = rng.choice([rng.choice(WEIRD), f"5GHOST{rng.randrange(4)}", "5" * 129, "5HOSTILÉ"])
    elif field == "game_id":
        rec[field] = rng.choice([rng.choice(WEIRD), rng.choice(export["games"])["game_id"], "nope"])
    elif field == "bet_type":
        rec[field] = rng.choice([rng.choice(WEIRD), "moneyline", "spread", "total", "Moneyline", "x" * 17])
    elif field == "line":
        rec[field] = rng.choice([rng.choice(WEIRD), 0.25, -0.0, 0.5, -3.5, 1e6, 1e6 + 0.5, 2.5e15])
    elif field == "side":
        rec[field] = rng.choice([rng.choice(WEIRD), "a", "b", "draw", "over", "under", "A", "a" * 17])
    elif field == "predicted_odds":
        odds = rec.get("predicted_odds")
        near = [odds * (1 + 1e-10), odds * (1 + 1e-8), odds * (1 - 1e-10)] if isinstance(odds, float) else []
        rec[field] = rng.choice([rng.choice(WEIRD), 1.0, 1e6, 1e6 * (1 + 1e-12)] + near)
    elif field == "wager":
        rec[field] = rng.choice([rng.choice(WEIRD), 1000, 1000.0000001, 999.999, 1e12, 1e13, 1e-9, 5e-324,
                                 10**20, 0.0])
    elif field == "received_at":
        rec[field] = rng.choice(TIMES + [rng.choice(WEIRD)])
    return rec


def hostile_records(seed: int) -> list[object]:
    s, export, honest, _ = world()
    rng = random.Random(seed)
    by_game = _offers_by_game(export)
    start = {g["game_id"]: parse_time(g["commence_time"]) for g in export["games"]}
    ids = [p["prediction_id"] for p in export["predictions"]]
    ctx = {"export": export, "ids": ids, "by_game": by_game, "start": start}
    out: list[object] = []
    for i, p in enumerate(rng.sample(export["predictions"], 40)):
        shift = rng.choice([0, 1, 1000, 600_000, -600_000])
        rec = {**p, "prediction_id": f"h{i}", "hotkey": HOSTILE, "received_at": iso(parse_time(p["received_at"]) + shift)}
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            rec = mutate(rng, rec, ctx) if isinstance(rec, dict) else rec
        out.append(rec)
    extra = rng.random()
    if extra < 0.3:  # the same id again and again, later each time
        dup = next((r for r in out if isinstance(r, dict)), None)
        for k in range(rng.randrange(1, 20)):
            if dup is not None and isinstance(dup.get("received_at"), str) and parse_time(dup["received_at"]):
                out.append({**dup, "received_at": iso(parse_time(dup["received_at"]) + k)})
    elif extra < 0.6:  # a flood of tiny wagers on one level, at the very last millisecond
        rec = _valid_at(rng, export, by_game, start)
        out += [{**rec, "prediction_id": f"flood{k}", "hotkey": HOSTILE, "wager": 1e-9} for k in range(60)]
    elif extra < 0.8:  # other miners' ids, received before theirs
        for k, p in enumerate(rng.sample(export["predictions"], 10)):
            out.append({**p, "hotkey": HOSTILE, "received_at": iso(parse_time(p["received_at"]) - 1)})
    return out


def with_hostile(records: list[object]) -> dict:
    _, export, _, _ = world()
    ex = dict(export)
    ex["predictions"] = export["predictions"] + records
    return ex


# --- the invariants --------------------------------------------------------------------------------

def own_view(result, intake, honest):
    accepted = sorted((p.hotkey, p.prediction_id) for p in intake.accepted if p.hotkey in honest)
    refused = sorted((r.key, r.reason) for r in intake.refusals if r.hotkey in honest)
    miners = {h: {**{k: getattr(m, k) for k in OWN}, **{k: v for k, v in m.components.items() if k != "entropy"}}
              for h, m in result.miners.items() if h in honest}
    return accepted, refused, miners


def check_output(result) -> None:
    text = json.dumps(as_json(result), allow_nan=False, sort_keys=True)  # raises on NaN or ±inf
    assert json.loads(text)["day"]
    w = np.array(list(result.weights.values()))
    assert np.all(np.isfinite(w)) and np.all(w >= 0)
    assert w.sum() == pytest.approx(1.0) or w.sum() == 0.0
    for m in result.miners.values():
        assert all(math.isfinite(x) for x in (m.composite, m.tier_score, m.wagered, *m.components.values()))
        assert -1.0 <= m.components["entropy"] <= 1.0


def check_unchanged(records: list[object]) -> tuple[bool, int]:
    """Every invariant of the module docstring; returns whether the hostile miner was ever promoted
    and how many hostile predictions were accepted."""
    _, _, honest, _ = world()
    honest = set(honest)
    export = reread(with_hostile(records))
    for entropy, cfg in ((True, CFG), (False, NO_ENTROPY)):
        _, base, base_in, base_book, base_c = baseline(entropy)
        _, res, intake, book, contrib = run(export, cfg)
        check_output(res)
        assert own_view(res, intake, honest) == own_view(base, base_in, honest)
        hostile_rows = [p for p in book.predictions if p.hotkey not in honest]
        touched = {market(p) for p in hostile_rows}
        for p in base_book.predictions:
            if market(p) not in touched:
                key = (p.hotkey, p.prediction_id)
                assert contrib[key] == base_c[key], key
        if entropy:
            continue
        for h in honest:
            assert res.miners[h].composite == base.miners[h].composite, h
        promoted = any(t.get(HOSTILE, LOWEST_VALID) > LOWEST_VALID for _, t in res.history)
        if not promoted:
            assert {h: res.miners[h].tier for h in honest} == {h: base.miners[h].tier for h in honest}
            assert {h: res.miners[h].tier_score for h in honest} == {h: base.miners[h].tier_score for h in honest}
            order = lambda r: sorted(honest, key=lambda h: (r.weights.get(h, 0.0), r.miners[h].uid))  # noqa: E731
            assert order(res) == order(base)
            assert res.miners[HOSTILE].tier == LOWEST_VALID - 1
    return promoted, sum(p.hotkey not in honest for p in intake.accepted)


def test_baseline_is_a_real_competition():
    """The fuzz compares something: honest miners are promoted, demoted and weighted apart."""
    _, base, intake, _, _ = baseline(False)
    tiers = {m.tier for m in base.miners.values()}
    assert len(tiers) >= 3 and len(intake.accepted) > 500
    assert base.miners[HOSTILE].tier == LOWEST_VALID - 1 and base.miners[HOSTILE].settled == 0


def test_fuzz_one_hostile_miner_leaves_the_others_alone():
    promoted = accepted = 0
    for seed in range(40):
        p, n = check_unchanged(hostile_records(seed))
        promoted += p
        accepted += n
    # the fuzz reaches intake's acceptance as well as every refusal, and leaves tiers comparable
    assert accepted > 200 and promoted < 40


# --- reduced cases ---------------------------------------------------------------------------------

def test_other_miners_ids_sent_first_do_not_block_them():
    _, export, honest, _ = world()
    stolen = [{**p, "hotkey": HOSTILE, "received_at": iso(parse_time(p["received_at"]) - 60_000)}
              for p in export["predictions"][:200]]
    check_unchanged(stolen)


def test_boundaries_of_offers_and_start():
    """offered_at is in force, withdrawn_at and commence_time are not; one millisecond either way."""
    _, export, _, _ = world()
    by_game = _offers_by_game(export)
    game = next(g for g in export["games"] if g["status"] == "final")
    gid, commence = game["game_id"], parse_time(game["commence_time"])
    withdrawn = next((o for g in by_game.values() for o in g if o["withdrawn_at"]), None)
    offer = by_game[gid][-1]  # the closing stage: in force until the start
    at = {"offered": parse_time(offer["offered_at"]), "start": commence}
    cases = {"offered": (at["offered"], None), "offered-1": (at["offered"] - 1, "odds"),  # the mid price
             "start-1": (commence - 1, None), "start": (commence, "started"), "start+1": (commence + 1, "started")}
    recs = [{"prediction_id": k, "hotkey": HOSTILE, "game_id": gid, "bet_type": offer["bet_type"],
             "line": offer["line"], "side": offer["side"], "predicted_odds": offer["odds"], "wager": 1.0,
             "received_at": iso(t)} for k, (t, _) in cases.items()]
    if withdrawn is not None:
        w = parse_time(withdrawn["withdrawn_at"])
        for k, t, reason in (("withdrawn-1", w - 1, None), ("withdrawn", w, "level")):
            cases[k] = (t, reason)
            recs.append({"prediction_id": k, "hotkey": HOSTILE, "game_id": withdrawn["game_id"],
                         "bet_type": withdrawn["bet_type"], "line": withdrawn["line"], "side": withdrawn["side"],
                         "predicted_odds": withdrawn["odds"], "wager": 1.0, "received_at": iso(t)})
    ex = parse_export(with_hostile(recs))
    intake = admit(ex.predictions, ex.games, Offers(ex.offers, ex.games), CFG)
    got = {r.key: r.reason for r in intake.refusals if r.hotkey == HOSTILE}
    got.update({p.prediction_id: None for p in intake.accepted if p.hotkey == HOSTILE})
    assert got == {k: reason for k, (_, reason) in cases.items()}
    check_unchanged(recs)


@pytest.mark.parametrize("value", [10**5000, [[[]]] * 1000, {"k": "v" * 10**6}, "é\x1b[2J\n" * 100],
                         ids=["long-int", "list", "dict", "control"])
def test_a_refused_key_is_short_printable_and_never_raises(value):
    """The key of a malformed record: repr of an int past 4300 digits raised ValueError (the whole export
    failed), and repr of a hostile container is as large (or as deep) as the container."""
    ex = parse_export({"format": FORMAT, "games": [], "offers": [], "metagraph": [{"uid": 0, "hotkey": value}],
                       "predictions": [{"prediction_id": value, "hotkey": "5A"}, value]})
    assert len(ex.refusals) == 3
    for r in ex.refusals:
        assert r.key.isascii() and r.key.isprintable() and len(r.key) <= 4 * 128


def test_a_deep_key_does_not_recurse():
    deep: object = []
    for _ in range(50_000):
        deep = [deep]
    ex = parse_export({"format": FORMAT, "games": [], "offers": [], "metagraph": [],
                       "predictions": [{"prediction_id": deep}]})
    assert ex.refusals[0].key == "<list>"


def test_a_flood_on_one_game_is_bounded_and_fast():
    """100 000 predictions of one hotkey on one level: the per-game limit keeps 10."""
    _, export, _, _ = world()
    rec = _valid_at(random.Random(1), export, _offers_by_game(export),
                    {g["game_id"]: parse_time(g["commence_time"]) for g in export["games"]})
    rec["received_at"] = iso(parse_time(next(o for o in export["offers"] if o["game_id"] == rec["game_id"]
                                              and o["side"] == rec["side"] and o["line"] == rec["line"]
                                              and o["bet_type"] == rec["bet_type"]
                                              and o["odds"] == rec["predicted_odds"])["offered_at"]))
    recs = [{**rec, "prediction_id": f"f{k}", "hotkey": HOSTILE, "wager": 1e-9} for k in range(100_000)]
    _, res, intake, _, _ = run(with_hostile(recs), CFG)
    assert sum(p.hotkey == HOSTILE for p in intake.accepted) == CFG.max_per_game


# --- the command line ------------------------------------------------------------------------------

def run_cli(tmp_path, export_or_text, *extra):
    path = tmp_path / "days.json"
    path.write_text(export_or_text if isinstance(export_or_text, str) else json.dumps(export_or_text))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["bettensor", "score", str(path), *extra])
    return rc, out.getvalue(), err.getvalue()


def test_cli_scores_a_hostile_export(tmp_path):
    s, _, _, day = world()
    rc, out, err = run_cli(tmp_path, with_hostile(hostile_records(7)), "--day", s.export["games"][-1]["commence_time"][:10],
                           "--json")
    assert rc == 0 and err == ""
    json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in the output"))


EMPTY = '{"format": "bettensor-days/1", "games": [], "offers": [], "predictions": [], "metagraph": []'


@pytest.mark.parametrize("text", [
    "", "{", "[1]", "\x00", '{"format": "x"}', EMPTY + ', "moving_price_tao": "x"}',
    EMPTY + ', "moving_price_tao": -1}', EMPTY + ', "junk": ' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"format": "bettensor-days/1", "games": {}, "offers": [], "predictions": [], "metagraph": []}',
])
def test_not_an_export_is_exit_2_with_one_line(tmp_path, text):
    rc, out, err = run_cli(tmp_path, text, "--day", "2025-09-05", "--json")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("incentive: ") and "Traceback" not in err


@pytest.mark.parametrize("state", [
    "", "[]", '{"format": "bettensor-state/1", "day": "2025-13-01"}', '{"format": "bettensor-state/1", "day": 5}',
    '{"format": "bettensor-state/1", "day": ["2025-09-01"]}', '{"format": "bettensor-state/1", "tiers": [1]}',
    '{"format": "bettensor-state/1", "tiers": {"a": true}}', '{"format": "bettensor-state/1", "tiers": {"a": 7}}',
    '{"format": "bettensor-state/1", "tiers": {"a b": 2}}', '{"format": "bettensor-state/1", "before": {"a": 2.0}}',
    '{"format": "bettensor-state/1", "tiers": {"a": ' + "1" * 5000 + "}}",
    '{"format": "bettensor-state/1", "tiers": ' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"format": "bettensor-state/1", "day": "9998-12-31"}',  # a state after the day scored
])
def test_a_bad_state_is_exit_2_with_one_line(tmp_path, state):
    s, _, _, _ = world()
    path = tmp_path / "state.json"
    path.write_text(state)
    rc, out, err = run_cli(tmp_path, s.export, "--day", "2025-09-05", "--state", str(path), "--json")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("incentive: ") and "Traceback" not in err


def test_a_missing_file_is_exit_2(tmp_path):
    for args in (["bettensor", "score", str(tmp_path / "nope.json"), "--day", "2025-09-05"],
                 ["bettensor", "score", str(tmp_path), "--day", "2025-09-05"]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert main(args) == 2
        assert err.getvalue().startswith("incentive: ")


@pytest.mark.parametrize("spent", ["nan", "inf", "-inf", "-1"])
def test_predict_refuses_a_spent_that_is_not_an_amount(tmp_path, spent):
    """--spent NaN, -inf or negative let any wager through the balance check."""
    s, _, _, _ = world()
    path = tmp_path / "offers.json"
    path.write_text(json.dumps(s.export))
    o = s.export["offers"][0]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["bettensor", "predict", "--game", o["game_id"], "--type", "moneyline", "--side", o["side"],
                   "--odds", str(o["odds"]), "--wager", "5", f"--spent={spent}", "--offers", str(path),
                   "--at", o["offered_at"]])
    assert rc == 2 and err.getvalue().startswith("incentive: --spent")


def test_a_day_without_any_outcome_scores_zero(tmp_path):
    s, _, _, _ = world()
    rc, out, err = run_cli(tmp_path, s.export, "--day", "2025-08-01", "--json")
    assert rc == 0, err[-300:]
