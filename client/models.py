"""What the ledgerlake contract answers, as frozen dataclasses.

Each type is built from the contract's JSON answer by ``from_json``, which reads the fields
it knows and keeps the whole answer in ``raw`` (so a field the contract adds later is not
lost, and ``--json`` output shows exactly what the ledger holds). Nanosecond times are read
by ``nanos``: the canonical JSON may carry integers above 2^53 as decimal strings, which
JavaScript clients cannot otherwise read exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Mapping, TypeVar

from ledgerlake import records
from ledgerlake.records import Schema

T = TypeVar("T")


def nanos(value: Any, what: str = "time") -> int:
    """A nanosecond timestamp (or any 64-bit integer) by the record format's integer rule:
    a JSON integer, or beyond ±(2^53−1) its decimal string. Raises RecordError."""
    return records.int64(value, what)


def _opt_nanos(value: Any, what: str) -> int | None:
    return None if value is None else nanos(value, what)


def _raw() -> Any:
    return field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Member:
    """Who did something: MSP ID and enrollment id (and role, in audit entries)."""

    msp_id: str
    id: str
    role: str = ""

    @classmethod
    def from_json(cls, data: Mapping) -> "Member":
        return cls(data.get("msp_id", ""), data.get("id", ""), data.get("role", ""))

    def __str__(self) -> str:
        return f"{self.msp_id}/{self.id}"


@dataclass(frozen=True)
class Writers:
    """Who may submit batches to a stream: organisations and roles within them."""

    msp_ids: tuple[str, ...]
    roles: tuple[str, ...] = ("producer",)

    def to_json(self) -> dict:
        return {"msp_ids": list(self.msp_ids), "roles": list(self.roles)}

    @classmethod
    def from_json(cls, data: Mapping) -> "Writers":
        return cls(tuple(data.get("msp_ids", ())), tuple(data.get("roles", ())))


@dataclass(frozen=True)
class Stream:
    """A stream's definition: owner, schema, writers, readers, key epoch and status."""

    id: str
    owner: str
    description: str
    schema: Schema
    writers: Writers
    readers: tuple[str, ...]
    epoch: int
    shredded: tuple[int, ...]
    status: str
    max_age_seconds: int
    created: int
    updated: int
    raw: dict = _raw()

    @property
    def active(self) -> bool:
        return self.status == "active"

    @classmethod
    def from_json(cls, data: Mapping) -> "Stream":
        return cls(data["id"], data["owner"], data.get("description", ""),
                   Schema.from_mapping(data["schema"]), Writers.from_json(data["writers"]),
                   tuple(data.get("readers", ())), int(data["epoch"]),
                   tuple(int(e) for e in data.get("shredded", ())), data["status"],
                   int(data["max_age_seconds"]), nanos(data["created"], "created"),
                   nanos(data["updated"], "updated"), dict(data))


@dataclass(frozen=True)
class OrgKey:
    """An organisation's published X25519 public key (PEM), used to wrap data keys for it."""

    msp_id: str
    public_key: str
    updated: int
    raw: dict = _raw()

    def wrap(self, data_key: bytes, *, stream: str, epoch: int) -> str:
        """``data_key`` (of ``stream``'s key ``epoch``) wrapped for this organisation."""
        from ledgerlake.client.encryption import wrap_key
        return wrap_key(data_key, self.public_key, stream=stream, epoch=epoch,
                        msp_id=self.msp_id)

    @classmethod
    def from_json(cls, data: Mapping) -> "OrgKey":
        return cls(data["msp_id"], data["public_key"], nanos(data["updated"], "updated"),
                   dict(data))


@dataclass(frozen=True)
class BatchReceipt:
    """What SubmitBatch answers: the batch id, its transaction, its place in the chain."""

    id: str
    tx_id: str
    seq: int
    plaintext_checked: bool
    raw: dict = _raw()

    @classmethod
    def from_json(cls, data: Mapping) -> "BatchReceipt":
        return cls(data["id"], data["tx_id"], int(data["seq"]),
                   bool(data.get("plaintext_checked", False)), dict(data))


@dataclass(frozen=True)
class Batch:
    """A recorded batch: its header as world state keeps it (ids, chain, Merkle root, public
    fields, the payload's nonce, digest and size or off-chain pointer, producer,
    transaction) and, once fetched from its block (``api.get_batch``), its ciphertext."""

    id: str
    stream: str
    source: str
    seq: int
    prev_hash: str
    schema_version: int
    time_start: int
    time_end: int
    record_count: int
    merkle_root: str
    public: dict  # {public field: (its value in each record, in record order)}
    key_epoch: int
    payload: dict
    producer: Member
    tx_id: str
    recorded: int
    plaintext_checked: bool
    raw: dict = _raw()  # the header, as the contract answered it
    ciphertext: bytes | None = field(default=None, compare=False, repr=False)

    def open(self, data_key: bytes, schema: Schema, *, ciphertext: bytes | None = None
             ) -> list[dict]:
        """The batch's records, decrypted and checked against its header (the payload's
        digest, the batch id, the commitments) and the stream's ``schema``
        (``Stream.schema``). ``ciphertext`` is for an off-chain payload read from its URI;
        otherwise the one fetched from the block is used."""
        from ledgerlake.client.batches import open_batch
        return open_batch(schema, self.raw, data_key,
                          ciphertext=self.ciphertext if ciphertext is None else ciphertext)

    @classmethod
    def from_json(cls, data: Mapping) -> "Batch":
        """A header (GetBatch, ListBatches), or a fetched batch whose ``"ciphertext"``
        (bytes) is kept apart from ``raw``."""
        ciphertext = data.get("ciphertext")
        if ciphertext is not None:
            data = {k: v for k, v in data.items() if k != "ciphertext"}
        return cls(data["id"], data["stream"], data["source"], int(data["seq"]),
                   data["prev_hash"], int(data["schema_version"]),
                   nanos(data["time_start"], "time_start"), nanos(data["time_end"], "time_end"),
                   int(data["record_count"]), data["merkle_root"],
                   {name: tuple(column) for name, column in data.get("public", {}).items()},
                   int(data["key_epoch"]),
                   dict(data.get("payload", {})), Member.from_json(data.get("producer", {})),
                   data.get("tx_id", ""), nanos(data.get("recorded", 0), "recorded"),
                   bool(data.get("plaintext_checked", False)), dict(data),
                   bytes(ciphertext) if ciphertext is not None else None)


@dataclass(frozen=True)
class SourceHead:
    """The last batch of a source's chain: its seq and id, and the organisation owning it."""

    seq: int
    batch_id: str
    msp_id: str

    @classmethod
    def from_json(cls, data: Mapping) -> "SourceHead":
        return cls(int(data["seq"]), data["batch_id"], data.get("msp_id", ""))


@dataclass(frozen=True)
class HeadChange:
    """One change to a source's chain head (GetBatchHistory): when, in which transaction."""

    tx_id: str
    time: int
    head: SourceHead | None
    raw: dict = _raw()

    @classmethod
    def from_json(cls, data: Mapping) -> "HeadChange":
        head = data.get("head")
        return cls(data["tx_id"], nanos(data["time"], "time"),
                   SourceHead.from_json(head) if head else None, dict(data))


@dataclass(frozen=True)
class Ticket:
    """What a submitted OpenStream issues: the audited right to fetch the org's keys."""

    ticket: str  # the OpenStream transaction id
    stream: str
    msp_id: str
    holder: str  # the enrollment id it was issued to
    epochs: tuple[int, ...]
    purpose: str
    scope: dict
    issued: int
    expires: int
    raw: dict = _raw()

    @classmethod
    def from_json(cls, data: Mapping) -> "Ticket":
        return cls(data["ticket"], data["stream"], data["msp_id"], data.get("id", ""),
                   tuple(int(e) for e in data.get("epochs", ())), data.get("purpose", ""),
                   dict(data.get("scope", {})), nanos(data["issued"], "issued"),
                   nanos(data["expires"], "expires"), dict(data))


@dataclass(frozen=True)
class StreamKeys:
    """The caller's organisation's wrapped data keys of a stream, by key epoch."""

    stream: str
    msp_id: str
    wrapped_keys: dict  # {epoch: base64 wrapped key}
    shredded: tuple[int, ...]
    ticket: str
    raw: dict = _raw()

    def unwrap(self, org_key) -> dict[int, bytes]:
        """The data keys, unwrapped with the organisation's X25519 private key."""
        from ledgerlake.client.encryption import unwrap_key
        return {epoch: unwrap_key(wrapped, org_key, stream=self.stream, epoch=epoch,
                                  msp_id=self.msp_id)
                for epoch, wrapped in self.wrapped_keys.items()}

    @classmethod
    def from_json(cls, data: Mapping) -> "StreamKeys":
        return cls(data["stream"], data["msp_id"],
                   {int(e): k for e, k in data.get("wrapped_keys", {}).items()},
                   tuple(int(e) for e in data.get("shredded", ())), data.get("ticket", ""),
                   dict(data))


@dataclass(frozen=True)
class AuditEntry:
    """One audited action: who, when, what on which target, and its details (``extra``)."""

    tx_id: str
    time: int
    action: str
    actor: Member
    target: dict
    outcome: str
    extra: dict
    raw: dict = _raw()

    _KNOWN = frozenset({"tx_id", "time", "action", "actor", "target", "outcome"})

    @classmethod
    def from_json(cls, data: Mapping) -> "AuditEntry":
        return cls(data["tx_id"], nanos(data["time"], "time"), data["action"],
                   Member.from_json(data.get("actor", {})), dict(data.get("target", {})),
                   data.get("outcome", ""),
                   {k: v for k, v in data.items() if k not in cls._KNOWN}, dict(data))


@dataclass(frozen=True)
class LineageEntry:
    """An anchored lineage receipt: its content hash, the receipt, who anchored it when."""

    id: str
    receipt: dict
    tx_id: str
    anchored: int
    by: Member
    raw: dict = _raw()

    @classmethod
    def from_json(cls, data: Mapping) -> "LineageEntry":
        return cls(data["id"], dict(data["receipt"]), data.get("tx_id", ""),
                   nanos(data["anchored"], "anchored"), Member.from_json(data.get("by", {})),
                   dict(data))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a paginated answer; an empty ``bookmark`` means it is the last."""

    items: tuple[T, ...]
    bookmark: str = ""

    @property
    def more(self) -> bool:
        return bool(self.bookmark)

    @classmethod
    def parser(cls, item: Callable[[Mapping], T]) -> Callable[[Mapping], "Page[T]"]:
        def parse(data: Mapping) -> "Page[T]":
            return cls(tuple(item(x) for x in data.get("items", ())),
                       str(data.get("bookmark", "") or ""))
        return parse


__all__ = ["AuditEntry", "Batch", "BatchReceipt", "HeadChange", "LineageEntry", "Member",
           "OrgKey", "Page", "SourceHead", "Stream", "StreamKeys", "Ticket", "Writers",
           "nanos"]
