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
from typing import Any, Callable

import numpy as np

MAX_DEPTH = 64
_CHUNK = 1 << 20  # bytes scanned at a time: memory stays a few times this, whatever the input
_QUOTE, _OPEN, _CLOSE = ord('"'), (ord("["), ord("{")), (ord("]"), ord("}"))


def nesting_depth(raw: bytes) -> int:
    """Deepest bracket nesting outside strings of UTF-8 text, as the JSON parser would meet it.

    In UTF-8 every byte of a multi-byte character is ≥ 0x80, so brackets, quotes and backslashes
    are exactly the bytes of those characters. Escaped backslashes go first, then escaped quotes,
    so the remaining quotes pair up exactly as JSON strings do (where the input is malformed, the
    parser stops there, before anything it hides). The scan runs over fixed-size chunks, carrying
    the in-string state and the depth across them.
    """
    text = np.frombuffer(raw.replace(b"\\\\", b"").replace(b'\\"', b""), dtype=np.uint8)
    depth = deepest = 0
    inside = np.uint8(0)
    for start in range(0, len(text), _CHUNK):
        a = text[start : start + _CHUNK]
        in_string = np.bitwise_xor.accumulate((a == _QUOTE).view(np.uint8)) ^ inside
        inside = in_string[-1]
        outside = in_string == 0
        opens = ((a == _OPEN[0]) | (a == _OPEN[1])) & outside
        brackets = opens | (((a == _CLOSE[0]) | (a == _CLOSE[1])) & outside)
        steps = np.where(opens[brackets], 1, -1)
        if len(steps):
            levels = np.cumsum(steps, dtype=np.int64) + depth
            deepest, depth = max(deepest, int(levels.max())), int(levels[-1])
    return deepest


def bounded_int(digits: str) -> int | float:
    """A JSON integer as `parse_int` for documents of many records: ±inf past 400 digits, so such a
    value fails its own record's checks where the parser's 4300-digit limit would fail the document."""
    if len(digits) <= 400:
        return int(digits)
    return float("-inf") if digits.startswith("-") else float("inf")


def loads(data: bytes | str, max_depth: int = MAX_DEPTH, parse_int: Callable[[str], Any] | None = None) -> Any:
    """json.loads of strict UTF-8 (or text) that refuses nesting deeper than `max_depth`
    (`parse_int` as json.loads takes it).

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
    return json.loads(text, parse_int=parse_int)


def loads_object(data: bytes | str, max_depth: int = MAX_DEPTH,
                 parse_int: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """`loads` of a document that must be a JSON object; ValueError says which way it is not."""
    try:
        doc = loads(data, max_depth, parse_int)
    except ValueError as exc:
        raise ValueError(f"not JSON: {str(exc)[:120]}") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc
