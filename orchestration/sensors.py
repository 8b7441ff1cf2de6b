"""Block cadence: add each epoch at its start and collect it; reveal an epoch once its rounds are out.

Neither sensor does heavy work: they read the head, the ledger's round numbers and the instance's
run and materialization records, and request coarse runs (one per epoch and stage).
"""


import dagster as dg

from assets.epochs import EpochBlocks
from assets.almanac import TRADES_PULL
from assets.mantis.ingest import PAYLOADS
from assets.mantis.reveal import EMBEDDINGS, awaited_round, rounds_by_sample
from orchestration.jobs import collect_job, reveal_job, trades_job
from assets.partitions import EPOCHS, epoch_key, parse_epoch
from resources.chain import ChainResource
from resources.drand import DrandResource, DrandUnavailable
from resources.ledger import LedgerResource
from resources.settings_resource import SettingsResource

MAX_NEW_EPOCHS_PER_TICK = 10
MAX_COLLECT_ATTEMPTS = 5  # collection runs the block sensor starts for one epoch; then the hourly reconcile
AFTER_CLOSE = "incentive/after_close"  # tag of a collection restarted after its epoch closed
ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED]


def runs_for(instance: dg.DagsterInstance, job: str, key: str, statuses=None) -> list[dg.DagsterRun]:
    """The runs of `job` for one epoch (optionally only those in `statuses`); their count numbers retries."""
    return list(instance.get_runs(dg.RunsFilter(job_name=job, tags={"dagster/partition": key}, statuses=statuses or [])))


@dg.sensor(name="block_sensor", job=collect_job, minimum_interval_seconds=15,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="At each epoch boundary: add the epoch's partition and start its collection run.")
def block_sensor(context: dg.SensorEvaluationContext, chain: ChainResource, settings: SettingsResource):
    tempo = settings.profile().chain.tempo
    head = chain.head_block()
    epoch = head // tempo
    known = set(context.instance.get_dynamic_partitions(EPOCHS.name))
    since = int(context.cursor) + 1 if context.cursor else epoch
    new = [epoch_key(e) for e in range(max(since, epoch - MAX_NEW_EPOCHS_PER_TICK + 1), epoch + 1)
           if epoch_key(e) not in known]
    key = epoch_key(epoch)
    requests = []
    if key in new:
        requests.append(dg.RunRequest(partition_key=key, run_key=f"collect-{key}"))
    collected = context.instance.get_materialized_partitions(PAYLOADS)
    notes = []
    for k in (epoch_key(epoch - 1), key):
        if k not in known or k in collected:
            continue
        runs = runs_for(context.instance, collect_job.name, k)  # newest first
        if any(r.status in ACTIVE for r in runs):
            continue
        if k != key and (not runs or runs[0].tags.get(AFTER_CLOSE)):
            continue  # never collected live, or restarted once after its close already: the reconcile's
        if len(runs) >= MAX_COLLECT_ATTEMPTS:
            notes.append(f"epoch {k}'s collection failed {len(runs)} times; the hourly reconcile finishes it")
            continue
        # The open epoch has no live collection (it died or was lost): resume at the next sample. One
        # that died just before its epoch closed is finished now, once (the samples it missed
        # recorded as such), rather than at the next hourly reconcile.
        requests.append(dg.RunRequest(partition_key=k, run_key=f"collect-{k}-{len(runs)}",
                                      tags={} if k == key else {AFTER_CLOSE: "true"}))
    if not new and not requests:
        return dg.SkipReason("; ".join([f"head {head} is in epoch {epoch}; the next starts at block {(epoch + 1) * tempo}",
                                        *notes]))
    return dg.SensorResult(run_requests=requests,
                           dynamic_partitions_requests=[EPOCHS.build_add_request(new)] if new else [],
                           cursor=str(epoch))


@dg.sensor(name="reveal_ready_sensor", job=reveal_job, minimum_interval_seconds=20,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Reveal a collected epoch once every drand round its payloads name is published "
                       "(or its samples' hard deadline has passed).")
def reveal_ready_sensor(context: dg.SensorEvaluationContext, drand: DrandResource, chain: ChainResource,
                        ledger: LedgerResource, settings: SettingsResource):
    instance = context.instance
    collected = instance.get_materialized_partitions(PAYLOADS)
    revealed = instance.get_materialized_partitions(EMBEDDINGS)
    pending = sorted(collected - revealed, key=parse_epoch)
    if not pending:
        return dg.SkipReason("no collected epoch is waiting to be revealed")
    try:
        latest = drand.latest_round()
    except DrandUnavailable as exc:
        return dg.SkipReason(f"waiting for drand, which no relay answers: {exc}")
    now, profile, store = chain.now(), settings.profile(), ledger.ledger()
    requests, waiting = [], []
    for key in pending:
        if runs_for(instance, reveal_job.name, key, ACTIVE):
            continue
        blocks = EpochBlocks.of(parse_epoch(key), profile)
        awaited = awaited_round(rounds_by_sample(store, blocks), lambda r: r <= latest, now, profile)
        if awaited is None:
            requests.append(dg.RunRequest(partition_key=key, run_key=f"reveal-{key}-{len(runs_for(instance, reveal_job.name, key))}"))
        else:
            r, deadline = awaited
            waiting.append(f"{key} (round {r}, {r - latest} to go; deadline in {max(0, deadline - now) / 60:.0f} min)")
    if requests:
        return dg.SensorResult(run_requests=requests)
    return dg.SkipReason("waiting for drand: " + ", ".join(waiting) if waiting else "reveal runs in progress")


@dg.sensor(name="trades_sensor", job=trades_job, minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Once an epoch closes: pull its Almanac trades (automation then builds its matrices, "
                       "salience and weights). Without MANTIS challenges it also adds the epoch's partition.")
def trades_sensor(context: dg.SensorEvaluationContext, chain: ChainResource, settings: SettingsResource):
    profile = settings.profile()
    head = chain.head_block()
    closed = head // profile.chain.tempo - 1  # the newest epoch whose last block is behind the head
    key = epoch_key(closed)
    known = key in context.instance.get_dynamic_partitions(EPOCHS.name)
    if not known and profile.mantis_challenges:
        # the block sensor adds epochs (and collects them): one added here would be a MANTIS epoch never collected
        return dg.SkipReason(f"epoch {key} is closed but was never added by the block sensor")
    new = [] if known else [key]
    if key in context.instance.get_materialized_partitions(TRADES_PULL) or runs_for(
            context.instance, trades_job.name, key, ACTIVE):
        return dg.SkipReason(f"epoch {key} is pulled or being pulled; the next closes at block "
                             f"{(closed + 2) * settings.profile().chain.tempo}")
    attempt = len(runs_for(context.instance, trades_job.name, key))
    return dg.SensorResult(run_requests=[dg.RunRequest(partition_key=key, run_key=f"trades-{key}-{attempt}")],
                           dynamic_partitions_requests=[EPOCHS.build_add_request(new)] if new else [])
