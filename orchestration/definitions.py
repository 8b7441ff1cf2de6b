"""The one place Definitions are built, from the active profile ($INCENTIVE_PROFILE or devnet)."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

import profiles
from assets.almanac import almanac_salience, epoch_matrices, trades_pull
from assets.chain import weight_submission
from assets.mantis.ingest import collect_epoch
from assets.mantis.reveal import drand_signatures, embeddings
from assets.mantis.scoring import panels, salience
from assets.partitions import PROFILE
from assets.vesting import vesting_multipliers
from assets.weights import WEIGHT_CHECKS, final_weights
from orchestration.automation import epoch_automation
from orchestration.jobs import collect_job, reveal_job, trades_job
from orchestration.schedules import reconcile_missing_epochs
from orchestration.sensors import block_sensor, reveal_ready_sensor, trades_sensor
from resources.settings import build_resources

PROFILE_PATH = os.environ.get(profiles.ENV, "")
# Each family's assets, jobs, sensors and schedules: a profile gets those of the families it has.
FAMILIES = {
    "mantis": {"assets": [collect_epoch, drand_signatures, embeddings, panels, salience],
               "jobs": [collect_job, reveal_job], "sensors": [block_sensor, reveal_ready_sensor],
               "schedules": [reconcile_missing_epochs]},
    "almanac": {"assets": [trades_pull, epoch_matrices, almanac_salience], "jobs": [trades_job],
                "sensors": [trades_sensor], "schedules": []},
}
VESTING_ASSETS = [vesting_multipliers] if PROFILE.vesting.enabled else []  # any family's profile may switch it on
ASSETS = [a for family in PROFILE.families for a in FAMILIES[family]["assets"]] + VESTING_ASSETS + [
    final_weights, weight_submission]


def _of(part: str) -> list:
    return [x for family in PROFILE.families for x in FAMILIES[family][part]]


def definitions(profile: profiles.Profile, profile_path: str = "", home: Path | None = None) -> dg.Definitions:
    """The platform's Definitions with the resources `profile` chooses (see resources/settings.py).

    The assets are those of the active profile's families (`assets.partitions.PROFILE`), which is
    `profile` itself whenever it comes from the same $INCENTIVE_PROFILE."""
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=WEIGHT_CHECKS,
        jobs=_of("jobs"),
        sensors=[*_of("sensors"), epoch_automation],
        schedules=_of("schedules"),
        resources=build_resources(profile, profile_path=profile_path, home=home),
        executor=dg.in_process_executor,
    )


defs = definitions(PROFILE, PROFILE_PATH)
