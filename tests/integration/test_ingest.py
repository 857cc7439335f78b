"""Ingestion on a real network: CSV, JSON Lines, Parquet and standard input through the CLI
decrypt to exactly their input; a re-run commits nothing new; an ingest killed (SIGKILL) at
random points and re-run commits every row exactly once; ``submit`` of one record; a
producer of a non-writer organisation is refused with one line."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest

from ledgerlake.cli import main
from ledgerlake.client import Identity, connect, connection, encryption, from_state_dir
from ledgerlake.client import signer_from_wallet
from ledgerlake.client.api import LedgerlakeContract
from ledgerlake.client.models import Writers
from chain_rows import chain_rows
from ctrl_c import takes_ctrl_c
from networks import network_up

pytestmark = pytest.mark.integration
ORGS = ("Org1", "Org2")
SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "seq", "type": "int"},
    {"name": "temperature_c", "type": "float", "min": -40, "max": 125},
    {"name": "ok", "type": "bool"},
    {"name": "ts", "type": "timestamp"},
    {"name": "note", "type": "string", "required": False}]}


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    yield from network_up(tmp_path_factory, "ingest", 22500)


def _api(net, org, user):
    folder = net.layout.wallet_dir(net.layout.org(org), user)
    channel = from_state_dir(net.state_dir, org).dial()
    api = LedgerlakeContract(connect(Identity.from_wallet(folder), signer_from_wallet(folder),
                                     channel).get_network("ledgerlake").get_contract("ledgerlake"))
    return api, channel


@pytest.fixture(scope="module")
def apis(net):
    made = {(org, user): _api(net, org, user) for org in ORGS
            for user in ("admin", "producer", "analyst")}
    yield {k: v[0] for k, v in made.items()}
    for _, channel in made.values():
        channel.close()


@pytest.fixture(scope="module")
def org_keys(net, apis):
    """Each organisation's X25519 key, which 'network up' made, kept where a local network
    keeps it and published on-chain."""
    keys = {org: encryption.load_org_key(connection.local_org_key_path(net.state_dir, org))
            for org in ORGS}
    for org in ORGS:
        published = apis[org, "admin"].get_org_key(f"{org}MSP").public_key
        assert published == encryption.public_pem(keys[org])
    return keys


@pytest.fixture(scope="module")
def stream(net, apis, org_keys):
    """A stream Org1 writes and both organisations read."""
    name = f"ingest-{uuid.uuid4().hex[:6]}"
    data_key = encryption.new_data_key()
    admin = apis["Org1", "admin"]
    admin.create_stream(name, SCHEMA, readers=[f"{o}MSP" for o in ORGS],
                        writers=Writers(("Org1MSP",)),
                        wrapped_keys={f"{o}MSP": admin.get_org_key(f"{o}MSP").wrap(
                            data_key, stream=name, epoch=1) for o in ORGS})
    net.settle()
    return name, data_key


def _rows(n, start=0, prefix="s"):
    now = time.time_ns()
    return [{"sensor": f"{prefix}{i}", "seq": i, "temperature_c": round(-20 + (i % 900) / 10, 1),
             "ok": i % 3 == 0, "ts": now - (n - i) * 1000, **({"note": f"n{i}"} if i % 2 else {})}
            for i in range(start, start + n)]


def _write_csv(path, rows):
    with open(path, "w") as out:
        out.write("sensor,seq,temperature_c,ok,ts,note\n")
        for r in rows:
            out.write(f"{r['sensor']},{r['seq']},{r['temperature_c']},{str(r['ok']).lower()},"
                      f"{r['ts']},{r.get('note', '')}\n")


def _ledger_rows(apis, stream, source):
    """Every record of the source's chain, decrypted as Org1's analyst, in chain order."""
    name, data_key = stream
    return chain_rows(apis["Org1", "analyst"], name, source, SCHEMA, data_key)


def _cli(net, *args):
    return main(["ingest", *map(str, args), "--state-dir", str(net.state_dir), "--quiet"])


def test_csv_jsonl_parquet_round_trip_and_a_rerun_commits_nothing(net, apis, stream, tmp_path,
                                                                  capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = stream[0]
    rows = _rows(700)
    _write_csv(tmp_path / "plant.csv", rows)
    with open(tmp_path / "plant.jsonl", "w") as out:
        for r in rows:
            out.write(json.dumps(r) + "\n")
    table = pa.Table.from_pylist([{**r, "note": r.get("note")} for r in rows])
    pq.write_table(table, tmp_path / "plant.parquet", row_group_size=256)
    for kind in ("csv", "jsonl", "parquet"):
        source = f"round-{kind}"
        assert _cli(net, tmp_path / f"plant.{kind}", "--stream", name, "--source-id", source,
                    "--batch-size", 300) == 0
        assert _ledger_rows(apis, stream, source) == rows, kind
        assert _cli(net, tmp_path / f"plant.{kind}", "--stream", name, "--source-id",
                    source) == 0  # a re-run: nothing new
        assert len(_ledger_rows(apis, stream, source)) == len(rows)
    summary = capsys.readouterr().out
    assert "0 record(s) committed" in summary and "700 record(s) committed" in summary


def test_stdin_round_trip_and_a_bad_line_goes_to_the_reject_file(net, apis, stream, tmp_path):
    name = stream[0]
    rows = _rows(50, prefix="in")
    lines = [json.dumps(r) for r in rows]
    lines.insert(10, '{"sensor": "bad", "seq": "x"}')
    rejects = tmp_path / "rejects.jsonl"
    run = subprocess.run([sys.executable, "-m", "ledgerlake", "ingest", "-", "--stream", name,
                          "--state-dir", str(net.state_dir), "--quiet", "--reject-file",
                          str(rejects)], input="\n".join(lines) + "\n", text=True,
                         capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert _ledger_rows(apis, stream, "stdin") == rows
    bad = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(b["where"], b["rule"], b["row"]["sensor"]) for b in bad] == [
        ("line 11 of standard input", "schema", "bad")]


def test_an_ingest_killed_at_random_points_commits_every_row_exactly_once(net, apis, stream,
                                                                         tmp_path):
    name, source = stream[0], "killed"
    rows = _rows(4000, prefix="k")
    _write_csv(tmp_path / "big.csv", rows)
    command = [sys.executable, "-m", "ledgerlake", "ingest", str(tmp_path / "big.csv"),
               "--stream", name, "--source-id", source, "--batch-size", "100",
               "--state-dir", str(net.state_dir), "--quiet"]
    rng = random.Random(8)
    kills, pending = 0, []
    for _ in range(4):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(2.0, 5.0))  # start-up takes ~1.5 s, then batches commit
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
        state = net.state_dir / "ingest" / name / f"{source}.json"
        if state.exists():
            pending.append(json.loads(state.read_text())["pending"] is not None)
            if len(pending) == 2:  # lost with its pending batch: rebuilt from the ledger
                state.unlink()
                time.sleep(2)  # until a batch the killed run had ordered is committed
    print(f"killed {kills} times; a batch was pending at {sum(pending)} of the kills")
    assert kills >= 3  # most runs died mid-way
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got = _ledger_rows(apis, stream, source)
    counts = Counter(r["seq"] for r in got)
    assert not [s for s, c in counts.items() if c > 1], "duplicates"
    assert sorted(counts) == list(range(4000))
    assert got == rows  # in input order, each exactly once


def test_submit_one_record(net, apis, stream):
    name = stream[0]
    record = _rows(1, prefix="one")[0]
    assert main(["submit", json.dumps(record), "--stream", name, "--source-id", "one-off",
                 "--state-dir", str(net.state_dir)]) == 0
    assert main(["submit", json.dumps(record), "--stream", name, "--source-id", "one-off",
                 "--state-dir", str(net.state_dir)]) == 0
    assert _ledger_rows(apis, stream, "one-off") == [record, record]


def test_a_producer_of_a_non_writer_org_is_refused_with_one_line(net, stream, tmp_path):
    _write_csv(tmp_path / "x.csv", _rows(3))
    run = subprocess.run([sys.executable, "-m", "ledgerlake", "ingest", str(tmp_path / "x.csv"),
                          "--stream", stream[0], "--as", "Org2/producer", "--state-dir",
                          str(net.state_dir), "--quiet"], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"ConfigError: Org2MSP may not write to stream {stream[0]!r} (writers: Org1MSP)"]


def test_ctrl_c_commits_what_was_read_and_exits_130(net, apis, stream, tmp_path):
    name, source = stream[0], "interrupted"
    rows = _rows(10_000, prefix="i")
    _write_csv(tmp_path / "big.csv", rows)
    command = [sys.executable, "-m", "ledgerlake", "ingest", str(tmp_path / "big.csv"),
               "--stream", name, "--source-id", source, "--batch-size", "50",
               "--max-in-flight", "2", "--state-dir", str(net.state_dir)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=takes_ctrl_c)
    state = net.state_dir / "ingest" / name / f"{source}.json"
    deadline = time.monotonic() + 60  # Ctrl-C once a batch is committed, however slow the start
    while not (state.exists() and json.loads(state.read_text()).get("seq", 0) >= 1):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    output, errors = proc.communicate(timeout=60)
    assert proc.returncode == 130, errors
    assert "(interrupted)" in output and "Traceback" not in errors
    first = len(_ledger_rows(apis, stream, source))
    assert 0 < first < len(rows)
    assert subprocess.run(command + ["--quiet"], capture_output=True,
                          timeout=300).returncode == 0
    assert _ledger_rows(apis, stream, source) == rows


@pytest.mark.parametrize("args, message", [
    (["--stream", "no-such-stream"], "ConfigError: stream 'no-such-stream' does not exist; "
                                     "see 'ledgerlake stream list'"),
    (["--time-field", "sensor"], "ConfigError: time field 'sensor' must be a timestamp field"),
    (["--as", "Org1/analyst"], "ConfigError: role analyst may not write to stream 'ingest-"),
])
def test_user_mistakes_are_one_line(net, stream, tmp_path, args, message):
    _write_csv(tmp_path / "x.csv", _rows(3))
    if "--stream" not in args:
        args = ["--stream", stream[0], *args]
    run = subprocess.run([sys.executable, "-m", "ledgerlake", "ingest", str(tmp_path / "x.csv"),
                          *args, "--state-dir", str(net.state_dir), "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.stderr.startswith(message)


def test_a_file_missing_a_required_column_is_refused_once(net, stream, tmp_path):
    (tmp_path / "m.csv").write_text("sensor,seq,temperature_c,ok\n" +
                                    "".join(f"a{i},{i},1.5,true\n" for i in range(500)))
    run = subprocess.run([sys.executable, "-m", "ledgerlake", "ingest", str(tmp_path / "m.csv"),
                          "--stream", stream[0], "--state-dir", str(net.state_dir), "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert run.stderr.strip() == ("ConfigError: m.csv has no column 'ts', a required field of "
                                  "the stream's schema v1")


def test_several_sources_side_by_side_each_on_its_own_chain(net, apis, stream, tmp_path):
    name = stream[0]
    parts = {"multi-a.csv": _rows(400, prefix="a"), "multi-b.csv": _rows(300, prefix="b")}
    for file, rows in parts.items():
        _write_csv(tmp_path / file, rows)
    assert _cli(net, *(tmp_path / f for f in parts), "--stream", name, "--batch-size", 50) == 0
    for file, rows in parts.items():
        assert _ledger_rows(apis, stream, file) == rows


def test_plaintext_with_its_cursor_is_checked_by_every_endorser_and_key_access_audited(
        net, apis, stream, tmp_path):
    name = stream[0]
    rows = _rows(120, prefix="p")
    _write_csv(tmp_path / "checked.csv", rows)
    assert _cli(net, tmp_path / "checked.csv", "--stream", name, "--batch-size", 50,
                "--send-plaintext") == 0
    api = apis["Org1", "analyst"]
    batches = list(api.items(api.list_batches, name, source="checked.csv"))
    assert [b.plaintext_checked for b in batches] == [True, True, True]
    assert _ledger_rows(apis, stream, "checked.csv") == rows
    auditor, channel = _api(net, "Org1", "auditor")
    with channel:
        opened = [e for e in auditor.items(auditor.query_audit, "action", "StreamOpened")
                  if e.target.get("stream") == name and e.actor.role == "producer"]
    assert opened and all(e.extra["purpose"].startswith("ingest from ") for e in opened)


def test_sources_read_in_worker_processes_commit_every_row_exactly_once(net, apis, stream,
                                                                        tmp_path):
    """Three files over two worker processes (one holds two sources): each chain holds its
    file's rows exactly once and in order, and the bad row is in the reject file."""
    name = stream[0]
    parts = {"par-a.csv": _rows(450, prefix="pa"), "par-b.csv": _rows(300, prefix="pb"),
             "par-c.csv": _rows(200, prefix="pc")}
    for file, rows in parts.items():
        _write_csv(tmp_path / file, rows)
    with open(tmp_path / "par-c.csv", "a") as out:
        out.write("pcbad,x,1.0,true,1,\n")
    rejects = tmp_path / "rejects.jsonl"
    assert _cli(net, *(tmp_path / f for f in parts), "--stream", name, "--batch-size", 40,
                "--workers", 2, "--reject-file", rejects) == 0
    for file, rows in parts.items():
        assert _ledger_rows(apis, stream, file) == rows
    bad = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(b["source"], b["where"]) for b in bad] == [("par-c.csv", "row 201 of par-c.csv")]
    assert _cli(net, *(tmp_path / f for f in parts), "--stream", name, "--workers", 2) == 0
    for file, rows in parts.items():  # a re-run commits nothing new
        assert _ledger_rows(apis, stream, file) == rows


def test_an_ingest_with_workers_killed_at_random_points_commits_every_row_once(
        net, apis, stream, tmp_path):
    import psutil

    name = stream[0]
    parts = {"kw-a.csv": _rows(2500, prefix="ka"), "kw-b.csv": _rows(2000, prefix="kb")}
    for file, rows in parts.items():
        _write_csv(tmp_path / file, rows)
    command = [sys.executable, "-m", "ledgerlake", "ingest",
               *(str(tmp_path / f) for f in parts), "--stream", name, "--batch-size", "100",
               "--workers", "2", "--state-dir", str(net.state_dir), "--quiet"]
    rng = random.Random(9)
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(2.5, 4.5))
        if proc.poll() is None:
            kids = psutil.Process(proc.pid).children()
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
            _, alive = psutil.wait_procs(kids, timeout=10)
            assert not alive, "a worker outlived the ingest"
        proc.wait(timeout=30)
    assert kills >= 2
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for file, rows in parts.items():
        got = _ledger_rows(apis, stream, file)
        assert not [s for s, c in Counter(r["seq"] for r in got).items() if c > 1]
        assert got == rows
