"""``analyze`` on a LocalCluster against a synthetic lake with planted faults, and its pure
rules (Merkle subtrees, block-range groups, arrivals, sort keys).

Exactness: every aggregate equals pandas' own, computed straight from the same Parquet
files (counts, minima, maxima and quantiles to the bit; means and standard deviations to
1e-12 relative, as a distributed sum adds in another order)."""

from __future__ import annotations

import hashlib
import json
import random

import joblib
import numpy as np
import pandas as pd
import pytest

import analyze_lakes as lakes
from ledgerlake import records
from ledgerlake.analytics import lake
from ledgerlake.analytics.analyze import (
    analyze,
    arrival_counts,
    block_groups,
    date_chunks,
    fold_subtrees,
    from_sort_key,
    merkle_subtrees,
    perfect_root,
    sort_key,
    units_of,
)
from ledgerlake.errors import ConfigError

HOUR = 3600 * 10**9
FIELDS = ["temperature_c", "humidity_pct", "pressure_hpa"]
SPIKES = [("st-0", 100, 12.0), ("st-1", 300, -11.0), ("st-2", 500, 13.0)]  # k, +°C
OUT_OF_RANGE = [("st-2", 200, "temperature_c", 75.0), ("st-0", 400, "pressure_hpa", 700)]


# -- pure rules ------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(12))
def test_aligned_subtrees_fold_to_the_merkle_root_of_all_leaves(seed):
    rng = random.Random(seed)
    n = rng.randint(0, 300)
    leaves = [hashlib.sha256(bytes([seed, i % 256, i // 256])).digest() for i in range(n)]
    cuts = sorted(rng.sample(range(1, n), min(rng.randint(0, 6), max(n - 1, 0)))) if n > 1 \
        else []
    bounds = [0, *cuts, n]
    subtrees = [t for lo, hi in zip(bounds, bounds[1:])
                for t in merkle_subtrees(leaves[lo:hi], lo)]
    assert fold_subtrees(subtrees) == records.merkle_root(leaves)


@pytest.mark.parametrize("c", [True, False], ids=["C digests", "hashlib"])
@pytest.mark.parametrize("k", [0, 1, 2, 5, 10])
def test_perfect_subtree_roots_are_the_records_merkle_root(k, c, monkeypatch):
    from ledgerlake import fastrecords

    if not c:
        monkeypatch.setattr(fastrecords, "_digests", None)
    leaves = [hashlib.sha256(bytes([k, i % 256, i // 256])).digest() for i in range(1 << k)]
    array = np.frombuffer(b"".join(leaves), dtype=np.uint8).reshape(-1, 32)
    assert perfect_root(array) == records.merkle_root(leaves)
    assert merkle_subtrees(array[3:], 3) == merkle_subtrees(leaves[3:], 3)


def test_units_join_whole_block_groups_in_ledger_order_until_they_are_big_enough():
    groups = [{"first": 10 * i, "last": 10 * i + 9, "files": {"a": [f"a{i}"], "b": [f"b{i}"]}}
              for i in range(5)]
    units = units_of(groups, [50, 60, 200, 10, 5], least=100)
    assert [(u["first"], u["last"], u["rows"]) for u in units] == \
        [(0, 19, 110), (20, 29, 200), (30, 49, 15)]
    assert units[0]["files"] == {"a": ["a0", "a1"], "b": ["b0", "b1"]}
    assert units_of([], []) == []


def test_date_chunks_hold_whole_dates(tmp_path):
    files = [tmp_path / f"date=2026-01-0{d}" / f"part-{n}.parquet"
             for n, d in enumerate((3, 1, 2, 1))]
    rows = {str(f): 40 for f in files}
    chunks = date_chunks(files, rows, least=70)
    assert [[p.split("/")[-2] for p in c] for c in chunks] == \
        [["date=2026-01-01", "date=2026-01-01"], ["date=2026-01-02", "date=2026-01-03"]]


def test_block_groups_merge_overlapping_ranges_in_ledger_order(tmp_path):
    names = ["part-000000000010-000000000019.parquet", "part-000000000000-000000000009.parquet",
             "part-000000000015-000000000024.parquet", "part-000000000030-000000000039.parquet"]
    files = [("a", tmp_path / "date=2026-01-01" / n) for n in names]
    groups = block_groups(files)
    assert [(g["first"], g["last"]) for g in groups] == [(0, 9), (10, 24), (30, 39)]
    assert [len(g["files"]["a"]) for g in groups] == [1, 2, 1]


def test_arrivals_out_of_order_and_late_against_the_sources_watermark():
    t = np.array([0, 1, 3, 2, 4, 1], dtype=np.int64) * HOUR
    # 2 after 3 (out of order, 1 h behind: not late); 1 after 4 (out of order and 3 h behind)
    assert arrival_counts(t, None, HOUR) == (2, 1)
    # carried in from earlier block ranges: last time 5 h, latest 9 h
    assert arrival_counts(np.array([6, 7], dtype=np.int64) * HOUR, (5 * HOUR, 9 * HOUR),
                          HOUR) == (0, 2)
    assert arrival_counts(np.array([], dtype=np.int64), None, HOUR) == (0, 0)


def test_sort_keys_order_like_the_floats():
    x = np.array([3.5, -2.0, 0.0, -1e300, 1e-300, 7.25, -0.5, np.inf, -np.inf])
    assert np.argsort(sort_key(x), kind="stable").tolist() == \
        np.argsort(x, kind="stable").tolist()


def test_sort_keys_give_the_floats_back_bit_for_bit():
    x = np.array([3.5, -2.0, 0.0, -0.0, -1e300, 5e-324, 7.25, np.inf, -np.inf])
    assert from_sort_key(sort_key(x)).tobytes() == x.tobytes()


def test_the_analysis_cannot_reach_the_ledger():
    """No gRPC channel or key can go into a Dask task: the analysis modules load neither
    gRPC nor the client (keys, gateway) at all."""
    import subprocess
    import sys

    code = ("import sys, ledgerlake.analytics.analyze, ledgerlake.analytics.cluster, "
            "ledgerlake.analytics.models\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'grpc' or "
            "m.startswith('ledgerlake.client')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_unknown_stream_and_parameter_are_one_line_config_errors(tmp_path):
    lakes.make_lake(tmp_path, lakes.rows(0, 48))
    with pytest.raises(ConfigError, match="stream 'nope' is not in the lake"):
        analyze(tmp_path, tmp_path / "out", streams=["nope"])
    with pytest.raises(ConfigError, match="unknown analysis parameter 'zz'"):
        analyze(tmp_path, tmp_path / "out", params={"zz": 1})
    with pytest.raises(ConfigError, match="is not a ledgerlake lake"):
        analyze(tmp_path / "empty", tmp_path / "out")


# -- the whole run ---------------------------------------------------------------------------
def _planted_frame() -> pd.DataFrame:
    sources, days = 3, 30
    frame = lakes.rows(0, sources * 24 * days, sources=sources, seed=7)
    k = (frame["time"] - lakes.START) // pd.Timedelta(hours=1)
    at = lambda src, kk: frame.index[(frame["_source"] == src) & (k == kk)][0]  # noqa: E731
    for src, kk, delta in SPIKES:
        frame.loc[at(src, kk), "temperature_c"] += delta
    for src, kk, field, value in OUT_OF_RANGE:
        frame.loc[at(src, kk), field] = value
    for kk in (10, 11, 250, 251, 600):
        frame.loc[at("st-1", kk), "humidity_pct"] = np.nan
    # st-1 reads two times swapped within a batch: one out-of-order arrival, not late
    a, b = at("st-1", 50), at("st-1", 51)
    frame.loc[[a, b], "time"] = frame.loc[[b, a], "time"].to_numpy()
    # st-0 resubmits four old readings in a later block: duplicates, late, one out of order
    again = frame.loc[[at("st-0", kk) for kk in (20, 21, 22, 23)]].copy()
    again["_block"] = frame["_block"].max() + 3
    again["_tx"] = 0
    again["_index"] = np.arange(4, dtype=np.int32)
    again["_batch_id"] = "resubmitted"
    again["_commitment"] = [hashlib.sha256(bytes([i])).hexdigest() for i in range(4)]
    return pd.concat([frame, again], ignore_index=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("analyze")
    lakes.make_lake(base / "lake", _planted_frame(), step=12)
    results = analyze(base / "lake", base / "out")
    return base, results


def _lake_frame(base) -> pd.DataFrame:
    """The lake as plain pandas reads it (the reference the pipeline must equal)."""
    return pd.read_parquet(lake.stream_dir(base / "lake", "weather"))


def _close(a, b):
    assert a == pytest.approx(b, rel=1e-12, abs=1e-12)


def test_statistics_equal_pandas_value_for_value(run):
    base, results = run
    df = _lake_frame(base)
    stats = results["streams"]["weather"]["statistics"]
    assert results["streams"]["weather"]["sources"] == ["st-0", "st-1", "st-2"]
    for scope, frame in [("overall", df)] + [(s, g) for s, g in df.groupby("_source")]:
        got_all = stats["overall"] if scope == "overall" else stats["by_source"][scope]
        for field in FIELDS:
            x = frame[field].astype("float64")
            got = got_all[field]
            assert got["count"] == int(x.count())
            assert got["missing"] == int(x.isna().sum())
            assert (got["min"], got["max"]) == (x.min(), x.max())
            assert (got["p25"], got["p50"], got["p75"]) == \
                (x.quantile(0.25), x.quantile(0.5), x.quantile(0.75))
            _close(got["mean"], x.mean())
            _close(got["std"], x.std())


def test_window_table_and_series_equal_pandas(run):
    base, results = run
    df = _lake_frame(base)
    table = pd.read_parquet(base / "out" / results["streams"]["weather"]["statistics"]
                            ["by_window"]["path"])
    day = df["time"].dt.floor("1D")
    ref = df.groupby([day, "_source"])["humidity_pct"].agg(["count", "mean", "std", "min",
                                                             "max"])
    got = table[table["field"] == "humidity_pct"].set_index(["window", "source"])
    assert len(got) == len(ref) == 3 * 30
    for key, row in ref.iterrows():
        g = got.loc[(key[0], key[1])]
        assert (g["count"], g["min"], g["max"]) == (row["count"], row["min"], row["max"])
        _close(g["mean"], row["mean"])
        _close(g["std"], row["std"])
    series = pd.read_parquet(base / "out" / "series" / "weather.parquet")
    hourly = df.groupby(["_source", df["time"].dt.floor("1h")])["temperature_c"].mean()
    temp = series[series["field"] == "temperature_c"].set_index(["source", "time"])["value"]
    assert len(temp) == len(hourly)
    np.testing.assert_allclose(temp.loc[hourly.index].to_numpy(), hourly.to_numpy(),
                               rtol=1e-12)


def test_quality_counts_the_planted_faults(run):
    _, results = run
    q = results["streams"]["weather"]["quality"]
    assert q["rows"] == 3 * 24 * 30 + 4
    assert q["missing"] == {"temperature_c": 0, "humidity_pct": 5, "pressure_hpa": 0}
    assert q["out_of_range"] == {"temperature_c": 1, "humidity_pct": 0, "pressure_hpa": 1}
    assert q["duplicates"] == 4
    assert (q["late"], q["out_of_order"]) == (4, 2)
    assert (q["by_source"]["st-0"]["late"], q["by_source"]["st-0"]["out_of_order"]) == (4, 1)
    assert (q["by_source"]["st-1"]["late"], q["by_source"]["st-1"]["out_of_order"]) == (0, 1)
    assert q["by_source"]["st-1"]["missing"]["humidity_pct"] == 5


def test_anomalies_are_the_planted_spikes(run):
    _, results = run
    found = {(a["source"], a["time"], a["field"])
             for a in results["streams"]["weather"]["anomalies"]["top"]}
    planted = {(s, (lakes.START + pd.Timedelta(hours=k)).isoformat().replace("+00:00", "Z"),
                "temperature_c") for s, k, _ in SPIKES}
    planted.add(("st-2", (lakes.START + pd.Timedelta(hours=200)).isoformat()
                 .replace("+00:00", "Z"), "temperature_c"))
    assert planted <= found
    assert results["streams"]["weather"]["anomalies"]["count"] <= len(planted) + 2
    assert all(a["methods"] == ["isolation_forest", "robust_z"]
               for a in results["streams"]["weather"]["anomalies"]["top"])


def test_forecast_beats_the_seasonal_naive_baseline(run):
    base, results = run
    fc = results["streams"]["weather"]["forecast"]
    assert fc["target"] == "temperature_c"
    assert fc["metrics"]["mae"] < fc["baseline"]["metrics"]["mae"]
    assert fc["skill"] == pytest.approx(1 - fc["metrics"]["mae"] /
                                        fc["baseline"]["metrics"]["mae"])
    frame = pd.read_parquet(base / "out" / "forecast" / "weather.parquet")
    assert (frame["time"] >= pd.Timestamp(fc["test"][0])).all()
    err = frame["forecast"] - frame["actual"]
    _close(fc["metrics"]["mae"], err.abs().mean())
    _close(fc["metrics"]["rmse"], float(np.sqrt((err ** 2).mean())))
    _close(fc["baseline"]["metrics"]["mae"], (frame["baseline"] - frame["actual"]).abs().mean())


def test_inputs_merkle_root_and_blocks_follow_the_ledger_order(run):
    base, results = run
    df = _lake_frame(base).sort_values(list(lake.LEDGER_ORDER))
    root = records.merkle_root([bytes.fromhex(c) for c in df["_commitment"]])
    assert results["inputs"]["merkle_root"] == root.hex()
    assert results["inputs"]["blocks"] == [int(df["_block"].min()), int(df["_block"].max())]
    assert results["inputs"]["rows"] == len(df)


def test_contributors_say_who_sent_what(run):
    base, results = run
    df = _lake_frame(base)
    got = {(c["producer_msp"], c["source"]): (c["batches"], c["records"])
           for c in results["streams"]["weather"]["contributors"]}
    ref = df.groupby(["_producer_msp", "_source"])["_batch_id"].agg(["nunique", "size"])
    assert got == {k: (int(v["nunique"]), int(v["size"])) for k, v in ref.iterrows()}


def test_outputs_are_hashed_and_models_reload(run):
    base, results = run
    out = base / "out"
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["outputs"] == results["outputs"]
    assert set(results["outputs"]) == {"series/weather.parquet", "forecast/weather.parquet",
                                       "tables/weather-windows.parquet",
                                       "models/weather-anomaly.joblib",
                                       "models/weather-forecast.joblib"}
    for rel, digest in results["outputs"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest
    detectors = joblib.load(out / "models" / "weather-anomaly.joblib")
    assert sorted(detectors) == ["st-0", "st-1", "st-2"]
    assert detectors["st-0"].get_params()["threshold"] == results["run"]["params"]["z_threshold"]
    forecaster = joblib.load(out / "models" / "weather-forecast.joblib")
    assert forecaster.n_features_in_ == len(results["streams"]["weather"]["forecast"]
                                            ["features"])
    assert results["run"]["cluster"]["kind"] == "local"


def test_a_small_lake_runs_in_process_with_the_worker_processes_results(run, monkeypatch):
    """Below cluster.IN_PROCESS_ROWS the LocalCluster is one thread of this process; the
    results (statistics, quantiles, output files to the byte) are those of worker
    processes."""
    from ledgerlake.analytics import cluster

    base, results = run
    assert results["run"]["cluster"]["workers"] == 1
    monkeypatch.setattr(cluster, "IN_PROCESS_ROWS", 0)
    apart = analyze(base / "lake", base / "processes")
    assert apart["run"]["cluster"]["kind"] == "local" and apart["run"]["cluster"]["workers"] > 1
    assert {k: v for k, v in apart["inputs"].items()} == results["inputs"]
    assert apart["streams"] == results["streams"]
    assert apart["outputs"] == results["outputs"]


def test_a_time_window_reads_only_its_records(run):
    base, _ = run
    t0, t1 = "2026-01-05T00:00:00Z", "2026-01-09T12:00:00Z"
    results = analyze(base / "lake", base / "window", time_from=t0, time_to=t1)
    df = _lake_frame(base)
    df = df[(df["time"] >= pd.Timestamp(t0)) & (df["time"] < pd.Timestamp(t1))]
    df = df.sort_values(list(lake.LEDGER_ORDER))
    assert results["inputs"]["rows"] == len(df) == 3 * 24 * 4 + 3 * 12
    assert results["inputs"]["merkle_root"] == \
        records.merkle_root([bytes.fromhex(c) for c in df["_commitment"]]).hex()
    assert results["inputs"]["time_from"] == t0
    stats = results["streams"]["weather"]["statistics"]["overall"]["temperature_c"]
    assert (stats["count"], stats["p50"]) == (len(df), df["temperature_c"].quantile(0.5))


def test_two_streams_share_blocks_and_one_merkle_root(tmp_path):
    """Rows of two streams interleave in the same blocks: the root covers both, in ledger
    order, and each stream keeps its own statistics."""
    a = lakes.rows(0, 2 * 24 * 10, sources=2, seed=21)
    b = lakes.rows(0, 2 * 24 * 10, sources=2, seed=22)
    b["_tx"] = b["_tx"] + 2                       # same blocks, later transactions
    b["temperature_c"] += 100
    lakes.write(tmp_path, a, stream="north", step=4)
    lakes.write(tmp_path, b, stream="south", step=4)
    lakes.write_meta(tmp_path, {"north": (lakes.SCHEMA, len(a)), "south": (lakes.SCHEMA, len(b))})
    results = analyze(tmp_path, tmp_path / "out", params={"top": 3})
    both = pd.concat([a, b]).sort_values(list(lake.LEDGER_ORDER))
    assert results["inputs"]["streams"] == ["north", "south"]
    assert results["inputs"]["merkle_root"] == \
        records.merkle_root([bytes.fromhex(c) for c in both["_commitment"]]).hex()
    south = results["streams"]["south"]["statistics"]["overall"]["temperature_c"]
    assert south["p50"] == b["temperature_c"].quantile(0.5)
    assert results["streams"]["north"]["quality"]["rows"] == len(a)
    only = analyze(tmp_path, tmp_path / "only", streams=["south"])
    assert only["inputs"]["merkle_root"] == \
        records.merkle_root([bytes.fromhex(c) for c in b["_commitment"]]).hex()


def test_files_of_an_earlier_schema_version_read_their_missing_fields_as_missing(tmp_path):
    """A stream whose schema gained a field: files written before lack its column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = lakes.rows(0, 2 * 24 * 10, sources=2, seed=31)
    paths = lakes.write(tmp_path, frame, step=4)
    lakes.write_meta(tmp_path, {"weather": (lakes.SCHEMA, len(frame))})
    old = paths[0]                                  # written before humidity_pct existed
    table = pq.read_table(old)
    pq.write_table(table.drop_columns(["humidity_pct"]), old)
    results = analyze(tmp_path, tmp_path / "out")
    q = results["streams"]["weather"]["quality"]
    assert q["missing"]["humidity_pct"] == table.num_rows
    assert q["rows"] == len(frame)
    assert pa.Table.from_pandas(frame).num_rows == results["inputs"]["rows"]


def test_a_run_waits_for_no_sync_and_its_outputs_are_owner_only(tmp_path):
    import os

    lakes.make_lake(tmp_path / "lake", lakes.rows(0, 48))
    with lake.locked(tmp_path / "lake", shared=False):  # a sync rewriting files
        with pytest.raises(ConfigError, match="being written by a sync"):
            with lake.locked(tmp_path / "lake", shared=True, wait=False):
                pass
    old = os.umask(0o022)
    try:
        analyze(tmp_path / "lake", tmp_path / "out")
    finally:
        os.umask(old)
    paths = [tmp_path / "out", *(tmp_path / "out").rglob("*")]
    assert any(p.suffix == ".parquet" for p in paths)
    for p in paths:
        assert p.stat().st_mode & 0o777 == (0o700 if p.is_dir() else 0o600), p


def test_the_lake_lock_holds_a_sync_off_while_analyze_reads(tmp_path, monkeypatch):

    from ledgerlake.analytics import analyze as module

    lakes.make_lake(tmp_path / "lake", lakes.rows(0, 48))
    seen = {}
    real = module._compute

    def compute(*args):
        with pytest.raises(ConfigError):  # the writer's side cannot take it meanwhile
            with lake.locked(tmp_path / "lake", shared=False, wait=False):
                pass
        seen["checked"] = True
        return real(*args)

    monkeypatch.setattr(module, "_compute", compute)
    analyze(tmp_path / "lake", tmp_path / "out")
    assert seen["checked"]
    with lake.locked(tmp_path / "lake", shared=False, wait=False):  # released after
        pass
