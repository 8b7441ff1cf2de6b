"""Vesting multipliers (vesting_bettensor.md §1–§4, §9): miners who hold the alpha they earned score up
to 1.5×, miners who sell less, and moves within the subnet change nothing.

Stake flows build a tranche ledger per coldkey (§4.1): activation opens one `opening` tranche with the
coldkey's stake, each emission and each bought inflow appends a tranche, and an outflow consumes the
coldkey's tranches newest first whatever their kind. From it (§4.2): `h`, the share of a hotkey's
emissions still held (its coldkey's retained emissions split evenly over the coldkey's miner hotkeys),
and `d`, the remaining-weighted age in days of the coldkey's emission tranches. Amounts are integer
rao and `h`, `d` and the table's multipliers exact fractions, so a value exactly on a threshold is
classified exactly.

The state is compact: only live tranches (consecutive ones of one entry epoch and kind class merge:
they are consumed together, so merging changes no result), each coldkey's tranches in three flat
integer arrays, and per coldkey the running sums that give `h` and `d`. On chain a coldkey adds at most
two tranches an epoch (its stake operations, then the step block's emissions).
"""

from __future__ import annotations

import json
import math
import zlib
from array import array
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Mapping

KINDS = ("emission", "inflow", "outflow", "neutral")
FORMULAS = ("table", "continuous")
MAX_MULTIPLIER = Fraction(3, 2)
AMOUNT_TIERS = ((Fraction(7, 10), Fraction(13, 10)), (Fraction(1, 2), Fraction(6, 5)), (Fraction(3, 10), Fraction(11, 10)))
TIME_TIERS = ((60, Fraction(13, 10)), (30, Fraction(6, 5)), (14, Fraction(11, 10)))
_EMISSION, _OTHER = 1, 0  # a tranche's kind class: only emissions count as held rewards
INT64 = 2**63 - 1  # tranches live in int64 arrays; epochs and amounts must fit (chain amounts are ~1e16)


class FlowError(ValueError):
    """A flow that cannot be booked (the message names it)."""


@dataclass(frozen=True)
class Flow:
    epoch: int
    block: int
    coldkey: str
    hotkey: str | None
    kind: str  # emission | inflow | outflow | neutral
    amount: int  # rao

    @property
    def order(self) -> tuple[int, int, int]:
        """Within one block, inflows, outflows and neutral moves come before the emissions."""
        return self.epoch, self.block, int(self.kind == "emission")


@dataclass(frozen=True)
class Holding:
    h: Fraction  # share of the hotkey's emissions still held, in [0, 1]
    d: Fraction  # remaining-weighted age of its coldkey's emission tranches, in days
    m: Fraction | float  # the multiplier: an exact k/12 from the table, a float from the continuous formula


@dataclass
class _Tranches:
    """One coldkey's live tranches, oldest first, with the sums over its emission tranches."""

    entry: array = field(default_factory=lambda: array("q"))  # entry epoch
    kind: bytearray = field(default_factory=bytearray)  # _EMISSION or _OTHER
    remaining: array = field(default_factory=lambda: array("q"))  # rao
    held: int = 0  # R: remaining rao over emission tranches
    held_epochs: int = 0  # Σ remaining · entry epoch over emission tranches (gives d exactly)

    def add(self, epoch: int, kind: int, amount: int) -> None:
        if amount == 0:
            return
        if self.entry and self.entry[-1] == epoch and self.kind[-1] == kind and self.remaining[-1] <= INT64 - amount:
            self.remaining[-1] += amount  # same epoch, same class: one tranche changes no result
        else:
            self.entry.append(epoch)
            self.kind.append(kind)
            self.remaining.append(amount)
        if kind == _EMISSION:
            self.held += amount
            self.held_epochs += amount * epoch

    def consume(self, amount: int) -> None:
        """Newest first, whatever the kind; an outflow beyond every tranche empties them all."""
        while amount > 0 and self.remaining:
            take = min(amount, self.remaining[-1])
            if self.kind[-1] == _EMISSION:
                self.held -= take
                self.held_epochs -= take * self.entry[-1]
            amount -= take
            if take == self.remaining[-1]:
                self.entry.pop()
                self.kind.pop()
                self.remaining.pop()
            else:
                self.remaining[-1] -= take

    def copy(self) -> "_Tranches":
        return _Tranches(array("q", self.entry), bytearray(self.kind), array("q", self.remaining), self.held,
                         self.held_epochs)


@dataclass
class VestingLedger:
    """The tranche ledger from activation on: carry it forward epoch by epoch, or replay all at once."""

    miners: Mapping[str, str]  # miner hotkey → its coldkey
    activation_epoch: int
    coldkeys: dict[str, _Tranches] = field(default_factory=dict)
    emitted: dict[str, int] = field(default_factory=dict)  # E_h: rao each hotkey earned since activation
    epoch: int | None = None  # the last epoch applied (None: not activated yet)

    @classmethod
    def open(cls, miners: Mapping[str, str], activation_epoch: int, opening: Mapping[str, int]) -> "VestingLedger":
        """The ledger at activation: each coldkey's stake then as one `opening` tranche (never rewards)."""
        ledger = cls(dict(miners), activation_epoch)
        for coldkey, amount in opening.items():
            ledger.coldkeys.setdefault(coldkey, _Tranches()).add(activation_epoch, _OTHER, _rao(amount, "opening"))
        ledger.epoch = activation_epoch - 1
        return ledger

    def advance(self, flows: Iterable[Flow], to_epoch: int) -> "VestingLedger":
        """Apply the flows of the epochs after the last applied one up to `to_epoch` (others are ignored),
        in (epoch, block) order, inflows, outflows and neutral moves before emissions within a block,
        file order otherwise. Returns self."""
        if to_epoch < self.epoch:
            raise ValueError(f"the ledger is at epoch {self.epoch}; it cannot go back to {to_epoch}")
        by_epoch: dict[int, list[Flow]] = {}  # sorted one epoch at a time, not as one 1.9 M-key sort
        for f in flows:
            if self.epoch < f.epoch <= to_epoch and f.epoch >= self.activation_epoch:
                by_epoch.setdefault(f.epoch, []).append(f)
        for epoch in sorted(by_epoch):
            for flow in sorted(by_epoch.pop(epoch), key=Flow.order.fget):  # stable: file order among equals
                self._apply(flow)
        self.epoch = to_epoch
        return self

    def _apply(self, flow: Flow) -> None:
        where = f"{flow.kind} at epoch {flow.epoch} block {flow.block}"
        amount = _rao(flow.amount, where)
        if type(flow.epoch) is not int or abs(flow.epoch) > INT64:
            raise FlowError(f"{where}: the epoch must be an integer within 64 bits")
        if flow.kind == "neutral":
            return
        tranches = self.coldkeys.setdefault(flow.coldkey, _Tranches())
        if flow.kind == "emission":
            tranches.add(flow.epoch, _EMISSION, amount)
            self.emitted[flow.hotkey] = self.emitted.get(flow.hotkey, 0) + amount
        elif flow.kind == "inflow":
            tranches.add(flow.epoch, _OTHER, amount)
        elif flow.kind == "outflow":
            tranches.consume(amount)
        else:
            raise FlowError(f"{where}: unknown kind; kinds: {', '.join(KINDS)}")

    def copy(self) -> "VestingLedger":
        return VestingLedger(dict(self.miners), self.activation_epoch,
                             {c: t.copy() for c, t in self.coldkeys.items()}, dict(self.emitted), self.epoch)

    def dump(self) -> bytes:
        """The state as compact bytes (zlib): per coldkey its live tranches, entry epochs delta-coded."""
        head = {"activation": self.activation_epoch, "epoch": self.epoch, "emitted": self.emitted,
                "coldkeys": [[c, len(t.remaining), t.held, t.held_epochs] for c, t in self.coldkeys.items()]}
        entries = array("q", (x for t in self.coldkeys.values() for x in t.entry))
        deltas = array("q", (entries[i] - entries[i - 1] if i else entries[i] for i in range(len(entries))))
        body = b"".join([deltas.tobytes(), b"".join(bytes(t.kind) for t in self.coldkeys.values()),
                         b"".join(t.remaining.tobytes() for t in self.coldkeys.values())])
        text = json.dumps(head, separators=(",", ":")).encode()
        return zlib.compress(len(text).to_bytes(8, "little") + text + body, 6)

    @classmethod
    def load(cls, blob: bytes, miners: Mapping[str, str]) -> "VestingLedger":
        """A state written by `dump`, for these miners."""
        raw = zlib.decompress(blob)
        n = int.from_bytes(raw[:8], "little")
        head = json.loads(raw[8:8 + n])
        total = sum(k for _, k, _, _ in head["coldkeys"])
        body = memoryview(raw)[8 + n:]
        deltas = array("q", body[:8 * total].tobytes())
        kinds = body[8 * total:9 * total].tobytes()
        remaining = array("q", body[9 * total:17 * total].tobytes())
        ledger = cls(dict(miners), head["activation"], {}, {k: int(v) for k, v in head["emitted"].items()}, head["epoch"])
        at, entry = 0, 0
        for coldkey, k, held, held_epochs in head["coldkeys"]:
            t = _Tranches(array("q"), bytearray(kinds[at:at + k]), array("q", remaining[at:at + k]), held, held_epochs)
            for i in range(at, at + k):
                entry += deltas[i]
                t.entry.append(entry)
            ledger.coldkeys[coldkey] = t
            at += k
        return ledger

    @property
    def tranche_count(self) -> int:
        return sum(len(t.remaining) for t in self.coldkeys.values())

    def holdings(self, at: int, epoch_seconds: Fraction, formula: str = "table", *, amount_strict: bool = True,
                 time_strict: bool = False, max_multiplier: Fraction = MAX_MULTIPLIER) -> dict[str, Holding]:
        """(h, d, m) of every miner hotkey at the end of epoch `at` (§4.2, §2)."""
        if formula not in FORMULAS:
            raise ValueError(f"formula must be one of {', '.join(FORMULAS)}; got {formula!r}")
        if at < self.activation_epoch:
            return {hk: Holding(Fraction(0), Fraction(0), Fraction(1)) for hk in self.miners}
        if at != self.epoch:
            raise ValueError(f"the ledger is at epoch {self.epoch}: advance it to {at} before reading it there")
        epoch_seconds = Fraction(str(epoch_seconds)) if isinstance(epoch_seconds, float) else Fraction(epoch_seconds)
        per_coldkey: dict[str, int] = {}
        for coldkey in self.miners.values():
            per_coldkey[coldkey] = per_coldkey.get(coldkey, 0) + 1
        out = {}
        for hotkey, coldkey in self.miners.items():
            t = self.coldkeys.get(coldkey, _Tranches())
            h = holding_share(t.held, per_coldkey[coldkey], self.emitted.get(hotkey, 0))
            d = holding_days(t.held, t.held_epochs, at, epoch_seconds)
            m = (table_multiplier(h, d, amount_strict=amount_strict, time_strict=time_strict, cap=max_multiplier)
                 if formula == "table" else continuous_multiplier(h, d, max_multiplier))
            out[hotkey] = Holding(h, d, m)
        return out


def holding_share(retained: int, hotkeys: int, emitted: int) -> Fraction:
    """h = min(1, (R_c / n_c) / E_h), 0 when the hotkey earned nothing (§4.2, the even split)."""
    if emitted <= 0:
        return Fraction(0)
    return min(Fraction(1), Fraction(retained, hotkeys * emitted))


def holding_days(retained: int, retained_epochs: int, at: int, epoch_seconds: Fraction) -> Fraction:
    """d = Σ remaining·age / Σ remaining, age in days = (at − entry epoch)·epoch_seconds/86400; 0 if none."""
    if retained <= 0:
        return Fraction(0)
    return Fraction(at * retained - retained_epochs, retained) * epoch_seconds / 86_400


def _tier(value: Fraction, tiers, strict: bool) -> Fraction:
    for threshold, factor in tiers:
        if value > threshold or (not strict and value == threshold):
            return factor
    return Fraction(1)


def table_multiplier(h: Fraction, d: Fraction, *, amount_strict: bool = True, time_strict: bool = False,
                     cap: Fraction = MAX_MULTIPLIER) -> Fraction:
    """§2.1: a(h) over 30/50/70 % held (strict > by default: the design's wording), t(d) at 14/30/60
    days (≥ by default: "held two weeks"); m = min(cap, 1 + ((a + t)/2 − 1)·5/3), a multiple of 1/12."""
    a = _tier(h, AMOUNT_TIERS, amount_strict)
    t = _tier(d, ((Fraction(n), f) for n, f in TIME_TIERS), time_strict)
    return min(cap, 1 + ((a + t) / 2 - 1) * Fraction(5, 3))


def explain(h: Fraction, d: Fraction, m: Fraction | float, formula: str = "table", *, amount_strict: bool = True,
            time_strict: bool = False, cap: Fraction = MAX_MULTIPLIER) -> str:
    """The rule that set m, in words and numbers (for operators: `incentive vesting show`)."""
    if formula == "continuous":
        return (f"continuous: 1 + {float(cap - 1):g}·sqrt(min(1, h/0.9)·min(1, d/30)) with h {float(h):.4f}, "
                f"d {float(d):.2f} days = {float(m):.6f}")
    a, t = _tier(h, AMOUNT_TIERS, amount_strict), _tier(d, ((Fraction(n), f) for n, f in TIME_TIERS), time_strict)
    amount = next((f"h {float(h):.4f} {'>' if amount_strict else '≥'} {float(x):g}" for x, f in AMOUNT_TIERS if f == a),
                  f"h {float(h):.4f} below 0.3")
    time = next((f"d {float(d):.2f} {'>' if time_strict else '≥'} {n} days" for n, f in TIME_TIERS if f == t),
                f"d {float(d):.2f} below 14 days")
    capped = " (capped)" if 1 + ((a + t) / 2 - 1) * Fraction(5, 3) > cap else ""
    return f"table: a = {float(a):g} ({amount}), t = {float(t):g} ({time}); m = 1 + ((a + t)/2 − 1)·5/3 = {float(m):.4f}{capped}"


def continuous_multiplier(h: Fraction, d: Fraction, cap: Fraction = MAX_MULTIPLIER) -> float:
    """§2.2: 1 + (cap − 1)·sqrt(min(1, h/0.9)·min(1, d/30)); the spec's cap is 1.5."""
    pf = min(Fraction(1), h / Fraction(9, 10))
    df = min(Fraction(1), min(d, Fraction(30)) / 30)
    return 1.0 + float(cap - 1) * math.sqrt(pf * df)


def meets_min_stake(alpha_stake_rao: int, moving_price_tao: float, min_stake_tao: Fraction = Fraction(3, 10)) -> bool:
    """§9: a uid qualifies if its alpha stake × the subnet's moving alpha price ≥ 0.3 TAO (exactly)."""
    if not math.isfinite(moving_price_tao) or moving_price_tao < 0:
        return False
    return Fraction(int(alpha_stake_rao), 10**9) * Fraction(moving_price_tao) >= min_stake_tao


def _rao(amount: object, what: str) -> int:
    if type(amount) is not int or not 0 <= amount <= INT64:
        raise FlowError(f"{what}: amount_rao must be a non-negative integer within 64 bits, got {str(amount)[:40]}")
    return amount


def apply_multipliers(scores: Mapping[str, float], multipliers: Mapping[str, Fraction | float],
                      qualified: Mapping[str, bool] | None = None) -> dict[str, float]:
    """§5: each hotkey's aggregated score times its multiplier (1 without one), zero where the
    minimum-stake gate fails (`qualified[hotkey]` False; keys it lacks pass), normalised to 1 (exact
    sum); {} when nothing is left. Keys that are no hotkey (the burn entry) keep their score."""
    scaled = {k: (0.0 if qualified is not None and qualified.get(k) is False else float(s) * float(multipliers.get(k, 1)))
              for k, s in scores.items()}
    total = math.fsum(scaled.values())
    return {k: v / total for k, v in sorted(scaled.items())} if total > 0 else {}
