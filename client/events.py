"""Chaincode events (Gateway) and block events (peer Deliver service) as iterators.

With a sync Gateway they are iterators, with an asyncio Gateway async iterators; both start
from a checkpointer when given one (resuming after its last transaction), else from
``start_block``, else from the next commit. Close them (or use ``with``) to stop the stream.
"""

from __future__ import annotations

import asyncio

from dataclasses import dataclass

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import events_pb2

from ledgerlake.client import proposal as build
from ledgerlake.client.blocks import Block, decode_block
from ledgerlake.client.rpc import translate, Call
from ledgerlake.errors import GatewayError


@dataclass(frozen=True)
class ChaincodeEventMessage:
    block_number: int
    transaction_id: str
    chaincode_name: str
    event_name: str
    payload: bytes


class _Stream:
    """Shared start-position logic and closing for both kinds of event stream."""

    def __init__(self, network, start_block: int | None = None, checkpointer=None,
                 timeout: float | None = None):
        self.network = network
        self.gateway = network.gateway
        self.checkpointer = checkpointer
        self.timeout = timeout
        self.start_block = start_block
        self.after_transaction_id = ""
        if checkpointer is not None and checkpointer.block_number is not None:
            self.start_block = checkpointer.block_number
            self.after_transaction_id = checkpointer.transaction_id
        self._call = None
        self._closed = False

    def close(self) -> None:
        self._closed = True
        if self._call is not None:
            self._call.cancel()

    # subclasses: _open() starts the call, _items(response) yields what a response holds
    def _failed(self, exc: grpc.RpcError) -> GatewayError | None:
        if exc.code() == grpc.StatusCode.CANCELLED:  # closed by us
            return None
        return translate(exc, Call(type(self).__name__, None, None, GatewayError, ""))

    def _start(self):
        if self._call is not None:
            raise RuntimeError("an event stream can be iterated once; open a new one")
        return self._open()

    def __iter__(self):
        try:
            for response in self._start():
                yield from self._items(response)
        except grpc.RpcError as exc:
            error = self._failed(exc)
            if error is not None:
                raise error from None
        finally:
            self.close()

    async def __aiter__(self):
        try:
            async for response in self._start():
                for item in self._items(response):
                    yield item
        except grpc.RpcError as exc:
            error = self._failed(exc)
            if error is not None:
                raise error from None
        except asyncio.CancelledError:
            if not self._closed:  # cancelled from outside: propagate as asyncio expects
                raise
        finally:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()


class ChaincodeEvents(_Stream):
    """The events one chaincode emits, one ``ChaincodeEventMessage`` per event."""

    def __init__(self, network, chaincode: str, **options):
        super().__init__(network, **options)
        self.chaincode = chaincode

    def _request(self) -> gateway_pb2.SignedChaincodeEventsRequest:
        data = build.chaincode_events_request(
            self.network.name, self.chaincode, self.gateway.identity.creator,
            start_block=self.start_block, after_transaction_id=self.after_transaction_id)
        return gateway_pb2.SignedChaincodeEventsRequest(request=data,
                                                        signature=self.gateway.sign(data))

    def _open(self):
        method = self.gateway.channel.unary_stream(
            "/gateway.Gateway/ChaincodeEvents",
            request_serializer=gateway_pb2.SignedChaincodeEventsRequest.SerializeToString,
            response_deserializer=gateway_pb2.ChaincodeEventsResponse.FromString)
        self._call = method(self._request(), timeout=self.timeout)
        return self._call

    @staticmethod
    def _items(response):
        for ev in response.events:
            yield ChaincodeEventMessage(response.block_number, ev.tx_id, ev.chaincode_id,
                                        ev.event_name, ev.payload)


class BlockEvents(_Stream):
    """Blocks from a peer's Deliver service: decoded ``Block``s, or filtered blocks
    (``protos.FilteredBlock`` messages) with ``filtered=True``."""

    def __init__(self, network, filtered: bool = False, **options):
        super().__init__(network, **options)
        self.filtered = filtered

    def _envelope(self) -> common_pb2.Envelope:
        payload = build.deliver_envelope_payload(self.network.name, self.gateway.identity.creator,
                                                 self.start_block)
        return common_pb2.Envelope(payload=payload, signature=self.gateway.sign(payload))

    def _open(self):
        name = "DeliverFiltered" if self.filtered else "Deliver"
        method = self.gateway.channel.stream_stream(
            f"/protos.Deliver/{name}", request_serializer=common_pb2.Envelope.SerializeToString,
            response_deserializer=events_pb2.DeliverResponse.FromString)
        self._call = method(iter([self._envelope()]), timeout=self.timeout)
        return self._call

    @staticmethod
    def _items(response):
        kind = response.WhichOneof("Type")
        if kind == "block":
            yield decode_block(response.block)
        elif kind == "filtered_block":
            yield response.filtered_block
        elif kind == "status" and response.status != common_pb2.SUCCESS:
            raise GatewayError(f"Deliver ended with status "
                               f"{common_pb2.Status.Name(response.status)}")


__all__ = ["Block", "BlockEvents", "ChaincodeEventMessage", "ChaincodeEvents"]
