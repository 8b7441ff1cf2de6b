"""Attacks on XSEC-RANK and FUNDING-XSEC (mechanisms/mantis/xsec.py) that fixed mode resists: hostile
columns that must neither crash the scorer nor earn, forecasts built from public prices or rates that
carry no edge, copies the copy scan catches or that the meta-model leaves little to, copies lagged a
horizon, and 1-D fits on adversarial counts. Compat mode must not crash on any of these inputs (what it
pays is the reference's business)."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pytest
from scipy.signal import lfilter

from mechanisms.mantis import xsec
from mechanisms.mantis.xsec import FundingParams, XsecParams
from tests.test_xsec import SMALL, _panel

_K = 1 << 16


def _f16(a: np.ndarray) -> np.ndarray:
    """Values as the ledger holds them (float16), with exact zeros moved off "no value"."""
    a = np.clip(np.asarray(a, dtype=np.float64), -1, 1).astype(np.float16).astype(np.float32)
    a[a == 0] = 1e-3
    return a


def _with(X: np.ndarray, hks: list[str], cols: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    names = list(cols)
    return np.concatenate([X, np.stack([np.asarray(cols[n], np.float32) for n in names], axis=1)], axis=1), hks + names


def _hostile(T: int, A: int, seed: int) -> dict[str, np.ndarray]:
    """Degenerate columns a miner can submit (or a panel can hold), one per hostile hotkey."""
    rng = np.random.default_rng(seed)
    nan = np.full((T, A), np.nan, np.float32)
    out = {}
    a = nan.copy(); a[-1] = 0.5; out["x-one-row"] = a
    a = nan.copy(); a[100] = rng.uniform(-1, 1, A); out["x-one-early-row"] = a
    out["x-alternating"] = np.where((np.arange(T) % 2 == 1)[:, None], rng.uniform(-1, 1, (T, A)), np.nan).astype(np.float32)
    out["x-constant"] = np.full((T, A), 0.5, np.float32)
    out["x-minus-one"] = np.full((T, A), -1.0, np.float32)
    out["x-plus-minus-one"] = rng.choice([-1.0, 1.0], (T, A)).astype(np.float32)
    out["x-subnormal"] = (rng.choice([-1, 1], (T, A)) * 6e-8).astype(np.float32)  # float16's smallest
    out["x-subnormal-or-one"] = np.where(rng.random((T, A)) < 0.5, 6e-8, 1.0).astype(np.float32)
    out["x-negative-zero"] = np.full((T, A), -0.0, np.float32)
    out["x-negative-zero-mix"] = np.where(rng.random((T, A)) < 0.5, -0.0, rng.uniform(-1, 1, (T, A))).astype(np.float32)
    a = np.zeros((T, A), np.float32); a[:, 3] = rng.uniform(-1, 1, T); out["x-one-asset"] = a
    out["x-row-constant"] = np.repeat(rng.uniform(-1, 1, (T, 1)), A, axis=1).astype(np.float32)
    out["x-tiny-steps"] = (0.5 + 1e-3 * (np.arange(T) % 2)[:, None] + np.zeros(A)).astype(np.float32)
    out["x-inf"] = np.full((T, A), np.inf, np.float32)  # a float32 panel: not a value the ledger holds
    out["x-huge"] = np.full((T, A), 1e30, np.float32)
    a = nan.copy(); a[-400:] = rng.uniform(-1, 1, (400, A)); out["x-newcomer"] = a
    a = nan.copy(); a[:50] = rng.uniform(-1, 1, (50, A)); out["x-gone"] = a
    out["x-every-code"] = rng.uniform(-1, 1, (T, A)).astype(np.float32)
    return out


def _valid(out: dict[str, float]) -> bool:
    return all(math.isfinite(v) and v > 0 for v in out.values()) and (not out or abs(sum(out.values()) - 1) < 1e-9)


def _funding_world(seed: int, T: int, A: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(rates (T, A), the settlement of each row): new rates every 480 samples, a random walk ("rw")
    or the devnet's AR(1) around per-asset means ("ar")."""
    rng = np.random.default_rng(seed)
    K = T // 480 + 4
    if kind == "rw":
        r = np.cumsum(rng.normal(0, 5e-5, (K, A)), axis=0) + 1e-4
    else:
        mean = rng.uniform(0.5e-4, 1.5e-4, A)
        shock = 3e-5 * rng.normal(size=(K, 1)) + 5e-5 * rng.normal(size=(K, A))
        shock[0] /= math.sqrt(1 - 0.49)
        r = mean + lfilter([1.0], [1.0, -0.7], shock, axis=0)
    off = int(rng.integers(0, 480))
    settle = (np.arange(T) + off) // 480
    return r[settle], settle


def _honest_funding(rates: np.ndarray, rho: float, seed: int) -> np.ndarray:
    """A ρ-view of the standardised relative change of the rate over the next 480 rows."""
    T, A = rates.shape
    fwd = np.zeros_like(rates)
    fwd[: T - 480] = rates[480:] - rates[: T - 480]
    z = fwd - fwd.mean(axis=1, keepdims=True)
    z /= z.std()
    rng = np.random.default_rng(seed)
    return _f16(0.35 * (rho * z + math.sqrt(1 - rho * rho) * rng.normal(size=(T, A))))


def _xs(a: np.ndarray) -> np.ndarray:
    """Cross-sectionally demeaned, scaled into [−1, 1]."""
    a = a - np.nanmean(a, axis=1, keepdims=True)
    return 0.35 * a / np.nanstd(a)


# -- hostile columns ------------------------------------------------------------------------------


def test_hostile_xsec_columns_change_nothing_in_fixed_and_never_crash_compat():
    """Eighteen degenerate miners at once (one row, alternating rows, constants, ±1, float16
    subnormals, −0.0, one asset, inf/huge float32, a newcomer, a leaver, every float16 code): fixed
    mode pays them nothing and pays the honest miners exactly what it pays without them; compat
    returns valid shares."""
    X, sidx, prices, hks = _panel(1, 7000, 6, 33, {0: 0.3, 1: 0.2, 2: 0.1})
    params = XsecParams(**SMALL)
    alone = xsec.xsec_salience(X, sidx, prices, hks, "fixed", params)
    hostile = _hostile(len(X), 33, 0)
    XX, names = _with(X, hks, hostile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        both = xsec.xsec_salience(XX, sidx, prices, names, "fixed", params)
        assert alone and set(alone) == {"hk00", "hk01", "hk02"}
        assert both.keys() == alone.keys()
        assert [both[h] for h in alone] == pytest.approx(list(alone.values()), rel=1e-9)
        compat = xsec.xsec_salience(XX, sidx, prices, names, "compat", params)
    assert compat and _valid(compat)


def test_hostile_funding_columns_change_nothing_in_fixed_and_never_crash_compat():
    T, A = 7000, 20
    rates, _ = _funding_world(1, T, A, "ar")
    X = np.stack([_honest_funding(rates, r, 10 + j) for j, r in enumerate((0.3, 0.2))]
                 + [_f16(0.35 * np.random.default_rng(3).normal(size=(T, A)))], axis=1)
    hks = ["hk00", "hk01", "hk02"]
    params = FundingParams(**SMALL)
    sidx = np.arange(T)
    alone = xsec.funding_salience(X, sidx, rates, hks, "fixed", params)
    XX, names = _with(X, hks, _hostile(T, A, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        both = xsec.funding_salience(XX, sidx, rates, names, "fixed", params)
        assert alone and set(alone) == {"hk00", "hk01"}
        assert both.keys() == alone.keys()
        assert [both[h] for h in alone] == pytest.approx(list(alone.values()), rel=1e-9)
        compat = xsec.funding_salience(XX, sidx, rates, names, "compat", params)
    assert compat and _valid(compat)


# -- public information without edge ----------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_forecasts_from_past_prices_earn_nothing(seed):
    """Momentum and reversal of each asset's own return over 1, 4 and 24 hours, and its log-price
    level against the cross-section (either sign), against martingale prices: the gate passes none
    of them; the skilled miner keeps everything."""
    T, A = 7000, 33
    X, sidx, prices, hks = _panel(seed, T, 1, A, {0: 0.25})
    lr = np.log(prices)
    cols = {}
    for L in (60, 240, 1440):
        past = np.zeros_like(lr)
        past[L:] = lr[L:] - lr[:-L]
        past[:L] = lr[:L] - lr[:1]
        cols[f"mom{L}"], cols[f"rev{L}"] = _f16(_xs(past)), _f16(-_xs(past))
    cols["level"], cols["neglevel"] = _f16(_xs(lr)), _f16(-_xs(lr))
    XX, names = _with(X, hks, cols)
    assert xsec.xsec_salience(XX, sidx, prices, names, "fixed", XsecParams(**SMALL)) == {"hk00": 1.0}


@pytest.mark.parametrize("kind", ["rw", "ar"])
def test_funding_forecasts_from_the_current_rate_earn_nothing(kind):
    """Repeating the current rate (or its negative) and the last settlement's change (either sign),
    against random-walk rates and the devnet's AR(1) rates: none passes; the skilled miner is paid."""
    T, A = 7000, 20
    rates, _ = _funding_world(3, T, A, kind)
    last = np.zeros_like(rates)
    last[480:] = rates[480:] - rates[:-480]
    cols = {"level": _f16(_xs(rates)), "neglevel": _f16(-_xs(rates)),
            "lastchg": _f16(_xs(last)), "neglastchg": _f16(-_xs(last))}
    X, names = _with(_honest_funding(rates, 0.25, 7)[:, None, :], ["hk00"], cols)
    assert xsec.funding_salience(X, np.arange(T), rates, names, "fixed", FundingParams(**SMALL)) == {"hk00": 1.0}


def test_persistent_noise_earns_nothing_in_xsec():
    """AR(1) noise (φ 0.97, 0.999 per sample), a random walk, and values held for 4 or 24 hours."""
    T, A = 7000, 33
    X, sidx, prices, hks = _panel(4, T, 1, A, {0: 0.25})
    rng = np.random.default_rng(4)
    cols = {}
    e = rng.normal(size=(T, A))
    for phi in (0.97, 0.999):
        v = lfilter([math.sqrt(1 - phi * phi)], [1.0, -phi], e, axis=0)
        cols[f"ar{phi}"] = _f16(0.35 * v)
    cols["walk"] = _f16(_xs(np.cumsum(rng.normal(size=(T, A)), axis=0)))
    for h in (240, 1440):
        cols[f"held{h}"] = _f16(rng.uniform(-1, 1, (T // h + 1, A))[np.arange(T) // h])
    XX, names = _with(X, hks, cols)
    assert xsec.xsec_salience(XX, sidx, prices, names, "fixed", XsecParams(**SMALL)) == {"hk00": 1.0}


# -- copies -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("transform", ["exact", "scaled", "negated", "offset"])
def test_affine_copies_share_the_original_pay(transform):
    """A copy of a skilled miner, exact or scaled by ½, negated or offset by 0.01: the copy scan
    groups it with the original and the pair earns what the original earned alone, split by rows
    between the members that pass the gate on their own (a negated copy, whose forecasts point the
    wrong way, takes nothing), and nobody else's share moves."""
    X, sidx, prices, hks = _panel(1, 7000, 6, 33, {0: 0.3, 1: 0.2, 2: 0.1})
    params = XsecParams(**SMALL)
    alone = xsec.xsec_salience(X, sidx, prices, hks, "fixed", params)
    src = X[:, 0].astype(np.float64)
    copy = {"exact": src, "scaled": 0.5 * src, "negated": -src, "offset": src + 0.01}[transform]
    XX, names = _with(X, hks, {"zz-copy": _f16(copy)})
    out = xsec.xsec_salience(XX, sidx, prices, names, "fixed", params)
    assert out["hk00"] + out.get("zz-copy", 0.0) == pytest.approx(alone["hk00"], rel=1e-6)
    if transform == "negated":
        assert "zz-copy" not in out
    else:
        assert out["zz-copy"] == pytest.approx(out["hk00"], rel=1e-6)  # same rows: an even split
    for h in ("hk01", "hk02"):
        assert out[h] == pytest.approx(alone[h], rel=1e-6)


@pytest.mark.parametrize("kind", ["noise", "cube", "assets", "sign"])
def test_near_copies_below_the_cohort_threshold_take_little(kind):
    """Copies that evade the copy scan (noise to |corr| ≈ 0.9, the cube, three quarters of the
    assets, the sign) among fewer than twenty skilled miners: the meta-model leaves them little
    and the original keeps almost all its pay (measured: the copy ≤ 0.04, the original ≥ 0.48 of
    0.50)."""
    X, sidx, prices, hks = _panel(1, 7000, 6, 33, {0: 0.3, 1: 0.2, 2: 0.1})
    params = XsecParams(**SMALL)
    alone = xsec.xsec_salience(X, sidx, prices, hks, "fixed", params)
    rng = np.random.default_rng(7)
    src = X[:, 0].astype(np.float64)
    copy = {"noise": lambda: src + 0.484 * src.std() * rng.normal(size=src.shape),
            "cube": lambda: (src / np.abs(src).max()) ** 3,
            "assets": lambda: np.where(rng.random(33) < 0.75, src, 0.0),
            "sign": lambda: 0.5 * np.sign(src)}[kind]()
    XX, names = _with(X, hks, {"zz-copy": _f16(copy)})
    out = xsec.xsec_salience(XX, sidx, prices, names, "fixed", params)
    assert out.get("zz-copy", 0.0) < 0.08
    assert out["hk00"] > 0.9 * alone["hk00"]


def test_copy_lagged_a_horizon_earns_nothing():
    """What a copier can read under the lock rule (F12): the skilled miner's values a horizon old.
    Against martingale prices they carry nothing, and the original's pay does not move."""
    X, sidx, prices, hks = _panel(1, 7000, 6, 33, {0: 0.3, 1: 0.2, 2: 0.1})
    params = XsecParams(**SMALL)
    alone = xsec.xsec_salience(X, sidx, prices, hks, "fixed", params)
    lag = np.full(X[:, 0].shape, np.nan, np.float32)
    lag[240:] = X[:-240, 0]
    XX, names = _with(X, hks, {"aa-lag": lag, "zz-lag": lag.copy()})
    out = xsec.xsec_salience(XX, sidx, prices, names, "fixed", params)
    assert out == pytest.approx(alone, rel=1e-9)


# -- the 1-D fits ---------------------------------------------------------------------------------


def _counts(pairs: dict[float, tuple[int, int]]) -> np.ndarray:
    """(2·65 536,) counts per float16 value and class from {value: (class-0 count, class-1 count)}."""
    c = np.zeros(2 * _K, dtype=np.int64)
    for v, (n0, n1) in pairs.items():
        k = int(xsec._keys(np.array([v], np.float16))[0])
        c[k] += n0
        c[_K + k] += n1
    return c


def _adversarial_counts() -> dict[str, np.ndarray]:
    v = xsec._VALUE
    usable = np.isfinite(v) & (np.abs(v) <= 1) & (v != 0)
    keys = np.flatnonzero(usable)
    out = {}
    c = np.zeros(2 * _K, dtype=np.int64)
    c[keys[v[keys] < 0]] = 100
    c[_K + keys[v[keys] > 0]] = 100
    out["separable, every code"] = c
    out["±1 separable, 3M cells"] = _counts({-1.0: (3_000_000, 0), 1.0: (0, 3_000_000)})
    out["one positive among 3M"] = _counts({-1.0: (3_000_000, 0), 1.0: (0, 1)})
    out["subnormals separable"] = _counts({-6e-8: (1_000_000, 0), 6e-8: (0, 1_000_000)})
    out["subnormal vs one"] = _counts({6e-8: (1_000_000, 0), 1.0: (0, 1_000_000)})
    out["mass on a subnormal, a separable pair"] = _counts({6e-8: (10**7, 10**7 - 1), -1.0: (1, 0), 1.0: (0, 1)})
    rng = np.random.default_rng(0)
    c = np.zeros(2 * _K, dtype=np.int64)
    c[keys] = rng.integers(0, 50, len(keys))
    c[_K + keys] = rng.integers(0, 50, len(keys))
    out["random, every code"] = c
    return out


@pytest.mark.parametrize("name", list(_adversarial_counts()))
def test_newton_fit_converges_on_adversarial_counts(name):
    """Separable classes, ±1 only, subnormal float16s, one positive cell in millions, every float16
    code in use: the exact fit is finite, fast, and a stationary point of its objective."""
    counts = _adversarial_counts()[name]
    t = time.perf_counter()
    a, b = xsec.fit_1d(counts, 0.5)
    assert time.perf_counter() - t < 1.0
    assert math.isfinite(a) and math.isfinite(b)
    n0, n1 = counts[:_K].astype(float), counts[_K:].astype(float)
    used = np.flatnonzero(n0 + n1)
    x, w0, w1 = xsec._VALUE[used], n0[used], n1[used]
    p = 1 / (1 + np.exp(-(a + b * x)))
    r = (w0 + w1) * p - w1
    scale = 1 + 0.5 * (w0 + w1).sum()
    assert abs(0.5 * r.sum()) < 1e-6 * scale  # ∂/∂a
    assert abs(b + 0.5 * (r * x).sum()) < 1e-6 * scale  # ∂/∂b
    assert 0.0 <= xsec._oriented_auc(counts, b) <= 1.0
