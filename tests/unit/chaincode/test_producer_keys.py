"""A producer opens the stream it writes to (it needs the data key to encrypt), audited
like an analyst; every other producer, and a writer whose organisation does not read the
stream, is refused by rule 'stream.open'."""

from __future__ import annotations

import json

import pytest

from ledgerlake import records
from ledgerlake.chaincode import contract
from ledgerlake.chaincode.ledger import composite_key
from ledgerlake.chaincode.memory import MemoryLedger, member
from ledgerlake.protocol import ErrorCode

from contract_world import refused

ORG1, ORG2, ORG3 = "Org1MSP", "Org2MSP", "Org3MSP"
admin1 = member(ORG1, "admin", "admin")
producer1, producer2 = member(ORG1, "producer", "producer"), member(ORG2, "producer", "p2")
producer3, auditor1 = member(ORG3, "producer", "p3"), member(ORG1, "auditor", "auditor")
SCHEMA = {"version": 1, "fields": [{"name": "sensor", "type": "string"}]}


@pytest.fixture
def ledger():
    led = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    led.invoke(admin1, "CreateStream", json.dumps({
        "id": "plant", "schema": SCHEMA, "writers": {"msp_ids": [ORG1]},
        "readers": [ORG1, ORG2], "wrapped_keys": {ORG1: "AAAA", ORG2: "BBBB"}}))
    return led


def legacy_writer(ledger, msp_id: str) -> None:
    """Make ``msp_id`` a writer that does not read the stream, as state written before
    writers had to be readers may hold."""
    key = composite_key("stream", "plant")
    raw, version = ledger.state[key]
    stream = json.loads(raw)
    stream["writers"]["msp_ids"] = sorted({*stream["writers"]["msp_ids"], msp_id})
    ledger.state[key] = (records.canonical(stream), version)


def open_stream(ledger, who, purpose="ingest from line-1") -> dict:
    return json.loads(ledger.invoke(who, "OpenStream", "plant",
                                    json.dumps({"purpose": purpose})))


def denied(why: str):
    return refused(ErrorCode.ACCESS_DENIED, rf"^access denied by rule 'stream.open': {why}")


def test_a_producer_of_a_writer_org_gets_its_org_key_audited(ledger):
    ticket = open_stream(ledger, producer1)["ticket"]
    keys = json.loads(ledger.query(producer1, "GetStreamKeys", "plant", ticket))
    assert keys["wrapped_keys"] == {"1": "AAAA"} and keys["msp_id"] == ORG1
    entries = json.loads(ledger.query(auditor1, "QueryAudit", json.dumps(
        {"by": "action", "value": "StreamOpened"})))["items"]
    assert [(e["actor"], e["purpose"]) for e in entries] == [
        ({"msp_id": ORG1, "id": "producer", "role": "producer"}, "ingest from line-1")]


def test_producers_of_other_orgs_and_other_roles_are_refused(ledger):
    with denied(r"only an analyst of a reader organisation or a producer of a writer "
                r"organisation that reads it opens a stream \(writers: Org1MSP; writer roles: "
                r"producer\); Org2MSP identity 'p2' has role 'producer'$"):
        open_stream(ledger, producer2)  # a reader org, but not a writer
    legacy_writer(ledger, ORG3)
    with denied("Org3MSP is not a reader of 'plant'$"):
        open_stream(ledger, producer3)  # a writer org that does not read
    with denied("only an analyst of a reader organisation or a producer"):
        open_stream(ledger, admin1)
    open_stream(ledger, producer1)


def test_a_producer_no_longer_a_writer_gets_no_key_with_an_older_ticket(ledger):
    ticket = open_stream(ledger, producer1)["ticket"]
    ledger.invoke(admin1, "UpdateStream", "plant", json.dumps({"writers": {"msp_ids": [ORG2]}}))
    with refused(ErrorCode.ACCESS_DENIED, r"^access denied by rule 'stream.open': only an "
                                          r"analyst of a reader organisation or a producer"):
        ledger.query(producer1, "GetStreamKeys", "plant", ticket)
    ledger.invoke(admin1, "UpdateStream", "plant", json.dumps({"writers": {"msp_ids": [ORG1]}}))
    assert json.loads(ledger.query(producer1, "GetStreamKeys", "plant", ticket))[
        "wrapped_keys"] == {"1": "AAAA"}
