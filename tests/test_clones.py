"""The MANTIS clone post-pass (mantis.md §12.1, F7) on small seeded synthetic panels."""

import warnings

import numpy as np
import pytest

from mechanisms.mantis.clones import (
    _own_means,
    clone_post_pass,
    collapse_salience,
    find_clusters,
    find_correlated_cohorts,
    group_shares,
)
from mechanisms.mantis.panel import presence

T, D = 600, 2
# Panel order deliberately not sorted: results must follow hotkey order, not column order.
HOTKEYS = ("hk_f", "hk_b", "hk_d", "hk_a", "hk_e", "hk_c")
COL = {hk: i for i, hk in enumerate(HOTKEYS)}
MODES = ("compat", "fixed")


def independent_panel(seed: int = 7) -> np.ndarray:
    """Six independent miners submitting every row, values in (0, 1) like probabilities."""
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(T, len(HOTKEYS), D)).astype(np.float32)


def put_copy(X: np.ndarray, src: str, dst: str, noise: float, seed: int, kind: str = "uniform") -> None:
    rng = np.random.default_rng(seed)
    shape = (X.shape[0], D)
    eps = rng.uniform(-noise, noise, shape) if kind == "uniform" else rng.normal(0.0, noise, shape)
    X[:, COL[dst]] = (X[:, COL[src]] + eps).astype(np.float32)


def salience_of(values: list[float]) -> dict[str, float]:
    return dict(zip(HOTKEYS, values))


def no_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    assert [str(w.message) for w in caught] == []
    return result


@pytest.mark.parametrize("mode", MODES)
def test_exact_clones_are_found_and_collapsed_to_the_smallest_hotkey(mode):
    X = independent_panel()
    put_copy(X, "hk_e", "hk_b", noise=2e-4, seed=1)  # well below the 1e-3 row tolerance
    put_copy(X, "hk_e", "hk_f", noise=2e-4, seed=2)
    assert find_clusters(X, HOTKEYS, mode=mode) == [("hk_b", "hk_e", "hk_f")]

    s = salience_of([0.10, 0.25, 0.05, 0.30, 0.20, 0.10])  # hk_f, hk_b, hk_d, hk_a, hk_e, hk_c
    out = clone_post_pass(s, X, HOTKEYS, mode=mode)
    assert out["hk_b"] == pytest.approx(0.10 + 0.25 + 0.20)
    assert out["hk_e"] == 0.0 and out["hk_f"] == 0.0
    assert {hk: out[hk] for hk in ("hk_a", "hk_c", "hk_d")} == {"hk_a": 0.30, "hk_c": 0.10, "hk_d": 0.05}
    assert out.keys() == s.keys()
    assert sum(out.values()) == pytest.approx(sum(s.values()))


@pytest.mark.parametrize("mode", MODES)
def test_noisy_copy_is_a_soft_cohort_not_an_exact_clone(mode):
    X = independent_panel()
    put_copy(X, "hk_a", "hk_d", noise=0.03, seed=3, kind="normal")  # |corr| ≈ 0.995, rows differ > 1e-3
    assert find_clusters(X, HOTKEYS, mode=mode) == []
    assert find_correlated_cohorts(X, HOTKEYS, mode=mode) == [("hk_a", "hk_d")]

    s = salience_of([0.1, 0.1, 0.05, 0.35, 0.2, 0.2])
    out = clone_post_pass(s, X, HOTKEYS, mode=mode)
    assert out["hk_a"] == out["hk_d"] == pytest.approx(0.2)
    assert {hk: out[hk] for hk in ("hk_b", "hk_c", "hk_e", "hk_f")} == {hk: s[hk] for hk in ("hk_b", "hk_c", "hk_e", "hk_f")}
    assert sum(out.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("mode", MODES)
def test_a_copy_below_the_correlation_threshold_is_no_cohort(mode):
    X = independent_panel()
    put_copy(X, "hk_a", "hk_d", noise=0.15, seed=3, kind="normal")  # |corr| ≈ 0.89 < 0.92
    assert find_correlated_cohorts(X, HOTKEYS, mode=mode) == []
    assert find_correlated_cohorts(X, HOTKEYS, mode=mode, min_corr=0.8) == [("hk_a", "hk_d")]


@pytest.mark.parametrize("mode", MODES)
def test_independent_miners_are_left_alone(mode):
    X = independent_panel()
    s = salience_of([0.3, 0.0, 0.1, 0.25, 0.15, 0.2])
    assert find_clusters(X, HOTKEYS, mode=mode) == []
    assert find_correlated_cohorts(X, HOTKEYS, mode=mode) == []
    out = clone_post_pass(s, X, HOTKEYS, mode=mode)
    assert out == s and out is not s


@pytest.mark.parametrize("mode", MODES)
def test_miners_with_too_few_present_rows_are_ignored(mode):
    X = independent_panel()
    put_copy(X, "hk_a", "hk_c", noise=0.0, seed=4)
    put_copy(X, "hk_b", "hk_d", noise=0.03, seed=5, kind="normal")
    X[150:, COL["hk_c"]] = np.nan  # hk_c: an exact copy, but only 150 rows
    X[190:, COL["hk_d"]] = np.nan  # hk_d: a close copy, but only 190 rows
    assert find_clusters(X, HOTKEYS, mode=mode) == []
    assert find_correlated_cohorts(X, HOTKEYS, mode=mode) == []
    s = salience_of([0.1, 0.2, 0.3, 0.1, 0.1, 0.2])
    assert clone_post_pass(s, X, HOTKEYS, mode=mode) == s
    # The same miners with a few more rows are caught: the limit is what kept them out.
    assert find_clusters(X, HOTKEYS, mode=mode, min_rows=150) == [("hk_a", "hk_c")]
    assert find_correlated_cohorts(X, HOTKEYS, mode="fixed", min_rows=150) == [("hk_a", "hk_c"), ("hk_b", "hk_d")]


@pytest.mark.parametrize("mode", MODES)
def test_pairs_need_min_rows_joint_rows(mode):
    X = independent_panel()
    put_copy(X, "hk_a", "hk_c", noise=0.0, seed=4)
    X[300:, COL["hk_a"]] = np.nan  # hk_a present on rows 0..299
    X[:150, COL["hk_c"]] = np.nan  # hk_c present on rows 150..599: 150 joint rows, all equal
    assert find_clusters(X, HOTKEYS, mode=mode) == []
    assert find_clusters(X, HOTKEYS, mode=mode, min_rows=150) == [("hk_a", "hk_c")]
    if mode == "fixed":  # correlated on their 150 joint rows, which are too few
        assert find_correlated_cohorts(X, HOTKEYS, mode=mode) == []
        assert find_correlated_cohorts(X, HOTKEYS, mode=mode, min_rows=150) == [("hk_a", "hk_c")]


def test_mean_prefilter_uses_each_miners_own_rows():
    X = independent_panel()
    put_copy(X, "hk_a", "hk_c", noise=0.0, seed=4)
    X[:300, COL["hk_c"]] = np.nan  # identical on its 300 rows...
    X[:300, COL["hk_a"]] += 0.5  # ...but hk_a's other rows move its own mean by ~0.25
    assert find_clusters(X, HOTKEYS) == []
    assert find_clusters(X, HOTKEYS, mean_tol=1.0) == [("hk_a", "hk_c")]


def test_agreement_threshold_counts_joint_rows():
    X = independent_panel()
    put_copy(X, "hk_a", "hk_c", noise=0.0, seed=4)
    X[:5, COL["hk_c"]] += 0.01  # 5 of 600 rows differ: 595 ≥ ceil(0.99·600) = 594
    assert find_clusters(X, HOTKEYS) == [("hk_a", "hk_c")]
    X[:7, COL["hk_c"]] += 0.01  # 7 differ: 593 < 594
    assert find_clusters(X, HOTKEYS) == []


@pytest.mark.parametrize("where", ["early", "late"])
def test_mismatches_anywhere_in_the_history_count(where):
    # The scan stops early on a pair only once it is certainly rejected; late mismatches still count.
    X = independent_panel()
    put_copy(X, "hk_a", "hk_c", noise=0.0, seed=4)
    rows = slice(0, 10) if where == "early" else slice(T - 10, T)
    X[rows, COL["hk_c"]] += 0.01
    assert find_clusters(X, HOTKEYS) == []


def test_f7_genuine_zero_predictions_count_only_in_fixed_mode():
    # Two exact clones that predict a genuine [0, 0] on 450 of 600 rows.
    X = independent_panel()
    put_copy(X, "hk_a", "hk_c", noise=0.0, seed=4)
    X[150:, COL["hk_a"]] = 0.0
    X[150:, COL["hk_c"]] = 0.0
    assert find_clusters(X, HOTKEYS, mode="compat") == []  # only 150 "nz" rows
    assert find_clusters(X, HOTKEYS, mode="fixed") == [("hk_a", "hk_c")]
    s = salience_of([0.1, 0.1, 0.1, 0.3, 0.2, 0.2])
    assert clone_post_pass(s, X, HOTKEYS, mode="compat") == s
    fixed = clone_post_pass(s, X, HOTKEYS, mode="fixed")
    assert fixed["hk_a"] == pytest.approx(0.5) and fixed["hk_c"] == 0.0


def test_f7_shared_absence_is_a_cohort_only_in_compat_mode():
    # Two independent miners, absent on the same 300 rows: compat's zeros correlate them.
    rng = np.random.default_rng(11)
    X = independent_panel()
    for hk in ("hk_b", "hk_e"):
        X[:, COL[hk]] = rng.uniform(0.45, 0.55, size=(T, D)).astype(np.float32)
        X[::2, COL[hk]] = np.nan
    assert find_correlated_cohorts(X, HOTKEYS, mode="compat") == [("hk_b", "hk_e")]
    assert find_correlated_cohorts(X, HOTKEYS, mode="fixed") == []
    s = salience_of([0.1, 0.4, 0.1, 0.1, 0.0, 0.3])
    assert clone_post_pass(s, X, HOTKEYS, mode="compat")["hk_e"] == pytest.approx(0.2)
    assert clone_post_pass(s, X, HOTKEYS, mode="fixed") == s


@pytest.mark.parametrize("mode", MODES)
def test_constant_miners_give_no_warnings_and_no_cohorts(mode):
    X = independent_panel()
    X[:, COL["hk_a"]] = 0.5  # constant
    X[:, COL["hk_b"]] = 0.25  # another constant
    X[:, COL["hk_c"]] = 0.5  # an identical constant: an exact clone of hk_a, but no correlation
    # hk_d varies on rows 0..299 and is constant on rows 300..599, the only rows hk_e submits.
    X[300:, COL["hk_d"]] = 0.7
    X[:300, COL["hk_e"]] = np.nan
    with np.errstate(all="raise"):
        clusters = no_warnings(find_clusters, X, HOTKEYS, mode=mode)
        cohorts = no_warnings(find_correlated_cohorts, X, HOTKEYS, mode=mode, min_corr=0.0)
        out = no_warnings(clone_post_pass, salience_of([0.2, 0.1, 0.1, 0.3, 0.2, 0.1]), X, HOTKEYS, mode=mode)
    assert clusters == [("hk_a", "hk_c")]
    assert out["hk_a"] == pytest.approx(0.4) and out["hk_c"] == 0.0
    assert all(np.isfinite(v) for v in out.values())
    assert sum(out.values()) == pytest.approx(1.0)
    # min_corr=0 cuts at distance 1 and so joins every miner that has a correlation at all;
    # the constants have none and stay out.
    assert cohorts == [("hk_d", "hk_e", "hk_f")]


@pytest.mark.parametrize("mode", MODES)
def test_infinite_values_neither_warn_nor_link(mode):
    X = independent_panel()
    put_copy(X, "hk_a", "hk_c", noise=0.0, seed=4)
    put_copy(X, "hk_b", "hk_d", noise=0.03, seed=5, kind="normal")
    X[10, COL["hk_f"], 0] = np.inf
    X[20, COL["hk_f"], 1] = -np.inf
    X[30, COL["hk_e"]] = np.inf
    with np.errstate(all="raise"):
        clusters = no_warnings(find_clusters, X, HOTKEYS, mode=mode)
        cohorts = no_warnings(find_correlated_cohorts, X, HOTKEYS, mode=mode)
        out = no_warnings(clone_post_pass, salience_of([0.2, 0.1, 0.1, 0.3, 0.2, 0.1]), X, HOTKEYS, mode=mode)
    assert clusters == [("hk_a", "hk_c")]
    assert cohorts == [("hk_a", "hk_c"), ("hk_b", "hk_d")]
    assert sum(out.values()) == pytest.approx(1.0)


def test_fixed_constant_on_joint_rows_is_uncorrelated():
    # hk_d is constant exactly where hk_e is present; any defined correlation would need variance.
    X = independent_panel()
    X[300:, COL["hk_d"]] = 0.7
    X[:300, COL["hk_e"]] = np.nan
    X[300:, COL["hk_e"]] = X[300:, COL["hk_f"]]  # hk_e duplicates hk_f where present
    # Any |corr| above 1e-12 links here; complete linkage keeps hk_d and hk_e apart only if their
    # correlation is exactly the "undefined" 0, not rounding residue of a zero variance.
    cohorts = no_warnings(find_correlated_cohorts, X, HOTKEYS, mode="fixed", min_corr=1e-12)
    assert not any({"hk_d", "hk_e"} <= set(c) for c in cohorts)
    assert any({"hk_e", "hk_f"} <= set(c) for c in cohorts)


@pytest.mark.parametrize("mode", MODES)
def test_post_pass_preserves_total_without_soft_cohorts(mode):
    X = independent_panel(seed=21)
    put_copy(X, "hk_c", "hk_a", noise=5e-4, seed=6)
    put_copy(X, "hk_f", "hk_d", noise=5e-4, seed=7)
    assert find_clusters(X, HOTKEYS, mode=mode) == [("hk_a", "hk_c"), ("hk_d", "hk_f")]
    s = salience_of([0.13, 0.07, 0.21, 0.17, 0.3, 0.12])
    out = clone_post_pass(s, X, HOTKEYS, mode=mode)
    assert sum(out.values()) == pytest.approx(sum(s.values()), rel=1e-12)
    assert out["hk_a"] == pytest.approx(0.17 + 0.12) and out["hk_c"] == 0.0
    assert out["hk_d"] == pytest.approx(0.21 + 0.13) and out["hk_f"] == 0.0
    assert out["hk_b"] == 0.07 and out["hk_e"] == 0.3


def test_exact_clone_members_are_removed_from_soft_cohorts():
    # hk_a ≈ hk_c exactly, hk_e a noisy copy: all three correlate, but only hk_e is left to equalise.
    X = independent_panel()
    put_copy(X, "hk_a", "hk_c", noise=2e-4, seed=8)
    put_copy(X, "hk_a", "hk_e", noise=0.02, seed=9, kind="normal")
    put_copy(X, "hk_b", "hk_f", noise=0.02, seed=10, kind="normal")
    assert find_correlated_cohorts(X, HOTKEYS) == [("hk_a", "hk_c", "hk_e"), ("hk_b", "hk_f")]
    s = salience_of([0.05, 0.25, 0.1, 0.2, 0.3, 0.1])
    out = clone_post_pass(s, X, HOTKEYS)
    assert out["hk_a"] == pytest.approx(0.3) and out["hk_c"] == 0.0  # collapse only
    assert out["hk_e"] == 0.3  # alone after removing the exact clones: untouched
    assert out["hk_b"] == out["hk_f"] == pytest.approx(0.15)
    assert sum(out.values()) == pytest.approx(1.0)


def test_scan_is_limited_to_the_last_rows():
    X = independent_panel()
    put_copy(X, "hk_a", "hk_c", noise=0.0, seed=4)
    X[:300, COL["hk_c"]] = np.random.default_rng(12).uniform(0.05, 0.95, (300, D))  # clones only lately
    s = salience_of([0.1, 0.1, 0.1, 0.3, 0.2, 0.2])
    assert clone_post_pass(s, X, HOTKEYS) == s
    out = clone_post_pass(s, X, HOTKEYS, scan_rows=300)
    assert out["hk_a"] == pytest.approx(0.5) and out["hk_c"] == 0.0


@pytest.mark.parametrize("mode", MODES)
def test_result_does_not_depend_on_column_order(mode):
    X = independent_panel()
    put_copy(X, "hk_e", "hk_b", noise=2e-4, seed=1)
    put_copy(X, "hk_a", "hk_d", noise=0.03, seed=3, kind="normal")
    s = salience_of([0.1, 0.25, 0.05, 0.3, 0.2, 0.1])
    perm = np.random.default_rng(13).permutation(len(HOTKEYS))
    Xp, hkp = X[:, perm], tuple(HOTKEYS[i] for i in perm)
    first = clone_post_pass(s, X, HOTKEYS, mode=mode)
    assert clone_post_pass(s, X, HOTKEYS, mode=mode) == first
    assert clone_post_pass(s, Xp, hkp, mode=mode) == first
    assert find_clusters(Xp, hkp, mode=mode) == find_clusters(X, HOTKEYS, mode=mode) == [("hk_b", "hk_e")]
    assert find_correlated_cohorts(Xp, hkp, mode=mode) == [("hk_a", "hk_d"), ("hk_b", "hk_e")]


def test_compat_and_fixed_agree_when_everyone_submits_every_row():
    X = independent_panel()
    put_copy(X, "hk_a", "hk_d", noise=0.05, seed=3, kind="normal")
    put_copy(X, "hk_b", "hk_e", noise=0.02, seed=5, kind="normal")
    for min_corr in (0.5, 0.92, 0.99):
        assert find_correlated_cohorts(X, HOTKEYS, mode="compat", min_corr=min_corr) == \
            find_correlated_cohorts(X, HOTKEYS, mode="fixed", min_corr=min_corr)
    assert find_correlated_cohorts(X, HOTKEYS, min_corr=0.99) == [("hk_b", "hk_e")]


def test_compat_means_are_the_references_float32_means_bit_for_bit():
    # The reference prefilters on X[nz_rows, i, :].mean(axis=0) in float32; the streamed version
    # must give the same bits, or a pair at the 0.05 edge could be decided differently.
    rng = np.random.default_rng(14)
    X = rng.uniform(0, 1, size=(9000, 5, D)).astype(np.float32)  # several row blocks
    X[rng.uniform(size=(9000, 5)) < 0.3] = np.nan
    X[rng.uniform(size=(9000, 5)) < 0.2] = 0.0
    present = presence(X, "compat")
    zeroed = np.nan_to_num(X)
    expected = np.stack([zeroed[present[:, i], i, :].mean(axis=0) for i in range(5)])
    got = _own_means(X, present, np.arange(5), "compat")
    assert got.dtype == np.float32 and np.array_equal(got, expected)


def test_collapse_salience_counts_absent_hotkeys_as_zero():
    s = {"b": 0.2, "c": 0.3, "d": 0.5}
    assert collapse_salience(s, [("c", "b"), ("d", "x")]) == {"b": 0.5, "c": 0.0, "d": 0.5}
    # The representative "a" is not a key: it is added so the cluster's mass is not lost.
    assert collapse_salience(s, [("c", "a")]) == {"b": 0.2, "c": 0.0, "d": 0.5, "a": 0.3}
    assert collapse_salience(s, []) == s
    with pytest.raises(ValueError, match="overlap"):
        collapse_salience(s, [("b", "c"), ("c", "d")])


def test_bad_inputs_are_refused():
    X = independent_panel()
    with pytest.raises(ValueError, match="mode"):
        find_clusters(X, HOTKEYS, mode="strict")
    with pytest.raises(ValueError, match="columns"):
        find_correlated_cohorts(X, HOTKEYS[:-1])
    with pytest.raises(ValueError, match="unique"):
        clone_post_pass({}, X, ("a",) * len(HOTKEYS))


def _post_pass_over_every_pair(salience, X, hotkeys, mode):
    """§12.1 as written: every cluster and every cohort, then collapse (fixed mode: onto the member
    present on the most rows) and equalise."""
    clusters = find_clusters(X, hotkeys, mode=mode)
    counts = dict(zip(hotkeys, presence(X, mode).sum(axis=0).tolist()))
    out = collapse_salience(salience, clusters, (lambda hk: (-counts[hk], hk)) if mode == "fixed" else None)
    exact = {hk for cluster in clusters for hk in cluster}
    for cohort in find_correlated_cohorts(X, hotkeys, mode=mode):
        members = [hk for hk in cohort if hk not in exact]
        if len(members) >= 2:
            share = sum(out.get(hk, 0.0) for hk in members) / len(members)
            for hk in members:
                if hk in out or share != 0.0:
                    out[hk] = share
    return out


@pytest.mark.parametrize("seed", range(12))
def test_post_pass_scanning_from_the_paid_equals_the_full_scan(seed):
    """The post-pass compares only the pairs that can change a result (clusters holding salience,
    cohorts holding some); on random panels with clone chains, cohorts and clones of unpaid
    miners it gives exactly what scanning every pair gives."""
    rng = np.random.default_rng(seed)
    T, H = 400, 14
    X = rng.normal(size=(T, H, 2)).astype(np.float32)
    for _ in range(4):  # exact clones (some chained through an unpaid miner), near-copies (cohorts)
        a, b = rng.choice(H, 2, replace=False)
        X[:, b] = X[:, a] + (rng.normal(scale=2e-4, size=(T, 2)) if rng.random() < 0.5 else rng.normal(scale=0.1, size=(T, 2)))
    X[rng.random((T, H)) < 0.02] = np.nan
    hotkeys = [f"hk{j:02d}" for j in rng.permutation(H)]
    paid = rng.choice(H, rng.integers(1, H), replace=False)
    salience = {hotkeys[j]: float(rng.random()) if j in paid else 0.0 for j in range(H)}
    for mode in ("fixed", "compat"):
        assert clone_post_pass(salience, X, hotkeys, mode=mode) == _post_pass_over_every_pair(salience, X, hotkeys, mode)


def test_fixed_post_pass_keeps_a_clusters_mass_with_the_member_present_longest():
    """§12.1 collapses a cluster onto its smallest hotkey, so a copy under a smaller hotkey takes the
    original's whole salience; fixed mode keeps it with the member that submitted on the most rows."""
    rng = np.random.default_rng(3)
    T = 2_000
    X = rng.normal(size=(T, 3, 2)).astype(np.float32)
    X[:, 0] = X[:, 2]
    X[: T // 2, 0] = np.nan  # "a-copy" copies "b-original" from halfway on
    hotkeys = ["a-copy", "c-other", "b-original"]
    salience = {"a-copy": 0.3, "c-other": 0.2, "b-original": 0.5}
    fixed = clone_post_pass(salience, X, hotkeys, mode="fixed")
    assert fixed == {"a-copy": 0.0, "c-other": 0.2, "b-original": 0.8}
    assert clone_post_pass(salience, X, hotkeys, mode="compat") == {"a-copy": 0.8, "c-other": 0.2, "b-original": 0.0}


def test_group_shares_score_the_longest_member_and_pay_by_rows_the_gate_saw():
    # Columns 0, 2, 3 form one group (root 0), column 1 is alone. Over 10 rows, the gate saw rows 0–5:
    # column 0 submitted on rows 6–9 only (a copy that came late, with the smallest hotkey), column 2
    # on all ten, column 3 on rows 3–9.
    present = np.zeros((10, 4), dtype=bool)
    present[6:, 0] = present[:, 1] = present[:, 2] = present[3:, 3] = True
    seen = np.arange(10) < 6
    rep, share = group_shares(np.array([0, 1, 0, 0]), present, seen)
    assert rep.tolist() == [2, 1, 2, 2]  # scored on column 2 (10 rows), not on the group's root
    assert share.tolist() == pytest.approx([0.0, 1.0, 6 / 9, 3 / 9])  # seen rows: 0, 6, 6, 3
