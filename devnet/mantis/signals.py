"""Seeded synthetic challenge panels with planted miner roles, for tests, benchmarks and the devnet.

The truth is known by construction: an informative miner's first feature is a noisy view of the
standardised future return, tuned so that its own AUC on the label equals its planted skill; every
other role is built to be worth nothing (noise, constants, silence, stale copies) or exactly as much
as a miner it copies. A scorer is right when its salience recovers that truth.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from bittensor_core import Keypair
from scipy.special import ndtr

from mechanisms.mantis.panel import Panel
from profiles import Challenge, Profile

ROLES = ("informative", "noise", "constant", "silent", "clone", "twin", "copycat", "young", "malformed", "hostile")


@dataclass(frozen=True)
class RoleMix:
    """How many miners play each role; the clones copy one top-quartile informative miner."""

    informative: int = 24
    noise: int = 6
    constant: int = 3
    silent: int = 2
    clone: int = 3
    twin: int = 1
    copycat: int = 3
    young: int = 6
    malformed: int = 0  # devnet miners that publish broken payloads (no values in a panel)
    # devnet miners that attack the validator itself (oversized, deeply nested, late-locked, …;
    # no values in a panel). They take the last hotkeys and draw nothing from the generator, so
    # every other miner's values are the same with or without them.
    hostile: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, r) for r in ROLES)

    def scaled(self, total: int) -> "RoleMix":
        """The same proportions for `total` miners (largest remainders; at least 8 informative)."""
        shares = {r: getattr(self, r) * total / self.total for r in ROLES}
        counts = {r: int(shares[r]) for r in ROLES}
        for r in sorted(ROLES, key=lambda r: counts[r] - shares[r])[: total - sum(counts.values())]:
            counts[r] += 1
        short = max(0, 8 - counts["informative"])
        counts["informative"] += short
        counts["noise"] = max(0, counts["noise"] - short)
        return RoleMix(**counts)


@dataclass(frozen=True)
class SignalSpec:
    seed: int = 0
    days: float = 14.0
    samples_per_day: int = 1440
    sample_every: int = 5  # blocks per sample
    first_block: int = 1_000_000
    dim: int = 2
    horizon: int = 60  # samples until the label's future price
    auc_range: tuple[float, float] = (0.51, 0.60)
    roles: RoleMix = field(default_factory=RoleMix)
    # The newest prediction a copycat can read is this many samples old: the lock rule's
    # minimum lock (fixed mode: the horizon; the reference's 30 s lock: one sample).
    copy_lag: int = 60
    young_days: float = 3.0
    price_start: float = 3000.0
    vol_per_sample: float = 0.0008
    missing_rate: float = 0.01  # an honest miner misses this share of samples
    gap_rate: float = 0.002  # samples the validator itself missed (whole rows absent)
    scale: float = 0.35  # feature scale inside [-1, 1]

    def __post_init__(self) -> None:
        if self.roles.informative < 8:
            raise ValueError("at least 8 informative miners are needed for 8 distinct skills")
        lo, hi = self.auc_range
        if not 0.5 < lo < hi < 1:
            raise ValueError("auc_range must lie in (0.5, 1)")


@dataclass(frozen=True)
class PlantedMiner:
    hotkey: str
    role: str
    skill: float  # the planted single-miner AUC; NaN where the role has none
    first_sample: int  # index of the first sample it submits at
    source: str = ""  # the hotkey a clone or copycat copies


@lru_cache(maxsize=1)
def _half_normal_sum_grid() -> tuple[np.ndarray, np.ndarray]:
    """Grid and probability masses of S = |Z₁| + |Z₂| for independent standard normals Z."""
    step = 0.005
    z = np.arange(step / 2, 8, step)
    half = np.exp(-z * z / 2) * math.sqrt(2 / math.pi) * step
    mass = np.convolve(half, half)
    s = np.arange(len(mass)) * step + step  # the sum of two bin midpoints
    return s, mass / mass.sum()


def rho_for_auc(auc: float) -> float:
    """Correlation ρ of f = ρZ + √(1−ρ²)ε with a standard normal Z such that AUC(f, 1[Z>0]) = auc.

    For a positive and a negative row, f⁺ − f⁻ = ρ(|Z₁| + |Z₂|) + √(2(1−ρ²))·N, so
    AUC = E[Φ(ρS / √(2(1−ρ²)))] with S a sum of two half-normals; solved by bisection.
    """
    s, mass = _half_normal_sum_grid()
    lo, hi = 0.0, 0.99
    for _ in range(50):
        mid = (lo + hi) / 2
        value = float((ndtr(mid * s / math.sqrt(2 * (1 - mid * mid))) * mass).sum())
        lo, hi = (mid, hi) if value < auc else (lo, mid)
    return (lo + hi) / 2


def hotkey_for(seed: int, index: int) -> str:
    """A real sr25519 hotkey the devnet can re-derive (and sign with) from the seed."""
    secret = hashlib.sha256(f"incentive-devnet-miner:{seed}:{index}".encode()).digest()
    return Keypair.create_from_seed(secret).ss58_address


def _roles(spec: SignalSpec) -> list[str]:
    return [r for r in ROLES for _ in range(getattr(spec.roles, r))]


def spec_for(profile: Profile, challenge: Challenge, *, seed: int | None = None, miners: int | None = None,
             days: float | None = None) -> SignalSpec:
    """The generator's settings for one challenge of a profile.

    The copycat's lag is the lock rule's minimum lock in samples: under the horizon rule a
    prediction is readable only once its horizon has passed; under the reference rule a minute later.
    """
    chain, dev = profile.chain, profile.devnet
    roles = RoleMix(**dev.roles.model_dump())
    sample_seconds = chain.sample_every * chain.block_time
    return SignalSpec(
        seed=dev.seed if seed is None else seed,
        days=dev.bootstrap_days if days is None else days,
        samples_per_day=round(86_400 / sample_seconds),
        sample_every=chain.sample_every,
        dim=challenge.mantis.dim,
        horizon=profile.horizon_samples(challenge),
        auc_range=dev.auc_range,
        roles=roles if miners is None else roles.scaled(miners),
        copy_lag=max(1, math.ceil(profile.lock_seconds(challenge) / sample_seconds)),
    )


def generate(spec: SignalSpec = SignalSpec()) -> Panel:
    """One challenge's panel: samples × miners × dim (NaN = not submitted), the price path, the roles."""
    rng = np.random.default_rng(spec.seed)
    T, D, h = round(spec.days * spec.samples_per_day), spec.dim, spec.horizon
    H = spec.roles.total - spec.roles.hostile  # hostile miners come after everyone, outside the draws

    returns = rng.normal(0.0, spec.vol_per_sample, T + h)
    log_price = np.log(spec.price_start) + np.concatenate([[0.0], np.cumsum(returns)])
    future = log_price[h : h + T] - log_price[:T]
    z = future / (spec.vol_per_sample * math.sqrt(h))  # standardised future return per sample

    roles = [r for r in _roles(spec) if r != "hostile"]
    order = rng.permutation(H)  # hotkey index ↔ role is random, so sorting reveals nothing
    hotkeys = [hotkey_for(spec.seed, i) for i in range(spec.roles.total)]
    lo, hi = spec.auc_range
    skills = np.linspace(lo, hi, spec.roles.informative)
    rng.shuffle(skills)

    X = np.full((T, spec.roles.total, D), np.nan, dtype=np.float32)
    miners: list[PlantedMiner | None] = [None] * spec.roles.total

    def informative(skill: float) -> np.ndarray:
        rho = rho_for_auc(float(skill))
        values = spec.scale * rng.normal(size=(T, D))
        values[:, 0] = spec.scale * (rho * z + math.sqrt(1 - rho * rho) * rng.normal(size=T))
        values[rng.random(T) < spec.missing_rate] = np.nan
        return values

    slots = {r: [int(order[i]) for i, role in enumerate(roles) if role == r] for r in ROLES}
    slots["hostile"] = list(range(H, spec.roles.total))
    for k, col in enumerate(slots["informative"]):
        X[:, col] = informative(skills[k])
        miners[col] = PlantedMiner(hotkeys[col], "informative", float(skills[k]), 0)
    ranked = sorted(slots["informative"], key=lambda c: miners[c].skill)
    original = ranked[int(0.8 * (len(ranked) - 1))]  # top quartile
    best = ranked[-1]
    for col in slots["twin"]:
        X[:, col] = informative(miners[original].skill)
        miners[col] = PlantedMiner(hotkeys[col], "twin", miners[original].skill, 0, hotkeys[original])
    for col in slots["clone"]:
        X[:, col] = X[:, original] + rng.uniform(-2e-4, 2e-4, size=(T, D))
        miners[col] = PlantedMiner(hotkeys[col], "clone", miners[original].skill, 0, hotkeys[original])
    for col in slots["copycat"]:
        X[spec.copy_lag :, col] = X[: T - spec.copy_lag, best]
        miners[col] = PlantedMiner(hotkeys[col], "copycat", math.nan, spec.copy_lag, hotkeys[best])
    for col in slots["noise"]:
        X[:, col] = rng.uniform(-1, 1, size=(T, D))
        miners[col] = PlantedMiner(hotkeys[col], "noise", math.nan, 0)
    for col in slots["constant"]:
        X[:, col] = rng.uniform(-1, 1, size=D)
        miners[col] = PlantedMiner(hotkeys[col], "constant", math.nan, 0)
    for role in ("silent", "malformed", "hostile"):
        for col in slots[role]:
            miners[col] = PlantedMiner(hotkeys[col], role, math.nan, T)
    start = T - round(spec.young_days * spec.samples_per_day)
    for col in slots["young"]:
        skill = float(rng.uniform(lo, hi))
        X[start:, col] = informative(skill)[start:]
        miners[col] = PlantedMiner(hotkeys[col], "young", skill, start)

    # What the ledger stores: float16 values within [-1, 1], read back as float32.
    X = np.clip(X, -1, 1).astype(np.float16).astype(np.float32)
    kept = rng.random(T) >= spec.gap_rate
    sidx = spec.first_block // spec.sample_every + np.arange(T)
    return Panel(
        hotkeys=tuple(hotkeys),
        block=(sidx * spec.sample_every)[kept].astype(np.int64),
        price=np.exp(log_price[:T])[kept],
        embeddings=X[kept],
        roles=tuple(m.role for m in miners),
        skill=np.array([m.skill for m in miners]),
        sources=tuple(m.source for m in miners),
    )
