"""The demo's story without a network: which streams each organisation gets, and when the
last demo analysis still stands (nothing new reached the lake since)."""

from __future__ import annotations

import json

import pytest

from ledgerlake.analytics import lake
from ledgerlake.client.demo import current_analysis, plan_streams
from ledgerlake.errors import LedgerlakeError

STREAMS = ["weather-org1", "weather-org2"]


def test_each_organisation_owns_a_stream_and_a_lone_one_owns_both():
    two = plan_streams([("Org1", "Org1MSP"), ("Org2", "Org2MSP")])
    assert [(p.stream, p.msp_id, p.stations) for p in two] == [
        ("weather-org1", "Org1MSP", ("sand-point", "greensboro")),
        ("weather-org2", "Org2MSP", ("miami",))]
    one = plan_streams([("Org1", "Org1MSP")])
    assert {p.msp_id for p in one} == {"Org1MSP"} and len(one) == 2
    with pytest.raises(LedgerlakeError):
        plan_streams([])


def _lake(tmp_path, records: dict):
    lake.write_meta(tmp_path / "lake", {"channel": "ledgerlake", "streams": {
        s: {"records": n} for s, n in records.items()}})
    return tmp_path / "lake"


def _run(analyses, name, *, rows, streams=STREAMS, anchored=True, report=True):
    run = analyses / name
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps(
        {"inputs": {"streams": streams, "rows": rows, "time_from": None, "time_to": None}}))
    (run / "lineage.json").write_text(json.dumps(
        {"receipt_id": "r", "anchor": {"block": 9} if anchored else None}))
    if report:
        (run / "report.html").write_text("<html></html>")
    return run


def test_the_newest_analysis_over_all_the_lakes_rows_stands(tmp_path):
    lake_dir = _lake(tmp_path, {"weather-org1": 17526, "weather-org2": 8763, "other": 5})
    analyses = tmp_path / "analysis"
    _run(analyses, "demo-20260101T000000Z", rows=26289)
    newest = _run(analyses, "demo-20260102T000000Z", rows=26289)
    assert current_analysis(analyses, lake_dir, STREAMS) == newest


@pytest.mark.parametrize("change", [
    {"rows": 26000},                                  # the lake has grown since
    {"rows": 26289, "streams": ["weather-org1"]},     # other streams
])
def test_an_analysis_that_is_not_current_does_not_stand(tmp_path, change):
    lake_dir = _lake(tmp_path, {"weather-org1": 17526, "weather-org2": 8763})
    analyses = tmp_path / "analysis"
    _run(analyses, "demo-20260101T000000Z", rows=26289)  # older and current: not reached
    _run(analyses, "demo-20260102T000000Z", **change)
    assert current_analysis(analyses, lake_dir, STREAMS) is None


def test_without_a_lake_or_a_finished_run_nothing_stands(tmp_path):
    analyses = tmp_path / "analysis"
    assert current_analysis(analyses, tmp_path / "nolake", STREAMS) is None
    lake_dir = _lake(tmp_path, {"weather-org1": 1, "weather-org2": 1})
    assert current_analysis(analyses, lake_dir, STREAMS) is None
    _run(analyses, "demo-20260103T000000Z", rows=2, report=False)  # killed before its report
    _run(analyses, "demo-20260102T000000Z", rows=2, anchored=False)  # before its anchor
    assert current_analysis(analyses, lake_dir, STREAMS) is None
    finished = _run(analyses, "demo-20260101T000000Z", rows=2)
    assert current_analysis(analyses, lake_dir, STREAMS) == finished


def test_what_an_analysis_found_in_a_line_per_stream():
    from ledgerlake.client.demo import analysis_lines

    results = {"streams": {
        "weather-org1": {"quality": {"rows": 17526}, "anomalies": {"count": 12},
                         "forecast": {"target": "temp_air", "metrics": {"mae": 1.234},
                                      "baseline": {"metrics": {"mae": 2.5}}, "skill": 0.5064}},
        "weather-org2": {"quality": {"rows": 8763}, "anomalies": {"count": 3},
                         "forecast": {"target": "temp_air", "metrics": None}}}}
    assert analysis_lines(results) == [
        "weather-org1: 17,526 rows, 12 anomalous hours flagged; forecast of temp_air: mean "
        "absolute error 1.23 against 2.50 for the seasonal-naive baseline (skill 0.51)",
        "weather-org2: 8,763 rows, 3 anomalous hours flagged"]
