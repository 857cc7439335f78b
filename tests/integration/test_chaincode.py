"""The ledgerlake contract on a real network, through the ledgerlake client, with
identities issued by each organisation's CA for every role."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from ledgerlake.client import (
    Identity,
    connect,
    connect_async,
    from_state_dir,
    signer_from_wallet,
)
from ledgerlake.client import encryption
from ledgerlake.client.api import LedgerlakeContract
from ledgerlake.client.batches import open_batch, seal_batch, submit_batch
from ledgerlake.errors import CommitError, EndorseError
from ledgerlake.protocol import ErrorCode, error_code
from ledgerlake.network import channel as node_metrics

pytestmark = pytest.mark.integration
ORGS = ("Org1", "Org2")
ROLES = ("admin", "producer", "analyst", "auditor")
SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "temperature_c", "type": "float", "unit": "°C", "min": -40, "max": 125},
    {"name": "ts", "type": "timestamp"}]}


class Member:
    """One CA-issued identity of one org, with a contract bound to its org's peer.

    ``submit`` returns once every peer has committed the transaction (not only the gateway
    peer), so the next step of a test may be endorsed by any organisation."""

    def __init__(self, net, org, role, channel):
        self.net = net
        self.msp_id = f"{org}MSP"
        wallet = net.layout.wallet_dir(net.layout.org(org), role)
        self.identity, self.signer = Identity.from_wallet(wallet), signer_from_wallet(wallet)
        self.contract = connect(self.identity, self.signer, channel) \
            .get_network("ledgerlake").get_contract("ledgerlake")

    def submit(self, fn, *args, **kw):
        commit = self.contract.submit_async(fn, list(args), **kw)
        status = commit.status()
        if not status.successful:
            raise CommitError(status.transaction_id, status.code, status.block_number)
        deadline = time.monotonic() + 10
        while any((node_metrics.peer_height(self.net.layout, p) or 0) <= status.block_number
                  for p in self.net.layout.peers):
            assert time.monotonic() < deadline, "peers did not converge"
            time.sleep(0.02)
        return json.loads(commit.result)

    def evaluate(self, fn, *args):
        return json.loads(self.contract.evaluate(fn, list(args)))


@pytest.fixture(scope="module")
def members(raft_network):
    channels = {org: from_state_dir(raft_network.state_dir, org).dial() for org in ORGS}
    yield {(org, role): Member(raft_network, org, role, channels[org])
           for org in ORGS for role in ROLES}
    for channel in channels.values():
        channel.close()


@pytest.fixture(scope="module")
def org_keys(raft_network, members):
    # the keys 'network up' made and published (published again, unchanged)
    keys = {org: encryption.load_org_key(raft_network.org_key_path(org)) for org in ORGS}
    for org in ORGS:
        members[(org, "admin")].submit("RegisterOrgKey", encryption.public_pem(keys[org]))
    return keys


def new_stream(members, org_keys, readers=ORGS, writers=("Org1MSP",)):
    data_key = encryption.new_data_key()
    stream_id = f"st-{uuid.uuid4().hex[:8]}"
    wrapped = {}
    for org in readers:
        pem = members[("Org1", "producer")].evaluate("GetOrgKey", f"{org}MSP")["public_key"]
        wrapped[f"{org}MSP"] = encryption.wrap_key(data_key, pem, stream=stream_id, epoch=1,
                                                   msp_id=f"{org}MSP")
    members[("Org1", "admin")].submit("CreateStream", json.dumps({
        "id": stream_id, "schema": SCHEMA, "writers": {"msp_ids": list(writers)},
        "readers": [f"{o}MSP" for o in readers], "wrapped_keys": wrapped}))
    return stream_id, data_key


def rows(n=3, base=20.0):
    return [{"sensor": f"s{i}", "temperature_c": base + i, "ts": i} for i in range(n)]


def test_batches_round_trip_encrypted_with_audited_key_access(members, org_keys):
    stream, key = new_stream(members, org_keys)
    producer = members[("Org1", "producer")]
    sealed = seal_batch(stream=stream, source="line-1", seq=1, prev_hash="", schema=SCHEMA,
                        rows=rows(), data_key=key, key_epoch=1)
    out = producer.submit("SubmitBatch", json.dumps(sealed.batch), transient=sealed.transient,
                          endorsing_organizations=["Org1MSP", "Org2MSP"])
    assert out["plaintext_checked"] is True
    analyst = members[("Org2", "analyst")]
    api = LedgerlakeContract(analyst.contract)
    opened = api.get_stream_keys(stream, api.open_stream(stream, "integration test"))
    data_key = encryption.unwrap_key(opened.wrapped_keys[1], org_keys["Org2"],
                                     stream=stream, epoch=1, msp_id="Org2MSP")
    stored = analyst.evaluate("GetBatch", stream, sealed.id)
    assert "temperature_c" not in json.dumps(stored["public"])
    assert open_batch(SCHEMA, stored, data_key) == rows()
    trail = members[("Org1", "auditor")].evaluate(
        "QueryAudit", json.dumps({"by": "stream", "value": stream}))["items"]
    assert [e["action"] for e in trail] == ["StreamCreated", "BatchSubmitted", "StreamOpened"]
    assert trail[-1]["actor"]["msp_id"] == "Org2MSP" and trail[-1]["purpose"] == "integration test"


def test_replays_and_broken_chains_are_rejected(members, org_keys):
    stream, key = new_stream(members, org_keys)
    producer = members[("Org1", "producer")]
    first = seal_batch(stream=stream, source="src", seq=1, prev_hash="", schema=SCHEMA,
                       rows=rows(), data_key=key, key_epoch=1)
    producer.submit("SubmitBatch", json.dumps(first.batch))
    with pytest.raises(EndorseError, match="already recorded") as replay:
        producer.submit("SubmitBatch", json.dumps(first.batch))
    assert error_code(str(replay.value)) == ErrorCode.ALREADY_EXISTS
    gap = seal_batch(stream=stream, source="src", seq=3, prev_hash=first.id, schema=SCHEMA,
                     rows=rows(), data_key=key, key_epoch=1)
    with pytest.raises(EndorseError, match="expected seq 2, got 3") as broken:
        producer.submit("SubmitBatch", json.dumps(gap.batch))
    assert error_code(str(broken.value)) == ErrorCode.CHAIN_GAP  # the code reaches the client
    fork = seal_batch(stream=stream, source="src", seq=2, prev_hash="e" * 64, schema=SCHEMA,
                      rows=rows(), data_key=key, key_epoch=1)
    with pytest.raises(EndorseError, match="prev_hash does not name") as forked:
        producer.submit("SubmitBatch", json.dumps(fork.batch))
    assert error_code(str(forked.value)) == ErrorCode.CHAIN_FORK
    lying = seal_batch(stream=stream, source="src", seq=2, prev_hash=first.id, schema=SCHEMA,
                       rows=rows(base=30.0), data_key=key, key_epoch=1)
    honest = seal_batch(stream=stream, source="src", seq=2, prev_hash=first.id, schema=SCHEMA,
                        rows=rows(), data_key=key, key_epoch=1)
    with pytest.raises(EndorseError, match="do not match its merkle_root"):
        producer.submit("SubmitBatch", json.dumps(honest.batch), transient=lying.transient,
                        endorsing_organizations=["Org1MSP", "Org2MSP"])
    producer.submit("SubmitBatch", json.dumps(honest.batch))
    heads = producer.evaluate("GetBatchHistory", stream, "src")["items"]
    assert [h["head"]["seq"] for h in heads] == [2, 1]  # newest first


@pytest.mark.parametrize("org, role, fn, rule", [
    ("Org1", "producer", "CreateStream", "stream.create"),
    ("Org1", "analyst", "SubmitBatch", "batch.write"),
    ("Org2", "producer", "SubmitBatch", "batch.write"),
    ("Org1", "auditor", "OpenStream", "stream.open"),
    ("Org2", "admin", "RotateKey", "stream.rotate"),
    ("Org1", "analyst", "QueryAudit", "audit.read"),
    ("Org1", "producer", "AnchorLineage", "lineage.anchor"),
])
def test_roles_are_denied_by_named_rules(members, org_keys, org, role, fn, rule):
    stream, key = new_stream(members, org_keys)
    sealed = seal_batch(stream=stream, source="s", seq=1, prev_hash="", schema=SCHEMA,
                        rows=rows(), data_key=key, key_epoch=1)
    args = {"CreateStream": [json.dumps({"id": "x", "schema": SCHEMA})],
            "SubmitBatch": [json.dumps(sealed.batch)],
            "OpenStream": [stream, '{"purpose": "p"}'],
            "RotateKey": [stream, "{}"], "QueryAudit": ["{}"],
            "AnchorLineage": ['{"inputs": {}, "code_version": "x", "outputs": {}}']}[fn]
    with pytest.raises(EndorseError, match=f"access denied by rule '{rule}'") as denied:
        members[(org, role)].submit(fn, *args)
    assert error_code(str(denied.value)) == ErrorCode.ACCESS_DENIED


def test_key_rotation_grant_and_shred(members, org_keys):
    stream, key = new_stream(members, org_keys, readers=("Org1",))
    admin = members[("Org1", "admin")]
    org2_pem = members[("Org1", "admin")].evaluate("GetOrgKey", "Org2MSP")["public_key"]
    admin.submit("GrantReader", stream, "Org2MSP", encryption.wrap_key(
        key, org2_pem, stream=stream, epoch=1, msp_id="Org2MSP"))
    new_key = encryption.new_data_key()
    wrapped = {m: encryption.wrap_key(new_key, members[("Org1", "admin")].evaluate(
        "GetOrgKey", m)["public_key"], stream=stream, epoch=2, msp_id=m)
        for m in ("Org1MSP", "Org2MSP")}
    assert admin.submit("RotateKey", stream, json.dumps(wrapped))["epoch"] == 2
    admin.submit("ShredEpoch", stream, "1")
    api = LedgerlakeContract(members[("Org2", "analyst")].contract)
    opened = api.get_stream_keys(stream, api.open_stream(stream, "p"))
    assert list(opened.wrapped_keys) == [2] and opened.shredded == (1,)
    assert encryption.unwrap_key(opened.wrapped_keys[2], org_keys["Org2"], stream=stream,
                                 epoch=2, msp_id="Org2MSP") == new_key


def test_lineage_is_anchored_and_read_back(members, org_keys):
    stream, _ = new_stream(members, org_keys)
    receipt = {"inputs": {"streams": [stream], "blocks": [0, 5]}, "code_version": "test",
               "outputs": {"report": uuid.uuid4().hex}}
    entry = members[("Org2", "analyst")].submit("AnchorLineage", json.dumps(receipt))
    got = members[("Org1", "auditor")].evaluate("GetLineage", entry["id"])
    assert got["receipt"] == receipt and got["by"]["msp_id"] == "Org2MSP"


def test_every_function_on_the_network_with_an_event_and_audit_entry_per_change(
        raft_network, members, org_keys):
    admin, admin2 = members[("Org1", "admin")], members[("Org2", "admin")]
    producer, analyst = members[("Org1", "producer")], members[("Org2", "analyst")]
    auditor = members[("Org2", "auditor")]
    commit = admin.contract.submit_async("RegisterOrgKey",
                                         [encryption.public_pem(org_keys["Org1"])])
    start = commit.status().block_number
    stream, key = new_stream(members, org_keys, readers=("Org1",))
    assert analyst.evaluate("GetStream", stream)["readers"] == ["Org1MSP"]
    listed = analyst.evaluate("ListStreams", "1000", "")
    assert stream in [s["id"] for s in listed["items"]]
    org2_pem = admin.evaluate("GetOrgKey", "Org2MSP")["public_key"]
    admin.submit("GrantReader", stream, "Org2MSP", encryption.wrap_key(
        key, org2_pem, stream=stream, epoch=1, msp_id="Org2MSP"))
    admin.submit("UpdateStream", stream, '{"description": "every function"}')
    sealed = seal_batch(stream=stream, source="all", seq=1, prev_hash="", schema=SCHEMA,
                        rows=rows(), data_key=key, key_epoch=1)
    producer.submit("SubmitBatch", json.dumps(sealed.batch))
    ticket = analyst.submit("OpenStream", stream,
                            '{"purpose": "all functions", "block_from": 0}')["ticket"]
    assert list(analyst.evaluate("GetStreamKeys", stream, ticket)["wrapped_keys"]) == ["1"]
    admin.submit("RevokeReader", stream, "Org2MSP")
    admin.submit("RotateKey", stream, json.dumps(
        {"Org1MSP": encryption.wrap_key(encryption.new_data_key(),
                                        encryption.public_pem(org_keys["Org1"]),
                                        stream=stream, epoch=2, msp_id="Org1MSP")}))
    admin.submit("ShredEpoch", stream, "1")
    receipt = {"inputs": {"streams": [stream]}, "code_version": "t", "outputs": {"x": stream}}
    lineage = members[("Org1", "analyst")].submit("AnchorLineage", json.dumps(receipt))
    assert auditor.evaluate("GetLineage", lineage["id"])["receipt"] == receipt
    with pytest.raises(EndorseError, match="rule 'stream.update'"):
        admin2.submit("UpdateStream", stream, '{"description": "not mine"}')

    actions = ["OrgKeyRegistered", "StreamCreated", "ReaderGranted", "StreamUpdated",
               "BatchSubmitted", "StreamOpened", "ReaderRevoked", "KeyRotated",
               "EpochShredded", "LineageAnchored"]
    seen = []
    with admin.contract.network.chaincode_events("ledgerlake", start_block=start) as events:
        for event in events:
            seen.append(event.event_name)
            if event.event_name == "LineageAnchored":
                break
    assert seen == actions
    trail = auditor.evaluate("QueryAudit", json.dumps({"by": "stream", "value": stream}))
    assert [e["action"] for e in trail["items"]] == actions[1:]
    mine = auditor.evaluate("QueryAudit", json.dumps({"by": "actor",
                                                      "value": "Org2MSP/analyst"}))
    assert "StreamOpened" in [e["action"] for e in mine["items"]]
    shreds = auditor.evaluate("QueryAudit", json.dumps({"by": "action",
                                                        "value": "EpochShredded"}))
    assert stream in [e["target"]["stream"] for e in shreds["items"]]
    first = auditor.evaluate("QueryAudit", json.dumps({"by": "time", "page_size": 2}))
    second = auditor.evaluate("QueryAudit", json.dumps({"by": "time", "page_size": 2,
                                                        "bookmark": first["bookmark"]}))
    assert len(first["items"]) == 2 and first["items"] != second["items"]


def test_parallel_producers_on_separate_sources_never_conflict(raft_network, members,
                                                               org_keys):
    stream, key = new_stream(members, org_keys, writers=("Org1MSP", "Org2MSP"))

    async def produce(org: str, source: str, count: int) -> list[str]:
        member = members[(org, "producer")]
        channel = from_state_dir(raft_network.state_dir, org).dial_async()
        contract = connect_async(member.identity, member.signer, channel) \
            .get_network("ledgerlake").get_contract("ledgerlake")
        prev, ids = "", []
        try:
            for seq in range(1, count + 1):
                sealed = seal_batch(stream=stream, source=source, seq=seq, prev_hash=prev,
                                    schema=SCHEMA, rows=rows(), data_key=key, key_epoch=1)
                await submit_batch(contract, sealed)  # retries while an endorser lags
                prev = sealed.id
                ids.append(prev)
        finally:
            await channel.close()
        return ids

    async def main():
        return await asyncio.gather(produce("Org1", "a", 6), produce("Org2", "b", 6),
                                    produce("Org1", "c", 6), produce("Org2", "d", 6))

    results = asyncio.run(main())  # a CommitError (MVCC) would raise here
    assert [len(r) for r in results] == [6, 6, 6, 6]
    listed = members[("Org1", "auditor")].evaluate(
        "ListBatches", json.dumps({"stream": stream, "page_size": 100}))
    assert len(listed["items"]) == 24


def test_an_unknown_function_is_answered_with_its_code(members):
    with pytest.raises(EndorseError) as err:
        members[("Org1", "producer")].submit("DropTables")
    assert error_code(str(err.value)) == ErrorCode.UNKNOWN_FUNCTION


def test_hostile_input_is_refused_with_a_code_on_the_network(members, org_keys):
    stream, _ = new_stream(members, org_keys)
    admin = members[("Org1", "admin")]
    for args in (["[" * 5000 + "]" * 5000], ['{"id": "x", "id": "y"}'],
                 ['{"id": "x", "max_age_seconds": Infinity}']):
        with pytest.raises(EndorseError) as err:
            admin.submit("CreateStream", *args)
        assert error_code(str(err.value)) == ErrorCode.INVALID_INPUT
    with pytest.raises(EndorseError) as err:
        admin.submit("UpdateStream", stream, json.dumps({"schema": {**SCHEMA, "version": 9}}))
    assert error_code(str(err.value)) == ErrorCode.CONFLICT
