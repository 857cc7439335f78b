"""The canonical form's fast writer (``records._fast_canonical``) against the general
path (``rfc8785``): byte for byte the same text, or it leaves the value to ``rfc8785``.
JavaScript's ``canonicalize`` checks both in tests/unit/test_canonical_interop.py."""

from __future__ import annotations

import struct

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerlake import records

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
           | st.sampled_from(["\x7f", "\u2028", "\x00\x08\x0c\x1f", "\"\\/", "é😀", "\ud800"]))
values = st.recursive(scalars, lambda c: st.lists(c, max_size=4)
                      | st.dictionaries(st.text(max_size=6), c, max_size=4), max_leaves=20)


def general(value) -> bytes:
    return rfc8785.dumps(records._jcs_value(value))


@given(values)
@settings(max_examples=1500, deadline=None)
def test_the_fast_writer_writes_what_rfc8785_writes_or_leaves_it(value):
    fast = records._fast_canonical(value)
    try:
        expected = general(value)
    except rfc8785.CanonicalizationError:
        assert fast is None  # a lone surrogate: rfc8785 refuses it, and canonical says so
        return
    assert fast is None or fast == expected


long_lists = st.lists(st.text(max_size=6) | st.sampled_from(["\x00\x1f", "\"\\", "\ud800"]),
                      min_size=9, max_size=30) | \
    st.lists(st.integers(min_value=-(2**60), max_value=2**60) | st.booleans(), min_size=9,
             max_size=30) | st.lists(scalars, min_size=9, max_size=30)


@given(long_lists | st.dictionaries(st.text(max_size=6), long_lists, max_size=3))
@settings(max_examples=1000, deadline=None)
def test_long_lists_a_batch_header_holds_are_written_as_rfc8785_writes_them(value):
    """Public columns: lists of strings or integers are written a whole list at a time."""
    test_the_fast_writer_writes_what_rfc8785_writes_or_leaves_it.hypothesis.inner_test(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=3000, deadline=None)
def test_every_double_is_written_as_javascript_writes_it(number):
    assert records._jcs_float(number) == general(number).decode()


@given(st.integers(min_value=0, max_value=2**64 - 1))
@settings(max_examples=2000, deadline=None)
def test_doubles_from_any_bit_pattern_are_written_as_javascript_writes_them(bits):
    number = struct.unpack(">d", bits.to_bytes(8, "big"))[0]
    if number != number or number in (float("inf"), float("-inf")):
        return
    assert records._jcs_float(number) == general(number).decode()


@pytest.mark.parametrize("number, text", [
    (1.0, "1"), (-0.0, "0"), (1e16, "10000000000000000"), (1e21, "1e+21"),
    (1e-6, "0.000001"), (1e-7, "1e-7"), (123456789012345680000.0, "123456789012345680000"),
    (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
    (0.1 + 0.2, "0.30000000000000004"), (-1.5e-9, "-1.5e-9"), (2.5e20, "250000000000000000000"),
])
def test_known_doubles(number, text):
    assert records.canonical(number).decode() == text == general(number).decode()


def test_plain_records_take_the_fast_path():
    record = {"sensor": "s1", "value": 21.5, "ts": 1_700_000_000_000_000_001, "ok": True}
    assert records._fast_canonical(record) == general(record)
    assert records._fast_canonical(record) is not None


def test_what_the_fast_writer_leaves_still_gets_its_canonical_form_or_error():
    assert records.canonical({"é": 1, "e": 2}) == general({"é": 1, "e": 2})
    assert records.canonical((1, 2)) == b"[1,2]"
    with pytest.raises(records.RecordError, match="cannot be encoded canonically"):
        records.canonical({"x": "\ud800"})
    with pytest.raises(records.RecordError, match="cannot be encoded canonically"):
        records.canonical([float("nan")])


def test_the_key_order_cache_stays_small_whatever_the_input():
    records._KEY_ORDERS.clear()
    records.canonical({"x" * 65: 1})  # a long key
    records.canonical({f"k{i}": i for i in range(records._KEY_ORDER_KEYS + 1)})  # many keys
    assert records._KEY_ORDERS == {}
    for i in range(records._KEY_ORDER_SETS + 50):
        records.canonical({f"k{i}": 1, "a": 2})
    assert len(records._KEY_ORDERS) == records._KEY_ORDER_SETS
    assert records.canonical({"b": 1, "a": {"d": 2, "c": 3}}) == b'{"a":{"c":3,"d":2},"b":1}'
