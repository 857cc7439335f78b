"""The sync's column path decides every batch as the one record rule does:
``fastrecords.open_columns`` takes only plaintexts the reference (``records``) accepts, and
returns exactly its normalised records (as columns), salts, commitments and cursor; and
``sync.open_rows`` writes the same Arrow table whichever path decided (the columns, or
``open_fast`` and the reference behind it), or the same refusal."""

from __future__ import annotations

import hashlib
import os

import pyarrow as pa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import test_fastrecords as fr
import test_sync_fast as sf
from ledgerlake import fastrecords, records
from ledgerlake.analytics import sync
from ledgerlake.client.batches import open_batch_verified

SAFE = records.MAX_SAFE_INTEGER

#: More ways a hostile producer may write a record: big integers as strings in other
#: forms, integral doubles in float fields, a negative integer as a string.
WRITERS = {
    **fr.WRITERS,
    "spaced": lambda r: records.canonical({k: " " + v if type(v) is str else v
                                           for k, v in r.items()}),
    "plus": lambda r: records.canonical({k: "+" + str(v) if type(v) is int and abs(v) > SAFE
                                         else v for k, v in r.items()}),
    "negative": lambda r: records.canonical({k: str(-v) if type(v) is int and v > 0 else v
                                             for k, v in r.items()}),
    "comma": lambda r: records.canonical({k: f"{v},{v}" if type(v) is int and abs(v) > SAFE
                                          else v for k, v in r.items()}),
    "integral": lambda r: records.canonical(r).replace(b"0,", b"0.0,", 1),
    "exponent6": lambda r: records.canonical({k: 1.5e-6 if type(v) is float else v
                                              for k, v in r.items()}),
}


def _as_records(schema: records.Schema, columns: dict[str, list]) -> list[dict]:
    """Columns back to records as the reference normalises them (a float field's ints
    as floats; no value: no key), to compare with it."""
    count = len(next(iter(columns.values())))
    rows: list[dict] = [{} for _ in range(count)]
    for f in schema.fields:
        column = columns[f.name]
        assert len(column) == count
        for row, value in zip(rows, column):
            if f.type == "float" and type(value) is int:
                assert -SAFE <= value <= SAFE
                value = float(value)
            row[f.name] = value
    return rows


def _same(schema, columns, expected_rows) -> bool:
    """The columns hold the reference's records: each value, its type, and None exactly
    where the record has null or no value."""
    got = _as_records(schema, columns)
    wanted = [{f.name: r.get(f.name) for f in schema.fields} for r in expected_rows]
    return all(fr._same_record(a, b) for a, b in zip(got, wanted, strict=True))


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_open_columns_takes_only_what_the_rule_accepts_and_returns_the_same(data):
    schema, header, plaintext, writer, tweak = fr._hostile_batch(data, WRITERS)
    fast = fastrecords.open_columns(schema, header, plaintext)
    expected = fr._reference_open(schema, header, plaintext)
    event(f"{writer}, {tweak}: columns {'took it' if fast else 'deferred'}, "
          f"the rule {expected[0]}s")
    if fast is not None:
        assert expected[0] == "accept"
        assert _same(schema, fast[0], expected[1])
        assert _rest(fast) == list(expected[2:])


def _rest(fast) -> list:
    """open_columns' salts, commitments and cursor as the reference gives them (its
    commitments come concatenated)."""
    salts, digests, cursor = fast[1:]
    assert type(digests) is bytes and len(digests) == 32 * len(salts)
    return [salts, [digests[i:i + 32] for i in range(0, len(digests), 32)], cursor]


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_open_columns_takes_honest_batches(data):
    """Not vacuous: what seal writes is taken unless a value is one msgspec writes
    otherwise (a double in [1e-6, 1e-5), an integral one beyond 2^53), a big integer is
    negative or of 16 digits, or the schema's bounds leave no written number."""
    schema = data.draw(fr.schemas())
    normal = fr._normal_rows(data, schema, hostile_rows=False)
    salts = [os.urandom(16) for _ in normal]
    cursor = data.draw(fr.cursors)
    leaves, plaintext = fastrecords.seal(schema, normal, salts, cursor)
    header = fr._header(schema, normal, leaves)
    fast = fastrecords.open_columns(schema, header, plaintext)
    expected = fr._reference_open(schema, header, plaintext)
    assert expected[0] == "accept"
    if fast is None:
        values = [v for r in normal for v in r.values()]
        c = fastrecords.codec(schema)
        assert c is None or c.checked_plaintext is None or \
            any(isinstance(v, float) and (abs(v) > SAFE or 1e-6 <= abs(v) < 1e-5)
                for v in values) or \
            any(type(v) is int and abs(v) > SAFE and (v < 0 or len(str(v)) < 17)
                for v in values)
    else:
        assert _same(schema, fast[0], expected[1])
        assert _rest(fast) == list(expected[2:])


def test_open_columns_checks_big_integers_and_doubles_itself():
    """Each check the column path adds has a case it refuses (the reference decides)."""
    schema = records.Schema.from_mapping({"version": 1, "fields": [
        {"name": "t", "type": "timestamp", "max": 2**62},
        {"name": "f", "type": "float", "required": False}]})
    salts = [bytes([i]) * 16 for i in range(3)]

    def opened(parts):
        leaves = [hashlib.sha256(s + p).digest() for s, p in zip(salts, parts)]
        normal = [{"t": 1}] * len(parts)
        return fastrecords.open_columns(schema, fr._header(schema, normal, leaves),
                                        fr._plaintext(parts, salts[:len(parts)], "none"))

    good = [b'{"f":2.5,"t":"1700000000000000001"}', b'{"f":20,"t":5}', b'{"t":6}']
    columns, _, _, _ = opened(good)
    assert columns == {"t": [1700000000000000001, 5, 6], "f": [2.5, 20, None]}
    for bad in (b'{"f":20.0,"t":5}',  # an integral double as msgspec writes it
                b'{"f":1.5e-6,"t":5}',  # written with an exponent (RFC 8785: 0.0000015)
                b'{"t":"%d"}' % (2**62 + 1),  # beyond the field's max
                b'{"t":"-1700000000000000001"}',  # negative: the reference decides
                b'{"t":"01700000000000000001"}',  # not the integer's own str
                b'{"t":"17000000000000,0001"}',  # two numbers in one string
                b'{"t":" 1700000000000000001"}'):
        assert opened([bad, *good[1:]]) is None, bad
        assert opened(good) is not None


# -- the sync's rows ------------------------------------------------------------------------
def _reference_rows(batch):
    """open_rows' table as the reference decides it: open_batch_verified's records."""
    import numpy as np

    canonical_schema = records.canonical(sf.SCHEMA.to_mapping())
    fields, names = sync._arrow_fields(canonical_schema)
    try:
        opened = open_batch_verified(sf.SCHEMA, batch, sf.KEY)
    except Exception as exc:  # noqa: BLE001 - the refusal is its type and text
        return ("error", type(exc).__name__, str(exc))
    table = pa.Table.from_pylist(opened.records, schema=fields).rename_columns(names)
    table = table.append_column("_index", pa.array(np.arange(len(opened.records),
                                                             dtype=np.int32)))
    return table.append_column("_commitment", pa.array(
        [leaf.hex() for leaf in opened.commitments], type=pa.string()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(sf.record, min_size=1, max_size=5), st.sampled_from(sf.MUTATIONS),
       st.lists(st.binary(min_size=16, max_size=16), min_size=5, max_size=5))
def test_open_rows_writes_the_rows_of_the_record_rule(rows, mutation, salts):
    batch, _ = sf._seal(rows, mutation, salts[:len(rows)])
    got = sync.open_rows(records.canonical(sf.SCHEMA.to_mapping()), batch, sf.KEY)
    expected = _reference_rows(batch)
    if isinstance(expected, tuple):
        assert got == expected
    else:
        assert not isinstance(got, tuple)
        assert got.schema == expected.schema and got.equals(expected)


def test_open_rows_takes_the_column_path_for_honest_batches(monkeypatch):
    rows = [{"sensor": "a", "value": 100.0, "count": 2**60, "ts": 2**62},
            {"sensor": "b", "value": 1.5, "ts": 6, "ok": True, "Zeta": None}]
    batch, _ = sf._seal(rows, "none", [bytes([0xa0 + i]) * 16 for i in range(2)])
    monkeypatch.setattr(sync, "open_fast", None)  # the column path alone
    got = sync.open_rows(records.canonical(sf.SCHEMA.to_mapping()), batch, sf.KEY)
    assert got.equals(_reference_rows(batch))


# -- the batch header -----------------------------------------------------------------------
def _decide(fn, batch):
    import copy

    try:
        got = fn(copy.deepcopy(batch))
        return "accept", got, {k: type(v) for k, v in got.items()}, \
            {k: [type(v) for v in c] for k, c in got["public"].items()}
    except records.RecordError as exc:
        return "refuse", str(exc)


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_validate_batch_shape_decides_as_the_rule(data):
    """Public columns of every type, hostile values among them, wrong lengths or names,
    ids over the columns as sent or as normalised: the same header or the same error."""
    schema = data.draw(fr.schemas())
    normal = fr._normal_rows(data, schema, hostile_rows=False)
    public = records.public_columns(schema, normal)
    for name, column in public.items():
        how = data.draw(st.sampled_from(["as is", "hostile", "short", "null"]))
        if how == "hostile" and column:
            column[data.draw(st.integers(0, len(column) - 1))] = data.draw(fr.hostile)
        elif how == "short":
            column.pop()
        elif how == "null" and column:
            column[0] = None
    if data.draw(st.integers(0, 9)) == 0:
        public[data.draw(st.sampled_from(["extra", *public]))] = [1] * len(normal)
    batch = {"stream": "s", "source": "a", "seq": 1, "prev_hash": "", "schema_version": 1,
             "time_start": 1, "time_end": 2,
             "record_count": data.draw(st.sampled_from([len(normal), str(len(normal)),
                                                        len(normal) + 1])),
             "merkle_root": "0" * 64, "public": public, "key_epoch": 1,
             "payload": {"encoding": "json", "nonce": "AAAA", "sha256": "0" * 64,
                         "size": data.draw(st.sampled_from([1, 0]))}}
    try:
        normalised = records.normalised_batch(dict(batch, public=dict(public)), schema)
        ids = [records.batch_id(normalised), records.batch_id(batch), "0" * 64]
    except (records.RecordError, TypeError, ValueError):
        try:
            ids = [records.batch_id(batch), "0" * 64]
        except records.RecordError:  # a hostile value no id can be written over (inf)
            ids = ["0" * 64]
    batch["id"] = data.draw(st.sampled_from(ids))
    expected = _decide(lambda b: records.validate_batch_shape(b, schema), batch)
    assert _decide(lambda b: fastrecords.validate_batch_shape(b, schema), batch) == expected


def test_validate_batch_shape_takes_plain_public_columns_itself(monkeypatch):
    schema = records.Schema.from_mapping({"version": 1, "fields": [
        {"name": "s", "type": "string", "public": True},
        {"name": "n", "type": "int", "public": True, "min": 0, "max": 9},
        {"name": "b", "type": "bool", "public": True, "required": False}]})
    batch = {"stream": "s", "source": "a", "seq": 1, "prev_hash": "", "schema_version": 1,
             "time_start": 1, "time_end": 2, "record_count": 2, "merkle_root": "0" * 64,
             "public": {"s": ["x", "y"], "n": [0, 9], "b": [None, True]}, "key_epoch": 1,
             "payload": {"encoding": "json", "nonce": "AAAA", "sha256": "0" * 64, "size": 1}}
    batch["id"] = records.batch_id(batch)
    expected = records.validate_batch_shape(dict(batch), schema)
    monkeypatch.setattr(records, "validate_public_columns", None)  # not the reference's
    assert fastrecords.validate_batch_shape(dict(batch), schema) == expected
    for column in ({"n": [0, 10]}, {"n": [0, None]}, {"s": ["x", 1]}):
        monkeypatch.undo()
        wrong = {**batch, "public": {**batch["public"], **column}}
        wrong["id"] = records.batch_id(wrong)
        assert _decide(lambda b: fastrecords.validate_batch_shape(b, schema), wrong)[0] == \
            "refuse"
