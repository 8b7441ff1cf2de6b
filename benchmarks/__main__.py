"""`make bench`: run every benchmark and print one JSON document."""

from __future__ import annotations

import argparse
import json

from benchmarks import binary, devnet, platform, protocol

BENCHMARKS = {"protocol": protocol.run, "binary": binary.run, "devnet": devnet.run, "platform": platform.run}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run, of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the repetition counts")
    args = parser.parse_args()
    names = args.names or list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    print(json.dumps({name: BENCHMARKS[name](args.scale) for name in names}, indent=1))


if __name__ == "__main__":
    main()
