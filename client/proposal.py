"""Building what the Gateway is sent: transaction ids, proposals, signed requests.

Pure functions over protobuf messages, shared by the sync and asyncio clients.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Iterable, Mapping

from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2
from google.protobuf import timestamp_pb2

NONCE_SIZE = 24


def transaction_id(nonce: bytes, creator: bytes) -> str:
    """Fabric's transaction id: hex SHA-256 of nonce + creator (the peer checks it)."""
    return hashlib.sha256(nonce + creator).hexdigest()


def timestamp(now: float | None = None) -> timestamp_pb2.Timestamp:
    now = time.time() if now is None else now
    seconds = int(now)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=int((now - seconds) * 1e9))


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def build_proposal(creator: bytes, channel: str, chaincode: str, function: str,
                   args: Iterable[str | bytes] = (), transient: Mapping[str, bytes] | None = None,
                   *, nonce: bytes | None = None, now: float | None = None
                   ) -> tuple[str, bytes]:
    """Return ``(transaction_id, proposal_bytes)`` for a chaincode invocation."""
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    tx_id = transaction_id(nonce, creator)
    cc_id = chaincode_pb2.ChaincodeID(name=chaincode)
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.ENDORSER_TRANSACTION, channel_id=channel, tx_id=tx_id,
        timestamp=timestamp(now), epoch=0,
        extension=proposal_pb2.ChaincodeHeaderExtension(chaincode_id=cc_id).SerializeToString())
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=common_pb2.SignatureHeader(creator=creator, nonce=nonce)
        .SerializeToString())
    spec = chaincode_pb2.ChaincodeInvocationSpec(chaincode_spec=chaincode_pb2.ChaincodeSpec(
        chaincode_id=cc_id,
        input=chaincode_pb2.ChaincodeInput(args=[function.encode(), *map(_as_bytes, args)])))
    payload = proposal_pb2.ChaincodeProposalPayload(
        input=spec.SerializeToString(),
        TransientMap={k: _as_bytes(v) for k, v in (transient or {}).items()})
    proposal = proposal_pb2.Proposal(header=header.SerializeToString(),
                                     payload=payload.SerializeToString())
    return tx_id, proposal.SerializeToString()


def commit_status_request(tx_id: str, channel: str, creator: bytes) -> bytes:
    return gateway_pb2.CommitStatusRequest(transaction_id=tx_id, channel_id=channel,
                                           identity=creator).SerializeToString()


def chaincode_events_request(channel: str, chaincode: str, creator: bytes, *,
                             start_block: int | None = None,
                             after_transaction_id: str = "") -> bytes:
    if start_block is None:
        start = ab_pb2.SeekPosition(next_commit=ab_pb2.SeekNextCommit())
    else:
        start = ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start_block))
    return gateway_pb2.ChaincodeEventsRequest(
        channel_id=channel, chaincode_id=chaincode, identity=creator, start_position=start,
        after_transaction_id=after_transaction_id).SerializeToString()


MAX_BLOCK = 2**64 - 1


def deliver_envelope_payload(channel: str, creator: bytes, start_block: int | None,
                             stop_block: int | None = None, *, tls_cert_hash: bytes = b"",
                             now: float | None = None) -> bytes:
    """The payload of the signed envelope a Deliver stream starts with (SeekInfo)."""
    if start_block is None:
        start = ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest())
    else:
        start = ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start_block))
    stop = ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(
        number=MAX_BLOCK if stop_block is None else stop_block))
    seek = ab_pb2.SeekInfo(start=start, stop=stop, behavior=ab_pb2.SeekInfo.BLOCK_UNTIL_READY)
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.DELIVER_SEEK_INFO, channel_id=channel, timestamp=timestamp(now),
        tls_cert_hash=tls_cert_hash)
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=common_pb2.SignatureHeader(creator=creator).SerializeToString())
    return common_pb2.Payload(header=header, data=seek.SerializeToString()).SerializeToString()


def digest(data: bytes) -> bytes:
    """SHA-256, the hash Fabric signs over (signers hash internally; this is for off-line use)."""
    return hashlib.sha256(data).digest()
