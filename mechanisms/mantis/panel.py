"""One challenge's training panel, its npz file format (docs/panel-format.md), and the presence rule
that says which of its cells are a miner's submission.

The file is what `incentive score` reads and `incentive panel generate` / `panel export` write.
It is loaded without pickle, so a panel file from elsewhere cannot run code.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

Mode = Literal["compat", "fixed"]

_BLOCK_ROWS = 4096  # rows per step of `presence`: bounded temporaries on large panels


class PanelFormatError(ValueError):
    """A panel file that is not in the documented format."""


def presence(values: np.ndarray, mode: Mode) -> np.ndarray:
    """(T, H) bool of (T, H, D) values: which miners submitted at which samples.

    The one presence rule, shared by the scorers, the clone pass and the young-uid rule, so they
    cannot disagree about who submitted. fixed (F7): the D-vector has no NaN; the ledger stores a
    vector whole or not at all, so a genuine all-zero prediction counts. compat: the reference's
    "zero vector = absent" (mantis.md §7.4): some element is non-zero after NaN → 0.
    """
    if mode not in ("compat", "fixed"):
        raise ValueError(f"mode must be 'compat' or 'fixed', not {mode!r}")
    values = np.asarray(values)
    if values.ndim != 3:
        raise ValueError(f"values must be (T, H, D), got shape {values.shape}")
    T, H, D = values.shape
    out = np.empty((T, H), dtype=bool)
    wide = mode == "fixed" and D >= 8 and values.dtype in (np.float32, np.float64)
    for r0 in range(0, T, _BLOCK_ROWS):
        block, rows = values[r0 : r0 + _BLOCK_ROWS], out[r0 : r0 + _BLOCK_ROWS]
        if wide:
            rows[:] = _no_nan(block.reshape(-1, D)).reshape(rows.shape)
            continue
        rows[:] = mode == "fixed"
        for d in range(D):  # a loop over the few dimensions: numpy reduces a short last axis slowly
            v = block[:, :, d]
            if mode == "fixed":
                rows &= ~np.isnan(v)
            else:
                rows |= (v != 0) & ~np.isnan(v)
    return out


def _no_nan(flat: np.ndarray) -> np.ndarray:
    """(N,) whether each row of a (N, D) float array is free of NaN. A wide vector read a dimension
    at a time reads its block D times from memory; its sum by one BLAS product is NaN wherever an
    element is (and where +inf meets −inf, or a sum overflows to meet one: those few rows are
    checked element by element), at a third of the cost for the LBFGS panel's 17."""
    with np.errstate(invalid="ignore", over="ignore"):
        ok = ~np.isnan(flat @ np.ones(flat.shape[1], dtype=flat.dtype))
    unsure = np.flatnonzero(~ok)
    ok[unsure] = ~np.isnan(flat[unsure]).any(axis=1)
    return ok


def row_blocks(X: np.ndarray, rows: np.ndarray, block_rows: int = _BLOCK_ROWS):
    """(r0, X[rows[r0 : r0 + block_rows]]) per block of rows: a view where the rows are consecutive
    (a panel's history usually is), a copy otherwise, so a scorer reading a panel holds one block."""
    for r0 in range(0, len(rows), block_rows):
        yield r0, take_rows(X, rows[r0 : r0 + block_rows])


def take_rows(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """X[rows], a view when the rows are consecutive (no copy of a large panel's history)."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) and rows[-1] - rows[0] == len(rows) - 1 and bool((np.diff(rows) == 1).all()):
        return X[rows[0] : rows[-1] + 1]
    return X[rows]


def in_columns(X: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """X[:, cols], or X itself when cols is already the identity order (the ledger's panels are in
    sorted-hotkey order: no copy of the panel)."""
    return X if np.array_equal(cols, np.arange(X.shape[1])) else X[:, cols]


def _write_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """np.savez_compressed's format (one .npy member per array, deflated) at compression level 1,
    written to a temporary file first so a reader never sees half a panel. As numpy does, ".npz"
    is appended to a name without it."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            array = np.asanyarray(array)
            # float16 values deflate to ~60 % at ~55 MB/s: a large member is stored as it is, so saving a
            # 33-asset panel costs its write, not seconds of compression
            target: str | zipfile.ZipInfo = f"{name}.npy"  # the archive's own: deflated at level 1
            if array.dtype == np.float16 and array.nbytes > _STORE_BYTES:
                target = zipfile.ZipInfo(f"{name}.npy")
                target.compress_type = zipfile.ZIP_STORED
            with archive.open(target, "w", force_zip64=True) as member:
                _write_npy(member, array)
    tmp.replace(path)


_WRITE_BYTES = 2**20  # a large array is written in slices of this size: no copy of it whole
_STORE_BYTES = 2**24  # float16 members above this are stored, not deflated (`_write_npz`)


def _write_npy(member, array: np.ndarray) -> None:
    """`np.lib.format.write_array`, except that a large C-contiguous numeric array goes out as
    views of its memory (numpy's own writer copies it 16 MiB at a time, or whole when smaller)."""
    if array.dtype.hasobject or not array.flags.c_contiguous or array.nbytes <= _WRITE_BYTES:
        np.lib.format.write_array(member, array, allow_pickle=False)
        return
    np.lib.format.write_array_header_1_0(member, np.lib.format.header_data_from_array_1_0(array))
    flat = array.reshape(-1).view(np.uint8)
    for start in range(0, flat.size, _WRITE_BYTES):
        member.write(memoryview(flat[start : start + _WRITE_BYTES]))


def _stored_values(values: np.ndarray) -> np.ndarray:
    """The (T, H, D) values as a panel file holds them: float16 when that is exact (float16 values
    themselves, or wider ones that are float16 numbers, as the ledger's are), else float32."""
    if values.dtype == np.float16:
        return values
    wide = values.astype(np.float32)
    half = wide.astype(np.float16)
    return half if np.array_equal(half.astype(np.float32), wide, equal_nan=True) else wide


def first_seen_blocks(panels: Mapping[str, Panel], modes: Mapping[str, Mode]) -> dict[str, int]:
    """The first block at which each hotkey submitted to any challenge (the young-uid rule, §13.2).

    `panels` and `modes` are keyed by challenge; each panel is read with its challenge's presence
    rule, so a miner counts as seen exactly where its challenge's scorer counts it as submitting.
    """
    first: dict[str, int] = {}
    for name, panel in panels.items():
        for hotkey, block in first_seen_of(panel, presence(panel.embeddings, modes[name])).items():
            first[hotkey] = min(first.get(hotkey, block), block)
    return first


def first_seen_of(panel: "Panel", seen: np.ndarray) -> dict[str, int]:
    """{hotkey: first block present} of one panel, from its presence (T, H): a miner never present
    has no entry."""
    rows = seen.argmax(axis=0)
    return {panel.hotkeys[j]: int(panel.block[rows[j]]) for j in np.flatnonzero(seen.any(axis=0))}


@dataclass(frozen=True)
class Panel:
    hotkeys: tuple[str, ...]  # (H,)
    block: np.ndarray  # (T,) int64, sample blocks in time order
    price: np.ndarray  # (T,) float64, or (T, A) for multi-asset challenges
    # (T, H, D) float32, or float16 as the ledger stores them (panels built from the ledger, and
    # files of float16 values: kept so, half the memory); NaN where a miner did not submit.
    # Scorers take their own dtype (entry.checked_panel: float32).
    embeddings: np.ndarray
    # Planted truth, present only in generated panels.
    roles: tuple[str, ...] = ()
    skill: np.ndarray | None = None
    sources: tuple[str, ...] = ()

    def sidx(self, sample_every: int = 5) -> np.ndarray:
        return self.block // sample_every

    def head(self, rows: int) -> "Panel":
        """The panel as it stood `rows` samples in (views, no copy): an earlier epoch's panel."""
        return Panel(self.hotkeys, self.block[:rows], self.price[:rows], self.embeddings[:rows], self.roles, self.skill,
                     self.sources)

    def _columns(self, cols: Sequence[int]) -> "Panel":
        """The same panel with only the miners `cols`, in that order."""
        pick = lambda seq: tuple(seq[i] for i in cols) if seq else ()  # noqa: E731
        return Panel(pick(self.hotkeys), self.block, self.price, self.embeddings[:, cols], pick(self.roles),
                     None if self.skill is None else self.skill[cols], pick(self.sources))

    def without(self, hotkeys: set[str]) -> "Panel":
        """The same panel with some miners removed (e.g. to measure what clones change)."""
        return self._columns([i for i, hk in enumerate(self.hotkeys) if hk not in hotkeys])

    def in_hotkey_order(self) -> "Panel":
        """The same panel with its columns in sorted-hotkey order, as the ledger's panels are (a
        scorer then reads them without a reordered copy)."""
        cols = np.argsort(np.asarray(self.hotkeys, dtype=str), kind="stable")
        return self if np.array_equal(cols, np.arange(len(cols))) else self._columns(cols.tolist())

    def save(self, path: str | Path, prefix: str) -> None:
        """The npz file. Values the ledger stored (float16) are written as float16 (float16 values
        as they are, without a wider copy), and the archive is deflated at level 1: a 17-dim panel
        of two weeks writes in a second, not six."""
        arrays = {
            "hotkeys": np.array(self.hotkeys, dtype=str),
            "block": self.block.astype(np.int64),
            f"{prefix}__embeddings": _stored_values(self.embeddings),
            (f"{prefix}__prices" if self.price.ndim == 2 else f"{prefix}__price"): self.price,
        }
        if self.roles:
            arrays |= {"roles": np.array(self.roles, dtype=str), "skill": self.skill,
                       "sources": np.array(self.sources, dtype=str)}
        _write_npz(path, arrays)

    @classmethod
    def load(cls, path: str | Path, prefix: str) -> "Panel":
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise PanelFormatError(f"{path}: not a readable npz file ({exc})") from None
        emb_key = f"{prefix}__embeddings"
        price_key = next((k for k in (f"{prefix}__price", f"{prefix}__prices") if k in data), None)
        missing = [k for k in ("hotkeys", "block", emb_key) if k not in data] + ([] if price_key else [f"{prefix}__price"])
        if missing:
            have = ", ".join(sorted(data)) or "nothing"
            raise PanelFormatError(f"{path}: missing {', '.join(missing)} (the file has {have})")
        hotkeys, block, emb, price = data["hotkeys"], data["block"], data[emb_key], data[price_key]
        T = len(block)
        if hotkeys.ndim != 1 or hotkeys.dtype.kind != "U":
            raise PanelFormatError("hotkeys must be a 1-d string array")
        if block.ndim != 1 or block.dtype.kind not in "iu":
            raise PanelFormatError("block must be a 1-d integer array")
        if emb.ndim != 3 or emb.shape[:2] != (T, len(hotkeys)) or emb.dtype.kind != "f":
            raise PanelFormatError(f"{emb_key} must be float (T, H, D) = ({T}, {len(hotkeys)}, D), got {emb.shape}")
        if price.shape[:1] != (T,) or price.ndim not in (1, 2) or price.dtype.kind not in "fiu":
            raise PanelFormatError(f"{price_key} must be numeric with {T} rows, got {price.shape}")
        if len(set(hotkeys.tolist())) != len(hotkeys):
            raise PanelFormatError("hotkeys must be unique")
        if np.any(np.diff(block) <= 0):
            raise PanelFormatError("block must be strictly increasing")
        roles = tuple(data["roles"].tolist()) if "roles" in data else ()
        return cls(
            tuple(hotkeys.tolist()), block.astype(np.int64), price.astype(np.float64),
            emb if emb.dtype == np.float16 else emb.astype(np.float32),
            roles, data.get("skill"), tuple(data["sources"].tolist()) if "sources" in data else (),
        )
