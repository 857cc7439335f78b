"""The SQL source against a real PostgreSQL server (Debian's, started by tests/servers.py):
incremental re-runs, equal cursor values across the boundary, PostgreSQL's types, streaming
through a server-side cursor, and errors that never show the password."""

from __future__ import annotations

import json

import psycopg
import pytest

from ledgerlake.client.ingest import open_source
from ledgerlake.client.ingest.sql import SqlSource
from ledgerlake.errors import ConfigError, SourceError
from servers import postgres  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


@pytest.fixture
def readings(postgres):
    postgres.execute("DROP TABLE IF EXISTS readings")
    postgres.execute("CREATE TABLE readings (id bigint PRIMARY KEY, at timestamptz NOT NULL, "
                     "temp numeric(6,2), count numeric(12,0), site text, ok boolean, "
                     "day date)")
    yield postgres
    postgres.execute("DROP TABLE IF EXISTS readings")


def insert(server, *ids, at="2026-11-22 03:00:00+00"):
    for i in ids:
        server.execute("INSERT INTO readings VALUES (%s, %s, 20.25, 7, 'plant-1', true, "
                       "'2026-11-22')", (i, at))


def ids(rows):
    return [row.record["id"] for row in rows]


def test_a_rerun_reads_only_new_rows_even_with_equal_cursor_values(readings):
    insert(readings, 1, 2, at="2026-11-22 02:00:00+00")
    insert(readings, 3, 4, 5)  # three rows share one time
    with SqlSource(readings.url, table="readings", cursor="at", batch_rows=2) as source:
        assert source.tiebreak == ["id"]
        rows = list(source.rows())
        assert ids(rows) == [1, 2, 3, 4, 5]
        assert rows[0].record == {"id": 1, "at": 1_795_312_800 * 10**9, "temp": 20.25,
                                  "count": 7, "site": "plant-1", "ok": True,
                                  "day": "2026-11-22"}
        boundary = json.loads(json.dumps(rows[3].position))  # id 4, between 3 and 5
        assert boundary["key"] == [{"datetime": "2026-11-22T03:00:00+00:00"}, 4]
        insert(readings, 6)  # the boundary's time again
        insert(readings, 7, at="2026-11-22 04:00:00+00")
        assert ids(source.rows(after=boundary)) == [5, 6, 7]
        assert ids(source.rows(after=rows[-1].position)) == [6, 7]


def test_a_query_with_a_tie_breaker_resumes_exactly(readings):
    insert(readings, *range(1, 8))
    query = "SELECT id, at, site FROM readings WHERE id::int % 2 = 1"
    with open_source(readings.url, {"query": query, "cursor": "at", "tiebreak": "id"}) as source:
        rows = list(source.rows())
        assert ids(rows) == [1, 3, 5, 7]
        assert ids(source.rows(after=rows[1].position)) == [5, 7]
        assert source.source_id().startswith("sql.ledgerlake_test.q-")


def test_a_big_table_streams_through_a_server_side_cursor(readings):
    readings.execute("INSERT INTO readings SELECT g, '2026-11-22'::timestamptz + g * "
                     "interval '1 second', 1.5, g, 's', false, NULL "
                     "FROM generate_series(1, 20000) AS g")
    with SqlSource(readings.url, table="readings", cursor="id", batch_rows=500) as source:
        rows = source.rows()
        try:
            first = [next(rows) for _ in range(10)]
            assert ids(first) == list(range(1, 11))
            with psycopg.connect(readings.url) as conn:  # what the reading session runs now
                running = [q for (q,) in conn.execute(
                    "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()")]
            assert any(q.startswith("FETCH FORWARD 500") for q in running), running
            rest = list(rows)
        finally:
            rows.close()  # else a failure here leaves the read open and the DROP waiting
    assert len(rest) == 19_990 and rest[-1].record["id"] == 20_000
    assert "day" not in rest[-1].record  # NULL: the field is absent


def test_configuration_and_connection_errors_never_show_the_password(readings):
    password = readings.PASSWORD
    with pytest.raises(ConfigError, match="no table 'nope'") as caught:
        SqlSource(readings.url, table="nope", cursor="id")
    assert password not in str(caught.value) and "***" in str(caught.value)
    with pytest.raises(ConfigError, match="cursor column 'ts' is not in table 'readings'"):
        SqlSource(readings.url, table="readings", cursor="ts")
    with pytest.raises(ConfigError, match="cursor column 'at' is not in the query's result"):
        SqlSource(readings.url, query="SELECT id FROM readings", cursor="at")
    with pytest.raises(ConfigError, match="the query does not run") as caught:
        SqlSource(readings.url, query="SELECT FROM WHERE", cursor="at")
    assert "\n" not in str(caught.value)
    wrong = readings.url.replace(password, "not-the-password")
    with pytest.raises(SourceError, match="password authentication failed") as caught:
        SqlSource(wrong, table="readings", cursor="id")
    assert "not-the-password" not in str(caught.value)
    with pytest.raises(ConfigError, match="no table 'public.nope'"):
        SqlSource(readings.url, table="public.nope", cursor="id")
    with SqlSource(readings.url, table="public.readings", cursor="id") as source:
        assert source.source_id() == "sql.ledgerlake_test.public.readings"
