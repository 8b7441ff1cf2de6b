"""A decrypted plaintext's values per challenge (mantis.md §9): what counts, and why the rest does not.

Numbers are finite ints or floats, never booleans. A challenge whose value is malformed stays
absent for that payload, with a reason; the other challenges of the same payload still count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class ChallengeFormat:
    name: str
    ticker: str
    dim: int


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


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
        problem = vector_problem(values[key], fmt.dim)
        if problem:
            problems[fmt.name] = problem
        else:
            vectors[fmt.name] = [float(x) for x in values[key]]
    return vectors, problems
