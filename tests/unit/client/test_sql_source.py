"""The SQL source on SQLite (a real database, no server): value conversion, lossless
positions, incremental reads and the tie-breaker rule; PostgreSQL is in
tests/integration/test_sources_postgres.py."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from decimal import Decimal

import pytest

from ledgerlake import records
from ledgerlake.client.ingest.sql import (SqlSource, decode_value, default_source_id,
                                          encode_value, field_value, from_cli, record_value)
from ledgerlake.errors import ConfigError, SourceError


def ids(rows, field="id"):
    return [row.record[field] for row in rows]


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "plant.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY, ts INTEGER, "
                 "temp NUMERIC(6,2), site TEXT)")
    conn.commit()

    def insert(*rows):
        conn.executemany("INSERT INTO readings (id, ts, temp, site) VALUES (?, ?, ?, ?)", rows)
        conn.commit()
    insert.url = f"sqlite:///{path}"
    insert.conn = conn
    yield insert
    conn.close()


# -- values ------------------------------------------------------------------------------------
def test_record_values_follow_the_documented_conversions():
    moment = dt.datetime(2026, 11, 22, 3, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert record_value(moment) == 1_795_316_400_123_456_000 - 3600 * 10**9
    naive = dt.datetime(1970, 1, 1, 0, 0, 1, 5)
    assert record_value(naive) == 1_000_005_000  # a naive datetime is UTC
    assert record_value(dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)) == -10**9
    assert record_value(Decimal("12")) == 12 and type(record_value(Decimal("12"))) is int
    assert record_value(Decimal("12.50")) == 12.5
    assert type(record_value(Decimal("12.00"))) is float  # the column's scale decides
    assert record_value(dt.date(2026, 11, 22)) == "2026-11-22"
    assert record_value(dt.time(3, 4, 5)) == "03:04:05"
    assert record_value(dt.timedelta(seconds=2, microseconds=3)) == 2_000_003_000
    assert record_value(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert record_value(b"\x00\xff") == "00ff"
    assert record_value(memoryview(b"\x01")) == "01"
    for same in (None, True, 7, 1.5, "x"):
        assert record_value(same) is same


def test_the_stream_schema_refines_conversions_by_field_type():
    day, moment = dt.date(2026, 11, 22), dt.datetime(2026, 11, 22, 3, 4, 5)
    assert field_value("timestamp", day) == 1_795_305_600 * 10**9
    assert field_value("timestamp", moment) == field_value(None, moment) == 1_795_316_645 * 10**9
    assert field_value("string", day) == "2026-11-22"
    assert field_value("string", moment) == "2026-11-22T03:04:05"
    assert field_value("string", Decimal("12.50")) == "12.50"
    assert field_value("float", Decimal("12")) == 12.0 and type(field_value("float", Decimal(1))) is float
    assert field_value("int", Decimal("12")) == 12
    assert field_value("string", dt.time(1, 2)) == "01:02:00"


@pytest.mark.parametrize("value", [
    2**60, -(2**60), 5, "text", 1.25, None, True,
    dt.datetime(2026, 11, 22, 3, 0, 0, 1, tzinfo=dt.timezone.utc),
    dt.datetime(2026, 11, 22, 3, 0, 0), dt.date(2026, 1, 2), dt.time(1, 2, 3, 4),
    Decimal("123.4500"), uuid.UUID(int=99), b"\x00\x01", dt.timedelta(days=-1, seconds=5),
])
def test_positions_keep_values_exactly_through_canonical_json(value):
    """The pipeline may store positions in canonical form, where a big int would become a
    string: the encoding must survive that and give back the very value."""
    stored = json.loads(records.canonical(encode_value(value)))
    back = decode_value(stored)
    assert back == value and type(back) is type(value)


def test_a_value_without_a_lossless_encoding_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot be kept in a position"):
        encode_value(object())


# -- source ids --------------------------------------------------------------------------------
def test_default_source_id_is_stable_free_of_secrets_and_an_identifier():
    url = "postgresql://alice:hunter2@db.example.com:5432/shop"
    sid = default_source_id(url, "orders", None)
    assert sid == "sql.shop.orders" == default_source_id(
        "postgresql+psycopg://bob@10.0.0.1/shop", "orders", None)
    assert "hunter2" not in sid and "alice" not in sid
    assert default_source_id("sqlite:////data/plant.db", "public.readings", None) \
        == "sql.plant.public.readings"
    q1 = default_source_id(url, None, "SELECT * FROM a")
    assert q1.startswith("sql.shop.q-") and q1 != default_source_id(url, None, "SELECT * FROM b")
    long = default_source_id(url, "t" * 100, None)
    assert len(long) == 64 and records.check_identifier(long, "id")
    assert long != default_source_id(url, "t" * 99, None)


# -- reading -----------------------------------------------------------------------------------
def test_a_rerun_from_the_position_reads_only_the_new_rows(db):
    db(*[(i, 100 + i, 20.5, "a") for i in range(1, 6)])
    with SqlSource(db.url, table="readings", cursor="ts", batch_rows=2) as source:
        first = list(source.rows())
        assert ids(first) == [1, 2, 3, 4, 5]
        assert first[0].record == {"id": 1, "ts": 101, "temp": 20.5, "site": "a"}
        db(*[(i, 100 + i, 21.0, "b") for i in range(6, 9)])
        again = json.loads(json.dumps(first[-1].position))  # as the pipeline stores it
        assert ids(source.rows(after=again)) == [6, 7, 8]
        assert ids(source.rows(after=first[2].position)) == [4, 5, 6, 7, 8]


def test_equal_cursor_values_across_the_boundary_are_neither_lost_nor_repeated(db):
    db((1, 10, 1, "a"), (2, 20, 1, "a"), (3, 20, 1, "a"), (4, 20, 1, "a"), (5, 30, 1, "a"))
    with SqlSource(db.url, table="readings", cursor="ts") as source:
        assert source.tiebreak == ["id"]  # the primary key
        rows = list(source.rows())
        boundary = rows[2].position  # ts=20, id=3: rows 2 and 4 share its cursor value
        assert boundary == {"key": [20, 3]}
        db((6, 20, 1, "late"))  # a late row with the boundary's cursor value
        assert ids(source.rows(after=boundary)) == [4, 6, 5]
        assert [r.where for r in source.rows(after=boundary)][0] == "readings row ts=20, id=4"


def test_without_a_tie_breaker_the_position_counts_rows_at_the_last_cursor_value(db):
    db((1, 10, 1, "a"), (2, 20, 1, "a"), (3, 20, 1, "a"), (4, 20, 1, "a"), (5, 30, 1, "a"))
    query = "SELECT ts, site, id FROM readings WHERE site = 'a';"
    with SqlSource(db.url, query=query, cursor="ts") as source:
        assert source.tiebreak == []
        rows = list(source.rows())
        assert [r.position for r in rows[1:4]] == [{"key": [20], "skip": n} for n in (1, 2, 3)]
        assert sorted(ids(source.rows(after=rows[2].position))) == [4, 5]
        assert ids(source.rows(after=rows[4].position)) == []
    with SqlSource(db.url, query=query, cursor="ts", tiebreak="id") as source:
        assert ids(source.rows(after={"key": [20, 2]})) == [3, 4, 5]


def test_rows_with_a_null_cursor_are_not_read_and_null_values_are_absent_fields(db):
    db((1, None, 1, "a"), (2, 5, 1, None))
    with SqlSource(db.url, table="readings", cursor="ts") as source:
        rows = list(source.rows())
        assert [r.record for r in rows] == [{"id": 2, "ts": 5, "temp": 1.0}]


def test_a_datetime_cursor_resumes_and_becomes_nanoseconds(tmp_path):
    import sqlalchemy as sa
    url = f"sqlite:///{tmp_path / 'events.db'}"
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    events = sa.Table("events", meta, sa.Column("id", sa.Integer, primary_key=True),
                      sa.Column("at", sa.DateTime), sa.Column("amount", sa.Numeric(8, 2)))
    meta.create_all(engine)
    base = dt.datetime(2026, 11, 22, 3, 0, 0)
    with engine.begin() as conn:
        conn.execute(events.insert(), [{"id": i, "at": base + dt.timedelta(microseconds=i),
                                        "amount": Decimal("1.25") * i} for i in range(1, 5)])
    engine.dispose()
    with SqlSource(url, table="events", cursor="at") as source:
        rows = list(source.rows())
        assert rows[0].record["at"] == records.int64(1_795_316_400_000_001_000, "at")
        assert rows[1].position["key"][0] == {"datetime": "2026-11-22T03:00:00.000002"}
        assert ids(source.rows(after=json.loads(json.dumps(rows[1].position)))) == [3, 4]
        assert [r.record["amount"] for r in rows] == [1.25, 2.5, 3.75, 5.0]


def test_rows_follow_the_stream_schema_given(db):
    db((1, 5, 20.0, "a"))
    schema = records.Schema.from_mapping({"version": 1, "fields": [
        {"name": "id", "type": "int"}, {"name": "ts", "type": "timestamp"},
        {"name": "temp", "type": "string"}, {"name": "site", "type": "string"}]})
    with SqlSource(db.url, table="readings", cursor="ts") as source:
        source.use_schema(schema)
        row, = source.rows()
        assert records.validate_record(schema, row.record) == {
            "id": 1, "ts": 5, "temp": "20.00", "site": "a"}  # NUMERIC(6,2)


def test_stop_ends_the_rows_early(db):
    db(*[(i, i, 1, "a") for i in range(1, 50)])
    with SqlSource(db.url, table="readings", cursor="id", batch_rows=5) as source:
        seen = []
        for row in source.rows():
            seen.append(row)
            if len(seen) == 3:
                source.stop()
        assert len(seen) == 3
        assert len(list(source.rows())) == 49  # a new rows() starts afresh


# -- configuration errors ----------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"table": "nope", "cursor": "ts"}, "no table 'nope' in database sqlite:///"),
    ({"table": "readings", "cursor": "when"}, "cursor column 'when' is not in table "
                                              "'readings' \\(its columns: id, ts, temp, site\\)"),
    ({"table": "readings", "cursor": "ts", "tiebreak": "site,zz"}, "tie-breaker column 'zz'"),
    ({"query": "SELECT id FROM readings", "cursor": "ts"}, "cursor column 'ts' is not in the "
                                                           "query's result"),
    ({"query": "SELECT nothing FROM readings", "cursor": "ts"}, "the query does not run"),
    ({"table": "readings", "query": "SELECT 1", "cursor": "ts"}, "exactly one of a table"),
    ({"cursor": "ts"}, "exactly one of a table"),
    ({"table": "readings", "cursor": ""}, "needs a cursor column"),
    ({"table": "readings", "cursor": "ts", "batch_rows": 0}, "batch_rows"),
])
def test_bad_configuration_is_a_one_line_config_error(db, kwargs, message):
    with pytest.raises(ConfigError, match=message) as caught:
        SqlSource(db.url, **kwargs)
    assert "\n" not in str(caught.value)


def test_a_bad_url_or_position_is_a_config_error_that_never_shows_the_password(db):
    for url in ("postgresql://user:hunter2@host:notaport/db", "no url hunter2", ""):
        with pytest.raises(ConfigError) as caught:
            SqlSource(url, table="t", cursor="c")
        assert "hunter2" not in str(caught.value)
    with SqlSource(db.url, table="readings", cursor="ts") as source:
        for bad in ({"key": [1]}, {"nokey": 1}, 5, {"key": [1, 2], "skip": 1}):
            with pytest.raises(ConfigError, match="position"):
                list(source.rows(after=bad))


def test_an_unreachable_database_is_a_source_error_without_the_password():
    with pytest.raises(SourceError) as caught:
        SqlSource("postgresql://u:hunter2@127.0.0.1:1/db?connect_timeout=2", table="t",
                  cursor="c")
    text = str(caught.value)
    assert "127.0.0.1:1" in text and "hunter2" not in text and "\n" not in text


def test_from_cli_builds_the_source_from_options(db):
    db((1, 1, 1, "a"), (2, 2, 1, "a"))
    source = from_cli(db.url, {"table": "readings", "cursor": "ts", "tiebreak": "site",
                               "batch_rows": "7"})
    with source:
        assert (source.tiebreak, source.batch_rows, source.kind) == (["site"], 7, "sql")
        assert source.source_id() == "sql.plant.readings"
        assert ids(source.rows()) == [1, 2]
