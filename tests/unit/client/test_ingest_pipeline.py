"""The ingestion pipeline against the contract on a MemoryLedger (tests/memory_gateway.py):
batching by count and by time, the reject file, on_error=stop, the time window, and
exactly once across crashes (a pending batch resubmitted, or found committed; a lost state
file rebuilt from the ledger); the state file's atomic write and reconcile's decisions."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from ledgerlake.client import encryption
from ledgerlake.client.api import LedgerlakeContract
from ledgerlake.client.ingest.pipeline import RecordsSource, ingest, ledger_head
from ledgerlake.client.ingest.source import Row
from ledgerlake.client.ingest.state import (
    Pending,
    SourceState,
    StateStore,
    reconcile,
    sealed_from_json,
    sealed_to_json,
)
from ledgerlake.client.models import Writers
from ledgerlake.errors import ConfigError, RecordError
from memory_gateway import MemoryGateway

SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "n", "type": "int"}, {"name": "ts", "type": "timestamp", "required": False}]}


class World:
    def __init__(self, tmp_path):
        self.gateway = MemoryGateway()
        self.admin = LedgerlakeContract(self.gateway.contract("Org1MSP", "admin"))
        self.producer = LedgerlakeContract(self.gateway.contract("Org1MSP", "producer"))
        self.org_key = encryption.new_org_key()
        published = self.admin.register_org_key(encryption.public_pem(self.org_key))
        self.data_key = encryption.new_data_key()
        self.admin.create_stream("plant", SCHEMA, readers=["Org1MSP"],
                                 writers=Writers(("Org1MSP",)),
                                 wrapped_keys={"Org1MSP": published.wrap(
                                     self.data_key, stream="plant", epoch=1)})
        self.state_dir = tmp_path / "state"

    def ingest(self, source, **options):
        options.setdefault("org_key", self.org_key)
        return ingest(self.producer, source, stream="plant", state_dir=self.state_dir,
                      **options)

    def batches(self, source):
        api = self.producer
        return sorted(api.items(api.list_batches, "plant", source=source), key=lambda b: b.seq)

    def records(self, source):
        return [r for b in self.batches(source)
                for r in self.producer.get_batch("plant", b.id).open(self.data_key, SCHEMA)]


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def rows(n, start=0):
    return [{"sensor": f"s{i}", "n": i} for i in range(start, start + n)]


class ListSource:
    """Rows from a list, resumable by index; ``delay`` between rows (a slow source)."""

    kind = "list"

    def __init__(self, items, delay=0.0, sid="list"):
        self.items, self.delay, self.sid = items, delay, sid
        self.acknowledged = []

    def source_id(self):
        return self.sid

    def rows(self, after=None):
        for i in range(after or 0, len(self.items)):
            if self.delay:
                time.sleep(self.delay)
            item = self.items[i]
            if isinstance(item, str):
                yield Row(None, f"item {i + 1}", i + 1, item)
            else:
                yield Row(item, f"item {i + 1}", i + 1)

    def committed(self, position):
        self.acknowledged.append(position)

    def stop(self):
        pass

    def close(self):
        pass


def test_batches_are_cut_by_count_and_commit_every_record_in_order(world):
    source = ListSource(rows(25))
    summary = world.ingest(source, batch_size=10)
    assert [b.record_count for b in world.batches("list")] == [10, 10, 5]
    assert world.records("list") == rows(25)
    assert (summary.committed, summary.batches, summary.rejected) == (25, 3, 0)
    assert source.acknowledged == [10, 20, 25]


def test_a_slow_source_is_flushed_by_time(world):
    summary = world.ingest(ListSource(rows(6), delay=0.15), batch_size=1000,
                           flush_seconds=0.3)
    counts = [b.record_count for b in world.batches("list")]
    assert sum(counts) == 6 and len(counts) >= 2  # not one batch at the end
    assert summary.committed == 6


def test_bad_rows_go_to_the_reject_file_and_skip(world, tmp_path):
    items = [*rows(3), {"sensor": "x", "n": "nine"}, "cannot parse", *rows(2, 3)]
    rejects = tmp_path / "rejects.jsonl"
    summary = world.ingest(ListSource(items), batch_size=100, reject_file=rejects)
    assert world.records("list") == rows(5)
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(x["where"], x["rule"], x["row"]) for x in lines] == [
        ("item 4", "schema", {"sensor": "x", "n": "nine"}), ("item 5", "parse", None)]
    assert "field 'n' must be of type int" in lines[0]["error"]
    assert (summary.read, summary.rejected) == (7, 2)


def test_rejected_rows_after_the_last_batch_are_not_read_again(world, tmp_path):
    source = ListSource([*rows(3), "bad", "worse"])
    rejects = tmp_path / "rejects.jsonl"
    world.ingest(source, reject_file=rejects, batch_size=3)  # cut before the bad rows
    assert source.acknowledged == [3, 5]  # a live source may drop the rejected messages
    again = world.ingest(ListSource([*rows(3), "bad", "worse"]), reject_file=rejects)
    assert (again.read, again.rejected) == (0, 0)
    assert len(rejects.read_text().splitlines()) == 2


def test_on_error_stop_commits_the_rows_before_and_names_the_bad_one(world, tmp_path):
    items = [*rows(3), {"sensor": "x", "n": "nine"}, *rows(2, 3)]
    with pytest.raises(RecordError, match=r"^item 4: field 'n' must be of type int"):
        world.ingest(ListSource(items), batch_size=100, on_error="stop")
    assert world.records("list") == rows(3)
    state = StateStore(world.state_dir).load("plant", "list")
    assert state.position == 3 and state.pending is None  # a re-run starts at the bad row


def test_records_outside_the_streams_time_window_are_rejected_by_rule(world, tmp_path):
    now = time.time_ns()
    items = [{"sensor": "a", "n": 1, "ts": now}, {"sensor": "b", "n": 2, "ts": now + 10**12},
             {"sensor": "c", "n": 3, "ts": now - 8 * 24 * 3600 * 10**9}]
    rejects = tmp_path / "r.jsonl"
    world.ingest(ListSource(items), time_field="ts", reject_file=rejects)
    assert [r["sensor"] for r in world.records("list")] == ["a"]
    assert [json.loads(x)["rule"] for x in rejects.read_text().splitlines()] == [
        "time.future", "time.max_age"]
    batch = world.batches("list")[0]
    assert batch.time_start == batch.time_end == now
    with pytest.raises(ConfigError, match="time field 'sensor' must be a timestamp field"):
        world.ingest(ListSource(items), time_field="sensor")


def test_a_source_that_fits_nothing_is_stopped_once(world):
    with pytest.raises(ConfigError, match=r"the first 1000 rows of list all break the schema"):
        world.ingest(ListSource([{"colour": "red"}] * 1500))
    assert world.batches("list") == []


def test_a_rerun_commits_nothing_new_and_continues_after_new_input(world):
    world.ingest(ListSource(rows(12)), batch_size=5)
    again = world.ingest(ListSource(rows(12)), batch_size=5)
    assert (again.committed, again.sources[0].resumed) == (0, "local state")
    more = world.ingest(ListSource(rows(15)), batch_size=5)
    assert more.committed == 3 and world.records("list") == rows(15)


def test_a_lost_state_file_is_rebuilt_from_the_cursor_in_the_ledger(world):
    world.ingest(ListSource(rows(12)), batch_size=5)
    os.remove(StateStore(world.state_dir).path("plant", "list"))
    again = world.ingest(ListSource(rows(14)), batch_size=5)
    assert (again.committed, again.sources[0].resumed) == (2, "ledger")
    assert world.records("list") == rows(14)


def _crash_before_submit(world, monkeypatch, items, after_commit: bool):
    """Run until the second batch is pending, then die (before or after it commits)."""
    import ledgerlake.client.ingest.pipeline as pipeline

    real = pipeline.submit
    calls = []

    def dying(api, stream, source, sealed, options):
        calls.append(sealed.id)
        if len(calls) == 2:
            if after_commit:
                real(api, stream, source, sealed, options)
            raise KeyboardInterrupt("killed")  # stands for SIGKILL: no cleanup
        return real(api, stream, source, sealed, options)

    monkeypatch.setattr(pipeline, "submit", dying)
    with pytest.raises(KeyboardInterrupt):
        world.ingest(ListSource(items), batch_size=4)
    monkeypatch.setattr(pipeline, "submit", real)
    return calls[1]


@pytest.mark.parametrize("after_commit", [False, True])
def test_a_crash_with_a_pending_batch_commits_it_exactly_once(world, monkeypatch, after_commit):
    pending_id = _crash_before_submit(world, monkeypatch, rows(10), after_commit)
    state = StateStore(world.state_dir).load("plant", "list")
    assert state.pending.batch_id == pending_id and state.seq == 1
    again = world.ingest(ListSource(rows(10)), batch_size=4)
    assert world.batches("list")[1].id == pending_id  # the very same batch
    assert world.records("list") == rows(10)
    assert again.sources[0].resumed == ("local state" if after_commit
                                        else "resubmitted pending batch")


def test_state_is_written_atomically_and_reconciled_with_the_ledger_head(tmp_path, monkeypatch):
    store = StateStore(tmp_path)
    state = SourceState("plant", "a", 3, "b3", {"row": 30}, 30)
    store.save(state)
    state.seq = 4

    def crash(*args):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.save(state)
    monkeypatch.undo()
    assert store.load("plant", "a").seq == 3  # the old file, whole
    pending = Pending(4, "b4", {"row": 40}, 10, {"batch": {"id": "b4"}})
    local = SourceState("plant", "a", 3, "b3", {"row": 30}, 30, pending)
    plan = reconcile(local, "plant", "a", 4, "b4")  # it was committed
    assert (plan.state.seq, plan.state.position, plan.resubmit, plan.rebuild) == \
        (4, {"row": 40}, None, False)
    local.pending, local.seq, local.batch_id = pending, 3, "b3"
    plan = reconcile(local, "plant", "a", 3, "b3")  # it was not
    assert plan.resubmit is pending and not plan.rebuild
    assert reconcile(None, "plant", "a", 0, "").rebuild is False
    plan = reconcile(SourceState("plant", "a", 2, "b2"), "plant", "a", 5, "b5")
    assert plan.rebuild and (plan.state.seq, plan.state.batch_id) == (5, "b5")
    (tmp_path / "ingest" / "plant" / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="is not JSON; delete it"):
        store.load("plant", "bad")


def test_a_pending_batch_survives_the_state_file(world):
    from ledgerlake.client.batches import seal_batch
    sealed = seal_batch(stream="plant", source="x", seq=1, prev_hash="", schema=SCHEMA,
                        rows=rows(2), data_key=world.data_key, key_epoch=1, cursor={"row": 2})
    back = sealed_from_json(json.loads(json.dumps(sealed_to_json(sealed))))
    assert back.batch == sealed.batch and back.transient == {}


def test_one_ingest_per_stream_and_source_at_a_time(tmp_path):
    store = StateStore(tmp_path)
    with store.lock("plant", "a"):
        with pytest.raises(ConfigError, match="another ingest of source 'a' into stream "
                                              "'plant' is running"):
            with store.lock("plant", "a"):
                pass
    with store.lock("plant", "a"):
        pass


def test_a_stop_commits_what_was_read(world):
    stop = threading.Event()
    source = ListSource(rows(400), delay=0.002)
    timer = threading.Timer(0.2, stop.set)
    timer.start()
    summary = world.ingest(source, batch_size=1000, stop=stop)
    assert summary.interrupted and 0 < summary.committed < 400
    assert world.records("list") == rows(summary.committed)


def test_submit_of_records_appends_each_time(world):
    world.ingest(RecordsSource([{"sensor": "a", "n": 1}], "one"))
    world.ingest(RecordsSource([{"sensor": "a", "n": 1}], "one"))
    assert world.records("one") == [{"sensor": "a", "n": 1}] * 2
    assert ledger_head(world.producer, "plant", "one")[0] == 2


def test_mistakes_are_named(world):
    with pytest.raises(ConfigError, match="^stream 'nope' does not exist"):
        ingest(world.producer, ListSource(rows(1)), stream="nope", org_key=world.org_key,
               state_dir=world.state_dir)
    other = LedgerlakeContract(world.gateway.contract("Org2MSP", "producer"))
    with pytest.raises(ConfigError, match=r"^Org2MSP may not write to stream 'plant' "
                                          r"\(writers: Org1MSP\)$"):
        ingest(other, ListSource(rows(1)), stream="plant", org_key=world.org_key,
               state_dir=world.state_dir)
    with pytest.raises(ConfigError, match="batch size must be from 1"):
        world.ingest(ListSource(rows(1)), batch_size=0)


def test_a_chain_that_moves_under_an_ingest_is_named(world):
    from ledgerlake.client.batches import seal_batch

    class Intruder(ListSource):
        def rows(self, after=None):
            for i, row in enumerate(super().rows(after)):
                if i == 2:  # another writer takes seq 1 of the same source
                    world.producer.submit_batch(seal_batch(
                        stream="plant", source="list", seq=1, prev_hash="", schema=SCHEMA,
                        rows=rows(1, 99), data_key=world.data_key, key_epoch=1))
                yield row

    with pytest.raises(ConfigError, match=r"^the chain of source 'list' in 'plant' moved to "
                                          r"seq 1 while this ingest was writing"):
        world.ingest(Intruder(rows(5)), batch_size=100)
    assert world.records("list") == rows(1, 99)


def test_a_pending_batch_refused_for_good_is_read_again_under_the_new_key(world, monkeypatch):
    pending_id = _crash_before_submit(world, monkeypatch, rows(10), after_commit=False)
    new_key = encryption.new_data_key()
    published = world.admin.get_org_key("Org1MSP")
    world.admin.rotate_key("plant", {"Org1MSP": published.wrap(new_key, stream="plant",
                                                               epoch=2)})
    again = world.ingest(ListSource(rows(10)), batch_size=4)
    batches = world.batches("list")
    assert pending_id not in [b.id for b in batches]  # sealed under epoch 1: never committed
    assert [b.key_epoch for b in batches] == [1, 2, 2]
    keys = {1: world.data_key, 2: new_key}
    assert [r for b in batches for r in world.producer.get_batch("plant", b.id).open(
        keys[b.key_epoch], SCHEMA)] == rows(10)
    assert again.committed == 6


def test_a_batch_too_large_for_a_transaction_is_split_and_later_ones_cut_smaller(world,
                                                                                 monkeypatch):
    import ledgerlake.client.ingest.pipeline as pipeline

    monkeypatch.setattr(pipeline, "_MAX_PAYLOAD_BYTES", 2000)  # about 30 records
    world.ingest(ListSource(rows(200)), batch_size=100)
    batches = world.batches("list")
    counts = [b.record_count for b in batches]
    # However the payload is encoded (compressed by default), every batch fits the limit,
    # the first batch of 100 was split and the later ones were cut to fit.
    assert all(b.raw["payload"]["size"] <= 2000 for b in batches)
    assert counts[0] < 100 and len(counts) > 2 and sum(counts) == 200
    assert world.records("list") == rows(200)


def test_reject_and_state_files_are_private_from_the_start(world, tmp_path):
    old = os.umask(0o022)
    try:
        world.ingest(ListSource([*rows(2), "bad"]), batch_size=100,
                     reject_file=world.state_dir / "ingest" / "plant" / "list.rejects.jsonl")
        elsewhere = tmp_path / "mine" / "rejects.jsonl"
        world.ingest(ListSource([*rows(2), "bad", "worse"]), batch_size=100,
                     reject_file=elsewhere)
    finally:
        os.umask(old)
    ingest_dir = world.state_dir / "ingest"
    assert (ingest_dir.stat().st_mode & 0o777, (ingest_dir / "plant").stat().st_mode & 0o777) \
        == (0o700, 0o700)
    for name in ("list.json", "list.rejects.jsonl"):
        assert (ingest_dir / "plant" / name).stat().st_mode & 0o777 == 0o600, name
    assert elsewhere.stat().st_mode & 0o777 == 0o600
    assert len(elsewhere.read_text().splitlines()) == 1  # "worse": "bad" was read before


def test_a_position_too_long_for_a_cursor_is_one_line_naming_the_source_and_limit(world):
    class LongPositions(ListSource):
        def rows(self, after=None):
            for row in super().rows(after):
                yield Row(row.record, row.where, {"next": "x" * 5000, "i": row.position})

    with pytest.raises(ConfigError) as caught:
        world.ingest(LongPositions(rows(3)), batch_size=100)
    text = str(caught.value)
    assert text.startswith("source 'list' cannot be ingested: its input position is too long")
    assert "4096" in text and "\n" not in text
    assert world.batches("list") == []


def test_a_pending_batch_the_contract_refuses_is_dropped_and_transport_failures_keep_it(
        world, monkeypatch):
    from ledgerlake.errors import EndorseError

    pending_id = _crash_before_submit(world, monkeypatch, rows(10), after_commit=False)
    real = LedgerlakeContract.submit_batch
    refusals = {"transport": EndorseError("peer unavailable"),
                "contract": EndorseError("chaincode response 500, INVALID_INPUT: the "
                                         "argument is larger than 8388608 bytes")}

    def refuse(kind):
        def submit_batch(self, sealed, **options):
            if sealed.id == pending_id:
                raise refusals[kind]
            return real(self, sealed, **options)
        monkeypatch.setattr(LedgerlakeContract, "submit_batch", submit_batch)

    refuse("transport")
    with pytest.raises(EndorseError, match="peer unavailable"):
        world.ingest(ListSource(rows(10)), batch_size=4)
    assert StateStore(world.state_dir).load("plant", "list").pending.batch_id == pending_id
    refuse("contract")
    again = world.ingest(ListSource(rows(10)), batch_size=4)
    assert StateStore(world.state_dir).load("plant", "list").pending is None
    assert pending_id not in [b.id for b in world.batches("list")]
    assert world.records("list") == rows(10)  # its rows were read again: nothing lost
    note = again.sources[0].note
    assert note.startswith("dropped the pending batch seq 2 of source 'list': the contract "
                           "refused it (INVALID_INPUT)") and "\n" not in note


def test_batches_are_sized_by_the_header_twice_plus_the_ciphertext(world, monkeypatch):
    import ledgerlake.client.ingest.pipeline as pipeline
    from ledgerlake import records

    real, sent = pipeline.submit, []

    def recording(api, stream, source, sealed, options):
        sent.append(2 * len(records.canonical(sealed.batch)) + len(sealed.ciphertext))
        return real(api, stream, source, sealed, options)

    monkeypatch.setattr(pipeline, "submit", recording)
    monkeypatch.setattr(records, "MAX_BATCH_TRANSACTION_BYTES", 6_000)
    items = [{"sensor": f"plant-7/line-3/sensor-{i:06d}", "n": i} for i in range(200)]
    world.ingest(ListSource(items), batch_size=100)
    counts = [b.record_count for b in world.batches("list")]
    # Public fields make the header, not the (compressed) ciphertext, what reaches the limit.
    assert all(size <= 6_000 for size in sent), sent
    assert counts[0] < 100 and sum(counts) == 200
    assert world.records("list") == items


def test_the_transaction_bound_stays_below_the_orderer_and_contract_limits():
    import inspect

    import network.configtx as configtx
    from chaincode.contract import common
    from ledgerlake import records

    assert '"AbsoluteMaxBytes": "10 MB"' in inspect.getsource(configtx)  # MiB in Fabric
    assert records.ORDERER_ABSOLUTE_MAX_BYTES == 10 * 2**20
    assert records.MAX_BATCH_TRANSACTION_BYTES < records.ORDERER_ABSOLUTE_MAX_BYTES
    assert records.MAX_BATCH_TRANSACTION_BYTES // 2 < common.MAX_BATCH_BYTES \
        == records.MAX_BATCH_ARGUMENT
