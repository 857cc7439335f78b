"""The one record rule (``records.verify_batch_records``) and the client's ``open_batch``
that applies it: each test breaks exactly one thing a batch promises, so that removing the
line that checks it makes the test fail (mutation testing found these checks untested)."""

from __future__ import annotations

import base64
import copy
import hashlib
import inspect
import json

import pytest

from ledgerlake import records
from ledgerlake.client.batches import open_batch, seal_batch
from ledgerlake.client.encryption import new_data_key
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


def opened(batch):
    """``open_batch`` whichever way it takes the schema (it may or may not need it)."""
    if "schema" in inspect.signature(open_batch).parameters:
        return open_batch(batch, KEY, schema=SCHEMA)
    return open_batch(batch, KEY)


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
    batch = {**s.batch, "public": [s.batch["public"][i] for i in (1, 0, 2)]}
    rows, salts = [rows[i] for i in (1, 0, 2)], [salts[i] for i in (1, 0, 2)]
    with pytest.raises(RecordError, match="merkle_root"):
        verify_batch_records(SCHEMA, batch, rows, salts)


@pytest.mark.parametrize("index, public", [
    (0, {"sensor": "s9"}),                    # a different value
    (2, {}),                                  # the public field left out
    (1, {"sensor": "s2", "note": None}),      # a field that is not public
    (1, {"sensor": None}),                    # null instead of the value
])
def test_a_record_must_equal_its_public_fields(index, public):
    """The Merkle root covers the records, not the clear-text public fields: only this
    comparison ties what the chain shows in clear to what was committed."""
    s = sealed()
    rows, salts = plain(s)
    batch = copy.deepcopy(s.batch)
    batch["public"][index] = public
    with pytest.raises(RecordError, match=rf"record {index} differs from its public fields"):
        verify_batch_records(SCHEMA, batch, rows, salts)


@pytest.mark.parametrize("change, message", [
    (lambda r, s, b: (r[:-1], s, b), "counts differ"),
    (lambda r, s, b: (r, s[:-1], b), "counts differ"),
    (lambda r, s, b: (r, s, {**b, "public": b["public"][:-1]}), "counts differ"),
    (lambda r, s, b: (r, s, {**b, "record_count": 2}), "counts differ"),
    (lambda r, s, b: (r, s, {**b, "record_count": 4}), "counts differ"),
    (lambda r, s, b: (r, s, {**b, "public": None}), "counts differ"),
    (lambda r, s, b: (r, s, {k: v for k, v in b.items() if k != "public"}), "counts differ"),
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
        verify_batch_records(SCHEMA, {**s.batch, "public": [{"sensor": "s1"}] * 3}, rows,
                             salts, where="batch X")


def test_the_last_record_is_checked_too():
    """An off-by-one in the loop would leave the last record unchecked."""
    s = sealed()
    rows, salts = plain(s)
    batch = copy.deepcopy(s.batch)
    batch["public"][-1] = {"sensor": "s-last"}
    with pytest.raises(RecordError, match="record 2 differs"):
        verify_batch_records(SCHEMA, batch, rows, salts)


def test_a_single_record_batch_verifies():
    s = sealed(rows=[ROWS[0]])
    assert verify_batch_records(SCHEMA, s.batch, *plain(s)) == list(s.commitments)


# -- open_batch applies the rule after decrypting --------------------------------------------
def test_open_batch_returns_the_records():
    assert opened(sealed().batch) == ROWS


def test_open_batch_refuses_records_that_do_not_match_the_merkle_root():
    """The mutant that removed this check from open_batch survived every test before."""
    s = sealed()
    forged = with_new_id(s.batch, merkle_root=hashlib.sha256(b"forged").hexdigest())
    with pytest.raises(RecordError, match="(?i)merkle"):
        opened(forged)


def test_open_batch_refuses_public_fields_that_differ_from_the_records():
    s = sealed()
    public = copy.deepcopy(s.batch["public"])
    public[1] = {"sensor": "not-s2"}
    with pytest.raises(RecordError, match="record 1 differs from its public fields"):
        opened(with_new_id(s.batch, public=public))


def test_open_batch_refuses_a_batch_whose_id_is_not_its_content_hash():
    s = sealed()
    with pytest.raises(RecordError, match="id"):
        opened({**s.batch, "time_end": 3})  # the id still hashes time_end 2


def test_open_batch_refuses_a_changed_record_count():
    s = sealed()
    with pytest.raises(RecordError, match="counts differ"):
        opened(with_new_id(s.batch, record_count=2))


def test_open_batch_refuses_another_batchs_ciphertext():
    """The ciphertext is bound to its stream, source, seq and epoch: moving it into
    another batch does not decrypt (whatever error the decryption raises)."""
    one, two = sealed(), sealed()
    moved = with_new_id(one.batch, seq=2, prev_hash=one.id)
    with pytest.raises(Exception):
        opened(moved)
    assert base64.b64decode(two.batch["payload"]["ciphertext"])  # sanity: both are real
