"""The HTML report and the PNG charts of an analysis run (tests/synthetic_run.py's run
directory): findings in words with units, every section, self-contained, deterministic."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from ledgerlake.analytics import charts, report
from ledgerlake.cli import main
from ledgerlake.errors import ConfigError
from synthetic_run import STREAMS, make_run


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    make_run(root / "run", root / "lake")
    report.write_report(root / "run")
    return root / "run"


@pytest.fixture
def run(base_run, tmp_path):
    shutil.copytree(base_run, tmp_path / "run")
    return tmp_path / "run"


def test_findings_come_first_in_words_with_the_schemas_units(base_run):
    lines = report.findings(charts.read_run(base_run))
    assert lines[0] == ("This run analysed 720 records of 2 streams (weather-tm2, weather-tmy), "
                        "committed in ledger blocks 5 to 16 by 3 sources of 2 organisations.")
    assert ("3 anomalies in station-723170's air temperature (stream weather-tmy) on "
            "3 Mar 2026 (2) and 8 Mar 2026; the strongest 34.6 °C at 2026-03-03 02:00 UTC.") in lines
    assert any(re.fullmatch(r"The air temperature forecast of stream weather-tmy "
                            r"\(HistGradientBoostingRegressor\) is off by 0\.\d\d °C on average "
                            r"\(MAE\) over the test span 9 Mar 2026 to 11 Mar 2026, \d+% better "
                            r"than the seasonal naive baseline's 0\.\d\d °C\.", line)
               for line in lines), lines
    assert ("Data quality of stream weather-tmy (480 rows): 4 missing air temperature values, "
            "2 air temperature readings out of range, 2 late arrivals, 4 duplicate "
            "readings.") in lines
    html = (base_run / "report.html").read_text()
    assert html.index('id="findings"') < html.index('id="stream-weather-tm2"') < \
        html.index('id="lineage"')


def test_many_anomalies_name_their_busiest_days_and_the_rest_is_counted(run):
    import pandas as pd
    path = run / "series" / "weather-tm2.parquet"
    series = pd.read_parquet(path)
    series["anomaly"] = series.index % 20 == 0  # 12 flagged, on 10 days
    series.to_parquet(path)
    lines = report.anomaly_findings(charts.read_run(run), "weather-tm2")
    # hours 0, 20, ..., 220: two on 1 and 6 March, one on each of 8 other days
    assert len(lines) == 1 and re.fullmatch(
        r"12 anomalies in station-12839's air temperature \(stream weather-tm2\), most on "
        r"1 Mar 2026 \(2\), 2 Mar 2026 and 6 Mar 2026 \(2\), the rest on 7 other days; the "
        r"strongest [\d.]+ °C at 2026-03-\d\d \d\d:00 UTC\.", lines[0]), lines
    assert report.anomaly_findings(charts.read_run(run), "weather-tm2", limit=0) == [
        "12 more anomalies in stream weather-tm2's other sources and fields (see below)."]


def test_a_forecast_worse_than_its_baseline_says_so(run):
    results = json.loads((run / "results.json").read_text())
    forecast = results["streams"]["weather-tm2"]["forecast"]
    forecast["metrics"]["mae"] = 1.5
    forecast["baseline"]["metrics"]["mae"] = 1.0
    (run / "results.json").write_text(json.dumps(results))
    line = report.forecast_finding(charts.read_run(run), "weather-tm2")
    assert line.endswith("is off by 1.50 °C on average (MAE) over the test span 9 Mar 2026 to "
                         "11 Mar 2026, 50% worse than the seasonal naive baseline's 1.00 °C.")


def test_every_stream_has_its_charts_tables_and_contributors(base_run):
    html = (base_run / "report.html").read_text()
    for stream, spec in STREAMS.items():
        fields = [f["name"] for f in spec["schema"]["fields"] if f["type"] == "float"]
        ids = [f"chart-{stream}-series-{i}" for i in range(len(fields))] + \
            [f"chart-{stream}-{kind}" for kind in ("forecast", "quality", "contributors")]
        for div in ids:
            assert html.count(f'<div id="{div}" class="plotly-graph-div"') == 1, div
        for source in spec["sources"]:
            assert f"<td>{spec['producer'][0]}</td><td>producer</td><td>{source}</td>" in html
    assert "<th>MAE °C</th>" in html and "air_temperature (°C)" in html
    assert html.count('class="plotly-graph-div"') == 9  # series: 2 + 1 fields; 3 more each


def test_the_report_is_self_contained(base_run):
    html = (base_run / "report.html").read_text()
    assert html.count("<script") == html.count("</script>")
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|<img\b|<iframe\b|@import|url\(http",
                         html, re.I)
    assert "Plotly.newPlot" in html and len(html) > 3_000_000  # plotly.js inlined


def test_the_same_run_renders_the_same_bytes(base_run, run):
    report.write_report(run)
    assert (run / "report.html").read_bytes() == (base_run / "report.html").read_bytes()
    for png in (base_run / "charts").glob("*.png"):
        assert (run / "charts" / png.name).read_bytes() == png.read_bytes(), png.name


def test_names_from_the_ledger_are_escaped(run):
    results = json.loads((run / "results.json").read_text())
    results["streams"]["weather-tm2"]["contributors"][0]["producer_id"] = "<script>x()</script>"
    (run / "results.json").write_text(json.dumps(results))
    html = (run / report.write_report(run, charts=False).name).read_text()
    assert "<script>x()</script>" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html


def test_write_charts_draws_each_kind_per_stream_as_png(run):
    (run / "forecast" / "weather-tm2.parquet").unlink()  # a stream without a forecast
    shutil.rmtree(run / "charts")
    written = charts.write_charts(run)
    assert set(written) == {f"{s}-{k}" for s in STREAMS
                            for k in ("series", "forecast", "quality", "contributors")} - \
        {"weather-tm2-forecast"}
    for name, path in written.items():
        assert path == run / "charts" / f"{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (run / "charts").iterdir()) == \
        sorted(f"{name}.png" for name in written)
    html = report.write_report(run, charts=False).read_text()
    assert 'id="chart-weather-tm2-forecast"' not in html
    assert 'id="chart-weather-tmy-forecast"' in html


def test_a_directory_that_is_not_a_run_is_named(tmp_path):
    with pytest.raises(ConfigError, match="has no results.json"):
        report.write_report(tmp_path)
    (tmp_path / "results.json").write_text("[1]")
    with pytest.raises(ConfigError, match="has no 'streams' object"):
        charts.read_run(tmp_path)


def test_report_command_renders_and_prints_the_findings(run, capsys):
    (run / "report.html").unlink()
    assert main(["report", str(run), "--no-charts"]) == 0
    out = capsys.readouterr().out
    assert f"report: {run / 'report.html'}" in out.replace("\n", "")
    assert "3 anomalies in station-723170's air temperature" in out
    assert (run / "report.html").is_file()
    assert main(["report", str(run / "charts")]) == 1
    assert "ConfigError" in capsys.readouterr().err


def test_verify_report_names_a_file_without_a_receipt_before_any_network_call(run, tmp_path,
                                                                             capsys):
    state = str(tmp_path / "no-network")
    assert main(["verify", "report", str(run), "--state-dir", state]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ConfigError: ") and "holds no lineage.json" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["verify", "report", str(run / "report.html"), "--state-dir", state]) == 1
    err = capsys.readouterr().err
    assert "report.html shows no lineage receipt" in err.replace("\n", "")


def test_a_long_series_is_summarised_by_day_and_a_short_one_is_not():
    import pandas as pd
    times = pd.date_range("2026-01-01", periods=24 * 60, freq="h", tz="UTC")
    rows = pd.DataFrame({"time": times, "value": [float(i % 24) for i in range(len(times))]})
    days = charts.daily(rows)
    assert len(days) == 60
    assert (days["mean"] == 11.5).all() and (days["min"] == 0).all() and (days["max"] == 23).all()
    assert charts.daily(rows.iloc[: 24 * 40]) is None  # 40 days: every point drawn
