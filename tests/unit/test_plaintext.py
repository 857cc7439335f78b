"""``fastrecords.open_arrow`` (the plaintext decoder in C, ledgerlake/_plaintext.c) takes
only plaintexts the one record rule (``records``) accepts, and gives exactly its records
(as Arrow arrays) and commitments; it defers everything else (None), which
``open_columns`` and the reference then decide. Hostile schemas, records, writers and
byte-level damage, as for ``open_columns`` (test_sync_columns.py)."""

from __future__ import annotations

import hashlib
import os

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import test_fastrecords as fr
import test_sync_columns as sc
from ledgerlake import fastrecords, records
from ledgerlake.analytics import lake

SAFE = records.MAX_SAFE_INTEGER


def test_the_extension_is_built():
    """scripts/install builds it (setup.py); without it the sync is ~3x slower."""
    assert fastrecords._plaintext is not None


def _types(schema):
    return [lake.arrow_type(f.type) for f in schema.fields]


def _opened(schema, header, plaintext):
    return fastrecords.open_arrow(schema, header, plaintext, _types(schema))


def _columns(schema, arrays) -> dict[str, list]:
    """The arrays as open_columns' lists (timestamps as their integers)."""
    out = {}
    for f, array in zip(schema.fields, arrays, strict=True):
        assert len(array) == len(arrays[0])
        array.validate(full=True)
        if f.type == "timestamp":
            array = array.view(pa.int64())
        out[f.name] = array.to_pylist()
    return out


def _check_against_the_rule(schema, header, plaintext):
    fast = _opened(schema, header, plaintext)
    expected = fr._reference_open(schema, header, plaintext)
    if fast is not None:
        assert expected[0] == "accept"
        arrays, leaves = fast
        assert sc._same(schema, _columns(schema, arrays), expected[1])
        assert [leaves[i:i + 32] for i in range(0, len(leaves), 32)] == expected[3]
    return fast, expected


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_open_arrow_takes_only_what_the_rule_accepts_and_returns_the_same(data):
    schema, header, plaintext, writer, tweak = fr._hostile_batch(data, sc.WRITERS)
    fast, expected = _check_against_the_rule(schema, header, plaintext)
    event(f"{writer}, {tweak}: C {'took it' if fast else 'deferred'}, "
          f"the rule {expected[0]}s")


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_damaged_plaintexts_are_deferred_or_decided_as_the_rule(data):
    """Bytes changed, inserted or cut anywhere in an honest plaintext: never an error or
    a crash; whatever is taken is what the rule accepts."""
    schema = data.draw(fr.schemas())
    normal = fr._normal_rows(data, schema, hostile_rows=False)
    salts = [os.urandom(16) for _ in normal]
    leaves, plaintext = fastrecords.seal(schema, normal, salts, data.draw(fr.cursors))
    header = fr._header(schema, normal, leaves)
    damaged = bytearray(plaintext)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(damaged)))
        how = data.draw(st.sampled_from(("set", "insert", "cut")))
        byte = data.draw(st.sampled_from(b'"\\,:{}[]0123456789.-e ntf\x00\x7f\xc3a'))
        if how == "insert" or at == len(damaged):
            damaged.insert(at, byte)
        elif how == "set":
            damaged[at] = byte
        else:
            del damaged[at:at + data.draw(st.integers(1, 40))]
    fast, expected = _check_against_the_rule(schema, header, bytes(damaged))
    event(f"C {'took it' if fast else 'deferred'}, the rule {expected[0]}s")


plain_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e,
                                   blacklist_characters='"\\'), max_size=12)
short_doubles = st.integers(-10**9, 10**9).flatmap(
    lambda m: st.integers(0, 6).map(lambda k: m / 10**k)).filter(
    lambda x: abs(x) >= 1e-5 or x == 0)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_open_arrow_takes_honest_batches_of_plain_values(data):
    """Not vacuous: sealed records of ASCII strings, integers, timestamps and doubles of
    up to 15 significant digits (what sensors send) are taken, cursor or not."""
    fields = [{"name": "s", "type": "string"}, {"name": "i", "type": "int"},
              {"name": "t", "type": "timestamp"}, {"name": "x", "type": "float"},
              {"name": "b", "type": "bool", "required": False},
              {"name": "o", "type": "string", "required": False, "public": True}]
    schema = records.Schema.from_mapping({"version": 1, "fields": fields})
    row = st.fixed_dictionaries(
        {"s": plain_text, "i": st.integers(-SAFE, SAFE), "t": st.integers(0, 2**63 - 1),
         "x": short_doubles},
        optional={"b": st.booleans() | st.none(), "o": plain_text | st.none()})
    rows = data.draw(st.lists(row, min_size=1, max_size=8))
    rows = [t for t in rows if not (0 < t["t"] - SAFE and len(str(t["t"])) < 17)]
    if not rows:
        return
    normal = [records.validate_record(schema, r) for r in rows]
    salts = [os.urandom(16) for _ in normal]
    leaves, plaintext = fastrecords.seal(schema, normal, salts, data.draw(fr.cursors))
    header = fr._header(schema, normal, leaves)
    fast, expected = _check_against_the_rule(schema, header, plaintext)
    if plaintext.startswith(b'{"cursor":{') or plaintext.startswith(b'{"cursor":['):
        assert fast is not None
    elif plaintext.startswith(b'{"records":'):
        assert fast is not None


SCHEMA = records.Schema.from_mapping({"version": 1, "fields": [
    {"name": "a", "type": "int", "min": -5, "max": 10**18},
    {"name": "f", "type": "float", "required": False, "min": -100, "max": 100},
    {"name": "s", "type": "string", "required": False}]})
SALTS = [bytes([0xa0 + i]) * 16 for i in range(2)]  # hex with letters
GOOD = b'{"a":"100000000000000000","f":2.5,"s":"x y"}'
OTHER = b'{"a":-5}'


def _open_one(record: bytes, tweak: str = "none"):
    parts = [record, OTHER]
    leaves = [hashlib.sha256(s + p).digest() for s, p in zip(SALTS, parts)]
    header = {"record_count": 2, "merkle_root": records.merkle_root(leaves).hex(),
              "public": {}}
    fast, expected = _check_against_the_rule(SCHEMA, header,
                                             fr._plaintext(parts, SALTS, tweak))
    return fast, expected[0]


def test_each_check_of_the_decoder_has_a_case_it_defers():
    fast, rule = _open_one(GOOD)
    assert fast is not None and rule == "accept"
    assert _columns(SCHEMA, fast[0]) == {"a": [10**17, -5], "f": [2.5, None],
                                         "s": ["x y", None]}
    assert _open_one(b'{"a":3,"f":null,"s":null}')[0] is not None
    assert _open_one(b'{"a":"10000000000000000"}')[0] is not None  # 10^16: 17 digits
    assert _open_one(b'{"a":3,"f":20}')[0] is not None  # an integral double, as RFC 8785
    assert _open_one(b'{"a":3,"f":-0.5}')[0] is not None
    assert _open_one(b'{"a":3,"f":0.30000000000000004}')[0] is not None  # 17 digits
    for bad in (b'{"a":-0}', b'{"a":03}', b'{"a":3.0}', b'{"a":3e0}', b'{"a":-6}',
                b'{"a":"0100000000000000000"}', b'{"a":"1000000000000000001"}',
                b'{"a":"-100000000000000000"}', b'{"a":"9999999999999999999999"}',
                b'{"a":3,"f":20.0}', b'{"a":3,"f":2.50}', b'{"a":3,"f":-0.0}',
                b'{"a":3,"f":1.5e-6}', b'{"a":3,"f":0.000001}', b'{"a":3,"f":100.5}',
                b'{"a":3,"f":0.30000000000000005}', b'{"a":3,"f":.5}', b'{"a":3,"f":5.}',
                b'{"a":3,"s":"\\n"}', b'{"a":3,"s":"\\u0041"}', b'{"a":3,"s":"\xc3\xa9"}',
                b'{"a":3,"s":"\x7f"}', b'{"f":2.5,"a":3}', b'{"a":3,"a":3}',
                b'{"a":3,"z":1}', b'{"f":2.5}', b'{"a":null}', b'{"a":3,"s":1}',
                b'{"a":3 }', b'{ "a":3}', b'{"a":true}', b'{"a":3,}'):
        fast, rule = _open_one(bad)
        assert fast is None, bad
    for tweak in ("salt_upper", "drop_salt", "trailing", "cursor_null", "extra_member",
                  "records_last"):
        assert _open_one(GOOD, tweak)[0] is None, tweak
    assert _open_one(GOOD, "cursor")[0] is not None


def test_a_count_the_plaintext_cannot_hold_is_deferred_without_allocating_it():
    from ledgerlake import _plaintext

    spec = fastrecords.codec(SCHEMA).plain_spec
    text = fr._plaintext([GOOD, OTHER], SALTS, "none")
    assert _plaintext.columns(text, 2, spec) is not None
    for count in (0, -1, 1, 3, 2**40, 2**62):
        assert _plaintext.columns(text, count, spec) is None
    header = {"record_count": 2**63, "public": {}, "merkle_root": "0" * 64}
    assert fastrecords.open_arrow(SCHEMA, header, text, _types(SCHEMA)) is None
    bad_salt = text.replace(b'"' + b"a0" * 16, b'"g' + b"0" * 31, 1)  # not a hex digit
    assert bad_salt != text and _plaintext.columns(bad_salt, 2, spec) is None
    with pytest.raises(ValueError):
        _plaintext.columns(text, 2, ((b"", 0, 0, 0, 0, 0, 0, 0, 0.0, 0.0),))
    with pytest.raises(TypeError):
        _plaintext.columns(text, 2, (("a", 0, 0, 0, 0, 0, 0, 0, 0.0, 0.0),))


@given(st.recursive(st.none() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) |
                    st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8),
       st.binary(max_size=8))
def test_value_end_finds_where_a_cursor_ends(cursor, after):
    from ledgerlake import _plaintext

    try:
        written = records.cursor_bytes(cursor) if isinstance(cursor, (list, dict)) else b"1"
    except records.RecordError:
        return
    text = b'{"cursor":' + written + after
    end = _plaintext.value_end(text, 10)
    if isinstance(cursor, (list, dict)):
        assert end == 10 + len(written)
    else:
        assert end == -1
    assert _plaintext.value_end(text, len(text)) == -1
    assert _plaintext.value_end(b'{"a":"}', 0) == -1
    assert _plaintext.value_end(b'{"a":"\\', 0) == -1  # cut after a backslash
