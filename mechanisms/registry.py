"""The mechanisms a profile can name, with their parameter types and panel scorers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from mechanisms.mantis.binary import BinaryParams, binary_salience
from mechanisms.mantis.panel import Panel


def horizon_samples(horizon_blocks: int, sample_every: int) -> int:
    """A challenge's horizon in samples. Labels pair samples exactly this many apart while the lock
    rule counts blocks, so a horizon that is not a whole number of samples is refused, not rounded."""
    samples, rest = divmod(horizon_blocks, sample_every)
    if rest or samples < 1:
        raise ValueError(f"horizon_blocks {horizon_blocks} is not a whole number of samples "
                         f"(chain.sample_every {sample_every})")
    return samples


@dataclass(frozen=True)
class Mechanism:
    name: str
    params_type: type
    scorer: Callable[..., dict[str, float]]
    horizon_param: str  # the params field holding the label horizon in samples: set from the profile only
    family: str = "mantis"  # whose settings part a challenge of this mechanism carries

    def check_overrides(self, overrides: Mapping[str, Any]) -> None:
        """Unknown names are errors, and so is the horizon: it comes from the challenge's horizon_blocks."""
        if self.horizon_param in overrides:
            raise ValueError(f"{self.name} parameter {self.horizon_param} is the challenge's horizon_blocks / "
                             f"chain.sample_every; set horizon_blocks instead")
        known = {f.name for f in dataclasses.fields(self.params_type)} - {self.horizon_param}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown {self.name} parameters: {', '.join(unknown)}; known: {', '.join(sorted(known))}")

    def make_params(self, overrides: Mapping[str, Any], horizon_samples: int) -> Any:
        """The mechanism's defaults with a profile's overrides and the challenge's horizon."""
        self.check_overrides(overrides)
        return self.params_type(**overrides, **{self.horizon_param: horizon_samples})

    def score(self, panel: Panel, mode: str, overrides: Mapping[str, Any], *, sample_every: int,
              horizon_blocks: int) -> dict[str, float]:
        """Salience of a panel under a challenge's settings (mode, params, horizon_blocks) and the chain's."""
        params = self.make_params(overrides, horizon_samples(horizon_blocks, sample_every))
        return self.scorer(panel.embeddings, panel.sidx(sample_every), panel.price, panel.hotkeys, mode, params)


MECHANISMS: dict[str, Mechanism] = {"binary": Mechanism("binary", BinaryParams, binary_salience, "ahead")}
