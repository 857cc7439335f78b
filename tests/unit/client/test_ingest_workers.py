"""Reading and sealing in worker processes (client/ingest/workers.py): which sources go to
how many workers, and a file source read by a real worker process committing through the
contract on a MemoryLedger exactly as the ingesting process does (rows in order, rejects
with their row numbers, on_error=stop, a worker's error as one line, a worker killed
mid-way and the re-run)."""

from __future__ import annotations

import json
import os
import signal

import pytest

from ledgerlake.client.ingest import workers
from ledgerlake.client.ingest.files import FileSource
from ledgerlake.errors import ConfigError, LedgerlakeError, RecordError
from test_ingest_pipeline import World

MIB = 1 << 20


@pytest.mark.parametrize("sizes, count, cpus, expected", [
    ([MIB] * 4, None, 2, []),  # small input: a worker costs more than it gives
    ([40 * MIB], None, 1, []),  # one core: nothing to gain
    ([40 * MIB], None, 4, [[0]]),  # never more workers than sources
    ([10 * MIB] * 4, None, 2, [[0, 2], [1, 3]]),  # one per core, spread evenly
    ([30 * MIB, 5 * MIB, 5 * MIB, 20 * MIB], None, 2, [[0], [1, 2, 3]]),  # by size
    ([None, 50 * MIB, None], None, 4, [[1]]),  # only sources a worker can read
    ([MIB, MIB], 2, 1, [[0], [1]]),  # asked for: whatever the size and the machine
    ([50 * MIB] * 3, 0, 8, []),  # 0: all in this process
])
def test_plan_spreads_sources_over_workers(sizes, count, cpus, expected):
    assert workers.plan(sizes, count, cpus) == expected


def test_plan_refuses_a_negative_worker_count():
    with pytest.raises(ValueError, match="workers must be 0"):
        workers.plan([MIB], -1, 2)


def test_the_ingest_refuses_a_bad_worker_count(tmp_path):
    world = World(tmp_path)
    with pytest.raises(ConfigError, match="workers must be 0 .* not -2"):
        world.ingest(FileSource(_csv(tmp_path / "a.csv", range(3))), workers=-2)


def _csv(path, numbers, bad=()):
    with open(path, "w") as out:
        out.write("sensor,n\n")
        for i in numbers:
            out.write(f"s{i},{'x' if i in bad else i}\n")
    return path


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def test_a_worker_commits_every_row_once_in_order_and_sends_rejects(world, tmp_path):
    path = _csv(tmp_path / "w.csv", range(250), bad={7, 130})
    rejects = tmp_path / "rejects.jsonl"
    summary = world.ingest(FileSource(path), batch_size=50, workers=1, reject_file=rejects)
    assert len(summary.worker_pids) == 1
    expected = [{"sensor": f"s{i}", "n": i} for i in range(250) if i not in (7, 130)]
    assert world.records("w.csv") == expected
    assert (summary.read, summary.committed, summary.rejected) == (250, 248, 2)
    assert [b.record_count for b in world.batches("w.csv")] == [50] * 4 + [48]
    bad = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(b["source"], b["where"], b["rule"]) for b in bad] == [
        ("w.csv", "row 8 of w.csv", "parse"), ("w.csv", "row 131 of w.csv", "parse")]
    again = world.ingest(FileSource(path), batch_size=50, workers=1)
    assert (again.read, again.committed) == (0, 0)
    assert world.records("w.csv") == expected
    # the same input read in this process continues the same chain: nothing new either
    assert world.ingest(FileSource(path), batch_size=50, workers=0).committed == 0


def test_on_error_stop_in_a_worker_commits_the_rows_before_and_names_the_bad_one(world,
                                                                                 tmp_path):
    path = _csv(tmp_path / "s.csv", range(120), bad={75})
    with pytest.raises(RecordError, match="row 76 of s.csv: field 'n' must be of type int"):
        world.ingest(FileSource(path), batch_size=50, workers=1, on_error="stop")
    assert world.records("s.csv") == [{"sensor": f"s{i}", "n": i} for i in range(75)]


def test_a_workers_error_is_one_line_in_the_ingesting_process(world, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("sensor,n,colour\ns1,1,red\n")
    with pytest.raises(ConfigError, match="odd.csv: column 'colour' is not a field"):
        world.ingest(FileSource(path), workers=1)


def test_a_worker_killed_mid_way_fails_the_ingest_and_a_rerun_commits_the_rest_once(
        world, tmp_path):
    path = _csv(tmp_path / "k.csv", range(3000))
    killed = []

    def kill_once(summary):
        if summary.committed and not killed:
            os.kill(summary.worker_pids[0], signal.SIGKILL)
            killed.append(summary.committed)

    with pytest.raises(LedgerlakeError, match="worker process reading source 'k.csv' ended"):
        world.ingest(FileSource(path), batch_size=20, workers=1, progress=kill_once)
    assert killed
    first = len(world.records("k.csv"))
    assert 0 < first < 3000
    done = world.ingest(FileSource(path), batch_size=20, workers=1)
    assert done.committed == 3000 - first
    assert world.records("k.csv") == [{"sensor": f"s{i}", "n": i} for i in range(3000)]
