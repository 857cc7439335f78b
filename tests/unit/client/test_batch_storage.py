"""Where a batch is stored: the header in world state, the ciphertext once, in the block.

The real client (typed API, proposals, qscc reads) talks to the contract on a MemoryLedger
whose Gateway keeps each committed transaction as a peer's block store does
(tests/memory_gateway.py); tampering with that copy stands for a tampered block."""

from __future__ import annotations

import json

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2, transaction_pb2

from ledgerlake import records
from ledgerlake.chaincode.ledger import composite_key
from ledgerlake.client import encryption
from ledgerlake.client.api import LedgerlakeContract
from ledgerlake.client.batches import (
    batch_from_transaction,
    checked_batch,
    fetch_batch,
    open_batch,
    seal_batch,
)
from ledgerlake.client.models import Writers
from ledgerlake.client.qscc import transaction_by_id
from ledgerlake.errors import IntegrityError, RecordError
from memory_gateway import MemoryGateway

SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "temperature_c", "type": "float", "min": -40, "max": 125}]}
ROWS = [{"sensor": "s1", "temperature_c": 20.5}, {"sensor": "s2", "temperature_c": 21.0}]


class World:
    def __init__(self):
        self.gateway = MemoryGateway()
        self.key = encryption.new_data_key()
        self.admin = LedgerlakeContract(self.gateway.contract("Org1MSP", "admin"))
        self.producer = LedgerlakeContract(self.gateway.contract("Org1MSP", "producer"))
        self.analyst = LedgerlakeContract(self.gateway.contract("Org1MSP", "analyst"))
        self.admin.create_stream("plant", SCHEMA, readers=["Org1MSP"],
                                 writers=Writers(("Org1MSP",)),
                                 wrapped_keys={"Org1MSP": "QQ=="})
        self.heads: dict[str, tuple[int, str]] = {}

    def seal(self, source="line-1", rows=ROWS, **options):
        seq, prev = self.heads.get(source, (0, ""))
        return seal_batch(stream="plant", source=source, seq=seq + 1, prev_hash=prev,
                          schema=SCHEMA, rows=rows, data_key=self.key, key_epoch=1, **options)

    def submit(self, sealed):
        receipt = self.producer.submit_batch(sealed)
        self.heads[sealed.batch["source"]] = (sealed.batch["seq"], sealed.id)
        return receipt

    def tamper(self, tx_id: str, ciphertext: bytes) -> None:
        """Rewrite the ciphertext argument of a committed transaction in the 'block'."""
        envelope_bytes, code = self.gateway.committed[tx_id]
        envelope = common_pb2.Envelope.FromString(envelope_bytes)
        payload = common_pb2.Payload.FromString(envelope.payload)
        tx = transaction_pb2.Transaction.FromString(payload.data)
        cap = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
        ccpp = proposal_pb2.ChaincodeProposalPayload.FromString(cap.chaincode_proposal_payload)
        spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(ccpp.input)
        spec.chaincode_spec.input.args[2] = ciphertext
        ccpp.input = spec.SerializeToString()
        cap.chaincode_proposal_payload = ccpp.SerializeToString()
        tx.actions[0].payload = cap.SerializeToString()
        payload.data = tx.SerializeToString()
        envelope.payload = payload.SerializeToString()
        self.gateway.committed[tx_id] = (envelope.SerializeToString(), code)


@pytest.fixture
def world():
    return World()


def test_the_ciphertext_is_in_the_block_once_and_nowhere_in_world_state(world):
    sealed = world.seal(rows=ROWS * 50)
    receipt = world.submit(sealed)
    ledger = world.gateway.ledger
    # world state: the header only, which reproduces the batch id
    for key, (value, _) in ledger.state.items():
        assert sealed.ciphertext not in value, key
    header = json.loads(ledger.state[composite_key("batch", "plant", sealed.id)][0])
    assert header["payload"] == {"encoding": "json+deflate",
                                 "nonce": sealed.batch["payload"]["nonce"],
                                 "sha256": records.payload_digest(sealed.ciphertext),
                                 "size": len(sealed.ciphertext)}
    assert records.batch_id(header) == sealed.id == receipt.id
    # the chaincode event and the audit entry name the batch, not its payload
    for _, event in ledger.events:
        assert sealed.ciphertext not in event and b"ciphertext" not in event
    # the block: the transaction's arguments are the header and the ciphertext, once
    envelope = world.gateway.committed[receipt.tx_id][0]
    assert envelope.count(sealed.ciphertext) == 1
    tx = transaction_by_id(world.producer.contract.network, receipt.tx_id)
    assert tx.function == "SubmitBatch" and tx.args == sealed.args


def test_get_batch_reads_the_header_from_state_and_the_payload_from_the_block(world):
    sealed = world.seal()
    receipt = world.submit(sealed)
    batch = world.analyst.get_batch("plant", sealed.id)
    assert batch.ciphertext == sealed.ciphertext and batch.tx_id == receipt.tx_id
    assert "ciphertext" not in batch.raw  # raw is what the ledger's state holds
    assert batch.open(world.key, records.Schema.from_mapping(SCHEMA)) == ROWS
    header_only = world.analyst.get_batch("plant", sealed.id, payload=False)
    assert header_only.ciphertext is None and header_only == batch
    with pytest.raises(RecordError, match=f"batch {sealed.id}: its ciphertext is not given; "
                                          f"it is stored in its transaction's block"):
        header_only.open(world.key, records.Schema.from_mapping(SCHEMA))


def test_batch_from_transaction_gives_what_was_submitted(world):
    sealed = world.seal()
    receipt = world.submit(sealed)
    network = world.producer.contract.network
    sent = batch_from_transaction(transaction_by_id(network, receipt.tx_id))
    as_sent = records.parse_json(records.canonical(sealed.batch))  # big integers as strings
    assert sent == {**as_sent, "tx_id": receipt.tx_id, "ciphertext": sealed.ciphertext}
    assert open_batch(SCHEMA, sent, world.key) == ROWS
    others = [transaction_by_id(network, tx_id) for tx_id in world.gateway.committed
              if tx_id != receipt.tx_id]
    assert [tx.function for tx in others] == ["CreateStream"]
    with pytest.raises(RecordError, match=f"transaction {others[0].tx_id} is not a SubmitBatch"):
        batch_from_transaction(others[0])


def test_an_altered_or_swapped_ciphertext_in_the_block_is_named(world):
    sealed, other = world.seal(), world.seal(source="line-2")
    receipt = world.submit(sealed)
    world.submit(other)
    schema = records.Schema.from_mapping(SCHEMA)
    flipped = bytes([sealed.ciphertext[0] ^ 0x80]) + sealed.ciphertext[1:]
    for bad in (flipped, other.ciphertext):
        world.tamper(receipt.tx_id, bad)
        batch = world.analyst.get_batch("plant", sealed.id)
        with pytest.raises(IntegrityError, match=f"^batch {sealed.id}: the ciphertext is not "
                                                 f"the one its header commits to") as err:
            batch.open(world.key, schema)
        assert err.value.check == "payload_sha256"


def test_a_header_pointing_at_another_transaction_is_named(world):
    first, second = world.seal(), world.seal(source="line-2")
    world.submit(first)
    elsewhere = world.submit(second).tx_id
    header = world.analyst.get_batch("plant", first.id, payload=False).raw
    network = world.analyst.contract.network
    with pytest.raises(IntegrityError, match=f"batch {first.id}: its transaction {elsewhere} "
                                             f"holds batch {second.id}"):
        fetch_batch(network, {**header, "tx_id": elsewhere})
    with pytest.raises(RecordError, match=f"batch {first.id} does not name its transaction"):
        fetch_batch(network, {**header, "tx_id": "nope"})


def test_an_off_chain_payload_is_recorded_by_its_digest_and_opened_with_its_bytes(world):
    sealed = world.seal(payload_uri="file:///lake/plant/line-1/1.bin")
    assert len(sealed.args) == 1  # the transaction carries the header only
    receipt = world.submit(sealed)
    assert receipt.id == sealed.id
    batch = world.analyst.get_batch("plant", sealed.id)
    assert batch.ciphertext is None and batch.payload["uri"] == "file:///lake/plant/line-1/1.bin"
    schema = records.Schema.from_mapping(SCHEMA)
    with pytest.raises(RecordError, match="stored off-chain at file:///lake/plant/line-1/1.bin"):
        batch.open(world.key, schema)
    assert batch.open(world.key, schema, ciphertext=sealed.ciphertext) == ROWS
    with pytest.raises(IntegrityError, match=f"batch {sealed.id}: the ciphertext is not"):
        batch.open(world.key, schema, ciphertext=world.seal().ciphertext)


def test_the_contract_refuses_a_ciphertext_its_header_does_not_name(world):
    from ledgerlake.errors import EndorseError
    sealed = world.seal()
    contract = world.producer.contract
    for args, match in (
            ((records.canonical(sealed.batch),), "needs the ciphertext as its second argument"),
            ((records.canonical(sealed.batch), sealed.ciphertext[:-1]), "does not match"),
            ((records.canonical(sealed.batch), world.seal(source="x").ciphertext),
             "does not match"),
            ((records.canonical(world.seal(payload_uri="s3://b/1").batch), sealed.ciphertext),
             "send no ciphertext argument")):
        with pytest.raises(EndorseError, match=match):
            contract.submit("SubmitBatch", args)


def test_check_batch_needs_no_key_and_names_what_fails(world):
    sealed = world.seal()
    receipt = world.submit(sealed)
    fetched = fetch_batch(world.analyst.contract.network,
                          world.analyst.get_batch("plant", sealed.id, payload=False).raw)
    header, ciphertext = checked_batch(fetched, schema=SCHEMA)
    assert header["id"] == sealed.id and ciphertext == sealed.ciphertext
    assert fetched["tx_id"] == receipt.tx_id
    assert set(header) == {*records.BATCH_FIELDS, "id"}  # what the batch id covers, no more
    with pytest.raises(IntegrityError, match=f"^batch {sealed.id}: the ciphertext is not"):
        checked_batch({**fetched, "ciphertext": fetched["ciphertext"][:-1]})
    with pytest.raises(RecordError, match="id is not the hash"):
        checked_batch({**fetched, "seq": 2, "prev_hash": "ab" * 32})
    with pytest.raises(RecordError, match="has schema version 1, not the given schema's 2"):
        checked_batch(fetched, schema={**SCHEMA, "version": 2})
