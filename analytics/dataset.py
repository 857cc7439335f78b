"""The main job's public dataset: three weather stations' typical meteorological years (TMY),
as pvlib ships them, made into per-station CSV source files with defects planted on purpose,
and a manifest saying exactly which.

    from ledgerlake.analytics import dataset

    manifest = dataset.prepare("demo-data")         # <dir>/<station>.csv + manifest.json
    manifest["stations"]["miami"]["rejected"]       # the rows ingestion must refuse

The files are pvlib's own test data (``pvlib/data``): ``703165TY.csv`` (Sand Point, AK) and
``723170TYA.CSV`` (Greensboro, NC) in TMY3 form, ``12839.tm2`` (Miami, FL) in TMY2 form; each
8,760 hourly readings read with ``pvlib.iotools``. A TMY takes each month from another year,
so the year is set to one (``YEAR``) and every time written in UTC; the stream that carries
them keeps records for ``MAX_AGE_SECONDS``, which accepts that year for decades to come.

Planted, deterministically from a seed (the same seed writes the same bytes):

- rows the ingestion must reject: a cell that is not a number, a time that is not a time,
  a value outside its field's range, the sensor's 9999 "no data" sentinel, a reading
  dated 1997 (a year these TMYs draw months from), beyond the stream's max age; each is
  an extra, corrupted copy of a real reading, so every real hour stays in the file;
- duplicate readings (a reading sent twice), missing values (empty cells), readings out of
  order (behind the station's newest reading: two neighbours swapped, an hour behind) and
  late among them (a reading arriving three days after its place);
- anomalies the analysis must find: spikes (air temperature 25 °C off, irradiance at night,
  a gale) and a stuck humidity sensor reading 0 % for a day and a half.

``manifest.json`` lists each, with the row number the ingestion's reject file names
(``row 12 of miami.csv``) and the rule that refuses it. Everything here is plain Python and
pandas; nothing touches a network.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

#: The year every station's readings are placed in (a TMY mixes years month by month).
YEAR = 2025
#: The seed the demo plants its defects with.
SEED = 20251
#: How long the stream keeps accepting a reading (20 years): 2025's readings for decades,
#: a reading dated in a TMY's source year (1997) not at all.
MAX_AGE_SECONDS = 20 * 365 * 24 * 3600
#: An out-of-order reading (behind its station's newest one) more than this far behind
#: arrived late.
LATE_AFTER_SECONDS = 3600
MANIFEST = "manifest.json"
SCHEMA_FILE = "schema.json"  # the stream schema, for 'ledgerlake stream create --schema'
TIME = "time"
VALUE_FIELDS = ("temp_air", "relative_humidity", "ghi", "dni", "dhi", "wind_speed",
                "pressure")

#: The stream schema the files follow: units and sane ranges, values optional (a sensor
#: may miss a reading), time and station required.
SCHEMA = {"version": 1, "fields": [
    {"name": "time", "type": "timestamp"},
    {"name": "station", "type": "string"},
    {"name": "temp_air", "type": "float", "unit": "°C", "min": -60, "max": 60,
     "required": False},
    {"name": "relative_humidity", "type": "float", "unit": "%", "min": 0, "max": 100,
     "required": False},
    {"name": "ghi", "type": "float", "unit": "W/m²", "min": 0, "max": 1500, "required": False},
    {"name": "dni", "type": "float", "unit": "W/m²", "min": 0, "max": 1500, "required": False},
    {"name": "dhi", "type": "float", "unit": "W/m²", "min": 0, "max": 1500, "required": False},
    {"name": "wind_speed", "type": "float", "unit": "m/s", "min": 0, "max": 75,
     "required": False},
    {"name": "pressure", "type": "float", "unit": "hPa", "min": 800, "max": 1100,
     "required": False},
]}
COLUMNS = tuple(f["name"] for f in SCHEMA["fields"])


@dataclass(frozen=True)
class Station:
    id: str        # the source id on the ledger and the file's name
    file: str      # the file in pvlib/data
    form: str      # "tmy3" or "tmy2"
    name: str


STATIONS = (
    Station("sand-point", "703165TY.csv", "tmy3", "Sand Point, AK (USAF 703165)"),
    Station("greensboro", "723170TYA.CSV", "tmy3", "Greensboro, NC (USAF 723170)"),
    Station("miami", "12839.tm2", "tmy2", "Miami, FL (WBAN 12839)"),
)

# Each defect takes one slot of SLOT rows (none closer than that to another's edge), at an
# offset inside it, so that defects never touch each other.
SLOT = 200
_EDGE = 100
#: What each station gets: how many of each defect.
_MISSING = 10
_DUPLICATES = 3
_SWAPS = 3
_LATE = 2
_REJECTS = 3
OLD_YEAR = 1997
LATE_ROWS = 72  # a late reading arrives this many readings (hours) after its place
STUCK_ROWS = 36
#: How a rejected copy is corrupted: (kind, field, the cell written, the rule that refuses it)
REJECT_KINDS = (
    ("not_a_number", "temp_air", "n/a", "parse"),
    ("out_of_range", "relative_humidity", "180.0", "schema"),
    ("sentinel", "temp_air", "9999.0", "schema"),
    ("not_a_time", "time", "2025-02-30T25:00:00Z", "parse"),
    ("too_old", "time", None, "time.max_age"),   # None: the time moved to OLD_YEAR
)


def pvlib_data_dir() -> Path:
    import pvlib

    return Path(pvlib.__file__).parent / "data"


def load_station(station: Station, year: int = YEAR):
    """One station's 8,760 readings as pvlib reads them: a DataFrame with ``time`` (UTC) and
    the value fields in the schema's units, the year set to ``year``."""
    import pandas as pd
    from pvlib import iotools

    path = pvlib_data_dir() / station.file
    if station.form == "tmy3":
        data, _ = iotools.read_tmy3(str(path), coerce_year=year, map_variables=True)
        frame = data[list(VALUE_FIELDS)].astype(float)
    else:  # TMY2: temperature and wind in tenths, other names; one source year for all
        data, _ = iotools.read_tmy2(str(path))
        data.index = pd.DatetimeIndex([t.replace(year=year) for t in data.index])
        frame = pd.DataFrame({
            "temp_air": data["DryBulb"] / 10, "relative_humidity": data["RHum"],
            "ghi": data["GHI"], "dni": data["DNI"], "dhi": data["DHI"],
            "wind_speed": data["Wspd"] / 10, "pressure": data["Pressure"]},
            index=data.index).astype(float)
    frame.insert(0, TIME, frame.index.tz_convert("UTC"))
    frame.insert(1, "station", station.id)
    return frame.reset_index(drop=True)


def _time_text(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: float | None) -> str:
    """A value as its shortest round-tripping text; an empty cell for a missing one."""
    return "" if value is None else repr(float(value))


def _slots(rng: random.Random, rows: int) -> list[int]:
    slots = list(range(_EDGE, rows - _EDGE - SLOT, SLOT))
    rng.shuffle(slots)
    return slots


def _plant(station: Station, readings: list[dict], rng: random.Random, index: int) -> dict:
    """Plant the defects in one station's readings; return the file's rows (dicts of cell
    texts) and what was planted (by reading index; row numbers are set afterwards)."""
    slots = _slots(rng, len(readings))
    take = iter(slots)

    def spot(lo: int = 20, hi: int = 180) -> int:
        return next(take) + rng.randrange(lo, hi)

    anomalies = []
    # a spike in air temperature: 25 °C off
    i = spot()
    old = readings[i]["temp_air"]
    new = round(old + 25 if old + 25 <= 55 else old - 25, 1)
    readings[i]["temp_air"] = new
    anomalies.append({"kind": "spike", "field": "temp_air", "index": i, "rows": 1,
                      "value": new, "was": old})
    # irradiance at night: the first dark hour of a slot made bright
    i = spot()
    while readings[i]["ghi"] != 0:
        i += 1
    readings[i]["ghi"] = 1250.0
    anomalies.append({"kind": "spike", "field": "ghi", "index": i, "rows": 1,
                      "value": 1250.0, "was": 0.0})
    # a gale out of nowhere
    i = spot()
    old = readings[i]["wind_speed"]
    readings[i]["wind_speed"] = 40.0
    anomalies.append({"kind": "spike", "field": "wind_speed", "index": i, "rows": 1,
                      "value": 40.0, "was": old})
    if index == 1:  # one station's humidity sensor sticks at 0 % for a day and a half
        i = spot(20, 180 - STUCK_ROWS)
        for k in range(i, i + STUCK_ROWS):
            readings[k]["relative_humidity"] = 0.0
        anomalies.append({"kind": "stuck", "field": "relative_humidity", "index": i,
                          "rows": STUCK_ROWS, "value": 0.0, "was": None})

    missing = []
    fields = ("temp_air", "relative_humidity", "ghi", "wind_speed", "pressure")
    for n in range(_MISSING):
        i, field = spot(), fields[n % len(fields)]
        readings[i][field] = None
        missing.append({"index": i, "field": field})

    duplicates = [spot() for _ in range(_DUPLICATES)]
    swaps = [spot() for _ in range(_SWAPS)]
    late = [spot(20, 180 - LATE_ROWS - 1) for _ in range(_LATE)]
    rejects = []
    for n in range(_REJECTS):
        kind = REJECT_KINDS[(index * _REJECTS + n) % len(REJECT_KINDS)]
        rejects.append((spot(), kind))

    def cells(reading: dict) -> dict:
        return {TIME: _time_text(reading[TIME]), "station": reading["station"],
                **{f: _number(reading[f]) for f in VALUE_FIELDS}}

    # the file's order: swaps, late readings moved, duplicates and corrupted copies added
    order = list(range(len(readings)))
    for i in swaps:
        order[i], order[i + 1] = order[i + 1], order[i]
    for i in late:
        order.remove(i)
        order.insert(order.index(i + LATE_ROWS) + 1, i)
    after: dict[int, list] = {}
    for i in duplicates:
        after.setdefault(i, []).append(("duplicate", cells(readings[i]), None))
    for i, (kind, field, text, rule) in rejects:
        row = cells(readings[i])
        if text is None:  # dated decades before the stream's window
            text = _time_text(readings[i][TIME].replace(year=OLD_YEAR))
        row[field] = text
        after.setdefault(i, []).append(("rejected", row, {"kind": kind, "field": field,
                                                          "cell": text, "rule": rule}))
    rows, kinds = [], []
    for i in order:
        rows.append(cells(readings[i]))
        kinds.append(("reading", i, None))
        for what, row, info in after.get(i, ()):
            rows.append(row)
            kinds.append((what, i, info))
    return {"rows": rows, "kinds": kinds, "anomalies": anomalies, "missing": missing,
            "late": late, "swaps": swaps}


def _arrival(readings: list[dict], kinds: list[tuple]) -> tuple[list, list]:
    """Out-of-order readings in file order, as the ingestion commits them: behind the
    newest accepted reading of the station so far; the late ones are those more than
    LATE_AFTER_SECONDS behind."""
    newest, out_of_order, late = None, [], []
    for row, (what, i, _) in enumerate(kinds, 1):
        if what == "rejected":
            continue
        moment = readings[i][TIME]
        if newest is not None and moment < newest:
            behind = int((newest - moment).total_seconds())
            entry = {"row": row, "time": _time_text(moment), "behind_seconds": behind}
            out_of_order.append(entry)
            if behind > LATE_AFTER_SECONDS:
                late.append(entry)
        else:
            newest = moment
    return out_of_order, late


def build(seed: int = SEED, year: int = YEAR) -> tuple[dict[str, bytes], dict]:
    """The files (name → CSV bytes) and the manifest, without writing anything."""
    import pvlib

    files, stations = {}, {}
    for index, station in enumerate(STATIONS):
        frame = load_station(station, year)
        readings = frame.to_dict("records")
        for r in readings:
            r[TIME] = r[TIME].to_pydatetime()
        rng = random.Random(f"{seed}:{station.id}")
        planted = _plant(station, readings, rng, index)
        rows, kinds = planted["rows"], planted["kinds"]
        first_row = {}  # reading index → its row number (1-based, as the ingest counts)
        for row, (what, i, _) in enumerate(kinds, 1):
            if what == "reading":
                first_row[i] = row
        out_of_order, late = _arrival(readings, kinds)
        rejected = [{"row": row, "where": f"row {row} of {station.id}.csv", **info}
                    for row, (what, _, info) in enumerate(kinds, 1) if what == "rejected"]
        duplicates = [{"row": row, "of_row": first_row[i], "time": _time_text(readings[i][TIME])}
                      for row, (what, i, _) in enumerate(kinds, 1) if what == "duplicate"]
        missing: dict[str, list[int]] = {}
        for m in planted["missing"]:
            missing.setdefault(m["field"], []).append(first_row[m["index"]])
        anomalies = []
        for a in planted["anomalies"]:
            start = readings[a["index"]][TIME]
            end = readings[a["index"] + a["rows"] - 1][TIME]
            anomalies.append({"kind": a["kind"], "field": a["field"], "time": _time_text(start),
                              "until": _time_text(end), "rows": a["rows"],
                              "first_row": first_row[a["index"]], "value": a["value"],
                              "was": a["was"]})
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        name = f"{station.id}.csv"
        files[name] = buffer.getvalue().encode()
        stations[station.id] = {
            "file": name, "source": station.id, "name": station.name,
            "pvlib_file": station.file, "form": station.form,
            "rows": len(rows), "readings": len(readings),
            "accepted": len(rows) - len(rejected),
            "rejected": sorted(rejected, key=lambda r: r["row"]),
            "duplicates": sorted(duplicates, key=lambda d: d["row"]),
            "missing": {f: sorted(v) for f, v in sorted(missing.items())},
            "out_of_order": out_of_order, "late": late,
            "anomalies": sorted(anomalies, key=lambda a: a["time"]),
        }
    manifest = {
        "dataset": "pvlib TMY weather stations (pvlib/data: 703165TY.csv, 723170TYA.CSV, "
                   "12839.tm2)",
        "pvlib": pvlib.__version__, "seed": seed, "year": year,
        "max_age_seconds": MAX_AGE_SECONDS, "late_after_seconds": LATE_AFTER_SECONDS,
        "time_field": TIME, "schema": SCHEMA, "stations": stations,
        "totals": totals(stations),
    }
    return files, manifest


def totals(stations: dict) -> dict:
    """What the manifest plants, counted over all stations (or the ones given)."""
    count = {"rows": 0, "accepted": 0, "rejected": 0, "duplicates": 0, "missing": 0,
             "out_of_order": 0, "late": 0, "anomalies": 0}
    rules: dict[str, int] = {}
    for s in stations.values():
        for key in ("rows", "accepted"):
            count[key] += s[key]
        for key in ("rejected", "duplicates", "out_of_order", "late", "anomalies"):
            count[key] += len(s[key])
        count["missing"] += sum(len(v) for v in s["missing"].values())
        for r in s["rejected"]:
            rules[r["rule"]] = rules.get(r["rule"], 0) + 1
    return {**count, "rejected_by_rule": dict(sorted(rules.items()))}


def prepare(out_dir: str | Path, *, seed: int = SEED, year: int = YEAR) -> dict:
    """Write ``<out_dir>/<station>.csv``, ``manifest.json`` and the stream's ``schema.json``;
    return the manifest. Files already holding the same bytes are left alone (a re-run
    changes nothing, so an ingest resumes where it stopped); others are replaced
    atomically."""
    files, manifest = build(seed, year)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files[MANIFEST] = (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode()
    files[SCHEMA_FILE] = (json.dumps(SCHEMA, indent=1, ensure_ascii=False) + "\n").encode()
    for name, data in files.items():
        path = out / name
        if path.is_file() and path.read_bytes() == data:
            continue
        temporary = path.with_name(f".{name}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)
    return manifest


def load_manifest(out_dir: str | Path) -> dict:
    return json.loads((Path(out_dir) / MANIFEST).read_text())


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def station_files(out_dir: str | Path, manifest: dict, stations: Any = None) -> list[Path]:
    """The CSV files of ``stations`` (ids; default all), in the manifest's order."""
    chosen = list(manifest["stations"]) if stations is None else list(stations)
    return [Path(out_dir) / manifest["stations"][s]["file"] for s in chosen]


# -- what an analysis found against what was planted ---------------------------------------
@dataclass(frozen=True)
class Finding:
    what: str
    planted: int
    found: int | None    # None: the analysis does not report it
    detail: str = ""
    same: bool | None = None  # for rows named one by one: the very rows planted

    @property
    def ok(self) -> bool:
        return self.found == self.planted if self.same is None else self.same


def findings(manifest: dict, results: dict, out_dir: str | Path,
             rejected: list[dict]) -> list[Finding]:
    """The manifest against an ingest's reject lines (``source``, ``where``, ``rule``) and an
    analysis (``results.json`` as a dict, its ``series/`` under ``out_dir``): rows
    rejected, duplicates, missing values, out-of-order and late readings, anomalies."""
    stations = manifest["stations"]
    planted_rejects = {(s, r["where"], r["rule"]) for s, info in stations.items()
                       for r in info["rejected"]}
    got = {(r.get("source"), r.get("where"), r.get("rule")) for r in rejected}
    rules = ", ".join(f"{k} {v}" for k, v in manifest["totals"]["rejected_by_rule"].items())
    same = got == planted_rejects
    out = [Finding("rows rejected by ingestion", len(planted_rejects), len(got),
                   f"the same rows, by rule: {rules}" if same else
                   f"{len(got - planted_rejects)} unexpected, "
                   f"{len(planted_rejects - got)} missed", same)]

    quality = {}  # station -> its quality figures, from whichever stream holds it
    holding = []  # the quality figures of each stream holding a station
    for stream in results.get("streams", {}).values():
        by_source = stream.get("quality", {}).get("by_source", {})
        quality.update(by_source)
        if set(by_source) & set(stations):
            holding.append(stream["quality"])

    def total(key: str, count) -> int | None:
        """The figure summed over the stations, else over the streams holding them."""
        figures = [quality.get(s, {}).get(key) for s in stations]
        if any(f is None for f in figures):
            figures = [q.get(key) for q in holding]
            if not figures or any(f is None for f in figures):
                return None
        return sum(count(f) for f in figures)

    def planted(key: str) -> int:
        return sum(len(info[key]) for info in stations.values())

    out.append(Finding("duplicate readings", planted("duplicates"),
                       total("duplicates", int), "a reading sent twice"))
    out.append(Finding("missing values", manifest["totals"]["missing"],
                       total("missing", lambda m: sum(m.values())), "empty cells"))
    out.append(Finding("out-of-order readings", planted("out_of_order"),
                       total("out_of_order", int), "behind the station's newest reading"))
    out.append(Finding("late readings", planted("late"), total("late", int),
                       f"more than {LATE_AFTER_SECONDS // 3600} h behind"))
    hits, flagged, other = anomaly_hits(manifest, results, out_dir)
    kinds = {}
    for info in stations.values():
        for a in info["anomalies"]:
            kinds[a["kind"]] = kinds.get(a["kind"], 0) + 1
    out.append(Finding("anomalies (" + ", ".join(f"{n} {k}" for k, n in kinds.items()) + ")",
                       len(hits), None if flagged is None else sum(hits.values()),
                       "" if flagged is None else
                       f"{flagged} hours flagged in all, {other} of them not planted"))
    return out


def anomaly_hits(manifest: dict, results: dict, out_dir: str | Path
                 ) -> tuple[dict[tuple, bool], int | None, int | None]:
    """Whether the analysis flagged each planted anomaly (any hour of it, on its station
    and field, marked in ``series/<stream>.parquet``); also how many (source, hour) points
    it flagged in all and how many of those no planted anomaly explains. ``None`` counts
    when the analysis wrote no series."""
    import pandas as pd

    planted = {(s, a["field"], a["time"]): a for s, info in manifest["stations"].items()
               for a in info["anomalies"]}
    hits = {key: False for key in planted}
    frames = []
    for stream in results.get("streams", {}):
        path = Path(out_dir) / "series" / f"{stream}.parquet"
        if path.is_file():
            frames.append(pd.read_parquet(path))
    if not frames:
        return hits, None, None
    series = pd.concat(frames, ignore_index=True)
    flagged = series[series["anomaly"].astype(bool)]
    flagged = flagged.assign(time=pd.to_datetime(flagged["time"], utc=True))
    explained = pd.Series(False, index=flagged.index)
    for key, a in planted.items():
        start = pd.Timestamp(parse_time(a["time"])).floor("h")
        end = pd.Timestamp(parse_time(a["until"])).floor("h")
        near = (flagged["source"] == key[0]) & flagged["time"].between(start, end)
        explained |= near
        if "field" in flagged.columns:
            near &= flagged["field"] == a["field"]
        hits[key] = bool(near.any())
    points = flagged.drop_duplicates(["source", "time"])
    other = points[~explained.loc[points.index]]
    return hits, len(points), len(other)
