"""LBFGS's pieces on small hand-made inputs (mantis.md §11.2): labels, balanced accuracy, weights,
the vote, the uniqueness penalty, the combination, cohorts; then whole panels in both modes.

Expected numbers are worked by hand from the spec; the arithmetic is in the comments."""

import math

import numpy as np
import pytest

from mechanisms.mantis import lbfgs
from mechanisms.mantis.lbfgs import (
    LbfgsParams,
    auc_columns,
    balanced_accuracy,
    barrier_moves,
    bucketize,
    combine,
    ensemble_vote,
    find_cohorts,
    is_uniform,
    lbfgs_salience,
    make_bins,
    q_sigma,
    recency_gamma,
    recent_mass_weights,
    sanity_vote,
    spread_cohorts,
    topk_renorm,
    uniqueness_penalty,
    walk_forward_segments,
)

# Windows scaled down so a whole panel scores in well under a second.
SMALL = LbfgsParams(min_rows=1000, sigma_window=400, q_sigma_window=800, warmup=2000, chunk=1000,
                    train_window=2000, recent=800, overlap_rows=1000, cohort_min_rows=1000, replicates=4)


def synthetic(T=5000, H=5, informative=(1,), skill=1.5, seed=0, h=60, vol=1e-3):
    """A random-walk price; informative miners' bucket probabilities lean to the realised bucket
    (softmax of N(0,1) logits + skill on the true bucket), others are the same without the lean."""
    rng = np.random.default_rng(seed)
    lnp = np.log(100.0) + np.concatenate([[0.0], np.cumsum(rng.normal(0, vol, T + h - 1))])
    z = (lnp[h : h + T] - lnp[:T]) / (vol * math.sqrt(h))
    b = bucketize(z)
    X = np.empty((T, H, 17), np.float32)
    for j in range(H):
        logits = rng.normal(0, 1, (T, 5))
        logits[:, 2] += 1.0
        if j in informative:
            logits[np.arange(T), b] += skill
        p = np.exp(logits)
        X[:, j, :5] = p / p.sum(axis=1, keepdims=True)
        X[:, j, 5:] = rng.uniform(0.05, 0.95, (T, 12))
    return X, 10_000 + np.arange(T), np.exp(lnp[:T]), [f"hk{j:02d}" for j in range(H)]


# -- labels ---------------------------------------------------------------------------------------


def test_make_bins_labels_and_causal_sigma_compat():
    # ln p = [0, 1, 3, 2, 2, 5], h = 1 → r = [1, 2, −1, 0, 3, NaN] (row offsets).
    # σ_t = std(r_{t−2}, r_{t−1}) (window 2, ddof 1, returns ending at t − h):
    #   t=2: std(1, 2) = 1/√2 = 0.70711, z = −1/0.70711 = −1.414 → bucket 1
    #   t=3: std(2, −1) = 3/√2 = 2.12132, z = 0 → bucket 2
    #   t=4: std(−1, 0) = 0.70711, z = 3/0.70711 = 4.243 → bucket 4
    #   t=0, 1: fewer than two earlier returns; t=5: no future price → −1
    prices = np.exp([0.0, 1, 3, 2, 2, 5])
    bins = make_bins(prices, np.arange(6), 1, 2, "compat")
    assert bins.labels.tolist() == [-1, -1, 1, 2, 4, -1]
    np.testing.assert_allclose(bins.sigma[2:5], [1 / math.sqrt(2), 3 / math.sqrt(2), 1 / math.sqrt(2)], rtol=1e-9)
    np.testing.assert_allclose(bins.returns[:5], [1, 2, -1, 0, 3], atol=1e-9)


def test_make_bins_pairs_by_sample_index_in_fixed_mode():
    # The same log prices at samples [0, 1, 2, 3, 5, 6] (4 was missed), h = 1.
    # fixed pairs 0→1, 1→2, 2→3, 5→6; rows at 3 and 6 have no partner: r = [1, 2, −1, NaN, 3, NaN].
    # σ at row 4 (sample 5) uses the two returns ended by sample 4: r1, r2 = (2, −1) → 3/√2,
    # so z = 3/2.12132 = 1.414 → bucket 3. Compat pairs row 3 with row 4 (r = 0, bucket 2) and
    # labels row 4 bucket 4 (σ = std(−1, 0)).
    prices = np.exp([0.0, 1, 3, 2, 2, 5])
    sidx = np.array([0, 1, 2, 3, 5, 6])
    fixed = make_bins(prices, sidx, 1, 2, "fixed")
    assert fixed.labels.tolist() == [-1, -1, 1, -1, 3, -1]
    assert fixed.sigma[4] == pytest.approx(3 / math.sqrt(2))
    assert make_bins(prices, sidx, 1, 2, "compat").labels.tolist() == [-1, -1, 1, 2, 4, -1]


def test_bucket_edges():
    # ≤ −2 → 0, (−2, −1) → 1, [−1, 1] → 2, (1, 2) → 3, ≥ 2 → 4, NaN → −1
    z = np.array([-2.0, -1.999, -1.0, 0.0, 1.0, 1.001, 2.0, np.nan])
    assert bucketize(z).tolist() == [0, 1, 2, 2, 2, 3, 4, -1]


def test_q_sigma_is_causal_only_in_fixed_mode():
    rng = np.random.default_rng(3)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, 400)))
    P = LbfgsParams(ahead=5, q_sigma_window=50)
    later = prices.copy()
    later[200:] *= np.exp(rng.normal(0, 5e-3, 200))  # a different future from row 200 on
    s = np.arange(400)
    for mode, causal in (("fixed", True), ("compat", False)):
        a = q_sigma(make_bins(prices, s, 5, 30, mode), s, P, mode)
        b = q_sigma(make_bins(later, s, 5, 30, mode), s, P, mode)
        # row 199: fixed uses returns ended by 199 (prices ≤ 199); compat's window holds r_199 = p_204 / p_199
        assert bool(a[199] == b[199]) is causal
        assert np.isfinite(a[199])


def test_barrier_moves_by_rows_and_by_samples():
    # ln p = [0, 1, 3, 2, 0, 1], h = 2, compat: path rows t..t+2 against row t − 1 (1 ≤ t < T − h):
    #   t=1: max(1, 3, 2) − 0 = 3, min − 0 = 1; t=2: 3 − 1 = 2, 0 − 1 = −1; t=3: 2 − 3 = −1, 0 − 3 = −3
    lnp = np.array([0.0, 1, 3, 2, 0, 1])
    up, dn = barrier_moves(lnp, np.arange(6), 2, "compat")
    np.testing.assert_allclose(up[1:4], [3, 2, -1])
    np.testing.assert_allclose(dn[1:4], [1, -1, -3])
    assert np.isnan(up[[0, 4, 5]]).all()
    # fixed, samples [0, 1, 3, 4, 5, 6]: row 1 (sample 1) spans samples 1..3 = rows 1, 2 (ln p 1, 3)
    # against row 0: up 3, dn 1; row 0 has no previous row; row 2 (sample 3) spans 3..5 = rows 2..4
    # (3, 2, 0) against row 1 (ln p 1): up 2, dn −1; row 4 (sample 5) has no sample 7.
    up, dn = barrier_moves(lnp, np.array([0, 1, 3, 4, 5, 6]), 2, "fixed")
    assert (up[1], dn[1], up[2], dn[2]) == (3, 1, 2, -1)
    assert np.isnan(up[[0, 4, 5]]).all()


# -- balanced accuracy, weights, recency ------------------------------------------------------------


def test_balanced_accuracy_divides_by_five_or_by_present_classes():
    # y has classes {0, 2, 4}; recalls 1/2, 2/3, 1 → sum 2.16667; compat /5 = 0.43333, fixed /3 = 0.72222
    y = np.array([0, 0, 2, 2, 2, 4])
    pred = np.array([0, 2, 2, 2, 0, 4])
    assert balanced_accuracy(pred, y, "compat") == pytest.approx(2.1666667 / 5)
    assert balanced_accuracy(pred, y, "fixed") == pytest.approx(2.1666667 / 3)
    # no vote (−1) is never right: recall of class 0 drops to 0 → (0 + 2/3 + 1)/3 = 0.55556
    absent = np.array([-1, 2, 2, 2, 0, 4])
    assert balanced_accuracy(absent, y, "fixed") == pytest.approx(1.6666667 / 3)
    # columns are miners
    both = np.stack([pred, absent], axis=1)
    np.testing.assert_allclose(balanced_accuracy(both, y, "fixed"), [2.1666667 / 3, 1.6666667 / 3], rtol=1e-6)
    assert lbfgs.chance_level(y, "compat") == 0.2 and lbfgs.chance_level(y, "fixed") == pytest.approx(1 / 3)


def test_recent_mass_weights():
    # n = 10, recent = 4: old rows 1, recent rows 0.5·6/(0.5·4) = 1.5; total 6 + 6 = 12, mean 1.2
    # → old 1/1.2 = 0.83333, recent 1.5/1.2 = 1.25
    w = recent_mass_weights(10, 4, 0.5)
    np.testing.assert_allclose(w, [1 / 1.2] * 6 + [1.25] * 4)
    assert w.mean() == pytest.approx(1.0)
    assert w[6:].sum() / w.sum() == pytest.approx(0.5)  # the recent rows carry half the mass
    # mass 0.75: recent 0.75·6/(0.25·4) = 4.5; total 24, mean 2.4 → 0.41667 and 1.875
    np.testing.assert_allclose(recent_mass_weights(10, 4, 0.75), [1 / 2.4] * 6 + [4.5 / 2.4] * 4)
    assert recent_mass_weights(5, 0).tolist() == [1.0] * 5  # no recent rows
    assert recent_mass_weights(5, 9).tolist() == [1.0] * 5  # no old rows


def test_recency_gamma_follows_the_chunk():
    # 0.5^((12 000/1440)/15) = 0.5^0.55556 = 0.680395; a 2 880-row chunk: 0.5^(2/15) = 0.911722
    assert recency_gamma(LbfgsParams()) == pytest.approx(0.680395, abs=1e-6)
    assert recency_gamma(LbfgsParams(chunk=2880)) == pytest.approx(0.911722, abs=1e-6)


def test_walk_forward_segments_stop_before_a_short_one():
    # n = 1000, warm-up 300, chunk 300: [300, 600), [600, 900); [900, 1000) has 100 < 200 rows
    P = LbfgsParams(warmup=300, chunk=300, min_segment=200)
    assert walk_forward_segments(1000, P) == [(300, 600), (600, 900)]
    assert walk_forward_segments(1100, P) == [(300, 600), (600, 900), (900, 1100)]
    assert walk_forward_segments(300, P) == []


def test_auc_columns():
    # positives score 2 and 4, negatives 1 and 3: 3 of 4 pairs ordered → 0.75; the reverse → 0.25
    F = np.array([[1.0, 4], [2, 3], [3, 2], [4, 1]])
    np.testing.assert_allclose(auc_columns(F, np.array([0, 1, 0, 1])), [0.75, 0.25])
    # column 1 present on rows 0, 1 only (one of each class): negative 4 > positive 3 → 0
    present = np.array([[1, 1], [1, 1], [1, 0], [1, 0]], dtype=bool)
    np.testing.assert_allclose(auc_columns(F, np.array([0, 1, 0, 1]), present), [0.75, 0.0])


# -- sanity vote ----------------------------------------------------------------------------------


def test_ensemble_vote_and_sanity_vote():
    y = np.array([0, 2, 2, 4])
    votes = np.array([[0, 2, 4], [2, 2, 4], [2, 2, 0], [4, 2, 0]])  # miners A (perfect), B (always 2), C
    # equal weights 1/3: row 0 ties 0/2/4 → lowest class 0; row 1: 2 (2/3); row 2: 2; row 3 ties → 0
    assert ensemble_vote(votes, np.ones(3) / 3).tolist() == [0, 2, 2, 0]
    # BA = (1 + 1 + 0)/3 = 0.667 > 0.2 (compat) and > 1/3 (fixed)
    assert sanity_vote(votes, np.ones(3), y, "compat") and sanity_vote(votes, np.ones(3), y, "fixed")
    # B alone always says 2: BA = (0 + 1 + 0)/3 = 1/3 beats the reference's 0.2 but not chance 1/3
    assert sanity_vote(votes, np.array([0.0, 1, 0]), y, "compat")
    assert not sanity_vote(votes, np.array([0.0, 1, 0]), y, "fixed")
    # nobody voting (−1) predicts nothing
    assert ensemble_vote(np.full((2, 2), -1), np.ones(2)).tolist() == [-1, -1]
    assert not sanity_vote(votes, np.zeros(3), y, "compat")


# -- uniqueness penalty ---------------------------------------------------------------------------


def test_uniqueness_penalty_compat():
    # ranks by imp: A (0.5), B (0.3), C (0.2); D has imp 0 and is left alone.
    # B vs A: equal on rows 0, 1 → ov 0.5 → 0.3·0.5² = 0.075
    # C vs A: row 1 → 0.25; C vs B: rows 1, 2, 3 → 0.75; ov = max = 0.75 → 0.2·0.25² = 0.0125
    votes = np.array([[0, 0, 3, 0], [1, 1, 1, 0], [2, 4, 4, 0], [3, 4, 4, 0]])
    out = uniqueness_penalty(np.array([0.5, 0.3, 0.2, 0.0]), votes, "compat")
    np.testing.assert_allclose(out, [0.5, 0.075, 0.0125, 0.0])


def test_uniqueness_penalty_counts_absent_rows_only_in_compat():
    # B submitted rows 0, 1 only. compat sees its absent rows as bucket 0: B = [0, 1, 0, 0] agrees
    # with A = [0, 1, 2, 3] on rows 0, 1 → ov 0.5 → 0.3·0.25 = 0.075. fixed: joint rows 0, 1, both
    # equal → ov 1 → 0 (without labels: plain agreement on joint rows).
    A = [0, 1, 2, 3]
    compat = uniqueness_penalty(np.array([0.5, 0.3]), np.array([A, [0, 1, 0, 0]]).T, "compat")
    fixed = uniqueness_penalty(np.array([0.5, 0.3]), np.array([A, [0, 1, -1, -1]]).T, "fixed")
    np.testing.assert_allclose(compat, [0.5, 0.075])
    np.testing.assert_allclose(fixed, [0.5, 0.0])
    # two miners absent everywhere but one row: compat 75 % "overlap" from absence alone, fixed none
    X = np.array([[2, 3], [-1, -1], [-1, -1], [-1, -1]])
    assert uniqueness_penalty(np.array([0.5, 0.3]), np.where(X < 0, 0, X), "compat")[1] == pytest.approx(0.3 * 0.25**2)
    assert uniqueness_penalty(np.array([0.5, 0.3]), X, "fixed")[1] == pytest.approx(0.3)


def test_uniqueness_penalty_fixed_measures_agreement_beyond_chance():
    # y = [0, 0, 1, 1]. A is always right; B is right on rows 0, 2 and says 1, 0 on rows 1, 3.
    # p_o = 2/4 = 0.5. Given y = 0: A votes 0 always, B votes 0 half the time → Σ_c = 1·0.5 = 0.5;
    # y = 1 likewise 0.5 → p_e = 0.5·0.5 + 0.5·0.5 = 0.5 → κ = (0.5 − 0.5)/(1 − 0.5) = 0: no penalty.
    y = np.array([0, 0, 1, 1])
    votes = np.array([[0, 0], [0, 1], [1, 1], [1, 0]])
    assert uniqueness_penalty(np.array([0.5, 0.3]), votes, "fixed", y)[1] == pytest.approx(0.3)
    # a copy of a noisy forecaster: both vote [0, 1, 1, 0], so p_o = 1; given y = 0 each votes 0
    # and 1 half the time → Σ_c = 0.25 + 0.25 = 0.5, likewise for y = 1 → p_e = 0.5
    # → κ = (1 − 0.5)/(1 − 0.5) = 1 → 0.3·(1 − 1)² = 0.
    noisy = np.array([[0, 0], [1, 1], [1, 1], [0, 0]])
    assert uniqueness_penalty(np.array([0.5, 0.3]), noisy, "fixed", y)[1] == pytest.approx(0.0)
    # the reference's rule on the first pair: ov = 0.5 → 0.3·0.25 = 0.075
    assert uniqueness_penalty(np.array([0.5, 0.3]), votes, "compat", y)[1] == pytest.approx(0.075)


# -- combination ----------------------------------------------------------------------------------


def test_topk_renorm():
    # k = 3 → τ = max(1, 1) = 1: 0.5, 0.3·e^−1 = 0.110364, 0.2·e^−2 = 0.027067; total 0.637431
    # → 0.784399, 0.173139, 0.042463; the zero entry is dropped
    out = topk_renorm({"a": 0.5, "b": 0.3, "c": 0.2, "d": 0.0}, 3)
    assert list(out) == ["a", "b", "c"]
    np.testing.assert_allclose(list(out.values()), [0.784399, 0.173139, 0.042463], rtol=1e-5)
    # k = 50 → τ = 16.667: e^−0.06 = 0.941765, e^−0.12 = 0.886920 → 0.5, 0.282529, 0.177384;
    # total 0.959913 → 0.520880, 0.294328, 0.184792
    out = topk_renorm({"c": 0.2, "a": 0.5, "b": 0.3}, 50)
    assert out == pytest.approx({"a": 0.520880, "b": 0.294328, "c": 0.184792}, rel=1e-5)
    # k = 2 keeps two (τ = max(1, 2/3) = 1): 0.5 and 0.110364, total 0.610364 → 0.819184, 0.180816
    assert topk_renorm({"a": 0.5, "b": 0.3, "c": 0.2}, 2) == pytest.approx({"a": 0.819184, "b": 0.180816}, rel=1e-5)
    # entries below min_share go
    assert "b" not in topk_renorm({"a": 1.0, "b": 1e-9}, 50)


def test_is_uniform():
    assert is_uniform({}) and is_uniform({"a": 0.0, "b": 0.0})
    assert is_uniform({"a": 0.5, "b": 0.5}) and is_uniform({"a": 1.0})
    # (0.502 − 0.498)/0.5 = 0.008 < 0.01 → uniform; (0.51 − 0.49)/0.5 = 0.04 → not
    assert is_uniform({"a": 0.502, "b": 0.498}) and not is_uniform({"a": 0.51, "b": 0.49})


def test_combine_drops_a_uniform_path_and_blends():
    # q uniform → cls alone through topk_renorm(·, 50): 0.6, 0.4·e^−0.06 = 0.376706 → total 0.976706
    # → 0.614310, 0.385690
    out = combine({"a": 0.6, "b": 0.4}, {"a": 0.5, "b": 0.5})
    assert out == pytest.approx({"a": 0.614310, "b": 0.385690}, rel=1e-5)
    # Both kept, topk = 3 (τ = 1): cls a 0.6, b 0.4·e^−1 = 0.147152 → 0.803050, 0.196950;
    # q b 0.7, c 0.3·e^−1 = 0.110364 → 0.863810, 0.136190.
    # 0.75·cls + 0.25·q: a 0.602287, b 0.147713 + 0.215952 = 0.363665, c 0.25·0.136190 = 0.034048
    out = combine({"a": 0.6, "b": 0.4}, {"b": 0.7, "c": 0.3}, LbfgsParams(topk=3))
    assert out == pytest.approx({"a": 0.602287, "b": 0.363665, "c": 0.034048}, abs=2e-6)
    assert combine({}, {"a": 0.5, "b": 0.5}) == {}


# -- cohorts --------------------------------------------------------------------------------------


def test_cohort_reduction_and_sharing():
    rng = np.random.default_rng(0)
    T = 300
    A = rng.dirichlet(np.ones(5), T)
    raw = np.stack([A, A + rng.uniform(-1e-3, 1e-3, A.shape), rng.dirichlet(np.ones(5), T),
                    A + np.array([0.15, 0, 0, 0, 0])], axis=1).astype(np.float32)
    present = np.ones((T, 4), dtype=bool)
    P = LbfgsParams(cohort_min_rows=200)
    # column 1 copies column 0 (corr ≈ 1, means equal); column 2 is independent; column 3 is
    # column 0 shifted by 0.15 in bucket 0: perfectly correlated but its mean differs by 0.15 > 0.10
    assert find_cohorts(raw, present, P).tolist() == [0, 0, 2, 3]
    # too few joint rows: column 1 submitted only 150 rows
    present[150:, 1] = False
    assert find_cohorts(raw, present, P).tolist() == [0, 1, 2, 3]
    # the representative's score ÷ cohort size to every member: [0.6, 0, 0.4] with cohort {0, 1}
    np.testing.assert_allclose(spread_cohorts(np.array([0.6, 0.0, 0.4]), np.array([0, 0, 2])), [0.3, 0.3, 0.4])


def test_near_duplicate_shares_its_representatives_score():
    X, sidx, prices, hks = synthetic(H=4, informative=(1,))
    X[:, 3] = X[:, 1] + np.float32(1e-4)  # hk03 echoes hk01
    for mode in ("compat", "fixed"):
        s = lbfgs_salience(X, sidx, prices, hks, mode, SMALL)
        assert s["hk01"] == s["hk03"] > 0
        assert s["hk01"] + s["hk03"] > max(s["hk00"], s["hk02"])


# -- whole panels ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["compat", "fixed"])
def test_informative_miner_gets_the_largest_salience(mode):
    X, sidx, prices, hks = synthetic(T=5000, H=5, informative=(2,), skill=1.5)
    s = lbfgs_salience(X, sidx, prices, hks, mode, SMALL)
    assert set(s) == set(hks)
    assert sum(s.values()) == pytest.approx(1.0)
    assert max(s, key=s.get) == "hk02"
    assert s["hk02"] > 0.4


def test_deterministic_and_column_order_free():
    X, sidx, prices, hks = synthetic(T=5000, H=4, informative=(0, 2), skill=1.0)
    for mode in ("compat", "fixed"):
        a = lbfgs_salience(X, sidx, prices, hks, mode, SMALL)
        assert a and a == lbfgs_salience(X, sidx, prices, hks, mode, SMALL)
        perm = [2, 0, 3, 1]
        b = lbfgs_salience(X[:, perm], sidx, prices, [hks[i] for i in perm], mode, SMALL)
        assert b == a


def test_garbage_never_raises():
    X, sidx, prices, hks = synthetic(T=3000, H=4)
    X[5, 0, 0] = np.inf
    X[6, 1, 3] = -np.inf
    X[7, 2, :] = 1e30
    X[8:20, 3, 7] = np.nan
    X[:, 3] = np.nan  # a miner that never submitted
    prices = prices.copy()
    prices[[10, 11]] = [np.nan, -1.0]
    for mode in ("compat", "fixed"):
        s = lbfgs_salience(X, sidx, prices, hks, mode, SMALL)
        assert s == {} or (sum(s.values()) == pytest.approx(1.0) and s["hk03"] == 0.0)
        assert all(np.isfinite(v) and v >= 0 for v in s.values())
        # a single miner: nothing to compare it with; too few rows; no miners at all
        one = lbfgs_salience(X[:, :1], sidx, prices, hks[:1], mode, SMALL)
        assert one == {} or one == {"hk00": 1.0}
        assert lbfgs_salience(X[:500], sidx[:500], prices[:500], hks, mode, SMALL) == {}
        assert lbfgs_salience(X[:, :0], sidx, prices, [], mode, SMALL) == {}
        assert lbfgs_salience(np.full_like(X, np.nan), sidx, prices, hks, mode, SMALL) == {}


def test_shapes_and_mode_are_checked():
    X, sidx, prices, hks = synthetic(T=100, H=2)
    with pytest.raises(ValueError):
        lbfgs_salience(X[:, :, :5], sidx, prices, hks)
    with pytest.raises(ValueError):
        lbfgs_salience(X, sidx[:-1], prices, hks)
    with pytest.raises(ValueError):
        lbfgs_salience(X, sidx, prices, hks[:1])
    with pytest.raises(ValueError):
        lbfgs_salience(X, sidx, prices, ["a", "a"])
    with pytest.raises(ValueError):
        lbfgs_salience(X, sidx, prices, hks, mode="strict")


def test_fixed_mode_trains_the_classifier_h_samples_before_validation(monkeypatch):
    """F1: compat trains on [vs − window, vs); fixed stops `ahead` samples earlier. (5 000 samples:
    fixed mode's gate reads whole days before the current one, and needs two of them.)"""
    X, sidx, prices, hks = synthetic(T=5000, H=3, informative=(0,), skill=1.5)
    sizes = {}
    real = lbfgs._bootstrap

    def spy(Z, y, w, C, max_iter, seed, mode, p):
        if C == p.cls_C:
            sizes.setdefault(mode, set()).add(len(y))
        return real(Z, y, w, C, max_iter, seed, mode, p)

    monkeypatch.setattr(lbfgs, "_bootstrap", spy)
    for mode in ("compat", "fixed"):
        lbfgs_salience(X, sidx, prices, hks, mode, SMALL)
    # compat: the 2 000 labelled rows before each validation start (no gaps in this panel).
    # fixed (S8): the samples [start − 2 000, start − 60) on the absolute grid, validation from
    # 10 000 + warm-up 2 000 = 12 000. Labels begin at sample 10 459 (σ needs 400 returns ended by
    # t − 60), so the first window [10 000, 11 940) holds 1 481 labelled rows, the later ones 1 940.
    assert sizes["compat"] == {2000}
    assert sizes["fixed"] == {2000 - 60, 11_940 - 10_459}


def test_probability_edge_pools_each_buckets_auc_by_its_evidence():
    """S4: a miner's lift is Σ_c w_c (AUC_c − 0.5) / Σ_c w_c with w_c = n1·n0/(n + 1).

    Rows y = [2, 2, 3, 3, 3]. Miner 0 ranks perfectly: P(bucket 2) = .6 .5 | .4 .3 .2 and
    P(bucket 3) = .1 .2 | .3 .4 .5 ⇒ AUC 1 for both present buckets, edge 0.5. Miner 1 is reversed
    on bucket 2 (AUC 0) and perfect on bucket 3 (AUC 1): w_2 = w_3 = 2·3/6 = 1 ⇒ edge
    (−0.5 + 0.5)/2 = 0. Miner 2 is absent on its one wrong row (row 4), so only rows 0–3 count:
    perfect on both ⇒ 0.5, shown on 4 of the 5 rows (S6) ⇒ 0.5 · 4/5 = 0.4."""
    p2 = np.array([0.6, 0.5, 0.4, 0.3, 0.2])
    p3 = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    raw = np.zeros((5, 3, 5), dtype=np.float32)
    raw[:, 0, 2], raw[:, 0, 3] = p2, p3
    raw[:, 1, 2], raw[:, 1, 3] = p2[::-1], p3
    raw[:, 2, 2], raw[:, 2, 3] = p2, p3
    raw[4, 2, 2], raw[4, 2, 3] = 0.9, 0.05  # a confident miss, on a row it did not submit
    raw[:, :, [0, 1, 4]] = ((1 - raw[:, :, 2] - raw[:, :, 3]) / 3)[:, :, None]
    present = np.ones((5, 3), dtype=bool)
    present[4, 2] = False
    d = lbfgs._Data("fixed", np.arange(5), np.ones(5), present, raw, raw, np.arange(5), np.arange(3))
    edge = lbfgs.probability_edge(d, np.arange(5), np.array([2, 2, 3, 3, 3]), LbfgsParams())
    assert edge.tolist() == pytest.approx([0.5, 0.0, 0.4])
