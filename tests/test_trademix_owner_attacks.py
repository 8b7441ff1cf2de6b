"""Hostile-miner attacks on TRADE-MIX's fixed-mode T9 (alikeness), T10 (pnl over the whole
history, per row of life) and T11 (same-start members of a dedup cluster count in n, paid or not),
from two rounds of attack. Each test names a hole a first version of these rules left open, with
what it cost then:

- T9 judged alikeness by the books' remainders alone (what the coming returns leave unexplained).
  Traders whose signals explain parts of the same returns have anti-correlated remainders (|cos|
  0.2–0.36 where their books' is ~0), and an average of many traders' books an hour late keeps
  their pooled skill while its remainder (their averaged noise) is alike with few of them: a junior
  averager took 29–44 % of the RV pool (uncapped). Now a remainder makes a pair alike only where the
  books are alike too, and a book that trails, and that the books likest to it explain together
  at lags 1–12, keeps nothing; the same for one that sends flat books first, which dilute its
  cosines (it took 15 % of the pool).
- T11 let a late copy of a slowly rebalanced book (a 48-hour view: cos 0.98 with its source, lagged
  cosines 0.998 and ~0.97) stand in its source's cluster, because it did not trail by T8's 0.05
  margin: the copy, ungated, took half the source's capped credit (three copies: three quarters).
  T8's margin now shrinks with the books' cosine as a cosine's sampling error does (1 − r²). And a
  cluster made only of trailing books paid its ungated members.
- T10 paid a trader flat for the last 30 days, or keeping a token book moving, on the pnl of the
  month before. A book no longer traded at a tenth of its size earns nothing.

The remainder's least squares on degenerate markets and books (constant prices, no warm-up, short
panels, identical books) never raises, and hostile columns beside late copies give valid maps."""

from __future__ import annotations

import numpy as np
import pytest

from mechanisms.mantis import trademix as tm
from mechanisms.mantis.trademix import TradeMixParams
from tests.test_breakout_trademix_attacks import _lagged
from tests.test_trademix import assert_valid_map, market_panel, scored

UNCAPPED = TradeMixParams(miner_cap=1.0)  # shares show the evidence, not the cap


def _with(X: np.ndarray, *cols: np.ndarray) -> np.ndarray:
    """X with columns appended (sorting after every existing hotkey: juniors by column), float16."""
    return np.concatenate([X] + [np.clip(c, -1, 1)[:, None] for c in cols], axis=1).astype(np.float16)


# -- T9: alikeness measured on remainders -------------------------------------------------------


def _cosines(X: np.ndarray, sidx: np.ndarray, prices: np.ndarray, params: TradeMixParams = TradeMixParams()):
    """(raw, remainder, alike) matrices of the RV books over the dedup window, as score_grid takes
    them: the books' cosines, their remainders' cosines and what the seniority pass reads in fixed
    mode (|·| < 0.2: not alike)."""
    rows, grid_prices = tm.hourly_panel(sidx, prices, len(sidx) - 1, "fixed", params)
    P = np.clip(np.nan_to_num(X[rows].astype(np.float32)), -1, 1)
    f = tm.causal_factors(grid_prices, params, "fixed")
    _, q = tm.decompose(P, f)
    T, H, _ = q.shape
    lo = max(0, T - params.dedup_hours)
    raw = tm.cosine_matrix(q[lo:].transpose(1, 0, 2).reshape(H, -1))
    rest = tm.unexplained(q, f.resid, f.valid, max(params.horizons_hours))[lo:].transpose(1, 0, 2)
    return raw, tm.cosine_matrix(rest.reshape(H, -1)), tm.fixed_alikeness(q, f, raw, params)[0]


@pytest.mark.parametrize("seed", [0, 1])
def test_independent_traders_are_not_made_alike_by_their_remainders(seed):
    """In `market_panel` eight traders each see one of four independent pieces of the coming
    idiosyncratic returns (traders j and j + 4 the same piece). Regressing a book on the coming
    returns removes its share of them, and what is left of two traders whose signals explain parts
    of the same returns is anti-correlated (y = s1 + s2 + e: the remainders' covariance is
    −v1·v2/var y): their raw cosines are ~0 (at most 0.15), their remainders' −0.2 to −0.36, past
    the seniority pass's 0.2. A remainder alone never makes a pair alike: the books must be alike
    too, so traders on different pieces are left alone, and those on one piece are alike."""
    X, sidx, prices = market_panel(seed, ["skill"] * 8 + ["noise"], hours=800)
    raw, rest, alike = _cosines(X, sidx, prices)
    pairs = [(i, j) for i in range(8) for j in range(i + 1, 8) if i % 4 != j % 4]  # different pieces
    assert max(abs(raw[i, j]) for i, j in pairs) < 0.2  # independent by their raw books
    assert max(abs(rest[i, j]) for i, j in pairs) >= 0.2  # the remainders alone would say otherwise
    assert all(abs(alike[i, j]) < 0.2 for i, j in pairs)  # what the pass projects on: nothing
    assert all(abs(alike[i, i + 4]) >= 0.2 for i in range(4))  # one piece, one skill: alike


@pytest.mark.parametrize("lag", [1, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_hour_late_average_of_many_traders_takes_nothing_that_matters(seed, lag):
    """A junior hotkey (sorting last, no seniority squatted) sends the average of eight skilled
    traders' books one or three hours late, scaled to the position range. Its raw book has cos
    0.3–0.5 with each source; its remainder is the sources' averaged noise (their skill, explained
    by the coming returns, is gone from it, and the sources' remainders are anti-correlated), alike
    (≥ 0.2) with few of them. Judged by remainders alone it was tested on the ensemble's pooled skill
    (t 5.7–7.4) and took 29–44 % of the RV pool, the sources losing as much. It trails some of its
    sources, and a book that trails is judged alike by its raw cosines with all: projected off them
    it keeps nothing that matters, and leaves its sources their pay."""
    X, sidx, prices = market_panel(seed, ["skill"] * 8 + ["noise"], hours=800)
    X = X.astype(np.float32)
    avg = _lagged(X[:, :8].mean(axis=1), lag)
    avg /= np.abs(avg).max()
    base = scored(X.astype(np.float16), sidx, prices, "fixed", UNCAPPED)
    s = scored(_with(X, avg), sidx, prices, "fixed", UNCAPPED)
    assert s.shares_rv[9] <= 0.05, f"the averager takes {s.shares_rv[9]:.3f} of the RV pool (t {s.t_rv[9]:.2f})"
    assert s.shares_rv[:8].sum() >= 0.9 * base.shares_rv[:8].sum()


# -- T11: unpaid same-start members ---------------------------------------------------------------


def _slow_panel(seed: int):
    """Three skilled traders with a 48-hour view and slow noise (φ 0.99 an hour), one noise book: a
    book rebalanced slowly, whose hour-late copy has cos ≈ 0.98 with it and whose lagged cosines
    (0.998 one way, ~0.97 the other) stay within T8's 0.05 margin, so the copy does not trail it."""
    X, sidx, prices = market_panel(seed, ["skill", "skill", "skill", "noise"], hours=800, view=48, phi=0.99)
    return X.astype(np.float32), sidx, prices


@pytest.mark.parametrize("flat_until_window", [False, True])
@pytest.mark.parametrize("params", [TradeMixParams(), UNCAPPED], ids=["cap", "uncapped"])
@pytest.mark.parametrize("seed", [0, 2, 4, 5])
def test_a_late_copy_of_a_slow_book_is_not_paid_and_leaves_its_source_its_credit(seed, params, flat_until_window):
    """T11 grief: a hotkey as old as the trader (first_seen 0: any hotkey older than the 60-day
    history has it) sends the trader's slow book one hour late, from the start or after flat books
    until the last 30 days. The copy sorts last, is projected off the trader and fails the gate
    (t ≤ 1.4); standing in the trader's dedup cluster as early as it, it counted in n and was paid
    total/n² like the trader (the trader 0.150 → 0.075 of the pool with the default cap, the copy
    0.075; uncapped 0.29–0.65 → 0.09–0.29). A late copy trails its source, is paid nothing and takes
    nothing from it."""
    X, sidx, prices = _slow_panel(seed)
    base = scored(X.astype(np.float16), sidx, prices, "fixed", params)
    assert base.gate_rv[0] and base.shares[0] > 0.1
    copy = _lagged(X[:, 0], 1)
    if flat_until_window:
        copy[: len(copy) - params.dedup_hours] = 0.0  # a flat book counts as submitted: first_seen 0
    s = scored(_with(X, copy), sidx, prices, "fixed", params)
    assert s.first_seen[4] == s.first_seen[0] == 0 and not s.gate_rv[4]
    assert s.shares[4] == 0.0, f"an ungated late copy is paid {s.shares[4]:.4f}"
    assert s.shares[0] >= 0.9 * base.shares[0], f"its source falls {base.shares[0]:.3f} → {s.shares[0]:.3f}"


@pytest.mark.parametrize("seed", [0, 4])
def test_three_late_copies_do_not_take_a_slow_books_capped_credit(seed):
    """T11 with several hotkeys: three old hotkeys each send a slow trader's book an hour late. All
    three fail the gate; standing in its cluster they made n = 4, and with the default cap the
    cluster's 20 % of the RV pool was split four ways, the trader keeping 0.0375 of the pool (alone
    0.150) and the copies taking 0.1125 between them. Trailing, they stand nowhere."""
    X, sidx, prices = _slow_panel(seed)
    params = TradeMixParams()
    base = scored(X.astype(np.float16), sidx, prices, "fixed", params)
    copy = _lagged(X[:, 0], 1)
    s = scored(_with(X, copy, copy, copy), sidx, prices, "fixed", params)
    assert not s.gate_rv[4:].any()
    assert s.shares[4:].sum() == 0.0, f"ungated late copies take {s.shares[4:].sum():.4f}"
    assert s.shares[0] >= 0.9 * base.shares[0], f"the source falls {base.shares[0]:.4f} → {s.shares[0]:.4f}"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_book_on_three_hotkeys_with_noise_earns_no_more_than_on_one(seed):
    """T12: an operator with a strong book (ρ 0.95, 60 days) sends it on three hotkeys from the same
    start, each with noise of its own (0.3 of the book's spread: cos about 0.9, under dedup's 0.95,
    so no cluster). Projected off the senior copy, a junior keeps about a tenth of the book with its
    noise, which still passes (t 3.9–5.0); paid on its whole book's pnl the three earned 1.37–1.49 ×
    what one such hotkey earns alone. Paid on the share of its pnl that what it adds earns, 1.00–1.04."""
    X, sidx, prices = market_panel(seed, ["skill"] * 4 + ["noise"], hours=1440, rho=0.95)
    X = X.astype(np.float32)
    rng = np.random.default_rng(seed)
    book = X[:, 0].copy()
    noisy = [np.clip(book + 0.3 * book.std() * rng.standard_normal(book.shape), -1, 1) for _ in range(3)]
    X[:, 0] = noisy[0]
    alone = scored(X.astype(np.float16), sidx, prices, "fixed", UNCAPPED)
    s = scored(_with(X, *noisy[1:]), sidx, prices, "fixed", UNCAPPED)
    assert alone.gate_rv[0] and alone.shares_rv[0] > 0.1
    assert s.shares_rv[[0, 5, 6]].sum() <= 1.1 * alone.shares_rv[0]


# -- T10: pnl over the whole history ----------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_trader_flat_for_the_last_month_is_not_paid(seed):
    """T10: on a 60-day panel a skilled trader sends flat books (submitted, so fully covered) for
    the last 30 days. Its evidence over the whole history still passes (t 3.0–3.9) and its pnl over
    all rows, per row of life, is 0.22–0.40 where the trailing 30 days' is 0: it kept 4.8–6.9 % of
    the pool (uncapped) for a month of doing nothing, taken from the traders still trading."""
    X, sidx, prices = market_panel(seed, ["skill", "skill", "skill", "noise"], hours=1440)
    X = X.astype(np.float32)
    X[-UNCAPPED.attribution_hours :, 0] = 0.0
    s = scored(X.astype(np.float16), sidx, prices, "fixed", UNCAPPED)
    assert s.coverage[0] == 1.0
    assert s.shares[0] == 0.0, f"flat for 30 days, paid {s.shares[0]:.3f} (t {s.t_rv[0]:.2f}, pnl {s.attr_rv[0]:.3f})"


# -- crash and stall: the remainder's least squares -------------------------------------------------


def test_remainder_of_degenerate_inputs():
    """`unexplained` on inputs that make its least squares singular: residual returns all 0
    (constant prices), no valid row (the factors' warm-up covers the panel), a panel shorter than
    the 48 rows ahead, a flat book and a book of ±1. It returns finite books, and where nothing can
    explain a book (no returns) the book itself."""
    rng = np.random.default_rng(0)
    for T in (2, 3, 30, 60, 300):
        q = rng.uniform(-1, 1, (T, 5, 4))
        q[:, 1] = 0.0
        q[:, 2] = np.sign(q[:, 2])
        resid = rng.normal(0, 0.01, (T, 4))
        for r, valid in ((np.zeros((T, 4)), np.ones(T, bool)), (resid, np.zeros(T, bool)), (resid, np.ones(T, bool))):
            out = tm.unexplained(q, r, valid, 48)
            assert out.shape == q.shape and np.isfinite(out).all()
            if not (r.any() and valid.any()):
                assert np.array_equal(out, q)
            assert np.all(out[:, 1] == 0.0)  # a flat book has nothing to explain or leave


def test_degenerate_markets_and_hotkeys_give_valid_maps():
    """Whole-scorer runs through T9–T11 on markets and miners that make them degenerate: constant
    prices (every residual return 0), one asset frozen, prices frozen for the second half, the
    shortest panel scored, one miner, 64 hotkeys sending one book from the same start, ±65504 and ±inf
    books. Each gives a valid map (shares and burn summing to 1); constant prices burn everything,
    and one book on 64 hotkeys from the same start earns no more than on one."""
    X, sidx, prices = market_panel(0, ["skill", "skill", "skill", "noise"], hours=800)
    hk = [f"h{j:03d}" for j in range(4)]
    frozen_asset, frozen_half = prices.copy(), prices.copy()
    frozen_asset[:, 2] = 5.0
    frozen_half[400:] = frozen_half[399]
    for p in (np.full_like(prices, 100.0), frozen_asset, frozen_half):
        out = tm.trade_mix_salience(X, sidx, p, hk, "fixed")
        assert_valid_map(out, hk, "fixed")
    assert tm.trade_mix_salience(X, sidx, np.full_like(prices, 100.0), hk, "fixed") == {"__burn__": 1.0}
    Xs, ss, ps = market_panel(0, ["skill", "noise"], hours=TradeMixParams().min_hours + 1)
    assert_valid_map(tm.trade_mix_salience(Xs, ss, ps, ["a", "b"], "fixed"), ["a", "b"], "fixed")
    one = tm.trade_mix_salience(X[:, :1], sidx, prices, ["solo"], "fixed")
    assert_valid_map(one, ["solo"], "fixed")
    many = [f"s{j:03d}" for j in range(64)]
    out = tm.trade_mix_salience(np.repeat(X[:, :1], 64, axis=1), sidx, prices, many, "fixed")
    assert_valid_map(out, many, "fixed")
    assert sum(out.get(h, 0.0) for h in many) <= one.get("solo", 0.0) + 1e-12
    rng = np.random.default_rng(1)
    wild = np.where(rng.random(X.shape) < 0.5, np.float16(65504), np.float16(-np.inf)).astype(np.float16)
    Xw = np.concatenate([X, wild], axis=1)
    hw = hk + [f"w{j}" for j in range(4)]
    with np.errstate(over="ignore"):
        out = tm.trade_mix_salience(Xw, sidx, prices, hw, "fixed")
    assert_valid_map(out, hw, "fixed")


# -- second review: copies diluted into chance, token books, ungated members of trailing clusters ----


def test_an_hour_late_average_that_starts_late_is_not_paid():
    """T9/T8 dilution: a junior hotkey sends flat books (submitted) and, for the last 10 days only,
    the average of eight skilled traders' books one hour late. Over the 30-day window its raw cosines
    with its sources are 0.19–0.34 (the flat rows dilute them), under T9's line 0.2 + 2·se = 0.36–0.39,
    so it was alike with none, trailed none and was projected off none, and `joint_copies` looked
    only at books that trail: it took 0.150 of the pool (seed 1, 800 h, default cap; t 6.3) and its
    sources fell 0.669 → 0.580 (alike at raw 0.2, as before T9, it took nothing). Over the rows both
    books trade it trails its sources, and they explain it: it takes nothing."""
    X, sidx, prices = market_panel(1, ["skill"] * 8 + ["noise"], hours=800)
    X = X.astype(np.float32)
    avg = _lagged(X[:, :8].mean(axis=1), 1)
    avg /= np.abs(avg).max()
    avg[: len(avg) - 240] = 0.0
    params = TradeMixParams()
    base = scored(X.astype(np.float16), sidx, prices, "fixed", params)
    s = scored(_with(X, avg), sidx, prices, "fixed", params)
    assert s.shares[9] <= 0.01, f"the late-starting averager takes {s.shares[9]:.3f} of the pool (t {s.t_rv[9]:.2f})"
    assert s.shares[:8].sum() >= 0.95 * base.shares[:8].sum()


def test_a_trader_that_quits_behind_a_token_book_is_not_paid():
    """T10: a skilled trader stops trading for the last 30 days of a 60-day panel but keeps a token RV
    book moving (uniform ±0.001 per asset: std ~6e-4 ≥ the activity gate's 1e-4). Its evidence over
    the whole history still passes (t 3.3) and its pnl over all rows per row of life is its rate as a
    trader: it took 0.048 of the pool (uncapped; 0.267 while trading; flat instead: 0.000; on the
    trailing 30 days' pnl, as before T10: 0.000). A month of a token book earns what a flat one does."""
    X, sidx, prices = market_panel(0, ["skill", "skill", "skill", "noise"], hours=1440)
    X = X.astype(np.float32)
    X[-UNCAPPED.attribution_hours :, 0] = 1e-3 * np.random.default_rng(0).uniform(-1, 1, (UNCAPPED.attribution_hours, 4))
    s = scored(X.astype(np.float16), sidx, prices, "fixed", UNCAPPED)
    assert s.shares[0] <= 0.005, f"quit behind a token book, paid {s.shares[0]:.3f} (t {s.t_rv[0]:.2f})"


def test_an_ungated_trailing_member_is_not_paid_by_its_cluster():
    """T11: `standing` puts every book that trails another past every first sample. When every
    member of a dedup cluster trails something (copies of a blend of books, whose sources are not in
    the cluster), that was the cluster's earliest standing, and every member counted in n and was
    paid total/n², gated or not: at 256 miners × 60 days, 200 hotkeys sending the average of 32
    traders' books 1–12 hours late clustered in the beta channel, and ungated ones (t 3.3–3.4) were
    paid 0.004 of the beta pool each (here, two trailing members, one gated: 0.25). A trailing book
    stands NEVER, and a cluster of them nowhere."""
    raw = np.array([1.0, 0.0])
    out = tm.split_clusters(raw, [[0, 1]], np.array([tm.NEVER, tm.NEVER]))
    assert out[1] == 0.0, f"an ungated trailing member is paid {out[1]}"


def test_hostile_columns_beside_late_copies_give_a_valid_map():
    """Crash probe: beside four traders and a noise book, hotkeys send ±1 alternating every hour,
    ±6e-8 (under the activity gate), values only in the last 100 rows, one asset always NaN, a
    trader's book negated an hour late, that book 1..12 hours late (twelve trailing books, each
    trailing the earlier ones) and twenty identical hour-late averages of the four (`joint_copies`
    on every one, each alike with all). Measured: a valid map in ~2 s, the four traders 0.15 each."""
    X, sidx, prices = market_panel(3, ["skill"] * 4 + ["noise"], hours=800)
    X = X.astype(np.float32)
    T = len(X)
    alt = np.where((np.arange(T) % 2)[:, None] == 0, 1.0, -1.0) * np.array([1, -1, 1, -1.0])
    tiny = np.full((T, 4), 6e-8)
    tiny[::2] *= -1
    late = np.full((T, 4), np.nan)
    late[-100:] = X[-100:, 0]
    partial = X[:, 0].copy()
    partial[:, 2] = np.nan
    cols = [alt, tiny, late, partial, -_lagged(X[:, 0], 1)] + [_lagged(X[:, 0], k) for k in range(1, 13)]
    cols += [_lagged(X[:, :4].mean(axis=1), 1)] * 20
    Xa = np.concatenate([X] + [c[:, None] for c in cols], axis=1).astype(np.float16)
    hk = [f"h{j:03d}" for j in range(Xa.shape[1])]
    out = tm.trade_mix_salience(Xa, sidx, prices, hk, "fixed")
    assert_valid_map(out, hk, "fixed")
    assert sum(out.get(h, 0.0) for h in hk[5:]) <= 0.01
    assert sum(out.get(h, 0.0) for h in hk[:4]) >= 0.5
