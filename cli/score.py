"""`incentive score`: score a panel file offline with the profile's mechanism for one challenge."""

from __future__ import annotations

import argparse
import json

import profiles
from cli import UsageError
from mechanisms.mantis.panel import Panel, PanelFormatError
from mechanisms.registry import MECHANISMS


def load_profile(path: str | None) -> profiles.Profile:
    try:
        return profiles.load(path)
    except profiles.ProfileError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    try:
        challenge = profile.challenge(args.challenge)
        panel = Panel.load(args.panel, args.key or challenge.name)
    except (KeyError, PanelFormatError) as exc:
        raise UsageError(str(exc).strip('"')) from None
    if panel.embeddings.shape[2] != challenge.mantis.dim:
        raise UsageError(f"{challenge.name} has dim {challenge.mantis.dim}; the panel has {panel.embeddings.shape[2]}")
    salience = MECHANISMS[challenge.mechanism].score(panel, challenge.mode, challenge.params,
                                                     sample_every=profile.chain.sample_every,
                                                     horizon_blocks=challenge.mantis.horizon_blocks)
    ranked = sorted(salience.items(), key=lambda kv: (-kv[1], kv[0]))
    if args.json:
        print(json.dumps(dict(ranked)))
    elif not ranked:
        print(f"{challenge.name}: nothing to score (too little data, one label class, or no miner beat chance)")
    else:
        print(f"{challenge.name} ({challenge.mechanism}, {challenge.mode} mode), {len(panel.block)} samples:")
        for hotkey, value in ranked:
            print(f"  {hotkey}  {value:.6f}")
    return 0


def register(groups: argparse._SubParsersAction) -> None:
    p = groups.add_parser("score", help="score a panel file with the active profile's mechanism")
    p.add_argument("--panel", required=True, help="panel .npz (docs/panel-format.md)")
    p.add_argument("--challenge", required=True, help="challenge name or ticker in the profile")
    p.add_argument("--key", help="array-name prefix in the file (default: the challenge name)")
    p.add_argument("--json", action="store_true", help="print {hotkey: salience} as JSON")
    p.add_argument("--profile", help=f"profile YAML (default: ${profiles.ENV} or profiles/devnet.yaml)")
    p.set_defaults(run=run)
