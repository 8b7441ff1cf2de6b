"""Run monitoring as dagster.yaml configures it: a run whose process is killed is found and marked failed,
and a run the check cannot see is never failed.

The run here executes in a process of its own (no code server to notice its death) with the tags the
launcher gives the runs it launches, so only the health check can tell: it is what the monitoring
daemon calls every poll.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events.log import EventLogEntry
from dagster._core.launcher.base import WorkerStatus
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from assets.partitions import PROFILE
from orchestration.jobs import collect_job
from orchestration.launcher import (BOOT, HOST, PID_NS, MonitoredRunLauncher, process_started_at, run_process,
                                    run_worker_health, where)

ROOT = Path(__file__).resolve().parent.parent
CHILD = textwrap.dedent("""
    import json
    import sys
    import time
    import dagster as dg

    @dg.asset
    def waits() -> int:
        time.sleep(120)
        return 1

    dg.materialize([waits], instance=dg.DagsterInstance.get(), tags=json.loads(sys.argv[1]))
""")


@pytest.fixture
def instance(tmp_path):
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").symlink_to(ROOT / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def test_the_instance_monitors_runs_with_the_checking_launcher(instance):
    assert isinstance(instance.run_launcher, MonitoredRunLauncher)
    assert instance.run_monitoring_enabled and instance.run_launcher.supports_check_run_worker_health
    assert instance.run_monitoring_poll_interval_seconds <= 30
    assert instance.run_monitoring_max_resume_run_attempts == 0  # the default launcher cannot resume a run
    # a collection alive but stuck for two epochs' time is cancelled and failed by the same daemon
    assert int(collect_job.tags["dagster/max_runtime"]) == 2 * PROFILE.chain.tempo * PROFILE.chain.block_time


@pytest.mark.integration
def test_a_killed_run_is_marked_failed_by_run_monitoring(instance, tmp_path):
    env = os.environ | {"DAGSTER_HOME": str(Path(instance.root_directory))}
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(where())], env=env, cwd=tmp_path, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = instance.get_runs()
            if runs and runs[0].status == dg.DagsterRunStatus.STARTED and run_process(instance, runs[0].run_id):
                break
            assert child.poll() is None, "the run's process exited before its run started"
            time.sleep(0.2)
        else:
            pytest.fail("the run never started")
        run = runs[0]
        pid, _ = run_process(instance, run.run_id)
        assert pid == child.pid
        health = run_worker_health(instance, run)
        assert health.status == WorkerStatus.RUNNING, health

        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED  # nobody else noticed
        record = instance.get_run_record_by_id(run.run_id)
        monitor_started_run(instance, None, record, logging.getLogger("test"))
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    after = instance.get_run_by_id(run.run_id)
    assert after.status == dg.DagsterRunStatus.FAILURE
    failure = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    assert failure and f"pid {pid}" in failure[0].event_log_entry.dagster_event.message


def a_run(instance, tags: dict[str, str], pid: int, started: float) -> dg.DagsterRun:
    """A run record whose RUN_START event says process `pid` started it at `started`."""
    run = instance.create_run_for_job(dg.GraphDefinition("g").to_job(), tags=tags)
    event = dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, job_name=run.job_name, pid=pid)
    instance.store_event(EventLogEntry(error_info=None, level=logging.DEBUG, user_message="", run_id=run.run_id,
                                       timestamp=started, dagster_event=event))
    return instance.get_run_by_id(run.run_id)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_pid_taken_by_a_newer_process_is_not_the_run(instance):
    """The kernel reuses pids: a live process that started well after the run did is not the run's."""
    me = process_started_at(os.getpid())
    here = where()
    assert here and me is not None and abs(me - time.time()) < 3600 * 24 * 365
    assert run_worker_health(instance, a_run(instance, here, os.getpid(), me - 600)).status == WorkerStatus.FAILED
    # a forward step of the wall clock of a few minutes moves the computed start: still the run's
    assert run_worker_health(instance, a_run(instance, here, os.getpid(), me - 60)).status == WorkerStatus.RUNNING
    assert run_worker_health(instance, a_run(instance, here, os.getpid(), me + 1)).status == WorkerStatus.RUNNING


def test_only_runs_this_machine_launched_are_judged(instance):
    """A run the check cannot see is running as far as it knows; one from before a reboot is gone."""
    here, gone = where(), dead_pid()
    assert run_worker_health(instance, a_run(instance, here, gone, time.time())).status == WorkerStatus.FAILED
    unseen = [{}, here | {HOST: "another-machine"}, here | {PID_NS: "1"}]  # the CLI's own runs carry no tags
    for tags in unseen:
        health = run_worker_health(instance, a_run(instance, tags, gone, time.time()))
        assert health.status == WorkerStatus.RUNNING and "not checked" in health.msg, tags
    rebooted = run_worker_health(instance, a_run(instance, here | {BOOT: "an-earlier-boot"}, os.getpid(), time.time()))
    assert rebooted.status == WorkerStatus.FAILED and "restarted" in rebooted.msg


def test_a_process_table_it_may_not_read_is_not_a_death(instance, monkeypatch):
    import orchestration.launcher as launcher

    def forbidden(pid: int) -> float:
        raise PermissionError(13, "hidepid")

    monkeypatch.setattr(launcher, "process_started_at", forbidden)
    health = run_worker_health(instance, a_run(instance, where(), dead_pid(), time.time()))
    assert health.status == WorkerStatus.RUNNING and "hidepid" in health.msg


def test_no_such_process():
    assert process_started_at(dead_pid()) is None
    assert process_started_at(os.getpid()) <= time.time()
