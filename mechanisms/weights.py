"""MANTIS final weight vector (mantis.md §13.1–13.3): challenge aggregation, young-uid rule, burn,
degeneracy guards, EMA, and the u16 quantisation the bittensor 11 SDK applies before sending.

Everything is a pure function of its arguments (no Dagster, no I/O, no clock), computed in float64.
Sums over scores and weights use `math.fsum`, which is correctly rounded and therefore independent
of summation order and of numpy's summation strategy: identical inputs give identical bytes on any
machine, whatever the insertion order of the dicts passed in. The one exception is the quantiser,
which must reproduce the SDK's own (sequential) float arithmetic bit for bit.

Error policy: malformed inputs (mismatched lengths, duplicate uids or hotkeys, negative values, bad
rules) raise `ValueError`, because they are programming or configuration errors. Non-finite scores in
`weight_vector` give the rejection reason "non-finite" instead, because they come from scoring data
and the right response is the one the spec gives for any unusable vector: keep the previous weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

BURN_KEY = "__burn__"
U16_MAX = 65535
_SDK_CLIP_EPSILON = 1e-7  # the SDK's clip_to_max_weight tolerance; part of its arithmetic


@dataclass(frozen=True)
class WeightRules:
    """The §13.2 hyperparameters; defaults are the reference's values."""

    burn_uid: int = 0
    burn_share: float = 0.35
    young_window_blocks: int = 36_000
    young_weight: float = 0.0001
    ema_alpha: float = 0.3
    # std/mean (unbiased std) below this with >1 positive entry ⇒ degenerate
    degenerate_rel_std: float = 0.001
    # Everything on the burn uid is a usable vector (a mechanism that burns what nobody earned)
    accept_all_burn: bool = False

    def __post_init__(self) -> None:
        """Refuse rules that would make negative or meaningless weights (NaN fails every range check)."""
        checks = {
            "burn_uid must be a uid (0..65535)": 0 <= self.burn_uid <= U16_MAX,
            "burn_share must be in [0, 1]": 0.0 <= self.burn_share <= 1.0,
            "young_window_blocks must be >= 0": self.young_window_blocks >= 0,
            "young_weight must be in [0, 1)": 0.0 <= self.young_weight < 1.0,
            "ema_alpha must be in (0, 1]": 0.0 < self.ema_alpha <= 1.0,
            "degenerate_rel_std must be >= 0": self.degenerate_rel_std >= 0.0,
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError("; ".join(failed))


@dataclass(frozen=True, eq=False)
class WeightVector:
    """A weight per metagraph uid, with the hotkey it was computed for.

    `eq=False` because numpy arrays have no boolean equality; compare fields explicitly. The arrays
    are copied and made read-only so that a frozen vector really cannot change after the guards ran.
    """

    uids: np.ndarray  # int64, metagraph uid order
    hotkeys: tuple[str, ...]
    weights: np.ndarray  # float64, sums to 1 (or all zero when rejected)
    rejected: str | None  # None when usable; otherwise "empty", "identical", "flat", "non-finite"

    def __post_init__(self) -> None:
        """Normalise dtypes and check the three parallel fields line up."""
        uids = np.array(self.uids, dtype=np.int64).reshape(-1)
        weights = np.array(self.weights, dtype=np.float64).reshape(-1)
        hotkeys = tuple(self.hotkeys)
        if not len(uids) == len(hotkeys) == len(weights):
            lengths = f"{len(uids)}, {len(hotkeys)}, {len(weights)}"
            raise ValueError(f"uids, hotkeys and weights differ in length: {lengths}")
        uids.setflags(write=False)
        weights.setflags(write=False)
        object.__setattr__(self, "uids", uids)
        object.__setattr__(self, "hotkeys", hotkeys)
        object.__setattr__(self, "weights", weights)


# ----------------------------------------------------------------------------------------------
# §13.1 aggregation


def _check_value(value: float, what: str) -> float:
    """A finite, non-negative float, or a ValueError naming the offending entry."""
    x = float(value)
    if not math.isfinite(x) or x < 0.0:
        raise ValueError(f"{what} must be finite and non-negative, got {value!r}")
    return x


def _normalised_map(values: Mapping[str, float]) -> dict[str, float]:
    """Divide by the exact (fsum) total, keys in sorted order so the result is order independent."""
    total = math.fsum(values.values())
    return {key: values[key] / total for key in sorted(values)}


def aggregate_challenges(
    saliences: Mapping[str, Mapping[str, float]], weights: Mapping[str, float]
) -> dict[str, float]:
    """§13.1 steps 2–4: keep a challenge only if non-empty with positive total; normalise each to 1;
    weighted mean with the weights of the kept challenges (a challenge without results has its weight
    redistributed); normalise to 1. The BURN_KEY entry passes through like a hotkey. Deterministic
    order.

    Challenges listed in `weights` but absent from `saliences` count as "without results". A challenge
    in `saliences` without a weight, or any negative / non-finite salience or weight, raises ValueError.
    Returns {} when no challenge is kept (or the kept ones weigh 0): "no new weights" downstream.
    Hotkeys present with score 0 stay in the result with 0.0; output keys are sorted.
    """
    missing = sorted(set(saliences) - set(weights))
    if missing:
        raise ValueError(f"challenges without a weight: {missing}")
    w = {name: _check_value(weights[name], f"weight of challenge {name!r}") for name in sorted(weights)}
    kept: dict[str, dict[str, float]] = {}
    for name in sorted(saliences):
        scores = {hk: _check_value(s, f"salience {name!r}/{hk!r}") for hk, s in saliences[name].items()}
        if scores and math.fsum(scores.values()) > 0.0:
            kept[name] = _normalised_map(scores)
    weight_total = math.fsum(w[name] for name in kept)
    if weight_total <= 0.0:
        return {}
    hotkeys = sorted(set().union(*kept.values()))
    avg = {hk: math.fsum(w[c] * kept[c].get(hk, 0.0) for c in kept) / weight_total for hk in hotkeys}
    return _normalised_map(avg)


# ----------------------------------------------------------------------------------------------
# §13.2 weight vector


def _metagraph(uids: Sequence[int], hotkeys: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Validated (uids, hotkeys): equal length, integer non-negative unique uids, unique str hotkeys."""
    if len(uids) != len(hotkeys):
        raise ValueError(f"uids and hotkeys differ in length: {len(uids)} vs {len(hotkeys)}")
    raw = np.asarray(uids)
    if raw.size and not np.issubdtype(raw.dtype, np.integer):
        raise ValueError(f"uids must be integers, got dtype {raw.dtype}")
    uid_arr = raw.astype(np.int64).reshape(-1)
    hk = tuple(hotkeys)
    if (uid_arr < 0).any() or len(np.unique(uid_arr)) != len(uid_arr):
        raise ValueError("uids must be non-negative and unique")
    if not all(isinstance(h, str) for h in hk) or len(set(hk)) != len(hk):
        raise ValueError("hotkeys must be unique strings")
    if BURN_KEY in hk:
        raise ValueError(f"{BURN_KEY!r} cannot be a metagraph hotkey")
    return uid_arr, hk


def _scores_per_uid(scores: Mapping[str, float], hotkeys: tuple[str, ...], burn_index: int) -> np.ndarray:
    """Step 2: hotkey → uid position (BURN_KEY → the burn uid), unknown hotkeys dropped, summed per uid.

    Keys are visited in sorted order so the (at most two) additions on the burn uid happen in a fixed order.
    """
    index = {hk: i for i, hk in enumerate(hotkeys)}
    per_uid = np.zeros(len(hotkeys), dtype=np.float64)
    for hk in sorted(scores):
        i = burn_index if hk == BURN_KEY else index.get(hk)
        if i is not None:
            per_uid[i] += float(scores[hk])
    return per_uid


def _young_mask(
    hotkeys: tuple[str, ...], first_seen_block: Mapping[str, int], calc_block: int, window: int
) -> np.ndarray:
    """Step 3: young ⇔ seen and `calc_block − first_seen < window`; never-seen hotkeys are mature.

    A first-seen block after `calc_block` (negative age) also counts as young: it is certainly recent.
    """
    return np.array(
        [hk in first_seen_block and int(calc_block) - int(first_seen_block[hk]) < window for hk in hotkeys],
        dtype=bool,
    )


def _apply_young_rule(per_uid: np.ndarray, young: np.ndarray, young_weight: float) -> np.ndarray:
    """Step 3: young uids get `young_weight` each whatever their score; mature uids share the rest
    in proportion to their scores. The mature share is floored at 0 so that absurd rules (more than
    1/young_weight young uids) give young-only weights instead of negative ones."""
    mature = np.where(young, 0.0, per_uid)
    mature_total = math.fsum(mature.tolist())
    share = max(0.0, 1.0 - young_weight * int(young.sum()))
    mature_w = mature / mature_total * share if mature_total > 0.0 else np.zeros_like(mature)
    return np.where(young, young_weight, mature_w)


def _normalised(w: np.ndarray) -> np.ndarray:
    """Divide by the exact (fsum) total; the caller guarantees the total is positive."""
    return w / math.fsum(w.tolist())


def _rel_std(positive: np.ndarray) -> float:
    """Unbiased (ddof = 1) standard deviation over the mean, with exact sums; needs ≥ 2 entries."""
    n = len(positive)
    mean = math.fsum(positive.tolist()) / n
    var = math.fsum(((positive - mean) ** 2).tolist()) / (n - 1)
    return math.sqrt(var) / mean


def _degeneracy(w: np.ndarray, rel_std_floor: float) -> str | None:
    """Step 7: "identical" when all positive entries are equal (also a lone positive entry: nothing to
    rank), "flat" when >1 positive entries and unbiased std/mean < floor; None when usable."""
    positive = w[w > 0.0]
    if positive.size == 0:
        return "empty"
    if bool((positive == positive[0]).all()):
        return "identical"
    if positive.size > 1 and _rel_std(positive) < rel_std_floor:
        return "flat"
    return None


def _rejected(uids: np.ndarray, hotkeys: tuple[str, ...], reason: str) -> WeightVector:
    """An all-zero vector carrying the reason; the caller keeps its previous saved weights."""
    return WeightVector(uids, hotkeys, np.zeros(len(uids), dtype=np.float64), reason)


def weight_vector(
    scores: Mapping[str, float],
    uids: Sequence[int],
    hotkeys: Sequence[str],
    first_seen_block: Mapping[str, int],
    calc_block: int,
    rules: WeightRules,
) -> WeightVector:
    """§13.2 steps 2–8: hotkey→uid via the metagraph (uids[i] has hotkeys[i]); BURN_KEY → burn_uid;
    unknown hotkeys dropped; empty ⇒ rejected "empty"; young-uid rule (young if
    calc_block − first_seen < window; hotkeys never seen are not young; young uids get young_weight
    each, mature share 1 − young_weight·n_young in proportion to their scores); normalise; burn
    (multiply by 1 − burn_share, add burn_share to burn_uid); degeneracy guards (all positive entries
    identical; or >1 positive entry and unbiased std/mean < degenerate_rel_std; a lone burn entry passes
    under `accept_all_burn`); normalise.

    "empty" means no registered hotkey (or BURN_KEY) has a positive score. Any NaN/inf score (even of an
    unknown hotkey) ⇒ rejected "non-finite". ValueError for negative scores, mismatched lengths, duplicate
    or non-integer uids, duplicate hotkeys, or a burn_uid absent from `uids`. Output is in `uids` order.
    """
    uid_arr, hk = _metagraph(uids, hotkeys)
    burn_at = np.flatnonzero(uid_arr == rules.burn_uid)
    if burn_at.size == 0:
        raise ValueError(f"burn uid {rules.burn_uid} is not in the metagraph")
    if not all(math.isfinite(float(s)) for s in scores.values()):
        return _rejected(uid_arr, hk, "non-finite")
    for key, s in scores.items():
        _check_value(s, f"score of {key!r}")
    per_uid = _scores_per_uid(scores, hk, int(burn_at[0]))
    if not (per_uid > 0.0).any():
        return _rejected(uid_arr, hk, "empty")
    young = _young_mask(hk, first_seen_block, calc_block, rules.young_window_blocks)
    w = _apply_young_rule(per_uid, young, rules.young_weight)
    if math.fsum(w.tolist()) <= 0.0:  # only possible with young_weight = 0 and only young uids scored
        return _rejected(uid_arr, hk, "empty")
    w = _normalised(w) * (1.0 - rules.burn_share)
    w[int(burn_at[0])] += rules.burn_share
    reason = _degeneracy(w, rules.degenerate_rel_std)
    if reason == "identical" and rules.accept_all_burn and np.flatnonzero(w > 0.0).tolist() == [int(burn_at[0])]:
        reason = None
    if reason is not None:
        return _rejected(uid_arr, hk, reason)
    return WeightVector(uid_arr, hk, _normalised(w), None)


def blend_ema(new: WeightVector, previous: Mapping[str, float] | None, alpha: float) -> WeightVector:
    """§13.2 step 9: per hotkey, w = alpha·new + (1−alpha)·old (old = 0 for hotkeys not in previous;
    hotkeys only in previous and no longer registered are dropped); renormalise. previous None ⇒ new
    unchanged. A rejected `new` is returned unchanged (the caller keeps the previous saved vector).

    Blending happens before renormalising (as the spec orders it), so mass the previous vector gave to
    deregistered hotkeys is spread over everyone in proportion to the blend. Per-uid blending for a
    previous vector without hotkeys is the caller's job (map it to hotkeys first). ValueError for alpha
    outside (0, 1] or negative / non-finite previous weights.
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    if new.rejected is not None or previous is None:
        return new
    checked = {hk: _check_value(value, f"previous weight of {hk!r}") for hk, value in previous.items()}
    old = np.array([checked.get(hk, 0.0) for hk in new.hotkeys], dtype=np.float64)
    blended = alpha * new.weights + (1.0 - alpha) * old
    return WeightVector(new.uids, new.hotkeys, _normalised(blended), None)


def carry_forward(previous: Mapping[str, float], uids: Sequence[int], hotkeys: Sequence[str]) -> WeightVector:
    """The previous vector on today's metagraph, by hotkey, renormalised: what an epoch sets when its
    own vector is rejected (§13.2 "keep the previous weights"). Hotkeys no longer registered are
    dropped and new ones get 0; rejected "empty" when none of the previous mass is still registered.
    """
    uid_arr, hk = _metagraph(uids, hotkeys)
    checked = {h: _check_value(value, f"previous weight of {h!r}") for h, value in previous.items()}
    w = np.array([checked.get(h, 0.0) for h in hk], dtype=np.float64)
    if not (w > 0.0).any():
        return _rejected(uid_arr, hk, "empty")
    return WeightVector(uid_arr, hk, _normalised(w), None)


# ----------------------------------------------------------------------------------------------
# u16 quantisation (dependencies.md §2, bittensor 11 `bittensor.intents.weights`)


def _sdk_sum(values: np.ndarray) -> float:
    """The SDK totals with the builtin `sum`; calling the same builtin keeps the total bit-identical
    on every Python version (3.12 made it compensated, 3.11 adds left to right)."""
    return float(sum(values.tolist()))


def _clip_to_limit(w: np.ndarray, limit: float) -> np.ndarray:
    """Sum-normalise with no entry above `limit`, the SDK's way: find the cutoff that puts the largest
    normalised entry on the limit (with the SDK's 1e-7 slack), clip at it and renormalise; uniform
    when no distribution can meet the limit. Each float operation mirrors the SDK's, in its order."""
    n, total = len(w), _sdk_sum(w)
    if n * limit <= 1:
        return np.full(n, 1.0 / n)
    est = np.sort(w / total)
    if est[-1] <= limit:
        return w / total
    cum = np.cumsum(est)  # np.add.accumulate is sequential, like itertools.accumulate
    rank = np.arange(n, dtype=np.float64)
    below = est / ((n - rank - 1.0) * est + cum + _SDK_CLIP_EPSILON) < limit
    k = int(below.sum())
    cutoff = (limit * cum[k - 1] - _SDK_CLIP_EPSILON) / (1 - limit * (n - k)) * total
    clipped = np.minimum(w, cutoff)
    return clipped / _sdk_sum(clipped)


def _sdk_scaled(weights: np.ndarray, max_weight_limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w, positions sent, their values scaled to 65535 before rounding), as the SDK computes them."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if not np.isfinite(w).all() or (w < 0.0).any():
        raise ValueError("weights must be finite and non-negative")
    if not 0 <= int(max_weight_limit) <= U16_MAX:
        raise ValueError(f"max_weight_limit must be in 0..65535, got {max_weight_limit!r}")
    sent_at = np.flatnonzero(w > 0.0)
    if sent_at.size == 0:
        raise ValueError("all weights are zero; nothing to set")
    sent = w[sent_at]
    if not math.isfinite(_sdk_sum(sent)):
        raise ValueError("weights overflow float64 when summed; normalise them first")
    if max_weight_limit < U16_MAX:
        sent = _clip_to_limit(sent, int(max_weight_limit) / U16_MAX)
    return w, sent_at, sent / sent.max() * U16_MAX


def sdk_pass(weights: np.ndarray, max_weight_limit: int = U16_MAX) -> np.ndarray:
    """The u16 the SDK makes of `weights` in one `SetWeights` (uint16, same length, zeros where it
    drops entries).

    Models sending only the positive entries (§13.3), in the given order: those are clipped to
    `max_weight_limit/65535` when the limit is below 65535, then max-upscaled to
    `round(w / max(w) · 65535)` with round half to even (np.rint, which is IEEE round-to-nearest-even
    like Python's `round`), and entries rounding to 0 are dropped. ValueError for negative or
    non-finite weights, weights whose total overflows float64, an all-zero vector (the SDK refuses to
    send nothing), or a limit outside 0..65535.
    """
    w, sent_at, scaled = _sdk_scaled(weights, max_weight_limit)
    out = np.zeros(len(w), dtype=np.uint16)
    out[sent_at] = np.rint(scaled).astype(np.uint16)
    return out


def within_limit(u16: np.ndarray, max_weight_limit: int) -> bool:
    """The chain's check on stored weights: the largest is at most `max_weight_limit`/65535 of their
    sum (exact integers; the chain's fixed-point check is monotone in the same quantities)."""
    values = np.asarray(u16, dtype=np.int64).reshape(-1)
    return int(max_weight_limit) >= U16_MAX or int(values.max()) * U16_MAX <= int(max_weight_limit) * int(values.sum())


def sent_unchanged(u16: np.ndarray, max_weight_limit: int = U16_MAX) -> bool:
    """Whether the SDK, handed these u16 as weights, sends exactly them (zeros are not sent)."""
    values = np.asarray(u16).reshape(-1)
    return bool(values.any()) and np.array_equal(sdk_pass(values, max_weight_limit), values)


def quantize_u16(weights: np.ndarray, max_weight_limit: int = U16_MAX) -> np.ndarray:
    """The u16 to store and send: the SDK's pass on `weights`, made to pass the chain's limit check.

    The SDK clips to just under the limit and then rounds, and rounding can shrink the total enough
    that the largest share lands a hair above the limit: the chain refuses such a vector
    (MaxWeightExceeded), and the SDK, handed it again, would clip it to something else. Then the
    fewest units that meet the limit are added, each to the entry furthest below its exact scaled
    value (largest remainder; an entry the SDK rounded to 0 counts, one at 65535 cannot rise), so the
    top entry stays at 65535 and nothing moves down. A vector within the limit with its largest entry
    at 65535 is one the SDK sends unchanged (`sent_unchanged`).

    Some vector of the positive entries meets the limit exactly when their count n has
    n · max_weight_limit ≥ 65535; otherwise (the SDK's uniform case) the SDK's vector is returned as
    it is, and `within_limit` says no. Same errors as `sdk_pass`.
    """
    w, sent_at, scaled = _sdk_scaled(weights, max_weight_limit)
    values = np.rint(scaled).astype(np.int64)
    limit = int(max_weight_limit)
    need = -(-U16_MAX * int(values.max()) // limit) - int(values.sum()) if limit else 0
    if 0 < need <= int((U16_MAX - values).sum()):
        values += _apportion(scaled - values, U16_MAX - values, need)
    out = np.zeros(len(w), dtype=np.uint16)
    out[sent_at] = values
    return out


def _apportion(deficit: np.ndarray, room: np.ndarray, units: int) -> np.ndarray:
    """`units` whole units (the caller checked they fit in `room`), each to the entry with the largest
    remaining deficit, ties to the earlier entry. Handed out a round at a time (at most one unit per
    entry a round): rounding leaves every deficit within one unit of the others, so no entry is
    served twice while another with a larger remaining deficit waits.
    """
    added = np.zeros(len(deficit), dtype=np.int64)
    order = np.arange(len(deficit))
    while units > 0:
        open_ = added < room
        rank = np.lexsort((order, -(deficit - added)))  # largest remaining deficit first
        rank = rank[open_[rank]][:units]
        added[rank] += 1
        units -= len(rank)
    return added


def ema_alpha_per_epoch(tempo: int) -> float:
    """1 − 0.7^(tempo/1000): keeps the reference's smoothing time constant per 360-block epoch (§13.3).

    The reference blends with α = 0.3 once per 1000 blocks, i.e. the old vector decays by 0.7 per 1000
    blocks; blending once per `tempo` blocks with this α gives the same decay per block.
    """
    if tempo <= 0:
        raise ValueError(f"tempo must be positive, got {tempo!r}")
    return 1.0 - 0.7 ** (tempo / 1000)
