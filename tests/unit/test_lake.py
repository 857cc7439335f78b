"""The lake's layout, metadata and the sync's pure parts: type mapping, block ranges into
files, the checkpoint, and cleaning up what a killed run left (no network)."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ledgerlake import records
from ledgerlake.analytics import lake, sync
from ledgerlake.client import encryption
from ledgerlake.client.batches import seal_batch
from ledgerlake.errors import ConfigError

SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "value", "type": "float"},
    {"name": "count", "type": "int", "required": False},
    {"name": "ok", "type": "bool"},
    {"name": "ts", "type": "timestamp"},
    {"name": "date", "type": "string", "required": False}]}
DAY = 86_400 * 10**9
T0 = 1_700_000_000 * 10**9  # 2023-11-14T22:13:20Z


def _rows(n, t0=T0, step=3600 * 10**9):
    return [{"sensor": f"s{i % 3}", "value": i + 0.5, "count": None if i % 4 == 0 else i,
             "ok": i % 2 == 0, "ts": t0 + i * step, "date": "x"} for i in range(n)]


def _sealed(rows, *, seq=1, prev="", epoch=1, key=None, source="line-1"):
    key = key or encryption.new_data_key()
    return key, seal_batch(stream="plant", source=source, seq=seq, prev_hash=prev,
                           schema=SCHEMA, rows=rows, data_key=key, key_epoch=epoch)


def test_part_names_parse_back_and_other_names_do_not():
    name = lake.part_name(7, 1234)
    assert name == "part-000000000007-000000001234.parquet"
    assert lake.part_range(name) == (7, 1234)
    for other in ("part-7-1234.parquet", ".part-000000000007-000000001234.parquet.tmp",
                  "x.parquet"):
        assert lake.part_range(other) is None


def test_utc_date_and_column_names():
    assert lake.utc_date(T0) == "2023-11-14"
    assert lake.utc_date(0) == "1970-01-01"
    assert lake.utc_date(T0 + 2 * 3600 * 10**9) == "2023-11-15"
    assert lake.column_name("date") == "date_" and lake.column_name("ts") == "ts"


def test_read_meta_names_a_missing_or_broken_lake(tmp_path):
    with pytest.raises(ConfigError, match="not a ledgerlake lake .*run 'ledgerlake sync"):
        lake.read_meta(tmp_path)
    lake.meta_dir(tmp_path).mkdir()
    lake.meta_path(tmp_path).write_text("{not json")
    with pytest.raises(ConfigError, match="is damaged"):
        lake.read_meta(tmp_path)
    lake.write_meta(tmp_path, {"channel": "c", "streams": {"a": {"records": 2}}})
    assert lake.read_meta(tmp_path)["streams"]["a"]["records"] == 2
    assert [p.name for p in lake.meta_dir(tmp_path).iterdir()] == ["lake.json"]  # no temp left


def test_open_rows_maps_each_field_type_to_its_arrow_type():
    rows = _rows(5)
    key, sealed = _sealed(rows)
    batch = {**sealed.batch, "ciphertext": sealed.ciphertext}
    table = sync.open_rows(records.canonical(SCHEMA), batch, key)
    assert table.schema.field("sensor").type == pa.string()
    assert table.schema.field("value").type == pa.float64()
    assert table.schema.field("count").type == pa.int64()
    assert table.schema.field("ok").type == pa.bool_()
    assert table.schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    assert table.column("date_").to_pylist() == ["x"] * 5  # renamed: a partition's name
    assert table.column("count").to_pylist() == [None, 1, 2, 3, None]
    assert table.column("ts").cast(pa.int64()).to_pylist() == [r["ts"] for r in rows]
    assert table.column("_index").to_pylist() == [0, 1, 2, 3, 4]
    assert table.column("_commitment").to_pylist() == [c.hex() for c in sealed.commitments]


def test_open_rows_reports_a_batch_the_record_rule_refuses():
    key, sealed = _sealed(_rows(3))
    batch = {**sealed.batch, "ciphertext": sealed.ciphertext}
    kind = sync.open_rows(records.canonical(SCHEMA), batch, encryption.new_data_key())
    assert kind[0] == "error" and kind[1] == "DecryptionError"
    other = {**SCHEMA, "fields": SCHEMA["fields"][:-1]}  # records hold a field it lacks
    refused = sync.open_rows(records.canonical(other), batch, key)
    assert refused[0] == "error" and refused[1] == "RecordError"


def _block_rows(number, sealed, key, *, tx=0, stream=None):
    table = sync.open_rows(records.canonical(SCHEMA), {**sealed.batch,
                                                      "ciphertext": sealed.ciphertext}, key)
    provenance = {"_block": number, "_tx": tx, "_tx_id": f"{number:064x}",
                  "_tx_time": T0 + number, "_batch_id": sealed.id,
                  "_producer_msp": "Org1MSP", "_producer_id": "producer",
                  "_source": sealed.batch["source"], "_seq": sealed.batch["seq"],
                  "_epoch": sealed.batch["key_epoch"]}
    full = sync._with_provenance(table, provenance, SCHEMA)
    return sync.BlockRows(number, f"{number:064x}", [(stream or "plant", full)], [], 1)


def _reader(shredded=()):
    state = sync._Stream("plant", {1: records.Schema.from_mapping(SCHEMA).to_mapping()},
                         owner="Org1MSP", readers=("Org1MSP",), shredded=set(shredded),
                         keys={1: b""}, readable=True)
    return SimpleNamespace(streams={"plant": state}, only=None, msp_id="Org1MSP")


def test_a_block_range_becomes_one_file_per_date_then_the_checkpoint(tmp_path):
    key = encryption.new_data_key()
    _, a = _sealed(_rows(30), key=key)  # 30 hours from 22:13: three UTC days
    _, b = _sealed(_rows(2, t0=T0 + 3 * DAY), key=key, seq=2, prev=a.id)
    meta = {"channel": "c", "streams": {}, "next_block": 5}
    writer = sync._Writer(tmp_path, meta)
    writer.add(_block_rows(5, a, key))
    writer.add(sync.BlockRows(6, "66" * 32, [], [], 1))
    writer.add(_block_rows(7, b, key))
    assert not lake.part_files(tmp_path)  # nothing before the flush
    written = writer.flush(_reader())
    assert written == {"plant": 32}
    files = lake.part_files(tmp_path)
    assert [lake.partition_of(p) for p in files] == [
        ("plant", "2023-11-14"), ("plant", "2023-11-15"), ("plant", "2023-11-16"),
        ("plant", "2023-11-17")]
    assert {p.name for p in files} == {lake.part_name(5, 7)}
    saved = lake.read_meta(tmp_path)
    assert (saved["next_block"], saved["synced_to"], saved["tip_hash"]) == (8, 7, b.id and
                                                                            f"{7:064x}")
    assert saved["streams"]["plant"]["records"] == 32
    assert saved["streams"]["plant"]["schema"]["version"] == 1
    # every row once, ledger order within a file, the lake's columns and types
    table = pq.read_table(files[0], partitioning=None)
    assert table.schema.names == list(lake.arrow_schema(
        records.Schema.from_mapping(SCHEMA)).names)
    assert table.column("_index").to_pylist() == list(range(2))  # 22:13 and 23:13
    total = sum(pq.read_metadata(p).num_rows for p in files)
    assert total == 32


def test_cleanup_deletes_what_a_killed_run_left_beyond_the_checkpoint(tmp_path):
    folder = lake.partition_dir(tmp_path, "plant", "2023-11-14")
    folder.mkdir(parents=True)
    kept = folder / lake.part_name(0, 9)
    beyond = folder / lake.part_name(10, 12)
    straddling = folder / lake.part_name(8, 10)  # cannot happen, but is not committed
    temp = folder / f".{lake.part_name(13, 14)}.tmp"
    lonely = lake.partition_dir(tmp_path, "plant", "2023-11-20")
    lonely.mkdir(parents=True)
    (lonely / lake.part_name(11, 11)).write_bytes(b"x")
    for p in (kept, beyond, straddling, temp):
        p.write_bytes(b"x")
    removed = sync.cleanup(tmp_path, 10)
    assert sorted(p.name for p in removed) == sorted(
        [beyond.name, straddling.name, temp.name, lake.part_name(11, 11)])
    assert kept.exists() and not lonely.exists()  # the emptied folder went too
    assert sync.cleanup(tmp_path, 10) == []


def test_a_shredded_epoch_leaves_committed_files_and_pending_rows(tmp_path):
    key = encryption.new_data_key()
    _, a = _sealed(_rows(4), key=key, epoch=1)
    _, b = _sealed(_rows(3), key=key, epoch=2, seq=2, prev=a.id)
    meta = {"channel": "c", "streams": {}, "next_block": 1}
    writer = sync._Writer(tmp_path, meta)
    writer.add(_block_rows(1, a, key))
    writer.flush(_reader())
    writer.add(_block_rows(2, b, key))
    writer.add(_block_rows(3, a, key, stream="plant"))  # epoch 1 again, pending
    writer.flush(_reader(shredded={1}))
    saved = lake.read_meta(tmp_path)["streams"]["plant"]
    assert saved["shredded_epochs"] == [1]
    assert saved["records"] == 3 and saved["shredded_records"] == 8
    epochs = {e for p in lake.part_files(tmp_path)
              for e in pq.read_table(p, partitioning=None).column("_epoch").to_pylist()}
    assert epochs == {2}


def test_purge_counts_from_the_files_so_a_repeated_purge_is_still_right(tmp_path):
    key = encryption.new_data_key()
    _, a = _sealed(_rows(4), key=key, epoch=1)
    writer = sync._Writer(tmp_path, {"channel": "c", "streams": {}, "next_block": 1})
    writer.add(_block_rows(1, a, key))
    writer.flush(_reader())
    assert sync._purge(tmp_path, "plant", {1}, 4) == (0, 4)
    assert sync._purge(tmp_path, "plant", {1}, 4) == (0, 4)  # killed before lake.json: again
    assert lake.part_files(tmp_path) == []


def test_the_lake_reads_as_it_is_with_duckdb_and_pandas(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    key = encryption.new_data_key()
    _, a = _sealed(_rows(30), key=key)
    writer = sync._Writer(tmp_path, {"channel": "c", "streams": {}, "next_block": 1})
    writer.add(_block_rows(1, a, key))
    writer.flush(_reader())
    [(count, streams, dates)] = duckdb.connect().execute(
        f"select count(*), count(distinct stream), count(distinct date) from read_parquet("
        f"'{lake.glob(tmp_path)}', hive_partitioning=true)").fetchall()
    assert (count, streams, dates) == (30, 1, 3)
    frame = lake.dataset(tmp_path).to_table().to_pandas()
    assert len(frame) == 30 and set(frame["stream"]) == {"plant"}
    assert frame["ts"].dt.tz is not None


def test_only_one_sync_writes_a_lake_at_a_time(tmp_path):
    first = sync._Lock(tmp_path)
    try:
        with pytest.raises(ConfigError, match="another sync is writing"):
            sync._Lock(tmp_path)
    finally:
        first.close()
    sync._Lock(tmp_path).close()


def test_the_summary_as_json_is_plain_json():
    summary = sync.SyncSummary(blocks=3, records=10, seconds=2.0, synced_to=9,
                               streams={"a": {"records": 10}})
    doc = json.loads(json.dumps(summary.to_json()))
    assert doc["records_per_second"] == 5.0 and not summary.up_to_date
    assert sync.SyncSummary().up_to_date


def test_tx_time_is_exact_to_the_microsecond():
    from datetime import datetime, timezone
    when = datetime.fromtimestamp(1_700_000_000.123456, tz=timezone.utc)
    assert sync._nanos(when) == 1_700_000_000_123_456_000
    assert time  # noqa: the module is used by other tests' helpers


def test_the_pool_opens_batches_into_the_rows_the_sync_thread_gives_in_block_order():
    """Large batches go to the pool's threads, small ones are opened by the sync's own
    thread; either way ``resolve`` gives the same rows, provenance added, in the block's
    order; a refused batch is a note; ``close`` ends the threads."""
    import threading

    key, big = _sealed(_rows(sync.POOL_MIN_RECORDS))
    _, small = _sealed(_rows(5), key=key, seq=2, prev=big.id)
    _, bad = _sealed(_rows(sync.POOL_MIN_RECORDS), key=encryption.new_data_key(), seq=3)
    reader = _bare_reader(workers=2)
    schema = records.canonical(SCHEMA)
    pending = sync._Pending(1, "00" * 32, 3)
    for i, sealed in enumerate((big, small, bad)):
        batch = {**sealed.batch, "ciphertext": sealed.ciphertext}
        work = reader._submit(schema, batch, key, None) if sealed is not small else \
            sync.open_rows(schema, batch, key)
        provenance = {"_block": 1, "_tx": i, "_tx_id": f"{i:064x}", "_tx_time": 0,
                      "_batch_id": sealed.id, "_producer_msp": "Org1MSP",
                      "_producer_id": "p", "_source": "line-1", "_seq": i + 1, "_epoch": 1}
        pending.parts.append(("plant", {**provenance, "_version": 1,
                                        "_count": sealed.batch["record_count"]}, work))
    assert any(t.name.startswith("ledgerlake-sync-open") for t in threading.enumerate())
    rows = reader.resolve(pending)
    assert [t.num_rows for _, t in rows.tables] == [sync.POOL_MIN_RECORDS, 5]
    assert [t.column("_tx").to_pylist()[0] for _, t in rows.tables] == [0, 1]
    expected = sync.open_rows(schema, {**big.batch, "ciphertext": big.ciphertext}, key)
    got = rows.tables[0][1].select(expected.column_names)
    assert got.cast(expected.schema).equals(expected)  # the lake schema says "not null"
    assert [n.kind for n in rows.notes] == ["rejected"] and rows.notes[0].batch == bad.id
    reader.close()
    assert reader._pool is None
    assert not any(t.name.startswith("ledgerlake-sync-open") for t in threading.enumerate())


def test_rows_out_of_date_order_go_to_their_dates_in_ledger_order(tmp_path):
    key = encryption.new_data_key()
    _, late = _sealed(_rows(3, t0=T0 + 3 * DAY, step=60 * 10**9), key=key)
    _, early = _sealed(_rows(2), key=key, seq=2, prev=late.id)
    writer = sync._Writer(tmp_path, {"channel": "c", "streams": {}, "next_block": 1})
    writer.add(_block_rows(1, late, key))
    writer.add(_block_rows(2, early, key))
    writer.flush(_reader())
    by_date = {lake.partition_of(p)[1]: pq.read_table(p, partitioning=None)
               for p in lake.part_files(tmp_path)}
    assert sorted(by_date) == ["2023-11-14", "2023-11-17"]
    assert by_date["2023-11-14"].column("_block").to_pylist() == [2, 2]
    assert by_date["2023-11-17"].column("_index").to_pylist() == [0, 1, 2]


def test_offchain_payloads_are_read_from_file_uris_only(tmp_path):
    stored = tmp_path / "p q.bin"
    stored.write_bytes(b"ciphertext")
    assert sync._offchain(stored.as_uri()) == (b"ciphertext", "")
    data, why = sync._offchain("https://example.org/x.bin")
    assert data is None and "https URI is not fetched" in why
    data, why = sync._offchain((tmp_path / "absent.bin").as_uri())
    assert data is None and "cannot be read" in why


def _bare_reader(workers: int = 2):
    reader = sync._Reader.__new__(sync._Reader)
    reader.workers, reader._pool = workers, None
    reader.streams = {"plant": sync._Stream("plant", {1: SCHEMA})}
    return reader


def test_the_sync_keeps_pandas_out_of_pyarrow_until_it_is_asked_for():
    """pyarrow's first conversion imports pandas (0.2-0.3 CPU s) unless told it is absent;
    after ``_pyarrow_skips_pandas`` pyarrow converts without it, ``to_pandas`` still
    imports and uses it, and other threads import it as ever. In a fresh interpreter."""
    import subprocess
    import sys

    code = """
import sys, threading
from ledgerlake.analytics import sync
sync._pyarrow_skips_pandas()
import pyarrow as pa, pyarrow.compute as pc
pa.array([1]); pa.scalar(2); pc.divide(pa.array([4]), pa.scalar(2))
assert "pandas" not in sys.modules
finder = sync._NoPandasOnThisThread()
other = []
t = threading.Thread(target=lambda: other.append(finder.find_spec("pandas")))
t.start(); t.join()
assert other == [None]
try:
    finder.find_spec("pandas")
except ImportError:
    pass
else:
    raise AssertionError("pandas not refused to its thread")
frame = pa.table({"a": [1, 2]}).to_pandas()
assert "pandas" in sys.modules and type(frame).__name__ == "DataFrame"
assert pa.array(frame["a"]).to_pylist() == [1, 2]
assert sys.meta_path.count(finder) == 0
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def _modes(root):
    return {p.relative_to(root).as_posix(): p.stat().st_mode & 0o777
            for p in [root, *root.rglob("*")]}


def test_the_lake_holds_plaintext_so_it_is_owner_only_whatever_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        key = encryption.new_data_key()
        _, a = _sealed(_rows(30), key=key)
        home = tmp_path / "lake"
        lock = sync._Lock(home)
        writer = sync._Writer(home, {"channel": "c", "streams": {}, "next_block": 5})
        writer.add(_block_rows(5, a, key))
        writer.flush(_reader())
        writer.add(_block_rows(6, a, key))
        writer.flush(_reader(shredded={1}))  # the purge rewrites/deletes files
        writer.add(_block_rows(7, _sealed(_rows(3), epoch=2, key=key)[1], key))
        writer.flush(_reader(shredded={1}))
        sync._purge(home, "plant", {9}, 3)
        lock.close()
    finally:
        os.umask(old)
    modes = _modes(home)
    assert any(name.endswith(".parquet") for name in modes)
    assert "_ledgerlake/lake.json" in modes
    for name, mode in modes.items():
        kind_dir = (home / name).is_dir()
        assert mode == (0o700 if kind_dir else 0o600), (name, oct(mode))


def test_a_flush_repeated_after_an_interrupt_counts_its_rows_once(tmp_path, monkeypatch):
    key = encryption.new_data_key()
    _, a = _sealed(_rows(4), key=key)
    writer = sync._Writer(tmp_path, {"channel": "c", "streams": {}, "next_block": 5})
    writer.add(_block_rows(5, a, key))
    real = lake.write_meta
    calls = []

    def interrupted(lake_dir, meta):  # Ctrl-C after the files, before the checkpoint
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        real(lake_dir, meta)

    monkeypatch.setattr(lake, "write_meta", interrupted)
    with pytest.raises(KeyboardInterrupt):
        writer.flush(_reader())
    writer.flush(_reader())  # the sync's `except KeyboardInterrupt: commit()`
    saved = lake.read_meta(tmp_path)["streams"]["plant"]
    assert saved["records"] == 4
    assert sum(pq.read_table(p).num_rows for p in lake.part_files(tmp_path)) == 4


def test_a_range_written_on_a_thread_is_in_place_before_the_next_and_retried_if_it_fails(
        tmp_path, monkeypatch):
    """``flush(wait=False)`` writes on a thread while rows are added; the next flush waits
    for it, so ranges land in order and the checkpoint ends at the last block. A range
    whose writing fails after some of its files were written is raised at the next flush
    and written again by the one after, alone and under its own names (its files are
    replaced), before what was added meanwhile: each row once."""
    import threading

    key = encryption.new_data_key()
    _, a = _sealed(_rows(4), key=key)
    _, b = _sealed(_rows(3, t0=T0 + 10**9), key=key, seq=2, prev=a.id)
    _, c = _sealed(_rows(2, t0=T0 + 2 * 10**9), key=key, seq=3, prev=b.id)
    writer = sync._Writer(tmp_path, {"channel": "c", "streams": {}, "next_block": 5})
    real = sync._write_partitions
    release, threads = threading.Event(), []

    def slow(*args):
        threads.append(threading.current_thread().name)
        assert release.wait(10)
        return real(*args)

    monkeypatch.setattr(sync, "_write_partitions", slow)
    writer.add(_block_rows(5, a, key))
    assert writer.flush(_reader(), wait=False) == {}  # the range is being written
    writer.add(_block_rows(6, b, key, tx=1))  # read on meanwhile
    assert not writer.pending or writer.first == 6
    release.set()
    assert writer.flush(_reader()) == {"plant": 7}
    assert threads == ["ledgerlake-sync-flush", "MainThread"]
    meta = lake.read_meta(tmp_path)
    assert meta["synced_to"] == 6 and meta["streams"]["plant"]["records"] == 7
    assert writer.synced_to == 6 and writer.files == len(lake.part_files(tmp_path))

    def broken(*args):  # the range's files in place, then the disk is full
        real(*args)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sync, "_write_partitions", broken)
    writer.add(_block_rows(7, c, key, tx=2))
    writer.flush(_reader(), wait=False)
    writer.add(_block_rows(8, a, key, tx=3))
    with pytest.raises(OSError):
        writer.flush(_reader(), wait=False)  # the failure, once the thread is waited for
    assert writer.first == 8 and writer.records == 4 and writer.pending  # 7 kept apart
    assert lake.read_meta(tmp_path)["synced_to"] == 6
    monkeypatch.setattr(sync, "_write_partitions", real)
    assert writer.flush(_reader()) == {"plant": 6}  # block 7 again, alone, then block 8
    meta = lake.read_meta(tmp_path)
    assert meta["synced_to"] == 8 and meta["streams"]["plant"]["records"] == 13
    assert sum(pq.read_table(p).num_rows for p in lake.part_files(tmp_path)) == 13
    assert sorted({lake.part_range(p.name) for p in lake.part_files(tmp_path)}) == \
        [(5, 5), (6, 6), (7, 7), (8, 8)]
    assert not writer.pending


def test_a_range_retried_after_its_checkpoint_failed_counts_a_shred_once(tmp_path,
                                                                        monkeypatch):
    """A range whose files were written but whose checkpoint failed, and which shreds an
    epoch: its retry removes what the failed try left before purging, so the lake's
    counts match its files."""
    key = encryption.new_data_key()
    _, a = _sealed(_rows(4), key=key, epoch=1)
    _, b = _sealed(_rows(3, t0=T0 + 10**9), key=key, seq=2, prev=a.id, epoch=2)
    writer = sync._Writer(tmp_path, {"channel": "c", "streams": {}, "next_block": 7})
    writer.add(_block_rows(7, a, key))
    writer.flush(_reader())
    writer.add(_block_rows(8, b, key, tx=1))
    real = lake.write_meta

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lake, "write_meta", full)
    writer.flush(_reader(shredded={1}), wait=False)
    writer.add(_block_rows(9, b, key, tx=2))
    with pytest.raises(OSError):
        writer.flush(_reader(shredded={1}), wait=False)
    monkeypatch.setattr(lake, "write_meta", real)
    assert writer.flush(_reader(shredded={1})) == {"plant": 6}
    saved = lake.read_meta(tmp_path)["streams"]["plant"]
    on_disk = sum(pq.read_table(p).num_rows for p in lake.part_files(tmp_path))
    assert saved["records"] == on_disk == 6 and saved["shredded_records"] == 4


def test_a_signal_during_a_flush_takes_effect_after_it(tmp_path, monkeypatch):
    import os
    import signal

    key = encryption.new_data_key()
    _, a = _sealed(_rows(4), key=key)
    writer = sync._Writer(tmp_path, {"channel": "c", "streams": {}, "next_block": 5})
    writer.add(_block_rows(5, a, key))
    real = sync._write_partitions

    def killed(*args):
        os.kill(os.getpid(), signal.SIGINT)  # lands mid-flush
        time.sleep(0.05)
        return real(*args)

    monkeypatch.setattr(sync, "_write_partitions", killed)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a CLI has it
    try:
        with pytest.raises(KeyboardInterrupt):
            writer.flush(_reader())
    finally:
        signal.signal(signal.SIGINT, previous)
    assert lake.read_meta(tmp_path)["next_block"] == 6  # the flush finished first
    assert lake.read_meta(tmp_path)["streams"]["plant"]["records"] == 4
    assert writer.flush(_reader()) == {"plant": 4}  # the sync's summary still hears of them


def test_purge_rewrites_through_the_durable_write(tmp_path, monkeypatch):
    key = encryption.new_data_key()
    _, a = _sealed(_rows(4), key=key)
    _, b = _sealed(_rows(4), key=key, epoch=2, seq=2, prev=a.id)
    writer = sync._Writer(tmp_path, {"channel": "c", "streams": {}, "next_block": 1})
    writer.add(_block_rows(1, a, key))
    writer.add(_block_rows(2, b, key, tx=1))
    writer.flush(_reader())
    synced = []
    monkeypatch.setattr(lake, "fsync_dir", lambda folder: synced.append(folder))
    assert sync._purge(tmp_path, "plant", {1}, 8) == (4, 4)
    assert synced, "the purge's rename is made durable"


def test_a_lake_that_cannot_be_made_is_a_one_line_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="cannot be made or locked.*--lake"):
        sync._Lock(tmp_path / "file" / "lake")
