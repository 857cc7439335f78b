"""Turning records into a batch the chaincode accepts: validated, canonicalised,
committed (salted SHA-256 per record, Merkle root), encrypted, chained to the source's
previous batch, with a content-derived id."""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ledgerlake import records
from ledgerlake.client import encryption


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
               time_end: int | None = None) -> SealedBatch:
    """Build batch ``seq`` of ``source`` from ``rows``; raises RecordError for a bad record."""
    if not isinstance(schema, records.Schema):
        schema = records.Schema.from_mapping(schema)
    if not rows:
        raise records.RecordError("a batch needs at least one record")
    for i, row in enumerate(rows):
        records.validate_record(schema, row, f"record {i}")
    salts = tuple(os.urandom(16) for _ in rows)
    leaves = tuple(records.commitment(s, r) for s, r in zip(salts, rows))
    plaintext = records.canonical({"records": list(rows), "salts": [s.hex() for s in salts]})
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
        "payload": {"ciphertext": base64.b64encode(ciphertext).decode(),
                    "nonce": base64.b64encode(nonce).decode()},
    }
    batch["id"] = records.batch_id(batch)
    return SealedBatch(batch, {"records": plaintext}, salts, leaves)


def open_batch(batch: Mapping[str, Any], data_key: bytes) -> list[dict]:
    """Decrypt a batch and check every record against its commitments."""
    payload = batch["payload"]
    plaintext = encryption.decrypt(
        data_key, base64.b64decode(payload["nonce"]), base64.b64decode(payload["ciphertext"]),
        encryption.associated_data(batch["stream"], batch["source"], batch["seq"],
                                   batch["key_epoch"]))
    content = json.loads(plaintext)
    rows, salts = content["records"], content["salts"]
    where = f"batch {batch['id']}"
    if not len(rows) == len(salts) == batch["record_count"] == len(batch["public"]):
        raise records.RecordError(f"{where}: record, salt and public counts differ from "
                                  f"record_count")
    if records.batch_id(batch) != batch["id"]:
        raise records.RecordError(f"{where}: id is not the hash of the batch's content")
    leaves = [records.commitment(bytes.fromhex(s), r) for s, r in zip(salts, rows)]
    if records.merkle_root(leaves).hex() != batch["merkle_root"]:
        raise records.RecordError(f"{where}: records do not match its Merkle root")
    for i, (row, public) in enumerate(zip(rows, batch["public"])):
        if {k: row.get(k) for k in public} != public:
            raise records.RecordError(f"{where}: record {i} differs from its public fields")
    return rows


#: How a batch submit waits for a lagging endorser: peers of other organisations may
#: commit the source's previous batch a few milliseconds after the gateway peer did.
LAG_RETRIES = (0.05, 0.1, 0.2, 0.4, 0.8)


def submit_batch_flow(contract, sealed: SealedBatch, *, send_plaintext: bool = False,
                      endorsing_organizations: Sequence[str] = ()):
    """Endorse, order and commit one sealed batch; retried while an endorser lags behind.

    A peer that has not yet committed the source's previous batch reports a gap in the
    chain; such an endorsement is retried after a short pause, a few times, before the
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
            return json.loads((yield from submit_flow(proposal)))
        except EndorseError as exc:
            if pause is None or "(a gap)" not in str(exc):
                raise
        yield Pause(pause)


def submit_batch(contract, sealed: SealedBatch, **options):
    """``submit_batch_flow`` run by the contract's gateway (an awaitable when it is async)."""
    return contract.network.gateway.run(submit_batch_flow(contract, sealed, **options))
