"""The typed contract API on a real network: every method through the sync client, a few
through asyncio, the CLI's read commands and the demo."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from ledgerlake import records
from ledgerlake.cli import _settle, main
from ledgerlake.client import (
    Identity,
    connect,
    connect_async,
    encryption,
    from_state_dir,
    signer_from_wallet,
)
from ledgerlake.client.api import LedgerlakeContract, contract_methods
from ledgerlake.client.batches import seal_batch
from ledgerlake.client.models import Batch, OrgKey, Page, Stream, Writers
from ledgerlake.errors import EndorseError
from ledgerlake.protocol import ErrorCode, Function

pytestmark = pytest.mark.integration
ORGS = ("Org1", "Org2")
ROLES = ("admin", "producer", "analyst", "auditor")
SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "temperature_c", "type": "float", "unit": "°C", "min": -40, "max": 125}]}
ROWS = [{"sensor": "a", "temperature_c": 20.25}, {"sensor": "b", "temperature_c": 19.5}]


def _wallet(net, org, role):
    folder = net.layout.wallet_dir(net.layout.org(org), role)
    return Identity.from_wallet(folder), signer_from_wallet(folder)


@pytest.fixture(scope="module")
def apis(raft_network):
    channels = {org: from_state_dir(raft_network.state_dir, org).dial() for org in ORGS}
    yield {(org, role): LedgerlakeContract(
        connect(*_wallet(raft_network, org, role), channels[org])
        .get_network("ledgerlake").get_contract("ledgerlake"))
        for org in ORGS for role in ROLES}
    for channel in channels.values():
        channel.close()


@pytest.fixture(scope="module")
def org_keys(raft_network, apis):
    # the keys 'network up' made: registered again as they are, so the chain keeps matching
    # the key files other tests (and the demo) open streams with
    keys = {org: encryption.load_org_key(raft_network.org_key_path(org)) for org in ORGS}
    for org in ORGS:
        apis[org, "admin"].register_org_key(encryption.public_pem(keys[org]))
    _settle(raft_network)
    return keys


def _pem(keys, org):
    return encryption.public_pem(keys[org])


def _wrap(keys, data_key, org, stream, epoch=1):
    return OrgKey(f"{org}MSP", _pem(keys, org), 0).wrap(data_key, stream=stream, epoch=epoch)


def test_every_contract_method_on_a_real_network(raft_network, apis, org_keys, capsys):
    net = raft_network
    done: set[Function] = {Function.REGISTER_ORG_KEY}
    admin = apis["Org1", "admin"]

    def did(function, result=None):
        done.add(function)
        if contract_methods()[function].submits:
            _settle(net)  # the next step may be endorsed by the other organisation's peer
        return result

    got = did(Function.GET_ORG_KEY, apis["Org1", "producer"].get_org_key("Org2MSP"))
    assert got.public_key == _pem(org_keys, "Org2")

    name = f"api-{uuid.uuid4().hex[:8]}"
    data_key = encryption.new_data_key()
    stream = did(Function.CREATE_STREAM, admin.create_stream(
        name, SCHEMA, readers=["Org1MSP"], writers=Writers(("Org1MSP",)),
        wrapped_keys={"Org1MSP": _wrap(org_keys, data_key, "Org1", name)}))
    assert isinstance(stream, Stream) and stream.owner == "Org1MSP" and stream.epoch == 1
    stream = did(Function.UPDATE_STREAM, admin.update_stream(name, description="typed"))
    assert stream.description == "typed"
    stream = did(Function.GRANT_READER, admin.grant_reader(
        name, "Org2MSP", _wrap(org_keys, data_key, "Org2", name)))
    assert stream.readers == ("Org1MSP", "Org2MSP")
    assert did(Function.GET_STREAM, apis["Org2", "analyst"].get_stream(name)) == stream
    listed = [s.id for s in apis["Org2", "auditor"].items(apis["Org2", "auditor"].list_streams,
                                                          page_size=1)]
    done.add(Function.LIST_STREAMS)
    assert name in listed and listed == sorted(listed)

    producer = apis["Org1", "producer"]
    first = seal_batch(stream=name, source="line-1", seq=1, prev_hash="", schema=SCHEMA,
                       rows=ROWS, data_key=data_key, key_epoch=1)
    receipt = did(Function.SUBMIT_BATCH, producer.submit_batch(
        first, send_plaintext=True, endorsing_organizations=["Org1MSP", "Org2MSP"]))
    assert (receipt.id, receipt.seq, receipt.plaintext_checked) == (first.id, 1, True)
    second = seal_batch(stream=name, source="line-1", seq=2, prev_hash=first.id, schema=SCHEMA,
                        rows=ROWS[:1], data_key=data_key, key_epoch=1)
    producer.submit_batch(second)
    _settle(net)
    batch = did(Function.GET_BATCH, apis["Org2", "auditor"].get_batch(name, second.id))
    assert isinstance(batch, Batch) and (batch.seq, batch.prev_hash) == (2, first.id)
    pages = list(producer.pages(producer.list_batches, name, source="line-1", page_size=1))
    done.add(Function.LIST_BATCHES)
    assert [b.id for p in pages for b in p.items] == [first.id, second.id]
    history = did(Function.GET_BATCH_HISTORY, producer.get_batch_history(name, "line-1"))
    assert [c.head.seq for c in history.items] == [2, 1]  # newest first

    analyst = apis["Org2", "analyst"]
    ticket = did(Function.OPEN_STREAM, analyst.open_stream(name, "typed API test", epoch=1))
    assert ticket.epochs == (1,) and ticket.msp_id == "Org2MSP"
    keys = did(Function.GET_STREAM_KEYS, analyst.get_stream_keys(name, ticket))
    assert keys.unwrap(org_keys["Org2"]) == {1: data_key}
    assert analyst.get_batch(name, first.id).open(data_key, stream.schema) == ROWS

    entry = did(Function.ANCHOR_LINEAGE, analyst.anchor_lineage(
        {"inputs": {"streams": [name]}, "code_version": uuid.uuid4().hex, "outputs": {}}))
    assert did(Function.GET_LINEAGE, apis["Org1", "auditor"].get_lineage(entry.id)) == entry
    shown = _cli_json(capsys, "lineage", "show", entry.id, "--state-dir", str(net.state_dir))
    assert shown["id"] == entry.id and shown["by"]["msp_id"] == "Org2MSP"

    new_key = encryption.new_data_key()
    stream = did(Function.ROTATE_KEY, admin.rotate_key(name, {
        f"{o}MSP": _wrap(org_keys, new_key, o, name, 2) for o in ORGS}))
    assert stream.epoch == 2
    assert did(Function.SHRED_EPOCH, admin.shred_epoch(name, 1)).shredded == (1,)
    assert did(Function.REVOKE_READER, admin.revoke_reader(name, "Org2MSP")).readers == \
        ("Org1MSP",)

    trail = did(Function.QUERY_AUDIT, apis["Org1", "auditor"].query_audit("stream", name))
    assert isinstance(trail, Page)
    assert [e.action for e in trail.items] == [
        "StreamCreated", "StreamUpdated", "ReaderGranted", "BatchSubmitted", "BatchSubmitted",
        "StreamOpened", "LineageAnchored", "KeyRotated", "EpochShredded", "ReaderRevoked"]
    assert trail.items[5].actor.msp_id == "Org2MSP" and \
        trail.items[5].extra["purpose"] == "typed API test"
    assert done == set(Function)


def test_contract_refusals_are_gateway_errors_with_a_code(apis):
    with pytest.raises(EndorseError) as caught:
        apis["Org1", "analyst"].get_stream(f"missing-{uuid.uuid4().hex[:6]}")
    assert caught.value.details and caught.value.transaction_id
    assert caught.value.error_code is ErrorCode.NOT_FOUND
    with pytest.raises(EndorseError, match="audit.read") as caught:
        apis["Org1", "analyst"].query_audit()
    assert caught.value.error_code is ErrorCode.ACCESS_DENIED


def test_the_asyncio_api_on_a_real_network(raft_network, apis, org_keys):
    name = f"aio-{uuid.uuid4().hex[:8]}"
    data_key = encryption.new_data_key()
    apis["Org1", "admin"].create_stream(
        name, SCHEMA, readers=["Org2MSP"], writers=Writers(("Org2MSP",)),
        wrapped_keys={"Org2MSP": _wrap(org_keys, data_key, "Org2", name)})
    _settle(raft_network)

    async def scenario():
        channel = from_state_dir(raft_network.state_dir, "Org2").dial_async()
        try:
            api = LedgerlakeContract(connect_async(*_wallet(raft_network, "Org2", "analyst"),
                                                   channel)
                                     .get_network("ledgerlake").get_contract("ledgerlake"))
            stream, streams = await asyncio.gather(
                api.get_stream(name), api.list_streams(page_size=1))
            ids = [s.id async for s in api.items(api.list_streams, page_size=2)]
            keys = await api.open_keys(name, "asyncio test", org_keys["Org2"])
            try:
                await api.get_org_key("NoSuchMSP")
            except EndorseError as exc:
                refused = exc
            return stream, streams, ids, keys, refused
        finally:
            await channel.close()

    stream, streams, ids, keys, refused = asyncio.run(scenario())
    assert stream.id == name and len(streams.items) == 1 and streams.more
    assert name in ids and keys == {1: data_key}
    assert "NoSuchMSP" in str(refused)


def _cli_json(capsys, *args):
    assert main([*args, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_demo_and_the_read_commands(raft_network, apis, capsys):
    state = str(raft_network.state_dir)
    for run in (1, 2):  # idempotent: the second run finds the stream and extends its chain
        assert main(["demo", "--round-trip", "--state-dir", state, "--stream", "demo-it"]) == 0, \
            capsys.readouterr().err
        printed = capsys.readouterr().out
        assert f"seq {run}" in printed and "merkle root matches" in printed
        assert "plaintext checked by the endorsers: yes" in printed
    batches = _cli_json(capsys, "stream", "batches", "demo-it", "--source", "demo-line",
                        "--state-dir", state)
    assert [b["seq"] for b in batches] == [1, 2] and batches[1]["prev_hash"] == batches[0]["id"]
    assert "demo-it" in [s["id"] for s in _cli_json(capsys, "stream", "list",
                                                    "--state-dir", state)]
    shown = _cli_json(capsys, "stream", "show", "demo-it", "--as", "Org2/auditor",
                      "--state-dir", state)
    assert records.Schema.from_mapping(shown["schema"]).fields[0].name == "sensor"
    trail = _cli_json(capsys, "audit", "--stream", "demo-it",
                      "--state-dir", state)
    assert [e["action"] for e in trail] == ["StreamCreated", "StreamOpened", "BatchSubmitted",
                                            "StreamOpened", "BatchSubmitted"]
    assert len(_cli_json(capsys, "audit", "--limit", "3", "--state-dir", state)) == 3

    assert main(["stream", "show", "demo-it", "--state-dir", state]) == 0
    assert "schema v1" in capsys.readouterr().out
    assert main(["audit", "--as", "Org1/analyst", "--state-dir", state]) == 1
    err = capsys.readouterr().err
    assert "access denied by rule 'audit.read'" in err and len(err.strip().splitlines()) == 1
    assert main(["stream", "show", "nope", "--state-dir", state]) == 1
    assert "nope" in capsys.readouterr().err
