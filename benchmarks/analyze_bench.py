"""Benchmark: ``analyze`` on Dask against a plain pandas script, on the same synthetic lake.

    .venv/bin/python benchmarks/analyze_bench.py [--rows 10000000] [--lake DIR] [--no-append]

The lake (``tests/analyze_lakes.py``'s model: 10 sources, a reading every 5 s each, batches
of 1,000, 10 a block, a sync step of 20 blocks a file per date) is written once. Each
contender then runs in its own process from a cold start, and a sampler sums the resident
memory of that process and all its children (the Dask client and its worker processes)
every 50 ms:

- Dask: ``ledgerlake.analytics.analyze.analyze`` on the LocalCluster the cluster rule
  starts (its default sizing for this machine).
- pandas: ``pd.read_parquet`` of the columns the analysis needs, then the same aggregates
  (statistics per source, field and day with pandas' quantiles, missing and out-of-range
  counts, duplicates, hourly means, late and out-of-order arrivals in ledger order,
  contributors, the Merkle root of the commitments in ledger order) and the same models
  fitted on the hourly series.

Results are appended to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
import machine  # noqa: E402

SOURCES, BATCH, PER_BLOCK, STEP, INTERVAL = 10, 1000, 10, 20, 5


def write_lake(lake_dir: Path, n_rows: int) -> None:
    """The synthetic lake, one sync step at a time (bounded memory)."""
    import analyze_lakes as lakes

    rows_per_block = BATCH * PER_BLOCK
    first_block = 10                           # analyze_lakes numbers blocks from 10
    end_block = first_block + -(-n_rows // rows_per_block)
    block = first_block
    while block < end_block:
        stop = min((block // STEP + 1) * STEP, end_block)   # the end of block's sync step
        lo, hi = (block - first_block) * rows_per_block, \
            min((stop - first_block) * rows_per_block, n_rows)
        frame = lakes.rows(lo, hi, sources=SOURCES, batch=BATCH, per_block=PER_BLOCK,
                           interval=INTERVAL, seed=5)
        lakes.write(lake_dir, frame, step=STEP)
        block = stop
    lakes.write_meta(lake_dir, {"weather": (lakes.SCHEMA, n_rows)}, end_block - 1)


def measure(cmd: list[str]) -> dict:
    """Wall time and peak summed RSS of ``cmd``'s process tree (sampled every 50 ms)."""
    import psutil

    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    peak, peak_procs = 0, 0
    cpu: dict[int, float] = {}           # pid -> the last CPU seconds seen
    stop = threading.Event()

    def sample():
        nonlocal peak, peak_procs
        while not stop.is_set():
            try:
                procs = [parent] + parent.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            total = 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                    times = p.cpu_times()
                    cpu[p.pid] = times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            if total > peak:
                peak, peak_procs = total, len(procs)
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.monotonic() - start
    stop.set()
    sampler.join()
    if proc.returncode:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return {"wall": wall, "peak": peak, "processes": peak_procs, "cpu": sum(cpu.values()),
            "report": json.loads(stdout.strip().splitlines()[-1])}


DASK_RUN = """
import json, sys, time
from ledgerlake.analytics.analyze import analyze
if __name__ == "__main__":
    t = time.monotonic()
    r = analyze(sys.argv[1], sys.argv[2])
    w = r["streams"]["weather"]
    print(json.dumps({"seconds": time.monotonic() - t, "rows": r["inputs"]["rows"],
                      "merkle_root": r["inputs"]["merkle_root"],
                      "p50": w["statistics"]["overall"]["temperature_c"]["p50"],
                      "late": w["quality"]["late"], "duplicates": w["quality"]["duplicates"],
                      "workers": r["run"]["cluster"]["workers"]}))
"""


def pandas_analysis(lake_dir: str) -> dict:
    """The plain-pandas contender: everything in one process, one frame."""
    import numpy as np
    import pandas as pd

    from ledgerlake import records
    from ledgerlake.analytics import lake
    from ledgerlake.analytics.models import AnomalyDetector, Forecaster, lag_features, \
        metrics, residuals, seasonal_naive

    t = time.monotonic()
    fields = ["temperature_c", "humidity_pct", "pressure_hpa"]
    bounds = {f.name: (f.min, f.max) for f in __import__("analyze_lakes").SCHEMA.fields}
    df = pd.read_parquet(lake.stream_dir(lake_dir, "weather"),
                         columns=fields + ["time", "_source", "_block", "_tx", "_index",
                                           "_commitment", "_producer_msp", "_producer_id",
                                           "_batch_id"])
    out = {}
    for scope, frame in [("overall", df)] + list(df.groupby("_source")):
        out[scope] = frame[fields].describe().to_dict()
    missing = df[fields].isna().sum().to_dict()
    oor = {f: int(((df[f] < bounds[f][0]) | (df[f] > bounds[f][1])).sum()) for f in fields}
    day = df["time"].dt.floor("1D")
    windows = df.groupby(["_source", day])[fields].agg(["count", "mean", "std", "min", "max"])
    hour = df["time"].dt.floor("1h")
    hourly = df.groupby(["_source", hour])[fields].mean()
    duplicates = int(df.duplicated(["_source", "time"]).sum())
    df = df.sort_values(list(lake.LEDGER_ORDER), kind="stable", ignore_index=True)
    root = records.merkle_root([bytes.fromhex(c) for c in df["_commitment"]]).hex()
    t_ns = df["time"].astype("datetime64[ns, UTC]").astype("int64")
    g = t_ns.groupby(df["_source"])
    ooo = int((t_ns < g.shift(1)).sum())
    late = int((t_ns < g.cummax().groupby(df["_source"]).shift(1) - 3600 * 10**9).sum())
    contributors = df.groupby(["_producer_msp", "_producer_id", "_source"]).agg(
        batches=("_batch_id", "nunique"), records=("_batch_id", "size"),
        first_block=("_block", "min"), last_block=("_block", "max"))
    del df
    skill = []
    for source, frame in hourly.groupby(level=0):
        frame = frame.droplevel(0)
        AnomalyDetector(threshold=4.0, random_state=0).fit(residuals(frame, 7).to_numpy())
        y = frame["temperature_c"].asfreq("1h")
        X = lag_features(y, horizon=24, period=24)
        split = int(len(y) * 0.8)
        if split < 48:
            continue
        ok = y.notna()
        model = Forecaster(random_state=0).fit(X[:split][ok[:split]].to_numpy(),
                                              y[:split][ok[:split]].to_numpy())
        test = X[split:].assign(_y=y[split:], _b=seasonal_naive(y, 24)[split:]).dropna(
            subset=["_y", "_b"])
        pred = model.predict(test[X.columns].to_numpy())
        skill.append(1 - metrics(test["_y"], pred)["mae"] / metrics(test["_y"], test["_b"])["mae"])
    return {"seconds": time.monotonic() - t, "rows": int(sum(contributors["records"])),
            "merkle_root": root, "p50": out["overall"]["temperature_c"]["50%"], "late": late,
            "ooo": ooo, "duplicates": duplicates, "windows": len(windows),
            "missing": int(sum(missing.values())), "oor": sum(oor.values()),
            "skill": float(np.mean(skill))}


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--lake", type=Path, help="Keep (or reuse) the lake here.")
    parser.add_argument("--no-append", action="store_true")
    parser.add_argument("--pandas", metavar="LAKE", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.pandas:
        print(json.dumps(pandas_analysis(opts.pandas)))
        return
    with tempfile.TemporaryDirectory(prefix="analyze-bench-") as tmp:
        lake_dir = opts.lake or Path(tmp) / "lake"
        if not (lake_dir / "_ledgerlake" / "lake.json").exists():
            t = time.monotonic()
            write_lake(lake_dir, opts.rows)
            print(f"lake of {opts.rows:,} rows written in {time.monotonic() - t:.0f} s",
                  file=sys.stderr)
        size = sum(p.stat().st_size for p in lake_dir.rglob("*.parquet"))
        files = sum(1 for _ in lake_dir.rglob("*.parquet"))
        load_before = load_average()
        busy0, t0 = machine.machine_busy_seconds(), time.monotonic()
        dask = measure([sys.executable, "-c", DASK_RUN, str(lake_dir), str(Path(tmp) / "out")])
        busy_dask = (machine.machine_busy_seconds() - busy0) / (time.monotonic() - t0)
        busy0, t0 = machine.machine_busy_seconds(), time.monotonic()
        pandas = measure([sys.executable, __file__, "--pandas", str(lake_dir)])
        busy_pandas = (machine.machine_busy_seconds() - busy0) / (time.monotonic() - t0)
        load_after = load_average()
    same = {k: (dask["report"][k], pandas["report"][k])
            for k in ("rows", "merkle_root", "p50", "late", "duplicates")}
    agree = all(a == b for a, b in same.values())
    mib = 2**20
    lines = [
        "| contender | rows | wall s | CPU s (all processes) | peak MiB (all processes) | "
        "processes | machine busy |",
        "|---|---|---|---|---|---|---|",
        f"| Dask (LocalCluster, {dask['report']['workers']} workers) | {opts.rows:,} | "
        f"{dask['wall']:.1f} | {dask['cpu']:.0f} | {dask['peak'] / mib:,.0f} | "
        f"{dask['processes']} | {busy_dask:.0%} |",
        f"| pandas (one process) | {opts.rows:,} | {pandas['wall']:.1f} | "
        f"{pandas['cpu']:.0f} | {pandas['peak'] / mib:,.0f} | {pandas['processes']} | "
        f"{busy_pandas:.0%} |",
        "",
        f"Dask/pandas: wall {dask['wall'] / pandas['wall']:.2f}×, peak memory "
        f"{dask['peak'] / pandas['peak']:.2f}× (targets: ≤ 1×, ≤ 0.33×). Lake: {files} "
        f"Parquet files, {size / mib:,.0f} MiB. Both agree on rows, Merkle root, median, "
        f"late arrivals and duplicates: {'yes' if agree else 'NO: ' + json.dumps(same)}. "
        f"Load average (1/5/15 min) before {load_before}, after {load_after} (other work on "
        f"the machine inflates both timings).",
        "",
        "`benchmarks/analyze_bench.py`: each contender a cold process (imports and, for Dask, "
        "the LocalCluster's start included); memory is the summed RSS of the process and its "
        "children (client + worker processes) sampled every 50 ms; CPU is their user + "
        "system seconds as last sampled (a worker's final ~50 ms may be missed).",
    ]
    print("\n".join(lines))
    if not opts.no_append:
        machine.append("Analyze: Dask against plain pandas (issue 9)", lines)


if __name__ == "__main__":
    main()
