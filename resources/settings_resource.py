"""The active profile as a resource, so assets read the same settings the Definitions were built from."""

from __future__ import annotations

from functools import lru_cache

import dagster as dg

import profiles
from profiles import Profile


@lru_cache(maxsize=8)
def _load(path: str) -> Profile:
    return profiles.load(path or None)


class SettingsResource(dg.ConfigurableResource):
    profile_path: str = ""  # "" = $INCENTIVE_PROFILE or profiles/devnet.yaml

    def profile(self) -> Profile:
        return _load(self.profile_path)
