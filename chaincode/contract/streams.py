"""Streams: create, change, read, list; reader grants, key rotation, shredding."""

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


# -- streams --------------------------------------------------------------------------------
@transaction(Function.CREATE_STREAM)
async def create_stream(ctx: Ledger, spec_json: str) -> dict:
    """Create a stream owned by the caller's organisation (admin only)."""
    require_role(ctx, "stream.create", "admin")
    spec = _json(spec_json, "stream spec")
    if not isinstance(spec, dict):
        raise ChaincodeError("stream spec must be a JSON object")
    unknown = set(spec) - {"id", "description", "schema", "writers", "readers", "wrapped_keys",
                           "max_age_seconds"}
    if unknown:
        raise ChaincodeError(f"stream spec field {sorted(unknown)[0]!r} is unknown")
    stream_id = spec.get("id")
    if not isinstance(stream_id, str) or not records.NAME.fullmatch(stream_id):
        raise ChaincodeError("stream id must be a name like 'plant-sensors'")
    if await ctx.get_state(composite_key("stream", stream_id)):
        raise ChaincodeError(f"stream {stream_id!r} already exists")
    schema = records.Schema.from_mapping(spec.get("schema"))
    readers = _check_msps(spec.get("readers"), "readers")
    keys = _check_wrapped(spec.get("wrapped_keys"), readers, "wrapped_keys")
    max_age = spec.get("max_age_seconds", records.DEFAULT_MAX_AGE_NS // 10**9)
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 1:
        raise ChaincodeError("max_age_seconds must be a positive integer")
    stream = {"id": stream_id, "owner": ctx.creator().msp_id,
              "description": str(spec.get("description", "")), "schema": schema.to_mapping(),
              "writers": _writers(spec.get("writers")), "readers": readers, "epoch": 1,
              "shredded": [], "status": "active", "max_age_seconds": max_age,
              "created": ctx.timestamp_ns, "updated": ctx.timestamp_ns}
    await _put(ctx, composite_key("stream", stream_id), stream)
    await _store_grants(ctx, stream_id, 1, keys)
    await audit(ctx, "StreamCreated", {"stream": stream_id})
    return stream


@transaction(Function.UPDATE_STREAM)
async def update_stream(ctx: Ledger, stream_id: str, changes_json: str) -> dict:
    """Change a stream's description, writers, max age, status or schema (a new version)."""
    stream = await load_stream(ctx, stream_id)
    require_owner_admin(ctx, stream, "stream.update")
    changes = _json(changes_json, "changes")
    allowed = {"description", "writers", "max_age_seconds", "schema", "status"}
    if not isinstance(changes, dict) or not changes or set(changes) - allowed:
        raise ChaincodeError(f"changes must be an object with some of {sorted(allowed)}")
    if "writers" in changes:
        stream["writers"] = _writers(changes["writers"])
    if "description" in changes:
        stream["description"] = str(changes["description"])
    if "max_age_seconds" in changes:
        age = changes["max_age_seconds"]
        if isinstance(age, bool) or not isinstance(age, int) or age < 1:
            raise ChaincodeError("max_age_seconds must be a positive integer")
        stream["max_age_seconds"] = age
    if "status" in changes:
        if changes["status"] not in ("active", "closed"):
            raise ChaincodeError("status must be 'active' or 'closed'")
        stream["status"] = changes["status"]
    if "schema" in changes:
        schema = records.Schema.from_mapping(changes["schema"])
        if schema.version <= stream["schema"]["version"]:
            raise ChaincodeError(f"a new schema needs a version above "
                                 f"{stream['schema']['version']}")
        stream["schema"] = schema.to_mapping()
    stream["updated"] = ctx.timestamp_ns
    await _put(ctx, composite_key("stream", stream_id), stream)
    await audit(ctx, "StreamUpdated", {"stream": stream_id}, changed=sorted(changes))
    return stream


@transaction(Function.GET_STREAM)
async def get_stream(ctx: Ledger, stream_id: str) -> dict:
    """A stream's definition (any member)."""
    require_role(ctx, "stream.read", *ROLES)
    return await load_stream(ctx, stream_id)


@transaction(Function.LIST_STREAMS)
async def list_streams(ctx: Ledger, page_size: str = "", bookmark: str = "") -> dict:
    """Streams in id order, paginated (any member)."""
    require_role(ctx, "stream.read", *ROLES)
    items, mark = await ctx.get_state_by_partial_composite_key("stream", (), _page(page_size),
                                                               bookmark)
    return {"items": [json.loads(v) for _, v in items], "bookmark": mark}


@transaction(Function.GRANT_READER)
async def grant_reader(ctx: Ledger, stream_id: str, msp_id: str, wrapped_key: str) -> dict:
    """Make ``msp_id`` a reader, with the current epoch's key wrapped for it."""
    stream = await load_stream(ctx, stream_id)
    require_owner_admin(ctx, stream, "stream.grant")
    if msp_id in stream["readers"]:
        raise ChaincodeError(f"{msp_id} already reads stream {stream_id!r}")
    _check_wrapped({msp_id: wrapped_key}, [msp_id], "wrapped_key")
    stream["readers"] = sorted({*stream["readers"], msp_id})
    stream["updated"] = ctx.timestamp_ns
    await _put(ctx, composite_key("stream", stream_id), stream)
    await _store_grants(ctx, stream_id, stream["epoch"], {msp_id: wrapped_key})
    await audit(ctx, "ReaderGranted", {"stream": stream_id, "msp_id": msp_id,
                                       "epoch": stream["epoch"]})
    return stream


@transaction(Function.REVOKE_READER)
async def revoke_reader(ctx: Ledger, stream_id: str, msp_id: str) -> dict:
    """Remove a reader org: it can no longer open the stream (rotate the key next)."""
    stream = await load_stream(ctx, stream_id)
    require_owner_admin(ctx, stream, "stream.revoke")
    if msp_id not in stream["readers"]:
        raise ChaincodeError(f"{msp_id} does not read stream {stream_id!r}")
    stream["readers"] = [m for m in stream["readers"] if m != msp_id]
    stream["updated"] = ctx.timestamp_ns
    await _put(ctx, composite_key("stream", stream_id), stream)
    for epoch in range(1, stream["epoch"] + 1):
        await ctx.delete_state(composite_key("grant", stream_id, str(epoch), msp_id))
    await audit(ctx, "ReaderRevoked", {"stream": stream_id, "msp_id": msp_id})
    return stream


@transaction(Function.ROTATE_KEY)
async def rotate_key(ctx: Ledger, stream_id: str, wrapped_keys_json: str) -> dict:
    """Open the next key epoch with a new data key wrapped for every current reader."""
    stream = await load_stream(ctx, stream_id)
    require_owner_admin(ctx, stream, "stream.rotate")
    keys = _check_wrapped(_json(wrapped_keys_json, "wrapped keys"), stream["readers"],
                          "wrapped_keys")
    stream["epoch"] += 1
    stream["updated"] = ctx.timestamp_ns
    await _put(ctx, composite_key("stream", stream_id), stream)
    await _store_grants(ctx, stream_id, stream["epoch"], keys)
    await audit(ctx, "KeyRotated", {"stream": stream_id, "epoch": stream["epoch"]})
    return stream


@transaction(Function.SHRED_EPOCH)
async def shred_epoch(ctx: Ledger, stream_id: str, epoch: str) -> dict:
    """Delete every wrapped key of a past epoch from world state: the chaincode no longer
    releases them. The blocks that granted them still hold those (wrapped) keys, so an org
    that kept its key or its block copies can still decrypt; shredding that survives the
    ledger's history needs keys kept off the ledger (private data with a block-to-live)."""
    stream = await load_stream(ctx, stream_id)
    require_owner_admin(ctx, stream, "stream.shred")
    number = _int(epoch, "epoch")
    if not 1 <= number < stream["epoch"]:
        raise ChaincodeError(f"only a past epoch (1..{stream['epoch'] - 1}) can be shredded; "
                             f"rotate the key first")
    if number in stream["shredded"]:
        raise ChaincodeError(f"epoch {number} of {stream_id!r} is already shredded")
    grants, _ = await ctx.get_state_by_partial_composite_key("grant", (stream_id, str(number)))
    for key, _ in grants:
        await ctx.delete_state(key)
    stream["shredded"] = sorted({*stream["shredded"], number})
    stream["updated"] = ctx.timestamp_ns
    await _put(ctx, composite_key("stream", stream_id), stream)
    await audit(ctx, "EpochShredded", {"stream": stream_id, "epoch": number},
                keys_destroyed=len(grants))
    return stream
