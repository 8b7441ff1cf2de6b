"""Epoch artifacts between assets: JSON for small values, one .npz per challenge for panels and matrices.

Files live at `<base_dir>/<asset key path>/<partition>.json` (or a directory of `.npz` for panels),
so an operator can read what an epoch computed; nothing is pickled.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import dagster as dg

from mechanisms.almanac.matrices import AlmanacMatrices
from mechanisms.mantis.panel import Panel

ARRAYS = {"panel": Panel, "almanac": AlmanacMatrices}  # kinds of per-challenge values kept as npz

UNPARTITIONED = "latest"


def safe_name(key: str) -> str:
    """A partition key or challenge name as a file name (what is not [0-9A-Za-z._-] becomes "__")."""
    return re.sub(r"[^0-9A-Za-z._-]", "__", key)


class EpochArtifactIOManager(dg.ConfigurableIOManager):
    base_dir: str

    def _path(self, key: dg.AssetKey, partition: str) -> Path:
        return Path(self.base_dir, *key.path, safe_name(partition))

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        path = self._path(context.asset_key, context.partition_key if context.has_asset_partitions else UNPARTITIONED)
        kinds = {name: kind for name, value in obj.items() for kind, cls in ARRAYS.items()
                 if isinstance(value, cls)} if isinstance(obj, dict) else {}
        if obj and len(kinds) == len(obj):
            path.mkdir(parents=True, exist_ok=True)
            for name, value in obj.items():
                value.save(path / f"{safe_name(name)}.npz", name)
            (path / "index.json").write_text(json.dumps(kinds, sort_keys=True))
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(obj, sort_keys=True, allow_nan=False))
        tmp.replace(path.with_suffix(".json"))

    def _load(self, key: dg.AssetKey, partition: str, only: str | None = None) -> Any:
        """An artifact; of a per-challenge directory, only challenge `only`'s file when it is given."""
        path = self._path(key, partition)
        if path.is_dir():
            kinds = json.loads((path / "index.json").read_text())
            if isinstance(kinds, list):  # written before matrices joined: panels only
                kinds = dict.fromkeys(kinds, "panel")
            if only is not None:
                kinds = {only: kinds[only]} if only in kinds else {}
            return {name: ARRAYS[kind].load(path / f"{safe_name(name)}.npz", name) for name, kind in kinds.items()}
        return json.loads(path.with_suffix(".json").read_text())

    def load_input(self, context: dg.InputContext) -> Any:
        key = context.asset_key
        many = isinstance(context.asset_partitions_def, dg.MultiPartitionsDefinition)  # e.g. epoch × challenge
        if context.has_asset_partitions and (many or len(context.asset_partition_keys) != 1):
            return {str(k): self._load(key, str(k)) for k in context.asset_partition_keys}
        partition = str(context.asset_partition_key) if context.has_asset_partitions else UNPARTITIONED
        return self._load(key, partition, only=_challenge(context))


def _challenge(context: dg.InputContext) -> str | None:
    """The challenge a run of an epoch × challenge asset scores: it loads that challenge's input only."""
    if not context.has_partition_key:
        return None
    key = context.partition_key
    return key.keys_by_dimension.get("challenge") if isinstance(key, dg.MultiPartitionKey) else None
