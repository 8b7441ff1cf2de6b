"""JSON from untrusted sources, parsed with a nesting bound checked before the parser runs.

py_ecc raises the interpreter's recursion limit to 100 000 when imported, so the C JSON decoder no
longer stops deep input with a RecursionError: a few hundred kilobytes of '[' overflow the C stack
and kill the process. Every payload and plaintext therefore goes through `loads` here.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

MAX_DEPTH = 64
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def nesting_depth(raw: bytes) -> int:
    """Deepest bracket nesting outside strings, as the JSON parser would meet it.

    Escapes go first, so the remaining quotes pair up exactly as JSON strings do; where the input
    is malformed (a backslash outside a string), the parser stops there, before anything it hides.
    """
    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", raw)).translate(None, _NOT_BRACKET)
    if not brackets:
        return 0
    a = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((a == ord("[")) | (a == ord("{")), 1, -1)
    return int(np.cumsum(steps, dtype=np.int64).max())


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads that refuses input nested deeper than `max_depth` with a ValueError."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    # Counting is C-speed; the exact depth is only worked out when the count could exceed the bound.
    if raw.count(b"[") + raw.count(b"{") > max_depth and nesting_depth(raw) > max_depth:
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    return json.loads(data)


def loads_object(data: bytes | str, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """`loads` of a document that must be a JSON object; ValueError says which way it is not."""
    try:
        doc = loads(data, max_depth)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {str(exc)[:120]}") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc
