"""A synthetic analysis run in the shapes of /work ANALYTICS.md (results.json, series/,
forecast/, models/, tables/) over a small lake of two streams, for the report and lineage
tests: deterministic (a seed), so two calls give the same files."""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ledgerlake import records
from ledgerlake.analytics import lake

T0 = pd.Timestamp("2026-03-01T00:00:00Z")
HOURS = 24 * 10
STREAMS = {
    "weather-tmy": {
        "schema": {"version": 1, "fields": [
            {"name": "station", "type": "string", "public": True},
            {"name": "time", "type": "timestamp"},
            {"name": "air_temperature", "type": "float", "unit": "°C", "min": -60, "max": 60},
            {"name": "ghi", "type": "float", "unit": "W/m²", "min": 0, "max": 1500}]},
        "owner": "Org1MSP",
        "sources": ["station-723170", "station-703165"],
        "producer": ("Org1MSP", "producer"),
        "target": "air_temperature",
    },
    "weather-tm2": {
        "schema": {"version": 1, "fields": [
            {"name": "station", "type": "string", "public": True},
            {"name": "time", "type": "timestamp"},
            {"name": "air_temperature", "type": "float", "unit": "°C"}]},
        "owner": "Org2MSP",
        "sources": ["station-12839"],
        "producer": ("Org2MSP", "producer"),
        "target": "air_temperature",
    },
}
BATCH_ROWS = 60


def _values(rng, source: str, field: str, hours: np.ndarray) -> np.ndarray:
    base = 10 + (zlib.crc32(source.encode()) % 7) if field == "air_temperature" else 0.0
    if field == "air_temperature":
        return base + 6 * np.sin((hours % 24 - 9) / 24 * 2 * np.pi) + rng.normal(0, 0.5,
                                                                              hours.size)
    daylight = np.clip(np.sin((hours % 24 - 6) / 12 * np.pi), 0, None)
    return 800 * daylight + rng.normal(0, 10, hours.size).clip(0)


def make_lake(lake_dir: Path, seed: int = 7) -> dict:
    """A lake of both streams, one batch per 60 rows, blocks from 5 up: returns
    ``{stream: DataFrame of lake rows}``."""
    rng = np.random.default_rng(seed)
    hours = np.arange(HOURS)
    frames, block = {}, 5
    for stream, spec in STREAMS.items():
        schema = records.Schema.from_mapping(spec["schema"])
        rows = []
        for source in spec["sources"]:
            temp = _values(rng, source, "air_temperature", hours)
            ghi = _values(rng, source, "ghi", hours)
            for seq, start in enumerate(range(0, HOURS, BATCH_ROWS), 1):
                batch = hashlib.sha256(f"{stream}/{source}/{seq}".encode()).hexdigest()
                tx_id = hashlib.sha256(f"tx/{batch}".encode()).hexdigest()
                for index, h in enumerate(range(start, min(start + BATCH_ROWS, HOURS))):
                    row = {"station": source.split("-")[1],
                           "time": T0 + pd.Timedelta(hours=int(h)),
                           "air_temperature": float(temp[h])}
                    if "ghi" in schema.names:
                        row["ghi"] = float(ghi[h])
                    commitment = hashlib.sha256(f"{batch}/{index}".encode()).hexdigest()
                    rows.append({**row, "_block": block, "_tx": 0, "_tx_id": tx_id,
                                 "_tx_time": T0 + pd.Timedelta(hours=int(h) + 1),
                                 "_batch_id": batch, "_producer_msp": spec["producer"][0],
                                 "_producer_id": spec["producer"][1], "_source": source,
                                 "_seq": seq, "_index": index, "_epoch": 1,
                                 "_commitment": commitment})
                block += 1
        frame = pd.DataFrame(rows)
        table = pa.Table.from_pandas(frame, schema=lake.arrow_schema(schema),
                                     preserve_index=False)
        folder = lake.partition_dir(lake_dir, stream, "2026-03-01")
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / lake.part_name(5, block - 1))
        frames[stream] = frame
    lake.meta_dir(lake_dir).mkdir(parents=True, exist_ok=True)
    (lake.meta_dir(lake_dir) / "lake.json").write_text(json.dumps({
        "channel": "ledgerlake", "genesis_hash": "00" * 32, "synced_to": block - 1,
        "tip_hash": "11" * 32,
        "streams": {s: {"schema": spec["schema"], "owner": spec["owner"], "readable": True,
                        "records": len(frames[s]), "shredded_epochs": [],
                        "shredded_records": 0} for s, spec in STREAMS.items()}}))
    return frames


def lake_tables(frames: dict) -> list[tuple[str, pa.Table]]:
    """The frames as ``sync.ledger_records`` yields them: (stream, table in lake columns)."""
    out = []
    for stream, frame in frames.items():
        schema = records.Schema.from_mapping(STREAMS[stream]["schema"])
        out.append((stream, pa.Table.from_pandas(frame, schema=lake.arrow_schema(schema),
                                                 preserve_index=False)))
    return out


def _stats(values: pd.Series) -> dict:
    return {"count": int(values.count()), "missing": int(values.isna().sum()),
            "mean": float(values.mean()), "std": float(values.std()),
            "min": float(values.min()), "p25": float(values.quantile(.25)),
            "p50": float(values.median()), "p75": float(values.quantile(.75)),
            "max": float(values.max())}


def make_run(out_dir: Path, lake_dir: Path, seed: int = 7) -> dict:
    """An analysis run directory over ``make_lake``'s lake: returns its results."""
    frames = make_lake(lake_dir, seed)
    rng = np.random.default_rng(seed + 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("series", "forecast", "models", "tables"):
        (out_dir / sub).mkdir(exist_ok=True)
    all_rows = pd.concat(frames.values()).sort_values(list(lake.LEDGER_ORDER))
    results: dict = {
        "run": {"id": "20260301T120000Z-3f2a", "started": "2026-03-12T12:00:00+00:00",
                "finished": "2026-03-12T12:01:30+00:00",
                "cluster": {"kind": "local", "address": "tcp://127.0.0.1:8786", "workers": 2},
                "code_version": "ledgerlake 0.1.0", "params": {"window": "1D", "seed": seed}},
        "inputs": {"lake": str(lake_dir), "streams": list(STREAMS),
                   "blocks": [int(all_rows["_block"].min()), int(all_rows["_block"].max())],
                   "rows": len(all_rows),
                   "merkle_root": records.merkle_root(
                       [bytes.fromhex(c) for c in all_rows["_commitment"]]).hex(),
                   "time_from": None, "time_to": None},
        "streams": {}, "outputs": {}}
    for stream, frame in frames.items():
        spec = STREAMS[stream]
        fields = [f["name"] for f in spec["schema"]["fields"] if f["type"] == "float"]
        series = []
        anomalies_top = []
        for source in spec["sources"]:
            part = frame[frame["_source"] == source]
            for field in fields:
                values = part[field].to_numpy().copy()
                score = np.abs(values - values.mean()) / (values.std() or 1)
                flags = np.zeros(values.size, bool)
                if field == spec["target"]:
                    for at in (50, 51, 170):
                        values[at] += 25
                        flags[at] = True
                        score[at] = 6.0
                        anomalies_top.append({
                            "source": source, "time": part["time"].iloc[at].isoformat(),
                            "field": field, "value": float(values[at]),
                            "score": 6.0, "methods": ["isolation_forest", "robust_z"]})
                series.append(pd.DataFrame({"source": source, "time": part["time"].array,
                                            "field": field, "value": values,
                                            "anomaly": flags, "score": score}))
        pd.concat(series).to_parquet(out_dir / "series" / f"{stream}.parquet", index=False)
        test = frame.iloc[-48 * len(spec["sources"]):]
        forecast = pd.DataFrame({
            "source": test["_source"].values, "time": test["time"].array,
            "actual": test[spec["target"]].values,
            "forecast": test[spec["target"]].values + rng.normal(0, 0.6, len(test)),
            "baseline": test[spec["target"]].values + rng.normal(0, 1.2, len(test))})
        forecast.to_parquet(out_dir / "forecast" / f"{stream}.parquet", index=False)
        mae = float((forecast["forecast"] - forecast["actual"]).abs().mean())
        base_mae = float((forecast["baseline"] - forecast["actual"]).abs().mean())
        (out_dir / "models" / f"{stream}-forecast.joblib").write_bytes(b"model " + stream.encode())
        (out_dir / "models" / f"{stream}-anomaly.joblib").write_bytes(b"anomaly " + stream.encode())
        windows = frame.assign(day=frame["time"].dt.floor("1D")).groupby(
            ["_source", "day"])[spec["target"]].mean().reset_index()
        windows.to_parquet(out_dir / "tables" / f"{stream}-windows.parquet", index=False)
        by_source_quality = {s: {"rows": int((frame["_source"] == s).sum()),
                                 "missing": {f: (2 if f == spec["target"] else 0) for f in fields},
                                 "out_of_range": {f: (1 if f == spec["target"] else 0)
                                                  for f in fields},
                                 "late": 1, "out_of_order": 0, "duplicates": 2}
                             for s in spec["sources"]}
        contributors = []
        for source in spec["sources"]:
            part = frame[frame["_source"] == source]
            contributors.append({"producer_msp": spec["producer"][0],
                                 "producer_id": spec["producer"][1], "source": source,
                                 "batches": int(part["_batch_id"].nunique()),
                                 "records": len(part),
                                 "first_block": int(part["_block"].min()),
                                 "last_block": int(part["_block"].max())})
        results["streams"][stream] = {
            "time_field": "time", "value_fields": fields, "sources": spec["sources"],
            "statistics": {
                "overall": {f: _stats(frame[f]) for f in fields},
                "by_source": {s: {f: _stats(frame.loc[frame["_source"] == s, f])
                                  for f in fields} for s in spec["sources"]},
                "by_window": {"window": "1D", "path": f"tables/{stream}-windows.parquet"}},
            "quality": {
                "rows": len(frame),
                "missing": {f: 2 * len(spec["sources"]) if f == spec["target"] else 0
                            for f in fields},
                "out_of_range": {f: len(spec["sources"]) if f == spec["target"] else 0
                                 for f in fields},
                "late": len(spec["sources"]), "out_of_order": 0,
                "duplicates": 2 * len(spec["sources"]), "by_source": by_source_quality},
            "anomalies": {"methods": ["isolation_forest", "robust_z"],
                          "count": len(anomalies_top),
                          "by_source": {s: 3 for s in spec["sources"]},
                          "top": anomalies_top},
            "forecast": {"target": spec["target"], "model": "HistGradientBoostingRegressor",
                         "features": ["lag_1", "lag_24", "hour", "dayofweek"],
                         "train": [T0.isoformat(), (T0 + pd.Timedelta(days=8)).isoformat()],
                         "test": [(T0 + pd.Timedelta(days=8)).isoformat(),
                                  (T0 + pd.Timedelta(days=10)).isoformat()],
                         "metrics": {"mae": mae, "rmse": mae * 1.2, "mape": 0.05},
                         "baseline": {"name": "seasonal_naive", "period": 24,
                                      "metrics": {"mae": base_mae, "rmse": base_mae * 1.2,
                                                  "mape": 0.1}},
                         "skill": 1 - mae / base_mae},
            "contributors": contributors}
    for path in sorted(out_dir.rglob("*")):
        if path.is_file():
            results["outputs"][path.relative_to(out_dir).as_posix()] = \
                hashlib.sha256(path.read_bytes()).hexdigest()
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))
    return results
