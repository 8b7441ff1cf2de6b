"""Setting the epoch's weights on chain: once per epoch, only after every blocking check passed, and
exactly the u16 stored for it."""


import dagster as dg

from assets.weights import final_weights
from assets.partitions import EPOCHS, epoch_of
from resources.chain import ChainResource
from resources.ledger import LedgerResource
from resources.settings_resource import SettingsResource

SUBMISSION = dg.AssetKey(["chain", "weight_submission"])


class SubmitConfig(dg.Config):
    force: bool = False  # re-submit an epoch already submitted, or one older than the newest submitted


@dg.asset(key=SUBMISSION, group_name="chain", partitions_def=EPOCHS, pool="chain_tx",
          ins={"final_weights": dg.AssetIn(key=final_weights.key)},
          automation_condition=dg.AutomationCondition.on_missing() & dg.AutomationCondition.all_deps_blocking_checks_passed(),
          description="set_weights through the chain resource (a dry run without a wallet on a live chain).")
def weight_submission(context: dg.AssetExecutionContext, config: SubmitConfig, final_weights: dict,
                      chain: ChainResource, ledger: LedgerResource, settings: SettingsResource) -> dg.MaterializeResult:
    profile, store = settings.profile(), ledger.ledger()
    epoch = epoch_of(context)
    sent = [s for s in store.submissions() if s.sent]
    if not config.force:
        if any(s.epoch == epoch for s in sent):
            block = max(s.block for s in sent if s.epoch == epoch)
            return dg.MaterializeResult(metadata={"sent": False, "skipped": f"already submitted at block {block}"})
        newer = max((s.epoch for s in sent), default=-1)
        if newer > epoch:  # stale: sending it would replace newer weights with older ones
            return dg.MaterializeResult(metadata={"sent": False, "skipped": f"stale: epoch {newer} was already submitted"})
    # The stored vector, never a recomputation; while it is sent no rerun can restate it, and once
    # sent it stays the epoch's record (Ledger.store_weights).
    with store.sending_weights(epoch) as stored:
        if final_weights["rejected"] is not None or stored is None:
            raise dg.Failure(f"epoch {epoch} has no usable weights: {final_weights['source']}")
        receipt = chain.set_weights(list(stored.uids), list(stored.u16), profile.weights.version_key)
        store.record_submission(epoch, receipt, forced=config.force, recorded_at=chain.now())
    expected = [(u, q) for u, q in zip(stored.uids, stored.u16) if q > 0]
    if list(zip(receipt.uids, receipt.weights)) != expected:  # a resource bug: recorded, then loud
        raise dg.Failure(f"epoch {epoch}: the chain resource reports u16 other than the stored ones ({receipt.detail})")
    return dg.MaterializeResult(metadata={
        "sent": receipt.sent, "block": receipt.block, "non_zero": len(receipt.uids),
        "version_key": receipt.version_key, "hotkey": receipt.hotkey, "detail": receipt.detail, "forced": config.force,
    })
