"""The audit trail, queried by actor, stream, action or time (auditors)."""

from __future__ import annotations

import base64
import hashlib
import json
import re

from ledgerlake import records
from ledgerlake.chaincode.contract.common import *  # noqa: F401,F403
from ledgerlake.chaincode.contract.common import (
    _check_msps, _check_wrapped, _get, _int, _json, _page, _put, _store_grants, _ts, _writers,
)
from ledgerlake.chaincode.ledger import ChaincodeError, Ledger, composite_key


# -- audit trail ----------------------------------------------------------------------------
@transaction(Function.QUERY_AUDIT)
async def query_audit(ctx: Ledger, query_json: str) -> dict:
    """Audit entries by actor (``MSP/id``), stream, action or only time range (auditors).

    Query: ``{by: actor|stream|action|time, value?, time_from?, time_to?, page_size?,
    bookmark?}``."""
    require_role(ctx, "audit.read", "auditor")
    q = _json(query_json, "query")
    if not isinstance(q, dict):
        raise ChaincodeError("query must be a JSON object")
    by = q.get("by", "time")
    lo = _ts(_int(q.get("time_from") or 0, "time_from"))
    hi = _ts(_int(q.get("time_to") or records.INT64[1], "time_to"))
    if by == "time":
        start, end = composite_key("audit~time", lo), composite_key("audit~time", hi)
    elif by in AUDIT_INDEXES:
        value = str(q.get("value", ""))
        if not value:
            raise ChaincodeError(f"querying by {by} needs a 'value'")
        start = composite_key(f"audit~{by}", value, lo)
        end = composite_key(f"audit~{by}", value, hi)
    else:
        raise ChaincodeError("'by' must be actor, stream, action or time")
    rows, mark = await ctx.get_state_by_range(start, end, _page(q.get("page_size")),
                                              str(q.get("bookmark", "")))
    return {"items": [json.loads(v) for _, v in rows], "bookmark": mark}
