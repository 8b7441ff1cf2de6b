"""`make bench`: run every benchmark and print one JSON document."""

from __future__ import annotations

import argparse
import json
import os
from functools import partial

from benchmarks import (almanac, charts, devnet, fetch, hostile_epoch, mantis_all, mantis_scoring, platform, protocol,
                        bettensor, lp, ptn, vesting, vesting_history)

BENCHMARKS = {"protocol": protocol.run,
              **{name: partial(mantis_scoring.at_scale, name) for name in mantis_scoring.SCALE_CHALLENGES},
              "mantis-all": mantis_all.run, "quality": mantis_scoring.devnet_quality,
              "quality-full": mantis_scoring.full_window_quality, "devnet": devnet.run, "fetch": fetch.run,
              "hostile-epoch": hostile_epoch.run, "platform": platform.run,
              "almanac": almanac.run, "vesting": vesting.run, "vesting-history": vesting_history.run,
              "ptn": ptn.run, "bettensor": bettensor.run, "lp": lp.run,
              "charts": charts.run}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run, of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the repetition counts")
    args = parser.parse_args()
    names = args.names or list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    print(json.dumps({name: _unpinned(BENCHMARKS[name], args.scale) for name in names}, indent=1))


def _unpinned(run, scale: float) -> dict:
    """Run one benchmark and undo any pinning it did (`pin_to_one_core`), so the next gets every core."""
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        return run(scale)
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)


if __name__ == "__main__":
    main()
