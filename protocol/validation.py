"""A decrypted plaintext's values per challenge (mantis.md §9): what counts, and why the rest does not.

Numbers are finite ints or floats, never booleans. A challenge whose value is malformed stays
absent for that payload, with a reason; the other challenges of the same payload still count.

Two value rules: `signed` (every number in [-1, 1], else the key is refused) and `lbfgs` (17
numbers of any size: five bucket probabilities clipped to [1e-6, 1 − 1e-6] and renormalised, then
twelve barrier probabilities clipped alike; an all-zero vector stays zero, as the reference keeps it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

# Room per number in a plaintext: Python's longest float repr in [-1, 1] is 24 characters
# ("-2.2250738585072014e-308"); other serialisers may print a few more digits or spaces.
NUMBER_CHARS = 32
PLAINTEXT_SLACK = 1024  # braces, the hotkey (≤ 128 characters) and whitespace of any serialiser


LBFGS_BUCKETS = 5  # the first five numbers of an lbfgs vector: the z-bucket probabilities
PROB_FLOOR = 1e-6


@dataclass(frozen=True)
class ChallengeFormat:
    name: str
    ticker: str
    dim: int
    rule: str = "signed"  # signed | lbfgs

    def max_json_chars(self) -> int:
        """The longest `"key": [v, …],` a well-formed value of this challenge needs."""
        return max(len(self.name), len(self.ticker)) + 8 + self.dim * (NUMBER_CHARS + 2)


def max_plaintext_bytes(formats: Sequence[ChallengeFormat]) -> int:
    """The largest plaintext a submission answering every challenge can need (mantis.md §3.2).

    Anything longer carries data no challenge reads, so it is refused before it is decrypted or
    parsed: a miner cannot make a validator hold more than this per payload.
    """
    return PLAINTEXT_SLACK + sum(f.max_json_chars() for f in formats)


def _number(x: Any) -> bool:
    """A finite int or float, not a bool. Ints are exact and finite at any size: no float() of them
    here, since a 400-digit integer overflows it."""
    if isinstance(x, bool):
        return False
    return isinstance(x, int) or (isinstance(x, float) and math.isfinite(x))


def vector_problem(value: Any, dim: int) -> str | None:
    """Why `value` is not a list of `dim` numbers in [-1, 1], or None when it is."""
    if not isinstance(value, list):
        return f"not a list but {type(value).__name__}"
    if len(value) != dim:
        return f"{len(value)} values, expected {dim}"
    if not all(_number(x) for x in value):
        return "not all finite numbers"
    if not all(-1 <= x <= 1 for x in value):
        return "values outside [-1, 1]"
    return None


def _clip(x: int | float) -> float:
    """A probability clipped to [PROB_FLOOR, 1 − PROB_FLOOR]; compared before float(), so an int of
    any size clips instead of overflowing."""
    return float(min(max(x, PROB_FLOOR), 1 - PROB_FLOOR))


def lbfgs_vector(value: Any, dim: int) -> tuple[list[float] | None, str | None]:
    """(the stored vector, None) for a well-formed lbfgs value, or (None, why not) (§9)."""
    if not isinstance(value, list):
        return None, f"not a list but {type(value).__name__}"
    if len(value) != dim:
        return None, f"{len(value)} values, expected {dim}"
    if not all(_number(x) for x in value):
        return None, "not all finite numbers"
    if all(x == 0 for x in value):
        return [0.0] * dim, None
    p = [_clip(x) for x in value[:LBFGS_BUCKETS]]
    total = math.fsum(p)
    return [v / total for v in p] + [_clip(x) for x in value[LBFGS_BUCKETS:]], None


def challenge_values(
    values: Mapping[str, Any], formats: Sequence[ChallengeFormat]
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """({challenge name: vector}, {challenge name: why it is absent}) for one plaintext.

    A challenge is looked up by its ticker or its name; a missing key is absent without a reason
    (a miner may answer only some challenges); unknown keys are ignored.
    """
    vectors, problems = {}, {}
    for fmt in formats:
        key = fmt.ticker if fmt.ticker in values else fmt.name if fmt.name in values else None
        if key is None:
            continue
        if fmt.rule == "lbfgs":
            vector, problem = lbfgs_vector(values[key], fmt.dim)
        else:
            problem = vector_problem(values[key], fmt.dim)
            vector = None if problem else [float(x) for x in values[key]]
        if problem:
            problems[fmt.name] = problem
        else:
            vectors[fmt.name] = vector
    return vectors, problems
