"""The ingestion pipeline: rows from sources → validated, timestamped records → sealed,
encrypted batches → committed on the ledger, exactly once per (stream, source).

    from ledgerlake.client.ingest import open_source
    from ledgerlake.client.ingest.pipeline import ingest

    summary = ingest(api, open_source("data/*.csv"), stream="plant-sensors",
                     org_key=org_private_key, state_dir=".ledgerlake")

A source that defines ``use_schema(schema)`` gets the stream's schema before it is read
(files cast CSV text by it and check each file's columns once; SQL refines its conversions).
Each source is a lane of two threads. The reader validates each row against the stream's
schema (``fastrecords.validate_record``: the record rule, in C), stamps it (event time
from ``time_field``, else the time it was read), checks the stream's time window, and cuts
a batch by count (``batch_size``), which it seals (``seal_batch``) while the lane's
submitter waits for the previous batch to commit: a source's chain forces its batches
through one at a time (the contract refuses seq k+2 before k+1 is committed), so the lane
overlaps the sealing of one batch with the commit of the one before. The submitter
also cuts a batch that has waited ``flush_seconds`` (slow or live sources). Lanes run side
by side, so many batches are in flight across sources (at most ``max_in_flight`` sealed and
not yet committed, which bounds memory). A large input's file sources are read, validated
and sealed in worker processes instead (``workers.py``; one per core), which
send back sealed batches; committing, the state and the reject file stay here.

Exactly once: before a batch is submitted it is recorded as pending in the lane's state
file (``state.py``) with the input position it ends at; its plaintext carries that
position too (the cursor), so the position can always be rebuilt from the ledger. A re-run
reconciles the state with the ledger's chain head and resubmits a pending batch unchanged;
a resubmit answered ALREADY_EXISTS, or a head already at that batch, means it was committed.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ledgerlake import fastrecords, records
from ledgerlake.client.ingest.state import (
    Pending,
    SourceState,
    StateStore,
    open_private,
    private_dirs,
    reconcile,
    sealed_from_json,
    sealed_to_json,
)
from ledgerlake.errors import CommitError, ConfigError, EndorseError, LedgerlakeError, RecordError
from ledgerlake.protocol import ErrorCode

DEFAULT_BATCH_SIZE = 20_000
DEFAULT_FLUSH_SECONDS = 2.0
DEFAULT_MAX_IN_FLIGHT = 8
#: If this many rows in a row are rejected before any is accepted, the input does not fit
#: the stream at all: say so once instead of rejecting every row.
HOPELESS_ROWS = 1000
#: Batches sealed ahead of the one committing, per source.
SEALED_AHEAD = 2
ON_ERROR = ("skip", "stop")


@dataclass
class SourceSummary:
    source: str
    kind: str
    read: int = 0
    committed: int = 0
    rejected: int = 0
    batches: int = 0
    head_seq: int = 0
    resumed: str = "start"  # "start", "local state", "ledger", "resubmitted pending batch"
    note: str = ""  # one line the user should read (e.g. a dropped pending batch)


@dataclass
class IngestSummary:
    stream: str
    sources: list[SourceSummary]
    seconds: float = 0.0
    interrupted: bool = False
    in_flight: int = 0
    #: the worker processes reading and sealing (``workers.py``); empty: none
    worker_pids: list = field(default_factory=list)

    @property
    def read(self) -> int:
        return sum(s.read for s in self.sources)

    @property
    def committed(self) -> int:
        return sum(s.committed for s in self.sources)

    @property
    def rejected(self) -> int:
        return sum(s.rejected for s in self.sources)

    @property
    def batches(self) -> int:
        return sum(s.batches for s in self.sources)

    @property
    def records_per_second(self) -> float:
        return self.committed / self.seconds if self.seconds > 0 else 0.0


def row_blocks(source, after: Any) -> Iterator[list]:
    """A source's rows a list at a time: as the source reads them when it can say
    (``row_blocks``: files), else one by one (a live source must not wait for a block to
    fill)."""
    blocks = getattr(source, "row_blocks", None)
    if blocks is not None:
        return blocks(after=after)
    return ([row] for row in source.rows(after=after))


def _margin(max_age_ns: int) -> int:
    """Room left at the edges of the time window for the time a batch takes to commit."""
    return min(60 * 10**9, max_age_ns // 10)


class _Rejects:
    """The reject file: one JSON line per bad row (source, where, rule, error, row)."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._out = None

    def write(self, source: str, where: str, rule: str, error: str, row: Any) -> None:
        if self.path is None:
            return
        line = json.dumps({"source": source, "where": where, "rule": rule, "error": error,
                           "row": row}, default=str, ensure_ascii=False)
        with self._lock:
            if self._out is None:
                private_dirs(self.path.parent)
                self._out = open_private(self.path)
            self._out.write(line + "\n")
            self._out.flush()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


@dataclass
class _Run:
    """What every lane of one ingest shares."""

    api: Any
    stream: str
    schema: records.Schema
    epoch: int
    data_key: bytes
    max_age_ns: int
    time_field: str | None
    batch_size: int
    flush_seconds: float
    on_error: str
    rejects: _Rejects
    store: StateStore
    slots: threading.BoundedSemaphore
    stop: threading.Event
    submit_options: dict
    failure: list = field(default_factory=list)  # the first error that ends the run
    stopped_by: list = field(default_factory=list)  # bad rows under on_error="stop"


class _Stop(Exception):
    """A bad row under on_error="stop" (its message names it)."""


class _Committer:
    """What commits a source's sealed batches in the ingesting process, in order: the lane
    of a source read here (``_Lane``) or in a worker process (``workers.RemoteLane``)."""

    run: _Run
    state: SourceState
    summary: SourceSummary
    sid: str
    source: Any

    def commit(self, sealed, end: Any, count: int) -> None:
        """Write ahead, submit, then record the new head."""
        run, state = self.run, self.state
        pending = Pending(sealed.batch["seq"], sealed.id, end, count, sealed_to_json(sealed))
        state.pending = pending
        run.store.save(state)
        submit(run.api, run.stream, self.sid, sealed, run.submit_options)
        state.committed(pending)
        run.store.save(state)
        self.summary.committed += count
        self.summary.batches += 1
        self.summary.head_seq = state.seq
        self.source.committed(end)

    def advance(self, position: Any) -> None:
        """Only rejected rows since the last batch: the position moves past them."""
        self.state.position = position
        self.run.store.save(self.state)
        self.source.committed(position)


class _Lane(_Committer):
    """One source: a reader thread that validates and seals, a submitter that commits."""

    def __init__(self, run: _Run, source, source_id: str, state: SourceState,
                 summary: SourceSummary):
        self.run, self.source, self.sid, self.state, self.summary = run, source, source_id, \
            state, summary
        self.sealed: queue.Queue = queue.Queue()  # lists of sealed chunks, then None
        self._ahead = threading.BoundedSemaphore(SEALED_AHEAD)
        self.next_seq, self.prev_id = state.seq + 1, state.batch_id
        self.in_flight = 0
        self._rows: list[dict] = []
        self._positions: list[Any] = []
        self._first_ns = self._last_ns = 0
        self._started = 0.0  # monotonic time of the open batch's first row
        self._consumed: Any = state.position  # position after the last row read
        self._cut_end: Any = state.position  # where the last sealed batch ends
        #: rows per batch: the batch size, or fewer when that many would not fit in one
        #: transaction (learnt from the last sealed batch's bytes per row)
        self._limit = run.batch_size
        self._buffer = threading.Lock()
        self._sealing = threading.Lock()
        self.threads = [threading.Thread(target=self._guard, args=(self._read,), daemon=True,
                                         name=f"ingest-read-{source_id}"),
                        threading.Thread(target=self._guard, args=(self._submit_loop,),
                                         daemon=True, name=f"ingest-submit-{source_id}")]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        """Ask the source to end (a live one); what was read is still committed."""
        self.source.stop()

    def _guard(self, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            if not self.run.failure:
                self.run.failure.append(exc)
            self.run.stop.set()
            self.source.stop()

    # -- reading -----------------------------------------------------------------------------
    def _reject(self, row, rule: str, error: str) -> None:
        self.summary.rejected += 1
        self.run.rejects.write(self.sid, row.where, rule, error, row.record)
        if self.run.on_error == "stop":
            raise _Stop(error if error.startswith(row.where) else f"{row.where}: {error}")

    def _read(self) -> None:
        try:
            self._read_rows()
            self._cut()  # the rest, also after a stop (Ctrl-C): what was read is committed
            if self._consumed != self._cut_end:  # rejected rows after the last batch
                self._put(("advance", self._consumed))
        except _Stop as stop:
            self._cut()  # the rows before the bad one are committed; the bad one is not
            self.run.stopped_by.append(RecordError(str(stop)))
            self.run.stop.set()  # other lanes too commit what they read, and end
        finally:
            self._put(None)

    def _read_rows(self) -> None:
        run, schema, validate = self.run, self.run.schema, fastrecords.validate_record
        time_field, stop, accepted = run.time_field, run.stop, 0
        margin = _margin(run.max_age_ns)
        for block in row_blocks(self.source, self.state.position):
            if stop.is_set():
                return
            now = time.time_ns()
            # the block's records in one call when the rule takes them all (the common
            # case); else each row alone, so that a bad one is rejected by itself
            valid = fastrecords.validate_all(schema, [row.record for row in block]) \
                if len(block) > 1 and all(row.error is None for row in block) else None
            for index, row in enumerate(block):
                self.summary.read += 1
                if row.error is not None:
                    self._reject(row, "parse", row.error)
                    self._skip(row.position)
                    continue
                if valid is not None:
                    record = valid[index]
                else:
                    try:
                        record = validate(schema, row.record, row.where)
                    except RecordError as exc:
                        self._reject(row, "schema", str(exc))
                        self._skip(row.position)
                        if not accepted and self.summary.rejected >= HOPELESS_ROWS:
                            raise ConfigError(
                                f"the first {HOPELESS_ROWS} rows of {self.sid} all break the "
                                f"schema of stream {run.stream!r}; the first: {exc}") from None
                        continue
                stamp = now
                if time_field is not None and record.get(time_field) is not None:
                    stamp = record[time_field]
                    if stamp > now + records.MAX_FUTURE_SKEW_NS - margin:
                        self._reject(row, "time.future", f"{row.where}: {time_field} lies "
                                     f"more than {records.MAX_FUTURE_SKEW_NS // 10**9} s in "
                                     f"the future")
                        self._skip(row.position)
                        continue
                    if stamp < now - run.max_age_ns + margin:
                        self._reject(row, "time.max_age", f"{row.where}: {time_field} is "
                                     f"older than the stream's max age "
                                     f"({run.max_age_ns // 10**9} s)")
                        self._skip(row.position)
                        continue
                accepted += 1
                with self._buffer:
                    if not self._rows:
                        self._first_ns = self._last_ns = stamp
                        self._started = time.monotonic()
                    elif stamp < self._first_ns:
                        self._first_ns = stamp
                    elif stamp > self._last_ns:
                        self._last_ns = stamp
                    self._rows.append(record)
                    self._positions.append(row.position)
                    self._consumed = row.position
                    full = len(self._rows) >= self._limit
                if full:
                    self._cut()

    def _skip(self, position: Any) -> None:
        with self._buffer:
            self._consumed = position

    def _cut(self, older_than: float | None = None) -> None:
        """Seal the open batch (if it has rows) and queue it for the submitter. The reader
        waits for an in-flight slot; the submitter (``older_than``: only a batch that has
        waited that long) never waits, or it could wait for itself."""
        wait = older_than is None
        if not self._sealing.acquire(blocking=wait):
            return
        try:
            with self._buffer:
                if not self._rows or (not wait and
                                      time.monotonic() - self._started < older_than):
                    return
            if not self._take_slot(wait):
                return
            with self._buffer:
                rows, positions = self._rows, self._positions
                first, last, end = self._first_ns, self._last_ns, self._consumed
                self._rows, self._positions, self._cut_end = [], [], end
            try:
                chunks = list(self._seal_chunks(rows, positions, first, last, end))
            except BaseException:
                self._give_slot()
                raise
            self._put(chunks)
        finally:
            self._sealing.release()

    def _take_slot(self, wait: bool) -> bool:
        """One of the lane's and one of the run's in-flight slots (False after a failure
        elsewhere, or when not waiting and none is free)."""
        run = self.run
        while True:
            if self._ahead.acquire(timeout=0.2 if wait else 0):
                if run.slots.acquire(timeout=0.2 if wait else 0):
                    self.in_flight += 1
                    return True
                self._ahead.release()
            if not wait or run.failure:
                return False

    def _give_slot(self) -> None:
        self.in_flight -= 1
        self.run.slots.release()
        self._ahead.release()

    def _seal_chunks(self, rows, positions, first, last, end):
        """Sealed batches of ``rows``: one, or halves when it would exceed what a
        transaction carries (``_load``). Each ends at its last row's position (the last at
        ``end``, which also covers rejected rows read after it)."""
        from ledgerlake.client.batches import seal_batch

        run = self.run
        try:
            records.cursor_bytes(end)
        except RecordError as exc:  # would fail alike on every run: name it, once
            raise ConfigError(f"source {self.sid!r} cannot be ingested: its input position "
                              f"is too long to record ({exc}, the limit); shorten it, e.g. "
                              f"a shorter next-page URL") from None
        sealed = seal_batch(stream=run.stream, source=self.sid, seq=self.next_seq,
                            prev_hash=self.prev_id, schema=run.schema, rows=rows,
                            data_key=run.data_key, key_epoch=run.epoch, time_start=first,
                            time_end=last, cursor=end, normalised=True)
        load = _load(sealed)
        self._limit = max(1, min(run.batch_size, int(0.9 * len(rows) / max(load, 1e-9))))
        if load > 1 and len(rows) > 1:
            half = len(rows) // 2
            yield from self._seal_chunks(rows[:half], positions[:half], first, last,
                                         positions[half - 1])
            yield from self._seal_chunks(rows[half:], positions[half:], first, last, end)
            return
        self.next_seq, self.prev_id = self.next_seq + 1, sealed.id
        yield sealed, end, len(rows)

    def _put(self, item) -> None:
        self.sealed.put(item)

    # -- submitting --------------------------------------------------------------------------
    def _submit_loop(self) -> None:
        wait = min(self.run.flush_seconds / 4, 0.25)
        while True:
            try:
                chunks = self.sealed.get(timeout=wait)
            except queue.Empty:
                if not self.run.failure:
                    self._cut(older_than=self.run.flush_seconds)
                elif not self.threads[0].is_alive():
                    return
                continue
            if chunks is None:
                return
            if isinstance(chunks, tuple):  # ("advance", position): only rejects since
                if not self.run.failure:
                    self.advance(chunks[1])
                continue
            try:
                if not self.run.failure:  # after a failure, sealed batches are dropped
                    for sealed, end, count in chunks:
                        self.commit(sealed, end, count)
            finally:
                self._give_slot()



_MAX_PAYLOAD_BYTES = records.MAX_INLINE_PAYLOAD * 3 // 4  # holds under either payload form


def _load(sealed) -> float:
    """How full ``sealed`` is, as the larger of two fractions (above 1: too large): its
    ciphertext of ``_MAX_PAYLOAD_BYTES``, and the transaction it makes (the header twice,
    as argument and in the write set, plus the ciphertext) of
    ``records.MAX_BATCH_TRANSACTION_BYTES``."""
    payload = _payload_bytes(sealed)
    transaction = 2 * len(records.canonical(sealed.batch)) + payload
    return max(payload / _MAX_PAYLOAD_BYTES,
               transaction / records.MAX_BATCH_TRANSACTION_BYTES)


def _payload_bytes(sealed) -> int:
    payload = sealed.batch["payload"]
    if "size" in payload:
        return int(payload["size"])
    return len(payload.get("ciphertext", "")) * 3 // 4


def ledger_head(api, stream: str, source: str) -> tuple[int, str, str]:
    """The source's chain head on the ledger: (seq, batch id, owning MSP ID); (0, "", "")
    before its first batch."""
    page = api.get_batch_history(stream, source, page_size=1)
    head = page.items[0].head if page.items else None
    return (head.seq, head.batch_id, head.msp_id) if head else (0, "", "")


def submit(api, stream: str, source: str, sealed, options: dict) -> str:
    """Submit ``sealed``; "committed", or "already" when it is on the ledger already (a
    resubmit after a crash: ALREADY_EXISTS, or a refusal while the head is this batch).
    A chain that moved past the batch's place under this ingest is a ConfigError."""
    try:
        api.submit_batch(sealed, **options)
        return "committed"
    except EndorseError as exc:
        if exc.error_code is ErrorCode.ALREADY_EXISTS:
            return "already"
        if exc.error_code not in (ErrorCode.CHAIN_FORK, ErrorCode.CLOCK_SKEW,
                                  ErrorCode.CONFLICT):
            raise
        _moved(api, stream, source, sealed, exc)
    except CommitError as exc:  # e.g. MVCC_READ_CONFLICT: an earlier copy may have won
        _moved(api, stream, source, sealed, exc)
    return "already"


def _moved(api, stream: str, source: str, sealed, exc: Exception) -> None:
    """Return when the refused batch is the chain's head (it was committed before);
    otherwise raise ``exc``, or say the chain moved when another batch took its place."""
    seq, head, _ = ledger_head(api, stream, source)
    if head == sealed.id:
        return
    if seq >= sealed.batch["seq"]:
        raise ConfigError(f"the chain of source {source!r} in {stream!r} moved to seq {seq} "
                          f"while this ingest was writing (another ingest of that source, or "
                          f"a batch of an earlier run committed late); run again to continue "
                          f"from the ledger") from None
    raise exc


def cursor_of(api, stream: str, batch_id: str, schema: records.Schema,
              keys: dict[int, bytes]) -> Any:
    """The input position kept (encrypted) in a batch of the ledger."""
    from ledgerlake.client.batches import open_batch_with_cursor

    batch = api.get_batch(stream, batch_id)
    key = keys.get(batch.key_epoch)
    if key is None:
        raise ConfigError(f"batch {batch_id} of {stream!r} is under key epoch "
                          f"{batch.key_epoch}, whose key this producer cannot open (shredded?)")
    raw = dict(batch.raw)
    if getattr(batch, "ciphertext", None) is not None:  # a ciphertext fetched from its block
        raw["ciphertext"] = batch.ciphertext
    return open_batch_with_cursor(schema, raw, key)[1]


def _prepare_lane(run: _Run, keys: dict[int, bytes], source, source_id: str,
                  summary: SourceSummary) -> SourceState:
    """Reconcile local state with the ledger; resubmit the pending batch or rebuild the
    position from the ledger's head batch."""
    local = run.store.load(run.stream, source_id)
    seq, head_id, owner = ledger_head(run.api, run.stream, source_id)
    me = run.api.contract.network.gateway.identity.msp_id
    if owner and owner != me:
        raise ConfigError(f"source {source_id!r} of stream {run.stream!r} belongs to {owner}; "
                          f"pick another --source-id")
    plan = reconcile(local, run.stream, source_id, seq, head_id)
    state = plan.state
    if local is not None:
        summary.resumed = "local state"
    if plan.rebuild:
        cursor = cursor_of(run.api, run.stream, head_id, run.schema, keys)
        if cursor is None:
            raise ConfigError(f"source {source_id!r} of stream {run.stream!r} already has "
                              f"{seq} batch(es) that do not record their input position "
                              f"(not written by an ingest); pick another --source-id")
        state.position = cursor
        summary.resumed = "ledger"
    if plan.resubmit is not None:
        pending = plan.resubmit
        try:
            submit(run.api, run.stream, source_id, sealed_from_json(pending.sealed),
                   {})
            state.committed(pending)
            summary.committed += pending.records
            summary.batches += 1
            summary.resumed = "resubmitted pending batch"
        except EndorseError as exc:
            if exc.error_code is None:  # never reached the contract: keep it for next run
                raise
            if ledger_head(run.api, run.stream, source_id)[1] == pending.batch_id:
                state.committed(pending)  # committed after all
            else:  # refused for good and not committed: its rows are read again
                state.pending = None
                summary.note = (f"dropped the pending batch seq {pending.seq} of source "
                                f"{source_id!r}: the contract refused it "
                                f"({exc.error_code}); its rows are read again")
    run.store.save(state)
    summary.head_seq = state.seq
    return state


def ingest(api, sources, *, stream: str, source_id: str | None = None,
           data_key: bytes | None = None, org_key=None, purpose: str | None = None,
           batch_size: int = DEFAULT_BATCH_SIZE, flush_seconds: float = DEFAULT_FLUSH_SECONDS,
           max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, on_error: str = "skip",
           reject_file: str | Path | None = None, time_field: str | None = None,
           state_dir: str | Path = ".ledgerlake",
           progress: Callable[[IngestSummary], None] | None = None,
           stop: threading.Event | None = None, send_plaintext: bool = False,
           endorsing_organizations: Sequence[str] = (),
           workers: int | None = None) -> IngestSummary:
    """Ingest one source (or a list of sources, side by side) into ``stream`` as the
    producer ``api`` (a sync ``LedgerlakeContract``) speaks for; return a summary.

    The data key is ``data_key`` (the stream's current epoch's), or opened with the
    organisation's X25519 private key ``org_key`` (an audited OpenStream with ``purpose``).
    ``source_id`` names a single source's chain (default: ``source.source_id()``).
    ``on_error``: "skip" writes a bad row to ``reject_file`` (None: only counted) and goes
    on, "stop" also ends the ingest with a RecordError naming it, after committing the rows
    before it. ``send_plaintext`` also sends each batch's records to the
    ``endorsing_organizations`` (readers of the stream only) for the contract to check.
    ``progress`` is called with the running summary about 4 times a second. Setting
    ``stop`` (or Ctrl-C in the calling thread) ends reading, commits what was read and
    returns with ``interrupted``.

    ``workers``: how many worker processes read, validate and seal the sources that can be
    read in one (files; ``workers.py``): None decides by the machine (one per core,
    none for a small input or on one core), 0 reads everything in this process."""
    single = not isinstance(sources, (list, tuple))
    sources = [sources] if single else list(sources)
    if not sources:
        raise ConfigError("ingest needs at least one source")
    if source_id is not None and not single:
        raise ConfigError("source_id names one source's chain; give several sources their own")
    if not isinstance(batch_size, int) or not 1 <= batch_size <= records.MAX_RECORDS:
        raise ConfigError(f"batch size must be from 1 to {records.MAX_RECORDS}, not {batch_size!r}")
    if not flush_seconds > 0:
        raise ConfigError("flush seconds must be above 0")
    if not isinstance(max_in_flight, int) or max_in_flight < 1:
        raise ConfigError("max in flight must be at least 1")
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool)
                                or workers < 0):
        raise ConfigError(f"workers must be 0 (read in this process) or more, not {workers!r}")
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error must be skip or stop, not {on_error!r}")
    stream_def = _stream(api, stream)
    schema = stream_def.schema
    if time_field is not None:
        fields = {f.name: f for f in schema.fields}
        if time_field not in fields or fields[time_field].type not in ("timestamp", "int"):
            raise ConfigError(f"time field {time_field!r} must be a timestamp field of stream "
                          f"{stream!r} (its timestamp fields: "
                          f"{', '.join(f.name for f in schema.fields if f.type == 'timestamp') or 'none'})")
    ids = [records.check_identifier(source_id or s.source_id(), "source id") for s in sources]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"two sources have the same source id {sorted(ids)[0]!r}")
    keys = _keys(api, stream_def, data_key, org_key,
                 purpose or f"ingest from {', '.join(ids)}")
    for s in sources:
        if hasattr(s, "use_schema"):
            s.use_schema(schema)
    rejects = _Rejects(reject_file)
    run = _Run(api, stream, schema, stream_def.epoch, keys[stream_def.epoch],
               stream_def.max_age_seconds * 10**9, time_field, batch_size, flush_seconds,
               on_error, rejects, StateStore(state_dir), threading.BoundedSemaphore(max_in_flight),
               stop or threading.Event(),
               {"send_plaintext": send_plaintext,
                "endorsing_organizations": list(endorsing_organizations)})
    summary = IngestSummary(stream, [SourceSummary(i, getattr(s, "kind", "?"))
                                     for i, s in zip(ids, sources)])
    started = time.monotonic()
    locks = [run.store.lock(stream, i) for i in ids]
    held, pool = [], None
    try:
        for lock in locks:
            held.append(lock.__enter__())
        pool = _start_workers(run, sources, ids, workers)  # starting while lanes prepare
        lanes = []
        for index, (s, i, sub) in enumerate(zip(sources, ids, summary.sources)):
            state = _prepare_lane(run, keys, s, i, sub)
            if pool is not None and index in pool.conns:
                from ledgerlake.client.ingest.workers import RemoteLane
                lanes.append(RemoteLane(run, s, i, state, sub, pool.conns[index]))
            else:
                lanes.append(_Lane(run, s, i, state, sub))
        summary.worker_pids = pool.pids if pool is not None else []
        for lane in lanes:
            lane.start()
        _wait(lanes, run, summary, started, progress)
    finally:
        if pool is not None:
            pool.close()
        for lock in held:
            lock.__exit__(None, None, None)
        rejects.close()
    summary.seconds = time.monotonic() - started
    if run.failure:
        raise run.failure[0]
    if run.stopped_by:
        raise run.stopped_by[0]
    return summary


def _start_workers(run: _Run, sources, ids: list[str], workers: int | None):
    """The worker processes that read the sources a worker can read (None: none)."""
    from ledgerlake.client.ingest import workers as pool

    groups = pool.plan([pool.input_bytes(s) for s in sources], workers, pool.machine_cpus())
    if not groups:
        return None
    config = {"stream": run.stream, "schema": run.schema.to_mapping(), "epoch": run.epoch,
              "data_key": run.data_key, "max_age_ns": run.max_age_ns,
              "time_field": run.time_field, "batch_size": run.batch_size,
              "flush_seconds": run.flush_seconds, "on_error": run.on_error,
              "plaintext": bool(run.submit_options.get("send_plaintext"))}
    return pool.Pool(groups, sources, ids, config)


def _wait(lanes, run: _Run, summary: IngestSummary, started: float, progress) -> None:
    """Until every lane is done; Ctrl-C ends reading, and what was read is committed."""
    def alive():
        return [t for lane in lanes for t in lane.threads if t.is_alive()]

    stopped = False
    while alive():
        try:
            for thread in alive()[:1]:
                thread.join(timeout=0.25)
            if run.stop.is_set() and not stopped:  # the caller's stop: a live source too
                stopped = True
                for lane in lanes:
                    lane.stop()
            summary.in_flight = sum(lane.in_flight for lane in lanes)
            summary.seconds = time.monotonic() - started
            if progress is not None:
                progress(summary)
        except KeyboardInterrupt:
            if summary.interrupted:  # a second Ctrl-C: leave now (the state stays sound)
                raise
            summary.interrupted = True
            run.stop.set()
            for lane in lanes:
                lane.stop()
    if run.stop.is_set() and not run.failure and not run.stopped_by:
        summary.interrupted = True
    summary.in_flight = 0


def _stream(api, stream: str):
    try:
        found = api.get_stream(stream)
    except EndorseError as exc:
        if exc.error_code is ErrorCode.NOT_FOUND:
            raise ConfigError(f"stream {stream!r} does not exist; see 'ledgerlake stream "
                              f"list'") from None
        raise
    from ledgerlake.protocol import Creator

    identity = api.contract.network.gateway.identity
    me = identity.msp_id
    if me not in found.writers.msp_ids:
        raise ConfigError(f"{me} may not write to stream {stream!r} (writers: "
                          f"{', '.join(found.writers.msp_ids)})")
    role = Creator.from_certificate(me, identity.credentials).role
    if role and role not in found.writers.roles:  # no role read: the contract decides
        raise ConfigError(f"role {role} may not write to stream {stream!r} (writer roles: "
                          f"{', '.join(found.writers.roles)}); write as an identity with "
                          f"one of those roles")
    if not found.active:
        raise ConfigError(f"stream {stream!r} is {found.status}; it takes no batches")
    return found


def _keys(api, stream_def, data_key: bytes | None, org_key, purpose: str) -> dict[int, bytes]:
    if data_key is not None:
        return {stream_def.epoch: data_key}
    if org_key is None:
        raise ConfigError("ingest needs the stream's data key or the organisation's X25519 "
                          "private key (org_key) to open it")
    keys = api.open_keys(stream_def.id, purpose, org_key)
    if stream_def.epoch not in keys:
        raise ConfigError(f"the key of epoch {stream_def.epoch} of {stream_def.id!r} was not "
                          f"released to this organisation")
    return keys




class RecordsSource:
    """Records given in memory (``ledgerlake submit``): each run appends them to the chain.
    The position counts records submitted through this source id, so it never skips."""

    kind = "records"

    def __init__(self, rows: Sequence[dict], source_id: str = "submit", what: str = "record"):
        self._rows, self._id, self._what = list(rows), source_id, what

    def source_id(self) -> str:
        return self._id

    def rows(self, after: Any | None = None):
        from ledgerlake.client.ingest.source import Row

        done = after.get("records", 0) if isinstance(after, dict) else 0
        for i, row in enumerate(self._rows, 1):
            where = self._what if len(self._rows) == 1 else f"{self._what} {i}"
            if not isinstance(row, dict):
                yield Row(None, where, {"records": done + i}, f"{where} must be a JSON object")
            else:
                yield Row(row, where, {"records": done + i})

    def committed(self, position: Any) -> None:
        """Nothing to acknowledge."""

    def stop(self) -> None:
        """A list ends by itself."""

    def close(self) -> None:
        """Nothing to release."""


__all__ = ["DEFAULT_BATCH_SIZE", "IngestSummary", "RecordsSource", "SourceSummary",
           "cursor_of", "ingest", "ledger_head", "submit"]
