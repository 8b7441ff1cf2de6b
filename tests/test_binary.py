"""BINARY's pieces on small hand-made inputs: labels, filters, modes, selection and the bootstrap."""

import math

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from mechanisms.mantis import binary
from mechanisms.mantis.binary import BinaryParams, build_dataset, select
from mechanisms.mantis.bootstrap import block_bootstrap_coefs
from mechanisms.mantis.clones import find_clusters
from mechanisms.mantis.panel import Panel, first_seen_blocks, presence

P = BinaryParams(min_rows=4, ahead=2, max_unchanged=2, history=100)


def panel(T: int, H: int = 2, D: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=(T, H, D)).astype(np.float32)


def test_unchanged_streak():
    streak = binary._unchanged_streak(np.array([1.0, 1, 1, 2, 2, 3, 3, 3, 3]))
    assert streak.tolist() == [0, 1, 2, 0, 1, 0, 1, 2, 3]


def test_labels_pair_by_exact_sample_index():
    sidx = np.array([10, 11, 12, 13, 15, 16, 17])  # 14 was missed
    prices = np.array([100.0, 101, 99, 102, 103, 101, 100])
    d = build_dataset(panel(7), sidx, prices, "fixed", P)
    # Rows with a sample exactly 2 later: 10→12, 11→13, 13→15, 15→17 (12→14 and 16→18 have none).
    assert d.sidx.tolist() == [10, 11, 13, 15]
    assert d.y.tolist() == [0, 1, 1, 0]


def test_stale_prices_and_empty_rows_are_skipped():
    sidx = np.arange(12)
    prices = np.array([5.0, 5, 5, 5, 6, 7, 8, 9, 10, 11, 12, 13])  # rows 3 has a streak of 3 > 2
    X = panel(12)
    X[5] = np.nan  # nobody submitted at row 5
    d = build_dataset(X, sidx, prices, "fixed", P)
    assert 3 not in d.sidx and 5 not in d.sidx
    assert d.sidx.tolist() == [0, 1, 2, 4, 6, 7, 8, 9]


def test_zero_prediction_counts_only_in_fixed_mode():
    X = panel(10)
    X[:, 0] = 0.0  # miner 0 submits genuine zeros; miner 1 is absent on row 4
    X[4, 1] = np.nan
    prices = 100 + np.arange(10.0) * (-1) ** np.arange(10)
    fixed = build_dataset(X, np.arange(10), prices, "fixed", P)
    compat = build_dataset(X, np.arange(10), prices, "compat", P)
    assert fixed.present[:, 0].all()
    assert not compat.present[:, 0].any()
    assert 4 in fixed.sidx and 4 not in compat.sidx  # F7: the zero row counts as a submission
    assert np.isfinite(compat.X).all() and compat.X[compat.sidx.tolist().index(3), 0].tolist() == [0, 0]


def test_history_cap_counts_sample_indices_in_fixed_mode():
    sidx = np.concatenate([np.arange(0, 10), np.arange(50, 60)])  # a 40-sample gap
    prices = 100 + np.sin(np.arange(20.0))
    p = BinaryParams(min_rows=2, ahead=1, max_unchanged=5, history=15)
    fixed = build_dataset(panel(20), sidx, prices, "fixed", p)
    compat = build_dataset(panel(20), sidx, prices, "compat", p)
    assert fixed.sidx.min() > 58 - 15  # F6: the last 15 samples of time, not of rows
    assert len(compat.sidx) == 15 and compat.sidx[0] < 50


def test_recency_weights():
    d = build_dataset(panel(50), np.arange(50), 100 + np.sin(np.arange(50.0)), "fixed", P)
    w = d.weights
    assert w.mean() == pytest.approx(1.0)
    assert np.all(np.diff(w) > 0)
    half_life = P.half_life_days * P.rows_per_day
    assert w[-1] / w[0] == pytest.approx(math.exp(math.log(2) / half_life * (len(w) - 1)))


def test_too_little_or_one_class_data_gives_none():
    assert build_dataset(panel(3), np.arange(3), np.array([1.0, 2, 3]), "fixed", P) is None
    rising = np.arange(1.0, 21.0)
    assert build_dataset(panel(20), np.arange(20), rising, "fixed", P) is None


def test_selection_top_k_margin_band_and_chance_floor():
    p = BinaryParams(top_k=2, margin=0.01, max_extra=2)
    aucs = np.array([0.55, 0.60, 0.548, 0.545, 0.546, 0.52, 0.49])
    # top 2: 0.60, 0.55; band >= 0.55 - 0.01 = 0.54 admits at most 2 more: 0.548, 0.546.
    assert select(aucs, p).tolist() == [1, 0, 2, 4]
    assert select(np.array([0.5, 0.49, 0.5]), p).tolist() == []  # nobody beats chance


def test_selection_is_stable_on_ties():
    assert select(np.array([0.55, 0.56, 0.55, 0.55]), BinaryParams(top_k=3, max_extra=0)).tolist() == [1, 0, 2]


class FakeModel:
    """coef_ = random_state, so the aggregate shows which replicates were used."""

    def __init__(self, random_state: int) -> None:
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        self.coef_ = np.array([[float(self.random_state), -2.0 * self.random_state]])
        return self


def test_bootstrap_median_of_means_drops_remainder_in_compat():
    X, y, w = np.zeros((400, 2)), np.tile([0, 1], 200), np.ones(400)
    # Replicates 0..9 succeed; compat: 4 groups of 2 (0,1)(2,3)(4,5)(6,7), 8 and 9 dropped (F10).
    compat = block_bootstrap_coefs(X, y, w, FakeModel, replicates=10, block=20, seed=0, use_all_replicates=False)
    assert compat.tolist() == [np.median([0.5, 2.5, 4.5, 6.5]), 2 * np.median([0.5, 2.5, 4.5, 6.5])]
    # fixed: all ten in near-equal groups (0,1,2)(3,4,5)(6,7)(8,9): means 1, 4, 6.5, 8.5.
    fixed = block_bootstrap_coefs(X, y, w, FakeModel, replicates=10, block=20, seed=0, use_all_replicates=True)
    assert fixed.tolist() == [np.median([1, 4, 6.5, 8.5]), 2 * np.median([1, 4, 6.5, 8.5])]


def test_bootstrap_needs_two_blocks_and_two_classes():
    w = np.ones(30)
    assert block_bootstrap_coefs(np.zeros((30, 1)), np.tile([0, 1], 15), w, FakeModel,
                                 replicates=3, block=20, seed=0, use_all_replicates=True) is None
    assert block_bootstrap_coefs(np.zeros((30, 1)), np.zeros(30), w, FakeModel,
                                 replicates=3, block=5, seed=0, use_all_replicates=True) is None


def test_bootstrap_single_success_is_its_own_mean():
    X, y, w = np.zeros((100, 1)), np.tile([0, 1], 50), np.ones(100)
    out = block_bootstrap_coefs(X, y, w, FakeModel, replicates=1, block=10, seed=3, use_all_replicates=True)
    assert out.tolist() == [3.0, 6.0]


def test_constant_miner_gets_no_model_in_fixed_mode():
    rng = np.random.default_rng(1)
    T = 400
    X = rng.normal(size=(T, 2, 2)).astype(np.float32)
    X[:, 1] = [0.25, -0.5]
    prices = 100 + np.cumsum(rng.normal(size=T))
    q = BinaryParams(min_rows=4, ahead=2)
    d = build_dataset(X, np.arange(T), prices, "fixed", q)
    rows = np.arange(len(d.y))
    assert len(rows) > 300
    p = BinaryParams(min_base_train=10)
    assert binary._fit_score(d, 1, rows[:200], rows[200:], p) is None  # S2
    assert binary._fit_score(d, 0, rows[:200], rows[200:], p) is not None
    compat = build_dataset(X, np.arange(T), prices, "compat", q)
    assert binary._fit_score(compat, 1, rows[:200], rows[200:], p) is not None


def test_salience_refuses_bad_shapes_and_modes():
    X = panel(10)
    with pytest.raises(ValueError, match="mode"):
        binary.binary_salience(X, np.arange(10), np.ones(10), ["a", "b"], "other")
    with pytest.raises(ValueError, match="shapes"):
        binary.binary_salience(X, np.arange(10), np.ones(10), ["a"], "fixed")


def test_salience_of_hopeless_panel_is_empty():
    X = panel(300)
    assert binary.binary_salience(X, np.arange(300), 100 + np.sin(np.arange(300.0)), ["a", "b"], "fixed") == {}


# Small enough to score in a fraction of a second, large enough that two miners beat chance.
SMALL = BinaryParams(ahead=2, min_rows=100, rows_per_day=100, sel_start=300, refit=100, fit_rows=400,
                     min_base_train=20, min_scored_rows=20, min_windows=3, oos_segment=300, replicates=4, block=20,
                     min_fit_span=200, sig_min_shift=100)


def informative(T: int = 1500, H: int = 4, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Miners 0 and 1 carry the sign of the price move SMALL.ahead samples later, plus noise."""
    rng = np.random.default_rng(seed)
    prices = 100 * np.exp(np.cumsum(rng.normal(size=T)) * 1e-3)
    up = np.zeros(T)
    up[: -SMALL.ahead] = np.sign(prices[SMALL.ahead :] - prices[: -SMALL.ahead])
    X = rng.normal(size=(T, H, 2)).astype(np.float32)
    X[:, 0, 0] += 0.8 * up
    X[:, 1, 1] += 0.5 * up
    return X, np.arange(T), prices


def test_clone_pass_runs_inside_the_single_thread_limit(monkeypatch):
    """Threaded BLAS reductions round differently from machine to machine; the clone pass's matrix
    products feed thresholds (|corr| >= 0.92), so they must run under the scorer's one-thread limit."""
    threads: list[list[int]] = []
    real = binary.clone_post_pass

    def spy(*args, **kwargs):
        threads.append([lib["num_threads"] for lib in threadpool_info()])
        return real(*args, **kwargs)

    monkeypatch.setattr(binary, "clone_post_pass", spy)
    X, sidx, prices = informative()
    with threadpool_limits(2):  # what the pass would run with outside the limit, even on one core
        assert max(lib["num_threads"] for lib in threadpool_info()) == 2
        assert binary.binary_salience(X, sidx, prices, ["d", "a", "c", "b"], "fixed", SMALL)
    assert len(threads) == 1 and threads[0] and set(threads[0]) == {1}


@pytest.mark.parametrize("mode", ["fixed", "compat"])
def test_scorer_clone_pass_and_first_seen_agree_on_who_submitted(mode):
    """One presence rule: on the first 100 rows miner b sends what the mode counts as no submission
    (fixed: a vector with a NaN; compat: the all-zero vector) and is a copy of a elsewhere. The scorer
    trains b on none of those rows, the clone pass links a and b (the rows are not joint, so they are
    no mismatches), and the young-uid rule first sees b on row 100."""
    T = 400
    rng = np.random.default_rng(5)
    X = np.repeat(rng.uniform(0.1, 1.0, size=(T, 1, 2)).astype(np.float32), 2, axis=1)
    X[:100, 1] = [0.5, np.nan] if mode == "fixed" else [0.0, 0.0]
    assert presence(X, mode)[:, 1].tolist() == [False] * 100 + [True] * 300
    prices = 100 + np.arange(T) % 3  # both label classes, never three equal prices in a row
    d = build_dataset(X, np.arange(T), prices, mode, P)
    assert np.array_equal(d.present, presence(X, mode)[d.sidx])
    assert find_clusters(X, ["a", "b"], mode=mode) == [("a", "b")]
    panel = Panel(("a", "b"), 1000 + 5 * np.arange(T), prices.astype(np.float64), X)
    assert first_seen_blocks({"C": panel}, {"C": mode}) == {"a": 1000, "b": 1500}
