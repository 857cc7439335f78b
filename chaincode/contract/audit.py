"""The audit trail, queried by actor, stream, action or time (auditors)."""

from __future__ import annotations

from ledgerlake.chaincode.contract.common import (
    AUDIT_INDEXES,
    bookmark,
    ident,
    invalid,
    page_of_json,
    page_size,
    parse_object,
    require_role,
    text,
    time_range,
    transaction,
    ts,
)
from ledgerlake.chaincode.ledger import Ledger, composite_key
from ledgerlake.protocol import Function

QUERY_FIELDS = ("by", "value", "time_from", "time_to", "page_size", "bookmark")


def _value(by: str, value: object) -> str:
    """The index value: ``MSP/enrollment id`` for an actor, an identifier otherwise."""
    if by != "actor":
        return ident(value, f"query.value (a {by})")
    actor = text(value, "query.value (an actor)", 320)
    msp, _, enrollment_id = actor.partition("/")
    ident(msp, "query.value's MSP ID")
    if not enrollment_id:
        raise invalid("query.value must be 'MSP/enrollment id' for an actor")
    return actor


@transaction(Function.QUERY_AUDIT)
async def query_audit(ctx: Ledger, query_json: str) -> dict:
    """Audit entries by actor (``MSP/id``), stream, action or only time range (auditors).
    A page stops at ``page_size`` entries or before ``MAX_PAGE_BYTES``; follow the bookmark.

    Query: ``{by: actor|stream|action|time, value?, time_from?, time_to?, page_size?,
    bookmark?}``."""
    require_role(ctx, "audit.read", "auditor")
    q = parse_object(query_json, "query", QUERY_FIELDS)
    by = q.get("by", "time")
    lo, hi = (ts(t) for t in time_range(q))
    if by == "time":
        if q.get("value") is not None:
            raise invalid("querying by time takes no 'value'")
        start, end = composite_key("audit~time", lo), composite_key("audit~time", hi)
    elif by in AUDIT_INDEXES:
        if not q.get("value"):
            raise invalid(f"querying by {by} needs a 'value'")
        value = _value(by, q["value"])
        start = composite_key(f"audit~{by}", value, lo)
        end = composite_key(f"audit~{by}", value, hi)
    else:
        raise invalid("'by' must be actor, stream, action or time")
    rows, mark = await ctx.get_state_by_range(start, end, page_size(q.get("page_size")),
                                              bookmark(q.get("bookmark")))
    return page_of_json(rows, mark)
