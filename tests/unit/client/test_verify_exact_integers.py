"""A batch whose header writes 64-bit integers as exact JSON numbers (as a Go client may;
the contract normalises them with the stream's schema before checking the id) verifies
like the same batch written with decimal strings: it is not reported as tampered."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ledgerlake import records
from ledgerlake.client.batches import seal_batch
from ledgerlake.client.blocks import TransactionInfo
from ledgerlake.client.verify import verify_batch_against_transaction
from ledgerlake.errors import IntegrityError
from ledgerlake.protocol import Creator

SCHEMA = records.Schema.from_mapping({"version": 1, "fields": [
    {"name": "count", "type": "int", "public": True}, {"name": "value", "type": "float"}]})
BIG = 1700000000000000001
ROWS = [{"count": BIG + i, "value": i + 0.5} for i in range(3)]


def _tx(args) -> TransactionInfo:
    return TransactionInfo(0, "t1", "ledgerlake", "ENDORSER_TRANSACTION",
                           Creator("Org1MSP", b"", {}, "producer"),
                           dt.datetime.now(dt.timezone.utc), 0, "ledgerlake", "SubmitBatch",
                           args)


def test_exact_json_integers_in_the_header_verify():
    sealed = seal_batch(stream="plant", source="line-1", seq=1, prev_hash="",
                        schema=SCHEMA.to_mapping(), rows=ROWS, data_key=bytes(32), key_epoch=1,
                        time_start=BIG, time_end=BIG + 5)
    exact = json.loads(sealed.args[0])
    exact.update(time_start=BIG, time_end=BIG + 5, public={"count": [r["count"] for r in ROWS]})
    sent = json.dumps(exact).encode()  # Python writes the exact integers, no strings
    assert b'"time_start": 1700000000000000001' in sent and b'"count": [1700' in sent
    # world state keeps the batch as the contract stored it: canonical form
    state = {**json.loads(records.canonical(sealed.batch)), "tx_id": "t1",
             "producer": {"msp_id": "Org1MSP", "id": "producer"}}
    checked = verify_batch_against_transaction(state, sealed.id, _tx((sent, sealed.ciphertext)),
                                               SCHEMA)
    assert checked["time_start"] == BIG and checked["public"]["count"][0] == BIG
    assert checked["ciphertext"] == sealed.ciphertext
    changed = sent.replace(b'"time_end": 1700000000000000006', b'"time_end": 1700000000000000007')
    with pytest.raises(IntegrityError, match="changed or swapped"):
        verify_batch_against_transaction(state, sealed.id, _tx((changed, sealed.ciphertext)),
                                         SCHEMA)
