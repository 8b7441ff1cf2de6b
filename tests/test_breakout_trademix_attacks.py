"""Attacks on MULTI-BREAKOUT (mechanisms/mantis/breakout.py) and TRADE-MIX (mechanisms/mantis/trademix.py)
as a hostile miner would make them, and on what the platform reads for them (the `pairs` value rule,
`Ledger.embeddings(rows=…)`). Every attack here is one the scorers resist: hostile values never raise
and never earn, worthless and copied books take nothing that matters from honest miners, price rows
and panels of any shape are read as the modules say, and the ledger's few-row reads return what
streaming returns.

Two attacks broke the scorers as they landed and are fixed in them: copies through an increasing
map (MULTI-BREAKOUT's copy groups looked at values, its test and fit at ranks) and a senior book
that leans against a skilled junior's (TRADE-MIX's seniority pass is sign-blind).

Not asserted here, because they still work: in TRADE-MIX, a hotkey that sends flat books early
(seniority for free) and then a skilled trader's RV book one to three hours late is senior to it
and takes its pay; in the beta channel, which has no seniority pass, a copy of a market timer's
exposure one to eight hours late is paid beside it; Benjamini–Hochberg's family grows with every
eligible hotkey, so worthless sybils can push a trader of middling evidence out. In MULTI-BREAKOUT,
a copy that passes B1 and values more events than its source (the source's values, noise where it
has none) stands for the group and takes most of its pay (the lock keeps such copies from being
made: a value is read at the trigger sample itself)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger.store as store
from ledger import Ledger
from mechanisms.mantis import breakout
from mechanisms.mantis import trademix as tm
from mechanisms.mantis.breakout import BreakoutParams, breakout_events, breakout_salience
from mechanisms.mantis.trademix import TradeMixParams
from mechanisms.mantis.universe import BREAKOUT_ASSETS
from mechanisms.weights import BURN_KEY
from protocol.validation import ChallengeFormat, object_vector
from tests.test_breakout import SMALL as BO_SMALL
from tests.test_breakout import pairs, planted, put, skilled, small_panel
from tests.test_trademix import _ar1, assert_valid_map, market_panel, scored

FUZZ = dict(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck),
            print_blob=False)


def valid_breakout_map(sal: dict, hotkeys) -> bool:
    return sal == {} or (set(sal) <= set(hotkeys) and all(v > 0 and math.isfinite(v) for v in sal.values())
                         and abs(sum(sal.values()) - 1) < 1e-9)


# == MULTI-BREAKOUT ================================================================================


@lru_cache(maxsize=None)
def _bo_panel():
    """Two weeks of a 33-asset market, eight informative miners (AUC 0.6–0.8), two noise miners,
    one constant; values at the trigger rows only (what the platform reads)."""
    return planted(0, roles={"informative": 8, "noise": 2, "constant": 1})


def _with_columns(X: np.ndarray, hotkeys: list[str], cols: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    extra = np.stack([np.asarray(c, dtype=X.dtype) for c in cols.values()], axis=1)
    return np.concatenate([X, extra], axis=1), list(hotkeys) + list(cols)


def _increasing(src: np.ndarray, k: float) -> np.ndarray:
    """A copy of a miner's column through p ↦ p^k on every p_continuation (its pairs stay valid)."""
    out = src.astype(np.float32)
    out[..., 0::2] = out[..., 0::2] ** k
    out[..., 1::2] = 1 - out[..., 0::2]
    return out.astype(np.float16)


def test_increasing_maps_of_a_source_are_its_copies():
    """B2 against copies that B1 and B3 cannot tell from their source: p^k has the source's ranks,
    so the same AUC, p-value and fit column, while its values' Pearson correlation with the source's
    is 0.87 for k = 4 (the soft-cohort cut is 0.92). Found on values alone, one such copy took as much
    as its source (0.13 each where the source alone had 0.20) and three cut the source to a third.
    Found on ranks too, the group takes what the source takes alone and the others keep theirs."""
    X, sidx, prices, hotkeys, names, skill, _ = _bo_panel()
    best = int(np.nanargmax(skill))
    alone = breakout_salience(X, sidx, prices, hotkeys, "fixed")
    assert alone.get(hotkeys[best], 0.0) > 0.1
    copies = {f"zz-copy{i}": _increasing(X[:, best], k) for i, k in enumerate((4.0, 0.25, 3.0))}
    copies["zz-reversed"] = _increasing(1 - X[:, best].astype(np.float32), 1.0)  # a decreasing map: AUC < 0.5
    Xc, hk = _with_columns(X, hotkeys, copies)
    got = breakout_salience(Xc, sidx, prices, hk, "fixed")
    assert valid_breakout_map(got, hk)
    group = got.get(hotkeys[best], 0.0) + sum(got.get(h, 0.0) for h in copies)
    assert group == pytest.approx(alone[hotkeys[best]], rel=1e-6)
    assert got.get("zz-reversed", 0.0) == 0.0
    for h in hotkeys:
        if h != hotkeys[best]:
            assert got.get(h, 0.0) == pytest.approx(alone.get(h, 0.0), rel=1e-6, abs=1e-12)


def _untested_columns(X: np.ndarray, ev, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Columns B1 never tests: no valid value at any trigger (F7), too few events or days, or no
    spread."""
    T, _, D = X.shape
    rows = np.unique(ev.trigger_row)
    out = {}

    def col(fill) -> np.ndarray:
        c = np.full((T, D), np.nan, dtype=np.float32)
        c[rows] = fill
        return c

    out["x-zero-pairs"] = col(0.0)  # [0, 0] everywhere: no value
    out["x-negative-zero"] = col(-0.0)
    out["x-out-of-range"] = col(np.where(rng.random((len(rows), D)) < 0.5, 1.0009765625, -6e-8))
    out["x-inf"] = col(np.where(rng.random((len(rows), D)) < 0.5, np.inf, -np.inf))
    out["x-nan-cells"] = col(np.where(np.arange(D) % 2 == 0, np.nan, 0.5))  # p_reversal NaN: no value
    out["x-huge"] = col(1e30)  # beyond float16 once stored
    out["x-constant"] = col(pairs(np.full(33, 0.3)))
    out["x-subnormal"] = col(pairs(np.full(33, 6e-8)))  # valid, but a constant
    out["x-constant-one"] = col(np.tile([1.0, 0.0], 33))  # valid [1, 0] pairs, constant
    few = np.full((T, D), np.nan, dtype=np.float32)  # informative, on 19 events only
    for r, a, y in list(zip(ev.trigger_row, ev.asset, ev.label))[-19:]:
        few[r] = pairs(np.full(33, 0.5))
        few[r, 2 * a : 2 * a + 2] = [0.9, 0.1] if y else [0.1, 0.9]
    out["x-few-events"] = few
    last_days = np.full((T, D), np.nan, dtype=np.float32)  # informative, on the last four trigger days
    day = ev.trigger_sidx // BreakoutParams().cluster
    for r, a, y in zip(ev.trigger_row[day >= day.max() - 3], ev.asset[day >= day.max() - 3],
                       ev.label[day >= day.max() - 3]):
        last_days[r] = pairs(np.full(33, 0.5))
        last_days[r, 2 * a : 2 * a + 2] = [0.9, 0.1] if y else [0.1, 0.9]
    out["x-four-days"] = last_days
    return out


def test_untested_columns_change_nothing():
    """A miner whose values B1 never tests (no value, too few events or days, no spread) leaves every
    other miner's share exactly as it was, whatever it sends; compat never raises on them either."""
    X, sidx, prices, hotkeys, names, skill, _ = _bo_panel()
    ev = breakout_events(prices, sidx)
    ev = ev.take(ev.trigger_sidx > sidx[-1] - BreakoutParams().history)
    junk = _untested_columns(X, ev, np.random.default_rng(0))
    Xj, hk = _with_columns(X.astype(np.float32), hotkeys, junk)
    want = breakout_salience(X, sidx, prices, hotkeys, "fixed")
    got = breakout_salience(Xj, sidx, prices, hk, "fixed")
    assert got.keys() == want.keys() and got == pytest.approx(want, rel=1e-12)  # (zeros in a longer sum: an ulp)
    assert valid_breakout_map(breakout_salience(Xj, sidx, prices, hk, "compat"), hk)
    # and alone, or with one another only, they score nothing
    only = [hk.index(h) for h in junk]
    assert breakout_salience(Xj[:, only], sidx, prices, [hk[j] for j in only], "fixed") == {}


_PALETTE = np.array([np.nan, np.inf, -np.inf, 65504.0, -65504.0, 0.0, -0.0, 1.0, 0.5, 6e-8, 1.0009765625, -6e-8,
                     0.25, 0.75], dtype=np.float32)
_KINDS = ("palette", "flip", "one-asset", "late", "label-free-noise", "all-same-value", "float32-huge")


@lru_cache(maxsize=None)
def _bo_small():
    """SMALL's short market (two episodes, ~24 trigger days) with two skilled miners."""
    X, sidx, prices, ev = small_panel(11, 3, T=2000)
    rng = np.random.default_rng(11)
    y = ev.label.astype(float)
    put(X, ev, 0, skilled(rng, y, 0.8))
    put(X, ev, 1, skilled(rng, y, 0.75))
    return X, sidx, prices, ev


def _hostile_column(kind: str, seed: int, X: np.ndarray, ev) -> np.ndarray:
    rng = np.random.default_rng(seed)
    T, _, D = X.shape
    rows = np.unique(ev.trigger_row)
    c = np.full((T, D), np.nan, dtype=np.float32)
    if kind == "palette":  # any cell from the palette, at every trigger
        c[rows] = rng.choice(_PALETTE, size=(len(rows), D))
    elif kind == "flip":  # [1, 0] or [0, 1] at random
        c[rows] = np.repeat(rng.integers(0, 2, (len(rows), 33)), 2, axis=1).astype(np.float32)
        c[rows, 1::2] = 1 - c[rows, 0::2]
    elif kind == "one-asset":  # one asset only, the others [0, 0]
        c[rows] = 0.0
        a = int(rng.integers(0, 33))
        c[rows, 2 * a] = rng.random(len(rows))
        c[rows, 2 * a + 1] = 1 - c[rows, 2 * a]
    elif kind == "late":  # present only at the last tenth of the triggers
        late = rows[-max(1, len(rows) // 10) :]
        c[late] = pairs(rng.random((len(late), 33)))
    elif kind == "label-free-noise":
        c[rows] = pairs(rng.random((len(rows), 33)))
    elif kind == "all-same-value":  # one value for every asset, varying by row
        c[rows] = pairs(np.repeat(rng.random((len(rows), 1)), 33, axis=1))
    else:  # wider than float16 holds
        c[rows] = rng.choice(np.array([1e30, -1e30, 0.5, 3e-9], dtype=np.float32), size=(len(rows), D))
    return c


@settings(**FUZZ, max_examples=14)
@given(kinds=st.lists(st.sampled_from(_KINDS), min_size=1, max_size=3), seed=st.integers(0, 2**16),
       hotkey_order=st.permutations(range(5)), wide=st.booleans())
def test_hostile_columns_never_raise_nor_displace_skill(kinds, seed, hotkey_order, wide):
    X, sidx, prices, ev = _bo_small()
    cols = [_hostile_column(k, seed + i, X, ev) for i, k in enumerate(kinds)]
    Xh = np.concatenate([X.astype(np.float32)] + [c[:, None] for c in cols], axis=1)
    if not wide:
        with np.errstate(over="ignore"):
            Xh = Xh.astype(np.float16)
    names = ["skill-a", "skill-b", "absent"] + [f"hostile{i}" for i in range(len(kinds))]
    order = [j for j in hotkey_order if j < len(names)] + list(range(5, len(names)))
    hk = [names[j] for j in order]
    Xh = Xh[:, order]
    for mode in ("fixed", "compat"):
        out = breakout_salience(Xh, sidx, prices, hk, mode, BO_SMALL)
        assert valid_breakout_map(out, hk)
    out = breakout_salience(Xh, sidx, prices, hk, "fixed", BO_SMALL)
    assert out.get("skill-a", 0.0) > 0.2 and out.get("skill-b", 0.0) > 0.1
    assert "absent" not in out


def test_a_flood_of_sybils_takes_nothing():
    """Sixty noise hotkeys tested beside two skilled miners (Holm's family grows thirty-fold) and
    thirty copies of one skilled miner at float16's resolution: the noise takes nothing, the skilled
    still pass, and the copies' group takes what its source takes alone."""
    X, sidx, prices, ev = _bo_small()
    rng = np.random.default_rng(5)
    rows = np.unique(ev.trigger_row)
    T = len(sidx)
    noise = np.full((T, 60, 66), np.nan, dtype=np.float32)
    noise[rows] = pairs(rng.random((len(rows), 60, 33)))
    copies = np.full((T, 30, 66), np.nan, dtype=np.float32)
    copies[rows] = np.clip(X[rows, :1].astype(np.float32) + rng.uniform(-2e-3, 2e-3, (len(rows), 30, 66)), 0, 1)
    base_hk = ["skill-a", "skill-b", "absent"]
    alone = breakout_salience(X, sidx, prices, base_hk, "fixed", BO_SMALL)
    Xs = np.concatenate([X, noise.astype(np.float16), copies.astype(np.float16)], axis=1)
    hk = base_hk + [f"noise{j:02d}" for j in range(60)] + [f"copy{j:02d}" for j in range(30)]
    got = breakout_salience(Xs, sidx, prices, hk, "fixed", BO_SMALL)
    assert valid_breakout_map(got, hk)
    assert sum(v for h, v in got.items() if h.startswith("noise")) == 0.0
    group = got["skill-a"] + sum(v for h, v in got.items() if h.startswith("copy"))
    # (the group is scored on its first member by hotkey among those with the most events, here
    # copy00: a copy a few thousandths off its source scores as the source does, to 0.1 %)
    assert group == pytest.approx(alone["skill-a"], rel=0.01)
    assert got["skill-b"] == pytest.approx(alone["skill-b"], rel=0.01)


def test_a_thousand_hotkeys_leave_the_skilled_group_its_share():
    """1 000 hotkeys (noise, 300 clones of a skilled miner, constants) through fixed mode's gate,
    copy groups and fit on the rows it reads (its speed is the bench's business)."""
    X, sidx, prices, ev = _bo_small()
    ev = ev.take(ev.trigger_sidx > sidx[-1] - BO_SMALL.history)
    rows, at = np.unique(ev.trigger_row, return_inverse=True)
    rng = np.random.default_rng(8)
    H = 1000
    V = np.full((len(rows), H, 66), np.nan, dtype=np.float16)
    V[:, :2] = X[rows, :2]
    V[:, 2:302] = np.clip(X[rows, :1].astype(np.float32) + rng.uniform(-2e-4, 2e-4, (len(rows), 300, 66)), 0, 1)
    V[:, 302:900] = pairs(rng.random((len(rows), 598, 33)))
    V[:, 900:] = pairs(np.full((len(rows), 100, 33), 0.4))
    names = [f"h{j:04d}" for j in range(H)]
    compact = breakout.Events(ev.asset, at.astype(np.int64), ev.trigger_sidx, ev.resolution_sidx, ev.direction,
                              ev.label)  # trigger rows into V
    out = breakout._fixed(V, np.arange(H), compact, names, BO_SMALL)
    assert valid_breakout_map(out, names)
    assert out["h0001"] > 0.2 and sum(out.get(h, 0.0) for h in names[302:]) == 0.0
    assert out["h0000"] + sum(out.get(h, 0.0) for h in names[2:302]) > 0.2


_BAD_PRICES = np.array([0.0, -1.0, -np.inf, np.inf, np.nan, -0.0])


@settings(**FUZZ, max_examples=30)
@given(seed=st.integers(0, 2**16), bad=st.floats(0.0, 0.3), gaps=st.booleans(), one_asset=st.booleans(),
       lookback=st.integers(4, 80))
def test_junk_prices_are_missing_prices(seed, bad, gaps, one_asset, lookback):
    """A price row that is 0, negative, ±inf or NaN for some assets is no price for them: the events
    are those of the same panel with NaN there, on any sidx gaps; none is pending past the end."""
    rng = np.random.default_rng(seed)
    T, A = 800, 5
    step = np.where(rng.random(T) < 0.9, 1, rng.integers(2, 200, T)) if gaps else np.ones(T, dtype=np.int64)
    sidx = 10_000 + np.cumsum(step)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (T, A)), axis=0))
    if one_asset:
        prices[:, 1:] = np.nan
    junk = rng.random((T, A)) < bad
    dirty = prices.copy()
    dirty[junk] = rng.choice(_BAD_PRICES, size=int(junk.sum()))
    clean = prices.copy()
    clean[junk] = np.nan
    params = BreakoutParams(range_lookback=lookback, max_pending=3 * lookback)
    got, want = breakout_events(dirty, sidx, params), breakout_events(clean, sidx, params)
    for f in breakout._FIELDS:
        assert np.array_equal(getattr(got, f), getattr(want, f))
    assert np.all(got.resolution_sidx > got.trigger_sidx) and np.all(got.resolution_sidx <= sidx[-1])
    assert np.isin(breakout.trigger_samples(sidx, dirty, "fixed", params), sidx).all()


def test_degenerate_breakout_panels():
    X, sidx, prices, ev = _bo_small()
    hk = ["skill-a", "skill-b", "absent"]
    for mode in ("fixed", "compat"):
        # one hotkey; one row; no hotkey
        assert valid_breakout_map(breakout_salience(X[:, :1], sidx, prices, hk[:1], mode, BO_SMALL), hk)
        assert breakout_salience(X[:1], sidx[:1], prices[:1], hk, mode, BO_SMALL) == {}
        assert breakout_salience(X[:, :0], sidx, prices, [], mode, BO_SMALL) == {}
        # prices of one asset only: every event is that asset's
        one = np.full_like(prices, np.nan)
        one[:, 7] = prices[:, 7]
        assert valid_breakout_map(breakout_salience(X, sidx, one, hk, mode, BO_SMALL), hk)
        # a two-day hole in the samples, and junk price rows
        dirty = prices.copy()
        dirty[::17, ::3] = 0.0
        dirty[5::23] = -np.inf
        gap = sidx.copy()
        gap[len(gap) // 3 :] += 2 * 1440
        assert valid_breakout_map(breakout_salience(X, gap, dirty, hk, mode, BO_SMALL), hk)
        with pytest.raises(ValueError):
            breakout_salience(X, sidx, prices, ["a", "b", "a"], mode, BO_SMALL)
        dup = sidx.copy()
        dup[10] = dup[9]
        with pytest.raises(ValueError):
            breakout_salience(X, dup, prices, hk, mode, BO_SMALL)


def test_the_rows_the_platform_reads_are_enough():
    """The platform reads values only at `trigger_samples` (NaN elsewhere): whatever a miner sends at
    other samples, including values only a look-ahead could make, the map is the same."""
    X, sidx, prices, ev = _bo_small()
    read = breakout.trigger_samples(sidx, prices, "fixed", BO_SMALL)
    assert np.array_equal(read, np.unique(ev.trigger_sidx))
    sparse = np.full_like(X, np.nan)
    at = np.searchsorted(sidx, read)
    sparse[at] = X[at]
    cheat = X.astype(np.float32).copy()
    other = np.setdiff1d(np.arange(len(sidx)), at)
    cheat[other, 2] = 1.0  # the absent miner, everywhere but at the triggers
    for mode in ("fixed", "compat"):
        want = breakout_salience(X, sidx, prices, ["a", "b", "c"], mode, BO_SMALL)
        assert breakout_salience(sparse, sidx, prices, ["a", "b", "c"], mode, BO_SMALL) == want
        assert breakout_salience(cheat, sidx, prices, ["a", "b", "c"], mode, BO_SMALL) == want


# == TRADE-MIX =====================================================================================

TM = TradeMixParams()
SKILL3 = ["skill", "skill", "skill", "noise"]


@lru_cache(maxsize=None)
def _tm_panel(seed: int, hours: int = 800):
    X, sidx, prices = market_panel(seed, SKILL3, hours=hours)
    return X.astype(np.float32), sidx, prices


def _lagged(book: np.ndarray, lag: int) -> np.ndarray:
    out = np.zeros_like(book)
    out[lag:] = book[: len(book) - lag]
    return out


@pytest.mark.parametrize("seed", [0, 2])
def test_a_senior_leaning_against_a_junior_cannot_erase_it(seed):
    """T5: the seniority pass projects a junior off every senior it is |cos| ≥ 0.2 with, and a
    projection does not care for sign. A hotkey that sends flat books from the start (a flat book
    counts as submitted: seniority for free) and then the negative of a skilled trader's book an
    hour or three late took that trader's RV pay to 0 (seeds 0 and 2, t 3.7 → 0.9–2.1) at no gain to
    itself. A senior without positive evidence of its own is no projection source now."""
    X, sidx, prices = _tm_panel(seed)
    params = TradeMixParams(miner_cap=1.0)  # no cap: the shares show the evidence
    base = scored(X.astype(np.float16), sidx, prices, "fixed", params)
    assert base.gate_rv[0] and base.shares_rv[0] > 0.1
    for lag in (1, 3):
        for flat_hours in (0, 200):
            griefer = -_lagged(X[:, 0], lag)
            griefer[:flat_hours] = 0.0
            # the griefer sorts first and is present from row 0: senior to everyone
            Xg = np.concatenate([griefer[:, None], X], axis=1).astype(np.float16)
            s = scored(Xg, sidx, prices, "fixed", params)
            assert s.first_seen[0] == 0 and not s.gate_rv[0] and s.shares[0] == 0.0
            assert s.gate_rv[1] and s.shares_rv[1] >= 0.9 * base.shares_rv[0], (lag, flat_hours)
            assert s.t_rv[1] == pytest.approx(base.t_rv[0], rel=0.05)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_squatter_copying_a_trader_late_takes_nothing(seed):
    """Seniority squatting (T8): a hotkey that sorts first sends flat books from row 0 (seniority
    for free) and then a skilled trader's own book one or three hours late. By first sample it is
    the senior, and the trader would be tested on what it adds to its own late copy. The late book
    trails the trader's (its lagged cosine beats the same-hour one and the reverse), so the trader
    stays senior and the squatter is tested on what it adds to the trader's book at every lag."""
    X, sidx, prices = _tm_panel(seed)
    params = TradeMixParams(miner_cap=1.0)
    base = scored(X.astype(np.float16), sidx, prices, "fixed", params)
    assert base.gate_rv[0] and base.shares_rv[0] > 0.1
    for lag in (1, 3):
        for flat_hours in (0, 200):
            squatter = _lagged(X[:, 0], lag)
            squatter[:flat_hours] = 0.0
            Xs = np.concatenate([squatter[:, None], X], axis=1).astype(np.float16)
            s = scored(Xs, sidx, prices, "fixed", params)
            assert s.first_seen[0] == 0 and s.shares[0] == 0.0, (lag, flat_hours)
            assert s.gate_rv[1] and s.shares_rv[1] >= 0.9 * base.shares_rv[0], (lag, flat_hours)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_junior_copies_take_nothing_that_matters(seed):
    """Copies that joined with their source (first seen at the same hour, sorting after it: junior)
    or later: the book one, three or eight hours late, and the book plus noise that keeps its cosine
    just under the 0.95 of dedup. Each is projected off its source and tested on what it adds: the
    source keeps 90 % of its pay and no copy takes a fifth of it."""
    X, sidx, prices = _tm_panel(seed)
    params = TradeMixParams(miner_cap=1.0)
    base = scored(X.astype(np.float16), sidx, prices, "fixed", params)
    honest = base.shares_rv[0]
    rng = np.random.default_rng(seed)
    src = X[:, 0]
    noisy = src + 0.4 * src.std() * rng.standard_normal(src.shape)
    lo = len(sidx) - TM.dedup_hours
    cos = float(np.sum(noisy[lo:] * src[lo:]) / np.linalg.norm(noisy[lo:]) / np.linalg.norm(src[lo:]))
    assert 0.9 < cos < 0.95
    copies = {"lag1": _lagged(src, 1), "lag3": _lagged(src, 3), "lag8": _lagged(src, 8), "noisy": noisy}
    for name, c in copies.items():
        Xc = np.concatenate([X, np.clip(c, -1, 1)[:, None]], axis=1).astype(np.float16)  # column 4: junior
        s = scored(Xc, sidx, prices, "fixed", params)
        assert s.shares_rv[0] >= 0.9 * honest, name
        assert s.shares_rv[4] <= 0.2 * honest, name
        assert s.shares_rv[1:4] == pytest.approx(base.shares_rv[1:4], rel=0.25, abs=0.02)


def _market_timer(prices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A market timer: long or short all four assets alike, by a noisy view of the next 24 hours of
    their mean log return (AR(1) noise, φ 0.95): an RV book of 0, all of it market exposure."""
    lp = np.log(prices).mean(axis=1)
    ahead = np.concatenate([lp[24:] - lp[:-24], np.zeros(24)])
    view = 0.7 * ahead / ahead.std() + 0.7 * _ar1(rng, 0.95, (len(lp), 1))[:, 0]
    return np.clip(0.3 * view, -1, 1)[:, None] * np.ones(4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_late_copy_of_a_market_timer_takes_nothing_of_the_beta_channel(seed):
    """T8 for the beta channel: a hotkey sends a market timer's exposure an hour late, with an RV
    book of its own so that the RV channel sees no copy. The beta channel had no seniority pass and
    clustered the two (cos ≥ 0.95): the copy took half the timer's beta pool (t 6.1–8.3 of its own).
    Its exposure trails the timer's: it has no beta evidence and does not stand in the cluster. An
    independent second timer, on the other hand, trails no one and is paid."""
    X, sidx, prices = market_panel(seed, ["skill"] * 3 + ["noise"], hours=1440)
    X = X.astype(np.float32)
    rng = np.random.default_rng(seed)
    timer = _market_timer(prices, rng)
    params = TradeMixParams(miner_cap=1.0)
    alone = scored(np.concatenate([X, timer[:, None]], axis=1).astype(np.float16), sidx, prices, "fixed", params)
    assert alone.gate_beta[4] and alone.shares_beta[4] > 0.9
    copy = _lagged(timer, 1) + 0.2 * rng.uniform(-1, 1, timer.shape) * (np.arange(4) - 1.5)
    Xc = np.concatenate([X, timer[:, None], np.clip(copy, -1, 1)[:, None]], axis=1).astype(np.float16)
    s = scored(Xc, sidx, prices, "fixed", params)
    assert s.shares_beta[5] == 0.0 and s.t_beta[5] == 0.0
    assert s.shares_beta[4] == pytest.approx(alone.shares_beta[4])
    other = _market_timer(prices, np.random.default_rng(seed + 100))
    Xo = np.concatenate([X, timer[:, None], other[:, None]], axis=1).astype(np.float16)
    s = scored(Xo, sidx, prices, "fixed", params)
    assert s.gate_beta[4] and s.gate_beta[5] and min(s.shares_beta[4:6]) > 0.2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_book_sent_by_two_hotkeys_from_the_same_start_earns_less_than_on_one(seed):
    """T11: the same book at the same hours from the same first sample. Positions are timelocked, so
    no one sees a book within its hour; two hotkeys sending it from the same start are one book split
    (one operator's, or one model run twice), and neither can be told for the original: hotkey order,
    which the sender picks, would otherwise hand one of them the whole credit. They share one credit
    n² ways, each a quarter, so the book earns less on two hotkeys than on one."""
    X, sidx, prices = _tm_panel(seed)
    params = TradeMixParams(miner_cap=1.0)
    base = scored(X.astype(np.float16), sidx, prices, "fixed", params)
    assert base.gate_rv[0] and base.shares_rv[0] > 0.1
    for column in (0, 4):  # the copy's hotkey sorting before or after the source's
        Xc = np.insert(X, column, X[:, 0], axis=1).astype(np.float16)
        s = scored(Xc, sidx, prices, "fixed", params)
        pair = s.shares_rv[[0, 1]] if column == 0 else s.shares_rv[[0, 4]]
        assert pair[0] == pair[1] > 0
        assert pair.sum() < 0.75 * base.shares_rv[0]
        others = np.delete(s.shares_rv, [0, 1] if column == 0 else [0, 4])
        assert np.all(others >= base.shares_rv[1:4] - 1e-12)  # what the pair loses goes to the others


def _junk_book(rng: np.random.Generator, kind: str, T: int) -> np.ndarray:
    """Worthless books a miner can hold, all of them persistent in some way."""
    if kind.startswith("ar"):
        return 0.5 * _ar1(rng, float(kind[2:]), (T, 4))
    if kind.startswith("hold"):  # one random book held for h hours
        h = int(kind[4:])
        return np.repeat(rng.uniform(-1, 1, (T // h + 1, 4)), h, axis=0)[:T]
    if kind == "step":  # a constant book reversed once
        x = np.tile(rng.uniform(-1, 1, 4), (T, 1))
        x[int(rng.integers(T // 4, T)) :] *= -1
        return x
    if kind == "one-hour":  # flat but for one hour
        x = np.zeros((T, 4))
        x[int(rng.integers(0, T))] = rng.choice([-1.0, 1.0], 4)
        return x
    if kind == "constant":
        return np.tile(rng.uniform(-1, 1, 4), (T, 1))
    if kind == "same-all":  # long or short the same amount of every asset
        return np.full((T, 4), rng.uniform(-1, 1))
    if kind == "flip":  # all in, all out: the most turnover there is
        return np.where(rng.random((T, 1)) < 0.5, -1.0, 1.0) * np.ones(4)
    return np.linspace(-1, 1, T)[:, None] * rng.choice([-1.0, 1.0], 4)  # a trend


JUNK = ("ar0.95", "ar0.99", "ar0.999", "hold8", "hold24", "hold72", "step", "one-hour", "constant", "same-all", "flip",
        "trend")


def test_persistent_junk_is_not_evidence():
    """T7 on books that persist (AR(1) up to φ = 0.999 an hour, books held 8–72 hours, a step, a
    trend) and on degenerate ones (flat but for one hour, constant, all-in-all-out): 288 worthless
    books over four panels with no skilled miner. Their p-values are no smaller than chance (at
    most 2.5 % below 0.01, 8 % below 0.05, in both channels). (Benjamini–Hochberg at 5 % over a
    family of worthless books still admits one in about 20 families: one of these eight admits a
    one-hour book at p = 0.0006 and pays it the channel's 20 % cap. Books flat but for one hour
    reach p ≤ 0.001 about twice as often as chance: the t tail over the null's effective draws
    claims more than one draw from the labels' own series can show.)"""
    p_rv, p_beta = [], []
    for seed in range(4):
        rng = np.random.default_rng(100 + seed)
        X, sidx, prices = market_panel(seed, ["noise"], hours=800)
        books = np.stack([_junk_book(rng, k, len(sidx)) for k in JUNK for _ in range(6)], axis=1)
        s = scored(np.clip(books, -1, 1).astype(np.float16), sidx, prices, "fixed")
        assert s.shares.max() <= 0.75 * TM.miner_cap + 1e-12 and s.burn >= 0.85 - 1e-12
        p_rv.extend(s.p_rv)
        p_beta.extend(s.p_beta)
    for p in (np.array(p_rv), np.array(p_beta)):
        assert np.mean(p < 0.01) <= 0.025 and np.mean(p < 0.05) <= 0.08


def test_junk_and_sybils_beside_skilled_traders():
    """Three skilled traders and 60 worthless hotkeys (every junk kind, five times over, all of them
    senior to the traders): the junk takes under 5 % of the pool and the traders with p < 0.001
    keep their pay. (The third, p = 0.0068, falls to Benjamini–Hochberg's family growing from 4 to
    64: q·k/m = 0.0023 for it. Sybils that only exist can starve a trader of middling evidence.)"""
    X, sidx, prices = _tm_panel(1)
    base = scored(X.astype(np.float16), sidx, prices, "fixed")
    strong = np.flatnonzero(base.p_rv[:3] < 0.001)
    assert len(strong) == 2
    rng = np.random.default_rng(7)
    junk = np.stack([_junk_book(rng, k, len(sidx)) for k in JUNK for _ in range(5)], axis=1)
    Xj = np.concatenate([np.clip(junk, -1, 1), X], axis=1).astype(np.float16)  # junk columns first: senior
    s = scored(Xj, sidx, prices, "fixed")
    n = junk.shape[1]
    assert s.shares[n + strong] == pytest.approx(base.shares[strong], rel=0.15)
    assert s.shares[:n].sum() < 0.05


def test_degenerate_books_earn_nothing():
    """Flat, constant, one-hour, all-in-all-out and last-hours-only books, NaN cells and vectors,
    values beyond ±1: none is paid and the skilled traders keep their shares."""
    X, sidx, prices = _tm_panel(0)
    T = len(sidx)
    rng = np.random.default_rng(3)
    cols = [np.zeros((T, 4)), np.full((T, 4), 0.7), _junk_book(rng, "one-hour", T), _junk_book(rng, "flip", T)]
    late = np.full((T, 4), np.nan)
    late[-30:] = X[-30:, 0]  # a copy of the best book, present in the last 30 hours only
    cols.append(late)
    nan_cells = rng.uniform(-1, 1, (T, 4))
    nan_cells[rng.random((T, 4)) < 0.3] = np.nan  # a vector with a NaN cell is no vector (F7)
    cols.append(nan_cells)
    cols.append(np.where(rng.random((T, 4)) < 0.5, 60_000.0, -np.inf))  # clipped to ±1: all-in-all-out
    Xd = np.concatenate([X, np.stack(cols, axis=1)], axis=1)
    hk = ["a", "b", "c", "d"] + [f"x{j}" for j in range(len(cols))]
    base = tm.trade_mix_salience(X.astype(np.float16), sidx, prices, hk[:4], "fixed")
    for dtype in (np.float16, np.float32):
        with np.errstate(over="ignore"):
            out = tm.trade_mix_salience(Xd.astype(dtype), sidx, prices, hk, "fixed")
        assert_valid_map(out, hk, "fixed")
        assert all(out.get(h, 0.0) == 0.0 for h in hk[4:])
        assert {h: out.get(h, 0.0) for h in hk[:4]} == pytest.approx({h: base.get(h, 0.0) for h in hk[:4]}, rel=0.05)
        assert_valid_map(tm.trade_mix_salience(Xd.astype(dtype), sidx, prices, hk, "compat"), hk, "compat")


@settings(**FUZZ, max_examples=12)
@given(seed=st.integers(0, 2**16), bad=st.floats(0.0, 0.2), gap=st.integers(0, 3000), per_hour=st.sampled_from([1, 2]),
       H=st.integers(1, 4), jitter=st.booleans())
def test_trade_mix_panels_of_any_shape(seed, bad, gap, per_hour, H, jitter):
    """Price rows NaN, 0, negative or ±inf for some assets, a gap of up to two days in the samples,
    jittered minutes, one to four miners in any hotkey order: a valid map, shares and burn summing
    to 1, in both modes."""
    rng = np.random.default_rng(seed)
    X, sidx, prices = market_panel(seed % 5, ["skill", "noise", "ar1", "skill"][:H], hours=400, per_hour=per_hour)
    sidx = sidx.copy()
    sidx[len(sidx) // 2 :] += gap
    if jitter:
        sidx = sidx + np.arange(len(sidx)) % 3
    prices = prices.copy()
    junk = rng.random(prices.shape) < bad
    prices[junk] = rng.choice([0.0, -3.0, np.nan, np.inf, -np.inf], size=int(junk.sum()))
    hk = [f"m{j}" for j in rng.permutation(H)]
    for mode in ("fixed", "compat"):
        for params in (TM, TradeMixParams(min_hours=60, min_rows=30, factor_warmup_hours=24, refresh_hours=6,
                                          vol_window_hours=48, market_window_hours=96, null_margin_hours=16,
                                          min_null=20, probation_hours=30, dedup_hours=48, attribution_hours=48,
                                          coverage_hours=48, horizons_hours=(3, 6, 12), beta_horizon_hours=6)):
            assert_valid_map(tm.trade_mix_salience(X, sidx, prices, hk, mode, params), hk, mode)


def test_many_correlated_hotkeys_share_one_capped_credit():
    """300 sybils, each the best book plus a little noise (every pair |cos| ≥ 0.2: the seniority
    pass's worst case, every junior projected off every senior), beside three skilled traders."""
    X, sidx, prices = _tm_panel(0, hours=600)
    rng = np.random.default_rng(9)
    T = len(sidx)
    sybils = np.clip(X[:, :1] + rng.normal(0, 0.05, (T, 300, 4)), -1, 1)
    Xs = np.concatenate([X, sybils], axis=1).astype(np.float16)
    hk = [f"h{j:04d}" for j in range(Xs.shape[1])]
    out = tm.trade_mix_salience(Xs, sidx, prices, hk, "fixed")
    assert_valid_map(out, hk, "fixed")
    group = out.get("h0000", 0.0) + sum(out.get(h, 0.0) for h in hk[4:])
    assert group <= 0.75 * TM.miner_cap + 1e-9  # one RV credit, capped, however many hold the book


def test_trade_mix_panels_are_checked():
    X, sidx, prices = _tm_panel(0)
    with pytest.raises(ValueError):
        tm.trade_mix_salience(X, sidx, prices, ["a", "b", "a", "c"], "fixed")
    dup = sidx.copy()
    dup[5] = dup[4]
    with pytest.raises(ValueError):
        tm.trade_mix_salience(X, dup, prices, ["a", "b", "c", "d"], "fixed")
    assert tm.trade_mix_salience(X[:, :0], sidx, prices, [], "fixed") == {BURN_KEY: 1.0}


# == the platform's reads ==========================================================================

BREAKOUT_FORMAT = ChallengeFormat("MULTI-BREAKOUT", "MULTIBREAKOUT", 2 * len(BREAKOUT_ASSETS), "pairs", BREAKOUT_ASSETS)
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-10**400, 10**400) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=2),
    max_leaves=6)


@settings(**FUZZ, max_examples=150)
@given(value=st.dictionaries(st.sampled_from(list(BREAKOUT_ASSETS[:4]) + ["btc", "x"]),
                             _JSONISH | st.lists(st.floats(0, 1), min_size=2, max_size=2), max_size=6))
def test_pairs_rule_never_raises_and_keeps_only_pairs_in_the_unit_interval(value):
    vector, problem = object_vector(value, BREAKOUT_FORMAT)
    assert problem is None and len(vector) == 66 and all(type(x) is float and 0 <= x <= 1 for x in vector)
    for k, a in enumerate(BREAKOUT_ASSETS):
        x = value.get(a)
        ok = (isinstance(x, list) and len(x) == 2
              and all((type(v) is int or (type(v) is float and math.isfinite(v))) and 0 <= v <= 1 for v in x))
        assert vector[2 * k : 2 * k + 2] == ([float(x[0]), float(x[1])] if ok else [0.0, 0.0])


@pytest.fixture(scope="module")
def embedding_ledger(tmp_path_factory):
    """A SQLite ledger with 1 200 samples of one challenge: hotkeys that come and go, gaps, vectors
    of every kind, and another challenge's rows at the same samples."""
    led = Ledger(f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}")
    rng = np.random.default_rng(0)
    hotkeys = [f"5Hot{j:02d}" + "x" * 40 for j in range(12)]
    sidxs = np.sort(rng.choice(np.arange(1000, 3000), size=1200, replace=False))
    values = rng.uniform(0, 1, (len(sidxs), len(hotkeys), 6)).astype(np.float16)
    values[:, :, 2] = 0.0
    present = rng.random((len(sidxs), len(hotkeys))) < 0.6
    present[:, 11] = False
    present[700, 11] = True  # one hotkey at one sample only
    led.store_embeddings_many("MB", sidxs.tolist(), hotkeys, values, present)
    led.store_embeddings_many("OTHER", sidxs[:50].tolist(), hotkeys[:2], values[:50, :2], present[:50, :2])
    yield led, sidxs
    led.dispose()


@lru_cache(maxsize=None)
def _full_read(led: Ledger, dtype: type):
    return led.embeddings("MB", 0, 10**6, dtype=dtype)


@settings(**FUZZ, max_examples=30)
@given(data=st.data())
def test_few_rows_are_read_as_streaming_reads_them(embedding_ledger, data):
    led, stored = embedding_ledger
    lo = data.draw(st.integers(900, 2000))
    hi = data.draw(st.integers(lo, 3100))
    pool = np.union1d(stored, np.arange(900, 3100, 7))  # stored samples and samples with no row
    n = data.draw(st.sampled_from([0, 1, 5, 200, 899, 900, 901, 1100]))
    rows = np.sort(np.random.default_rng(data.draw(st.integers(0, 2**16))).choice(pool, n, replace=False))
    among = data.draw(st.none() | st.sets(st.sampled_from([f"5Hot{j:02d}" + "x" * 40 for j in range(13)])))
    dtype = data.draw(st.sampled_from([np.float16, np.float32]))
    got = led.embeddings("MB", lo, hi, dtype=dtype, rows=rows, among=among, dim=6)
    few = store._FEW_ROWS
    try:
        store._FEW_ROWS = -1 if len(rows) <= few else 10**9  # the other path
        other = led.embeddings("MB", lo, hi, dtype=dtype, rows=rows, among=among, dim=6)
    finally:
        store._FEW_ROWS = few
    full_sidx, full_hk, full = _full_read(led, dtype)
    for a, b in zip(got, other):
        assert np.array_equal(a, b, equal_nan=True) if isinstance(a, np.ndarray) else a == b
    sidx, hks, vals = got
    assert np.array_equal(sidx, rows) and vals.shape == (len(rows), len(hks), 6) and vals.dtype == dtype
    inside = (rows >= lo) & (rows < hi) & np.isin(rows, stored)
    pos = np.searchsorted(full_sidx, rows[inside])
    # the hotkeys are those the rows read list (every stored hotkey here, once a row is read): all
    # that have a vector at one of them, among `among`, and none but the ledger's
    has = ~np.isnan(full[pos]).all(axis=2)
    assert set(hks) <= set(full_hk) and (among is None or set(hks) <= among) and list(hks) == sorted(hks)
    assert {h for j, h in enumerate(full_hk) if has[:, j].any() and (among is None or h in among)} <= set(hks)
    assert hks == (() if not inside.any() else tuple(h for h in full_hk if among is None or h in among))
    for j, h in enumerate(hks):
        col = np.full((len(rows), 6), np.nan, dtype=dtype)
        col[inside] = full[pos, full_hk.index(h)]
        assert np.array_equal(vals[:, j], col, equal_nan=True)


def test_few_rows_refuse_duplicates_and_disorder(embedding_ledger):
    led, stored = embedding_ledger
    for rows in (stored[[3, 3, 4]], stored[[4, 3]], np.repeat(stored[:1000], 1)[::-1]):
        with pytest.raises(ValueError, match="strictly increasing"):
            led.embeddings("MB", 0, 10**6, rows=rows)
    sidx, hks, vals = led.embeddings("MB", 0, 10**6, rows=np.zeros(0, dtype=np.int64), dim=6)
    assert sidx.shape == (0,) and hks == () and vals.shape == (0, 0, 6)
