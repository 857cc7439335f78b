"""PNG charts of an analysis run (matplotlib, Agg backend: no display needed), from its
``results.json``, ``series/`` and ``forecast/``: per stream, each value field over time per
source with anomalies marked, the forecast against actual and baseline, data quality, and
who contributed the records. Also ``read_run``, the run directory as charts and the report
read it."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledgerlake.errors import ConfigError, LedgerlakeError

CHARTS_DIR = "charts"
#: A colour per source, the same in the PNGs and the HTML report (matplotlib's tab10).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf", "#d62728")
ANOMALY = "#d62728"


@dataclass
class Run:
    """An analysis run directory: results.json and, per stream, its series and forecast
    tables (pandas DataFrames; None when the run wrote none) and its fields' units."""

    out_dir: Path
    results: dict
    series: dict[str, Any] = field(default_factory=dict)
    forecast: dict[str, Any] = field(default_factory=dict)
    units: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def streams(self) -> list[str]:
        return sorted(self.results.get("streams", {}))

    def colour(self, stream: str, source: str) -> str:
        sources = list(self.results["streams"][stream].get("sources") or [])
        at = sources.index(source) if source in sources else zlib.crc32(source.encode())
        return PALETTE[at % len(PALETTE)]

    def label(self, stream: str, name: str) -> str:
        """A field's name with its unit (from the stream schema): ``air_temperature (°C)``."""
        unit = self.units.get(stream, {}).get(name)
        return f"{name} ({unit})" if unit else name


def _schema_units(schema: Any) -> dict[str, str]:
    if not isinstance(schema, dict):
        return {}
    return {f["name"]: f["unit"] for f in schema.get("fields", [])
            if isinstance(f, dict) and f.get("unit") and f.get("name")}


def stream_schemas(results: dict) -> dict[str, dict]:
    """Each stream's schema (a mapping): its ``schema`` in results.json, else the lake's
    metadata (lake.json) when the lake is still where the run read it."""
    found = {s: v["schema"] for s, v in (results.get("streams") or {}).items()
             if isinstance(v, dict) and isinstance(v.get("schema"), dict)}
    lake_dir = results.get("inputs", {}).get("lake")
    if lake_dir and len(found) < len(results.get("streams") or {}):
        from ledgerlake.analytics import lake
        try:
            meta = lake.read_meta(lake_dir)
        except LedgerlakeError:  # the lake is gone or not readable: no units
            meta = {}
        for stream, info in (meta.get("streams") or {}).items():
            if isinstance(info, dict) and isinstance(info.get("schema"), dict):
                found.setdefault(stream, info["schema"])
    return found


def read_results(out_dir: str | Path) -> dict:
    """A run directory's results.json, or a ConfigError saying why it is not one."""
    path = Path(out_dir) / "results.json"
    if not path.is_file():
        raise ConfigError(f"{out_dir} is not an analysis run directory: it has no results.json "
                          f"(run 'ledgerlake analyze' first)")
    try:
        results = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not JSON: {exc}") from None
    if not isinstance(results, dict) or not isinstance(results.get("streams"), dict):
        raise ConfigError(f"{path} has no 'streams' object: not an analysis run's results")
    return results


def read_run(out_dir: str | Path) -> Run:
    """The run directory's results, series and forecast tables, and units (from a stream's
    ``schema`` in results.json, else from the lake's metadata)."""
    import pandas as pd

    out_dir = Path(out_dir)
    results = read_results(out_dir)
    run = Run(out_dir, results)
    schemas = stream_schemas(results)
    for stream in results["streams"]:
        run.units[stream] = _schema_units(schemas.get(stream))
        for kind, table in (("series", run.series), ("forecast", run.forecast)):
            file = out_dir / kind / f"{stream}.parquet"
            if file.is_file():
                frame = pd.read_parquet(file)
                if "time" in frame:
                    frame["time"] = pd.to_datetime(frame["time"], utc=True)
                table[stream] = frame.sort_values(["source", "time"]) if "source" in frame \
                    else frame
    return run


# -- the charts ---------------------------------------------------------------------------
def _figure(rows: int, height: float):
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, 1, figsize=(11, height * rows), squeeze=False,
                             layout="constrained")
    return fig, [a[0] for a in axes]


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    # no timestamp or version in the file: the same run renders the same bytes
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def _time_axis(ax) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, alpha=0.3)


#: Beyond this many days a series is drawn as its daily mean within its daily range (the
#: anomalies still at their own time and value): a year of hourly lines is a solid band.
DAILY_AFTER_DAYS = 45


def daily(rows):
    """A source's series as daily mean, min and max (None when its span is short enough
    to draw every point)."""
    if rows.empty or (rows["time"].max() - rows["time"].min()).days <= DAILY_AFTER_DAYS:
        return None
    return rows.set_index("time")["value"].resample("1D").agg(["mean", "min", "max"]) \
        .dropna().reset_index()


def series_chart(run: Run, stream: str, path: Path) -> Path | None:
    """Each value field over time, a line per source (over long spans its daily mean in a
    band of its daily range), anomalies as red rings."""
    frame = run.series.get(stream)
    if frame is None or frame.empty:
        return None
    fields = list(dict.fromkeys(frame["field"]))
    fig, axes = _figure(len(fields), 2.8)
    for ax, name in zip(axes, fields):
        part = frame[frame["field"] == name]
        summary = False
        for source, rows in part.groupby("source", sort=True):
            colour = run.colour(stream, source)
            days = daily(rows)
            if days is None:
                ax.plot(rows["time"], rows["value"], lw=0.8, label=source, color=colour)
            else:
                summary = True
                ax.fill_between(days["time"], days["min"], days["max"], color=colour,
                                alpha=0.18, lw=0)
                ax.plot(days["time"], days["mean"], lw=1.1, label=f"{source} (daily mean)",
                        color=colour)
            flagged = rows[rows["anomaly"].astype(bool)]
            if len(flagged):
                ax.scatter(flagged["time"], flagged["value"], s=46, facecolors="none",
                           edgecolors=ANOMALY, linewidths=1.6, zorder=3)
        count = int(part["anomaly"].astype(bool).sum())
        ax.set_title(f"{stream}: {name} per source"
                     + (", daily mean and range" if summary else "")
                     + f" ({count} anomal{'y' if count == 1 else 'ies'} circled)",
                     loc="left", fontsize=10)
        ax.set_ylabel(run.label(stream, name))
        _time_axis(ax)
        ax.legend(fontsize=8, loc="upper right")
    return _save(fig, path)


def forecast_chart(run: Run, stream: str, path: Path) -> Path | None:
    """Per source, the test span: actual, the model's forecast and the seasonal-naive
    baseline, with both errors in the title."""
    frame = run.forecast.get(stream)
    info = run.results["streams"][stream].get("forecast") or {}
    if frame is None or frame.empty:
        return None
    sources = list(dict.fromkeys(frame["source"]))
    fig, axes = _figure(len(sources), 2.6)
    target = info.get("target", "value")
    baseline = str((info.get("baseline") or {}).get("name", "seasonal_naive")).replace("_", " ")
    for ax, source in zip(axes, sources):
        rows = frame[frame["source"] == source]
        ax.plot(rows["time"], rows["actual"], color="black", lw=1.2, label="actual")
        ax.plot(rows["time"], rows["forecast"], color=run.colour(stream, source), lw=1.2,
                label=f"forecast ({info.get('model', 'model')})")
        if "baseline" in rows:
            ax.plot(rows["time"], rows["baseline"], color="grey", lw=1, ls="--",
                    label=f"{baseline} baseline")
        errors = _mae(rows)
        ax.set_title(f"{stream} / {source}: {target} on the test span"
                     + (f" (MAE {errors[0]:.2f} vs baseline {errors[1]:.2f})" if errors else ""),
                     loc="left", fontsize=10)
        ax.set_ylabel(run.label(stream, target))
        _time_axis(ax)
        ax.legend(fontsize=8, loc="upper right")
    return _save(fig, path)


def _mae(rows) -> tuple[float, float] | None:
    if "baseline" not in rows or rows.empty:
        return None
    return (float((rows["forecast"] - rows["actual"]).abs().mean()),
            float((rows["baseline"] - rows["actual"]).abs().mean()))


def quality_rows(quality: dict) -> list[tuple[str, int]]:
    """A quality summary as (check, count) rows: missing and out-of-range per field, then
    late, out-of-order and duplicate readings."""
    rows = [(f"missing {name}", int(n)) for name, n in (quality.get("missing") or {}).items()]
    rows += [(f"out of range {name}", int(n))
             for name, n in (quality.get("out_of_range") or {}).items()]
    rows += [(label, int(quality.get(key) or 0)) for key, label in
             (("late", "late"), ("out_of_order", "out of order"), ("duplicates", "duplicates"))]
    return rows


def quality_chart(run: Run, stream: str, path: Path) -> Path | None:
    """Horizontal bars: each quality check's count per source."""
    import numpy as np

    quality = run.results["streams"][stream].get("quality") or {}
    by_source = quality.get("by_source") or {"all sources": quality}
    checks = [name for name, _ in quality_rows(quality)]
    if not checks:
        return None
    fig, (ax,) = _figure(1, max(2.4, 0.32 * len(checks) + 1))
    height = 0.8 / max(1, len(by_source))
    y = np.arange(len(checks))
    for i, (source, q) in enumerate(sorted(by_source.items())):
        counts = dict(quality_rows(q))
        ax.barh(y + i * height, [counts.get(c, 0) for c in checks], height=height,
                label=source, color=run.colour(stream, source))
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_yticks(y + height * (len(by_source) - 1) / 2, checks)
    ax.invert_yaxis()
    ax.set_xlabel(f"readings (of {quality.get('rows', '?'):,} rows)"
                  if isinstance(quality.get("rows"), int) else "readings")
    ax.set_title(f"{stream}: data quality per source", loc="left", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


def contributors_chart(run: Run, stream: str, path: Path) -> Path | None:
    """Records per source, labelled with the producer that submitted them."""
    rows = run.results["streams"][stream].get("contributors") or []
    if not rows:
        return None
    fig, (ax,) = _figure(1, max(2.2, 0.45 * len(rows) + 1))
    labels = [f"{r['source']}\n{r['producer_msp']}/{r['producer_id']}" for r in rows]
    ax.barh(labels, [r["records"] for r in rows],
            color=[run.colour(stream, r["source"]) for r in rows])
    for y, r in enumerate(rows):
        ax.annotate(f" {r['records']:,} records in {r['batches']:,} batches", (r["records"], y),
                    va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("records")
    ax.set_title(f"{stream}: who contributed the records", loc="left", fontsize=10)
    ax.margins(x=0.35)
    return _save(fig, path)


CHARTS = (("series", series_chart), ("forecast", forecast_chart),
          ("quality", quality_chart), ("contributors", contributors_chart))


def write_charts(out_dir: str | Path, run: Run | None = None) -> dict[str, Path]:
    """Every chart of the run as ``out_dir/charts/<stream>-<kind>.png``; returns
    ``{"<stream>-<kind>": path}`` (a chart with nothing to show is not written)."""
    run = run or read_run(out_dir)
    folder = Path(out_dir) / CHARTS_DIR
    written = {}
    for stream in run.streams:
        for kind, draw in CHARTS:
            path = draw(run, stream, folder / f"{stream}-{kind}.png")
            if path is not None:
                written[f"{stream}-{kind}"] = path
    return written


__all__ = ["CHARTS_DIR", "Run", "daily", "quality_rows", "read_results", "read_run", "stream_schemas",
           "write_charts"]
