"""Epoch artifacts between assets: JSON for small values, one .npz per challenge for panels and matrices.

Files live at `<base_dir>/<asset key path>/<partition>.json` (or a directory of `.npz` for panels),
so an operator can read what an epoch computed; nothing is pickled.

A per-challenge directory holds `<challenge>.npz` per challenge, `index.json` ({challenge: kind}) and
any small records beside them (`<record>.json`, e.g. the panels' `first_seen.json`). Large values
never need to be in memory together: an asset can return `BuiltOnAccess` (each value built when
read, saved, dropped), and a reader of the whole directory gets `StoredArtifacts` (each file loaded
when read, not kept); a run of one challenge (epoch × challenge) loads that challenge's file only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from mechanisms.almanac.matrices import AlmanacMatrices
from mechanisms.mantis.panel import Panel

ARRAYS = {"panel": Panel, "almanac": AlmanacMatrices}  # kinds of per-challenge values kept as npz
INDEX = "index"  # index.json: {challenge: kind}; no record may take its name

UNPARTITIONED = "latest"


def safe_name(key: str) -> str:
    """A partition key or challenge name as a file name (what is not [0-9A-Za-z._-] becomes "__")."""
    return re.sub(r"[^0-9A-Za-z._-]", "__", key)


def _kind(value: Any) -> str | None:
    return next((kind for kind, cls in ARRAYS.items() if isinstance(value, cls)), None)


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, sort_keys=True, allow_nan=False))
    tmp.replace(path)


class BuiltOnAccess(Mapping[str, Any]):
    """Per-challenge values built when read and never kept (the IO manager builds, saves and drops
    them one at a time, so a run holds one challenge's panel, not the epoch's).

    `build(name)` returns the value and may fill `records` (small JSON values written beside the
    files once every value is built, e.g. each miner's first submission over all panels) and
    `metadata` (the output's metadata, added when the values are saved). Reading a value twice
    builds it twice.
    """

    def __init__(self, names: Sequence[str], build: Callable[[str], Any]) -> None:
        self._names = tuple(names)
        self._build = build
        self.records: dict[str, Any] = {}
        self.metadata: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        return self._build(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"BuiltOnAccess({list(self._names)!r})"


class StoredArtifacts(Mapping[str, Any]):
    """A per-challenge directory read lazily: each value loaded from its file when read, not kept;
    `record(name)` is a small JSON record written beside them, or None if the directory has none
    (written before it existed)."""

    def __init__(self, path: Path, kinds: Mapping[str, str]) -> None:
        self.path = path
        self._kinds = dict(kinds)

    def __getitem__(self, name: str) -> Any:
        kind = self._kinds[name]
        return ARRAYS[kind].load(self.path / f"{safe_name(name)}.npz", name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def record(self, name: str) -> Any | None:
        path = self.path / f"{safe_name(name)}.json"
        return json.loads(path.read_text()) if name != INDEX and path.is_file() else None

    def __repr__(self) -> str:
        return f"StoredArtifacts({str(self.path)!r}, {list(self._kinds)!r})"


class EpochArtifactIOManager(dg.ConfigurableIOManager):
    base_dir: str

    def _path(self, key: dg.AssetKey, partition: str) -> Path:
        return Path(self.base_dir, *key.path, safe_name(partition))

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        path = self._path(context.asset_key, context.partition_key if context.has_asset_partitions else UNPARTITIONED)
        if isinstance(obj, BuiltOnAccess):
            self._save_each(context, path, obj)
            return
        kinds = {name: kind for name, value in obj.items() if (kind := _kind(value))} if isinstance(obj, dict) else {}
        if obj and len(kinds) == len(obj):
            path.mkdir(parents=True, exist_ok=True)
            for name, value in obj.items():
                value.save(path / f"{safe_name(name)}.npz", name)
            _write_json(path / f"{INDEX}.json", kinds)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_json(path.with_suffix(".json"), obj)

    @staticmethod
    def _save_each(context: dg.OutputContext, path: Path, obj: BuiltOnAccess) -> None:
        """Build, save and drop one value at a time; the index and the records are written last, and
        the previous ones removed first, so a run that fails half-way leaves no directory that reads
        as whole."""
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.json"):
            old.unlink()
        kinds: dict[str, str] = {}
        for name in obj:
            value = obj[name]
            kind = _kind(value)
            if kind is None:
                raise TypeError(f"{name}: a {type(value).__name__} is not a per-challenge array artifact")
            value.save(path / f"{safe_name(name)}.npz", name)
            kinds[name] = kind
            del value  # the next value is built without this one alive
        if INDEX in obj.records:
            raise ValueError(f"no record may be called {INDEX!r}")
        for name, record in obj.records.items():
            _write_json(path / f"{safe_name(name)}.json", record)
        _write_json(path / f"{INDEX}.json", kinds)
        if obj.metadata:
            context.add_output_metadata(obj.metadata)

    def _load(self, key: dg.AssetKey, partition: str, only: str | None = None) -> Any:
        """An artifact; of a per-challenge directory, only challenge `only`'s value (a dict of one)
        when it is given, else every value, each loaded when read (StoredArtifacts)."""
        path = self._path(key, partition)
        if path.is_dir():
            kinds = json.loads((path / f"{INDEX}.json").read_text())
            if isinstance(kinds, list):  # written before matrices joined: panels only
                kinds = dict.fromkeys(kinds, "panel")
            if only is None:
                return StoredArtifacts(path, kinds)
            return {only: ARRAYS[kinds[only]].load(path / f"{safe_name(only)}.npz", only)} if only in kinds else {}
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
