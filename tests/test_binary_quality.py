"""BINARY on planted panels (57 miners, 14 days, three seeds): the salience recovers the truth.

The figures asserted here are the ones the mechanism is judged by; `quality_report` computes them so
the closing note and docs/performance.md quote the same numbers the tests check.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from devnet.mantis.quality import clone_source, quality
from devnet.mantis.signals import SignalSpec, generate
from mechanisms.mantis.binary import binary_salience
from mechanisms.mantis.panel import Panel

pytestmark = pytest.mark.slow
SEEDS = (0, 1, 2)


def score(panel: Panel, mode: str = "fixed", price: np.ndarray | None = None) -> np.ndarray:
    s = binary_salience(panel.embeddings, panel.sidx(), panel.price if price is None else price, panel.hotkeys, mode)
    return np.array([s.get(h, 0.0) for h in panel.hotkeys])


def quality_report(panel: Panel, sal: np.ndarray, sal_without_clones: np.ndarray, sal_shuffled: np.ndarray) -> dict:
    roles = np.array(panel.roles)
    source = clone_source(panel)
    honest = (roles == "informative") & (np.arange(len(roles)) != source)  # the source's salience is its group's
    kept = [panel.hotkeys.index(h) for h in panel.without(set(np.array(panel.hotkeys)[roles == "clone"])).hotkeys]
    honest_kept = honest[kept]
    a, b = sal[kept][honest_kept], sal_without_clones[honest_kept]
    return quality(panel, sal) | {
        "honest_change_l1": np.abs(a - b).sum() / a.sum(),
        "honest_change_max": np.max(np.abs(a - b)[a >= 1 / len(sal)] / a[a >= 1 / len(sal)]),
        "shuffled_spearman": 0.0 if not sal_shuffled.any() else spearmanr(panel.skill[honest], sal_shuffled[honest]).statistic,
        "shuffled_share_of_top": float(np.sort(sal_shuffled)[-1]),
        "shuffled_paid": int((sal_shuffled > 0).sum()),
    }


@pytest.fixture(scope="module")
def reports() -> dict[int, dict]:
    out = {}
    for seed in SEEDS:
        panel = generate(SignalSpec(seed=seed))
        clones = set(np.array(panel.hotkeys)[np.array(panel.roles) == "clone"])
        shuffled = np.random.default_rng(1000 + seed).permutation(panel.price)
        out[seed] = quality_report(panel, score(panel), score(panel.without(clones)), score(panel, price=shuffled))
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_salience_ranks_informative_miners_by_skill(reports, seed):
    assert reports[seed]["spearman"] >= 0.8, reports[seed]


@pytest.mark.parametrize("seed", SEEDS)
def test_worthless_miners_earn_almost_nothing(reports, seed):
    assert reports[seed]["worthless_share"] <= 0.05, reports[seed]
    assert reports[seed]["worthless_in_top_quartile"] == 0, reports[seed]


@pytest.mark.parametrize("seed", SEEDS)
def test_clone_group_earns_no_more_than_an_independent_twin(reports, seed):
    assert reports[seed]["clone_group_over_twin"] <= 1.1, reports[seed]


@pytest.mark.parametrize("seed", SEEDS)
def test_clones_do_not_move_honest_miners(reports, seed):
    """Cloning one miner must not change what the honest miners are paid.

    Tolerance: the 10 % this file allows the mechanism on what one strategy earns (the clone group
    against its twin, above), applied to the honest miners' total (l1) and to each honest miner's own
    salience (max; over miners with at least an equal share 1/H, below which a relative change is of
    a negligible amount).
    """
    assert reports[seed]["honest_change_l1"] <= 0.10, reports[seed]
    assert reports[seed]["honest_change_max"] <= 0.10, reports[seed]


@pytest.mark.parametrize("seed", SEEDS)
def test_shuffled_labels_reward_no_skill(reports, seed):
    """With the price path permuted the labels carry no information, so nobody may be paid for skill.

    (1) Whatever salience remains is unrelated to the planted skills: |Spearman| over the 23 honest
    miners stays below 0.4, under the 5 % two-sided critical value for n = 23 (0.415); with real
    labels the same panels give >= 0.8.
    (2) No miner is singled out: the salience is at most a lottery among the K miners that pass
    selection by chance (sel_auc > 0.5), so the top share is at most 4 / K. Under no information the
    meta-model's coefficients are exchangeable null draws (penalty negligible at ~20 000 rows) and
    each bootstrap replicate adds noise of the same scale; for that model K x (top share) stays
    below 3.9 in 99.9 % of draws for any K <= 37 (the miners here with varying inputs). The bound
    says nothing when K < 5, and about half of those 37 pass by chance, so at least 5 must be paid
    (or none: returning {} is the ideal answer to labels without information).
    """
    report = reports[seed]
    assert abs(report["shuffled_spearman"]) < 0.4, report
    paid, top = report["shuffled_paid"], report["shuffled_share_of_top"]
    assert paid == 0 or (paid >= 5 and top <= 4 / paid), report


def test_compat_mode_runs_and_is_deterministic():
    panel = generate(SignalSpec(seed=5, days=12, roles=SignalSpec().roles.scaled(16)))
    first = binary_salience(panel.embeddings, panel.sidx(), panel.price, panel.hotkeys, "compat")
    again = binary_salience(panel.embeddings, panel.sidx(), panel.price, panel.hotkeys, "compat")
    assert first == again and first and abs(sum(first.values()) - 1) < 1e-9


def test_fixed_mode_is_deterministic_and_independent_of_column_order():
    panel = generate(SignalSpec(seed=6, days=12, roles=SignalSpec().roles.scaled(16)))
    first = binary_salience(panel.embeddings, panel.sidx(), panel.price, panel.hotkeys, "fixed")
    assert first and first == binary_salience(panel.embeddings, panel.sidx(), panel.price, panel.hotkeys, "fixed")
    perm = np.random.default_rng(0).permutation(len(panel.hotkeys))
    shuffled = binary_salience(panel.embeddings[:, perm], panel.sidx(), panel.price,
                               [panel.hotkeys[i] for i in perm], "fixed")
    assert shuffled == first
