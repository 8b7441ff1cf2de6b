"""The metadata charts: what one epoch's pictures add to its runs, on one core.

The import of matplotlib (paid once per run process that draws), a weight chart of 256 uids and a
salience chart of 256 hotkeys, and the PNG sizes the event log stores inline (base64, a third more).
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import numpy as np

from benchmarks.common import machine, pin_to_one_core, timed

UIDS = 256


def run(scale: float = 1.0) -> dict[str, Any]:
    pin_to_one_core()
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import assets.charts"], check=True)
    import_with_python_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    python_s = time.perf_counter() - t0
    from assets.charts import salience_png, weights_png

    rng = np.random.default_rng(3)
    weights = rng.dirichlet(np.ones(UIDS)).tolist()
    salience = {f"5{'x' * 40}{i:03d}": float(v) for i, v in enumerate(rng.dirichlet(np.ones(UIDS)))}
    repeat = max(3, round(20 * scale))
    return {
        "benchmark": "charts",
        "machine": machine(),
        "uids": UIDS,
        "import_seconds": round(import_with_python_s - python_s, 3),
        "weights_chart": timed(lambda: weights_png(1, weights, list(range(UIDS)), 0), repeat),
        "salience_chart": timed(lambda: salience_png("C", 1, salience), repeat),
        "weights_png_bytes": len(weights_png(1, weights, list(range(UIDS)), 0)),
        "salience_png_bytes": len(salience_png("C", 1, salience)),
    }
