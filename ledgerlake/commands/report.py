"""``ledgerlake report RUN_DIR``: render an analysis run's charts and HTML report again (the
lineage slot shows the run's lineage.json, if it has one)."""

from __future__ import annotations

from pathlib import Path

import click

from ledgerlake.cli import out


@click.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--no-charts", is_flag=True, help="Leave the PNG charts as they are.")
def report_cmd(run_dir: Path, no_charts: bool) -> None:
    """Render RUN_DIR's report.html (and charts/*.png) from its results.json, series/ and
    forecast/. The same run renders the same bytes, so its lineage receipt still holds
    (another ledgerlake or plotly version may render others: 'verify report' then names
    the file that changed)."""
    from ledgerlake.analytics.charts import read_run
    from ledgerlake.analytics.report import findings, write_report

    path = write_report(run_dir, charts=not no_charts)
    out.print(f"report: {path}")
    for line in findings(read_run(run_dir)):
        out.print(f"  - {line}", markup=False, highlight=False)
