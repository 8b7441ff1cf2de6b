"""Secrets stay out of everything Dagster stores and displays.

The requirement: a ledger URL holding a database password (PostgreSQL in production) never appears in
the code location's resource configuration (the UI's Resources page), in a run's configuration, tags
or job snapshot, in its event log (metadata, log lines, resource initialisation), or on the console,
while the run really uses that URL.
"""

from __future__ import annotations

import secrets

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap, ResourceConfigEnvVarSnap
from dagster._serdes import serialize_value

import profiles
from assets.partitions import EPOCHS, epoch_key
from assets.mantis.reveal import drand_signatures
from devnet.chain import DevnetChainState
from devnet.world import World
from ledger import Ledger
from orchestration.definitions import definitions
from resources.settings import LEDGER_URL_ENV

pytestmark = pytest.mark.integration


def test_no_run_or_resource_displays_the_ledger_password(pg_cluster, monkeypatch, tmp_path, capfd):
    password = f"pw-{secrets.token_hex(12)}"
    url = pg_cluster.new_database().replace(f"{pg_cluster.USER}@", f"{pg_cluster.USER}:{password}@", 1)
    assert password in url
    monkeypatch.setenv(LEDGER_URL_ENV, url)
    profile = profiles.load()
    defs = definitions(profile, home=tmp_path / "home")

    # What the UI's Resources page shows: each URL field is the variable's name, not its value.
    snap = RepositorySnap.from_def(defs.get_repository_def())
    assert password not in serialize_value(snap)
    fields = {(r.name, k): v for r in snap.resources for k, v in r.configured_values.items() if "url" in k}
    assert {("ledger", "url"), ("chain", "ledger_url"), ("drand", "ledger_url"), ("prices", "ledger_url")} <= set(fields)
    assert all(isinstance(v, ResourceConfigEnvVarSnap) and v.name == LEDGER_URL_ENV for v in fields.values())

    # A run on that ledger: it works (the devnet lives in that PostgreSQL database) and shows nothing.
    state = DevnetChainState(World(profile), Ledger(url))
    state.install()
    key = epoch_key(state.head_block() // state.world.tempo)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(EPOCHS.name, [key])
        job = defs.get_implicit_global_asset_job_def()
        result = dg.materialize([drand_signatures], partition_key=key, instance=instance,
                                resources=dict(job.resource_defs))
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        stored = [run, run.run_config, run.tags, instance.get_job_snapshot(run.job_snapshot_id),
                  *instance.all_logs(result.run_id)]
        assert len(stored) > 10  # the run logged its steps
        assert all(password not in serialize_value(item) for item in stored)
        assert state.ledger.samples(0, 2**40) == [] and instance.get_latest_materialization_event(
            drand_signatures.key) is not None
    out, err = capfd.readouterr()
    assert password not in out + err
