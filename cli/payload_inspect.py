"""`incentive payload inspect HOTKEY`: what the ledger holds for one miner, sample by sample, and why.

The operator's answer to "why does this miner get no weight": per sample, what the download found,
the round the payload names and when the beacon publishes it, and then either why the payload was
refused (at download, or at reveal from the ledger's rejections) or what it decrypted to. Nothing
here touches the network: signatures come from the ledger and the beacon's chain from the profile's
drand resource. Before a round is out only the subnet owner can look inside, through the owner wrap
with INCENTIVE_OWNER_SK (validators never hold that key).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from assets.epochs import EpochBlocks
from cli import UsageError
from cli.score import load_profile
from profiles import Profile
from protocol import payload as pl
from protocol.drand import BeaconChain

if TYPE_CHECKING:
    from ledger import Ledger, RawPayload, Rejection, Sample

FETCHED = "fetched"  # resources.payloads.FETCHED, without importing dagster for a CLI command
NO_ROW = "no-row"


@dataclass
class Record:
    """One sample as seen from one hotkey; `--json` prints these as they are."""

    sidx: int
    block: int
    fetched_at: str | None  # UTC ISO
    status: str  # the payload row's status, or "no-row"
    url: str = ""
    size: int | None = None  # bytes of the stored body
    round: int | None = None
    published_at: str | None = None  # when the beacon publishes the round (UTC ISO)
    outcome: str = "missing"  # opened | sealed | refused | missing
    reason: str = ""  # why refused or missing: a reason code
    detail: str = ""
    owner_path: bool = False  # opened through the owner wrap, before the round's signature
    values: dict[str, Any] | None = None
    rejections: list[dict[str, str]] = field(default_factory=list)  # reveal's, from the ledger


def utc(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sample_range(args: argparse.Namespace, store: Ledger, profile: Profile) -> tuple[str, range]:
    """(what is shown, its sample indices): the one sample, the epoch, or the newest epoch with a payload."""
    newest = store.latest_payload_sidx(args.hotkey)
    if newest is None:
        raise UsageError(f"the ledger holds no payload of hotkey {args.hotkey}: not a miner of this subnet, "
                         f"or no collection has run since it committed")
    if args.sample is not None:
        return f"sample {args.sample}", range(args.sample, args.sample + 1)
    every, tempo = profile.chain.sample_every, profile.chain.tempo
    epoch = args.epoch if args.epoch is not None else newest * every // tempo
    return f"epoch {epoch}", EpochBlocks.of(epoch, profile).sidx_range


@dataclass(frozen=True)
class Keys:
    """What opening needs: the ledger's signatures, the owner key (and its secret if given), the beacon."""

    signatures: dict[int, bytes]
    owner_pk: bytes
    owner_sk: bytes | None
    beacon: BeaconChain


def open_row(record: Record, row: RawPayload, keys: Keys) -> None:
    """Fill the outcome of a fetched row: opened with the round's signature (or the owner wrap), or sealed."""
    signature = keys.signatures.get(row.round)
    if signature is not None:
        result = pl.open_payload(row.body, signature, keys.owner_pk, hotkey=row.hotkey)
    elif keys.owner_sk is not None:
        result, record.owner_path = pl.open_as_owner(row.body, keys.owner_sk, hotkey=row.hotkey), True
    else:
        record.outcome, record.detail = "sealed", f"sealed until {record.published_at}"
        return
    if result:
        record.outcome, record.values = "opened", result.values
    else:
        record.outcome, record.reason, record.detail = "refused", result.reason.value, result.detail


def build_record(sidx: int, sample: Sample | None, row: RawPayload | None, rejections: list[Rejection],
                 every: int, keys: Keys) -> Record:
    """One sample's record: the row's facts, then what became of the payload."""
    block = sample.block if sample else sidx * every
    if row is None:
        missed = sample is not None and sample.status == "missed"
        return Record(sidx, block, None, NO_ROW, reason="missed" if missed else NO_ROW,
                      detail=sample.reason if missed else "no commitment, or not in the metagraph, at this sample")
    record = Record(sidx, block, utc(row.fetched_at), row.status, row.url,
                    None if row.body is None else len(row.body), row.round,
                    None if row.round is None else utc(keys.beacon.reveal_time(row.round)))
    record.rejections = [{"reason": r.reason, "detail": r.detail, "challenge": r.challenge} for r in rejections]
    if row.status != FETCHED:
        record.outcome, record.reason, record.detail = "refused", row.status, row.reason
    else:
        open_row(record, row, keys)
    return record


def inspect_samples(store: Ledger, profile: Profile, hotkey: str, sidx: range, beacon: BeaconChain,
                    owner_sk: bytes | None) -> list[Record]:
    """Every sample in `sidx` that the ledger knows, as seen from `hotkey`."""
    lo, hi = sidx.start, sidx.stop
    samples = {s.sidx: s for s in store.samples(lo, hi)}
    rows = {r.sidx: r for r in store.raw_payloads(lo, hi, hotkey=hotkey)}
    rejections: dict[int, list[Rejection]] = defaultdict(list)
    for r in store.rejections(lo, hi, hotkey=hotkey):
        rejections[r.sidx].append(r)
    keys = Keys(store.signatures({r.round for r in rows.values() if r.round}),
                bytes.fromhex(profile.protocol.owner_pk), owner_sk, beacon)
    return [build_record(i, samples.get(i), rows.get(i), rejections[i], profile.chain.sample_every, keys)
            for i in sorted(samples.keys() | rows.keys())]


def summary(records: list[Record]) -> str:
    """Counts by outcome, by download status and by reason (refusals and reveal rejections)."""
    outcomes = Counter(r.outcome for r in records)
    statuses = Counter(r.status for r in records)
    reasons = Counter(code for r in records for code in {r.reason} | {j["reason"] for j in r.rejections} if code)
    owner = sum(r.owner_path for r in records)

    def counts(c: Counter) -> str:
        return ", ".join(f"{k} {n}" for k, n in c.most_common()) or "none"

    by_owner = f" ({owner} by the owner path)" if owner else ""
    return (f"summary: {len(records)} samples; {counts(outcomes)}{by_owner}; status: {counts(statuses)}; "
            f"reasons: {counts(reasons)}")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(line: str) -> str:
    """A line of miner-controlled text as a terminal may show it: control characters (escape
    sequences that could rewrite the screen) and lone surrogates as backslash escapes."""
    line = line.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", line)


def render(record: Record) -> list[str]:
    """A record as text: a line of facts, then indented lines for what became of it."""
    size = "" if record.size is None else f"{record.size} B"
    published = f"round {record.round} (published {record.published_at})" if record.round is not None else ""
    head = "  ".join(x for x in (f"sidx {record.sidx}", f"block {record.block}", record.fetched_at or "-",
                                 record.status, size, published, record.url) if x)
    lines = [head]
    if record.outcome == "opened":
        how = " (owner path)" if record.owner_path else ""
        # ASCII-escaped: a plaintext is the miner's text, and may hold what no terminal prints (a lone surrogate).
        lines.append(f"    opened{how}: {json.dumps(record.values, ensure_ascii=True)}")
    elif record.outcome == "sealed":
        lines.append(f"    {record.detail} (round {record.round}: its signature is not in the ledger)")
    else:
        lines.append(f"    {record.outcome}: {record.reason}: {record.detail}")
    for r in record.rejections:
        where = f" [{r['challenge']}]" if r["challenge"] else ""
        lines.append(f"    rejected at reveal{where}: {r['reason']}: {r['detail']}")
    return lines


def run_inspect(args: argparse.Namespace) -> int:
    from resources.settings import OwnerSecretError, build_resources, owner_secret  # dagster: import late

    profile = load_profile(args.profile)
    try:
        owner_sk = owner_secret(profile)
    except OwnerSecretError as exc:
        raise UsageError(str(exc)) from None
    resources = build_resources(profile, profile_path=args.profile or "")
    store = resources["ledger"].ledger()
    what, sidx = sample_range(args, store, profile)
    records = inspect_samples(store, profile, args.hotkey, sidx, resources["drand"].chain(), owner_sk)
    if not any(r.status != NO_ROW for r in records):
        raise UsageError(f"hotkey {args.hotkey} has no payload in {what} "
                         f"(its newest is at sample {store.latest_payload_sidx(args.hotkey)})")
    if args.json:
        print(json.dumps([asdict(r) for r in records], ensure_ascii=True))
        return 0
    print(f"{args.hotkey}: {what}, samples {sidx.start}..{sidx.stop - 1}")
    for record in records:
        print("\n".join(printable(line) for line in render(record)))
    print(summary(records))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("inspect", help="one miner's payloads in the ledger: refused why, or opened to what")
    p.add_argument("hotkey", help="the miner's hotkey (SS58)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--epoch", type=int, help="the epoch to show (default: the newest with a payload of HOTKEY)")
    which.add_argument("--sample", type=int, metavar="SIDX", help="one sample index instead of an epoch")
    p.add_argument("--json", action="store_true", help="a JSON list of records instead of text")
    p.add_argument("--profile", help="profile YAML (default: $INCENTIVE_PROFILE or profiles/devnet.yaml)")
    p.set_defaults(run=run_inspect)
