"""Turning records into a batch the chaincode accepts: validated, canonicalised,
committed (salted SHA-256 per record, Merkle root), encrypted, chained to the source's
previous batch, with a content-derived id; and opening a batch again, decided by the one
record rule (``records.verify_batch_records``)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ledgerlake import records
from ledgerlake.client import encryption
from ledgerlake.protocol import ErrorCode, error_code


@dataclass(frozen=True)
class SealedBatch:
    batch: dict  # what SubmitBatch receives (no plaintext)
    transient: dict  # {"records": plaintext JSON} for reader-org endorsers only
    salts: tuple[bytes, ...]
    commitments: tuple[bytes, ...]

    @property
    def id(self) -> str:
        return self.batch["id"]


def seal_batch(*, stream: str, source: str, seq: int, prev_hash: str,
               schema: records.Schema | Mapping, rows: Sequence[Mapping[str, Any]],
               data_key: bytes, key_epoch: int, time_start: int | None = None,
               time_end: int | None = None, cursor: Any = None,
               normalised: bool = False) -> SealedBatch:
    """Build batch ``seq`` of ``source`` from ``rows``; raises RecordError for a bad record.

    ``cursor``: the producer's position in its input after the last row, kept encrypted in
    the plaintext (``records.batch_plaintext``) so an ingest resumes from the ledger alone.
    ``normalised``: the rows already came out of ``records.validate_record`` with this
    schema (an ingest validates each row once, to reject it alone)."""
    if not isinstance(schema, records.Schema):
        schema = records.Schema.from_mapping(schema)
    if not rows:
        raise records.RecordError("a batch needs at least one record")
    if not normalised:
        rows = [records.validate_record(schema, row, f"record {i}")
                for i, row in enumerate(rows)]
    salts = tuple(os.urandom(16) for _ in rows)
    leaves, plaintext = records.seal_records(rows, salts, cursor)
    nonce, ciphertext = encryption.encrypt(
        data_key, plaintext, encryption.associated_data(stream, source, seq, key_epoch))
    now = time.time_ns()
    batch = {
        "stream": stream, "source": source, "seq": seq, "prev_hash": prev_hash,
        "schema_version": schema.version,
        "time_start": now if time_start is None else time_start,
        "time_end": now if time_end is None else time_end,
        "record_count": len(rows), "merkle_root": records.merkle_root(leaves).hex(),
        "public": [records.public_part(schema, r) for r in rows], "key_epoch": key_epoch,
        "payload": {"ciphertext": encryption.b64encode(ciphertext),
                    "nonce": encryption.b64encode(nonce)},
    }
    batch["id"] = records.batch_id(batch)
    return SealedBatch(batch, {"records": plaintext}, salts, tuple(leaves))


def open_batch(schema: records.Schema | Mapping, batch: Mapping[str, Any],
               data_key: bytes) -> list[dict]:
    """Decrypt ``batch`` (a stream's batch under that stream's ``schema``) and return its
    records, normalised, once ``records.verify_batch_records`` has decided that they are
    exactly the records the batch commits to.

    Raises RecordError when the batch or its records break a rule (id, shape, counts,
    schema, public fields, Merkle root) and DecryptionError when the payload does not
    decrypt with ``data_key`` in the batch's context."""
    return open_batch_with_cursor(schema, batch, data_key)[0]


def open_batch_with_cursor(schema: records.Schema | Mapping, batch: Mapping[str, Any],
                           data_key: bytes) -> tuple[list[dict], Any]:
    """``open_batch``'s records and the producer's cursor kept in the plaintext (None when
    the batch has none)."""
    if not isinstance(schema, records.Schema):
        schema = records.Schema.from_mapping(schema)
    if batch.get("schema_version") != schema.version:
        raise records.RecordError(f"batch {batch.get('id')} has schema version "
                                  f"{batch.get('schema_version')}, not the given schema's "
                                  f"{schema.version}")
    batch = records.validate_batch_shape(
        {k: batch[k] for k in (*records.BATCH_FIELDS, "id") if k in batch}, schema)
    where = f"batch {batch['id']}"
    payload = batch["payload"]
    if "ciphertext" not in payload:
        raise records.RecordError(f"{where}: its payload is off-chain ({payload.get('uri')}); "
                                  f"fetch it and check its sha256 first")
    what = f"the payload of {where}"
    plaintext = encryption.decrypt(
        data_key, encryption.b64decode(payload["nonce"], f"{what} (nonce)"),
        encryption.b64decode(payload["ciphertext"], what),
        encryption.associated_data(batch["stream"], batch["source"], batch["seq"],
                                   batch["key_epoch"]), what=what)
    rows, salts, cursor = records.batch_plaintext(
        records.parse_json(plaintext, f"the plaintext of {where}"), f"the plaintext of {where}")
    return records.verified_records(schema, batch, rows, salts, where)[0], cursor


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
            "SubmitBatch", [records.canonical(sealed.batch)], transient=transient,
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
