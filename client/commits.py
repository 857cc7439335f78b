"""Commit statuses from one filtered block stream per channel, instead of one signed
CommitStatus RPC per transaction (asyncio gateways).

Why: each CommitStatus call costs the client an ECDSA signature and an RPC, and the gateway
peer a signature check and a long-poll, for every transaction; one ``DeliverFiltered``
stream carries every transaction id of every block with its validation code.

The rule that keeps the answers exact: a transaction is watched only if the stream had
already delivered a block before the transaction's Submit was sent (``expect``). The
stream starts at the peer's newest block, so a transaction broadcast after that block
reached us cannot be in it or in an earlier one: its status is in a block the stream has
yet to deliver. Anything else (not expected, stream not live yet, stream broken, the
record dropped to bound memory) makes ``wait`` answer ``None``, and the caller asks the
peer with the CommitStatus RPC as before. So the stream only ever saves work; it never
decides alone that a transaction is unknown. As with the RPC, the first copy of a
transaction id in the ledger gives its status (later copies are DUPLICATE_TXID).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

#: what ``wait`` answers when the transaction's block did not come within the timeout
TIMED_OUT = "timed out"

#: watched transactions kept at most; older records are dropped (their waiters, if any
#: come, ask the peer instead)
MAX_WATCHED = 200_000

#: after a stream ended without being closed, how long to wait before opening another (a
#: peer that refuses the stream, e.g. to an identity outside the channel's Readers, must
#: not be asked once per transaction)
RESTART_AFTER = 5.0


class CommitWatcher:
    """Validation codes of one channel's transactions, from a filtered block stream.

    ``open_stream()`` returns an async iterable of ``FilteredBlock``s starting at the
    peer's newest block, with a ``close()`` (``Network.block_events(filtered=True)``)."""

    def __init__(self, open_stream: Callable[[], Any], max_watched: int = MAX_WATCHED,
                 restart_after: float = RESTART_AFTER):
        self._open_stream = open_stream
        self.max_watched = max_watched
        self.restart_after = restart_after
        self._ended_at = float("-inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._stream = None
        self.live = False  # the current stream has delivered a block
        self._watched: dict[str, asyncio.Future] = {}
        self._generation = 0  # which loop's stream is current (see _reset)

    # -- what the driver calls ------------------------------------------------------------
    def expect(self, transaction_id: str) -> None:
        """Call before sending the transaction's Submit: watch for it if the stream is live;
        start the stream if it is not running (later transactions will use it)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a gateway may outlive an event loop
            self._reset(loop)
        if self._task is None:
            if time.monotonic() - self._ended_at >= self.restart_after:
                self._task = loop.create_task(self._run(self._generation))
            return
        if self.live and transaction_id not in self._watched:
            if len(self._watched) >= self.max_watched:
                self._drop_oldest()
            self._watched[transaction_id] = loop.create_future()

    async def wait(self, transaction_id: str, timeout: float | None):
        """``(validation code, block number)``, ``TIMED_OUT``, or None when the stream cannot
        tell (then ask the peer)."""
        future = self._watched.get(transaction_id)
        if future is None or self._loop is not asyncio.get_running_loop():
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            return TIMED_OUT
        finally:
            if future.done():
                self._watched.pop(transaction_id, None)

    def close(self) -> None:
        """Stop the stream; waiting callers fall back to the RPC."""
        if self._loop is None or self._loop.is_closed():  # nothing runs any more
            self._reset(None)
            return
        if self._stream is not None:
            self._stream.close()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._end()

    # -- the stream -----------------------------------------------------------------------
    def on_block(self, block) -> None:
        """Resolve the watched transactions in ``block`` (a ``FilteredBlock``)."""
        self.live = True
        watched = self._watched
        if not watched:
            return
        number = block.number
        for tx in block.filtered_transactions:
            future = watched.get(tx.txid)
            if future is not None and not future.done():
                future.set_result((tx.tx_validation_code, number))

    async def _run(self, generation: int) -> None:
        try:
            self._stream = self._open_stream()
            async for block in self._stream:
                self.on_block(block)
        except Exception:  # noqa: BLE001  (a broken stream: callers ask the peer instead)
            pass
        finally:
            # a task of an earlier (or closed) loop must not touch the current state
            if generation == self._generation and not self._loop.is_closed():
                self._ended_at = time.monotonic()
                self._end()

    def _end(self) -> None:
        """The stream is gone: nothing watched can be told by it any more."""
        self.live = False
        self._task = None
        self._stream = None
        for future in self._watched.values():
            if not future.done():
                future.set_result(None)
        self._watched = {}

    def _reset(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._generation += 1
        self._watched = {}  # futures of another loop; nobody there waits any more
        self._task = None
        self._stream = None
        self.live = False
        self._ended_at = float("-inf")
        self._loop = loop

    def _drop_oldest(self) -> None:
        for transaction_id in list(self._watched)[: max(1, self.max_watched // 10)]:
            future = self._watched.pop(transaction_id)
            if not future.done():
                future.set_result(None)


class CommitWatchers:
    """One ``CommitWatcher`` per channel of an asyncio gateway."""

    def __init__(self, gateway):
        self._gateway = gateway
        self._by_channel: dict[str, CommitWatcher] = {}

    def of(self, channel: str) -> CommitWatcher:
        watcher = self._by_channel.get(channel)
        if watcher is None:
            network = self._gateway.get_network(channel)
            watcher = CommitWatcher(lambda: network.block_events(filtered=True))
            self._by_channel[channel] = watcher
        return watcher

    def close(self) -> None:
        for watcher in self._by_channel.values():
            watcher.close()
        self._by_channel = {}
