"""A decrypted plaintext's values per challenge (mantis.md §9): what counts, and why the rest does not.

Numbers are finite ints or floats, never booleans. A challenge whose value is malformed stays
absent for that payload, with a reason; the other challenges of the same payload still count.

Four value rules: `signed` (every number in [-1, 1], else the key is refused), `lbfgs` (17
numbers of any size: five bucket probabilities clipped to [1e-6, 1 − 1e-6] and renormalised, then
twelve barrier probabilities clipped alike; an all-zero vector stays zero, as the reference keeps it),
`object` (multi-asset challenges: `{asset: value}`, or a flat list under the signed rule) and
`pairs` (MULTI-BREAKOUT: `{asset: [p_continuation, p_reversal]}`, or a flat list under the signed rule).

An object is never refused: each asset's cell is its number in [-1, 1], or its one-element list
clipped to [-1, 1], and 0 for anything else (missing, malformed, out of range); other keys are
ignored. A 0 cell therefore means "no value for that asset": the ledger stores the whole vector and
the scorers read exact zeros as absent cells, as the reference does (mantis.md §7.4). A pairs object
is never refused either: each asset's pair is a list of exactly two numbers in [0, 1], else [0, 0].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

# Room per number in a plaintext: Python's longest float repr in [-1, 1] is 24 characters
# ("-2.2250738585072014e-308"); other serialisers may print a few more digits or spaces.
NUMBER_CHARS = 32
PLAINTEXT_SLACK = 1024  # braces, the hotkey (≤ 128 characters) and whitespace of any serialiser


PER_ASSET = {"object": 1, "pairs": 2}  # the multi-asset rules: values per asset
LBFGS_BUCKETS = 5  # the first five numbers of an lbfgs vector: the z-bucket probabilities
PROB_FLOOR = 1e-6


@dataclass(frozen=True)
class ChallengeFormat:
    name: str
    ticker: str
    dim: int
    rule: str = "signed"  # signed | lbfgs | object | pairs
    assets: tuple[str, ...] = ()  # object, pairs: the assets of the vector, in order (dim = their values)

    def __post_init__(self) -> None:
        per = PER_ASSET.get(self.rule)
        if per is not None and per * len(self.assets) != self.dim:
            raise ValueError(f"{self.name}: a {self.rule} value of dim {self.dim} needs {self.dim // per} assets, "
                             f"got {len(self.assets)}")

    def max_json_chars(self) -> int:
        """The longest `"key": value, ` a well-formed value of this challenge needs: a list of `dim`
        numbers, or for an object `{"asset": [v], …}` (a one-element list is an asset's longest form)."""
        key = max(len(self.name), len(self.ticker)) + 8  # quotes, ": ", ", " and the brackets or braces
        flat = self.dim * (NUMBER_CHARS + 2)  # each `v, `
        per = PER_ASSET.get(self.rule)
        if per is None:
            return key + flat
        # each `"a": [v], ` (object) or `"a": [v, v], ` (pairs)
        return key + max(flat, sum(len(a) + 6 + per * (NUMBER_CHARS + 2) for a in self.assets))


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


def _cell(x: Any) -> float:
    """One asset's cell of an object value: a number in [-1, 1], a one-element numeric list clipped
    to it (compared before float(), so an int of any size clips), else 0, "no value" (§9)."""
    if isinstance(x, list) and len(x) == 1 and _number(x[0]):
        return float(min(max(x[0], -1), 1))
    if _number(x) and -1 <= x <= 1:
        return float(x)
    return 0.0


def _pair(x: Any) -> list[float]:
    """One asset's pair of a pairs value: exactly two numbers in [0, 1], else [0, 0] (§9)."""
    if isinstance(x, list) and len(x) == 2 and all(_number(v) and 0 <= v <= 1 for v in x):
        return [float(x[0]), float(x[1])]
    return [0.0, 0.0]


def object_vector(value: Any, fmt: ChallengeFormat) -> tuple[list[float] | None, str | None]:
    """(the stored vector, None) for a multi-asset value, or (None, why not) (§9).

    An object yields one cell (object) or pair (pairs) per asset of `fmt.assets`, in order, and is
    never refused; a flat list must pass the signed rule whole; any other value is refused.
    """
    if isinstance(value, dict):
        if fmt.rule == "pairs":
            return [v for a in fmt.assets for v in _pair(value.get(a))], None
        return [_cell(value.get(a)) for a in fmt.assets], None
    if isinstance(value, list):
        problem = vector_problem(value, fmt.dim)
        return (None, problem) if problem else ([float(x) for x in value], None)
    return None, f"not an object or list but {type(value).__name__}"


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
        elif fmt.rule in PER_ASSET:
            vector, problem = object_vector(values[key], fmt)
        else:
            problem = vector_problem(values[key], fmt.dim)
            vector = None if problem else [float(x) for x in values[key]]
        if problem:
            problems[fmt.name] = problem
        else:
            vectors[fmt.name] = vector
    return vectors, problems
