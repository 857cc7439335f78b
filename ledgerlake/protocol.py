"""What the network, the client and the chaincode agree on, defined once.

- the roles and the certificate attribute that carries one (``ledgerlake.role``, put in the
  enrollment certificate by Fabric CA under its attribute extension OID);
- who a transaction's creator is (``Creator``), read from a certificate;
- the contract's function names;
- the stable error codes contract errors carry, so clients match on a code and never on a
  message's wording.

An error message from the contract starts with its code: ``CHAIN_GAP: chain of source …``;
``error_code(text)`` finds it again in whatever the Gateway wrapped around it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum

# -- roles and the certificate attribute ---------------------------------------------------
ROLES = ("admin", "producer", "analyst", "auditor")
ROLE_ATTRIBUTE = "ledgerlake.role"
#: OID of the X.509 extension where Fabric CA puts certificate attributes (raw JSON).
ATTRIBUTES_OID = "1.2.3.4.5.6.7.8.1"


def certificate_attributes(cert_pem: bytes) -> dict[str, str]:
    """The Fabric CA attributes carried in a PEM certificate (empty when it has none).

    Raises ``ValueError`` when ``cert_pem`` is not a PEM certificate or its attribute
    extension is not the JSON Fabric CA writes."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(ATTRIBUTES_OID))
    except x509.ExtensionNotFound:
        return {}
    doc = json.loads(ext.value.value)
    attrs = doc.get("attrs", {}) if isinstance(doc, dict) else None
    if not isinstance(attrs, dict):
        raise ValueError("the certificate's attribute extension is not Fabric CA's JSON")
    return {str(k): str(v) for k, v in attrs.items()}


@dataclass(frozen=True)
class Creator:
    """Who submitted a transaction: MSP ID, certificate, its CA attributes and the
    enrollment id (the certificate's common name)."""

    msp_id: str
    certificate: bytes
    attributes: dict
    enrollment_id: str

    @property
    def role(self) -> str:
        """The ``ledgerlake.role`` attribute, or "" when the certificate has none (or an
        unknown one: a role the contract does not know grants nothing)."""
        role = self.attributes.get(ROLE_ATTRIBUTE, "")
        return role if role in ROLES else ""

    @classmethod
    def from_certificate(cls, msp_id: str, cert_pem: bytes) -> "Creator":
        """The creator of a certificate; one that cannot be parsed has no role and no id."""
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
            cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            enrollment_id = str(cns[0].value) if cns else ""
            attributes = certificate_attributes(cert_pem)
        except ValueError:
            return cls(msp_id, cert_pem, {}, "")
        return cls(msp_id, cert_pem, attributes, enrollment_id)


# -- contract function names ---------------------------------------------------------------
class Function(StrEnum):
    """Every function the ledgerlake contract serves."""

    CREATE_STREAM = "CreateStream"
    UPDATE_STREAM = "UpdateStream"
    GET_STREAM = "GetStream"
    LIST_STREAMS = "ListStreams"
    GRANT_READER = "GrantReader"
    REVOKE_READER = "RevokeReader"
    ROTATE_KEY = "RotateKey"
    SHRED_EPOCH = "ShredEpoch"
    REGISTER_ORG_KEY = "RegisterOrgKey"
    GET_ORG_KEY = "GetOrgKey"
    SUBMIT_BATCH = "SubmitBatch"
    GET_BATCH = "GetBatch"
    LIST_BATCHES = "ListBatches"
    GET_BATCH_HISTORY = "GetBatchHistory"
    OPEN_STREAM = "OpenStream"
    GET_STREAM_KEYS = "GetStreamKeys"
    QUERY_AUDIT = "QueryAudit"
    ANCHOR_LINEAGE = "AnchorLineage"
    GET_LINEAGE = "GetLineage"


# -- error codes ----------------------------------------------------------------------------
class ErrorCode(StrEnum):
    """Stable, machine-readable codes of contract errors (clients match on these)."""

    INVALID_INPUT = "INVALID_INPUT"      # an argument breaks a rule (the message names it)
    ACCESS_DENIED = "ACCESS_DENIED"      # the caller's MSP ID or role is not allowed
    NOT_FOUND = "NOT_FOUND"              # the stream, batch, key, ticket … does not exist
    ALREADY_EXISTS = "ALREADY_EXISTS"    # creating what exists (a replayed batch included)
    CHAIN_GAP = "CHAIN_GAP"              # a batch's seq is ahead of its source's head
    CHAIN_FORK = "CHAIN_FORK"            # a batch's seq/prev_hash conflicts with the head
    CONFLICT = "CONFLICT"                # the state does not allow it (closed stream, epoch)
    CLOCK_SKEW = "CLOCK_SKEW"            # a time is too far from the endorsing peer's clock
    EXPIRED = "EXPIRED"                  # a ticket's lifetime is over
    UNKNOWN_FUNCTION = "UNKNOWN_FUNCTION"
    INTERNAL = "INTERNAL"                # a bug in the contract, never a caller's mistake


# A code opens the contract's message, which the Gateway may put after its own prefix
# ("chaincode response 500, "), so it stands at the start or right after ", ".
_CODE = re.compile(r"(?:^|, )(" + "|".join(c.value for c in ErrorCode) + r"): ")


def error_code(text: str) -> ErrorCode | None:
    """The contract error code in an error text (a Gateway detail, a CLI message), or
    None when the text carries none."""
    match = _CODE.search(text or "")
    return ErrorCode(match.group(1)) if match else None


def contract_message(text: str) -> str | None:
    """The contract's own message ("CODE: text") inside an error text, or None."""
    match = _CODE.search(text or "")
    return text[match.start(1):] if match else None


__all__ = ["ATTRIBUTES_OID", "Creator", "ErrorCode", "Function", "ROLES", "ROLE_ATTRIBUTE",
           "certificate_attributes", "contract_message", "error_code"]
