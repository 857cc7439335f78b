"""The batch submit's retry decision: retried on the contract's CHAIN_GAP code only."""

import pytest

from ledgerlake.client import batches, encryption, transaction
from ledgerlake.client.batches import LAG_RETRIES, is_chain_gap, seal_batch, submit_batch_flow
from ledgerlake.client.rpc import Pause
from ledgerlake.errors import EndorseError, ErrorDetail

SCHEMA = {"version": 1, "fields": [{"name": "v", "type": "float"}]}
GAP = ("chaincode response 500, CHAIN_GAP: chain of source 'line-1' broken (a gap): "
       "expected seq 2, got 3")
FORK = "chaincode response 500, CHAIN_FORK: chain of source 'line-1' broken (a gap)"


def endorse_error(*messages):
    return EndorseError("failed to endorse transaction", transaction_id="tx", details=tuple(
        ErrorDetail(f"peer{i}:7051", f"Org{i}MSP", m) for i, m in enumerate(messages)))


@pytest.mark.parametrize("messages, retried", [
    ((GAP,), True), (("chaincode response 500, ACCESS_DENIED: no", GAP), True),
    ((FORK,), False),  # the old wording without the code is not enough
    (("chain of source 'x' broken (a gap): expected seq 2, got 3",), False),
    (("NOT_FOUND: stream 'CHAIN_GAP' does not exist",), False), ((), False),
])
def test_only_the_chain_gap_code_is_retried(messages, retried):
    assert is_chain_gap(endorse_error(*messages)) is retried


class FakeContract:
    def new_proposal(self, *args, **kwargs):
        return object()


def drive(flow):
    """Run a flow whose I/O is faked; returns (result, pauses)."""
    pauses = []
    try:
        step = next(flow)
        while True:
            assert isinstance(step, Pause)
            pauses.append(step.seconds)
            step = flow.send(None)
    except StopIteration as stop:
        return stop.value, pauses


@pytest.fixture
def sealed():
    return seal_batch(stream="s", source="src", seq=1, prev_hash="", schema=SCHEMA,
                      rows=[{"v": 1.5}], data_key=encryption.new_data_key(), key_epoch=1)


def fake_submit(monkeypatch, failures):
    calls = []

    def submit_flow(proposal):
        calls.append(proposal)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return b'{"id": "x", "seq": 1}'
        yield  # a generator, like the real flow

    monkeypatch.setattr(transaction, "submit_flow", submit_flow)
    return calls


def test_a_lagging_peer_is_waited_for(monkeypatch, sealed):
    calls = fake_submit(monkeypatch, [endorse_error(GAP)] * 2)
    result, pauses = drive(submit_batch_flow(FakeContract(), sealed))
    assert result == {"id": "x", "seq": 1}
    assert pauses == list(LAG_RETRIES[:2]) and len(calls) == 3


def test_other_errors_are_raised_at_once(monkeypatch, sealed):
    calls = fake_submit(monkeypatch, [endorse_error(FORK)])
    with pytest.raises(EndorseError, match="CHAIN_FORK"):
        drive(submit_batch_flow(FakeContract(), sealed))
    assert len(calls) == 1


def test_a_gap_that_persists_is_raised_after_the_last_retry(monkeypatch, sealed):
    calls = fake_submit(monkeypatch, [endorse_error(GAP)] * (len(LAG_RETRIES) + 1))
    with pytest.raises(EndorseError, match="CHAIN_GAP"):
        drive(submit_batch_flow(FakeContract(), sealed))
    assert len(calls) == len(LAG_RETRIES) + 1
    assert batches.LAG_RETRIES == LAG_RETRIES
