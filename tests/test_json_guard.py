"""The nesting bound in front of json.loads for untrusted bytes."""

import sys

import pytest

import protocol.bls  # noqa: F401  (imports py_ecc, which raises the recursion limit)
from protocol import json_guard


def test_py_ecc_raises_the_recursion_limit():
    # The reason the guard exists: with this limit the C decoder overflows the stack on deep input.
    assert sys.getrecursionlimit() >= 100_000


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [1, [2, {"b": 3}]]}', 4),
        (b'{"a": "[[[[[[[[[["}', 1),  # brackets inside strings do not count
        (b'{"a": "\\"[[[[[[[[[["}', 1),  # nor after an escaped quote
        (b'{"a": "\\\\", "b": [[1]]}', 3),  # an escaped backslash ends before the closing quote
        (b"[]" * 1000, 1),
        (b"", 0),
    ],
)
def test_nesting_depth(raw, depth):
    assert json_guard.nesting_depth(raw) == depth


def test_wide_but_shallow_json_parses():
    doc = "[" + ",".join("[1]" for _ in range(5000)) + "]"
    assert len(json_guard.loads(doc)) == 5000


@pytest.mark.parametrize("raw", [b"[" * 1_000_000, b'{"a":' * 200_000, "[" * 65 + "]" * 65])
def test_deep_json_is_refused_before_parsing(raw):
    with pytest.raises(ValueError, match="nested deeper"):
        json_guard.loads(raw)


def test_bound_is_inclusive():
    doc = "[" * 64 + "]" * 64
    value = json_guard.loads(doc)
    for _ in range(63):
        value = value[0]
    assert value == []


def test_loads_object_says_how_a_document_is_not_an_object():
    assert json_guard.loads_object(b'{"a": [1]}') == {"a": [1]}
    for raw, message in ((b"[1, 2]", "not a JSON object"), (b"{oops", "not JSON"), (b"\xff", "not JSON"),
                         (b"[" * 100 + b"]" * 100, "not JSON: JSON nested deeper")):
        with pytest.raises(ValueError, match=message):
            json_guard.loads_object(raw)


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b'["' + b"[" * (1 << 20) + b'"]', 1),  # a string across the scan's chunk boundary
        (b" " * ((1 << 20) - 35) + b"[" * 70 + b"]" * 70, 70),  # nesting across it
        (b'["' + b"\\\\" * 600_000 + b'\\"[[[' + b'"]', 1),  # escapes by the million, then an escaped quote
        (b'["\\\\"' + b", [[[]]]]", 4),  # an escaped backslash closes its string
    ],
)
def test_nesting_depth_across_chunks_and_escapes(raw, depth):
    assert json_guard.nesting_depth(raw) == depth


def test_counting_holds_a_few_bytes_per_input_byte():
    import tracemalloc

    raw = (b'"\\\\' * (3 << 20))[: 8 << 20]  # quotes and escapes: the pieces a regex would make
    tracemalloc.start()
    try:
        json_guard.nesting_depth(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * len(raw)
