"""`make run` after installation, and one more epoch end to end, on a fresh instance and ledger."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import machine

ROOT = Path(__file__).resolve().parent.parent


def _timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t0


def run(scale: float = 1.0) -> dict[str, Any]:
    incentive = str(Path(sys.executable).parent / "incentive")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "dagster").mkdir()
        (home / "dagster" / "dagster.yaml").symlink_to(ROOT / "dagster.yaml")
        env = {k: v for k, v in os.environ.items() if k not in ("INCENTIVE_PROFILE", "INCENTIVE_LEDGER_URL")}
        env |= {"DAGSTER_HOME": str(home / "dagster"), "INCENTIVE_HOME": str(home / "incentive")}
        first = _timed([incentive, "run"], env)
        one_more = _timed([incentive, "run", "--epochs", "1"], env)
    return {
        "benchmark": "platform",
        "machine": machine(),
        "make_run_seconds": round(first, 1),
        "one_epoch_end_to_end_seconds": round(one_more, 1),
        "note": "make_run: fresh devnet (bootstrap history written), two live epochs collected, revealed, "
                "scored, weighed and submitted; one_epoch: a further epoch on the same instance",
    }
