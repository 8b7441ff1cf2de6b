"""MULTI-BREAKOUT (mechanisms/mantis/breakout.py): events worked by hand from mantis.md §11.4 on every
branch of the trigger and resolution rules, the vectorised replay against a row-by-row state
machine, the reference's gate, weights and fit (compat), and fixed mode's gate, copies and pay on
planted panels; hostile values never raise."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
from scipy.special import ndtr, ndtri
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from mechanisms.mantis import breakout
from mechanisms.mantis.breakout import BreakoutParams, breakout_events, breakout_salience

TINY = BreakoutParams(range_lookback=4)  # a window of 4 samples: 2 valid prices make a range
SMALL = BreakoutParams(range_lookback=240, max_pending=480, episode_gap=120, cluster=120, min_std=0.03)
WORTHLESS = ("noise", "constant", "copycat", "persistent", "stale")


def events_of(prices, sidx=None, params=TINY) -> list[tuple[int, ...]]:
    """(asset, trigger row, trigger sidx, resolution sidx, direction, label) of each event."""
    p = np.asarray(prices, dtype=np.float64)
    p = p[:, None] if p.ndim == 1 else p
    s = np.arange(len(p)) if sidx is None else np.asarray(sidx)
    ev = breakout_events(p, s, params)
    return list(zip(*(getattr(ev, f).tolist() for f in breakout._FIELDS)))


# -- triggers and resolutions, by hand (L = 4: a row's window is samples [s − 4, s), ≥ 2 prices) ----

# rows 0–3 make the range [100, 104] (width 4); row 4 breaks out: barriers at ±1 (25 % of 4)
BASE = [100.0, 104.0, 102.0, 101.0]


def test_high_breakout_continues():
    # 110 > 104: cont 111, rev 109; 111 ≥ 111 at sample 5 (the current row is never in its own
    # window, or no price could exceed the range)
    assert events_of(BASE + [110.0, 111.0]) == [(0, 4, 4, 5, 1, 1)]


def test_high_breakout_reverses():
    assert events_of(BASE + [110.0, 109.0]) == [(0, 4, 4, 5, 1, 0)]


def test_low_breakout_continues():
    # 95 < 100: cont 94, rev 96
    assert events_of(BASE + [95.0, 94.0]) == [(0, 4, 4, 5, -1, 1)]


def test_low_breakout_reverses():
    assert events_of(BASE + [95.0, 96.0]) == [(0, 4, 4, 5, -1, 0)]


def test_a_pending_event_blocks_a_second_one_in_its_direction():
    # 110.5 is above sample 5's range [101, 110] but the high slot is taken; 108.9 ≤ 109 reverses it
    assert events_of(BASE + [110.0, 110.5, 108.9]) == [(0, 4, 4, 6, 1, 0)]


def test_expiry_drops_silently_and_frees_the_slot():
    params = BreakoutParams(range_lookback=4, max_pending=3)
    # the high of sample 4 (cont 111) is 4 samples old at sample 8: dropped there, though 111.5 ≥ 111;
    # the same row then triggers a new high over [109.5, 110.8] (cont 111.825), which 112 continues
    prices = BASE + [110.0, 109.5, 110.2, 110.8, 111.5, 112.0]
    assert events_of(prices, params=params) == [(0, 8, 8, 9, 1, 1)]
    # at exactly max_pending samples old it still resolves
    assert events_of(BASE + [110.0, 109.5, 110.2, 111.0], params=params) == [(0, 4, 4, 7, 1, 1)]
    # with a longer life the first event resolves at sample 8
    assert events_of(prices, params=BreakoutParams(range_lookback=4, max_pending=4))[0] == (0, 4, 4, 8, 1, 1)


def test_expiry_waits_for_the_next_price():
    params = BreakoutParams(range_lookback=4, max_pending=3)
    # no price at samples 7–9: the event of sample 4 is dropped at sample 10 (age 6), not resolved by it
    prices = BASE + [110.0, 109.5, 110.2, np.nan, np.nan, np.nan, 111.5]
    assert events_of(prices, params=params) == []
    assert events_of(prices, params=BreakoutParams(range_lookback=4, max_pending=6)) == [(0, 4, 4, 10, 1, 1)]


def test_min_range():
    # a range of 0.4 is below 1 % of 101: no trigger, so 103 resolves nothing
    assert events_of([100.0, 100.4, 100.2, 100.3, 101.0, 103.0]) == []
    # a width of exactly 1 % of the price triggers (the rule refuses only width < 1 %): 99.5 − 98.5 = 1 = 100·0.01
    assert events_of([98.5, 99.5, 99.0, 99.0, 100.0, 101.0]) == [(0, 4, 4, 5, 1, 1)]
    assert events_of([98.5, 99.49, 99.0, 99.0, 100.0, 101.0]) == []  # 0.99 < 1


def test_half_the_window_must_hold_valid_prices():
    # NaN, 0 and negative prices are no prices: one valid price in the window (L/2 = 2 needed)
    assert events_of([100.0, np.nan, 0.0, -1.0, 110.0, 111.0]) == []
    assert events_of([100.0, np.nan, 104.0, -1.0, 110.0, 111.0]) == [(0, 4, 4, 5, 1, 1)]


def test_window_is_by_sample_index():
    # sample 6's window is samples [2, 6): {102, 101}, width 1 < 1.1: no trigger
    assert events_of(BASE + [110.0, 111.0], sidx=[0, 1, 2, 3, 6, 7]) == []
    # sample 5's window is samples [1, 5): {104, 102, 101}, width 3: bd 0.75, cont 110.75
    assert events_of(BASE + [110.0, 111.0], sidx=[0, 1, 2, 3, 5, 6]) == [(0, 4, 5, 6, 1, 1)]
    # the window's lower bound is inclusive: sample 0's 105 keeps 104 in range at sample 4; sample 5
    # breaks [100, 104] instead (cont 105.5)
    assert events_of([105.0, 100.0, 101.0, 102.0, 104.0, 104.5, 105.5]) == [(0, 5, 5, 6, 1, 1)]


def test_resolve_before_trigger_on_the_same_row():
    # 111 continues the high of sample 4 and, its slot free, opens one over [101, 110] (bd 2.25: cont
    # 113.25); 112.5 leaves it pending (above the range, but the slot is taken), 113.3 continues it
    assert events_of(BASE + [110.0, 111.0, 112.5, 113.3]) == [(0, 4, 4, 5, 1, 1), (0, 5, 5, 7, 1, 1)]


def test_high_and_low_slots_are_independent():
    params = BreakoutParams(range_lookback=4, barrier_pct=50.0)
    # the high of sample 4 (cont 112, rev 108) is pending when 109 falls below [109.5, 111.5]: a low
    # opens (cont 108, rev 110) and 108 resolves both on one row, the high reversed, the low continued
    prices = BASE + [110.0, 109.5, 111.5, 110.0, 111.0, 109.0, 108.0]
    assert events_of(prices, params=params) == [(0, 4, 4, 10, 1, 0), (0, 9, 9, 10, -1, 1)]


def test_events_sorted_by_trigger_then_asset():
    a = BASE + [110.0, 111.0, 112.5, 113.3]
    b = [100.0, 104.0, 102.0, 101.0, 101.5, 110.0, 111.5, 111.5]
    got = events_of(np.array([b, a]).T)
    assert [(e[1], e[0]) for e in got] == sorted((e[1], e[0]) for e in got)
    assert (1, 4, 4, 5, 1, 1) in got and (0, 5, 5, 6, 1, 1) in got


# -- the vectorised replay against a row-by-row state machine ---------------------------------------


def naive_events(prices: np.ndarray, sidx: np.ndarray, p: BreakoutParams) -> list[tuple[int, ...]]:
    """§11.4 literally: per asset and row, monotone deques of (price, sample) for the window's min and
    max, a deque of the window's samples for its count; resolve pending, then try a trigger."""
    out = []
    L = p.range_lookback
    for a in range(prices.shape[1]):
        lows, highs, window = deque(), deque(), deque()
        pending = {1: None, -1: None}
        for t, s in enumerate(sidx.tolist()):
            for q in (lows, highs):
                while q and q[0][1] < s - L:
                    q.popleft()
            while window and window[0] < s - L:
                window.popleft()
            price = prices[t, a]
            if not (np.isfinite(price) and price > 0):
                continue
            for d in (1, -1):
                if pending[d] is None:
                    continue
                t0, s0, cont, rev = pending[d]
                if s - s0 > p.max_pending:
                    pending[d] = None
                elif (price >= cont) if d == 1 else (price <= cont):
                    out.append((a, t0, s0, s, d, 1))
                    pending[d] = None
                elif (price <= rev) if d == 1 else (price >= rev):
                    out.append((a, t0, s0, s, d, 0))
                    pending[d] = None
            if len(window) >= L // 2 and window:
                lo, hi = lows[0][0], highs[0][0]
                if not hi - lo < price * (p.min_range_pct / 100.0):
                    bd = (hi - lo) * (p.barrier_pct / 100.0)
                    if price > hi and pending[1] is None:
                        pending[1] = (t, s, price + bd, price - bd)
                    if price < lo and pending[-1] is None:
                        pending[-1] = (t, s, price - bd, price + bd)
            while lows and lows[-1][0] >= price:
                lows.pop()
            lows.append((price, s))
            while highs and highs[-1][0] <= price:
                highs.pop()
            highs.append((price, s))
            window.append(s)
    return sorted(out, key=lambda e: (e[1], e[0]))


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_events_match_the_state_machine(seed):
    rng = np.random.default_rng(seed)
    T, A = 2500, 4
    sidx = 1000 + np.cumsum(np.where(rng.random(T) < 0.97, 1, rng.integers(2, 40, T)))
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, (T, A)), axis=0))
    prices[rng.random((T, A)) < 0.03] = np.nan
    prices[rng.random((T, A)) < 0.01] = 0.0
    prices[rng.random((T, A)) < 0.01] = -5.0
    prices[rng.random((T, A)) < 0.005] = np.inf
    params = BreakoutParams(range_lookback=int(rng.integers(5, 120)), max_pending=int(rng.integers(3, 300)),
                            barrier_pct=float(rng.uniform(5, 60)))
    got = events_of(prices, sidx, params)
    assert len(got) > 20
    assert got == naive_events(prices, sidx, params)


def test_events_at_production_scale_come_at_a_plausible_rate():
    prices, sidx = market(np.random.default_rng(3), 64 * 1440, gap=0)
    ev = breakout_events(prices, sidx)
    assert 0.4 < len(ev) / 33 / 62 < 1.2  # events per asset and day after the warm-up


# -- episodes and weights ------------------------------------------------------------------------


def test_episodes_split_on_gaps_over_the_limit():
    s = np.array([0, 1440, 2881, 4321, 4321, 10_000])
    # 1440 apart: same episode; 1441: a new one; equal triggers: same; the order of the input is kept
    assert breakout.episodes(s, 1440).tolist() == [0, 0, 1, 1, 1, 2]
    assert breakout.episodes(s[::-1], 1440).tolist() == [2, 1, 1, 1, 0, 0]


def test_episode_weights():
    w = breakout.episode_weights(np.array([0, 0, 0, 1]))  # 1/3, 1/3, 1/3, 1 → sum 2 → × 4/2
    np.testing.assert_allclose(w, [2 / 3, 2 / 3, 2 / 3, 2.0], rtol=1e-15)
    assert w.sum() == pytest.approx(4.0)


# -- panels ----------------------------------------------------------------------------------------


def market(rng: np.random.Generator, T: int, gap: int, vol: float = 0.0008) -> tuple[np.ndarray, np.ndarray]:
    """(prices (T, 33), sidx (T,)): correlated random walks (a market factor, five sectors), with
    `gap` samples missing in the middle (then the reference's episodes split in two)."""
    m = rng.standard_normal(T)
    beta, gamma = rng.uniform(0.4, 0.8, 33), rng.uniform(0.2, 0.45, 33)
    sector = rng.integers(0, 5, 33)
    r = rng.standard_normal((T, 33)) * np.sqrt(1 - beta**2 - gamma**2)
    r += beta * m[:, None] + gamma * rng.standard_normal((T, 5))[:, sector]
    sidx = 1_000_000 + np.arange(T)
    sidx[T // 2 :] += gap
    return 3000.0 * np.exp(np.cumsum(r * vol, axis=0)), sidx


def pairs(p: np.ndarray) -> np.ndarray:
    out = np.empty(p.shape[:-1] + (2 * p.shape[-1],))
    out[..., 0::2], out[..., 1::2] = p, 1 - p
    return out


def small_panel(seed: int, H: int, gap: int = 300, T: int = 3000):
    """A short market with SMALL's windows (hundreds of events in two episodes, 24 clusters), X all
    NaN, its events."""
    prices, sidx = market(np.random.default_rng(seed), T, gap, vol=0.002)
    X = np.full((T, H, 66), np.nan, dtype=np.float16)
    return X, sidx, prices, breakout_events(prices, sidx, SMALL)


def put(X: np.ndarray, ev, j: int, values: np.ndarray, rest: float = 0.5) -> None:
    """Miner j's vector at each event's trigger row: [rest, 1 − rest] pairs with the event's asset
    set to [v, 1 − v] (NaN v: no vector at that row)."""
    for r, a, v in zip(ev.trigger_row, ev.asset, values):
        if np.isnan(v):
            X[r, j] = np.nan
            continue
        if np.isnan(X[r, j, 0]):
            X[r, j] = pairs(np.full(33, rest))
        X[r, j, 2 * a : 2 * a + 2] = [v, 1 - v]


def skilled(rng: np.random.Generator, y: np.ndarray, auc: float) -> np.ndarray:
    """Values in (0, 1) whose AUC on y is about `auc` (a shift of the continuations in unit noise)."""
    return ndtr(math.sqrt(2) * ndtri(auc) * (y - y.mean()) + rng.standard_normal(len(y)))


# -- compat: the reference's gate, F7 and fit ------------------------------------------------------


def test_compat_values_read_zero_slices_as_zero():
    X, sidx, prices, ev = small_panel(0, 3)
    r, a = int(ev.trigger_row[0]), int(ev.asset[0])
    X[r, 0] = pairs(np.full(33, 0.7))
    X[r, 0, 2 * a : 2 * a + 2] = 0  # [0, 0] in a vector that is not all zero
    X[r, 1] = 0  # an all-zero vector: not stored in the reference (§7.4)
    X[r, 2] = pairs(np.full(33, 0.7))
    X[r, 2, 2 * a : 2 * a + 2] = [1.5, np.inf]  # out of range (the signed flat-list rule), inf
    one = ev.take(np.array([0]))
    present, values = breakout.compat_values(X, np.arange(3), one)
    assert present.tolist() == [[True, False, True]]
    assert values[0, 0] == 0.0 and values[0, 2] == 1.5
    # fixed (F7): none of them is a value
    assert np.isnan(breakout.event_values(X, np.arange(3), one)).all()


def test_compat_gate_each_condition_alone():
    X, sidx, prices, ev = small_panel(1, 6)
    rng = np.random.default_rng(1)
    y = ev.label.astype(float)
    ids = breakout.episodes(ev.trigger_sidx, SMALL.episode_gap)
    assert ids.max() == 1 and len(ev) > 500
    good = skilled(rng, y, 0.75)
    put(X, ev, 0, good)  # passes
    put(X, ev, 1, np.where(ids == 0, good, np.nan))  # one episode
    put(X, ev, 2, 0.5 + 0.01 * (good > 0.5))  # std 0.005 < 0.03
    rows_all_cont = {r for r in ev.trigger_row.tolist() if ev.label[ev.trigger_row == r].all()}
    put(X, ev, 3, np.where(np.isin(ev.trigger_row, list(rows_all_cont)), good, np.nan))  # one label
    put(X, ev, 4, 1 - good)  # AUC < 0.5
    # the failing miners each miss exactly one condition: their own statistics say so
    present, values = breakout.compat_values(X, np.arange(6), ev)
    for j, fails in ((0, None), (1, "episodes"), (2, "std"), (3, "labels"), (4, "auc")):
        m = present[:, j]
        e, lab = values[m, j], ev.label[m]
        checks = {"episodes": len(np.unique(ids[m])) >= 2, "std": e.std() >= 0.03,
                  "labels": len(np.unique(lab)) == 2}
        checks["auc"] = not checks["labels"] or roc_auc_score(lab, e) > 0.5  # (undefined with one label)
        assert [k for k, ok in checks.items() if not ok] == ([] if fails is None else [fails])
    # miner 5 never submits; the only qualified column takes everything
    hotkeys = [f"h{j}" for j in range(6)]
    assert breakout_salience(X, sidx, prices, hotkeys, "compat", SMALL) == {"h0": 1.0}


def test_compat_fit_is_scikit_learn_on_the_reference_design():
    X, sidx, prices, ev = small_panel(2, 4)
    rng = np.random.default_rng(2)
    y = ev.label.astype(float)
    for j, auc in enumerate((0.75, 0.65, 0.6)):
        v = skilled(rng, y, auc)
        v[rng.random(len(v)) < 0.2] = np.nan  # absent at a fifth of its events' rows
        put(X, ev, j, v)
    put(X, ev, 3, rng.random(len(y)))  # noise: qualified or not by its AUC
    hotkeys = ["d", "b", "c", "a"]  # columns sorted by hotkey: a, b, c, d
    got = breakout_salience(X, sidx, prices, hotkeys, "compat", SMALL)
    # the design by hand: present miners' p_cont, those passing §11.4's gate, z-scored, absent 0
    present, values = breakout.compat_values(X, np.arange(4), ev)
    ids = breakout.episodes(ev.trigger_sidx, SMALL.episode_gap)
    cols = [j for j in range(4) if present[:, j].any() and values[present[:, j], j].std() >= 0.03
            and roc_auc_score(ev.label[present[:, j]], values[present[:, j], j]) > 0.5]
    assert len(cols) >= 3
    mat = np.where(present[:, cols], values[:, cols], np.nan)
    Z = np.nan_to_num((mat - np.nanmean(mat, axis=0)) / np.nanstd(mat, axis=0))
    sizes = np.bincount(ids)
    w = 1.0 / sizes[ids]
    w *= len(w) / w.sum()
    clf = LogisticRegression(C=0.01, solver="lbfgs", class_weight="balanced", max_iter=1000, random_state=42)
    coef = np.abs(clf.fit(Z, ev.label, sample_weight=w).coef_.ravel())
    want = {hotkeys[j]: c / coef.sum() for j, c in zip(cols, coef)}
    assert got.keys() == want.keys()
    for h in want:
        assert got[h] == pytest.approx(want[h], rel=1e-6)


def test_compat_scores_nothing_with_one_episode():
    # correlated assets leave no day without a trigger: one episode, and the reference needs two
    X, sidx, prices, ev = small_panel(3, 2, gap=0)
    assert breakout.episodes(ev.trigger_sidx, SMALL.episode_gap).max() == 0
    put(X, ev, 0, skilled(np.random.default_rng(3), ev.label.astype(float), 0.8))
    assert breakout_salience(X, sidx, prices, ["a", "b"], "compat", SMALL) == {}
    assert breakout_salience(X, sidx, prices, ["a", "b"], "fixed", SMALL) == {"a": 1.0}


# -- fixed: the clustered AUC test ------------------------------------------------------------------


def test_clustered_auc_golden():
    # positives 0.9, 0.35, 0.6 and negatives 0.3, 0.4, 0.2: 8 of 9 pairs ordered, AUC 8/9; DeLong's
    # components: positives 1, 2/3, 1, negatives 1, 2/3, 1; influences ±1/27, −2/27
    v = np.array([0.9, 0.3, 0.35, 0.4, 0.6, 0.2])
    y = np.array([1, 0, 1, 0, 1, 0])
    # clusters {0.9, 0.3}, {0.35, 0.4}, {0.6, 0.2}: sums 2/27, −4/27, 2/27; 3/2 · 24/729 = 4/81, above
    # DeLong's 2/81: se 2/9, t = (8/9 − 1/2) / (2/9) = 1.75 on 2 df: p = ½(1 − 1.75/√5.0625) = 1/9
    auc, se, K = breakout.clustered_auc(v, y, np.array([0, 0, 1, 1, 2, 2]))
    assert (auc, K) == (pytest.approx(8 / 9), 3) and se == pytest.approx(2 / 9)
    assert breakout.auc_p(auc, se, K) == pytest.approx(1 / 9)
    # clusters {0.9, 0.4}, {0.35, 0.3}, {0.6, 0.2}: sums −1/27, −1/27, 2/27; 3/2 · 6/729 = 1/81 is below
    # DeLong's 2/81, which holds: se √2/9, t = 7/(2√2) on 2 df
    auc, se, K = breakout.clustered_auc(v, y, np.array([0, 1, 1, 0, 2, 2]))
    assert se == pytest.approx(math.sqrt(2) / 9)
    t = 7 / (2 * math.sqrt(2))
    assert breakout.auc_p(auc, se, K) == pytest.approx(0.5 * (1 - t / math.sqrt(t * t + 2)))
    # ties count half; one label or one cluster is no evidence
    assert breakout.clustered_auc(np.array([0.5, 0.5, 0.7, 0.1]), np.array([1, 0, 1, 0]), np.arange(4))[0] == 0.875
    assert breakout.auc_p(*breakout.clustered_auc(v, np.ones(6), np.arange(6))) == 1.0
    assert breakout.auc_p(*breakout.clustered_auc(v, y, np.zeros(6))) == 1.0


def test_gate_passes_skill_and_fails_noise():
    rng = np.random.default_rng(5)
    n = 400
    y = (rng.random(n) < 0.5).astype(np.int64)
    clusters = np.sort(rng.integers(0, 14, n))
    values = np.full((n, 6), np.nan)
    values[:, 0] = skilled(rng, y, 0.75)
    values[:, 1] = rng.random(n)  # noise
    values[:, 2] = 0.4  # constant: untested (std)
    values[:30, 3] = skilled(rng, y[:30], 0.9)  # a few events on few days: untested
    values[:, 4] = np.repeat(rng.random(14), np.bincount(clusters, minlength=14))  # one value a day
    values[:, 5] = 1 - values[:, 0]  # the skilled miner reversed
    passed, p = breakout.gate(values, y, clusters, BreakoutParams())
    assert passed.tolist() == [True, False, False, False, False, False]
    assert p[0] < 1e-6 and p[5] > 0.99 and p[2] == 1.0 and p[3] == 1.0


# -- fixed: planted panels -------------------------------------------------------------------------

ROLES = {"informative": 12, "noise": 3, "constant": 2, "copycat": 2, "persistent": 4, "stale": 3, "clone": 3, "twin": 3}


def planted(seed: int, days: int = 14, lag: int = 240, roles=ROLES, gap: int = 0):
    """A MULTI-BREAKOUT panel with planted roles, values written only at the rows the scorer reads
    (the trigger rows, and the rows a copycat copies from), each role's process sampled exactly there:
    informative p_cont ndtr(0.5·N(0, 1)) except at its events, where its AUC is its skill (noise
    orthogonal to the labels, as the devnet plants it); noise uniform; a constant; a copy of the best
    `lag` samples stale; AR(1) per asset (φ 0.8–0.97 a sample); uniform values held 2–8 hours; three
    clones of a top-quartile miner (±2e-4); three twins of it (independent, same skill)."""
    rng = np.random.default_rng(seed)
    T = days * 1440 + 5760
    prices, sidx = market(rng, T, gap)
    ev = breakout_events(prices, sidx)
    trig = np.unique(ev.trigger_row)
    rows = np.unique(np.concatenate([trig, trig - lag]))
    pos = np.full(T, -1)
    pos[rows] = np.arange(len(rows))
    names = [r for r in roles for _ in range(roles[r])]
    names = [names[i] for i in rng.permutation(len(names))]
    H, R = len(names), len(rows)
    V = np.full((R, H, 66), np.nan)
    skill = np.full(H, np.nan)
    y = ev.label - ev.label.mean()
    at = pos[ev.trigger_row]

    def informative(s: float) -> np.ndarray:
        p = ndtr(0.5 * rng.standard_normal((R, 33)))
        noise = rng.standard_normal(len(y))
        noise -= y * (noise @ y) / (y @ y)
        p[at, ev.asset] = ndtr(math.sqrt(2) * ndtri(s) * y + noise / noise.std())
        out = pairs(p)
        out[rng.random(R) < 0.01] = np.nan
        return out

    honest = [j for j in range(H) if names[j] == "informative"]
    for j, s in zip(honest, rng.permutation(np.linspace(0.6, 0.8, len(honest)))):
        V[:, j], skill[j] = informative(s), s
    ranked = sorted(honest, key=lambda j: skill[j])
    source, best = ranked[int(0.8 * (len(ranked) - 1))], ranked[-1]
    for j, role in enumerate(names):
        if role == "twin":
            V[:, j], skill[j] = informative(skill[source]), skill[source]
        elif role == "clone":
            V[:, j] = np.clip(V[:, source] + rng.uniform(-2e-4, 2e-4, (R, 66)), 0, 1)
        elif role == "noise":
            V[:, j] = pairs(rng.random((R, 33)))
        elif role == "constant":
            V[:, j] = pairs(np.full((R, 33), rng.random()))
        elif role == "persistent":
            phi, x = rng.uniform(0.8, 0.97, 33), np.empty((R, 33))
            x[0] = rng.standard_normal(33)
            for i in range(1, R):
                a = phi ** (rows[i] - rows[i - 1])
                x[i] = a * x[i - 1] + np.sqrt(1 - a * a) * rng.standard_normal(33)
            V[:, j] = pairs(ndtr(x))
        elif role == "stale":
            hold = np.searchsorted(np.cumsum(rng.integers(120, 481, T // 100 + 2)), rows, side="right")
            V[:, j] = pairs(rng.random((hold.max() + 1, 33)))[hold]
    for j in (j for j, role in enumerate(names) if role == "copycat"):
        src = np.where(rows >= lag, pos[np.maximum(rows - lag, 0)], -1)
        V[src >= 0, j] = V[src[src >= 0], best]
    X = np.full((T, H, 66), np.nan, dtype=np.float16)
    X[rows] = V
    return X, sidx, prices, [f"hk{j:02d}" for j in range(H)], np.array(names), skill, source


@pytest.fixture(scope="module")
def panel():
    return planted(0)


def quality(sal: dict, hotkeys, names, skill, source) -> dict:
    s = np.array([sal.get(h, 0.0) for h in hotkeys])
    honest = (names == "informative") & (np.arange(len(names)) != source)
    group = s[names == "clone"].sum() + s[source]
    return {"spearman": spearmanr(skill[honest], s[honest]).statistic, "worthless": s[np.isin(names, WORTHLESS)].sum(),
            "clone_over_twin": group / s[names == "twin"].mean(), "s": s}


def test_fixed_mode_on_a_planted_panel(panel):
    X, sidx, prices, hotkeys, names, skill, source = panel
    sal = breakout_salience(X, sidx, prices, hotkeys, "fixed")
    assert sum(sal.values()) == pytest.approx(1.0)
    q = quality(sal, hotkeys, names, skill, source)
    assert q["worthless"] <= 0.02
    assert q["spearman"] >= 0.85
    assert q["clone_over_twin"] <= 1.1
    # every informative miner passes at two weeks (AUC 0.6–0.8 on ~300 events); no worthless one does
    assert (q["s"][names == "informative"] > 0).all()
    assert (q["s"][np.isin(names, WORTHLESS)] == 0).all()


def test_clones_gain_nothing(panel):
    X, sidx, prices, hotkeys, names, skill, source = panel
    with_clones = breakout_salience(X, sidx, prices, hotkeys, "fixed")
    keep = np.flatnonzero(names != "clone")
    alone = breakout_salience(X[:, keep], sidx, prices, [hotkeys[j] for j in keep], "fixed")
    members = np.flatnonzero((names == "clone") | (np.arange(len(names)) == source))
    group = sum(with_clones.get(hotkeys[j], 0.0) for j in members)
    # the group is paid what its source is paid alone (Holm's family is three tests smaller without them)
    assert group == pytest.approx(alone[hotkeys[source]], rel=0.02)


def test_compat_pays_worthless_miners():
    # a two-day outage splits the reference's one episode in two, so compat fits at all
    X, sidx, prices, hotkeys, names, skill, source = planted(1, gap=2 * 1440)
    compat = quality(breakout_salience(X, sidx, prices, hotkeys, "compat"), hotkeys, names, skill, source)
    fixed = quality(breakout_salience(X, sidx, prices, hotkeys, "fixed"), hotkeys, names, skill, source)
    assert compat["worthless"] > 0.02 and compat["clone_over_twin"] > 1.3
    assert fixed["worthless"] == 0.0 and fixed["clone_over_twin"] < 1.2


def test_only_trigger_rows_are_read(panel):
    X, sidx, prices, hotkeys, names, skill, source = panel
    X = X.copy()
    ev = breakout_events(prices, sidx)
    other = np.setdiff1d(np.arange(len(sidx)), ev.trigger_row)
    before = {m: breakout_salience(X, sidx, prices, hotkeys, m) for m in ("fixed", "compat")}
    X[other[::7]] = np.float16(0.9)
    assert {m: breakout_salience(X, sidx, prices, hotkeys, m) for m in ("fixed", "compat")} == before


def test_hotkey_order_and_float32_panels(panel):
    X, sidx, prices, hotkeys, names, skill, source = panel
    want = breakout_salience(X, sidx, prices, hotkeys, "fixed")
    perm = np.random.default_rng(0).permutation(len(hotkeys))
    got = breakout_salience(X[:, perm].astype(np.float32), sidx, prices, [hotkeys[j] for j in perm], "fixed")
    assert got == want


def test_fixed_history_is_by_sample_index(panel):
    X, sidx, prices, hotkeys, names, skill, source = panel
    ev = breakout_events(prices, sidx)
    params = BreakoutParams(history=7 * 1440)
    old = np.unique(ev.trigger_row[ev.trigger_sidx <= sidx[-1] - params.history])
    want = breakout_salience(X, sidx, prices, hotkeys, "fixed", params)
    X = X.copy()
    X[old] = np.nan  # the events before the history are not read
    assert breakout_salience(X, sidx, prices, hotkeys, "fixed", params) == want
    assert BreakoutParams().lookback("fixed") == 86_400 + 5760
    assert BreakoutParams().lookback("compat") == 432_000 + 5760


# -- hostile values and malformed panels -----------------------------------------------------------


def valid_map(sal: dict, hotkeys) -> bool:
    return sal == {} or (set(sal) <= set(hotkeys) and all(v > 0 and math.isfinite(v) for v in sal.values())
                         and abs(sum(sal.values()) - 1) < 1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_hostile_values_never_raise(seed):
    rng = np.random.default_rng(seed)
    X, sidx, prices, ev = small_panel(10 + seed, 8, T=2000)
    y = ev.label.astype(float)
    put(X, ev, 0, skilled(rng, y, 0.8))
    put(X, ev, 1, skilled(rng, y, 0.7))
    X[ev.trigger_row, 2] = rng.choice([np.nan, np.inf, -np.inf, 6e4, -6e4, 0.0, 1.0, 0.5], size=(len(ev), 66))
    X[ev.trigger_row, 3] = 0.0  # [0, 0] everywhere
    X[ev.trigger_row, 4] = np.where(rng.random((len(ev), 1)) < 0.5, 0.0, 1.0)  # flips between extremes
    X[ev.trigger_row, 5] = 0.3  # constant
    put(X, ev, 6, np.where(rng.random(len(ev)) < 0.05, skilled(rng, y, 0.9), np.nan))  # a few assets, rarely
    hotkeys = [f"m{j}" for j in range(8)]
    wide = X.astype(np.float32)
    wide[ev.trigger_row[:10], 7] = 1e30  # beyond float16
    for values in (X, wide):
        for mode in ("fixed", "compat"):
            assert valid_map(breakout_salience(values, sidx, prices, hotkeys, mode, SMALL), hotkeys)
            # one miner only, and panels without events
            assert valid_map(breakout_salience(values[:, 2:3], sidx, prices, hotkeys[2:3], mode, SMALL), hotkeys)
            flat = np.full_like(prices, 100.0)
            assert breakout_salience(values, sidx, flat, hotkeys, mode, SMALL) == {}
            assert breakout_salience(values, sidx, np.full_like(prices, np.nan), hotkeys, mode, SMALL) == {}


def test_malformed_panels_raise():
    X, sidx, prices, _ = small_panel(0, 2, T=500)
    hk = ["a", "b"]
    with pytest.raises(ValueError):
        breakout_salience(X[:, :, :65], sidx, prices, hk, "fixed")
    with pytest.raises(ValueError):
        breakout_salience(X, sidx, prices[:, :32], hk, "fixed")
    with pytest.raises(ValueError):
        breakout_salience(X, sidx[::-1].copy(), prices, hk, "fixed")
    with pytest.raises(ValueError):
        breakout_salience(X, sidx.astype(float), prices, hk, "fixed")
    with pytest.raises(ValueError):
        breakout_salience(X, sidx, prices, ["a", "a"], "fixed")
    with pytest.raises(ValueError):
        breakout_salience(X, sidx, prices, hk, "exact")
    with pytest.raises(ValueError):
        breakout_events(prices, sidx[:-1])
    assert breakout_salience(X[:, :0], sidx, prices, [], "fixed") == {}
