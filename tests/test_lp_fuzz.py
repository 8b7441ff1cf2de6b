"""Hostile-input fuzz of the SN98 round replay (`incentive lp backtest`, mechanisms/lp, docs/lp.md).

Everything inside a miner's `response` is hostile: `accepted`, `refusal_reason`, `desired_positions`
and every field of every position, extra fields, types, sizes, counts, nesting, long integers, NaN
and ±inf. Whatever one miner answers, the replay must not raise or stall, the output must be JSON
without NaN or ±inf, and every OTHER miner's round (out reason, score, reputation score, backtest
result) and reputation entry must be exactly what it is without the hostile miner; only the winner
may change. The honest panel is a small devnet round (devnet/lp.py) replayed on top of the state the
round before it left. Runs are seeded and deterministic. The named cases below the fuzz are
regressions for what the fuzz and the probes found, each reduced to a smallest input.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import json
import math
import random
from functools import lru_cache

import pytest

from cli.lp import as_json
from cli.main import main
from devnet.lp import INVENTORY, SPACING, miners_of, round_file
from mechanisms.lp.evaluate import Options, replay
from mechanisms.lp.records import MAX_BODY, MAX_DEPTH, MAX_POSITIONS, MAX_RESPONSES, parse_answer, parse_round
from mechanisms.lp.tickmath import MAX_TICK, MIN_TICK
from protocol import json_guard

HOSTILE = "5HOSTILEx0"
HOSTILE_UID = 77
SEED = 11
TOP = MAX_TICK // SPACING * SPACING  # the highest usable tick for the spacing (887220 for 60)
NAN, INF = float("nan"), float("inf")


def reread(obj: dict) -> object:
    """A round as the command reads it from a file: NaN literals allowed, long ints bounded, depth bounded."""
    return json_guard.loads(json.dumps(obj), MAX_DEPTH, parse_int=json_guard.bounded_int)


def output(res, scorer: str) -> dict:
    """`as_json` with a fixed miner share when the command prints weights."""
    if len(inspect.signature(as_json).parameters) > 2:
        return as_json(res, scorer, 0.5)
    return as_json(res, scorer)


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


# --- the honest panel ------------------------------------------------------------------------------

@lru_cache(maxsize=2)
def panel(kind: str = "evaluation"):
    """(round file, state the previous round left, {scorer: the honest replay}) for the seeded job."""
    miners = miners_of(SEED, per_kind=1)
    previous = replay(parse_round(reread(round_file(SEED, 0, miners, swaps=120))), Options("s1")).state
    base = round_file(SEED, 1, miners, swaps=200)
    base["round"]["round_type"] = kind
    rnd = parse_round(reread(base))
    return base, previous, {s: replay(rnd, Options(s), previous) for s in ("s1", "s2")}


def with_hostile(responses: list, kind: str = "evaluation") -> dict:
    """The panel's round plus one hostile miner answering `responses` at the panel's query blocks."""
    base = copy.deepcopy(panel(kind)[0])
    blocks = [a["block"] for a in next(iter(base["miners"].values()))["answers"]]
    base["miners"][HOSTILE] = {"uid": HOSTILE_UID,
                               "answers": [{"block": b, "response": r} for b, r in zip(blocks, responses)]}
    return base


def others(res) -> tuple[dict, dict]:
    reps = res.state.jobs[res.round.job_id]
    return ({h: m for h, m in res.miners.items() if h != HOSTILE},
            {h: r for h, r in reps.items() if h != HOSTILE})


def check_isolated(raw: dict) -> dict:
    """Replay `raw` with both scorers; the honest miners must be untouched. The hostile miner's rounds."""
    rnd = parse_round(reread(raw))
    _, previous, honest = panel(rnd.round_type)
    mine = {}
    for scorer in ("s1", "s2"):
        res = replay(rnd, Options(scorer), previous)
        assert others(res) == others(honest[scorer]), scorer
        json.dumps(output(res, scorer), allow_nan=False)
        m = res.miners[HOSTILE]
        assert m.out is None or (isinstance(m.out, str) and m.out.isprintable() and len(m.out) < 400)
        assert math.isfinite(m.reputation_score) and -100 <= m.reputation_score <= 10
        rep = res.state.jobs[rnd.job_id][HOSTILE]
        assert all(math.isfinite(x) for x in (rep.eval_ema, rep.live_ema, rep.combined))
        mine[scorer] = m
    return mine


def position(tl, tu, a0, a1) -> dict:
    return {"tick_lower": tl, "tick_upper": tu, "allocation0": a0, "allocation1": a1}


def accept(*positions, **extra) -> dict:
    return {"accepted": True, "desired_positions": list(positions), **extra}


HALF = str(INVENTORY[0] // 2)


# --- the fuzz --------------------------------------------------------------------------------------

TICKS = (0, SPACING, -SPACING, 600, -600, 3000, -3000, TOP, -TOP, TOP - SPACING, -TOP + SPACING, MAX_TICK, MIN_TICK,
         61, -1, 10**6, 2**63, -(2**63), 10**450, 0.0, 60.0, 1e300, NAN, INF, True, False, None, "600", [], {})
AMOUNTS = ("0", "1", HALF, str(INVENTORY[0] // 40), str(INVENTORY[0]), str(INVENTORY[0] + 1), str(2**128 - 1),
           str(2**128), "9" * 40, "9" * 41, "-1", "-0", "+5", " 5", "5 ", "0x10", "1e18", "1.5", "", "１２", "5_0",
           0, 1, 10**18, -1, 2**128, 10**450, 1.0, 1e18, NAN, INF, -INF, True, False, None, [], {"v": "1"})
REASONS = ("pool too volatile", "", "a\x1b[31mred\x1b[0m", "line\nbreak", "\u202eevil", "zero\u200bwidth",
           "\ud800", "é" * 300, "x" * 70_000, 5, None, ["x"], {"x": 1})


def nested(rng: random.Random, depth: int) -> object:
    return [nested(rng, depth - 1)] if depth else rng.choice((1, "x", None, NAN))


def hostile_position(rng: random.Random) -> object:
    if rng.random() < 0.05:
        return rng.choice((None, 1, "p", [1, 2, 3, 4], []))
    if rng.random() < 0.6:  # mostly a valid range, so the amounts and the arithmetic are reached
        lo = rng.choice((-TOP, -3000, -600, -SPACING, 0, 600, TOP - SPACING))
        hi = rng.choice([t for t in (-TOP + SPACING, -600, 0, SPACING, 600, 3000, TOP) if t > lo] or [TOP])
        p = position(lo, hi, rng.choice(AMOUNTS[:4]), rng.choice(AMOUNTS[:4]))
    else:
        p = position(rng.choice(TICKS), rng.choice(TICKS), rng.choice(AMOUNTS), rng.choice(AMOUNTS))
    for key in rng.sample(list(p), rng.choice((0, 0, 0, 1))):
        del p[key]
    if rng.random() < 0.2:
        p[rng.choice(("confidence", "extra", "tick_lower ", "\u0000"))] = rng.choice((NAN, 1.5, "x" * 100, [1]))
    return p


def hostile_response(rng: random.Random, previous: object) -> object:
    roll = rng.random()
    if roll < 0.05:
        return None  # a timeout
    if roll < 0.10:
        return rng.choice(([1, 2], "accepted", 0, False, 1.5, NAN, []))
    if roll < 0.15:
        return previous  # the same answer again: the tolerance path
    if roll < 0.25:
        return {"accepted": rng.choice((False, None, 0, "false")), "refusal_reason": rng.choice(REASONS)}
    n = rng.choice((0, 1, 1, 2, 3, 5, MAX_POSITIONS, MAX_POSITIONS + 1))
    first = hostile_position(rng)
    positions = [first] * n if rng.random() < 0.3 else [first] + [hostile_position(rng) for _ in range(n - 1)]
    out: dict = {"accepted": rng.choice((True, True, True, True, 1, "true")),
                 "desired_positions": positions[:n] if rng.random() < 0.9 else rng.choice((None, {}, "[]", 5))}
    if rng.random() < 0.2:
        out[rng.choice(("miner_metadata", "refusal_reason", "junk"))] = rng.choice(
            (nested(rng, rng.randint(0, 8)), "x" * rng.choice((10, MAX_BODY)), {"version": "1", "model_info": NAN}))
    return out


def valid_response(rng: random.Random) -> dict:
    """A well-formed answer at the edges: up to 20 positions, extreme and duplicate ranges, small to large
    allocations that together stay within half the inventory."""
    spans = [(-TOP, TOP), (-TOP, -TOP + SPACING), (TOP - SPACING, TOP), (-600, 600), (-SPACING, 0), (0, SPACING),
             (-3000, 3000), (-6000, -5940)]
    amounts = ("0", "1", str(INVENTORY[0] // 40), str(INVENTORY[0] // 41))
    n = rng.choice((0, 1, 1, 2, 3, MAX_POSITIONS))
    return accept(*(position(*rng.choice(spans), rng.choice(amounts), rng.choice(amounts)) for _ in range(n)))


@pytest.mark.parametrize("kind, rounds", [("evaluation", 200), ("live", 40)])
def test_fuzz_hostile_miner_leaves_the_others_alone(kind, rounds):
    rng = random.Random(98)
    panel(kind)  # built once
    scored = refused = malformed = 0
    for _ in range(rounds):
        responses = [valid_response(rng) for _ in range(5)]
        for _ in range(rng.choice((0, 1, 1, 2, 5))):  # then spoil some answers, from any query on
            k = rng.randrange(5)
            responses[k] = hostile_response(rng, responses[k - 1] if k else None)
        mine = check_isolated(with_hostile(responses, kind))
        out = mine["s1"].out
        scored += out is None
        refused += bool(out) and out.startswith("refused")
        malformed += bool(out) and out.startswith("malformed")
    # the fuzz reaches every branch: scored answers, refusals and malformed ones
    assert min(scored, refused, malformed) >= rounds // 20, (scored, refused, malformed)


# --- regressions -----------------------------------------------------------------------------------

@pytest.mark.parametrize("positions", [
    [position(TOP - SPACING, TOP, HALF, HALF)],                     # one spacing at the top
    [position(-TOP, -TOP + SPACING, HALF, HALF)],                   # one spacing at the bottom
    [position(-TOP, TOP, HALF, HALF)],                              # the full range
    [position(TOP - SPACING, TOP, HALF, "0"), position(-TOP, -TOP + SPACING, "0", HALF)],
    [position(-600, 600, str(INVENTORY[0] // 20), str(INVENTORY[1] // 20))] * MAX_POSITIONS,  # duplicate ranges
    [position(-600, 600, "0", "0")],                                # zero liquidity
    [],                                                             # withdraw everything
], ids=["top", "bottom", "full", "both-extremes", "20-duplicates", "zero", "empty"])
def test_extreme_answers_are_scored_in_isolation(positions):
    mine = check_isolated(with_hostile([accept(*positions)] * 5))
    assert mine["s1"].out is None and math.isfinite(mine["s1"].score)


@pytest.mark.parametrize("alloc, why", [
    (str(2**128 - 1), "above the inventory"),   # fits uint128, overflows nothing, exceeds the inventory
    (str(2**128), "out of range"),
    (10**450, "decimal string"),                # past 400 digits the reader gives +inf
    (NAN, "decimal string"), (-1, "out of range"), ("-1", "non-negative"), (True, "decimal string"),
    (1e18, "decimal string"), ("1e18", "non-negative"), ("１２", "non-negative"),
])
def test_hostile_amounts_put_only_their_miner_out(alloc, why):
    mine = check_isolated(with_hostile([accept(position(-600, 600, alloc, "0"))] * 5))
    assert mine["s1"].out.startswith("malformed") and why in mine["s1"].out


@pytest.mark.parametrize("reason, shown", [
    ("pool too volatile", "refused: pool too volatile"),
    ("a\x1b[31mred", "refused: no reason given"),        # terminal escapes never reach the output
    ("\u202eevil", "refused: no reason given"),          # nor a bidi override
    ("x" * 5000, "refused: " + "x" * 200),
    ("", "refused: no reason given"), ("   ", "refused: no reason given"),   # found: "refused: " with nothing
    (["x"], "refused: no reason given"),
])
def test_refusal_reason_is_printable_and_short(reason, shown):
    mine = check_isolated(with_hostile([{"accepted": False, "refusal_reason": reason}] * 5))
    assert mine["s1"].out == shown and mine["s2"].out == shown


def test_tolerance_is_against_the_deployed_allocations_and_does_not_drift():
    """Within 2 % of the deployed allocations is no rebalance, even above the inventory (§3's order); a
    chain of answers each within 2 % of the previous answer still rebalances once it leaves the 2 %."""
    half = INVENTORY[0] // 2
    steps = [half, half * 1019 // 1000, half * 1019 // 1000, half * 1038 // 1000]
    mine = check_isolated(with_hostile([accept(position(-600, 600, str(a), str(half))) for a in steps]))
    assert mine["s1"].out is None and mine["s1"].result.rebalances == 2
    # all of the inventory, then 1.9 % more than there is: no rebalance, so not out for insufficient inventory
    full = INVENTORY[0]
    mine = check_isolated(with_hostile([accept(position(-600, 600, str(full), "0")),
                                        accept(position(-600, 600, str(full * 1019 // 1000), "0"))]))
    assert mine["s1"].out is None and mine["s1"].result.rebalances == 1


def test_parse_answer_never_raises_on_a_python_response():
    """Found: the body-size check ran json.dumps on the response unguarded, so a caller's tuple key,
    cycle, 5000-digit int or deep list raised instead of giving a malformed answer."""
    cycle: dict = {}
    cycle["self"] = cycle
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    for resp in ({(1, 2): 3}, {"accepted": True, "x": cycle}, {"accepted": True, "x": deep},
                 accept(position(-60, 60, 10**5000, 0)), accept(position(-10**5000, 60, 1, 0))):
        a = parse_answer({"block": 1, "response": resp}, SPACING)
        assert a.positions is None and a.refusal.startswith("malformed")


def test_body_limit_puts_only_the_big_answer_out():
    mine = check_isolated(with_hostile([accept(position(-600, 600, HALF, HALF), junk="x" * MAX_BODY)] * 5))
    assert "characters, above" in mine["s1"].out


def test_deep_extra_field_within_the_file_bound_is_ignored():
    mine = check_isolated(with_hostile([accept(position(-600, 600, HALF, HALF), junk=nested(random.Random(1), 8))]))
    assert mine["s1"].out is None


def test_deep_extra_field_within_the_file_bound_fails_only_its_miner():
    check_isolated(with_hostile([accept(position(-600, 600, HALF, HALF), junk=nested(random.Random(1), 12))]))


def test_tolerance_finds_any_pairing_of_duplicate_ranges():
    a, b = INVENTORY[0] // 4, INVENTORY[0] // 8
    first = accept(position(-600, 600, str(a), str(b)), position(-600, 600, str(a + a // 100), "0"))
    again = accept(position(-600, 600, str(a + a // 100), str(b)), position(-600, 600, str(a), "0"))
    mine = check_isolated(with_hostile([first, again]))
    assert mine["s1"].result.rebalances == 1


def test_worst_case_answers_are_all_replayed():
    """1000 answers (the file's limit) alternating between two sets of 20 in-range positions, over 10 000
    swaps: 1000 rebalances, the others untouched (measured ≈ 0.2 s to parse and ≈ 0.3 s per replay)."""
    base = round_file(SEED, 2, miners_of(SEED, per_kind=1), swaps=10_000)
    start = base["round"]["start_block"]
    for i, s in enumerate(base["swaps"]):
        s["block"] = start + i // 10
    base["round"]["end_block"] = start + MAX_RESPONSES
    n = INVENTORY[0] // 40
    sets = [[position(-6000 + SPACING * k - d, 6000 - SPACING * k + d, str(n - d), str(n))
             for k in range(MAX_POSITIONS)] for d in (0, SPACING)]
    honest = replay(parse_round(reread(base)), Options("s1"))
    base["miners"][HOSTILE] = {"uid": HOSTILE_UID, "answers": [{"block": start + i, "response": accept(*sets[i % 2])}
                                                               for i in range(MAX_RESPONSES)]}
    res = replay(parse_round(reread(base)), Options("s1"))
    assert res.miners[HOSTILE].result.rebalances == MAX_RESPONSES
    assert others(res) == others(honest)


# --- the command on bad files and states -----------------------------------------------------------

def test_uid_must_be_one_the_state_can_carry():
    """Found: parse_round took any integer uid, so a round with uid −1 wrote a state its own
    `--state` then refused."""
    raw = with_hostile([])
    raw["miners"][HOSTILE]["uid"] = -1
    with pytest.raises(ValueError, match="uid"):
        parse_round(reread(raw))


def test_a_uid_is_one_miner_in_a_round():
    """Found: two hotkeys with one uid were both replayed, and replay() then dropped the first one's
    carried reputation (it keys the hotkey change by uid)."""
    raw = with_hostile([])
    raw["miners"][HOSTILE]["uid"] = next(iter(raw["miners"].values()))["uid"]
    with pytest.raises(ValueError, match="another miner"):
        parse_round(reread(raw))


def test_hostile_round_through_the_command(tmp_path):
    rng = random.Random(7)
    raw = with_hostile([hostile_response(rng, None) for _ in range(5)])
    path, state = tmp_path / "round.json", tmp_path / "state.json"
    path.write_text(json.dumps(raw))
    for scorer in ("s1", "s2"):
        rc, out, err = cli("lp", "backtest", str(path), "--scorer", scorer, "--write-state", str(state), "--json")
        assert rc == 0, err
        json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in the output"))
        rc, out, err = cli("lp", "backtest", str(path), "--scorer", scorer, "--state", str(state))
        assert rc == 0, err  # the state it wrote reads back
    assert "Traceback" not in err


STATE_REP = {"uid": 1, "eval_ema": 0.1, "live_ema": 0.0, "combined": 0.06, "total_evaluations": 1,
             "successful_evaluations": 1, "refusals": 0, "total_live_rounds": 0, "successful_live_rounds": 0,
             "days": {"2026-01-01": [1, 0]}, "whitelisted": False}


def _state(rep) -> str:
    return json.dumps({"format": "lp-state/1", "jobs": {"job": {"5X": rep}}})


@pytest.mark.parametrize("text", [
    "", "[]", "[" * 1000, '{"format": "lp-state/1", "jobs": []}', _state([]),
    _state({**STATE_REP, "eval_ema": NAN}), _state({**STATE_REP, "uid": -1}), _state({**STATE_REP, "zz": 1}),
    _state({**STATE_REP, "days": {"2026-01-01": [1]}}), _state({**STATE_REP, "days": {"not a date": [1, 0]}}),
    _state({**STATE_REP, "days": {"2026-01-01": [INF, 0]}}),
    _state({**STATE_REP, "days": None}).replace("null", '{"2026-01-01": [1e999, 0]}'),  # found: OverflowError
], ids=lambda t: t[:40])
def test_bad_state_exits_2_with_one_line(tmp_path, text):
    path, state = tmp_path / "round.json", tmp_path / "state.json"
    path.write_text(json.dumps(panel()[0]))
    state.write_text(text)
    rc, out, err = cli("lp", "backtest", str(path), "--state", str(state), "--json")
    assert rc == 2 and out == "" and err.count("\n") == 1 and err.startswith("incentive: "), err


def _round_with(edit) -> str:
    raw = copy.deepcopy(panel()[0])
    edit(raw)
    return json.dumps(raw)


@pytest.mark.parametrize("text", [
    "", "NaN", "[]", "{" * 1000, '{"format": "lp-round/1"}', json.dumps(panel()[0]) + "x",
    _round_with(lambda r: r.update(format="lp-round/2")),
    _round_with(lambda r: r["round"].update(fee_pips=None)),
    _round_with(lambda r: r["round"].update(sqrt_price_x96="0")),
    _round_with(lambda r: r["round"].update(date="yesterday")),
    _round_with(lambda r: r["round"].update(inventory=[1, 2])),
    _round_with(lambda r: r["round"].update(positions=[{"tick_lower": 0}])),
    _round_with(lambda r: r["swaps"][0].update(tick=r["swaps"][0]["tick"] + 5)),
    _round_with(lambda r: r["swaps"].append(7)),
    _round_with(lambda r: r["miners"].update({"a b": {"uid": 1, "answers": []}})),
    _round_with(lambda r: r["miners"].update({"5Y": {"uid": 1, "answers": [{"response": None}]}})),
    _round_with(lambda r: r["miners"].update({"5Y": {"uid": 1, "answers": [{"block": 1}] * (MAX_RESPONSES + 1)}})),
    _round_with(lambda r: next(iter(r["miners"].values()))["answers"].reverse()),
    _round_with(lambda r: None).replace('"fee_pips": 3000', '"fee_pips": 1' + "0" * 5000),
], ids=lambda t: t[:40])
def test_bad_round_exits_2_with_one_line(tmp_path, text):
    path = tmp_path / "round.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    rc, out, err = cli("lp", "backtest", str(path), "--json")
    assert rc == 2 and out == "" and err.count("\n") == 1 and err.startswith("incentive: "), err


def test_bad_encoding_exits_2(tmp_path):
    path = tmp_path / "round.json"
    for data in (b'{"a": "\xff"}', json.dumps(panel()[0]).encode("utf-16")):
        path.write_bytes(data)
        rc, out, err = cli("lp", "backtest", str(path))
        assert rc == 2 and err.count("\n") == 1, err
