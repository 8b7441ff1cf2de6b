"""Hostile-input fuzz of the offline PTN scorer (`incentive ptn score`, docs/ptn.md).

Everything in a miner's entry is hostile: its hotkey, account size and every field of every order.
Whatever one miner sends, the evaluation must not raise, must print JSON without NaN or ±inf, must
give finite non-negative weights, and must leave the honest miners' own results (metrics,
penalties, drawdown, trading days, value, bucket, refused orders) exactly as they are without the
hostile miners; when no hostile order is accepted at all, the honest weights must be unchanged too.

The honest miners are the devnet's generated traders (`devnet.ptn.traders`), plus two late
starters that are still in the challenge (so the testing dust is exercised). Runs are seeded and
deterministic. The named cases below the fuzz are the failures it found, each reduced to a
smallest input.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import random
from functools import lru_cache

import numpy as np
import pytest

from cli.main import main
from cli.ptn import as_json, iso
from devnet.ptn import traders
from mechanisms.ptn.buckets import State
from mechanisms.ptn.config import DAY_MS, config_for
from mechanisms.ptn.evaluate import Evaluation, evaluate
from mechanisms.ptn.orders import parse_file
from mechanisms.ptn.positions import replay
from protocol import json_guard

NAN, INF = float("nan"), float("inf")
HONEST_FIELDS = ("bucket", "elimination", "trading_days", "drawdown_pct", "value", "metrics", "penalties",
                 "rejected_orders")


# --- the honest panel ------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def panel():
    p = traders(7, n_skilled=2, days=65, extra={"reckless": 1, "drawdown": 1, "inactive": 1, "copycat": 0,
                                                 "garbage": 0})
    export = copy.deepcopy(p.export)
    # two late starters (skill-001's last 15 days, skill-000's last 10) still in the challenge at the end
    for k, (source, days) in enumerate((("skill-001", 15), ("skill-000", 10))):
        late = [dict(o, order_uuid=f"late-{i}") for i, o in enumerate(export["miners"][source]["orders"])
                if o["processed_ms"] >= p.end_ms - days * DAY_MS]
        export["miners"][f"late-{k:03d}"] = {"orders": late, "account_size": 150_000.0}
    return p, export


def reread(export: dict) -> object:
    """The export as the command reads it from a file (NaN literals allowed, long ints bounded)."""
    return json_guard.loads(json.dumps(export), parse_int=json_guard.bounded_int)


def score(export: dict, at_ms: int, version: str = "v1", fixed: bool = False,
          state: State | None = None) -> Evaluation:
    cfg = config_for(version, fixed)
    return evaluate(parse_file(reread(export), cfg.order_leverage_bounds), at_ms, cfg, state)


@lru_cache(maxsize=None)
def baseline(version: str, fixed: bool, with_state: bool) -> Evaluation:
    p, export = panel()
    state = baseline(version, fixed, False).state if with_state else None
    return score(export, p.end_ms, version, fixed, state)


def accepted_orders(export: dict, hotkey: str, at_ms: int, version: str) -> int:
    """How many of this miner's orders the scorer accepted (0 for an entry refused whole)."""
    cfg = config_for(version)
    alone = {"format": export["format"], "miners": {hotkey: export["miners"][hotkey]}}
    file = parse_file(reread(alone), cfg.order_leverage_bounds)
    if hotkey not in file.miners:
        return 0
    positions, _ = replay(hotkey, file.miners[hotkey].orders, at_ms, cfg)
    return sum(len(p.ms) for p in positions)


def invariant_violations(result: Evaluation, base: Evaluation, honest: list[str], weights_too: bool) -> list[str]:
    out = []
    try:
        json.dumps(as_json(result), allow_nan=False)
    except ValueError as exc:
        bad = [(h[:16], k, getattr(m, k)) for h, m in result.miners.items()
               for k in ("value", "drawdown_pct", "score", "weight") if not math.isfinite(getattr(m, k))]
        out.append(f"JSON not strict ({exc}): {bad[:2]}")
    for h, w in result.weights.items():
        if not (math.isfinite(w) and w >= 0):
            out.append(f"weight of {h[:16]!r} is {w!r}")
    for h, m in result.miners.items():
        for k in ("value", "drawdown_pct", "score", "weight"):
            v = getattr(m, k)
            if not math.isfinite(v) or v < 0:
                out.append(f"{k} of {h[:16]!r} is {v!r}")
    for r in result.rejections:
        if not (isinstance(r.reason, str) and r.reason):
            out.append(f"rejection without a reason: {r!r}")
    for h in honest:
        a, b = base.miners[h], result.miners[h]
        for k in HONEST_FIELDS:
            if getattr(a, k) != getattr(b, k):
                out.append(f"honest {h} {k} changed: {getattr(a, k)!r} -> {getattr(b, k)!r}")
    if weights_too:
        for h in honest:
            if base.weights.get(h) != result.weights.get(h):
                out.append(f"honest {h} weight changed with no hostile order accepted: "
                           f"{base.weights.get(h)!r} -> {result.weights.get(h)!r}")
    return out


def _one(order: dict, **entry) -> dict:
    return {"orders": [order], **entry}


def _small(**hostile) -> dict:
    """One honest miner, the marks, and the given hostile entries: enough to reproduce, cheap to score."""
    p, export = panel()
    return {"format": "ptn-orders/1", "prices": export["prices"],
            "miners": {"skill-000": export["miners"]["skill-000"], **hostile}}


def _order(**kw) -> dict:
    p, _ = panel()
    base = {"order_uuid": "a", "trade_pair": "BTCUSD", "order_type": "LONG", "leverage": 0.1,
            "price": p.export["prices"]["BTCUSD"][72][1], "slippage": 0.0, "processed_ms": p.start_ms + 3 * DAY_MS}
    return {**base, **kw}


# --- hostile miners --------------------------------------------------------------------------------

GOOD_PAIRS = ["BTCUSD", "ETHUSD", "SOLUSD", "EURUSD", "GBPUSD"]
BAD_PAIRS = ["NVDA", "XAUUSD", "SPX", "FOO", "", "btcusd", ["BTCUSD", "BTC/USD", 0.001, 0.01, 0.5], [],
             [[["BTCUSD"]]], {"id": "BTCUSD"}, None, 5, True, ["BTCUSD"] * 3]
BAD_KINDS = ["long", "", None, ["LONG"], 1, True, {"LONG": 1}, "FLAT "]
BAD_LEVERAGE = [0, -0.1, 1e308, -1e308, NAN, INF, -INF, "inf", "NaN", "0.1", True, False, None, [0.1], {"x": 1},
                500, 501, 1e-300, 0.0009, 10**30, 10**500]
BAD_PRICES = [0, -0.0, -1, 1e308, 1.7976931348623157e308, 1e-308, 5e-324, 1e-200, 1e-12, NAN, INF, "100", True,
              None, [100.0], 10**400]
BAD_SLIPPAGE = [0.999999, 1, -0.0, -1e-9, NAN, INF, 0.5, "0.1", True, None, 1e-300]
BAD_ACCOUNT = [0, 1e308, -1, NAN, INF, "150000", True, [1], 10**400, 1e-300]


def hostile_ms(rng: random.Random, lo: int, at: int) -> object:
    return rng.choice([-1, 0, 1, 1.5, float(rng.randint(lo, at)), 2**63, 2**53, 2**53 - 1, True, False, "x", None,
                       at, at + 1, lo - 1, 10**500, NAN, INF])


def hostile_order(rng: random.Random, i: int, lo: int, at: int, marks: dict) -> object:
    if rng.random() < 0.04:
        return rng.choice([None, 1, "order", [], [1, 2], {"order_uuid": "x"}])
    pair = rng.choice(GOOD_PAIRS) if rng.random() < 0.8 else rng.choice(BAD_PAIRS)
    ms = rng.randint(lo, at) if rng.random() < 0.85 else hostile_ms(rng, lo, at)
    near = marks.get(pair if isinstance(pair, str) else "BTCUSD", 100.0)
    order = {
        "order_uuid": (f"u{rng.randint(0, 60)}" if rng.random() < 0.9
                       else rng.choice([None, 7, "", "x" * 129, ["u1"], "\ud800"])),
        "trade_pair": pair,
        "order_type": rng.choice(["LONG", "SHORT", "FLAT"]) if rng.random() < 0.9 else rng.choice(BAD_KINDS),
        "leverage": rng.choice([0.01, 0.05, 0.2, 0.5, 1.0, 3.0]) if rng.random() < 0.8 else rng.choice(BAD_LEVERAGE),
        "price": near * math.exp(rng.gauss(0, 0.05)) if rng.random() < 0.7 else rng.choice(BAD_PRICES),
        "processed_ms": ms,
    }
    if rng.random() < 0.8:
        order["slippage"] = rng.choice([0.0, 0.0008, 0.002]) if rng.random() < 0.75 else rng.choice(BAD_SLIPPAGE)
    if rng.random() < 0.05:
        del order[rng.choice(list(order))]
    return order


def hostile_entry(rng: random.Random, lo: int, at: int, marks: dict) -> object:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice([None, [], "miner", 3, {"orders": {}}, {"orders": "x"}, {}])
    n = rng.choice([0, 1, 2, 5, 20, 60])
    orders = [hostile_order(rng, i, lo, at, marks) for i in range(n)]
    if rng.random() < 0.3:
        orders.sort(key=lambda o: -o["processed_ms"] if isinstance(o, dict) and type(o.get("processed_ms")) is int
                    else 0)
    entry: dict = {"orders": orders}
    if rng.random() < 0.5:
        entry["account_size"] = 150_000.0 if rng.random() < 0.5 else rng.choice(BAD_ACCOUNT)
    return entry


def hostile_hotkey(rng: random.Random, k: int) -> str:
    return rng.choice([f"hostile-{k}", f"hostile-{k}", f"hostile-{k}", "", "x" * 10_000, f"\ud800{k}",
                       f"{k}\udfff\ud800", "h" * 127 + str(k % 10), f"h\x00{k}", f"\u202e{k}"])


ROUNDS = [  # seed → (version, fixed mode, carry the honest run's state)
    ("v1", False, False), ("v0", False, False), ("v2", False, False), ("v3", True, False), ("v1", False, True)]


def _evaluate_or_fail(export, at, version, fixed, state, what):
    try:
        return score(export, at, version, fixed, state)
    except Exception as exc:  # noqa: BLE001 - the invariant is "never raises"
        pytest.fail(f"{what}: evaluate raised {type(exc).__name__}: {exc}")


@pytest.mark.parametrize("seed", range(len(ROUNDS)))
def test_fuzz_hostile_miners_leave_honest_results_alone(seed):
    """Random hostile miners next to the honest ones: the honest miners' results must not move. Then only
    the hostile miners that ended with no accepted order: the honest weights must not move either."""
    rng = random.Random(seed)
    version, fixed, with_state = ROUNDS[seed]
    what = f"seed {seed} ({version}{' fixed' if fixed else ''}{' with state' if with_state else ''})"
    p, export = panel()
    at = p.end_ms
    base = baseline(version, fixed, with_state)
    state = base.state if with_state else None
    honest = sorted(export["miners"])
    marks = {pair: p.export["prices"][pair][-1][1] for pair in p.export["prices"]}
    hostile = copy.deepcopy(export)
    names = []
    for k in range(rng.randint(3, 6)):
        hk = hostile_hotkey(rng, k)
        if hk not in hostile["miners"]:
            hostile["miners"][hk] = hostile_entry(rng, p.start_ms, at, marks)
            names.append(hk)
    result = _evaluate_or_fail(hostile, at, version, fixed, state, what)
    problems = invariant_violations(result, base, honest, weights_too=False)
    idle = [hk for hk in names if accepted_orders(hostile, hk, at, version) == 0]
    if idle:
        only_idle = copy.deepcopy(export)
        only_idle["miners"].update({hk: hostile["miners"][hk] for hk in idle})
        result = _evaluate_or_fail(only_idle, at, version, fixed, state, what + " idle only")
        problems += [f"[{len(idle)} idle] {x}" for x in invariant_violations(result, base, honest, weights_too=True)]
    assert not problems, f"{what}, hostile {[h[:12] for h in names]}: " + "; ".join(problems[:5])


def test_fuzz_one_hostile_field_at_a_time():
    """Each hostile value alone in an otherwise valid order, one extra miner per value, all in one
    evaluation: never a crash, never a non-finite number, the honest miners' results untouched."""
    p, export = panel()
    at = p.end_ms
    base = baseline("v1", False, False)
    honest = sorted(export["miners"])
    t0 = p.start_ms + 3 * DAY_MS
    valid = {"order_uuid": "a", "trade_pair": "BTCUSD", "order_type": "LONG", "leverage": 0.1,
             "price": p.export["prices"]["BTCUSD"][72][1], "slippage": 0.0, "processed_ms": t0}
    field_values = {"trade_pair": BAD_PAIRS, "order_type": BAD_KINDS, "leverage": BAD_LEVERAGE, "price": BAD_PRICES,
                    "slippage": BAD_SLIPPAGE, "processed_ms": [-1, 0, 1.5, float(t0), 2**63, True, at, at + 1,
                                                               2**53, "x", NAN]}
    hostile = copy.deepcopy(export)
    label = {}
    for field, values in field_values.items():
        for i, value in enumerate(values):
            hk = f"z{len(label):03d}"
            hostile["miners"][hk] = {"orders": [dict(valid, **{field: value})]}
            label[hk] = f"{field}={value!r:.24}"
    result = _evaluate_or_fail(hostile, at, "v1", False, None, "one field at a time")
    problems = invariant_violations(result, base, honest, weights_too=False)
    for hk, what in label.items():
        problems = [x.replace(repr(hk[:16]), what) for x in problems]
    assert not problems, f"{len(problems)} problems: " + "; ".join(problems[:6])


# --- the command line ------------------------------------------------------------------------------

def run_cli(tmp_path, export_or_text, *extra, encoding_errors="strict"):
    """main() on a written file with a real UTF-8 stdout (as a terminal or pipe has): rc, stdout, stderr."""
    path = tmp_path / "orders.json"
    path.write_text(export_or_text if isinstance(export_or_text, str) else json.dumps(export_or_text))
    raw_out = io.BytesIO()
    out = io.TextIOWrapper(raw_out, encoding="utf-8", errors=encoding_errors, write_through=True)
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["ptn", "score", str(path), *extra])
    return rc, raw_out.getvalue().decode("utf-8", "replace"), err.getvalue()


def strict_loads(text: str):
    def refuse(c):
        raise ValueError(f"non-finite {c} in the output")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("text", [
    "", "{", "[1]", '{"format": "x", "miners": {}}', '{"format": "ptn-orders/1", "miners": []}',
    '{"format": "ptn-orders/1", "miners": {}, "prices": [1]}',
    '{"format": "ptn-orders/1", "miners": {}, "metagraph": "x"}',
    '{"format": "ptn-orders/1", "miners": {}, "metagraph": [1]}',
    "[" * 100_000 + "]" * 100_000,
    '{"format": "ptn-orders/1", "miners": {}, "junk": ' + "[" * 100_000 + "]" * 100_000 + "}",
])
def test_not_an_export_is_exit_2_with_one_line(tmp_path, text):
    rc, out, err = run_cli(tmp_path, text, "--at", "2025-07-01T00:00:00Z", "--json")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("incentive: ") and "Traceback" not in err


@pytest.mark.parametrize("state", [
    [], None, {"standings": [], "eliminated": {}}, {"standings": {}, "eliminated": {}, "x": 1},
    {"standings": {"a": {"bucket": "GOD", "start_ms": 1}}, "eliminated": {}},
    {"standings": {"a": {"bucket": "MAINCOMP", "start_ms": 1.0}}, "eliminated": {}},
    {"standings": {"a": {"bucket": "MAINCOMP", "start_ms": 10**300}}, "eliminated": {}},
    {"standings": {"a": {"bucket": ["MAINCOMP"], "start_ms": 1}}, "eliminated": {}},
    {"standings": {}, "eliminated": {"a": {"reason": "ZOMBIE", "at_ms": 1, "drawdown_pct": NAN}}},
    {"standings": {"a": {"bucket": "MAINCOMP", "start_ms": 1}}, "eliminated": {"a": {"reason": "ZOMBIE", "at_ms": 1}}},
    {"standings": {"": {"bucket": "MAINCOMP", "start_ms": 1}}, "eliminated": {}},
    {"standings": {"a": []}, "eliminated": {}},
    "[" * 100_000 + "]" * 100_000,
])
def test_garbage_state_is_exit_2_with_one_line(tmp_path, state):
    p, export = panel()
    st = tmp_path / "state.json"
    st.write_text(state if isinstance(state, str) else json.dumps(state))
    rc, out, err = run_cli(tmp_path, export, "--at", iso(p.end_ms), "--state", str(st), "--json")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err


def test_odd_but_valid_state_hotkeys_are_scored(tmp_path):
    p, export = panel()
    st = tmp_path / "state.json"
    st.write_text(json.dumps({"standings": {"x" * 10_000: {"bucket": "MAINCOMP", "start_ms": 1},
                                            "\ud800": {"bucket": "PROBATION", "start_ms": p.end_ms}},
                              "eliminated": {"skill-000": {"reason": "ZOMBIE", "at_ms": 1}}}))
    rc, out, err = run_cli(tmp_path, export, "--at", iso(p.end_ms), "--state", str(st), "--json",
                           "--write-state", str(tmp_path / "next.json"))
    assert rc == 0, err
    doc = strict_loads(out)
    assert doc["miners"]["skill-000"]["eliminated"] == "ZOMBIE" and doc["weights"].get("skill-000", 0.0) == 0.0
    assert State.from_json(json.loads((tmp_path / "next.json").read_text())).eliminated["skill-000"].reason == "ZOMBIE"


def test_price_marks_garbage_is_dropped_with_a_reason(tmp_path):
    p, _ = panel()
    export = _small()
    at = p.end_ms
    hostile = copy.deepcopy(export)
    btc = hostile["prices"]["BTCUSD"]
    hostile["prices"]["BTCUSD"] = list(reversed(btc)) + btc[:50] + [[btc[10][0], btc[10][1]]] * 3 + [
        "x", [1], [1, 2, 3], [True, 1.0], [btc[5][0] + 0.5, 1.0], [btc[5][0], NAN], [btc[5][0], -1], [btc[5][0], 0],
        {"ms": 1}, [None, None], [10**500, 1.0]]
    hostile["prices"]["NOPE"] = [[1, 1.0]]
    hostile["prices"]["ETHUSD"] = "not a list"
    result = score(hostile, at)
    reasons = [r.reason for r in result.rejections if r.hotkey == ""]
    assert any("BTCUSD" in r for r in reasons) and any("NOPE" in r for r in reasons) \
        and any("ETHUSD" in r for r in reasons)
    # the BTCUSD marks that survive are exactly the original ones: honest BTC holders are unchanged
    no_eth = copy.deepcopy(export)
    no_eth["prices"]["ETHUSD"] = []
    ref = score(no_eth, at)
    for h in export["miners"]:
        assert result.miners[h].metrics == ref.miners[h].metrics
        assert result.miners[h].drawdown_pct == ref.miners[h].drawdown_pct
    json.dumps(as_json(result), allow_nan=False)


def test_metagraph_shapes(tmp_path):
    p, _ = panel()
    export = _small(**{"\ud800": _one(_order()), "late-000": panel()[1]["miners"]["late-000"]})
    for metagraph in ([], ["skill-000", "\ud800", "x" * 10_000]):
        rc, out, err = run_cli(tmp_path, dict(export, metagraph=metagraph), "--at", iso(p.end_ms), "--json")
        assert rc == 0, err
        doc = strict_loads(out)
        # a miner that is not registered is never entered, so it has no bucket and no weight
        for h, m in doc["miners"].items():
            if h not in metagraph:
                assert m["bucket"] is None and doc["weights"].get(h, 0.0) == 0.0


# --- scale -----------------------------------------------------------------------------------------

def _alternating(n: int, start_ms: int) -> list[dict]:
    return [{"order_uuid": f"u{i}", "trade_pair": "BTCUSD", "order_type": "LONG" if i % 2 == 0 else "FLAT",
             "leverage": 0.1, "price": 100.0 + (i % 7), "processed_ms": start_ms + i * 11_000} for i in range(n)]


def test_many_orders_for_one_miner():
    """12 000 orders, LONG/FLAT alternating (a new position every other order), are all taken and
    scored (their cost is measured in make bench, not here)."""
    p, _ = panel()
    start = p.start_ms
    export = {"format": "ptn-orders/1", "miners": {"spam": {"orders": _alternating(12_000, start)}},
              "prices": {"BTCUSD": p.export["prices"]["BTCUSD"]}}
    result = score(export, start + 20 * DAY_MS)
    assert result.miners["spam"].rejected_orders == 0
    json.dumps(as_json(result), allow_nan=False)


def test_more_orders_than_the_cap_are_refused_whole():
    p, _ = panel()
    hostile = _small(spam={"orders": [{"order_uuid": "x"}] * 100_001})
    result = score(hostile, p.end_ms)
    assert "spam" not in result.miners
    assert any(r.hotkey == "spam" and "100001 orders" in r.reason for r in result.rejections)


def test_many_miners_one_order_each():
    p, export = panel()
    t0 = p.start_ms + DAY_MS
    for n in (100, 400):
        many = {"format": "ptn-orders/1", "prices": p.export["prices"], "miners": {
            f"m{k:05d}": {"orders": [{"order_uuid": "a", "trade_pair": "BTCUSD", "order_type": "LONG",
                                      "leverage": 0.01 + (k % 40) / 100, "price": p.export["prices"]["BTCUSD"][24][1],
                                      "processed_ms": t0 + k * 1000}]} for k in range(n)}}
        result = score(many, p.end_ms)
        weights = np.array(list(result.weights.values()))
        assert len(result.miners) == n and np.all(np.isfinite(weights)) and np.all(weights >= 0)


# --- regressions: the failures the fuzz found, reduced ---------------------------------------------

@pytest.mark.parametrize("price, slippage", [(1e-308, 0.0), (5e-324, 0.0), (1.7976931348623157e308, 0.5)])
def test_extreme_fill_price_prints_strict_json(tmp_path, price, slippage):
    """A fill price of 1e-308 against marks near 100 makes the position's value overflow to inf (and
    1.8e308 with slippage 0.5 slips to inf, value NaN); the JSON must still be strict and the run
    must not end in a traceback."""
    p, _ = panel()
    hostile = _small(hostile=_one(_order(price=price, slippage=slippage)))
    rc, out, err = run_cli(tmp_path, hostile, "--at", iso(p.end_ms), "--json")
    assert rc == 0, err
    doc = strict_loads(out)
    assert math.isfinite(doc["miners"]["hostile"]["value"])


def test_portfolio_value_overflow_across_positions_prints_strict_json(tmp_path):
    """Each position's value finite (fill 1e-160 against marks near 100 gives ~1e157), their product
    is not: five crypto positions make the portfolio value exp(>709) = inf."""
    p, _ = panel()
    orders = [_order(order_uuid=f"o{i}", trade_pair=pair, price=1e-160, leverage=0.1)
              for i, pair in enumerate(["BTCUSD", "ETHUSD", "SOLUSD", "XRPUSD", "DOGEUSD"])]
    hostile = _small(hostile={"orders": orders})
    rc, out, err = run_cli(tmp_path, hostile, "--at", iso(p.end_ms), "--json")
    assert rc == 0, err
    strict_loads(out)


def test_miner_with_no_accepted_order_leaves_honest_weights_alone():
    """A miner whose every order is refused (or that sent none) still enters the challenge and takes a
    place in the testing dust's linspace, which moves every honest challenger's dust."""
    p, export = panel()
    base = baseline("v1", False, False)
    for entry in ({"orders": []}, _one(_order(trade_pair="FOO"))):
        hostile = copy.deepcopy(export)
        hostile["miners"]["zzz-hostile"] = entry
        result = score(hostile, p.end_ms)
        assert accepted_orders(hostile, "zzz-hostile", p.end_ms, "v1") == 0
        changed = {h: (base.weights.get(h), result.weights.get(h)) for h in export["miners"]
                   if base.weights.get(h) != result.weights.get(h)}
        assert not changed, changed


def test_surrogate_hotkey_in_the_text_table(tmp_path):
    """JSON escapes a lone surrogate, the text table prints it raw: UnicodeEncodeError on a UTF-8 stdout."""
    p, _ = panel()
    hostile = _small(**{"\ud800evil": _one(_order())})
    rc, out, err = run_cli(tmp_path, hostile, "--at", iso(p.end_ms))
    assert rc == 0 and "PTN v1" in out, err


def test_one_miners_nested_field_does_not_void_the_export(tmp_path):
    """A `trade_pair` nested 60 deep inside one miner's order passes the miner's own checks in the
    parser (it is refused as an unknown pair) but the file's global depth bound of 64 refuses the whole
    export, so no miner is scored."""
    p, _ = panel()
    hostile = _small(hostile=_one(_order(trade_pair="PLACEHOLDER")))
    text = json.dumps(hostile).replace('"PLACEHOLDER"', "[" * 60 + "]" * 60)
    rc, out, err = run_cli(tmp_path, text, "--at", iso(p.end_ms), "--json")
    assert rc == 0, err
    assert "skill-000" in strict_loads(out)["miners"]


def test_backdated_orders_are_charged_every_interval_since():
    """Orders dated in 1970 keep a position open for 55 years: every 8-hour carry interval since is
    charged at the position's leverage (the intervals are counted in arrays, not looped), and the
    honest scoring around it is unaffected."""
    p, _ = panel()
    orders = [_order(order_uuid="o0", trade_pair="BTCUSD", processed_ms=1, price=100.0, leverage=0.02)]
    export = {"format": "ptn-orders/1", "miners": {"h": {"orders": orders}}}
    result = score(export, p.end_ms)
    assert result.miners["h"].rejected_orders == 0
    from mechanisms.ptn import ledger
    from mechanisms.ptn.config import v1_proposal
    from mechanisms.ptn.positions import replay
    from mechanisms.ptn.orders import parse_order
    cfg = v1_proposal()
    order = parse_order(orders[0], cfg.order_leverage_bounds)
    positions, _ = replay("h", [order], p.end_ms, cfg)
    n = len(ledger.fee_times("crypto", 1, p.end_ms)[0])
    assert n == (p.end_ms - 4 * 3_600_000) // (8 * 3_600_000) + 1
    book = ledger.build(positions, {}, p.end_ms, 5000.0, cfg)
    assert book.position_values[0] == pytest.approx(cfg.carry_factor("crypto") ** (0.02 * n), rel=1e-9)
