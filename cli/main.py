"""Entry point of the `incentive` console script: one sub-command group per module."""

from __future__ import annotations

import argparse
import sys

from cli import UsageError, panel, payload, score


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incentive", description="Validator platform for Bittensor subnets.")
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    payload.register(groups)
    score.register(groups)
    panel.register(groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"incentive: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
