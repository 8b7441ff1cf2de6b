"""Each challenge's training panel at an epoch, and its salience (epoch × challenge).

A panel holds every sample up to the epoch's end for prices (labels look ahead), but values only up
to the training cutoff (calc block − 500): what was readable when the epoch closed, whatever the
reveal timing, so a rerun of the epoch sees exactly the same data.
"""


import dagster as dg
import numpy as np

from assets.charts import salience_png
from assets.epochs import EpochBlocks
from assets.mantis.ingest import METAGRAPH, PRICES
from assets.mantis.reveal import EMBEDDINGS
from mechanisms.mantis.panel import Panel, first_seen_of, presence
from mechanisms.registry import MECHANISMS
from assets.partitions import BY_EPOCH, EPOCH_X_MANTIS, EPOCHS, epoch_of
from resources.charts import ChartStore
from resources.fits import FitStore
from resources.ledger import LedgerResource
from resources.settings_resource import SettingsResource
from resources.storage import BuiltOnAccess

HISTORY_DAYS = 60  # MANTIS MAX_DAYS: the training window
EAGER = dg.AutomationCondition.eager()
SALIENCE = dg.AssetKey(["mantis", "salience"])


def build_panel(store, profile, challenge, blocks: EpochBlocks, hotkeys: set[str]) -> Panel:
    """One challenge's panel from the ledger by sample range: the samples its scorer reads (the
    history, and for fixed BINARY the training range of its oldest window), prices to the epoch's
    end, values to the cutoff.

    A single-asset challenge's rows are the samples with a row of its price key and its price is
    (T,); a multi-asset one reads its keys (`Challenge.price_keys`) in one query, its rows are the
    samples at which any key has a row and its price is (T, A) in asset order. The values are
    float16, as the ledger stores them, filled in place from the ledger's rows: the panel is the
    one large allocation (a 33-asset panel of 256 miners over 60 days is 1.46 GB). A scorer that
    reads values at a few rows only (`Mechanism.value_rows`: MULTI-BREAKOUT's trigger samples) gets
    those rows from the ledger and NaN elsewhere."""
    every = blocks.every
    hi = blocks.sidx_range.stop
    mechanism = MECHANISMS[challenge.mechanism]
    lookback = mechanism.lookback(challenge.params, challenge.mode, sample_every=every,
                                  horizon_blocks=challenge.mantis.horizon_blocks)
    lo = hi - (lookback or HISTORY_DAYS * round(86_400 / (every * profile.chain.block_time)))
    if mechanism.assets:
        price_sidx, price = store.price_matrix(challenge.price_keys, lo, hi)
    else:
        price_sidx, price = store.prices(challenge.mantis.price, lo, hi)
    read = mechanism.rows_read(challenge.params, challenge.mode, sample_every=every,
                               horizon_blocks=challenge.mantis.horizon_blocks, sidx=price_sidx, price=price)
    _, keep, X = store.embeddings(challenge.name, lo, blocks.train_cutoff_sidx + 1, dtype=np.float16,
                                  rows=price_sidx if read is None else read, among=hotkeys, dim=challenge.mantis.dim)
    if read is not None:  # the scorer reads values only at these rows (MULTI-BREAKOUT's triggers): NaN elsewhere
        values = np.full((len(price_sidx), len(keep), challenge.mantis.dim), np.nan, dtype=np.float16)
        values[np.searchsorted(price_sidx, read)] = X
        X = values
    return Panel(keep, price_sidx * every, price, X)


FIRST_SEEN = "first_seen"  # the panels' record: each miner's first submission over every challenge


@dg.asset(group_name="scoring", partitions_def=EPOCHS, deps=[EMBEDDINGS, PRICES, METAGRAPH],
          automation_condition=EAGER,
          description="Each challenge's training panel (samples × miners × dim) over its lookback window.")
def panels(context: dg.AssetExecutionContext, ledger: LedgerResource, settings: SettingsResource) -> BuiltOnAccess:
    """Built one challenge at a time as the IO manager saves them (a run never holds two panels),
    with the `first_seen` record the young-uid rule reads instead of the panels: {"modes": {challenge:
    mode}, "blocks": {hotkey: first block present in any panel, by its challenge's presence rule}}."""
    profile, store = settings.profile(), ledger.ledger()
    blocks = EpochBlocks.of(epoch_of(context), profile)
    metagraph = store.metagraph(blocks.last)
    if metagraph is None:
        raise dg.Failure(f"no metagraph snapshot at block {blocks.last}: collect the epoch first")
    active = set(metagraph.hotkeys)
    challenges = {c.name: c for c in profile.mantis_challenges}
    first: dict[str, int] = {}

    def build(name: str) -> Panel:
        challenge = challenges[name]
        p = build_panel(store, profile, challenge, blocks, active)
        seen = presence(p.embeddings, challenge.mode)
        for hotkey, block in first_seen_of(p, seen).items():
            first[hotkey] = min(first.get(hotkey, block), block)
        out.metadata[name] = f"{len(p.block)} samples × {len(p.hotkeys)} miners, {int(seen.sum())} values"
        return p

    out = BuiltOnAccess(tuple(challenges), build)
    out.records[FIRST_SEEN] = {"modes": {c.name: c.mode for c in challenges.values()}, "blocks": first}
    out.metadata["train_cutoff_sidx"] = blocks.train_cutoff_sidx
    return out


@dg.asset(key=SALIENCE, group_name="scoring", partitions_def=EPOCH_X_MANTIS,
          ins={"panels": dg.AssetIn(partition_mapping=BY_EPOCH)}, automation_condition=EAGER,
          description="One salience vector over hotkeys per MANTIS challenge and epoch (sums to 1, or empty).")
def salience(context: dg.AssetExecutionContext, panels: dict[str, Panel], settings: SettingsResource,
             charts: ChartStore, fits: FitStore) -> dict[str, float]:
    profile = settings.profile()
    keys = context.partition_key.keys_by_dimension
    challenge = profile.challenge(keys["challenge"])
    mechanism = MECHANISMS[challenge.mechanism]
    cache = fits.cache(challenge.name) if mechanism.cached and challenge.mode == "fixed" else None
    result = mechanism.score(panels[challenge.name], challenge.mode, challenge.params,
                             sample_every=profile.chain.sample_every, horizon_blocks=challenge.mantis.horizon_blocks,
                             cache=cache)
    pruned = cache.prune(fits.keep_days) if cache is not None else 0
    top = sorted(result.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    context.add_output_metadata({
        "mechanism": f"{challenge.mechanism} ({challenge.mode})",
        "miners_with_salience": sum(v > 0 for v in result.values()),
        **({"fits_reused": cache.hits, "fits_new": cache.misses, "fits_pruned": pruned} if cache is not None else {}),
        "top": dg.MetadataValue.md("| hotkey | salience |\n|---|---|\n" + "\n".join(f"| {h} | {v:.4f} |" for h, v in top if v > 0)),
        **charts.show(SALIENCE, context.partition_key, lambda: salience_png(challenge.name, int(keys["epoch"]), result)),
    })
    return result
