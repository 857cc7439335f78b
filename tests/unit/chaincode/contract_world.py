"""A populated in-memory ledger and one valid call of every contract function, shared by
the served-table test and the hostile-input suite."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field

import pytest

from ledgerlake.chaincode import contract
from ledgerlake.chaincode.ledger import ChaincodeError
from ledgerlake.chaincode.memory import MemoryLedger, member
from ledgerlake.client.batches import seal_batch
from ledgerlake.client.encryption import new_data_key, new_org_key, public_pem, wrap_key
from ledgerlake.protocol import ErrorCode, error_code

ORG1, ORG2, ORG3 = "Org1MSP", "Org2MSP", "Org3MSP"
SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "temperature_c", "type": "float", "unit": "°C", "min": -40, "max": 125},
    {"name": "ts", "type": "timestamp"}]}
ROWS = [{"sensor": "s1", "temperature_c": 21.5, "ts": 1},
        {"sensor": "s2", "temperature_c": 22.0, "ts": 2}]
#: Every identity the hostile suite calls with: each role of two orgs, a reader-less org,
#: and a certificate without a role.
MEMBERS = {f"{role}{n}": member(msp, role, f"{role}{n}")
           for n, msp in ((1, ORG1), (2, ORG2), (3, ORG3))
           for role in ("admin", "producer", "analyst", "auditor")}
MEMBERS["nobody"] = member(ORG1, "", "nobody")


@dataclass
class World:
    ledger: MemoryLedger
    key: bytes
    org_keys: dict
    first_batch: str = ""
    first_ciphertext: bytes = b""
    ticket: str = ""
    lineage: str = ""
    wrapped: dict = field(default_factory=dict)

    def sealed(self, seq=2, prev=None, source="line-1", stream="plant", rows=ROWS, **over):
        now = self.ledger.clock_ns
        opts = dict(stream=stream, source=source, seq=seq,
                    prev_hash=self.first_batch if prev is None else prev, schema=SCHEMA,
                    rows=rows, data_key=self.key, key_epoch=1, time_start=now, time_end=now)
        opts.update(over)
        return seal_batch(**opts)

    def valid_calls(self) -> dict:
        """One valid call of every contract function: name -> (caller, args, options)."""
        m = MEMBERS
        org3_wrapped = wrap_key(self.key, public_pem(self.org_keys[ORG3]), stream="plant",
                                epoch=1, msp_id=ORG3)
        nxt = self.sealed()
        receipt = {"inputs": {"streams": ["plant"],
                              "batches": [{"stream": "plant", "id": self.first_batch}]},
                   "code_version": "git:1", "outputs": {"report": "ab" * 32}}
        return {
            "CreateStream": (m["admin1"], [stream_spec(self, id="fresh")], {}),
            "UpdateStream": (m["admin1"], ["plant", json.dumps({"description": "d2"})], {}),
            "GetStream": (m["analyst2"], ["plant"], {}),
            "ListStreams": (m["auditor2"], ["10", ""], {}),
            "GrantReader": (m["admin1"], ["plant", ORG3, org3_wrapped], {}),
            "RevokeReader": (m["admin1"], ["plant", ORG2], {}),
            "RotateKey": (m["admin1"], ["plant", json.dumps(
                {msp: self.wrapped[msp] for msp in (ORG1, ORG2)})], {}),
            "ShredEpoch": (m["admin1"], ["rotated", "1"], {}),
            "RegisterOrgKey": (m["admin3"], [public_pem(self.org_keys[ORG3])], {}),
            "GetOrgKey": (m["producer1"], [ORG2], {}),
            "SubmitBatch": (m["producer1"], [json.dumps(nxt.batch), nxt.ciphertext],
                            {"transient": nxt.transient}),
            "GetBatch": (m["analyst2"], ["plant", self.first_batch], {}),
            "ListBatches": (m["auditor1"], [json.dumps({"stream": "plant"})], {}),
            "GetBatchHistory": (m["producer1"], ["plant", "line-1"], {}),
            "OpenStream": (m["analyst2"], ["plant", json.dumps({"purpose": "qa"})], {}),
            "GetStreamKeys": (m["analyst2"], ["plant", self.ticket], {}),
            "QueryAudit": (m["auditor2"], [json.dumps({"by": "stream", "value": "plant"})], {}),
            "AnchorLineage": (m["analyst2"], [json.dumps(receipt)], {}),
            "GetLineage": (m["auditor1"], [self.lineage], {}),
        }


def stream_spec(world: World, **over) -> str:
    spec = {"id": "plant", "schema": SCHEMA, "writers": {"msp_ids": [ORG1]},
            "readers": [ORG1, ORG2], "wrapped_keys": dict(world.wrapped)}
    spec.update(over)
    return json.dumps(spec)


def build_world() -> World:
    """Org keys of three orgs, stream 'plant' (readers Org1, Org2) with one batch, a
    stream 'rotated' at epoch 2, a committed ticket of analyst2 and an anchored receipt."""
    ledger = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    org_keys = {msp: new_org_key() for msp in (ORG1, ORG2, ORG3)}
    world = World(ledger, new_data_key(), org_keys)
    world.wrapped = {msp: wrap_key(world.key, public_pem(org_keys[msp]), stream="plant", epoch=1,
                                   msp_id=msp) for msp in (ORG1, ORG2)}
    for msp in (ORG1, ORG2):
        n = msp[3]
        ledger.invoke(MEMBERS[f"admin{n}"], "RegisterOrgKey", public_pem(org_keys[msp]))
    ledger.invoke(MEMBERS["admin1"], "CreateStream", stream_spec(world))
    ledger.invoke(MEMBERS["admin1"], "CreateStream", stream_spec(world, id="rotated"))
    ledger.invoke(MEMBERS["admin1"], "RotateKey", "rotated", json.dumps(world.wrapped))
    first = world.sealed(seq=1, prev="")
    ledger.invoke(MEMBERS["producer1"], "SubmitBatch", json.dumps(first.batch), first.ciphertext,
                  transient=first.transient)
    world.first_batch = first.id
    world.first_ciphertext = first.ciphertext
    world.ticket = json.loads(ledger.invoke(MEMBERS["analyst2"], "OpenStream", "plant",
                                            '{"purpose": "setup"}'))["ticket"]
    receipt = {"inputs": {"streams": ["plant"]}, "code_version": "setup", "outputs": {}}
    world.lineage = json.loads(ledger.invoke(MEMBERS["analyst1"], "AnchorLineage",
                                             json.dumps(receipt)))["id"]
    return world


@contextlib.contextmanager
def refused(code: ErrorCode, match: str = ""):
    """Expect a contract refusal: a ChaincodeError whose text is ``"CODE: message"`` with
    exactly ``code`` (what a client matches on) and a message ``re.search``-ing ``match``."""
    with pytest.raises(ChaincodeError) as raised:
        yield raised
    text = str(raised.value)
    assert error_code(text) is code and text.startswith(f"{code.value}: "), text
    assert re.search(match, text[len(code.value) + 2:]), text


__all__ = ["MEMBERS", "ORG1", "ORG2", "ORG3", "ROWS", "SCHEMA", "World", "build_world",
           "refused", "stream_spec"]
