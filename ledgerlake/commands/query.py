"""``ledgerlake query …``: batches by stream, source and time; one batch; a source's chain
history. Tables for people, ``--format json|csv`` for machines."""

from __future__ import annotations

import click

from ledgerlake.cli import (
    _as_option,
    _contract,
    _emit,
    _format_option,
    _nanos_option,
    _state_dir_option,
    _take,
    _when,
)

BATCH_COLUMNS = ("batch", "source", "seq", "records", "epoch", "from", "to", "producer",
                 "plaintext_checked", "tx")


@click.group()
def query() -> None:
    """Read batches and chain history (readers, writers, the owner's admins, auditors)."""


def _batch_row(b) -> dict:
    return {"batch": b.id, "source": b.source, "seq": b.seq, "records": b.record_count,
            "epoch": b.key_epoch, "from": _when(b.time_start), "to": _when(b.time_end),
            "producer": str(b.producer), "plaintext_checked": "yes" if b.plaintext_checked
            else "no", "tx": b.tx_id}


def show_batches(state_dir, stream: str, source, since, until, who: str, fmt: str,
                 limit: int) -> None:
    time_from, time_to = _nanos_option(since, "--since"), _nanos_option(until, "--until")
    with _contract(state_dir, who) as api:
        found = api.items(api.list_batches, stream, source=source, page_size=min(limit, 100),
                          time_from=time_from if source is None else None,
                          time_to=time_to if source is None else None)
        if source is not None and (time_from is not None or time_to is not None):
            # one source's chain is read in sequence order; its time window is checked here
            found = (b for b in found if (time_from is None or b.time_start >= time_from)
                     and (time_to is None or b.time_start < time_to))
        batches = _take(found, limit)
    _emit(fmt, [b.raw for b in batches], [_batch_row(b) for b in batches], BATCH_COLUMNS,
          f"{len(batches)} batch(es) of {stream}", short=("batch", "tx"))


@query.command("batches")
@_state_dir_option
@click.argument("stream")
@click.option("--source", help="Only this source's batches, in sequence order.")
@click.option("--since", help="Batches starting at or after this time (ISO-8601, UTC unless "
                              "given, or nanoseconds).")
@click.option("--until", help="Batches starting before this time.")
@_as_option("Org1/auditor")
@_format_option
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True,
              help="Show at most this many batches.")
def query_batches(state_dir, stream, source, since, until, who, fmt, limit) -> None:
    """STREAM's batches: in time order, or one source's chain in sequence order."""
    show_batches(state_dir, stream, source, since, until, who, fmt, limit)


@query.command("batch")
@_state_dir_option
@click.argument("stream")
@click.argument("batch_id")
@_as_option("Org1/auditor")
@_format_option
def query_batch(state_dir, stream, batch_id, who, fmt) -> None:
    """One batch's header: chain place, time window, Merkle root, producer, transaction."""
    with _contract(state_dir, who) as api:
        b = api.get_batch(stream, batch_id)
    row = dict(_batch_row(b), prev_hash=b.prev_hash or "", merkle_root=b.merkle_root,
               schema_version=b.schema_version, recorded=_when(b.recorded))
    _emit(fmt, [b.raw], [row], (*BATCH_COLUMNS, "prev_hash", "merkle_root", "schema_version",
                                "recorded"), f"batch of {stream}")


@query.command("history")
@_state_dir_option
@click.argument("stream")
@click.argument("source")
@_as_option("Org1/auditor")
@_format_option
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True,
              help="Show at most this many changes (newest first).")
def query_history(state_dir, stream, source, who, fmt, limit) -> None:
    """How SOURCE's chain head in STREAM moved: each change, newest first."""
    with _contract(state_dir, who) as api:
        changes = _take(api.items(api.get_batch_history, stream, source,
                                  page_size=min(limit, 100)), limit)
    rows = [{"time": _when(c.time), "seq": c.head.seq if c.head else None,
             "batch": c.head.batch_id if c.head else None,
             "org": c.head.msp_id if c.head else None, "tx": c.tx_id} for c in changes]
    _emit(fmt, [c.raw for c in changes], rows, ("time", "seq", "batch", "org", "tx"),
          f"{len(changes)} change(s) of {stream}/{source}", short=("batch", "tx"))
