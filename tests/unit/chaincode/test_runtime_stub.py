"""The peer-backed Stub reads time and transient data from the signed proposal (decoded
only when a function asks)."""

from fabric_protos.peer import proposal_pb2

from ledgerlake.chaincode.runtime import Stub
from ledgerlake.client import proposal as build


def test_stub_reads_time_and_transient_data_from_the_proposal():
    _, data = build.build_proposal(b"creator", "ch", "cc", "put", ["k"],
                                   {"records": b"secret"}, now=1700000000.25)
    stub = Stub(None, "ch", "tx", "put", [b"k"],
                proposal_pb2.SignedProposal(proposal_bytes=data, signature=b"s"))
    assert stub.timestamp_ns == 1_700_000_000_250_000_000
    assert stub.transient == {"records": b"secret"}
    assert stub._header is not None  # decoded once, kept
