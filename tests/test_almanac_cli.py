"""`incentive almanac score`: the snapshot in, the documented JSON out, one-line errors."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main
from devnet.almanac.trades import generate_snapshot
from mechanisms.almanac.params import AlmanacParams
from mechanisms.almanac.scoring import score_snapshot

INCENTIVE = str(Path(sys.executable).parent / "incentive")
TODAY = dt.date(2026, 12, 5)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> tuple[Path, dict]:
    snap = generate_snapshot(3, TODAY, epoch_budget=400.0, garbage=9)
    path = tmp_path_factory.mktemp("almanac") / "snapshot.json"
    path.write_text(json.dumps(snap))
    return path, snap


def score(capsys, *args: str) -> dict:
    assert main(["almanac", "score", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_prints_every_entity_and_uid_in_the_documented_shape(snapshot, capsys):
    path, snap = snapshot
    out = score(capsys, str(path), "--today", TODAY.isoformat())
    assert set(out) == {"pools", "weights", "miners_to_penalize", "skipped"}
    assert set(out["pools"]) == {"miner", "gp"}
    for pool in out["pools"].values():
        assert set(pool) == {"tokens", "budget", "kappa", "sol1", "sol2", "n_entities"}
        assert len(pool["tokens"]) == pool["n_entities"] > 0
        assert pool["sol1"] == {"status": "optimal"} and pool["sol2"] == {"status": "optimal"}
        assert 0 < sum(pool["tokens"].values()) <= pool["budget"] * (1 + 1e-12)
        assert 0 < pool["kappa"] < 0.03
    assert list(out["weights"]) == [str(u) for u in snap["all_uids"]]
    assert sum(out["weights"].values()) == pytest.approx(1.0, abs=1e-12)
    assert out["weights"]["210"] > 0.5
    assert sum(out["skipped"].values()) == 9 and "not_an_object" in out["skipped"]
    roles = snap["roles"]
    penalised = {roles[str(u)] for u in out["miners_to_penalize"]}
    assert {"two_profiles", "bad_commitment"} <= penalised
    # the same numbers as the mechanism called directly
    direct = score_snapshot(snap["data"], snap["all_uids"], snap["all_hotkeys"],
                            {int(k): v for k, v in snap["commitments"].items()}, 400.0, TODAY)
    assert out["weights"] == {str(u): w for u, w in direct.weights.items()}


def test_variant_mode_and_burn_uid(snapshot, capsys):
    path, _ = snapshot
    base = score(capsys, str(path), "--today", TODAY.isoformat())
    seed = score(capsys, str(path), "--today", TODAY.isoformat(), "--variant", "seed_excerpt")
    assert seed["pools"]["miner"]["tokens"] != base["pools"]["miner"]["tokens"]
    fixed = score(capsys, str(path), "--today", TODAY.isoformat(), "--mode", "fixed")
    assert len(fixed["miners_to_penalize"]) <= len(base["miners_to_penalize"])
    burn = score(capsys, str(path), "--today", TODAY.isoformat(), "--burn-uid", "0")
    assert burn["weights"]["0"] == pytest.approx(base["weights"]["210"]) and burn["weights"]["210"] == 0.0
    later = score(capsys, str(path), "--today", (TODAY + dt.timedelta(days=40)).isoformat())
    assert later["pools"]["miner"]["n_entities"] == 0 and later["pools"]["miner"]["kappa"] is None
    assert later["pools"]["miner"]["sol1"]["status"] == "empty" and later["weights"]["210"] == 1.0


def test_text_output_names_pools_and_penalties(snapshot, capsys):
    path, _ = snapshot
    assert main(["almanac", "score", str(path), "--today", TODAY.isoformat()]) == 0
    text = capsys.readouterr().out
    assert "miner pool:" in text and "general pool:" in text and "penalised uid" in text


@pytest.mark.parametrize("content,message", [
    ("[1, 2]", "is not a JSON object"),
    ("{nope", "is not JSON"),
    ('{"all_uids": [], "all_hotkeys": [], "commitments": {}, "data": []}', "lacks current_epoch_budget"),
    ('{"all_uids": [-1], "all_hotkeys": [], "commitments": {}, "current_epoch_budget": 1, "data": []}',
     "all_uids"),
    ('{"all_uids": [], "all_hotkeys": [], "commitments": {}, "current_epoch_budget": 0, "data": []}',
     "current_epoch_budget"),
    ('{"all_uids": [], "all_hotkeys": [], "commitments": {"x": "a"}, "current_epoch_budget": 5, "data": []}',
     "not a uid"),
    ('{"all_uids": [], "all_hotkeys": [], "commitments": {}, "current_epoch_budget": 5, "data": {}}',
     "data must be a list"),
])
def test_a_bad_snapshot_exits_non_zero_with_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main(["almanac", "score", str(path), "--today", "2026-12-05", "--json"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and message in out.err


def test_the_console_script_exits_2_with_one_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('"a string"')
    done = subprocess.run([INCENTIVE, "almanac", "score", str(path), "--today", "2026-12-05", "--json"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"incentive: {path}: the snapshot is not a JSON object (got str)\n"


def test_bad_arguments(tmp_path, capsys):
    assert main(["almanac", "score", str(tmp_path / "absent.json"), "--today", "2026-12-05"]) == 2
    assert "cannot read" in capsys.readouterr().err
    path = tmp_path / "s.json"
    path.write_text('{"all_uids": [], "all_hotkeys": [], "commitments": {}, "current_epoch_budget": 5, "data": []}')
    assert main(["almanac", "score", str(path), "--today", "05/12/2026"]) == 2
    assert "--today" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["almanac", "score", str(path), "--today", "2026-12-05", "--variant", "tail"])


def test_an_empty_snapshot_burns_everything(tmp_path, capsys):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"all_uids": [0, 210], "all_hotkeys": ["a"] * 211, "commitments": {},
                                "current_epoch_budget": 5, "data": [], "extra": "ignored"}))
    out = score(capsys, str(path), "--today", "2026-12-05")
    assert out["weights"] == {"0": 0.0, "210": 1.0} and out["skipped"] == {}
    assert AlmanacParams().burn_uid == 210


@pytest.mark.parametrize("content,message", [
    ('{"all_uids": [1, 1], "all_hotkeys": [], "commitments": {}, "current_epoch_budget": 5, "data": []}',
     "more than once"),
    ('{"all_uids": [], "all_hotkeys": [], "commitments": {"' + "1" * 5000 + '": null}, "current_epoch_budget": 5,'
     ' "data": []}', "is not a uid"),
])
def test_snapshot_shapes_that_would_skew_or_crash(tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main(["almanac", "score", str(path), "--today", "2026-12-05"]) == 2
    assert message in capsys.readouterr().err


def test_out_of_range_today_and_a_missing_burn_uid(tmp_path, capsys):
    path = tmp_path / "s.json"
    path.write_text('{"all_uids": [0, 1], "all_hotkeys": ["a", "b"], "commitments": {}, "current_epoch_budget": 5,'
                    ' "data": []}')
    assert main(["almanac", "score", str(path), "--today", "0001-01-15"]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(["almanac", "score", str(path), "--today", "2026-12-05", "--json"]) == 0
    out = capsys.readouterr()
    assert "burn uid 210 is not in the metagraph" in out.err and json.loads(out.out)["weights"] == {"0": 0.0, "1": 0.0}


def test_the_snapshots_today_and_params_are_used_and_flags_override_them(snapshot, tmp_path, capsys):
    _, snap = snapshot
    path = tmp_path / "with.json"
    params = {"window_days": 20, "min_trades": 2, "mode": "fixed", "burn_uid": 0}
    path.write_text(json.dumps(snap | {"today": TODAY.isoformat(), "params": params}))
    out = score(capsys, str(path))
    args = (snap["data"], snap["all_uids"], snap["all_hotkeys"], {int(k): v for k, v in snap["commitments"].items()},
            snap["current_epoch_budget"], TODAY)
    expected = score_snapshot(*args, AlmanacParams(**params))
    assert out["weights"] == {str(u): w for u, w in expected.weights.items()}
    assert out["weights"] != {str(u): w for u, w in score_snapshot(*args).weights.items()}
    flagged = score(capsys, str(path), "--mode", "compat", "--burn-uid", "210")
    again = score_snapshot(*args, AlmanacParams(**params | {"mode": "compat", "burn_uid": 210}))
    assert flagged["weights"] == {str(u): w for u, w in again.weights.items()}


@pytest.mark.parametrize("extra,message", [
    ({"today": "20261205"}, "YYYY-MM-DD"),
    ({"today": 20261205}, "YYYY-MM-DD"),
    ({}, "--today is needed"),
    ({"today": "2026-12-05", "params": {"window_dayz": 3}}, "unknown Almanac parameter"),
    ({"today": "2026-12-05", "params": {"window_days": "30"}}, "window_days must be a finite int"),
    ({"today": "2026-12-05", "params": {"relieve_dust": 1}}, "relieve_dust must be a finite bool"),
    ({"today": "2026-12-05", "params": {"rho_cap": float("inf")}}, "rho_cap must be a finite float"),
    ({"today": "2026-12-05", "params": {"mode": "loose"}}, "mode must be one of"),
    ({"today": "2026-12-05", "params": [1]}, '"params" must be an object'),
])
def test_a_bad_today_or_params_in_the_snapshot_exits_2(tmp_path, capsys, extra, message):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"all_uids": [], "all_hotkeys": [], "commitments": {}, "current_epoch_budget": 5,
                                "data": []} | extra))
    assert main(["almanac", "score", str(path), "--json"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_deep_nesting_and_huge_integers_in_records_cost_only_their_record(tmp_path):
    """Records are miners' text: deep nesting is refused before parsing (it would overflow the C
    stack once py_ecc raised the recursion limit), a 5000-digit integer fails only its record."""
    head = '{"today": "2026-12-05", "all_uids": [], "all_hotkeys": [], "commitments": {}, "current_epoch_budget": 5, '
    deep = tmp_path / "deep.json"
    deep.write_text(head + '"data": [' + '{"a":' * 90_000 + "1" + "}" * 90_000 + "]}")
    done = subprocess.run([INCENTIVE, "almanac", "score", str(deep), "--json"], capture_output=True, text=True)
    assert done.returncode == 2 and "nested deeper" in done.stderr
    big = tmp_path / "big.json"
    record = json.dumps({"account_id": 1, "profile_id": "0x1", "is_general_pool": True, "is_completed": True,
                         "completed_at": "2026-12-04T00:00:00Z", "volume": 7, "expected_fees": 0.1,
                         "actual_fees": 0.1, "pnl": 1.0, "is_correct": True, "is_reward_eligible": True})
    big.write_text(head + '"data": [' + record.replace('"volume": 7', '"volume": ' + "9" * 5000) + "," + record + "]}")
    done = subprocess.run([INCENTIVE, "almanac", "score", str(big), "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["skipped"] == {"not_finite:volume": 1} and out["pools"]["gp"]["n_entities"] == 1
