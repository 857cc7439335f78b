"""Every writer organisation of a stream also reads it (writers encrypt with the stream's
data key, which reaches an organisation only wrapped for it as a reader): enforced by
CreateStream, UpdateStream and RevokeReader, and a refusal changes nothing."""

from __future__ import annotations

import json

import pytest

from ledgerlake.chaincode import contract
from ledgerlake.chaincode.ledger import ChaincodeError, composite_key
from ledgerlake.chaincode.memory import MemoryLedger, member
from ledgerlake.protocol import ErrorCode, error_code

ORG1, ORG2, ORG3 = "Org1MSP", "Org2MSP", "Org3MSP"
admin1 = member(ORG1, "admin", "admin")
SCHEMA = {"version": 1, "fields": [{"name": "v", "type": "int"}]}


def spec(readers, writers, **over):
    value = {"id": "plant", "schema": SCHEMA, "writers": {"msp_ids": writers},
             "readers": readers, "wrapped_keys": {m: "QUFB" for m in readers}}
    value.update(over)
    return json.dumps(value)


def stored(ledger):
    raw = ledger.state.get(composite_key("stream", "plant"))
    return json.loads(raw[0]) if raw else None


@pytest.fixture
def ledger():
    led = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    led.invoke(admin1, "CreateStream", spec([ORG1, ORG2], [ORG1, ORG2]))
    return led


def refused(ledger, code, *args):
    before = dict(ledger.state)
    with pytest.raises(ChaincodeError) as info:
        ledger.invoke(admin1, *args)
    assert error_code(str(info.value)) is code
    assert dict(ledger.state) == before
    return str(info.value)


@pytest.mark.parametrize("readers, writers, missing", [
    ([ORG2], [ORG1], "Org1MSP"),
    ([], [ORG1], "Org1MSP"),
    ([ORG1], [ORG1, ORG2, ORG3], "Org2MSP, Org3MSP"),
])
def test_create_refuses_a_writer_that_does_not_read(readers, writers, missing):
    led = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    message = refused(led, ErrorCode.INVALID_INPUT, "CreateStream", spec(readers, writers))
    assert f"writer organisation(s) {missing} of stream 'plant' must also be reader(s)" \
        in message
    assert f"make {missing} a reader too" in message
    assert stored(led) is None


def test_create_accepts_writers_among_more_readers():
    led = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    led.invoke(admin1, "CreateStream", spec([ORG1, ORG2, ORG3], [ORG2]))
    assert stored(led)["writers"]["msp_ids"] == [ORG2]


def test_update_refuses_a_writer_that_does_not_read(ledger):
    message = refused(ledger, ErrorCode.CONFLICT, "UpdateStream", "plant",
                      json.dumps({"writers": {"msp_ids": [ORG1, ORG3]}}))
    assert "writer organisation(s) Org3MSP of stream 'plant' must also be reader(s)" in message


def test_update_accepts_writers_that_read(ledger):
    ledger.invoke(admin1, "UpdateStream", "plant", json.dumps({"writers": {"msp_ids": [ORG2]}}))
    assert stored(ledger)["writers"]["msp_ids"] == [ORG2]


def test_revoking_a_writer_names_the_fix(ledger):
    message = refused(ledger, ErrorCode.CONFLICT, "RevokeReader", "plant", ORG2)
    assert message.endswith("Org2MSP still writes to stream 'plant', and a writer must read "
                            "it; remove Org2MSP from the writers first (UpdateStream)")


def test_revoking_a_former_writer_works_once_it_no_longer_writes(ledger):
    ledger.invoke(admin1, "UpdateStream", "plant", json.dumps({"writers": {"msp_ids": [ORG1]}}))
    ledger.invoke(admin1, "RevokeReader", "plant", ORG2)
    assert stored(ledger)["readers"] == [ORG1]
