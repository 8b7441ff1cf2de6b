"""How well a salience recovers a planted panel's truth: the figures every MANTIS mechanism is judged by.

Tests assert them, the benchmarks record them and the docs quote them, so all read one definition:

* `spearman`: rank correlation of planted skill and salience over the informative miners, the
  clone group's source left out (its salience is its group's);
* `worthless_share`: the salience of the miners worth nothing (WORTHLESS: noise, constant, copycat,
  persistent, stale): iid noise, one value for ever, a lagged copy of the best miner, AR(1) noise
  per coordinate that wanders like a real view of prices but is unrelated to them (φ ∈ [0.8, 0.97]),
  and a worthless value held 2–8 hours before the next (devnet/mantis/signals.py);
* `worthless_in_top_quartile`: how many of them rank in the top quarter;
* `clone_group_over_twin`: what the clones and their source earn together, over a twin's salience
  (an independent miner planted with the source's skill; the mean when there are several): clones
  must gain nothing by copying.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.stats import spearmanr

from mechanisms.mantis.panel import Panel

WORTHLESS = ("noise", "constant", "copycat", "persistent", "stale")


def as_array(panel: Panel, salience: Mapping[str, float]) -> np.ndarray:
    return np.array([salience.get(h, 0.0) for h in panel.hotkeys])


def clone_source(panel: Panel) -> int:
    return panel.hotkeys.index(panel.sources[panel.roles.index("clone")])


def quality(panel: Panel, salience: np.ndarray) -> dict[str, float]:
    """The figures above for one scored panel (salience in panel column order)."""
    roles = np.array(panel.roles)
    source = clone_source(panel)
    honest = (roles == "informative") & (np.arange(len(roles)) != source)
    top = np.argsort(-salience, kind="stable")[: math.ceil(len(salience) / 4)]
    twin = salience[roles == "twin"].mean()  # larger mixes plant several twins: one twin's pay
    group = salience[roles == "clone"].sum() + salience[source]
    return {
        "spearman": float(spearmanr(panel.skill[honest], salience[honest]).statistic) if salience[honest].any() else 0.0,
        "worthless_share": float(salience[np.isin(roles, WORTHLESS)].sum()),
        "worthless_in_top_quartile": int(np.isin(roles[top], WORTHLESS).sum()),
        "clone_group_over_twin": float(group / twin) if twin > 0 else math.inf,
    }
