"""`incentive lp backtest` as an operator runs it: the output of docs/lp.md, the reputation state
carried between rounds, and exit 2 with one line on a file that is not a round."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from cli.main import main
from devnet.lp import miners_of, round_file


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def rounds(tmp_path_factory):
    d = tmp_path_factory.mktemp("lp")
    miners = miners_of(4, per_kind=1)
    paths = []
    for n in range(2):
        p = d / f"round{n}.json"
        p.write_text(json.dumps(round_file(4, n, miners, swaps=120)))
        paths.append(str(p))
    return paths, miners


def test_backtest_json_per_miner(rounds):
    (first, _), miners = rounds
    rc, out, err = cli("lp", "backtest", first, "--json")
    assert rc == 0, err
    res = json.loads(out)
    assert res["scorer"] == "s1" and res["swaps"] == 120 and res["winner"] in miners
    scored = {h: m["score"] for h, m in res["miners"].items() if m["out"] is None}
    assert res["miners"][res["winner"]]["score"] == max(scored.values())
    for h, m in res["miners"].items():
        if miners[h] in ("refuser", "silent", "garbage"):
            assert m["out"] and m["score"] == 0 and "positions" not in m
        else:
            assert m["out"] is None
            assert set(m) >= {"positions", "fees", "value", "inventory_loss", "impermanent_loss", "in_range_ratio",
                              "rebalances", "score", "reputation"}
            assert int(m["value"]["final"]) == int(m["value"]["lp"]) + int(m["fees"]["value"])
            assert all(int(p["liquidity"]) > 0 for p in m["positions"])
    refused = {miners[h]: m["out"] for h, m in res["miners"].items() if m["out"]}
    assert refused["refuser"].startswith("refused: ") and refused["silent"] == "no response (timeout)"
    assert refused["garbage"].startswith("malformed: ")


def test_state_carries_reputation_and_scorer_s2(rounds, tmp_path):
    (first, second), _ = rounds
    state = tmp_path / "state.json"
    assert cli("lp", "backtest", first, "--write-state", str(state))[0] == 0
    one = json.loads(state.read_text())
    rc, out, _ = cli("lp", "backtest", second, "--state", str(state), "--json")
    two = json.loads(out)
    for h, m in two["miners"].items():
        before = one["jobs"]["job4"][h]["eval_ema"]
        expected = 0.9 * before + 0.1 * (m["reputation_score"] if m["out"] is None else 0.0)
        assert m["reputation"]["eval_ema"] == pytest.approx(expected, abs=1e-6)
        assert two["state"]["jobs"]["job4"][h]["total_evaluations"] == 2
    rc, out, _ = cli("lp", "backtest", first, "--scorer", "s2", "--json")
    assert rc == 0 and all(-100 <= m["score"] <= 10 for m in json.loads(out)["miners"].values())


@pytest.mark.parametrize("text, message", [
    ("{}", "not an lp-round/1 file"),
    ('{"format": "lp-round/1", "round": {}, "swaps": [], "miners": {}}', "start_block must be an integer"),
    ("[" * 100_000, "is not JSON"),
])
def test_a_file_that_is_not_a_round_exits_2(tmp_path, text, message):
    p = tmp_path / "bad.json"
    p.write_text(text)
    rc, out, err = cli("lp", "backtest", str(p))
    assert rc == 2 and out == "" and message in err and len(err.splitlines()) == 1


def test_weights_with_a_fixed_miner_share(rounds, tmp_path):
    """§7 offline: nobody eligible after one round burns everything; a whitelisted miner with combined > 0
    takes the miners' share."""
    (first, second), miners = rounds
    state = tmp_path / "state.json"
    rc, out, _ = cli("lp", "backtest", first, "--write-state", str(state), "--miner-ratio", "0.4", "--json")
    assert json.loads(out)["weights"]["0"] == 1.0
    s = json.loads(state.read_text())
    best = max(s["jobs"]["job4"], key=lambda h: s["jobs"]["job4"][h]["combined"])
    assert s["jobs"]["job4"][best]["combined"] > 0
    s["jobs"]["job4"][best]["whitelisted"] = True
    state.write_text(json.dumps(s))
    rc, out, _ = cli("lp", "backtest", second, "--state", str(state), "--miner-ratio", "0.4", "--json")
    w = json.loads(out)["weights"]
    uid = json.loads(out)["miners"][best]["uid"]
    assert w["0"] == pytest.approx(0.6) and w[str(uid)] == pytest.approx(0.4)
    assert sum(w.values()) == pytest.approx(1.0)
    assert cli("lp", "backtest", second, "--miner-ratio", "1.5")[0] == 2
