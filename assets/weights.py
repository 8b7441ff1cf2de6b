"""The epoch's final weight vector and the blocking checks that gate its submission.

Challenge saliences are aggregated, mapped to the epoch's metagraph with the young-uid rule and the
burn, guarded against degenerate vectors, blended with the previous epoch's vector (read from the
ledger explicitly) and quantised to the u16 the chain receives.
"""


import math

import dagster as dg
import numpy as np

from assets.epochs import EpochBlocks
from assets.scoring import EAGER
from mechanisms.panel import Panel
from mechanisms.weights import WeightRules, WeightVector, aggregate_challenges, blend_ema, quantize_u16, weight_vector
from ledger import StoredWeights
from assets.partitions import BY_EPOCH, EPOCHS, epoch_of
from resources.ledger import LedgerResource
from resources.settings_resource import SettingsResource


def first_seen_blocks(panels: dict[str, Panel]) -> dict[str, int]:
    """The first block at which each hotkey has a value in any challenge's panel."""
    first: dict[str, int] = {}
    for panel in panels.values():
        present = ~np.isnan(panel.embeddings).all(axis=2)
        for j, hotkey in enumerate(panel.hotkeys):
            rows = np.flatnonzero(present[:, j])
            if len(rows):
                block = int(panel.block[rows[0]])
                first[hotkey] = min(first.get(hotkey, block), block)
    return first


def _remap(previous: StoredWeights, uids, hotkeys) -> WeightVector:
    """The previous vector on today's metagraph, by hotkey (deregistered hotkeys dropped; F21)."""
    old = dict(zip(previous.hotkeys, previous.weights))
    w = np.array([old.get(h, 0.0) for h in hotkeys])
    if w.sum() <= 0:
        return WeightVector(np.array(uids), tuple(hotkeys), np.zeros(len(uids)), "empty")
    return WeightVector(np.array(uids), tuple(hotkeys), w / w.sum(), None)


@dg.asset(group_name="weights", partitions_def=EPOCHS, automation_condition=EAGER,
          ins={"salience": dg.AssetIn(partition_mapping=BY_EPOCH), "panels": dg.AssetIn()},
          description="The weight vector to set for the epoch (u16 as sent), with its provenance.")
def final_weights(context: dg.AssetExecutionContext, salience: dict[str, dict[str, float]], panels: dict[str, Panel],
                  ledger: LedgerResource, settings: SettingsResource) -> dict:
    profile, store = settings.profile(), ledger.ledger()
    epoch = epoch_of(context)
    blocks = EpochBlocks.of(epoch, profile)
    metagraph = store.metagraph(blocks.last)
    by_challenge = {key.split("|")[0]: value for key, value in salience.items()}
    scores = aggregate_challenges(by_challenge, {c.name: c.weight for c in profile.challenges})
    w = profile.weights
    rules = WeightRules(w.burn_uid, w.burn_share, w.young_window_blocks, w.young_weight, profile.ema_alpha,
                        w.degenerate_rel_std)
    new = weight_vector(scores, metagraph.uids, metagraph.hotkeys, first_seen_blocks(panels), blocks.last, rules)
    previous = store.latest_weights_before(epoch)
    if new.rejected is None:
        vector = blend_ema(new, dict(zip(previous.hotkeys, previous.weights)) if previous else None, profile.ema_alpha)
        source = "computed"
    elif previous is not None:
        vector, source = _remap(previous, metagraph.uids, metagraph.hotkeys), f"previous epoch {previous.epoch} (new vector {new.rejected})"
    else:
        vector, source = new, f"none: {new.rejected}"
    u16 = quantize_u16(vector.weights).tolist() if vector.rejected is None else [0] * len(vector.uids)
    out = {
        "epoch": epoch, "block": blocks.last, "uids": [int(u) for u in vector.uids], "hotkeys": list(vector.hotkeys),
        "weights": [float(x) for x in vector.weights], "u16": [int(x) for x in u16],
        "rejected": vector.rejected, "source": source,
    }
    stored = store.weights(epoch)
    if stored is None and vector.rejected is None:
        store.store_weights(StoredWeights(epoch, blocks.last, tuple(out["uids"]), tuple(out["hotkeys"]),
                                          tuple(out["weights"]), tuple(out["u16"]), {"source": source}))
        stored = store.weights(epoch)
    order = np.argsort(-np.array(out["weights"]), kind="stable")[:10]
    context.add_output_metadata({
        "source": source, "uids": len(out["uids"]), "non_zero": sum(x > 0 for x in out["u16"]),
        "reproduces_stored_u16": stored is not None and list(stored.u16) == out["u16"],
        "burn_share": out["weights"][out["uids"].index(w.burn_uid)] if w.burn_uid in out["uids"] else 0.0,
        "top": dg.MetadataValue.md("| uid | hotkey | weight | u16 |\n|---|---|---|---|\n" + "\n".join(
            f"| {out['uids'][i]} | {out['hotkeys'][i]} | {out['weights'][i]:.5f} | {out['u16'][i]} |" for i in order)),
    })
    return out


def _check(passed: bool, **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=bool(passed), severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)


@dg.asset_check(asset=final_weights, blocking=True, partitions_def=EPOCHS, description="Every weight is finite.")
def weights_finite(final_weights: dict) -> dg.AssetCheckResult:
    bad = [u for u, x in zip(final_weights["uids"], final_weights["weights"]) if not math.isfinite(x)]
    return _check(not bad, non_finite_uids=str(bad[:10]))


@dg.asset_check(asset=final_weights, blocking=True, partitions_def=EPOCHS, description="No weight is negative.")
def weights_nonnegative(final_weights: dict) -> dg.AssetCheckResult:
    bad = [u for u, x in zip(final_weights["uids"], final_weights["weights"]) if x < 0]
    return _check(not bad, negative_uids=str(bad[:10]))


@dg.asset_check(asset=final_weights, blocking=True, partitions_def=EPOCHS, description="Weights sum to 1.")
def weights_normalized(final_weights: dict) -> dg.AssetCheckResult:
    total = math.fsum(final_weights["weights"])
    return _check(abs(total - 1) <= 1e-9, total=total)


@dg.asset_check(asset=final_weights, blocking=True, partitions_def=EPOCHS,
                description="Every uid is registered with the hotkey the vector was computed for.")
def uids_registered(context: dg.AssetCheckExecutionContext, final_weights: dict, ledger: LedgerResource) -> dg.AssetCheckResult:
    metagraph = ledger.ledger().metagraph(final_weights["block"])
    registered = dict(zip(metagraph.uids, metagraph.hotkeys)) if metagraph else {}
    bad = [u for u, h in zip(final_weights["uids"], final_weights["hotkeys"]) if registered.get(u) != h]
    return _check(metagraph is not None and not bad, mismatched_uids=str(bad[:10]))


@dg.asset_check(asset=final_weights, blocking=True, partitions_def=EPOCHS,
                description="The vector is usable: not empty, identical or flat (MANTIS degeneracy guard).")
def weights_not_degenerate(final_weights: dict) -> dg.AssetCheckResult:
    return _check(final_weights["rejected"] is None, rejected=str(final_weights["rejected"]), source=final_weights["source"])


WEIGHT_CHECKS = [weights_finite, weights_nonnegative, weights_normalized, uids_registered, weights_not_degenerate]
