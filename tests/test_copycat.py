"""A copycat that resubmits revealed predictions gains nothing under fixed mode's lock rule (F12).

A payload locked to drand round R is readable by anyone once R is published. A copycat decrypts an
honest miner's payload then and resubmits the values under its own hotkey, in its own properly
built payload. Under the horizon lock rule (mantis.md §3.1) it either locks briefly and is refused
with reason `lock`, or locks for the horizon and copies a prediction at least one horizon old,
which is worthless. Under the reference rule (honest miners lock 30 s) it copies a minute-old
prediction and earns almost as much as its source.

Part 1 runs the real devnet payloads and the real reveal code on one sample; part 2 scores planted
panels with BINARY (fixed mode) where the copycat copies the best miner with the lag each lock rule
allows it (`devnet.mantis.signals.spec_for` → `SignalSpec.copy_lag`).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import profiles
from assets.epochs import SampleRules
from assets.mantis.reveal import _open_sample
from devnet.mantis.miners import Job, Miners, build
from devnet.mantis.signals import generate, spec_for
from devnet.world import World
from ledger import RawPayload
from mechanisms.registry import MECHANISMS
from profiles import Profile
from protocol import payload as pl
from protocol.drand import RoundNotPublished
from protocol.validation import ChallengeFormat
from resources.payloads import FETCHED

SHORT_LOCK = 30.0  # the reference miner's default lock, seconds


def profile_with(lock_rule: str, **devnet) -> Profile:
    """The devnet profile with its BINARY challenge alone (its miners then lock for its horizon)."""
    base = profiles.load(profiles.DEFAULT)
    return base.model_copy(update={
        "challenges": base.challenges[:1],
        "protocol": base.protocol.model_copy(update={"lock_rule": lock_rule}),
        "devnet": base.devnet.model_copy(update=devnet),
    })


FIXED = profile_with("horizon", bootstrap_days=0.25, live_days=0.1)  # a small world: 504 samples
REFERENCE = profile_with("reference", bootstrap_days=0.25, live_days=0.1)
CH = FIXED.challenges[0]
FORMATS = [ChallengeFormat(CH.name, CH.mantis.ticker, CH.mantis.dim)]


# --- part 1: one sample, real payloads, the real reveal --------------------------------------------


class Copycat:
    """The devnet world seen by a copycat that copies the miner the planted copycats copy."""

    def __init__(self, profile: Profile, tmp_path) -> None:
        self.world = world = World(profile)
        self.chain = world.beacon.chain
        self.owner_pk = bytes.fromhex(profile.protocol.owner_pk)
        self.miners = Miners(world, tmp_path, workers=1)
        planted = next(m for m in world.miners if m.role == "copycat")
        self.hotkey, self.source = planted.hotkey, planted.source
        self.col = world.panel.hotkeys.index(self.source)

    def time_of_sample(self, sidx: int) -> float:
        return self.world.time_of(sidx * self.world.sample_every)

    def honest_payload(self, sidx: int) -> tuple[Job, bytes]:
        """The source's payload file for a sample, exactly as the devnet miners publish it."""
        jobs, _ = self.miners.jobs(sidx, self.time_of_sample(sidx))
        job = next(j for j in jobs if j.hotkey == self.source)
        return job, build(job)

    def first_sample_at_or_after(self, t: float, start: int) -> int:
        sidx = start
        while self.time_of_sample(sidx) < t:
            sidx += 1
        return sidx

    def steal(self, body: bytes, now: float) -> dict:
        """Decrypt a published payload with the beacon's public signature of its round."""
        round_ = json.loads(body)["round"]
        signature = self.world.beacon.signature(round_, now)  # raises while the round is sealed
        opened = pl.open_payload(body, signature, self.owner_pk, hotkey=self.source, beacon=self.chain)
        assert opened, opened
        return opened.values

    def resubmit(self, values: dict, taken_at: float, lock_seconds: float) -> bytes:
        """The copied values in the copycat's own payload: its hotkey, its binding, its round."""
        round_ = self.chain.round_at(taken_at + lock_seconds)
        plaintext = pl.plaintext_bytes(values, self.hotkey)
        return build(Job(self.hotkey, round_, plaintext, self.chain.public_key, self.owner_pk))

    def reveal(self, profile: Profile, sidx: int, bodies: dict[str, bytes]):
        """What the validator's reveal makes of one sample's payloads (all rounds published)."""
        taken_at = self.time_of_sample(sidx)
        rows = [RawPayload(sidx, hk, f"http://127.0.0.1/{hk}", FETCHED, body, "", json.loads(body)["round"], taken_at)
                for hk, body in bodies.items()]
        rounds = {row.round for row in rows}
        signatures = {r: self.world.beacon.signature(r, self.chain.reveal_time(r)) for r in rounds}
        vectors, rejections = _open_sample(rows, signatures, profile, taken_at,
                                           SampleRules.of(self.chain, profile, taken_at), self.chain.reveal_time)
        return vectors.get(CH.name, {}), {(r.hotkey, r.reason) for r in rejections}

    def sample_with_source(self, start: int) -> int:
        """The first sample from `start` at which the source submits."""
        sidx = start
        while np.isnan(self.world.panel.embeddings[self.world.row(sidx), self.col]).any():
            sidx += 1
        return sidx

    def source_samples_with(self, vector: list[float]) -> list[int]:
        """The sample indices at which the source submitted exactly `vector`."""
        p = self.world.panel
        hits = np.flatnonzero((p.embeddings[:, self.col] == np.float32(vector)).all(axis=1))
        return [int(b) // self.world.sample_every for b in p.block[hits]]


def copy_once(profile: Profile, tmp_path):
    """An honest payload at s0, stolen at s1 (the first sample after its round is out)."""
    cc = Copycat(profile, tmp_path)
    s0 = cc.sample_with_source(cc.world.bootstrap_sidx().start + 10)
    job, body = cc.honest_payload(s0)
    published = cc.chain.reveal_time(job.round)
    s1 = cc.first_sample_at_or_after(published, s0)
    with pytest.raises(RoundNotPublished):
        cc.steal(body, cc.time_of_sample(s1 - 1))  # one sample earlier the round is still sealed
    values = cc.steal(body, cc.time_of_sample(s1))
    assert values == {CH.mantis.ticker: cc.world.panel.embeddings[cc.world.row(s0), cc.col].tolist()}
    return cc, s0, s1, values


def test_fixed_mode_refuses_a_short_locked_copy_and_a_long_locked_one_is_a_horizon_stale(tmp_path):
    cc, s0, s1, values = copy_once(FIXED, tmp_path)
    horizon = FIXED.horizon_samples(CH)
    # The honest miner locked for the horizon (plus a sample, on the round grid): the copy comes late.
    assert s1 - s0 >= horizon
    assert s1 - s0 >= spec_for(FIXED, CH).copy_lag  # part 2's lag is the copycat's best case
    t1 = cc.time_of_sample(s1)
    _, own = cc.honest_payload(s1)

    # (a) a 30 s lock, as the reference miner: the copied values do not count; the source's do.
    short = cc.resubmit(values, t1, SHORT_LOCK)
    vectors, reasons = cc.reveal(FIXED, s1, {cc.source: own, cc.hotkey: short})
    assert set(vectors) == {cc.source} and reasons == {(cc.hotkey, "lock")}

    # (b) locked for the horizon: accepted, but the values are the source's of a sample ≥ a horizon older.
    long = cc.resubmit(values, t1, FIXED.lock_seconds(CH))
    vectors, reasons = cc.reveal(FIXED, s1, {cc.source: own, cc.hotkey: long})
    assert set(vectors) == {cc.source, cc.hotkey} and not reasons
    copied = vectors[cc.hotkey]
    assert copied == values[CH.mantis.ticker] and copied != vectors[cc.source]
    origin = cc.source_samples_with(copied)
    assert origin == [s0] and s1 - origin[0] >= horizon


def test_reference_rule_accepts_a_minute_old_copy(tmp_path):
    cc, s0, s1, values = copy_once(REFERENCE, tmp_path)
    horizon = REFERENCE.horizon_samples(CH)
    # Honest miners lock 30 s plus a sample (on the devnet's 5-minute round grid): the copy is fresh.
    assert 1 <= s1 - s0 <= 7 < horizon
    t1 = cc.time_of_sample(s1)
    short = cc.resubmit(values, t1, SHORT_LOCK)
    vectors, reasons = cc.reveal(REFERENCE, s1, {cc.hotkey: short})
    assert vectors == {cc.hotkey: values[CH.mantis.ticker]} and not reasons
    assert cc.source_samples_with(vectors[cc.hotkey]) == [s0]
    # The same payloads under fixed mode: both the copy and the short-locked original are refused.
    _, own = cc.honest_payload(s1)
    vectors, reasons = cc.reveal(FIXED, s1, {cc.source: own, cc.hotkey: short})
    assert not vectors and reasons == {(cc.source, "lock"), (cc.hotkey, "lock")}


# --- part 2: what the copy is worth to BINARY ------------------------------------------------------

SEEDS = (0, 1, 2)
DAYS, MINERS = 10, 24  # ~1 s per scoring; BINARY selects from 10 days on (5 daily walk-forward windows)


def copycat_shares(profile: Profile, seed: int) -> dict:
    """Salience shares of the copycats (together: exact copies are one group) and of their source."""
    spec = spec_for(profile, CH, seed=seed, miners=MINERS, days=DAYS)
    panel = generate(spec)
    salience = MECHANISMS[CH.mechanism].score(panel, CH.mode, CH.params, sample_every=profile.chain.sample_every,
                                              horizon_blocks=CH.mantis.horizon_blocks)
    assert salience, "BINARY learned nothing from the panel"
    roles = np.array(panel.roles)
    share = np.array([salience.get(h, 0.0) for h in panel.hotkeys])
    copycats = np.flatnonzero(roles == "copycat")
    (source,) = {panel.sources[j] for j in copycats}
    return {"lag": spec.copy_lag, "copycats": float(share[copycats].sum()),
            "source": float(share[panel.hotkeys.index(source)]), "equal_share": 1 / len(panel.hotkeys)}


@pytest.fixture(scope="module")
def shares() -> dict[int, dict[str, dict]]:
    return {seed: {"horizon": copycat_shares(FIXED, seed), "reference": copycat_shares(REFERENCE, seed)}
            for seed in SEEDS}


@pytest.mark.parametrize("seed", SEEDS)
def test_a_horizon_stale_copy_earns_nothing_and_a_minute_old_copy_earns_like_its_source(shares, seed):
    fixed, reference = shares[seed]["horizon"], shares[seed]["reference"]
    assert (fixed["lag"], reference["lag"]) == (FIXED.horizon_samples(CH), 1)
    # Horizon rule (F12: the copy gains nothing): the copy is a prediction at least one horizon old,
    # which says nothing about the next horizon's return (the price path's steps are independent),
    # so it must be paid as a non-contributor: less than an equal share 1/H, what a miner of average
    # value earns.
    assert fixed["copycats"] < fixed["equal_share"], shares[seed]
    # Reference rule (the copy earns like its source): the copy is the source `lag` samples late. A
    # horizon-long return shares all but `lag` of its steps with the one `lag` samples earlier, and
    # the copy's noise is not the source's, so it carries (h - lag) / h of the source's correlation
    # with the label and adds it as a twin would. It must earn at least that fraction of the
    # source's salience, less the 10 % tolerance test_binary_quality allows on what one strategy
    # earns (clone group against twin), and so be paid as a contributor (above an equal share).
    h = REFERENCE.horizon_samples(CH)
    assert reference["copycats"] >= 0.9 * (h - reference["lag"]) / h * reference["source"], shares[seed]
    assert reference["copycats"] > reference["equal_share"], shares[seed]
