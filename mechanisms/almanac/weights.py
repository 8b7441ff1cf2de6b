"""Miner profile verification (§14) and the weight vector (§13)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from mechanisms.almanac.params import AlmanacParams


def verify_profiles(profiles: Mapping[int, str], commitments: Mapping[int, str | None]) -> dict[int, str]:
    """Uids that fail verification, with why, in the order their profiles were first seen.

    A miner must trade from exactly one Polymarket profile, and the start of that profile id it
    committed on chain must occur in it. Both sides are compared lower-case; a blank commitment is
    none (the reference's metadata store keeps only non-blank ones).
    """
    failed: dict[int, str] = {}
    for uid, profile in profiles.items():
        commitment = commitments.get(uid)
        if not profile:
            failed[uid] = "no profile id"
        elif "," in profile:
            failed[uid] = "more than one profile id"
        elif not isinstance(commitment, str) or not commitment.strip():
            failed[uid] = "no commitment"
        elif commitment.lower() not in profile.lower():
            failed[uid] = "commitment not in profile id"
    return failed


def form_weights(miner_uids: Sequence[int], miner_tokens: np.ndarray, gp_tokens_total: float, epoch_budget: float,
                 penalised: Sequence[int], all_uids: Sequence[int], params: AlmanacParams) -> dict[int, float]:
    """§13: miners get tokens/U (penalised: 0), the burn uid the general pool's share and the excess;
    with excess left, miner weights are boosted by 1 + β first. Normalised over the metagraph's uids.

    A miner at the burn uid is overwritten by the burn value, as in the reference (callers warn).
    """
    if not np.isfinite(epoch_budget) or epoch_budget <= 0:
        raise ValueError(f"the epoch budget must be a positive number of USD; got {epoch_budget!r}")
    burn = params.burn_uid
    banned = set(penalised)
    with np.errstate(over="ignore"):
        weights: dict[int, float] = {uid: 0.0 if uid in banned else float(t) / epoch_budget
                                     for uid, t in zip(miner_uids, miner_tokens)}
        if params.static_weighting:
            gp = params.gp_weight_share if params.fixed else params.gp_weight_share * epoch_budget
        else:
            gp = gp_tokens_total / epoch_budget
    weights.pop(burn, None)  # overwritten by the burn value below
    miners = sum(weights.values())
    if not np.isfinite(miners):
        # U so small that tokens/U overflows: the miners' shares are far above 1, so nothing is left
        # to burn and the weights are the tokens' proportions, computed without the overflow
        top = max(float(t) for uid, t in zip(miner_uids, miner_tokens) if uid not in banned and uid != burn)
        weights = {uid: (float(t) / top if uid not in banned else 0.0)
                   for uid, t in zip(miner_uids, miner_tokens) if uid != burn}
        miners = np.inf
    # the reference's excess = 1 − (Σm + g) and burn = excess + g, in a form that stays finite
    if 1.0 - miners - gp > 0 and params.miner_weight_boost > 0:
        boost = 1.0 + params.miner_weight_boost
        weights = {uid: w * boost for uid, w in weights.items()}
        miners *= boost
    weights[burn] = 1.0 - miners
    vector = np.array([max(weights.get(uid, 0.0), 0.0) for uid in all_uids], dtype=float)
    total = float(vector.sum())
    if total > 0:
        vector = vector / total
    return {uid: float(w) for uid, w in zip(all_uids, vector)}
