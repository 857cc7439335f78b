"""``ledgerlake audit``: the audit trail by actor, stream, action and time, as a table, JSON
or CSV (over ``ledgerlake.client.audit``)."""

from __future__ import annotations

import json

import click

from ledgerlake.cli import (
    _as_option,
    _contract,
    _emit,
    _format_option,
    _json_option,
    _nanos_option,
    _state_dir_option,
    _take,
    _when,
)

COLUMNS = ("time", "action", "actor", "role", "target", "details", "tx")


@click.command()
@_state_dir_option
@click.option("--actor", help="Who: MSP/enrollment id (Org1MSP/admin) or an MSP ID (any of "
                              "its members).")
@click.option("--stream", help="Which stream (also lineage anchors naming it).")
@click.option("--action", help="What, e.g. StreamCreated, StreamOpened, BatchSubmitted, "
                               "ReaderRevoked, KeyRotated.")
@click.option("--since", help="From this time (ISO-8601, UTC unless given, or nanoseconds).")
@click.option("--until", help="Before this time (ISO-8601 or nanoseconds).")
@_as_option("Org1/auditor")
@_format_option
@_json_option
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True,
              help="Show at most this many entries (oldest first).")
def audit(state_dir, actor, stream, action, since, until, who, fmt, as_json, limit) -> None:
    """The audit trail: who did what to which stream, when (auditors only)."""
    from ledgerlake.client.audit import audit_trail

    time_from, time_to = _nanos_option(since, "--since"), _nanos_option(until, "--until")
    if time_from is not None and time_to is not None and time_from > time_to:
        raise click.BadParameter("--since is after --until", param_hint="--since")
    with _contract(state_dir, who) as api:
        entries = _take(audit_trail(api, actor=actor, stream=stream, action=action,
                                    since=time_from, until=time_to,
                                    page_size=min(limit, 100)), limit)
    rows = [{"time": _when(e.time), "action": e.action, "actor": str(e.actor),
             "role": e.actor.role, "target": " ".join(f"{k}={v}" for k, v in e.target.items()),
             "details": " ".join(f"{k}={json.dumps(v, sort_keys=True)}"
                                 for k, v in e.extra.items()),
             "tx": e.tx_id} for e in entries]
    _emit("json" if as_json else fmt, [e.raw for e in entries], rows, COLUMNS,
          f"{len(entries)} audit entr{'y' if len(entries) == 1 else 'ies'}", short=("tx",))
