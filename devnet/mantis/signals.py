"""Seeded synthetic challenge panels with planted miner roles, for tests, benchmarks and the devnet.

The truth is known by construction: an informative miner's first feature is a noisy view of the
standardised future return (cross-sectional kinds: of each asset's standardised outcome against the
cross-sectional median), tuned so that its own AUC on the label equals its planted skill; every
other role is built to be worth nothing (noise, constants, silence, stale copies, slowly wandering
noise, values held for hours) or exactly as much as a miner it copies. A scorer is right when its
salience recovers that truth.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
from bittensor_core import Keypair
from scipy.signal import lfilter
from scipy.special import ndtr, ndtri

from mechanisms.mantis.breakout import BreakoutParams, breakout_events
from mechanisms.mantis.panel import Panel
from mechanisms.mantis.universe import BREAKOUT_ASSETS, FUNDING_ASSETS, TRADE_MIX_ASSETS
from profiles import Challenge, Profile
from protocol.validation import LBFGS_BUCKETS, PROB_FLOOR

DEFAULT_PRICE_KEY = "ETH"
# what a panel's values mean → their dimension (binary: any)
BREAKOUT, TRADE_MIX = "range_breakout_multi", "trade_mix"
KINDS = {"binary": None, "hitfirst": 3, "lbfgs": 17, "xsec_rank": len(BREAKOUT_ASSETS), "funding_xsec": len(FUNDING_ASSETS),
         BREAKOUT: 2 * len(BREAKOUT_ASSETS), TRADE_MIX: len(TRADE_MIX_ASSETS)}
# Kinds whose values are one score in [-1, 1] per asset, of a panel with one price column per asset;
# a cell of exactly 0 is "no value for that asset" (mantis.md §9).
CROSS_SECTIONAL = ("xsec_rank", "funding_xsec", TRADE_MIX)
SIGNED = ("binary",) + CROSS_SECTIONAL  # free-form values in [-1, 1] (the others are probabilities)
# Kinds whose panel's prices are columns of the XSEC market (`xsec_market`), and which of them
MARKET_COLUMNS = {"xsec_rank": BREAKOUT_ASSETS, BREAKOUT: BREAKOUT_ASSETS, TRADE_MIX: TRADE_MIX_ASSETS}
# MULTI-BREAKOUT: a miner's p_continuation where nothing breaks out is ndtr(this × N(0, 1)): alive, uninformative.
# Its planted skills (AUC on the events' labels) span BREAKOUT_AUC instead of the profile's range: a
# two-week panel holds about 330 events (0.75 an asset a day), on which an AUC of 0.55 is within noise.
BREAKOUT_SPREAD = 0.5
BREAKOUT_AUC = (0.6, 0.8)
# TRADE-MIX: an informative trader's positions are a noisy view of each asset's return over the next
# TRADE_VIEW_HOURS less the four assets' mean (its relative-value book), with correlation ρ rising
# linearly with its skill over TRADE_RHO; the noise is AR(1) with this persistence an hour, so a book
# turns over slowly enough for its pnl to pay the fees. ρ stays below √0.2: two traders' books then
# correlate below the seniority rule's 0.2 (mantis.md §11.7), as independent edges do.
TRADE_VIEW_HOURS = 6
TRADE_RHO = (0.1, 0.44)
TRADE_NOISE_PHI_HOUR = 0.9
F16_TINY = float(np.finfo(np.float16).smallest_subnormal)  # the smallest non-zero value the ledger stores
ROLES = ("informative", "noise", "constant", "silent", "clone", "twin", "copycat", "persistent", "stale", "young",
         "malformed", "hostile")
# Worthless roles whose values look alive (they wander, or change now and then) and come from streams of
# their own, with columns placed from another: every other miner's values, and the order of the other
# roles' columns, are those of the same mix without them.
ADVERSARIAL = ("persistent", "stale")
PERSISTENT_PHI = (0.8, 0.97)  # a persistent miner's AR(1) coefficients, per coordinate
STALE_HOURS = (2.0, 8.0)  # how long a stale miner holds one value
# The XSEC market (`xsec_market`): per asset a loading on the market factor (ETH's returns) and on one
# of five sector factors, drawn uniformly from these ranges; noise of its own makes up the rest of
# ETH's per-sample variance.
MARKET_BETA = (0.4, 0.8)
SECTOR_GAMMA = (0.2, 0.45)
SECTORS = 5
# The funding world (`funding_rates`): a new rate per asset every 8 hours, an AR(1) around the asset's
# mean with a shock common to every asset and one of its own; constant between settlements.
SETTLE_HOURS = 8.0
FUNDING_MEAN = (0.5e-4, 1.5e-4)
FUNDING_PHI = 0.7
FUNDING_COMMON = 3e-5
FUNDING_SHOCK = 5e-5


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
    # AR(1) noise per coordinate, φ ~ U[0.8, 0.97] (unrelated to prices, but smooth like a real view of them)
    persistent: int = 6
    stale: int = 3  # one worthless value held 2–8 hours, then another
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
        """The same proportions for `total` miners (largest remainders; at least 8 informative, taken
        from the noise miners first, then the other worthless roles)."""
        shares = {r: getattr(self, r) * total / self.total for r in ROLES}
        counts = {r: int(shares[r]) for r in ROLES}
        for r in sorted(ROLES, key=lambda r: counts[r] - shares[r])[: total - sum(counts.values())]:
            counts[r] += 1
        short = max(0, 8 - counts["informative"])
        counts["informative"] += short
        donors = ("noise", *ADVERSARIAL, "constant", "young", "silent", "copycat", "clone", "twin", "malformed", "hostile")
        for r in donors:  # the informative miners needed come from noise first
            take = min(short, counts[r])
            counts[r] -= take
            short -= take
        return RoleMix(**counts)


@dataclass(frozen=True)
class SignalSpec:
    seed: int = 0
    kind: str = "binary"  # KINDS: what the values predict
    price_key: str = "ETH"  # the price path's key: challenges reading one key share one path
    # Price samples drawn past the panel's end (None: the horizon). Specs with the same seed and
    # path_horizon share miners, roles, skills and, per price key, the path: a world sets its longest.
    path_horizon: int | None = None
    # Samples the XSEC market reaches past the panel's end (None: the path's). ETH's column is the path
    # itself, continued from a stream of its own beyond it: a world whose cross-sectional horizons are
    # longer than its single-asset ones keeps every single-asset panel, and the population, as it was.
    market_horizon: int | None = None
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
    omit_rate: float = 0.02  # cross-sectional kinds: an honest miner leaves this share of its cells out (0)
    gap_rate: float = 0.002  # samples the validator itself missed (whole rows absent)
    scale: float = 0.35  # feature scale inside [-1, 1]
    # The informative (twin, young) miners' noise: None iid; else AR(1) with unit stationary variance and
    # φ drawn per miner uniformly from this range (None leaves every panel as it was).
    noise_phi: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.roles.informative < 8:
            raise ValueError("at least 8 informative miners are needed for 8 distinct skills")
        if self.kind not in KINDS:
            raise ValueError(f"unknown signal kind {self.kind!r}; known: {', '.join(KINDS)}")
        lo, hi = self.auc_range
        if not 0.5 < lo < hi < 1:
            raise ValueError("auc_range must lie in (0.5, 1)")
        if self.noise_phi is not None and not 0 <= self.noise_phi[0] <= self.noise_phi[1] < 1:
            raise ValueError("noise_phi must be two AR(1) coefficients with 0 <= low <= high < 1")
        if not 0 <= self.omit_rate < 1:
            raise ValueError("omit_rate must lie in [0, 1)")


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


@lru_cache(maxsize=1024)  # a world's challenges plant the same skills
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
             days: float | None = None, copy_lag: int | None = None) -> SignalSpec:
    """The generator's settings for one challenge of a profile.

    The copycat's lag is the lock rule's minimum lock in samples: under the horizon rule a
    prediction is readable only once its horizon has passed; under the reference rule a minute later.
    A world whose miners lock one payload for every challenge passes its own (the longest).
    """
    if challenge.mechanism not in KINDS:
        raise ValueError(f"{challenge.name}: the devnet plants no {challenge.mechanism} values")
    chain, dev = profile.chain, profile.devnet
    roles = RoleMix(**dev.roles.model_dump())
    sample_seconds = chain.sample_every * chain.block_time
    return SignalSpec(
        seed=dev.seed if seed is None else seed,
        kind=challenge.mechanism,
        price_key=challenge.mantis.price,
        days=dev.bootstrap_days if days is None else days,
        samples_per_day=round(86_400 / sample_seconds),
        sample_every=chain.sample_every,
        dim=challenge.mantis.dim,
        horizon=profile.horizon_samples(challenge),
        auc_range=BREAKOUT_AUC if challenge.mechanism == BREAKOUT else dev.auc_range,
        roles=roles if miners is None else roles.scaled(miners),
        copy_lag=copy_lag or max(1, math.ceil(profile.lock_seconds(challenge) / sample_seconds)),
    )


def _price_path(spec: SignalSpec, rng: np.random.Generator, T: int) -> np.ndarray:
    """Log prices of T + the path's horizon samples. The returns are always drawn from `rng` (so every
    spec of a seed consumes it alike); a price key other than the default gets its own stream."""
    n = T + (spec.path_horizon or spec.horizon)
    returns = rng.normal(0.0, spec.vol_per_sample, n)
    if spec.price_key != DEFAULT_PRICE_KEY:
        returns = np.random.default_rng([spec.seed, zlib.crc32(spec.price_key.encode())]).normal(0.0, spec.vol_per_sample, n)
    return np.log(spec.price_start) + np.concatenate([[0.0], np.cumsum(returns)])


def _samples(spec: SignalSpec, market: bool = False) -> tuple[int, int]:
    """The panel's samples T and the path's samples past its start, n = T + the path's horizon (the
    market's: at least the spec's own horizon and the market's)."""
    T = round(spec.days * spec.samples_per_day)
    n = T + (spec.path_horizon or spec.horizon)
    return T, max(n, T + spec.horizon, T + (spec.market_horizon or 0)) if market else n


def xsec_market(spec: SignalSpec) -> np.ndarray:
    """(n + 1, 33) log prices of the XSEC universe (BREAKOUT_ASSETS order) over the path's samples.

    ETH's column is the seed's own ETH path (what a challenge reading ETH sees without a market) and
    its standardised returns are the market factor m; every other asset's return is
    vol · (β m + γ s_k + √(1 − β² − γ²) e): β ~ U[0.4, 0.8], one of five sector factors s_k with
    γ ~ U[0.2, 0.45], noise e of its own; so every asset has ETH's per-sample vol. Depends only on the
    seed, the sample count, the path's horizon, vol and start price: every spec of a world draws it alike.
    """
    T, n = _samples(spec, market=True)
    eth = _price_path(replace(spec, price_key=DEFAULT_PRICE_KEY), np.random.default_rng(spec.seed), T)
    if len(eth) < n + 1:  # continued beyond the path from a stream of its own
        more = np.random.default_rng([spec.seed, zlib.crc32(b"eth-continued")]).normal(0.0, spec.vol_per_sample, n + 1 - len(eth))
        eth = np.concatenate([eth, eth[-1] + np.cumsum(more)])
    m = np.diff(eth) / spec.vol_per_sample
    rng = np.random.default_rng([spec.seed, zlib.crc32(b"xsec-market")])
    A = len(BREAKOUT_ASSETS)
    beta, gamma = rng.uniform(*MARKET_BETA, size=A), rng.uniform(*SECTOR_GAMMA, size=A)
    sector = rng.integers(0, SECTORS, size=A)
    returns = rng.standard_normal((n, A))
    returns *= np.sqrt(1 - beta * beta - gamma * gamma)
    returns += beta * m[:, None] + gamma * rng.standard_normal((n, SECTORS))[:, sector]
    returns *= spec.vol_per_sample
    out = np.empty((n + 1, A))
    out[0] = math.log(spec.price_start)
    np.cumsum(returns, axis=0, out=out[1:])
    out[1:] += out[0]
    out[:, BREAKOUT_ASSETS.index(DEFAULT_PRICE_KEY)] = eth  # the very bits of the single-asset path
    return out


def funding_rates(spec: SignalSpec) -> np.ndarray:
    """(n + 1, 20) funding rates of FUNDING_ASSETS over the path's samples, settling every 8 hours at
    the sample indices that are multiples of the period (480 samples at one a minute) and constant in
    between. Each settlement's rate is an AR(1) (φ 0.7) around the asset's mean (U[0.5, 1.5]·1e-4)
    with a common shock (sd 3e-5) and one of its own (sd 5e-5), started from its stationary law; rates
    can be negative, as real ones. A label over one period is the change at the next settlement."""
    _, n = _samples(spec, market=True)
    period = max(1, round(spec.samples_per_day * SETTLE_HOURS / 24))
    sidx = spec.first_block // spec.sample_every + np.arange(n + 1)
    settled = sidx // period - sidx[0] // period  # settlements since the first sample
    K, A = int(settled[-1]) + 1, len(FUNDING_ASSETS)
    rng = np.random.default_rng([spec.seed, zlib.crc32(b"funding-rates")])
    mean = rng.uniform(*FUNDING_MEAN, size=A)
    shock = FUNDING_COMMON * rng.standard_normal((K, 1)) + FUNDING_SHOCK * rng.standard_normal((K, A))
    shock[0] /= math.sqrt(1 - FUNDING_PHI**2)  # the stationary law of the first settlement's rate
    return mean + lfilter([1.0], [1.0, -FUNDING_PHI], shock, axis=0)[settled]


def _standardised(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    std = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(std > 0, std, 1.0)


def truth(kind: str, log_price: np.ndarray, T: int, h: int, vol: float) -> np.ndarray:
    """(T, K) standardised outcomes an informative miner sees a noisy view of, one column per value
    its vector carries information about.

    binary: the future return over h samples, in units of its std. hitfirst: which barrier at ±σ (σ = the h-sample return's
    std) the path reaches first, one-hot over (up, down, neither). lbfgs: the return's z-bucket
    (≤ −2, (−2, −1), [−1, 1], (1, 2), ≥ 2), one-hot, then the twelve barrier events the q columns
    price: an up move from the previous sample of ≥ 0.5, 1, 2 σ (columns 5–10: twice, for buckets 0
    and 1), a down move of as much (columns 11–16: for buckets 3 and 4). xsec_rank, funding_xsec (log
    prices, funding rates: (n + 1, A)): each asset's change over h samples less the cross-sectional
    median, in units of its own root mean square, so it is > 0 exactly where the label is 1."""
    sigma = vol * math.sqrt(h)
    future = log_price[h : h + T] - log_price[:T]
    if kind in CROSS_SECTIONAL:
        future -= np.median(future, axis=1, keepdims=True)
        rms = np.sqrt((future * future).mean(axis=0))
        return future / np.where(rms > 0, rms, 1.0)
    if kind == "binary":
        return (future / sigma)[:, None]  # ≈ standard normal
    path = np.lib.stride_tricks.sliding_window_view(log_price[: T + h], h + 1)[:T]  # [t, t + h]
    if kind == "hitfirst":
        seg = path[:, 1:] - path[:, :1]
        up, dn = seg >= sigma, seg <= -sigma
        i_up = np.where(up.any(axis=1), up.argmax(axis=1), h)
        i_dn = np.where(dn.any(axis=1), dn.argmax(axis=1), h)
        label = np.where(i_up < i_dn, 0, np.where(i_dn < i_up, 1, 2))
        return _standardised(np.eye(3)[label])
    if kind == "lbfgs":
        z = future / sigma
        bucket = np.digitize(z, [-2.0, -1.0, 1.0 + 1e-12, 2.0])  # [−1, 1] closed, as the labels are
        base = np.concatenate([[log_price[0]], log_price[: T - 1]])  # the previous sample's price
        up = path.max(axis=1) - base
        dn = path.min(axis=1) - base
        hits_up = [up >= m * sigma for m in (0.5, 1.0, 2.0)]
        hits_dn = [dn <= -m * sigma for m in (0.5, 1.0, 2.0)]
        events = np.stack(hits_up + hits_up + hits_dn + hits_dn, axis=1)
        return _standardised(np.concatenate([np.eye(5)[bucket], events], axis=1))
    raise ValueError(f"unknown signal kind {kind!r}; known: {', '.join(KINDS)}")


def ar1(rng: np.random.Generator, phi: np.ndarray, T: int) -> np.ndarray:
    """(T, len(phi)) AR(1) series x_t = φ x_{t−1} + ε_t, one per coefficient, each started from its
    stationary distribution and scaled to unit stationary variance (φ = 0: standard normal noise)."""
    phi = np.asarray(phi, dtype=np.float64)
    e = rng.normal(size=(T, len(phi)))
    e[1:] *= np.sqrt(1 - phi * phi)  # x_0 = e_0 ~ N(0, 1): the stationary law
    return np.stack([lfilter([1.0], [1.0, -p], e[:, k]) for k, p in enumerate(phi)], axis=1)


def _orthogonal_noise(rng: np.random.Generator, outcome: np.ndarray, phi: float | None = None) -> np.ndarray:
    """Standard normal noise (AR(1) with coefficient `phi` when given) with each column's sample
    correlation to its outcome column removed and its sample std set to 1: a miner's realised skill is
    then its planted skill, not a draw around it, so two miners planted alike (a clone's source and its
    twin) are alike in the sample too."""
    noise = rng.normal(size=outcome.shape) if phi is None else ar1(rng, np.full(outcome.shape[1], phi), len(outcome))
    noise -= outcome * (noise * outcome).sum(axis=0) / np.maximum((outcome * outcome).sum(axis=0), 1e-12)
    return (noise - noise.mean(axis=0)) / np.maximum(noise.std(axis=0), 1e-12)


def _softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def as_submitted(kind: str, values: np.ndarray) -> np.ndarray:
    """Values as the validator stores them (protocol/validation.py): lbfgs bucket probabilities
    clipped and renormalised and barrier probabilities clipped; breakout pairs within [0, 1]; every
    other kind within [-1, 1]."""
    if kind == BREAKOUT:
        return np.clip(values, 0, 1)
    if kind != "lbfgs":
        return np.clip(values, -1, 1)
    values = np.clip(values, PROB_FLOOR, 1 - PROB_FLOOR)
    values[..., :LBFGS_BUCKETS] /= values[..., :LBFGS_BUCKETS].sum(axis=-1, keepdims=True)
    return values


def _as_stored_scores(a: np.ndarray) -> None:
    """Scores (float32, NaN where absent) as the ledger stores them, in place: clipped to [-1, 1] and
    rounded to the nearest float16 (ties to even, as `astype(np.float16)` rounds, several times
    faster), except that a non-zero score never becomes 0 ("no value"): float16's smallest step of its
    sign instead."""
    np.clip(a, -1, 1, out=a)
    small = np.abs(a) < np.float32(2.0**-14)  # float16's subnormals: one fixed step of 2^-24
    steps = a[small] * np.float32(2.0**24)
    bits = a.view(np.uint32)  # normal range: keep 10 of float32's 23 mantissa bits, rounding to even
    bits += ((bits >> 13) & 1) + np.uint32(0x0FFF)
    bits &= np.uint32(0xFFFF_E000)
    rounded = np.rint(steps)
    lost = (rounded == 0) & (steps != 0)
    rounded[lost] = np.sign(steps[lost])
    a[small] = rounded * np.float32(2.0**-24)


def _worthless(kind: str, rng: np.random.Generator, shape: tuple[int, ...], D: int) -> np.ndarray:
    """Well-formed values that carry no information: uniform features (scores), or random probabilities."""
    if kind in SIGNED:
        return rng.uniform(-1, 1, size=shape + (D,))
    if kind == BREAKOUT:
        return _pairs(rng.uniform(0, 1, size=shape + (D // 2,)))
    if kind == "hitfirst":
        return rng.dirichlet(np.ones(3), size=shape)
    return np.concatenate([rng.dirichlet(np.ones(5), size=shape), rng.uniform(0, 1, size=shape + (12,))], axis=-1)


def _pairs(p: np.ndarray) -> np.ndarray:
    """MULTI-BREAKOUT values (…, 2A) of p_continuation (…, A): [p, 1 − p] per asset."""
    out = np.empty(p.shape[:-1] + (2 * p.shape[-1],), dtype=p.dtype)
    out[..., 0::2], out[..., 1::2] = p, 1 - p
    return out


def _breakout_truth(spec: SignalSpec, log_price: np.ndarray, T: int) -> np.ndarray:
    """(3, n) the breakout events triggered in the panel's rows: trigger row, asset, label (1
    continuation, 0 reversal), replayed over the whole path (`breakout_events`, the spec's windows)
    so that events resolving after the panel's end have labels too."""
    sidx = spec.first_block // spec.sample_every + np.arange(len(log_price))
    events = breakout_events(np.exp(log_price), sidx, BreakoutParams())
    mine = events.trigger_row < T
    return np.stack([events.trigger_row[mine], events.asset[mine], events.label[mine]]).astype(np.int64)


def _breakout_view(rng: np.random.Generator, events: np.ndarray, skill: float, first: int, T: int,
                   omit_rate: float) -> np.ndarray:
    """(T − first, 66) an informative miner's MULTI-BREAKOUT values from row `first`: p_continuation
    ndtr(BREAKOUT_SPREAD · N(0, 1)) everywhere, except at each event's trigger row and asset, where
    it is ndtr of a view whose AUC on the events' labels is the planted skill (a shift of the
    continuations by √2·Φ⁻¹(skill) against unit noise orthogonal to the labels in the sample). A few
    assets are left out ([0, 0]) at the omission rate."""
    rows, A = T - first, len(BREAKOUT_ASSETS)
    p = ndtr(BREAKOUT_SPREAD * rng.standard_normal((rows, A), dtype=np.float32))
    row, asset, label = events[:, events[0] >= first]
    if len(label) > 1 and 0 < label.sum() < len(label):
        shift = math.sqrt(2) * ndtri(skill)
        y = label.astype(np.float64)[:, None]
        view = shift * (y - y.mean()) + _orthogonal_noise(rng, y - y.mean())
        p[row - first, asset] = ndtr(view[:, 0])
    out = _pairs(p)
    omit = rng.random((rows, A), dtype=np.float32) < omit_rate
    out[:, 0::2][omit] = 0.0
    out[:, 1::2][omit] = 0.0
    return out


def _trade_rho(spec: SignalSpec, skill: float) -> float:
    """An informative trader's ρ (TRADE_RHO): linear in its skill over the spec's AUC range."""
    lo, hi = spec.auc_range
    return TRADE_RHO[0] + (TRADE_RHO[1] - TRADE_RHO[0]) * (skill - lo) / (hi - lo)


def _persistent(spec: SignalSpec, rng: np.random.Generator, T: int) -> np.ndarray:
    """Values unrelated to prices that wander like a real view of them: an AR(1) series per coordinate
    (φ ~ U[0.8, 0.97] each, unit stationary variance) mapped as `_worthless` maps its draws: binary
    the scaled series; hitfirst a softmax of three; lbfgs a softmax of five (the buckets) and the
    normal CDF of twelve (the barrier events). Missing at the honest rate."""
    n = spec.dim if spec.kind in SIGNED else {"hitfirst": 3, "lbfgs": LBFGS_BUCKETS + 12, BREAKOUT: spec.dim // 2}[spec.kind]
    x = ar1(rng, rng.uniform(*PERSISTENT_PHI, size=n), T)
    if spec.kind in SIGNED:
        values = spec.scale * x
    elif spec.kind == BREAKOUT:
        values = _pairs(ndtr(x))
    elif spec.kind == "hitfirst":
        values = _softmax(x)
    else:
        values = np.concatenate([_softmax(x[:, :LBFGS_BUCKETS]), ndtr(x[:, LBFGS_BUCKETS:])], axis=1)
    values[rng.random(T) < spec.missing_rate] = np.nan
    return values


def _stale(spec: SignalSpec, rng: np.random.Generator, T: int) -> np.ndarray:
    """A worthless value (drawn as `_worthless` draws one) held unchanged for 2–8 hours (uniform; at least
    a sample), then another, for the whole panel. The holds are drawn first, so a miner's holds are the
    same in every challenge of a seed."""
    per_hour = spec.samples_per_day / 24
    starts, t = [], 0
    while t < T:
        starts.append(t)
        t += max(1, round(per_hour * rng.uniform(*STALE_HOURS)))
    held = np.diff(np.append(starts, T))
    return np.repeat(_worthless(spec.kind, rng, (len(starts),), spec.dim), held, axis=0)


def generate(spec: SignalSpec = SignalSpec(), market: np.ndarray | None = None) -> Panel:
    """One challenge's panel: samples × miners × dim (NaN = not submitted), the price path, the roles.

    Cross-sectional kinds have one price column per asset: xsec_rank the XSEC market's prices,
    funding_xsec the funding rates (`xsec_market`, `funding_rates`); their honest values are never
    exactly 0 (float16's smallest step of the value's sign instead), a cell of 0 is an asset left out.
    `market` (a world with an XSEC challenge: `xsec_market` of its specs) is the one source of every
    price it holds: an XSEC panel's prices and, for a price key that is an XSEC asset, a single-asset
    panel's path (its ETH column is the seed's ETH path anyway).

    Specs with the same seed and path_horizon get the same miners, roles and informative skills and,
    per price key, the same price path, whatever their kind, so a world's challenges share one
    planted population. (Young miners' skills and the validator's missed rows are drawn per panel.)
    Binary panels keep the generator's original draws. The ADVERSARIAL roles draw from streams of their
    own (their columns from one, each miner's values from another), so the other roles' values and the
    order of their columns are those of the same mix without them."""
    rng = np.random.default_rng(spec.seed)
    T, D, h, kind = round(spec.days * spec.samples_per_day), spec.dim, spec.horizon, spec.kind
    if KINDS[kind] not in (None, D):
        raise ValueError(f"{kind} values have {KINDS[kind]} dimensions, not {D}")
    H = spec.roles.total - spec.roles.hostile  # hostile miners come after everyone, outside the draws
    log_price = _price_path(spec, rng, T)  # drawn for every kind: every spec of a seed consumes rng alike
    if market is not None and (market.shape[0] < len(log_price) or market.shape[1:] != (len(BREAKOUT_ASSETS),)):
        raise ValueError(f"the market must be (≥ {len(log_price)}, {len(BREAKOUT_ASSETS)}) log prices, not {market.shape}")
    if kind in MARKET_COLUMNS:
        log_price = xsec_market(spec) if market is None else market
        if kind == TRADE_MIX:
            log_price = log_price[:, [BREAKOUT_ASSETS.index(a) for a in TRADE_MIX_ASSETS]]
    elif kind == "funding_xsec":
        log_price = funding_rates(spec)  # rates, not log prices
    elif market is not None and spec.price_key in BREAKOUT_ASSETS:
        log_price = market[: len(log_price), BREAKOUT_ASSETS.index(spec.price_key)]
    if kind == BREAKOUT:
        outcome = _breakout_truth(spec, log_price, T)
    elif kind == TRADE_MIX:  # a view past the path's end sees no move there
        view = round(TRADE_VIEW_HOURS * spec.samples_per_day / 24)
        held = np.concatenate([log_price, np.repeat(log_price[-1:], max(0, T + view - len(log_price)), axis=0)])
        outcome = truth(kind, held, T, view, spec.vol_per_sample)
    else:
        outcome = truth(kind, log_price, T, h, spec.vol_per_sample)
    if kind in CROSS_SECTIONAL:
        outcome = outcome.astype(np.float32)  # (T, A) per miner: float32 halves the generator's traffic
    if kind != BREAKOUT:
        gaps = np.maximum(outcome.max(axis=0) - outcome.min(axis=0), 1e-9)  # an event's two standardised values

    roles = [r for r in _roles(spec) if r not in ("hostile",) + ADVERSARIAL]
    order = rng.permutation(len(roles))  # hotkey index ↔ role is random, so sorting reveals nothing
    adversarial = [r for r in _roles(spec) if r in ADVERSARIAL]
    side = np.random.default_rng([spec.seed, zlib.crc32(b"adversarial-columns")])
    taken = side.choice(H, len(adversarial), replace=False)  # their columns, in random order
    order = np.setdiff1d(np.arange(H), taken)[order]  # the others keep their order in the columns left
    hotkeys = [hotkey_for(spec.seed, i) for i in range(spec.roles.total)]
    lo, hi = spec.auc_range
    skills = np.linspace(lo, hi, spec.roles.informative)
    rng.shuffle(skills)

    # MULTI-BREAKOUT's values are probabilities the ledger keeps as float16: planted so (66 wide, a float32
    # panel of 256 miners over 60 days would be 6 GB)
    X = np.full((T, spec.roles.total, D), np.nan, dtype=np.float16 if kind == BREAKOUT else np.float32)
    miners: list[PlantedMiner | None] = [None] * spec.roles.total

    def informative(skill: float, first: int = 0) -> np.ndarray:
        """A noisy view of the outcome whose AUC on it is the planted skill (binary: feature 0 on the
        direction; cross-sectional: every asset's score, a few left out; otherwise each column's view
        on its event, with noise orthogonal to it in the sample, so the realised skill is the planted
        one); probabilities are a softmax of the views (buckets, hit-first classes) or their normal
        CDF (barrier events). The rows from `first` on (the older kinds still draw every row)."""
        phi = None if spec.noise_phi is None else float(rng.uniform(*spec.noise_phi))  # one φ a miner
        rows = T - first if kind in CROSS_SECTIONAL + (BREAKOUT,) else T
        if kind == BREAKOUT:
            values = _breakout_view(rng, outcome, float(skill), first, T, spec.omit_rate)
        elif kind == TRADE_MIX:  # a book that turns over slowly (φ an hour: the world's, or the miner's own)
            rho = _trade_rho(spec, float(skill))
            per_sample = (TRADE_NOISE_PHI_HOUR if phi is None else phi) ** (24 / spec.samples_per_day)
            values = rho * outcome[first:] + math.sqrt(1 - rho * rho) * _orthogonal_noise(rng, outcome[first:], per_sample)
            values = (spec.scale * values).astype(np.float32)
            values[rng.random((rows, D), dtype=np.float32) < spec.omit_rate] = 0.0
        elif kind in CROSS_SECTIONAL:
            rho = rho_for_auc(float(skill))
            if phi is None:
                values = rng.standard_normal((rows, D), dtype=np.float32)
            else:
                values = ar1(rng, np.full(D, phi), rows).astype(np.float32)
            values *= np.float32(spec.scale * math.sqrt(1 - rho * rho))
            values += np.float32(spec.scale * rho) * outcome[first:]
            values[rng.random((rows, D), dtype=np.float32) < spec.omit_rate] = 0.0
        elif kind == "binary":
            rho = rho_for_auc(float(skill))
            if phi is None:
                values = spec.scale * rng.normal(size=(T, D))
                values[:, 0] = spec.scale * (rho * outcome[:, 0] + math.sqrt(1 - rho * rho) * rng.normal(size=T))
            else:
                noise = ar1(rng, np.full(D, phi), T)
                values = spec.scale * noise
                values[:, 0] = spec.scale * (rho * outcome[:, 0] + math.sqrt(1 - rho * rho) * noise[:, 0])
        else:  # a shift of an event's rows by a·gap against unit noise has AUC Φ(a·gap/√2)
            view = math.sqrt(2) * ndtri(float(skill)) / gaps * outcome + _orthogonal_noise(rng, outcome, phi)
            if kind == "hitfirst":
                values = _softmax(view)
            else:
                values = np.concatenate([_softmax(view[:, :LBFGS_BUCKETS]), ndtr(view[:, LBFGS_BUCKETS:])], axis=1)
        values[rng.random(rows) < spec.missing_rate] = np.nan
        return values[rows - (T - first) :]

    slots = {r: [int(order[i]) for i, role in enumerate(roles) if role == r] for r in ROLES}
    slots |= {r: [int(taken[i]) for i, role in enumerate(adversarial) if role == r] for r in ADVERSARIAL}
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
    for col in slots["clone"]:  # a near copy; what the source leaves out (0) it leaves out too
        X[:, col] = as_submitted(kind, X[:, original] + (X[:, original] != 0) * rng.uniform(-2e-4, 2e-4, size=(T, D)))
        miners[col] = PlantedMiner(hotkeys[col], "clone", miners[original].skill, 0, hotkeys[original])
    for col in slots["copycat"]:
        X[spec.copy_lag :, col] = X[: T - spec.copy_lag, best]
        miners[col] = PlantedMiner(hotkeys[col], "copycat", math.nan, spec.copy_lag, hotkeys[best])
    for col in slots["noise"]:
        X[:, col] = _worthless(kind, rng, (T,), D)
        miners[col] = PlantedMiner(hotkeys[col], "noise", math.nan, 0)
    for col in slots["constant"]:
        X[:, col] = _worthless(kind, rng, (), D)
        miners[col] = PlantedMiner(hotkeys[col], "constant", math.nan, 0)
    for role, draw in (("persistent", _persistent), ("stale", _stale)):
        for col in slots[role]:  # a stream per miner: the same in every challenge of the seed
            X[:, col] = draw(spec, np.random.default_rng([spec.seed, zlib.crc32(role.encode()), col]), T)
            miners[col] = PlantedMiner(hotkeys[col], role, math.nan, 0)
    for role in ("silent", "malformed", "hostile"):
        for col in slots[role]:
            miners[col] = PlantedMiner(hotkeys[col], role, math.nan, T)
    start = T - round(spec.young_days * spec.samples_per_day)
    for col in slots["young"]:
        skill = float(rng.uniform(lo, hi))
        first = range(T)[start:].start  # the row X[start:] starts at
        X[first:, col] = informative(skill, first)
        miners[col] = PlantedMiner(hotkeys[col], "young", skill, start)

    # What the ledger stores: validated values as float16, read back as float32 (in place, a few rows at
    # a time: a cross-sectional panel is hundreds of MB). MULTI-BREAKOUT's are planted as float16.
    for r0 in range(0, T if kind != BREAKOUT else 0, 256):
        rows = X[r0 : r0 + 256]
        if kind in CROSS_SECTIONAL:
            _as_stored_scores(rows)
        else:
            rows[:] = as_submitted(kind, rows).astype(np.float16)
    kept = rng.random(T) >= spec.gap_rate
    sidx = spec.first_block // spec.sample_every + np.arange(T)
    price = log_price[:T] if kind == "funding_xsec" else np.exp(log_price[:T])
    return Panel(
        hotkeys=tuple(hotkeys),
        block=(sidx * spec.sample_every)[kept].astype(np.int64),
        price=price[kept],
        embeddings=X if kept.all() else X[kept],
        roles=tuple(m.role for m in miners),
        skill=np.array([m.skill for m in miners]),
        sources=tuple(m.source for m in miners),
    )
