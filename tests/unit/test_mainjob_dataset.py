"""The main job's dataset: pvlib's weather stations as CSV sources with planted defects. The
manifest must say exactly what was planted: checked here against the files themselves,
read independently (csv module, pandas) and through the ingestion's own file reader and
record rules."""

from __future__ import annotations

import csv
import time
from collections import Counter

import pandas as pd
import pytest

from ledgerlake import records
from ledgerlake.analytics import dataset
from ledgerlake.client.ingest.files import FileSource
from ledgerlake.client.ingest.pipeline import _margin
from ledgerlake.errors import RecordError


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dataset")
    return folder, dataset.prepare(folder)


def _rows(folder, station):
    with open(folder / f"{station}.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_same_seed_writes_the_same_bytes_and_another_seed_other_defects(prepared):
    folder, manifest = prepared
    files, again = dataset.build()
    assert again == manifest
    for name, data in files.items():
        assert (folder / name).read_bytes() == data
    other_files, other = dataset.build(seed=dataset.SEED + 1)
    assert other["totals"] == manifest["totals"]  # as many of each, elsewhere
    assert other_files["miami.csv"] != files["miami.csv"]


def test_a_second_prepare_leaves_unchanged_files_alone(prepared):
    folder, _ = prepared
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    time.sleep(0.01)
    dataset.prepare(folder)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_every_station_keeps_its_8760_hourly_readings_of_one_year(prepared):
    folder, manifest = prepared
    assert list(manifest["stations"]) == ["sand-point", "greensboro", "miami"]
    for station, info in manifest["stations"].items():
        rows = _rows(folder, station)
        assert len(rows) == info["rows"] == 8760 + len(info["duplicates"]) + \
            len(info["rejected"])
        rejected = {r["row"] for r in info["rejected"]}
        readings = [r for n, r in enumerate(rows, 1) if n not in rejected]
        times = Counter(r["time"] for r in readings)
        assert len(times) == 8760 and sum(times.values()) == 8760 + len(info["duplicates"])
        stamps = sorted(pd.to_datetime(list(times), utc=True))
        assert all(b - a == pd.Timedelta(hours=1) for a, b in zip(stamps, stamps[1:]))
        assert {s.year for s in stamps} <= {dataset.YEAR, dataset.YEAR + 1}
        assert {r["station"] for r in rows} == {station}


def test_the_ingestions_rules_reject_exactly_the_rows_the_manifest_names(prepared):
    """The reader and record rules the ingest pipeline applies, row by row: a cell that
    does not parse, a record its schema refuses, a time beyond the stream's max age."""
    folder, manifest = prepared
    schema = records.Schema.from_mapping(dataset.SCHEMA)
    max_age = dataset.MAX_AGE_SECONDS * 10**9
    oldest = time.time_ns() - max_age + _margin(max_age)
    for station, info in manifest["stations"].items():
        source = FileSource(folder / info["file"])
        source.use_schema(schema)
        refused = []
        for row in source.rows():
            if row.error is not None:
                refused.append((row.where, "parse"))
                continue
            try:
                record = records.validate_record(schema, row.record, row.where)
            except RecordError:
                refused.append((row.where, "schema"))
                continue
            if record["time"] < oldest:
                refused.append((row.where, "time.max_age"))
        assert refused == [(r["where"], r["rule"]) for r in info["rejected"]]
        assert len(info["rejected"]) == info["rows"] - info["accepted"]
    rules = manifest["totals"]["rejected_by_rule"]
    assert set(rules) == {"parse", "schema", "time.max_age"}  # every rule is exercised
    kinds = {r["kind"] for s in manifest["stations"].values() for r in s["rejected"]}
    assert kinds == {k[0] for k in dataset.REJECT_KINDS}


def test_duplicates_missing_cells_and_anomalies_are_where_the_manifest_says(prepared):
    folder, manifest = prepared
    for station, info in manifest["stations"].items():
        rows = _rows(folder, station)
        for dup in info["duplicates"]:
            assert rows[dup["row"] - 1] == rows[dup["of_row"] - 1]
            assert rows[dup["row"] - 1]["time"] == dup["time"]
        empty = {(n, f) for n, r in enumerate(rows, 1) for f in dataset.VALUE_FIELDS
                 if r[f] == ""}
        assert empty == {(n, f) for f, ns in info["missing"].items() for n in ns}
        by_time = {r["time"]: r for r in rows}
        for anomaly in info["anomalies"]:
            start = dataset.parse_time(anomaly["time"])
            for k in range(anomaly["rows"]):
                moment = (start + pd.Timedelta(hours=k)).strftime("%Y-%m-%dT%H:%M:%SZ")
                assert float(by_time[moment][anomaly["field"]]) == anomaly["value"]
            assert rows[anomaly["first_row"] - 1]["time"] == anomaly["time"]
    anomalies = [a for s in manifest["stations"].values() for a in s["anomalies"]]
    assert Counter(a["kind"] for a in anomalies) == {"spike": 9, "stuck": 1}
    stuck = next(a for a in anomalies if a["kind"] == "stuck")
    assert stuck["rows"] == dataset.STUCK_ROWS


def test_out_of_order_and_late_readings_match_the_files_order(prepared):
    """Recomputed with pandas: a reading behind the newest earlier reading of its file."""
    folder, manifest = prepared
    for station, info in manifest["stations"].items():
        frame = pd.read_csv(folder / info["file"], dtype=str, keep_default_na=False)
        frame["row"] = range(1, len(frame) + 1)
        frame = frame[~frame["row"].isin([r["row"] for r in info["rejected"]])]
        moments = pd.to_datetime(frame["time"], utc=True)
        newest = moments.cummax().shift(1)
        behind = (newest - moments).dt.total_seconds()
        late_rows = frame.loc[behind > 0, "row"].tolist()
        assert late_rows == [o["row"] for o in info["out_of_order"]]
        assert frame.loc[behind > dataset.LATE_AFTER_SECONDS, "row"].tolist() == \
            [o["row"] for o in info["late"]]
        assert len(info["late"]) == 2 and len(info["out_of_order"]) == 5


def test_values_are_the_stations_own_in_the_schemas_units(prepared):
    """Miami comes from a TMY2 file (tenths of °C and m/s); every value fits the schema's
    range but the planted ones."""
    folder, manifest = prepared
    frame = dataset.load_station(dataset.STATIONS[2])
    assert len(frame) == 8760
    assert 0 < frame["temp_air"].min() < frame["temp_air"].max() < 40
    assert frame["wind_speed"].max() < 20 and 1000 < frame["pressure"].mean() < 1025
    ranges = {f["name"]: (f["min"], f["max"]) for f in dataset.SCHEMA["fields"] if "min" in f}
    for station in dataset.STATIONS:
        values = dataset.load_station(station)
        for field, (low, high) in ranges.items():
            assert values[field].between(low, high).all(), (station.id, field)


def _results(manifest, quality_off=0):
    """An analysis' results as analyze writes them, with the figures the manifest plants
    (``quality_off`` added to each station's duplicates): duplicates per stream only."""
    streams = {}
    for stream, stations in (("a", ("sand-point", "greensboro")), ("b", ("miami",))):
        by_source = {}
        for s in stations:
            info = manifest["stations"][s]
            by_source[s] = {"missing": {f: len(v) for f, v in info["missing"].items()},
                            "out_of_order": len(info["out_of_order"]),
                            "late": len(info["late"])}
        duplicates = sum(len(manifest["stations"][s]["duplicates"]) + quality_off
                         for s in stations)
        streams[stream] = {"quality": {"duplicates": duplicates, "by_source": by_source}}
    return {"streams": streams}


def _series(folder, manifest, skip=()):
    """series/<stream>.parquet marking each planted anomaly's first hour (but ``skip``)
    and one unplanted hour."""
    (folder / "series").mkdir(exist_ok=True)
    rows = []
    for s, info in manifest["stations"].items():
        for a in info["anomalies"]:
            if (s, a["field"]) not in skip:
                rows.append({"source": s, "time": pd.Timestamp(a["time"]), "field": a["field"],
                             "value": a["value"], "anomaly": True, "score": 5.0})
        rows.append({"source": s, "time": pd.Timestamp("2025-01-02T00:00:00Z"),
                     "field": "temp_air", "value": 1.0, "anomaly": False, "score": 0.1})
    rows.append({"source": "miami", "time": pd.Timestamp("2025-06-01T12:00:00Z"),
                 "field": "pressure", "value": 990.0, "anomaly": True, "score": 4.0})
    frame = pd.DataFrame(rows)
    frame[frame["source"] != "miami"].to_parquet(folder / "series" / "a.parquet")
    frame[frame["source"] == "miami"].to_parquet(folder / "series" / "b.parquet")


def _rejects(manifest):
    return [{"source": s, "where": r["where"], "rule": r["rule"]}
            for s, info in manifest["stations"].items() for r in info["rejected"]]


def test_findings_set_what_an_analysis_found_against_the_manifest(prepared, tmp_path):
    _, manifest = prepared
    _series(tmp_path, manifest)
    found = {f.what.split(" (")[0]: f for f in
             dataset.findings(manifest, _results(manifest), tmp_path, _rejects(manifest))}
    assert all(f.ok for f in found.values()), found
    assert found["anomalies"].planted == 10
    assert "11 hours flagged in all, 1 of them not planted" == found["anomalies"].detail


def test_findings_name_what_differs(prepared, tmp_path):
    _, manifest = prepared
    _series(tmp_path, manifest, skip={("miami", "ghi")})
    rejects = _rejects(manifest)[1:] + [{"source": "miami", "where": "row 1 of miami.csv",
                                         "rule": "schema"}]
    found = {f.what.split(" (")[0]: f for f in
             dataset.findings(manifest, _results(manifest, quality_off=1), tmp_path, rejects)}
    assert not found["rows rejected by ingestion"].ok
    assert found["rows rejected by ingestion"].detail == "1 unexpected, 1 missed"
    assert (found["duplicate readings"].found, found["duplicate readings"].planted) == (12, 9)
    assert found["missing values"].ok
    assert (found["anomalies"].found, found["anomalies"].ok) == (9, False)
    hits, _, _ = dataset.anomaly_hits(manifest, _results(manifest), tmp_path)
    assert [k for k, hit in hits.items() if not hit] == [
        ("miami", "ghi", manifest["stations"]["miami"]["anomalies"][-1]["time"])]


def test_findings_without_an_analysis_figure_say_so(prepared, tmp_path):
    _, manifest = prepared
    found = dataset.findings(manifest, {"streams": {}}, tmp_path, _rejects(manifest))
    assert found[0].ok
    assert [f.found for f in found[1:]] == [None] * 5

