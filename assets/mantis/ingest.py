"""The epoch's collection run: every sample's payloads and prices, then the epoch's metagraph.

Payloads can only be fetched live (miners overwrite them every minute), so one run per epoch
samples every `sample_every` blocks until the epoch closes, writing each sample to the ledger as it
goes. A rerun of a collected epoch reads the ledger and touches no network; a sample whose time has
passed with nobody collecting is recorded as missed, never silently dropped.
"""


import hashlib
from collections import Counter

import dagster as dg

from assets.epochs import EpochBlocks, SampleRules, epoch_metagraph, epoch_params
from ledger import RawPayload
from assets.partitions import EPOCHS, epoch_of
from protocol import payload as pl
from resources.chain import ChainResource
from resources.drand import DrandResource
from resources.ledger import LedgerResource
from resources.payloads import FETCHED, FetchResult, PayloadStore
from resources.prices import PriceFeed, PriceFeedError, missing
from resources.settings_resource import SettingsResource

PAYLOADS = dg.AssetKey(["raw", "payloads"])
PRICES = dg.AssetKey(["market", "prices"])
METAGRAPH = dg.AssetKey(["chain", "metagraph"])


class CollectConfig(dg.Config):
    fetch_deadline_s: float = 20.0  # a sample is taken when this passes, even if miners hang
    block_timeout_s: float = 120.0  # how long to wait for the chain to reach a sample block


def price_keys(profile) -> tuple[str, ...]:
    """Every price snapshot key the profile's MANTIS challenges read (`Challenge.price_keys`), once
    each in challenge order: a single-asset challenge's price, a multi-asset one's assets (funding
    rates as `funding_key(asset)`)."""
    return tuple(dict.fromkeys(k for c in profile.mantis_challenges for k in c.price_keys))


KEEP_REFUSED_BYTES = 4096  # of a body refused at download: enough to see what it was


def screened_row(result: FetchResult, sidx: int, taken_at: float, rules: SampleRules) -> RawPayload:
    """The ledger row of one fetch, with a fetched body screened at once (`payload.screen`).

    A body that passes keeps status "fetched" and its round, which the epoch's reveal waits for,
    and is stored in its canonical form: the nine fields and nothing a miner padded them with. One
    that fails gets the refusal's reason as its status and no round, so a hostile round never
    makes an epoch wait and never reaches a 64-bit column; it is kept up to KEEP_REFUSED_BYTES with
    its size and digest, so a miner serving junk every minute cannot fill the ledger. Screening
    that raises (a bug, never a miner's right) is the payload's own refusal, `unexpected`.
    """
    if result.status != FETCHED or result.body is None:
        return RawPayload(sidx, result.hotkey, result.url, result.status, None, result.reason, None, taken_at)
    body = result.body
    try:
        verdict = pl.screen(body, result.hotkey, rules.owner_pk, rules.window, rules.limits)
        if verdict:
            return RawPayload(sidx, result.hotkey, result.url, FETCHED, verdict.canonical(), "", verdict.round, taken_at)
        status, reason = verdict.reason.value, verdict.detail
    except Exception as exc:  # noqa: BLE001 - the per-payload boundary: one miner's bytes never stop a sample
        status, reason = pl.UNEXPECTED, f"screening raised {type(exc).__name__}: {str(exc)[:200]}"
    if len(body) > KEEP_REFUSED_BYTES:
        reason += f" (body of {len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()}; first {KEEP_REFUSED_BYTES} kept)"
        body = body[:KEEP_REFUSED_BYTES]
    return RawPayload(sidx, result.hotkey, result.url, status, body, reason, None, taken_at)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(PAYLOADS, group_name="ingest", description="Every miner's fetched payload bytes per sample (ledger)."),
        dg.AssetSpec(PRICES, group_name="ingest", description="The price snapshot of every sample (ledger)."),
        dg.AssetSpec(METAGRAPH, group_name="ingest", description="The metagraph at the epoch's last block (ledger)."),
    ],
    partitions_def=EPOCHS,
    can_subset=False,
)
def collect_epoch(
    context: dg.AssetExecutionContext,
    config: CollectConfig,
    chain: ChainResource,
    payloads: PayloadStore,
    drand: DrandResource,
    prices: PriceFeed,
    ledger: LedgerResource,
    settings: SettingsResource,
):
    profile, store = settings.profile(), ledger.ledger()
    blocks = EpochBlocks.of(epoch_of(context), profile)
    beacon = drand.chain()
    have = {s.sidx for s in store.samples(blocks.sidx_range.start, blocks.sidx_range.stop)}
    keys, layout = price_keys(profile), profile.price_layout()
    statuses: Counter[str] = Counter()
    taken = 0
    for block in blocks.sample_blocks:
        sidx = block // blocks.every
        if sidx in have:
            continue  # collected before (a resumed or re-materialised run): the ledger has it
        if chain.head_block() >= block + blocks.every:
            store.record_sample(sidx, block, chain.now(), status="missed", reason="no collection was running")
            continue
        chain.wait_for_block(block, config.block_timeout_s)
        now = chain.now()
        metagraph_hotkeys = set(chain.metagraph(block).hotkeys)
        urls = {hk: c.data for hk, c in chain.commitments(block).items() if hk in metagraph_hotkeys}
        results = payloads.fetch_all(urls, config.fetch_deadline_s)
        try:
            snapshot = prices.snapshot(now).values(keys)  # every key, NaN where the feed has none
        except PriceFeedError as exc:
            context.log.warning(f"sample {sidx}: no prices ({exc})")
            snapshot = missing(keys)
        rules = SampleRules.of(beacon, profile, now)
        rows = [screened_row(r, sidx, now, rules) for r in results.values()]
        with store.transaction():
            store.record_sample(sidx, block, now)
            store.record_payloads(rows)
            store.store_snapshots({sidx: snapshot}, layout)
        statuses.update(r.status for r in rows)
        taken += 1
    chain.wait_for_block(blocks.last, config.block_timeout_s)
    metagraph = epoch_metagraph(store, chain, blocks.last)
    params = epoch_params(store, chain, blocks.last)
    samples = store.samples(blocks.sidx_range.start, blocks.sidx_range.stop)
    by_status = store.payload_statuses(blocks.sidx_range.start, blocks.sidx_range.stop)
    rounds = store.payload_rounds(blocks.sidx_range.start, blocks.sidx_range.stop).values()
    yield dg.MaterializeResult(
        asset_key=PAYLOADS,
        metadata={
            "blocks": f"{blocks.first}–{blocks.last}",
            "samples_taken_now": taken,
            "samples_in_ledger": sum(s.status == "taken" for s in samples),
            "samples_missed": sum(s.status == "missed" for s in samples),
            "payloads": sum(by_status.values()),
            "fetched": by_status.get(FETCHED, 0),
            "by_status": dg.MetadataValue.json(by_status),
            "max_round": max((max(r) for r in rounds), default=0),
        },
    )
    yield dg.MaterializeResult(asset_key=PRICES, metadata={"samples": len(samples), "price_keys": ", ".join(keys)})
    yield dg.MaterializeResult(
        asset_key=METAGRAPH,
        metadata={"block": metagraph.block, "neurons": len(metagraph.neurons),
                  "validators": sum(n.validator_permit for n in metagraph.neurons),
                  "max_weight_limit": params.max_weight_limit, "min_allowed_weights": params.min_allowed_weights},
    )
