"""`vesting_multipliers`: each miner hotkey's holding (h, d), its multiplier m and the minimum-stake gate,
per epoch (vesting_bettensor.md §3, §4, §9, §11).

Epoch N reads epoch N−1's tranche ledger explicitly (a checkpoint and the epochs' stored flows after
it), books N's flows and writes N's row. What an epoch read from the chain is kept in the ledger at
its first good read; a rerun books the kept data again, so it reproduces the epoch, and only a read
that was incomplete is tried again. Epochs the ledger does not hold yet between its last one and N−1
(a fresh validator's months of history, or epochs never materialized) are read and booked first, in
order, in the same run; a backfill over a range is one run that goes through the epochs in order.

Bad input never loses state: a block whose state or events cannot be read, or a stake event that
cannot be decoded, is recorded with its reason and counted, the epoch books what could be read
(events it cannot trust give way to the snapshot difference of §3.4), and its factors are the
previous epoch's, with the reason in the row and the metadata.
"""


from collections import Counter
from fractions import Fraction

import dagster as dg

from assets.epochs import EpochBlocks, epoch_metagraph
from assets.partitions import EPOCHS, PROFILE, parse_epoch
from ledger import Ledger, VestingEpoch
from mechanisms.vesting.events import combine, decode, pair_changes
from mechanisms.vesting.flows import book, coldkey_totals
from mechanisms.vesting.ledger import INT64, Flow, FlowError, VestingLedger, explain, meets_min_stake
from profiles import Profile
from resources.chain import ChainError, ChainResource, Metagraph, StakeSnapshot
from resources.ledger import LedgerResource
from resources.settings_resource import SettingsResource

VESTING = dg.AssetKey("vesting_multipliers")
CHECKPOINT_EVERY = 100  # epochs between tranche-ledger checkpoints (the rest is replayed from flows)
BOOK_PER_COMMIT = 100  # history epochs booked per ledger transaction (a commit per epoch cost a disk sync each)


def miners_of(metagraph: Metagraph) -> dict[str, str]:
    """Miner hotkey → coldkey: every registered neuron without a validator permit (§4.2's n_c counts these)."""
    return {n.hotkey: n.coldkey for n in metagraph.neurons if not n.validator_permit}


def epoch_seconds(profile: Profile) -> Fraction:
    return Fraction(profile.chain.tempo) * Fraction(str(profile.chain.block_time))


def flows_of(row: VestingEpoch) -> list[Flow]:
    return [Flow(row.epoch, b, c, h, kind, amount) for b, c, h, kind, amount, _ in row.flows]


class Vesting:
    """One run's view of the vesting ledger: reads, books and evaluates epochs in order."""

    def __init__(self, profile: Profile, store: Ledger, chain: ChainResource, log=None) -> None:
        self.profile, self.store, self.chain, self.log = profile, store, chain, log
        self.v = profile.vesting
        span = store.vesting_span()
        self.activation = self.v.activation_epoch  # None: the first epoch this ledger booked
        self._opened_at = span[0] if span else None
        self._state: VestingLedger | None = None  # the state after the epoch this run booked last
        self._post: tuple[int, dict[str, int] | None] | None = None  # (epoch last booked in order, totals at the newest post)

    def activation_for(self, epoch: int) -> int:
        if self.activation is not None:
            return self.activation
        return self._opened_at if self._opened_at is not None else epoch

    # -- reading the chain -------------------------------------------------------------------

    def read(self, epoch: int, coldkeys: list[str], miners: dict[str, str], opening: bool,
             totals_before: dict[str, int] | None) -> tuple[VestingEpoch, list[tuple]]:
        """Read epoch `epoch` from the chain and book its flows (factors are filled in later)."""
        blocks = EpochBlocks.of(epoch, self.profile)
        netuid = self.profile.chain.netuid
        problems: list[str] = []
        chain: dict = {"pre": None, "post": None, "opening": None}
        step = None
        try:
            last_step = self.chain.last_step(blocks.last)
            if last_step > blocks.last:
                raise ChainError(f"the chain names step block {last_step}, after the epoch's last block {blocks.last}")
            step = last_step if last_step >= blocks.first else None
        except ChainError as exc:
            problems.append(f"step: {exc}")
        pre = post = None
        if step is not None:
            try:
                pre = _checked(self.chain.stake_snapshot(step - 1, coldkeys).pairs, step - 1)
                post = _checked(self.chain.stake_snapshot(step, coldkeys).pairs, step)
            except ChainError as exc:
                pre = post = None
                problems.append(f"snapshot: {exc}")
        if opening:
            try:
                opening_pairs = _checked(self.chain.stake_snapshot(blocks.first - 1, coldkeys).pairs, blocks.first - 1)
                chain["opening"] = StakeSnapshot(blocks.first - 1, opening_pairs).totals()  # before the epoch's flows
            except ChainError as exc:
                problems.append(f"opening snapshot: {exc}")
        events = None
        undecodable: list[tuple] = []
        manual: dict = {}
        if self.v.flows == "events":
            try:
                records, bad = decode(self.chain.stake_events(blocks.first, blocks.last))
                events, unjoined = combine(records, netuid)
                bad += unjoined
                manual = pair_changes(records, netuid, range(step, step + 1)) if step is not None else {}
                undecodable = [(u.block, u.extrinsic, u.name, u.reason, u.raw) for u in bad]
                if bad:
                    problems.append(f"{len(bad)} stake event(s) could not be decoded ({bad[0].reason}); "
                                    "the epoch's flows come from its snapshots")
                    events = None
            except ChainError as exc:
                problems.append(f"events: {exc}; the epoch's flows come from its snapshots")
        if chain["opening"] is not None:  # the activation epoch's snapshot difference starts from its opening
            totals_before = chain["opening"]
        booked = book(epoch, netuid, miners, step, pre, post, events, manual,
                      totals_before if events is None else None)
        chain["pre"] = None if pre is None else [[c, h, r] for (c, h), r in sorted(pre.items())]
        chain["post"] = None if post is None else [[c, h, r] for (c, h), r in sorted(post.items())]
        flows = [[f.block, f.coldkey, f.hotkey, f.kind, f.amount, reason] for f, reason in booked if f.amount <= INT64]
        if len(flows) < len(booked):
            problems.append(f"{len(booked) - len(flows)} flow(s) above 2^63 rao left out")
        row = VestingEpoch(epoch, step, "fallback" if problems else "ok", "; ".join(problems) or None,
                           len(undecodable), chain, flows, {}, self.chain.now())
        return row, undecodable

    def _totals_before(self, epoch: int) -> dict[str, int] | None:
        """Each coldkey's total at the newest post snapshot before `epoch` (the §3.4 reference)."""
        if epoch == self.activation_for(epoch):
            return None  # the activation epoch's reference is its opening snapshot
        if self._post is not None and self._post[0] == epoch - 1 and self._post[1] is not None:
            return self._post[1]
        lo = epoch - 1
        while lo >= self.activation_for(epoch):
            rows = self.store.vesting_epochs(max(lo - 9, self.activation_for(epoch)), lo, ("chain",))
            for row in reversed(rows):
                if row.chain.get("post") is not None:
                    return _totals(row.chain["post"])
            lo -= 10
        return None

    def _seen(self, row: VestingEpoch) -> None:
        """Remember the newest post totals while epochs go by in order (saves a scan of the ledger)."""
        post = _totals(row.chain["post"]) if row.chain.get("post") is not None else None
        if post is None and self._post is not None and self._post[0] == row.epoch - 1:
            post = self._post[1]
        self._post = (row.epoch, post)

    # -- the tranche ledger ------------------------------------------------------------------

    def state_before(self, epoch: int, metagraph: Metagraph) -> VestingLedger | None:
        """The tranche ledger at the end of epoch−1 (None up to activation), from the newest checkpoint and
        the stored flows after it; epochs the ledger lacks are read and booked on the way, in order."""
        k0 = self.activation_for(epoch)
        if epoch <= k0:
            return None
        miners = miners_of(metagraph)
        if self._state is not None and self._state.epoch == epoch - 1:
            return self._state  # a range goes on from the epoch this run just booked
        resumed = resume(self.store, k0, epoch - 1, miners)
        if resumed is None:  # the activation epoch is not booked (well) yet
            _, state = self.book(k0, None, metagraph, self.store.vesting_epoch(k0), factors=epoch - 1 == k0)
            at = k0
        else:
            at, state = resumed
        kept = {r.epoch: r for r in self.store.vesting_epochs(at + 1, epoch - 1, ("chain", "flows"))}
        todo = range(at + 1, epoch)
        for lo in range(0, len(todo), BOOK_PER_COMMIT):
            try:
                with self.store.transaction():  # one commit per stretch of epochs, not one per epoch
                    for k in todo[lo : lo + BOOK_PER_COMMIT]:
                        row = kept.get(k)
                        if row is None or row.status != "ok":
                            self.book(k, state, metagraph, row, factors=k == epoch - 1)
                            continue
                        self._seen(row)
                        state.advance(flows_of(row), k)
                        if k % CHECKPOINT_EVERY == 0:
                            self.store.store_vesting_checkpoint(k, state.dump())
            except BaseException:
                self._state = None  # the stretch was rolled back: the next epoch starts from the ledger
                raise
        return state

    def evaluate(self, epoch: int, metagraph: Metagraph) -> VestingEpoch:
        """Epoch `epoch` booked on top of epoch−1's state, stored with its factors."""
        k0 = self.activation_for(epoch)
        if self._opened_at is None:
            self._opened_at = epoch
        if epoch < k0:
            row = VestingEpoch(epoch, None, "inactive", f"before the activation epoch {k0} (V9): every m is 1", 0,
                               {"pre": None, "post": None, "opening": None}, [], {}, self.chain.now())
            row = _with_factors(row, self._factors(epoch, metagraph, None, None))
            self.store.store_vesting_epoch(row)
            return row
        state = self.state_before(epoch, metagraph)
        return self.book(epoch, state, metagraph, self.store.vesting_epoch(epoch))[0]

    def book(self, epoch: int, state: VestingLedger | None, metagraph: Metagraph, kept: VestingEpoch | None,
             factors: bool = True) -> tuple[VestingEpoch, VestingLedger]:
        """Advance `state` (epoch−1's; None: open it here) by the epoch's flows and store the epoch's row:
        a good kept read is booked again as it is, anything else is read from the chain (and replaces the
        kept row only if it is not less complete). Factors are evaluated when `factors` (history epochs
        booked on the way to a later one skip them, except the last)."""
        k0 = self.activation_for(epoch)
        miners = miners_of(metagraph)
        undecodable = None
        if kept is not None and kept.status == "ok":
            row = kept
        else:
            row, undecodable = self.read(epoch, sorted(set(miners.values())), miners, epoch == k0,
                                         self._totals_before(epoch))
            if kept is not None and _worse(row, kept):
                row, undecodable = kept, None
        self._seen(row)
        if state is None:
            state = VestingLedger.open(miners, k0, row.chain.get("opening") or {})
        try:
            state.advance(flows_of(row), epoch)
        except FlowError as exc:  # an amount beyond int64 (nothing a chain holds): keep the state, fall back
            row = VestingEpoch(row.epoch, row.step_block, "fallback", "; ".join(filter(None, [row.reason, str(exc)])),
                               row.undecoded, row.chain, [], {}, row.recorded_at)
            state.epoch = epoch
        fallback = None
        if row.status == "fallback":
            before = self.store.vesting_epoch(epoch - 1)
            fallback = (before.factors if before is not None else {}, row.reason)
        row = _with_factors(row, self._factors(epoch, metagraph, state, fallback) if factors else
                            (kept.factors if kept is not None else {}))
        unchanged = undecodable is None and kept is not None and (row.status, row.flows, row.factors) == (
            kept.status, kept.flows, kept.factors)
        if not unchanged:  # a kept row booked again as it was is not rewritten: that drops the checkpoints after it
            self.store.store_vesting_epoch(row, undecodable if undecodable is not None else
                                           [tuple(u.values()) for u in self.store.vesting_undecoded(epoch)],
                                           same_flows=kept is not None and row.flows == kept.flows)
            if epoch % CHECKPOINT_EVERY == 0:
                self.store.store_vesting_checkpoint(epoch, state.dump())
        self._state = state
        return row, state

    def _factors(self, epoch: int, metagraph: Metagraph, state: VestingLedger | None,
                 fallback: tuple[dict, str] | None) -> dict:
        """{hotkey: uid, coldkey, h, d, m, rule, stake, qualified} of every miner at the epoch's end."""
        v = self.v
        cap = Fraction(str(v.max_multiplier))
        holdings = {}
        if state is not None:
            state.miners = miners_of(metagraph)
            holdings = state.holdings(epoch, epoch_seconds(self.profile), v.formula, amount_strict=v.amount_strict,
                                      time_strict=v.time_strict, max_multiplier=cap)
        try:
            price = self.chain.moving_price(metagraph.block)
        except ChainError:
            price = None
        previous = fallback[0] if fallback else {}
        out = {}
        for n in metagraph.neurons:
            if n.validator_permit:
                continue
            stake_rao = int(round(n.stake * 1e9))
            qualified = meets_min_stake(stake_rao, price, Fraction(str(v.min_stake_tao))) if price is not None else \
                previous.get(n.hotkey, {}).get("qualified", True)
            if fallback is not None:
                f = previous.get(n.hotkey, {"h": 0.0, "d": 0.0, "m": 1.0})
                h, d, m = f["h"], f["d"], f["m"]
                rule = f"previous epoch's factors: {fallback[1]}"
            elif n.hotkey in holdings:
                x = holdings[n.hotkey]
                h, d, m = float(x.h), float(x.d), float(x.m)
                rule = explain(x.h, x.d, x.m, v.formula, amount_strict=v.amount_strict, time_strict=v.time_strict, cap=cap)
            else:
                h, d, m, rule = 0.0, 0.0, 1.0, f"before the activation epoch {self.activation_for(epoch)} (V9)"
            out[n.hotkey] = {"uid": n.uid, "coldkey": n.coldkey, "h": h, "d": d, "m": m, "rule": rule,
                             "stake": n.stake, "qualified": bool(qualified)}
        return out


def resume(store: Ledger, k0: int, at_most: int, miners: dict[str, str],
           fallback_ok: bool = False) -> tuple[int, VestingLedger] | None:
    """The tranche ledger at the newest checkpoint at or before `at_most`, or opened at the activation
    epoch k0 from its stored row, and the epoch it stands at; None when k0 has no row (or, unless
    `fallback_ok`, only one that fell back)."""
    checkpoint = store.vesting_checkpoint(at_most)
    if checkpoint is not None and checkpoint[0] >= k0:
        return checkpoint[0], VestingLedger.load(checkpoint[1], miners)
    first = store.vesting_epoch(k0)
    if first is None or (first.status != "ok" and not fallback_ok):
        return None
    return k0, VestingLedger.open(miners, k0, first.chain.get("opening") or {}).advance(flows_of(first), k0)


def stored_state(store: Ledger, profile: Profile, epoch: int, miners: dict[str, str]) -> tuple[VestingLedger, int]:
    """The tranche ledger at the end of `epoch` from what the ledger holds alone (a checkpoint and the
    stored flows; no chain reads), and the activation epoch; LookupError naming a missing epoch."""
    span = store.vesting_span()
    if span is None:
        raise LookupError("the ledger holds no vesting epochs yet")
    k0 = profile.vesting.activation_epoch if profile.vesting.activation_epoch is not None else span[0]
    if epoch < k0:
        raise LookupError(f"epoch {epoch} is before the activation epoch {k0}: nothing counts yet (V9)")
    resumed = resume(store, k0, epoch, miners, fallback_ok=True)
    if resumed is None:
        raise LookupError(f"the activation epoch {k0} has no vesting row")
    at, state = resumed
    kept = {r.epoch: r for r in store.vesting_epochs(at + 1, epoch, ("flows",))}
    for k in range(at + 1, epoch + 1):
        if k not in kept:
            raise LookupError(f"epoch {k} has no vesting row: materialize vesting_multipliers for it first")
        state.advance(flows_of(kept[k]), k)
    return state, k0


def _checked(pairs: dict, block: int) -> dict[tuple[str, str], int]:
    """A snapshot's positions as the ledger can keep them; ChainError for anything else (keys that are
    not account strings, amounts outside 0..2^63)."""
    for (coldkey, hotkey), rao in pairs.items():
        if not (isinstance(coldkey, str) and coldkey and isinstance(hotkey, str) and hotkey
                and type(rao) is int and 0 <= rao <= INT64):
            raise ChainError(f"the snapshot at block {block} holds a position the chain cannot hold: "
                             f"{str((coldkey, hotkey, rao))[:120]}")
    return dict(pairs)


def _totals(pairs: list) -> dict[str, int]:
    """Coldkey totals of a stored snapshot ([coldkey, hotkey, rao] rows)."""
    return coldkey_totals({(c, h): r for c, h, r in pairs})


def _with_factors(row: VestingEpoch, factors: dict) -> VestingEpoch:
    return VestingEpoch(row.epoch, row.step_block, row.status, row.reason, row.undecoded, row.chain, row.flows,
                        factors, row.recorded_at)


def _worse(new: VestingEpoch, old: VestingEpoch) -> bool:
    """Whether a new read lacks something the kept one has (a snapshot, or the events' decoding)."""
    missing = lambda r: (r.chain.get("post") is None) + (r.chain.get("pre") is None) + (r.undecoded > 0)  # noqa: E731
    return missing(new) > missing(old)


def summary(row: VestingEpoch) -> dict:
    """Asset metadata of one epoch: the distribution of m, the gate's exclusions, h, d and m per hotkey."""
    f = row.factors
    ms = sorted(x["m"] for x in f.values())
    excluded = sorted((x["uid"], hk) for hk, x in f.items() if not x["qualified"])
    kinds = Counter(kind for _, _, _, kind, _, _ in row.flows)
    table = "| uid | hotkey | h | d (days) | m | gate |\n|---|---|---|---|---|---|\n" + "\n".join(
        f"| {x['uid']} | {hk} | {x['h']:.3f} | {x['d']:.1f} | {x['m']:.4f} | {'ok' if x['qualified'] else 'below min'} |"
        for hk, x in sorted(f.items(), key=lambda kv: kv[1]["uid"]))
    return {
        "epoch": row.epoch, "status": row.status, "reason": row.reason or "", "step_block": row.step_block or -1,
        "undecoded_events": row.undecoded, "flows": dict(kinds),
        "m_distribution": dict(sorted(Counter(f"{m:.4f}" for m in ms).items())),
        "m_min": ms[0] if ms else 1.0, "m_median": ms[len(ms) // 2] if ms else 1.0, "m_max": ms[-1] if ms else 1.0,
        "gate_excluded": dg.MetadataValue.json([{"uid": u, "hotkey": h} for u, h in excluded]),
        "factors": dg.MetadataValue.md(table),
    }


@dg.asset(key=VESTING, group_name="weights", partitions_def=EPOCHS, backfill_policy=dg.BackfillPolicy.single_run(),
          pool="vesting_state", automation_condition=dg.AutomationCondition.eager(),
          deps=[dg.AssetKey(["chain", "metagraph"]) if PROFILE.mantis_challenges else dg.AssetKey(["almanac", "trades_pull"])],
          description="Each miner's holding (h, d), vesting multiplier m and minimum-stake gate at the epoch's end "
                      "(ledger); a range runs in order in one run.")
def vesting_multipliers(context: dg.AssetExecutionContext, ledger: LedgerResource, chain: ChainResource,
                        settings: SettingsResource) -> dg.MaterializeResult:
    profile, store = settings.profile(), ledger.ledger()
    vesting = Vesting(profile, store, chain)
    rows = []
    for key in sorted(context.partition_keys):
        epoch = parse_epoch(key)
        blocks = EpochBlocks.of(epoch, profile)
        if chain.head_block() < blocks.last:
            raise dg.Failure(f"epoch {epoch} is still open: its last block {blocks.last} is not on chain yet")
        row = vesting.evaluate(epoch, epoch_metagraph(store, chain, blocks.last))
        rows.append(row)
    meta = summary(rows[-1])
    if len(rows) > 1:
        meta["epochs"] = f"{rows[0].epoch}–{rows[-1].epoch} in order ({len(rows)})"
        meta["fallback_epochs"] = dg.MetadataValue.json([r.epoch for r in rows if r.status == "fallback"])
    return dg.MaterializeResult(metadata=meta)
