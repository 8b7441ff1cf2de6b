"""Subnet profiles: the YAML files beside this module, and `load` to read and validate one."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from profiles.schema import Challenge, Profile

DIRECTORY = Path(__file__).parent
DEFAULT = DIRECTORY / "devnet.yaml"
ENV = "INCENTIVE_PROFILE"

__all__ = ["Challenge", "Profile", "ProfileError", "load"]


class ProfileError(ValueError):
    """A profile that cannot be read or does not validate; the message names every problem."""


def load(path: str | Path | None = None) -> Profile:
    """The profile at `path`, else $INCENTIVE_PROFILE, else profiles/devnet.yaml."""
    path = Path(path or os.environ.get(ENV) or DEFAULT)
    if not path.exists() and (DIRECTORY / path).exists():
        path = DIRECTORY / path  # a bare name such as "devnet.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile is a YAML mapping")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(
            f"  {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()
        )
        raise ProfileError(f"{path}: invalid profile:\n{problems}") from None
