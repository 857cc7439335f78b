"""``ledgerlake ingest SOURCE`` and ``ledgerlake submit --stream NAME JSON``: a thin shell
over ``ledgerlake.client.ingest`` (the source from ``open_source``, the rest from
``pipeline.ingest``), with a live progress line and a summary table."""

from __future__ import annotations

import threading
from pathlib import Path

import click
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ledgerlake.cli import _as_option, _contract, _network, _state_dir_option, err, out
from ledgerlake.errors import ConfigError, GatewayError, RecordError

#: Options handed to the SQL, HTTP and MQTT sources (``open_source``'s ``options``).
PASS_THROUGH = (
    ("--table", "SQL: the table to read."),
    ("--query", "SQL: a SELECT to read instead of a table."),
    ("--cursor", "SQL: the column a re-run continues after (incremental)."),
    ("--tiebreak", "SQL: comma-separated columns that order rows with equal cursors."),
    ("--batch-rows", "SQL: rows fetched per round trip."),
    ("--items-path", "HTTP: where the items are in each page (dotted path)."),
    ("--next-path", "HTTP: where the next page's link or token is."),
    ("--next-param", "HTTP: the query parameter that carries the next token."),
    ("--page-param", "HTTP: the page number parameter."),
    ("--first-page", "HTTP: the first page number."),
    ("--offset-param", "HTTP: the offset parameter."),
    ("--limit-param", "HTTP: the page size parameter."),
    ("--limit", "HTTP: the page size."),
    ("--retries", "HTTP: attempts per page."),
    ("--timeout", "HTTP: seconds per request."),
    ("--qos", "MQTT: quality of service (1, or 0)."),
    ("--client-id", "MQTT: client id (keep it to resume the session)."),
    ("--username", "MQTT: user name."),
    ("--password", "MQTT: password."),
    ("--ca-file", "MQTT: CA certificate for mqtts://."),
    ("--keepalive", "MQTT: seconds between keep-alive pings."),
)


def _pass_through(fn):
    for flag, help_text in reversed(PASS_THROUGH):
        fn = click.option(flag, help=help_text)(fn)
    return click.option("--header", "header", multiple=True,
                        help="HTTP: a request header 'Name: value' (repeatable).")(fn)


def _org_key(state_dir: Path, org: str):
    from ledgerlake.client import connection, encryption
    return encryption.load_org_key(connection.local_org_key_path(state_dir, org))


def _status(summary, rejects: Path | None) -> Text:
    rate = summary.records_per_second
    line = Text()
    line.append(f"{summary.committed:,}", style="bold green")
    line.append(" committed · ")
    line.append(f"{summary.read:,} read · ")
    line.append(f"{summary.rejected:,}", style="bold red" if summary.rejected else "")
    line.append(" rejected · ")
    line.append(f"{summary.in_flight} batch(es) in flight · {rate:,.0f} rec/s · "
                f"{summary.seconds:.0f} s")
    if summary.rejected and rejects:
        line.append(f" · rejects in {rejects}", style="dim")
    return line


def _print_summary(summary, rejects: Path | None) -> None:
    table = Table(title=f"ingest into {summary.stream}"
                        + (" (interrupted)" if summary.interrupted else ""))
    for col in ("source", "kind", "resumed from", "read", "committed", "rejected", "batches",
                "chain head"):
        table.add_column(col, justify="right" if col in ("read", "committed", "rejected",
                                                         "batches", "chain head") else "left")
    for s in summary.sources:
        table.add_row(s.source, s.kind, s.resumed, f"{s.read:,}", f"{s.committed:,}",
                      f"{s.rejected:,}", str(s.batches), f"seq {s.head_seq}")
    out.print(table)
    for s in summary.sources:
        if s.note:
            out.print(s.note)
    out.print(f"{summary.committed:,} record(s) committed in {summary.seconds:.1f} s "
              f"({summary.records_per_second:,.0f} records/s)"
              + (f"; {summary.rejected:,} rejected, see {rejects}" if summary.rejected
                 and rejects else ""))


def _run(state_dir, who: str, stream: str, sources, quiet: bool, rejects, peer=None,
         **options):
    """The pipeline as ``who`` through ``peer`` with a live progress line; Ctrl-C commits
    what was read and exits with 130. A failure of the peer (not a refusal by the
    contract) says how to resume."""
    from ledgerlake.client.ingest.pipeline import ingest
    from ledgerlake.client.ingest.workers import collect_less

    collect_less()  # this process is ours: it reads and seals too (small inputs)
    org = who.partition("/")[0]
    net = _network(state_dir)
    options.update(stream=stream, stop=threading.Event(), state_dir=net.state_dir,
                   reject_file=rejects)
    try:
        with _contract(state_dir, who, peer) as api:
            options["org_key"] = _org_key(net.state_dir, org)
            if quiet:
                return ingest(api, sources, **options)
            with Live(Text("starting…"), console=err, refresh_per_second=4,
                      transient=True) as live:
                return ingest(api, sources, progress=lambda s: live.update(_status(s, rejects)),
                              **options)
    except GatewayError as exc:
        if exc.error_code is not None:  # the contract refused: its message says why
            raise
        through = f"peer {peer}" if peer else f"{org}'s first peer"
        raise type(exc)(f"{exc.message} (through {through}). Committed batches are kept; "
                        f"re-run the same command to resume without duplicates, with "
                        f"--peer to go through another peer",
                        transaction_id=exc.transaction_id, code=exc.code,
                        details=exc.details) from exc


@click.command("ingest")
@click.argument("sources", metavar="SOURCE...", nargs=-1, required=True)
@click.option("--stream", required=True, help="The stream to write to.")
@click.option("--source-id", help="The source's chain on the ledger [default: from SOURCE, "
                                  "e.g. the file name]; keep it to resume.")
@_as_option("Org1/producer")
@_state_dir_option
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=20_000,
              show_default=True, help="Records per batch (one transaction) at most; a batch "
                                      "too large for a transaction is split.")
@click.option("--flush-seconds", type=click.FloatRange(0, min_open=True), default=2.0,
              show_default=True, help="A batch waits at most this long for more records.")
@click.option("--time-field", help="A timestamp field holding each record's event time "
                                   "[default: the time it is read].")
@click.option("--on-error", type=click.Choice(["skip", "stop"]), default="skip",
              show_default=True, help="A bad row: skip it (to the reject file) or stop there.")
@click.option("--reject-file", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON Lines of bad rows (where, rule, row) [default: "
                   "STATE/ingest/STREAM/SOURCE.rejects.jsonl].")
@click.option("--format", "file_format", type=click.Choice(["csv", "jsonl", "parquet"]),
              help="Files: the format [default: from each file's extension].")
@click.option("--delimiter", help="CSV: the cell delimiter [default: ',' ('\\t' for .tsv)].")
@click.option("--max-in-flight", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Sealed batches not yet committed, at most.")
@click.option("--workers", type=click.IntRange(0, 256),
              help="Worker processes that read, validate and seal files (0: all in this "
                   "process) [default: one per core, for large inputs].")
@click.option("--send-plaintext", is_flag=True,
              help="Also send the records to the endorsers (every endorsing organisation "
                   "must read the stream) so the contract checks them.")
@click.option("--peer", help="Submit through this peer (e.g. peer1.org1) [the organisation's "
                            "first]; if it fails mid-way, a re-run through another peer "
                            "resumes without duplicates.")
@click.option("--quiet", is_flag=True, help="No progress line.")
@_pass_through
def ingest_cmd(sources: tuple[str, ...], stream: str, source_id, who: str, state_dir, batch_size: int,
               flush_seconds: float, time_field, on_error: str, reject_file, file_format,
               delimiter, max_in_flight: int, workers, send_plaintext: bool, peer,
               quiet: bool,
               **pass_through) -> None:
    """Ingest SOURCE into a stream: a CSV, JSON Lines or Parquet file, a directory or a glob
    of them, '-' for JSON Lines on standard input, a SQLAlchemy URL (--table/--query,
    --cursor), an http(s):// JSON API or an mqtt:// topic.

    Several SOURCEs are ingested side by side, each its own chain (source id).
    Standard input resumes by skipping the lines already committed: feed a re-run the same
    input, or give new input a new --source-id.

    Each record is validated against the stream's schema, encrypted with its data key
    (opened as the producer, audited) and committed in batches; a re-run continues where
    the last one stopped, without duplicates, even after a crash. Ctrl-C commits what was
    read and exits (code 130).
    """
    from ledgerlake.client.ingest import open_source

    options = {k: v for k, v in pass_through.items() if v not in (None, ())}
    if "header" in options:
        options["header"] = list(options["header"])
    options.update(format=file_format, delimiter=delimiter)
    if source_id and len(sources) > 1:
        raise click.UsageError("--source-id names one source's chain; several SOURCEs each "
                               "keep their own")
    opened = []
    try:
        for spec in sources:
            opened.append(open_source(spec, options))
        state = _network(state_dir).state_dir
        rejects = reject_file or state / "ingest" / stream / (
            f"{source_id or opened[0].source_id()}.rejects.jsonl" if len(opened) == 1
            else "rejects.jsonl")
        summary = _run(state_dir, who, stream, opened[0] if len(opened) == 1 else opened,
                       quiet, rejects, peer=peer, source_id=source_id,
                       batch_size=batch_size, flush_seconds=flush_seconds,
                       time_field=time_field, on_error=on_error, max_in_flight=max_in_flight,
                       workers=workers, send_plaintext=send_plaintext,
                       endorsing_organizations=_endorsers(state_dir, who, stream)
                       if send_plaintext else ())
    finally:
        for src in opened:
            src.close()
    _print_summary(summary, rejects)
    if summary.interrupted:
        raise SystemExit(130)


def _endorsers(state_dir, who: str, stream: str) -> list[str]:
    """With --send-plaintext: the stream's readers endorse (only they may see records)."""
    with _contract(state_dir, who) as api:
        return list(api.get_stream(stream).readers)


@click.command("submit")
@click.argument("record")
@click.option("--stream", required=True, help="The stream to write to.")
@click.option("--source-id", help="The source chain the record joins [default: "
                                  "submit-ORG, e.g. submit-Org1].")
@click.option("--time-field", help="A timestamp field holding the record's event time.")
@_as_option("Org1/producer")
@_state_dir_option
def submit_cmd(record: str, stream: str, source_id: str, time_field, who: str,
               state_dir) -> None:
    """Submit one RECORD (a JSON object) to a stream, as a batch of its own."""
    from ledgerlake import records
    from ledgerlake.client.ingest.pipeline import RecordsSource

    try:
        row = records.parse_json(record, "RECORD")
    except RecordError as exc:
        raise ConfigError(str(exc)) from None
    if not isinstance(row, dict):
        raise ConfigError("RECORD must be a JSON object of field names to values, e.g. "
                          "'{\"sensor\": \"t1\", \"temperature_c\": 21.5}'")
    source_id = source_id or f"submit-{who.partition('/')[0]}"
    summary = _run(state_dir, who, stream, RecordsSource([row], source_id, "RECORD"), True,
                   None, on_error="stop", time_field=time_field, batch_size=1)
    out.print(f"committed 1 record to {stream} (source {source_id}, seq "
              f"{summary.sources[0].head_seq})")
