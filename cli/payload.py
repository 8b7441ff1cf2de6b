"""`incentive payload build | open | inspect`: MANTIS V2 payloads offline, for miners, operators and tests."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cli import UsageError, payload_inspect
from protocol import payload as pl
from protocol.drand import QUICKNET, BeaconChain
from protocol.timelock import TimelockEncryptor


def _hex_arg(size: int):
    def parse(value: str) -> bytes:
        text = value[2:] if value.lower().startswith("0x") else value
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not hex: {value!r}") from None
        if len(raw) != size:
            raise argparse.ArgumentTypeError(f"expected {size} bytes, got {len(raw)}")
        return raw

    return parse


def _read(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _beacon(args: argparse.Namespace) -> BeaconChain:
    return BeaconChain(args.beacon_pk, args.genesis, args.period)


def run_build(args: argparse.Namespace) -> int:
    text = _read(args.values[1:]).decode() if args.values.startswith("@") else args.values
    try:
        values = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--values is not JSON: {exc}") from None
    if not isinstance(values, dict):
        raise UsageError("--values must be a JSON object of challenge values")
    beacon = _beacon(args)
    now = time.time() if args.now is None else args.now
    round_ = args.round if args.round is not None else beacon.round_at(now + args.lock_seconds)
    try:
        encryptor = TimelockEncryptor(beacon.public_key)
        built = pl.build(args.hotkey, round_, values, encryptor, args.owner_pk)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out = json.dumps(built.to_json(), indent=1) + "\n"
    if args.out:
        Path(args.out).write_text(out)
        print(f"wrote {args.out}: round {round_}, readable from {beacon.reveal_time(round_)}", file=sys.stderr)
    else:
        sys.stdout.write(out)
    return 0


def _owner_secret(owner_pk: bytes) -> bytes:
    """INCENTIVE_OWNER_SK checked against `owner_pk` (--owner-pk), required; errors never hold it."""
    from resources.settings import OWNER_SK_ENV, OwnerSecretError, owner_secret_for  # dagster: import late

    try:
        secret = owner_secret_for(owner_pk, "the owner key (--owner-pk)")
    except OwnerSecretError as exc:
        raise UsageError(str(exc)) from None
    if secret is None:
        raise UsageError(f"--owner opens with the owner's secret: set {OWNER_SK_ENV} in the environment")
    return secret


def run_open(args: argparse.Namespace) -> int:
    raw = _read(args.file)
    if args.owner:
        result = pl.open_as_owner(raw, _owner_secret(args.owner_pk), hotkey=args.hotkey)
    else:
        beacon = None if args.no_verify else _beacon(args)
        result = pl.open_payload(raw, args.signature, args.owner_pk, hotkey=args.hotkey, beacon=beacon)
    if not result:
        print(f"rejected: {result.reason}: {result.detail}", file=sys.stderr)
        return 1
    print(json.dumps(json.loads(result.plaintext), ensure_ascii=False))
    return 0


def register(groups: argparse._SubParsersAction) -> None:
    group = groups.add_parser("payload", help="build or open MANTIS V2 payloads offline")
    commands = group.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")

    def keys(p: argparse.ArgumentParser) -> None:
        p.add_argument("--owner-pk", type=_hex_arg(32), default=pl.MANTIS_OWNER_PK,
                       help="subnet owner's X25519 public key (default: the MANTIS owner key)")
        p.add_argument("--beacon-pk", type=_hex_arg(96), default=QUICKNET.public_key,
                       help="drand beacon public key, G2 (default: quicknet)")
        p.add_argument("--genesis", type=int, default=QUICKNET.genesis, help="beacon genesis time (unix s)")
        p.add_argument("--period", type=int, default=QUICKNET.period, help="beacon period (s)")

    build = commands.add_parser("build", help="encrypt challenge values as a miner does")
    build.add_argument("--hotkey", required=True, help="the miner's hotkey (SS58)")
    build.add_argument("--values", required=True, help='JSON object, e.g. \'{"ETH":[0.1,-0.2]}\', or @FILE')
    when = build.add_mutually_exclusive_group(required=True)
    when.add_argument("--round", type=int, help="beacon round to lock to")
    when.add_argument("--lock-seconds", type=float, help="lock until at least this many seconds from now")
    build.add_argument("--now", type=float, help="unix time taken as now (default: the clock)")
    build.add_argument("--out", help="write the payload here instead of stdout")
    keys(build)
    build.set_defaults(run=run_build)

    open_ = commands.add_parser("open", help="open a payload file offline with its round's signature")
    open_.add_argument("file", help="payload JSON file, or - for stdin")
    how = open_.add_mutually_exclusive_group(required=True)  # exactly one way in
    how.add_argument("--signature", type=_hex_arg(48), help="the round's beacon signature (hex)")
    how.add_argument("--owner", action="store_true",
                     help="open through the owner wrap, before the round, with $INCENTIVE_OWNER_SK")
    open_.add_argument("--hotkey", help="committing hotkey (default: the payload's own hk)")
    open_.add_argument("--no-verify", action="store_true", help="skip verifying the signature under the beacon key")
    keys(open_)
    open_.set_defaults(run=run_open)

    payload_inspect.register(commands)
