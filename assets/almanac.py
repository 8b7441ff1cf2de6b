"""The Almanac (SN41) challenges of an epoch: its trades pull, `epoch_matrices` and their salience.

An epoch evaluates the UTC day D that ends at the midnight at or before its last block (the scored
days are the 30 before D), with the budget U and the metagraph of its own last block. What it reads
from outside (the pull, U's inputs, the commitments) is kept in the ledger at its first run, and
every later run of the epoch reads that again: trades that settle later, a price that moved or a
changed commitment never change an epoch already scored, and `incentive almanac export` writes
exactly what it scored.
"""


import datetime as dt

import dagster as dg
import numpy as np

from assets.charts import salience_png
from assets.epochs import EpochBlocks, epoch_metagraph
from assets.mantis.scoring import EAGER
from assets.partitions import BY_EPOCH, EPOCH_X_ALMANAC, EPOCHS, epoch_of
from ledger import AlmanacEpoch, Ledger
from mechanisms.almanac.matrices import AlmanacMatrices
from mechanisms.almanac.params import AlmanacParams
from mechanisms.almanac.records import parse_trades
from mechanisms.almanac.scoring import AlmanacScore, build_matrices, daily_budget, score_matrices
from mechanisms.registry import MECHANISMS
from mechanisms.weights import BURN_KEY
from profiles import Challenge, Profile
from resources.chain import ChainError, ChainResource, Metagraph
from resources.charts import ChartStore
from resources.ledger import LedgerResource
from resources.prices import PriceFeed, PriceFeedError
from resources.settings_resource import SettingsResource
from resources.trades import TradesSource, TradesSourceError

TRADES_PULL = dg.AssetKey(["almanac", "trades_pull"])
SALIENCE = dg.AssetKey(["almanac", "salience"])
_DAY0 = dt.date(1970, 1, 1)


def params_of(challenge: Challenge, profile: Profile) -> AlmanacParams:
    """The challenge's mechanism parameters: its overrides, mode and variant, and the profile's burn uid."""
    return MECHANISMS[challenge.mechanism].make_params(
        challenge.params, mode=challenge.mode, variant=challenge.almanac.variant, burn_uid=profile.weights.burn_uid)


def boundary_of(t: float) -> dt.date:
    """D: the UTC midnight at or before `t`, as the date it starts."""
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).date()


def record_days(records: list) -> list[int | None]:
    """Each record's UTC completion day (days since 1970), None where it has none (open, or unreadable)."""
    day = parse_trades(records, fixed=True).day
    return [int(d) if d >= 0 else None for d in day.tolist()]


def budget_of(kept: AlmanacEpoch) -> float | None:
    """The epoch's U from its kept inputs (None: one could not be read, see `kept.missing`)."""
    return daily_budget(kept.moving_price, kept.tao_usd)


def snapshot_of(store: Ledger, kept: AlmanacEpoch, window_days: int) -> tuple[Metagraph, list]:
    """The metagraph and the records an epoch scores: its pull's records completed within a day of
    the window (a record's own offset may put it on the neighbouring date) and those without a day."""
    metagraph = store.metagraph(kept.block)
    first = (kept.boundary - _DAY0).days - window_days
    return metagraph, store.trades(kept.pull, first - 1, (kept.boundary - _DAY0).days + 1)


def uid_table(metagraph: Metagraph) -> tuple[list[int], list[str | None]]:
    """(uids, hotkeys indexed by uid) as the mechanism reads a metagraph."""
    hotkeys: list[str | None] = [None] * (max(metagraph.uids, default=-1) + 1)
    for uid, hotkey in zip(metagraph.uids, metagraph.hotkeys):
        hotkeys[uid] = hotkey
    return list(metagraph.uids), hotkeys


@dg.asset(key=TRADES_PULL, group_name="trades", partitions_def=EPOCHS,
          description="The trading history as pulled for the epoch, with its budget inputs and commitments "
                      "(read once: a rerun reuses them).")
def trades_pull(context: dg.AssetExecutionContext, ledger: LedgerResource, settings: SettingsResource,
                chain: ChainResource, prices: PriceFeed, trades: TradesSource) -> dict:
    profile, store = settings.profile(), ledger.ledger()
    epoch = epoch_of(context)
    blocks = EpochBlocks.of(epoch, profile)
    kept = store.almanac_epoch(epoch)
    reused = kept is not None
    if not reused:
        head = chain.head_block()
        if head < blocks.last:
            raise dg.Failure(f"epoch {epoch} has not closed: head {head} is before its last block {blocks.last}")
        metagraph = epoch_metagraph(store, chain, blocks.last)
        committed = chain.commitments(blocks.last)
        commitments = {n.uid: committed[n.hotkey].data if n.hotkey in committed else None for n in metagraph.neurons}
        now, missing = chain.now(), []
        moving = tao = None
        try:
            moving = chain.moving_price(blocks.last)
        except ChainError as exc:
            missing.append(f"alpha moving price: {exc}")
        try:
            tao = prices.tao_usd(now)
        except PriceFeedError as exc:
            missing.append(f"TAO/USD: {exc}")
        try:
            pulled = trades.pull(now)
        except TradesSourceError as exc:
            raise dg.Failure(f"trades pull failed, nothing kept: {exc}") from None
        pull = store.record_trade_pull(pulled.records, record_days(pulled.records), pulled_at=pulled.pulled_at,
                                       pages=pulled.pages)
        boundary = boundary_of(chain.time_of_block(blocks.last, profile.chain.block_time))
        store.store_almanac_epoch(AlmanacEpoch(epoch, blocks.last, boundary, pull, now, moving, tao,
                                               "; ".join(missing) or None, commitments))
        kept = store.almanac_epoch(epoch)
    (pull,) = store.trade_pulls(kept.pull)
    budget = budget_of(kept)
    context.add_output_metadata({
        "pull": kept.pull, "records": pull.records, "pages": pull.pages, "reused": reused,
        "evaluation_day_D": kept.boundary.isoformat(),
        "U_usd": budget if budget is not None else f"skipped: {kept.missing}",
        "alpha_moving_price_tao": kept.moving_price if kept.moving_price is not None else "missing",
        "tao_usd": kept.tao_usd if kept.tao_usd is not None else "missing",
    })
    return {"epoch": epoch, "pull": kept.pull}  # the rest is the epoch's ledger row, which readers read


@dg.asset(group_name="scoring", partitions_def=EPOCHS, automation_condition=EAGER,
          ins={"pulled": dg.AssetIn(key=TRADES_PULL)},
          description="Each Almanac challenge's §3 matrices of both pools (30 days × entities) for the epoch's D.")
def epoch_matrices(context: dg.AssetExecutionContext, pulled: dict, ledger: LedgerResource,
                   settings: SettingsResource) -> dict[str, AlmanacMatrices]:
    profile, store = settings.profile(), ledger.ledger()
    kept = store.almanac_epoch(pulled["epoch"])
    out, meta, read = {}, {"evaluation_day_D": kept.boundary.isoformat(), "pull": kept.pull}, {}
    for challenge in profile.almanac_challenges:
        params = params_of(challenge, profile)
        if params.window_days not in read:  # challenges with one window read the ledger once
            read[params.window_days] = snapshot_of(store, kept, params.window_days)
        metagraph, records = read[params.window_days]
        uids, hotkeys = uid_table(metagraph)
        m = out[challenge.name] = build_matrices(records, uids, hotkeys, kept.boundary, params)
        for pool in (m.miner, m.gp):
            meta[f"{challenge.name} {pool.pool} pool"] = (
                f"{pool.n} entities, {int((pool.fees.sum(axis=1) > 0).sum())} of {pool.n_epochs} days active, "
                f"last-day fees {float(pool.fees[-1].sum()) if pool.n else 0.0:,.2f} USD")
        meta[f"{challenge.name} skipped records"] = dg.MetadataValue.json(m.skipped)
    context.add_output_metadata(meta)
    return out


@dg.asset(key=SALIENCE, group_name="scoring", partitions_def=EPOCH_X_ALMANAC, automation_condition=EAGER,
          ins={"epoch_matrices": dg.AssetIn(partition_mapping=BY_EPOCH)},
          check_specs=[dg.AssetCheckSpec("phases_feasible", asset=SALIENCE, description=(
              "Both pools' Phase 1 and Phase 2 were feasible (an infeasible pool pays nothing)."))],
          description="One Almanac challenge's weights over hotkeys for the epoch; the burn share goes to the "
                      "profile's burn uid.")
def almanac_salience(context: dg.AssetExecutionContext, epoch_matrices: dict[str, AlmanacMatrices],
                     ledger: LedgerResource, settings: SettingsResource, charts: ChartStore):
    profile, store = settings.profile(), ledger.ledger()
    keys = context.partition_key.keys_by_dimension
    challenge = profile.challenge(keys["challenge"])
    kept = store.almanac_epoch(epoch_of(context))
    matrices = epoch_matrices[challenge.name]
    budget = budget_of(kept)
    if budget is None:
        yield dg.Output({}, metadata={"skipped": f"no budget U for the epoch: {kept.missing}"})
        yield dg.AssetCheckResult(check_name="phases_feasible", passed=True, metadata={"skipped": kept.missing})
        return
    metagraph = store.metagraph(kept.block)
    params = params_of(challenge, profile)
    result = score_matrices(matrices, list(metagraph.uids), kept.commitments, budget, params)
    hotkey = dict(zip(metagraph.uids, metagraph.hotkeys))
    salience = {BURN_KEY if uid == params.burn_uid else hotkey[uid]: w for uid, w in result.weights.items()}
    chart = charts.show(SALIENCE, context.partition_key, lambda: salience_png(challenge.name, int(keys["epoch"]), salience))
    yield dg.Output(salience, metadata=score_metadata(result, challenge) | chart)
    statuses = {f"{p.matrices.pool} phase {i}": s.status for p in (result.miner, result.gp)
                for i, s in ((1, p.sol1), (2, p.sol2))}
    yield dg.AssetCheckResult(check_name="phases_feasible", passed="infeasible" not in statuses.values(),
                              severity=dg.AssetCheckSeverity.ERROR, metadata=statuses)


def score_metadata(result: AlmanacScore, challenge: Challenge) -> dict:
    """Budgets, κ, statuses, the top tokens and why records or miners were left out."""
    rows = sorted(((t, pool.matrices.pool, e) for pool in (result.miner, result.gp)
                   for e, t in zip(pool.entities, pool.tokens.tolist()) if t > 0), reverse=True)[:10]
    b = result.budgets
    return {
        "mechanism": f"almanac {challenge.almanac.variant} ({challenge.mode})",
        "U_usd": result.epoch_budget,
        "budgets_usd": f"miner {b.miner:,.2f} (max {b.miner_max:,.2f}), general pool {b.gp:,.2f}",
        **{f"{p.matrices.pool} pool": f"{p.matrices.n} entities, kappa {_g(p.kappa)}, phase 1 {p.sol1.status}, "
                                       f"phase 2 {p.sol2.status}, paid {float(p.tokens.sum()):,.2f}"
           for p in (result.miner, result.gp)},
        "top_tokens": dg.MetadataValue.md("| tokens (USD) | pool | entity |\n|---|---|---|\n" + "\n".join(
            f"| {t:,.4f} | {pool} | {_cell(e)} |" for t, pool, e in rows)),
        "miner_tokens": dg.MetadataValue.json({str(e): float(t) for e, t in
                                               zip(result.miner.entities, result.miner.tokens.tolist())}),
        "gp_tokens_total": float(np.sum(result.gp.tokens)),
        "penalised": dg.MetadataValue.json({str(u): why for u, why in result.penalised.items()}),
        "skipped_records": dg.MetadataValue.json(result.skipped),
        "warnings": "; ".join(result.warnings) or "none",
    }


def _cell(entity: object) -> str:
    """An entity in a markdown cell: a general-pool profile id is the trader's own text, so it is cut
    short, cannot break the table, and sits in a code span (no links, entities or emphasis render)."""
    text = str(entity)
    text = text if len(text) <= 48 else text[:45] + "..."
    return "`" + "".join(c if c.isprintable() and c not in "|`<>[]\\" else "?" for c in text) + "`"


def _g(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"
