"""Commit statuses from a filtered block stream (pure logic: a fake stream, no network)."""

import asyncio

from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import events_pb2, transaction_pb2

from ledgerlake.client.commits import TIMED_OUT, CommitWatcher
from ledgerlake.client.rpc import AwaitCommit, Call, run_async, run_sync
from ledgerlake.client.transaction import Commit

VALID, MVCC = transaction_pb2.VALID, transaction_pb2.MVCC_READ_CONFLICT


def _block(number, *txs):
    return events_pb2.FilteredBlock(channel_id="ch", number=number, filtered_transactions=[
        events_pb2.FilteredTransaction(txid=t, tx_validation_code=c) for t, c in txs])


class _Stream:
    """An async iterable of blocks fed by the test; ``fail()`` breaks it like a dead peer."""

    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue()
        self.closed = False

    def close(self):
        self.closed = True

    async def __aiter__(self):
        while True:
            item = await self.queue.get()
            if isinstance(item, Exception):
                raise item
            yield item


async def _settle():
    for _ in range(5):
        await asyncio.sleep(0)


def _watcher(**options):
    streams = []

    def open_stream():
        streams.append(_Stream())
        return streams[-1]

    return CommitWatcher(open_stream, **options), streams


def test_a_transaction_submitted_after_the_first_block_gets_its_code_from_the_stream():
    async def main():
        watcher, streams = _watcher()
        watcher.expect("early")  # starts the stream; not live yet: not watched
        await _settle()
        streams[0].queue.put_nowait(_block(5))
        await _settle()
        watcher.expect("t1")
        watcher.expect("t2")
        streams[0].queue.put_nowait(_block(6, ("t1", VALID), ("x", VALID)))
        streams[0].queue.put_nowait(_block(7, ("t2", MVCC), ("t1", transaction_pb2.DUPLICATE_TXID)))
        return (await watcher.wait("early", 1), await watcher.wait("t1", 1),
                await watcher.wait("t2", 1), len(streams))

    assert asyncio.run(main()) == (None, (VALID, 6), (MVCC, 7), 1)


def test_waiting_times_out_like_the_rpc_and_a_broken_stream_hands_back_to_the_rpc():
    async def main():
        watcher, streams = _watcher(restart_after=60)
        watcher.expect("first")
        await _settle()
        streams[0].queue.put_nowait(_block(1))
        await _settle()
        watcher.expect("slow")
        watcher.expect("lost")
        timed_out = await watcher.wait("slow", 0.05)
        waiter = asyncio.ensure_future(watcher.wait("lost", 5))
        await _settle()
        streams[0].queue.put_nowait(RuntimeError("peer went away"))
        lost = await waiter
        watcher.expect("after")  # within restart_after: no new stream, not watched
        await _settle()
        return timed_out, lost, await watcher.wait("after", 1), len(streams), watcher.live

    assert asyncio.run(main()) == (TIMED_OUT, None, None, 1, False)


def test_oldest_records_are_dropped_beyond_the_bound():
    async def main():
        watcher, streams = _watcher(max_watched=10)
        watcher.expect("t0")
        await _settle()
        streams[0].queue.put_nowait(_block(1))
        await _settle()
        for i in range(12):
            watcher.expect(f"t{i}")
        streams[0].queue.put_nowait(_block(2, *((f"t{i}", VALID) for i in range(12))))
        await _settle()
        return await watcher.wait("t0", 1), await watcher.wait("t11", 1)

    assert asyncio.run(main()) == (None, (VALID, 2))


class _Gateway:
    timeouts = {"commit_status": 3.0}
    backoff = None

    def sign(self, message):
        return b"sig"


def _commit():
    return Commit(_Gateway(), "ch", "t1", b"request")


class _Stubs:
    def __init__(self):
        self.seen = []

    def method(self, name):
        async def call(request, timeout=None):
            self.seen.append(name)
            return gateway_pb2.CommitStatusResponse(result=MVCC, block_number=9)
        return call


class _Commits:
    def __init__(self, answer):
        self.answer = answer
        self.asked = []

    def of(self, channel):
        return self

    async def wait(self, tx_id, timeout):
        self.asked.append((tx_id, timeout))
        return self.answer


def test_status_comes_from_the_stream_when_it_can_tell_and_from_the_rpc_when_not():
    stubs = _Stubs()
    commits = _Commits((VALID, 4))
    status = asyncio.run(run_async(stubs, _commit().status_flow(), commits))
    assert (status.code, status.block_number, stubs.seen, commits.asked) == (
        VALID, 4, [], [("t1", 3.0)])

    status = asyncio.run(run_async(stubs, _commit().status_flow(), _Commits(None)))
    assert (status.code, status.block_number, stubs.seen) == (MVCC, 9, ["CommitStatus"])


def test_a_stream_timeout_is_the_rpcs_deadline_error():
    from ledgerlake.errors import CommitStatusError

    try:
        asyncio.run(run_async(_Stubs(), _commit().status_flow(), _Commits(TIMED_OUT)))
    except CommitStatusError as exc:
        assert exc.transaction_id == "t1" and exc.code.name == "DEADLINE_EXCEEDED"
    else:
        raise AssertionError("no CommitStatusError")


def test_the_sync_driver_always_asks_the_peer():
    class SyncStubs:
        def method(self, name):
            return lambda request, timeout=None: gateway_pb2.CommitStatusResponse(
                result=VALID, block_number=2)

    assert run_sync(SyncStubs(), _commit().status_flow()).block_number == 2


def test_the_driver_announces_a_transaction_before_its_submit():
    order = []

    class Commits:
        def of(self, channel):
            order.append(("of", channel))
            return self

        def expect(self, tx_id):
            order.append(("expect", tx_id))

    class Stubs:
        def method(self, name):
            async def call(request, timeout=None):
                order.append(("call", name))
            return call

    def flow():
        yield Call("Submit", gateway_pb2.SubmitRequest(channel_id="ch", transaction_id="t9"),
                   1.0, Exception, "t9")

    asyncio.run(run_async(Stubs(), flow(), Commits()))
    assert order == [("of", "ch"), ("expect", "t9"), ("call", "Submit")]
    assert AwaitCommit("ch", "t9", 1.0).channel == "ch"


def test_the_commit_status_request_is_built_only_when_needed_and_signs_as_before():
    from ledgerlake.client import proposal as build
    from ledgerlake.client.identity import Identity

    class Gateway(_Gateway):
        identity = Identity("Org1MSP", b"cert")

    commit = Commit(Gateway(), "ch", "t1", None)
    expected = build.commit_status_request("t1", "ch", Gateway.identity.creator)
    assert commit._bytes is None
    assert commit.bytes == expected and commit.digest == build.digest(expected)
    signed = Commit(Gateway(), "ch", "t1", None).with_signature(b"offline")
    assert (signed.bytes, signed._sign()) == (expected, b"offline")


def test_a_watcher_used_from_a_second_event_loop_opens_a_stream_of_its_own():
    watcher, streams = _watcher()

    async def main(number):
        watcher.expect("first")
        await _settle()
        streams[-1].queue.put_nowait(_block(number))
        await _settle()
        watcher.expect(f"t{number}")
        streams[-1].queue.put_nowait(_block(number + 1, (f"t{number}", VALID)))
        return await watcher.wait(f"t{number}", 1)

    assert asyncio.run(main(1)) == (VALID, 2)
    assert asyncio.run(main(10)) == (VALID, 11)  # the first loop's task ended with its loop
    assert len(streams) == 2
    watcher.close()
