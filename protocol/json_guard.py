"""JSON from untrusted sources: strict UTF-8, then a nesting bound checked before the parser runs.

py_ecc raises the interpreter's recursion limit to 100 000 when imported, so the C JSON decoder no
longer stops deep input with a RecursionError: a few hundred kilobytes of '[' overflow the C stack
and kill the process. Every payload and plaintext therefore goes through `loads` here.

Bytes are decoded as UTF-8 and nothing else before anything is counted: `json.loads(bytes)` would
detect UTF-16 and UTF-32 and decode them, and in those encodings a bracket is not the byte the
guard counts, so the guard and the parser would read different documents.
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
    """Deepest bracket nesting outside strings of UTF-8 text, as the JSON parser would meet it.

    In UTF-8 every byte of a multi-byte character is ≥ 0x80, so brackets, quotes and backslashes
    are exactly the bytes of those characters. Escapes go first, so the remaining quotes pair up
    exactly as JSON strings do; where the input is malformed (a backslash outside a string), the
    parser stops there, before anything it hides.
    """
    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", raw)).translate(None, _NOT_BRACKET)
    if not brackets:
        return 0
    a = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((a == ord("[")) | (a == ord("{")), 1, -1)
    return int(np.cumsum(steps, dtype=np.int64).max())


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads of strict UTF-8 (or text) that refuses nesting deeper than `max_depth`.

    Raises ValueError (UnicodeDecodeError for bytes that are not UTF-8) and never parses a document
    other than the one whose depth was bounded.
    """
    if isinstance(data, str):
        text, raw = data, data.encode("utf-8", "surrogatepass")
    else:
        raw = bytes(data)
        text = raw.decode("utf-8")  # strict: UTF-16/32, a BOM-less wide encoding or junk is an error
    # Counting is C-speed; the exact depth is only worked out when the count could exceed the bound.
    if raw.count(b"[") + raw.count(b"{") > max_depth and nesting_depth(raw) > max_depth:
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    return json.loads(text)


def loads_object(data: bytes | str, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """`loads` of a document that must be a JSON object; ValueError says which way it is not."""
    try:
        doc = loads(data, max_depth)
    except ValueError as exc:
        raise ValueError(f"not JSON: {str(exc)[:120]}") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc
