"""``ledgerlake lineage anchor RUN_DIR`` (in cli.py's ``lineage`` group): anchor the
lineage receipt of an analysis run whose anchoring failed (the network was down) or that
ran with --no-anchor."""

from __future__ import annotations

from pathlib import Path

import click

from ledgerlake.cli import _as_option, _contract, _print_json, _state_dir_option, out


@click.command("anchor")
@_state_dir_option
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_as_option("Org1/analyst")
@click.option("--json", "as_json", is_flag=True, help="Print the lineage document as JSON.")
def anchor_cmd(state_dir, run_dir: Path, who: str, as_json: bool) -> None:
    """Anchor RUN_DIR's lineage receipt on the ledger as --as, then write its lineage.json,
    the report's lineage section and openlineage.json again; 'verify report RUN_DIR' then
    checks it. For a run whose anchoring failed or that ran with --no-anchor. Safe to run
    again: an anchored run's anchor is read back, not anchored twice. Refused when the
    run's files changed since its receipt was written."""
    from ledgerlake.analytics.lineage import anchor_run, read_results

    read_results(run_dir)  # not a run directory: named before any network call
    with _contract(state_dir, who) as api:
        doc, was = anchor_run(api, run_dir)
    if as_json:
        _print_json(doc)
        return
    anchor = doc["anchor"]
    out.print(f"lineage receipt {doc['receipt_id']} "
              + ("was already anchored" if was else "anchored")
              + f" in block {anchor['block']} (tx {anchor['tx_id']}); "
              f"check it with 'ledgerlake verify report {run_dir}'", markup=False,
              highlight=False)
