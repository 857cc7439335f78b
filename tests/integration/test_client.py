"""The ledgerlake Gateway client against a real network, cross-checked with Fabric's CLI
and configtxlator."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from blockcheck import from_configtxlator, normalize
from ledgerlake.client import (
    FileCheckpointer,
    Identity,
    connect,
    connect_async,
    from_profile,
    from_state_dir,
    signer_from_wallet,
    verify_chain,
)
from ledgerlake.client.signing import signer_from_key, load_private_key
from ledgerlake.errors import CAError, CommitError, EndorseError, GatewayError

pytestmark = pytest.mark.integration
CHANNEL = CHAINCODE = "ledgerlake"
#: The gRPC deadline of every event stream here: a stream that gets no event fails with
#: DEADLINE_EXCEEDED instead of waiting forever. Each event test also has a pytest timeout
#: a little above it (the suite's default of 300 s catches anything else that hangs).
EVENT_WAIT = 60
event_test = pytest.mark.timeout(EVENT_WAIT + 30)


def _key() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def wallet(raft_network):
    return raft_network.layout.wallet_dir(raft_network.layout.org("Org1"), "producer")


@pytest.fixture
def gateway(raft_network, wallet):
    channel = from_state_dir(raft_network.state_dir, "Org1").dial()
    yield connect(Identity.from_wallet(wallet), signer_from_wallet(wallet), channel)
    channel.close()


@pytest.fixture
def contract(gateway):
    return gateway.get_network(CHANNEL).get_contract(CHAINCODE)


def test_submit_then_evaluate(contract):
    key = _key()
    tx_id = contract.submit("put", [key, "value-1"])
    assert len(tx_id) == 64
    assert contract.evaluate("get", [key]) == b"value-1"
    assert contract.evaluate("get", [key], target_organizations=["Org2MSP"]) == b"value-1"


def test_client_and_fabric_cli_read_each_others_writes(raft_network, contract):
    mine, theirs = _key(), _key()
    contract.submit("put", [mine, "from ledgerlake client"])
    assert raft_network.query("get", mine, org="Org2") == "from ledgerlake client"
    raft_network.invoke("put", theirs, "from peer chaincode invoke")
    assert contract.evaluate("get", [theirs]) == b"from peer chaincode invoke"


def test_chaincode_error_is_an_endorse_error_with_the_peers_message(contract):
    with pytest.raises(EndorseError) as err:
        contract.evaluate("get", ["never-written"])
    assert err.value.transaction_id
    assert any("no record under key 'never-written'" in d.message for d in err.value.details)
    with pytest.raises(EndorseError, match="no record under key"):
        contract.submit("get", ["never-written"])


def test_disagreeing_endorsements_fail_endorsement(contract):
    with pytest.raises(EndorseError) as err:
        contract.submit("stamp_org", [_key()])
    assert err.value.code.name == "ABORTED"
    assert any("do not match" in d.message for d in err.value.details)


def test_mvcc_conflict_step_by_step(contract):
    key = _key()
    contract.submit("put", [key, "0"])
    late = contract.new_proposal("append", [key, "b"]).endorse()  # reads version v1
    contract.submit("append", [key, "a"])  # commits v2 first
    status = late.submit().status()
    assert (status.successful, status.code_name) == (False, "MVCC_READ_CONFLICT")
    assert contract.evaluate("get", [key]) == b"0a"


def test_concurrent_appends_raise_commit_error(raft_network, wallet):
    async def main():
        channel = from_state_dir(raft_network.state_dir, "Org1").dial_async()
        gw = connect_async(Identity.from_wallet(wallet), signer_from_wallet(wallet), channel)
        contract = gw.get_network(CHANNEL).get_contract(CHAINCODE)
        key = _key()
        await contract.submit("put", [key, "0"])
        results = await asyncio.gather(contract.submit("append", [key, "x"]),
                                       contract.submit("append", [key, "y"]),
                                       return_exceptions=True)
        final = await contract.evaluate("get", [key])
        await channel.close()
        return results, final

    results, final = asyncio.run(main())
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], CommitError), results
    assert errors[0].code_name == "MVCC_READ_CONFLICT"
    assert final in (b"0x", b"0y")


def test_submit_async_returns_before_commit_then_status(contract):
    commit = contract.submit_async("put", [_key(), "async"])
    assert len(commit.result) == 64
    status = commit.status()
    assert status.successful and status.block_number > 0


def test_offline_signing(raft_network, wallet):
    identity = Identity.from_wallet(wallet)
    offline_signer = signer_from_key(load_private_key(
        json.loads((wallet / "id.json").read_text())["credentials"]["privateKey"].encode()))
    channel = from_state_dir(raft_network.state_dir, "Org1").dial()
    try:
        gw = connect(identity, None, channel)  # this gateway cannot sign by itself
        contract = gw.get_network(CHANNEL).get_contract(CHAINCODE)
        key = _key()
        proposal = contract.new_proposal("put", [key, "signed elsewhere"])
        transaction = proposal.with_signature(offline_signer(proposal.bytes)).endorse()
        commit = transaction.with_signature(offline_signer(transaction.bytes)).submit()
        status = commit.with_signature(offline_signer(commit.bytes)).status()
        assert status.successful
        query = contract.new_proposal("get", [key])
        assert query.with_signature(offline_signer(query.bytes)).evaluate() == b"signed elsewhere"
    finally:
        channel.close()


@event_test
def test_chaincode_events_resume_from_a_checkpoint(gateway, contract, tmp_path):
    network = gateway.get_network(CHANNEL)
    keys = [_key() for _ in range(5)]
    first = contract.submit_async("put", [keys[0], "e"])
    start = first.status().block_number
    for k in keys[1:3]:
        contract.submit("put", [k, "e"])
    checkpointer = FileCheckpointer(tmp_path / "events.json")
    seen = []
    with network.chaincode_events(CHAINCODE, start_block=start, checkpointer=checkpointer,
                                  timeout=EVENT_WAIT) as events:
        for event in events:
            seen.append(event.payload.decode())
            checkpointer.checkpoint_event(event)
            if len(seen) == 2:
                break  # the listener stops mid-stream
    for k in keys[3:]:
        contract.submit("put", [k, "e"])
    resumed = FileCheckpointer(tmp_path / "events.json")
    with network.chaincode_events(CHAINCODE, checkpointer=resumed, timeout=EVENT_WAIT) as events:
        for event in events:
            seen.append(event.payload.decode())
            if event.payload.decode() == keys[-1]:
                break
    assert seen == keys


@event_test
def test_block_events_match_configtxlator_and_chain(raft_network, gateway, contract):
    contract.submit("put", [_key(), "for the decoder"])
    height = raft_network.height()
    blocks = []
    with gateway.get_network(CHANNEL).block_events(start_block=0, timeout=EVENT_WAIT) as stream:
        for block in stream:
            blocks.append(block)
            if block.number == height - 1:
                break
    assert [b.number for b in blocks] == list(range(height))
    verify_chain(blocks)
    configtxlator = raft_network.chain.bin("configtxlator")
    for block in blocks[-3:] + blocks[:1]:
        assert normalize(block) == from_configtxlator(block.raw.SerializeToString(), configtxlator)


@event_test
def test_filtered_block_events(gateway, contract):
    commit = contract.submit_async("put", [_key(), "filtered"])
    number = commit.status().block_number
    with gateway.get_network(CHANNEL).block_events(filtered=True, start_block=number,
                                                   timeout=EVENT_WAIT) as stream:
        block = next(iter(stream), None)
    assert block is not None, "the stream ended without a block"
    assert block.number == number
    assert commit.transaction_id in [t.txid for t in block.filtered_transactions]


def test_connection_profile(raft_network, wallet, tmp_path):
    layout = raft_network.layout
    org2 = layout.org("Org2")
    peer = layout.peers_of(org2)[0]
    profile = {
        "name": "ledgerlake", "version": "1.0.0", "client": {"organization": "Org2"},
        "organizations": {"Org2": {"mspid": "Org2MSP", "peers": [peer.name]}},
        "peers": {peer.name: {"url": f"grpcs://{peer.address}",
                              "tlsCACerts": {"pem": layout.ca_cert(org2).read_text()}}},
    }
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    endpoint = from_profile(path)
    assert endpoint.msp_id == "Org2MSP"
    w = layout.wallet_dir(org2, "analyst")
    with endpoint.dial() as channel:
        contract = connect(Identity.from_wallet(w), signer_from_wallet(w), channel) \
            .get_network(CHANNEL).get_contract(CHAINCODE)
        key = _key()
        contract.submit("put", [key, "via profile"])
        assert contract.evaluate("get", [key]) == b"via profile"


def test_ca_reenroll_and_revoke(raft_network):
    from ledgerlake.network.pki import OrgCA
    ca = OrgCA(raft_network.layout, raft_network.layout.org("Org1"))
    name = f"temp-{uuid.uuid4().hex[:6]}"
    secret = ca.client.register(ca.registrar, name, attrs={"ledgerlake.role": "auditor"})
    enrollment = ca.client.enroll(name, secret)
    renewed = ca.client.reenroll(enrollment)
    assert renewed.certificate.serial_number != enrollment.certificate.serial_number
    ca.client.revoke(ca.registrar, name, reason="keycompromise")
    with pytest.raises(CAError):
        ca.client.reenroll(renewed)
    with pytest.raises(CAError, match="refused register"):
        ca.client.register(ca.registrar, name)


@event_test
def test_async_event_iterators(raft_network, wallet):
    async def main():
        channel = from_state_dir(raft_network.state_dir, "Org1").dial_async()
        gw = connect_async(Identity.from_wallet(wallet), signer_from_wallet(wallet), channel)
        network = gw.get_network(CHANNEL)
        contract = network.get_contract(CHAINCODE)
        key = _key()
        commit = await contract.submit_async("put", [key, "async events"])
        status = await commit.status()
        got_event = got_block = None
        async with network.chaincode_events(CHAINCODE, start_block=status.block_number,
                                            timeout=EVENT_WAIT) as ev:
            async for event in ev:
                if event.transaction_id == commit.transaction_id:
                    got_event = event
                    break
        async with network.block_events(start_block=status.block_number,
                                        timeout=EVENT_WAIT) as blocks:
            async for block in blocks:
                got_block = block
                break
        await channel.close()
        return commit, status, got_event, got_block

    commit, status, event, block = asyncio.run(asyncio.wait_for(main(), EVENT_WAIT + 10))
    assert event is not None and block is not None, "a stream ended without its event"
    assert event.event_name == "RecordWritten" and event.block_number == status.block_number
    assert block.number == status.block_number
    assert commit.transaction_id in [t.tx_id for t in block.transactions]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["chaincode", "block", "filtered"])
def test_an_event_stream_that_gets_no_event_fails_at_its_deadline(raft_network, gateway, kind):
    """What the event tests rely on: waiting for an event that never comes ends in an
    error at the stream's deadline, never in a hang."""
    network = gateway.get_network(CHANNEL)
    future = raft_network.height()  # the next block: nothing writes one during this test
    stream = network.chaincode_events(CHAINCODE, start_block=future, timeout=3) \
        if kind == "chaincode" else \
        network.block_events(filtered=kind == "filtered", start_block=future, timeout=3)
    with stream, pytest.raises(GatewayError) as err:
        for item in stream:
            pytest.fail(f"an event from block {future} arrived: {item}")
    assert err.value.code is not None and err.value.code.name == "DEADLINE_EXCEEDED", err.value
