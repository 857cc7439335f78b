"""A load of submitted transactions with a record of each one, to measure what a fault does.

Fault tests and the soak benchmark run it against a self-test network (``selftest=True``:
the chaincode's ``put``): many submits in flight through the client's own Gateway API,
each transaction's fate kept (endorsed, accepted by the orderers, its commit status or the
error), so afterwards one can ask which acknowledged transactions the ledger must hold,
how long commits stalled and when throughput came back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from fabric_protos.peer import transaction_pb2

VALID = transaction_pb2.VALID


@dataclass
class Outcome:
    """One transaction of a load: times are ``time.monotonic()`` seconds."""

    key: str
    started: float
    args: tuple[str, ...] = ()
    tx_id: str = ""
    endorsed: float | None = None   # endorsed: from here on it may reach the orderers
    accepted: float | None = None   # the orderers accepted it (Submit returned)
    finished: float | None = None   # its commit status arrived, or it failed
    code: int | None = None         # the commit status' validation code
    error: str = ""                 # why it failed (one line), if it did

    @property
    def valid(self) -> bool:
        return self.code == VALID

    @property
    def may_have_committed(self) -> bool:
        """No commit status, but it was endorsed and handed to the Gateway to submit: only
        the ledger can say whether it committed (look it up by ``tx_id``). One that failed
        before that was never submitted and may simply be sent again."""
        return self.code is None and self.endorsed is not None


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    @property
    def valid(self) -> list[Outcome]:
        """Transactions whose commit status said VALID: the ledger must keep every one."""
        return [o for o in self.outcomes if o.valid]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error]

    @property
    def accepted_not_committed(self) -> list[Outcome]:
        """Accepted by the orderers, then no commit status: lost in flight (Raft may drop
        what a crashed leader had not yet replicated; the client was told so)."""
        return [o for o in self.outcomes if o.accepted is not None and o.code is None]

    def latencies(self, start: float, end: float) -> list[float]:
        """Seconds from start to VALID commit of the transactions committed in [start, end)."""
        return sorted(o.finished - o.started for o in self.outcomes
                      if o.valid and o.finished is not None and start <= o.finished < end)

    def commit_times(self) -> list[float]:
        return sorted(o.finished for o in self.outcomes if o.valid and o.finished)

    @property
    def last_start(self) -> float:
        """When the load started its last transaction: after that, fewer commits are no
        stall (the load is winding down)."""
        return max((o.started for o in self.outcomes), default=self.ended)

    def _gaps(self, after: float | None) -> list[tuple[float, float]]:
        """(length, end) of each time without a VALID commit, from ``after`` (default the
        start) to the last start."""
        start = after if after is not None else self.started
        times = [t for t in self.commit_times() if start <= t <= self.last_start]
        edge = [start, *times, max(start, self.last_start)]
        return [(b - a, b) for a, b in zip(edge, edge[1:])]

    def longest_stall(self, after: float | None = None) -> float:
        """The longest time without a VALID commit (from ``after``, default the start)."""
        return max(self._gaps(after), default=(0.0, 0.0))[0]

    def rate(self, start: float, end: float) -> float:
        """VALID commits per second in [start, end)."""
        n = sum(1 for t in self.commit_times() if start <= t < end)
        return n / (end - start) if end > start else 0.0

    def stall_end(self, after: float) -> float:
        """When the longest stall after ``after`` ended (its first commit after the gap)."""
        return max(self._gaps(after), default=(0.0, after), key=lambda gap: gap[0])[1]

    def back_to_full(self, fault: float, baseline: float, window: float = 1.0,
                     share: float = 0.8) -> float | None:
        """Seconds from ``fault`` until, after the longest stall (if one as long as
        ``window``), a ``window`` of commits first reaches ``share`` of ``baseline`` tx/s
        again (None if not before the end)."""
        t = self.stall_end(fault) if self.longest_stall(fault) >= window else fault
        while t + window <= self.ended:
            if self.rate(t, t + window) >= share * baseline:
                return t + window - fault
            t += 0.1
        return None


async def run_load(contract, *, in_flight: int = 32, total: int | None = None,
                   duration: float | None = None, rate: float | None = None,
                   pause_after_error: float = 0.2, stop: asyncio.Event | None = None,
                   prefix: str = "") -> LoadResult:
    """Submit the self-test ``put`` of distinct keys, ``in_flight`` at a time (and at most
    ``rate`` starts per second), until ``total`` were started, ``duration`` seconds passed
    or ``stop`` is set; every transaction's commit status is awaited. A failed one is
    recorded (never retried: a retried put is a new transaction) and its worker pauses
    ``pause_after_error`` seconds, so a network that refuses does not become a busy loop."""
    if total is None and duration is None and stop is None:
        raise ValueError("run_load needs total, duration or stop")
    run = prefix or uuid.uuid4().hex[:8]
    result = LoadResult(started=time.monotonic())
    deadline = result.started + duration if duration is not None else None
    counter = iter(range(total) if total is not None else _forever())

    def more() -> bool:
        return not ((deadline is not None and time.monotonic() >= deadline)
                    or (stop is not None and stop.is_set()))

    async def worker() -> None:
        for i in counter:
            if rate:
                await asyncio.sleep(max(0.0, result.started + i / rate - time.monotonic()))
            if not more():
                return
            key = f"{run}-{i}"
            outcome = Outcome(key=key, started=time.monotonic(), args=(key, f"v{i}"))
            result.outcomes.append(outcome)
            proposal = contract.new_proposal("put", outcome.args)
            outcome.tx_id = proposal.transaction_id
            try:
                transaction = await proposal.endorse()
                outcome.endorsed = time.monotonic()
                commit = await transaction.submit()
                outcome.accepted = time.monotonic()
                status = await commit.status()
                outcome.code = status.code
                if not status.successful:
                    outcome.error = status.code_name
            except Exception as exc:  # noqa: BLE001  (every failure is the measurement)
                text = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())
                outcome.error = f"{type(exc).__name__}: {text[:800]}"
            outcome.finished = time.monotonic()
            if outcome.error:
                await asyncio.sleep(pause_after_error)

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    result.ended = time.monotonic()
    return result


def _forever():
    i = 0
    while True:
        yield i
        i += 1
