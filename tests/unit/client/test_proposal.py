import hashlib

from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2

from ledgerlake.client import proposal as build


def test_transaction_id_is_sha256_of_nonce_and_creator():
    assert build.transaction_id(b"n" * 24, b"creator") == hashlib.sha256(
        b"n" * 24 + b"creator").hexdigest()


def test_proposal_carries_header_invocation_and_transient_data():
    tx_id, data = build.build_proposal(b"me", "ch", "cc", "put", ["k", b"\x00v"],
                                       {"secret": b"s"}, nonce=b"x" * 24, now=1700000000.25)
    proposal = proposal_pb2.Proposal.FromString(data)
    header = common_pb2.Header.FromString(proposal.header)
    ch = common_pb2.ChannelHeader.FromString(header.channel_header)
    sh = common_pb2.SignatureHeader.FromString(header.signature_header)
    assert ch.type == common_pb2.ENDORSER_TRANSACTION and ch.channel_id == "ch"
    assert ch.tx_id == tx_id == build.transaction_id(b"x" * 24, b"me")
    assert (ch.timestamp.seconds, ch.timestamp.nanos) == (1700000000, 250000000)
    ext = proposal_pb2.ChaincodeHeaderExtension.FromString(ch.extension)
    assert ext.chaincode_id.name == "cc"
    assert (sh.creator, sh.nonce) == (b"me", b"x" * 24)
    payload = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload)
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
    assert list(spec.chaincode_spec.input.args) == [b"put", b"k", b"\x00v"]
    assert dict(payload.TransientMap) == {"secret": b"s"}


def test_each_proposal_gets_a_fresh_nonce():
    a, _ = build.build_proposal(b"me", "ch", "cc", "f")
    b, _ = build.build_proposal(b"me", "ch", "cc", "f")
    assert a != b


def test_chaincode_events_request_resumes_after_a_transaction():
    data = build.chaincode_events_request("ch", "cc", b"me", start_block=7,
                                          after_transaction_id="tx1")
    req = gateway_pb2.ChaincodeEventsRequest.FromString(data)
    assert req.start_position.specified.number == 7 and req.after_transaction_id == "tx1"
    fresh = gateway_pb2.ChaincodeEventsRequest.FromString(
        build.chaincode_events_request("ch", "cc", b"me"))
    assert fresh.start_position.WhichOneof("Type") == "next_commit"


def test_deliver_payload_seeks_from_a_block_until_ready():
    payload = common_pb2.Payload.FromString(build.deliver_envelope_payload("ch", b"me", 3))
    ch = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
    assert ch.type == common_pb2.DELIVER_SEEK_INFO
    seek = ab_pb2.SeekInfo.FromString(payload.data)
    assert seek.start.specified.number == 3
    assert seek.stop.specified.number == build.MAX_BLOCK
    assert seek.behavior == ab_pb2.SeekInfo.BLOCK_UNTIL_READY
