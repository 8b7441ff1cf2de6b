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
from assets.epochs import EpochBlocks
from assets.partitions import parse_epoch
from devnet.bootstrap import write_bootstrap
from devnet.chain import DevnetChainState
from devnet.world import World
from ledger import Ledger

pytestmark = [pytest.mark.slow, pytest.mark.integration]
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEADLINE_S = 420
SPEED = 4.0  # world seconds per wall second: a 20-block epoch lasts 60 s

# The fast profile: each replacement must hit the default profile exactly once, so a change to
# devnet.yaml that one of them no longer matches fails here instead of silently running the default.
FAST_REPLACEMENTS = (
    ("  tempo: 360 ", "  tempo: 20 "),
    ("  lock_rule: horizon", "  lock_rule: reference"),
    ("  bootstrap_days: 14", "  bootstrap_days: 12"),
    ("  live_days: 2", "  live_days: 1"),
    ("young: 6, malformed: 2, hostile: 7}", "young: 2, malformed: 2, hostile: 0}"),
    ("informative: 24, noise: 6, constant: 3, silent: 2, clone: 3, twin: 1, copycat: 3",
     "informative: 12, noise: 2, constant: 1, silent: 1, clone: 2, twin: 1, copycat: 1"),
)
FAST_ROLES = {"informative": 12, "noise": 2, "constant": 1, "silent": 1, "clone": 2, "twin": 1, "copycat": 1,
              "young": 2, "malformed": 2, "hostile": 0}


def fast_profile() -> str:
    text = (profiles.DIRECTORY / "devnet.yaml").read_text()
    for old, new in FAST_REPLACEMENTS:
        assert text.count(old) == 1, f"profiles/devnet.yaml no longer has {old!r} exactly once"
        text = text.replace(old, new)
    return text


def test_daemon_runs_epochs_to_a_submission(tmp_path):
    # No hostile miners: under the reference rule a late lock holds the reveal to the maturity (an hour
    # of world time, 15 min here), as the reference itself waits; tests/test_platform.py has them.
    profile_path = tmp_path / "fast.yaml"
    profile_path.write_text(fast_profile())
    profile = profiles.load(profile_path)  # all six replacements took effect, as the loaded profile says
    assert (profile.chain.tempo, profile.protocol.lock_rule) == (20, "reference")
    assert (profile.devnet.bootstrap_days, profile.devnet.live_days) == (12, 1)
    assert profile.devnet.roles.model_dump() == FAST_ROLES
    dagster_home, home = tmp_path / "dagster", tmp_path / "incentive"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").symlink_to(ROOT / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k != "INCENTIVE_LEDGER_URL"}
    env |= {"DAGSTER_HOME": str(dagster_home), "INCENTIVE_HOME": str(home), "INCENTIVE_PROFILE": str(profile_path),
            "PATH": f"{BIN}:{env.get('PATH', '')}"}

    home.mkdir()
    ledger = Ledger(f"sqlite:///{home}/ledger.sqlite")
    state = DevnetChainState(World(profile), ledger)
    state.install()
    write_bootstrap(state.world, ledger)
    state.clock.set_scaled(SPEED)
    validator = state.world.validator.ss58_address

    # The daemon's stderr (its code server's and its runs' too) goes to a file, so the child can never
    # block on a full pipe; it is shown when the test fails.
    stderr_path = tmp_path / "daemon.stderr"
    with stderr_path.open("wb") as stderr:
        daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")], cwd=ROOT,
                                  env=env, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < DEADLINE_S and not ledger.devnet_weights(validator):
            assert daemon.poll() is None, f"the daemon exited with {daemon.returncode}:\n{tail(stderr_path)}"
            time.sleep(3)
        elapsed = time.monotonic() - t0
        running = stderr_path.read_bytes()  # what it wrote while running, before the shutdown below
    finally:
        os.killpg(daemon.pid, signal.SIGINT)  # the process group this test started, by its PID
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()

    recorded = ledger.devnet_weights(validator)
    assert recorded, f"no weights set within {DEADLINE_S} s\n{tail(stderr_path)}"
    # Nothing failed while the daemon ran: no sensor, code server or run printed a traceback or logged
    # an error (a failed run logs RUN_FAILURE at ERROR). The shutdown's KeyboardInterrupts come later.
    first = min((running.find(m) for m in (b"Traceback", b" - ERROR - ") if m in running), default=-1)
    assert first < 0, running[max(0, first - 500) : first + 3500].decode(errors="replace")
    submissions = [s for s in ledger.submissions() if s.sent]
    assert submissions and submissions[0].weights == tuple(recorded[0]["weights"])
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        runs = instance.get_runs()
        keys = instance.get_dynamic_partitions("epochs")
        reveals = instance.get_run_records(dg.RunsFilter(job_name="reveal"))
        tags = [r.tags.get("dagster/run_key", "") for r in runs]
    assert keys and any(t.startswith("collect-") for t in tags) and any(t.startswith("reveal-") for t in tags)
    assert len(runs) > len([t for t in tags if t]), "automation launched runs of its own (no run key)"
    assert_reveals_waited_for_the_beacon(reveals, state, ledger, profile)
    print(f"first weights after {elapsed:.0f} s; {len(keys)} epochs, {len(runs)} runs, {len(reveals)} reveals")


def assert_reveals_waited_for_the_beacon(reveals, state: DevnetChainState, ledger: Ledger, profile) -> None:
    """The reveal waits for the beacon: a reveal run is created only once every drand round its epoch's
    payloads name is published (or that sample's round deadline has passed), and the wait is real: some
    revealed epoch still had an unpublished round when its last block came.

    Times: a run's creation time is wall-clock (SQLite keeps whole seconds, so the true instant is up
    to 1 s later); the devnet clock maps it to world time, in which the beacon publishes.
    """
    clock = ledger.devnet_get("clock")
    assert clock["mode"] == "scaled", clock

    def world(wall: float) -> float:
        return clock["world_anchor"] + (wall - clock["wall_anchor"]) * clock["speed"]

    beacon = state.world.beacon.chain
    assert reveals, "no reveal run was created"
    waited = 0
    for record in reveals:
        key = record.dagster_run.tags["dagster/partition"]
        blocks = EpochBlocks.of(parse_epoch(key), profile)
        lo, hi = blocks.sidx_range.start, blocks.sidx_range.stop
        taken_at = {s.sidx: s.taken_at for s in ledger.samples(lo, hi) if s.status == "taken"}
        rounds = {sidx: r for sidx, r in ledger.payload_rounds(lo, hi).items() if sidx in taken_at}
        assert rounds, f"epoch {key} was revealed with no payload naming a round"
        created = world(record.create_timestamp.timestamp() + 1.0)  # the latest it can have been
        for sidx, named in rounds.items():
            if created < taken_at[sidx] + profile.round_deadline_seconds():
                early = sorted(r for r in named if not beacon.is_published(r, created))
                assert not early, f"reveal of epoch {key} created before round(s) {early} were published"
        last = max(max(named) for named in rounds.values())
        waited += beacon.reveal_time(last) > state.world.time_of(blocks.last)
    assert waited, "every revealed epoch's rounds were out by its last block: the test shows no wait"


def tail(path: Path, limit: int = 4000) -> str:
    return path.read_bytes()[-limit:].decode(errors="replace")
