"""What every benchmark records: the machine, the date, and repeated timings of one operation."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import time
from typing import Any, Callable


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "date": dt.date.today().isoformat(),
    }


def pin_to_one_core() -> None:
    """The figures are per core: pin the process so a second core cannot flatter them."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Run `fn` `repeat` times; per-operation median and the throughput over the whole run."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return {
        "n": repeat,
        "median_ms": round(statistics.median(samples) * 1e3, 3),
        "per_second": round(repeat / sum(samples), 1),
    }
