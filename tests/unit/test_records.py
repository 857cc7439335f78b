import hashlib

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
    assert records.public_part(SCHEMA, {"n": 3}) == {"note": None}


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
