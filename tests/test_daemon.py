"""The daemon on its own: sensors add and collect epochs, the reveal waits for the beacon, automation
carries an epoch to a weight set recorded on the devnet chain, and a collection run killed with
SIGKILL mid-epoch is failed, restarted by the block sensor and completes its epoch with every sample
taken before the kill. Bounded in time; stopped by its PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

import profiles
from assets.epochs import EpochBlocks
from assets.partitions import epoch_key, parse_epoch
from devnet.bootstrap import write_bootstrap
from devnet.chain import DevnetChainState
from devnet.world import World
from ledger import Ledger
from orchestration.launcher import run_process, where
from orchestration.sensors import runs_for

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
    ("persistent: 6, stale: 3,", "persistent: 0, stale: 0,"),  # their scoring: tests/test_platform.py
    # At tempo 20 the devnet's 150 days of stake history are 54 000 epochs, which the first vesting run
    # would book before any weights (tests/test_vesting_platform.py covers that catch-up): here vesting
    # starts at the first epoch scored.
    ("  activation_epoch: 100 ", "  activation_epoch: null "),
    # At 20 blocks an epoch, the chain's 100-block rate limit would refuse four epochs' weights in five.
    ("  weights_rate_limit: 100 ", "  weights_rate_limit: 1 "),
)


def binary_only(text: str) -> str:
    """The profile without its HITFIRST and LBFGS challenges: this test is about the daemon, and
    each challenge is a run per epoch (their scoring: tests/test_platform.py)."""
    start, end = text.index("  - name: ETH-HITFIRST-100M\n"), text.index("  - name: ALMANAC\n")
    return text[:start] + text[end:]
FAST_ROLES = {"informative": 12, "noise": 2, "constant": 1, "silent": 1, "clone": 2, "twin": 1, "copycat": 1,
              "persistent": 0, "stale": 0, "young": 2, "malformed": 2, "hostile": 0}


def fast_profile() -> str:
    text = (profiles.DIRECTORY / "devnet.yaml").read_text()
    for old, new in FAST_REPLACEMENTS:
        assert text.count(old) == 1, f"profiles/devnet.yaml no longer has {old!r} exactly once"
        text = text.replace(old, new)
    return binary_only(text)


def test_daemon_carries_epochs_to_a_submission_through_a_killed_collection(tmp_path):
    # No hostile miners: under the reference rule a late lock holds the reveal to the maturity (an hour
    # of world time, 15 min here), as the reference itself waits; tests/test_platform.py has them.
    profile_path = tmp_path / "fast.yaml"
    profile_path.write_text(fast_profile())
    profile = profiles.load(profile_path)  # all nine replacements took effect, as the loaded profile says
    assert (profile.chain.tempo, profile.protocol.lock_rule) == (20, "reference")
    assert [c.name for c in profile.challenges] == ["ETH-1H-BINARY", "ALMANAC"]
    assert (profile.devnet.bootstrap_days, profile.devnet.live_days) == (12, 1)
    assert profile.devnet.roles.model_dump() == FAST_ROLES
    assert profile.vesting.enabled and profile.vesting.activation_epoch is None
    assert profile.devnet.weights_rate_limit == 1
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
    killed = None
    try:
        t0 = time.monotonic()
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
            # The first collection run to take a live sample is killed with SIGKILL, mid-epoch.
            while killed is None and time.monotonic() - t0 < DEADLINE_S:
                assert daemon.poll() is None, f"the daemon exited with {daemon.returncode}:\n{tail(stderr_path)}"
                killed = kill_a_collection_run(instance, ledger, profile)
                time.sleep(0.5)
            assert killed is not None, f"no collection run took a sample within {DEADLINE_S} s\n{tail(stderr_path)}"
            # ... and its epoch is still carried to a weight set: the run is failed, the block sensor
            # starts the collection again, the epoch completes.
            while time.monotonic() - t0 < DEADLINE_S and not ledger.submissions(killed.epoch):
                assert daemon.poll() is None, f"the daemon exited with {daemon.returncode}:\n{tail(stderr_path)}"
                time.sleep(3)
            elapsed = time.monotonic() - t0
            time.sleep(5)  # a second submission of the epoch, were one coming, would be recorded by now
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
    # Nothing failed while the daemon ran but the killed run: no sensor, code server or other run printed
    # a traceback or logged an error (a failed run logs RUN_FAILURE at ERROR; the killed one's is its
    # own line). The shutdown's KeyboardInterrupts come later.
    errors = [line for line in running.splitlines() if b"Traceback" in line or b" - ERROR - " in line]
    assert all(killed.run_id.encode() in line for line in errors), b"\n".join(errors)[:4000]
    submissions = [s for s in ledger.submissions() if s.sent]
    assert submissions and submissions[0].weights == tuple(recorded[0]["weights"])
    assert_the_killed_epoch_completed(killed, ledger, dagster_home, profile)
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        runs = instance.get_runs()
        keys = instance.get_dynamic_partitions("epochs")
        reveals = instance.get_run_records(dg.RunsFilter(job_name="reveal"))
        tags = [r.tags.get("dagster/run_key", "") for r in runs]
    assert keys and any(t.startswith("collect-") for t in tags) and any(t.startswith("reveal-") for t in tags)
    assert len(runs) > len([t for t in tags if t]), "automation launched runs of its own (no run key)"
    assert_reveals_waited_for_the_beacon(reveals, state, ledger, profile)
    print(f"killed epoch {killed.epoch}'s collection (pid {killed.pid}) after {len(killed.before)} samples; "
          f"its weights after {elapsed:.0f} s; {len(keys)} epochs, {len(runs)} runs, {len(reveals)} reveals")


@dataclass
class Killed:
    epoch: int
    run_id: str
    pid: int
    before: list  # the epoch's samples in the ledger when the run was killed
    payloads: list  # and their payload rows


def kill_a_collection_run(instance: dg.DagsterInstance, ledger: Ledger, profile) -> Killed | None:
    """SIGKILL the process of a started collection run that has taken a live sample; None if none has yet.

    Not the first epoch's: the block sensor may add it before automation first looks, and automation
    never submits a partition that existed before its first look (dagster_practices.md §4.2)."""
    keys = instance.get_dynamic_partitions("epochs")
    for run in instance.get_runs(dg.RunsFilter(job_name="collection", statuses=[dg.DagsterRunStatus.STARTED])):
        if not keys or run.tags["dagster/partition"] == keys[0]:
            continue
        epoch = parse_epoch(run.tags["dagster/partition"])
        sidx = EpochBlocks.of(epoch, profile).sidx_range
        started = run_process(instance, run.run_id)
        if started and any(s.status == "taken" for s in ledger.samples(sidx.start, sidx.stop)):
            os.kill(started[0], signal.SIGKILL)
            before = ledger.samples(sidx.start, sidx.stop)
            return Killed(epoch, run.run_id, started[0], before, ledger.raw_payloads(sidx.start, before[-1].sidx + 1))
    return None


def assert_the_killed_epoch_completed(killed: Killed, ledger: Ledger, dagster_home: Path, profile) -> None:
    """The killed run was marked failed; a second collection finished the epoch, every sample taken
    before the kill kept as it was and later ones taken live; the epoch's weights went out once."""
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        dead = instance.get_run_by_id(killed.run_id)
        assert dead.status == dg.DagsterRunStatus.FAILURE
        assert {k: dead.tags.get(k) for k in where()} == where()  # the launcher marked where it ran it
        runs = runs_for(instance, "collection", epoch_key(killed.epoch))
        assert len(runs) == 2 and runs[0].status == dg.DagsterRunStatus.SUCCESS, [(r.run_id, r.status) for r in runs]
        assert runs[0].tags["dagster/run_key"] == f"collect-{epoch_key(killed.epoch)}-1"
    sidx = EpochBlocks.of(killed.epoch, profile).sidx_range
    after = ledger.samples(sidx.start, sidx.stop)
    assert after[: len(killed.before)] == killed.before  # nothing taken before the kill was lost or changed
    assert ledger.raw_payloads(sidx.start, killed.before[-1].sidx + 1) == killed.payloads
    assert [s.sidx for s in after] == list(sidx)  # every sample of the epoch is accounted for: taken or missed
    assert any(s.status == "taken" for s in after[len(killed.before):]), after  # the second run sampled live
    (submission,) = ledger.submissions(killed.epoch)
    assert submission.sent
    stored = ledger.weights(killed.epoch)
    assert len(ledger.devnet_weights(submission.hotkey)) == len([s for s in ledger.submissions() if s.sent])
    assert list(submission.weights) == [q for q in stored.u16 if q > 0]


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
