"""Lineage receipts read only by whom may read their inputs, receipt inputs with a shape,
exact organisation keys, exact 64-bit schema bounds, a certificate whose attribute
extension is not Fabric CA's JSON, and the batch window against the peer's clock."""

from __future__ import annotations

import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from contract_world import MEMBERS as m
from contract_world import ORG3
from ledgerlake import records
from ledgerlake.chaincode.ledger import ChaincodeError
from ledgerlake.client.encryption import new_org_key, public_pem
from ledgerlake.protocol import ATTRIBUTES_OID, Creator, ErrorCode, error_code


def refused(ledger, who, function, *args, code: ErrorCode, match: str = "") -> str:
    with pytest.raises(ChaincodeError) as caught:
        ledger.invoke(who, function, *args)
    text = str(caught.value)
    assert error_code(text) is code, text
    assert match in text, text
    return text


def test_a_receipt_is_read_by_auditors_and_analysts_of_orgs_that_read_every_input(world):
    led = world.ledger
    assert json.loads(led.query(m["auditor3"], "GetLineage", world.lineage))["id"] == \
        world.lineage
    assert json.loads(led.query(m["analyst2"], "GetLineage", world.lineage))["id"] == \
        world.lineage
    refused(led, m["analyst3"], "GetLineage", world.lineage, code=ErrorCode.ACCESS_DENIED,
            match="does not read input stream 'plant'")


@pytest.mark.parametrize("inputs, match", [
    ({"blocks": {"x": [1, 2]}}, "receipt.inputs.blocks must be [first, last]"),
    ({"blocks": [9, 1]}, "the first block is after the last"),
    ({"blocks": [0, "9"]}, "receipt.inputs.blocks[1] must be an integer"),
    ({"merkle_root": 5}, "receipt.inputs.merkle_root must be 64 lower-case hex digits"),
    ({"time_from": "garbage"}, "receipt.inputs.time_from must be an integer"),
    ({"time_from": 5, "time_to": 4}, "time_from is after receipt.inputs.time_to"),
])
def test_receipt_inputs_have_a_shape(world, inputs, match):
    receipt = {"inputs": {"streams": ["plant"], **inputs}, "code_version": "c", "outputs": {}}
    refused(world.ledger, m["analyst1"], "AnchorLineage", json.dumps(receipt),
            code=ErrorCode.INVALID_INPUT, match=match)


def test_a_receipt_with_an_integer_beyond_2_53_as_a_number_is_refused_not_rounded(world):
    led = world.ledger
    for n in (2**53 + 1, 2**53 + 2):  # one double: both would hash to the same receipt
        receipt = {"inputs": {"streams": ["plant"]}, "code_version": "c", "outputs": {},
                   "params": {"n": n}}
        refused(led, m["analyst1"], "AnchorLineage", json.dumps(receipt),
                code=ErrorCode.INVALID_INPUT, match=f"holds the integer {n}")
    as_text = {"inputs": {"streams": ["plant"], "time_from": str(2**60)}, "code_version": "c",
               "outputs": {}, "params": {"n": str(2**53 + 1)}}
    entry = json.loads(led.invoke(m["analyst1"], "AnchorLineage", json.dumps(as_text)))
    assert entry["receipt"]["params"]["n"] == str(2**53 + 1)


def test_an_org_key_is_exactly_one_pem_x25519_key(world):
    pem = public_pem(new_org_key())
    for bad in (pem + "garbage\x00", pem + pem, "junk\n" + pem):
        refused(world.ledger, m["admin3"], "RegisterOrgKey", bad, code=ErrorCode.INVALID_INPUT,
                match="exactly one PEM X25519 public key")
    entry = json.loads(world.ledger.invoke(m["admin3"], "RegisterOrgKey", pem.rstrip("\n")))
    assert entry["public_key"] == pem and entry["msp_id"] == ORG3


def test_timestamp_bounds_are_exact_beyond_2_53():
    low = 1_700_000_000_000_000_001
    schema = records.Schema.from_mapping({"version": 1, "fields": [
        {"name": "ts", "type": "timestamp", "min": str(low)}]})
    assert schema.fields[0].min == low
    with pytest.raises(records.RecordError, match="below its minimum"):
        records.validate_record(schema, {"ts": low - 1})
    records.validate_record(schema, {"ts": low})
    again = records.Schema.from_mapping(records.parse_json(records.canonical(
        schema.to_mapping())))
    assert again == schema
    with pytest.raises(records.RecordError, match="applies only to int, float and timestamp"):
        records.Schema.from_mapping({"fields": [{"name": "s", "type": "string", "min": 1}]})


def _certificate(extension_value: bytes) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mallory")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(ATTRIBUTES_OID),
                                                      extension_value), critical=False)
            .sign(key, hashes.SHA256()))
    from cryptography.hazmat.primitives.serialization import Encoding
    return cert.public_bytes(Encoding.PEM)


@pytest.mark.parametrize("value", [b"[]", b'"x"', b'{"attrs": []}', b"\xff", b"{"])
def test_a_certificate_with_a_foreign_attribute_extension_has_no_role(value):
    creator = Creator.from_certificate("Org1MSP", _certificate(value))
    assert creator.role == "" and creator.attributes == {}
    good = Creator.from_certificate("Org1MSP", _certificate(
        b'{"attrs": {"ledgerlake.role": "auditor"}}'))
    assert good.role == "auditor" and good.enrollment_id == "mallory"


def test_a_batch_older_than_the_max_age_by_the_peers_clock_is_refused(world):
    led = world.ledger
    led.invoke(m["admin1"], "UpdateStream", "plant", json.dumps({"max_age_seconds": 60}))
    now = led.clock_ns
    old = world.sealed(time_start=now - 50 * 10**9, time_end=now - 50 * 10**9)
    led.peer_clock_ns = now + 30 * 10**9  # 80 s after the batch by the peer's clock
    with pytest.raises(ChaincodeError, match="older than the stream's max age"):
        led.invoke(m["producer1"], "SubmitBatch", *old.args, timestamp_ns=now)
