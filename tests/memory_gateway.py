"""A gRPC channel whose Gateway service is the contract on a ``MemoryLedger``.

The real client (``connect``/``connect_async``, proposals, the sans-IO flows, both drivers)
talks to it as to a peer's Gateway: Evaluate and Endorse run the function on the in-memory
ledger, Submit commits the endorsed transaction in a block of its own, CommitStatus answers
its validation code, and the query system chaincode (qscc) answers GetTransactionByID with
the committed transaction. Chaincode errors come back as the Gateway sends them (a gRPC error
whose details carry ``chaincode response 500, <message>``). Pure logic, for unit tests.

Identities: ``identity(msp_id, role, name)`` gives an ``Identity`` whose "certificate" names
its role, which the fake reads back (there is no CA here).
"""

from __future__ import annotations

import asyncio

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import (
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf import any_pb2
from google.rpc import status_pb2

from ledgerlake.chaincode.contract import FUNCTIONS
from ledgerlake.chaincode.memory import MemoryLedger, member
from ledgerlake.client import Identity, connect, connect_async
from ledgerlake.client.rpc import STATUS_DETAILS_KEY


def identity(msp_id: str, role: str, name: str | None = None) -> Identity:
    return Identity(msp_id, f"{role}:{name or role}".encode())


class GatewayRpcError(grpc.RpcError):
    def __init__(self, code, message, details=()):
        self._code, self._message = code, message
        status = status_pb2.Status(code=code.value[0], message=message)
        for text in details:
            packed = any_pb2.Any()
            packed.Pack(gateway_pb2.ErrorDetail(address="peer0.memory:7051",
                                                msp_id="Org1MSP", message=text))
            status.details.append(packed)
        self._metadata = ((STATUS_DETAILS_KEY, status.SerializeToString()),)

    def code(self):
        return self._code

    def details(self):
        return self._message

    def trailing_metadata(self):
        return self._metadata


def _decode(signed: proposal_pb2.SignedProposal):
    proposal = proposal_pb2.Proposal.FromString(signed.proposal_bytes)
    header = common_pb2.Header.FromString(proposal.header)
    channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
    creator = identities_pb2.SerializedIdentity.FromString(
        common_pb2.SignatureHeader.FromString(header.signature_header).creator)
    role, name = creator.id_bytes.decode().split(":", 1)
    payload = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload)
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
    function, *args = spec.chaincode_spec.input.args
    ts = channel_header.timestamp
    return (member(creator.mspid, role, name), function.decode(), args,
            dict(payload.TransientMap), ts.seconds * 10**9 + ts.nanos,
            spec.chaincode_spec.chaincode_id.name, channel_header.tx_id)


def _prepared(signed: proposal_pb2.SignedProposal, result: bytes) -> common_pb2.Envelope:
    """The transaction as a peer's Gateway prepares it: the proposal's header, its input
    without the transient data, and the chaincode's response."""
    proposal = proposal_pb2.Proposal.FromString(signed.proposal_bytes)
    sent = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload)
    action = proposal_pb2.ChaincodeAction(response=proposal_response_pb2.Response(
        status=200, payload=result))
    prp = proposal_response_pb2.ProposalResponsePayload(extension=action.SerializeToString())
    cap = transaction_pb2.ChaincodeActionPayload(
        chaincode_proposal_payload=proposal_pb2.ChaincodeProposalPayload(
            input=sent.input).SerializeToString(),
        action=transaction_pb2.ChaincodeEndorsedAction(
            proposal_response_payload=prp.SerializeToString()))
    tx = transaction_pb2.Transaction(actions=[transaction_pb2.TransactionAction(
        payload=cap.SerializeToString())])
    return common_pb2.Envelope(payload=common_pb2.Payload(
        header=common_pb2.Header.FromString(proposal.header),
        data=tx.SerializeToString()).SerializeToString())


class MemoryGateway:
    """The Gateway service over a MemoryLedger, as a (sync or aio) gRPC channel."""

    def __init__(self, ledger: MemoryLedger | None = None, asynchronous: bool = False):
        self.ledger = ledger or MemoryLedger(FUNCTIONS)
        self.asynchronous = asynchronous
        self.pending = {}
        self.statuses = {}
        self.calls: list[tuple[str, str]] = []  # (gateway method, contract function)
        self.wrote: list[bool] = []  # whether each endorsement wrote to world state
        self.committed: dict[str, tuple[bytes, int]] = {}  # tx id: (envelope, validation)

    def _qscc(self, function: str, args) -> bytes:
        """The query system chaincode's GetTransactionByID over committed transactions."""
        if function != "GetTransactionByID" or args[1].decode() not in self.committed:
            text = f"chaincode response 500, no {function} {args[1:]!r} here"
            raise GatewayRpcError(grpc.StatusCode.UNKNOWN, text, [text])
        envelope, code = self.committed[args[1].decode()]
        return transaction_pb2.ProcessedTransaction(
            transactionEnvelope=common_pb2.Envelope.FromString(envelope),
            validationCode=code).SerializeToString()

    def _endorse(self, signed, method: str):
        creator, function, args, transient, ts, chaincode, tx_id = _decode(signed)
        self.calls.append((method, function))
        tx = self.ledger.endorse(creator, function, *args, transient=transient,
                                 timestamp_ns=ts, tx_id=tx_id)
        self.wrote.append(bool(tx.writes))
        if tx.error:
            text = f"chaincode response 500, {tx.error}"
            if method == "Evaluate":
                raise GatewayRpcError(grpc.StatusCode.UNKNOWN,
                                      f"evaluate call to endorser returned error: {text}",
                                      [text])
            raise GatewayRpcError(grpc.StatusCode.ABORTED, "failed to endorse transaction, "
                                  "see attached details for more info", [text])
        return tx

    def handle(self, method: str, request):
        if method == "Evaluate":
            _, function, args, _, _, chaincode, _ = _decode(request.proposed_transaction)
            if chaincode == "qscc":
                return gateway_pb2.EvaluateResponse(result=proposal_response_pb2.Response(
                    status=200, payload=self._qscc(function, args)))
            tx = self._endorse(request.proposed_transaction, method)
            return gateway_pb2.EvaluateResponse(result=proposal_response_pb2.Response(
                status=200, payload=tx.result))
        if method == "Endorse":
            tx = self._endorse(request.proposed_transaction, method)
            self.pending[request.transaction_id] = tx
            return gateway_pb2.EndorseResponse(
                prepared_transaction=_prepared(request.proposed_transaction, tx.result))
        if method == "Submit":
            tx = self.pending.pop(request.transaction_id)
            code = transaction_pb2.TxValidationCode.Value(self.ledger.commit(tx)[0])
            self.statuses[request.transaction_id] = (code, self.ledger.block)
            self.committed[request.transaction_id] = (
                request.prepared_transaction.SerializeToString(), code)
            return gateway_pb2.SubmitResponse()
        if method == "CommitStatus":
            tx_id = gateway_pb2.CommitStatusRequest.FromString(request.request).transaction_id
            code, block = self.statuses[tx_id]
            return gateway_pb2.CommitStatusResponse(result=code, block_number=block)
        raise GatewayRpcError(grpc.StatusCode.UNIMPLEMENTED, f"no method {method}")

    # -- the grpc.Channel surface Stubs uses ------------------------------------------------
    def unary_unary(self, path, request_serializer=None, response_deserializer=None):
        method = path.rsplit("/", 1)[-1]
        if self.asynchronous:
            async def call(request, timeout=None):
                # MemoryLedger runs the contract on its own event loop: keep it off this one
                return await asyncio.to_thread(self.handle, method, request)
        else:
            def call(request, timeout=None):
                return self.handle(method, request)
        return call

    def contract(self, msp_id: str, role: str, name: str | None = None):
        """A Gateway ``Contract`` for a member (sync or async as this channel is)."""
        make = connect_async if self.asynchronous else connect
        gateway = make(identity(msp_id, role, name), lambda message: b"sig", self)
        return gateway.get_network("ledgerlake").get_contract("ledgerlake")
