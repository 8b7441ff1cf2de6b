"""The `incentive` command line."""

from __future__ import annotations

import json
from typing import Callable, TypeVar

T = TypeVar("T")


class UsageError(Exception):
    """Bad arguments or unreadable inputs: exit code 2, as argparse uses."""


def load_json(path: str, max_depth: int | None = None) -> object:
    """An input file of miners' records: nesting is bounded before parsing (deep JSON would overflow
    the C stack) and an integer too long to read fails only its own record."""
    from protocol import json_guard

    try:
        with open(path, "rb") as f:
            return json_guard.loads(f.read(), max_depth or json_guard.MAX_DEPTH, parse_int=json_guard.bounded_int)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{path} is not JSON: {str(exc).splitlines()[0][:200]}") from None


def read_input(path: str, parse: Callable[[object], T], max_depth: int | None = None) -> T:
    """One input file read and parsed; the parser's ValueError is a usage error naming the file."""
    try:
        return parse(load_json(path, max_depth))
    except ValueError as exc:
        raise UsageError(f"{path}: {str(exc)[:300]}") from None


def write_json(path: str, obj: object) -> None:
    """A state file the next run reads with `--state`."""
    try:
        with open(path, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
