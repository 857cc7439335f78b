"""The main job end to end on a real network: the demo's story (dataset → two organisations'
streams → ingest → sync → analyze → report → verify) run once through the library, then
again through the CLI, which must duplicate nothing.

The exactness test: what the pipeline computed from the ledger (the lake's rows, and the
analysis' statistics over them) equals, value for value, what pandas computes straight
from the source files, minus the rows the manifest says the ingestion rejects."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from ledgerlake.analytics import dataset, lake
from ledgerlake.cli import main
from ledgerlake.client.demo import STORY_STREAMS, run_story
from networks import network_up

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
STATS = ("count", "missing", "mean", "std", "min", "p25", "p50", "p75", "max")


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    yield from network_up(tmp_path_factory, "mainjob", 27100)


@pytest.fixture(scope="module")
def story(net):
    orgs = [(o.name, o.msp_id) for o in net.layout.orgs]
    return run_story(lambda who: net.contract(*who.split("/")), orgs,
                     {o.name: net.org_key_path(o.name) for o in net.layout.orgs},
                     state_dir=net.state_dir, settle=net.settle)


def _station_stream(station: str) -> str:
    return next(s for s, stations in STORY_STREAMS if station in stations)


def _from_sources(story, station: str) -> pd.DataFrame:
    """A station's readings as pandas reads its CSV file: every row but those the manifest
    says the ingestion rejects; cells parsed by Python's own float()."""
    info = story.manifest["stations"][station]
    frame = pd.read_csv(story.data_dir / info["file"], dtype=str, keep_default_na=False)
    frame.index = range(1, len(frame) + 1)  # row numbers, as the manifest counts them
    frame = frame.drop(index=[r["row"] for r in info["rejected"]])
    out = pd.DataFrame({"time": pd.to_datetime(frame["time"], utc=True).astype(
        "datetime64[ns, UTC]"), "station": frame["station"]})
    for field in dataset.VALUE_FIELDS:
        out[field] = [float(t) if t != "" else np.nan for t in frame[field]]
    return out.reset_index(drop=True)


def _from_lake(story, station: str) -> pd.DataFrame:
    """A station's rows in the lake the sync wrote from the ledger."""
    stream = _station_stream(station)
    frame = pd.read_parquet(lake.stream_dir(story.lake_dir, stream))
    frame = frame[frame["_source"] == station].sort_values(list(lake.LEDGER_ORDER))
    return frame[["time", "station", *dataset.VALUE_FIELDS]].reset_index(drop=True)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns), na_position="first").reset_index(drop=True)


def _pandas_stats(values: pd.Series) -> dict:
    present = values.dropna()
    quantiles = present.quantile([0.25, 0.5, 0.75])
    return {"count": int(present.count()), "missing": int(values.isna().sum()),
            "mean": present.mean(), "std": present.std(), "min": present.min(),
            "p25": quantiles[0.25], "p50": quantiles[0.5], "p75": quantiles[0.75],
            "max": present.max()}


def test_the_first_run_commits_every_accepted_row_and_rejects_exactly_the_manifests(story):
    totals = story.manifest["totals"]
    assert story.committed == totals["accepted"] and story.rejected == totals["rejected"]
    lines = [json.loads(line) for path in story.reject_files.values()
             for line in path.read_text().splitlines()]
    assert sorted((r["source"], r["where"], r["rule"]) for r in lines) == sorted(
        (station, r["where"], r["rule"])
        for station, info in story.manifest["stations"].items() for r in info["rejected"])
    assert all(story.created.values())
    assert story.sync.records == totals["accepted"]


def test_the_report_exists_and_its_lineage_is_anchored_and_verified(story):
    assert story.report.is_file() and story.report.name == "report.html"
    assert story.report.stat().st_size > 10_000
    assert (story.out_dir / "lineage.json").is_file()
    assert (story.out_dir / "results.json").is_file()
    assert story.verified is not None and getattr(story.verified, "ok", True)


def test_the_analysis_finds_the_planted_anomalies(story):
    hits, flagged, _ = dataset.anomaly_hits(story.manifest, story.results, story.out_dir)
    assert flagged, "the analysis flagged nothing"
    missed = [key for key, hit in hits.items() if not hit]
    assert missed == []


def test_the_quality_figures_match_what_was_planted(story):
    found = {f.what: f for f in story.findings}
    for what in ("rows rejected by ingestion", "duplicate readings", "missing values"):
        assert found[what].ok, found[what]


def test_exactness_the_lake_holds_the_source_rows_value_for_value(story):
    """Every accepted row of every source file is in the lake once, with the same values
    (the same doubles, the same missing cells), in the file's order within a station."""
    for station in story.manifest["stations"]:
        expected, got = _from_sources(story, station), _from_lake(story, station)
        assert len(got) == story.manifest["stations"][station]["accepted"]
        pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_exactness_the_analysis_statistics_equal_pandas_on_the_source_files(story):
    """Per station and field: count, missing, min, max and the quartiles identical; mean
    and standard deviation equal but for the last bits that another order of summation
    moves (Dask sums per partition, then combines; measured: at most 5e-16 relative)."""
    compared = 0
    for station in story.manifest["stations"]:
        expected = _from_sources(story, station)
        stream = story.results["streams"][_station_stream(station)]
        by_source = stream["statistics"]["by_source"][station]
        for field in dataset.VALUE_FIELDS:
            want, got = _pandas_stats(expected[field]), by_source[field]
            for stat in STATS:
                if stat in ("mean", "std"):
                    assert math.isclose(got[stat], want[stat], rel_tol=1e-13), \
                        (station, field, stat, got[stat], want[stat])
                else:
                    assert got[stat] == want[stat], (station, field, stat)
                compared += 1
    assert compared == 3 * len(dataset.VALUE_FIELDS) * len(STATS)


def test_a_second_run_duplicates_nothing(story, net, capsys):
    before = {s: len(pd.read_parquet(lake.stream_dir(story.lake_dir, s)))
              for s, _ in STORY_STREAMS}
    with net.contract("Org1", "analyst") as api:
        batches = {(s, station): len(list(api.items(api.list_batches, s, source=station)))
                   for s, stations in STORY_STREAMS for station in stations}
    assert main(["demo", "--state-dir", str(net.state_dir)]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "Nothing new this run" in printed and "the last analysis still holds" in printed
    assert str(story.report) in printed.replace("\n", "")  # the same report, verified again
    with net.contract("Org2", "analyst") as api:
        assert {(s, station): len(list(api.items(api.list_batches, s, source=station)))
                for s, stations in STORY_STREAMS for station in stations} == batches
    after = {s: pd.read_parquet(lake.stream_dir(story.lake_dir, s)) for s, _ in STORY_STREAMS}
    assert {s: len(f) for s, f in after.items()} == before
    assert all(f["_commitment"].is_unique for f in after.values())
