"""Reveal an epoch once its rounds are out: verified signatures, then validated embeddings.

Every payload that yields no values is kept with its reason (the ledger's rejections); one miner's
garbage never fails the run or touches another miner's values.
"""


import os
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import dagster as dg
import numpy as np

from assets.epochs import EpochBlocks, SampleRules
from assets.mantis.ingest import METAGRAPH, PAYLOADS, PRICES
from ledger import Rejection
from assets.partitions import EPOCHS, epoch_of
from protocol import payload as pl
from protocol.validation import challenge_values
from resources.chain import ChainResource
from resources.drand import DrandResource, DrandUnavailable
from resources.ledger import LedgerResource
from resources.payloads import FETCHED
from resources.settings_resource import SettingsResource

SIGNATURES = dg.AssetKey(["drand", "signatures"])
EMBEDDINGS = dg.AssetKey("embeddings")
UNPUBLISHED = "timelock-unavailable"


@dg.asset(key=SIGNATURES, group_name="reveal", partitions_def=EPOCHS, deps=[PAYLOADS],
          description="Beacon signatures of every round the epoch's payloads name, verified (ledger).")
def drand_signatures(context: dg.AssetExecutionContext, drand: DrandResource, chain: ChainResource,
                     ledger: LedgerResource, settings: SettingsResource) -> dg.MaterializeResult:
    blocks = EpochBlocks.of(epoch_of(context), settings.profile())
    store = ledger.ledger()
    rounds = set().union(*rounds_by_sample(store, blocks).values())
    have = store.signatures(rounds)
    missing = sorted(rounds - set(have))
    # The newest round both the relays and the chain's clock call published, asked first: a round at
    # or below it that every relay answered it does not have was due and is not served. It is
    # marked, so the payloads naming it are refused (`timelock-unavailable`) instead of holding the
    # epoch; a later run that gets it clears the mark. A round the relays failed on (timeouts,
    # errors) is not an answer: it is left out and waited for, so a relay outage costs nobody.
    latest = min(drand.latest_round(), drand.chain().current_round(chain.now())) if missing else 0
    try:
        answers = drand.signatures(missing) if missing else {}
    except DrandUnavailable as exc:  # every round failed: embeddings waits for them to its deadline
        context.log.warning(f"no round could be fetched: {exc}")
        answers = {}
    fetched = {r: sig for r, sig in answers.items() if sig is not None}
    unpublished = sorted(r for r, sig in answers.items() if sig is None)
    unserved = {r: f"due (round {latest} was out) but no relay has it" for r in unpublished if r <= latest}
    store.store_signatures(fetched)
    store.mark_unserved(unserved, time.time())
    return dg.MaterializeResult(metadata={
        "rounds": len(rounds), "already_cached": len(have), "fetched": len(fetched),
        "unpublished": len(unpublished) - len(unserved), "unserved": len(unserved),
        "relays_failed": len(missing) - len(answers),
        "first_unpublished": next((r for r in unpublished if r not in unserved), 0),
    })


@dataclass(frozen=True)
class _Revealed:
    """What an opened payload leaves behind: enough for the duplicate and lock rules, and the
    validated vectors; the plaintext itself is dropped as soon as it is validated."""

    time_ct: bytes
    round: int
    vectors: dict[str, list[float]]
    problems: dict[str, str]


def _reveal_payload(row, signatures, rules: SampleRules, formats) -> _Revealed | Rejection:
    """One fetched payload opened and validated, or why not (mantis.md §6 steps 1–9)."""
    payload = pl.screen(row.body, row.hotkey, rules.owner_pk, rules.window, rules.limits)
    if isinstance(payload, pl.Rejected):
        return Rejection(row.sidx, row.hotkey, payload.reason.value, payload.detail)
    signature = signatures.get(payload.round)
    if signature is None:
        return Rejection(row.sidx, row.hotkey, UNPUBLISHED,
                         f"round {payload.round} has no signature: unpublished by the hard deadline, or no relay served it")
    result = pl.open_payload(payload, signature, rules.owner_pk, hotkey=row.hotkey, limits=rules.limits)
    if isinstance(result, pl.Rejected):
        return Rejection(row.sidx, row.hotkey, result.reason.value, result.detail)
    vectors, problems = challenge_values(result.values, formats)
    return _Revealed(payload.time_ct, payload.round, vectors, problems)


def _guarded_reveal(row, signatures, rules, formats) -> _Revealed | Rejection:
    """The per-payload boundary: whatever opening one payload raises is that payload's refusal."""
    try:
        return _reveal_payload(row, signatures, rules, formats)
    except Exception as exc:  # noqa: BLE001 - one miner's bytes never stop the reveal of the others
        return Rejection(row.sidx, row.hotkey, pl.UNEXPECTED, f"opening raised {type(exc).__name__}: {str(exc)[:200]}")


REVEAL_WORKERS = os.cpu_count() or 1  # processes that open an epoch's samples


def _open_sample(rows, signatures, profile, taken_at, rules: SampleRules, reveal_time):
    """(vectors {challenge: {hotkey: vector}}, rejections) of one sample's fetched payloads.

    Order matters (mantis.md §6): every payload is opened first, so a verbatim copy served from
    another hotkey's URL is refused by the hotkey check and cannot knock out its original; only
    then are identical timelock ciphertexts under several hotkeys refused for all of them.
    `reveal_time(round)` is the beacon's publication time of a round, for the lock rules; `rules`
    the sample's owner key, round window and size limits (rows screened at download pass again).
    """
    formats = profile.challenge_formats()
    rejections, opened = [], {}
    for row in rows:
        if row.status != FETCHED:
            continue  # refused at download: the row itself holds the reason
        outcome = _guarded_reveal(row, signatures, rules, formats)
        if isinstance(outcome, Rejection):
            rejections.append(outcome)
        else:
            opened[row.hotkey] = outcome
    # A W_time shared by several hotkeys shows one secret behind them only while its round was still
    # sealed at the sample: once published anyone can build a payload around it, and counting that
    # as a copy would let a stranger knock out a miner whose host served a stale payload.
    sealed = {hotkey: reveal_time(result.round) > taken_at for hotkey, result in opened.items()}
    owners = Counter(result.time_ct for hotkey, result in opened.items() if sealed[hotkey])
    vectors: dict[str, dict[str, list[float]]] = defaultdict(dict)
    for hotkey, result in sorted(opened.items()):
        sidx, round_ = rows[0].sidx, result.round
        copies = owners[result.time_ct] - 1 if sealed[hotkey] else 0
        if copies:
            rejections.append(Rejection(sidx, hotkey, "duplicate", f"same W_time as {copies} other hotkeys"))
            continue
        for name, problem in result.problems.items():
            rejections.append(Rejection(sidx, hotkey, "validation", problem, name))
        opens_at = reveal_time(round_)
        for c in profile.challenges:
            if c.name not in result.vectors:
                continue
            if profile.uses_horizon_lock(c):
                if opens_at < taken_at + profile.lock_seconds(c):
                    # The round must stay sealed until the horizon has passed since the sample (F12).
                    rejections.append(Rejection(sidx, hotkey, "lock", f"round {round_} opens before the horizon", c.name))
                    continue
            elif opens_at > taken_at + profile.maturity_seconds():
                # The reference rule: a round unpublished at maturity is dropped (F11, compat).
                rejections.append(Rejection(sidx, hotkey, UNPUBLISHED,
                                            f"round {round_} opens after the {profile.protocol.maturity_blocks}-block maturity",
                                            c.name))
                continue
            vectors[c.name][hotkey] = result.vectors[c.name]
    return vectors, rejections


def _open_job(job: tuple) -> tuple[dict, list]:
    """`_open_sample` of one sample's (rows, signatures, profile, taken_at, rules, reveal_time), in a worker."""
    return _open_sample(*job)


def opened_samples(store, samples, signatures, profile, beacon, workers: int = REVEAL_WORKERS) -> Iterator[tuple]:
    """(sample, vectors, rejections) of each taken sample, in order. Each sample's bodies are read
    when it is opened, and with `workers` > 1 the opening (decryption, parsing, validation) runs in
    a process pool at most two samples a worker ahead, so an epoch's reveal holds a few samples at a
    time. A pool that breaks (a worker killed) leaves the remaining samples to this process."""
    def job(sample) -> tuple | None:
        rows = store.raw_payloads(sample.sidx, sample.sidx + 1)
        if not rows:
            return None
        return rows, signatures, profile, sample.taken_at, SampleRules.of(beacon, profile, sample.taken_at), beacon.reveal_time

    def here(sample, work) -> tuple:
        return (sample, *(_open_job(work) if work is not None else ({}, [])))

    if workers < 2 or len(samples) < 2 * workers:
        for sample in samples:
            yield here(sample, job(sample))
        return
    pending: deque = deque()
    done = 0
    try:
        with ProcessPoolExecutor(workers) as pool:
            for sample in samples:
                work = job(sample)
                pending.append((sample, work, None if work is None else pool.submit(_open_job, work)))
                while len(pending) > 2 * workers or (pending and sample is samples[-1]):
                    first, work, future = pending.popleft()
                    yield (first, *future.result()) if future is not None else (first, {}, [])
                    done += 1
    except BrokenProcessPool:
        for sample in samples[done:]:
            yield here(sample, job(sample))


def store_vectors(store, sample, vectors, profile) -> None:
    """One sample's opened vectors into the ledger, per challenge."""
    for c in profile.challenges:
        got = vectors.get(c.name, {})
        if got:
            hotkeys = sorted(got)
            store.store_embeddings(c.name, sample.sidx, hotkeys, np.array([got[h] for h in hotkeys]),
                                   np.ones(len(hotkeys), dtype=bool))


def awaited_round(rounds_by_sample: dict[float, set[int]], published, now: float, profile) -> tuple[int, float] | None:
    """(a round the epoch still waits for, when it stops waiting), or None when it can be revealed.

    `rounds_by_sample` maps each sample's time to the rounds its screened payloads name. A round is
    awaited while `published(round)` is false and its sample's hard deadline has not passed; after
    the deadline it is unavailable, and its payloads are refused as such.
    """
    for taken_at, rounds in sorted(rounds_by_sample.items()):
        deadline = taken_at + profile.round_deadline_seconds()
        if now < deadline:
            for r in sorted(rounds):
                if not published(r):
                    return r, deadline
    return None


def rounds_by_sample(store, blocks: EpochBlocks) -> dict[float, set[int]]:
    """The rounds the epoch's screened payloads name (only those passing screening have one), by
    the time of their sample."""
    lo, hi = blocks.sidx_range.start, blocks.sidx_range.stop
    taken_at = {s.sidx: s.taken_at for s in store.samples(lo, hi) if s.status == "taken"}
    return {taken_at[sidx]: rounds for sidx, rounds in store.payload_rounds(lo, hi).items() if sidx in taken_at}


@dg.asset(key=EMBEDDINGS, group_name="reveal", partitions_def=EPOCHS, deps=[SIGNATURES, PRICES, METAGRAPH],
          description="Decrypted, validated vectors per (sample, hotkey, challenge); rejections with reasons.")
def embeddings(context: dg.AssetExecutionContext, drand: DrandResource, chain: ChainResource, ledger: LedgerResource,
               settings: SettingsResource) -> dg.MaterializeResult:
    profile, store = settings.profile(), ledger.ledger()
    blocks = EpochBlocks.of(epoch_of(context), profile)
    beacon = drand.chain()
    lo, hi = blocks.sidx_range.start, blocks.sidx_range.stop
    samples = [s for s in store.samples(lo, hi) if s.status == "taken"]
    waiting = rounds_by_sample(store, blocks)
    needed = set().union(*waiting.values())
    signatures = store.signatures(needed)
    settled = set(signatures) | set(store.unserved(needed - set(signatures)))  # signed, or due and unserved
    awaited = awaited_round(waiting, settled.__contains__, chain.now(), profile)
    if awaited is not None:
        r, deadline = awaited
        raise dg.Failure(
            f"round {r} is not published yet (due {beacon.reveal_time(r):.0f}); the epoch waits for it until "
            f"{deadline:.0f} (unix s). The reveal_ready_sensor starts this run when it can: materialize "
            f"{SIGNATURES.to_user_string()} first if it was published since.",
            allow_retries=False,
        )
    statuses = store.payload_statuses(lo, hi)
    reasons: Counter[str] = Counter({k: n for k, n in statuses.items() if k != FETCHED})
    valid: Counter[str] = Counter()
    all_rejections = []
    with store.replacing_reveal(lo, hi, (c.name for c in profile.challenges)):
        for sample, vectors, rejections in opened_samples(store, samples, signatures, profile, beacon):
            store_vectors(store, sample, vectors, profile)
            all_rejections += rejections
            valid.update({name: len(got) for name, got in vectors.items()})
        store.record_rejections(all_rejections)
    reasons.update(r.reason for r in all_rejections)
    last_taken = max((s.taken_at for s in samples), default=chain.now())
    table = "| reason | count |\n|---|---|\n" + "\n".join(f"| {r} | {n} |" for r, n in reasons.most_common())
    return dg.MaterializeResult(metadata={
        "payloads_fetched": statuses.get(FETCHED, 0),
        "valid_vectors": dg.MetadataValue.json(dict(valid)),
        "rejections": sum(reasons.values()),
        "rejections_by_reason": dg.MetadataValue.md(table),
        "samples": len(samples),
        # How long after the epoch's last sample its reveal ran (world clock): the rounds' wait.
        "revealed_after_last_sample_s": round(max(0.0, chain.now() - last_taken), 1),
    })
