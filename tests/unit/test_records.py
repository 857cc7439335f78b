import hashlib
import json

import pytest

from ledgerlake import records
from ledgerlake.records import RecordError, Schema


def test_canonical_encoding_is_order_independent_and_strict():
    assert records.canonical({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    with pytest.raises(RecordError):
        records.canonical({"x": float("nan")})


def test_commitment_is_salted_sha256_of_the_canonical_record():
    assert records.commitment(b"salt", {"a": 1}) == hashlib.sha256(b'salt{"a":1}').digest()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 13])
def test_every_leaf_has_a_proof_to_the_root(n):
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(n)]
    root = records.merkle_root(leaves)
    for i, leaf in enumerate(leaves):
        proof = records.merkle_proof(leaves, i)
        assert records.verify_proof(leaf, proof, root)
        assert not records.verify_proof(hashlib.sha256(b"other").digest(), proof, root)


def test_odd_leaf_is_not_duplicated():
    a, b, c = (hashlib.sha256(x).digest() for x in (b"a", b"b", b"c"))
    assert records.merkle_root([a, b, c]) != records.merkle_root([a, b, c, c])


SCHEMA = Schema.from_mapping({"version": 1, "fields": [
    {"name": "n", "type": "int", "min": 0, "max": 10},
    {"name": "note", "type": "string", "required": False, "public": True}]})


@pytest.mark.parametrize("record, message", [
    ({"n": 11}, "above its maximum"), ({"n": -1}, "below its minimum"),
    ({"n": True}, "must be of type int"), ({}, "'n' is required"),
    ({"n": 1, "x": 2}, "'x' is not in schema"), ([1], "must be a mapping"),
])
def test_records_break_named_rules(record, message):
    with pytest.raises(RecordError, match=message):
        records.validate_record(SCHEMA, record)


def test_optional_fields_may_be_missing():
    records.validate_record(SCHEMA, {"n": 3})
    assert records.public_columns(SCHEMA, [{"n": 3}, {"note": "x"}]) == {"note": [None, "x"]}


@pytest.mark.parametrize("schema, message", [
    ({"version": 0, "fields": [{"name": "a", "type": "int"}]}, "version"),
    ({"version": 1, "fields": []}, "non-empty"),
    ({"version": 1, "fields": [{"name": "a", "type": "int"}, {"name": "a", "type": "int"}]},
     "appears twice"),
    ({"version": 1, "fields": [{"name": "a", "type": "int", "min": 5, "max": 1}]}, "min is above"),
    ({"version": 1, "fields": [{"name": "a", "type": "int", "colour": 1}]}, "not a field property"),
])
def test_bad_schemas_are_refused(schema, message):
    with pytest.raises(RecordError, match=message):
        Schema.from_mapping(schema)


def test_batch_id_covers_every_field():
    base = {k: 1 for k in records.BATCH_FIELDS}
    assert all(records.batch_id(base) != records.batch_id({**base, k: 2})
               for k in records.BATCH_FIELDS)


# -- the canonical form: RFC 8785 and the integer rule --------------------------------------
def test_canonical_form_is_rfc8785_on_the_standards_own_example():
    # RFC 8785 section 3.2.2 (sorted keys, ES6 numbers, minimal string escapes)
    value = records.parse_json(
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}')
    assert records.canonical(value) == (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}').encode()


@pytest.mark.parametrize("value, text", [
    (1.0, "1"), (1e16, "10000000000000000"), (1e21, "1e+21"), (1e-7, "1e-7"),
    (1e-6, "0.000001"), (-0.0, "0"), (0.1 + 0.2, "0.30000000000000004"), (2.0**60,
                                                                          "1152921504606847000"),
    (2**53 - 1, "9007199254740991"), (-(2**53 - 1), "-9007199254740991"),
    (2**53, '"9007199254740992"'), (-(2**53), '"-9007199254740992"'),
    (2**63 - 1, '"9223372036854775807"'), (1700000000000000001, '"1700000000000000001"'),
])
def test_numbers_are_written_as_javascript_does_and_big_integers_as_strings(value, text):
    assert records.canonical(value) == text.encode()


def test_keys_sort_by_utf16_code_units_not_code_points():
    # U+FB01 sorts after U+1F600 in UTF-16 (0xFB01 > 0xD83D), before it by code point.
    assert records.canonical({"\ufb01": 1, "\U0001f600": 2}) == \
        '{"\U0001f600":2,"\ufb01":1}'.encode()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "\ud800", {1: "a"}, {"a": b"x"},
                                   object()])
def test_what_has_no_canonical_form_is_a_record_error(value):
    with pytest.raises(RecordError):
        records.canonical(value)


def test_parse_json_reads_big_integers_exactly_and_as_the_double_they_denote():
    text = '[1700000000000000001, 100000000000000000000, 9007199254740991, 1e20]'
    exact, band, safe, flt = records.parse_json(text)
    assert exact.exact == 1700000000000000001 and exact == 1.7e18
    assert records.canonical(band) == b"100000000000000000000"  # a double, not a string
    assert type(safe) is int and type(flt) is float
    with pytest.raises(RecordError, match="beyond the range of a 64-bit float"):
        records.parse_json("[1e400]")
    with pytest.raises(RecordError, match="beyond the range of a 64-bit float"):
        records.parse_json("[" + "9" * 400 + "]")


@pytest.mark.parametrize("value, expected", [
    (5, 5), ("1700000000000000001", 1700000000000000001),
    (records.parse_json("1700000000000000001"), 1700000000000000001),
    ("-9223372036854775808", -(2**63)),
])
def test_int64_accepts_exact_numbers_and_big_decimal_strings(value, expected):
    assert records.int64(value, "x") == expected


@pytest.mark.parametrize("value, message", [
    ("5", "written as a JSON number"), ("017000000000000000001", "must be a 64-bit integer"),
    ("+1700000000000000001", "must be a 64-bit integer"), (" 1", "must be a 64-bit integer"),
    (1.5, "must be a 64-bit integer"), (True, "must be a 64-bit integer"),
    ("9223372036854775808", "must be from"), (2**63, "must be from"),
    (None, "must be a 64-bit integer"),
])
def test_int64_refuses_everything_else(value, message):
    with pytest.raises(RecordError, match=message):
        records.int64(value, "x")


TYPED = Schema.from_mapping({"version": 1, "fields": [
    {"name": "t", "type": "timestamp", "public": True}, {"name": "n", "type": "int"},
    {"name": "x", "type": "float", "public": True}, {"name": "s", "type": "string"},
    {"name": "b", "type": "bool", "required": False}]})


def test_records_normalise_so_each_value_has_one_commitment():
    ns = 1_763_769_600_123_456_789
    as_ints = {"t": ns, "n": -(2**60), "x": 10**20, "s": "é", "b": True}
    as_strings = {"t": str(ns), "n": str(-(2**60)), "x": 1e20, "s": "é", "b": True}
    parsed = records.parse_json(records.canonical(records.validate_record(TYPED, as_ints)))
    normal = [records.validate_record(TYPED, r) for r in (as_ints, as_strings, parsed)]
    assert normal[0] == {"t": ns, "n": -(2**60), "x": 1e20, "s": "é", "b": True}
    assert normal[0] == normal[1] == normal[2]
    assert type(normal[2]["x"]) is float and type(normal[2]["t"]) is int
    assert len({records.canonical(r) for r in normal}) == 1
    assert b'"t":"1763769600123456789"' in records.canonical(normal[0])
    assert b'"x":100000000000000000000' in records.canonical(normal[0])


@pytest.mark.parametrize("record, message", [
    ({"t": "5", "n": 1, "x": 1.0, "s": ""}, "timestamp .*only for integers beyond"),
    ({"t": -1, "n": 1, "x": 1.0, "s": ""}, "must be of type timestamp"),
    ({"t": 1, "n": 1.0, "x": 1.0, "s": ""}, "must be of type int"),
    ({"t": 1, "n": 1, "x": "1.0", "s": ""}, "must be of type float"),
    ({"t": 1, "n": 1, "x": 10**400, "s": ""}, "must be of type float"),
    ({"t": 1, "n": 1, "x": True, "s": ""}, "must be of type float"),
])
def test_typed_fields_refuse_other_types(record, message):
    with pytest.raises(RecordError, match=message):
        records.validate_record(TYPED, record)


def sealed_batch(**overrides):
    from ledgerlake.client.batches import seal_batch
    from ledgerlake.client.encryption import new_data_key
    rows = [{"t": 1_763_769_600_123_456_789 + i, "n": i, "x": 2.0**60 + i, "s": "ü"}
            for i in range(3)]
    return seal_batch(**{"stream": "s", "source": "src", "seq": 1, "prev_hash": "",
                         "schema": TYPED, "rows": rows, "data_key": new_data_key(),
                         "key_epoch": 1, "time_start": 1_763_769_600_000_000_001,
                         "time_end": 1_763_769_600_999_999_999, **overrides})


def test_a_batch_has_one_id_however_its_integers_arrive():
    sealed = sealed_batch()
    canonical_text = records.canonical(sealed.batch)
    assert b'"time_start":"1763769600000000001"' in canonical_text
    exact_numbers = json.dumps(sealed.batch)  # what a plain JSON writer sends
    strings = json.dumps({**sealed.batch, "time_start": "1763769600000000001",
                          "time_end": "1763769600999999999",
                          "public": {**sealed.batch["public"],
                                     "t": [str(t) for t in sealed.batch["public"]["t"]]}})
    for text in (canonical_text, strings):
        batch = records.validate_batch_shape(records.parse_json(text))
        assert batch["time_start"] == 1_763_769_600_000_000_001
        assert records.batch_id(batch) == sealed.id
    for text in (canonical_text, exact_numbers, strings):  # public "t" as an exact number
        batch = records.validate_batch_shape(records.parse_json(text), TYPED)
        assert batch["public"]["t"][0] == 1_763_769_600_123_456_789
        assert records.batch_id(batch) == sealed.id


def test_batch_integers_as_small_strings_or_floats_are_refused():
    sealed = sealed_batch()
    for name, value in (("seq", "1"), ("record_count", 3.0), ("time_end", -1)):
        with pytest.raises(RecordError, match=f"batch.{name} must be a non-negative 64-bit"):
            records.validate_batch_shape({**sealed.batch, name: value})


def test_verify_batch_records_decides_on_normalised_records():
    sealed = sealed_batch()
    content = records.parse_json(sealed.transient["records"])
    batch = records.validate_batch_shape(records.parse_json(records.canonical(sealed.batch)))
    leaves = records.verify_batch_records(TYPED, batch, content["records"], content["salts"])
    assert tuple(leaves) == sealed.commitments
    tampered = [dict(content["records"][0], n=99), *content["records"][1:]]
    with pytest.raises(RecordError, match="do not match its merkle_root"):
        records.verify_batch_records(TYPED, batch, tampered, content["salts"])
    lying = [dict(content["records"][0], x=1.0), *content["records"][1:]]
    with pytest.raises(RecordError, match="record 0 differs from its public fields"):
        records.verify_batch_records(TYPED, batch, lying, content["salts"])


def test_record_error_is_the_one_trees():
    from ledgerlake import errors
    assert records.RecordError is errors.RecordError
    assert issubclass(errors.RecordError, (errors.LedgerlakeError, ValueError))


def test_verify_batch_records_needs_one_record_and_salt_per_counted_record():
    sealed = sealed_batch()
    content = records.parse_json(sealed.transient["records"])
    rows, salts = content["records"], content["salts"]
    for batch, r, s in (({**sealed.batch, "record_count": 4}, rows, salts),
                        (sealed.batch, rows[:2], salts),
                        (sealed.batch, rows, salts[:2])):
        with pytest.raises(RecordError, match="counts differ from record_count"):
            records.verify_batch_records(TYPED, batch, r, s)
    short = {name: column[:2] for name, column in sealed.batch["public"].items()}
    with pytest.raises(RecordError, match="must list one value per record \\(3\\)"):
        records.verify_batch_records(TYPED, {**sealed.batch, "public": short}, rows, salts)
    with pytest.raises(RecordError, match="salt must be 16 bytes"):
        records.verify_batch_records(TYPED, sealed.batch, rows, [salts[0].upper(), *salts[1:]])
