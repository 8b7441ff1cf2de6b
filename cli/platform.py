"""Operator commands on the project's ledger: weights per epoch, the devnet's planted roles, panel export."""

import argparse
import json
import sys

from cli import UsageError
from cli.score import load_profile


def _ledger(profile):
    from resources.settings import build_resources

    return build_resources(profile)["ledger"].ledger()


def run_weights(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    store = _ledger(profile)
    stored = store.weights(args.epoch) if args.epoch is not None else store.latest_weights_before(2**62)
    if stored is None:
        raise UsageError(f"no weights for epoch {args.epoch}" if args.epoch is not None
                         else "no weights in the ledger yet: run `make run` first")
    rows = [{"uid": u, "hotkey": h, "weight": w, "u16": q}
            for u, h, w, q in zip(stored.uids, stored.hotkeys, stored.weights, stored.u16)]
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"epoch {stored.epoch} (block {stored.block}), {stored.meta.get('source', '')}")
        for r in sorted(rows, key=lambda r: -r["weight"]):
            print(f"{r['uid']:>4}  {r['hotkey']:<48}  {r['weight']:.6f}  {r['u16']:>5}")
    return 0


def run_roles(args: argparse.Namespace) -> int:
    """Every neuron's planted role; each miner's stake behaviour and the vesting multiplier its planted
    stake history should earn (the planted operations replayed into the tranche ledger with the
    profile's vesting settings, devnet/stake.py), evaluated at the end of the live start's epoch: the
    first epoch a devnet run scores, with the whole stake history before it."""
    from devnet.world import World

    profile = load_profile(args.profile)
    if profile.chain.network != "devnet":
        raise UsageError("the active profile is not the devnet")
    world = World(profile)
    from devnet.mantis.miners import hostility

    rows = [{"uid": 0, "hotkey": world.owner.ss58_address, "role": "owner", "skill": None},
            {"uid": 1, "hotkey": world.validator.ss58_address, "role": "validator", "skill": None}]
    rows += [{"uid": world.miner_uid(i), "hotkey": m.hotkey, "role": m.role,
              "skill": None if m.skill != m.skill else m.skill, "copies": m.source or None,
              "attack": hostility(world, m.hotkey)}
             for i, m in enumerate(world.miners)]
    edge = world.market.edge_of if world.traders else {}
    rows += [{"uid": uid, "hotkey": hotkey, "role": f"trader:{role}", "skill": edge[hotkey]}
             for uid, hotkey, role in world.traders]  # skill: the planted edge (win probability over the price)
    expected = world.stake.expected(profile.vesting, world.epoch_of(world.live_start_block))
    for r in rows:
        r["stake"] = world.stake.behaviour_of(r["hotkey"])
        r["expected_m"] = expected.get(r["hotkey"]) if r["stake"] is not None else None
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            skill = "" if r["skill"] is None else f"{r['skill']:.4f}"
            role = f"{r['role']}:{r['attack']}" if r.get("attack") else r["role"]
            m = "" if r["expected_m"] is None else f"{r['expected_m']:.4f}"
            print(f"{r['uid']:>4}  {r['hotkey']:<48}  {role:<21} {skill:<7}  {r['stake'] or '':<12} {m}".rstrip())
    return 0


def run_export(args: argparse.Namespace) -> int:
    from assets.epochs import EpochBlocks
    from assets.mantis.scoring import build_panel

    profile = load_profile(args.profile)
    try:
        challenge = profile.challenge(args.challenge)
    except KeyError as exc:
        raise UsageError(str(exc).strip('"')) from None
    store = _ledger(profile)
    blocks = EpochBlocks.of(args.epoch, profile)
    metagraph = store.metagraph(blocks.last)
    if metagraph is None:
        raise UsageError(f"epoch {args.epoch} has no metagraph snapshot: it was never collected")
    panel = build_panel(store, profile, challenge, blocks, set(metagraph.hotkeys))
    panel.save(args.out, challenge.name)
    print(f"wrote {args.out}: {challenge.name} at epoch {args.epoch}, {len(panel.block)} samples × "
          f"{len(panel.hotkeys)} miners (values to sample {blocks.train_cutoff_sidx})", file=sys.stderr)
    return 0


def register(groups: argparse._SubParsersAction) -> None:
    prof = {"help": "profile YAML (default: $INCENTIVE_PROFILE or profiles/devnet.yaml)"}
    w = groups.add_parser("weights", help="the weights computed for an epoch (default: the newest)")
    w.add_argument("--epoch", type=int)
    w.add_argument("--json", action="store_true", help="a JSON list of {uid, hotkey, weight, u16}")
    w.add_argument("--profile", **prof)
    w.set_defaults(run=run_weights)

    devnet = groups.add_parser("devnet", help="the embedded devnet")
    dev = devnet.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    roles = dev.add_parser("roles", help="every neuron's planted role and skill (a trader's: its planted edge)")
    roles.add_argument("--json", action="store_true")
    roles.add_argument("--profile", **prof)
    roles.set_defaults(run=run_roles)


def register_export(panel_commands: argparse._SubParsersAction) -> None:
    ex = panel_commands.add_parser("export", help="an epoch's training panel from the ledger, as npz")
    ex.add_argument("--challenge", required=True)
    ex.add_argument("--epoch", type=int, required=True)
    ex.add_argument("--out", required=True)
    ex.add_argument("--profile", help="profile YAML (default: $INCENTIVE_PROFILE or profiles/devnet.yaml)")
    ex.set_defaults(run=run_export)
