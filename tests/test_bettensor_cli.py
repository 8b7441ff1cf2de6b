"""`incentive bettensor predict` and `score` as an operator runs them: the README's examples, the
output formats of docs/bettensor.md, exit codes, and the state carried between days."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import pytest

from cli.main import main
from devnet.bettensor import season

GAMES = [{"game_id": "g-2025-09-14-ars-che", "sport": "soccer", "team_a": "Arsenal", "team_b": "Chelsea",
          "commence_time": "2025-09-14T16:30:00Z", "can_tie": True},
         {"game_id": "g-2025-09-14-kc-buf", "sport": "football", "team_a": "Kansas City", "team_b": "Buffalo",
          "commence_time": "2025-09-14T20:25:00Z", "can_tie": False}]
OFFERS = [{"game_id": "g-2025-09-14-ars-che", "bet_type": "moneyline", "line": None, "side": "a", "odds": 2.10,
           "offered_at": "2025-09-13T09:00:00Z", "withdrawn_at": None},
          {"game_id": "g-2025-09-14-kc-buf", "bet_type": "spread", "line": 3.5, "side": "b", "odds": 1.91,
           "offered_at": "2025-09-13T09:00:00Z", "withdrawn_at": None},
          {"game_id": "g-2025-09-14-kc-buf", "bet_type": "total", "line": 47.5, "side": "over", "odds": 1.95,
           "offered_at": "2025-09-13T09:00:00Z", "withdrawn_at": None},
          {"game_id": "g-2025-09-14-kc-buf", "bet_type": "total", "line": 47.5, "side": "over", "odds": 1.87,
           "offered_at": "2025-09-14T18:00:00Z", "withdrawn_at": None}]
AT = "2025-09-14T15:00:00Z"


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture
def offers(tmp_path):
    path = tmp_path / "offers.json"
    path.write_text(json.dumps({"games": GAMES, "offers": OFFERS}))
    return str(path)


@pytest.mark.parametrize("args, expected", [
    (["--game", "g-2025-09-14-ars-che", "--type", "moneyline", "--side", "a", "--odds", "2.10", "--wager", "50"],
     {"bet_type": "moneyline", "line": None, "side": "a", "predicted_odds": 2.10, "wager": 50.0}),
    (["--game", "g-2025-09-14-kc-buf", "--type", "spread", "--side", "b", "--line", "3.5", "--odds", "1.91",
      "--wager", "40"], {"bet_type": "spread", "line": 3.5, "side": "b", "predicted_odds": 1.91, "wager": 40.0}),
    (["--game", "g-2025-09-14-kc-buf", "--type", "total", "--side", "over", "--line", "47.5", "--odds", "1.95",
      "--wager", "100", "--spent", "900"], {"bet_type": "total", "line": 47.5, "side": "over", "predicted_odds": 1.95,
                                            "wager": 100.0}),
])
def test_predict_prints_the_prediction(offers, args, expected):
    rc, out, err = cli("bettensor", "predict", *args, "--offers", offers, "--at", AT, "--hotkey", "5Fminer")
    assert rc == 0, err
    p = json.loads(out)
    assert {k: p[k] for k in expected} == expected
    assert p["game_id"] == args[1] and p["hotkey"] == "5Fminer" and len(p["prediction_id"]) == 36


@pytest.mark.parametrize("change, reason", [
    ({"--game": "nope"}, "game"),
    ({"--at": "2025-09-14T20:25:00Z"}, "started"),
    ({"--line": "48.5"}, "level"),
    ({"--at": "2025-09-14T19:00:00Z"}, "odds"),  # re-priced to 1.87 at 18:00
    ({"--wager": "0"}, "wager"),
    ({"--spent": "900.01"}, "balance"),
])
def test_predict_refuses_with_the_reason_and_exit_1(offers, change, reason):
    args = {"--game": "g-2025-09-14-kc-buf", "--type": "total", "--side": "over", "--line": "47.5", "--odds": "1.95",
            "--wager": "100", "--offers": offers, "--at": AT, "--spent": "0"}
    args.update(change)
    rc, out, err = cli("bettensor", "predict", *[x for kv in args.items() for x in kv])
    assert rc == 1 and out == ""
    assert err.startswith(f"refused: {reason}: ")


def test_predict_through_the_console_script(offers):
    """The installed `incentive` command, as the README shows it: exit 1 and one line on a refusal."""
    script = [sys.executable, "-m", "cli.main"]
    base = ["bettensor", "predict", "--game", "g-2025-09-14-ars-che", "--type", "moneyline", "--side", "draw",
            "--odds", "3.4", "--wager", "10", "--offers", offers, "--at", AT]
    done = subprocess.run(script + base, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.strip() == (
        "refused: level: no offer in force for moneyline draw at 2025-09-14T15:00:00.000Z")


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    s = season(4, days=12, games_per_day=8, n_sharp=3, n_square=3, n_reckless=2, n_inactive=1)
    path = tmp_path_factory.mktemp("bt") / "days.json"
    path.write_text(json.dumps(s.export))
    return str(path), s


def test_score_json_format_and_state_carried(days, tmp_path):
    path, s = days
    state = tmp_path / "state.json"
    rc, out, err = cli("bettensor", "score", path, "--day", "2025-09-11", "--json", "--write-state", str(state))
    assert rc == 0, err
    first = json.loads(out)
    assert set(first) == {"day", "managed_days", "miners", "weights", "moves", "refusals", "state"}
    assert first["day"] == "2025-09-11" and first["managed_days"] == 45
    assert json.loads(state.read_text()) == first["state"]
    miner = first["miners"][next(iter(s.role))]
    assert set(miner) == {"uid", "tier", "composite", "components", "settled", "tier_score", "gate", "roi_15d",
                          "roi_days", "wagered_45d", "stake", "ranked", "weight"}
    assert set(miner["components"]) == {"clv", "roi", "risk", "entropy"}
    assert sum(first["weights"].values()) == pytest.approx(1.0)
    assert {r["reason"] for r in first["refusals"]} >= {"duplicate", "odds", "started"}
    # the next day from the state manages one day; the same day again from its own state repeats itself
    rc, out, _ = cli("bettensor", "score", path, "--day", "2025-09-12", "--state", str(state), "--json")
    nxt = json.loads(out)
    assert rc == 0 and nxt["managed_days"] == 1
    fresh = json.loads(cli("bettensor", "score", path, "--day", "2025-09-12", "--json")[1])
    assert nxt["state"]["tiers"] == fresh["state"]["tiers"] and nxt["weights"] == fresh["weights"]
    again = tmp_path / "again.json"
    again.write_text(json.dumps(nxt["state"]))
    rc, out, _ = cli("bettensor", "score", path, "--day", "2025-09-12", "--state", str(again), "--json")
    assert rc == 0 and json.loads(out)["state"] == nxt["state"]
    # a state from a later day is refused with exit 2
    rc, _, err = cli("bettensor", "score", path, "--day", "2025-09-10", "--state", str(again))
    assert rc == 2 and "later day" in err


def test_score_text_lists_every_miner(days):
    path, s = days
    rc, out, _ = cli("bettensor", "score", path, "--day", "2025-09-12")
    assert rc == 0
    assert out.splitlines()[0].startswith(f"Bettensor 2025-09-12: {len(s.role)} miners, 45 day(s)")
    assert all(h[:20] in out for h in s.role)
