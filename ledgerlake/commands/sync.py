"""``ledgerlake sync``: the ledger into a verified Parquet lake (``analytics.sync``)."""

from __future__ import annotations

import signal
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from ledgerlake.cli import _as_option, _contract, _json_option, _network, _print_json, \
    _state_dir_option, err, out


@click.command("sync")
@_state_dir_option
@click.option("--lake", "lake_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The lake's folder [<state dir>/lake].")
@click.option("--follow", is_flag=True,
              help="Keep going at the tip: new blocks are written as they come (flushed "
                   "every --flush-seconds); Ctrl-C commits what was read and stops.")
@click.option("--stream", "streams", multiple=True, metavar="ID",
              help="Only this stream (repeat for more) [every stream the ledger holds]. A "
                   "lake keeps the selection it was first synced with.")
@click.option("--until", type=click.IntRange(0), metavar="BLOCK",
              help="Stop after this block [the tip; with --follow, never].")
@click.option("--org-key", type=click.Path(dir_okay=False, path_type=Path),
              help="The organisation's X25519 private key; retired keys next to it are "
                   "tried too [the local network's: <state dir>/keys/<Org>/x25519.pem].")
@click.option("--peer", help="Read the blocks from this peer [the organisation's first].")
@click.option("--flush-records", type=click.IntRange(1), default=250_000, show_default=True,
              help="Write files once this many records are pending.")
@click.option("--flush-seconds", type=click.FloatRange(0.1), default=2.0, show_default=True,
              help="With --follow: write pending records after this long.")
@click.option("--workers", type=click.IntRange(0), metavar="N",
              help="Threads that decrypt and check large batches, beside the one reading "
                   "blocks (0: that one alone) [one per core].")
@click.option("--rebuild", is_flag=True,
              help="Delete the lake's rows and metadata and sync again from genesis: to "
                   "take in a stream this organisation may read now, or another --stream "
                   "selection.")
@_as_option("Org1/analyst")
@_json_option
def sync_cmd(state_dir, lake_dir: Path | None, follow: bool, streams: tuple[str, ...],
             until: int | None, org_key: Path | None, peer: str | None, flush_records: int,
             flush_seconds: float, workers: int | None, rebuild: bool, who: str,
             as_json: bool) -> None:
    """Bring the ledger into a Parquet lake, verified and exactly once.

    Every block is checked before it is used (hash chain, data hash, the orderers'
    signatures under the channel configuration in force); each batch of a VALID
    SubmitBatch is decrypted with the stream's data keys (an audited OpenStream, as an
    analyst of a reader organisation) and its records checked against the batch's
    commitments. Rows land in <lake>/records/stream=<id>/date=<YYYY-MM-DD>/ with the
    stream schema's columns and provenance columns (_block, _tx_id, _batch_id, _producer_*,
    _source, _seq, _index, _epoch, _commitment), readable as they are by pandas, DuckDB
    and Spark. <lake>/_ledgerlake/lake.json says how far the lake is synced and what was
    left out (streams this organisation cannot read, shredded epochs, off-chain payloads).

    A run killed at any point and run again leaves every record in the lake exactly once;
    a tampered block stops the sync naming it.
    """
    from ledgerlake.analytics.sync import SyncProgress, keep_freed_memory, sync
    from ledgerlake.client.connection import local_org_key_path
    from ledgerlake.client.streams import org_private_keys

    state = _network(state_dir).state_dir
    lake_dir = lake_dir if lake_dir is not None else state / "lake"
    if org_key is None:
        org_key = local_org_key_path(state, who.partition("/")[0])
    previous = signal.signal(signal.SIGTERM, _interrupt)  # 'kill' commits and stops too
    keep_freed_memory()  # this process is the sync
    try:
        with _contract(state_dir, who, peer) as api, _bar(as_json) as bar:
            keys = org_private_keys(org_key)  # after the network is found running
            task = bar.add_task("sync", total=None)

            def progress(p: SyncProgress) -> None:
                bar.update(task, description=(
                    f"block {p.block:,} of {p.tip:,} · {p.records:,} records · "
                    f"{p.records_per_second:,.0f} records/s · lag {p.lag:,} blocks"))

            summary = sync(api.contract.network, api, lake_dir, keys, follow=follow,
                           progress=progress, until=until, streams=streams or None,
                           flush_records=flush_records, flush_seconds=flush_seconds,
                           workers=workers, rebuild=rebuild)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if as_json:
        _print_json(summary.to_json())
        return
    if summary.up_to_date:
        out.print(f"the lake {escape(str(lake_dir))} is up to date: synced to block "
                  f"{summary.synced_to:,}, the tip is {summary.tip:,}; nothing new")
        return
    if summary.records == 0 and not summary.interrupted:
        out.print(f"nothing new for the lake {escape(str(lake_dir))}: blocks "
                  f"{summary.first_block:,} to {summary.synced_to:,} hold no records for it "
                  f"(synced to block {summary.synced_to:,})")
        return
    else:
        out.print(f"synced blocks {summary.first_block:,} to {summary.synced_to:,} "
                  f"({summary.blocks:,} blocks) into {escape(str(lake_dir))}: "
                  f"{summary.records:,} records in {summary.seconds:.1f} s "
                  f"({summary.records_per_second:,.0f} records/s)"
                  f"{'; interrupted, what was read is committed' if summary.interrupted else ''}")
    table = Table(title="streams")
    for name in ("stream", "readable", "records now", "in the lake", "shredded", "left out"):
        table.add_column(name, justify="left" if name in ("stream", "left out") else "right")
    for sid, row in sorted(summary.streams.items()):
        shredded = (f"{row.get('shredded_records', 0):,} (epochs "
                    f"{', '.join(map(str, row['shredded_epochs']))})"
                    if row.get("shredded_epochs") else "-")
        left_out = ", ".join(f"{kind} {n:,}" for kind, n in row.get("skipped", {}).items())
        table.add_row(escape(sid), {True: "yes", False: "no"}.get(row.get("readable"), "?"),
                      f"{row.get('records', 0):,}", f"{row.get('lake_records', 0):,}",
                      shredded, escape(left_out) or "-")
    out.print(table)
    for sid, row in sorted(summary.streams.items()):
        if row.get("readable") is False and row.get("refusal"):
            out.print(f"[dim]{escape(sid)} is not in the lake: {escape(row['refusal'])}; once "
                      f"it may be read, 'ledgerlake sync --rebuild' takes it in[/dim]")
    if summary.streams and not any(row.get("readable") for row in summary.streams.values()):
        err.print(f"no stream could be opened as {escape(who)}: streams are opened by an "
                  f"analyst of a reader organisation (--as ORG/analyst)")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _bar(quiet: bool):
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                    console=err, transient=True, disable=quiet or not err.is_terminal)
