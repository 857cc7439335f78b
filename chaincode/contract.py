"""The minimal ledgerlake contract: write a record under a key, read it back.

A placeholder until the full contract (streams, batches, policies, audit) replaces it.
"""

from __future__ import annotations

from ledgerlake.chaincode.runtime import ChaincodeError, Stub

KEY_PREFIX = "record:"


async def put(stub: Stub, key: bytes, value: bytes) -> str:
    """Store ``value`` under ``key``; emits a ``RecordWritten`` event."""
    if not key:
        raise ChaincodeError("put needs a non-empty key")
    await stub.put_state(KEY_PREFIX + key.decode(), value)
    stub.set_event("RecordWritten", key)
    return stub.tx_id


async def get(stub: Stub, key: bytes) -> bytes:
    """The value stored under ``key``."""
    value = await stub.get_state(KEY_PREFIX + key.decode())
    if not value:
        raise ChaincodeError(f"no record under key {key.decode()!r}")
    return value


FUNCTIONS = {"put": put, "get": get}
