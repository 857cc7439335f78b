"""Organisation encryption keys, published by each organisation's admins."""

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


@transaction(Function.REGISTER_ORG_KEY)
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


@transaction(Function.GET_ORG_KEY)
async def get_org_key(ctx: Ledger, msp_id: str) -> dict:
    require_role(ctx, "org.key.read", *ROLES)
    entry = await _get(ctx, composite_key("orgkey", msp_id))
    if entry is None:
        raise ChaincodeError(f"{msp_id} has not registered an encryption key")
    return entry
