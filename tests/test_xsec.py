"""XSEC-RANK and FUNDING-XSEC (mechanisms/mantis/xsec.py): golden numbers worked from mantis.md
§11.5 and §11.6, the exact fits against scikit-learn, and the fixed mode's defences."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mechanisms.mantis import xsec
from mechanisms.mantis.universe import BREAKOUT_ASSETS
from mechanisms.mantis.xsec import FundingParams, XsecParams
from protocol.validation import ChallengeFormat, challenge_values

SMALL = dict(chunk=2000, min_shift=300, gate_min_rows=300, clone_rows=1500)  # windows a test panel holds


# -- labels and pairing -------------------------------------------------------------------------


def test_cross_sectional_median_labels():
    p0 = [100.0, 100.0, 100.0, 100.0]
    prices = np.array([p0, [110.0, 90.0, 100.0, 105.0], p0, [110.0, 90.0, 100.0, np.nan], p0, [5.0] + [np.nan] * 3])
    sidx = np.array([0, 1, 10, 11, 20, 21])
    rows, y = xsec._labels_xsec(prices, sidx, 1, "fixed")  # partners one sample on
    assert rows.tolist() == [0, 2, 4]
    # returns .1, −.1, 0, .05: median .025, strictly above it
    assert y[0].tolist() == [1.0, 0.0, 0.0, 1.0]
    # a missing price has no label and leaves the median of the other three (0)
    assert y[1][:3].tolist() == [1.0, 0.0, 0.0] and math.isnan(y[1][3])
    # a lone asset is never above its own median
    assert y[2][0] == 0.0 and np.isnan(y[2][1:]).all()
    # compat pairs by row offset: row 1 pairs with row 2 across the gap of 9 samples
    rows_c, y_c = xsec._labels_xsec(prices, sidx, 1, "compat")
    assert rows_c.tolist() == [0, 1, 2, 3, 4]
    assert y_c[1].tolist() == [0.0, 1.0, 1.0, 0.0]  # returns −.091, .111, 0, −.048: median −.024


def test_funding_pairing_by_sample_index_with_tolerance():
    sidx = np.array([0, 100, 470, 485, 560, 1000])
    # row 0: target 480, 470 is 10 off and 485 5 off; row 1: 580, 560 is 20 off (1000 too far);
    # rows 2–4: 1000 within 72 of 950, 965, 1040; the last row has nothing after it
    assert xsec.funding_pairs(sidx, 480, 72).tolist() == [3, 4, 5, 5, 5, -1]
    assert xsec.funding_pairs(np.array([0, 470, 490]), 480, 72).tolist()[0] == 1  # tie: earlier
    assert xsec.funding_pairs(np.array([0, 475, 490]), 480, 72).tolist()[0] == 1  # 5 < 10
    assert xsec.funding_pairs(np.array([0, 552]), 480, 72).tolist() == [1, -1]  # 72 off: inclusive
    assert xsec.funding_pairs(np.array([0, 553]), 480, 72).tolist() == [-1, -1]  # 73 off: none
    assert xsec.funding_pairs(np.array([0, 1]), 0, 72).tolist() == [-1, -1]  # never the row itself or one before


def test_stale_filter_counts_absent_rows_as_zero():
    T = 1000
    X = np.full((T, 3, 2), np.nan, dtype=np.float16)
    X[:, 0, 0] = 0.3  # constant: std 0 < 1e-4
    X[:, 0, 1] = np.where(np.arange(T) % 2, 0.3, 0.2)  # varies
    X[: T // 2, 1, :] = 0.3  # constant while present, absent (0) after: std 0.15
    rows = np.arange(T)
    zeroed = xsec.stale_columns(X, rows, 1e-4)
    assert zeroed.tolist() == [[True, False], [False, False], [True, True]]


# -- segments, embargo, recency -----------------------------------------------------------------


def test_segments_and_embargo():
    assert xsec.segments_of(20_000, 60, 8000) == [(0, 60, 8000), (8000, 8060, 16000), (16000, 16060, 20000)]
    assert xsec.segments_of(16_050, 60, 8000) == [(0, 60, 8000), (8000, 8060, 16000)]  # 16000 + 60 ≥ T_u
    seg = (16_000, 16_060, 20_000)
    # compat XSEC: selection judged up to the validation start, fitted before eval start − 60,
    # meta-model trained up to the validation start (embargo 60 rows against a 240-row label: F2)
    assert xsec.windows(seg, xsec.plan_for(XsecParams(), "compat", False), 8000) == (8000, 8060, 16060, 16060)
    fixed = xsec.plan_for(XsecParams(), "fixed", False)
    assert fixed.offset == 240
    seg = (16_000, 16_240, 20_000)
    assert xsec.windows(seg, fixed, 8000) == (7760, 8000, 16000, 16000)  # every fit ends a horizon early
    funding = xsec.plan_for(FundingParams(), "compat", True)
    seg = (16_000, 16_480, 20_000)
    assert xsec.windows(seg, funding, 8000) == (7520, 8000, 16000, 16000)
    # sub-segments: compat fits up to the OOS start (F3); fixed a horizon before it
    assert funding.sub_offset == 480 and funding.sub_fit_back == 0
    assert xsec.plan_for(FundingParams(), "fixed", True).sub_fit_back == 480


def test_recency_gamma():
    gamma = 0.5 ** (1 / 3)
    assert gamma == pytest.approx(0.793700526)
    assert [xsec.recency_weight(4, i, 3) for i in range(4)] == pytest.approx([gamma**3, gamma**2, gamma, 1.0])
    assert xsec.recency_weight(7, 3, 3) == pytest.approx(0.5)  # three segments back: half


# -- fits -----------------------------------------------------------------------------------------


def _counts(x16: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.bincount(xsec._keys(x16).astype(np.int64) + (1 << 16) * (y > 0.5), minlength=1 << 17)


def test_one_dimensional_fits_on_counts():
    rng = np.random.default_rng(3)
    x = (0.35 * rng.normal(size=20_000)).astype(np.float16)
    x[x == 0] = np.float16(0.01)
    y = (0.3 * x + rng.normal(size=len(x)) > 0).astype(np.float64)
    counts = _counts(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = LogisticRegression(C=0.5, solver="lbfgs", max_iter=200, random_state=42).fit(x.astype(np.float32)[:, None], y)
        tight = LogisticRegression(C=0.5, solver="lbfgs", max_iter=1000, tol=1e-12).fit(x.astype(np.float64)[:, None], y)
    a, b = xsec.sklearn_1d(counts, 0.5)  # the reference's fit, on each value once with its count
    assert (a, b) == pytest.approx((full.intercept_[0], full.coef_[0, 0]), rel=1e-5)  # float32 sums differ
    a, b = xsec.fit_1d(counts, 0.5)  # the exact optimum
    assert (a, b) == pytest.approx((tight.intercept_[0], tight.coef_[0, 0]), rel=1e-6)
    # the AUC of the decision values is the values' own AUC, reversed by a negative slope
    auc = xsec.roc_auc(y, x.astype(np.float64))
    assert xsec.auc_of_counts(counts) == pytest.approx(auc, abs=1e-12)
    assert xsec._oriented_auc(counts, -1.0) == pytest.approx(1 - auc, abs=1e-12)
    assert xsec._oriented_auc(counts, 0.0) == 0.5


def test_bootstrap_meta_signed_mean_and_median_of_means():
    rng = np.random.default_rng(5)
    n, K = 2400, 3
    X = rng.normal(size=(n, K)).astype(np.float32).astype(np.float64)
    y = (X[:, 0] - 0.5 * X[:, 1] + rng.normal(size=n) > 0).astype(np.float64)
    seed, reps, block = 100, 10, 120
    signed, intercept, agg = xsec.bootstrap_meta(X, y, seed=seed, replicates=reps, block=block, C=0.5, fixed=False)
    coefs, icpts = [], []
    for b in range(reps):  # the reference's way: copies of the drawn blocks
        starts = np.sort(np.random.default_rng(seed + b).integers(0, n - block + 1, size=n // block))
        idx = np.concatenate([np.arange(s, s + block) for s in starts])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = LogisticRegression(C=0.5, class_weight="balanced", solver="lbfgs", max_iter=100,
                                     random_state=seed + b).fit(X[idx].astype(np.float32), y[idx])
        coefs.append(clf.coef_.ravel())
        icpts.append(clf.intercept_[0])
    coefs = np.array(coefs)
    assert signed == pytest.approx(coefs.mean(axis=0), rel=1e-5, abs=1e-7)  # signed: the sign survives
    assert signed[1] < 0
    assert intercept == pytest.approx(np.mean(icpts), abs=1e-6)
    # compat's median of means drops the remainder (F10): 10 replicates, groups of 2, 8 used
    groups = [np.abs(coefs[g * 2:(g + 1) * 2]).mean(axis=0) for g in range(4)]
    assert agg == pytest.approx(np.median(groups, axis=0), rel=1e-5)
    # validation scores with the signed mean: sigmoid(X·β̄ + b̄)
    proba = 1 / (1 + np.exp(-(X @ signed + intercept)))
    assert xsec.roc_auc(y, proba) > 0.7


# -- whole panels ---------------------------------------------------------------------------------


def _panel(seed: int, T: int, H: int, A: int, rho: dict[int, float], copies: dict[int, int] = {}) -> tuple:
    """Prices of A assets and miners whose scores are a ρ-view of the standardised relative 240-row return."""
    rng = np.random.default_rng(seed)
    lr = np.cumsum(rng.normal(0, 8e-4, (T + 240, A)), axis=0)
    z = lr[240:] - lr[:-240]
    z -= z.mean(axis=1, keepdims=True)
    z /= z.std()
    X = np.zeros((T, H, A), np.float32)
    for j in range(H):
        r = rho.get(j, 0.0)
        X[:, j] = np.clip(0.35 * (r * z + math.sqrt(1 - r * r) * rng.normal(size=(T, A))), -1, 1)
    for j, src in copies.items():
        X[:, j] = X[:, src]
    X = X.astype(np.float16).astype(np.float32)
    X[X == 0] = 1e-3
    return X, np.arange(T) + 10_000, np.exp(lr[:T]), [f"hk{j:02d}" for j in range(H)]


def test_malformed_objects_change_no_one_else():
    """Hostile miners whose every object value is malformed store all-zero vectors: the honest
    miners' salience equals a run where they submitted nothing, in both modes."""
    A = 33
    fmt = ChallengeFormat("XSEC-RANK", "MULTIXSEC", A, "object", BREAKOUT_ASSETS)
    garbage = {"BTC": "1", "ETH": True, "XRP": [float("nan")], "SOL": 2.5, "TRX": [[0.1]], "NOPE": 0.3, "DOGE": None}
    vectors, problems = challenge_values({"MULTIXSEC": garbage}, [fmt])
    assert not problems and vectors["XSEC-RANK"] == [0.0] * A
    X, sidx, prices, hks = _panel(1, 7000, 8, A, {0: 0.3, 1: 0.2, 2: 0.1})
    hostile = np.broadcast_to(np.array(vectors["XSEC-RANK"], np.float32), (len(X), 3, A))
    with_hostile = np.concatenate([X, hostile], axis=1)
    names = hks + ["zz-hostile-0", "zz-hostile-1", "aa-hostile-2"]
    params = XsecParams(**SMALL)
    alone = xsec.xsec_salience(X, sidx, prices, hks, "fixed", params)
    assert alone and xsec.xsec_salience(with_hostile, sidx, prices, names, "fixed", params) == alone
    # compat picks the 20 best AUCs whatever they are, so with fewer than 20 honest miners the
    # empty columns fill the places (as the reference does): the meta-model's solver then walks a
    # path with more columns, to the same optimum within its tolerance
    alone = xsec.xsec_salience(X, sidx, prices, hks, "compat", params)
    both = xsec.xsec_salience(with_hostile, sidx, prices, names, "compat", params)
    assert alone and set(both) == set(alone)
    assert [both[h] for h in alone] == pytest.approx(list(alone.values()), rel=1e-5)


@pytest.mark.slow
def test_identical_miners_split_one_place():
    """Five identical XSEC miners: the reference gives them five of the twenty places; fixed mode scores
    the copies once, so together they earn about what a twin of the same skill earns."""
    H, A = 30, 33
    rho = {j: 0.25 for j in range(6)} | {j: 0.08 + 0.01 * j for j in range(6, 22)}
    X, sidx, prices, hks = _panel(2, 7000, H, A, rho, copies={22: 0, 23: 0, 24: 0, 25: 0})
    params = XsecParams(**SMALL)
    compat = xsec.xsec_salience(X, sidx, prices, hks, "compat", params)
    copies = [hks[j] for j in (0, 22, 23, 24, 25)]
    assert sum(h in compat for h in copies) == 5  # all five selected and paid
    fixed = xsec.xsec_salience(X, sidx, prices, hks, "fixed", params)
    group = sum(fixed.get(h, 0.0) for h in copies)
    twins = [fixed.get(hks[j], 0.0) for j in range(1, 6)]
    assert group <= 1.1 * max(twins)
    assert group >= 0.5 * min(twins)  # the group is still paid
    assert all(fixed.get(hks[j], 0.0) == 0 for j in range(26, 30))  # noise: nothing


def test_fixed_pays_no_persistent_noise():
    """AR(1) scores (φ = 0.97 per sample) and values held for hours earn nothing in fixed mode."""
    H, A = 10, 20
    rng = np.random.default_rng(9)
    T = 8000
    k = T // 480 + 2
    rates = np.cumsum(rng.normal(0, 5e-5, (k, A)), axis=0) + 1e-4
    price = np.repeat(rates, 480, axis=0)[:T]
    z = np.repeat(np.diff(rates, axis=0), 480, axis=0)[:T]
    z = (z - z.mean(axis=1, keepdims=True)) / z.std()
    X = np.zeros((T, H, A), np.float32)
    for j in range(3):
        X[:, j] = 0.35 * (0.3 * z + math.sqrt(1 - 0.09) * rng.normal(size=(T, A)))
    for j in range(3, 7):
        e = rng.normal(size=(T, A)) * math.sqrt(1 - 0.97**2)
        v = np.zeros((T, A))
        v[0] = rng.normal(size=A)
        for t in range(1, T):
            v[t] = 0.97 * v[t - 1] + e[t]
        X[:, j] = 0.35 * v
    for j in range(7, 10):  # held 4 hours at a time
        X[:, j] = np.repeat(rng.uniform(-1, 1, (T // 240 + 1, A)), 240, axis=0)[:T]
    X = np.clip(X, -1, 1).astype(np.float16).astype(np.float32)
    hks = [f"hk{j:02d}" for j in range(H)]
    out = xsec.funding_salience(X, np.arange(T), price, hks, "fixed", FundingParams(**SMALL))
    assert set(out) <= {"hk00", "hk01", "hk02"} and out
