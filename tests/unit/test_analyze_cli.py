"""``ledgerlake analyze``: explains itself, refuses mistakes in one line, and runs a lake to
a summary (or JSON) with its outputs where it says."""

from __future__ import annotations

import json

import analyze_lakes as lakes
from ledgerlake.cli import main


def _one_line_error(capsys, *args, code: int = 1) -> str:
    assert main(list(args)) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines and "Traceback" not in captured.err, captured.err
    return lines[-1] if code == 2 else lines[0]


def test_help_explains_the_analysis_and_the_cluster_rule(capsys):
    assert main(["analyze", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("IsolationForest", "seasonal-naive", "DASK_SCHEDULER_ADDRESS",
                   "local cluster", "Merkle root", "--stream ID", "--from TIME"):
        assert phrase in text


def test_a_missing_lake_says_to_sync_first(tmp_path, capsys):
    line = _one_line_error(capsys, "analyze", "--lake", str(tmp_path / "none"),
                           "--out", str(tmp_path / "out"))
    assert line.startswith("ConfigError:") and "ledgerlake sync" in line


def test_bad_parameters_and_times_are_named(tmp_path, capsys):
    lakes.make_lake(tmp_path / "lake", lakes.rows(0, 48))
    line = _one_line_error(capsys, "analyze", "--lake", str(tmp_path / "lake"),
                           "--out", str(tmp_path / "o1"), "--param", "bucket=soon")
    assert line == ("ConfigError: parameter bucket='soon' is not allowed: give a positive "
                    "duration (e.g. 1h, 15min, 1D)")
    line = _one_line_error(capsys, "analyze", "--lake", str(tmp_path / "lake"),
                           "--out", str(tmp_path / "o2"), "--from", "yesterday")
    assert line.startswith("ConfigError: time_from 'yesterday' is neither nanoseconds nor")
    line = _one_line_error(capsys, "analyze", "--lake", str(tmp_path / "lake"),
                           "--param", "novalue", code=2)
    assert "is not KEY=VALUE" in line


def test_bad_values_fail_up_front_in_one_line_naming_the_key(tmp_path, capsys):
    lakes.make_lake(tmp_path / "lake", lakes.rows(0, 48))
    for n, (param, key) in enumerate([
            ("test_fraction=abc", "test_fraction"), ("target=x", "target"),
            ("horizon=abc", "horizon"), ("season=0", "season"), ("z_window=0", "z_window"),
            ("top=a", "top"), ("bucket=0h", "bucket"), ("window=-1h", "window"),
            ("n_estimators=1.5", "n_estimators"), ("z_threshold=true", "z_threshold")]):
        out_dir = tmp_path / f"o{n}"
        line = _one_line_error(capsys, "analyze", "--lake", str(tmp_path / "lake"),
                               "--out", str(out_dir), "--param", param)
        assert line.startswith(f"ConfigError: parameter {key}=") and "give " in line, line
        assert not out_dir.exists()  # refused before anything ran or was made


def test_an_unwritable_out_fails_before_computing(tmp_path, capsys):
    lakes.make_lake(tmp_path / "lake", lakes.rows(0, 48))
    (tmp_path / "file").write_text("x")
    line = _one_line_error(capsys, "analyze", "--lake", str(tmp_path / "lake"),
                           "--out", str(tmp_path / "file" / "x"), "--no-anchor")
    assert line.startswith("ConfigError: the output directory") and "--out" in line


def test_a_run_prints_its_findings_and_json(tmp_path, capsys):
    frame = lakes.rows(0, 2 * 24 * 12, sources=2, seed=2)
    frame.loc[frame.index[300], "temperature_c"] = 99.0           # out of range, a spike
    lakes.make_lake(tmp_path / "lake", frame)
    assert main(["analyze", "--lake", str(tmp_path / "lake"), "--out", str(tmp_path / "out"),
                 "--json", "--no-anchor"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["out_dir"] == str(tmp_path / "out")
    assert results["report"] == str(tmp_path / "out" / "report.html")  # and its receipt,
    assert results["lineage"]["anchor"] is None  # written, not anchored (--no-anchor)
    assert (tmp_path / "out" / "lineage.json").exists()
    assert results["streams"]["weather"]["quality"]["out_of_range"]["temperature_c"] == 1
    assert (tmp_path / "out" / "results.json").exists()
    # the same outputs directory is never overwritten
    line = _one_line_error(capsys, "analyze", "--lake", str(tmp_path / "lake"),
                           "--out", str(tmp_path / "out"))
    assert line.startswith("ConfigError:") and "already holds files" in line
