"""The one record rule (``records.verify_batch_records``) and the client's ``open_batch``
that applies it: each test breaks exactly one thing a batch promises, so that removing the
line that checks it makes the test fail (mutation testing found these checks untested)."""

from __future__ import annotations

import base64
import copy
import hashlib
import json

import pytest

from ledgerlake import records
from ledgerlake.client.batches import open_batch, seal_batch
from ledgerlake.client.encryption import new_data_key
from ledgerlake.errors import DecryptionError
from ledgerlake.records import RecordError, Schema, verify_batch_records

SCHEMA_MAP = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "temperature_c", "type": "float", "min": -40, "max": 125},
    {"name": "note", "type": "string", "required": False}]}
SCHEMA = Schema.from_mapping(SCHEMA_MAP)
ROWS = [{"sensor": "s1", "temperature_c": 21.5, "note": "a"},
        {"sensor": "s2", "temperature_c": 22.0},
        {"sensor": "s3", "temperature_c": -3.25, "note": "c"}]
KEY = new_data_key()


def sealed(rows=ROWS):
    return seal_batch(stream="plant", source="line-1", seq=1, prev_hash="", schema=SCHEMA,
                      rows=rows, data_key=KEY, key_epoch=1, time_start=1, time_end=2)


def plain(s):
    content = json.loads(s.transient["records"])
    return content["records"], content["salts"]


def with_new_id(batch: dict, **changes) -> dict:
    """The batch with ``changes``, its id recomputed: a consistent-looking forgery."""
    forged = {**copy.deepcopy(batch), **changes}
    forged["id"] = records.batch_id(forged)
    return forged


def opened(batch, ciphertext=None):
    """``open_batch`` with the stream's schema first (a SealedBatch, or a header and the
    ciphertext it names)."""
    return open_batch(SCHEMA, batch, KEY, ciphertext=ciphertext)


# -- verify_batch_records -----------------------------------------------------------------
def test_a_sealed_batch_verifies_and_yields_its_commitments():
    s = sealed()
    rows, salts = plain(s)
    leaves = verify_batch_records(SCHEMA, s.batch, rows, salts)
    assert list(leaves) == list(s.commitments)
    assert leaves == [records.commitment(bytes.fromhex(salt), row)
                      for row, salt in zip(rows, salts)]
    assert records.merkle_root(leaves).hex() == s.batch["merkle_root"]


def test_a_changed_private_value_breaks_the_merkle_root():
    s = sealed()
    rows, salts = plain(s)
    rows[1]["temperature_c"] = 23.0  # not a public field: only the commitments see it
    with pytest.raises(RecordError, match="record.*merkle_root|merkle_root"):
        verify_batch_records(SCHEMA, s.batch, rows, salts)


def test_a_changed_salt_breaks_the_merkle_root():
    s = sealed()
    rows, salts = plain(s)
    salts[2] = "0" * 32
    with pytest.raises(RecordError, match="merkle_root"):
        verify_batch_records(SCHEMA, s.batch, rows, salts)


def test_a_wrong_merkle_root_in_the_batch_is_refused():
    s = sealed()
    rows, salts = plain(s)
    batch = {**s.batch, "merkle_root": hashlib.sha256(b"other").hexdigest()}
    with pytest.raises(RecordError, match="merkle_root"):
        verify_batch_records(SCHEMA, batch, rows, salts)


def test_records_swapped_in_order_are_refused():
    s = sealed()
    rows, salts = plain(s)
    batch = {**s.batch, "public": {"sensor": [s.batch["public"]["sensor"][i] for i in (1, 0, 2)]}}
    rows, salts = [rows[i] for i in (1, 0, 2)], [salts[i] for i in (1, 0, 2)]
    with pytest.raises(RecordError, match="merkle_root"):
        verify_batch_records(SCHEMA, batch, rows, salts)


@pytest.mark.parametrize("change, message", [
    (lambda p: {"sensor": ["s9", *p["sensor"][1:]]},
     "record 0 differs from its public fields"),                         # a different value
    (lambda p: {}, r"public fields must hold exactly the public fields \['sensor'\], "
                   r"not \[\]"),                                         # the field left out
    (lambda p: {**p, "note": [None] * 3},
     r"public fields must hold exactly the public fields \['sensor'\], "
     r"not \['note', 'sensor'\]"),                                     # a field not public
    (lambda p: {"sensor": [p["sensor"][0], None, p["sensor"][2]]},
     r"public fields\.sensor\[1\]: field 'sensor' is required"),        # null
    (lambda p: {"sensor": p["sensor"][:2]},
     r"public fields\.sensor must list one value per record \(3\)"),     # a value missing
    (lambda p: {"sensor": "s1"}, r"public fields\.sensor must list one value per record"),
    (lambda p: [p], r"public fields must map each public field to a list of its values"),
])
def test_a_record_must_equal_its_public_fields(change, message):
    """The Merkle root covers the records, not the clear-text public fields: only this
    comparison ties what the chain shows in clear to what was committed."""
    s = sealed()
    rows, salts = plain(s)
    batch = {**s.batch, "public": change(copy.deepcopy(s.batch["public"]))}
    with pytest.raises(RecordError, match=rf"^batch: {message}"):
        verify_batch_records(SCHEMA, batch, rows, salts)


@pytest.mark.parametrize("change, message", [
    (lambda r, s, b: (r[:-1], s, b), "counts differ"),
    (lambda r, s, b: (r, s[:-1], b), "counts differ"),
    (lambda r, s, b: (r, s, {**b, "public": {"sensor": b["public"]["sensor"][:-1]}}),
     "one value per record"),
    (lambda r, s, b: (r, s, {**b, "record_count": 2}), "counts differ"),
    (lambda r, s, b: (r, s, {**b, "record_count": 4}), "counts differ"),
    (lambda r, s, b: (r, s, {**b, "public": None}), "must map each public field"),
    (lambda r, s, b: (r, s, {k: v for k, v in b.items() if k != "public"}),
     "must map each public field"),
    (lambda r, s, b: (tuple(r), s, b), "must be lists"),
    (lambda r, s, b: (r, tuple(s), b), "must be lists"),
    (lambda r, s, b: (r, [s[0].upper(), *s[1:]], b), "record 0: salt"),
    (lambda r, s, b: (r, [s[0], s[1][:-2], s[2]], b), "record 1: salt"),
    (lambda r, s, b: (r, [s[0], s[1], s[2] + "00"], b), "record 2: salt"),
    (lambda r, s, b: (r, [s[0], s[1], s[2] + "\n"], b), "record 2: salt"),
    (lambda r, s, b: (r, [s[0], 7, s[2]], b), "record 1: salt"),
    (lambda r, s, b: ([r[0], {**r[1], "temperature_c": 200.0}, r[2]], s, b),
     "record 1: field 'temperature_c'.*above its maximum"),
    (lambda r, s, b: ([r[0], r[1], {**r[2], "extra": 1}], s, b), "record 2: field 'extra'"),
    (lambda r, s, b: (["not a record", r[1], r[2]], s, b), "record 0 must be a mapping"),
])
def test_each_rule_is_checked_and_named(change, message):
    s = sealed()
    rows, salts, batch = change(*plain(s), s.batch)
    with pytest.raises(RecordError, match=message):
        verify_batch_records(SCHEMA, batch, rows, salts, where="the batch")


def test_the_error_names_the_batch_as_the_caller_says():
    s = sealed()
    rows, salts = plain(s)
    with pytest.raises(RecordError, match=r"^batch X: record 1 differs"):
        verify_batch_records(SCHEMA, {**s.batch, "public": {"sensor": ["s1"] * 3}}, rows,
                             salts, where="batch X")


def test_the_last_record_is_checked_too():
    """An off-by-one in the loop would leave the last record unchecked."""
    s = sealed()
    rows, salts = plain(s)
    batch = copy.deepcopy(s.batch)
    batch["public"]["sensor"][-1] = "s-last"
    with pytest.raises(RecordError, match="record 2 differs"):
        verify_batch_records(SCHEMA, batch, rows, salts)


def test_a_single_record_batch_verifies():
    s = sealed(rows=[ROWS[0]])
    assert verify_batch_records(SCHEMA, s.batch, *plain(s)) == list(s.commitments)


# -- open_batch applies the rule after decrypting --------------------------------------------
def test_open_batch_returns_the_records():
    assert opened(sealed()) == ROWS


def test_open_batch_refuses_records_that_do_not_match_the_merkle_root():
    """The mutant that removed this check from open_batch survived every test before."""
    s = sealed()
    forged = with_new_id(s.batch, merkle_root=hashlib.sha256(b"forged").hexdigest())
    with pytest.raises(RecordError, match="(?i)merkle"):
        opened(forged, s.ciphertext)


def test_open_batch_refuses_public_fields_that_differ_from_the_records():
    s = sealed()
    public = copy.deepcopy(s.batch["public"])
    public["sensor"][1] = "not-s2"
    with pytest.raises(RecordError, match="record 1 differs from its public fields"):
        opened(with_new_id(s.batch, public=public), s.ciphertext)


def test_open_batch_refuses_a_batch_whose_id_is_not_its_content_hash():
    s = sealed()
    with pytest.raises(RecordError, match="id"):
        opened({**s.batch, "time_end": 3}, s.ciphertext)  # the id still hashes time_end 2


def test_open_batch_refuses_a_changed_record_count():
    s = sealed()
    with pytest.raises(RecordError, match="counts differ"):
        opened(with_new_id(s.batch, record_count=2,
                           public={"sensor": s.batch["public"]["sensor"][:2]}), s.ciphertext)


def test_open_batch_refuses_another_batchs_ciphertext():
    """The ciphertext is bound to its stream, source, seq and epoch: moving it into
    another batch does not decrypt (whatever error the decryption raises)."""
    one = sealed()
    moved = with_new_id(one.batch, seq=2, prev_hash=one.id)
    with pytest.raises(DecryptionError, match=r"^the payload of batch [0-9a-f]{64} did not decrypt"):
        opened(moved, one.ciphertext)
    assert len(one.ciphertext) == one.batch["payload"]["size"]  # sanity: it is real


# -- the shape of a batch (what the chaincode checks without plaintext) -----------------------
EXACTLY = (r"^batch\.payload must be exactly \{encoding, nonce, sha256, size\} \(the "
           r"ciphertext sent as SubmitBatch's second argument\) or \{encoding, nonce, sha256, "
           r"size, uri\}")


def shaped(**changes):
    """A sealed batch with ``changes`` and its id recomputed."""
    return with_new_id(sealed().batch, **changes)


def payload(**fields):
    return {**sealed().batch["payload"], **fields}


@pytest.mark.parametrize("make, message", [
    (lambda: "a string", r"^batch must be a JSON object"),
    (lambda: {k: v for k, v in shaped().items() if k != "stream"}, r"^batch lacks field 'stream'"),
    (lambda: {k: v for k, v in shaped().items() if k != "payload"}, r"^batch lacks field 'payload'"),
    (lambda: {k: v for k, v in shaped().items() if k != "id"}, r"^batch lacks field 'id'"),
    (lambda: {**shaped(), "colour": 1}, r"^batch field 'colour' is unknown"),
    (lambda: shaped(stream="bad name"), r"^batch\.stream must be a name"),
    (lambda: shaped(stream=5), r"^batch\.stream must be a name"),
    (lambda: shaped(source="-x"), r"^batch\.source must be a name"),
    (lambda: shaped(seq=True), r"^batch\.seq must be a non-negative 64-bit integer"),
    (lambda: shaped(seq="1"), r"^batch\.seq must be a non-negative 64-bit integer"),
    (lambda: shaped(seq=1.0), r"^batch\.seq must be a non-negative 64-bit integer"),
    (lambda: shaped(key_epoch=-1), r"^batch\.key_epoch must be a non-negative 64-bit integer"),
    (lambda: shaped(time_end=2**63), r"^batch\.time_end must be a non-negative 64-bit integer"),
    (lambda: shaped(schema_version=None), r"^batch\.schema_version must be a non-negative"),
    (lambda: shaped(seq=0), r"^batch\.seq starts at 1"),
    (lambda: shaped(record_count=0, public=[]), r"^batch\.record_count must be from 1 to"),
    (lambda: shaped(record_count=records.MAX_RECORDS + 1,
                    public=[{}] * (records.MAX_RECORDS + 1)), r"^batch\.record_count must be"),
    (lambda: shaped(time_start=3, time_end=2), r"^batch\.time_end is before batch\.time_start"),
    (lambda: shaped(merkle_root="AB" * 32), r"^batch\.merkle_root must be 64 lower-case hex"),
    (lambda: shaped(merkle_root="ab" * 32 + "\n"), r"^batch\.merkle_root must be 64"),
    (lambda: shaped(prev_hash="ab" * 32), r"^batch\.prev_hash must be empty for seq 1"),
    (lambda: shaped(seq=2, prev_hash=""), r"^batch\.prev_hash must be the previous batch id"),
    (lambda: shaped(seq=2, prev_hash="zz" * 32), r"^batch\.prev_hash must be the previous"),
    (lambda: shaped(seq=3, prev_hash="ab" * 31), r"^batch\.prev_hash must be the previous"),
    (lambda: shaped(public="abc"), r"^batch\.public must map each public field to a list of "
                                   r"one value per record$"),
    (lambda: shaped(public=[{}, {}]), r"^batch\.public must map each public field"),
    (lambda: shaped(public={"sensor": ["s1"]}), r"^batch\.public must map each public field"),
    (lambda: shaped(public={"sensor": "s1s2s3"}), r"^batch\.public must map each public"),
    (lambda: shaped(payload="AAAA"), EXACTLY),
    (lambda: shaped(payload={"ciphertext": "AAAA", "nonce": "AAAA"}), EXACTLY),
    (lambda: shaped(payload={"nonce": "AAAA", "sha256": "ab" * 32}), EXACTLY),
    (lambda: shaped(payload={**payload(), "url": "s3://x"}), EXACTLY),
    (lambda: shaped(payload={"uri": "s3://x", "sha256": "ab" * 32}), EXACTLY),
    (lambda: shaped(payload=payload(encoding="xml")),
     r"^batch\.payload\.encoding must be one of json, json\+deflate$"),
    (lambda: shaped(payload=payload(encoding=1)), r"^batch\.payload\.encoding must be one of"),
    (lambda: shaped(payload={k: v for k, v in payload().items() if k != "encoding"}), EXACTLY),
    (lambda: shaped(payload=payload(nonce="A*AA")),
     r"^batch\.payload\.nonce must be non-empty base64 \(up to 64 characters\)$"),
    (lambda: shaped(payload=payload(nonce="")), r"^batch\.payload\.nonce must be non-empty"),
    (lambda: shaped(payload=payload(nonce=5)), r"^batch\.payload\.nonce must be non-empty"),
    (lambda: shaped(payload=payload(nonce="AAAA" * 17)), r"^batch\.payload\.nonce must be"),
    (lambda: shaped(payload=payload(sha256="AB" * 32)),
     r"^batch\.payload\.sha256 must be the ciphertext's SHA-256 \(64 lower-case hex digits\)$"),
    (lambda: shaped(payload=payload(sha256="ab" * 32 + "\n")), r"^batch\.payload\.sha256 must"),
    (lambda: shaped(payload=payload(size=0)),
     r"^batch\.payload\.size must be the ciphertext's length in bytes$"),
    (lambda: shaped(payload=payload(size=-1)), r"^batch\.payload\.size must be the"),
    (lambda: shaped(payload=payload(size=True)), r"^batch\.payload\.size must be the"),
    (lambda: shaped(payload=payload(size=2.0)), r"^batch\.payload\.size must be the"),
    (lambda: shaped(payload=payload(size=records.MAX_INLINE_PAYLOAD + 1)),
     r"^batch\.payload\.size: a ciphertext of more than 4194304 bytes must be stored "
     r"off-chain \(send 'uri'\)$"),
    (lambda: shaped(payload=payload(uri=5)),
     r"^batch\.payload\.uri must be a string of 1 to 2048 characters$"),
    (lambda: shaped(payload=payload(uri="")), r"^batch\.payload\.uri must be a string"),
    (lambda: shaped(payload=payload(uri="x" * 2049)), r"^batch\.payload\.uri must be a string"),
    (lambda: {**shaped(), "time_end": 3}, r"^batch\.id is not the hash of the batch's content"),
])
def test_batch_shape_rules_are_each_checked_and_named(make, message):
    with pytest.raises(RecordError, match=message):
        records.validate_batch_shape(make())


PAYLOAD = {"encoding": "json", "nonce": "AAAA", "sha256": "ab" * 32}


@pytest.mark.parametrize("changes", [
    {},
    {"time_start": 0, "time_end": 2**63 - 1, "key_epoch": 0},   # the ends of each range
    {"seq": 2, "prev_hash": "ab" * 32},
    {"seq": 2**63 - 1, "prev_hash": "ab" * 32},
    {"time_start": 5, "time_end": 5},
    {"payload": {**PAYLOAD, "size": 1, "uri": "s3://bucket/b"}},
    {"payload": {**PAYLOAD, "size": 1, "uri": "x"}},
    {"payload": {**PAYLOAD, "size": 1, "uri": "x" * 2048}},
    {"payload": {**PAYLOAD, "size": 2**53 - 1, "uri": "x"}},
    {"payload": {**PAYLOAD, "size": records.MAX_INLINE_PAYLOAD}},
    {"payload": {**PAYLOAD, "encoding": "json+deflate", "nonce": "A" * 64, "size": 1}},
    {"record_count": records.MAX_RECORDS, "public": {"sensor": ["s"] * records.MAX_RECORDS}},
])
def test_batch_shapes_at_the_edges_are_accepted(changes):
    records.validate_batch_shape(shaped(**changes))


# -- values at the edges of their types and ranges ------------------------------------------
def field(type_, **props):
    return records.Field("v", type_, **props)


@pytest.mark.parametrize("type_, value", [
    ("int", -(2**63)), ("int", 2**63 - 1), ("int", 0),
    ("float", 21), ("float", -5), ("float", 1.5), ("float", int(records.MAX_FLOAT)),
    ("float", -int(records.MAX_FLOAT)), ("float", records.MAX_FLOAT),
    ("timestamp", 0), ("timestamp", 2**63 - 1),
    ("bool", True), ("bool", False), ("string", ""), ("string", "é"),
])
def test_values_at_the_edges_of_their_type_are_accepted(type_, value):
    records.check_value(field(type_), value, "r")


@pytest.mark.parametrize("type_, value", [
    ("int", -(2**63) - 1), ("int", 2**63), ("int", 1.0), ("int", True), ("int", "1"),
    ("float", int(records.MAX_FLOAT) * 2), ("float", -int(records.MAX_FLOAT) * 2),
    ("float", float("inf")), ("float", float("nan")), ("float", True), ("float", "1.5"),
    ("timestamp", -1), ("timestamp", 2**63), ("timestamp", 1.0),
    ("bool", 1), ("bool", "true"), ("string", 1), ("string", None),
])
def test_values_outside_their_type_are_refused_naming_field_and_type(type_, value):
    with pytest.raises(RecordError, match=rf"^r: field 'v' (must be of type {type_}|is required)"):
        records.check_value(field(type_), value, "r")


def test_the_refusal_says_what_was_sent():
    with pytest.raises(RecordError, match=r"must be of type int \(64-bit for numbers\), not str 'x'"):
        records.check_value(field("int"), "x", "r")


@pytest.mark.parametrize("type_", ["int", "float", "timestamp"])
def test_bounds_are_inclusive_for_every_numeric_type(type_):
    f = field(type_, min=10, max=20)
    for ok in (10, 15, 20):
        records.check_value(f, ok, "r")
    shown = ".0" if type_ == "float" else ""  # the value as normalised for its field
    with pytest.raises(RecordError, match=rf"^r: field 'v' = 9{shown} is below its minimum 10$"):
        records.check_value(f, 9, "r")
    with pytest.raises(RecordError, match=rf"^r: field 'v' = 21{shown} is above its maximum 20$"):
        records.check_value(f, 21, "r")


def test_a_missing_optional_value_is_fine_a_missing_required_one_is_not():
    records.check_value(field("int", required=False), None, "r")
    with pytest.raises(RecordError, match=r"^r: field 'v' is required"):
        records.check_value(field("int"), None, "r")


def test_validate_record_names_the_record_by_default():
    with pytest.raises(RecordError, match=r"^record: field 'sensor' is required"):
        records.validate_record(SCHEMA, {"temperature_c": 1.0})


def test_verify_batch_records_names_the_batch_by_default():
    s = sealed()
    rows, salts = plain(s)
    with pytest.raises(RecordError, match=r"^batch: records and salts must be lists"):
        verify_batch_records(SCHEMA, s.batch, tuple(rows), salts)
    with pytest.raises(RecordError, match=r"^batch: records and salts must be lists"):
        records.verified_records(SCHEMA, s.batch, tuple(rows), salts)


@pytest.mark.parametrize("public, message", [
    ("s1", r"^batch\.public must map each public field to a list of its values$"),
    ({}, r"^batch\.public must hold exactly the public fields \['sensor'\], not \[\]$"),
    ({"sensor": ["a", "b"], "note": ["n", "m"]},
     r"^batch\.public must hold exactly the public fields \['sensor'\], not \['note', "
     r"'sensor'\]$"),
    ({"sensor": ["a", 5]}, r"^batch\.public\.sensor\[1\]: field 'sensor' must be of type string"),
    ({"sensor": ["a"]}, r"^batch\.public\.sensor must list one value per record \(2\)$"),
    ({"sensor": ("a", "b")}, r"^batch\.public\.sensor must list one value per record"),
])
def test_public_fields_are_exactly_the_schemas_and_valid(public, message):
    with pytest.raises(RecordError, match=message):
        records.validate_public_columns(SCHEMA, public, 2)
    assert records.validate_public_columns(SCHEMA, {"sensor": ["s", "t"]}, 2) == \
        {"sensor": ["s", "t"]}
    assert records.validate_public_columns(SCHEMA, {"sensor": []}, 0) == {"sensor": []}


# -- schemas ------------------------------------------------------------------------------
def test_a_schema_keeps_every_property_and_fills_the_defaults():
    full = {"version": 3, "fields": [
        {"name": "a", "type": "float", "unit": "°C", "min": -1, "max": 1, "public": True,
         "required": False},
        {"name": "b", "type": "int"}]}
    schema = Schema.from_mapping(full)
    assert schema.to_mapping() == {"version": 3, "fields": [
        full["fields"][0],
        {"name": "b", "type": "int", "unit": "", "min": None, "max": None, "public": False,
         "required": True}]}
    assert Schema.from_mapping({"fields": [{"name": "b", "type": "int"}]}).version == 1


@pytest.mark.parametrize("schema, message", [
    ("x", r"^schema must be a mapping with 'version' and 'fields'"),
    ({"version": True, "fields": [{"name": "a", "type": "int"}]},
     r"^schema\.version must be a 64-bit integer .*not bool True$"),
    ({"version": "2", "fields": [{"name": "a", "type": "int"}]},
     r"^schema\.version = '2': an integer within ±\(2\^53-1\) is written as a JSON number"),
    ({"version": 0, "fields": [{"name": "a", "type": "int"}]},
     r"^schema\.version must be from 1 to 9223372036854775807, not 0$"),
    ({"version": 1, "fields": {"name": "a"}}, r"^schema\.fields must be a non-empty list"),
    ({"version": 1}, r"^schema\.fields must be a non-empty list"),
    ({"version": 1, "fields": ["a"]}, r"^schema\.fields\[0\] must be a mapping"),
    ({"version": 1, "fields": [{"name": "a", "type": "int", "colour": 1, "shade": 2}]},
     r"^schema\.fields\[0\]\.colour is not a field property"),
    ({"version": 1, "fields": [{"name": 5, "type": "int"}]},
     r"^schema\.fields\[0\]\.name must be a name like 'temperature_c'"),
    ({"version": 1, "fields": [{"name": "9a", "type": "int"}]}, r"^schema\.fields\[0\]\.name must"),
    ({"version": 1, "fields": [{"name": "a", "type": "int"}, {"name": "a", "type": "int"}]},
     r"^schema\.fields\[1\]\.name 'a' appears twice"),
    ({"version": 1, "fields": [{"name": "a", "type": "blob"}]},
     r"^schema\.fields\[0\]\.type must be one of int, float, string, bool, timestamp"),
    ({"version": 1, "fields": [{"name": "a", "type": "int", "min": "0"}]},
     r"^schema\.fields\[0\]\.min must be a 64-bit integer .*not str '0'$"),
    ({"version": 1, "fields": [{"name": "a", "type": "int", "max": True}]},
     r"^schema\.fields\[0\]\.max must be a 64-bit integer"),
    ({"version": 1, "fields": [{"name": "a", "type": "timestamp", "max": 2**63}]},
     r"^schema\.fields\[0\]\.max must be from"),
    ({"version": 1, "fields": [{"name": "a", "type": "float", "min": "0"}]},
     r"^schema\.fields\[0\]\.min must be a number"),
    ({"version": 1, "fields": [{"name": "a", "type": "float", "max": True}]},
     r"^schema\.fields\[0\]\.max must be a number"),
    ({"version": 1, "fields": [{"name": "a", "type": "string", "max": 1}]},
     r"^schema\.fields\[0\]\.max applies only to int, float and timestamp fields"),
    ({"version": 1, "fields": [{"name": "a", "type": "int", "min": 2, "max": 1}]},
     r"^schema\.fields\[0\]: min is above max"),
    ({"version": 1, "fields": [{"name": "a", "type": "int", "public": 1}]},
     r"^schema\.fields\[0\]\.public must be true or false"),
    ({"version": 1, "fields": [{"name": "a", "type": "int", "required": "no"}]},
     r"^schema\.fields\[0\]\.required must be true or false"),
])
def test_schema_rules_are_each_named(schema, message):
    with pytest.raises(RecordError, match=message):
        Schema.from_mapping(schema)


def test_a_field_may_have_equal_bounds():
    Schema.from_mapping({"version": 1, "fields": [{"name": "a", "type": "int", "min": 1,
                                                   "max": 1}]})


# -- the published commitment format ----------------------------------------------------------
def test_merkle_nodes_are_sha256_of_0x01_left_right_and_the_empty_root_is_sha256_of_nothing():
    a, b, c = (hashlib.sha256(x).digest() for x in (b"a", b"b", b"c"))
    ab = hashlib.sha256(b"\x01" + a + b).digest()
    assert records.merkle_root([a, b]) == ab
    assert records.merkle_root([a, b, c]) == hashlib.sha256(b"\x01" + ab + c).digest()
    assert records.merkle_root([a]) == a
    assert records.merkle_root([]) == hashlib.sha256(b"").digest()


def test_merkle_proofs_name_the_side_of_each_sibling():
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(5)]
    assert [side for side, _ in records.merkle_proof(leaves, 0)] == ["right", "right", "right"]
    assert [side for side, _ in records.merkle_proof(leaves, 3)] == ["left", "left", "right"]
    assert [side for side, _ in records.merkle_proof(leaves, 4)] == ["left"]


def test_canonical_refusal_is_named():
    with pytest.raises(RecordError, match=r"^value cannot be encoded canonically"):
        records.canonical({"x": float("inf")})


# -- strict JSON input and the identifier rule (every argument passes through these) ----------
@pytest.mark.parametrize("text, message", [
    ('{"a": 1, "a": 2}', r"^batch: key 'a' appears twice in one object"),
    ('{"a": {"b": 1, "b": 1}}', r"^batch: key 'b' appears twice"),
    ('{"a": NaN}', r"^batch: NaN is not a JSON number"),
    ('[Infinity]', r"^batch: Infinity is not a JSON number"),
    ('[-Infinity]', r"^batch: -Infinity is not a JSON number"),
    ("{'a': 1}", r"^batch must be JSON"),
    ("", r"^batch must be JSON"),
    (b"\xff\xfe{}", r"^batch must be UTF-8 text"),
    ("[" * 33 + "]" * 33, r"^batch: nesting deeper than 32 levels"),
    ('{"a":' * 33 + "1" + "}" * 33, r"^batch: nesting deeper than 32 levels"),
    ("[" * 100_000 + "]" * 100_000, r"^batch: nesting deeper than 32 levels"),
])
def test_strict_json_refuses_and_names_the_argument(text, message):
    with pytest.raises(RecordError, match=message):
        records.parse_json(text, "batch")


@pytest.mark.parametrize("text, value", [
    ("[" * 32 + "]" * 32, None),   # exactly the limit
    ('{"a":' * 31 + "[1]" + "}" * 31, None),
    ('{"a": 1, "b": [1, 2.5, "é", true, null]}', {"a": 1, "b": [1, 2.5, "é", True, None]}),
    ('"plain"'.encode(), "plain"),
])
def test_strict_json_accepts_what_is_within_the_rules(text, value):
    parsed = records.parse_json(text, "batch")
    if value is not None:
        assert parsed == value


def test_strict_json_names_an_argument_by_default():
    with pytest.raises(RecordError, match=r"^argument must be JSON"):
        records.parse_json("nope")


@pytest.mark.parametrize("value", ["Org1MSP", "a", "plant-sensors", "x.y_z-1", "A" + "b" * 63])
def test_identifiers_that_follow_the_rule(value):
    assert records.check_identifier(value, "stream id") == value


@pytest.mark.parametrize("value", ["", "1org", "-a", "a b", "a/b", "a\n", "A" + "b" * 64, 5,
                                   None, ["a"], "é"])
def test_identifiers_that_break_the_rule_are_named(value):
    with pytest.raises(RecordError, match=r"^stream id must be an identifier like 'Org1MSP'"):
        records.check_identifier(value, "stream id")


# -- the payload's encoding ------------------------------------------------------------------
def test_a_deflated_plaintext_decodes_to_what_was_encoded_and_nothing_else():
    plaintext = b'{"records":[{"a":1}],"salts":["00"]}' * 100
    packed = records.encode_plaintext(plaintext, "json+deflate")
    assert len(packed) < len(plaintext) / 10
    assert records.decode_plaintext(packed, "json+deflate", "p") == plaintext
    assert records.decode_plaintext(plaintext, "json", "p") == plaintext
    with pytest.raises(RecordError, match=r"^p is not a zlib \(DEFLATE\) stream$"):
        records.decode_plaintext(plaintext, "json+deflate", "p")
    with pytest.raises(RecordError, match=r"^p does not decode to one zlib stream"):
        records.decode_plaintext(packed + b"x", "json+deflate", "p")
    with pytest.raises(RecordError, match=r"^p does not decode to one zlib stream"):
        records.decode_plaintext(packed[:-3], "json+deflate", "p")
    with pytest.raises(RecordError, match="encoding must be one of json, json\\+deflate"):
        records.encode_plaintext(plaintext, "gzip")


def test_an_unknown_encoding_is_named_when_decoding():
    with pytest.raises(RecordError, match=r"^p: payload encoding must be one of json, "
                                          r"json\+deflate$"):
        records.decode_plaintext(b"{}", "gzip", "p")


def test_public_columns_with_keys_json_cannot_have_are_named_not_crashed_on():
    with pytest.raises(RecordError, match=r"not \[1, 'sensor'\]$"):
        records.validate_public_columns(SCHEMA, {1: ["a"], "sensor": ["a"]}, 1)
    many = {f"f{i:03d}": [] for i in range(70)}
    with pytest.raises(RecordError) as err:
        records.validate_public_columns(SCHEMA, many, 0)
    assert "'f063'" in str(err.value) and "'f064'" not in str(err.value)  # at most 64 named


def test_a_decompression_bomb_stops_at_the_plaintext_bound():
    import zlib
    bomb = zlib.compress(b"\0" * (records.MAX_PLAINTEXT_BYTES + 1), 9)
    with pytest.raises(RecordError, match=f"at most {records.MAX_PLAINTEXT_BYTES} bytes"):
        records.decode_plaintext(bomb, "json+deflate", "p")
    exact = zlib.compress(b"\0" * records.MAX_PLAINTEXT_BYTES, 9)
    assert len(records.decode_plaintext(exact, "json+deflate", "p")) == \
        records.MAX_PLAINTEXT_BYTES


@pytest.mark.parametrize("encoding", ["json", "json+deflate"])
def test_batches_open_under_either_encoding_and_the_id_covers_it(encoding):
    s = seal_batch(stream="plant", source="line-1", seq=1, prev_hash="", schema=SCHEMA,
                   rows=ROWS, data_key=KEY, key_epoch=1, time_start=1, time_end=2,
                   encoding=encoding)
    assert s.batch["payload"]["encoding"] == encoding
    assert opened(s) == ROWS
    other = "json" if encoding == "json+deflate" else "json+deflate"
    relabelled = with_new_id(s.batch, payload={**s.batch["payload"], "encoding": other})
    with pytest.raises(RecordError, match="(not a zlib|must be UTF-8|must be JSON)"):
        opened(relabelled, s.ciphertext)
