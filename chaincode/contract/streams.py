"""Streams: create, change, read, list; reader grants, key rotation, shredding.

A stream keeps ``generation`` (bumped by every grant and revocation) and, per reader,
``reader_since`` (the generation its current grant began at): a ticket records the
generation it was issued at, so a ticket from before a revocation opens nothing after a
re-grant.
"""

from __future__ import annotations

from ledgerlake import records
from ledgerlake.chaincode.contract.common import (
    MAX_TEXT,
    audit,
    bookmark,
    ident,
    integer_arg,
    invalid,
    load_stream,
    max_age,
    msp_ids,
    page_of_json,
    page_size,
    parse,
    parse_object,
    put,
    require_owner_admin,
    require_role,
    schema,
    store_grants,
    text,
    transaction,
    wrapped_key,
    wrapped_keys,
    writers,
)
from ledgerlake.chaincode.ledger import ChaincodeError, Ledger, composite_key
from ledgerlake.protocol import ROLES, ErrorCode, Function

SPEC_FIELDS = ("id", "description", "schema", "writers", "readers", "wrapped_keys",
               "max_age_seconds")
CHANGEABLE = ("description", "writers", "max_age_seconds", "schema", "status")


def _touch(ctx: Ledger, stream: dict) -> None:
    stream["updated"] = ctx.timestamp_ns


def _writers_read(writer_orgs: list[str], readers: list[str], stream_id: str,
                  code: ErrorCode = ErrorCode.CONFLICT) -> None:
    """Every writer organisation must also read the stream: its producers encrypt with the
    stream's data key, which reaches an organisation only wrapped for it as a reader."""
    missing = [m for m in writer_orgs if m not in readers]
    if missing:
        raise ChaincodeError(
            code,
            f"writer organisation(s) {', '.join(missing)} of stream {stream_id!r} must also "
            f"be reader(s): writers encrypt with the stream's data key; make "
            f"{', '.join(missing)} a reader too")


@transaction(Function.CREATE_STREAM)
async def create_stream(ctx: Ledger, spec_json: str) -> dict:
    """Create a stream owned by the caller's organisation (admin only)."""
    require_role(ctx, "stream.create", "admin")
    spec = parse_object(spec_json, "stream spec", SPEC_FIELDS, ("id", "schema", "writers",
                                                                "readers", "wrapped_keys"))
    stream_id = ident(spec["id"], "stream id")
    if await ctx.get_state(composite_key("stream", stream_id)):
        raise ChaincodeError(ErrorCode.ALREADY_EXISTS, f"stream {stream_id!r} already exists")
    parsed = schema(spec["schema"])
    readers = msp_ids(spec["readers"], "readers")
    keys = wrapped_keys(spec["wrapped_keys"], readers, "wrapped_keys")
    age = max_age(spec.get("max_age_seconds", records.DEFAULT_MAX_AGE_NS // 10**9))
    who_writes = writers(spec["writers"])
    _writers_read(who_writes["msp_ids"], readers, stream_id, ErrorCode.INVALID_INPUT)
    stream = {"id": stream_id, "owner": ctx.creator().msp_id,
              "description": text(spec.get("description", ""), "description", MAX_TEXT),
              "schema": parsed.to_mapping(), "writers": who_writes,
              "readers": readers, "epoch": 1, "shredded": [], "status": "active",
              "max_age_seconds": age, "generation": 1,
              "reader_since": {m: 1 for m in readers},
              "created": ctx.timestamp_ns, "updated": ctx.timestamp_ns}
    await put(ctx, composite_key("stream", stream_id), stream)
    await store_grants(ctx, stream_id, 1, keys)
    await audit(ctx, "StreamCreated", {"stream": stream_id})
    return stream


@transaction(Function.UPDATE_STREAM)
async def update_stream(ctx: Ledger, stream_id: str, changes_json: str) -> dict:
    """Change a stream's description, writers, max age, status or schema (the next
    version). The audit entry records each change as ``{from, to}``."""
    stream = await load_stream(ctx, stream_id)
    require_owner_admin(ctx, stream, "stream.update")
    changes = parse_object(changes_json, "changes", CHANGEABLE)
    if not changes:
        raise invalid(f"changes must name some of {', '.join(CHANGEABLE)}")
    new = dict(stream)
    if "writers" in changes:
        new["writers"] = writers(changes["writers"])
        _writers_read(new["writers"]["msp_ids"], stream["readers"], stream["id"])
    if "description" in changes:
        new["description"] = text(changes["description"], "description", MAX_TEXT)
    if "max_age_seconds" in changes:
        new["max_age_seconds"] = max_age(changes["max_age_seconds"])
    if "status" in changes:
        if changes["status"] not in ("active", "closed"):
            raise invalid("status must be 'active' or 'closed'")
        new["status"] = changes["status"]
    if "schema" in changes:
        new["schema"] = schema(changes["schema"],
                               version_from=stream["schema"]["version"]).to_mapping()
    changed = {k: {"from": stream[k], "to": new[k]} for k in sorted(changes)
               if stream[k] != new[k]}
    _touch(ctx, new)
    await put(ctx, composite_key("stream", stream["id"]), new)
    await audit(ctx, "StreamUpdated", {"stream": stream["id"]}, changed=changed)
    return new


@transaction(Function.GET_STREAM)
async def get_stream(ctx: Ledger, stream_id: str) -> dict:
    """A stream's definition (any member)."""
    require_role(ctx, "stream.read", *ROLES)
    return await load_stream(ctx, stream_id)


@transaction(Function.LIST_STREAMS)
async def list_streams(ctx: Ledger, size: str = "", mark: str = "") -> dict:
    """Streams in id order, paginated (any member)."""
    require_role(ctx, "stream.read", *ROLES)
    rows, mark = await ctx.get_state_by_partial_composite_key("stream", (), page_size(size),
                                                              bookmark(mark))
    return page_of_json(rows, mark)


@transaction(Function.GRANT_READER)
async def grant_reader(ctx: Ledger, stream_id: str, msp_id: str, wrapped: str) -> dict:
    """Make ``msp_id`` a reader, with the current epoch's key wrapped for it."""
    stream = await load_stream(ctx, stream_id)
    require_owner_admin(ctx, stream, "stream.grant")
    ident(msp_id, "msp_id")
    if msp_id in stream["readers"]:
        raise ChaincodeError(ErrorCode.ALREADY_EXISTS,
                             f"{msp_id} already reads stream {stream_id!r}")
    wrapped_key(wrapped, "wrapped_key")
    if len(stream["readers"]) >= 64:
        raise ChaincodeError(ErrorCode.CONFLICT, f"stream {stream_id!r} has 64 readers")
    generation = stream.get("generation", 0) + 1
    stream["readers"] = sorted({*stream["readers"], msp_id})
    stream["generation"] = generation
    stream["reader_since"] = {**stream.get("reader_since", {}), msp_id: generation}
    _touch(ctx, stream)
    await put(ctx, composite_key("stream", stream_id), stream)
    await store_grants(ctx, stream_id, stream["epoch"], {msp_id: wrapped})
    await audit(ctx, "ReaderGranted", {"stream": stream_id, "msp_id": msp_id,
                                       "epoch": stream["epoch"]}, generation=generation)
    return stream


@transaction(Function.REVOKE_READER)
async def revoke_reader(ctx: Ledger, stream_id: str, msp_id: str) -> dict:
    """Remove a reader org: it can no longer open the stream, and its open tickets stop
    working (rotate the key next)."""
    stream = await load_stream(ctx, stream_id)
    require_owner_admin(ctx, stream, "stream.revoke")
    ident(msp_id, "msp_id")
    if msp_id not in stream["readers"]:
        raise ChaincodeError(ErrorCode.NOT_FOUND, f"{msp_id} does not read stream {stream_id!r}")
    if msp_id in stream["writers"]["msp_ids"]:
        raise ChaincodeError(
            ErrorCode.CONFLICT,
            f"{msp_id} still writes to stream {stream_id!r}, and a writer must read it; "
            f"remove {msp_id} from the writers first (UpdateStream)")
    stream["readers"] = [m for m in stream["readers"] if m != msp_id]
    stream["generation"] = stream.get("generation", 0) + 1
    stream["reader_since"] = {m: g for m, g in stream.get("reader_since", {}).items()
                              if m != msp_id}
    _touch(ctx, stream)
    await put(ctx, composite_key("stream", stream_id), stream)
    for epoch in range(1, stream["epoch"] + 1):
        if epoch not in stream["shredded"]:
            await ctx.delete_state(composite_key("grant", stream_id, str(epoch), msp_id))
    await audit(ctx, "ReaderRevoked", {"stream": stream_id, "msp_id": msp_id},
                generation=stream["generation"])
    return stream


@transaction(Function.ROTATE_KEY)
async def rotate_key(ctx: Ledger, stream_id: str, wrapped_keys_json: str) -> dict:
    """Open the next key epoch with a new data key wrapped for every current reader."""
    stream = await load_stream(ctx, stream_id)
    require_owner_admin(ctx, stream, "stream.rotate")
    keys = wrapped_keys(parse(wrapped_keys_json, "wrapped keys"), stream["readers"],
                        "wrapped_keys")
    if stream["epoch"] >= 1_000_000:
        raise ChaincodeError(ErrorCode.CONFLICT, "the stream has used every key epoch")
    stream["epoch"] += 1
    _touch(ctx, stream)
    await put(ctx, composite_key("stream", stream_id), stream)
    await store_grants(ctx, stream_id, stream["epoch"], keys)
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
    number = integer_arg(epoch, "epoch", 1, 1_000_000)
    if not number < stream["epoch"]:
        raise ChaincodeError(ErrorCode.CONFLICT,
                             f"only a past epoch (1..{stream['epoch'] - 1}) can be shredded; "
                             f"rotate the key first")
    if number in stream["shredded"]:
        raise ChaincodeError(ErrorCode.CONFLICT,
                             f"epoch {number} of {stream_id!r} is already shredded")
    grants, _ = await ctx.get_state_by_partial_composite_key("grant", (stream_id, str(number)))
    for key, _ in grants:
        await ctx.delete_state(key)
    stream["shredded"] = sorted({*stream["shredded"], number})
    _touch(ctx, stream)
    await put(ctx, composite_key("stream", stream_id), stream)
    await audit(ctx, "EpochShredded", {"stream": stream_id, "epoch": number},
                keys_destroyed=len(grants))
    return stream



