"""The profile file: one YAML per subnet, validated before anything runs (pydantic v2).

A profile names the chain, the weight rules, the challenges with their mechanisms and modes, the
protocol settings, where data comes from, and the devnet's planted population. Unknown keys are
errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mechanisms.registry import MECHANISMS, horizon_samples
from mechanisms.weights import ema_alpha_per_epoch
from protocol.payload import Limits
from protocol.validation import ChallengeFormat, max_plaintext_bytes


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Chain(Strict):
    network: str = "devnet"  # devnet | finney | test | local | ws://…
    netuid: int = Field(1, ge=0, le=65535)
    tempo: int = Field(360, gt=0)  # blocks per epoch
    sample_every: int = Field(5, gt=0)  # blocks per sample
    block_time: float = Field(12.0, gt=0)  # seconds


class Weights(Strict):
    burn_uid: int = Field(0, ge=0, le=65535)
    burn_share: float = Field(0.35, ge=0, le=1)
    ema_alpha: float | None = Field(None, gt=0, le=1)  # None: 1 − 0.7^(tempo/1000) per epoch
    young_window_blocks: int = Field(36_000, ge=0)
    young_weight: float = Field(0.0001, ge=0, lt=1)
    degenerate_rel_std: float = Field(0.001, ge=0)
    # A vector with all its weight on the burn uid is a legitimate result where a mechanism burns
    # what nobody earned (Almanac): accept it instead of rejecting it as "identical".
    accept_all_burn: bool = False
    version_key: int = Field(0, ge=0)


class Mantis(Strict):
    """The MANTIS family's part of a challenge: what miners submit and how far ahead it looks."""

    ticker: str = Field(min_length=1)  # the plaintext key miners submit under
    dim: int = Field(gt=0)
    horizon_blocks: int = Field(gt=0)
    price_key: str | None = Field(None, min_length=1)  # the price snapshot's key for labels; None: the ticker

    @property
    def price(self) -> str:
        """The price snapshot key the challenge's labels read."""
        return self.price_key or self.ticker


class Almanac(Strict):
    """The Almanac (SN41) family's part of a challenge: which upstream revision's program shape."""

    variant: Literal["head", "seed_excerpt"] = "head"


FAMILY_PARTS = {"mantis": Mantis, "almanac": Almanac}  # family → its part's type; a challenge carries exactly its own


class Challenge(Strict):
    """A challenge's shared settings, and under its family's name the family's own part."""

    name: str = Field(min_length=1)
    mechanism: str
    weight: float = Field(gt=0)
    mode: Literal["compat", "fixed"] = "fixed"
    params: dict[str, Any] = Field(default_factory=dict)
    mantis: Mantis | None = None
    almanac: Almanac | None = None

    @field_validator("mechanism")
    @classmethod
    def _known_mechanism(cls, value: str) -> str:
        if value not in MECHANISMS:
            raise ValueError(f"unknown mechanism {value!r}; implemented: {', '.join(sorted(MECHANISMS))}")
        return value

    @model_validator(mode="after")
    def _params_fit_mechanism(self) -> "Challenge":
        family = MECHANISMS[self.mechanism].family
        for part in FAMILY_PARTS:
            present = getattr(self, part) is not None
            if part == family and not present:
                raise ValueError(f"a {self.mechanism} challenge needs its {family} settings ({part}: {{...}})")
            if part != family and present:
                raise ValueError(f"a {self.mechanism} challenge is of the {family} family; {part} settings do not apply")
        MECHANISMS[self.mechanism].check_overrides(self.params)  # raises ValueError naming the bad key
        mechanism = MECHANISMS[self.mechanism]
        if mechanism.assets and self.mantis is not None:
            if self.mantis.dim != mechanism.dim:
                raise ValueError(f"a {self.mechanism} challenge's dim is {mechanism.dim} ({len(mechanism.assets)} assets), "
                                 f"not {self.mantis.dim}")
            if self.mantis.price_key is not None:
                raise ValueError(f"a {self.mechanism} challenge reads one price per asset; price_key does not apply")
        return self

    @property
    def price_keys(self) -> tuple[str, ...]:
        """The price snapshot keys a MANTIS challenge's panel reads (one per asset for a multi-asset one)."""
        return MECHANISMS[self.mechanism].price_keys(self.mantis.price)


class Vesting(Strict):
    """Vesting multipliers (vesting_bettensor.md §2, §4, §9): any profile may switch them on."""

    enabled: bool = False
    formula: Literal["table", "continuous"] = "table"
    amount_strict: bool = True  # h must exceed 30/50/70 % (the design's "> 30 %"); false: reaching counts
    time_strict: bool = False  # d counts from the day it reaches 14/30/60 ("held two weeks"); true: exceed
    max_multiplier: float = Field(1.5, ge=1.0, le=10.0)
    min_stake_tao: float = Field(0.3, ge=0)  # §9: alpha stake × moving price below this gets weight 0
    shadow: bool = False  # compute and show the multipliers, do not apply them
    activation_epoch: int | None = Field(None, ge=0)  # nothing before it counts (V9); None: the first epoch scored
    flows: Literal["events", "snapshots"] = "events"  # §3.3 decoded stake events, or §3.4 snapshot differences


class Protocol(Strict):
    owner_pk: str = Field("fbfe185ded7a4e6865effceb23cbac32894170587674e751ac237a06f72b3067",
                          pattern=r"^[0-9a-fA-F]{64}$")
    # horizon: a challenge counts only if the round stays sealed for its horizon (mantis.md §3.1,
    # fixed mode); reference: the reference validator's rule (no check; miners lock 30 s).
    lock_rule: Literal["horizon", "reference"] = "horizon"
    reference_lock_seconds: float = Field(30.0, gt=0)
    # A payload's round must be published within this many blocks of its sample (mantis.md §7.3):
    # a later round is refused at download (reason "round"), and an epoch waits for drand at most
    # this long before unpublished rounds count as "timelock-unavailable".
    round_deadline_blocks: int = Field(1200, gt=0)
    # The reference rule (compat challenges, or lock_rule "reference"): a round not published this
    # many blocks after its sample yields no values, as the reference drops it (F11).
    maturity_blocks: int = Field(300, gt=0)
    # How much longer than its horizon a payload may lock under the horizon rule: a round published
    # later than the longest horizon plus this after its sample is refused at download (reason
    # "round"), so how long an epoch waits depends on the challenges, never on one miner's round.
    lock_margin_blocks: int = Field(60, ge=0)


class Sources(Strict):
    payloads: str = "devnet"  # devnet | http
    prices: str = "devnet"  # devnet | http | the snapshot's URL
    drand: str = "devnet"  # devnet | http
    trades: str = "devnet"  # devnet | http (the trading-history API) | its URL (Almanac challenges)
    # Hosts a committed payload URL may name: ".suffix" entries match by suffix, others exactly
    # (host or host:port). The default is the R2 hosts MANTIS miners use (mantis.md §2).
    payload_hosts: tuple[str, ...] = (".r2.dev", ".r2.cloudflarestorage.com")
    payload_max_bytes: int = Field(25 * 1024 * 1024, gt=0)
    # drand relays in fallback order (a URL ending in "/v2" speaks the v2 API); empty: the spec's list.
    drand_relays: tuple[str, ...] = ()

    @field_validator("payload_hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for host in value:
            if not host or host == "." or any(c in host for c in "/@ *"):
                raise ValueError(f"{host!r} is not a host, host:port or .suffix")
        return value


class Roles(Strict):
    informative: int = Field(24, ge=8)
    noise: int = Field(6, ge=0)
    constant: int = Field(3, ge=0)
    silent: int = Field(2, ge=0)
    clone: int = Field(3, ge=0)
    twin: int = Field(1, ge=0)
    copycat: int = Field(3, ge=0)
    persistent: int = Field(6, ge=0)  # AR(1) noise unrelated to prices (devnet/mantis/signals.py RoleMix)
    stale: int = Field(3, ge=0)  # a worthless value held 2–8 hours, then another
    young: int = Field(6, ge=0)
    malformed: int = Field(0, ge=0)
    hostile: int = Field(0, ge=0)  # one per attack on the validator itself (devnet/mantis/miners.py HOSTILITIES)


# The devnet's planted trader roles (devnet/almanac/trades.py TraderMix, where each is described).
TRADER_ROLES = ("skilled", "whale", "noise", "loser", "inactive", "newcomer", "fee_dodger", "grower", "reregistered",
                "two_profiles", "bad_commitment", "sybil")


class Market(Strict):
    """The devnet's Almanac market: its traders, its prices and how late positions settle."""

    # role → count, exactly (a role not named: none); empty: the generator's default mix
    miners: dict[str, int] = Field(default_factory=dict)  # traders with uids (devnet/almanac/trades.py TraderMix)
    general_pool: dict[str, int] = Field(default_factory=dict)  # general-pool profiles
    trades_per_day: float = Field(1.2, gt=0)
    median_volume_usd: float = Field(55.0, gt=0)  # a trade's volume is log-normal around it (whales 20×)
    settle_lag_hours: float = Field(6.0, ge=0)  # mean delay before a finished position reads settled
    alpha_price_tao: float = Field(0.0125, gt=0)  # the subnet's moving alpha price
    tao_usd: float = Field(350.0, gt=0)

    @field_validator("miners", "general_pool")
    @classmethod
    def _mix(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(TRADER_ROLES))
        if unknown:
            raise ValueError(f"unknown trader roles: {', '.join(unknown)}; known: {', '.join(TRADER_ROLES)}")
        if any(n < 0 for n in value.values()):
            raise ValueError("trader counts must be >= 0")
        return value


class Devnet(Strict):
    seed: int = 7
    bootstrap_days: float = Field(14.0, gt=0)
    live_days: float = Field(2.0, gt=0)  # how far past the bootstrap the planted world extends
    # How far before the live start the planted stake history reaches (devnet/stake.py): vesting reads
    # this many days of emissions and stake operations from the devnet chain on its first run.
    stake_history_days: float = Field(150.0, gt=0)
    payload_port: int = Field(8787, ge=1, le=65535)  # loopback port the payload directory is served on
    auc_range: tuple[float, float] = (0.51, 0.60)
    roles: Roles = Field(default_factory=Roles)
    market: Market = Field(default_factory=Market)  # used when the profile has an Almanac challenge
    # The devnet chain's weight-setting hyperparameters (what `ChainResource.params` reports there).
    max_weight_limit: int = Field(65535, ge=1, le=65535)  # u16: the largest share one uid may get
    min_allowed_weights: int = Field(1, ge=1)
    weights_rate_limit: int = Field(100, ge=0)  # blocks between two set_weights of one hotkey

    @field_validator("auc_range")
    @classmethod
    def _auc_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0.5 < value[0] < value[1] < 1:
            raise ValueError("auc_range must be two AUCs with 0.5 < low < high < 1")
        return value


class Profile(Strict):
    name: str
    chain: Chain = Field(default_factory=Chain)
    weights: Weights = Field(default_factory=Weights)
    challenges: tuple[Challenge, ...] = Field(min_length=1)
    protocol: Protocol = Field(default_factory=Protocol)
    sources: Sources = Field(default_factory=Sources)
    vesting: Vesting = Field(default_factory=Vesting)
    devnet: Devnet = Field(default_factory=Devnet)

    @model_validator(mode="after")
    def _unique_challenges(self) -> "Profile":
        for attr, values in (("name", [c.name for c in self.challenges]),
                             ("ticker", [c.mantis.ticker for c in self.mantis_challenges])):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"challenge {attr}s must be unique; repeated: {', '.join(dupes)}")
        for c in self.mantis_challenges:
            try:
                self.horizon_samples(c)  # the labels' horizon and the lock rule's must be the same time
            except ValueError as exc:
                raise ValueError(f"challenge {c.name}: {exc}") from None
        if not self.mantis_challenges:
            return self
        horizon_locked = [c for c in self.mantis_challenges if self.uses_horizon_lock(c)]
        if horizon_locked:  # the reference rule needs no long lock: its rounds matter only until maturity
            need = max(c.mantis.horizon_blocks for c in horizon_locked) + self.protocol.maturity_blocks
            if self.protocol.round_deadline_blocks < need:
                raise ValueError(f"protocol.round_deadline_blocks must be at least the longest horizon plus "
                                 f"maturity_blocks ({need}) of the challenges under the horizon lock rule, or no "
                                 f"lock long enough to count could be opened in time")
        latest = self.latest_lock_blocks()
        if self.protocol.round_deadline_blocks < latest:
            raise ValueError(f"protocol.round_deadline_blocks must be at least the latest lock a payload may "
                             f"name ({latest} blocks: the longest lock that counts plus lock_margin_blocks)")
        return self

    @property
    def ema_alpha(self) -> float:
        """Per epoch; the default keeps the reference's smoothing time constant (mantis.md §13.3)."""
        if self.weights.ema_alpha is not None:
            return self.weights.ema_alpha
        return ema_alpha_per_epoch(self.chain.tempo)

    @property
    def mantis_challenges(self) -> tuple[Challenge, ...]:
        """The challenges of the MANTIS family: those miners answer in timelocked payloads."""
        return self.family_challenges("mantis")

    @property
    def almanac_challenges(self) -> tuple[Challenge, ...]:
        """The challenges of the Almanac family: traders scored on their trading history."""
        return self.family_challenges("almanac")

    def family_challenges(self, family: str) -> tuple[Challenge, ...]:
        return tuple(c for c in self.challenges if MECHANISMS[c.mechanism].family == family)

    @property
    def families(self) -> tuple[str, ...]:
        """The families the profile's challenges belong to, in FAMILY_PARTS order."""
        return tuple(f for f in FAMILY_PARTS if self.family_challenges(f))

    def price_layout(self) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
        """(single keys, key sets): how a sample's price snapshot is kept. A single-asset challenge's
        key is one price row; a multi-asset challenge's keys are one packed row a sample (its set),
        read together (`Ledger.store_price_vectors`)."""
        single = tuple(dict.fromkeys(c.mantis.price for c in self.mantis_challenges if not MECHANISMS[c.mechanism].assets))
        sets = tuple(dict.fromkeys(c.price_keys for c in self.mantis_challenges if MECHANISMS[c.mechanism].assets))
        return single, sets

    def challenge(self, name: str) -> Challenge:
        for c in self.challenges:
            if name == c.name or (c.mantis is not None and name == c.mantis.ticker):
                return c
        raise KeyError(f"no challenge {name!r} in profile {self.name!r}; it has {', '.join(c.name for c in self.challenges)}")

    def challenge_formats(self) -> list[ChallengeFormat]:
        return [ChallengeFormat(c.name, c.mantis.ticker, c.mantis.dim, MECHANISMS[c.mechanism].value_rule,
                                MECHANISMS[c.mechanism].assets) for c in self.mantis_challenges]

    def payload_limits(self) -> Limits:
        """The body and plaintext a real payload of the profile's challenges needs, at most: larger
        bodies are refused at download and never stored, so padding cannot fill disk or memory."""
        return Limits.for_plaintext(max_plaintext_bytes(self.challenge_formats()))

    def lock_seconds(self, challenge: Challenge) -> float:
        """The shortest lock whose values count for `challenge` under the profile's lock rule."""
        if self.uses_horizon_lock(challenge):
            return challenge.mantis.horizon_blocks * self.chain.block_time
        return self.protocol.reference_lock_seconds

    def uses_horizon_lock(self, challenge: Challenge) -> bool:
        """Fixed-mode lock rule (values count only if sealed for the horizon) or the reference's."""
        return self.protocol.lock_rule == "horizon" and challenge.mode == "fixed"

    def latest_lock_blocks(self) -> int:
        """How long after its sample a payload's round may be published: the longest lock any
        challenge needs, its horizon plus the margin under the horizon rule; under the reference rule
        the maturity, after which the reference drops the payload anyway."""
        return max((c.mantis.horizon_blocks + self.protocol.lock_margin_blocks if self.uses_horizon_lock(c)
                    else self.protocol.maturity_blocks for c in self.mantis_challenges),
                   default=self.protocol.maturity_blocks)

    def latest_lock_seconds(self) -> float:
        return self.latest_lock_blocks() * self.chain.block_time

    def earliest_lock_seconds(self) -> float | None:
        """The shortest lock that counts for any challenge, where the lock rule has a lower bound
        (every challenge under the horizon rule); None under the reference rule, which has none."""
        if self.mantis_challenges and all(self.uses_horizon_lock(c) for c in self.mantis_challenges):
            return min(self.lock_seconds(c) for c in self.mantis_challenges)
        return None

    def round_deadline_seconds(self) -> float:
        return self.protocol.round_deadline_blocks * self.chain.block_time

    def maturity_seconds(self) -> float:
        return self.protocol.maturity_blocks * self.chain.block_time

    def horizon_samples(self, challenge: Challenge) -> int:
        """The horizon in samples: the scorer's label horizon and the devnet's copy lag."""
        return horizon_samples(challenge.mantis.horizon_blocks, self.chain.sample_every)
