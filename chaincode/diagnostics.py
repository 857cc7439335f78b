"""Self-test functions of the chaincode: write a value under a key and read it back.

They let the network's own checks (``ledgerlake demo``, the network tests, Fabric's
``peer chaincode invoke``) exercise endorsement, ordering and commit without the data
model. They only touch keys under ``diag:``, are kept apart from the contract, and are
served only by a network started for self-tests (``NetworkSpec(selftest=True)``): they
write without a role check or an audit entry.
"""

from __future__ import annotations

import hashlib
import json

from ledgerlake.chaincode.ledger import ChaincodeError, Ledger as Stub
from ledgerlake.protocol import ErrorCode

KEY_PREFIX = "diag:"


async def put(stub: Stub, key: bytes, value: bytes) -> str:
    """Store ``value`` under ``key``; emits a ``RecordWritten`` event."""
    if not key:
        raise ChaincodeError(ErrorCode.INVALID_INPUT, "put needs a non-empty key")
    await stub.put_state(KEY_PREFIX + key.decode(), value)
    stub.set_event("RecordWritten", key)
    return stub.tx_id


async def get(stub: Stub, key: bytes) -> bytes:
    """The value stored under ``key``."""
    value = await stub.get_state(KEY_PREFIX + key.decode())
    if not value:
        raise ChaincodeError(ErrorCode.NOT_FOUND, f"no record under key {key.decode()!r}")
    return value


async def append(stub: Stub, key: bytes, suffix: bytes) -> bytes:
    """Read the record and write it back with ``suffix`` added (a read-modify-write, so two
    concurrent appends to one key conflict as Fabric's MVCC check says they must)."""
    full = KEY_PREFIX + key.decode()
    value = await stub.get_state(full) + suffix
    await stub.put_state(full, value)
    return value


async def stamp_org(stub: Stub, key: bytes) -> str:
    """Diagnostic: write the endorsing organisation's MSP ID, so endorsements by different
    organisations disagree and the endorsement fails."""
    msp_id = stub.own_msp_id
    await stub.put_state(KEY_PREFIX + key.decode(), msp_id.encode())
    return msp_id


async def state_digest(stub: Stub) -> bytes:
    """How many ``diag:`` keys the peer's committed state holds and a SHA-256 over them
    (key and value, in key order): two peers agree on that state iff the digests match."""
    pairs, _ = await stub.get_state_by_range(KEY_PREFIX, KEY_PREFIX[:-1] + ";")
    digest = hashlib.sha256()
    for key, value in pairs:
        digest.update(len(key).to_bytes(4, "big") + key.encode())
        digest.update(len(value).to_bytes(4, "big") + value)
    return json.dumps({"keys": len(pairs), "sha256": digest.hexdigest()}).encode()


FUNCTIONS = {"put": put, "get": get, "append": append, "stamp_org": stamp_org,
             "state_digest": state_digest}
