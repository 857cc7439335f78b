"""The one core under the sync and asyncio clients.

Every Gateway operation is written once, as a generator that yields ``Call``s (which RPC,
which request, which timeout, which error to raise) and receives the responses. Two tiny
drivers run such a flow: ``run_sync`` on a blocking ``grpc.Channel`` and ``run_async`` on a
``grpc.aio.Channel``. Composite operations (submit = endorse → submit → commit status) are
``yield from`` of the single steps.
"""

from __future__ import annotations

import asyncio
import time

from dataclasses import dataclass
from typing import Any, Generator

import grpc
from fabric_protos.gateway import gateway_pb2
from google.rpc import status_pb2

from ledgerlake.errors import ErrorDetail, GatewayError

STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class Call:
    method: str  # a Gateway service method: Evaluate, Endorse, Submit, CommitStatus
    request: Any
    timeout: float | None
    error: type[GatewayError]
    transaction_id: str


@dataclass(frozen=True)
class Pause:
    """A flow step that only waits (a retry's back-off): sleeps in either driver."""

    seconds: float


Flow = Generator[Call | Pause, Any, Any]


def error_details(metadata) -> tuple[ErrorDetail, ...]:
    """The Gateway's per-node ``ErrorDetail``s from an error's trailing metadata."""
    for key, value in metadata or ():
        if key == STATUS_DETAILS_KEY:
            status = status_pb2.Status.FromString(value)
            details = []
            for item in status.details:
                detail = gateway_pb2.ErrorDetail()
                if item.Unpack(detail):
                    details.append(ErrorDetail(detail.address, detail.msp_id, detail.message))
            return tuple(details)
    return ()


def translate(exc: grpc.RpcError, call: Call) -> GatewayError:
    code = exc.code() if hasattr(exc, "code") else None
    message = exc.details() if hasattr(exc, "details") else str(exc)
    metadata = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    return call.error(f"{call.method} failed: {message}", transaction_id=call.transaction_id,
                      code=code, details=error_details(metadata))


class Stubs:
    """Gateway method callables on one channel (sync or aio: same construction)."""

    def __init__(self, channel):
        self._channel = channel
        self._methods = {}

    def method(self, name: str):
        found = self._methods.get(name)
        if found is None:
            request, response = _TYPES[name]
            found = self._channel.unary_unary(
                f"/gateway.Gateway/{name}", request_serializer=request.SerializeToString,
                response_deserializer=response.FromString)
            self._methods[name] = found
        return found


_TYPES = {
    "Evaluate": (gateway_pb2.EvaluateRequest, gateway_pb2.EvaluateResponse),
    "Endorse": (gateway_pb2.EndorseRequest, gateway_pb2.EndorseResponse),
    "Submit": (gateway_pb2.SubmitRequest, gateway_pb2.SubmitResponse),
    "CommitStatus": (gateway_pb2.SignedCommitStatusRequest, gateway_pb2.CommitStatusResponse),
}


def run_sync(stubs: Stubs, flow: Flow):
    """Drive ``flow`` with blocking calls; return its result."""
    try:
        call = next(flow)
        while True:
            if isinstance(call, Pause):
                time.sleep(call.seconds)
                call = flow.send(None)
                continue
            try:
                response = stubs.method(call.method)(call.request, timeout=call.timeout)
            except grpc.RpcError as exc:
                call = flow.throw(translate(exc, call))
                continue
            call = flow.send(response)
    except StopIteration as done:
        return done.value


async def run_async(stubs: Stubs, flow: Flow):
    """Drive ``flow`` with ``grpc.aio`` calls; return its result."""
    try:
        call = next(flow)
        while True:
            if isinstance(call, Pause):
                await asyncio.sleep(call.seconds)
                call = flow.send(None)
                continue
            try:
                response = await stubs.method(call.method)(call.request, timeout=call.timeout)
            except grpc.RpcError as exc:
                call = flow.throw(translate(exc, call))
                continue
            call = flow.send(response)
    except StopIteration as done:
        return done.value
