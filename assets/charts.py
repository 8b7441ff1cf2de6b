"""Small PNG charts in asset metadata: an epoch's weight distribution and a challenge's salience.

The `charts` resource (resources/charts.py) writes each to the storage directory and shows it in the
asset's metadata as an inline image, with the file's path beside it. Rendering uses
matplotlib's object API on the Agg canvas: no pyplot state shared between runs or threads.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure
from PIL import Image

SIZE_IN, DPI = (5.0, 2.4), 80  # 400 × 192 px: a glance, not a report
BAR, GRID = "#3b6fb6", "#dddddd"
TOP_SALIENCE = 20
PALETTE = 16  # colours per chart


def label(text: str, width: int = 8) -> str:
    """A hotkey as a chart label: its first letters and digits only (no mathtext, no markup, short)."""
    return re.sub(r"[^0-9A-Za-z]", "", text)[:width] or "?"


def _finite(x: float) -> float:
    """A value as a bar's height: anything not a finite number is drawn as nothing."""
    return float(x) if math.isfinite(x) else 0.0


def _png(fig: Figure) -> bytes:
    """The figure as a 16-colour PNG: a third the bytes of matplotlib's RGBA (the event log keeps
    every chart inline), with the text still crisp."""
    rgba = io.BytesIO()
    fig.savefig(rgba, format="png", dpi=DPI)
    out = io.BytesIO()
    Image.open(rgba).convert("RGB").quantize(colors=PALETTE, method=Image.Quantize.MEDIANCUT).save(
        out, format="PNG", optimize=True)
    return out.getvalue()


def _figure(title: str) -> tuple[Figure, object]:
    fig = Figure(figsize=SIZE_IN, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(axis="y", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    return fig, ax


def weights_png(epoch: int, weights: Sequence[float], uids: Sequence[int], burn_uid: int | None) -> bytes:
    """Every other uid's weight share, largest first; the burn uid's share (often the largest by far,
    which would flatten the rest) is in the title instead of a bar."""
    weights = [_finite(w) for w in weights]
    burn = sum(w for w, u in zip(weights, uids) if u == burn_uid)
    shares = sorted((w for w, u in zip(weights, uids) if u != burn_uid), reverse=True)
    nonzero = sum(w > 0 for w in shares)
    title = f"epoch {epoch}: {nonzero} of {len(shares)} uids weighted"
    fig, ax = _figure(title + (f"; burn uid {burn_uid} {burn:.1%}" if burn_uid in uids else ""))
    ax.stairs(shares, range(len(shares) + 1), fill=True, color=BAR)  # one artist, however many uids
    ax.set_xlim(0, max(len(shares), 1))
    ax.set_xlabel("uids ranked by weight", fontsize=7)
    ax.set_ylabel("share", fontsize=7)
    return _png(fig)


def salience_png(challenge: str, epoch: int, salience: Mapping[str, float]) -> bytes:
    """The largest saliences, one bar per hotkey (labelled by its first letters)."""
    title = f"{challenge}, epoch {epoch}"
    salience = {k: _finite(v) for k, v in salience.items()}
    top = sorted(((v, k) for k, v in salience.items() if v > 0), key=lambda t: (-t[0], t[1]))[:TOP_SALIENCE]
    paid = sum(v > 0 for v in salience.values())
    fig, ax = _figure(f"{title}: {paid} of {len(salience)} paid" + (f", top {len(top)}" if paid > len(top) else ""))
    ax.bar(range(len(top)), [v for v, _ in top], color=BAR, linewidth=0)
    ax.set_xticks(range(len(top)), [label(k) for _, k in top], rotation=60, ha="right", fontsize=6)
    ax.set_ylabel("salience", fontsize=7)
    if not top:
        ax.text(0.5, 0.5, "no salience", transform=ax.transAxes, ha="center", va="center", fontsize=9)
    return _png(fig)
