"""The multiplicative PTN penalties (ptn.md §7), each in [0, 1], as pure functions.

The risk profile follows the reference's `vali_objects/utils/risk_profiling.py` as it stood on
2025-06-16 (taoshidev/proprietary-trading-network a0382f75, unchanged there since 4d66788f of
2025-04-04). It looks for martingale-style "stepping in": adding to a losing position, in a few large
steps, at irregular times. A position is flagged only when all three groups of signs fire, so a
miner who scales in on a clock (TWAP) or once or twice is left alone.

The reference reads order deltas; here a position arrives as the signed net leverage after each
accepted order, and the deltas are its differences (the first order's delta is its net leverage).
"""

from __future__ import annotations

import math

import numpy as np

from mechanisms.ptn.config import PTNConfig

ZERO_NET = 1e-6              # the reference's stand-in for a net leverage of exactly 0 mid-position
RETURN_FLOOR = 1e-10         # a return_at_close at or below 0 is weighted as this
EXPONENT_CLIP = 100.0        # the logistic penalty's exponent is clipped to ±this


def drawdown_penalty(drawdown_pct: float, cfg: PTNConfig) -> float:
    """0 once the drawdown reaches `100·cfg.drawdown_limit` percent, else 1. A NaN drawdown gives 0:
    a record that cannot be judged is not paid."""
    dd = float(drawdown_pct)
    if math.isnan(dd) or dd >= 100.0 * cfg.drawdown_limit:
        return 0.0
    return 1.0


def _steps_against(price: np.ndarray, delta: np.ndarray, direction: int, last: int, lev_floor: float) -> int:
    """Orders (after the first, before `last`) that add exposure while the fill is worse than the
    running average entry. As in the reference, that average weights every earlier fill by its
    |delta|, reducing orders included, and the first order by at least the smallest leverage."""
    size = max(abs(delta[0]), lev_floor)
    weighted_price = price[0] * size
    average = price[0]
    count = 0
    for i in range(1, last):
        losing = (price[i] - average) * direction < 0
        adding = delta[i] * direction > 0
        count += bool(losing and adding)
        size += abs(delta[i])
        weighted_price += price[i] * abs(delta[i])
        average = weighted_price / size if size > 0 else average
    return count


def _new_highs_while_losing(price: np.ndarray, delta: np.ndarray, direction: int, last: int) -> int:
    """Orders (after the first, before `last`) that take |net leverage| above the highest reached by
    the earlier flagged orders (or the first) while the fill is against the signed average entry.
    The reference raises that mark only on a flagged order, and its average is `Σ price·delta / net`
    over all orders, reductions included."""
    net = delta[0]
    mark = delta[0]
    weighted_price = price[0] * delta[0]
    average = price[0]
    count = 0
    for i in range(1, last):
        new_net = net + delta[i]
        if (price[i] - average) * direction < 0 and abs(new_net) > abs(mark):
            count += 1
            mark = new_net
        weighted_price += price[i] * delta[i]
        if new_net == 0:
            new_net = ZERO_NET
        average = weighted_price / new_net
        net = new_net
    return count


def _timing_deviation(ms: np.ndarray, gross: np.ndarray, min_orders: int) -> float:
    """Mean |gap − ideal gap| / ideal gap over the orders up to and including the first that reaches
    the position's largest |net leverage|, the ideal being uniform spacing over that span. 0 with
    fewer than `min_orders` such orders or no elapsed time (nothing to compare with a TWAP)."""
    if gross.size == 0:
        return 0.0
    peak = int(np.argmax(gross))
    if peak + 1 < max(min_orders, 2):
        return 0.0
    times = np.sort(np.maximum(1.0, ms[:peak + 1]))
    ideal = (times[-1] - times[0]) / peak
    if not ideal > 0:
        return 0.0
    return float(np.mean(np.abs(np.diff(times) - ideal) / ideal))


def risk_profile_flag(ms: np.ndarray, price: np.ndarray, leverage: np.ndarray, closed: bool, cfg: PTNConfig,
                      min_leverage: float, max_leverage: float) -> bool:
    """Whether one position looks like martingale stepping (§7.2): all of

    * steps: ≥ `risk_steps_against` orders adding exposure against the running average entry, or
      ≥ `risk_steps_new_max` orders pushing |net leverage| to a new high while losing (a closed
      position's closing order is never counted);
    * leverage: margin utilisation `(max|net| − min_leverage)/(max_leverage − min_leverage)` ≥
      `risk_margin_utilisation`, or `max|net| / max(min|net|, smallest leverage)` ≥ `risk_advancement`
      with the closing order left out;
    * time: the spacing of the orders up to the first peak of |net| deviates from uniform by at
      least `risk_time_deviation` (which needs `risk_time_orders` orders).

    `ms`, `price` and `leverage` hold one entry per accepted order in time order; `leverage` is the
    signed net after each order and its first sign is the position's direction. The "smallest
    leverage" is the least position bound of any category, as in the reference. Input that cannot
    describe a position (empty, a zero or non-finite first order) is not flagged.
    """
    ms = np.asarray(ms, dtype=float).ravel()
    price = np.asarray(price, dtype=float).ravel()
    net = np.asarray(leverage, dtype=float).ravel()
    if not ms.size == price.size == net.size:
        raise ValueError(f"ms, price and leverage differ in length: {ms.size}, {price.size}, {net.size}")
    n = net.size
    if n == 0 or not math.isfinite(net[0]) or net[0] == 0:
        return False
    direction = 1 if net[0] > 0 else -1
    gross = np.abs(net)
    last = n - 1 if closed else n
    lev_floor = min(low for low, _ in cfg.leverage_bounds.values())

    with np.errstate(all="ignore"):  # non-finite fills or sizes only make comparisons false
        delta = np.diff(net, prepend=0.0)
        steps = n >= 2 and (
            _steps_against(price, delta, direction, last, lev_floor) >= cfg.risk_steps_against
            or _new_highs_while_losing(price, delta, direction, last) >= cfg.risk_steps_new_max)
        if not steps:
            return False

        span = max_leverage - min_leverage
        margin = span > 0 and (float(np.max(gross)) - min_leverage) / span >= cfg.risk_margin_utilisation
        held = gross[:-1] if closed and n > 1 else gross
        advancement = float(np.max(held)) / max(float(np.min(held)), lev_floor) >= cfg.risk_advancement
        if not (margin or advancement):
            return False

        return _timing_deviation(ms, gross, cfg.risk_time_orders) >= cfg.risk_time_deviation


def risk_profile_score(flags: np.ndarray, returns_at_close: np.ndarray, cfg: PTNConfig) -> float:
    """The mean of the positions' flags weighted by `return_at_close^power`, so the flags on the
    positions that did best count most (a martingale's many winners are what it is paid for). The
    weights are computed in logs with the largest subtracted; no positions, or none flagged, score 0.
    A NaN flag counts as unflagged; a return that is NaN or at most 0 weighs as 1e-10."""
    f = np.asarray(flags, dtype=float).ravel()
    ret = np.asarray(returns_at_close, dtype=float).ravel()
    if f.size != ret.size:
        raise ValueError(f"{f.size} flags for {ret.size} returns")
    f = np.where(np.isfinite(f) & (f != 0), 1.0, 0.0)
    if f.size == 0 or f.sum() == 0:
        return 0.0
    ret = np.where(np.isnan(ret), RETURN_FLOOR, np.clip(ret, RETURN_FLOOR, np.finfo(float).max))
    log_weight = cfg.risk_return_power * np.log(ret)
    weight = np.exp(log_weight - log_weight.max())
    return float(np.dot(weight, f) / weight.sum())


def risk_profile_penalty(flags: np.ndarray, returns_at_close: np.ndarray, cfg: PTNConfig) -> float:
    """`1/(1 + exp(slope·(score − centre)))` of the risk score, the exponent clipped to ±100: about
    0.9918 for a clean record and 0.6900 when every position is flagged (V1 constants)."""
    score = risk_profile_score(flags, returns_at_close, cfg)
    exponent = min(max(cfg.risk_penalty_slope * (score - cfg.risk_penalty_centre), -EXPONENT_CLIP), EXPONENT_CLIP)
    return 1.0 / (1.0 + math.exp(exponent))


def collateral_penalty(account_size: float | None, cfg: PTNConfig) -> float:
    """V2+: 1 when the account size reaches `cfg.min_account_size`, else 0.01 (an unknown or NaN
    size is short); always 1 when `cfg.min_collateral` is off."""
    if not cfg.min_collateral:
        return 1.0
    if account_size is not None and float(account_size) >= cfg.min_account_size:
        return 1.0
    return cfg.collateral_shortfall
