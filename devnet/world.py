"""The devnet's planted world, rebuilt identically from the profile in any process.

One seeded panel covers the bootstrap history and the live days after it; blocks map to times at
the profile's block time; the subnet owner holds uid 0 (the burn uid), the validator uid 1, the
MANTIS miners the uids after it and the Almanac traders (with an Almanac challenge) the ones after those. The local beacon's key comes from the same seed.
The planted stake history (`World.stake`, devnet/stake.py) reaches months further back than the panel:
the founding neurons register at its start.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from bittensor_core import Keypair

from devnet.almanac.market import HISTORY_BEFORE_LIVE_DAYS, Market
from devnet.almanac.trades import GP_MIX, TraderMix
from devnet.mantis.signals import MARKET_COLUMNS, PlantedMiner, generate, spec_for, xsec_market
from mechanisms.mantis.panel import Panel
from mechanisms.registry import MECHANISMS
from profiles import Challenge, Profile
from protocol.drand import LocalBeacon
from resources.chain_types import Neuron

if TYPE_CHECKING:
    from devnet.stake import StakeWorld
    from devnet.stake_plan import Planted

_LAST_PANELS: list = [None, None]  # [profile JSON, its planted panels]: World.panels
GENESIS_TIME = 1_760_000_000  # world time of the devnet's first sample block (fixed: runs replay)
FIRST_BLOCK = 1_000_000
BEACON_PERIOD = 3


def devnet_keypair(seed: int, name: str) -> Keypair:
    return Keypair.create_from_seed(hashlib.sha256(f"incentive-devnet:{seed}:{name}".encode()).digest())


def _mix(counts: dict[str, int], default: TraderMix) -> TraderMix:
    """A profile's role counts exactly (roles it does not name: none), or the default mix if it names none."""
    return TraderMix(**{f.name: counts.get(f.name, 0) for f in fields(TraderMix)}) if counts else default


@dataclass(frozen=True)
class World:
    profile: Profile

    @property
    def challenge(self) -> Challenge:
        """The profile's first MANTIS challenge: its panel gives the world's rows and miners."""
        return self.profile.mantis_challenges[0]

    @cached_property
    def panels(self) -> dict[str, Panel]:
        """Every MANTIS challenge's planted panel. One seed: the same miners with the same roles and
        skills answer every challenge, and challenges reading one price key share its path. With an
        XSEC challenge its market is the source of every price it holds: a single-asset challenge
        reading an XSEC asset (ETH, BTC, …) reads that asset's column (ETH's is the seed's ETH path).

        Planted once a process for the last profile asked: a command's world and its resources' worlds
        (the devnet chain and beacon build their own from the same profile) share them, read-only."""
        key = self.profile.model_dump_json()
        if _LAST_PANELS[0] != key:
            _LAST_PANELS[:] = [None, None]  # the old ones go before the new are planted
            _LAST_PANELS[:] = [key, self._plant()]
        return _LAST_PANELS[1]

    def _plant(self) -> dict[str, Panel]:
        dev, challenges = self.profile.devnet, self.profile.mantis_challenges
        longest = max(self.profile.horizon_samples(c) for c in challenges)
        # the single-asset challenges' longest horizon sets every spec's path (and so how the seed's draws
        # fall: the same population everywhere); the market reaches as far as the longest horizon
        single = [self.profile.horizon_samples(c) for c in challenges if not MECHANISMS[c.mechanism].assets]
        days = dev.bootstrap_days + dev.live_days
        specs = {c.name: replace(spec_for(self.profile, c, days=days, copy_lag=self.copy_lag), first_block=FIRST_BLOCK,
                                 gap_rate=0.0, path_horizon=max(single, default=longest), market_horizon=longest)
                 for c in challenges}
        xsec = [s for s in specs.values() if s.kind in MARKET_COLUMNS]  # one market for all of them
        market = xsec_market(xsec[0]) if xsec else None
        panels = {name: generate(spec, market) for name, spec in specs.items()}
        for panel in panels.values():  # shared by every world of the process: nothing may write into them
            for array in (panel.block, panel.price, panel.embeddings, panel.skill):
                if array is not None:
                    array.flags.writeable = False
        return panels

    @property
    def panel(self) -> Panel:
        return self.panels[self.challenge.name]

    def lock_seconds(self) -> float:
        """How long honest miners lock their one payload a sample: the longest lock any challenge
        needs under the lock rule, plus one sample, so every value they send counts."""
        return max(self.profile.lock_seconds(c) for c in self.profile.mantis_challenges) + self.sample_every * self.block_time

    @property
    def copy_lag(self) -> int:
        """Samples before a copycat can read a payload: when the honest miners' round is published."""
        return math.ceil(self.lock_seconds() / (self.sample_every * self.block_time))

    def prices(self, row: int) -> dict[str, float]:
        """The price snapshot of a panel row: one price per key the challenges read (`Challenge.price_keys`:
        a multi-asset challenge's one per asset, funding rates under `funding_key(asset)`). Challenges
        reading one key read one path, so which of them gives it does not matter."""
        out: dict[str, float] = {}
        for c in self.profile.mantis_challenges:
            out.update(zip(c.price_keys, np.atleast_1d(self.panels[c.name].price[row]).tolist()))
        return out

    @property
    def seed(self) -> int:
        return self.profile.devnet.seed

    # --- time ------------------------------------------------------------------------------------

    @property
    def block_time(self) -> float:
        return self.profile.chain.block_time

    def time_of(self, block: int) -> float:
        return GENESIS_TIME + (block - FIRST_BLOCK) * self.block_time

    def block_at(self, t: float) -> int:
        return FIRST_BLOCK + math.floor((t - GENESIS_TIME) / self.block_time + 1e-9)

    @property
    def sample_every(self) -> int:
        return self.profile.chain.sample_every

    @property
    def tempo(self) -> int:
        return self.profile.chain.tempo

    @property
    def live_start_block(self) -> int:
        """The first epoch boundary after the bootstrap history: where live sampling starts."""
        end = FIRST_BLOCK + round(self.profile.devnet.bootstrap_days * 86_400 / self.block_time)
        return math.ceil(end / self.tempo) * self.tempo

    @property
    def stake_start_block(self) -> int:
        """Where the planted stake history starts (devnet/stake.py): `stake_history_days` before the live
        start, on an epoch boundary, never below block 0. The founding neurons register there."""
        blocks = math.ceil(self.profile.devnet.stake_history_days * 86_400 / self.block_time / self.tempo) * self.tempo
        return max(0, self.live_start_block - blocks)

    @property
    def genesis_block(self) -> int:
        """Where the founding neurons register: before the panel and before the stake history."""
        return min(FIRST_BLOCK, self.stake_start_block)

    @property
    def end_block(self) -> int:
        return int(self.panel.block[-1]) + self.sample_every

    def epoch_of(self, block: int) -> int:
        return block // self.tempo

    # --- beacon ----------------------------------------------------------------------------------

    @cached_property
    def beacon(self) -> LocalBeacon:
        seed = hashlib.sha256(f"incentive-devnet-beacon:{self.seed}".encode()).digest()
        return LocalBeacon.from_seed(seed, genesis=GENESIS_TIME - 30 * 86_400, period=BEACON_PERIOD)

    # --- neurons -------------------------------------------------------------------------------

    @cached_property
    def owner(self) -> Keypair:
        return devnet_keypair(self.seed, "owner")

    @cached_property
    def validator(self) -> Keypair:
        return devnet_keypair(self.seed, "validator")

    @cached_property
    def miners(self) -> tuple[PlantedMiner, ...]:
        """Planted miners in uid order (uid = 2 + index)."""
        p = self.panel
        first = {h: int(np.argmax(~np.isnan(p.embeddings[:, j]).all(axis=1))) for j, h in enumerate(p.hotkeys)}
        return tuple(
            PlantedMiner(h, p.roles[j], float(p.skill[j]), first[h], p.sources[j]) for j, h in enumerate(p.hotkeys)
        )

    def miner_uid(self, index: int) -> int:
        return 2 + index

    @cached_property
    def traders(self) -> tuple[tuple[int, str, str], ...]:
        """(uid, hotkey, role) of the miners that trade on the Almanac market, after the MANTIS miners;
        none unless the profile has an Almanac challenge."""
        if not self.profile.almanac_challenges:
            return ()
        roles = _mix(self.profile.devnet.market.miners, TraderMix()).roles()
        first = self.miner_uid(len(self.miners))
        return tuple((first + i, devnet_keypair(self.seed, f"trader:{i}").ss58_address, role)
                     for i, role in enumerate(roles))

    @cached_property
    def market(self) -> Market:
        """Every trade of the world's traders and general-pool profiles, from 32 days before the live start."""
        m = self.profile.devnet.market
        day = lambda block: dt.datetime.fromtimestamp(self.time_of(block), dt.timezone.utc).date()  # noqa: E731
        return Market(self.seed, list(self.traders), day(self.live_start_block) - dt.timedelta(days=HISTORY_BEFORE_LIVE_DAYS),
                      day(self.end_block), _mix(m.general_pool, GP_MIX),
                      m.trades_per_day, m.median_volume_usd, m.settle_lag_hours)

    @cached_property
    def stake_plan(self) -> dict[str, "Planted"]:
        """Each miner hotkey's stake plan (coldkey, registration, behaviour; devnet/stake_plan.py)."""
        from devnet.stake_plan import plan  # lazy: stake_plan builds on this module

        return {p.hotkey: p for p in plan(self)}

    @cached_property
    def stake(self) -> "StakeWorld":
        """The planted stake history the devnet chain serves (devnet/stake.py), built once per world."""
        from devnet.stake import StakeWorld  # lazy: stake builds on this module

        return StakeWorld(self)

    def neurons(self) -> list[Neuron]:
        """Everyone the devnet registers. The founders register at the genesis block, before the stake
        history; young miners when they start submitting, late ones where their stake plan says; three
        miner hotkeys share one coldkey (devnet/stake_plan.py)."""
        g = self.genesis_block
        out = [
            Neuron(0, self.owner.ss58_address, self.owner.ss58_address, 1000.0, g),
            Neuron(1, self.validator.ss58_address, self.validator.ss58_address, 50_000.0, g, True),
        ]
        plan = self.stake_plan
        for i, m in enumerate(self.miners):
            p = plan[m.hotkey]
            out.append(Neuron(self.miner_uid(i), m.hotkey, p.coldkey, 10.0 + i, p.registered_at))
        for uid, hotkey, _ in self.traders:
            p = plan[hotkey]
            out.append(Neuron(uid, hotkey, p.coldkey, 10.0, p.registered_at))
        return out

    # --- samples ---------------------------------------------------------------------------------

    def row(self, sidx: int) -> int | None:
        """The panel row of a sample index, or None outside the world."""
        i = int(np.searchsorted(self.panel.block, sidx * self.sample_every))
        return i if i < len(self.panel.block) and self.panel.block[i] == sidx * self.sample_every else None

    def bootstrap_sidx(self) -> range:
        return range(int(self.panel.block[0]) // self.sample_every, self.live_start_block // self.sample_every)

