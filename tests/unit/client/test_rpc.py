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


# --- back-pressure: busy refusals are retried in the core, in-flight calls are bounded ---

import threading  # noqa: E402
import time  # noqa: E402

from fabric_protos.common import common_pb2  # noqa: E402

from ledgerlake.client import rpc  # noqa: E402
from ledgerlake.client.gateway import AsyncGateway, Gateway  # noqa: E402
from ledgerlake.client.identity import Identity  # noqa: E402
from ledgerlake.client.rpc import (  # noqa: E402
    PLAN_ATTEMPTS,
    PLAN_UNAVAILABLE,
    Backoff,
    Pause,
    Stubs,
    retrying,
    translate,
)
from ledgerlake.client.transaction import Proposal, submit_flow  # noqa: E402
from ledgerlake.errors import ConfigError, SubmitError  # noqa: E402

LIMITER = "too many requests for /gateway.Gateway, exceeding concurrency limit (500)"


class _Refusal(grpc.RpcError):
    def __init__(self, code, message):
        self._code, self._message = code, message

    def code(self):
        return self._code

    def details(self):
        return self._message

    def trailing_metadata(self):
        return ()


BUSY = _Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy")
LIMITED = _Refusal(grpc.StatusCode.UNKNOWN, LIMITER)


def test_the_peers_limiter_refusal_is_translated_to_resource_exhausted():
    call = Call("Submit", None, 1.0, SubmitError, "tx")
    assert translate(LIMITED, call).code == grpc.StatusCode.RESOURCE_EXHAUSTED
    other = translate(_Refusal(grpc.StatusCode.UNKNOWN, "something else"), call)
    assert other.code == grpc.StatusCode.UNKNOWN


def test_backoff_grows_exponentially_caps_and_jitters_within_half_to_all():
    top = Backoff(initial=0.1, multiplier=2, maximum=0.5, jitter=lambda: 1.0)
    assert [top.delay(n) for n in range(5)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    bottom = Backoff(initial=0.1, multiplier=2, maximum=0.5, jitter=lambda: 0.0)
    assert [bottom.delay(n) for n in range(3)] == pytest.approx([0.05, 0.1, 0.2])
    with pytest.raises(ValueError, match="invalid back-off"):
        Backoff(initial=0)


def _steps(flow, responses):
    """Drive a flow by hand: ``responses`` are what each Call gets (an exception is thrown
    in as the translated GatewayError); returns (yielded steps, result)."""
    steps, result = [], None
    try:
        step = next(flow)
        for answer in responses:
            steps.append(step)
            if isinstance(step, Pause):
                step = flow.send(None)
                continue
            step = (flow.throw(translate(answer, step)) if isinstance(answer, Exception)
                    else flow.send(answer))
        steps.append(step)
    except StopIteration as done:
        result = done.value
    return steps, result


def test_retrying_pauses_between_busy_refusals_then_returns_the_answer():
    call = Call("Endorse", "req", 5.0, EndorseError, "tx")
    backoff = Backoff(initial=0.1, jitter=lambda: 1.0)
    steps, result = _steps(retrying(call, backoff), [BUSY, None, LIMITED, None, "answer"])
    assert steps == [call, Pause(0.1), call, Pause(0.2), call]
    assert result == "answer"


def test_retrying_gives_up_after_its_attempts_with_the_busy_error():
    call = Call("Endorse", "req", 5.0, EndorseError, "tx")
    flow = retrying(call, Backoff(attempts=2, jitter=lambda: 0.0))
    with pytest.raises(EndorseError) as err:
        _steps(flow, [BUSY, None, BUSY, None, BUSY])
    assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("backoff", [Backoff(), None])
def test_retrying_never_repeats_other_failures_or_without_backoff(backoff):
    call = Call("Endorse", "req", 5.0, EndorseError, "tx")
    refusal = _RpcError(()) if backoff else BUSY  # ABORTED: the peers did run the proposal
    with pytest.raises(EndorseError):
        _steps(retrying(call, backoff), [refusal])


class _Channel:
    """A fake channel: each method answers from its script (exceptions are raised), and
    the channel notes how many calls were open at once."""

    def __init__(self, script, asynchronous=False, hold=0.0):
        self.script = {k: list(v) for k, v in script.items()}
        self.asynchronous, self.hold = asynchronous, hold
        self.calls: list[str] = []
        self.open = self.most_open = 0
        self.lock = threading.Lock()

    def _answer(self, name):
        self.calls.append(name)
        answers = self.script[name]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _enter(self):
        with self.lock:
            self.open += 1
            self.most_open = max(self.most_open, self.open)

    def _leave(self):
        with self.lock:
            self.open -= 1

    def unary_unary(self, path, request_serializer, response_deserializer):
        name = path.rsplit("/", 1)[1]
        if self.asynchronous:
            async def call(request, timeout=None):
                self._enter()
                try:
                    await asyncio.sleep(self.hold)
                    return self._answer(name)
                finally:
                    self._leave()
            return call

        def call(request, timeout=None):
            self._enter()
            try:
                time.sleep(self.hold)
                return self._answer(name)
            finally:
                self._leave()
        return call


def _script():
    """Every step is refused as busy once (the limiter's way or the gRPC way) first."""
    return {
        "Endorse": [BUSY, gateway_pb2.EndorseResponse(
            prepared_transaction=common_pb2.Envelope(payload=b""))],
        "Submit": [LIMITED, gateway_pb2.SubmitResponse()],
        "CommitStatus": [BUSY, gateway_pb2.CommitStatusResponse(result=0, block_number=7)],
    }


def _proposal(gateway):
    return Proposal(gateway, "ch", "tx1", b"proposal bytes")


FAST = Backoff(initial=0.001, maximum=0.002)


def test_sync_submit_survives_a_busy_refusal_at_every_step():
    channel = _Channel(_script())
    gateway = Gateway(Identity("Org1MSP", b"cert"), lambda m: b"sig", channel, backoff=FAST)
    assert gateway.run(submit_flow(_proposal(gateway))) == b""
    assert channel.calls == ["Endorse", "Endorse", "Submit", "Submit",
                             "CommitStatus", "CommitStatus"]


def test_async_submit_survives_a_busy_refusal_at_every_step():
    channel = _Channel(_script(), asynchronous=True)
    gateway = AsyncGateway(Identity("Org1MSP", b"cert"), lambda m: b"sig", channel,
                           backoff=FAST)
    assert asyncio.run(gateway.run(submit_flow(_proposal(gateway)))) == b""
    assert channel.calls == ["Endorse", "Endorse", "Submit", "Submit",
                             "CommitStatus", "CommitStatus"]


def test_without_backoff_the_busy_refusal_reaches_the_caller():
    channel = _Channel(_script())
    gateway = Gateway(Identity("Org1MSP", b"cert"), lambda m: b"sig", channel, backoff=None)
    with pytest.raises(EndorseError) as err:
        gateway.run(submit_flow(_proposal(gateway)))
    assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_sync_stubs_keep_at_most_max_in_flight_calls_open():
    channel = _Channel({"Evaluate": ["ok"]}, hold=0.02)
    stubs = Stubs(channel, max_in_flight=3)
    threads = [threading.Thread(target=stubs.method("Evaluate"), args=("r",))
               for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert channel.calls == ["Evaluate"] * 12
    assert channel.most_open == 3


def test_async_stubs_keep_at_most_max_in_flight_calls_open_and_none_means_unbounded():
    async def burst(stubs):
        await asyncio.gather(*(stubs.method("Evaluate")("r") for _ in range(12)))

    bounded = _Channel({"Evaluate": ["ok"]}, asynchronous=True, hold=0.01)
    asyncio.run(burst(Stubs(bounded, max_in_flight=3, asynchronous=True)))
    assert bounded.most_open == 3
    free = _Channel({"Evaluate": ["ok"]}, asynchronous=True, hold=0.01)
    asyncio.run(burst(Stubs(free, max_in_flight=None, asynchronous=True)))
    assert free.most_open == 12


def test_a_gateway_refuses_a_meaningless_in_flight_bound():
    with pytest.raises(ConfigError, match="max_in_flight must be at least 1"):
        Gateway(Identity("Org1MSP", b"cert"), None, _Channel({}), max_in_flight=0)


def test_the_default_bound_is_below_the_peers_limit():
    assert 0 < rpc.DEFAULT_MAX_IN_FLIGHT < 500


NO_PLAN = _Refusal(grpc.StatusCode.FAILED_PRECONDITION,
                   "no combination of peers can be derived which satisfy the endorsement policy")


def test_an_endorsement_without_a_plan_is_repeated_a_few_times_then_reported():
    call = Call("Endorse", "req", 5.0, EndorseError, "tx")
    backoff = Backoff(jitter=lambda: 0.0)
    steps, result = _steps(retrying(call, backoff, briefly=PLAN_UNAVAILABLE),
                           [NO_PLAN, None, NO_PLAN, None, "answer"])
    assert result == "answer" and sum(isinstance(s, Pause) for s in steps) == 2
    refusals = [NO_PLAN, None] * PLAN_ATTEMPTS + [NO_PLAN]
    with pytest.raises(EndorseError) as err:
        _steps(retrying(call, backoff, briefly=PLAN_UNAVAILABLE), refusals)
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(EndorseError):  # evaluate, submit and commit status never repeat it
        _steps(retrying(call, backoff), [NO_PLAN])


def test_endorse_repeats_a_missing_plan_but_not_a_refused_proposal():
    script = _script()
    script["Endorse"] = [NO_PLAN, *script["Endorse"]]
    channel = _Channel(script)
    gateway = Gateway(Identity("Org1MSP", b"cert"), lambda m: b"sig", channel, backoff=FAST)
    assert gateway.run(submit_flow(_proposal(gateway))) == b""
    assert channel.calls[:3] == ["Endorse", "Endorse", "Endorse"]
