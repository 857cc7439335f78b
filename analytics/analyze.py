"""Analysis of the lake on Dask: statistics, data quality, anomalies and forecasts per stream.

``analyze(lake_dir, out_dir)`` reads only the lake (no ledger, no key) and writes
``results.json``, ``series/``, ``forecast/``, ``models/`` and ``tables/`` into ``out_dir``
(``ANALYTICS.md`` gives the shapes). How the work is split:

- **One read per unit of work.** Files are named by the block range a sync step wrote, so
  the rows of one block range, across streams and dates, follow every row of the ranges
  before it in ledger order (``lake.LEDGER_ORDER``). Consecutive block ranges are joined
  into units of at least ``UNIT_ROWS`` rows (whole ranges: a lake of many small files is a
  few tasks), and one task per unit reads the columns needed (``date`` partitions outside
  the time window pruned; strings of few values as Arrow dictionaries) and computes, with
  numpy on integer codes:
  - **statistics**: count, mean and M2 per source, window and field (two-pass within the
    unit, combined across units with Chan's formulas), minima, maxima, missing and
    out-of-range counts, hourly means, and a histogram of each value's leading 20 bits in
    an order-preserving integer form (``sort_key``);
  - **ledger-ordered facts**: each unit's first leaf index comes from the Parquet footers
    (or a count, when a time window cuts into files), so the unit computes its Merkle
    subtrees aligned at powers of two (their roots are nodes of the whole tree: the client
    folds them into ``records.merkle_root`` of all leaves), each source's record times in
    ledger order (folded by the client range by range into late and out-of-order counts,
    while later units are still read) and who contributed what;
  - the sorted ``sort_key`` values per source and field, which stay on the unit's worker:
    once the histograms are merged, the client names the bins holding the exact
    quantiles' ranks and each worker sends back only the values in those bins (exact, as
    pandas computes them; no second read of the lake).
- **Duplicate readings** (same source and time) are counted per run of whole ``date``
  partitions (every copy of a reading is in its time's partition), reading two columns.
- **Models are fitted on the client** after the reduction: the per-source series is
  resampled (hourly by default), so it is small (8,760 points a year) whatever the number
  of rows; fitting it is cheaper than shipping it.

Memory on a worker is bounded by one unit's columns while it is read, plus the sorted
values of its units (8 bytes per value, spilled to disk by Dask's memory limit when a lake
is larger than memory) until the quantiles are picked.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from ledgerlake import records
from ledgerlake.analytics import lake
from ledgerlake.errors import ConfigError

#: Parameters of a run (``params`` overrides them; results.json records the merged set).
DEFAULTS: dict[str, Any] = {
    "bucket": "1h",            # the series' time bucket (anomalies, forecast, charts)
    "window": "1D",            # the statistics' time window (tables/<id>-windows.parquet)
    "late_after": "1h",        # late: this far behind the source's latest earlier record
    "z_threshold": 2.0,        # outlier: a residual above this many times its usual size
    "anomaly_quantile": 0.99,  # ... its usual size: this quantile of |residual| at that phase
    "z_window": 7,             # residuals from the neighbours within z_window // 2 buckets
    "n_estimators": 100,       # IsolationForest trees
    "horizon": 24,             # forecast this many buckets ahead
    "season": 24,              # the seasonal period in buckets (baseline: seasonal naive)
    "test_fraction": 0.2,      # the last share of the time span is the test set
    "random_state": 0,
    "top": 20,                 # anomalies listed in results.json per stream
    "target": {},              # stream id -> field to forecast (default: first float)
}

QUANTILES = (("p25", 0.25), ("p50", 0.5), ("p75", 0.75))
BIN_SHIFT = 44                 # histogram bins: the top 20 bits of the sort key
SOURCE = "_source"
UNIT_ROWS = 200_000            # rows a unit of work gathers (whole block ranges) at least
MIN_ANOMALY_POINTS = 10

Progress = Callable[[str, int, int], None]


# -- the run ---------------------------------------------------------------------------------
def analyze(lake_dir, out_dir, *, streams=None, scheduler=None, time_from=None,
            time_to=None, params=None, progress: Progress | None = None) -> dict:
    """Analyse ``streams`` (default: every readable stream) of the lake, records timed in
    ``[time_from, time_to)`` (ISO-8601, nanoseconds, datetime; None: unbounded), on the
    Dask cluster ``cluster.client(scheduler)`` picks; write the outputs into ``out_dir``
    and return the results (also ``out_dir/results.json``). ``progress(stage, done,
    total)`` hears how far each stage is."""
    from ledgerlake.analytics import cluster

    params = _params(params)
    t_from, t_to = _instant(time_from, "time_from"), _instant(time_to, "time_to")
    if t_from is not None and t_to is not None and t_from >= t_to:
        raise ConfigError(f"the time window is empty: from {t_from} is not before {t_to}")
    started = datetime.now(timezone.utc)
    report = progress or (lambda stage, done, total: None)
    # read under the lake's readers' lock: a sync changes no file meanwhile
    with lake.locked(lake_dir, shared=True):
        specs = _stream_specs(lake_dir, streams, params)
        out = _run_dir(out_dir)
        plan = _plan(lake_dir, specs, t_from, t_to)
        # a small lake is not worth worker processes: a local cluster then runs in this
        # process (a scheduler given or configured is still used, whatever the size)
        with cluster.client(scheduler, progress=lambda msg: report(msg, 0, 0),
                            in_process=plan["total"] < cluster.IN_PROCESS_ROWS) as client:
            where = cluster.describe(client)
            _import_in_background("ledgerlake.analytics.models")   # scikit-learn: seconds
            try:
                facts = _compute(client, lake_dir, specs, t_from, t_to, params, report, plan)
            except FileNotFoundError as exc:
                raise ConfigError(f"the lake changed during the run ({exc.filename or exc} "
                                  f"went); run analyze again") from None
    results = {"run": {"id": out.name, "started": _iso(started), "finished": None,
                       "cluster": where, "code_version": code_version(), "params": params},
               "inputs": {"lake": str(Path(lake_dir).resolve()), "streams": list(specs),
                          "blocks": facts["blocks"], "rows": facts["rows"],
                          "merkle_root": facts["merkle_root"],
                          "time_from": _iso(t_from), "time_to": _iso(t_to)},
               "streams": {}, "outputs": {}}
    for n, (stream, spec) in enumerate(specs.items()):
        report(f"models: {stream}", n, len(specs))
        results["streams"][stream] = _finish_stream(out, stream, spec, facts["streams"][stream],
                                                    params)
    report("models", len(specs), len(specs))
    results["run"]["finished"] = _iso(datetime.now(timezone.utc))
    results["outputs"] = output_hashes(out)
    lake.atomic_write(out / "results.json",
                      (json.dumps(_clean(results), indent=2, sort_keys=False) + "\n").encode())
    lake.private_tree(out)  # outputs hold plaintext-derived values: owner-only
    return _clean(results)


def _import_in_background(module: str) -> None:
    """Start importing ``module`` on a thread: the client mostly waits while the cluster
    reads the lake, so the models' imports need not wait for that (a later ``import``
    waits for this one to finish). Started once the cluster is up, so it imports nothing
    the main thread is importing at the same time."""
    import importlib
    import threading

    threading.Thread(target=importlib.import_module, args=(module,), daemon=True,
                     name=f"import {module}").start()


def _run_dir(out_dir) -> Path:
    """Make the run directory (owner-only) and check a file can be written there, before
    any computing: a bad --out fails at once, in one line."""
    out = Path(out_dir)
    try:
        lake.private_dir(out)
        probe = out / f".probe-{secrets.token_hex(4)}"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, lake.FILE_MODE))
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"the output directory {out} cannot be made or written "
                          f"({exc.strerror}); give another --out") from None
    return out


def new_run_id() -> str:
    """A run id that sorts by time: ``20260131T120000Z-1a2b3c``."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


def code_version() -> str:
    """The package version, with the git commit of its checkout when there is one."""
    from importlib.metadata import PackageNotFoundError, version
    import subprocess

    try:
        base = version("ledgerlake")
    except PackageNotFoundError:
        base = "unknown"
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return base
    if commit.returncode:
        return base
    return f"{base}+g{commit.stdout.strip()}{'.dirty' if dirty.stdout.strip() else ''}"


def output_hashes(out_dir) -> dict[str, str]:
    """SHA-256 of every file under ``out_dir`` (relative POSIX path -> hex), results.json,
    the report's own files and the lineage files excepted."""
    out = Path(out_dir)
    skip = {"results.json", "lineage.json", "openlineage.json"}
    return {p.relative_to(out).as_posix(): _sha256(p) for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).as_posix() not in skip}


# -- inputs ----------------------------------------------------------------------------------
#: What each parameter takes: (check, what is allowed).
def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _count(least: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= least


def _duration(positive: bool):
    def check(v) -> bool:
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            return False
        try:
            d = pd.Timedelta(v)
        except (ValueError, TypeError):
            return False
        return d is not pd.NaT and (d > pd.Timedelta(0) if positive else d >= pd.Timedelta(0))
    return check


def _targets(v) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and isinstance(f, str)
                                       for k, f in v.items())


RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "bucket": (_duration(True), "a positive duration (e.g. 1h, 15min, 1D)"),
    "window": (_duration(True), "a positive duration (e.g. 1D, 6h)"),
    "late_after": (_duration(False), "a duration of 0 or more (e.g. 1h, 0s)"),
    "z_threshold": (lambda v: _number(v) and v > 0, "a number above 0 (e.g. 3)"),
    "anomaly_quantile": (lambda v: _number(v) and 0.5 <= v < 1,
                         "a number from 0.5 up to 1, excluded (e.g. 0.99)"),
    "z_window": (_count(1), "a whole number of buckets, 1 or more (e.g. 7)"),
    "n_estimators": (_count(1), "a whole number of trees, 1 or more (e.g. 100)"),
    "horizon": (_count(1), "a whole number of buckets, 1 or more (e.g. 24)"),
    "season": (_count(1), "a whole number of buckets, 1 or more (e.g. 24)"),
    "test_fraction": (lambda v: _number(v) and 0 < v < 1,
                      "a number between 0 and 1, both excluded (e.g. 0.2)"),
    "random_state": (_count(0), "a whole number, 0 or more"),
    "top": (_count(0), "a whole number, 0 or more (e.g. 20)"),
    "target": (_targets, 'a JSON object of stream id to field name (e.g. {"plant": "kw"})'),
}


def _params(given: dict | None) -> dict:
    """The run's parameters: the defaults overridden by ``given``, each checked up front
    (ConfigError naming the key and what it takes), so no bad value fails mid-run."""
    params = json.loads(json.dumps(DEFAULTS))
    for key, value in (given or {}).items():
        if key not in DEFAULTS:
            raise ConfigError(f"unknown analysis parameter {key!r}; known: "
                              f"{', '.join(DEFAULTS)}")
        check, allowed = RULES[key]
        if not check(value):
            raise ConfigError(f"parameter {key}={value!r} is not allowed: give {allowed}")
        params[key] = value
    return params


def _instant(value, name: str) -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (int, np.integer)) or (isinstance(value, str) and value.isdigit()):
            return pd.Timestamp(int(value), unit="ns", tz="UTC")
        moment = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(f"{name} {value!r} is neither nanoseconds nor ISO-8601 "
                          f"(e.g. 2026-01-31T12:00:00Z)") from None
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


def _stream_specs(lake_dir, wanted, params) -> dict[str, dict]:
    """Per stream to analyse: its schema, time column and value fields (its float and int
    fields, in schema order)."""
    meta = lake.read_meta(lake_dir)
    known = meta["streams"]
    if wanted:
        missing = [s for s in wanted if s not in known]
        if missing:
            raise ConfigError(f"stream {missing[0]!r} is not in the lake at {lake_dir} "
                              f"(it holds: {', '.join(sorted(known)) or 'none'})")
        unreadable = [s for s in wanted if not known[s].get("readable", True)]
        if unreadable:
            raise ConfigError(f"stream {unreadable[0]!r} is in the lake without its records "
                              f"(its organisation cannot read it)")
        names = list(dict.fromkeys(wanted))
    else:
        names = sorted(s for s, info in known.items() if info.get("readable", True))
    if not names:
        raise ConfigError(f"the lake at {lake_dir} holds no readable stream; sync one first")
    specs = {}
    for stream in names:
        try:
            schema = records.Schema.from_mapping(known[stream]["schema"])
        except (records.RecordError, KeyError) as exc:
            raise ConfigError(f"stream {stream!r}: the lake's schema is unusable: {exc}") \
                from None
        tfield = lake.time_field(schema)
        fields = [f for f in schema.fields if f.type in ("float", "int")]
        if not fields:
            raise ConfigError(f"stream {stream!r} has no float or int field to analyse")
        target = (params["target"] or {}).get(stream)
        if target is not None and target not in {f.name for f in fields}:
            raise ConfigError(f"target {target!r} is not a float or int field of {stream!r}")
        target = target or next((f.name for f in fields if f.type == "float"), fields[0].name)
        specs[stream] = {
            "arrow": _nullable(lake.arrow_schema(schema)),
            "time_field": tfield or "_tx_time",
            "time_col": lake.column_name(tfield) if tfield else "_tx_time",
            "fields": [{"name": f.name, "col": lake.column_name(f.name),
                        "min": f.min, "max": f.max} for f in fields],
            "target": target,
        }
    return specs


def _nullable(schema):
    """A stream's file schema with every column nullable: files written under an earlier
    schema version lack the newer fields, which then read as missing."""
    import pyarrow as pa

    return pa.schema([f.with_nullable(True) for f in schema])


def _read_files(paths: list[str], columns: list[str], spec: dict, coded: Iterable[str] = ()):
    """Some of a stream's part files as one Arrow table of ``columns`` (read under the
    stream's latest schema: files written under an earlier version read their missing
    fields as nulls). String columns in ``coded`` are read as Arrow dictionaries straight
    from Parquet's dictionary pages (a few distinct values: no string per row)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    coded = set(coded)
    schema, fmt = spec["arrow"], "parquet"
    if coded:
        schema = pa.schema([f.with_type(pa.dictionary(pa.int32(), f.type))
                            if f.name in coded else f for f in schema])
        fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(
            dictionary_columns=sorted(coded)))
    return ds.dataset(paths, schema=schema, format=fmt).to_table(columns=columns)


def _date_bounds(t_from, t_to) -> tuple[str | None, str | None]:
    """The ``date`` partitions a time window can touch (both ends inclusive)."""
    return (t_from.strftime("%Y-%m-%d") if t_from is not None else None,
            (t_to - pd.Timedelta(1, "ns")).strftime("%Y-%m-%d") if t_to is not None else None)


def _stream_files(lake_dir, stream, t_from, t_to) -> list[Path]:
    """The stream's part files in the date partitions the window can touch."""
    d0, d1 = _date_bounds(t_from, t_to)
    return [p for p in lake.part_files(lake_dir, stream)
            if not ((d0 and lake.partition_of(p)[1] < d0) or
                    (d1 and lake.partition_of(p)[1] > d1))]


def block_groups(files: Iterable[tuple[str, Path]]) -> list[dict]:
    """``(stream, file)`` pairs grouped by the block range in their names, overlapping
    ranges merged, in ledger order: every row of a group precedes every row of the next."""
    ranges = []
    for stream, path in files:
        first, last = lake.part_range(path.name)
        ranges.append((first, last, stream, str(path)))
    ranges.sort()
    groups: list[dict] = []
    for first, last, stream, path in ranges:
        if groups and first <= groups[-1]["last"]:
            groups[-1]["last"] = max(groups[-1]["last"], last)
        else:
            groups.append({"first": first, "last": last, "files": defaultdict(list)})
        groups[-1]["files"][stream].append(path)
    return [{**g, "files": dict(g["files"])} for g in groups]


def units_of(groups: list[dict], rows: list[int], least: int = UNIT_ROWS) -> list[dict]:
    """Consecutive block groups joined until each unit of work holds ``least`` rows (the
    last may hold fewer): a lake of many small files (a sync that followed the ledger block
    by block) costs a few tasks, not one per file. A unit is still a run of whole block
    ranges in ledger order. Each unit gets ``rows`` (its rows' count)."""
    units: list[dict] = []
    for group, n in zip(groups, rows):
        if units and units[-1]["rows"] < least:
            u = units[-1]
            u["last"] = group["last"]
            u["rows"] += n
            for stream, paths in group["files"].items():
                u["files"].setdefault(stream, []).extend(paths)
        else:
            units.append({"first": group["first"], "last": group["last"], "rows": n,
                          "files": {s: list(p) for s, p in group["files"].items()}})
    return units


def date_chunks(files: list[Path], rows: dict[str, int], least: int = UNIT_ROWS) \
        -> list[list[str]]:
    """A stream's files in runs of whole ``date`` partitions of about ``least`` rows (for
    the duplicate count: every copy of a reading is in its time's partition)."""
    by_date = defaultdict(list)
    for f in files:
        by_date[f.parent.name].append(str(f))
    chunks: list[list[str]] = []
    size = least
    for _, paths in sorted(by_date.items()):
        if size >= least:
            chunks.append([])
            size = 0
        chunks[-1] += paths
        size += sum(rows[p] for p in paths)
    return chunks


# -- the distributed part --------------------------------------------------------------------
def _plan(lake_dir, specs, t_from, t_to) -> dict:
    """The run's files and their row counts (Parquet footers, read on the client), in
    block groups, units of work and date chunks."""
    import pyarrow.parquet as pq

    files_of = {s: _stream_files(lake_dir, s, t_from, t_to) for s in specs}
    rows = {str(f): pq.read_metadata(f).num_rows for fs in files_of.values() for f in fs}
    groups = block_groups([(s, f) for s, fs in files_of.items() for f in fs])
    return {"files": files_of, "rows": rows, "groups": groups,
            "total": sum(rows.values())}


def _compute(client, lake_dir, specs, t_from, t_to, params, report, plan=None) -> dict:
    """Everything that reads the lake, on the cluster: one task per unit of work (whole
    block ranges) reads each file once for the statistics, the histograms, the ledger-order
    facts and the sorted values the exact quantiles pick from; those values stay on the
    unit's worker until the client has chosen the ranks it needs."""
    from operator import getitem

    from distributed import as_completed

    window = (t_from.value if t_from is not None else None,
              t_to.value if t_to is not None else None)
    plan = plan or _plan(lake_dir, specs, t_from, t_to)
    groups = plan["groups"]
    if window == (None, None):
        sizes = [sum(plan["rows"][p] for ps in g["files"].values() for p in ps)
                 for g in groups]
    else:   # the footers count whole files: count the rows inside the window
        sizes = client.gather([client.submit(_count_group, g, specs, window, pure=False)
                               for g in groups])
    units = units_of(groups, [int(n) for n in sizes])
    offsets = [int(x) for x in np.concatenate([[0], np.cumsum([u["rows"] for u in units],
                                                              dtype=np.int64)])]
    work = [client.submit(_unit, u, specs, window, offsets[i], params, pure=False)
            for i, u in enumerate(units)]
    dups = {s: [client.submit(_duplicates, paths, specs[s], window, pure=False)
                for paths in date_chunks(fs, plan["rows"])]
            for s, fs in plan["files"].items() if fs}
    # split each unit's result where it lies, as soon as it is there (a higher priority
    # than the reading still queued): the client takes the small parts, the values stay
    # for the quantiles
    ledger = [client.submit(getitem, w, "ledger", pure=False, priority=1) for w in work]
    kept = [client.submit(getitem, w, "keep", pure=False, priority=1) for w in work]
    stat_parts: dict[str, list] = defaultdict(list)
    for u, w in zip(units, work):
        for stream in u["files"]:
            stat_parts[stream].append(client.submit(_stats_of, w, stream, pure=False,
                                                    priority=1))
    del work
    merged = {s: _tree(client, fs, _merge_stats) for s, fs in stat_parts.items()}
    # Ledger order: each unit's results folded in order as they arrive, while the later
    # units are still being read (the client holds one unit's record times at a time).
    late_ns = pd.Timedelta(params["late_after"]).value
    carry: dict[str, dict[str, tuple[int, int]]] = {s: {} for s in specs}
    counts: dict[str, dict[str, list[int]]] = {s: defaultdict(lambda: [0, 0]) for s in specs}
    contributors, subtrees, blocks, rows = defaultdict(list), [], None, 0
    for done, future in enumerate(ledger, 1):
        part = future.result()
        future.release()
        report("reading the lake (ledger order)", done, len(ledger))
        rows += part["rows"]
        subtrees += part["subtrees"]
        if part["blocks"]:
            lo, hi = part["blocks"]
            blocks = [lo, hi] if blocks is None else [min(blocks[0], lo), max(blocks[1], hi)]
        for stream, info in part["streams"].items():
            contributors[stream].append(info["contributors"])
            for source, times in info["times"].items():
                ooo, late = arrival_counts(times, carry[stream].get(source), late_ns)
                counts[stream][source][0] += ooo
                counts[stream][source][1] += late
                before = carry[stream].get(source)
                top = int(times.max())
                carry[stream][source] = (int(times[-1]),
                                         top if before is None else max(before[1], top))
    pending = [f for fs in stat_parts.values() for f in fs] + \
        [f for fs in dups.values() for f in fs]
    for done, _ in enumerate(as_completed(pending), 1):
        report("statistics", done, len(pending))
    stats = {s: f.result() for s, f in merged.items()}
    del merged, stat_parts, pending
    targets = {s: _quantile_targets(stats[s]) for s in stats}
    wanted = {s: t["bins"] for s, t in targets.items()}
    refined = [client.submit(_refine, k, wanted, pure=False) for k in kept]
    del kept
    pieces: dict[tuple, list] = defaultdict(list)
    for done, future in enumerate(as_completed(refined), 1):
        report("exact quantiles", done, len(refined))
    for future in refined:               # in unit order: the same pieces in the same order
        for key, keys in future.result().items():
            pieces[key].append(keys)
        future.release()
    per_stream: dict[str, dict] = {}
    for stream in specs:
        if stream not in stats:
            per_stream[stream] = {"empty": True}
            continue
        values = {(src, field): _merge_runs(p)
                  for (s, src, field), p in pieces.items() if s == stream}
        per_stream[stream] = {
            "stats": stats[stream], "quantiles": _exact_quantiles(targets[stream], values),
            "duplicates": int(sum(client.gather(dups[stream]))),
            "contributors": _merge_contributors(contributors[stream]),
            "order": pd.DataFrame([(src, ooo, late) for src, (ooo, late)
                                   in sorted(counts[stream].items())],
                                  columns=["source", "ooo", "late"]).set_index("source")}
    if rows != offsets[-1]:
        raise ConfigError(f"the lake changed during the run: counted {offsets[-1]} rows, "
                          f"read {rows}; run analyze again")
    root = fold_subtrees(subtrees)
    return {"streams": per_stream, "blocks": blocks, "rows": rows, "merkle_root": root.hex()}


def _stats_of(result: dict, stream: str) -> dict:
    return result["stats"][stream]


def _count_group(group: dict, specs: dict, window) -> int:
    n = 0
    for stream, paths in group["files"].items():
        tcol = specs[stream]["time_col"]
        n += int(_window_mask(_ns(_read_files(paths, [tcol], specs[stream])[tcol]),
                              window).sum())
    return n


def _duplicates(paths: list[str], spec: dict, window) -> int:
    """Readings repeating an earlier (source, time) in some whole ``date`` partitions: a
    reading's time decides its date, so every copy of it is in the same partition."""
    tcol = spec["time_col"]
    table = _read_files(paths, [SOURCE, tcol], spec, coded=[SOURCE])
    t = _ns(table[tcol])
    codes, _ = _codes(table[SOURCE])
    keep = _window_mask(t, window)
    t, codes = t[keep], codes[keep]
    if len(t) < 2:
        return 0
    order = np.lexsort((t, codes))
    t, codes = t[order], codes[order]
    return int(np.count_nonzero((t[1:] == t[:-1]) & (codes[1:] == codes[:-1])))


def _tree(client, futures, merge, fan_in: int = 8):
    """Merge partial results on the workers, ``fan_in`` at a time, in a fixed order (so the
    same partitions always merge to the same floats)."""
    if not futures:
        raise ValueError("nothing to merge")
    while len(futures) > 1:
        futures = [client.submit(merge, *futures[i:i + fan_in], pure=False, priority=1)
                   for i in range(0, len(futures), fan_in)]
    return futures[0]


# -- one unit of work: every stream's rows of some whole block ranges --------------------------
_ORDER_COLS = ["_block", "_tx", "_index"]
_LEDGER_COLS = ["_producer_msp", "_producer_id", "_batch_id", "_commitment"]
_CODED = (SOURCE, "_producer_msp", "_producer_id", "_batch_id")   # read as dictionaries
_NAT = np.iinfo(np.int64).min


def _ns(column) -> np.ndarray:
    """An Arrow timestamp column as int64 nanoseconds (null as the minimum int64, NaT)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = column.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
    return pc.fill_null(arr, _NAT).to_numpy()


def _codes(column) -> tuple[np.ndarray, list]:
    """A string column (plain or dictionary-encoded) as int64 codes and their labels (null
    as a last label, None)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    if not pa.types.is_dictionary(column.type):
        chunks = [pc.dictionary_encode(pa.chunked_array(chunks, column.type)
                                       .combine_chunks())]
    index: dict = {}
    parts = []
    for chunk in chunks:         # each chunk its own dictionary: onto one set of labels
        remap = np.array([index.setdefault(v, len(index))
                          for v in chunk.dictionary.to_pylist()] + [-1], dtype=np.int64)
        at = pc.fill_null(chunk.indices, len(remap) - 1).to_numpy(zero_copy_only=False)
        parts.append(remap[at])
    codes = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    labels = list(index)
    if (codes < 0).any():
        codes[codes < 0] = len(labels)
        labels.append(None)
    return codes, labels


def _floats(column) -> np.ndarray:
    """A float or int column as float64 (missing as NaN), as pandas reads it."""
    import pyarrow as pa

    return column.cast(pa.float64()).to_numpy()


def _window_mask(t: np.ndarray, window) -> np.ndarray:
    """Rows timed inside the window (all rows when it is unbounded)."""
    lo, hi = window
    keep = np.ones(len(t), dtype=bool)
    if lo is None and hi is None:
        return keep
    keep &= t != _NAT
    if lo is not None:
        keep &= t >= lo
    if hi is not None:
        keep &= t < hi
    return keep


def _unit(unit: dict, specs: dict, window, offset: int, params: dict) -> dict:
    """Read each stream's files of one unit once and return ``stats`` (per stream: the
    statistics partials), ``ledger`` (its row count and block span, the Merkle subtrees of
    its commitments in ledger order, aligned at ``offset``, its first leaf's index among the
    run's leaves; each source's record times in ledger order; who contributed what) and
    ``keep`` (per stream and (source, field): the values' sort keys, sorted, for the exact
    quantiles)."""
    out = {"stats": {}, "keep": {}, "ledger": {"rows": 0, "blocks": None, "streams": {},
                                               "subtrees": []}}
    order_keys, leaves = [], []
    for stream, paths in unit["files"].items():
        spec = specs[stream]
        tcol = spec["time_col"]
        cols = list(dict.fromkeys(_ORDER_COLS + [SOURCE, tcol] +
                                  [f["col"] for f in spec["fields"]] + _LEDGER_COLS))
        table = _read_files(paths, cols, spec, coded=_CODED)
        t = _ns(table[tcol])
        keep = _window_mask(t, window)
        if not keep.all():
            table, t = table.filter(keep), t[keep]
        codes, labels = _codes(table[SOURCE])
        values = np.column_stack([_floats(table[f["col"]]) for f in spec["fields"]]) \
            if len(t) else np.zeros((0, len(spec["fields"])))
        out["stats"][stream] = _stats_partial(codes, labels, t, values, spec, params)
        out["keep"][stream] = _sorted_keys(codes, labels, values, spec)
        block = table["_block"].to_numpy()
        tx = table["_tx"].to_numpy()
        index = table["_index"].to_numpy()
        order = np.lexsort((index, tx, block))
        monotonic = bool((order[1:] > order[:-1]).all()) if len(order) > 1 else True
        take = (lambda a: a) if monotonic else (lambda a: a[order])
        order_keys.append((take(block), take(tx), take(index)))
        leaves.append(take(commitment_array(table["_commitment"])))
        if len(t):
            out["ledger"]["streams"][stream] = {
                "times": _times_by_source(take(codes), labels, take(t)),
                "contributors": _contributors(table, codes, labels, block)}
    block = np.concatenate([k[0] for k in order_keys]) if order_keys else np.zeros(0)
    leaf = np.concatenate(leaves) if leaves else np.zeros((0, 32), np.uint8)
    if len(order_keys) > 1:            # each stream's rows are in ledger order already
        order = np.lexsort((np.concatenate([k[2] for k in order_keys]),
                            np.concatenate([k[1] for k in order_keys]), block))
        leaf = leaf[order]
    out["ledger"]["rows"] = len(leaf)
    out["ledger"]["subtrees"] = merkle_subtrees(leaf, offset)
    if len(block):
        out["ledger"]["blocks"] = [int(block.min()), int(block.max())]
    return out


def _times_by_source(codes: np.ndarray, labels: list, t: np.ndarray) -> dict:
    """Each source's record times (NaT left out), in the order given (ledger order)."""
    timed = t != _NAT
    return {labels[c]: part for c, part in _by_code(codes[timed], t[timed])}


def _by_code(codes: np.ndarray, values: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``values`` split by their ``codes`` (one stable sort, however many codes), each
    part in its given order."""
    order = np.argsort(codes, kind="stable")
    c = codes[order]
    starts = np.flatnonzero(np.concatenate([[True], c[1:] != c[:-1]])) if len(c) else []
    ends = list(starts[1:]) + [len(c)]
    return [(int(c[i]), values[order[i:j]]) for i, j in zip(starts, ends)]


def _contributors(table, codes: np.ndarray, labels: list, block: np.ndarray) -> pd.DataFrame:
    """Per (producer MSP, producer id, source): batches, records, first and last block."""
    msp, msp_labels = _codes(table["_producer_msp"])
    pid, pid_labels = _codes(table["_producer_id"])
    batch, _ = _codes(table["_batch_id"])
    frame = pd.DataFrame({"m": msp, "p": pid, "s": codes, "b": batch, "k": block})
    g = frame.groupby(["m", "p", "s"], sort=False).agg(
        batches=("b", "nunique"), records=("b", "size"), first_block=("k", "min"),
        last_block=("k", "max")).reset_index()
    pick = lambda lab, c: np.asarray(lab, dtype=object)[c.to_numpy()]  # noqa: E731
    return pd.DataFrame({"_producer_msp": pick(msp_labels, g["m"]),
                         "_producer_id": pick(pid_labels, g["p"]),
                         "_source": pick(labels, g["s"]),
                         **{c: g[c].astype("int64") for c in
                            ("batches", "records", "first_block", "last_block")}})


# -- statistics partials ---------------------------------------------------------------------
def sort_key(values: np.ndarray) -> np.ndarray:
    """float64 -> uint64 keys in the same order (negative floats flipped), so the leading
    bits of the key are an order-preserving histogram bin."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64)
    return np.where(bits < 0, ~bits, bits | np.int64(-2**63)).view(np.uint64)


def from_sort_key(keys: np.ndarray) -> np.ndarray:
    """The floats back from their :func:`sort_key` keys."""
    bits = np.ascontiguousarray(keys, dtype=np.uint64).view(np.int64)
    return np.where(bits < 0, bits & np.int64(2**63 - 1), ~bits).view(np.float64)


def _floor(t: np.ndarray, step: int) -> np.ndarray:
    """Times floored to multiples of ``step`` ns since the epoch, as pandas' ``dt.floor``
    (NaT stays NaT)."""
    return np.where(t == _NAT, _NAT, t - t % step)


def _stats_partial(codes: np.ndarray, labels: list, t: np.ndarray, values: np.ndarray,
                   spec: dict, params: dict) -> dict:
    """Moments per (source, window, field) with missing and out-of-range counts, minima
    and maxima; moments per (source, bucket, field); histograms of the sort keys per
    (source, field)."""
    names = [f["name"] for f in spec["fields"]]
    valid = ~np.isnan(values)
    oor = np.zeros(values.shape, dtype=bool)
    for j, f in enumerate(spec["fields"]):
        if f["min"] is not None:
            oor[:, j] |= values[:, j] < f["min"]
        if f["max"] is not None:
            oor[:, j] |= values[:, j] > f["max"]
    moments = _grouped(codes, labels, _floor(t, pd.Timedelta(params["window"]).value),
                       "window", values, valid, names, oor)
    hourly = _grouped(codes, labels, _floor(t, pd.Timedelta(params["bucket"]).value),
                      "bucket", values, valid, names, None)
    return {"moments": moments, "hourly": hourly, "hist": _histograms(codes, labels, values,
                                                                      valid, names)}


def _grouped(codes, labels, when, name, values, valid, names, oor) -> pd.DataFrame:
    """Count, mean and M2 (two-pass: sum of squared deviations from the group's mean) of
    each value column per (source, time) group, as long rows (source, ``name``, field, n,
    mean, m2); with ``oor``, also rows, min, max and out-of-range counts."""
    columns = ["source", name, "field", "n", "mean", "m2"] + \
        (["rows", "min", "max", "oor"] if oor is not None else [])
    if len(codes) == 0:
        return _empty_moments(columns, name)
    order = np.lexsort((when, codes))
    c, w = codes[order], when[order]
    change = np.flatnonzero((c[1:] != c[:-1]) | (w[1:] != w[:-1])) + 1
    starts = np.concatenate([[0], change])
    size = np.diff(np.concatenate([starts, [len(c)]]))
    group = np.repeat(np.arange(len(starts)), size)
    x, ok = values[order], valid[order]
    xz = np.where(ok, x, 0.0)
    n = np.add.reduceat(ok.astype(np.int64), starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.add.reduceat(xz, starts, axis=0) / n
        dev = np.where(ok, x - mean[group], 0.0)
    m2 = np.add.reduceat(dev * dev, starts, axis=0)
    g, k = len(starts), len(names)
    label = np.asarray(labels, dtype=object)[c[starts]]
    stamp = pd.DatetimeIndex(w[starts].view("datetime64[ns]")).tz_localize("UTC")
    data = {"source": np.repeat(label, k), name: stamp.repeat(k),
            "field": np.tile(np.asarray(names, dtype=object), g),
            "n": n.reshape(-1), "mean": np.where(n > 0, mean, np.nan).reshape(-1),
            "m2": m2.reshape(-1)}
    if oor is not None:
        lo = np.minimum.reduceat(np.where(ok, x, np.inf), starts, axis=0)
        hi = np.maximum.reduceat(np.where(ok, x, -np.inf), starts, axis=0)
        data["rows"] = np.repeat(size, k).astype(np.int64)
        data["min"] = np.where(n > 0, lo, np.nan).reshape(-1)
        data["max"] = np.where(n > 0, hi, np.nan).reshape(-1)
        data["oor"] = np.add.reduceat(oor[order].astype(np.int64), starts, axis=0).reshape(-1)
    return pd.DataFrame(data)


def _empty_moments(columns: list[str], name: str) -> pd.DataFrame:
    kinds = {"source": object, name: "datetime64[ns, UTC]", "field": object, "n": "int64",
             "rows": "int64", "oor": "int64"}
    return pd.DataFrame({c: pd.Series(dtype=kinds.get(c, "float64")) for c in columns})


def _sorted_keys(codes, labels, values, spec) -> dict:
    """Per (source, field): the valid values' sort keys, sorted (kept on the worker until
    the client names the histogram bins holding the quantiles' ranks)."""
    out = {}
    for j, f in enumerate(spec["fields"]):
        ok = ~np.isnan(values[:, j])
        for c, keys in _by_code(codes[ok], sort_key(values[ok, j])):
            out[(labels[c], f["name"])] = np.sort(keys)
    return out


def _histograms(codes, labels, values, valid, names) -> pd.DataFrame:
    """Counts per (source, field, bin): a bin is a value's sort key's leading bits."""
    hists = []
    shift = np.uint64(64 - BIN_SHIFT)
    for j, name in enumerate(names):
        ok = valid[:, j]
        if not ok.any():
            continue
        key = (codes[ok].astype(np.uint64) << shift) | \
            (sort_key(values[ok, j]) >> np.uint64(BIN_SHIFT))
        keys, counts = np.unique(key, return_counts=True)
        mask = np.uint64((1 << (64 - BIN_SHIFT)) - 1)
        hists.append(pd.DataFrame({
            "source": np.asarray(labels, dtype=object)[
                (keys >> shift).astype(np.int64)],
            "field": name, "bin": keys & mask, "count": counts.astype(np.int64)}))
    return pd.concat(hists, ignore_index=True) if hists else _empty_hist()


def _empty_hist() -> pd.DataFrame:
    return pd.DataFrame({"source": pd.Series(dtype=object), "field": pd.Series(dtype=object),
                         "bin": pd.Series(dtype="uint64"), "count": pd.Series(dtype="int64")})



def combine_moments(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Partial moments with the same keys merged (Chan et al.): n and the extras add, the
    mean is the count-weighted mean, M2 gains each part's n·(mean − overall mean)²."""
    f = frame.copy()
    f["nm"] = f["n"] * f["mean"].fillna(0.0)
    g = f.groupby(keys, dropna=False, sort=True)
    n = g["n"].sum()
    mean = (g["nm"].sum() / n.where(n > 0)).rename("mean")
    f = f.join(mean.rename("overall"), on=keys)
    f["dev"] = f["m2"] + f["n"] * (f["mean"].fillna(0.0) - f["overall"]) ** 2
    out = pd.DataFrame({"n": n, "mean": mean,
                        "m2": f.groupby(keys, dropna=False, sort=True)["dev"].sum()})
    if "rows" in frame:
        out["rows"] = g["rows"].sum()
        out["min"] = g["min"].min()
        out["max"] = g["max"].max()
        out["oor"] = g["oor"].sum()
    return out.reset_index()


def _merge_stats(*parts: dict) -> dict:
    """Partials merged: moments by their keys, histograms by bin."""
    return {
        "moments": combine_moments(pd.concat([p["moments"] for p in parts], ignore_index=True),
                                   ["source", "window", "field"]),
        "hourly": combine_moments(pd.concat([p["hourly"] for p in parts], ignore_index=True),
                                  ["source", "bucket", "field"]),
        "hist": pd.concat([p["hist"] for p in parts], ignore_index=True)
        .groupby(["source", "field", "bin"], sort=True)["count"].sum().reset_index(),
    }


# -- exact quantiles -------------------------------------------------------------------------
def _quantile_targets(stats: dict) -> dict:
    """For every (source, field) and every field overall (source None): the ranks the
    quantiles need and the histogram bins holding them."""
    hist = stats["hist"]
    overall = hist.groupby(["field", "bin"], sort=True)["count"].sum().reset_index()
    overall.insert(0, "source", None)
    ranks, bins = {}, defaultdict(set)
    for (source, field), h in list(hist.groupby(["source", "field"], sort=True)) + \
            [((None, f), h) for f, h in overall.groupby("field", sort=True)]:
        h = h.sort_values("bin")
        n = int(h["count"].sum())
        ends = np.cumsum(h["count"].to_numpy())
        wanted = {}
        for name, q in QUANTILES:
            pos = (n - 1) * q
            lo = math.floor(pos)
            for r in {lo, min(lo + 1, n - 1)}:
                b = int(h["bin"].to_numpy()[np.searchsorted(ends, r, side="right")])
                wanted[r] = b
                bins[(source, field)].add(b)
        ranks[(source, field)] = {"n": n, "ranks": wanted,
                                  "bins": h["bin"].to_numpy(), "counts": h["count"].to_numpy()}
    return {"ranks": ranks, "bins": {k: sorted(v) for k, v in bins.items()}}




def _refine(kept: dict, wanted: dict) -> dict:
    """One unit's sort keys in the histogram bins that hold wanted ranks, per (stream,
    source, field) (source None: the field over all sources), run-length encoded: each
    distinct key once with its count (a field of whole numbers repeats few values)."""
    out = {}
    for stream, bins in wanted.items():
        keys = kept.get(stream)
        if not keys:
            continue
        for (source, field), wanted_bins in bins.items():
            b = np.asarray(wanted_bins, dtype=np.uint64)
            pieces = []
            for (src, name), k in keys.items():
                if name != field or (source is not None and src != source):
                    continue
                top = k >> np.uint64(BIN_SHIFT)
                lo, hi = np.searchsorted(top, b, "left"), np.searchsorted(top, b, "right")
                pieces += [run_lengths(k[i:j]) for i, j in zip(lo, hi) if j > i]
            if pieces:
                out[(stream, source, field)] = (np.concatenate([p[0] for p in pieces]),
                                                np.concatenate([p[1] for p in pieces]))
    return out


def run_lengths(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``keys`` as (each distinct key, how many times it occurs)."""
    if len(keys) == 0:
        return keys, np.zeros(0, np.int64)
    starts = np.concatenate([[0], np.flatnonzero(keys[1:] != keys[:-1]) + 1])
    return keys[starts], np.diff(np.concatenate([starts, [len(keys)]])).astype(np.int64)


def _merge_runs(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Run-length encoded pieces (from any units, in any order) as one sorted encoding."""
    keys = np.concatenate([p[0] for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    if len(keys) == 0:
        return keys, counts
    starts = np.concatenate([[0], np.flatnonzero(keys[1:] != keys[:-1]) + 1])
    return keys[starts], np.add.reduceat(counts, starts)


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's linear interpolation, to the bit (pandas' quantile is numpy's)."""
    a, b, t = np.float64(a), np.float64(b), np.float64(t)
    return float(b - (b - a) * (1 - t)) if t >= 0.5 else float(a + (b - a) * t)


def _exact_quantiles(targets: dict, values: dict) -> dict:
    """(source, field) -> {p25, p50, p75} from the values in the ranks' bins (sort keys,
    run-length encoded: :func:`_merge_runs`)."""
    out = {}
    for key, info in targets["ranks"].items():
        keys, counts = values.get(key, (np.zeros(0, np.uint64), np.zeros(0, np.int64)))
        bins = keys >> np.uint64(BIN_SHIFT)
        ends = np.cumsum(counts)
        below = dict(zip(info["bins"].tolist(),
                         (np.cumsum(info["counts"]) - info["counts"]).tolist()))

        def at(rank: int) -> float:
            b = info["ranks"][rank]
            start = int(np.searchsorted(bins, np.uint64(b), side="left"))
            before = int(ends[start - 1]) if start else 0
            j = int(np.searchsorted(ends, before + rank - below[b], side="right"))
            return float(from_sort_key(keys[j:j + 1])[0])

        res = {}
        for name, q in QUANTILES:
            pos = (info["n"] - 1) * q
            lo = math.floor(pos)
            hi = min(lo + 1, info["n"] - 1)
            res[name] = _lerp(at(lo), at(hi), pos - lo)
        out[key] = res
    return out


# -- ledger order: Merkle subtrees, late and out-of-order arrivals, contributors -------------
_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_HEX[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_HEX[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)


def commitment_array(column) -> np.ndarray:
    """Hex SHA-256 commitments (an Arrow string column) as an ``(n, 32)`` array of leaf
    bytes, decoded in one vectorised step (a Python ``bytes.fromhex`` per row costs more
    than the hashing that follows)."""
    import pyarrow as pa

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return np.zeros((0, 32), np.uint8)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise ValueError("_commitment is not a string column")
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset:arr.offset +
                                                           len(arr) + 1]
    if arr.null_count or not (np.diff(offsets) == 64).all():
        raise ValueError("a _commitment is not 64 hex digits")
    chars = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    nibbles = _HEX[chars].reshape(-1, 64)
    if (nibbles == 255).any():
        raise ValueError("a _commitment is not hex")
    return ((nibbles[:, 0::2] << 4) | nibbles[:, 1::2]).astype(np.uint8)


def arrival_counts(times: np.ndarray, before: tuple[int, int] | None,
                   late_ns: int) -> tuple[int, int]:
    """Out-of-order and late arrivals among one source's record times (int64 ns) in ledger
    order. Out of order: earlier than the record committed just before it. Late: more
    than ``late_ns`` earlier than the latest record committed before it (the source's
    watermark), i.e. it reached the ledger well after records that came after it.
    Measured against the source's own arrivals rather than the transaction time, so a
    replay of old readings is not all "late". ``before``: the source's last and latest
    times in earlier block ranges (None: it starts here)."""
    if len(times) == 0:
        return 0, 0
    floor = np.iinfo(np.int64).min
    last, latest = before if before is not None else (floor, floor)
    prev = np.concatenate([[last], times[:-1]])
    watermark = np.maximum.accumulate(np.concatenate([[latest], times[:-1]]))
    ooo = int(np.count_nonzero(times < prev))
    behind = watermark != floor
    late = int(np.count_nonzero(behind & (times < watermark - late_ns)))
    return ooo, late


def _merge_contributors(parts: list[pd.DataFrame]) -> list[dict]:
    if not parts:
        return []
    frame = pd.concat(parts, ignore_index=True)
    g = frame.groupby(["_producer_msp", "_producer_id", "_source"], sort=True)
    merged = g.agg(batches=("batches", "sum"), records=("records", "sum"),
                   first_block=("first_block", "min"), last_block=("last_block", "max"))
    return [{"producer_msp": msp, "producer_id": pid, "source": src,
             **{k: int(v) for k, v in row.items()}}
            for (msp, pid, src), row in merged.iterrows()]


def merkle_subtrees(leaves, offset: int) -> list[tuple[int, bytes]]:
    """``leaves`` (32-byte leaves as a list or an ``(n, 32)`` array, whose first is leaf
    ``offset`` of the whole run) as the largest perfect subtrees aligned at powers of two:
    ``(height, root)`` in order. Their roots are nodes of the whole tree, so
    :func:`fold_subtrees` over every range's subtrees gives ``records.merkle_root`` of all
    the leaves."""
    if not isinstance(leaves, np.ndarray):
        leaves = np.frombuffer(b"".join(leaves), dtype=np.uint8).reshape(-1, 32)
    out, i, pos = [], 0, offset
    while i < len(leaves):
        height = (pos & -pos).bit_length() - 1 if pos else 64
        height = min(height, (len(leaves) - i).bit_length() - 1)
        size = 1 << height
        out.append((height, perfect_root(leaves[i:i + size])))
        i, pos = i + size, pos + size
    return out


def perfect_root(leaves: np.ndarray) -> bytes:
    """``records.merkle_root`` of ``2**k`` leaves (an ``(n, 32)`` array), one level at a
    time over contiguous bytes: each parent is SHA-256 of 0x01, left, right, hashed from
    one prepared buffer (no per-node concatenation or call); in one C call
    (``fastrecords.root_of_digests``) where ledgerlake's C digests are built."""
    from ledgerlake import fastrecords

    level = np.ascontiguousarray(leaves, dtype=np.uint8)
    if fastrecords._digests is not None:
        return fastrecords.root_of_digests(level.tobytes())
    sha = hashlib.sha256
    while len(level) > 1:
        pairs = len(level) // 2
        buf = np.empty((pairs, 65), dtype=np.uint8)
        buf[:, 0] = 1
        buf[:, 1:] = level[:2 * pairs].reshape(pairs, 64)
        data = buf.tobytes()
        level = np.frombuffer(b"".join([sha(data[i:i + 65]).digest()
                                        for i in range(0, 65 * pairs, 65)]),
                              dtype=np.uint8).reshape(pairs, 32)
    return level[0].tobytes()


def fold_subtrees(subtrees: Iterable[tuple[int, bytes]]) -> bytes:
    """The Merkle root (``records.merkle_root``'s rule: an odd node is carried up) from
    aligned perfect subtrees in leaf order."""
    stack: list[tuple[int, bytes]] = []
    for height, node in subtrees:
        while stack and stack[-1][0] == height:
            node, height = records.merkle_root([stack.pop()[1], node]), height + 1
        if stack and stack[-1][0] < height:
            raise ValueError("Merkle subtrees out of order")
        stack.append((height, node))
    if not stack:
        return records.merkle_root([])
    root = stack[-1][1]
    for _, node in reversed(stack[:-1]):
        root = records.merkle_root([node, root])
    return root





# -- on the client: statistics, quality, models, outputs -------------------------------------
def _stat_entry(row, quantiles: dict | None) -> dict:
    n = int(row["n"])
    std = math.sqrt(row["m2"] / (n - 1)) if n > 1 else None
    q = quantiles or {}
    return {"count": n, "missing": int(row["rows"] - n),
            "mean": float(row["mean"]) if n else None, "std": std,
            "min": float(row["min"]) if n else None, "p25": q.get("p25"),
            "p50": q.get("p50"), "p75": q.get("p75"),
            "max": float(row["max"]) if n else None}


def _finish_stream(out: Path, stream: str, spec: dict, facts: dict, params: dict) -> dict:
    fields = [f["name"] for f in spec["fields"]]
    result: dict[str, Any] = {"time_field": spec["time_field"], "value_fields": fields}
    if facts.get("empty"):
        return {**result, "sources": [], "statistics": None, "quality": {"rows": 0},
                "anomalies": None, "forecast": None, "contributors": []}
    stats, quantiles = facts["stats"], facts["quantiles"]
    moments = stats["moments"]
    per_source = combine_moments(moments, ["source", "field"])
    overall = combine_moments(moments, ["field"])
    sources = sorted(per_source["source"].unique().tolist())
    result["sources"] = sources
    by_source = {s: {} for s in sources}
    for _, row in per_source.iterrows():
        by_source[row["source"]][row["field"]] = _stat_entry(
            row, quantiles.get((row["source"], row["field"])))
    overall_stats = {row["field"]: _stat_entry(row, quantiles.get((None, row["field"])))
                     for _, row in overall.iterrows()}
    order = [f for f in fields if f in overall_stats]
    result["statistics"] = {
        "overall": {f: overall_stats[f] for f in order},
        "by_source": {s: {f: by_source[s][f] for f in order if f in by_source[s]}
                      for s in sources},
        "by_window": {"window": params["window"], "path": f"tables/{stream}-windows.parquet"}}
    _write_windows(out / "tables" / f"{stream}-windows.parquet", moments)

    rows_by_source = moments.groupby("source")["rows"].sum() / len(fields)
    order_counts = facts["order"]
    quality_by_source = {}
    for s in sources:
        ps = per_source[per_source["source"] == s].set_index("field")
        quality_by_source[s] = {
            "rows": int(rows_by_source.get(s, 0)),
            "missing": {f: int(ps.loc[f, "rows"] - ps.loc[f, "n"]) for f in order},
            "out_of_range": {f: int(ps.loc[f, "oor"]) for f in order},
            "late": int(order_counts["late"].get(s, 0)),
            "out_of_order": int(order_counts["ooo"].get(s, 0))}
    ov = overall.set_index("field")
    result["quality"] = {
        "rows": int(sum(q["rows"] for q in quality_by_source.values())),
        "missing": {f: int(ov.loc[f, "rows"] - ov.loc[f, "n"]) for f in order},
        "out_of_range": {f: int(ov.loc[f, "oor"]) for f in order},
        "late": int(order_counts["late"].sum()), "out_of_order": int(order_counts["ooo"].sum()),
        "duplicates": facts["duplicates"], "by_source": quality_by_source}

    series = hourly_series(stats["hourly"], order)
    result["anomalies"], series_frame = _anomalies(out, stream, series, order, params)
    _write_parquet(series_frame, out / "series" / f"{stream}.parquet")
    result["forecast"] = _forecast(out, stream, series, spec["target"], params)
    result["contributors"] = facts["contributors"]
    return result


def _write_windows(path: Path, moments: pd.DataFrame) -> None:
    m = moments.sort_values(["window", "source", "field"], kind="stable")
    n = m["n"].astype("int64")
    table = pd.DataFrame({
        "window": m["window"], "source": m["source"].astype(str), "field": m["field"],
        "count": n, "missing": (m["rows"] - m["n"]).astype("int64"),
        "mean": m["mean"].where(n > 0),
        "std": np.sqrt(m["m2"] / (n - 1)).where(n > 1),
        "min": m["min"], "max": m["max"], "out_of_range": m["oor"].astype("int64")})
    _write_parquet(table.reset_index(drop=True), path)


def hourly_series(hourly: pd.DataFrame, fields: list[str]) -> dict[str, pd.DataFrame]:
    """Per source: a frame indexed by bucket (ascending) with each field's mean there."""
    wide = hourly.pivot(index=["source", "bucket"], columns="field", values="mean") \
        .sort_index()
    out = {}
    for source, frame in wide.groupby(level=0, sort=True):
        frame = frame.droplevel(0).sort_index()
        frame = frame[frame.index.notna()]
        out[source] = frame.reindex(columns=fields)
    return out


def _anomalies(out: Path, stream: str, series: dict, fields: list[str], params: dict):
    """Fit one SeasonalAnomalyDetector per source on its bucket residuals (with each
    bucket's phase in the season); list what it flags. Returns the results entry and the
    long series frame for series/<stream>.parquet."""
    import joblib

    from ledgerlake.analytics.models import METHODS, SeasonalAnomalyDetector, residuals

    detectors, found, frames = {}, [], []
    threshold = float(params["z_threshold"])
    bucket_ns = pd.Timedelta(params["bucket"]).value
    period = int(params["season"])
    for source, frame in series.items():
        long = frame.reset_index().melt(id_vars=frame.index.name or "bucket",
                                        var_name="field", value_name="value")
        long.columns = ["time", "field", "value"]
        long.insert(0, "source", source)
        long["anomaly"] = False
        long["score"] = np.nan
        if len(frame) >= MIN_ANOMALY_POINTS:
            # the phase: the bucket's place in the season (hour of day for 1h and 24)
            phase = (frame.index.as_unit("ns").asi8 // bucket_ns) % period
            X = np.column_stack([phase, residuals(frame, int(params["z_window"])).to_numpy()])
            det = SeasonalAnomalyDetector(period=period,
                                          quantile=float(params["anomaly_quantile"]),
                                          threshold=threshold,
                                          n_estimators=int(params["n_estimators"]),
                                          random_state=int(params["random_state"])).fit(X)
            detectors[source] = det
            score = -det.score_samples(X)
            flagged = det.predict(X) == -1
            methods = det.methods(X)
            z = det.ratios(X)
            for i in np.flatnonzero(flagged):
                j = int(np.argmax(z[i]))
                found.append({"source": source, "time": _iso(frame.index[i]),
                              "field": fields[j], "value": _num(frame.iloc[i, j]),
                              "score": float(score[i]),
                              "methods": [m for m, hit in zip(METHODS, methods[i]) if hit]})
            field_hit = (z > threshold) & flagged[:, None]
            long["anomaly"] = field_hit.T.reshape(-1)
            long["score"] = np.tile(score, len(fields))
        frames.append(long)
    path = out / "models" / f"{stream}-anomaly.joblib"
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(detectors, path)
    found.sort(key=lambda a: (-a["score"], a["source"], a["time"]))
    by_source = defaultdict(int)
    for a in found:
        by_source[a["source"]] += 1
    entry = {"methods": list(METHODS), "count": len(found),
             "by_source": {s: by_source.get(s, 0) for s in series},
             "top": found[:int(params["top"])]}
    columns = ["source", "time", "field", "value", "anomaly", "score"]
    frame = pd.concat(frames, ignore_index=True)[columns] if frames else \
        pd.DataFrame({c: [] for c in columns})
    return entry, frame.sort_values(["source", "field", "time"], ignore_index=True)


def _forecast(out: Path, stream: str, series: dict, target: str, params: dict) -> dict:
    """One Forecaster for the stream's target field, pooled over its sources, trained
    before the split time and scored after it against the seasonal-naive baseline."""
    import joblib

    from ledgerlake.analytics.models import Forecaster, lag_features, metrics, \
        seasonal_lag, seasonal_naive

    bucket = pd.Timedelta(params["bucket"])
    horizon, period = int(params["horizon"]), int(params["season"])
    regular = {}
    for source, frame in series.items():
        if frame.empty:
            continue
        y = frame[target]
        regular[source] = y.reindex(pd.date_range(y.index.min(), y.index.max(), freq=bucket))
    if not regular:
        return None
    t0 = min(y.index.min() for y in regular.values())
    t2 = max(y.index.max() for y in regular.values())
    t1 = t0 + ((t2 - t0) * (1 - float(params["test_fraction"]))).floor(bucket)
    parts = []
    for code, (source, y) in enumerate(sorted(regular.items())):
        X = lag_features(y, horizon=horizon, period=period).assign(source=float(code))
        parts.append(X.assign(_y=y, _base=seasonal_naive(y, period, horizon),
                              _source=source))
    data = pd.concat(parts)
    features = [c for c in data.columns if not c.startswith("_")]
    train = data[(data.index < t1) & data["_y"].notna()]
    test = data[(data.index >= t1) & data["_y"].notna() & data["_base"].notna()]
    features = [c for c in features if train[c].notna().any()]   # lags beyond the span
    longest = int(train.groupby("_source").size().max()) if len(train) else 0
    if longest < 2 * period or test.empty:
        return {"target": target, "model": None, "features": features,
                "train": [_iso(t0), _iso(t1)], "test": [_iso(t1), _iso(t2)],
                "metrics": None, "baseline": None, "skill": None,
                "note": f"too little data: {longest} training buckets for the longest "
                        f"source and {len(test)} test buckets (need {2 * period} and 1)"}
    model = Forecaster(random_state=int(params["random_state"]))
    model.fit(train[features].to_numpy(), train["_y"].to_numpy())
    predicted = model.predict(test[features].to_numpy())
    path = out / "models" / f"{stream}-forecast.joblib"
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    frame = pd.DataFrame({"source": test["_source"].to_numpy(), "time": test.index,
                          "actual": test["_y"].to_numpy(), "forecast": predicted,
                          "baseline": test["_base"].to_numpy()})
    _write_parquet(frame.sort_values(["source", "time"], ignore_index=True),
                   out / "forecast" / f"{stream}.parquet")
    model_metrics = metrics(test["_y"], predicted)
    base_metrics = metrics(test["_y"], test["_base"])
    skill = 1 - model_metrics["mae"] / base_metrics["mae"] if base_metrics["mae"] else None
    return {"target": target, "model": "Forecaster(HistGradientBoostingRegressor)",
            "horizon": horizon, "features": features, "train": [_iso(t0), _iso(t1)],
            "test": [_iso(t1), _iso(t2)], "metrics": model_metrics,
            "baseline": {"name": "seasonal_naive", "period": period,
                         "lag": seasonal_lag(horizon, period), "metrics": base_metrics},
            "skill": skill}


# -- small helpers ---------------------------------------------------------------------------
def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame whole (temp file, then rename): no half-written output."""
    lake.atomic_write(path, lambda f: frame.to_parquet(f, index=False))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _iso(moment) -> str | None:
    if moment is None or (not isinstance(moment, datetime) and pd.isna(moment)):
        return None
    ts = pd.Timestamp(moment)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.isoformat().replace("+00:00", "Z")


def _num(value):
    return None if value is None or pd.isna(value) else float(value)


def _clean(value):
    """JSON-ready: NaN and infinities as null, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)
    return value
