"""Lineage receipts of analytics runs, anchored on-chain."""

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


# -- lineage --------------------------------------------------------------------------------
@transaction(Function.ANCHOR_LINEAGE)
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


@transaction(Function.GET_LINEAGE)
async def get_lineage(ctx: Ledger, receipt_id: str) -> dict:
    require_role(ctx, "lineage.read", "auditor", "analyst")
    entry = await _get(ctx, composite_key("lineage", receipt_id))
    if entry is None:
        raise ChaincodeError(f"no lineage receipt {receipt_id}")
    return entry
