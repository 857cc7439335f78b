"""The ledger into a verified Parquet lake, exactly once (``ledgerlake sync``).

Blocks are read from the gateway peer's Deliver service and each is checked
(``client.verify.ChainVerifier``: data hash, link to the block before, last-config index,
orderer signatures under the configuration in force) before anything in it is used. From
a checked block only VALID SubmitBatch transactions of the ledgerlake chaincode are read
(``batches.batch_from_transaction``); each batch is decrypted and its records decided by
the one record rule (``batches.open_batch_verified``), with the stream's data keys opened
once per stream and run through the audited OpenStream (``streams.open_data_keys``).

Schema versions: the contract keeps only a stream's current schema, but every version it
ever had is in the blocks, in the write sets of the CreateStream/UpdateStream transactions
that set it. The sync reads them from the checked blocks (a lake records them in
lake.json), so a batch of an earlier version is opened with its own version's schema.

Exactly once: the rows of a block range are written as hidden temp files, renamed into
place under deterministic names (``lake.part_name(first, last)``), and only then does the
checkpoint advance, by an atomic rewrite of ``lake.json`` (next block, hash of the last
block, every count). A run first deletes any part file at or beyond the checkpoint (a
killed run's leftovers), so a re-run of the same range replaces rather than duplicates.

What is left out, and said so in lake.json (``streams.<id>``): streams this organisation
cannot open (``readable: false``), epochs whose keys were shredded (``shredded_epochs``,
``shredded_records``; rows already in the lake are removed when a later block shreds
their epoch), off-chain payloads at a URI that is not a local file, batches whose records
break the record rule (``rejected``: a producer's bad batch is skipped, not the sync
stopped), epochs this organisation holds no key of.

Decryption and the record rule cost about 1 µs of CPU per record for a canonical
plaintext (decoded straight into Arrow buffers by ``ledgerlake/_plaintext.c`` through
``fastrecords.open_arrow``, hashed by ``ledgerlake/_digests.c``; ~3 µs through msgspec
in ``fastrecords.open_columns`` for what the decoder defers, 11-19 µs in Python;
``open_fast`` decides as ``open_batch_verified`` does, faster for canonical plaintexts);
batches of ``POOL_MIN_RECORDS`` records or more are opened on a pool of threads (one per
core), the same function either way (``open_rows``): the decoding, inflating and hashing
run in C without the GIL, so threads use the cores without a process's start, pickling
or copies (a process pool, tried first, was slower on two cores). A block range's files
are written on a thread too, while the next blocks are read. Keys stay in this process,
never in a file. ``benchmarks/sync_bench.py`` measures it.

Python API: ``sync(network, api, lake_dir, org_keys, ...) -> SyncSummary`` (CLI:
``ledgerlake sync``), ``ledger_records(...)`` for the rows of a block range without a
lake (what ``verify report`` recomputes), ``cleanup`` and ``lake.read_meta`` for readers.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import os
import queue
import shutil
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import unquote, urlparse

from ledgerlake import fastrecords, records
from ledgerlake.analytics import lake
from ledgerlake.errors import ConfigError, DecryptionError, EndorseError, IntegrityError, \
    LedgerlakeError, RecordError
from ledgerlake.protocol import Function

PURPOSE = "ledgerlake sync"
#: Flush a block range to files once this many records are pending ...
FLUSH_RECORDS = 250_000
#: ... or (following the chain) this many seconds after the first pending block.
FLUSH_SECONDS = 2.0
#: Batches at least this large are opened on the pool's threads (smaller ones by the
#: sync's own thread: handing them over costs more than they do).
POOL_MIN_RECORDS = 2_000
#: How many blocks may be in flight (read, checked, their batches being opened).
WINDOW_BLOCKS = 16
_STREAM_KEY = "\x00stream\x00"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# -- the summary and progress -----------------------------------------------------------
@dataclass
class SyncProgress:
    """What ``progress`` is called with, about four times a second."""

    block: int  # the last block read and checked
    tip: int  # the chain's last block as last seen
    blocks: int
    records: int
    seconds: float

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def lag(self) -> int:
        return max(self.tip - self.block, 0)


@dataclass
class SyncSummary:
    """What a sync did. ``streams``: per stream, the records it wrote and what it left out
    in this run; the lake's totals are in ``lake.read_meta``."""

    blocks: int = 0
    records: int = 0
    seconds: float = 0.0
    synced_to: int = -1
    streams: dict[str, dict] = field(default_factory=dict)
    first_block: int = -1
    tip: int = -1
    files: int = 0
    cpu_seconds: float = 0.0
    interrupted: bool = False
    lake: str = ""

    @property
    def up_to_date(self) -> bool:
        return self.blocks == 0

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict:
        return {"lake": self.lake, "blocks": self.blocks, "first_block": self.first_block,
                "synced_to": self.synced_to, "tip": self.tip, "records": self.records,
                "files": self.files, "seconds": round(self.seconds, 3),
                "records_per_second": round(self.records_per_second, 1),
                "cpu_seconds": round(self.cpu_seconds, 3), "interrupted": self.interrupted,
                "streams": self.streams}


Progress = Callable[[SyncProgress], None]


# -- one batch's rows (the pool's work) -------------------------------------------------
@lru_cache(maxsize=64)
def _schema(canonical_schema: bytes) -> records.Schema:
    return records.Schema.from_mapping(records.parse_json(canonical_schema))


@lru_cache(maxsize=64)
def _arrow_fields(canonical_schema: bytes):
    """The record fields' Arrow schema (under the fields' own names) and their column
    names."""
    import pyarrow as pa

    schema = _schema(canonical_schema)
    return (pa.schema([(f.name, lake.arrow_type(f.type)) for f in schema.fields]),
            [lake.column_name(f.name) for f in schema.fields])


def open_rows(canonical_schema: bytes, batch: Mapping[str, Any], data_key: bytes,
              ciphertext: bytes | None = None):
    """A batch's records as Arrow columns (the schema's fields, ``_index``,
    ``_commitment``), once the record rule has decided them (``fastrecords.open_arrow``
    or ``open_columns`` for a canonical plaintext, else ``open_fast``: the rule of
    ``open_batch_verified``); ``("error", kind, message)`` instead when it refuses them.
    Runs on a pool thread or the sync's own thread, the same either way."""
    import pyarrow as pa

    schema = _schema(canonical_schema)
    fields, names = _arrow_fields(canonical_schema)
    try:
        opened = _open_columns(schema, batch, data_key, ciphertext, fields)
        if opened is None:
            rows, leaves = open_fast(schema, batch, data_key, ciphertext)
            table = pa.Table.from_pylist(rows, schema=fields).rename_columns(names)
        else:
            columns, leaves = opened
            if isinstance(columns, dict):
                columns = [pa.array(columns[f.name], type=f.type) for f in fields]
            table = pa.Table.from_arrays(columns, names=names)
    except (RecordError, DecryptionError, IntegrityError) as exc:
        return ("error", type(exc).__name__, str(exc))
    return _with_index(table, leaves)


def _open_columns(schema: records.Schema, batch: Mapping[str, Any], data_key: bytes,
                  ciphertext: bytes | None, fields
                  ) -> tuple[list | dict[str, list], bytes] | None:
    """The records' columns (Arrow arrays of ``fields``' types from
    ``fastrecords.open_arrow``, else lists by field name from ``open_columns``) and their
    commitments; None when neither takes the batch's plaintext (nor decrypts it):
    ``open_fast`` then decides. Raises what ``checked_batch`` raises (the same as
    ``open_fast`` would, first thing)."""
    from ledgerlake.client import encryption
    from ledgerlake.client.batches import checked_batch

    header, body = checked_batch(batch, ciphertext=ciphertext, schema=schema)
    payload = header["payload"]
    where = f"batch {header['id']}"
    try:
        plaintext = records.decode_plaintext(encryption.decrypt(
            data_key, encryption.b64decode(payload["nonce"], where), body,
            encryption.associated_data(header["stream"], header["source"], header["seq"],
                                       header["key_epoch"]), what=where),
            payload["encoding"], where)
    except (RecordError, DecryptionError):
        return None
    arrays = fastrecords.open_arrow(schema, header, plaintext, [f.type for f in fields])
    if arrays is not None:
        return arrays
    opened = fastrecords.open_columns(schema, header, plaintext)
    return None if opened is None else (opened[0], opened[2])


def _with_index(table, leaves: Sequence[bytes] | bytes):
    """``table`` with each record's position in its batch and its commitment (hex), built
    without a Python object per row. ``leaves``: the commitments, or their concatenation
    (what ``fastrecords.open_columns`` gives)."""
    import numpy as np
    import pyarrow as pa

    n = table.num_rows
    digits = (leaves if type(leaves) is bytes else b"".join(leaves)).hex().encode()
    if len(digits) != 64 * n:
        raise ValueError("a commitment is not a SHA-256 digest")
    commitments = pa.StringArray.from_buffers(
        n, pa.py_buffer(np.arange(0, 64 * (n + 1), 64, dtype=np.int32)),
        pa.py_buffer(digits))
    table = table.append_column("_index", pa.array(np.arange(n, dtype=np.int32)))
    return table.append_column("_commitment", commitments)


_STRING, _INT, _TIMESTAMP, _FLOAT, _BOOL = range(5)
_KINDS = {"string": _STRING, "int": _INT, "timestamp": _TIMESTAMP, "float": _FLOAT,
          "bool": _BOOL}


@lru_cache(maxsize=64)
def _codec(schema: records.Schema):
    """What ``_fast_record`` needs of a schema: its names, its fields in order with their
    kind and bounds, and the fields in canonical key order with their written prefix."""
    fields = tuple((f.name, _KINDS[f.type], f.required, f.min, f.max) for f in schema.fields)
    order = tuple((name, json_quote(name) + ":") for name in sorted(schema.names))
    return frozenset(schema.names), fields, order


#: JSON string escaping, the one ``records.canonical`` uses (RFC 8785's)
json_quote = records._quote


def _fast_record(codec, row) -> tuple[dict, bytes] | None:
    """``records.validate_record(schema, row)`` and the canonical bytes of its result, for
    the common case only: plain values of exactly the field's type (integers within
    ±(2^53−1) or, beyond, as the decimal strings the integer rule writes; finite floats),
    inside the field's bounds. None for anything else (wrong
    types, a missing required field, null where it is required, big integers, ...): the
    caller then asks ``validate_record`` and ``records.canonical`` themselves, so this
    never decides differently, it only skips their generic dispatch. Each value is written
    by the same primitives ``records.canonical`` uses (tests/unit/test_sync_fast.py
    compares them)."""
    names, fields, order = codec
    if type(row) is not dict or not row.keys() <= names:
        return None
    safe = records.MAX_SAFE_INTEGER
    normal = {}
    for name, kind, required, low, high in fields:
        if name not in row:
            if required:
                return None
            continue
        value = row[name]
        kind_of = type(value)
        if value is None:
            if required:
                return None
        elif kind == _STRING:
            if kind_of is not str:
                return None
        elif kind == _BOOL:
            if kind_of is not bool:
                return None
        else:
            if kind == _FLOAT:
                if kind_of is int and -safe <= value <= safe:
                    value = float(value)
                elif kind_of is not float or value != value or value in (_INF, -_INF):
                    return None
            elif kind_of is str and records.DECIMAL.fullmatch(value):  # beyond ±(2^53−1)
                value = int(value)
                if -safe <= value <= safe or not records.INT64[0] <= value <= records.INT64[1] \
                        or (kind == _TIMESTAMP and value < 0):
                    return None
            elif kind_of is not int or not (0 if kind == _TIMESTAMP else -safe) <= value <= safe:
                return None
            if (low is not None and value < low) or (high is not None and value > high):
                return None
        normal[name] = value
    parts = []
    for name, prefix in order:
        if name in normal:
            value = normal[name]
            kind_of = type(value)
            if kind_of is str:
                parts.append(prefix + json_quote(value))
            elif value is None:
                parts.append(prefix + "null")
            elif kind_of is bool:
                parts.append(prefix + ("true" if value else "false"))
            elif kind_of is int:
                parts.append(prefix + (str(value) if -safe <= value <= safe
                                       else f'"{value}"'))
            else:
                parts.append(prefix + records._jcs_float(value))
    try:
        return normal, ("{" + ",".join(parts) + "}").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the rule's own functions refuse it
        return None


_INF = float("inf")


def open_fast(schema: records.Schema, batch: Mapping[str, Any], data_key: bytes,
              ciphertext: bytes | None = None) -> tuple[list[dict], list[bytes]]:
    """The records and commitments ``batches.open_batch_verified`` returns, deciding the
    same, faster when the plaintext is what every honest producer seals: the canonical
    form ``records.seal_records`` writes.

    Strict parsing (``records.parse_json``: no duplicate keys, NaN, over-deep nesting or
    non-UTF-8) costs about a fifth of the rule. Canonical text has none of those, and
    parsed leniently it gives the values the strict parse gives. So the plaintext is
    parsed with plain ``json.loads``, each record validated and encoded as the rule does
    (``_fast_record`` for plain rows, else ``records.validate_record`` and
    ``records.canonical`` themselves), and the plaintext rebuilt from
    those encodings as ``seal_records`` builds it: only when the rebuilt bytes equal the
    plaintext, and the salts, public fields and Merkle root check as in
    ``records.verified_records``, is the answer taken. Anything else (a failed check
    included) is decided by ``open_batch_verified`` itself, which raises its own error.
    tests/unit/test_sync_fast.py checks the two decide alike."""
    import hashlib
    import json

    from ledgerlake.client import encryption
    from ledgerlake.client.batches import checked_batch, open_batch_verified

    def reference():
        opened = open_batch_verified(schema, batch, data_key, ciphertext=ciphertext)
        return opened.records, opened.commitments

    header, body = checked_batch(batch, ciphertext=ciphertext, schema=schema)
    payload = header["payload"]
    where = f"batch {header['id']}"
    try:  # as open_batch_verified decrypts and decodes (a failure: its own error, below)
        plaintext = records.decode_plaintext(encryption.decrypt(
            data_key, encryption.b64decode(payload["nonce"], where), body,
            encryption.associated_data(header["stream"], header["source"], header["seq"],
                                       header["key_epoch"]), what=where),
            payload["encoding"], where)
    except (RecordError, DecryptionError):
        return reference()
    fast = fastrecords.open_plaintext(schema, header, plaintext)  # the rule, in C
    if fast is not None:
        return fast[0], fast[2]
    try:
        content = json.loads(plaintext)
    except (ValueError, RecursionError):
        return reference()
    try:
        rows, salts, cursor = records.batch_plaintext(content)
        count = header["record_count"]
        if not isinstance(rows, list) or not isinstance(salts, list) or \
                not len(rows) == len(salts) == count or \
                not all(type(s) is str and records.SALT_HEX.fullmatch(s) for s in salts):
            return reference()
        if cursor is not None:
            records._depth([cursor], records.MAX_JSON_DEPTH)
        columns = records.validate_public_columns(schema, header["public"], count)
        codec = _codec(schema)
        normal, encoded = [], []
        for row in rows:
            done = _fast_record(codec, row)
            if done is None:  # anything unusual: the rule's own functions
                done = records.validate_record(schema, row)
                done = done, records.canonical(done)
            normal.append(done[0])
            encoded.append(done[1])
        head = b'{"records":[' if "cursor" not in content else \
            b'{"cursor":' + records.cursor_bytes(cursor) + b',"records":['
        rebuilt = b"".join((head, b",".join(encoded), b'],"salts":[',
                            b",".join(b'"' + s.encode() + b'"' for s in salts), b"]}"))
    except (RecordError, RecursionError):
        return reference()
    if rebuilt != plaintext:
        return reference()
    for f in schema.public_fields:
        column = columns[f.name]
        if any(row.get(f.name) != value for row, value in zip(normal, column)):
            return reference()
    leaves = [hashlib.sha256(bytes.fromhex(s) + e).digest() for s, e in zip(salts, encoded)]
    if records.merkle_root(leaves).hex() != header["merkle_root"]:
        return reference()
    return normal, leaves


# -- what the sync knows about each stream -----------------------------------------------
@dataclass
class _Stream:
    id: str
    schemas: dict[int, dict] = field(default_factory=dict)  # version -> schema mapping
    owner: str = ""
    readers: tuple[str, ...] = ()
    shredded: set[int] = field(default_factory=set)
    keys: dict[int, bytes] | None = None  # None: not opened yet in this run
    readable: bool | None = None
    refusal: str = ""

    def learn(self, value: Mapping) -> None:
        """A stream definition (a write set's value or GetStream's answer)."""
        schema = value.get("schema")
        if isinstance(schema, Mapping) and "version" in schema:
            try:
                checked = records.Schema.from_mapping(schema)
            except RecordError:
                return
            self.schemas[checked.version] = checked.to_mapping()
        self.owner = str(value.get("owner", self.owner))
        self.readers = tuple(value.get("readers", self.readers))
        self.shredded |= {int(e) for e in value.get("shredded", ()) if str(e).isdigit()}

    @property
    def latest(self) -> dict | None:
        return self.schemas[max(self.schemas)] if self.schemas else None


@dataclass
class _Note:
    """Something a block holds that is left out of the lake, counted when its block range
    is committed."""

    stream: str
    kind: str  # unreadable | no_key | shredded | offchain | rejected | schema_unknown
    records: int
    detail: str = ""
    batch: str = ""
    block: int = -1


@dataclass
class BlockRows:
    """A checked block's rows: ``tables`` as (stream, Arrow table) in ledger order."""

    number: int
    hash: str
    tables: list[tuple[str, Any]]
    notes: list[_Note]
    transactions: int


class _Pending:
    """A block whose batches are being opened."""

    def __init__(self, number: int, hash_: str, transactions: int):
        self.number, self.hash, self.transactions = number, hash_, transactions
        self.parts: list[tuple[str, dict, Any]] = []  # (stream, provenance, future|table)
        self.notes: list[_Note] = []


# -- blocks from Deliver, on a thread -----------------------------------------------------
_END = object()


class _BlockFeed:
    """The Deliver stream read on a thread into a bounded queue, so the main loop can wait
    with a timeout (a time-based flush while following) and stop it at any time."""

    def __init__(self, network, start: int, end: int | None, size: int = 16):
        self.queue: queue.Queue = queue.Queue(maxsize=size)
        self.stop = threading.Event()
        self.events = network.block_events(start_block=start)
        self.end = end
        self.thread = threading.Thread(target=self._run, name="ledgerlake-sync-deliver",
                                       daemon=True)
        self.thread.start()

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for block in self.events:
                if not self._put(block) or (self.end is not None and block.number >= self.end):
                    break
            self._put(_END)
        except BaseException as exc:  # handed to the main loop, raised there
            if not self.stop.is_set():
                self._put(exc)

    def get(self, timeout: float | None):
        """The next block, None after ``timeout`` seconds without one, or _END."""
        try:
            item = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self.stop.set()
        self.events.close()
        self.thread.join(timeout=5)


# -- reading checked blocks into rows ----------------------------------------------------
class _Reader:
    """Checks blocks and turns their batches into rows; holds the streams' keys for one
    run (never written anywhere)."""

    def __init__(self, network, api, org_keys: Sequence, *, streams: Sequence[str] | None,
                 known: Mapping[str, Mapping] | None = None, workers: int | None = None,
                 purpose: str = PURPOSE):
        if not org_keys:
            raise ConfigError("the sync needs the organisation's X25519 private key(s) to open "
                              "streams (client.streams.org_private_keys)")
        self.network, self.api, self.org_keys = network, api, list(org_keys)
        self.chaincode = api.contract.name
        self.only = set(streams) if streams else None
        self.purpose = purpose
        self.streams: dict[str, _Stream] = {}
        self.msp_id = network.gateway.identity.msp_id
        for sid, meta in (known or {}).items():
            state = self._stream(sid)
            for version, mapping in (meta.get("schemas") or {}).items():
                state.schemas[int(version)] = mapping
            if isinstance(meta.get("schema"), Mapping):
                state.learn({"schema": meta["schema"]})
            state.owner = meta.get("owner", "")
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._pool: ThreadPoolExecutor | None = None
        self._warmed = False  # _warm_up started
        #: whether every stream definition before the first block read is known (a sync
        #: from genesis, or a lake that was); otherwise a batch of an unknown schema
        #: version makes ``prescan_schemas`` read them
        self.history_known = False

    def _stream(self, sid: str) -> _Stream:
        state = self.streams.get(sid)
        if state is None:
            state = self.streams[sid] = _Stream(sid)
        return state

    def _submit(self, *args) -> Future:
        """``open_rows(*args)`` on one of the pool's threads (started on first use)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers,
                                            thread_name_prefix="ledgerlake-sync-open")
        return self._pool.submit(open_rows, *args)

    def close(self) -> None:
        """Stop the pool: batches not started are dropped, those being opened finish (at
        most one per thread)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # -- streams ---------------------------------------------------------------------------
    def _open(self, state: _Stream) -> None:
        """Keys and definition, once per stream per run (an audited OpenStream)."""
        from ledgerlake.client.streams import open_data_keys

        if state.keys is not None:
            return
        state.keys = {}
        try:
            definition = self.api.get_stream(state.id)
            state.learn(definition.raw)
        except EndorseError as exc:
            state.readable, state.refusal = False, _one_line(exc)
            return
        if self.msp_id not in state.readers:
            state.readable = False
            state.refusal = f"{self.msp_id} is not a reader of stream {state.id}"
            return
        try:
            state.keys = open_data_keys(self.api, state.id, self.purpose, self.org_keys)
            state.readable = True
        except EndorseError as exc:
            state.readable, state.refusal = False, _one_line(exc)
        except DecryptionError as exc:
            state.readable = False
            state.refusal = f"no private key of {self.msp_id} opens its data keys ({exc})"

    def _learn_writes(self, tx, schemas_only: bool = False) -> None:
        """Stream definitions a VALID transaction of the chaincode wrote (its write set):
        every schema version, the owner, the shredded epochs."""
        for rwset in tx.rwsets:
            if rwset.namespace != self.chaincode:
                continue
            for write in rwset.writes:
                if write.is_delete or not write.key.startswith(_STREAM_KEY):
                    continue
                sid = write.key[len(_STREAM_KEY):].rstrip("\x00")
                if "\x00" in sid:
                    continue
                try:
                    value = records.parse_json(write.value, f"stream {sid}")
                except RecordError:
                    continue
                if isinstance(value, dict):
                    self._stream(sid).learn({"schema": value.get("schema")} if schemas_only
                                            else value)

    def prescan_schemas(self, before: int) -> None:
        """Schema versions set before block ``before`` (when reading starts later than
        genesis and a batch names a version not known): the checked chain from genesis,
        write sets only."""
        from ledgerlake.client.verify import ChainVerifier

        if before <= 0:
            return
        verifier = ChainVerifier()
        with self.network.block_events(start_block=0) as blocks:
            for block in blocks:
                if block.number >= before:
                    break
                verifier.add(block)
                for tx in block.transactions:
                    if tx.valid and tx.chaincode == self.chaincode:
                        self._learn_writes(tx, schemas_only=True)
                if block.number == before - 1:
                    break
        self.history_known = True

    # -- one block -------------------------------------------------------------------------
    def submit(self, block) -> _Pending:
        """Start opening a checked block's batches; returns what ``resolve`` finishes."""
        pending = _Pending(block.number, block.hash.hex(), len(block.transactions))
        for tx in block.transactions:
            if not tx.valid or tx.chaincode != self.chaincode or tx.decode_error:
                continue
            self._learn_writes(tx)
            if tx.function != Function.SUBMIT_BATCH.value:
                continue
            self._batch(block, tx, pending)
        return pending

    def _batch(self, block, tx, pending: _Pending) -> None:
        from ledgerlake.client.batches import batch_from_transaction

        try:
            batch = batch_from_transaction(tx)
        except RecordError as exc:
            raise IntegrityError(f"block {block.number}: VALID transaction {tx.tx_id} does not "
                                 f"hold a batch ({exc})", block_number=block.number,
                                 check="transaction") from None
        sid = batch.get("stream")
        if not isinstance(sid, str) or (self.only is not None and sid not in self.only):
            return
        state = self._stream(sid)
        count = _count(batch.get("record_count"))
        note = lambda kind, detail="": pending.notes.append(  # noqa: E731
            _Note(sid, kind, count, detail, str(batch.get("id", "")), block.number))
        if not self._warmed:  # this thread waits on the network meanwhile (OpenStream)
            self._warmed = True
            threading.Thread(target=_warm_up, daemon=True,
                             name="ledgerlake-sync-imports").start()
        self._open(state)
        if not state.readable:
            note("unreadable", state.refusal)
            return
        epoch = _count(batch.get("key_epoch"))
        if epoch in state.shredded:
            note("shredded", f"epoch {epoch}")
            return
        key = state.keys.get(epoch) if state.keys else None
        if key is None:
            note("no_key", f"no data key of epoch {epoch} for {self.msp_id}")
            return
        version = _count(batch.get("schema_version"))
        if version not in state.schemas and not self.history_known:
            self.prescan_schemas(block.number)
        mapping = state.schemas.get(version)
        if mapping is None:
            note("schema_unknown", f"schema version {version} is not in the chain read")
            return
        ciphertext = None
        payload = batch.get("payload")
        if "ciphertext" not in batch and isinstance(payload, dict) and "uri" in payload:
            ciphertext, problem = _offchain(payload["uri"])
            if ciphertext is None:
                note("offchain", problem)
                return
        provenance = {"_block": block.number, "_tx": tx.index, "_tx_id": tx.tx_id,
                      "_tx_time": _nanos(tx.timestamp), "_batch_id": str(batch.get("id")),
                      "_producer_msp": tx.creator.msp_id,
                      "_producer_id": tx.creator.enrollment_id, "_source": batch.get("source"),
                      "_seq": _count(batch.get("seq")), "_epoch": epoch}
        canonical_schema = records.canonical(mapping)
        if count >= POOL_MIN_RECORDS and self.workers > 0:
            work = self._submit(canonical_schema, batch, key, ciphertext)
        else:
            work = open_rows(canonical_schema, batch, key, ciphertext)
        pending.parts.append((sid, {**provenance, "_version": version,
                                    "_count": count}, work))

    def resolve(self, pending: _Pending) -> BlockRows:
        """The block's rows once every batch of it is opened (waits for the pool)."""
        tables = []
        for sid, provenance, work in pending.parts:
            result = work.result() if isinstance(work, Future) else work
            if isinstance(result, tuple):
                _, kind, message = result
                pending.notes.append(_Note(sid, "rejected", provenance["_count"],
                                           f"{kind}: {message}", provenance["_batch_id"],
                                           pending.number))
                continue
            result = _with_provenance(result, provenance,
                                      self.streams[sid].schemas[provenance["_version"]])
            tables.append((sid, result))
        return BlockRows(pending.number, pending.hash, tables, pending.notes,
                         pending.transactions)


def _warm_up() -> None:
    """What the sync will import once it has a batch to open (pyarrow, and for the first
    flush its compute and Parquet modules: ~0.2 s), imported on a thread while the stream
    is opened (the sync waits on the network); pyarrow told not to import pandas
    (``_pyarrow_skips_pandas``)."""
    with contextlib.suppress(ImportError):  # then raised where the module is used
        _pyarrow_skips_pandas()
        import pyarrow.compute  # noqa: F401
        import pyarrow.parquet  # noqa: F401


class _NoPandasOnThisThread:
    """A meta path finder refusing ``pandas`` to one thread (others import it as ever)."""

    def __init__(self):
        self.thread = threading.get_ident()

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" and threading.get_ident() == self.thread:
            raise ImportError("pandas is not imported here")
        return None


def _pyarrow_skips_pandas() -> None:
    """pyarrow imports pandas (0.2-0.3 CPU s) the first time it converts Python values,
    only to ask whether they are pandas objects; the sync makes none. That first question is asked here with the import refused, so pyarrow
    takes pandas to be absent; where pandas is really needed later (``to_pandas``), it
    imports it then. Nothing when pandas is imported already."""
    import sys

    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    finder = _NoPandasOnThisThread()
    sys.meta_path.insert(0, finder)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(finder)


def keep_freed_memory() -> None:
    """For a process that is a sync (``ledgerlake sync`` calls it; the Python API leaves
    the caller's allocator alone): glibc's malloc hands the few-MiB blocks of each batch
    back to the kernel when they are freed and faults them in, zeroed, for the next one
    (~100,000 page faults per 1M records, a sixth of the sync's CPU); with fixed
    thresholds it keeps them, so the process's peak stays reserved until it ends. A no-op
    off glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 256 << 20)
    mallopt(m_trim_threshold, 1 << 30)


def _one_line(exc: LedgerlakeError) -> str:
    """A refusal as the contract's own words (its message), on one line."""
    from ledgerlake.protocol import contract_message

    for detail in getattr(exc, "details", ()):
        message = contract_message(detail.message)
        if message is not None:
            return message.splitlines()[0]
    return (str(exc) or type(exc).__name__).splitlines()[0]


def _count(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _nanos(when: datetime) -> int:
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _offchain(uri: str) -> tuple[bytes | None, str]:
    """An off-chain ciphertext from a ``file:`` URI (its digest is checked when the batch is
    opened), or None and why it is skipped."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None, (f"off-chain payload at a {parsed.scheme or 'relative'} URI is not "
                      f"fetched (only file: URIs are read)")
    path = Path(unquote(parsed.path))
    try:
        return path.read_bytes(), ""
    except OSError as exc:
        return None, f"off-chain payload {path} cannot be read ({exc.strerror})"


@lru_cache(maxsize=64)
def _lake_schema(canonical_schema: bytes):
    """``lake.arrow_schema`` of a stream schema given as its canonical bytes (one per
    stream: building it cost more than the batch's provenance columns)."""
    return lake.arrow_schema(_schema(canonical_schema))


def _with_provenance(table, provenance: Mapping[str, Any],
                     schema_mapping: Mapping | records.Schema | bytes):
    """A batch's record columns with its provenance columns, in ``lake.arrow_schema``
    order. A provenance value is one per batch: repeated in Arrow (``pa.repeat``), not
    from a Python list of a value per row (0.9 of the sync process's 1.8 CPU µs per
    record)."""
    import pyarrow as pa

    if isinstance(schema_mapping, bytes):  # canonical: the cached one
        target = _lake_schema(schema_mapping)
    elif isinstance(schema_mapping, records.Schema):
        target = lake.arrow_schema(schema_mapping)
    else:
        target = _lake_schema(records.canonical(schema_mapping))
    n = table.num_rows
    columns = []
    for f in target:
        if f.name in provenance:
            # by the system allocator, whose malloc reuses a batch's few MiB for the next;
            # Arrow's default pool (mimalloc) gives them back to the kernel within
            # milliseconds and has them faulted in, zeroed, again (0.1-0.3 s of a 1M sync)
            columns.append(pa.repeat(pa.scalar(provenance[f.name], type=f.type), n,
                                     memory_pool=pa.system_memory_pool()))
        else:
            columns.append(table.column(f.name))
    return pa.Table.from_arrays(columns, schema=target)


# -- checked blocks in order ---------------------------------------------------------------
def _start_verifier(network, start: int, previous_hash: str | None = None):
    """A ChainVerifier ready for block ``start``: from genesis, or with the configuration
    in force at ``start`` and block ``start - 1`` (whose hash must be ``previous_hash``,
    when the lake recorded one)."""
    from ledgerlake.client.qscc import block_by_number
    from ledgerlake.client.verify import ChainVerifier, config_in_force

    if start == 0:
        return ChainVerifier()
    config, _ = config_in_force(network, start)
    previous = block_by_number(network, start - 1)
    if previous.number != start - 1:
        raise IntegrityError(f"asked for block {start - 1}, the peer answered block "
                             f"{previous.number}", block_number=start - 1, check="number")
    if previous_hash is not None and previous.hash.hex() != previous_hash:
        raise IntegrityError(f"block {start - 1}: its hash {previous.hash.hex()} is not the "
                             f"{previous_hash} the lake was synced to (another or rewritten "
                             f"chain)", block_number=start - 1, check="previous_hash")
    return ChainVerifier(config, previous)


def _rows(reader: _Reader, network, start: int, end: int | None, *,
          previous_hash: str | None = None, idle: float | None = None,
          on_block: Callable[[int], None] | None = None) -> Iterator[BlockRows | None]:
    """Checked blocks ``start..end`` (``end`` None: follow the chain) as ``BlockRows`` in
    order; ``None`` when no block came for ``idle`` seconds. A block failing a check raises
    IntegrityError naming it, after every block before it was yielded."""
    verifier = _start_verifier(network, start, previous_hash)
    feed = _BlockFeed(network, start, end)
    window: deque[_Pending] = deque()
    try:
        while True:
            block = feed.get(idle if not window else 0.0)
            if block is None:
                if window:  # nothing new at once: finish what is in flight
                    yield reader.resolve(window.popleft())
                    continue
                yield None
                continue
            if block is _END:
                break
            try:
                verifier.add(block)
            except (IntegrityError, ConfigError):
                while window:
                    yield reader.resolve(window.popleft())
                raise
            if on_block is not None:
                on_block(block.number)
            window.append(reader.submit(block))
            while len(window) > WINDOW_BLOCKS or (window and _done(window[0])):
                yield reader.resolve(window.popleft())
            if end is not None and block.number >= end:
                break
        while window:
            yield reader.resolve(window.popleft())
    finally:
        feed.close()


def _done(pending: _Pending) -> bool:
    return all(not isinstance(w, Future) or w.done() for _, _, w in pending.parts)


def ledger_records(network, api, org_keys, *, start: int, end: int,
                   streams: Sequence[str] | None = None,
                   purpose: str = PURPOSE) -> Iterator[tuple[str, Any]]:
    """The verified, decrypted records of blocks ``start..end`` as lake rows: ``(stream,
    pyarrow.Table)`` per batch in ledger order, the lake's columns (no partition columns).
    The chain is checked from ``start`` (the configuration in force there looked up).
    Raises IntegrityError naming the block when one fails a check. Batches left out (an
    unreadable stream, a shredded epoch, ...) yield nothing. Each stream is opened once
    (an audited OpenStream, with ``purpose``)."""
    from ledgerlake.client.qscc import chain_info

    tip = chain_info(network).height - 1
    if not 0 <= start <= end <= tip:
        raise ConfigError(f"blocks {start} to {end} are not on the chain (0 to {tip})")
    reader = _Reader(network, api, org_keys, streams=streams, purpose=purpose)
    reader.history_known = start == 0
    try:
        for rows in _rows(reader, network, start, end):
            if rows is not None:
                yield from rows.tables
    finally:
        reader.close()


# -- writing the lake ----------------------------------------------------------------------
@dataclass
class _Range:
    """A block range taken for writing: its rows, notes, and the streams as they stood
    at its last block (copies: the reader goes on learning from later blocks)."""
    first: int
    last: int
    last_hash: str
    genesis_hash: str | None
    tables: dict[str, list]
    notes: list[_Note]
    streams: dict[str, _Stream]
    only: set[str] | None
    msp_id: str


class _Writer:
    """Pending rows of a block range and the lake's metadata; ``flush`` commits them, on a
    thread (``wait=False``) while the sync reads on: Parquet encoding releases the GIL,
    and the pool's threads are kept fed meanwhile. One range is written at a time, in
    order; ``meta`` and ``files`` are read once ``wait`` has returned."""

    def __init__(self, lake_dir: Path, meta: dict):
        self.dir, self.meta = lake_dir, meta
        self.tables: dict[str, list] = {}
        self.notes: list[_Note] = []
        self.first: int | None = None
        self.last, self.last_hash = -1, ""
        self.genesis_hash: str | None = None
        self.records = 0
        self.since = 0.0
        self.files = 0
        self.synced_to = int(meta.get("synced_to", -1))  # the last checkpoint written
        self.unreported: dict[str, int] = {}
        self._writing: threading.Thread | None = None
        self._written: dict[str, int] = {}  # rows per stream of the range written last
        self._failed: BaseException | None = None
        self._retry: _Range | None = None  # the range whose writing failed

    def add(self, rows: BlockRows) -> None:
        if self.first is None:
            self.first, self.since = rows.number, time.monotonic()
        if rows.number == 0:
            self.genesis_hash = rows.hash
        self.last, self.last_hash = rows.number, rows.hash
        for sid, table in rows.tables:
            self.tables.setdefault(sid, []).append(table)
            self.records += table.num_rows
        self.notes.extend(rows.notes)

    @property
    def pending(self) -> bool:
        return self.first is not None or self._retry is not None

    def flush(self, reader: _Reader, wait: bool = True) -> dict[str, int]:
        """Write the pending block range's files, then the checkpoint (``wait=False``: on
        a thread; the one before is waited for first); returns the rows written per
        stream by the ranges whose writing has ended. A range whose writing failed (its
        error raised by the flush after) is written again first, alone, under its own
        file names, so what it left is replaced."""
        self.wait()
        with _signals_deferred():  # a range is taken and written, or kept: never dropped
            if self._retry is not None:
                job, self._retry = self._retry, None
                with lake.locked(self.dir, shared=False):  # what its failed try left
                    cleanup(self.dir, int(self.meta.get("next_block", 0)))
                self._write(job)
                self._raise_failure()
            if self.first is not None:
                job = self._take(reader)
                if wait:
                    self._write(job)
                else:
                    self._writing = threading.Thread(target=self._write, args=(job,),
                                                     daemon=True,
                                                     name="ledgerlake-sync-flush")
                    self._writing.start()
        if wait:
            self.wait()
        # a signal raised as the flush ends leaves its counts here for the next call
        written, self.unreported = self.unreported, {}
        return written

    def wait(self) -> None:
        """Until the range being written on a thread is in place; raises what stopped it
        (the range is kept, for the next flush to write again)."""
        if self._writing is not None:
            self._writing.join()
            self._writing = None
        self._raise_failure()

    def _raise_failure(self) -> None:
        written, self._written = self._written, {}  # the counts of the range written last
        for sid, n in written.items():
            self.unreported[sid] = self.unreported.get(sid, 0) + n
        failed, self._failed = self._failed, None
        if failed is not None:
            raise failed

    def _take(self, reader: _Reader) -> _Range:
        streams = {sid: dataclasses.replace(state, schemas=dict(state.schemas),
                                            shredded=set(state.shredded))
                   for sid, state in reader.streams.items()}
        job = _Range(self.first, self.last, self.last_hash, self.genesis_hash, self.tables,
                     self.notes, streams, reader.only, reader.msp_id)
        self.tables, self.notes, self.first, self.records = {}, [], None, 0
        self.genesis_hash = None
        return job

    def _write(self, job: _Range) -> None:
        """``_flush`` under the lake's lock; its counts or its failure (and the range, to
        write again) are left for the sync's thread (``_raise_failure``)."""
        try:
            with lake.locked(self.dir, shared=False):
                self._written = self._flush(job)
        except BaseException as exc:  # noqa: BLE001 - raised again by ``wait``
            self._failed, self._retry = exc, job

    def _flush(self, job: _Range) -> dict[str, int]:
        import pyarrow as pa
        import pyarrow.compute as pc

        first, last = job.first, job.last
        written: dict[str, int] = {}
        # built on a copy, applied once the checkpoint is written: a flush cut short and
        # repeated rewrites the same files and counts their rows once
        meta = copy.deepcopy(self.meta)
        if job.genesis_hash is not None:
            meta["genesis_hash"] = job.genesis_hash
        files = 0
        streams_meta = meta.setdefault("streams", {})
        for sid, state in job.streams.items():
            if (state.latest is None and sid not in job.tables) or \
                    (job.only is not None and sid not in job.only):
                continue
            entry = streams_meta.setdefault(sid, _new_entry())
            shredded = state.shredded
            if shredded - set(entry.get("shredded_epochs", [])):
                entry["records"], purged = _purge(self.dir, sid, shredded, entry["records"])
                entry["shredded_records"] += purged
            entry["shredded_epochs"] = sorted(shredded | set(entry.get("shredded_epochs", [])))
            if state.latest is not None:
                entry["schema"] = state.latest
                entry["schemas"] = {str(v): m for v, m in sorted(state.schemas.items())}
            entry["owner"] = state.owner or entry.get("owner", "")
            if state.readable is not None:
                entry["readable"] = state.readable
                entry["refusal"] = state.refusal
            elif state.readers:
                entry["readable"] = job.msp_id in state.readers
            tables = job.tables.get(sid)
            if not tables:
                continue
            table = pa.concat_tables(tables, promote_options="permissive")
            if shredded:
                keep = pc.invert(pc.is_in(table.column("_epoch"),
                                          value_set=pa.array(sorted(shredded), pa.int32())))
                dropped = table.num_rows - pc.sum(keep.cast(pa.int64())).as_py()
                if dropped:
                    table = table.filter(keep)
                    entry["shredded_records"] += dropped
            if table.num_rows == 0:
                continue
            files += _write_partitions(self.dir, sid, table, first, last, state)
            entry["records"] += table.num_rows
            written[sid] = table.num_rows
            entry.setdefault("first_block", first)
            entry["last_block"] = last
        for note in job.notes:
            entry = streams_meta.setdefault(note.stream, _new_entry())
            if note.kind == "shredded":
                entry["shredded_records"] += note.records
                continue
            skipped = entry.setdefault("skipped", {})
            slot = skipped.setdefault(note.kind, {"batches": 0, "records": 0, "why": ""})
            slot["batches"] += 1
            slot["records"] += note.records
            slot["why"] = note.detail
            if note.kind == "rejected":
                entry.setdefault("rejected_batches", []).append(
                    {"batch": note.batch, "block": note.block, "why": note.detail})
                del entry["rejected_batches"][:-100]  # the latest hundred, named
        meta.update(synced_to=last, tip_hash=job.last_hash, next_block=last + 1)
        lake.write_meta(self.dir, meta)  # the checkpoint
        self.meta.clear()
        self.meta.update(meta)
        self.files += files
        self.synced_to = last
        return written


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT and SIGTERM while a flush writes (they are noted, then raised again
    after it), so a flush is not cut short and run twice. Main thread only, where Python
    runs signal handlers."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    kinds = (signal.SIGINT, signal.SIGTERM)
    previous = {kind: signal.signal(kind, lambda number, frame: caught.append(number))
                for kind in kinds}
    try:
        yield
    finally:
        for kind, handler in previous.items():
            signal.signal(kind, handler)
        for number in dict.fromkeys(caught):
            signal.raise_signal(number)


def _new_entry() -> dict:
    return {"schema": None, "schemas": {}, "owner": "", "readable": False, "records": 0,
            "shredded_epochs": [], "shredded_records": 0, "skipped": {}}


def _date_keys(table, state: _Stream):
    """Each row's UTC day number: its time field's (the first timestamp field of the latest
    schema that has one in the table), else its transaction's time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    times = table.column("_tx_time")
    for version in sorted(state.schemas, reverse=True):
        name = lake.time_field(records.Schema.from_mapping(state.schemas[version]))
        if name is not None and lake.column_name(name) in table.column_names:
            column = table.column(lake.column_name(name))
            if column.type == times.type:
                times = pc.coalesce(column, times)
            break
    nanos = pc.cast(times, pa.int64())
    return pc.divide(nanos, pa.scalar(86_400_000_000_000, pa.int64()))


def _write_partitions(lake_dir: Path, sid: str, table, first: int, last: int,
                      state: _Stream) -> int:
    """One file per date of ``table``'s rows (in ledger order within it), each written as a
    hidden temp file and renamed into place."""
    import numpy as np
    import pyarrow as pa

    days = np.asarray(_date_keys(table, state))
    if len(days) > 1 and (np.diff(days) < 0).any():  # else sorted already: no copy
        order = np.argsort(days, kind="stable")  # ledger order within a day
        days, table = days[order], table.take(pa.array(order))
    ends = [*(np.flatnonzero(np.diff(days)) + 1).tolist(), len(days)]
    name = lake.part_name(first, last)
    begin, folders = 0, set()
    for end in ends:
        day = int(days[begin])
        folder = lake.partition_dir(lake_dir, sid, lake.utc_date(day * 86_400_000_000_000))
        lake.write_parquet(folder / name, table.slice(begin, end - begin))
        folders.add(folder)
        begin = end
    return len(folders)


def _purge(lake_dir: Path, sid: str, shredded: set[int], recorded: int) -> tuple[int, int]:
    """Remove the rows of ``shredded`` epochs from the stream's committed files (each
    rewritten atomically); returns the stream's rows left and how many went, counted from
    the files (right again when a run killed midway is repeated)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    left = 0
    for path in lake.part_files(lake_dir, sid):
        table = pq.read_table(path, partitioning=None)
        keep = pc.invert(pc.is_in(table.column("_epoch"),
                                  value_set=pa.array(sorted(shredded), pa.int32())))
        kept = table.filter(keep)
        if kept.num_rows != table.num_rows:
            if kept.num_rows == 0:
                path.unlink()
                lake.fsync_dir(path.parent)
            else:
                lake.write_parquet(path, kept)
        left += kept.num_rows
    return left, max(recorded - left, 0)


def cleanup(lake_dir: str | Path, next_block: int) -> list[Path]:
    """Delete what a killed run left: part files of blocks at or beyond the checkpoint
    (``next_block``), temp files, and folders left empty. Returns the files deleted."""
    root = lake.records_dir(lake_dir)
    removed = []
    if not root.is_dir():
        return removed
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        span = lake.part_range(path.name)
        stale = (span is not None and span[1] >= next_block) or \
            (path.name.startswith(lake.TEMP_PREFIX) and path.name.endswith(".tmp"))
        if stale:
            path.unlink()
            removed.append(path)
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass
    return removed


class _Lock:
    """One sync per lake at a time (an advisory lock, released when the process ends)."""

    def __init__(self, lake_dir: Path):
        folder = lake.meta_dir(lake_dir)
        try:
            lake.private_dir(folder)
            self.file = lake.open_lock(lake_dir)
        except OSError as exc:
            raise ConfigError(f"the lake {lake_dir} cannot be made or locked ({exc.strerror}: "
                              f"{exc.filename}); give a --lake in a writable folder") from None
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            raise ConfigError(f"another sync is writing the lake {lake_dir}; wait for it or "
                              f"stop it") from None

    def close(self) -> None:
        self.file.close()


# -- the sync --------------------------------------------------------------------------
def sync(network, api, lake_dir, org_keys, *, follow: bool = False,
         progress: Progress | None = None, until: int | None = None,
         streams: Sequence[str] | None = None, flush_records: int = FLUSH_RECORDS,
         flush_seconds: float = FLUSH_SECONDS, workers: int | None = None,
         stop: threading.Event | None = None, rebuild: bool = False) -> SyncSummary:
    """Bring the lake at ``lake_dir`` up to the chain's tip (``follow``: and keep it there
    until ``stop`` is set, Ctrl-C, or block ``until``), exactly once; see the module's
    docstring. ``api``: the LedgerlakeContract of an analyst of a reader organisation;
    ``org_keys``: that organisation's X25519 private keys, current first. ``until``: the
    last block to sync. ``streams``: only these streams (default: every stream).
    ``workers``: threads opening large batches (default: one per core; 0: none, this
    thread opens them).
    ``rebuild``: delete the lake's rows and metadata first and sync from genesis (e.g. once
    this organisation may read a stream it could not, or to change the selection). A block
    failing a check raises IntegrityError naming it; the blocks before it are committed."""
    from ledgerlake.client.qscc import chain_info

    began, cpu0 = time.monotonic(), time.process_time()
    lake_dir = Path(lake_dir)
    summary = SyncSummary(lake=str(lake_dir))
    lock = _Lock(lake_dir)
    reader = writer = None
    try:
        if rebuild:  # under the lock: the metadata first, so a kill here leaves no lake
            with lake.locked(lake_dir, shared=False):
                lake.meta_path(lake_dir).unlink(missing_ok=True)
                shutil.rmtree(lake.records_dir(lake_dir), ignore_errors=True)
        meta = lake.read_meta(lake_dir) if lake.meta_path(lake_dir).exists() else {}
        if meta and meta.get("channel") not in (None, network.name):
            raise ConfigError(f"the lake {lake_dir} holds channel {meta.get('channel')!r}, not "
                              f"{network.name!r}; give another --lake")
        chosen = meta.get("only_streams") if meta else None
        if streams is None or not streams:
            streams = chosen  # a lake keeps the selection it was first synced with
        elif meta and sorted(set(streams)) != chosen:
            held = f"streams {', '.join(chosen)}" if chosen else "every stream"
            raise ConfigError(f"the lake {lake_dir} holds {held}; sync it with the same "
                              f"--stream options, --rebuild it, or give another --lake")
        start = int(meta.get("next_block", 0))
        with lake.locked(lake_dir, shared=False):
            cleanup(lake_dir, start)
        tip = chain_info(network).height - 1
        if start > tip + 1:
            raise ConfigError(f"the lake {lake_dir} is synced to block {start - 1}, beyond "
                              f"this peer's tip {tip}: another network's lake?")
        if follow:
            end = until
        else:
            end = tip if until is None else min(until, tip)
        summary.tip, summary.synced_to = tip, start - 1
        summary.first_block = start
        if end is not None and start > end:
            summary.seconds = time.monotonic() - began
            return summary
        if not meta:
            meta = {"channel": network.name, "genesis_hash": "", "synced_to": -1,
                    "tip_hash": "", "next_block": 0, "streams": {},
                    "format": 1}
            if streams:
                meta["only_streams"] = sorted(set(streams))
        reader = _Reader(network, api, org_keys, streams=streams, known=meta.get("streams"),
                         workers=workers)
        reader.history_known = True  # a lake is synced from genesis on
        writer = _Writer(lake_dir, meta)
        seen = {"block": start - 1, "tip": tip, "tip_at": time.monotonic(), "shown": 0.0}

        def report(force: bool = False) -> None:
            now = time.monotonic()
            if follow and now - seen["tip_at"] > 5:
                try:
                    seen["tip"] = chain_info(network).height - 1
                except LedgerlakeError:
                    pass
                seen["tip_at"] = now
            seen["tip"] = max(seen["tip"], seen["block"])
            if progress is not None and (force or now - seen["shown"] >= 0.25):
                seen["shown"] = now
                progress(SyncProgress(seen["block"], seen["tip"], seen["block"] - start + 1,
                                      summary.records, now - began))

        def on_block(number: int) -> None:
            seen["block"] = number

        def commit(wait: bool = True) -> None:
            with _signals_deferred():  # the counts reach the summary with the files
                written = writer.flush(reader, wait=wait)
                for sid, n in written.items():
                    summary.streams.setdefault(sid, {"records": 0})["records"] += n
                    summary.records += n
                summary.synced_to = writer.synced_to
                summary.files = writer.files

        try:
            idle = min(flush_seconds, 0.5) if follow else None
            for rows in _rows(reader, network, start, end,
                              previous_hash=meta.get("tip_hash") or None, idle=idle,
                              on_block=on_block):
                if rows is not None:
                    with _signals_deferred():  # a block's rows are pending whole or not at all
                        writer.add(rows)
                    summary.blocks += 1
                now = time.monotonic()
                if writer.pending and (writer.records >= flush_records or
                                       (follow and now - writer.since >= flush_seconds)):
                    commit(wait=False)  # its files are written while the next blocks are read
                report()
                if stop is not None and stop.is_set():
                    break
            commit()
        except KeyboardInterrupt:
            summary.interrupted = True
            commit()
        except (IntegrityError, ConfigError):
            # what was checked before the failing block; the failing block is what is said
            # (a write failing now leaves the lake behind, for the next run)
            with contextlib.suppress(LedgerlakeError, OSError):
                commit()
            raise
        for sid, entry in meta.get("streams", {}).items():
            row = summary.streams.setdefault(sid, {"records": 0})
            row.update(readable=entry.get("readable"), refusal=entry.get("refusal", ""),
                       lake_records=entry.get("records", 0),
                       shredded_epochs=entry.get("shredded_epochs", []),
                       shredded_records=entry.get("shredded_records", 0),
                       skipped={k: v["records"] for k, v in entry.get("skipped", {}).items()})
        report(force=True)
        reader.close()
        summary.seconds = time.monotonic() - began
        summary.cpu_seconds = time.process_time() - cpu0
        return summary
    finally:
        try:
            if writer is not None:
                with contextlib.suppress(Exception):  # what stopped the sync is raised
                    writer.wait()
        finally:
            try:
                if reader is not None:
                    reader.close()
            finally:
                lock.close()


__all__ = ["BlockRows", "FLUSH_RECORDS", "FLUSH_SECONDS", "PURPOSE", "SyncProgress",
           "SyncSummary", "cleanup", "keep_freed_memory", "ledger_records", "open_fast",
           "open_rows", "sync"]
