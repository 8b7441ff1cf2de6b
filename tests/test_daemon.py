"""The daemon on its own: sensors add and collect epochs, the reveal waits for the beacon, automation
carries an epoch to a weight set recorded on the devnet chain. Bounded in time; stopped by its PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

import profiles
from devnet.bootstrap import write_bootstrap
from devnet.chain import DevnetChainState
from devnet.world import World
from ledger import Ledger

pytestmark = [pytest.mark.slow, pytest.mark.integration]
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEADLINE_S = 420
SPEED = 4.0  # world seconds per wall second: a 20-block epoch lasts 60 s

FAST_PROFILE = (profiles.DIRECTORY / "devnet.yaml").read_text().replace(
    "  tempo: 360 ", "  tempo: 20 "
).replace(
    "  lock_rule: horizon", "  lock_rule: reference"
).replace(
    "  bootstrap_days: 14", "  bootstrap_days: 12"
).replace(
    "  live_days: 2", "  live_days: 1"
).replace(
    "young: 6, malformed: 2, hostile: 7}", "young: 2, malformed: 2, hostile: 0}"
).replace(
    "informative: 24, noise: 6, constant: 3, silent: 2, clone: 3, twin: 1, copycat: 3",
    "informative: 12, noise: 2, constant: 1, silent: 1, clone: 2, twin: 1, copycat: 1",
)


def test_daemon_runs_epochs_to_a_submission(tmp_path):
    # No hostile miners: under the reference rule a late lock holds the reveal to the maturity (an hour
    # of world time, 15 min here), as the reference itself waits; tests/test_platform.py has them.
    assert "tempo: 20 " in FAST_PROFILE and "lock_rule: reference" in FAST_PROFILE and "hostile: 0}" in FAST_PROFILE
    profile_path = tmp_path / "fast.yaml"
    profile_path.write_text(FAST_PROFILE)
    dagster_home, home = tmp_path / "dagster", tmp_path / "incentive"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").symlink_to(ROOT / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k != "INCENTIVE_LEDGER_URL"}
    env |= {"DAGSTER_HOME": str(dagster_home), "INCENTIVE_HOME": str(home), "INCENTIVE_PROFILE": str(profile_path),
            "PATH": f"{BIN}:{env.get('PATH', '')}"}

    home.mkdir()
    ledger = Ledger(f"sqlite:///{home}/ledger.sqlite")
    state = DevnetChainState(World(profiles.load(profile_path)), ledger)
    state.install()
    write_bootstrap(state.world, ledger)
    state.clock.set_scaled(SPEED)
    validator = state.world.validator.ss58_address

    daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < DEADLINE_S and not ledger.devnet_weights(validator):
            assert daemon.poll() is None, daemon.stderr.read().decode()[-3000:]
            time.sleep(3)
        elapsed = time.monotonic() - t0
    finally:
        os.killpg(daemon.pid, signal.SIGINT)  # the process group this test started, by its PID
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()

    recorded = ledger.devnet_weights(validator)
    assert recorded, f"no weights set within {DEADLINE_S} s"
    submissions = [s for s in ledger.submissions() if s.sent]
    assert submissions and submissions[0].weights == tuple(recorded[0]["weights"])
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        runs = instance.get_runs()
        keys = instance.get_dynamic_partitions("epochs")
        tags = [r.tags.get("dagster/run_key", "") for r in runs]
    assert keys and any(t.startswith("collect-") for t in tags) and any(t.startswith("reveal-") for t in tags)
    assert len(runs) > len([t for t in tags if t]), "automation launched runs of its own (no run key)"
    print(f"first weights after {elapsed:.0f} s; {len(keys)} epochs, {len(runs)} runs")
