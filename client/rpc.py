"""The one core under the sync and asyncio clients.

Every Gateway operation is written once, as a generator that yields ``Call``s (which RPC,
which request, which timeout, which error to raise) and receives the responses. Two tiny
drivers run such a flow: ``run_sync`` on a blocking ``grpc.Channel`` and ``run_async`` on a
``grpc.aio.Channel``. Composite operations (submit = endorse → submit → commit status) are
``yield from`` of the single steps.

Back-pressure lives here too, once for both drivers. ``Stubs`` keep at most
``max_in_flight`` RPCs open per gateway (below the peer Gateway's own concurrency limit,
500 by default, beyond which it refuses requests), and ``retrying`` repeats a step the
Gateway refused as busy (RESOURCE_EXHAUSTED) after an exponential back-off with jitter,
yielded as a ``Pause``; the steps that are safe to repeat use it.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generator

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


@dataclass(frozen=True)
class AwaitCommit:
    """A flow step asking for a submitted transaction's commit status from the gateway's
    block stream (``ledgerlake.client.commits``). The driver answers ``(code, block)``,
    ``commits.TIMED_OUT``, or None when it cannot tell (no stream, the sync driver): the
    flow then asks the peer with the CommitStatus RPC."""

    channel: str
    transaction_id: str
    timeout: float | None


Flow = Generator[Call | Pause | AwaitCommit, Any, Any]

#: RPCs one gateway object keeps open at most (the peer refuses beyond 500 by default,
#: counted over all its clients, including streams and commit-status waits).
DEFAULT_MAX_IN_FLIGHT = 256

#: The peer's concurrency limiter (internal/peer/node/grpc_limiters.go) refuses with a plain
#: Go error, which reaches the client as UNKNOWN carrying only this text; ``translate``
#: gives it the status code it means, so nothing else matches on wording.
_LIMITER_TEXT = "too many requests for "


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off with jitter for a busy Gateway: after refusal ``n`` (from 0) the
    step waits between half and all of ``min(maximum, initial * multiplier ** n)`` seconds,
    at most ``attempts`` times before the refusal reaches the caller."""

    attempts: int = 12
    initial: float = 0.05
    multiplier: float = 2.0
    maximum: float = 2.0
    jitter: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self):
        if self.attempts < 0 or self.initial <= 0 or self.multiplier < 1 or self.maximum <= 0:
            raise ValueError(f"invalid back-off {self!r}: attempts >= 0, initial > 0, "
                             f"multiplier >= 1 and maximum > 0 are required")

    def delay(self, refusal: int) -> float:
        ceiling = min(self.maximum, self.initial * self.multiplier ** refusal)
        return ceiling * (0.5 + 0.5 * self.jitter())


#: The statuses that mean "busy, nothing was done": safe to repeat for the steps that retry.
RETRYABLE = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED})


#: Endorse only: the Gateway found no set of peers for the endorsement policy. Usually a
#: configuration error, but also what it answers while its discovery view of another
#: organisation's peers is briefly incomplete (seen under full load); an endorsement
#: does nothing, so it is repeated a few times before the caller hears of it.
PLAN_UNAVAILABLE = frozenset({grpc.StatusCode.FAILED_PRECONDITION})
PLAN_ATTEMPTS = 5


def retrying(call: Call, backoff: Backoff | None, *,
             briefly: frozenset = frozenset(), brief_attempts: int = PLAN_ATTEMPTS) -> Flow:
    """``call``'s response, repeating ``call`` after a back-off while the Gateway refuses it
    as busy (and, at most ``brief_attempts`` times, with a status in ``briefly``). Only for
    steps that a refused attempt leaves undone (evaluate, endorse, the submit of a signed
    envelope, commit status); ``backoff=None`` never repeats."""
    refusals = 0
    while True:
        try:
            return (yield call)
        except GatewayError as exc:
            limit = backoff.attempts if backoff is not None else 0
            if exc.code in briefly:
                limit = min(limit, brief_attempts)
            elif exc.code not in RETRYABLE:
                limit = 0
            if backoff is None or refusals >= limit:
                raise
        yield Pause(backoff.delay(refusals))
        refusals += 1


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
    if code == grpc.StatusCode.UNKNOWN and (message or "").startswith(_LIMITER_TEXT):
        code = grpc.StatusCode.RESOURCE_EXHAUSTED
    metadata = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    return call.error(f"{call.method} failed: {message}", transaction_id=call.transaction_id,
                      code=code, details=error_details(metadata))


class Stubs:
    """Gateway method callables on one channel (sync or aio: same construction), keeping at
    most ``max_in_flight`` calls open at once (None: no bound). A call waiting for a slot
    has not started; its timeout runs from when it does."""

    def __init__(self, channel, max_in_flight: int | None = DEFAULT_MAX_IN_FLIGHT,
                 asynchronous: bool = False):
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1 (or None), not {max_in_flight}")
        self._channel = channel
        self._methods = {}
        self.max_in_flight = max_in_flight
        self._asynchronous = asynchronous
        self._threads = threading.BoundedSemaphore(max_in_flight) if max_in_flight else None
        self._loop_slots: tuple[Any, asyncio.Semaphore] | None = None

    def _slots(self) -> asyncio.Semaphore:
        """The asyncio semaphore of the running loop (a gateway may outlive one loop)."""
        loop = asyncio.get_running_loop()
        if self._loop_slots is None or self._loop_slots[0] is not loop:
            self._loop_slots = (loop, asyncio.Semaphore(self.max_in_flight))
        return self._loop_slots[1]

    def method(self, name: str):
        found = self._methods.get(name)
        if found is None:
            request, response = _TYPES[name]
            found = self._channel.unary_unary(
                f"/gateway.Gateway/{name}", request_serializer=request.SerializeToString,
                response_deserializer=response.FromString)
            if self.max_in_flight and self._asynchronous:
                found = self._bounded_async(found)
            elif self.max_in_flight:
                found = self._bounded_sync(found)
            self._methods[name] = found
        return found

    def _bounded_sync(self, rpc):
        def call(request, timeout=None):
            with self._threads:
                return rpc(request, timeout=timeout)
        return call

    def _bounded_async(self, rpc):
        async def call(request, timeout=None):
            async with self._slots():
                return await rpc(request, timeout=timeout)
        return call


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
            if isinstance(call, AwaitCommit):  # no block stream here: the flow asks the peer
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


async def run_async(stubs: Stubs, flow: Flow, commits=None):
    """Drive ``flow`` with ``grpc.aio`` calls; return its result. With ``commits`` (a
    ``commits.CommitWatchers``), commit statuses come from its block streams where they can:
    a transaction is announced to its channel's watcher before its Submit is sent."""
    try:
        call = next(flow)
        while True:
            if isinstance(call, Pause):
                await asyncio.sleep(call.seconds)
                call = flow.send(None)
                continue
            if isinstance(call, AwaitCommit):
                seen = None
                if commits is not None:
                    seen = await commits.of(call.channel).wait(call.transaction_id,
                                                               call.timeout)
                call = flow.send(seen)
                continue
            if commits is not None and call.method == "Submit":
                commits.of(call.request.channel_id).expect(call.transaction_id)
            try:
                response = await stubs.method(call.method)(call.request, timeout=call.timeout)
            except grpc.RpcError as exc:
                call = flow.throw(translate(exc, call))
                continue
            call = flow.send(response)
    except StopIteration as done:
        return done.value
