"""The ledger API contract code calls, whoever serves it: the peer (``runtime.Stub``) or
the in-memory ledger of the unit tests (``memory.MemoryTx``). Fabric's semantics: a read
never sees the same transaction's writes; range reads see committed state."""

from __future__ import annotations

import time

from fabric_protos.peer import chaincode_event_pb2

from ledgerlake.protocol import Creator, ErrorCode, error_code


class ChaincodeError(Exception):
    """Fails a transaction; the client sees ``"CODE: message"`` and matches on the code
    (``ledgerlake.protocol.error_code``), never on the wording."""

    def __init__(self, code: ErrorCode, message: str):
        self.code = ErrorCode(code)
        self.message = message
        super().__init__(f"{self.code.value}: {message}")

    @classmethod
    def from_text(cls, text: str) -> "ChaincodeError":
        """The error a ``"CODE: message"`` text stands for (INTERNAL when it has no code)."""
        code = error_code(text)
        if code is None:
            return cls(ErrorCode.INTERNAL, text)
        prefix = f"{code.value}: "
        return cls(code, text[text.index(prefix) + len(prefix):])


MAX_UNICODE_RUNE = "\U0010ffff"
_NS = "\x00"


def composite_key(object_type: str, *attributes: str) -> str:
    """Fabric's composite key: U+0000 type U+0000 attr U+0000 … (as the Go shim builds it)."""
    for part in (object_type, *attributes):
        if _NS in part or MAX_UNICODE_RUNE in part:
            raise ChaincodeError(ErrorCode.INVALID_INPUT,
                                 f"composite key part {part[:40]!r} has a reserved character")
    return _NS + object_type + _NS + "".join(a + _NS for a in attributes)


def split_composite_key(key: str) -> tuple[str, list[str]]:
    parts = key.split(_NS)
    return parts[1], parts[2:-1]


def check_bookmark(start: str, end: str, bookmark: str) -> None:
    """A bookmark continues a range query; the peer would start *any* range there, so one
    from outside [start, end) would read keys the query was never meant to reach."""
    if bookmark and not (start <= bookmark and (not end or bookmark < end)):
        raise ChaincodeError(ErrorCode.INVALID_INPUT, "the bookmark does not belong to this query")


class Ledger:
    """What contract code may call; the peer-backed ``Stub`` and the unit tests' in-memory
    ledger both implement it, with Fabric's semantics (a read never sees the same
    transaction's writes; range reads see committed state)."""

    tx_id: str
    channel_id: str
    timestamp_ns: int
    transient: dict
    own_msp_id: str
    event: chaincode_event_pb2.ChaincodeEvent | None = None

    def creator(self) -> Creator:
        raise NotImplementedError

    def local_time_ns(self) -> int:
        """The endorsing peer's clock (to bound the client-chosen transaction time)."""
        return time.time_ns()

    async def get_state(self, key: str) -> bytes:
        raise NotImplementedError

    async def put_state(self, key: str, value: bytes) -> None:
        raise NotImplementedError

    async def delete_state(self, key: str) -> None:
        raise NotImplementedError

    async def get_state_by_range(self, start: str, end: str, page_size: int = 0,
                                 bookmark: str = "") -> tuple[list[tuple[str, bytes]], str]:
        """Committed ``(key, value)`` pairs with start <= key < end, and the bookmark to
        continue from ("" when there is no more). ``page_size`` 0 means all."""
        raise NotImplementedError

    async def get_history_for_key(self, key: str, limit: int = 0) -> list[dict]:
        """The key's committed changes, newest first (at most ``limit``; 0 means all)."""
        raise NotImplementedError

    async def get_state_by_partial_composite_key(self, object_type: str, attributes=(),
                                                 page_size: int = 0, bookmark: str = ""):
        start = composite_key(object_type, *attributes)
        return await self.get_state_by_range(start, start + MAX_UNICODE_RUNE, page_size,
                                             bookmark)

    def set_event(self, name: str, payload: bytes = b"") -> None:
        """The transaction's chaincode event (Fabric keeps one per transaction: the last)."""
        self.event = chaincode_event_pb2.ChaincodeEvent(event_name=name, payload=payload)


__all__ = ["ChaincodeError", "Creator", "Ledger", "MAX_UNICODE_RUNE", "check_bookmark",
           "composite_key", "split_composite_key"]
