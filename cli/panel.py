"""`incentive panel generate`: synthetic panels with planted roles, in the format `score` reads."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from cli import UsageError
from cli.score import load_profile
from devnet.mantis.signals import generate, spec_for


def run_generate(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    try:
        challenge = profile.challenge(args.challenge)
        spec = spec_for(profile, challenge, seed=args.seed, miners=args.miners, days=args.days)
    except (KeyError, ValueError) as exc:
        raise UsageError(str(exc).strip('"')) from None
    panel = generate(spec)
    panel.save(args.out, args.key or challenge.name)
    roles = ", ".join(f"{n} {r}" for r, n in sorted(Counter(panel.roles).items()))
    print(f"wrote {args.out}: {challenge.name}, {len(panel.block)} samples × {len(panel.hotkeys)} miners "
          f"× {challenge.mantis.dim} (seed {spec.seed}; {roles})", file=sys.stderr)
    return 0


def register(groups: argparse._SubParsersAction) -> None:
    group = groups.add_parser("panel", help="challenge panels as npz files")
    commands = group.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    gen = commands.add_parser("generate", help="a seeded synthetic panel with planted miner roles")
    gen.add_argument("--challenge", required=True, help="challenge name or ticker in the profile")
    gen.add_argument("--out", required=True, help="output .npz")
    gen.add_argument("--seed", type=int, help="generator seed (default: the profile's devnet seed)")
    gen.add_argument("--miners", type=int, help="miner count; the profile's role proportions are kept")
    gen.add_argument("--days", type=float, help="days of samples (default: the profile's bootstrap days)")
    gen.add_argument("--key", help="array-name prefix (default: the challenge name)")
    gen.add_argument("--profile", help="profile YAML (default: $INCENTIVE_PROFILE or profiles/devnet.yaml)")
    gen.set_defaults(run=run_generate)
    from cli.platform import register_export

    register_export(commands)
