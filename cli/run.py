"""`incentive run`: the main job on the embedded devnet, in-process through the real Dagster instance.

It installs the devnet (bootstrap history included) on first use, collects the next live epochs
(the collection drives the devnet's manual clock), lets the beacon publish their rounds, then
reveals, scores, weighs, checks and submits each epoch, exactly as the sensors and automation
would, and prints the weights beside each miner's planted role.
"""

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from cli import UsageError


_COST = {"xsec_rank": 4, "lbfgs": 3, "funding_xsec": 3, "almanac": 2}  # a challenge's rough share of an epoch's scoring


def _materialize(dg, instance, resources, keys, partition_key, assets):
    result = dg.materialize(assets, selection=dg.AssetSelection.assets(*keys), partition_key=partition_key,
                            instance=instance, resources=resources, raise_on_error=False,
                            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    if not result.success:
        failed = [e.message for e in result.all_events if e.is_failure]
        raise UsageError(f"run {result.run_id} failed for {partition_key}: {failed[-1] if failed else 'see the UI'}")
    return result


# What the scoring workers run with: set before they fork (they inherit it; nothing is pickled but the
# keys), so a worker materialises a partition exactly as the command's own process would.
_SHARED: tuple | None = None
WORKERS = 2  # the challenges' salience runs of an epoch, two at a time (each single-threaded, §14)


def _materialize_shared(keys, partition_key) -> None:
    dg, instance, resources, assets = _SHARED
    _materialize(dg, instance, resources, keys, partition_key, assets)


def run(args: argparse.Namespace) -> int:
    if not os.environ.get("DAGSTER_HOME"):
        raise UsageError("DAGSTER_HOME is not set (make run sets it to .dagster_home)")
    import dagster as dg

    from assets.chain import SUBMISSION
    from assets.epochs import EpochBlocks
    from assets.mantis.ingest import METAGRAPH, PAYLOADS, PRICES
    from assets.mantis.reveal import EMBEDDINGS, SIGNATURES
    from assets.almanac import SALIENCE as ALMANAC_SALIENCE, TRADES_PULL, epoch_matrices
    from assets.mantis.scoring import SALIENCE as MANTIS_SALIENCE, panels
    from assets.vesting import VESTING
    from assets.weights import WEIGHT_CHECKS, final_weights
    from devnet.bootstrap import write_bootstrap
    from devnet.chain import DevnetChainState
    from devnet.world import World
    from orchestration.definitions import ASSETS, PROFILE, PROFILE_PATH
    from assets.partitions import EPOCHS, epoch_key
    from resources.settings import build_resources

    if PROFILE.chain.network != "devnet":
        raise UsageError("incentive run drives the embedded devnet; a live profile runs under the daemon (make ui)")
    t_start = time.monotonic()
    resources = build_resources(PROFILE, profile_path=PROFILE_PATH)
    store = resources["ledger"].ledger()
    world = World(PROFILE)
    state = DevnetChainState(world, store)
    state.install()
    state.clock.set_manual(state.clock.now())  # this command drives the clock (make ui may have scaled it)
    new = write_bootstrap(world, store)
    say = lambda text: print(f"[{time.monotonic() - t_start:6.1f}s] {text}", file=sys.stderr)  # noqa: E731
    say(f"devnet '{PROFILE.name}': {len(world.miners)} MANTIS miners, {len(world.traders)} Almanac traders, bootstrap history {len(world.bootstrap_sidx())} samples"
        f" ({new} written now)")
    instance = dg.DagsterInstance.get()
    tempo = PROFILE.chain.tempo
    head = state.head_block()
    first = head // tempo if head % tempo == 0 else head // tempo + 1
    epochs = list(range(first, first + args.epochs))
    everything = [*ASSETS, *WEIGHT_CHECKS]
    global _SHARED
    _SHARED = (dg, instance, resources, everything)
    # The challenges' salience runs of an epoch are independent: two forked workers take them, the
    # costliest first (what the daemon's run queue does with two concurrent runs). A worker opens
    # its own ledger connections (ledger.store forgets the parent's at fork).
    workers = ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("fork"))
    by_cost = sorted(PROFILE.challenges, key=lambda c: -_COST.get(c.mechanism, 1))
    for epoch in epochs:
        key = epoch_key(epoch)
        instance.add_dynamic_partitions(EPOCHS.name, [key])
        _materialize(dg, instance, resources, [PAYLOADS, PRICES, METAGRAPH], key, everything)
        say(f"epoch {key}: collected blocks {epoch * tempo}–{epoch * tempo + tempo - 1}")
    for epoch in epochs:
        key = epoch_key(epoch)
        samples = EpochBlocks.of(epoch, PROFILE).sidx_range
        rounds = set().union(*store.payload_rounds(samples.start, samples.stop).values())
        ready_at = world.beacon.chain.reveal_time(max(rounds))
        if state.clock.now() < ready_at:
            state.clock.set_manual(ready_at)  # the beacon publishes the epoch's newest round
        _materialize(dg, instance, resources, [SIGNATURES, EMBEDDINGS, panels.key], key, everything)
        if PROFILE.almanac_challenges:
            _materialize(dg, instance, resources, [TRADES_PULL, epoch_matrices.key], key, everything)
        # The vesting run depends on the chain alone, so it shares the workers with the salience runs,
        # first (it books the stake history on an instance's first epoch); a run of its own all the same:
        # its backfill policy (one ordered run per range) is not the others'.
        scored = [workers.submit(_materialize_shared, [VESTING], key)] if PROFILE.vesting.enabled else []
        scored += [workers.submit(_materialize_shared, [ALMANAC_SALIENCE if c.almanac else MANTIS_SALIENCE],
                                  dg.MultiPartitionKey({"epoch": key, "challenge": c.name})) for c in by_cost]
        for future in scored:
            future.result()  # a failed run raises its UsageError here
        _materialize(dg, instance, resources, [final_weights.key, SUBMISSION], key, everything)
        say(f"epoch {key}: revealed, scored, weighed and submitted")
    workers.shutdown()
    last = store.weights(epochs[-1])
    roles = store.planted_roles()  # written by the install above
    print(f"\nweights of epoch {epoch_key(epochs[-1])} (set on the devnet chain at block "
          f"{store.submissions(epochs[-1])[-1].block}):")
    multipliers = last.meta.get("multipliers") or [None] * len(last.uids)
    mode = f"  m ({last.meta.get('vesting')})  stake behaviour" if PROFILE.vesting.enabled else ""
    print(f"{'uid':>4}  {'hotkey':<48}  {'planted role':<21}  weight   u16 sent{mode}")
    for uid, hotkey, weight, u16, m in sorted(zip(last.uids, last.hotkeys, last.weights, last.u16, multipliers),
                                              key=lambda r: -r[2]):
        vest = "" if m is None else f"  {m:.4f}  {world.stake.behaviour_of(hotkey) or '-'}"
        print(f"{uid:>4}  {hotkey:<48}  {roles.get(hotkey, '?'):<21}  {weight:.5f}  {u16:>8}{vest}")
    limit = store.chain_params(last.block).max_weight_limit
    print(f"(u16 as stored and sent: no uid above max_weight_limit {limit}/65535 = {limit / 65535:.1%} of their total)")
    print(f"\ndone in {time.monotonic() - t_start:.0f} s. Lineage, metadata and reruns of these epochs are in the "
          f"Dagster UI on the same instance:\n  make ui   (then open http://127.0.0.1:3000)")
    return 0


def register(groups: argparse._SubParsersAction) -> None:
    p = groups.add_parser("run", help="run the next live epochs of the embedded devnet end to end")
    p.add_argument("--epochs", type=int, default=2, help="how many live epochs (default 2)")
    p.set_defaults(run=run)
