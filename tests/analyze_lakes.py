"""Synthetic lakes for the analysis tests and benchmark, laid out as the sync writes them
(``analytics/lake.py``: hive partitions stream/date, files named by block range, the
provenance columns) with a ``lake.json`` of the shape ANALYTICS.md gives.

Rows follow a known model: per source, readings every ``interval`` seconds of a daily
sinusoid plus Gaussian noise; sources submit batches of ``batch`` readings in turn, ``per_block``
batches a block, and a sync step writes ``step`` blocks a file (per date).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ledgerlake import records
from ledgerlake.analytics import lake

START = pd.Timestamp("2026-01-01T00:00:00Z")

SCHEMA = records.Schema.from_mapping({"version": 1, "fields": [
    {"name": "time", "type": "timestamp"},
    {"name": "station", "type": "string"},
    {"name": "temperature_c", "type": "float", "min": -50.0, "max": 60.0},
    {"name": "humidity_pct", "type": "float", "min": 0.0, "max": 100.0, "required": False},
    {"name": "pressure_hpa", "type": "int", "min": 800, "max": 1100},
]})


def rows(lo: int, hi: int, *, sources: int = 3, batch: int = 24, per_block: int = 2,
         interval: int = 3600, noise: float = 0.5, seed: int = 0,
         stream: str = "weather") -> pd.DataFrame:
    """Rows ``lo..hi-1`` of the ledger order (vectorised, so a benchmark can make 10M)."""
    i = np.arange(lo, hi, dtype=np.int64)
    g, idx = i // batch, i % batch            # batch number in ledger order, place in it
    b, s = g // sources, g % sources          # the source's own batch number, the source
    k = b * batch + idx                       # the reading's number within its source
    t = START.value + k * interval * 10**9
    hour = (k * interval / 3600.0) % 24
    rng = np.random.default_rng([seed, lo])
    phase = s * 0.5
    temp = 15 + 8 * np.sin(2 * np.pi * hour / 24 + phase) + rng.normal(0, noise, len(i))
    hum = 60 + 10 * np.cos(2 * np.pi * hour / 24 + phase) + rng.normal(0, noise, len(i))
    pres = np.rint(1013 + 3 * np.sin(2 * np.pi * hour / 24) + s).astype(np.int64)
    block = 10 + g // per_block
    commitment = np.frombuffer(rng.bytes(32 * len(i)), dtype=np.uint8).reshape(-1, 32)
    hexes = _hex(commitment)
    source = np.array([f"st-{n}" for n in range(sources)], dtype=object)[s]
    times = pd.to_datetime(t, utc=True)
    return pd.DataFrame({
        "time": times, "station": source, "temperature_c": temp, "humidity_pct": hum,
        "pressure_hpa": pres,
        "_block": block, "_tx": (g % per_block).astype(np.int32),
        "_tx_id": pd.array(np.char.add("tx", g.astype(str)), dtype=object),
        "_tx_time": times + pd.Timedelta(seconds=30),
        "_batch_id": pd.array(np.char.add("b", g.astype(str)), dtype=object),
        "_producer_msp": np.where(s % 2 == 0, "Org1MSP", "Org2MSP").astype(object),
        "_producer_id": np.where(s % 2 == 0, "ingest1", "ingest2").astype(object),
        "_source": source, "_seq": b.astype(np.int64), "_index": idx.astype(np.int32),
        "_epoch": np.zeros(len(i), np.int32), "_commitment": hexes})


def _hex(raw: np.ndarray) -> pa.Array:
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    out = np.empty((raw.shape[0], 64), dtype=np.uint8)
    out[:, 0::2] = digits[raw >> 4]
    out[:, 1::2] = digits[raw & 15]
    offsets = np.arange(0, 64 * raw.shape[0] + 1, 64, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), raw.shape[0],
                                 [None, pa.py_buffer(offsets), pa.py_buffer(out.tobytes())])


def write(lake_dir: Path, frame: pd.DataFrame, *, stream: str = "weather",
          schema: records.Schema = SCHEMA, step: int = 5) -> list[Path]:
    """Write ``frame`` (lake columns) as sync steps of ``step`` blocks, one file per step
    and date; returns the files."""
    arrow = lake.arrow_schema(schema)
    first_block = frame["_block"] // step * step
    tf = lake.time_field(schema)
    dates = (frame[lake.column_name(tf)] if tf else frame["_tx_time"]).dt.strftime("%Y-%m-%d")
    paths = []
    for (first, date), part in frame.groupby([first_block, dates], sort=True):
        path = lake.partition_dir(lake_dir, stream, date) / lake.part_name(first, first + step - 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(part[arrow.names], schema=arrow, preserve_index=False)
        pq.write_table(table, path)
        paths.append(path)
    return paths


def write_meta(lake_dir: Path, streams: dict[str, tuple[records.Schema, int]],
               synced_to: int = 0) -> None:
    """``_ledgerlake/lake.json`` for ``streams`` (id -> (schema, records))."""
    meta = {"channel": "testchannel", "genesis_hash": "00" * 32, "synced_to": synced_to,
            "tip_hash": "11" * 32,
            "streams": {sid: {"schema": schema.to_mapping(), "owner": "Org1MSP",
                              "readable": True, "records": n, "shredded_epochs": [],
                              "shredded_records": 0}
                        for sid, (schema, n) in streams.items()}}
    lake.meta_dir(lake_dir).mkdir(parents=True, exist_ok=True)
    (lake.meta_dir(lake_dir) / "lake.json").write_text(json.dumps(meta))


def make_lake(lake_dir: Path, frame: pd.DataFrame, *, stream: str = "weather",
              step: int = 5) -> Path:
    write(lake_dir, frame, stream=stream, step=step)
    write_meta(lake_dir, {stream: (SCHEMA, len(frame))}, int(frame["_block"].max()))
    return lake_dir
