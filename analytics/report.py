"""One self-contained HTML report of an analysis run, for a stakeholder: what the run found,
in words first; then per stream each value field over time with anomalies marked, the
forecast against actual and the seasonal-naive baseline with their errors, data quality,
and who contributed what; last, the lineage receipt and its on-chain anchor.

Self-contained: plotly's JavaScript is inlined once, figures are SVG (no WebGL), nothing is
fetched from the network, so the file opens offline and can be mailed as it is. The same
run renders the same bytes (fixed chart ids, sorted keys), so ``ledgerlake report RUN_DIR``
re-renders a report whose hash still matches its receipt.

The lineage section sits in one marked slot (``LINEAGE_BEGIN`` … ``LINEAGE_END``): the
receipt hashes the report with that slot emptied (``without_lineage``), and the slot is
filled with the receipt once it is anchored (``with_lineage``); ``analytics/lineage.py``
says why.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any, Iterable

from ledgerlake.analytics.charts import ANOMALY, Run, daily, quality_rows, read_run
from ledgerlake.errors import ConfigError

REPORT_FILE = "report.html"
LINEAGE_BEGIN = b"<!--ledgerlake:lineage-->"
LINEAGE_END = b"<!--/ledgerlake:lineage-->"
LINEAGE_SCRIPT_ID = "ledgerlake-lineage"
_EMBEDDED = re.compile(rb'<script type="application/json" id="' + LINEAGE_SCRIPT_ID.encode()
                       + rb'">(.*?)</script>', re.S)
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                 "modeBarButtonsToRemove": ["sendDataToCloud"]}


# -- the lineage slot ---------------------------------------------------------------------
def _slot(data: bytes) -> tuple[int, int]:
    """Where the slot's content starts and ends; exactly one slot or ConfigError."""
    if data.count(LINEAGE_BEGIN) != 1 or data.count(LINEAGE_END) != 1:
        raise ConfigError("the report has no single lineage slot (ledgerlake:lineage markers): "
                          "not a ledgerlake report, or edited; re-render it with "
                          "'ledgerlake report RUN_DIR'")
    start = data.index(LINEAGE_BEGIN) + len(LINEAGE_BEGIN)
    end = data.index(LINEAGE_END)
    if end < start:
        raise ConfigError("the report's lineage markers are out of order")
    return start, end


def without_lineage(data: bytes) -> bytes:
    """The report with its lineage slot emptied: what the receipt hashes."""
    start, end = _slot(data)
    return data[:start] + data[end:]


def with_lineage(data: bytes, doc: dict | None) -> bytes:
    """The report with its slot showing ``doc`` (lineage.json's content; None: not yet
    recorded). Everything outside the slot is unchanged."""
    start, end = _slot(data)
    return data[:start] + lineage_section(doc).encode() + data[end:]


def embedded_lineage(data: bytes) -> dict | None:
    """The lineage document a report's slot shows (None when the slot shows none)."""
    start, end = _slot(data)
    match = _EMBEDDED.search(data[start:end])
    if not match:
        return None
    try:
        doc = json.loads(match.group(1))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"the report's lineage slot holds no valid JSON ({exc}): edited or "
                          f"damaged; its run directory's lineage.json is what to check") \
            from None
    if not isinstance(doc, dict):
        raise ConfigError("the report's lineage slot holds JSON that is not a lineage "
                          "document: edited or damaged")
    return doc


def _json_script(doc: dict) -> str:
    """JSON safe inside <script>: no '<', '>' or '&' (so no '</script>' or '<!--')."""
    text = json.dumps(doc, sort_keys=True)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text


# -- formatting helpers -------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _time(value: Any, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    """A time of results.json (ISO-8601 or nanoseconds) for people."""
    import pandas as pd

    if value is None or value == "":
        return "-"
    try:
        moment = pd.Timestamp(int(value), unit="ns", tz="UTC") if \
            isinstance(value, int) or (isinstance(value, str) and value.isdigit()) else \
            pd.Timestamp(value)
    except (ValueError, TypeError):
        return str(value)
    if moment.tzinfo is None:
        moment = moment.tz_localize("UTC")
    return moment.tz_convert("UTC").strftime(fmt)


def _day(value: Any) -> str:
    return _time(value, "%-d %b %Y")


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:,.{digits}f}"
    return str(value)


def _words(name: str) -> str:
    return name.replace("_", " ")


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _table(headers: Iterable[str], rows: Iterable[Iterable[Any]], cls: str = "") -> str:
    """An HTML table; numbers right-aligned. Cells are escaped unless already markup
    (``_Markup``)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, _Markup):
                cells.append(f"<td>{cell}</td>")
            elif isinstance(cell, (int, float)) and not isinstance(cell, bool):
                cells.append(f'<td class="n">{_num(cell)}</td>')
            else:
                cells.append(f"<td>{_e('-' if cell is None else cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="{cls}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


class _Markup(str):
    """HTML already escaped (a table cell that holds a <code> element)."""


def _code(text: str) -> _Markup:
    return _Markup(f"<code>{_e(text)}</code>")


# -- findings in words ----------------------------------------------------------------------
def _unit(run: Run, stream: str, name: str) -> str:
    unit = run.units.get(stream, {}).get(name)
    return f" {unit}" if unit else ""


def _flagged(run: Run, stream: str) -> list[dict]:
    """The stream's anomalies as ``{source, field, time, value, score}``: the series'
    flagged buckets (what the charts circle), else results.json's top list."""
    frame = run.series.get(stream)
    if frame is not None and not frame.empty:
        rows = frame[frame["anomaly"].astype(bool)]
        return rows[[c for c in ("source", "field", "time", "value", "score")
                     if c in rows]].to_dict("records")
    return list((run.results["streams"][stream].get("anomalies") or {}).get("top") or [])


def _days(moments: list) -> str:
    """"on 3 Mar 2026 (2) and 8 Mar 2026", or the three busiest days and how many others."""
    import pandas as pd

    days = pd.Series([pd.Timestamp(m).tz_convert("UTC") if pd.Timestamp(m).tzinfo else
                      pd.Timestamp(m).tz_localize("UTC") for m in moments]).dt.floor("D")
    counts = days.value_counts()
    busiest = sorted(counts.index, key=lambda d: (-counts[d], d))  # ties: the earlier day
    shown = busiest[:3]
    listed = [f"{_day(d)} ({counts[d]})" if counts[d] > 1 else _day(d) for d in sorted(shown)]
    text = ", ".join(listed[:-1]) + " and " + listed[-1] if len(listed) > 1 else listed[0]
    if len(counts) > 3:
        return f", most on {text}, the rest on {_plural(len(counts) - 3, 'other day')}"
    return f" on {text}"


def anomaly_findings(run: Run, stream: str, limit: int = 6) -> list[str]:
    """"3 anomalies in station-723170's air temperature (stream weather-tmy) on 3 Mar 2026
    (2) and 8 Mar 2026; the strongest 34.8 °C at 2026-03-03 02:00 UTC": one sentence per
    source and field, most anomalies first, at most ``limit`` (then how many more)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for item in _flagged(run, stream):
        groups.setdefault((str(item.get("source")), str(item.get("field", ""))), []).append(item)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    out = []
    for (source, name), items in ordered[:limit]:
        text = (f"{_plural(len(items), 'anomaly', 'anomalies')} in {source}'s "
                f"{_words(name) or 'readings'} (stream {stream})")
        times = [i["time"] for i in items if i.get("time") is not None]
        if times:
            text += _days(times)
        peak = max(items, key=lambda i: abs(float(i.get("score") or 0)))
        if isinstance(peak.get("value"), (int, float)):
            text += (f"; the strongest {_num(float(peak['value']), 1)}{_unit(run, stream, name)}"
                     f" at {_time(peak.get('time'))}")
        out.append(text + ".")
    rest = sum(len(items) for _, items in ordered[limit:])
    if rest:
        out.append(f"{_plural(rest, 'more anomaly', 'more anomalies')} in stream {stream}'s "
                   f"other sources and fields (see below).")
    return out


def forecast_finding(run: Run, stream: str) -> str | None:
    info = run.results["streams"][stream].get("forecast") or {}
    metrics = info.get("metrics") or {}
    base = (info.get("baseline") or {}).get("metrics") or {}
    if not isinstance(metrics.get("mae"), (int, float)):
        return None
    target = info.get("target", "the target")
    unit = _unit(run, stream, target)
    text = (f"The {_words(target)} forecast of stream {stream} ({info.get('model', 'model')}) "
            f"is off by {_num(metrics['mae'])}{unit} on average (MAE) over the test span"
            f" {_day((info.get('test') or [None])[0])} to "
            f"{_day((info.get('test') or [None, None])[-1])}")
    if isinstance(base.get("mae"), (int, float)) and base["mae"]:
        skill = 1 - metrics["mae"] / base["mae"]
        name = _words((info.get("baseline") or {}).get("name", "baseline"))
        text += (f", {abs(skill):.0%} {'better' if skill >= 0 else 'worse'} than the "
                 f"{name} baseline's {_num(base['mae'])}{unit}")
    return text + "."


def quality_finding(run: Run, stream: str) -> str | None:
    """"Data quality of stream weather (8,760 rows): 12 missing air temperature values,
    3 ghi readings out of range, 2 duplicate readings." (only what was found)."""
    quality = run.results["streams"][stream].get("quality") or {}
    parts = []
    for name, n in (quality.get("missing") or {}).items():
        if n:
            parts.append(f"{_plural(int(n), f'missing {_words(name)} value')}")
    for name, n in (quality.get("out_of_range") or {}).items():
        if n:
            parts.append(f"{_plural(int(n), f'{_words(name)} reading')} out of range")
    for key, what in (("late", "late arrival"), ("out_of_order", "out-of-order arrival"),
                      ("duplicates", "duplicate reading")):
        if quality.get(key):
            parts.append(_plural(int(quality[key]), what))
    rows = quality.get("rows")
    if not parts:
        return (f"No data-quality issue in stream {stream}"
                + (f"'s {rows:,} rows." if isinstance(rows, int) else "."))
    return (f"Data quality of stream {stream}"
            + (f" ({rows:,} rows)" if isinstance(rows, int) else "") + ": "
            + ", ".join(parts) + ".")


def findings(run: Run) -> list[str]:
    """The report's summary: what was analysed, the anomalies, the forecasts, the data
    quality, in sentences."""
    results = run.results
    inputs = results.get("inputs", {})
    sources = {(c.get("producer_msp"), c.get("source"))
               for s in results["streams"].values() for c in s.get("contributors") or []}
    orgs = {msp for msp, _ in sources}
    blocks = inputs.get("blocks") or ["?", "?"]
    rows = inputs.get("rows")
    lines = [f"This run analysed {_num(rows) if rows is not None else 'the'} records of "
             f"{_plural(len(run.streams), 'stream')} ({', '.join(run.streams)}), committed in "
             f"ledger blocks {blocks[0]} to {blocks[-1]}"
             + (f" by {_plural(len(sources), 'source')} of "
                f"{_plural(len(orgs), 'organisation')}" if sources else "") + "."]
    anomalies = [f for s in run.streams for f in anomaly_findings(run, s)]
    lines += anomalies or ["No anomalies were found."]
    lines += [f for s in run.streams if (f := forecast_finding(run, s))]
    lines += [f for s in run.streams if (f := quality_finding(run, s))]
    return lines


# -- figures (plotly) ---------------------------------------------------------------------
def _figure_html(fig, div_id: str, height: int) -> str:
    import plotly.io as pio

    fig.update_layout(template="plotly_white", height=height,
                      margin={"l": 70, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.12})
    return (f'<div class="chart" data-chart="{_e(div_id)}">'
            + pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id,
                          config=PLOTLY_CONFIG, default_height=f"{height}px")
            + "</div>")


def _series_figures(run: Run, stream: str) -> list[str]:
    import plotly.graph_objects as go

    frame = run.series.get(stream)
    if frame is None or frame.empty:
        return []
    out = []
    for i, name in enumerate(dict.fromkeys(frame["field"])):
        part = frame[frame["field"] == name]
        fig = go.Figure()
        flagged_all = 0
        for source, rows in part.groupby("source", sort=True):
            colour = run.colour(stream, source)
            days = daily(rows)
            fig.add_trace(go.Scatter(x=rows["time"], y=rows["value"], mode="lines",
                                     name=str(source) if days is None else f"{source} (hourly)",
                                     opacity=1 if days is None else 0.3, legendgroup=source,
                                     line={"width": 1 if days is None else 0.6,
                                           "color": colour}))
            if days is not None:  # a long span: the daily mean over the faint raw line
                fig.add_trace(go.Scatter(x=days["time"], y=days["mean"], mode="lines",
                                         name=f"{source} (daily mean)", legendgroup=source,
                                         line={"width": 2, "color": colour}))
            flagged = rows[rows["anomaly"].astype(bool)]
            flagged_all += len(flagged)
            if len(flagged):
                fig.add_trace(go.Scatter(
                    x=flagged["time"], y=flagged["value"], mode="markers",
                    name=f"{source}: anomaly",
                    marker={"symbol": "circle-open", "size": 11, "color": ANOMALY,
                            "line": {"width": 2}},
                    customdata=flagged["score"] if "score" in flagged else None,
                    hovertemplate="%{x}<br>%{y}<br>score %{customdata:.2f}<extra>anomaly"
                                  "</extra>"))
        fig.update_layout(title=f"{_words(name)} per source "
                                f"({_plural(flagged_all, 'anomaly', 'anomalies')} circled)",
                          yaxis_title=run.label(stream, name))
        out.append(_figure_html(fig, f"chart-{stream}-series-{i}", 380))
    return out


def _forecast_figure(run: Run, stream: str) -> str | None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    frame = run.forecast.get(stream)
    if frame is None or frame.empty:
        return None
    info = run.results["streams"][stream].get("forecast") or {}
    sources = list(dict.fromkeys(frame["source"]))
    baseline = _words((info.get("baseline") or {}).get("name", "seasonal_naive"))
    fig = make_subplots(rows=len(sources), cols=1, shared_xaxes=True,
                        subplot_titles=[str(s) for s in sources], vertical_spacing=0.08)
    for row, source in enumerate(sources, 1):
        rows = frame[frame["source"] == source]
        first = row == 1
        fig.add_trace(go.Scatter(x=rows["time"], y=rows["actual"], name="actual",
                                 legendgroup="actual", showlegend=first,
                                 line={"color": "black", "width": 1.5}), row=row, col=1)
        fig.add_trace(go.Scatter(x=rows["time"], y=rows["forecast"],
                                 name=f"forecast ({info.get('model', 'model')})",
                                 legendgroup="forecast", showlegend=first,
                                 line={"color": "#1f77b4", "width": 1.5}), row=row, col=1)
        if "baseline" in rows:
            fig.add_trace(go.Scatter(x=rows["time"], y=rows["baseline"],
                                     name=f"{baseline} baseline", legendgroup="baseline",
                                     showlegend=first,
                                     line={"color": "grey", "width": 1, "dash": "dash"}),
                          row=row, col=1)
        fig.update_yaxes(title_text=run.label(stream, info.get("target", "value")),
                         row=row, col=1)
    fig.update_layout(title=f"{_words(info.get('target', 'value'))}: forecast against "
                            f"actual and baseline on the test span")
    return _figure_html(fig, f"chart-{stream}-forecast", 140 + 220 * len(sources))


def _quality_figure(run: Run, stream: str) -> str | None:
    import plotly.graph_objects as go

    quality = run.results["streams"][stream].get("quality") or {}
    by_source = quality.get("by_source") or {"all sources": quality}
    checks = [c for c, _ in quality_rows(quality)]
    if not checks:
        return None
    fig = go.Figure()
    for source, q in sorted(by_source.items()):
        counts = dict(quality_rows(q))
        fig.add_trace(go.Bar(y=checks, x=[counts.get(c, 0) for c in checks], name=str(source),
                             orientation="h", marker_color=run.colour(stream, source)))
    fig.update_layout(title="data quality per source (readings)", barmode="group",
                      yaxis={"autorange": "reversed"})
    return _figure_html(fig, f"chart-{stream}-quality",
                        180 + 18 * len(checks) * max(1, len(by_source)))


def _contributors_figure(run: Run, stream: str) -> str | None:
    import plotly.graph_objects as go

    rows = run.results["streams"][stream].get("contributors") or []
    if not rows:
        return None
    fig = go.Figure(go.Bar(
        x=[r["records"] for r in rows], orientation="h",
        y=[f"{r['source']} ({r['producer_msp']}/{r['producer_id']})" for r in rows],
        marker_color=[run.colour(stream, r["source"]) for r in rows],
        text=[f"{r['records']:,} records, {r['batches']:,} batches" for r in rows],
        textposition="auto"))
    fig.update_layout(title="records per source and producer", yaxis={"autorange": "reversed"})
    return _figure_html(fig, f"chart-{stream}-contributors", 140 + 40 * len(rows))


# -- sections -------------------------------------------------------------------------------
def _stream_section(run: Run, stream: str) -> str:
    info = run.results["streams"][stream]
    parts = [f'<section class="stream" id="stream-{_e(stream)}"><h2>Stream {_e(stream)}</h2>']
    sources = info.get("sources") or []
    parts.append(f"<p>{_plural(len(sources), 'source')}: {_e(', '.join(sources))}; time from "
                 f"field <code>{_e(info.get('time_field', '-'))}</code>; values: "
                 f"{_e(', '.join(run.label(stream, f) for f in info.get('value_fields', [])))}"
                 f".</p>")
    # over time
    parts.append("<h3>Over time, anomalies marked</h3>")
    parts += _series_figures(run, stream) or ["<p>No time series in this run.</p>"]
    anomalies = info.get("anomalies") or {}
    if anomalies.get("top"):
        parts.append(f"<p>Methods: {_e(', '.join(_words(m) for m in anomalies.get('methods', [])))}"
                     f". The strongest anomalies:</p>")
        parts.append(_table(
            ("time", "source", "field", "value", "score", "flagged by"),
            ([_time(a.get("time")), a.get("source"), _words(a.get("field", "")),
              f"{_num(a.get('value'))}{_unit(run, stream, a.get('field', ''))}",
              a.get("score"), ", ".join(_words(m) for m in a.get("methods", []))]
             for a in anomalies["top"][:20])))
    stats = (info.get("statistics") or {}).get("overall") or {}
    if stats:
        parts.append("<h3>Statistics</h3>")
        parts.append(_table(
            ("field", "count", "missing", "mean", "std", "min", "median", "max"),
            ([run.label(stream, f), s.get("count"), s.get("missing"), s.get("mean"),
              s.get("std"), s.get("min"), s.get("p50"), s.get("max")]
             for f, s in stats.items())))
    # forecast
    forecast = info.get("forecast") or {}
    parts.append("<h3>Forecast against actual and baseline</h3>")
    if forecast:
        metrics = forecast.get("metrics") or {}
        base = forecast.get("baseline") or {}
        unit = _unit(run, stream, forecast.get("target", ""))
        parts.append(f"<p>Target <b>{_e(run.label(stream, forecast.get('target', '-')))}</b>; "
                     f"model {_e(forecast.get('model', '-'))} on "
                     f"{_e(', '.join(forecast.get('features', [])))}; trained on "
                     f"{_e(_time((forecast.get('train') or [None])[0]))} to "
                     f"{_e(_time((forecast.get('train') or [None])[-1]))}, tested on "
                     f"{_e(_time((forecast.get('test') or [None])[0]))} to "
                     f"{_e(_time((forecast.get('test') or [None])[-1]))}. Skill against the "
                     f"baseline (1 − MAE/baseline MAE): <b>{_num(forecast.get('skill'))}</b>.</p>")
        parts.append(_table(
            ("", f"MAE{unit}", f"RMSE{unit}", "MAPE"),
            [[f"model ({forecast.get('model', '-')})", metrics.get("mae"), metrics.get("rmse"),
              _pct(metrics.get("mape"))],
             [f"baseline ({_words(base.get('name', '-'))}, period {base.get('period', '-')})",
              (base.get("metrics") or {}).get("mae"), (base.get("metrics") or {}).get("rmse"),
              _pct((base.get("metrics") or {}).get("mape"))]]))
        figure = _forecast_figure(run, stream)
        if figure:
            parts.append(figure)
    else:
        parts.append("<p>No forecast in this run.</p>")
    # quality
    quality = info.get("quality") or {}
    parts.append("<h3>Data quality</h3>")
    if quality:
        by_source = quality.get("by_source") or {}
        checks = [c for c, _ in quality_rows(quality)]
        columns = ["check", "all sources"] + sorted(by_source)
        table_rows = []
        for check in checks:
            row = [check, dict(quality_rows(quality)).get(check, 0)]
            row += [dict(quality_rows(by_source[s])).get(check, 0) for s in sorted(by_source)]
            table_rows.append(row)
        table_rows.append(["rows", quality.get("rows")] +
                          [by_source[s].get("rows") for s in sorted(by_source)])
        parts.append(_table(columns, table_rows))
        figure = _quality_figure(run, stream)
        if figure:
            parts.append(figure)
    # contributors
    contributors = info.get("contributors") or []
    parts.append("<h3>Who contributed what</h3>")
    if contributors:
        parts.append(_table(
            ("organisation", "producer", "source", "batches", "records", "blocks"),
            ([c.get("producer_msp"), c.get("producer_id"), c.get("source"), c.get("batches"),
              c.get("records"), f"{c.get('first_block')}–{c.get('last_block')}"]
             for c in contributors)))
        figure = _contributors_figure(run, stream)
        if figure:
            parts.append(figure)
    parts.append("</section>")
    return "\n".join(parts)


def _pct(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) and value == value else "-"


def lineage_section(doc: dict | None) -> str:
    """The slot's content: the receipt, its anchor and how to check it; the lineage
    document itself as JSON for ``verify report``."""
    if not doc:
        return ('<section id="lineage"><h2>Lineage</h2><p class="warn">This report\'s run has '
                'no lineage receipt yet: nothing on the ledger vouches for it.</p></section>')
    receipt, anchor = doc.get("receipt") or {}, doc.get("anchor")
    inputs = receipt.get("inputs") or {}
    blocks = inputs.get("blocks") or ["?", "?"]
    window = ""
    if inputs.get("time_from") is not None or inputs.get("time_to") is not None:
        window = (f"; records dated {_e(_time(inputs.get('time_from')))} to "
                  f"{_e(_time(inputs.get('time_to')))}")
    if anchor:
        status = (f'<p class="ok">Anchored on-chain: receipt <code>{_e(doc.get("receipt_id"))}'
                  f'</code> in block <b>{_e(anchor.get("block"))}</b> of channel '
                  f'{_e(anchor.get("channel", "-"))}, transaction <code>'
                  f'{_e(anchor.get("tx_id"))}</code>, by {_e(anchor.get("by", "-"))} at '
                  f'{_e(_time(anchor.get("anchored")))}.</p>')
    else:
        status = (f'<p class="warn">Receipt <code>{_e(doc.get("receipt_id"))}</code> was written '
                  f'but not anchored on-chain.</p>')
    outputs = receipt.get("outputs") or {}
    return "\n".join([
        '<section id="lineage"><h2>Lineage and verification</h2>', status,
        f"<p>Inputs: streams {_e(', '.join(inputs.get('streams', [])))}, ledger blocks "
        f"{_e(blocks[0])} to {_e(blocks[-1])}{window}; Merkle root over the input records' "
        f"commitments <code>{_e(inputs.get('merkle_root', '-'))}</code>. Code "
        f"{_e(receipt.get('code_version', '-'))}.</p>",
        "<p>Check this report against the ledger (inputs re-read and every block verified, "
        "the outputs' hashes, the anchored receipt): <code>ledgerlake verify report "
        "report.html</code>. The receipt hashes this file with this section emptied.</p>",
        "<details><summary>" + _e(_plural(len(outputs), "output")) + " and their SHA-256"
        "</summary>" + _table(("output", "sha256"), ([p, _code(h)] for p, h in
                                                      sorted(outputs.items())), "hashes")
        + "</details>",
        f'<script type="application/json" id="{LINEAGE_SCRIPT_ID}">{_json_script(doc)}'
        "</script>", "</section>"])


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1180px;padding:1.5rem 2rem;color:#1b1f24;line-height:1.45}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{margin-top:2.4rem;border-bottom:2px solid #e3e6ea;
padding-bottom:.3rem}h3{margin-top:1.6rem;color:#33414f}
.meta{color:#5b6875;font-size:.92rem}
#findings{background:#f4f7fa;border-left:4px solid #1f77b4;padding:.8rem 1.2rem;
margin:1.2rem 0}#findings li{margin:.25rem 0}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border-bottom:1px solid #e3e6ea;padding:.3rem .7rem;text-align:left}
th{background:#f4f7fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.85em;word-break:break-all}table.hashes td{font-size:.8rem}
.chart{margin:.8rem 0}.ok{color:#1b6e2e}.warn{color:#a4361d}
nav a{margin-right:1rem}
"""


def render(run: Run, lineage_doc: dict | None = None) -> bytes:
    """The report's bytes (the slot showing ``lineage_doc``)."""
    from plotly.offline import get_plotlyjs

    results = run.results
    meta = results.get("run", {})
    cluster = meta.get("cluster") or {}
    title = f"ledgerlake analysis {meta.get('id', '')}".strip()
    nav = "".join(f'<a href="#stream-{_e(s)}">{_e(s)}</a>' for s in run.streams)
    head = (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{_STYLE}</style>"
            f"<script>{get_plotlyjs()}</script></head><body>")
    header = (f"<h1>{_e(title)}</h1><p class=\"meta\">Run {_e(meta.get('id', '-'))}, "
              f"{_e(_time(meta.get('started')))} to {_e(_time(meta.get('finished')))} on a "
              f"{_e(cluster.get('kind', '-'))} Dask cluster "
              f"({_e(_plural(int(cluster.get('workers') or 0), 'worker'))}); "
              f"{_e(meta.get('code_version', ''))}.</p>"
              f'<nav>{nav}<a href="#lineage">lineage</a></nav>')
    summary = ('<section id="findings"><h2>What this run found</h2><ul>'
               + "".join(f"<li>{_e(line)}</li>" for line in findings(run)) + "</ul></section>")
    body = "\n".join(_stream_section(run, s) for s in run.streams)
    page = "\n".join([head, header, summary, body,
                      LINEAGE_BEGIN.decode() + LINEAGE_END.decode(), "</body></html>\n"])
    return with_lineage(page.encode(), lineage_doc)


def write_report(out_dir: str | Path, *, charts: bool = True) -> Path:
    """``out_dir/report.html`` for the run in ``out_dir`` (and its PNG charts, unless
    ``charts`` is False); the lineage slot shows ``lineage.json`` if the run has one."""
    from ledgerlake.analytics.charts import write_charts

    out_dir = Path(out_dir)
    run = read_run(out_dir)
    if charts:
        write_charts(out_dir, run)
    doc = None
    lineage_file = out_dir / "lineage.json"
    if lineage_file.is_file():
        try:
            doc = json.loads(lineage_file.read_text())
        except ValueError as exc:
            raise ConfigError(f"{lineage_file} is not JSON: {exc}") from None
    path = out_dir / REPORT_FILE
    tmp = path.with_name(f".{REPORT_FILE}.tmp")
    tmp.write_bytes(render(run, doc))
    tmp.replace(path)
    return path


__all__ = ["LINEAGE_BEGIN", "LINEAGE_END", "REPORT_FILE", "embedded_lineage", "findings",
           "lineage_section", "render", "with_lineage", "without_lineage", "write_report"]
