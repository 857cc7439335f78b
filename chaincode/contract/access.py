"""Audited key access in two steps: OpenStream issues a ticket, GetStreamKeys releases the
organisation's wrapped keys against it.

Two kinds of identity open a stream, both of a reader organisation: an analyst, to read
it, and a producer of a writer organisation (when producer is a writer role), which needs
the data key to encrypt what it writes. Both state a purpose and are audited alike; no other
role ever receives a data key, whatever the stream's writer roles.

A ticket holds against the endorsing peer's clock as well as the transaction time, and
records the stream's grant generation: a revocation ends it, a later re-grant does not
revive it.
"""

from __future__ import annotations

from ledgerlake import records
from ledgerlake.chaincode.contract.common import (
    MAX_EPOCH,
    MAX_TEXT,
    audit,
    deny,
    get,
    hex64,
    integer,
    invalid,
    load_stream,
    parse_object,
    put,
    text,
    transaction,
)
from ledgerlake.chaincode.ledger import ChaincodeError, Ledger, composite_key
from ledgerlake.protocol import ErrorCode, Function

TICKET_TTL_NS = 15 * 60 * 10**9
REQUEST_FIELDS = ("purpose", "epoch", "block_from", "block_to", "time_from", "time_to")


def _scope(req: dict) -> dict:
    """The block and time range asked for, each bound in order."""
    scope = {k: integer(req[k], k) for k in REQUEST_FIELDS[2:] if req.get(k) is not None}
    for lo, hi in (("block_from", "block_to"), ("time_from", "time_to")):
        if lo in scope and hi in scope and scope[lo] > scope[hi]:
            raise invalid(f"request: {lo} is after {hi}")
    return scope


def _require_opener(ctx: Ledger, stream: dict, rule: str = "stream.open") -> None:
    """The one rule of who opens a stream and so receives its organisation's data keys: an
    analyst of a reader organisation, or a producer of a writer organisation that reads it
    (when producer is a writer role). Other writer roles may write but get no key. A failed
    reader check is named by ``rule`` (GetStreamKeys: the org lost its grant since)."""
    creator = ctx.creator()
    writers = stream["writers"]
    producer = creator.role == "producer" and "producer" in writers["roles"] and \
        creator.msp_id in writers["msp_ids"]
    if creator.role != "analyst" and not producer:
        raise deny("stream.open", f"only an analyst of a reader organisation or a producer of "
                                  f"a writer organisation that reads it opens a stream "
                                  f"(writers: {', '.join(writers['msp_ids'])}; writer roles: "
                                  f"{', '.join(writers['roles'])}); {creator.msp_id} identity "
                                  f"{creator.enrollment_id[:64]!r} has role "
                                  f"{creator.role or 'none'!r}")
    if creator.msp_id not in stream["readers"]:
        raise deny(rule, f"{creator.msp_id} is {'no longer' if rule == 'stream.keys' else 'not'}"
                         f" a reader of {stream['id']!r}")


@transaction(Function.OPEN_STREAM)
async def open_stream(ctx: Ledger, stream_id: str, request_json: str) -> dict:
    """Step 1 of audited key access: an opener (``_require_opener``) states a purpose
    (and optionally a block or time range); the access is written to the audit trail and a
    ticket is issued. Submit it: an evaluated call commits nothing and so opens nothing.

    Request: ``{purpose, epoch?, block_from?, block_to?, time_from?, time_to?}``."""
    stream = await load_stream(ctx, stream_id)
    creator = ctx.creator()
    _require_opener(ctx, stream)
    req = parse_object(request_json, "request", REQUEST_FIELDS)
    purpose = text(req.get("purpose", ""), "purpose", MAX_TEXT).strip()
    if not purpose:
        raise invalid("opening a stream needs a stated 'purpose'")
    scope = _scope(req)
    if req.get("epoch") is not None:
        epoch = integer(req["epoch"], "epoch", 1, MAX_EPOCH)
        if epoch in stream["shredded"]:
            raise ChaincodeError(ErrorCode.CONFLICT, f"epoch {epoch} of {stream_id!r} was shredded")
        if epoch > stream["epoch"]:
            raise ChaincodeError(ErrorCode.NOT_FOUND, f"epoch {epoch} of {stream_id!r} is not "
                                                      f"open yet (current: {stream['epoch']})")
        epochs = [epoch]
    else:
        epochs = [e for e in range(1, stream["epoch"] + 1) if e not in stream["shredded"]]
    if not epochs:
        raise ChaincodeError(ErrorCode.CONFLICT, f"no key epoch of {stream_id!r} is left to open")
    ticket = {"stream": stream_id, "msp_id": creator.msp_id, "id": creator.enrollment_id,
              "epochs": epochs, "purpose": purpose, "scope": scope,
              "generation": stream.get("generation", 0),
              "issued": ctx.timestamp_ns, "expires": ctx.timestamp_ns + TICKET_TTL_NS}
    await put(ctx, composite_key("ticket", stream_id, ctx.tx_id), ticket)
    await audit(ctx, "StreamOpened", {"stream": stream_id}, purpose=purpose, scope=scope,
                epochs=epochs)
    return {"ticket": ctx.tx_id, **ticket}


@transaction(Function.GET_STREAM_KEYS)
async def get_stream_keys(ctx: Ledger, stream_id: str, ticket_id: str) -> dict:
    """Step 2: the org's wrapped keys, only against a committed, unexpired ticket of the
    same identity issued since the org's current grant (so every key release is on the
    audit trail, and none outlives a revocation)."""
    stream = await load_stream(ctx, stream_id)
    creator = ctx.creator()
    _require_opener(ctx, stream, "stream.keys")
    ticket = await get(ctx, composite_key("ticket", stream_id, hex64(ticket_id, "ticket")))
    if ticket is None:
        raise deny("stream.keys", f"no committed ticket {ticket_id!r} for {stream_id!r}; "
                                  f"submit OpenStream first")
    if (ticket["msp_id"], ticket["id"]) != (creator.msp_id, creator.enrollment_id):
        raise deny("stream.keys", "the ticket was issued to another identity")
    since = stream.get("reader_since", {}).get(creator.msp_id, 0)
    if ticket.get("generation", 0) < since:
        raise deny("stream.keys", f"the ticket predates {creator.msp_id}'s current grant "
                                  f"(it was revoked since); open the stream again")
    if max(ctx.timestamp_ns, ctx.local_time_ns()) > records.int64(ticket["expires"],
                                                                "ticket.expires"):
        raise ChaincodeError(ErrorCode.EXPIRED, "the ticket has expired (by the transaction "
                                                "time or the peer's clock); open the stream again")
    keys = {}
    for epoch in ticket["epochs"]:
        if epoch in stream["shredded"]:
            continue
        wrapped = await ctx.get_state(composite_key("grant", stream_id, str(epoch),
                                                    creator.msp_id))
        if wrapped:
            keys[str(epoch)] = wrapped.decode()
    if not keys:
        raise ChaincodeError(ErrorCode.NOT_FOUND,
                             f"no key of {stream_id!r} is granted to {creator.msp_id}")
    return {"stream": stream_id, "msp_id": creator.msp_id, "wrapped_keys": keys,
            "shredded": stream["shredded"], "ticket": ticket_id}


__all__ = ["TICKET_TTL_NS"]
