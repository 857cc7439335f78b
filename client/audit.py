"""The audit trail filtered by several keys at once. The contract's ``QueryAudit`` reads one
index (actor, stream, action or time) within a time range; the most selective key given is
asked of the contract and the others are checked here, page by page."""

from __future__ import annotations

from typing import Iterator

from ledgerlake.client.models import AuditEntry
from ledgerlake.errors import ConfigError


def _stream_of(entry: AuditEntry) -> set[str]:
    streams = {entry.target.get("stream")}
    inputs = entry.extra.get("streams")
    if isinstance(inputs, list):
        streams.update(inputs)
    return {s for s in streams if isinstance(s, str)}


def matches(entry: AuditEntry, *, actor: str | None = None, stream: str | None = None,
            action: str | None = None) -> bool:
    """Whether ``entry`` has this actor (``MSP/id``, or just an MSP ID for any of its
    members), stream and action (each None: any)."""
    if actor is not None:
        if "/" in actor and str(entry.actor) != actor:
            return False
        if "/" not in actor and entry.actor.msp_id != actor:
            return False
    if stream is not None and stream not in _stream_of(entry):
        return False
    return action is None or entry.action == action


def audit_trail(api, *, actor: str | None = None, stream: str | None = None,
                action: str | None = None, since: int | None = None,
                until: int | None = None, page_size: int = 100) -> Iterator[AuditEntry]:
    """Audit entries (auditors), oldest first, with every given key, from ``since`` to before
    ``until`` (nanoseconds). An actor is ``MSP/enrollment id`` or an MSP ID (all its
    members, read through the time index and filtered here)."""
    if since is not None and until is not None and since > until:
        raise ConfigError("--since is after --until")
    if actor is not None and "/" in actor:
        by, value = "actor", actor
    elif stream is not None:
        by, value = "stream", stream
    elif action is not None:
        by, value = "action", action
    else:
        by, value = "time", None
    for entry in api.items(api.query_audit, by, value, time_from=since, time_to=until,
                           page_size=page_size):
        if matches(entry, actor=actor, stream=stream, action=action):
            yield entry
