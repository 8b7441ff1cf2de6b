"""The devnet's planted stake history: months of emissions and stake operations on the subnet, served
through the same three reads as the live chain (`last_step`, `stake_snapshot`, `stake_events`), so the
vesting pipeline runs unchanged against it, and replayed from its own truth into the tranche ledger
for the multipliers each miner should get.

Chain rule: the subnet steps at every block s with (s + netuid + 1) % (tempo + 1) == 0, so a platform
epoch (tempo blocks) holds at most one step. At each step after the history start and after its
registration every miner hotkey is credited its emission (devnet/stake_plan.py) on its (coldkey,
hotkey) position. Stake operations follow each coldkey's behaviour; each is one extrinsic at its own
block, never on a step block or the block before it (so §3.2's pre/post difference is the emission
alone), emitting its legs (StakeRemoved where alpha leaves a position, StakeAdded where it arrives)
and then, for moves, swaps and transfers, its summary event, in the current runtime's layouts
(mechanisms/vesting/events.py LAYOUTS). TAO amounts are alpha × the devnet's alpha price.

State at block b means after b's extrinsics and its step. Reads cover the history start through the
world's end block; anything else is a ChainError, as an unreadable block is on the live chain.
Queries are array lookups: every position's stake is its opening stake, plus its emission times the
steps since it started earning, plus the cumulative operation deltas up to b (one searchsorted).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from devnet.stake_plan import RAO, Planted, rng
from devnet.world import World, devnet_keypair
from mechanisms.vesting.ledger import Flow, Holding, VestingLedger
from resources.chain_types import ChainError, StakeSnapshot

MODULE = "SubtensorModule"
OTHER_PRICE_TAO = Fraction(1, 50)  # the other subnet's alpha price: bridged and swapped alpha arrive at it
OUTSIDE_STAKE = 100_000 * RAO  # what the outside coldkey that pays the receiver starts with (on the validator)
SELL_SHARE = Fraction(3, 5)  # a partial seller sells this share of what it earned since its last sale
Pair = tuple[str, str]


@dataclass(frozen=True)
class Operation:
    """One stake extrinsic of the planted history, with what it means for the miner coldkey it concerns
    (the planted truth, decided here, not by decoding the records)."""

    block: int
    behaviour: str
    coldkey: str  # the miner coldkey
    kind: str  # inflow | outflow | neutral, for that coldkey (vesting_bettensor.md §3.3)
    alpha: int  # rao of S's alpha that left or arrived
    deltas: tuple[tuple[Pair, int], ...]  # signed rao per (coldkey, hotkey) position on S
    records: tuple[dict, ...]  # its legs, then its summary event, as the node decodes them


def record(name: str, attributes: tuple, extrinsic: int) -> dict:
    return {"event": {"module_id": MODULE, "event_id": name, "attributes": attributes}, "extrinsic_idx": extrinsic}


class StakeWorld:
    """The planted stake history of one `World` (rebuilt identically from its seed in any process)."""

    def __init__(self, world: World) -> None:
        chain = world.profile.chain
        self.world, self.netuid, self.tempo = world, chain.netuid, chain.tempo
        self.other_netuid = (self.netuid + 1) % 65_536
        self.period = self.tempo + 1
        self.step_phase = -(self.netuid + 1) % self.period  # steps are the blocks ≡ this mod period
        self.start, self.end = world.stake_start_block, world.end_block
        self.price = Fraction(str(world.profile.devnet.market.alpha_price_tao))
        self.planted: tuple[Planted, ...] = tuple(world.stake_plan.values())
        self.validator = world.validator.ss58_address
        self.other_validator = devnet_keypair(world.seed, "stake:other-subnet-validator").ss58_address
        self.sender = devnet_keypair(world.seed, "stake:outside-sender").ss58_address
        self.operations: tuple[Operation, ...] = tuple(sorted(_Builder(self).build(), key=lambda op: op.block))
        self._index()

    # --- the chain rule ------------------------------------------------------------------------

    def is_step(self, block: int) -> bool:
        return block % self.period == self.step_phase

    def steps_through(self, block: int) -> int:
        """How many steps fall at blocks 0..block."""
        return max(0, (block - self.step_phase) // self.period + 1)

    def steps(self, first: int, last: int) -> range:
        """The step blocks within first..last."""
        s = first + (self.step_phase - first) % self.period
        return range(s, last + 1, self.period)

    def earns_from(self, p: Planted) -> int:
        """A hotkey earns at the steps after this block (its registration, or the history start)."""
        return max(self.start, p.registered_at)

    @property
    def first_epoch(self) -> int:
        return self.start // self.tempo

    # --- reads, as the chain serves them ---------------------------------------------------------

    def _check(self, block: int, what: str) -> None:
        if block < self.start:
            raise ChainError(f"{what}: block {block} is before the devnet's stake history (it starts at {self.start})")
        if block > self.end:
            raise ChainError(f"{what}: block {block} is past the end of the devnet world ({self.end})")

    def last_step(self, block: int) -> int:
        """The last step at or before `block`."""
        self._check(block, "last_step")
        return block - (block - self.step_phase) % self.period

    def snapshot(self, block: int, coldkeys: Sequence[str]) -> StakeSnapshot:
        """The coldkeys' non-zero positions on S at `block`, per (coldkey, hotkey)."""
        self._check(block, "stake_snapshot")
        idx = self._selection(coldkeys)
        values = self._stakes(block, idx).tolist()
        return StakeSnapshot(block, {self.pairs[j]: v for j, v in zip(idx.tolist(), values) if v})

    def events(self, first: int, last: int) -> list[tuple[int, dict]]:
        """The stake events of blocks first..last, in block and event order, as (block, record)."""
        self._check(first, "stake_events")
        self._check(last, "stake_events")
        i, j = bisect.bisect_left(self._blocks, first), bisect.bisect_right(self._blocks, last)
        return [(op.block, r) for op in self.operations[i:j] for r in op.records]

    def _index(self) -> None:
        """Per position: opening stake, emission per step and steps before it earns; the cumulative
        operation deltas after each operation (row 0: none)."""
        pairs: dict[Pair, int] = {}
        for p in self.planted:
            pairs.setdefault((p.coldkey, p.hotkey), len(pairs))
        pairs.setdefault((self.sender, self.validator), len(pairs))
        for op in self.operations:
            for pair, _ in op.deltas:
                pairs.setdefault(pair, len(pairs))
        self.pairs, self._pair_index = list(pairs), pairs
        n = len(pairs)
        self.initial = np.zeros(n, np.int64)
        self.emission = np.zeros(n, np.int64)
        self.since = np.zeros(n, np.int64)
        for p in self.planted:
            j = pairs[(p.coldkey, p.hotkey)]
            self.initial[j], self.emission[j] = p.initial, p.emission
            self.since[j] = self.steps_through(self.earns_from(p))
        self.initial[pairs[(self.sender, self.validator)]] = OUTSIDE_STAKE
        deltas = np.zeros((len(self.operations) + 1, n), np.int64)
        for i, op in enumerate(self.operations):
            for pair, d in op.deltas:
                deltas[i + 1, pairs[pair]] += d
        self.cumulative = np.cumsum(deltas, axis=0)
        self._blocks = [op.block for op in self.operations]
        self._by_coldkey: dict[str, list[int]] = {}
        for j, (coldkey, _) in enumerate(self.pairs):
            self._by_coldkey.setdefault(coldkey, []).append(j)
        self._selections: dict[tuple[str, ...], np.ndarray] = {}

    def _selection(self, coldkeys: Iterable[str]) -> np.ndarray:
        key = tuple(coldkeys)
        idx = self._selections.get(key)
        if idx is None:
            wanted = sorted({j for c in set(key) for j in self._by_coldkey.get(c, ())})
            idx = self._selections[key] = np.array(wanted, np.int64)
        return idx

    def _stakes(self, block: int, idx: np.ndarray) -> np.ndarray:
        earned = self.emission[idx] * np.maximum(0, self.steps_through(block) - self.since[idx])
        return self.initial[idx] + earned + self.cumulative[bisect.bisect_right(self._blocks, block), idx]

    def hotkey_stakes(self, block: int) -> dict[str, int]:
        """Every hotkey's alpha on S at `block` in rao, whoever's coldkey holds it (the metagraph's stake)."""
        idx = np.arange(len(self.pairs), dtype=np.int64)
        out: dict[str, int] = {}
        for (_, hotkey), v in zip(self.pairs, self._stakes(min(max(block, self.start), self.end), idx).tolist()):
            out[hotkey] = out.get(hotkey, 0) + v
        return out

    def stake(self, block: int, coldkey: str, hotkey: str) -> int:
        """One position's rao at `block` (no range check: the planted truth, also before the history)."""
        j = self._pair_index.get((coldkey, hotkey))
        return 0 if j is None else int(self._stakes(block, np.array([j]))[0])

    # --- the planted truth -----------------------------------------------------------------------

    def behaviour_of(self, hotkey: str) -> str | None:
        return self.world.stake_plan[hotkey].behaviour if hotkey in self.world.stake_plan else None

    def flows(self, activation_epoch: int | None = None, through_epoch: int | None = None
              ) -> tuple[dict[str, int], list[Flow]]:
        """The planted flows of the miner coldkeys from the activation epoch (default: the history's
        first) through `through_epoch` (default: the end), classified here from the operations
        themselves, and each miner coldkey's opening stake on S at the end of the epoch before."""
        k0 = self.first_epoch if activation_epoch is None else activation_epoch
        first = k0 * self.tempo
        last = self.end if through_epoch is None else min(self.end, through_epoch * self.tempo + self.tempo - 1)
        coldkeys = {p.coldkey for p in self.planted}
        opening: dict[str, int] = {}
        for c in sorted(coldkeys):
            idx = self._selection((c,))
            total = int(self._stakes(first - 1, idx).sum()) if len(idx) else 0
            if total:
                opening[c] = total
        out = [Flow(op.block // self.tempo, op.block, op.coldkey, None, op.kind,
                    0 if op.kind == "neutral" else op.alpha)
               for op in self.operations if first <= op.block <= last and op.coldkey in coldkeys]
        earners = [(self.earns_from(p), p.coldkey, p.hotkey, p.emission) for p in self.planted]
        for s in self.steps(max(first, self.start + 1), last):
            epoch = s // self.tempo
            out += [Flow(epoch, s, c, h, "emission", e) for since, c, h, e in earners if s > since]
        return opening, out

    def holdings(self, vesting, at_epoch: int) -> dict[str, Holding]:
        """Each miner hotkey registered by the end of `at_epoch`: (h, d, m) from replaying the planted
        flows into the tranche ledger with the profile's vesting settings (`profiles.schema.Vesting`)."""
        k0 = self.first_epoch if vesting.activation_epoch is None else vesting.activation_epoch
        end = at_epoch * self.tempo + self.tempo - 1
        miners = {p.hotkey: p.coldkey for p in self.planted if p.registered_at <= end}
        if at_epoch >= k0:
            opening, flows = self.flows(k0, at_epoch)
            ledger = VestingLedger.open(miners, k0, opening).advance(flows, at_epoch)
        else:  # before activation every m is 1 (V9)
            ledger = VestingLedger.open(miners, k0, {})
        seconds = Fraction(self.tempo) * Fraction(str(self.world.block_time))
        return ledger.holdings(at_epoch, seconds, vesting.formula, amount_strict=vesting.amount_strict,
                               time_strict=vesting.time_strict, max_multiplier=Fraction(str(vesting.max_multiplier)))

    def expected(self, vesting, at_epoch: int) -> dict[str, float]:
        """hotkey → the multiplier the vesting pipeline should find at the end of `at_epoch`."""
        return {h: float(x.m) for h, x in self.holdings(vesting, at_epoch).items()}


class _Builder:
    """Draws each coldkey's operations in time order, from its behaviour and the stake it has then."""

    def __init__(self, sw: StakeWorld) -> None:
        self.sw = sw
        self.used: set[int] = set()
        self.delta: dict[Pair, int] = {}
        self.per_day = 86_400 / sw.world.block_time

    def build(self) -> list[Operation]:
        out: list[Operation] = []
        for p in self.sw.planted:
            out += self._operations(p)
        return out

    def _free(self, block: int) -> int:
        """The first block from `block` that holds no operation yet and is neither a step nor just before one."""
        while block in self.used or self.sw.is_step(block) or self.sw.is_step(block + 1):
            block += 1
        return block

    def _times(self, p: Planted, first_days: float, every_days: float) -> list[int]:
        begin, out = self.sw.earns_from(p), []
        t = begin + first_days * self.per_day
        while True:
            block = self._free(int(t))
            if block > self.sw.end:
                return out
            self.used.add(block)
            out.append(block)
            t += every_days * self.per_day

    def _held(self, p: Planted, block: int) -> int:
        """The rao on p's own position just before an operation at `block` (no step falls on it)."""
        sw = self.sw
        earned = p.emission * max(0, sw.steps_through(block) - sw.steps_through(sw.earns_from(p)))
        return p.initial + earned + self.delta.get((p.coldkey, p.hotkey), 0)

    def _operations(self, p: Planted) -> list[Operation]:
        r = rng(self.sw.world.seed, "operations", p.hotkey)
        b = p.behaviour
        if b == "seller_all":
            times = self._times(p, r.uniform(0.1, 1.0), 1.0)
        elif b == "seller_part":
            every = int(r.integers(2, 5))
            times = self._times(p, r.uniform(0.5, every), every)
        elif b == "mover":
            times = self._times(p, r.uniform(2.0, 8.0), int(r.integers(5, 11)))
        elif b in ("bridger", "swapper"):
            every = int(r.integers(6, 13))
            times = self._times(p, r.uniform(1.0, every), every)
        elif b == "transferrer":
            every = int(r.integers(7, 15))
            times = self._times(p, r.uniform(1.0, every), every)
        elif b == "receiver":
            times = self._times(p, r.uniform(1.0, 10.0), int(r.integers(10, 21)))
        elif b == "buyer":
            times = self._times(p, r.uniform(1.0, 5.0), int(r.integers(5, 10)))
        else:  # holder, multi, late: never touch their stake
            return []
        share = int(r.integers(70, 91))  # bridgers and swappers move this % of their stake off S
        out, last_sale = [], self.sw.earns_from(p)
        for block in times:
            held = self._held(p, block)
            if b == "seller_part":
                sw = self.sw
                earned = p.emission * (sw.steps_through(block) - sw.steps_through(last_sale))
                alpha, last_sale = int(earned * SELL_SHARE), block
            elif b in ("receiver", "buyer"):
                alpha = int(r.uniform(20.0, 80.0) * RAO)
            else:
                alpha = {"seller_all": held, "mover": held, "bridger": held * share // 100,
                         "swapper": held * share // 100, "transferrer": held // 2}[b]
            if alpha <= 0:
                continue
            op = self._operation(p, block, alpha)
            for pair, d in op.deltas:
                self.delta[pair] = self.delta.get(pair, 0) + d
            out.append(op)
        return out

    def _operation(self, p: Planted, block: int, alpha: int) -> Operation:
        """The extrinsic of `p`'s behaviour moving `alpha` rao of S's alpha, with its records."""
        sw, c, h, s, o = self.sw, p.coldkey, p.hotkey, self.sw.netuid, self.sw.other_netuid
        x = 1 + block % 3  # the extrinsic's index in its block (0 is the timestamp)
        tao = int(alpha * sw.price)
        arriving = int(Fraction(tao) / OTHER_PRICE_TAO)  # alpha of the other subnet for that TAO

        def leg(name: str, coldkey: str, hotkey: str, netuid: int, amount: int) -> dict:
            return record(name, (coldkey, hotkey, tao, amount, netuid, 0), x)

        b = p.behaviour
        if b in ("seller_all", "seller_part"):  # remove_stake: alpha sold for TAO
            return Operation(block, b, c, "outflow", alpha, (((c, h), -alpha),), (leg("StakeRemoved", c, h, s, alpha),))
        if b == "buyer":  # add_stake: TAO bought into alpha on the miner's hotkey
            return Operation(block, b, c, "inflow", alpha, (((c, h), alpha),), (leg("StakeAdded", c, h, s, alpha),))
        if b == "mover":  # move_stake to the devnet validator within S: neutral (V6)
            v = sw.validator
            return Operation(block, b, c, "neutral", alpha, (((c, h), -alpha), ((c, v), alpha)),
                             (leg("StakeRemoved", c, h, s, alpha), leg("StakeAdded", c, v, s, alpha),
                              record("StakeMoved", (c, h, s, v, s, tao), x)))
        if b == "bridger":  # move_stake to a validator of another subnet: a sell
            v = sw.other_validator
            return Operation(block, b, c, "outflow", alpha, (((c, h), -alpha),),
                             (leg("StakeRemoved", c, h, s, alpha), leg("StakeAdded", c, v, o, arriving),
                              record("StakeMoved", (c, h, s, v, o, tao), x)))
        if b == "swapper":  # swap_stake to another subnet, same hotkey: a sell
            return Operation(block, b, c, "outflow", alpha, (((c, h), -alpha),),
                             (leg("StakeRemoved", c, h, s, alpha), leg("StakeAdded", c, h, o, arriving),
                              record("StakeSwapped", (c, h, s, o, tao), x)))
        if b == "transferrer":  # transfer_stake to a coldkey no miner owns: a sell
            to = devnet_keypair(sw.world.seed, f"stake:outside:{h}").ss58_address
            return Operation(block, b, c, "outflow", alpha, (((c, h), -alpha), ((to, h), alpha)),
                             (leg("StakeRemoved", c, h, s, alpha), leg("StakeAdded", to, h, s, alpha),
                              record("StakeTransferred", (c, to, h, s, s, tao), x)))
        if b == "receiver":  # an outside coldkey transfers its stake on the validator to the miner: inflow
            f, v = sw.sender, sw.validator
            return Operation(block, b, c, "inflow", alpha, (((f, v), -alpha), ((c, v), alpha)),
                             (leg("StakeRemoved", f, v, s, alpha), leg("StakeAdded", c, v, s, alpha),
                              record("StakeTransferred", (f, c, v, s, s, tao), x)))
        raise ValueError(f"behaviour {b!r} has no stake operation")
