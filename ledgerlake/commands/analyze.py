"""``ledgerlake analyze``: the lake's streams analysed on Dask (``ledgerlake.analytics.analyze``),
with a progress display and a summary table of what it found."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from ledgerlake.analytics.cluster import IN_PROCESS_ROWS
from ledgerlake.cli import _as_option, _contract, _print_json, _state_dir_option, err, out
from ledgerlake.errors import ConfigError


def _param(values: tuple[str, ...]) -> dict:
    """``--param key=value`` (value as JSON when it parses, else as text)."""
    params = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE (e.g. z_threshold=3)",
                                     param_hint="--param")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


@click.command("analyze")
@_state_dir_option
@click.option("--lake", "lake_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The lake 'ledgerlake sync' wrote [<state dir>/lake].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the run's outputs go [<state dir>/analysis/<run id>].")
@click.option("--stream", "streams", multiple=True, metavar="ID",
              help="Analyse this stream (repeatable) [every readable stream in the lake].")
@click.option("--scheduler", metavar="ADDRESS",
              help="A Dask scheduler to run on, e.g. tcp://10.0.0.5:8786 [Dask's "
                   "configuration or DASK_SCHEDULER_ADDRESS, else a local cluster: worker "
                   f"processes, or one thread in this process for a lake under "
                   f"{IN_PROCESS_ROWS:,} rows].")
@click.option("--from", "time_from", metavar="TIME",
              help="Only records timed at or after this (ISO-8601 or nanoseconds).")
@click.option("--until", "time_to", metavar="TIME",
              help="Only records timed before this (ISO-8601 or nanoseconds).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Override an analysis parameter (repeatable), e.g. --param "
                   "z_threshold=3 --param bucket=15min; results.json lists them all.")
@click.option("--no-anchor", is_flag=True,
              help="Do not anchor the run's lineage receipt on the ledger.")
@_as_option("Org1/analyst")
@click.option("--json", "as_json", is_flag=True,
              help="Print the results (results.json and the run directory) as JSON.")
def analyze_cmd(state_dir, lake_dir, out_dir, streams, scheduler, time_from, time_to,
                params, no_anchor: bool, who: str, as_json: bool) -> None:
    """Analyse the verified lake on Dask: statistics per stream, source and day; data
    quality (missing and out-of-range values, late and out-of-order arrivals, duplicate
    readings); anomalies per source (a residual far beyond its usual size at that hour
    decides; an IsolationForest says whether it also finds the hour odd); a forecast on lag and calendar features scored against a seasonal-naive
    baseline.

    Reads only the lake (no ledger access, no key): run 'ledgerlake sync' first. Writes
    results.json, series/, forecast/, models/ and tables/ into the run directory, and
    records the Merkle root of every input record's commitment, so the run can be checked
    against the ledger later.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeElapsedColumn

    from ledgerlake.analytics.analyze import analyze, new_run_id

    from ledgerlake.network.layout import default_state_dir

    state = (state_dir or default_state_dir()).resolve()
    lake_dir = lake_dir or state / "lake"
    out_dir = out_dir or state / "analysis" / new_run_id()
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError(f"{out_dir} already holds files; give another --out (a run never "
                          f"overwrites another's outputs)")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True,
                  disable=as_json or not err.is_terminal) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if not total:
                if not as_json:
                    err.print(f"[dim]•[/dim] {escape(stage)}")
                return
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        results = analyze(lake_dir, out_dir, streams=list(streams) or None,
                          scheduler=scheduler, time_from=time_from, time_to=time_to,
                          params=_param(params), progress=progress)
    # the report, then its lineage receipt (anchored as ``who`` unless --no-anchor)
    from ledgerlake.analytics.lineage import record_run
    from ledgerlake.analytics.report import write_report

    report = write_report(out_dir)
    if no_anchor:
        lineage = record_run(None, out_dir)
    else:
        with _contract(state_dir, who) as api:
            lineage = record_run(api, out_dir)
    if as_json:
        _print_json({"out_dir": str(out_dir), **results, "report": str(report),
                     "lineage": lineage})
        return
    _summary(results, out_dir)
    anchor = lineage.get("anchor")
    out.print(f"report {escape(str(report))}")
    out.print(f"lineage receipt {lineage['receipt_id']} "
              + (f"anchored in block {anchor['block']} (tx {anchor['tx_id']})" if anchor
                 else "written, not anchored (--no-anchor)"))


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _summary(results: dict, out_dir: Path) -> None:
    inputs = results["inputs"]
    run = results["run"]
    cluster = run["cluster"]
    blocks = inputs["blocks"] or ["-", "-"]
    out.print(f"analysed {inputs['rows']:,} records of {len(inputs['streams'])} stream(s), "
              f"blocks {blocks[0]} to {blocks[1]}, on a {cluster['kind']} Dask cluster "
              f"({cluster['workers']} workers at {escape(str(cluster['address']))})")
    out.print(f"inputs' Merkle root {inputs['merkle_root']}")
    table = Table(title="what the analysis found")
    table.add_column("")
    for stream in results["streams"]:
        table.add_column(escape(stream), justify="right")
    lines: dict[str, list[str]] = {}
    for res in results["streams"].values():
        q = res["quality"]
        fc = res.get("forecast") or {}
        base = (fc.get("baseline") or {}).get("metrics") or {}
        for label, value in (
                ("rows", _fmt(q.get("rows", 0))),
                ("sources", str(len(res.get("sources") or []))),
                ("missing values", _fmt(sum((q.get("missing") or {}).values()))),
                ("out of range", _fmt(sum((q.get("out_of_range") or {}).values()))),
                ("late / out of order", f"{_fmt(q.get('late'))} / "
                                        f"{_fmt(q.get('out_of_order'))}"),
                ("duplicate readings", _fmt(q.get("duplicates"))),
                ("anomalies", _fmt((res.get("anomalies") or {}).get("count"))),
                (f"forecast MAE ({escape(str(fc.get('target', '-')))})",
                 _fmt((fc.get("metrics") or {}).get("mae"))),
                ("seasonal-naive MAE", _fmt(base.get("mae"))),
                ("skill (1 - MAE/baseline)", _fmt(fc.get("skill"), 2))):
            lines.setdefault(label, []).append(value)
    for label, values in lines.items():
        table.add_row(label, *values)
    out.print(table)
    for stream, res in results["streams"].items():
        for a in (res.get("anomalies") or {}).get("top", [])[:5]:
            out.print(f"  anomaly {escape(stream)}/{escape(a['source'])} {a['time']} "
                      f"{escape(a['field'])}={_fmt(a['value'])} (score {a['score']:.1f})")
    out.print(f"outputs in {escape(str(out_dir))} (results.json, {len(results['outputs'])} "
              f"files hashed)")
