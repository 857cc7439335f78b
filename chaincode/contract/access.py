"""Audited key access in two steps: OpenStream issues a ticket, GetStreamKeys
releases the organisation's wrapped keys against it."""

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


# -- audited access -------------------------------------------------------------------------
TICKET_TTL_NS = 15 * 60 * 10**9


@transaction(Function.OPEN_STREAM)
async def open_stream(ctx: Ledger, stream_id: str, request_json: str) -> dict:
    """Step 1 of audited key access: an analyst of a reader org states a purpose (and
    optionally a block or time range); the access is written to the audit trail and a
    ticket is issued. Submit it: an evaluated call commits nothing and so opens nothing.

    Request: ``{purpose, epoch?, block_from?, block_to?, time_from?, time_to?}``."""
    stream = await load_stream(ctx, stream_id)
    creator = ctx.creator()
    require_role(ctx, "stream.open", "analyst")
    if creator.msp_id not in stream["readers"]:
        raise deny("stream.open", f"{creator.msp_id} is not a reader of {stream_id!r}")
    req = _json(request_json, "request")
    if not isinstance(req, dict) or not str(req.get("purpose", "")).strip():
        raise ChaincodeError("opening a stream needs a stated 'purpose'")
    scope = {k: _int(req[k], k) for k in ("block_from", "block_to", "time_from", "time_to")
             if k in req}
    epochs = [_int(req["epoch"], "epoch", 1)] if "epoch" in req else \
        list(range(1, stream["epoch"] + 1))
    if "epoch" in req and epochs[0] in stream["shredded"]:
        raise ChaincodeError(f"epoch {epochs[0]} of {stream_id!r} was shredded")
    epochs = [e for e in epochs if e not in stream["shredded"] and e <= stream["epoch"]]
    if not epochs:
        raise ChaincodeError(f"no key epoch of {stream_id!r} is left to open")
    ticket = {"stream": stream_id, "msp_id": creator.msp_id, "id": creator.enrollment_id,
              "epochs": epochs, "purpose": str(req["purpose"]), "scope": scope,
              "issued": ctx.timestamp_ns, "expires": ctx.timestamp_ns + TICKET_TTL_NS}
    await _put(ctx, composite_key("ticket", stream_id, ctx.tx_id), ticket)
    await audit(ctx, "StreamOpened", {"stream": stream_id}, purpose=ticket["purpose"],
                scope=scope, epochs=epochs)
    return {"ticket": ctx.tx_id, **ticket}


@transaction(Function.GET_STREAM_KEYS)
async def get_stream_keys(ctx: Ledger, stream_id: str, ticket_id: str) -> dict:
    """Step 2: the org's wrapped keys, only against a committed, unexpired ticket of the
    same identity (so every key release is on the audit trail)."""
    stream = await load_stream(ctx, stream_id)
    creator = ctx.creator()
    require_role(ctx, "stream.open", "analyst")
    ticket = await _get(ctx, composite_key("ticket", stream_id, ticket_id))
    if ticket is None:
        raise deny("stream.keys", f"no committed ticket {ticket_id!r} for {stream_id!r}; "
                                  f"submit OpenStream first")
    if (ticket["msp_id"], ticket["id"]) != (creator.msp_id, creator.enrollment_id):
        raise deny("stream.keys", "the ticket was issued to another identity")
    if creator.msp_id not in stream["readers"]:
        raise deny("stream.keys", f"{creator.msp_id} is no longer a reader of {stream_id!r}")
    if ctx.timestamp_ns > ticket["expires"]:
        raise deny("stream.keys", "the ticket has expired; open the stream again")
    keys = {}
    for epoch in ticket["epochs"]:
        if epoch in stream["shredded"]:
            continue
        wrapped = await ctx.get_state(composite_key("grant", stream_id, str(epoch),
                                                    creator.msp_id))
        if wrapped:
            keys[str(epoch)] = wrapped.decode()
    if not keys:
        raise ChaincodeError(f"no key of {stream_id!r} is granted to {creator.msp_id}")
    return {"stream": stream_id, "msp_id": creator.msp_id, "wrapped_keys": keys,
            "shredded": stream["shredded"], "ticket": ticket_id}
