"""``fastrecords`` (the record rule in C, through msgspec) decides as ``records`` (the
reference) does, byte for byte: the same normalised records, canonical bytes,
commitments, plaintexts and decisions, over generated schemas (bounds, optional fields,
odd names) and hostile records and plaintexts; where it is not sure it hands the case to
the reference, which then names the error as always."""

from __future__ import annotations

import enum
import hashlib
import json
import os

import msgspec
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from ledgerlake import fastrecords, records
from ledgerlake.client import encryption
from ledgerlake.client.batches import open_batch_verified, seal_batch

SAFE = records.MAX_SAFE_INTEGER
INT64 = records.INT64


class Level(enum.IntEnum):
    HIGH = 3


class Text(str):
    pass


# -- generated schemas and records ----------------------------------------------------------
NAMES = ["a", "B", "class", "ts", "t.1", "t-1", "Zeta", "value", "x_2", "aa"]
bound_int = st.integers(INT64[0], INT64[1]) | st.integers(-100, 100) | \
    st.sampled_from([0, SAFE, SAFE + 1, -SAFE - 1, 2**60])
bound_float = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-100, 100) | \
    st.sampled_from([-1e6, 1e6, 0, 2**60 + 1, 1e300])


@st.composite
def schemas(draw) -> records.Schema:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=6, unique=True))
    fields = []
    for name in names:
        kind = draw(st.sampled_from(records.FIELD_TYPES))
        f = {"name": name, "type": kind, "required": draw(st.booleans()),
             "public": draw(st.booleans())}
        if kind in ("int", "timestamp", "float") and draw(st.booleans()):
            bounds = sorted(draw(st.lists(bound_int if kind != "float" else bound_float,
                                          min_size=2, max_size=2)))
            if draw(st.booleans()):
                f["min"] = bounds[0]
            if draw(st.booleans()):
                f["max"] = bounds[1]
        fields.append(f)
    try:
        return records.Schema.from_mapping({"version": 1, "fields": fields})
    except records.RecordError:
        assume(False)


floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 20.0, 1e15, 1e16, 1e21, 1e22, 1e-5, 1.5e-6, 1e-6, 1e-7, 2.0**53, 2.0**60,
     5e-324, 1.7976931348623157e308, 0.1, 123.0, -7.25])
ints = st.integers(INT64[0], INT64[1]) | st.integers(-(2**53) - 2, 2**53 + 2) | \
    st.sampled_from([SAFE, SAFE + 1, -SAFE - 1, 9_999_999_999_999_999, 10**16, 2**63 - 1])
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8) | st.sampled_from(
    ["", "\x00\x1f\"\\", "é☃𝄞", "\u2028\x7f", "v1.0,", "x.0}", "5e-6,", "\":20.0,"])
hostile = st.none() | st.booleans() | ints | st.integers(-(2**70), 2**70) | st.floats() | \
    text | st.sampled_from(["12345678901234567890", "9007199254740993", "1700000000000000001",
                            "-9223372036854775808", "0", "1", "-0", "1e3", "007"]) | \
    st.lists(st.integers(), max_size=2) | st.just({"x": 1}) | \
    st.sampled_from([Level.HIGH, Text("t"), 2.5, True])


def value_for(kind: str):
    return {"int": ints, "timestamp": ints | st.integers(0, INT64[1]).map(str),
            "float": floats | ints, "string": text, "bool": st.booleans()}[kind]


@st.composite
def rows_of(draw, schema: records.Schema, hostile_rows: bool = True) -> dict:
    row = {}
    for f in schema.fields:
        if not f.required and draw(st.integers(0, 3)) == 0:
            continue
        choice = draw(st.integers(0, 9)) if hostile_rows else 9
        if choice == 0:
            row[f.name] = draw(hostile)
        elif choice == 1 and not f.required:
            row[f.name] = None
        else:
            row[f.name] = draw(value_for(f.type))
    if hostile_rows and draw(st.integers(0, 15)) == 0:
        row[draw(st.sampled_from(NAMES + ["extra"]))] = draw(hostile)
    if hostile_rows and draw(st.integers(0, 15)) == 0 and row:
        row.pop(draw(st.sampled_from(sorted(row))))
    return row


def _reference_validate(schema, row, where="record"):
    try:
        return "accept", records.validate_record(schema, row, where)
    except records.RecordError as exc:
        return "refuse", str(exc)


def _same_record(a: dict, b: dict) -> bool:
    return a == b and {k: type(v) for k, v in a.items()} == {k: type(v) for k, v in b.items()}


# -- validation -----------------------------------------------------------------------------
@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_validate_record_decides_and_normalises_as_the_rule(data):
    schema = data.draw(schemas())
    row = data.draw(rows_of(schema))
    expected = _reference_validate(schema, row, "row 7")
    try:
        got = "accept", fastrecords.validate_record(schema, row, "row 7")
    except records.RecordError as exc:
        got = "refuse", str(exc)
    assert got[0] == expected[0]
    if got[0] == "accept":
        assert _same_record(got[1], expected[1])
    else:
        assert got[1] == expected[1]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_validate_records_decides_as_the_rule_record_by_record(data):
    schema = data.draw(schemas())
    rows = data.draw(st.lists(rows_of(schema, data.draw(st.booleans())), min_size=1,
                              max_size=6))
    try:
        expected = "accept", [records.validate_record(schema, r, f"record {i}")
                              for i, r in enumerate(rows)]
    except records.RecordError as exc:
        expected = "refuse", str(exc)
    try:
        got = "accept", fastrecords.validate_records(schema, rows)
    except records.RecordError as exc:
        got = "refuse", str(exc)
    assert got[0] == expected[0]
    if got[0] == "accept":
        assert all(_same_record(a, b) for a, b in zip(got[1], expected[1], strict=True))
    else:
        assert got[1] == expected[1]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_validate_all_returns_what_the_rule_returns_for_each_row_or_none(data):
    """A block of rows at once (an ingest's): None (each row is then decided alone) or, for
    every row, the rule's record with the rule's types."""
    schema = data.draw(schemas())
    rows = data.draw(st.lists(rows_of(schema, data.draw(st.booleans())), min_size=1,
                              max_size=6))
    if data.draw(st.booleans()):  # rows the rule accepts, as it returns them: normal
        rows = [v[1] for v in map(lambda r: _reference_validate(schema, r), rows)
                if v[0] == "accept"] or rows
    got = fastrecords.validate_all(schema, rows)
    verdicts = [_reference_validate(schema, r) for r in rows]
    if got is None:
        return
    assert all(v[0] == "accept" for v in verdicts)
    assert all(_same_record(a, v[1]) for a, v in zip(got, verdicts, strict=True))


# -- sealing --------------------------------------------------------------------------------
def _normal_rows(data, schema, hostile_rows=True, max_size=6):
    rows = data.draw(st.lists(rows_of(schema, hostile_rows), min_size=1, max_size=max_size))
    normal = []
    for row in rows:
        verdict = _reference_validate(schema, row)
        if verdict[0] == "accept":
            normal.append(verdict[1])
    assume(normal)
    return normal


cursors = st.none() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | \
    st.fixed_dictionaries({"file": text, "row": ints}) | st.lists(text, max_size=3)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_seal_writes_the_commitments_and_plaintext_of_the_rule(data):
    schema = data.draw(schemas())
    normal = _normal_rows(data, schema)
    salts = [data.draw(st.binary(min_size=16, max_size=16)) for _ in normal]
    cursor = data.draw(cursors)
    assert fastrecords.seal(schema, normal, salts, cursor) == \
        records.seal_records(normal, salts, cursor)
    # as an ingest seals: rows validated one by one, not normalised again
    fast = [fastrecords.validate_record(schema, row) for row in normal]
    for rows in (fast, normal):
        assert fastrecords.seal(schema, rows, salts, cursor, normalised=True) == \
            records.seal_records(normal, salts, cursor)


# -- opening --------------------------------------------------------------------------------
def _js_like(value):
    """Numbers as Python's json writes them (``20.0``, ``1e+16``, big integers bare)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _msgspec_form(value):
    """What a reader trusting msgspec's writing alone would take for canonical."""
    return msgspec.json.encode(value, order="sorted")


WRITERS = {
    "canonical": lambda r: records.canonical(r),
    "python": lambda r: _js_like(r).encode(),
    "msgspec": _msgspec_form,
    "ascii": lambda r: json.dumps(r, separators=(",", ":"), sort_keys=True).encode(),
    "space": lambda r: records.canonical(r).replace(b":", b": ", 1),
    "reversed": lambda r: b"{" + b",".join(records.canonical(k) + b":" + records.canonical(v)
                                           for k, v in sorted(r.items(), reverse=True)) + b"}",
    "duplicate": lambda r: (b"{" + b",".join(records.canonical(k) + b":" + records.canonical(v)
                                             for k, v in sorted(r.items()))
                            + (b"," if r else b"") + b",".join(
                                records.canonical(k) + b":" + records.canonical(v)
                                for k, v in sorted(r.items())[:1]) + b"}"),
    "extra": lambda r: records.canonical({**r, "zz_extra": 1}),
    "quoted": lambda r: records.canonical({k: str(v) if type(v) is int else v
                                           for k, v in r.items()}),
    "padded": lambda r: records.canonical({k: "0" + str(v) if type(v) is int and abs(v) > SAFE
                                           else v for k, v in r.items()}),
    "dotted": lambda r: records.canonical({k: f"{v}.0" if type(v) is int else v
                                           for k, v in r.items()}),
    "exponent": lambda r: records.canonical({k: f"{v}e0" if type(v) is int else v
                                             for k, v in r.items()}),
}
PLAINTEXT_TWEAKS = ("none", "cursor", "cursor_null", "trailing", "salt_upper", "drop_salt",
                    "extra_member", "records_last")


def _plaintext(parts, salts, tweak):
    salt_text = [f'"{s.hex()}"'.encode() for s in salts]
    head = b'{"records":['
    if tweak == "cursor":
        head = b'{"cursor":{"f":"a.csv","n":[1,2.5]},"records":['
    elif tweak == "cursor_null":
        head = b'{"cursor":null,"records":['
    elif tweak == "salt_upper":
        salt_text[0] = salt_text[0].upper()
    elif tweak == "drop_salt":
        salt_text = salt_text[1:]
    elif tweak == "extra_member":
        head = b'{"other":1,"records":['
    body = b",".join(parts)
    if tweak == "records_last":
        out = b'{"salts":[' + b",".join(salt_text) + b'],"records":[' + body + b"]}"
    else:
        out = head + body + b'],"salts":[' + b",".join(salt_text) + b"]}"
    return out + (b" " if tweak == "trailing" else b"")


def _reference_open(schema, header, plaintext):
    """The reference, as open_batch_verified decided before fastrecords."""
    try:
        where = "batch x"
        rows, salts, cursor = records.batch_plaintext(
            records.parse_json(plaintext, f"the plaintext of {where}"),
            f"the plaintext of {where}")
        normal, leaves = records.verified_records(schema, header, rows, salts, where)
        return "accept", normal, list(salts), leaves, cursor
    except records.RecordError as exc:
        return "refuse", str(exc)


def _header(schema, normal, leaves):
    return {"record_count": len(normal), "merkle_root": records.merkle_root(leaves).hex(),
            "public": records.validate_public_columns(
                schema, records.public_columns(schema, normal), len(normal))}


def _hostile_batch(data, writers: dict = WRITERS):
    """A batch of hostile schema and records whose one record is written by one of
    ``writers`` (or canonically where it cannot write it), committed either to the
    canonical bytes or to the bytes written, in a plaintext tweaked or not: the schema,
    header, plaintext, and the writer and tweak drawn."""
    schema = data.draw(schemas())
    normal = _normal_rows(data, schema)
    salts = [data.draw(st.binary(min_size=16, max_size=16)) for _ in normal]
    writer = data.draw(st.sampled_from(sorted(writers)))
    which = data.draw(st.integers(0, len(normal) - 1))
    try:
        written = writers[writer](normal[which])
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError, records.RecordError):
        written = records.canonical(normal[which])
    parts = [records.canonical(r) for r in normal]
    committed = list(parts)
    parts[which] = written
    if data.draw(st.booleans()):
        committed[which] = written  # the producer commits to what it wrote
    leaves = [hashlib.sha256(s + p).digest() for s, p in zip(salts, committed)]
    header = _header(schema, normal, leaves)
    tweak = data.draw(st.sampled_from(PLAINTEXT_TWEAKS))
    return schema, header, _plaintext(parts, salts, tweak), writer, tweak


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_open_plaintext_takes_only_what_the_rule_accepts_and_returns_the_same(data):
    """Hostile producers: a record written otherwise (numbers as msgspec or Python write
    them, escapes, spaces, key order, duplicate or extra keys), committed either to the
    canonical bytes or to the bytes written, in a plaintext tweaked or not."""
    schema, header, plaintext, writer, tweak = _hostile_batch(data)
    fast = fastrecords.open_plaintext(schema, header, plaintext)
    expected = _reference_open(schema, header, plaintext)
    event(f"{writer}, {tweak}: fast path {'took it' if fast else 'deferred'}, "
          f"the rule {expected[0]}s")
    if fast is not None:
        assert expected[0] == "accept"
        assert all(_same_record(a, b) for a, b in zip(fast[0], expected[1], strict=True))
        assert list(fast[1:]) == list(expected[2:])


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_open_plaintext_takes_honest_batches(data):
    """Not vacuous: what seal writes opens the fast way unless a value is one msgspec
    writes otherwise (a double in [1e-6, 1e-5), an integral one beyond 2^53) or a string
    looks like one, or the schema has a float bound no double holds (compared exactly by
    the reference)."""
    schema = data.draw(schemas())
    normal = _normal_rows(data, schema, hostile_rows=False)
    salts = [os.urandom(16) for _ in normal]
    cursor = data.draw(cursors)
    leaves, plaintext = fastrecords.seal(schema, normal, salts, cursor)
    header = _header(schema, normal, leaves)
    fast = fastrecords.open_plaintext(schema, header, plaintext)
    expected = _reference_open(schema, header, plaintext)
    assert expected[0] == "accept"
    if fast is None:
        values = [v for r in normal for v in r.values()]
        assert fastrecords.codec(schema) is None or \
            b".0," in plaintext or b".0}" in plaintext or b"e-6" in plaintext or \
            any(isinstance(v, float) and (abs(v) > SAFE or 1e-6 <= abs(v) < 1e-5)
                for v in values) or \
            any(type(v) is int and abs(v) > SAFE and (v < 0 or len(str(v)) < 17)
                for v in values)
    else:
        assert all(_same_record(a, b) for a, b in zip(fast[0], expected[1], strict=True))
        assert list(fast[1:]) == list(expected[2:])


# -- what the fast path relies on -----------------------------------------------------------
@settings(max_examples=3000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_msgspec_writes_the_doubles_it_is_trusted_with_as_rfc_8785(x):
    if x.is_integer() or 1e-6 <= abs(x) < 1e-5 or abs(x) >= 1e16:
        return
    assert msgspec.json.encode(x).decode() == records._jcs_float(x)
    assert msgspec.json.decode(msgspec.json.encode(x)) == x


@settings(max_examples=2000, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_msgspec_escapes_strings_as_rfc_8785(s):
    assert msgspec.json.encode(s).decode() == json.encoder.encode_basestring(s)


def test_msgspec_escapes_every_ascii_and_special_character_as_rfc_8785():
    for c in [chr(i) for i in range(0x100)] + ["\u2028", "\u2029", "\ufeff", "𝄞"]:
        assert msgspec.json.encode(c).decode() == json.encoder.encode_basestring(c), repr(c)


def test_big_integers_of_16_digits_and_odd_doubles_are_written_by_the_reference():
    schema = records.Schema.from_mapping({"version": 1, "fields": [
        {"name": "n", "type": "int"}, {"name": "f", "type": "float"}]})
    normal = [{"n": n, "f": f} for n, f in [(SAFE + 2, 1.5), (-SAFE - 2, 2.0**60),
                                            (2**62, 1.5e-6), (-(2**62), 0.25)]]
    salts = [bytes([i]) * 16 for i in range(len(normal))]
    leaves, plaintext = fastrecords.seal(schema, normal, salts)
    assert (leaves, plaintext) == records.seal_records(normal, salts)
    header = _header(schema, normal, leaves)
    assert fastrecords.open_plaintext(schema, header, plaintext) is None  # 16 digits, 1.5e-6
    assert _reference_open(schema, header, plaintext)[0] == "accept"
    easy = [{"n": 2**62, "f": 0.25}, {"n": 10**17, "f": 7.0}]
    leaves, plaintext = fastrecords.seal(schema, easy, salts[:2])
    opened = fastrecords.open_plaintext(schema, _header(schema, easy, leaves), plaintext)
    assert opened is not None and opened[0] == easy


# -- through the client ---------------------------------------------------------------------
SENSOR = records.Schema.from_mapping({"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "value", "type": "float", "min": -1e6, "max": 1e6},
    {"name": "ts", "type": "timestamp"},
    {"name": "battery", "type": "int", "min": 0, "max": 100, "required": False},
    {"name": "ok", "type": "bool", "required": False}]})


def test_seal_batch_and_open_batch_verified_take_the_fast_path_and_agree(monkeypatch):
    key = encryption.new_data_key()
    rows = [{"sensor": f"s{i % 3}", "value": i * 0.25, "ts": 1_700_000_000_000_000_000 + i,
             "battery": i % 101, "ok": i % 2 == 0} for i in range(500)]
    sealed = seal_batch(stream="plant", source="line-1", seq=1, prev_hash="", schema=SENSOR,
                        rows=rows, data_key=key, key_epoch=1, cursor={"row": 500})
    calls = []
    original = fastrecords.open_plaintext
    monkeypatch.setattr(fastrecords, "open_plaintext",
                        lambda *a: calls.append(original(*a)) or calls[-1])
    opened = open_batch_verified(SENSOR, sealed.batch, key, ciphertext=sealed.ciphertext)
    assert calls and calls[0] is not None  # the fast path decided
    expected = _reference_open(SENSOR, sealed.batch, sealed.transient["records"])
    assert expected[0] == "accept"
    assert opened.records == expected[1] and opened.salts == expected[2]
    assert opened.commitments == expected[3] == list(sealed.commitments)
    assert opened.cursor == {"row": 500}


def test_a_bad_row_is_named_by_the_rule():
    rows = [{"sensor": "a", "value": 1.0, "ts": 1}, {"sensor": "b", "value": 2e6, "ts": 2}]
    with pytest.raises(records.RecordError) as caught:
        seal_batch(stream="plant", source="line-1", seq=1, prev_hash="", schema=SENSOR,
                   rows=rows, data_key=encryption.new_data_key(), key_epoch=1)
    assert str(caught.value) == "record 1: field 'value' = 2000000.0 is above its maximum " \
                                "1000000.0"


def test_rows_said_normalised_that_are_not_are_sealed_by_the_reference():
    """``normalised=True`` trusts the caller; rows that are not (a required field missing,
    an int in a float field, a bool in an int field) still get the reference's bytes."""
    rows = [{"sensor": "a", "value": 1.5, "ts": 5}, {"sensor": "b", "ts": 6},
            {"sensor": "c", "value": 2, "ts": 7}, {"sensor": "d", "value": 0.5, "ts": True}]
    salts = [bytes([i]) * 16 for i in range(len(rows))]
    for some in ([rows[0], rows[1]], [rows[0], rows[2]], [rows[0], rows[3]]):
        assert fastrecords.seal(SENSOR, some, salts[:2], normalised=True) == \
            records.seal_records(some, salts[:2])


def test_doubles_msgspec_writes_otherwise_are_sealed_by_the_reference():
    normal = [records.validate_record(SENSOR, {"sensor": "a", "value": v, "ts": 5})
              for v in (1.5e-6, 999999.0, 20.0, -0.0, 1e-7)]
    salts = [bytes([i]) * 16 for i in range(len(normal))]
    assert fastrecords.seal(SENSOR, normal, salts) == records.seal_records(normal, salts)
    c = fastrecords.codec(SENSOR)
    columns, odd = fastrecords._written_columns(c, normal)
    assert odd == {0}  # 1.5e-6: msgspec writes 1.5e-6, RFC 8785 0.0000015
    value = columns[[name for name, _, _ in c.written_fields].index("value")]
    assert value[1:] == [999999, 20, 0, 1e-7]
    assert list(map(type, value[1:])) == [int, int, int, float]


@pytest.mark.parametrize("written", ["9007199254740992.0", "1000000000000000e0",
                                     "90071992547409920e-1", "09007199254740993"])
def test_an_integer_string_in_another_form_is_left_to_the_rule(written):
    """msgspec's lax mode reads "9007199254740992.0" as an int; the fast path must not
    take it for the integer rule's decimal string, even committed as written."""
    schema = records.Schema.from_mapping({"version": 1, "fields": [
        {"name": "ts", "type": "timestamp"}]})
    part = b'{"ts":"' + written.encode() + b'"}'
    salt = bytes(16)
    leaves = [hashlib.sha256(salt + part).digest()]
    header = {"record_count": 1, "merkle_root": records.merkle_root(leaves).hex(),
              "public": {}}
    plaintext = _plaintext([part], [salt], "none")
    assert fastrecords.open_plaintext(schema, header, plaintext) is None
    assert _reference_open(schema, header, plaintext)[0] == "refuse"
