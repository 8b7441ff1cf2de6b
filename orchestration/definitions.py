"""The one place Definitions are built, from the active profile ($INCENTIVE_PROFILE or devnet)."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

import profiles
from assets.chain import weight_submission
from assets.mantis.ingest import collect_epoch
from assets.mantis.reveal import drand_signatures, embeddings
from assets.mantis.scoring import panels, salience
from assets.weights import WEIGHT_CHECKS, final_weights
from orchestration.automation import epoch_automation
from orchestration.jobs import collect_job, reveal_job
from orchestration.schedules import reconcile_missing_epochs
from orchestration.sensors import block_sensor, reveal_ready_sensor
from resources.settings import build_resources

PROFILE_PATH = os.environ.get(profiles.ENV, "")
PROFILE = profiles.load(PROFILE_PATH or None)
ASSETS = [collect_epoch, drand_signatures, embeddings, panels, salience, final_weights, weight_submission]


def definitions(profile: profiles.Profile, profile_path: str = "", home: Path | None = None) -> dg.Definitions:
    """The platform's Definitions with the resources `profile` chooses (see resources/settings.py)."""
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=WEIGHT_CHECKS,
        jobs=[collect_job, reveal_job],
        sensors=[block_sensor, reveal_ready_sensor, epoch_automation],
        schedules=[reconcile_missing_epochs],
        resources=build_resources(profile, profile_path=profile_path, home=home),
        executor=dg.in_process_executor,
    )


defs = definitions(PROFILE, PROFILE_PATH)
