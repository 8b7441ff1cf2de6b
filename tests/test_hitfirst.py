"""HITFIRST's pieces on hand-made inputs (mantis.md §11.3, §15 F4–F7): σ, first-hit labels,
features, the history cap, the block schemes, then the whole scorer on small synthetic panels.

Expected values are worked by hand from the spec; the arithmetic is in the comments.
"""

import math
from dataclasses import replace

import numpy as np
import pytest

from mechanisms.mantis import hitfirst as hf
from mechanisms.mantis.hitfirst import (
    HitfirstParams,
    block_bounds,
    evidence_share,
    first_hit_labels,
    hitfirst_features,
    hitfirst_salience,
    leave_one_block_out,
    sigma_series,
    training_rows,
    anchored_folds,
)

R2 = math.sqrt(2)


# -- σ ------------------------------------------------------------------------------------------

# Log prices whose one-sample returns r_i = lp[i+1] − lp[i] are [1, 2, 0, 4, 1].
LP = np.array([0.0, 1, 3, 3, 7, 8])


def test_sigma_compat_window_ends_at_the_rows_own_return():
    # ahead 1, window 2: σ_t = std(r_{t−1}, r_t) (ddof 1) for 1 ≤ t < T − ahead = 5.
    # Two values a, b have sample std |a − b|/√2:
    # (1,2) → 1/√2, (2,0) → √2, (0,4) → 2√2, (4,1) → 3/√2.
    s = sigma_series(LP, np.arange(6), 1, 2, "compat")
    assert np.isnan(s[0]) and np.isnan(s[5])
    assert s[1:5] == pytest.approx([1 / R2, R2, 2 * R2, 3 / R2], rel=1e-12)


def test_sigma_compat_window_three():
    # window 3: t = 2: (1,2,0) mean 1, squares 0+1+1 = 2, /2 → var 1 → σ 1;
    # t = 3: (2,0,4) mean 2, squares 0+4+4 = 8, /2 → 4 → σ 2;
    # t = 4: (0,4,1) mean 5/3, squares 25/9+49/9+4/9 = 78/9, /2 → 13/3 → σ √(13/3).
    s = sigma_series(LP, np.arange(6), 1, 3, "compat")
    assert np.isnan(s[:2]).all() and np.isnan(s[5])
    assert s[2:5] == pytest.approx([1.0, 2.0, math.sqrt(13 / 3)], rel=1e-12)


def test_sigma_fixed_uses_only_returns_that_had_ended():
    # Causal: r_i counts at t when sidx_i + 1 ≤ sidx_t, i.e. i ≤ t − 1; the two newest are
    # r_{t−2}, r_{t−1}: the compat series shifted by one row.
    s = sigma_series(LP, np.arange(6), 1, 2, "fixed")
    assert np.isnan(s[:2]).all()
    assert s[2:] == pytest.approx([1 / R2, R2, 2 * R2, 3 / R2], rel=1e-12)


def test_sigma_fixed_pairs_by_sample_index_across_a_gap():
    # sidx 3 was missed. Returns exist where sidx + 1 exists: r(0→1) = 1, r(1→2) = 2, none from
    # sidx 2, r(4→5) = 4, r(5→6) = 1, none from sidx 6.
    # t = 1 (sidx 1): ended returns start at sidx ≤ 0: only r = 1 → one value, NaN.
    # t = 2 (sidx 2): 1, 2 → 1/√2. t = 3 (sidx 4): starts ≤ 3: still 1, 2 → 1/√2.
    # t = 4 (sidx 5): starts ≤ 4: 1, 2, 4 → newest two 2, 4 → √2. t = 5 (sidx 6): 4, 1 → 3/√2.
    s = sigma_series(LP, np.array([0, 1, 2, 4, 5, 6]), 1, 2, "fixed")
    assert np.isnan(s[:2]).all()
    assert s[2:] == pytest.approx([1 / R2, 1 / R2, R2, 3 / R2], rel=1e-12)
    # compat pairs rows: the row after sidx 2 is sidx 4, so it has r_2 = 0 and no NaN gap.
    assert sigma_series(LP, np.array([0, 1, 2, 4, 5, 6]), 1, 2, "compat")[2] == pytest.approx(R2)


# -- first-hit labels ---------------------------------------------------------------------------


def test_first_hit_labels_on_a_hand_made_path():
    lp = np.array([0.0, 0.4, 1.1, 0.2, -0.9, -0.1, 0.3, 0.0])
    sigma = np.ones(8)
    # ahead 2, σ 1; the path from t is lp[t+1..t+2] − lp[t]:
    # t=0: [0.4, 1.1]   → up at 2                      → 0
    # t=1: [0.7, −0.2]  → neither                      → 2
    # t=2: [−0.9, −2.0] → down at 2                    → 1
    # t=3: [−1.1, −0.3] → down at 1                    → 1
    # t=4: [0.8, 1.2]   → up at 2                      → 0
    # t=5: [0.4, 0.1]   → neither                      → 2
    # t=6, 7: fewer than 2 rows ahead                  → −1
    for mode in ("compat", "fixed"):
        labels = first_hit_labels(lp, np.arange(8), sigma, 2, mode)
        assert labels.tolist() == [0, 2, 1, 1, 0, 2, -1, -1]


def test_the_first_touch_wins_and_a_touch_at_sigma_counts():
    # [0, 1.5, −1.5]: up at 1, down at 2 → 0; mirrored → 1.
    assert first_hit_labels(np.array([0.0, 1.5, -1.5]), np.arange(3), np.ones(3), 2, "compat")[0] == 0
    assert first_hit_labels(np.array([0.0, -1.5, 1.5]), np.arange(3), np.ones(3), 2, "compat")[0] == 1
    # exactly σ (0.5, exact in binary) is a touch: seg ≥ σ
    assert first_hit_labels(np.array([0.0, 0.5, 0.25]), np.arange(3), np.full(3, 0.5), 2, "fixed")[0] == 0
    assert first_hit_labels(np.array([0.0, -0.5, 0.25]), np.arange(3), np.full(3, 0.5), 2, "fixed")[0] == 1


def test_same_index_touches_cannot_happen_and_sigma_must_be_positive():
    # "2 if both at the same index": one value cannot be both ≥ σ and ≤ −σ unless σ ≤ 0, and rows
    # without a finite σ > 0 get no label, so the tie rule never fires. With σ = 0 the flat step
    # below would touch both barriers at index 1; the row is unlabelled instead.
    lp = np.array([0.0, 0.0, 0.0, 1.0])
    labels = first_hit_labels(lp, np.arange(4), np.array([0.0, np.nan, -1.0, 1.0]), 1, "compat")
    assert labels.tolist() == [-1, -1, -1, -1]
    # with σ = 1 the same path: t=0, 1 see [0] → neither (2); t=2 sees [1] → up (0); t=3 has no horizon
    assert first_hit_labels(lp, np.arange(4), np.array([1.0, 1.0, 1.0, 1.0]), 1, "compat").tolist() == [2, 2, 0, -1]


def test_fixed_labels_need_every_sample_of_the_horizon():
    sidx = np.array([0, 1, 2, 3, 5, 6, 7])  # sidx 4 was missed
    lp = np.array([0.0, 0.2, 0.3, 0.1, 1.5, 0.0, 0.0])
    sigma = np.ones(7)
    # ahead 2. compat follows rows: t=0 [0.2, 0.3] → 2; t=1 [−0.1, 0.1] → 2;
    # t=2 [−0.2, 1.2] → up → 0; t=3 [1.4, −0.1] → up → 0; t=4 [−1.5, −1.5] → down → 1.
    assert first_hit_labels(lp, sidx, sigma, 2, "compat").tolist() == [2, 2, 0, 0, 1, -1, -1]
    # fixed: t=2 (sidx 2 → 3, 4) and t=3 (sidx 3 → 4, 5) miss sidx 4: no label; t=4 (sidx 5 → 6, 7)
    # is complete.
    assert first_hit_labels(lp, sidx, sigma, 2, "fixed").tolist() == [2, 2, -1, -1, 1, -1, -1]


# -- features -----------------------------------------------------------------------------------


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_features_clip_renormalise_and_take_logits():
    X = np.array([[
        [0.2, 0.3, 0.5],  # logit 0.2 = ln(1/4), logit 0.3 = ln(3/7)
        [0.2, 0.2, 0.4],  # sum 0.8 → [0.25, 0.25, 0.5] → ln(1/3) twice
        [np.nan] * 3,  # absent → 0
        [-1.0, 2.0, 0.0],  # clip → [ε, 1−ε, ε], /(1+ε) → [≈ε, ≈1−2ε]: logits ≈ ln ε, −ln 2ε
        [0.0, 0.0, 0.0],  # compat: absent → 0; fixed: [1/3]·3 → logit(1/3) = ln(1/2)
    ]], dtype=np.float32)
    for mode in ("compat", "fixed"):
        up, dn, present = hitfirst_features(X, mode)
        assert up[0, 0] == pytest.approx(math.log(0.25), rel=1e-6)
        assert dn[0, 0] == pytest.approx(math.log(3 / 7), rel=1e-6)
        assert up[0, 1] == pytest.approx(math.log(1 / 3), rel=1e-6)
        assert dn[0, 1] == pytest.approx(math.log(1 / 3), rel=1e-6)
        assert up[0, 2] == 0.0 and dn[0, 2] == 0.0 and not present[0, 2]
        # ε/(1+ε) → ln(ε) = −27.631;
        # (1−ε)/(1+ε) = 1 − 2ε + O(ε²) → ln((1 − 2ε)/2ε) ≈ −ln(2ε) = 26.938
        # (1 − p is 2ε only to a double's spacing near 1, 1.1e-16: a relative 5e-5, hence abs 1e-3)
        assert up[0, 3] == pytest.approx(math.log(1e-12), rel=1e-6)
        assert dn[0, 3] == pytest.approx(-math.log(2e-12), abs=1e-3)
        assert present[0, :2].all() and present[0, 3]
    up, dn, present = hitfirst_features(X, "compat")
    assert (up[0, 4], dn[0, 4], present[0, 4]) == (0.0, 0.0, False)
    up, dn, present = hitfirst_features(X, "fixed")
    assert present[0, 4] and up[0, 4] == pytest.approx(math.log(0.5)) and dn[0, 4] == pytest.approx(math.log(0.5))


def test_features_of_infinite_and_huge_values_are_finite():
    X = np.array([[[np.inf, 0, 0], [-np.inf, 1e30, 5], [3e38, 3e38, 3e38]]], dtype=np.float32)
    for mode in ("compat", "fixed"):
        up, dn, _ = hitfirst_features(X, mode)
        assert np.isfinite(up).all() and np.isfinite(dn).all()
        # inf → 1−ε, zeros → ε: p_up = (1−ε)/(1+ε) ≈ 1 − 2ε → logit ≈ −ln(2ε)
        assert up[0, 0] == pytest.approx(-math.log(2e-12), abs=1e-3)  # (1 − p rounds: see above)
        # three equal (clipped) values → 1/3 each → ln(1/2)
        assert up[0, 2] == pytest.approx(math.log(0.5))


def test_features_pick_rows():
    X = np.random.default_rng(0).dirichlet(np.ones(3), size=(6, 2)).astype(np.float32)
    up_all, _, _ = hitfirst_features(X, "fixed")
    up_some, _, _ = hitfirst_features(X, "fixed", rows=np.array([4, 1]))
    assert np.array_equal(up_some, up_all[[4, 1]])


# -- rows, history caps -------------------------------------------------------------------------


def test_training_rows_drop_missing_prices_and_cap_history_by_mode():
    sidx = np.array([0, 1, 2, 3, 100, 101, 102])
    prices = np.array([1.0, np.nan, 2, 0, 3, 4, 5])  # NaN and 0 are missing
    p = HitfirstParams(history_rows=3, history_days=1, rows_per_day=50)
    # priced rows: 0, 2, 4, 5, 6. compat keeps the last 3 of them: rows 4, 5, 6.
    assert training_rows(sidx, prices, "compat", p).tolist() == [4, 5, 6]
    # fixed keeps sidx > 102 − 50 = 52: rows 4, 5, 6 as well; with a 4-row cap compat reaches back
    # over the gap to sidx 2 (row 2) while fixed still keeps the last 50 samples of time (F6).
    p4 = HitfirstParams(history_rows=4, history_days=1, rows_per_day=50)
    assert training_rows(sidx, prices, "compat", p4).tolist() == [2, 4, 5, 6]
    assert training_rows(sidx, prices, "fixed", p4).tolist() == [4, 5, 6]
    # rows come back in sample order whatever the panel order
    assert training_rows(sidx[::-1], prices[::-1], "fixed", p4).tolist() == [2, 1, 0]
    with pytest.raises(ValueError):
        training_rows(np.array([1, 1]), np.ones(2), "fixed")


# -- block schemes ------------------------------------------------------------------------------


def test_block_bounds_truncate_linspace():
    # linspace(0, 10, 5) = [0, 2.5, 5, 7.5, 10] → astype(int) truncates: [0, 2, 5, 7, 10],
    # so the blocks are [0,2), [2,5), [5,7), [7,10).
    assert block_bounds(10, 4).tolist() == [0, 2, 5, 7, 10]
    # linspace(0, 7, 5) = [0, 1.75, 3.5, 5.25, 7] → [0, 1, 3, 5, 7]
    assert block_bounds(7, 4).tolist() == [0, 1, 3, 5, 7]


def _fit_abs(F, y, p):
    return np.abs(hf._model(p).fit(F, y).coef_.ravel())


def test_leave_one_block_out_averages_the_four_replicates():
    rng = np.random.default_rng(1)
    F = rng.normal(size=(10, 2))
    y = np.array([0, 1, 0, 1, 1, 0, 1, 0, 0, 1])
    p = HitfirstParams()
    # blocks [0,2), [2,5), [5,7), [7,10): each replicate fits on the other three
    kept = [list(range(2, 10)), [0, 1, 5, 6, 7, 8, 9], [0, 1, 2, 3, 4, 7, 8, 9], list(range(7))]
    expected = np.mean([_fit_abs(F[k], y[k], p) for k in kept], axis=0)
    assert np.allclose(leave_one_block_out(F, y, p), expected, rtol=0, atol=1e-12)
    assert not np.allclose(expected, _fit_abs(F, y, p))  # the replicates are not the full fit


def test_leave_one_block_out_skips_one_class_replicates_and_falls_back_to_a_full_fit():
    rng = np.random.default_rng(2)
    F = rng.normal(size=(10, 2))
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])  # the only 1s lie in block [0, 2)
    p = HitfirstParams()
    # replicate 0 keeps only 0s and is skipped: the mean is over replicates 1, 2, 3
    kept = [[0, 1, 5, 6, 7, 8, 9], [0, 1, 2, 3, 4, 7, 8, 9], list(range(7))]
    expected = np.mean([_fit_abs(F[k], y[k], p) for k in kept], axis=0)
    assert np.allclose(leave_one_block_out(F, y, p), expected, rtol=0, atol=1e-12)
    # fewer than 2·4 rows, or a single block: one full fit
    assert np.array_equal(leave_one_block_out(F[:7], y[:7], p), _fit_abs(F[:7], y[:7], p))
    single = HitfirstParams(lobo_blocks=1)
    assert np.array_equal(leave_one_block_out(F, y, single), _fit_abs(F, y, single))
    assert leave_one_block_out(F, np.zeros(10, dtype=int), p) is None


def test_anchored_folds_sit_on_the_sample_grid_with_an_embargo():
    # Labelled rows at sidx 0..9 and 12..29 (10 and 11 missed); folds of 8 samples start at 8, 16, 24.
    # ahead 2, training window 12: fold b trains on sidx in [b − 12, b − 2].
    #   b=8:  train sidx 0..6 → rows [0, 7);              judged sidx 8, 9, 12..15 → rows [8, 14)
    #   b=16: train sidx 4..9, 12..14 → rows [4, 13);     judged 16..23 → rows [14, 22)
    #   b=24: train sidx 12..22 → rows [10, 21);          judged 24..29 → rows [22, 28)
    s = np.r_[np.arange(10), np.arange(12, 30)]
    p = HitfirstParams(ahead=2, fold_samples=8, train_samples=12, min_train_rows=3, vol_window=2, rows_per_day=1)
    assert anchored_folds(s, 2, -100, p) == [hf.Fold(8, 0, 7, 8, 14), hf.Fold(16, 4, 13, 14, 22),
                                             hf.Fold(24, 10, 21, 22, 28)]
    # More rows never move a fold: a prefix's folds train on the same rows, and only the open
    # (newest) fold gains judged rows
    short, whole = anchored_folds(s[:20], 2, -100, p), anchored_folds(s, 2, -100, p)
    assert short[0] == whole[0] and short[1] == replace(whole[1], hi=20)
    # Once the F6 history starts at sidx 5, a fold's training window must begin vol_window + ahead
    # + rows_per_day = 5 samples after it (b − 12 ≥ 10): only b=24 is left, and it is unchanged.
    # (One fold, but half the length, 4 samples, is below 4·ahead: no fallback.)
    assert anchored_folds(s, 2, 5, p) == [hf.Fold(24, 10, 21, 22, 28)]


def test_anchored_folds_fall_back_to_shorter_folds_on_a_short_panel():
    # sidx 0..13, ahead 1. Folds of 8: only b=8 (train sidx 0..7, judged 8..13): one fold, so
    # half the length (4 ≥ 4·ahead) is tried: b=4 (train 0..3), 8 (train 0..7), 12 (train 0..11).
    s = np.arange(14)
    p = HitfirstParams(ahead=1, fold_samples=8, train_samples=12, min_train_rows=3, vol_window=2, rows_per_day=1)
    assert anchored_folds(s, 1, -100, p) == [hf.Fold(4, 0, 4, 4, 8), hf.Fold(8, 0, 8, 8, 12),
                                             hf.Fold(12, 0, 12, 12, 14)]
    # too few training rows anywhere: no fold at all
    assert anchored_folds(s[:4], 1, -100, p) == []


def test_standardisation_takes_the_present_mean_and_the_std_over_all_rows():
    # H1. Column 0: present values 1, 2, 3 and one absent row: mean 2; std over all 4 training rows
    # with the absent one at the mean: √((1 + 0 + 1 + 0)/4) = 1/√2. Column 1: a constant 0.1 on 3
    # rows, whose float mean is 0.10000000000000002, not 0.1: still scale 0 (a zero column), not a
    # std of 1e-17. Column 2: one present row only (scale 0).
    F = np.array([[1.0, 0.1, 5.0], [2.0, 0.1, 0.0], [3.0, 0.1, 0.0], [0.0, 0.0, 0.0], [9.0, 0.1, 0.0]])
    present = np.array([[1, 1, 1], [1, 1, 0], [1, 1, 0], [0, 0, 0], [1, 1, 1]], dtype=bool)
    mean, scale = hf._standardise(F, present, np.arange(4))
    assert mean[0] == 2.0 and scale[0] == pytest.approx(1 / R2, rel=1e-12)
    assert scale[1] == 0.0 and scale[2] == 0.0
    # row 4 (not trained on): (9 − 2)·√2; absent cells and zero columns are 0
    Z = hf._design(F, present, np.array([3, 4]), mean, scale)
    assert Z.tolist() == [[0.0, 0.0, 0.0], [pytest.approx(7 * R2), 0.0, 0.0]]


def test_evidence_share():
    # τ = evidence/√variance: 2 → √(1 − 1/4) = √0.75; 1 → 0 (no more than noise); −3 → 0 (wrong
    # way); variance 0 → no evidence → 0; 8/√4 = 4 → √(15/16).
    share = evidence_share(np.array([2.0, 1, -3, 5, 8]), np.array([1.0, 1, 1, 0, 4]))
    assert share == pytest.approx([math.sqrt(0.75), 0, 0, 0, math.sqrt(15 / 16)], rel=1e-12)


# -- the whole scorer ---------------------------------------------------------------------------

# Scaled to 3000-row panels: the significance null from shifts of 40 horizons and folds judged by fits
# on 200 rows or more (the defaults: a day of samples each)
SMALL = HitfirstParams(ahead=5, min_rows=200, vol_window=100, min_labelled=200, history_rows=100_000, sig_min_shift=200,
                       min_train_rows=200)


def synthetic(T: int = 3000, H: int = 5, seed: int = 0, skill: float = 1.2, ahead: int = 5, informative: int = 1):
    """A random-walk price; miner 0 (hotkey "m0") states the first hit (barrier at the endpoint
    return's std) through a softmax of skill·one-hot + noise; the others state Dirichlet noise, but
    for miners 1 … informative − 1, informative like miner 0 with noise of their own."""
    rng = np.random.default_rng(seed)
    lp = np.log(100) + np.cumsum(rng.normal(0, 1e-3, T + ahead))
    sigma = 1e-3 * math.sqrt(ahead)
    label = np.full(T, 2)
    for t in range(T):  # written out here, independently of the module
        seg = lp[t + 1 : t + 1 + ahead] - lp[t]
        up = np.flatnonzero(seg >= sigma)
        dn = np.flatnonzero(seg <= -sigma)
        i_up, i_dn = (up[0] if len(up) else ahead), (dn[0] if len(dn) else ahead)
        label[t] = 0 if i_up < i_dn else 1 if i_dn < i_up else 2
    X = rng.dirichlet(np.ones(3), size=(T, H))
    view = skill * np.eye(3)[label] + rng.normal(size=(T, 3))
    X[:, 0] = np.exp(view) / np.exp(view).sum(axis=1, keepdims=True)
    for j in range(1, informative):
        view = skill * np.eye(3)[label] + rng.normal(size=(T, 3))
        X[:, j] = np.exp(view) / np.exp(view).sum(axis=1, keepdims=True)
    X = X.astype(np.float16).astype(np.float32)
    return X, np.arange(T, dtype=np.int64) + 1000, np.exp(lp[:T]), [f"m{j}" for j in range(H)]


@pytest.mark.parametrize("mode", ["compat", "fixed"])
def test_an_informative_miner_gets_the_largest_salience(mode):
    X, sidx, prices, hotkeys = synthetic()
    s = hitfirst_salience(X, sidx, prices, hotkeys, mode, SMALL)
    assert set(s) == set(hotkeys) and sum(s.values()) == pytest.approx(1.0)
    assert max(s, key=s.get) == "m0"
    assert s["m0"] > 0.5


def test_salience_is_normalised_over_every_miner_with_zeros_kept():
    X, sidx, prices, hotkeys = synthetic(H=4)
    X[:, 2] = np.nan  # a silent miner
    X[:, 3] = np.float32([0.2, 0.3, 0.5])  # a constant miner
    fixed = hitfirst_salience(X, sidx, prices, hotkeys, "fixed", SMALL)
    assert list(fixed) == hotkeys and sum(fixed.values()) == pytest.approx(1.0, abs=1e-12)
    assert fixed["m2"] == 0.0 and fixed["m3"] == 0.0  # H1: a constant column is exactly 0
    compat = hitfirst_salience(X, sidx, prices, hotkeys, "compat", SMALL)
    assert list(compat) == hotkeys and compat["m2"] == 0.0 and sum(compat.values()) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("mode", ["compat", "fixed"])
def test_deterministic_and_independent_of_column_order(mode):
    X, sidx, prices, hotkeys = synthetic(H=6, seed=3, skill=0.8)
    first = hitfirst_salience(X, sidx, prices, hotkeys, mode, SMALL)
    assert first and first == hitfirst_salience(X, sidx, prices, hotkeys, mode, SMALL)
    perm = np.array([4, 1, 5, 0, 3, 2])
    shuffled = hitfirst_salience(X[:, perm], sidx, prices, [hotkeys[i] for i in perm], mode, SMALL)
    assert shuffled == first


def test_rows_out_of_order_give_the_same_result():
    X, sidx, prices, hotkeys = synthetic(H=3, seed=4)
    order = np.random.default_rng(0).permutation(len(sidx))
    first = hitfirst_salience(X, sidx, prices, hotkeys, "fixed", SMALL)
    assert first == hitfirst_salience(X[order], sidx[order], prices[order], hotkeys, "fixed", SMALL)


@pytest.mark.parametrize("mode", ["compat", "fixed"])
def test_garbage_never_raises(mode):
    X, sidx, prices, hotkeys = synthetic(H=5, seed=5)
    X[::7, 1] = np.inf
    X[::11, 2] = -1e30
    X[::13, 3] = np.nan
    X[:, 4] = np.nan  # a miner that never submitted
    prices = prices.copy()
    prices[::17] = np.nan
    prices[::19] = 0.0
    prices[::23] = -5.0
    prices[::29] = np.inf
    s = hitfirst_salience(X, sidx, prices, hotkeys, mode, SMALL)
    assert set(s) == set(hotkeys) and sum(s.values()) == pytest.approx(1.0)
    assert all(np.isfinite(v) and v >= 0 for v in s.values()) and s["m4"] == 0.0
    assert max(s, key=s.get) == "m0"


@pytest.mark.parametrize("mode", ["compat", "fixed"])
def test_a_single_miner_and_too_little_data(mode):
    X, sidx, prices, hotkeys = synthetic(H=1, seed=6)
    assert hitfirst_salience(X, sidx, prices, hotkeys, mode, SMALL) == {"m0": 1.0}
    # too few rows at all; too few labelled rows; no usable price; nobody submitted
    assert hitfirst_salience(X[:150], sidx[:150], prices[:150], hotkeys, mode, SMALL) == {}
    assert hitfirst_salience(X[:250], sidx[:250], prices[:250], hotkeys, mode, SMALL) == {}
    assert hitfirst_salience(X, sidx, np.full(len(sidx), np.nan), hotkeys, mode, SMALL) == {}
    assert hitfirst_salience(np.full_like(X, np.nan), sidx, prices, hotkeys, mode, SMALL) == {}
    assert hitfirst_salience(X[:, :0], sidx, prices, [], mode, SMALL) == {}
    flat = np.full(len(sidx), 100.0)  # σ = 0 everywhere: nothing can be labelled
    assert hitfirst_salience(X, sidx, flat, hotkeys, mode, SMALL) == {}


def test_bad_shapes_raise():
    X, sidx, prices, hotkeys = synthetic(T=300, H=2)
    with pytest.raises(ValueError):
        hitfirst_salience(X[:, :, :2], sidx, prices, hotkeys)
    with pytest.raises(ValueError):
        hitfirst_salience(X, sidx[:-1], prices, hotkeys)
    with pytest.raises(ValueError):
        hitfirst_salience(X, sidx, prices[:-1], hotkeys)
    with pytest.raises(ValueError):
        hitfirst_salience(X, sidx, prices, hotkeys[:1])
    with pytest.raises(ValueError):
        hitfirst_salience(X, sidx, prices, ["a", "a"])
    with pytest.raises(ValueError):
        hitfirst_salience(X, sidx, prices, hotkeys, mode="other")
    with pytest.raises(ValueError):
        hitfirst_salience(X, sidx.astype(float), prices, hotkeys)


def test_fixed_counts_a_genuine_all_zero_vector():
    # Miner m1 is informative but states "no idea" as an all-zero vector on a third of the rows.
    X, sidx, prices, hotkeys = synthetic(H=3, seed=7)
    X[::3, 0] = 0.0
    _, _, compat_present = hitfirst_features(X, "compat")
    _, _, fixed_present = hitfirst_features(X, "fixed")
    assert not compat_present[::3, 0].any() and fixed_present[::3, 0].all()
    for mode in ("compat", "fixed"):
        s = hitfirst_salience(X, sidx, prices, hotkeys, mode, SMALL)
        assert max(s, key=s.get) == "m0"


def test_clones_collapse_onto_one_hotkey_or_share_one_score():
    X, sidx, prices, hotkeys = synthetic(H=4, seed=8)
    alone = hitfirst_salience(X[:, :3], sidx, prices, hotkeys[:3], "fixed", SMALL)
    X[:, 3] = X[:, 0]  # m3 copies m0 exactly
    s = hitfirst_salience(X, sidx, prices, hotkeys, "compat", SMALL)
    assert s["m3"] == 0.0 and s["m0"] > 0.5  # §12.1: the smallest hotkey holds the group's total
    s = hitfirst_salience(X, sidx, prices, hotkeys, "fixed", SMALL)
    # H3: the group is scored once, as m0 alone, and its score is shared
    assert s["m3"] == s["m0"] == pytest.approx(alone["m0"] / 2)
    assert {h: s[h] for h in ("m1", "m2")} == pytest.approx({h: alone[h] for h in ("m1", "m2")})


def test_near_copies_and_split_models_gain_nothing():
    """H3: 20 near-copies (noise above the exact-clone tolerance, |corr| ≥ 0.92) are one group; a
    miner that submits on a quarter of the rows is paid about a quarter as much (√f on the |coef|
    of a standardised column that holds √f of a full miner's information)."""
    X, sidx, prices, hotkeys = synthetic(H=4, seed=8)
    alone = hitfirst_salience(X, sidx, prices, hotkeys, "fixed", SMALL)
    rng = np.random.default_rng(0)
    copies = X[:, :1] + rng.normal(0, 2e-3, size=(len(X), 20, 3)).astype(np.float32)
    names = [f"n{i:02d}" for i in range(20)]
    s = hitfirst_salience(np.concatenate([X, np.clip(copies, 0, 1)], axis=1), sidx, prices, hotkeys + names,
                          "fixed", SMALL)
    group = s["m0"] + sum(s[n] for n in names)
    assert group <= 1.1 * alone["m0"]
    # m0 and m1 state the same skill; m0 submits on about a quarter of the rows (H4 pays no noise
    # miner here, so m0 is measured against m1)
    X, sidx, prices, hotkeys = synthetic(H=4, seed=8, informative=2)
    full = hitfirst_salience(X, sidx, prices, hotkeys, "fixed", SMALL)
    sparse = X.copy()
    sparse[rng.random(len(X)) < 0.75, 0] = np.nan
    s = hitfirst_salience(sparse, sidx, prices, hotkeys, "fixed", SMALL)
    assert s["m0"] / s["m1"] <= 0.5 * full["m0"] / full["m1"]


@pytest.mark.slow
def test_planted_roles_on_generated_panels():
    """57 miners, 14 days, seeds 0–2, copies readable a horizon late (the fixed-mode lock rule):
    both modes rank the honest informative miners by skill (Spearman ≥ 0.9); fixed mode pays the
    worthless roles (noise, constant, copycat, persistent, stale) at most 2 % and the clone group (with its source) at
    most 1.1 × its independent twin of equal skill."""
    from scipy.stats import spearmanr

    from devnet.mantis.quality import WORTHLESS
    from devnet.mantis.signals import SignalSpec, generate

    for seed in (0, 1, 2):
        panel = generate(SignalSpec(seed=seed, kind="hitfirst", dim=3, horizon=100, copy_lag=100))
        roles = np.array(panel.roles)
        source = panel.hotkeys.index(panel.sources[panel.roles.index("clone")])
        honest = (roles == "informative") & (np.arange(len(roles)) != source)
        for mode in ("compat", "fixed"):
            s = hitfirst_salience(panel.embeddings, panel.sidx(), panel.price, panel.hotkeys, mode)
            sal = np.array([s[h] for h in panel.hotkeys])
            assert spearmanr(panel.skill[honest], sal[honest]).statistic >= 0.9, (seed, mode)
            if mode == "fixed":
                assert sal[np.isin(roles, WORTHLESS)].sum() <= 0.02, seed
                group = sal[roles == "clone"].sum() + sal[source]
                assert group <= 1.1 * sal[roles == "twin"].sum(), seed


def test_salience_values_are_python_floats():
    """What the platform stores as JSON and sums: plain floats, whether or not copy groups were shared."""
    X, sidx, prices, hotkeys = synthetic(H=4, seed=8)
    X[:, 3] = X[:, 0]
    for mode in ("compat", "fixed"):
        s = hitfirst_salience(X, sidx, prices, hotkeys, mode, SMALL)
        assert s and all(type(v) is float for v in s.values())
