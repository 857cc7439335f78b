"""Record batches: submit (chained per source), read, list, a source's history."""

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


# -- batches --------------------------------------------------------------------------------
def _check_plaintext(ctx: Ledger, stream: dict, schema: records.Schema, batch: dict) -> bool:
    """With plaintext in the transient map, check every record and the commitments."""
    raw = ctx.transient.get("records")
    if raw is None:
        return False
    if ctx.own_msp_id and ctx.own_msp_id not in stream["readers"]:
        raise ChaincodeError(f"plaintext was sent to {ctx.own_msp_id}, which does not read "
                             f"stream {stream['id']!r}; send it only to reader organisations")
    try:
        content = json.loads(raw)
        rows, salts = content["records"], content["salts"]
    except (ValueError, KeyError, TypeError):
        raise ChaincodeError("transient 'records' must be JSON {records: [...], salts: [...]}") \
            from None
    if len(rows) != batch["record_count"] or len(salts) != len(rows):
        raise ChaincodeError("transient records do not match batch.record_count")
    leaves = []
    for i, (row, salt) in enumerate(zip(rows, salts)):
        if not isinstance(salt, str) or not re.fullmatch(r"[0-9a-f]{32}", salt):
            raise ChaincodeError(f"record {i}: salt must be 16 bytes in hex")
        records.validate_record(schema, row, f"record {i}")
        if records.public_part(schema, row) != batch["public"][i]:
            raise ChaincodeError(f"record {i}: public fields differ from the record")
        leaves.append(records.commitment(bytes.fromhex(salt), row))
    if records.merkle_root(leaves).hex() != batch["merkle_root"]:
        raise ChaincodeError("the records' commitments do not match batch.merkle_root")
    return True


@transaction(Function.SUBMIT_BATCH)
async def submit_batch(ctx: Ledger, batch_json: str) -> dict:
    """Record one batch of encrypted records from one source, chained to its previous one."""
    batch = _json(batch_json, "batch")
    records.validate_batch_shape(batch)
    stream = await load_stream(ctx, batch["stream"])
    creator = ctx.creator()
    writers = stream["writers"]
    if creator.msp_id not in writers["msp_ids"]:
        raise deny("batch.write", f"{creator.msp_id} may not write to stream "
                                  f"{stream['id']!r} (writers: {writers['msp_ids']})")
    if creator.role not in writers["roles"]:
        raise deny("batch.write", f"writing needs role {' or '.join(writers['roles'])}, "
                                  f"not {creator.role or 'none'!r}")
    if stream["status"] != "active":
        raise ChaincodeError(f"stream {stream['id']!r} is {stream['status']}")
    schema = records.Schema.from_mapping(stream["schema"])
    if batch["schema_version"] != schema.version:
        raise ChaincodeError(f"batch.schema_version {batch['schema_version']} is not the "
                             f"stream's schema version {schema.version}")
    if batch["key_epoch"] != stream["epoch"]:
        raise ChaincodeError(f"batch.key_epoch {batch['key_epoch']} is not the current "
                             f"epoch {stream['epoch']}")
    for i, public in enumerate(batch["public"]):
        records.validate_public(schema, public, f"batch.public[{i}]")
    now = ctx.timestamp_ns
    if batch["time_end"] > now + records.MAX_FUTURE_SKEW_NS:
        raise ChaincodeError("batch.time_end lies in the future of the transaction time")
    if batch["time_start"] < now - stream["max_age_seconds"] * 10**9:
        raise ChaincodeError(f"batch.time_start is older than the stream's max age "
                             f"({stream['max_age_seconds']} s)")
    stream_id, source = batch["stream"], batch["source"]
    if await ctx.get_state(composite_key("batch", stream_id, batch["id"])):
        raise ChaincodeError(f"batch {batch['id']} is already recorded (a replay)")
    head_key = composite_key("head", stream_id, source)
    head = await _get(ctx, head_key) or {"seq": 0, "batch_id": "", "msp_id": creator.msp_id}
    if head["msp_id"] != creator.msp_id:
        raise deny("batch.source", f"source {source!r} belongs to {head['msp_id']}")
    if batch["seq"] != head["seq"] + 1:
        kind = "a gap" if batch["seq"] > head["seq"] + 1 else "a fork or replay"
        raise ChaincodeError(f"chain of source {source!r} broken ({kind}): expected seq "
                             f"{head['seq'] + 1}, got {batch['seq']}")
    if batch["prev_hash"] != head["batch_id"]:
        raise ChaincodeError(f"chain of source {source!r} broken: prev_hash does not name "
                             f"batch {head['batch_id'] or '(none)'}")
    checked = _check_plaintext(ctx, stream, schema, batch)
    stored = {**batch, "producer": {"msp_id": creator.msp_id, "id": creator.enrollment_id},
              "tx_id": ctx.tx_id, "recorded": now, "plaintext_checked": checked}
    await _put(ctx, composite_key("batch", stream_id, batch["id"]), stored)
    await _put(ctx, head_key, {"seq": batch["seq"], "batch_id": batch["id"],
                               "msp_id": creator.msp_id})
    await ctx.put_state(composite_key("bysource", stream_id, source, f"{batch['seq']:020d}"),
                        batch["id"].encode())
    await ctx.put_state(composite_key("bytime", stream_id, _ts(batch["time_start"]),
                                      batch["id"]), batch["id"].encode())
    await audit(ctx, "BatchSubmitted", {"stream": stream_id, "batch": batch["id"],
                                        "source": source, "seq": batch["seq"]},
                records=batch["record_count"])
    return {"id": batch["id"], "tx_id": ctx.tx_id, "seq": batch["seq"],
            "plaintext_checked": checked}


async def _require_batch_reader(ctx: Ledger, stream: dict) -> None:
    creator = ctx.creator()
    role = creator.role
    if role == "auditor":
        return
    if role == "analyst" and creator.msp_id in stream["readers"]:
        return
    if role in stream["writers"]["roles"] and creator.msp_id in stream["writers"]["msp_ids"]:
        return
    if role == "admin" and creator.msp_id == stream["owner"]:
        return
    raise deny("batch.read", f"{creator.msp_id} {role or 'none'} may not list batches of "
                             f"{stream['id']!r}")


@transaction(Function.GET_BATCH)
async def get_batch(ctx: Ledger, stream_id: str, batch_id: str) -> dict:
    stream = await load_stream(ctx, stream_id)
    await _require_batch_reader(ctx, stream)
    batch = await _get(ctx, composite_key("batch", stream_id, batch_id))
    if batch is None:
        raise ChaincodeError(f"no batch {batch_id} in stream {stream_id!r}")
    return batch


@transaction(Function.LIST_BATCHES)
async def list_batches(ctx: Ledger, query_json: str) -> dict:
    """Batches of a stream: all (time order), one source's (sequence order), or a time range.

    Query: ``{stream, source?, time_from?, time_to?, page_size?, bookmark?}``."""
    q = _json(query_json, "query")
    if not isinstance(q, dict) or "stream" not in q:
        raise ChaincodeError("query must be an object with 'stream'")
    stream = await load_stream(ctx, str(q["stream"]))
    await _require_batch_reader(ctx, stream)
    size, mark = _page(q.get("page_size")), str(q.get("bookmark", ""))
    sid = stream["id"]
    if q.get("source"):
        rows, mark = await ctx.get_state_by_partial_composite_key(
            "bysource", (sid, str(q["source"])), size, mark)
    elif q.get("time_from") is not None or q.get("time_to") is not None:
        start = composite_key("bytime", sid, _ts(_int(q.get("time_from") or 0, "time_from")))
        end = composite_key("bytime", sid, _ts(_int(q.get("time_to") or records.INT64[1],
                                                    "time_to")))
        rows, mark = await ctx.get_state_by_range(start, end, size, mark)
    else:
        rows, mark = await ctx.get_state_by_partial_composite_key("bytime", (sid,), size, mark)
    items = []
    for _, batch_id in rows:
        items.append(await _get(ctx, composite_key("batch", sid, batch_id.decode())))
    return {"items": items, "bookmark": mark}


@transaction(Function.GET_BATCH_HISTORY)
async def get_batch_history(ctx: Ledger, stream_id: str, source: str) -> dict:
    """Every change to a source's chain head, newest first: when, in which transaction."""
    stream = await load_stream(ctx, stream_id)
    await _require_batch_reader(ctx, stream)
    history = await ctx.get_history_for_key(composite_key("head", stream_id, source))
    return {"items": [{"tx_id": h["tx_id"], "time": h["timestamp_ns"],
                       "head": json.loads(h["value"]) if h["value"] else None}
                      for h in history]}
