"""Housekeeping: collect (from the ledger, recording gaps) every closed epoch that never finished."""


import dagster as dg

from assets.mantis.ingest import PAYLOADS
from orchestration.jobs import collect_job
from assets.partitions import EPOCHS, parse_epoch
from orchestration.sensors import ACTIVE, runs_for
from resources.chain import ChainResource
from resources.settings_resource import SettingsResource


@dg.schedule(name="reconcile_missing_epochs", cron_schedule="7 * * * *", job=collect_job,
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Closed epochs without a finished collection: finish them from the ledger, gaps recorded.")
def reconcile_missing_epochs(context: dg.ScheduleEvaluationContext, chain: ChainResource, settings: SettingsResource):
    head_epoch = chain.head_block() // settings.profile().chain.tempo
    collected = context.instance.get_materialized_partitions(PAYLOADS)
    requests = []
    for key in context.instance.get_dynamic_partitions(EPOCHS.name):
        if parse_epoch(key) < head_epoch and key not in collected and not runs_for(context.instance, collect_job.name, key, ACTIVE):
            attempt = len(runs_for(context.instance, collect_job.name, key))
            requests.append(dg.RunRequest(partition_key=key, run_key=f"reconcile-{key}-{attempt}"))
    return requests or dg.SkipReason("every closed epoch is collected")
