"""Entry point of the `incentive` console script: one sub-command group per module."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import warnings

from cli import UsageError

# command → the module that registers it, in help order; a command imports only its own module, so
# `incentive ptn score` does not pay for Dagster and scikit-learn
COMMANDS = {"payload": "payload", "score": "score", "panel": "panel", "run": "run", "weights": "platform",
            "devnet": "platform", "almanac": "almanac", "vesting": "vesting", "ptn": "ptn",
            "bettensor": "bettensor", "lp": "lp"}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `command` alone when it names one."""
    parser = argparse.ArgumentParser(prog="incentive", description="Validator platform for Bittensor subnets.")
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(f"cli.{name}").register(groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Dagster flags the partition mapping and partitioned checks as beta/preview: known, pinned.
    warnings.filterwarnings("ignore", message=".*is currently in (beta|preview).*")
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
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
