"""The mechanisms a profile can name: their family, parameter types and (MANTIS) panel scorers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
from mechanisms.almanac.params import AlmanacParams
from mechanisms.mantis.binary import BinaryParams, binary_salience
from mechanisms.mantis.breakout import BreakoutParams, breakout_salience, trigger_samples
from mechanisms.mantis.fitcache import FitCache
from mechanisms.mantis.hitfirst import HitfirstParams, hitfirst_salience
from mechanisms.mantis.lbfgs import LbfgsParams, lbfgs_salience
from mechanisms.mantis.panel import Panel
from mechanisms.mantis.trademix import TradeMixParams, trade_mix_salience
from mechanisms.mantis.universe import BREAKOUT_ASSETS, FUNDING_ASSETS, FUNDING_PREFIX, TRADE_MIX_ASSETS
from mechanisms.mantis.xsec import FundingParams, XsecParams, funding_salience, xsec_salience


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
    family: str  # whose settings part a challenge of this mechanism carries
    # Parameters the platform sets from elsewhere in the profile, each with where to set it instead.
    reserved: Mapping[str, str]
    scorer: Callable[..., dict[str, float]] | None = None  # MANTIS: salience of a panel
    horizon_param: str = ""  # MANTIS: the params field holding the label horizon in samples
    value_rule: str = "signed"  # MANTIS: how a submitted vector is checked (protocol/validation.py)
    cached: bool = False  # MANTIS: the scorer keeps its fixed-mode fits in a FitCache (`cache=`)
    # MANTIS multi-asset challenges: the assets of the vector and its values per asset, miners'
    # values are objects {asset: value} (value rule object: one number an asset; pairs: two), and
    # the panel's prices are one column per asset, read under prefix + asset.
    assets: tuple[str, ...] = ()
    per_asset: int = 1
    price_prefix: str = ""
    # MANTIS: the sample indices at which the scorer reads values, from the panel's sidx and prices
    # (MULTI-BREAKOUT: its events' trigger samples); None reads every row
    value_rows: Callable[..., np.ndarray] | None = None

    @property
    def dim(self) -> int | None:
        """A multi-asset challenge's vector length (None: the profile's mantis.dim says)."""
        return len(self.assets) * self.per_asset if self.assets else None

    def price_keys(self, price: str) -> tuple[str, ...]:
        """The price snapshot keys a challenge's panel reads: one per asset, or its own price key."""
        return tuple(self.price_prefix + a for a in self.assets) if self.assets else (price,)

    def check_overrides(self, overrides: Mapping[str, Any]) -> None:
        """Unknown names are errors, and so are the reserved ones (the horizon, the mode, …)."""
        for name in sorted(set(overrides) & set(self.reserved)):
            raise ValueError(f"{self.name} parameter {name} comes from the profile; set {self.reserved[name]} instead")
        known = {f.name for f in dataclasses.fields(self.params_type)} - set(self.reserved)
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown {self.name} parameters: {', '.join(unknown)}; known: {', '.join(sorted(known))}")

    def make_params(self, overrides: Mapping[str, Any], **reserved: Any) -> Any:
        """The mechanism's defaults with a profile's overrides and the reserved values."""
        self.check_overrides(overrides)
        return self.params_type(**overrides, **reserved)

    def _params(self, overrides: Mapping[str, Any], sample_every: int, horizon_blocks: int) -> Any:
        """A MANTIS challenge's parameters: its overrides and its horizon in samples."""
        return self.make_params(overrides, **{self.horizon_param: horizon_samples(horizon_blocks, sample_every)})

    def lookback(self, overrides: Mapping[str, Any], mode: str, *, sample_every: int, horizon_blocks: int) -> int | None:
        """Samples of history the scorer reads before the newest, where its parameters say (None: the
        family's default window)."""
        params = self._params(overrides, sample_every, horizon_blocks)
        return params.lookback(mode) if hasattr(params, "lookback") else None

    def rows_read(self, overrides: Mapping[str, Any], mode: str, *, sample_every: int, horizon_blocks: int,
                  sidx: np.ndarray, price: np.ndarray) -> np.ndarray | None:
        """The sample indices whose values the scorer reads from a panel of these rows and prices
        (None: all of them); the platform reads only those from the ledger."""
        if self.value_rows is None:
            return None
        return self.value_rows(sidx, price, mode, self._params(overrides, sample_every, horizon_blocks))

    def score(self, panel: Panel, mode: str, overrides: Mapping[str, Any], *, sample_every: int,
              horizon_blocks: int, cache: FitCache | None = None) -> dict[str, float]:
        """Salience of a panel under a challenge's settings (mode, params, horizon_blocks) and the chain's;
        a scorer that keeps fits looks them up in `cache` (the result is the same with or without one)."""
        params = self._params(overrides, sample_every, horizon_blocks)
        extra = {"cache": cache} if self.cached and cache is not None else {}
        return self.scorer(panel.embeddings, panel.sidx(sample_every), panel.price, panel.hotkeys, mode, params, **extra)


HORIZON = {"ahead": "the challenge's mantis.horizon_blocks"}
MECHANISMS: dict[str, Mechanism] = {
    "binary": Mechanism("binary", BinaryParams, "mantis", HORIZON, binary_salience, "ahead", cached=True),
    "hitfirst": Mechanism("hitfirst", HitfirstParams, "mantis", HORIZON, hitfirst_salience, "ahead", cached=True),
    "lbfgs": Mechanism("lbfgs", LbfgsParams, "mantis", HORIZON, lbfgs_salience, "ahead", value_rule="lbfgs",
                       cached=True),
    "xsec_rank": Mechanism("xsec_rank", XsecParams, "mantis", HORIZON, xsec_salience, "ahead", value_rule="object",
                           assets=BREAKOUT_ASSETS, cached=True),
    "funding_xsec": Mechanism("funding_xsec", FundingParams, "mantis", HORIZON, funding_salience, "ahead",
                              value_rule="object", assets=FUNDING_ASSETS, price_prefix=FUNDING_PREFIX, cached=True),
    "range_breakout_multi": Mechanism("range_breakout_multi", BreakoutParams, "mantis", HORIZON, breakout_salience,
                                      "ahead", value_rule="pairs", assets=BREAKOUT_ASSETS, per_asset=2,
                                      value_rows=trigger_samples),
    "trade_mix": Mechanism("trade_mix", TradeMixParams, "mantis", HORIZON, trade_mix_salience, "ahead",
                           value_rule="object", assets=TRADE_MIX_ASSETS),
    "almanac": Mechanism("almanac", AlmanacParams, "almanac",
                         {"mode": "the challenge's mode", "variant": "the challenge's almanac.variant",
                          "burn_uid": "weights.burn_uid"}),
}
