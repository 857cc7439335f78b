"""Record batches: submit (chained per source), read, list, a source's history."""

from __future__ import annotations


from ledgerlake import records
from ledgerlake.chaincode.contract.common import (
    MAX_BATCH_BYTES,
    MAX_PAGE_BYTES,
    MAX_TRANSIENT_BYTES,
    audit,
    bookmark,
    deny,
    get,
    hex64,
    ident,
    integer_arg,
    invalid,
    load_stream,
    page_size,
    parse,
    parse_object,
    put,
    stored,
    time_range,
    transaction,
    ts,
)
from ledgerlake.chaincode.ledger import ChaincodeError, Ledger, composite_key
from ledgerlake.protocol import ErrorCode, Function

#: How far back a history page may start (the peer reads the history up to there).
MAX_HISTORY_OFFSET = 100_000


def _check_plaintext(ctx: Ledger, stream: dict, schema: records.Schema, batch: dict) -> bool:
    """With plaintext in the transient map, check it with the record format's one rule.

    Fails closed: an endorser that does not know its own organisation, or whose
    organisation does not read the stream, refuses plaintext instead of looking at it."""
    raw = ctx.transient.get("records")
    if raw is None:
        return False
    if not ctx.own_msp_id:
        raise ChaincodeError(ErrorCode.CONFLICT,
                             "this endorser does not know its organisation, so it refuses "
                             "plaintext; send the batch without records")
    if ctx.own_msp_id not in stream["readers"]:
        raise ChaincodeError(ErrorCode.ACCESS_DENIED,
                             f"plaintext was sent to {ctx.own_msp_id}, which does not read "
                             f"stream {stream['id']!r}; send it only to reader organisations")
    if len(raw) > MAX_TRANSIENT_BYTES:
        raise invalid(f"transient 'records' is more than {MAX_TRANSIENT_BYTES} bytes")
    rows, salts, _ = records.batch_plaintext(
        records.parse_json(bytes(raw), "transient 'records'"), "transient 'records'")
    records.verify_batch_records(schema, batch, rows, salts)
    return True


@transaction(Function.SUBMIT_BATCH, max_bytes=MAX_BATCH_BYTES)
async def submit_batch(ctx: Ledger, batch_json: str) -> dict:
    """Record one batch of encrypted records from one source, chained to its previous one."""
    batch = parse(batch_json, "batch")
    if not isinstance(batch, dict) or not isinstance(batch.get("stream"), str):
        records.validate_batch_shape(batch)  # names what is wrong with it
    stream = await load_stream(ctx, batch["stream"])
    # With the stream's schema, public fields are normalised (integer rule) before the id
    # is checked, so a batch has one id however its integers were written.
    schema = records.Schema.from_mapping(stream["schema"])
    batch = records.validate_batch_shape(batch, schema)
    creator = ctx.creator()
    writers = stream["writers"]
    if creator.msp_id not in writers["msp_ids"]:
        raise deny("batch.write", f"{creator.msp_id} may not write to stream "
                                  f"{stream['id']!r} (writers: {writers['msp_ids']})")
    if creator.role not in writers["roles"]:
        raise deny("batch.write", f"writing needs role {' or '.join(writers['roles'])}, "
                                  f"not {creator.role or 'none'!r}")
    if stream["status"] != "active":
        raise ChaincodeError(ErrorCode.CONFLICT, f"stream {stream['id']!r} is {stream['status']}")
    if batch["schema_version"] != schema.version:
        raise ChaincodeError(ErrorCode.CONFLICT,
                             f"batch.schema_version {batch['schema_version']} is not the "
                             f"stream's schema version {schema.version}")
    if batch["key_epoch"] != stream["epoch"]:
        raise ChaincodeError(ErrorCode.CONFLICT,
                             f"batch.key_epoch {batch['key_epoch']} is not the current "
                             f"epoch {stream['epoch']}")
    # The window holds against the transaction time and the endorsing peer's own clock
    # (the transaction time is the client's choice, within MAX_FUTURE_SKEW_NS of it).
    now, local = ctx.timestamp_ns, ctx.local_time_ns()
    if batch["time_end"] > min(now, local) + records.MAX_FUTURE_SKEW_NS:
        raise ChaincodeError(ErrorCode.CLOCK_SKEW, "batch.time_end lies in the future of the "
                                                   "transaction time or the peer's clock")
    if batch["time_start"] < max(now, local) - stream["max_age_seconds"] * 10**9:
        raise ChaincodeError(ErrorCode.CLOCK_SKEW,
                             f"batch.time_start is older than the stream's max age "
                             f"({stream['max_age_seconds']} s)")
    stream_id, source = batch["stream"], batch["source"]
    if await ctx.get_state(composite_key("batch", stream_id, batch["id"])):
        raise ChaincodeError(ErrorCode.ALREADY_EXISTS,
                             f"batch {batch['id']} is already recorded (a replay)")
    head_key = composite_key("head", stream_id, source)
    head = await get(ctx, head_key) or {"seq": 0, "batch_id": "", "msp_id": creator.msp_id}
    if head["msp_id"] != creator.msp_id:
        raise deny("batch.source", f"source {source!r} belongs to {head['msp_id']}")
    if batch["seq"] > head["seq"] + 1:
        raise ChaincodeError(ErrorCode.CHAIN_GAP,
                             f"chain of source {source!r} broken (a gap): expected seq "
                             f"{head['seq'] + 1}, got {batch['seq']}")
    if batch["seq"] != head["seq"] + 1:
        raise ChaincodeError(ErrorCode.CHAIN_FORK,
                             f"chain of source {source!r} broken (a fork or replay): expected "
                             f"seq {head['seq'] + 1}, got {batch['seq']}")
    if batch["prev_hash"] != head["batch_id"]:
        raise ChaincodeError(ErrorCode.CHAIN_FORK,
                             f"chain of source {source!r} broken: prev_hash does not name "
                             f"batch {head['batch_id'] or '(none)'}")
    checked = _check_plaintext(ctx, stream, schema, batch)
    stored = {**batch, "producer": {"msp_id": creator.msp_id, "id": creator.enrollment_id},
              "tx_id": ctx.tx_id, "recorded": now, "plaintext_checked": checked}
    await put(ctx, composite_key("batch", stream_id, batch["id"]), stored)
    await put(ctx, head_key, {"seq": batch["seq"], "batch_id": batch["id"],
                              "msp_id": creator.msp_id})
    await ctx.put_state(composite_key("bysource", stream_id, source, f"{batch['seq']:020d}"),
                        batch["id"].encode())
    await ctx.put_state(composite_key("bytime", stream_id, ts(batch["time_start"]),
                                      batch["id"]), batch["id"].encode())
    await audit(ctx, "BatchSubmitted", {"stream": stream_id, "batch": batch["id"],
                                        "source": source, "seq": batch["seq"]},
                records=batch["record_count"])
    return {"id": batch["id"], "tx_id": ctx.tx_id, "seq": batch["seq"],
            "plaintext_checked": checked}


def _require_batch_reader(ctx: Ledger, stream: dict) -> None:
    creator = ctx.creator()
    role = creator.role
    if role == "auditor":
        return
    if role == "analyst" and creator.msp_id in stream["readers"]:
        return
    if role and role in stream["writers"]["roles"] and \
            creator.msp_id in stream["writers"]["msp_ids"]:
        return
    if role == "admin" and creator.msp_id == stream["owner"]:
        return
    raise deny("batch.read", f"{creator.msp_id} {role or 'none'} may not read batches of "
                             f"{stream['id']!r}")


@transaction(Function.GET_BATCH)
async def get_batch(ctx: Ledger, stream_id: str, batch_id: str) -> dict:
    """One batch, to its readers, writers, owner admins and auditors."""
    stream = await load_stream(ctx, stream_id)
    _require_batch_reader(ctx, stream)
    batch = await get(ctx, composite_key("batch", stream_id, hex64(batch_id, "batch id")))
    if batch is None:
        raise ChaincodeError(ErrorCode.NOT_FOUND, f"no batch {batch_id} in stream {stream_id!r}")
    return batch


@transaction(Function.LIST_BATCHES)
async def list_batches(ctx: Ledger, query_json: str) -> dict:
    """Batches of a stream: all (time order), one source's (sequence order), or a time range.
    A page holds at most ``page_size`` batches and stops before ``MAX_PAGE_BYTES`` (after
    at least one batch); follow the bookmark.

    Query: ``{stream, source?, time_from?, time_to?, page_size?, bookmark?}``."""
    q = parse_object(query_json, "query", ("stream", "source", "time_from", "time_to",
                                           "page_size", "bookmark"), ("stream",))
    stream = await load_stream(ctx, q["stream"])
    _require_batch_reader(ctx, stream)
    size, mark = page_size(q.get("page_size")), bookmark(q.get("bookmark"))
    sid = stream["id"]
    if q.get("source") is not None:
        if q.get("time_from") is not None or q.get("time_to") is not None:
            raise invalid("query: list by source or by time, not both")
        rows, mark = await ctx.get_state_by_partial_composite_key(
            "bysource", (sid, ident(q["source"], "source")), size, mark)
    elif q.get("time_from") is not None or q.get("time_to") is not None:
        lo, hi = time_range(q)
        start = composite_key("bytime", sid, ts(lo))
        end = composite_key("bytime", sid, ts(hi))
        rows, mark = await ctx.get_state_by_range(start, end, size, mark)
    else:
        rows, mark = await ctx.get_state_by_partial_composite_key("bytime", (sid,), size, mark)
    items, total = [], 0
    for key, batch_id in rows:
        raw = await ctx.get_state(composite_key("batch", sid, batch_id.decode()))
        if items and total + len(raw) > MAX_PAGE_BYTES:
            mark = key  # the next page starts at the first batch left out
            break
        items.append(stored(raw))
        total += len(raw)
    return {"items": items, "bookmark": mark}


@transaction(Function.GET_BATCH_HISTORY)
async def get_batch_history(ctx: Ledger, stream_id: str, source: str, size: str = "",
                            mark: str = "") -> dict:
    """Every change to a source's chain head, newest first: when, in which transaction.
    Paginated: ``page_size`` entries from the bookmark (an offset; "" = the newest)."""
    stream = await load_stream(ctx, stream_id)
    _require_batch_reader(ctx, stream)
    count = page_size(size)
    offset = integer_arg(mark, "bookmark", 0, MAX_HISTORY_OFFSET) if mark else 0
    history = await ctx.get_history_for_key(
        composite_key("head", stream_id, ident(source, "source")), offset + count + 1)
    page = history[offset:offset + count]
    more = len(history) > offset + count
    return {"items": [{"tx_id": h["tx_id"], "time": h["timestamp_ns"],
                       "head": stored(h["value"]) if h["value"] else None} for h in page],
            "bookmark": str(offset + count) if more else ""}

