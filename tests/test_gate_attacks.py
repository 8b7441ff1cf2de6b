"""Miners who game the fixed-mode significance gates rather than forecast: forecasts built from
prices they already know (HITFIRST), and single-sample spikes that land on a rare outcome (LBFGS).
Small devnet panels (32 miners, 14 days); each attacker must earn exactly nothing while the planted
informative miners keep most of the salience."""

from __future__ import annotations

import numpy as np
import pytest

import profiles
from devnet.mantis.quality import as_array
from devnet.mantis.signals import generate, spec_for
from mechanisms.mantis.panel import Panel
from mechanisms.registry import MECHANISMS

pytestmark = pytest.mark.slow
PROFILE = profiles.load()


def _challenge(mechanism: str):
    return next(c for c in PROFILE.mantis_challenges if c.mechanism == mechanism)


def _with_attackers(panel: Panel, columns: list[np.ndarray], prefix: str = "zz-attacker") -> tuple[Panel, np.ndarray]:
    """The panel with one extra miner per (T, D) column, stored as the ledger would (float16 values)."""
    extra = np.stack(columns, axis=1).astype(np.float16).astype(np.float32)
    out = Panel(panel.hotkeys + tuple(f"{prefix}-{i}" for i in range(len(columns))), panel.block, panel.price,
                np.concatenate([panel.embeddings, extra], axis=1), panel.roles + ("attacker",) * len(columns),
                np.r_[panel.skill, [np.nan] * len(columns)], panel.sources + ("",) * len(columns))
    return out, np.array(out.roles) == "attacker"


def _salience(panel: Panel, challenge) -> np.ndarray:
    scores = MECHANISMS[challenge.mechanism].score(panel, "fixed", challenge.params,
                                                   sample_every=PROFILE.chain.sample_every,
                                                   horizon_blocks=challenge.mantis.horizon_blocks)
    return as_array(panel, scores)


def _standardised(x: np.ndarray) -> np.ndarray:
    x = np.where(np.isfinite(x), x, np.nanmean(x))
    return (x - x.mean()) / x.std()


def test_hitfirst_pays_nothing_for_forecasts_of_known_prices():
    """P(up first) leaning against the price level, the last horizon's return or the last six
    hours': each is known when the forecast is made, and against a martingale worth nothing. Paired
    with overlapping labels (and, prewhitened, with the label of the sample before) they passed the
    gate with z of 18–34 and took 1–10 % of the salience."""
    challenge = _challenge("hitfirst")
    panel = generate(spec_for(PROFILE, challenge, seed=0, miners=32))
    ahead = PROFILE.horizon_samples(challenge)
    lp = np.log(panel.price)

    def lagged(k: int) -> np.ndarray:
        return np.r_[np.full(k, np.nan), lp[:-k]]

    columns = []
    for feature in (lp, lp - lagged(ahead), lp - lagged(6 * ahead)):
        f = -_standardised(feature)
        logits = np.stack([f, -f, np.zeros_like(f)], axis=1)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        columns.append(e / e.sum(axis=1, keepdims=True))
    attacked, attackers = _with_attackers(panel, columns)
    salience = _salience(attacked, challenge)
    assert salience[attackers].sum() == 0.0, salience[attackers]
    assert salience[np.array(attacked.roles) == "informative"].sum() > 0.5


def test_lbfgs_pays_nothing_for_a_lucky_spike():
    """A flat forecast but for one sample, where it calls both tails: when that sample ends in a
    tail its aligned statistic is far out in a null of a few discrete values, and a t tail from the
    null's effective size gave it p < 1e-4. These spike rows were found to land on tails."""
    challenge = _challenge("lbfgs")
    panel = generate(spec_for(PROFILE, challenge, seed=0, miners=32))
    base = np.r_[[0.02, 0.14, 0.68, 0.14, 0.02], [0.5] * (challenge.mantis.dim - 5)]
    columns = []
    for row in (16_415, 10_826, 19_606, 14_697):
        v = np.tile(base, (len(panel.block), 1))
        v[row, :5] = [0.3, 0.1, 0.2, 0.1, 0.3]
        columns.append(v)
    attacked, attackers = _with_attackers(panel, columns)
    salience = _salience(attacked, challenge)
    assert salience[attackers].sum() == 0.0, salience[attackers]
    assert salience[np.array(attacked.roles) == "informative"].sum() > 0.5


def test_hitfirst_copy_that_appears_today_takes_nothing_from_its_original():
    """A copy of the best-paid miner from mid-day on is a clone of it (H3), but the gate has not seen
    it: it takes no share of the group's pay, and although its hotkey sorts first the group is still
    scored on the original's history (scored on a half-day copy, the group would fail the gate)."""
    challenge = _challenge("hitfirst")
    panel = generate(spec_for(PROFILE, challenge, seed=0, miners=32))
    before = _salience(panel, challenge)
    victim = int(np.argmax(before))
    sidx = panel.sidx(PROFILE.chain.sample_every)
    copy = panel.embeddings[:, victim].copy()
    copy[sidx < sidx[-1] // 1_440 * 1_440 + 600] = np.nan  # submits from 10:00 today on
    attacked, copier = _with_attackers(panel, [copy], prefix="0-copier")
    after = _salience(attacked, challenge)
    assert attacked.hotkeys[-1] < panel.hotkeys[victim]
    assert after[copier].sum() == 0.0
    assert after[victim] == pytest.approx(before[victim], rel=1e-6)


def test_hitfirst_near_copies_that_appear_today_take_nothing():
    """Soft cohorts are found on the whole days before today (kept once a day): near-copies of the
    best-paid miner (noise past the exact-clone tolerance) that start today are not yet its cohort,
    and take nothing as miners of their own either, since the gate has not seen them."""
    challenge = _challenge("hitfirst")
    panel = generate(spec_for(PROFILE, challenge, seed=0, miners=32))
    before = _salience(panel, challenge)
    victim = int(np.argmax(before))
    sidx = panel.sidx(PROFILE.chain.sample_every)
    rng = np.random.default_rng(3)
    copies = []
    for _ in range(5):
        copy = np.clip(panel.embeddings[:, victim] + rng.normal(0, 5e-3, size=(len(sidx), 3)), 1e-3, 1)
        copy[sidx < sidx[-1] // 1_440 * 1_440 + 600] = np.nan  # submits from 10:00 today on
        copies.append(copy.astype(np.float32))
    attacked, copiers = _with_attackers(panel, copies, prefix="0-near")
    after = _salience(attacked, challenge)
    assert after[copiers].sum() == 0.0
    assert after[victim] >= 0.9 * before[victim]


def test_hitfirst_copy_rescaled_row_by_row_is_still_a_copy():
    """The scorer clips and renormalises each probability vector, so a copy multiplied by a
    different factor on each row (every value still in range) states exactly the original's
    forecasts while its raw values need neither match nor correlate. Found as a copy or not, the
    pair gains nothing: the copy's features are the original's, and the L2 fit splits one
    coefficient between identical columns."""
    challenge = _challenge("hitfirst")
    panel = generate(spec_for(PROFILE, challenge, seed=0, miners=32))
    before = _salience(panel, challenge)
    victim = int(np.argmax(before))
    rng = np.random.default_rng(5)
    copy = panel.embeddings[:, victim] * rng.uniform(0.05, 1.0, size=(len(panel.block), 1)).astype(np.float32)
    attacked, copier = _with_attackers(panel, [copy], prefix="zz-rescaled")
    after = _salience(attacked, challenge)
    assert after[victim] + after[copier].sum() <= 1.02 * before[victim]  # the pair is paid as the original
