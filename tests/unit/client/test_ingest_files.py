"""File and standard input sources: CSV cast by the schema (whole columns, cell by cell
only where a cast fails), JSON Lines, Parquet; positions that resume exactly after the
item they name; a file whose columns do not fit the schema is refused once."""

from __future__ import annotations

import io
import json

import pytest

from ledgerlake import records
from ledgerlake.client.ingest import open_source, source_kind
from ledgerlake.client.ingest.files import FileSource, coerce_text
from ledgerlake.client.ingest.source import derived_source_id as identifier_from
from ledgerlake.client.ingest.stdin import StdinSource
from ledgerlake.errors import ConfigError

SCHEMA = records.Schema.from_mapping({"version": 1, "fields": [
    {"name": "sensor", "type": "string"}, {"name": "n", "type": "int"},
    {"name": "t", "type": "float"}, {"name": "ok", "type": "bool"},
    {"name": "ts", "type": "timestamp"}, {"name": "note", "type": "string", "required": False},
    {"name": "level", "type": "int", "required": False}]})
HEADER = "sensor,n,t,ok,ts,note,level\n"


def _csv(tmp_path, body, name="a.csv"):
    path = tmp_path / name
    path.write_text(HEADER + body)
    source = FileSource(path)
    source.use_schema(SCHEMA)
    return source


def test_csv_cells_become_the_schema_types_and_empty_optional_cells_are_absent(tmp_path):
    source = _csv(tmp_path, "a,1,2.5,true,1700000000000000001,hi,3\n"
                            "b,-2,3,0,2024-01-01T00:00:00Z,,\n")
    rows = list(source.rows())
    assert [r.record for r in rows] == [
        {"sensor": "a", "n": 1, "t": 2.5, "ok": True, "ts": 1700000000000000001,
         "note": "hi", "level": 3},
        {"sensor": "b", "n": -2, "t": 3.0, "ok": False, "ts": 1704067200 * 10**9}]
    assert [(r.where, r.position) for r in rows] == [
        ("row 1 of a.csv", {"file": "a.csv", "row": 1}),
        ("row 2 of a.csv", {"file": "a.csv", "row": 2})]


def test_a_bad_cell_rejects_its_row_alone_with_the_text_as_read(tmp_path):
    source = _csv(tmp_path, "a,1,2.5,true,1,,\nb,x,2.5,true,2,,\nc,3,2.5,maybe,3,,\n"
                            "d,4,2.5,false,4,,\ne,5\n")
    rows = list(source.rows())
    good = [r.record["sensor"] for r in rows if r.error is None]
    bad = [(r.where, r.error, r.record and r.record["sensor"]) for r in rows if r.error]
    assert good == ["a", "d"]
    assert bad[0] == ("a row of a.csv after row 0", "it has 2 cells, not 7: e,5", None) or \
        bad[-1][1].startswith("it has 2 cells")
    assert ("row 2 of a.csv", "field 'n' must be of type int: 'x' is not an integer", "b") in bad
    assert ("row 3 of a.csv", "field 'ok' must be of type bool: 'maybe' is not true or false",
            "c") in bad


def test_a_file_whose_columns_do_not_fit_is_refused_once(tmp_path):
    (tmp_path / "x.csv").write_text("sensor,n,t,ok,colour\na,1,1,true,red\n")
    source = FileSource(tmp_path / "x.csv", schema=SCHEMA)
    with pytest.raises(ConfigError, match=r"^x.csv: column 'colour' is not a field of the "
                                          r"stream's schema v1 \(fields: sensor, n, t, ok, ts, "):
        list(source.rows())
    (tmp_path / "y.csv").write_text("sensor,n,t,ok\na,1,1,true\n")
    with pytest.raises(ConfigError, match=r"^y.csv has no column 'ts', a required field"):
        list(FileSource(tmp_path / "y.csv", schema=SCHEMA).rows())


def test_csv_resumes_after_its_position_across_blocks_and_files(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, start in (("b.csv", 100), ("a.csv", 0)):
        (folder / name).write_text(HEADER + "".join(f"s{i},{i},1,true,{i},,\n"
                                                    for i in range(start, start + 100)))
    source = FileSource(folder, schema=SCHEMA)
    everything = [r.record["n"] for r in source.rows()]
    assert everything == list(range(200))  # files in name order
    for cut in (0, 1, 57, 99, 100, 150, 199):
        position = list(source.rows())[cut].position
        assert [r.record["n"] for r in source.rows(after=position)] == list(range(cut + 1, 200))


def test_jsonl_and_parquet_resume_and_positions(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"sensor": f"s{i}", "n": i, "t": i / 2, "ok": True, "ts": i} for i in range(40)]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows[:5]) + "\n\n" +
                                      "[1]\n" + "\n".join(json.dumps(r) for r in rows[5:]))
    got = list(FileSource(tmp_path / "a.jsonl").rows())
    assert [r.record for r in got if not r.error] == rows
    assert [(r.where, r.error) for r in got if r.error] == [
        ("line 7 of a.jsonl", "line 7 of a.jsonl must be a JSON object, not list")]
    assert [r.record["n"] for r in FileSource(tmp_path / "a.jsonl").rows(
        after={"file": "a.jsonl", "line": 7})] == list(range(5, 40))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "b.parquet", row_group_size=16)
    source = FileSource(tmp_path / "b.parquet", schema=SCHEMA)
    assert [r.record for r in source.rows()] == rows
    for cut in (16, 17, 31, 39):
        assert [r.record["n"] for r in source.rows(after={"file": "b.parquet", "row": cut})] \
            == list(range(cut, 40))


def test_stdin_skips_the_lines_of_its_position():
    data = b'{"a": 1}\n{"a": 2}\nnot json\n{"a": 4}\n'
    rows = list(StdinSource(io.BytesIO(data)).rows())
    assert [r.position for r in rows] == [{"line": 1}, {"line": 2}, {"line": 3}, {"line": 4}]
    assert rows[2].error.startswith("line 3 of standard input must be JSON")
    assert [r.record for r in StdinSource(io.BytesIO(data)).rows(after={"line": 3})] == [{"a": 4}]


def test_coerce_text_is_the_rule_for_one_cell():
    field = records.Field("x", "timestamp")
    assert coerce_text(field, "2024-01-01T00:00:00.5+01:00") == 1704063600500000000
    assert coerce_text(records.Field("x", "int"), "") is None
    assert coerce_text(records.Field("x", "string"), "") == ""
    assert coerce_text(records.Field("x", "string", required=False), "") is None
    with pytest.raises(ValueError):
        coerce_text(records.Field("x", "int"), "1.5")


def test_source_kinds_and_ids(tmp_path):
    assert [source_kind(s) for s in ("-", "https://x/y", "mqtt://h/t", "sqlite:///a.db",
                                     "postgresql+psycopg://u@h/db", "data/*.csv")] == [
        "stdin", "http", "mqtt", "sql", "sql", "file"]
    with pytest.raises(ConfigError, match="unknown source scheme in ftp://"):
        open_source("ftp://host/file")
    with pytest.raises(ConfigError, match="^--table does not apply to files$"):
        open_source("data.csv", {"table": "t"})
    with pytest.raises(ConfigError, match="^--delimiter does not apply to standard input$"):
        open_source("-", {"delimiter": ";"})
    with pytest.raises(ConfigError, match="^no such file or directory: nope.csv$"):
        open_source("nope.csv")
    with pytest.raises(ConfigError, match="^no file matches"):
        open_source(str(tmp_path / "*.csv"))
    assert identifier_from("2024 sales.csv") == "f2024-sales.csv"
    long = identifier_from("x" * 100)
    assert len(long) == 64 and long != identifier_from("x" * 99)
