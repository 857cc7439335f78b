"""Local state of an ingest, per (stream, source): where the input stands, the chain head,
and the batch in flight (write-ahead), in one small JSON file written atomically.

The ledger is the truth; this file lets a re-run continue without reading the ledger's
batches and resubmit the very batch that was in flight when the last run died
(``pending``: ciphertext and public fields only, never plaintext). ``reconcile`` decides,
from this file and the ledger's chain head, what a re-run does; when the file is missing
or disagrees with the ledger, the position comes from the cursor kept encrypted in the
head batch (``records.batch_plaintext``).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ledgerlake.errors import ConfigError

VERSION = 1


@dataclass
class Pending:
    """A sealed batch recorded before it was submitted: a re-run resubmits it unchanged."""

    seq: int
    batch_id: str
    position: Any  # the input position after the batch's last row
    records: int
    sealed: dict  # sealed_to_json(SealedBatch)


@dataclass
class SourceState:
    stream: str
    source: str
    seq: int = 0  # the committed chain head
    batch_id: str = ""
    position: Any = None  # the input position after the head's last row (None: the start)
    records: int = 0  # records this state has seen committed
    pending: Pending | None = None

    def to_json(self) -> dict:
        data = {"version": VERSION, "stream": self.stream, "source": self.source,
                "seq": self.seq, "batch_id": self.batch_id, "position": self.position,
                "records": self.records, "pending": None}
        if self.pending is not None:
            data["pending"] = {f.name: getattr(self.pending, f.name) for f in fields(Pending)}
        return data

    @classmethod
    def from_json(cls, data: Any, where: str) -> "SourceState":
        try:
            if data.get("version") != VERSION:
                raise ValueError(f"version {data.get('version')!r}")
            pending = data.get("pending")
            return cls(data["stream"], data["source"], int(data["seq"]), str(data["batch_id"]),
                       data.get("position"), int(data.get("records", 0)),
                       Pending(**pending) if pending else None)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where} is not an ingest state file ({exc}); delete it to "
                              f"rebuild it from the ledger") from None

    def committed(self, pending: Pending) -> None:
        """``pending`` is on the ledger: it is the new head."""
        self.seq, self.batch_id = pending.seq, pending.batch_id
        self.position = pending.position
        self.records += pending.records
        self.pending = None


def private_dirs(path: Path) -> None:
    """Make ``path`` and its missing parents mode 0700: the folders made for ingest state
    and reject files hold input positions and rejected plaintext rows."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)


def open_private(path: Path, mode: str = "a", truncate: bool = False):
    """``path`` opened for writing, created mode 0600 from the start (never readable by
    others, not even for a moment): reject files and state files."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if truncate else os.O_APPEND)
    return os.fdopen(os.open(path, flags, 0o600), mode, encoding="utf-8")


def sealed_to_json(sealed) -> dict:
    """What a re-run needs to resubmit a ``SealedBatch``: its header (and its ciphertext
    where the batch format keeps that apart); never its plaintext."""
    data = {"batch": sealed.batch}
    ciphertext = getattr(sealed, "ciphertext", None)
    if ciphertext is not None:
        data["ciphertext"] = base64.b64encode(ciphertext).decode()
    return data


def sealed_from_json(data: dict):
    """A ``SealedBatch`` to resubmit, without plaintext (so without a plaintext check)."""
    from ledgerlake.client.batches import SealedBatch

    values = {"batch": data["batch"], "transient": {}, "salts": (), "commitments": ()}
    if "ciphertext" in data:
        values["ciphertext"] = base64.b64decode(data["ciphertext"])
    return SealedBatch(**{f.name: values[f.name] for f in fields(SealedBatch)})


class StateStore:
    """State files under ``<state dir>/ingest/<stream>/<source>.json``."""

    def __init__(self, state_dir: str | os.PathLike):
        self.root = Path(state_dir) / "ingest"

    def path(self, stream: str, source: str) -> Path:
        return self.root / stream / f"{source}.json"

    def load(self, stream: str, source: str) -> SourceState | None:
        path = self.path(stream, source)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            raise ConfigError(f"{path} is not JSON; delete it to rebuild it from the "
                              f"ledger") from None
        return SourceState.from_json(data, str(path))

    def save(self, state: SourceState) -> None:
        """Atomically: a crash at any moment leaves the old file or the new one."""
        path = self.path(state.stream, state.source)
        private_dirs(path.parent)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.unlink(missing_ok=True)  # a leftover may have other modes
        text = json.dumps(state.to_json(), separators=(",", ":"))  # one write, not many
        with open_private(tmp, "w", truncate=True) as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def lock(self, stream: str, source: str) -> "SourceLock":
        return SourceLock(self.path(stream, source).with_suffix(".lock"), stream, source)


@dataclass
class SourceLock:
    """One ingest per (stream, source) at a time on this machine (an advisory lock the
    kernel drops when the process dies, however it dies)."""

    path: Path
    stream: str
    source: str
    _fd: int | None = field(default=None, repr=False)

    def __enter__(self) -> "SourceLock":
        private_dirs(self.path.parent)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise ConfigError(f"another ingest of source {self.source!r} into stream "
                              f"{self.stream!r} is running (lock {self.path})") from None
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(frozen=True)
class Plan:
    """What a run does first: ``resubmit`` the pending batch (then continue from its end),
    or continue from ``state`` as it is; ``rebuild`` when the position must come from the
    ledger's head batch (``head``)."""

    state: SourceState
    resubmit: Pending | None = None
    rebuild: bool = False


def reconcile(local: SourceState | None, stream: str, source: str, head_seq: int,
              head_id: str) -> Plan:
    """Decide from the local state and the ledger's chain head (``head_seq`` 0: no batch):

    - the pending batch is the head: it was committed; continue after it;
    - the head is the local head and a batch is pending: resubmit it;
    - the head is the local head: continue from the local position;
    - otherwise (no local state, or one the ledger contradicts): rebuild from the head.
    """
    if local is not None:
        pending = local.pending
        if pending is not None and head_id == pending.batch_id and head_seq == pending.seq:
            local.committed(pending)
            return Plan(local)
        if (head_seq, head_id) == (local.seq, local.batch_id):
            return Plan(local, resubmit=pending)
    fresh = SourceState(stream, source, head_seq, head_id)
    return Plan(fresh, rebuild=head_seq > 0)
