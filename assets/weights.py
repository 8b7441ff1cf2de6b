"""The epoch's final weight vector and the blocking checks that gate its submission.

Challenge saliences are aggregated, mapped to the epoch's metagraph with the young-uid rule and the
burn, guarded against degenerate vectors, blended with the previous epoch's vector (read from the
ledger explicitly) and quantised to the u16 the chain receives under its `max_weight_limit` at the
epoch. The computation is stored, and a rerun restates it until the epoch's vector has been sent
(a reveal rerun that corrects the epoch's data thus corrects what will be sent); once sent, the
stored vector is the epoch's record, and a rerun that does not reproduce it fails a blocking check.
The submission sends the stored u16.
"""


import math
from collections.abc import Mapping

import dagster as dg
import numpy as np

from assets.epochs import EpochBlocks, epoch_params
from assets.almanac import SALIENCE as ALMANAC_SALIENCE
from assets.charts import weights_png
from assets.mantis.scoring import EAGER, FIRST_SEEN, SALIENCE as MANTIS_SALIENCE
from assets.vesting import VESTING
from mechanisms.mantis.panel import Panel, first_seen_blocks
from mechanisms.vesting.ledger import apply_multipliers
from mechanisms.weights import (WeightRules, aggregate_challenges, blend_ema, carry_forward, quantize_u16,
                                sent_unchanged, weight_vector, within_limit)
from ledger import StoredWeights
from assets.partitions import BY_EPOCH, EPOCHS, PROFILE, epoch_of
from resources.chain import ChainResource
from resources.charts import ChartStore
from resources.ledger import LedgerResource
from resources.settings_resource import SettingsResource
from resources.storage import StoredArtifacts


SALIENCES = {"mantis": MANTIS_SALIENCE, "almanac": ALMANAC_SALIENCE}  # each family's salience asset
INS = {f"{family}_salience": dg.AssetIn(key=SALIENCES[family], partition_mapping=BY_EPOCH) for family in PROFILE.families}
if "mantis" in PROFILE.families:
    INS["panels"] = dg.AssetIn()  # first submissions (the young-uid rule): their record, no panel loaded


@dg.asset(group_name="weights", partitions_def=EPOCHS, automation_condition=EAGER, ins=INS,
          deps=[VESTING] if PROFILE.vesting.enabled else [],
          description="The weight vector to set for the epoch (u16 as sent), with its provenance.")
def final_weights(context: dg.AssetExecutionContext, ledger: LedgerResource, settings: SettingsResource,
                  chain: ChainResource, charts: ChartStore, **inputs: dict) -> dict:
    """Every family's saliences ({"challenge|epoch": salience} per family) and MANTIS's panels."""
    profile, store = settings.profile(), ledger.ledger()
    epoch = epoch_of(context)
    blocks = EpochBlocks.of(epoch, profile)
    metagraph = store.metagraph(blocks.last)
    params = epoch_params(store, chain, blocks.last)
    by_challenge = {key.split("|")[0]: value for family in SALIENCES
                    for key, value in inputs.get(f"{family}_salience", {}).items()}
    scores = aggregate_challenges(by_challenge, {c.name: c.weight for c in profile.challenges})
    scores, vesting = _vesting(store, profile, epoch, scores)
    w = profile.weights
    rules = WeightRules(w.burn_uid, w.burn_share, w.young_window_blocks, w.young_weight, profile.ema_alpha,
                        w.degenerate_rel_std, w.accept_all_burn)
    first_seen = _first_seen(inputs.get("panels", {}), {c.name: c.mode for c in profile.mantis_challenges})
    new = weight_vector(scores, metagraph.uids, metagraph.hotkeys, first_seen, blocks.last, rules)
    previous = store.latest_weights_before(epoch)
    old = dict(zip(previous.hotkeys, previous.weights)) if previous else None
    if new.rejected is None:
        vector, source = blend_ema(new, old, profile.ema_alpha), "computed"
    elif previous is not None:
        vector = carry_forward(old, metagraph.uids, metagraph.hotkeys)
        source = f"previous epoch {previous.epoch} (new vector {new.rejected})"
    else:
        vector, source = new, f"none: {new.rejected}"
    limit = params.max_weight_limit
    u16 = quantize_u16(vector.weights, limit).tolist() if vector.rejected is None else [0] * len(vector.uids)
    out = {
        "epoch": epoch, "block": blocks.last, "uids": [int(u) for u in vector.uids], "hotkeys": list(vector.hotkeys),
        "weights": [float(x) for x in vector.weights], "u16": [int(x) for x in u16],
        "max_weight_limit": limit, "rejected": vector.rejected, "source": source,
    }
    meta = {"source": source, "max_weight_limit": limit}
    if vesting is not None:
        out["multipliers"] = [float(vesting["m"].get(h, 1.0)) for h in out["hotkeys"]]
        meta |= {"vesting": vesting["vesting"], "multipliers": out["multipliers"]}
    stored_as = "not stored: rejected"
    if vector.rejected is None:
        stored_as = store.store_weights(StoredWeights(epoch, blocks.last, tuple(out["uids"]), tuple(out["hotkeys"]),
                                                      tuple(out["weights"]), tuple(out["u16"]),
                                                      meta))
    stored = store.weights(epoch)
    order = np.argsort(-np.array(out["weights"]), kind="stable")[:10]
    total = sum(out["u16"])
    m_of = out.get("multipliers") or [1.0] * len(out["uids"])
    if vesting is not None:
        context.add_output_metadata({k: v for k, v in vesting.items() if k != "m"})
    roles = store.planted_roles() if profile.chain.network == "devnet" else {}
    context.add_output_metadata({
        "source": source, "uids": len(out["uids"]), "non_zero": sum(x > 0 for x in out["u16"]),
        "stored": stored_as, "reproduces_stored_u16": _same_vector(out, stored),
        "max_weight_limit": limit, "largest_share_sent": max(out["u16"]) / total if total else 0.0,
        "burn_share": out["weights"][out["uids"].index(w.burn_uid)] if w.burn_uid in out["uids"] else 0.0,
        "top": _top_table(out, order, m_of),
        **_roles_table(out, order, roles),
        **charts.show(context.assets_def.key, context.partition_key,
                      lambda: weights_png(epoch, out["weights"], out["uids"], w.burn_uid)),
    })
    return out


def _first_seen(panels: Mapping[str, Panel], modes: dict[str, str]) -> dict[str, int]:
    """Each hotkey's first block present in any challenge's panel (the young-uid rule): the panels'
    `first_seen` record, read without loading a panel; for panels saved before the record existed
    (or under other challenges or modes), computed from the panels, each loaded in turn."""
    record = panels.record(FIRST_SEEN) if isinstance(panels, StoredArtifacts) else None
    if record is not None and record.get("modes") == modes and set(panels) == set(modes):
        return {hotkey: int(block) for hotkey, block in record["blocks"].items()}
    return first_seen_blocks(panels, modes)


def _top_table(out: dict, order, m_of: list[float]) -> dg.MetadataValue:
    """The largest weights as a markdown table."""
    return dg.MetadataValue.md("| uid | hotkey | weight | u16 | m |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {out['uids'][i]} | {out['hotkeys'][i]} | {out['weights'][i]:.5f} | {out['u16'][i]} | {m_of[i]:.4f} |"
        for i in order))


def _roles_table(out: dict, order, roles: dict[str, str]) -> dict[str, dg.MetadataValue]:
    """On the devnet, the largest weights beside each neuron's planted role (a table of its own, short
    enough for the UI to show inline)."""
    if not roles:
        return {}
    return {"top_planted_roles": dg.MetadataValue.md("| uid | planted role | weight |\n|---|---|---|\n" + "\n".join(
        f"| {out['uids'][i]} | {roles.get(out['hotkeys'][i], '?')} | {out['weights'][i]:.5f} |" for i in order))}


def _vesting(store, profile, epoch: int, scores: dict[str, float]) -> tuple[dict[str, float], dict | None]:
    """The aggregated scores times each hotkey's vesting multiplier and stake gate, renormalised
    (§5, V8: before the young-uid rule, the burn and the EMA); in shadow mode the scores unchanged,
    with what the factors would have done in the metadata. (scores, None) when vesting is off."""
    if not profile.vesting.enabled:
        return scores, None
    row = store.vesting_epoch(epoch)
    if row is None or not row.factors:
        raise dg.Failure(f"vesting is on but epoch {epoch} has no vesting factors: materialize vesting_multipliers first")
    m = {hk: f["m"] for hk, f in row.factors.items()}
    gate = {hk: f["qualified"] for hk, f in row.factors.items()}
    adjusted = apply_multipliers(scores, m, gate)
    shadow = profile.vesting.shadow
    changed = sorted(((abs(adjusted.get(k, 0.0) - v), k) for k, v in scores.items()), reverse=True)[:10]
    report = {
        "m": m, "vesting": "shadow (computed, not applied)" if shadow else "applied",
        "vesting_epoch_status": row.status + (f": {row.reason}" if row.reason else ""),
        "vesting_gate_excluded": sum(1 for k in scores if gate.get(k) is False),
        "vesting_effect": dg.MetadataValue.md("| hotkey | m | score | with vesting |\n|---|---|---|---|\n" + "\n".join(
            f"| {k} | {m.get(k, 1.0):.4f} | {scores[k]:.5f} | {adjusted.get(k, 0.0):.5f} |" for _, k in changed)),
    }
    return (scores if shadow else adjusted), report


def _same_vector(out: dict, stored: StoredWeights | None) -> bool:
    """Whether the stored vector is this one, uid for uid and u16 for u16 (what the chain gets)."""
    return stored is not None and (list(stored.uids), list(stored.hotkeys), list(stored.u16)) == (
        out["uids"], out["hotkeys"], out["u16"])


def _check(passed: bool, **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=bool(passed), severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)


@dg.asset_check(asset="final_weights", blocking=True, partitions_def=EPOCHS, description="Every weight is finite.")
def weights_finite(final_weights: dict) -> dg.AssetCheckResult:
    bad = [u for u, x in zip(final_weights["uids"], final_weights["weights"]) if not math.isfinite(x)]
    return _check(not bad, non_finite_uids=str(bad[:10]))


@dg.asset_check(asset="final_weights", blocking=True, partitions_def=EPOCHS, description="No weight is negative.")
def weights_nonnegative(final_weights: dict) -> dg.AssetCheckResult:
    bad = [u for u, x in zip(final_weights["uids"], final_weights["weights"]) if x < 0]
    return _check(not bad, negative_uids=str(bad[:10]))


@dg.asset_check(asset="final_weights", blocking=True, partitions_def=EPOCHS, description="Weights sum to 1.")
def weights_normalized(final_weights: dict) -> dg.AssetCheckResult:
    total = math.fsum(final_weights["weights"])
    return _check(abs(total - 1) <= 1e-9, total=total)


@dg.asset_check(asset="final_weights", blocking=True, partitions_def=EPOCHS,
                description="Every uid is registered with the hotkey the vector was computed for.")
def uids_registered(context: dg.AssetCheckExecutionContext, final_weights: dict, ledger: LedgerResource) -> dg.AssetCheckResult:
    metagraph = ledger.ledger().metagraph(final_weights["block"])
    registered = dict(zip(metagraph.uids, metagraph.hotkeys)) if metagraph else {}
    bad = [u for u, h in zip(final_weights["uids"], final_weights["hotkeys"]) if registered.get(u) != h]
    return _check(metagraph is not None and not bad, mismatched_uids=str(bad[:10]))


@dg.asset_check(asset="final_weights", blocking=True, partitions_def=EPOCHS,
                description="The vector is usable: not empty, identical or flat (MANTIS degeneracy guard).")
def weights_not_degenerate(final_weights: dict) -> dg.AssetCheckResult:
    return _check(final_weights["rejected"] is None, rejected=str(final_weights["rejected"]), source=final_weights["source"])


@dg.asset_check(asset="final_weights", blocking=True, partitions_def=EPOCHS,
                description="The vector is the one stored for the epoch: once that has been sent, a rerun must reproduce it.")
def weights_match_stored(context: dg.AssetCheckExecutionContext, final_weights: dict,
                         ledger: LedgerResource) -> dg.AssetCheckResult:
    stored = ledger.ledger().weights(final_weights["epoch"])
    differing = [] if stored is None else [
        u for u, a, b in zip(final_weights["uids"], final_weights["u16"], stored.u16) if a != b]
    return _check(_same_vector(final_weights, stored), stored=stored is not None,
                  uids=f"{len(final_weights['uids'])} computed, {len(stored.uids) if stored else 0} stored",
                  differing_u16_uids=str(differing[:10]))


@dg.asset_check(asset="final_weights", blocking=True, partitions_def=EPOCHS,
                description="The chain takes the u16 as they are: within max_weight_limit as the SDK sends them, "
                            "and at least min_allowed_weights of them non-zero.")
def weights_sendable(context: dg.AssetCheckExecutionContext, final_weights: dict,
                     ledger: LedgerResource) -> dg.AssetCheckResult:
    params = ledger.ledger().chain_params(final_weights["block"])
    u16 = np.array(final_weights["u16"])
    non_zero = int((u16 > 0).sum())
    ok = (params is not None and non_zero >= params.min_allowed_weights and sent_unchanged(u16, params.max_weight_limit)
          and within_limit(u16, params.max_weight_limit))
    return _check(ok, non_zero=non_zero, min_allowed_weights=params.min_allowed_weights if params else -1,
                  max_weight_limit=params.max_weight_limit if params else -1)


WEIGHT_CHECKS = [weights_finite, weights_nonnegative, weights_normalized, uids_registered, weights_not_degenerate,
                 weights_match_stored, weights_sendable]
