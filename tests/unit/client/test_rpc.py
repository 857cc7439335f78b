"""The shared flow driver and Gateway error parsing (pure logic; no network)."""

import asyncio

import grpc
import pytest
from fabric_protos.gateway import gateway_pb2
from google.protobuf import any_pb2
from google.rpc import status_pb2

from ledgerlake.client.rpc import STATUS_DETAILS_KEY, Call, error_details, run_async, run_sync
from ledgerlake.errors import EndorseError, ErrorDetail


def _metadata(*details):
    status = status_pb2.Status(code=10, message="m")
    for d in details:
        packed = any_pb2.Any()
        packed.Pack(gateway_pb2.ErrorDetail(address=d[0], msp_id=d[1], message=d[2]))
        status.details.append(packed)
    return ((STATUS_DETAILS_KEY, status.SerializeToString()),)


def test_error_details_are_read_from_trailing_metadata():
    md = _metadata(("peer0:7", "Org1MSP", "chaincode response 500, no"),
                   ("peer1:7", "Org2MSP", "timeout"))
    assert error_details(md) == (ErrorDetail("peer0:7", "Org1MSP", "chaincode response 500, no"),
                                 ErrorDetail("peer1:7", "Org2MSP", "timeout"))
    assert error_details(()) == ()


class _RpcError(grpc.RpcError):
    def __init__(self, metadata):
        self._md = metadata

    def code(self):
        return grpc.StatusCode.ABORTED

    def details(self):
        return "failed to endorse"

    def trailing_metadata(self):
        return self._md


class _Stubs:
    def __init__(self, answers):
        self.answers = answers
        self.seen = []

    def method(self, name):
        def call(request, timeout=None):
            self.seen.append((name, request, timeout))
            answer = self.answers[name]
            if isinstance(answer, Exception):
                raise answer
            return answer
        return call


def _flow():
    first = yield Call("Endorse", "req1", 5.0, EndorseError, "tx1")
    second = yield Call("Submit", "req2", 6.0, EndorseError, "tx1")
    return (first, second)


def test_run_sync_feeds_each_response_back_into_the_flow():
    stubs = _Stubs({"Endorse": "r1", "Submit": "r2"})
    assert run_sync(stubs, _flow()) == ("r1", "r2")
    assert stubs.seen == [("Endorse", "req1", 5.0), ("Submit", "req2", 6.0)]


def test_rpc_error_becomes_the_steps_error_with_details():
    stubs = _Stubs({"Endorse": _RpcError(_metadata(("a:1", "Org1MSP", "boom")))})
    with pytest.raises(EndorseError) as err:
        run_sync(stubs, _flow())
    assert err.value.transaction_id == "tx1"
    assert err.value.code == grpc.StatusCode.ABORTED
    assert err.value.details == (ErrorDetail("a:1", "Org1MSP", "boom"),)
    assert "boom" in str(err.value)


def test_run_async_drives_the_same_flow():
    class AsyncStubs(_Stubs):
        def method(self, name):
            sync = super().method(name)

            async def call(request, timeout=None):
                return sync(request, timeout)
            return call

    assert asyncio.run(run_async(AsyncStubs({"Endorse": 1, "Submit": 2}), _flow())) == (1, 2)
