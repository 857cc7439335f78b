"""Lineage receipts of analytics runs, anchored on-chain.

A receipt names its inputs: ``inputs.streams`` (stream ids) and optionally
``inputs.batches`` (``{stream, id}`` pairs), ``inputs.blocks`` (``[first, last]``),
``inputs.merkle_root`` and ``inputs.time_from``/``time_to`` (nanoseconds). The anchor is checked against every one of
them (each stream exists and the caller's organisation reads it; each batch exists in a
named stream) and the audit entry is indexed under every input stream.
"""

from __future__ import annotations

import hashlib

from ledgerlake import records
from ledgerlake.chaincode.contract.common import (
    MAX_LINEAGE_BATCHES,
    MAX_LIST,
    MAX_RECEIPT_BYTES,
    audit,
    deny,
    get,
    hex64,
    ident,
    integer,
    invalid,
    load_stream,
    parse_object,
    put,
    require_role,
    text,
    transaction,
)
from ledgerlake.chaincode.ledger import ChaincodeError, Ledger, composite_key
from ledgerlake.protocol import ErrorCode, Function

RECEIPT_FIELDS = ("inputs", "code_version", "params", "outputs", "metrics")
INPUT_FIELDS = ("streams", "batches", "blocks", "merkle_root", "time_from", "time_to")


def _inputs(inputs: object) -> tuple[list[str], list[tuple[str, str]]]:
    """The input streams and batches a receipt names, each checked for form."""
    if not isinstance(inputs, dict) or set(inputs) - set(INPUT_FIELDS):
        raise invalid(f"receipt.inputs must be an object with some of {', '.join(INPUT_FIELDS)}")
    streams = inputs.get("streams")
    if not isinstance(streams, list) or not 1 <= len(streams) <= MAX_LIST:
        raise invalid(f"receipt.inputs.streams must be a list of 1 to {MAX_LIST} stream ids")
    streams = [ident(s, f"receipt.inputs.streams[{i}]") for i, s in enumerate(streams)]
    if len(set(streams)) != len(streams):
        raise invalid("receipt.inputs.streams names a stream twice")
    batches = inputs.get("batches", [])
    if not isinstance(batches, list) or len(batches) > MAX_LINEAGE_BATCHES:
        raise invalid(f"receipt.inputs.batches must be a list of up to {MAX_LINEAGE_BATCHES} "
                      f"{{stream, id}} objects")
    pairs = []
    for i, b in enumerate(batches):
        if not isinstance(b, dict) or set(b) != {"stream", "id"}:
            raise invalid(f"receipt.inputs.batches[{i}] must be {{stream, id}}")
        stream = ident(b["stream"], f"receipt.inputs.batches[{i}].stream")
        if stream not in streams:
            raise invalid(f"receipt.inputs.batches[{i}] is in stream {stream!r}, which "
                          f"receipt.inputs.streams does not name")
        pairs.append((stream, hex64(b["id"], f"receipt.inputs.batches[{i}].id")))
    if "merkle_root" in inputs:
        hex64(inputs["merkle_root"], "receipt.inputs.merkle_root")
    if "blocks" in inputs:
        blocks = inputs["blocks"]
        if not isinstance(blocks, list) or len(blocks) != 2:
            raise invalid("receipt.inputs.blocks must be [first, last] (block numbers)")
        if integer(blocks[0], "receipt.inputs.blocks[0]") > \
                integer(blocks[1], "receipt.inputs.blocks[1]"):
            raise invalid("receipt.inputs.blocks: the first block is after the last")
    times = [integer(inputs[k], f"receipt.inputs.{k}") for k in ("time_from", "time_to")
             if k in inputs]
    if len(times) == 2 and times[0] > times[1]:
        raise invalid("receipt.inputs.time_from is after receipt.inputs.time_to")
    return streams, pairs


def _no_big_numbers(value: object, what: str) -> None:
    """The receipt is hashed as given, so an integer beyond ±(2^53−1) written as a JSON
    number (which the canonical form keeps only as the nearest double) is refused: the
    integer rule writes it as a decimal string."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, records.BigNumber):
            raise invalid(f"{what} holds the integer {item.exact}, beyond ±(2^53-1): write it "
                          f"as a decimal string (the record format's integer rule)")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


@transaction(Function.ANCHOR_LINEAGE, max_bytes=MAX_RECEIPT_BYTES)
async def anchor_lineage(ctx: Ledger, receipt_json: str) -> dict:
    """Anchor an analytics run's lineage receipt; its id is the hash of its content."""
    require_role(ctx, "lineage.anchor", "analyst")
    receipt = parse_object(receipt_json, "receipt", RECEIPT_FIELDS,
                           ("inputs", "code_version", "outputs"))
    text(receipt["code_version"], "receipt.code_version", 256)
    if not isinstance(receipt["outputs"], dict):
        raise invalid("receipt.outputs must be an object")
    streams, batches = _inputs(receipt["inputs"])
    _no_big_numbers(receipt, "receipt")
    creator = ctx.creator()
    for stream_id in streams:
        stream = await load_stream(ctx, stream_id)
        if creator.msp_id not in stream["readers"]:
            raise deny("lineage.anchor", f"{creator.msp_id} does not read input stream "
                                         f"{stream_id!r}")
    for stream_id, batch_id in batches:
        if not await ctx.get_state(composite_key("batch", stream_id, batch_id)):
            raise ChaincodeError(ErrorCode.NOT_FOUND,
                                 f"input batch {batch_id} is not in stream {stream_id!r}")
    receipt_id = hashlib.sha256(records.canonical(receipt)).hexdigest()
    key = composite_key("lineage", receipt_id)
    if await ctx.get_state(key):
        raise ChaincodeError(ErrorCode.ALREADY_EXISTS,
                             f"lineage receipt {receipt_id} is already anchored")
    entry = {"id": receipt_id, "receipt": receipt, "tx_id": ctx.tx_id,
             "anchored": ctx.timestamp_ns,
             "by": {"msp_id": creator.msp_id, "id": creator.enrollment_id}}
    await put(ctx, key, entry)
    await audit(ctx, "LineageAnchored", {"lineage": receipt_id, "stream": streams[0]},
                streams=streams, inputs={"streams": streams, "batches": len(batches)})
    return entry


@transaction(Function.GET_LINEAGE)
async def get_lineage(ctx: Ledger, receipt_id: str) -> dict:
    """An anchored receipt: auditors read every one; analysts those whose every input
    stream their organisation reads (outputs and metrics are derived from the inputs)."""
    require_role(ctx, "lineage.read", "auditor", "analyst")
    entry = await get(ctx, composite_key("lineage", hex64(receipt_id, "receipt id")))
    if entry is None:
        raise ChaincodeError(ErrorCode.NOT_FOUND, f"no lineage receipt {receipt_id}")
    creator = ctx.creator()
    if creator.role == "analyst":
        for stream_id in entry["receipt"]["inputs"]["streams"]:
            stream = await get(ctx, composite_key("stream", stream_id))
            if stream is None or creator.msp_id not in stream["readers"]:
                raise deny("lineage.read", f"{creator.msp_id} does not read input stream "
                                           f"{stream_id!r} of receipt {receipt_id}")
    return entry
