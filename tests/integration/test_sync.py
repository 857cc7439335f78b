"""``ledgerlake sync`` on a real Raft network: every committed record in the lake exactly
once with its provenance (checked with DuckDB and pandas), through SIGKILLs at random
points, a tampered block named, a shredded epoch's rows absent and reported, ``--follow``.

One network for the module; each test syncs into its own lake."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pytest

from ledgerlake import records
from ledgerlake.analytics import lake
from ledgerlake.analytics.sync import ledger_records, sync
from ledgerlake.client.ingest import RecordsSource, ingest
from ledgerlake.client.qscc import chain_info
from ledgerlake.client.batches import seal_batch
from ledgerlake.client.streams import create_stream, open_data_keys, org_private_keys, \
    rotate, shred, update
from ledgerlake.errors import IntegrityError
from ledgerlake.network import process
from ctrl_c import takes_ctrl_c
from networks import network_up
from tampering import block_files, one_bit_flipped, put_back, replace_once

pytestmark = pytest.mark.integration
SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "value", "type": "float"},
    {"name": "ts", "type": "timestamp"},
    {"name": "n", "type": "int"}]}
RUN = uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    yield from network_up(tmp_path_factory, "sync", 26700)


def _rows(n: int, tag: str) -> list[dict]:
    now = time.time_ns()
    return [{"sensor": f"{tag}-{i % 5}", "value": i + 0.5, "ts": now - (n - i) * 10**6,
             "n": i} for i in range(n)]


def _ingest(net, stream: str, rows: list[dict], source: str, tmp: Path,
            batch: int = 50) -> None:
    with net.contract("Org1", "producer") as api:
        summary = ingest(api, RecordsSource(rows, source), stream=stream,
                         org_key=org_private_keys(net.org_key_path("Org1"))[0],
                         purpose="sync test", batch_size=batch, state_dir=tmp)
    assert summary.committed == len(rows)


@pytest.fixture(scope="module")
def streams(net, tmp_path_factory):
    """Two streams Org1 reads (a: Org1 + Org2 read it, b: Org1 only) and one it cannot
    (c: Org2 only), with records in each."""
    tmp = tmp_path_factory.mktemp("ingest-state")
    names = {k: f"sync-{k}-{RUN}" for k in "abc"}
    with net.contract("Org1", "admin") as admin:
        create_stream(admin, names["a"], SCHEMA, readers=["Org1MSP", "Org2MSP"],
                      writers=["Org1MSP"])
        create_stream(admin, names["b"], SCHEMA, readers=["Org1MSP"], writers=["Org1MSP"])
    with net.contract("Org2", "admin") as admin:
        create_stream(admin, names["c"], SCHEMA, readers=["Org2MSP"], writers=["Org2MSP"])
    net.settle()
    expected = {}
    for key, count in (("a", 300), ("b", 220)):
        rows = _rows(count, key)
        half = count // 2
        _ingest(net, names[key], rows[:half], "line-1", tmp)
        _ingest(net, names[key], rows[half:], "line-2", tmp)
        expected[names[key]] = rows
    net.settle()
    return names, expected


def _keys(net, org="Org1"):
    return org_private_keys(net.org_key_path(org))


def _query(lake_dir: Path, sql: str):
    return duckdb.connect().execute(sql.replace(
        "LAKE", f"read_parquet('{lake.glob(lake_dir)}', hive_partitioning=true, "
                f"union_by_name=true)")).fetchall()


def _assert_exactly_once(lake_dir: Path, expected: dict[str, list[dict]]) -> None:
    """Every expected record once, nothing else, with its provenance."""
    for stream, rows in expected.items():
        got = _query(lake_dir, f"select n, value, sensor, _source, _producer_msp, "
                               f"_producer_id, _batch_id, _index, _block, _commitment "
                               f"from LAKE where stream = '{stream}' order by _source, n")
        assert len(got) == len(rows), (stream, len(got), len(rows))
        keys = {(g[6], g[7]) for g in got}
        assert len(keys) == len(rows)  # (batch, index) once each
        assert sorted((g[0], g[1], g[2]) for g in got) == \
            sorted((r["n"], r["value"], r["sensor"]) for r in rows)
        assert {g[4] for g in got} == {"Org1MSP"} and {g[5] for g in got} == {"producer"}
        assert {g[3] for g in got} == {"line-1", "line-2"}
        assert all(len(g[9]) == 64 for g in got) and min(g[8] for g in got) > 0


def test_every_record_once_with_its_provenance_and_a_second_run_has_nothing_new(
        net, streams, tmp_path, capsys):
    names, expected = streams
    lake_dir = tmp_path / "lake"
    with net.contract("Org1", "analyst") as api:
        network = api.contract.network
        summary = sync(network, api, lake_dir, _keys(net))
        tip = summary.tip  # the chain at the start (opening a stream adds audit blocks)
        assert summary.synced_to == tip and summary.records == 520
        _assert_exactly_once(lake_dir, expected)
        # pandas through pyarrow's dataset, partitions as columns
        frame = lake.dataset(lake_dir, names["a"]).to_table().to_pandas()
        assert len(frame) == 300 and set(frame["stream"]) == {names["a"]}
        assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
        meta = lake.read_meta(lake_dir)
        assert meta["channel"] == network.name and len(meta["genesis_hash"]) == 64
        assert meta["synced_to"] == tip and meta["next_block"] == tip + 1
        assert meta["streams"][names["a"]]["readable"] is True
        assert meta["streams"][names["a"]]["records"] == 300
        assert meta["streams"][names["c"]]["readable"] is False  # Org1 is no reader of c
        assert meta["streams"][names["a"]]["schemas"] == {
            "1": records.Schema.from_mapping(SCHEMA).to_mapping()}
        # the same rows ledger_records gives (what 'verify report' recomputes)
        again = [t for s, t in ledger_records(network, api, _keys(net), start=1, end=tip,
                                              streams=[names["b"]])]
        assert sum(t.num_rows for t in again) == 220
        commitments = {c for t in again for c in t.column("_commitment").to_pylist()}
        assert commitments == {r[0] for r in _query(
            lake_dir, f"select _commitment from LAKE where stream = '{names['b']}'")}
        began = time.monotonic()
        second = sync(network, api, lake_dir, _keys(net))  # the first run's audit blocks
        assert second.records == 0 and second.blocks >= 1
        third = sync(network, api, lake_dir, _keys(net))  # they opened nothing: no new block
        assert third.up_to_date and third.records == 0
        assert time.monotonic() - began < 10
    _assert_exactly_once(lake_dir, expected)
    code, out, err = _main(capsys, "sync", "--lake", str(lake_dir), "--state-dir",
                           str(net.state_dir))
    assert code == 0 and "is up to date: synced to block" in out and "nothing new" in out, err
    with net.contract("Org1", "analyst") as api:
        rebuilt = sync(api.contract.network, api, lake_dir, _keys(net), rebuild=True)
    assert rebuilt.first_block == 0 and rebuilt.records == 520  # from genesis again
    _assert_exactly_once(lake_dir, expected)


def _main(capsys, *args):
    from ledgerlake.cli import main
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_batches_of_each_schema_version_are_opened_with_their_own_schema(
        net, streams, tmp_path):
    name = f"sync-v-{RUN}"
    with net.contract("Org1", "admin") as admin:
        create_stream(admin, name, SCHEMA, readers=["Org1MSP"], writers=["Org1MSP"])
    net.settle()
    _ingest(net, name, _rows(10, "v1"), "line-1", tmp_path / "i")
    v2 = {"version": 2, "fields": [*SCHEMA["fields"],
                                   {"name": "note", "type": "string", "required": False}]}
    with net.contract("Org1", "admin") as admin:
        update(admin, name, schema=v2, settle=net.settle)
    later = [{**r, "note": f"v2-{r['n']}"} for r in _rows(6, "v2")]
    _ingest(net, name, later, "line-2", tmp_path / "i")
    lake_dir = tmp_path / "lake"
    with net.contract("Org1", "analyst") as api:
        summary = sync(api.contract.network, api, lake_dir, _keys(net), streams=[name])
    assert summary.records == 16
    entry = lake.read_meta(lake_dir)["streams"][name]
    assert sorted(entry["schemas"]) == ["1", "2"] and entry["schema"]["version"] == 2
    assert _query(lake_dir, f"select _source, count(*), count(note) from LAKE where "
                            f"stream = '{name}' group by _source order by _source") == \
        [("line-1", 10, 0), ("line-2", 6, 6)]
    frame = lake.dataset(lake_dir, name).to_table().to_pandas()  # one schema: the latest
    assert len(frame) == 16 and frame["note"].notna().sum() == 6


def _cli(net, *args, **popen):
    env = {**os.environ, "LEDGERLAKE_STATE_DIR": str(net.state_dir)}
    return subprocess.Popen([sys.executable, "-m", "ledgerlake", "sync", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)


def _lake_state(lake_dir: Path):
    files = lake.records_dir(lake_dir)
    meta = lake.meta_path(lake_dir)
    return (meta.stat().st_mtime_ns if meta.exists() else 0,
            len(list(files.rglob("*"))) if files.is_dir() else 0)


def test_sigkilled_at_random_points_and_restarted_every_record_is_there_once(
        net, streams, tmp_path):
    names, expected = streams
    many = f"sync-k-{RUN}"  # many small batches: many blocks, so kills land mid-write
    with net.contract("Org1", "admin") as admin:
        create_stream(admin, many, SCHEMA, readers=["Org1MSP"], writers=["Org1MSP"])
    net.settle()
    rows = _rows(480, "k")
    _ingest(net, many, rows[:240], "line-1", tmp_path / "i", batch=8)
    _ingest(net, many, rows[240:], "line-2", tmp_path / "i", batch=8)
    wanted = {**expected, many: rows}
    only = [arg for s in wanted for arg in ("--stream", s)]
    lake_dir = tmp_path / "lake"
    rng = random.Random(os.environ.get("PYTEST_SEED", RUN))
    kills = 0
    for _ in range(12):  # until 5 runs were killed midway (a quick run may end first)
        if kills == 5:
            break
        # small steps of a size each run draws: many checkpoints and renames to be killed
        # between, and a killed run's files span other block ranges than the next run's
        proc = _cli(net, "--lake", str(lake_dir), "--flush-records",
                    str(rng.choice((1, 9, 40, 150))), *only)
        before, deadline = _lake_state(lake_dir), time.monotonic() + 30
        while proc.poll() is None and _lake_state(lake_dir) == before and \
                time.monotonic() < deadline:
            time.sleep(0.005)  # until it writes
        time.sleep(rng.uniform(0, 0.4))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=60)
    final = _cli(net, "--lake", str(lake_dir), "--json", *only)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    summary = json.loads(out)
    assert summary["synced_to"] == lake.read_meta(lake_dir)["synced_to"]
    assert kills >= 2  # runs died midway
    _assert_exactly_once(lake_dir, wanted)
    assert not [p for p in lake.records_dir(lake_dir).rglob(".*")]  # no temp file left
    meta = lake.read_meta(lake_dir)
    assert {s: meta["streams"][s]["records"] for s in wanted} == \
        {s: len(r) for s, r in wanted.items()}
    assert set(meta["streams"]) == set(wanted)  # only the streams asked for


def test_follow_picks_up_new_batches(net, streams, tmp_path):
    names, expected = streams
    lake_dir = tmp_path / "lake"
    proc = _cli(net, "--lake", str(lake_dir), "--follow", "--flush-seconds", "0.3",
                "--json", "--stream", names["b"], preexec_fn=takes_ctrl_c)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if lake.meta_path(lake_dir).exists() and \
                    lake.read_meta(lake_dir)["streams"].get(names["b"], {}).get("records") == 220:
                break
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.2)
        else:
            raise AssertionError("the follower did not catch up")
        extra = _rows(40, "late")
        _ingest(net, names["b"], extra, "line-3", tmp_path / "ingest")
        while time.monotonic() < deadline:
            if lake.read_meta(lake_dir)["streams"][names["b"]]["records"] == 260:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the follower did not pick up the new batches")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert json.loads(out)["interrupted"] is True
    got = _query(lake_dir, f"select count(*), count(distinct (_batch_id, _index)) from LAKE "
                           f"where stream = '{names['b']}' and _source = 'line-3'")
    assert got == [(40, 40)]
    expected[names["b"]] = expected[names["b"]] + extra  # later tests see line-3 too


def test_a_shredded_epochs_rows_are_absent_and_reported(net, streams, tmp_path):
    name = f"sync-s-{RUN}"
    with net.contract("Org1", "admin") as admin:
        create_stream(admin, name, SCHEMA, readers=["Org1MSP"], writers=["Org1MSP"])
    net.settle()
    _ingest(net, name, _rows(30, "e1"), "line-1", tmp_path / "i")
    early = tmp_path / "early"
    with net.contract("Org1", "analyst") as api:
        sync(api.contract.network, api, early, _keys(net), streams=[name])
    assert lake.read_meta(early)["streams"][name]["records"] == 30
    with net.contract("Org1", "admin") as admin:
        rotate(admin, name, settle=net.settle)
    _ingest(net, name, _rows(20, "e2"), "line-1", tmp_path / "i")
    with net.contract("Org1", "admin") as admin:
        shred(admin, name, 1, settle=net.settle)
    fresh = tmp_path / "fresh"
    with net.contract("Org1", "analyst") as api:
        sync(api.contract.network, api, fresh, _keys(net), streams=[name])
        sync(api.contract.network, api, early, _keys(net), streams=[name])
    for lake_dir in (fresh, early):
        entry = lake.read_meta(lake_dir)["streams"][name]
        assert entry["shredded_epochs"] == [1], lake_dir
        assert (entry["records"], entry["shredded_records"]) == (20, 30), lake_dir
        assert _query(lake_dir, f"select _epoch, count(*) from LAKE where stream = '{name}' "
                                f"group by _epoch") == [(2, 20)]


def test_a_resumed_sync_checks_the_chain_against_the_block_it_stopped_at(net, streams,
                                                                         tmp_path):
    names, _ = streams
    lake_dir = tmp_path / "lake"
    with net.contract("Org1", "analyst") as api:
        first = sync(api.contract.network, api, lake_dir, _keys(net), streams=[names["b"]])
    meta = lake.read_meta(lake_dir)
    lake.write_meta(lake_dir, {**meta, "tip_hash": "0" * 64})  # another chain's block
    _ingest(net, names["b"], _rows(2, "resume"), "line-r", tmp_path / "i")
    with pytest.raises(IntegrityError) as caught:
        with net.contract("Org1", "analyst") as api:
            sync(api.contract.network, api, lake_dir, _keys(net))
    assert caught.value.block_number == first.synced_to
    assert caught.value.check == "previous_hash"
    assert f"block {first.synced_to}: its hash" in str(caught.value)
    assert lake.read_meta(lake_dir)["synced_to"] == first.synced_to  # nothing written


def test_offchain_payloads_are_read_from_file_uris_and_others_reported(net, streams,
                                                                       tmp_path):
    name = f"sync-o-{RUN}"
    with net.contract("Org1", "admin") as admin:
        create_stream(admin, name, SCHEMA, readers=["Org1MSP"], writers=["Org1MSP"])
    net.settle()
    stored = tmp_path / "payload.bin"
    with net.contract("Org1", "producer") as api:
        keys = open_data_keys(api, name, "sync test", _keys(net))
        epoch = max(keys)
        local = seal_batch(stream=name, source="line-1", seq=1, prev_hash="", schema=SCHEMA,
                           rows=_rows(4, "o"), data_key=keys[epoch], key_epoch=epoch,
                           payload_uri=stored.as_uri())
        stored.write_bytes(local.ciphertext)
        remote = seal_batch(stream=name, source="line-2", seq=1, prev_hash="", schema=SCHEMA,
                            rows=_rows(3, "r"), data_key=keys[epoch], key_epoch=epoch,
                            payload_uri="https://example.invalid/payload.bin")
        api.submit_batch(local)
        api.submit_batch(remote)
    net.settle()
    lake_dir = tmp_path / "lake"
    with net.contract("Org1", "analyst") as api:
        summary = sync(api.contract.network, api, lake_dir, _keys(net), streams=[name])
    assert summary.records == 4
    entry = lake.read_meta(lake_dir)["streams"][name]
    assert entry["records"] == 4
    skipped = entry["skipped"]["offchain"]
    assert (skipped["batches"], skipped["records"]) == (1, 3)
    assert "https URI is not fetched" in skipped["why"]
    assert _query(lake_dir, f"select distinct _batch_id from LAKE where stream = '{name}'") \
        == [(local.id,)]


# -- tampering on a peer's disk (last: it restarts a peer) -----------------------------------
def test_a_tampered_block_stops_the_sync_naming_it(net, streams, tmp_path):
    names, _ = streams
    peer = net.layout.node("peer0.org2")
    files = block_files(net, peer)
    with net.contract("Org1", "producer") as api:
        tip_before = chain_info(api.contract.network).height - 1
    with net.contract("Org1", "producer") as api:  # a batch whose ciphertext we know
        keys = open_data_keys(api, names["a"], "sync test", _keys(net))
        epoch = max(keys)
        sealed = seal_batch(stream=names["a"], source="line-t", seq=1, prev_hash="",
                            schema=SCHEMA, rows=_rows(3, "t"), data_key=keys[epoch],
                            key_epoch=epoch)
        api.submit_batch(sealed)
    net.settle()
    with net.contract("Org1", "auditor") as api:
        block = chain_info(api.contract.network).height - 1
    assert block > tip_before
    # one bit of the batch's ciphertext (in the transaction only): framing and the
    # peer's block index still hold, the data hash does not
    old, new = one_bit_flipped(sealed.ciphertext)
    process.stop(net.layout.pid_file(peer))
    changed = []
    try:
        changed.append(replace_once(files, old, new))
        net.up()
        lake_dir = tmp_path / "lake"
        proc = subprocess.run(
            [sys.executable, "-m", "ledgerlake", "sync", "--lake", str(lake_dir), "--as",
             "Org2/analyst", "--peer", "peer0.org2", "--stream", names["a"]],
            env={**os.environ, "LEDGERLAKE_STATE_DIR": str(net.state_dir)},
            capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1
        assert proc.stderr.strip() == (f"IntegrityError: block {block}: data hash does not "
                                       f"match its data"), proc.stderr
        meta = lake.read_meta(lake_dir)  # the blocks before it are in, nothing of it
        assert meta["synced_to"] == block - 1
        assert _query(lake_dir, f"select count(*) from LAKE where _block >= {block}") == [(0,)]
        assert _query(lake_dir, f"select count(*) from LAKE where stream = '{names['a']}'")[0][0] \
            >= 300
        with pytest.raises(IntegrityError) as caught:
            with net.contract("Org2", "analyst") as api:  # peer0.org2 is Org2's first peer
                sync(api.contract.network, api, tmp_path / "lake2", _keys(net, "Org2"),
                     streams=[names["a"]])
        assert caught.value.block_number == block and caught.value.check == "data_hash"
    finally:
        process.stop(net.layout.pid_file(peer))
        for change in changed:
            put_back(*change)
        net.up()
