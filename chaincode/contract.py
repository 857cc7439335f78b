"""The ledgerlake contract: streams, record batches, key grants, audited access, audit
trail and lineage anchors.

Access is decided from the certificate alone (MSP ID + the ``ledgerlake.role`` attribute
the CA put in it), never from arguments; a denial names the rule that failed. The rules
govern what the chaincode answers and writes: every channel member can still read blocks
(ciphertexts, public fields, wrapped keys) through the peers' Deliver service, which is why
payloads are encrypted and keys wrapped per reader organisation. Every
state-changing function writes one audit entry and emits one chaincode event. Keys are laid
out so that producers on different sources never write the same key.

State (composite keys; ``ts`` is a 20-digit nanosecond timestamp):

    stream      (id)                         the stream: owner, schema, writers, readers, epoch
    grant       (stream, epoch, msp)         the data key of that epoch wrapped for that org
    orgkey      (msp)                        an organisation's encryption public key
    batch       (stream, batch id)           a batch (ciphertext or pointer, commitments)
    head        (stream, source)             the source's last seq and batch id (its chain)
    bysource    (stream, source, seq)        batch id, in sequence order
    bytime      (stream, ts start, batch id) batch id, in time order
    audit       (tx id)                      the audit entry of a transaction
    audit~actor / audit~stream / audit~action (value, ts, tx id), audit~time (ts, tx id)
    lineage     (receipt id)                 an anchored lineage receipt
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any, Awaitable, Callable

from ledgerlake import records
from ledgerlake.chaincode.runtime import (
    ChaincodeError,
    Ledger,
    composite_key,
)

ROLES = ("admin", "producer", "analyst", "auditor")
MAX_PAGE = 1000
AUDIT_INDEXES = ("actor", "stream", "action")

FUNCTIONS: dict[str, Callable[..., Awaitable[Any]]] = {}


def transaction(name: str):
    """Register a contract function: JSON arguments in, JSON result out."""

    def register(fn):
        async def handler(ctx: Ledger, *args: bytes) -> bytes:
            skew = abs(ctx.timestamp_ns - ctx.local_time_ns())
            if skew > records.MAX_FUTURE_SKEW_NS:
                raise ChaincodeError(
                    f"the transaction time is {skew / 1e9:.0f} s away from the endorsing "
                    f"peer's clock (at most {records.MAX_FUTURE_SKEW_NS // 10**9} s); check "
                    f"the client's clock")
            try:
                result = await fn(ctx, *(a.decode() for a in args))
            except UnicodeDecodeError:
                raise ChaincodeError(f"{name}: arguments must be UTF-8 text") from None
            except records.RecordError as exc:
                raise ChaincodeError(f"invalid input: {exc}") from None
            except TypeError as exc:
                if "positional argument" in str(exc):
                    raise ChaincodeError(f"{name}: wrong number of arguments") from None
                raise
            return records.canonical(result)

        handler.__name__ = fn.__name__
        handler.__doc__ = fn.__doc__
        FUNCTIONS[name] = handler
        return fn

    return register


# -- helpers --------------------------------------------------------------------------------
def _ts(ns: int) -> str:
    return f"{ns:020d}"


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ChaincodeError(f"{what} must be JSON") from None


def deny(rule: str, why: str) -> ChaincodeError:
    return ChaincodeError(f"access denied by rule '{rule}': {why}")


def require_role(ctx: Ledger, rule: str, *roles: str) -> None:
    creator = ctx.creator()
    if creator.role not in roles:
        raise deny(rule, f"needs role {' or '.join(roles)}; {creator.msp_id} identity "
                         f"{creator.enrollment_id!r} has role {creator.role or 'none'!r}")


async def _get(ctx: Ledger, key: str) -> Any:
    raw = await ctx.get_state(key)
    return json.loads(raw) if raw else None


async def _put(ctx: Ledger, key: str, value: Any) -> None:
    await ctx.put_state(key, records.canonical(value))


async def load_stream(ctx: Ledger, stream_id: str) -> dict:
    stream = await _get(ctx, composite_key("stream", stream_id))
    if stream is None:
        raise ChaincodeError(f"stream {stream_id!r} does not exist")
    return stream


def require_owner_admin(ctx: Ledger, stream: dict, rule: str) -> None:
    require_role(ctx, rule, "admin")
    if ctx.creator().msp_id != stream["owner"]:
        raise deny(rule, f"only admins of {stream['owner']} manage stream {stream['id']!r}")


def _int(value: Any, what: str, low: int = 0, high: int = records.INT64[1]) -> int:
    """An integer argument within [low, high], or a ChaincodeError naming it."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ChaincodeError(f"{what} must be an integer, not {value!r:.40}") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise ChaincodeError(f"{what} must be from {low} to {high}")
    return number


def _page(page_size: Any) -> int:
    if page_size in (None, ""):
        return 100
    try:
        size = int(page_size)
    except (TypeError, ValueError):
        raise ChaincodeError("page_size must be an integer") from None
    if not 1 <= size <= MAX_PAGE:
        raise ChaincodeError(f"page_size must be from 1 to {MAX_PAGE}")
    return size


async def audit(ctx: Ledger, action: str, target: dict, **extra: Any) -> dict:
    """Write the transaction's audit entry (and its index keys) and emit its event."""
    creator = ctx.creator()
    entry = {"tx_id": ctx.tx_id, "time": ctx.timestamp_ns, "action": action,
             "actor": {"msp_id": creator.msp_id, "id": creator.enrollment_id,
                       "role": creator.role},
             "target": target, "outcome": "ok", **extra}
    ts = _ts(ctx.timestamp_ns)
    await _put(ctx, composite_key("audit", ctx.tx_id), entry)
    index_values = {"actor": f"{creator.msp_id}/{creator.enrollment_id}",
                    "stream": target.get("stream", ""), "action": action}
    for index, value in index_values.items():
        if value:
            await _put(ctx, composite_key(f"audit~{index}", value, ts, ctx.tx_id), entry)
    await _put(ctx, composite_key("audit~time", ts, ctx.tx_id), entry)
    ctx.set_event(action, records.canonical({"type": action, "tx_id": ctx.tx_id, **target}))
    return entry


def _check_wrapped(keys: Any, readers: list[str], what: str) -> dict:
    if not isinstance(keys, dict) or set(keys) != set(readers):
        raise ChaincodeError(f"{what} must hold one wrapped key per reader org "
                             f"{sorted(readers)}, not {sorted(keys) if isinstance(keys, dict) else keys!r}")
    for msp, wrapped in keys.items():
        try:
            if not base64.b64decode(wrapped, validate=True):
                raise ValueError
        except (ValueError, TypeError):
            raise ChaincodeError(f"{what}[{msp!r}] must be a non-empty base64 string") from None
    return keys


def _check_msps(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
        raise ChaincodeError(f"{what} must be a list of MSP IDs")
    return sorted(set(value))


def _writers(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ChaincodeError("writers must be {\"msp_ids\": [...], \"roles\": [...]}")
    roles = value.get("roles", ["producer"])
    if not isinstance(roles, list) or not roles or not set(roles) <= set(ROLES):
        raise ChaincodeError(f"writers.roles must be a list of {', '.join(ROLES)}")
    return {"msp_ids": _check_msps(value.get("msp_ids"), "writers.msp_ids"),
            "roles": sorted(set(roles))}


async def _store_grants(ctx: Ledger, stream_id: str, epoch: int, keys: dict) -> None:
    for msp, wrapped in keys.items():
        await ctx.put_state(composite_key("grant", stream_id, str(epoch), msp), wrapped.encode())


# -- streams --------------------------------------------------------------------------------
@transaction("CreateStream")
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


@transaction("UpdateStream")
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


@transaction("GetStream")
async def get_stream(ctx: Ledger, stream_id: str) -> dict:
    """A stream's definition (any member)."""
    require_role(ctx, "stream.read", *ROLES)
    return await load_stream(ctx, stream_id)


@transaction("ListStreams")
async def list_streams(ctx: Ledger, page_size: str = "", bookmark: str = "") -> dict:
    """Streams in id order, paginated (any member)."""
    require_role(ctx, "stream.read", *ROLES)
    items, mark = await ctx.get_state_by_partial_composite_key("stream", (), _page(page_size),
                                                               bookmark)
    return {"items": [json.loads(v) for _, v in items], "bookmark": mark}


@transaction("GrantReader")
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


@transaction("RevokeReader")
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


@transaction("RotateKey")
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


@transaction("ShredEpoch")
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


@transaction("RegisterOrgKey")
async def register_org_key(ctx: Ledger, public_key_pem: str) -> dict:
    """Publish the caller's organisation's encryption public key (its admins only)."""
    require_role(ctx, "org.key", "admin")
    if "BEGIN PUBLIC KEY" not in public_key_pem:
        raise ChaincodeError("the organisation key must be a PEM public key")
    msp = ctx.creator().msp_id
    entry = {"msp_id": msp, "public_key": public_key_pem, "updated": ctx.timestamp_ns}
    await _put(ctx, composite_key("orgkey", msp), entry)
    await audit(ctx, "OrgKeyRegistered", {"msp_id": msp})
    return entry


@transaction("GetOrgKey")
async def get_org_key(ctx: Ledger, msp_id: str) -> dict:
    require_role(ctx, "org.key.read", *ROLES)
    entry = await _get(ctx, composite_key("orgkey", msp_id))
    if entry is None:
        raise ChaincodeError(f"{msp_id} has not registered an encryption key")
    return entry


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


@transaction("SubmitBatch")
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


@transaction("GetBatch")
async def get_batch(ctx: Ledger, stream_id: str, batch_id: str) -> dict:
    stream = await load_stream(ctx, stream_id)
    await _require_batch_reader(ctx, stream)
    batch = await _get(ctx, composite_key("batch", stream_id, batch_id))
    if batch is None:
        raise ChaincodeError(f"no batch {batch_id} in stream {stream_id!r}")
    return batch


@transaction("ListBatches")
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


@transaction("GetBatchHistory")
async def get_batch_history(ctx: Ledger, stream_id: str, source: str) -> dict:
    """Every change to a source's chain head, newest first: when, in which transaction."""
    stream = await load_stream(ctx, stream_id)
    await _require_batch_reader(ctx, stream)
    history = await ctx.get_history_for_key(composite_key("head", stream_id, source))
    return {"items": [{"tx_id": h["tx_id"], "time": h["timestamp_ns"],
                       "head": json.loads(h["value"]) if h["value"] else None}
                      for h in history]}


# -- audited access -------------------------------------------------------------------------
TICKET_TTL_NS = 15 * 60 * 10**9


@transaction("OpenStream")
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


@transaction("GetStreamKeys")
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
    if ctx.timestamp_ns > records.int64(ticket["expires"], "ticket.expires"):
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


# -- audit trail ----------------------------------------------------------------------------
@transaction("QueryAudit")
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


# -- lineage --------------------------------------------------------------------------------
@transaction("AnchorLineage")
async def anchor_lineage(ctx: Ledger, receipt_json: str) -> dict:
    """Anchor an analytics run's lineage receipt; its id is the hash of its content."""
    require_role(ctx, "lineage.anchor", "analyst")
    receipt = _json(receipt_json, "receipt")
    if not isinstance(receipt, dict):
        raise ChaincodeError("a lineage receipt must be a JSON object")
    for name in ("inputs", "code_version", "outputs"):
        if name not in receipt:
            raise ChaincodeError(f"a lineage receipt needs {name!r}")
    receipt_id = hashlib.sha256(records.canonical(receipt)).hexdigest()
    key = composite_key("lineage", receipt_id)
    if await ctx.get_state(key):
        raise ChaincodeError(f"lineage receipt {receipt_id} is already anchored")
    creator = ctx.creator()
    entry = {"id": receipt_id, "receipt": receipt, "tx_id": ctx.tx_id,
             "anchored": ctx.timestamp_ns,
             "by": {"msp_id": creator.msp_id, "id": creator.enrollment_id}}
    await _put(ctx, key, entry)
    inputs = receipt["inputs"]
    streams = inputs.get("streams", []) if isinstance(inputs, dict) else None
    if not isinstance(streams, list) or not all(isinstance(x, str) for x in streams):
        raise ChaincodeError("receipt.inputs.streams must be a list of stream ids")
    for stream_id in streams:
        stream = await load_stream(ctx, stream_id)
        if creator.msp_id not in stream["readers"]:
            raise deny("lineage.anchor", f"{creator.msp_id} does not read input stream "
                                         f"{stream_id!r}")
    await audit(ctx, "LineageAnchored", {"lineage": receipt_id,
                                         **({"stream": streams[0]} if streams else {})},
                streams=streams)
    return entry


@transaction("GetLineage")
async def get_lineage(ctx: Ledger, receipt_id: str) -> dict:
    require_role(ctx, "lineage.read", "auditor", "analyst")
    entry = await _get(ctx, composite_key("lineage", receipt_id))
    if entry is None:
        raise ChaincodeError(f"no lineage receipt {receipt_id}")
    return entry


__all__ = ["FUNCTIONS"]
