"""Field readers every export parser shares: identifiers and numbers as miners send them."""

from __future__ import annotations

import math


def printable_id(value: object) -> bool:
    """An identifier (a hotkey, a game or prediction id) is 1–128 printable ASCII characters without
    spaces (an SS58 address is base58), so it prints and keys safely."""
    return (isinstance(value, str) and 0 < len(value) <= 128 and value.isascii() and value.isprintable()
            and " " not in value)


def finite_number(value: object) -> float | None:
    """A JSON number as a finite float; None for anything else (booleans, strings, overflow, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        x = float(value)
    except OverflowError:
        return None
    return x if math.isfinite(x) else None
