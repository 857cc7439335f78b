"""The contract without a peer: an in-memory ledger with Fabric's transaction semantics.

Endorsing runs a function against committed state only (a read never sees the same
transaction's writes) and records what it read; committing applies transactions in block
order and marks one invalid (MVCC_READ_CONFLICT / PHANTOM_READ_CONFLICT) when what it read
has changed since, exactly as the peer's validator does. Used by the unit tests and handy
for trying the contract in a REPL.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Mapping

from ledgerlake.chaincode.ledger import ChaincodeError, Ledger, check_bookmark
from ledgerlake.protocol import ROLE_ATTRIBUTE, Creator, ErrorCode

_tx_counter = itertools.count(1)


def member(msp_id: str, role: str, name: str | None = None) -> Creator:
    """A creator as the CA would issue it: MSP ID, enrollment id and ``ledgerlake.role``."""
    return Creator(msp_id, b"", {ROLE_ATTRIBUTE: role} if role else {}, name or role)


@dataclass(eq=False)
class MemoryTx(Ledger):
    ledger: "MemoryLedger"
    _creator: Creator
    tx_id: str
    timestamp_ns: int
    transient: dict
    own_msp_id: str
    channel_id: str = "ledgerlake"
    reads: dict = field(default_factory=dict)
    ranges: list = field(default_factory=list)
    writes: dict = field(default_factory=dict)
    event: object = None
    result: bytes = b""
    error: str = ""
    paginated: bool = False

    def creator(self) -> Creator:
        return self._creator

    def local_time_ns(self) -> int:
        return self.ledger.peer_clock_ns or time.time_ns()

    @staticmethod
    def _refuse(what: str) -> ChaincodeError:
        # what the peer answers the runtime with an ERROR message (a contract bug)
        return ChaincodeError(ErrorCode.INTERNAL, f"peer refused {what}")

    def _check_key(self, key: str, op: str) -> None:
        if not isinstance(key, str) or not key:
            raise self._refuse(f"{op}: the key is empty")
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            raise self._refuse(f"{op}: the key is not UTF-8") from None

    def _check_write(self, key: str, op: str) -> None:
        self._check_key(key, op)
        if self.paginated:
            raise self._refuse(f"{op}: transaction has already performed a paginated query. "
                               f"Writes are not allowed")

    async def get_state(self, key: str) -> bytes:
        self._check_key(key, "GET_STATE")
        value, version = self.ledger.state.get(key, (b"", None))
        self.reads.setdefault(key, version)
        return value

    async def put_state(self, key: str, value: bytes) -> None:
        self._check_write(key, "PUT_STATE")
        self.writes[key] = bytes(value) if value else None  # Fabric: empty value = delete

    async def delete_state(self, key: str) -> None:
        self._check_write(key, "DEL_STATE")
        self.writes[key] = None

    async def get_state_by_range(self, start, end, page_size=0, bookmark=""):
        check_bookmark(start, end, bookmark)
        for key in (start, end, bookmark):
            if key:
                self._check_key(key, "GET_STATE_BY_RANGE")
        if page_size:
            if self.writes:
                raise self._refuse("GET_STATE_BY_RANGE: paginated queries are supported only "
                                   "in a read-only transaction")
            self.paginated = True
        keys = self.ledger.sorted_keys
        lo = bisect.bisect_left(keys, bookmark or start)
        hi = bisect.bisect_left(keys, end) if end else len(keys)
        chosen = keys[lo:hi]
        mark = ""
        if page_size and len(chosen) > page_size:
            mark = chosen[page_size]
            chosen = chosen[:page_size]
        result = [(k, self.ledger.state[k][0]) for k in chosen]
        self.ranges.append((bookmark or start, end, [(k, self.ledger.state[k][1]) for k in chosen],
                            mark))
        return result, mark

    async def get_history_for_key(self, key: str, limit: int = 0) -> list[dict]:
        self._check_key(key, "GET_HISTORY_FOR_KEY")
        # Fabric returns a key's history newest first
        history = [dict(h) for h in reversed(self.ledger.history.get(key, []))]
        return history[:limit] if limit else history


class MemoryLedger:
    """World state, history and blocks in memory, driven through the contract's functions."""

    def __init__(self, functions: Mapping, own_msp_id: str = "Org1MSP"):
        self.functions = functions
        self.own_msp_id = own_msp_id
        self.state: dict[str, tuple[bytes, tuple[int, int]]] = {}
        self.history: dict[str, list[dict]] = {}
        self.sorted_keys: list[str] = []
        self.block = 0
        self.events: list[tuple[str, bytes]] = []
        self.clock_ns = time.time_ns()
        self.peer_clock_ns = 0  # 0: the endorsing peer's clock is this machine's
        self._loop = asyncio.new_event_loop()

    def endorse(self, creator: Creator, function: str, *args: str | bytes,
                transient: Mapping[str, bytes] | None = None,
                timestamp_ns: int | None = None, tx_id: str | None = None) -> MemoryTx:
        """Simulate the function; the returned transaction holds its result or error.
        ``tx_id``: the proposal's transaction id (default: a fresh one)."""
        # The client's clock: 1 µs per transaction (predictable, for tests at exact time
        # bounds), but never more than a minute behind this machine's, so a ledger kept
        # for minutes (a module-level test world) stays within the peer's clock-skew bound.
        self.clock_ns = max(self.clock_ns + 1000, time.time_ns() - 60 * 10**9)
        tx_id = tx_id or hashlib.sha256(f"memory-tx-{next(_tx_counter)}".encode()).hexdigest()
        tx = MemoryTx(self, creator, tx_id,  # as Fabric's: 64 hex digits
                      timestamp_ns if timestamp_ns is not None else self.clock_ns,
                      dict(transient or {}), self.own_msp_id)
        handler = self.functions.get(function)
        raw = [a.encode() if isinstance(a, str) else a for a in args]
        try:
            if handler is None:
                raise ChaincodeError(ErrorCode.UNKNOWN_FUNCTION,
                                     f"unknown function {function!r}")
            out = self._loop.run_until_complete(handler(tx, *raw))
            tx.result = out.encode() if isinstance(out, str) else (out or b"")
        except ChaincodeError as exc:
            tx.error = str(exc)
        except Exception as exc:  # as the runtime does: a bug fails only this transaction
            tx.error = (f"{ErrorCode.INTERNAL.value}: internal chaincode error: "
                        f"{type(exc).__name__}: {exc}")
        return tx

    def commit(self, *txs: MemoryTx) -> list[str]:
        """Commit a block of endorsed transactions; return each one's validation code."""
        self.block += 1
        codes = []
        for number, tx in enumerate(txs):
            if tx.error:
                codes.append("ENDORSEMENT_FAILED")
                continue
            stale = any(self.state.get(k, (b"", None))[1] != v for k, v in tx.reads.items())
            if stale:
                codes.append("MVCC_READ_CONFLICT")
                continue
            if any(self._range_changed(r) for r in tx.ranges):
                codes.append("PHANTOM_READ_CONFLICT")
                continue
            for key, value in tx.writes.items():
                self._apply(key, value, (self.block, number), tx)
            if tx.event is not None:
                self.events.append((tx.event.event_name, tx.event.payload))
            codes.append("VALID")
        return codes

    def _range_changed(self, rng) -> bool:
        start, end, seen, mark = rng
        keys = self.sorted_keys
        lo, hi = bisect.bisect_left(keys, start), bisect.bisect_left(keys, end) if end else len(keys)
        now = [(k, self.state[k][1]) for k in keys[lo:hi]]
        return now[:len(seen)] != seen or (not mark and len(now) != len(seen))

    def _apply(self, key, value, version, tx) -> None:
        self.history.setdefault(key, []).append(
            {"tx_id": tx.tx_id, "value": value or b"", "is_delete": value is None,
             "timestamp_ns": tx.timestamp_ns})
        if value is None:
            if key in self.state:
                del self.state[key]
                self.sorted_keys.remove(key)
            return
        if key not in self.state:
            bisect.insort(self.sorted_keys, key)
        self.state[key] = (value, version)

    # -- conveniences ----------------------------------------------------------------------
    def invoke(self, creator: Creator, function: str, *args, **options) -> bytes:
        """Endorse and commit alone in a block; raise ChaincodeError if it fails."""
        tx = self.endorse(creator, function, *args, **options)
        if tx.error:
            raise ChaincodeError.from_text(tx.error)
        code = self.commit(tx)[0]
        if code != "VALID":
            raise ChaincodeError(ErrorCode.CONFLICT, f"transaction {tx.tx_id} invalid: {code}")
        return tx.result

    def query(self, creator: Creator, function: str, *args, **options) -> bytes:
        tx = self.endorse(creator, function, *args, **options)
        if tx.error:
            raise ChaincodeError.from_text(tx.error)
        return tx.result
