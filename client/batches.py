"""Turning records into a batch the chaincode accepts: validated, canonicalised,
committed (salted SHA-256 per record, Merkle root), encrypted, chained to the source's
previous batch, with a content-derived id; reading a batch's ciphertext back from its
block; and opening a batch again, decided by the one record rule
(``records.verify_batch_records``).

Where a batch lives: SubmitBatch takes the batch header (canonical JSON: ids, chain, Merkle
root, public fields, and a payload field with the ciphertext's nonce, SHA-256 and size) and
the ciphertext as a second argument of raw bytes. World state keeps the header only; the
ciphertext is stored once, in the transaction inside its block, and readers fetch it from
there (``fetch_batch``). The batch id hashes the header, so the header alone reproduces it
and it binds the ciphertext through its digest. A ciphertext kept off-chain
(``seal_batch(..., payload_uri=...)``) is stored by the caller at that URI; the header then
carries the URI too and the transaction no ciphertext."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Sequence

from ledgerlake import fastrecords, records
from ledgerlake.client import encryption
from ledgerlake.errors import IntegrityError
from ledgerlake.protocol import ErrorCode, Function, error_code

if TYPE_CHECKING:
    from ledgerlake.client.blocks import TransactionInfo


@dataclass(frozen=True)
class SealedBatch:
    batch: dict  # the header SubmitBatch receives (no plaintext, no ciphertext)
    ciphertext: bytes  # the encrypted payload: SubmitBatch's second argument, or off-chain
    transient: dict  # {"records": plaintext JSON} for reader-org endorsers only
    salts: tuple[bytes, ...]
    commitments: tuple[bytes, ...]

    @property
    def id(self) -> str:
        return self.batch["id"]

    @property
    def offchain(self) -> bool:
        return "uri" in self.batch["payload"]

    @property
    def args(self) -> tuple[bytes, ...]:
        """SubmitBatch's arguments: the canonical header, then the ciphertext unless it is
        stored off-chain."""
        header = records.canonical(self.batch)
        return (header,) if self.offchain else (header, self.ciphertext)


def seal_batch(*, stream: str, source: str, seq: int, prev_hash: str,
               schema: records.Schema | Mapping, rows: Sequence[Mapping[str, Any]],
               data_key: bytes, key_epoch: int, time_start: int | None = None,
               time_end: int | None = None, payload_uri: str | None = None,
               encoding: str = "json+deflate", cursor: Any = None,
               normalised: bool = False) -> SealedBatch:
    """Build batch ``seq`` of ``source`` from ``rows``; raises RecordError for a bad record.

    ``encoding`` is how the plaintext is encrypted (``records.PAYLOAD_ENCODINGS``: compressed
    by default; "json" keeps the ciphertext's length from telling how compressible the
    records were). With ``payload_uri`` the ciphertext is to be stored off-chain at that URI
    (by the caller: ``SealedBatch.ciphertext``); the header carries the URI and its digest.
    ``cursor``: the producer's position in its input after the last row, kept encrypted in
    the plaintext (``records.batch_plaintext``) so an ingest resumes from the ledger alone.
    ``normalised``: the rows already came out of ``records.validate_record`` with this
    schema (an ingest validates each row once, to reject it alone)."""
    if not isinstance(schema, records.Schema):
        schema = records.Schema.from_mapping(schema)
    if not rows:
        raise records.RecordError("a batch needs at least one record")
    if not normalised:
        rows = fastrecords.validate_records(schema, rows)
    pool = os.urandom(16 * len(rows))  # one system call for the batch's salts
    salts = tuple(pool[i:i + 16] for i in range(0, len(pool), 16))
    # the rows are normalised now (here, or by the ingest that validated each one)
    leaves, plaintext = fastrecords.seal(schema, rows, salts, cursor, normalised=True)
    nonce, ciphertext = encryption.encrypt(
        data_key, records.encode_plaintext(plaintext, encoding),
        encryption.associated_data(stream, source, seq, key_epoch))
    now = time.time_ns()
    batch = {
        "stream": stream, "source": source, "seq": seq, "prev_hash": prev_hash,
        "schema_version": schema.version,
        "time_start": now if time_start is None else time_start,
        "time_end": now if time_end is None else time_end,
        "record_count": len(rows), "merkle_root": fastrecords.merkle_root(leaves).hex(),
        "public": records.public_columns(schema, rows), "key_epoch": key_epoch,
        "payload": {"encoding": encoding, "nonce": encryption.b64encode(nonce),
                    "sha256": records.payload_digest(ciphertext), "size": len(ciphertext)},
    }
    if payload_uri is not None:
        batch["payload"]["uri"] = payload_uri
    records.check_payload(batch["payload"])
    batch["id"] = records.batch_id(batch)
    return SealedBatch(batch, ciphertext, {"records": plaintext}, salts, tuple(leaves))


def checked_batch(batch: Mapping[str, Any] | SealedBatch, *,
                  ciphertext: bytes | None = None,
                  schema: records.Schema | Mapping | None = None) -> tuple[dict, bytes]:
    """The batch's header (shape checked, integers normalised, its id recomputed) and its
    ciphertext, once that ciphertext is the one the header commits to: what anyone can
    check without the data key (an auditor, ``verify``). ``batch`` and ``ciphertext`` as
    ``open_batch`` takes them; with the stream's ``schema`` the public fields are checked
    too. Raises RecordError (a broken rule; the ciphertext missing, naming where it is
    stored) or IntegrityError (``check="payload_sha256"``: not the ciphertext the header's
    digest and size name)."""
    if isinstance(batch, SealedBatch):
        batch, ciphertext = batch.batch, batch.ciphertext if ciphertext is None else ciphertext
    if ciphertext is None:
        ciphertext = batch.get("ciphertext")
    if schema is not None and not isinstance(schema, records.Schema):
        schema = records.Schema.from_mapping(schema)
    if schema is not None and batch.get("schema_version") != schema.version:
        raise records.RecordError(f"batch {batch.get('id')} has schema version "
                                  f"{batch.get('schema_version')}, not the given schema's "
                                  f"{schema.version}")
    header = {k: batch[k] for k in (*records.BATCH_FIELDS, "id") if k in batch}
    header = records.validate_batch_shape(header) if schema is None else \
        fastrecords.validate_batch_shape(header, schema)  # the same decision
    where, payload = f"batch {header['id']}", header["payload"]
    if not isinstance(ciphertext, (bytes, bytearray)):
        where_it_is = (f"off-chain at {payload['uri']}" if "uri" in payload else
                       "in its transaction's block (fetch_batch or api.get_batch)")
        raise records.RecordError(f"{where}: its ciphertext is not given; it is stored "
                                  f"{where_it_is}")
    if not records.ciphertext_matches(payload, bytes(ciphertext)):
        raise IntegrityError(f"{where}: the ciphertext is not the one its header commits to "
                             f"(payload.sha256 and size)", check="payload_sha256")
    return header, bytes(ciphertext)


def open_batch(schema: records.Schema | Mapping, batch: Mapping[str, Any] | SealedBatch,
               data_key: bytes, *, ciphertext: bytes | None = None) -> list[dict]:
    """Decrypt ``batch`` and return its records; see ``open_batch_with_cursor``."""
    return open_batch_with_cursor(schema, batch, data_key, ciphertext=ciphertext)[0]


def open_batch_with_cursor(schema: records.Schema | Mapping,
                           batch: Mapping[str, Any] | SealedBatch, data_key: bytes, *,
                           ciphertext: bytes | None = None) -> tuple[list[dict], Any]:
    """Decrypt ``batch`` and return its records, normalised, and the producer's cursor kept
    in the plaintext (None when the batch has none); see ``open_batch_verified``."""
    opened = open_batch_verified(schema, batch, data_key, ciphertext=ciphertext)
    return opened.records, opened.cursor


class OpenedBatch(NamedTuple):
    """A batch's plaintext once decided: what a record's inclusion proof is made of."""

    records: list[dict]  # normalised, in batch order
    salts: list[str]  # hex, one per record
    commitments: list[bytes]  # the Merkle leaves, SHA-256(salt ‖ canonical record)
    cursor: Any  # the producer's position after the last record; None when absent


def open_batch_verified(schema: records.Schema | Mapping,
                        batch: Mapping[str, Any] | SealedBatch, data_key: bytes, *,
                        ciphertext: bytes | None = None) -> OpenedBatch:
    """Decrypt ``batch`` (a stream's batch under that stream's ``schema``) once
    ``checked_batch`` has established that the ciphertext is the one the batch's header
    commits to, and return its records with their salts and commitments (for a record's
    inclusion proof) and cursor once ``records.verify_batch_records`` has decided that the
    records are exactly the ones the batch commits to. The one path by which a client opens
    a batch (``open_batch``, ``open_batch_with_cursor``, ``verify.prove_record``).

    ``batch`` is a header with its ciphertext under ``"ciphertext"`` (as ``fetch_batch`` and
    ``batch_from_transaction`` return it), a header and ``ciphertext`` (e.g. fetched from
    an off-chain payload's URI), or a ``SealedBatch``.

    Raises RecordError when the batch or its records break a rule (id, shape, counts,
    schema, public fields, Merkle root) or its ciphertext is missing, IntegrityError when
    the ciphertext is not the one the header's digest names, and DecryptionError when it
    does not decrypt with ``data_key`` in the batch's context."""
    if not isinstance(schema, records.Schema):
        schema = records.Schema.from_mapping(schema)
    batch, ciphertext = checked_batch(batch, ciphertext=ciphertext, schema=schema)
    where, payload = f"batch {batch['id']}", batch["payload"]
    what = f"the payload of {where}"
    decrypted = encryption.decrypt(
        data_key, encryption.b64decode(payload["nonce"], f"{what} (nonce)"), ciphertext,
        encryption.associated_data(batch["stream"], batch["source"], batch["seq"],
                                   batch["key_epoch"]), what=what)
    plaintext = records.decode_plaintext(decrypted, payload["encoding"], what)
    fast = fastrecords.open_plaintext(schema, batch, plaintext)  # the same rule, in C
    if fast is not None:
        return OpenedBatch(*fast)
    rows, salts, cursor = records.batch_plaintext(
        records.parse_json(plaintext, f"the plaintext of {where}"), f"the plaintext of {where}")
    rows, leaves = records.verified_records(schema, batch, rows, salts, where)
    return OpenedBatch(rows, list(salts), leaves, cursor)


# -- reading a batch's ciphertext back from its block ---------------------------------------
def batch_from_transaction(tx: TransactionInfo) -> dict:
    """The batch a SubmitBatch transaction submitted: its header as sent (parsed, not yet
    checked: ``open_batch`` checks it) with the ciphertext under ``"ciphertext"`` (bytes;
    absent when the payload is off-chain) and the transaction's id under ``"tx_id"``.
    RecordError when ``tx`` is not a SubmitBatch transaction or its arguments do not parse.
    The transaction's validity is the caller's to check (``tx.valid``)."""
    if tx.decode_error or tx.function != Function.SUBMIT_BATCH or not 1 <= len(tx.args) <= 2:
        raise records.RecordError(f"transaction {tx.tx_id} is not a SubmitBatch transaction")
    header = records.parse_json(tx.args[0], f"the batch of transaction {tx.tx_id}")
    if not isinstance(header, dict) or "id" not in header:
        raise records.RecordError(f"the batch of transaction {tx.tx_id} is not a batch header")
    batch = {**header, "tx_id": tx.tx_id}
    if len(tx.args) == 2:
        batch["ciphertext"] = bytes(tx.args[1])
    return batch


def fetch_batch_flow(network, header: Mapping[str, Any]):
    """The batch named by ``header`` (a batch as world state keeps it, e.g. GetBatch's
    answer: it names its transaction) with its ciphertext read from the block that holds
    that transaction, through the peer's qscc. Raises IntegrityError when that transaction
    is invalid or holds another batch. An off-chain payload is not fetched (no
    ``"ciphertext"``: the caller reads it from ``payload.uri``)."""
    from ledgerlake.client.qscc import transaction_by_id_flow

    batch_id, tx_id = header.get("id"), header.get("tx_id")
    if not isinstance(tx_id, str) or not records.HEX64.fullmatch(tx_id):
        raise records.RecordError(f"batch {batch_id} does not name its transaction (tx_id)")
    if "uri" in (header.get("payload") or {}):
        return dict(header)
    tx = yield from transaction_by_id_flow(network, tx_id)
    if not tx.valid or tx.tx_id != tx_id:
        state = tx.validation_code_name if tx.tx_id == tx_id else "not in the ledger"
        raise IntegrityError(f"batch {batch_id}: its transaction {tx_id} is {state}",
                             check="transaction")
    sent = batch_from_transaction(tx)
    if sent["id"] != batch_id:
        raise IntegrityError(f"batch {batch_id}: its transaction {tx_id} holds batch "
                             f"{str(sent['id'])[:64]}", check="transaction")
    fetched = dict(header)
    if "ciphertext" in sent:
        fetched["ciphertext"] = sent["ciphertext"]
    return fetched


def fetch_batch(network, header: Mapping[str, Any]) -> dict:
    """``fetch_batch_flow`` run by the network's gateway (an awaitable when it is async)."""
    return network.gateway.run(fetch_batch_flow(network, header))


def is_chain_gap(error: Exception) -> bool:
    """Whether an endorsement failed only because a peer has not yet committed the
    source's previous batch: some peer reported the contract's ``CHAIN_GAP`` code."""
    details = getattr(error, "details", ())
    return any(error_code(d.message) == ErrorCode.CHAIN_GAP for d in details)


#: How a batch submit waits for a lagging endorser: peers of other organisations may
#: commit the source's previous batch a few milliseconds after the gateway peer did.
LAG_RETRIES = (0.05, 0.1, 0.2, 0.4, 0.8)


def submit_batch_flow(contract, sealed: SealedBatch, *, send_plaintext: bool = False,
                      endorsing_organizations: Sequence[str] = ()):
    """Endorse, order and commit one sealed batch; retried while an endorser lags behind.

    A peer that has not yet committed the source's previous batch reports ``CHAIN_GAP``
    (``is_chain_gap``); such an endorsement is retried after a short pause, a few times, before the
    EndorseError is raised. ``send_plaintext`` sends the records as transient data, which
    only endorsers of reader organisations may receive (name them).
    """
    from ledgerlake.client.rpc import Pause
    from ledgerlake.client.transaction import submit_flow
    from ledgerlake.errors import EndorseError

    if send_plaintext and not endorsing_organizations:
        from ledgerlake.errors import ConfigError
        raise ConfigError("send_plaintext needs endorsing_organizations: name the stream's "
                          "reader organisations, the only ones that may see the records")
    transient = sealed.transient if send_plaintext else None
    for pause in (*LAG_RETRIES, None):
        proposal = contract.new_proposal(
            Function.SUBMIT_BATCH, sealed.args, transient=transient,
            endorsing_organizations=endorsing_organizations)
        try:
            return records.parse_json((yield from submit_flow(proposal)), "SubmitBatch's answer")
        except EndorseError as exc:
            if pause is None or not is_chain_gap(exc):
                raise
        yield Pause(pause)


def submit_batch(contract, sealed: SealedBatch, **options):
    """``submit_batch_flow`` run by the contract's gateway (an awaitable when it is async)."""
    return contract.network.gateway.run(submit_batch_flow(contract, sealed, **options))
