"""Organisation encryption keys, published by each organisation's admins: an X25519
public key in PEM, which producers wrap stream data keys for."""

from __future__ import annotations

from ledgerlake.chaincode.contract.common import (
    MAX_ORG_KEY_PEM,
    audit,
    get,
    ident,
    invalid,
    put,
    require_role,
    text,
    transaction,
)
from ledgerlake.chaincode.ledger import ChaincodeError, Ledger, composite_key
from ledgerlake.protocol import ROLES, ErrorCode, Function


def _x25519_pem(pem: str) -> str:
    """``pem`` if it is one PEM X25519 public key, else INVALID_INPUT."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    text(pem, "the organisation key", MAX_ORG_KEY_PEM)
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise invalid("the organisation key must be a PEM public key") from None
    if not isinstance(key, X25519PublicKey):
        raise invalid(f"the organisation key must be an X25519 public key, not "
                      f"{type(key).__name__.lstrip('_')}")
    exact = key.public_bytes(serialization.Encoding.PEM,
                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    if pem.strip() != exact.strip():  # a second block or text around it: clients differ
        raise invalid("the organisation key must be exactly one PEM X25519 public key, with "
                      "nothing before or after it")
    return exact


@transaction(Function.REGISTER_ORG_KEY)
async def register_org_key(ctx: Ledger, public_key_pem: str) -> dict:
    """Publish the caller's organisation's encryption public key (its admins only)."""
    require_role(ctx, "org.key", "admin")
    pem = _x25519_pem(public_key_pem)  # stored in one form, whatever line ending it came with
    msp = ctx.creator().msp_id
    entry = {"msp_id": msp, "public_key": pem, "updated": ctx.timestamp_ns}
    await put(ctx, composite_key("orgkey", msp), entry)
    await audit(ctx, "OrgKeyRegistered", {"msp_id": msp})
    return entry


@transaction(Function.GET_ORG_KEY)
async def get_org_key(ctx: Ledger, msp_id: str) -> dict:
    """An organisation's published encryption key (any member)."""
    require_role(ctx, "org.key.read", *ROLES)
    entry = await get(ctx, composite_key("orgkey", ident(msp_id, "msp_id")))
    if entry is None:
        raise ChaincodeError(ErrorCode.NOT_FOUND, f"{msp_id} has not registered an encryption key")
    return entry
