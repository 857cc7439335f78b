"""Reading, validating and sealing in worker processes: the ingesting process sits at one
core (Python's GIL), and reading, the record rule and sealing cost most of its CPU, so
sources whose input a worker can read itself (files: ``input_bytes()``) are read there.

Each worker process hosts the lanes of one or more sources (``_SealingLane``: the
pipeline's own reader, cutting and sealing, a thread per source) and sends back sealed
batches: the header, the ciphertext, the input position it ends at and its row count,
never the rows. The ingesting process keeps everything exactly once depends on
(``RemoteLane``): it commits each source's batches in order, writes the state file ahead
of each submit and moves the position only after a commit, writes the reject file, and
hands out credits, one per batch a worker may seal (at most ``SEALED_AHEAD`` per source,
each holding one of the run's ``max_in_flight`` slots), so memory stays bounded. A worker
seals batch k+1 on the chain head it sealed k on; if k is not committed, the run ends and
the batches sealed after it are dropped, as in the ingesting process.

A worker is a child (``python -m ledgerlake.client.ingest.workers FD...``) in its own
process group, so Ctrl-C reaches only the ingesting process, which stops the workers'
reading and commits what they read. When the ingesting process dies (even by SIGKILL),
the worker's socket ends and it exits; nothing it holds is state.

Messages, over one socket pair per source (``multiprocessing.connection``, pickled):
to the worker ``("start", position, seq, batch_id)``, ``("credit",)``, ``("stop",)``,
``("exit",)``; from it ``("sealed", [(header, ciphertext, transient, end, count)], read,
rejected)``, ``("reject", where, rule, error, row)``, ``("advance", position)``,
``("progress", read, rejected)``, ``("stopped", message)``, ``("error", exception)``,
``("done", read, rejected)``.
"""

from __future__ import annotations

import gc
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection, wait
from typing import Any, Sequence

from ledgerlake import records
from ledgerlake.client.ingest.pipeline import (
    SEALED_AHEAD,
    SourceSummary,
    _Committer,
    _Lane,
    _Run,
)
from ledgerlake.client.ingest.state import SourceState
from ledgerlake.errors import LedgerlakeError, RecordError

#: Below this many bytes of input in all, reading in the ingesting process is cheaper than
#: starting a worker (a worker's start-up, mostly imports, costs about as much CPU as
#: reading and sealing 100,000 ten-field rows, ~10 MB of CSV).
MIN_PARALLEL_BYTES = 32 << 20
#: How often a worker reports rows read and checks for batches to flush by time.
TICK_SECONDS = 0.25


def machine_cpus() -> int:
    """The cores this process may run on (its affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def input_bytes(source) -> int | None:
    """The bytes of input of a source a worker can read (None: it is read here)."""
    size = getattr(source, "input_bytes", None)
    return size() if callable(size) else None


def plan(sizes: Sequence[int | None], workers: int | None, cpus: int) -> list[list[int]]:
    """Which sources each worker process reads: a list of source indices per worker (no
    worker: everything is read in the ingesting process). ``sizes``: each source's input
    bytes, None for one no worker can read. ``workers`` None decides by the machine: one
    worker per core (the ingesting process's own work, submitting and committing, is
    about a sixth of a worker's: on 2 free cores 2 workers committed 76-83k records/s
    against 64-72k for 1), none on one core or for less than ``MIN_PARALLEL_BYTES`` of
    input; never more workers than sources. Larger sources go first, each to the worker with the fewest
    bytes so far."""
    if workers is not None and (not isinstance(workers, int) or workers < 0):
        raise ValueError("workers must be 0 (read in this process) or more")
    able = [i for i, size in enumerate(sizes) if size is not None]
    if workers is None:
        total = sum(sizes[i] for i in able)
        workers = cpus if cpus > 1 and total >= MIN_PARALLEL_BYTES else 0
    count = min(workers, len(able))
    if count == 0:
        return []
    groups: list[list[int]] = [[] for _ in range(count)]
    load = [0] * count
    for i in sorted(able, key=lambda i: (-sizes[i], i)):
        least = load.index(min(load))
        groups[least].append(i)
        load[least] += sizes[i]
    return [sorted(group) for group in groups]


# -- the ingesting process's side -----------------------------------------------------------
class Pool:
    """The worker processes of one ingest; ``lanes[i]`` is the connection of source i."""

    def __init__(self, groups: list[list[int]], sources: Sequence, ids: Sequence[str],
                 config: dict):
        self.processes: list[subprocess.Popen] = []
        self.conns: dict[int, Connection] = {}
        try:
            for group in groups:
                pairs = [socket.socketpair() for _ in group]
                fds = [theirs.fileno() for _, theirs in pairs]
                process = subprocess.Popen(
                    [sys.executable, "-m", __name__, *map(str, fds)], pass_fds=fds,
                    process_group=0, stdin=subprocess.DEVNULL, env=_worker_environment())
                self.processes.append(process)
                for i, (mine, theirs) in zip(group, pairs):
                    theirs.close()
                    conn = Connection(mine.detach())
                    conn.send((sources[i], ids[i], config))
                    self.conns[i] = conn
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """End every worker: asked first, killed when it does not go within a second."""
        for conn in self.conns.values():
            try:
                conn.send(("exit",))
            except OSError:
                pass
            conn.close()
        deadline = time.monotonic() + 1.0
        for process in self.processes:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.conns.clear()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]


def _worker_environment() -> dict:
    """The worker's environment: ours, with one glibc malloc arena (``MALLOC_ARENA_MAX=1``,
    unless set): with an arena per reading thread, a worker's RSS crept up ~10% over five
    times the rows while its Python heap stayed the same; with one it stays flat (and
    lower). Python allocates under its GIL anyway, and pyarrow from its own pool."""
    env = dict(os.environ)
    env.setdefault("MALLOC_ARENA_MAX", "1")
    return env


def collect_less() -> None:
    """Tune this process's garbage collector for ingesting: reading allocates a dict per
    row and a few objects per value, none in a reference cycle, and at Python's default
    threshold (a young collection every 700 allocations, an older one every 10 of those)
    the collector kept walking the batch's rows held for sealing: 5.0-5.3 against
    5.9-6.7 CPU µs per row read, validated and sealed (ten-field CSV, 100,000 rows,
    ``benchmarks/results.md``). Objects alive now (imports) are left out of collections
    for good."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)


class RemoteLane(_Committer):
    """A source read and sealed in a worker: one thread here commits what it sends, in
    order, and hands it credits."""

    def __init__(self, run: _Run, source, source_id: str, state: SourceState,
                 summary: SourceSummary, conn: Connection):
        self.run, self.source, self.sid, self.state, self.summary = run, source, source_id, \
            state, summary
        self.conn = conn
        self.in_flight = 0  # credits held: granted, or sealed and not yet committed
        self._send_lock = threading.Lock()
        self.threads = [threading.Thread(target=self._guard, daemon=True,
                                         name=f"ingest-remote-{source_id}")]

    def start(self) -> None:
        self._send(("start", self.state.position, self.state.seq, self.state.batch_id))
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self._send(("stop",))

    def _send(self, message) -> None:
        with self._send_lock:
            try:
                self.conn.send(message)
            except OSError:
                pass  # the worker is gone: _loop reads its end and says so

    def _guard(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            if not self.run.failure:
                self.run.failure.append(exc)
            self.run.stop.set()
        finally:
            for _ in range(self.in_flight):
                self.run.slots.release()
            self.in_flight = 0

    def _loop(self) -> None:
        from ledgerlake.client.batches import SealedBatch

        run, summary = self.run, self.summary
        while True:
            while self.in_flight < SEALED_AHEAD and not run.failure and run.slots.acquire(
                    timeout=0 if self.in_flight else 0.05):
                self.in_flight += 1
                self._send(("credit",))
            if run.failure:
                return
            if not self.conn.poll(0.05):
                continue
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                raise LedgerlakeError(f"the worker process reading source {self.sid!r} "
                                      f"ended unexpectedly") from None
            kind = message[0]
            if kind == "sealed":
                try:
                    if not run.failure:  # after a failure, sealed batches are dropped
                        for header, ciphertext, transient, end, count in message[1]:
                            self.commit(SealedBatch(header, ciphertext, transient or {}, (),
                                                    ()), end, count)
                finally:
                    self.in_flight -= 1
                    run.slots.release()
                summary.read, summary.rejected = message[2], message[3]
            elif kind == "reject":
                run.rejects.write(self.sid, *message[1:])
            elif kind == "advance":
                if not run.failure:
                    self.advance(message[1])
            elif kind == "progress":
                summary.read, summary.rejected = message[1], message[2]
            elif kind == "stopped":
                run.stopped_by.append(RecordError(message[1]))
                run.stop.set()  # other lanes too commit what they read, and end
            elif kind == "error":
                raise message[1]
            elif kind == "done":
                summary.read, summary.rejected = message[1], message[2]
                return


# -- the worker's side ----------------------------------------------------------------------
class _SentRejects:
    """The reject file, written by the ingesting process: a bad row is sent there."""

    def __init__(self, send):
        self._send = send

    def write(self, source: str, where: str, rule: str, error: str, row: Any) -> None:
        self._send(("reject", where, rule, error, _portable_row(row)))


def _portable_row(row: Any) -> Any:
    try:
        pickle.dumps(row)
        return row
    except Exception:  # noqa: BLE001 - the reject file writes it as text anyway
        return repr(row)


def _portable_error(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a LedgerlakeError with its text."""
    try:
        return pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001
        return LedgerlakeError(f"{type(exc).__name__}: {exc}")


class _SealingLane(_Lane):
    """The pipeline's reader (validate, stamp, cut, seal) in a worker: batches and bad rows
    go to the ingesting process; a batch is sealed only on a credit from it."""

    def __init__(self, run: _Run, source, source_id: str, state: SourceState,
                 conn: Connection, plaintext: bool):
        super().__init__(run, source, source_id, state, SourceSummary(source_id, "worker"))
        self.conn, self.plaintext = conn, plaintext
        self._send_lock = threading.Lock()
        self._reported = (0, 0)
        self.threads = [threading.Thread(target=self._work, daemon=True,
                                         name=f"ingest-worker-{source_id}")]

    def send(self, message) -> None:
        with self._send_lock:
            try:
                self.conn.send(message)
            except OSError:  # the ingesting process is gone
                os._exit(0)

    def counts(self) -> tuple[int, int]:
        return self.summary.read, self.summary.rejected

    def _work(self) -> None:
        try:
            self._read()
        except BaseException as exc:  # noqa: BLE001 - sent to the ingesting process
            self.send(("error", _portable_error(exc)))
        finally:
            if self.run.stopped_by:
                self.send(("stopped", str(self.run.stopped_by[0])))
            self.send(("done", *self.counts()))

    def _take_slot(self, wait: bool) -> bool:
        """A credit from the ingesting process (it holds the run's slots)."""
        while True:
            if self.run.slots.acquire(timeout=0.2 if wait else 0):
                return True
            if not wait:
                return False

    def _give_slot(self) -> None:
        self.run.slots.release()  # a credit not used (sealing failed)

    def _put(self, item) -> None:
        if item is None:
            return  # "done" follows from _work, after any error
        if isinstance(item, tuple):
            self.send(("advance", item[1]))
            return
        self.send(("sealed", [(s.batch, s.ciphertext, s.transient if self.plaintext else None,
                               end, count) for s, end, count in item], *self.counts()))

    def tick(self) -> None:
        """Flush a batch that has waited ``flush_seconds``; report rows read."""
        self._cut(older_than=self.run.flush_seconds)
        counts = self.counts()
        if counts != self._reported:
            self._reported = counts
            self.send(("progress", *counts))


def _worker(fds: list[int]) -> None:
    conns = [Connection(fd) for fd in fds]
    lanes: dict[Connection, _SealingLane | None] = {}
    setups: dict[Connection, tuple] = {}
    for conn in conns:
        setups[conn] = conn.recv()
        lanes[conn] = None
    last_tick = time.monotonic()
    while lanes:
        for conn in wait(list(lanes), timeout=TICK_SECONDS):
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the ingesting process is gone
                os._exit(0)
            kind, lane = message[0], lanes.get(conn)
            if kind == "start":
                source, sid, config = setups[conn]
                lanes[conn] = lane = _start_lane(conn, source, sid, config, *message[1:])
            elif kind == "credit" and lane is not None:
                lane.run.slots.release()
            elif kind == "stop" and lane is not None:
                lane.run.stop.set()
                lane.source.stop()
            elif kind == "exit":
                del lanes[conn]
        if time.monotonic() - last_tick >= TICK_SECONDS:
            last_tick = time.monotonic()
            for lane in lanes.values():
                if lane is not None and lane.threads[0].is_alive():
                    lane.tick()


def _start_lane(conn: Connection, source, sid: str, config: dict, position: Any, seq: int,
                batch_id: str) -> _SealingLane:
    run = _Run(None, config["stream"], records.Schema.from_mapping(config["schema"]),
               config["epoch"], config["data_key"], config["max_age_ns"],
               config["time_field"], config["batch_size"], config["flush_seconds"],
               config["on_error"], None, None, threading.Semaphore(0), threading.Event(), {})
    state = SourceState(config["stream"], sid, seq, batch_id, position)
    lane = _SealingLane(run, source, sid, state, conn, config["plaintext"])
    run.rejects = _SentRejects(lane.send)
    if hasattr(source, "use_schema"):
        source.use_schema(run.schema)
    lane.start()
    return lane


if __name__ == "__main__":
    collect_less()
    _worker([int(fd) for fd in sys.argv[1:]])
