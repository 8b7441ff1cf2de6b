"""chain/weight_submission: once per epoch, never older over newer, force overrides, rejected vectors fail."""

import dagster as dg
import pytest

import profiles
from assets.chain import SubmitConfig, weight_submission
from assets.weights import weights_match_stored
from devnet.chain import DevnetChainState
from devnet.world import World
from ledger import Ledger, StoredWeights
from assets.partitions import EPOCHS, epoch_key
from resources.chain_devnet import DevnetChain
from resources.ledger import LedgerResource
from resources.settings_resource import SettingsResource

WEIGHTS_RATE_LIMIT = profiles.load().devnet.weights_rate_limit  # blocks between two set_weights


@pytest.fixture
def env(tmp_path):
    url = f"sqlite:///{tmp_path}/l.sqlite"
    state = DevnetChainState(World(profiles.load()), Ledger(url))
    state.install()
    chain = DevnetChain(netuid=1, ledger_url=url, payload_dir=str(tmp_path))
    return state, chain, LedgerResource(url=url)


UIDS, U16 = [0, 2, 3, 4, 5], [65535, 0, 65535, 65535, 65535]  # a quarter each: within the devnet's 30 % limit


def submit(env, epoch: int, force: bool = False, rejected=None, computed: list[int] = U16):
    """Submit `epoch`, whose stored vector is UIDS/U16, with `computed` as the asset's input."""
    state, chain, ledger = env
    if rejected is None and ledger.ledger().weights(epoch) is None:
        hotkeys = tuple(f"h{u}" for u in UIDS)
        ledger.ledger().store_weights(StoredWeights(epoch, epoch * 360 + 359, tuple(UIDS), hotkeys,
                                                    (0.25, 0.0, 0.25, 0.25, 0.25), tuple(U16), {}))
    weights = {"uids": UIDS, "u16": list(computed), "rejected": rejected, "source": "computed"}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(EPOCHS.name, [epoch_key(epoch)])
        ctx = dg.build_asset_context(partition_key=epoch_key(epoch), instance=instance)
        return weight_submission(ctx, SubmitConfig(force=force), weights, chain, ledger, SettingsResource())


def advance(env):
    env[0].clock.advance(WEIGHTS_RATE_LIMIT * env[0].world.block_time)


def test_submits_once_per_epoch_and_never_older_over_newer(env):
    state, _, ledger = env
    first = submit(env, 10)
    assert first.metadata["sent"] is True
    assert state.ledger.devnet_weights()[-1]["uids"] == [0, 3, 4, 5]
    advance(env)
    again = submit(env, 10)
    assert again.metadata["sent"] is False and "already submitted" in again.metadata["skipped"]
    advance(env)
    assert submit(env, 11).metadata["sent"] is True
    advance(env)
    stale = submit(env, 10, force=False)
    assert "already submitted" in stale.metadata["skipped"]
    assert "stale" in submit(env, 9).metadata["skipped"]
    forced = submit(env, 9, force=True)
    assert forced.metadata["sent"] is True and forced.metadata["forced"] is True
    assert [s.epoch for s in ledger.ledger().submissions()] == [10, 11, 9]
    assert len(state.ledger.devnet_weights()) == 3


def test_a_rejected_vector_is_never_sent(env):
    with pytest.raises(dg.Failure, match="no usable weights"):
        submit(env, 12, rejected="flat")
    assert env[0].ledger.devnet_weights() == []


def test_the_stored_vector_is_sent_whatever_the_input_says(env):
    """The stored u16 are what the chain gets: a different computation handed to the submission
    (which the blocking check would have stopped) changes nothing on chain."""
    submit(env, 13, computed=[65535, 0, 65535, 65535, 60000])
    record = env[0].ledger.devnet_weights()[-1]
    assert (record["uids"], record["weights"]) == ([0, 3, 4, 5], [65535, 65535, 65535, 65535])
    (submission,) = env[2].ledger().submissions(13)
    assert list(submission.weights) == [65535, 65535, 65535, 65535]


def test_a_correction_reaches_the_chain_until_the_epoch_is_sent(env):
    """A rerun that corrects an unsent epoch restates its stored vector, and the submission sends the
    correction; after that a rerun computing anything else leaves the sent record as it is, and the
    blocking check stops it."""
    state, _, ledger = env
    hotkeys = tuple(f"h{u}" for u in UIDS)
    corrected = (65535, 0, 65535, 65535, 52428)  # 65535 / 248733 = 26 %: within the devnet's 30 %
    store = ledger.ledger()
    submit(env, 14)  # stores UIDS/U16 and sends it: the epoch's record from now on
    first = state.ledger.devnet_weights()[-1]
    assert store.store_weights(StoredWeights(14, 14 * 360 + 359, tuple(UIDS), hotkeys, (0.2,) * 5, corrected, {})) == "kept"
    assert store.weights(14).u16 == tuple(U16)
    check = weights_match_stored(dg.build_asset_check_context(), {"epoch": 14, "uids": UIDS, "hotkeys": list(hotkeys),
                                                                  "u16": list(corrected)}, ledger)
    assert not check.passed
    advance(env)
    assert store.store_weights(StoredWeights(15, 15 * 360 + 359, tuple(UIDS), hotkeys, (0.25,) * 5, tuple(U16), {})) == "stored"
    assert store.store_weights(StoredWeights(15, 15 * 360 + 359, tuple(UIDS), hotkeys, (0.2,) * 5, corrected, {})) == "restated"
    assert submit(env, 15, computed=list(corrected)).metadata["sent"] is True
    sent = state.ledger.devnet_weights()[-1]
    assert sent != first and (sent["uids"], sent["weights"]) == ([0, 3, 4, 5], [65535, 65535, 65535, 52428])
