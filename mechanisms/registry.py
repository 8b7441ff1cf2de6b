"""The mechanisms a profile can name, with their parameter types and panel scorers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from mechanisms.binary import BinaryParams, binary_salience
from mechanisms.panel import Panel


@dataclass(frozen=True)
class Mechanism:
    name: str
    params_type: type
    scorer: Callable[..., dict[str, float]]

    def make_params(self, overrides: Mapping[str, Any]) -> Any:
        """The mechanism's defaults with a profile's overrides; unknown names are errors."""
        known = {f.name for f in dataclasses.fields(self.params_type)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown {self.name} parameters: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return self.params_type(**overrides)

    def score(self, panel: Panel, mode: str, overrides: Mapping[str, Any], sample_every: int) -> dict[str, float]:
        return self.scorer(panel.embeddings, panel.sidx(sample_every), panel.price, panel.hotkeys, mode,
                           self.make_params(overrides))


MECHANISMS: dict[str, Mechanism] = {"binary": Mechanism("binary", BinaryParams, binary_salience)}
