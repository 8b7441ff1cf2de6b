"""`incentive payload build | open`: the console script, exit codes and output."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main
from mechanisms.mantis.panel import Panel
from protocol.drand import LocalBeacon
from tests import vectors as v

INCENTIVE = str(Path(sys.executable).parent / "incentive")
BEACON = LocalBeacon.from_seed(b"cli-tests".ljust(32, b"\0"), genesis=v.GENESIS)
LOCAL = ["--beacon-pk", BEACON.chain.public_key.hex(), "--genesis", str(v.GENESIS), "--period", "3"]


def test_console_script_opens_fixture_c():
    done = subprocess.run(
        [INCENTIVE, "payload", "open", str(v.FIXTURE_C_PATH), "--signature", v.SIG_1000.hex()],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ETH": [0.1, -0.2], "hotkey": v.ALICE}


def test_open_refuses_wrong_signature_with_reason(capsys):
    code = main(["payload", "open", str(v.FIXTURE_C_PATH), "--signature", v.SIG_123.hex()])
    assert code == 1
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith("rejected: signature:")
    code = main(["payload", "open", str(v.FIXTURE_C_PATH), "--signature", v.SIG_123.hex(), "--no-verify"])
    assert code == 1 and capsys.readouterr().err.startswith("rejected: timelock:")


def test_open_refuses_payload_for_another_hotkey(capsys):
    code = main(["payload", "open", str(v.FIXTURE_C_PATH), "--signature", v.SIG_1000.hex(), "--hotkey", v.BOB])
    assert code == 1 and "rejected: hotkey:" in capsys.readouterr().err


def test_build_then_open_with_local_beacon(tmp_path, capsys):
    out = tmp_path / "payload.json"
    now = BEACON.chain.reveal_time(5000)
    code = main(["payload", "build", "--hotkey", v.ALICE, "--values", '{"ETH":[0.25,-0.5]}',
                 "--lock-seconds", "3600", "--now", str(now), "--out", str(out), *LOCAL])
    assert code == 0
    payload = json.loads(out.read_text())
    assert payload["round"] == BEACON.chain.round_at(now + 3600) == 5000 + 1200
    assert BEACON.chain.reveal_time(payload["round"]) >= now + 3600
    capsys.readouterr()
    sig = BEACON.signature(payload["round"], now=now + 3600).hex()
    assert main(["payload", "open", str(out), "--signature", sig, *LOCAL]) == 0
    assert json.loads(capsys.readouterr().out) == {"ETH": [0.25, -0.5], "hotkey": v.ALICE}
    # The quicknet key (the default) refuses the local beacon's signature before decrypting.
    assert main(["payload", "open", str(out), "--signature", sig]) == 1
    assert "rejected: signature" in capsys.readouterr().err


def test_build_values_from_file_with_explicit_round(tmp_path, capsys):
    values = tmp_path / "values.json"
    values.write_text('{"CADUSD": [0.1, 0.1]}')
    assert main(["payload", "build", "--hotkey", v.BOB, "--values", f"@{values}", "--round", "77", *LOCAL]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["round"] == 77 and payload["hk"] == v.BOB


@pytest.mark.parametrize(
    "argv",
    [
        ["payload", "open", "/nonexistent/payload.json", "--signature", v.SIG_1000.hex()],
        ["payload", "build", "--hotkey", "x", "--values", "[1]", "--round", "5"],
        ["payload", "build", "--hotkey", "x", "--values", "{not json", "--round", "5"],
        ["payload", "build", "--hotkey", "x", "--values", "{}", "--round", "5", "--beacon-pk", "00" * 96],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("incentive: ")


@pytest.mark.parametrize("signature", ["zz", "00" * 47, "0x" + "00" * 49])
def test_malformed_signature_argument_exits_2(signature):
    with pytest.raises(SystemExit) as exc:
        main(["payload", "open", str(v.FIXTURE_C_PATH), "--signature", signature])
    assert exc.value.code == 2


def test_open_reads_stdin():
    done = subprocess.run(
        [INCENTIVE, "payload", "open", "-", "--signature", "0x" + v.SIG_1000.hex().upper()],
        input=v.FIXTURE_C_PATH.read_bytes(), capture_output=True, check=False,
    )
    assert done.returncode == 0 and json.loads(done.stdout)["hotkey"] == v.ALICE


def test_panel_generate_then_score(tmp_path, capsys):
    out = tmp_path / "panel.npz"
    assert main(["panel", "generate", "--challenge", "ETH", "--out", str(out), "--seed", "4",
                 "--miners", "16", "--days", "12"]) == 0
    assert "16 miners" in capsys.readouterr().err
    assert main(["score", "--panel", str(out), "--challenge", "ETH-1H-BINARY", "--json"]) == 0
    salience = json.loads(capsys.readouterr().out)
    panel = Panel.load(out, "ETH-1H-BINARY")
    assert set(salience) == set(panel.hotkeys)
    assert abs(sum(salience.values()) - 1) < 1e-9
    best = max(salience, key=salience.get)
    assert panel.roles[panel.hotkeys.index(best)] in ("informative", "twin", "clone")
    assert main(["score", "--panel", str(out), "--challenge", "ETH"]) == 0
    assert capsys.readouterr().out.startswith("ETH-1H-BINARY (binary, fixed mode)")


def test_score_with_other_key_prefix(tmp_path, capsys):
    out = tmp_path / "panel.npz"
    assert main(["panel", "generate", "--challenge", "ETH", "--out", str(out), "--key", "ETH", "--days", "1",
                 "--miners", "12"]) == 0
    assert main(["score", "--panel", str(out), "--challenge", "ETH-1H-BINARY", "--key", "ETH", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {}  # one day: too little to learn from


@pytest.mark.parametrize(
    "argv",
    [
        ["score", "--panel", "/nonexistent.npz", "--challenge", "ETH"],
        ["score", "--panel", str(v.FIXTURE_C_PATH), "--challenge", "ETH"],
        ["score", "--panel", "x.npz", "--challenge", "NOPE"],
        ["score", "--panel", "x.npz", "--challenge", "ETH", "--profile", "/nonexistent.yaml"],
        ["panel", "generate", "--challenge", "NOPE", "--out", "x.npz"],
    ],
)
def test_score_usage_errors(argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("incentive: ")


@pytest.mark.parametrize("challenge, dim", [("ETH-HITFIRST-100M", 3), ("ETHLBFGS", 17)])
def test_panel_generate_then_score_the_probability_challenges(tmp_path, capsys, challenge, dim):
    out = tmp_path / "panel.npz"
    assert main(["panel", "generate", "--challenge", challenge, "--out", str(out), "--seed", "4",
                 "--miners", "16", "--days", "12"]) == 0  # HITFIRST: 7 200 rows of σ before 7 200 labels
    assert f"× {dim} (seed 4" in capsys.readouterr().err
    name = "ETH-LBFGS" if challenge == "ETHLBFGS" else challenge
    panel = Panel.load(out, name)
    assert panel.embeddings.shape[1:] == (16, dim) and panel.roles.count("informative") >= 8
    assert main(["score", "--panel", str(out), "--challenge", challenge, "--json"]) == 0
    salience = json.loads(capsys.readouterr().out)
    assert set(salience) == set(panel.hotkeys) and abs(sum(salience.values()) - 1) < 1e-9
    best = max(salience, key=salience.get)
    assert panel.roles[panel.hotkeys.index(best)] in ("informative", "twin", "clone")
