"""The step-by-step transaction flow: Proposal → Transaction → Commit → Status.

Each object exposes the exact bytes it will send (``bytes``) and their SHA-256 (``digest``)
so it can be signed off-line (``with_signature``). Each I/O method returns its result with
a sync Gateway and an awaitable with an asyncio Gateway; both run the same flow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Sequence

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import (
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)

from ledgerlake.client import proposal as build
from ledgerlake.client import endorsers
from ledgerlake.client.commits import TIMED_OUT
from ledgerlake.client.rpc import PLAN_UNAVAILABLE, AwaitCommit, Call, Flow, retrying
from ledgerlake.errors import CommitError, CommitStatusError, EndorseError, SubmitError

if TYPE_CHECKING:
    from ledgerlake.client.gateway import Gateway

#: the least a CommitStatus RPC is given when a block stream gave up on the transaction
MIN_RPC_WAIT = 1.0


@dataclass(frozen=True)
class Status:
    """A transaction's commit status."""

    transaction_id: str
    code: int
    block_number: int

    @property
    def successful(self) -> bool:
        return self.code == transaction_pb2.VALID

    @property
    def code_name(self) -> str:
        return transaction_pb2.TxValidationCode.Name(self.code)


class _Signable:
    """Bytes to sign, their digest, and the signature once there is one."""

    _bytes: bytes
    _signature: bytes | None
    gateway: "Gateway"

    @property
    def bytes(self) -> bytes:
        return self._bytes

    @property
    def digest(self) -> bytes:
        return build.digest(self.bytes)

    def _sign(self) -> bytes:
        if self._signature is None:
            self._signature = self.gateway.sign(self.bytes)
        return self._signature


@dataclass(eq=False)
class Proposal(_Signable):
    """A chaincode proposal, ready to evaluate or endorse."""

    gateway: "Gateway"
    channel: str
    transaction_id: str
    _bytes: bytes
    endorsing_organizations: Sequence[str] = ()
    _signature: bytes | None = None
    chaincode: str = ""
    #: name the organisations the chaincode's definition requires when none are given
    #: (``ledgerlake.client.endorsers``); Contract sets it for calls without transient data
    plan: bool = False

    def with_signature(self, signature: bytes) -> "Proposal":
        """The same proposal carrying a signature made elsewhere over ``bytes``."""
        return replace(self, _signature=signature)

    def _signed(self) -> proposal_pb2.SignedProposal:
        return proposal_pb2.SignedProposal(proposal_bytes=self._bytes, signature=self._sign())

    def evaluate_flow(self, target_organizations: Sequence[str] = (),
                      timeout: float | None = None) -> Flow:
        request = gateway_pb2.EvaluateRequest(
            transaction_id=self.transaction_id, channel_id=self.channel,
            proposed_transaction=self._signed(), target_organizations=target_organizations)
        response = yield from retrying(
            Call("Evaluate", request, timeout or self.gateway.timeouts["evaluate"],
                 EndorseError, self.transaction_id), self.gateway.backoff)
        return response.result.payload

    def endorse_flow(self, timeout: float | None = None) -> Flow:
        organizations = planned = ()
        if self.endorsing_organizations:
            organizations = self.endorsing_organizations
        elif self.plan and endorsers.plannable(self.chaincode):
            organizations = planned = yield from endorsers.endorsers_flow(
                self.gateway.get_network(self.channel), self.chaincode)
        timeout = timeout or self.gateway.timeouts["endorse"]
        try:
            response = yield from self._endorse_call(organizations, timeout)
        except EndorseError as exc:
            # Named organisations the Gateway has no peer of (yet) answer UNAVAILABLE; the
            # Gateway's own plan says FAILED_PRECONDITION for that, which is retried briefly
            # (its discovery view can lag under load): so ask once more as if unplanned.
            if not planned or exc.code != grpc.StatusCode.UNAVAILABLE:
                raise
            response = yield from self._endorse_call((), timeout)
        envelope = response.prepared_transaction
        return Transaction(self.gateway, self.channel, self.transaction_id, envelope.payload,
                           transaction_result(envelope.payload), chaincode=self.chaincode)

    def _endorse_call(self, organizations: Sequence[str], timeout: float) -> Flow:
        request = gateway_pb2.EndorseRequest(
            transaction_id=self.transaction_id, channel_id=self.channel,
            proposed_transaction=self._signed(), endorsing_organizations=organizations)
        return (yield from retrying(
            Call("Endorse", request, timeout, EndorseError, self.transaction_id),
            self.gateway.backoff, briefly=PLAN_UNAVAILABLE))

    def evaluate(self, target_organizations: Sequence[str] = (), timeout: float | None = None):
        """The chaincode's answer from one peer, nothing recorded. Raises EndorseError."""
        return self.gateway.run(self.evaluate_flow(target_organizations, timeout))

    def endorse(self, timeout: float | None = None):
        """Collect endorsements; returns a Transaction. Raises EndorseError."""
        return self.gateway.run(self.endorse_flow(timeout))


@dataclass(eq=False)
class Transaction(_Signable):
    """An endorsed transaction (an unsigned envelope) and the chaincode's result."""

    gateway: "Gateway"
    channel: str
    transaction_id: str
    _bytes: bytes  # the envelope payload
    result: bytes
    _signature: bytes | None = None
    chaincode: str = ""

    def with_signature(self, signature: bytes) -> "Transaction":
        return replace(self, _signature=signature)

    def submit_flow(self, timeout: float | None = None) -> Flow:
        envelope = common_pb2.Envelope(payload=self._bytes, signature=self._sign())
        request = gateway_pb2.SubmitRequest(transaction_id=self.transaction_id,
                                            channel_id=self.channel,
                                            prepared_transaction=envelope)
        # a refused attempt was never broadcast; and were it ordered twice, the ledger keeps
        # the first copy of a transaction id and marks the other DUPLICATE_TXID
        yield from retrying(Call("Submit", request, timeout or self.gateway.timeouts["submit"],
                                 SubmitError, self.transaction_id), self.gateway.backoff)
        return Commit(self.gateway, self.channel, self.transaction_id, None, self.result,
                      chaincode=self.chaincode)

    def submit(self, timeout: float | None = None):
        """Send to the orderers; returns a Commit once they accept. Raises SubmitError."""
        return self.gateway.run(self.submit_flow(timeout))


@dataclass(eq=False)
class Commit(_Signable):
    """A submitted transaction whose commit status can be awaited."""

    gateway: "Gateway"
    channel: str
    transaction_id: str
    _bytes: bytes | None  # the CommitStatusRequest (None: built when first needed)
    result: bytes = b""
    _signature: bytes | None = None
    chaincode: str = ""

    @property
    def bytes(self) -> bytes:
        # built on demand: with a block stream, no CommitStatus request is ever sent
        if self._bytes is None:
            self._bytes = build.commit_status_request(self.transaction_id, self.channel,
                                                      self.gateway.identity.creator)
        return self._bytes

    def with_signature(self, signature: bytes) -> "Commit":
        return replace(self, _bytes=self.bytes, _signature=signature)

    def status_flow(self, timeout: float | None = None) -> Flow:
        timeout = timeout or self.gateway.timeouts["commit_status"]
        started = time.monotonic()
        seen = yield AwaitCommit(self.channel, self.transaction_id, timeout)
        if seen == TIMED_OUT:  # what the CommitStatus RPC says when its deadline passes
            raise CommitStatusError("CommitStatus failed: Deadline Exceeded",
                                    transaction_id=self.transaction_id,
                                    code=grpc.StatusCode.DEADLINE_EXCEEDED)
        if seen is not None:
            status = Status(self.transaction_id, *seen)
        else:
            request = gateway_pb2.SignedCommitStatusRequest(request=self.bytes,
                                                            signature=self._sign())
            # what is left of the deadline if the stream gave up part-way (the peer answers a
            # committed transaction at once, so a short floor is enough)
            left = max(MIN_RPC_WAIT, timeout - (time.monotonic() - started))
            response = yield from retrying(
                Call("CommitStatus", request, left, CommitStatusError, self.transaction_id),
                self.gateway.backoff)
            status = Status(self.transaction_id, response.result, response.block_number)
        if status.code == transaction_pb2.ENDORSEMENT_POLICY_FAILURE and self.chaincode:
            endorsers.forget(self.gateway.get_network(self.channel), self.chaincode)
        return status

    def status(self, timeout: float | None = None):
        """Wait until the transaction is committed; returns its Status (valid or not).

        Raises CommitStatusError when the status cannot be read."""
        return self.gateway.run(self.status_flow(timeout))


def submit_flow(proposal: Proposal) -> Flow:
    """Endorse → submit → wait for commit; the chaincode result, or CommitError."""
    transaction = yield from proposal.endorse_flow()
    commit = yield from transaction.submit_flow()
    status = yield from commit.status_flow()
    if not status.successful:
        raise CommitError(status.transaction_id, status.code, status.block_number)
    return transaction.result


def submit_async_flow(proposal: Proposal) -> Flow:
    transaction = yield from proposal.endorse_flow()
    return (yield from transaction.submit_flow())


def transaction_result(envelope_payload: bytes) -> bytes:
    """The chaincode response payload inside a prepared transaction envelope."""
    payload = common_pb2.Payload.FromString(envelope_payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    for action in tx.actions:
        cap = transaction_pb2.ChaincodeActionPayload.FromString(action.payload)
        prp = proposal_response_pb2.ProposalResponsePayload.FromString(
            cap.action.proposal_response_payload)
        return proposal_pb2.ChaincodeAction.FromString(prp.extension).response.payload
    return b""
