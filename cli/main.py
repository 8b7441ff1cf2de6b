"""Entry point of the `incentive` console script: one sub-command group per module."""

from __future__ import annotations

import argparse
import signal
import sys
import warnings

from cli import UsageError, almanac, panel, payload, platform, ptn, run, score, vesting


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incentive", description="Validator platform for Bittensor subnets.")
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    payload.register(groups)
    score.register(groups)
    panel.register(groups)
    run.register(groups)
    platform.register(groups)
    almanac.register(groups)
    vesting.register(groups)
    ptn.register(groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Dagster flags the partition mapping and partitioned checks as beta/preview: known, pinned.
    warnings.filterwarnings("ignore", message=".*is currently in (beta|preview).*")
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"incentive: {exc}", file=sys.stderr)
        return 2


def entry() -> None:
    """The console script: like `main`, and a closed pipe (`incentive weights | head`) ends quietly.

    Only here, never in `main`: SIGPIPE's default action would kill a host process (tests, Dagster)
    on any write to a closed socket instead of raising.
    """
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())


if __name__ == "__main__":
    entry()
