"""The run launcher named in dagster.yaml: Dagster's default launcher, plus a health check that run
monitoring can use.

Each run the daemon or the UI launches executes in a child process of the code server on this
machine. The code server notices a child that dies while it lives, but nothing notices a run whose
process died with the code server, the daemon or the machine: it would stay STARTED for ever, and
the block sensor never restarts a collection while one is in progress. Here run monitoring
(dagster.yaml `run_monitoring`) asks every few seconds whether the process that started each run is
still there, and the run is marked failed when it is not.

The launcher tags each run with where it was launched (machine, boot, pid namespace). The process is
the one that wrote the run's RUN_START event (every Dagster event records its pid), and it is judged
only where that pid means something: on the same machine, boot and pid namespace. A run launched on
this machine before a reboot is gone. Anything the check cannot see (another machine or namespace, a
run the CLI executed in its own process and that no launcher tagged, no /proc, a /proc it may not
read) counts as running: a false "failed" would start a second collection beside a live one, while a
false "running" only leaves a dead run for an operator to fail in the UI.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster._core.launcher.base import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher

HOST, BOOT, PID_NS = "incentive/host", "incentive/boot", "incentive/pid_ns"
# A pid belongs to the run's process only if that process started before its RUN_START event. The
# slack absorbs the wall clock stepping forward (the start time is read from the clock as it is now);
# a pid reused within it would need the kernel's pids to wrap around in that time.
REUSE_SLACK_S = 300.0


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def where() -> dict[str, str]:
    """This process's machine, boot and pid namespace, as run tags ({} where /proc cannot tell)."""
    try:
        pid_ns = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return {}
    host, boot = _read("/etc/machine-id"), _read("/proc/sys/kernel/random/boot_id")
    return {HOST: host, BOOT: boot, PID_NS: pid_ns} if host and boot else {}


def run_process(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """(pid, when) of the process that started the run, from its RUN_START event; None before it started."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    if not records or records[0].event_log_entry.dagster_event is None:
        return None
    entry = records[0].event_log_entry
    return entry.dagster_event.pid, entry.timestamp


def process_started_at(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch); None when there is no such process.
    OSError other than "no such process" (no /proc, not allowed to read it) is the caller's: unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after the command name, which may hold spaces
    if fields[0] == "Z":  # a zombie: dead, only not yet reaped
        return None
    ticks = int(fields[19])  # field 22 of proc(5): start time in clock ticks after boot
    boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                if line.startswith("btime "))
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def run_worker_health(instance: dg.DagsterInstance, run: dg.DagsterRun) -> CheckRunHealthResult:
    """FAILED once the run's process is gone; RUNNING while it lives or whenever this cannot tell."""
    here, there = where(), {k: run.tags.get(k) for k in (HOST, BOOT, PID_NS)}
    if not here or there[HOST] is None:
        return CheckRunHealthResult(WorkerStatus.RUNNING, "not launched by this launcher here: not checked")
    if there[HOST] != here[HOST] or there[PID_NS] != here[PID_NS]:
        return CheckRunHealthResult(WorkerStatus.RUNNING, "launched on another machine or pid namespace: not checked")
    if there[BOOT] != here[BOOT]:
        return CheckRunHealthResult(WorkerStatus.FAILED, "the machine has restarted since the run was launched")
    found = run_process(instance, run.run_id)
    if found is None:
        return CheckRunHealthResult(WorkerStatus.RUNNING, "no RUN_START event yet: nothing to check")
    pid, started_run = found
    try:
        started = process_started_at(pid)
    except (OSError, ValueError, IndexError, StopIteration) as exc:
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"cannot read pid {pid}'s state ({exc}): not checked")
    if started is None or started > started_run + REUSE_SLACK_S:
        gone = "no longer exists" if started is None else "is now another process"
        return CheckRunHealthResult(WorkerStatus.FAILED, f"the run's process (pid {pid}) {gone}")
    return CheckRunHealthResult(WorkerStatus.RUNNING, f"pid {pid} is alive")


class MonitoredRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher whose runs run monitoring can check: see the module's docstring."""

    def launch_run(self, context: LaunchRunContext) -> None:
        self._instance.add_run_tags(context.dagster_run.run_id, where())
        super().launch_run(context)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        return run_worker_health(self._instance, run)
