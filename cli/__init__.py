"""The `incentive` command line."""

from __future__ import annotations


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
