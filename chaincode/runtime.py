"""A lean chaincode runtime on Fabric's chaincode protocol, served as chaincode-as-a-service.

The ledger API contract code calls is ``ledger.py``; this module is the peer protocol.
The peer dials this server and opens one ``protos.Chaincode/Connect`` stream per chaincode
connection; on it we REGISTER with our package id, the peer sends TRANSACTION messages, and
each transaction asks the peer for state (GET_STATE, PUT_STATE, …) on the same stream before
answering COMPLETED. Transactions run concurrently as asyncio tasks; replies from the peer
are matched to the waiting transaction by (channel, txid). Errors from the peer raise in the
chaincode instead of coming back as data, and the transaction's chaincode event is sent with
COMPLETED.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Mapping

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.ledger.queryresult import kv_query_result_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    chaincode_shim_pb2 as shim,
    chaincode_shim_pb2_grpc as shim_grpc,
    proposal_pb2,
    proposal_response_pb2,
)

from ledgerlake.chaincode.ledger import ChaincodeError, Ledger, check_bookmark
from ledgerlake.protocol import Creator, ErrorCode

log = logging.getLogger("ledgerlake.chaincode")

Msg = shim.ChaincodeMessage


def parse_creator(serialized: bytes) -> Creator:
    """The creator in a proposal's signature header (MSP ID + certificate)."""
    sid = identities_pb2.SerializedIdentity.FromString(serialized)
    return Creator.from_certificate(sid.mspid, sid.id_bytes)


@dataclass(eq=False)
class Stub(Ledger):
    """The ledger as the peer serves it, for one transaction."""

    session: "_Session"
    channel_id: str
    tx_id: str
    function: str
    args: list[bytes]
    signed_proposal: proposal_pb2.SignedProposal
    own_msp_id: str = ""
    event: chaincode_event_pb2.ChaincodeEvent | None = field(default=None)

    # The proposal is decoded only as far as a function asks (time, creator, transient):
    # the self-test put needs none of it, and every decode is CPU on the endorsement path.
    def __post_init__(self) -> None:
        self._proposal: proposal_pb2.Proposal | None = None
        self._header: common_pb2.Header | None = None
        self._timestamp_ns: int | None = None
        self._transient: dict | None = None
        self._creator: Creator | None = None

    def _decoded_header(self) -> common_pb2.Header:
        if self._header is None:
            self._proposal = proposal_pb2.Proposal.FromString(
                self.signed_proposal.proposal_bytes)
            self._header = common_pb2.Header.FromString(self._proposal.header)
        return self._header

    @property
    def timestamp_ns(self) -> int:
        if self._timestamp_ns is None:
            ts = common_pb2.ChannelHeader.FromString(
                self._decoded_header().channel_header).timestamp
            self._timestamp_ns = ts.seconds * 1_000_000_000 + ts.nanos
        return self._timestamp_ns

    @property
    def transient(self) -> dict:
        if self._transient is None:
            self._decoded_header()
            self._transient = dict(proposal_pb2.ChaincodeProposalPayload.FromString(
                self._proposal.payload).TransientMap)
        return self._transient

    def creator(self) -> Creator:
        if self._creator is None:
            signature_header = common_pb2.SignatureHeader.FromString(
                self._decoded_header().signature_header)
            self._creator = parse_creator(signature_header.creator)
        return self._creator

    # -- state ------------------------------------------------------------------------------
    async def get_state(self, key: str) -> bytes:
        """The committed value of ``key`` (b"" when absent)."""
        return await self._ask(Msg.GET_STATE, shim.GetState(key=key, collection=""))

    async def put_state(self, key: str, value: bytes) -> None:
        await self._ask(Msg.PUT_STATE, shim.PutState(key=key, value=value, collection=""))

    async def delete_state(self, key: str) -> None:
        await self._ask(Msg.DEL_STATE, shim.DelState(key=key, collection=""))

    async def get_state_by_range(self, start: str, end: str, page_size: int = 0,
                                 bookmark: str = "") -> tuple[list[tuple[str, bytes]], str]:
        check_bookmark(start, end, bookmark)
        metadata = b""
        if page_size:
            metadata = shim.QueryMetadata(pageSize=page_size, bookmark=bookmark).SerializeToString()
        raw = await self._ask(Msg.GET_STATE_BY_RANGE, shim.GetStateByRange(
            startKey=start, endKey=end, collection="", metadata=metadata))
        results: list[tuple[str, bytes]] = []
        next_bookmark = ""
        while True:
            response = shim.QueryResponse.FromString(raw)
            for item in response.results:
                kv = kv_query_result_pb2.KV.FromString(item.resultBytes)
                results.append((kv.key, kv.value))
            if response.metadata:
                next_bookmark = shim.QueryResponseMetadata.FromString(response.metadata).bookmark
            if not response.has_more:
                break
            raw = await self._ask(Msg.QUERY_STATE_NEXT, shim.QueryStateNext(id=response.id))
        if page_size and len(results) < page_size:
            next_bookmark = ""
        return results, next_bookmark

    async def get_history_for_key(self, key: str, limit: int = 0) -> list[dict]:
        raw = await self._ask(Msg.GET_HISTORY_FOR_KEY, shim.GetHistoryForKey(key=key))
        history: list[dict] = []
        while True:
            response = shim.QueryResponse.FromString(raw)
            for item in response.results:
                km = kv_query_result_pb2.KeyModification.FromString(item.resultBytes)
                history.append({"tx_id": km.tx_id, "value": km.value, "is_delete": km.is_delete,
                                "timestamp_ns": km.timestamp.seconds * 1_000_000_000
                                + km.timestamp.nanos})
            if not response.has_more:
                break
            if limit and len(history) >= limit:  # enough: let the peer drop the iterator
                await self._ask(Msg.QUERY_STATE_CLOSE, shim.QueryStateClose(id=response.id))
                break
            raw = await self._ask(Msg.QUERY_STATE_NEXT, shim.QueryStateNext(id=response.id))
        return history[:limit] if limit else history

    async def _ask(self, kind: int, request) -> bytes:
        reply = await self.session.ask(Msg(type=kind, payload=request.SerializeToString(),
                                           txid=self.tx_id, channel_id=self.channel_id))
        if reply.type == Msg.ERROR:
            # the contract asked for something the peer does not allow: a bug, not the caller's
            raise ChaincodeError(ErrorCode.INTERNAL, f"peer refused {Msg.Type.Name(kind)}: "
                                 f"{reply.payload.decode(errors='replace')}")
        return reply.payload


Handler = Callable[..., Awaitable[bytes | str | None]]


class _Session:
    """One Connect stream from a peer."""

    def __init__(self, chaincode_id: str, functions: Mapping[str, Handler],
                 own_msp_id: str = ""):
        self.chaincode_id = chaincode_id
        self.functions = functions
        self.own_msp_id = own_msp_id
        self.outbox: asyncio.Queue[Msg | None] = asyncio.Queue()
        self.pending: dict[tuple[str, str], asyncio.Future] = {}
        self.tasks: set[asyncio.Task] = set()

    async def ask(self, msg: Msg) -> Msg:
        future = asyncio.get_running_loop().create_future()
        self.pending[(msg.channel_id, msg.txid)] = future
        await self.outbox.put(msg)
        return await future

    def on_message(self, msg: Msg) -> None:
        if msg.type in (Msg.RESPONSE, Msg.ERROR):
            future = self.pending.pop((msg.channel_id, msg.txid), None)
            if future is not None and not future.done():
                future.set_result(msg)
        elif msg.type in (Msg.TRANSACTION, Msg.INIT):
            task = asyncio.create_task(self.run(msg))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif msg.type in (Msg.REGISTERED, Msg.READY, Msg.KEEPALIVE):
            pass
        else:
            log.warning("ignoring %s from the peer", Msg.Type.Name(msg.type))

    async def run(self, msg: Msg) -> None:
        stub = None
        try:
            spec = chaincode_pb2.ChaincodeInput.FromString(msg.payload)
            try:
                function = spec.args[0].decode() if spec.args else ""
            except UnicodeDecodeError:
                raise ChaincodeError(ErrorCode.UNKNOWN_FUNCTION,
                                     "the function name is not UTF-8") from None
            stub = Stub(self, msg.channel_id, msg.txid, function, list(spec.args[1:]),
                        msg.proposal, own_msp_id=self.own_msp_id)
            handler = self.functions.get(function)
            if handler is None:
                raise ChaincodeError(ErrorCode.UNKNOWN_FUNCTION,
                                     f"unknown function {function[:64]!r}; known: "
                                     f"{', '.join(sorted(self.functions))}")
            result = await handler(stub, *stub.args)
            payload = result.encode() if isinstance(result, str) else (result or b"")
            response = proposal_response_pb2.Response(status=200, payload=payload)
        except ChaincodeError as exc:
            response = proposal_response_pb2.Response(status=500, message=str(exc))
        except Exception as exc:  # a bug in contract code: fail the transaction, keep serving
            log.exception("transaction %s failed", msg.txid)
            response = proposal_response_pb2.Response(
                status=500, message=f"{ErrorCode.INTERNAL.value}: internal chaincode error: "
                                    f"{type(exc).__name__}: {exc}"[:1000])
        done = Msg(type=Msg.COMPLETED, payload=response.SerializeToString(), txid=msg.txid,
                   channel_id=msg.channel_id)
        if stub is not None and stub.event is not None and response.status == 200:
            done.chaincode_event.CopyFrom(stub.event)
        await self.outbox.put(done)


class _Servicer(shim_grpc.ChaincodeServicer):
    def __init__(self, chaincode_id: str, functions: Mapping[str, Handler], own_msp_id: str):
        self.chaincode_id = chaincode_id
        self.functions = functions
        self.own_msp_id = own_msp_id

    async def Connect(self, request_iterator, context):
        session = _Session(self.chaincode_id, self.functions, self.own_msp_id)
        register = Msg(type=Msg.REGISTER,
                       payload=chaincode_pb2.ChaincodeID(name=self.chaincode_id)
                       .SerializeToString())
        await session.outbox.put(register)

        async def read() -> None:
            try:
                async for msg in request_iterator:
                    session.on_message(msg)
            finally:
                await session.outbox.put(None)

        reader = asyncio.create_task(read())
        try:
            while (msg := await session.outbox.get()) is not None:
                yield msg
        finally:
            reader.cancel()
            for task in list(session.tasks):
                task.cancel()


async def serve(chaincode_id: str, address: str, functions: Mapping[str, Handler], *,
                own_msp_id: str, tls_cert: bytes | None = None, tls_key: bytes | None = None,
                client_root: bytes | None = None) -> None:
    """Serve ``functions`` as chaincode ``chaincode_id`` on ``address`` until cancelled.

    ``own_msp_id`` is the organisation this server endorses for (the contract sends
    plaintext checks only to reader organisations, so it must know which one it is).

    With ``client_root``, only peers whose TLS client certificate that root signed may
    connect (mutual TLS)."""
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 100 * 2**20),
                                      ("grpc.max_send_message_length", 100 * 2**20)])
    shim_grpc.add_ChaincodeServicer_to_server(_Servicer(chaincode_id, functions, own_msp_id),
                                              server)
    if tls_cert and tls_key:
        server.add_secure_port(address, grpc.ssl_server_credentials(
            [(tls_key, tls_cert)], root_certificates=client_root,
            require_client_auth=client_root is not None))
    else:
        server.add_insecure_port(address)
    await server.start()
    log.info("chaincode %s listening on %s (tls=%s, client certificates required=%s)",
             chaincode_id, address, bool(tls_cert), client_root is not None)
    try:
        await server.wait_for_termination()
    finally:
        await server.stop(grace=2)
