"""``verify report`` on a real Raft network: a run's receipt anchored on-chain verifies; a
changed output, a receipt claiming another block range, and one input record's ciphertext
changed on a peer's disk each make it fail, naming what differs.

One network for the module. The run directory is built from a lake the sync wrote (its
inputs' Merkle root computed here with pandas, in ledger order), so these tests need the
sync but not the analysis."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from ledgerlake import records
from ledgerlake.analytics import lake, lineage, report
from ledgerlake.analytics.sync import sync
from ledgerlake.cli import main
from ledgerlake.client.batches import seal_batch
from ledgerlake.client.ingest import RecordsSource, ingest
from ledgerlake.client.streams import create_stream, open_data_keys, org_private_keys
from ledgerlake.network import process
from networks import network_up
from tampering import block_files, one_bit_flipped, put_back, replace_once

pytestmark = pytest.mark.integration
SCHEMA = {"version": 1, "fields": [
    {"name": "station", "type": "string", "public": True},
    {"name": "ts", "type": "timestamp"},
    {"name": "temperature", "type": "float", "unit": "°C"}]}
RUN = uuid.uuid4().hex[:6]
STREAM = f"lineage-{RUN}"


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    yield from network_up(tmp_path_factory, "lineage", 26900)


def _rows(n: int, station: str, start: int) -> list[dict]:
    return [{"station": station, "ts": start + i * 3600 * 10**9,
             "temperature": 10.0 + (i % 24) / 2} for i in range(n)]


@pytest.fixture(scope="module")
def ledger(net, tmp_path_factory):
    """A stream Org1 and Org2 read, 120 records ingested from two stations, and one batch
    sealed here (its ciphertext known, for the tampering test); then synced into a lake."""
    tmp = tmp_path_factory.mktemp("lineage-ledger")
    with net.contract("Org1", "admin") as admin:
        create_stream(admin, STREAM, SCHEMA, readers=["Org1MSP", "Org2MSP"],
                      writers=["Org1MSP"])
    net.settle()
    start = 1_767_225_600 * 10**9  # 2026-01-01
    keys = org_private_keys(net.org_key_path("Org1"))
    with net.contract("Org1", "producer") as api:
        for station in ("723170", "703165"):
            summary = ingest(api, RecordsSource(_rows(60, station, start), f"st-{station}"),
                             stream=STREAM, org_key=keys[0], purpose="lineage test",
                             batch_size=20, state_dir=tmp)
            assert summary.committed == 60
        data_keys = open_data_keys(api, STREAM, "lineage test", keys)
        epoch = max(data_keys)
        sealed = seal_batch(stream=STREAM, source="st-12839", seq=1, prev_hash="",
                            schema=SCHEMA, rows=_rows(5, "12839", start), data_key=data_keys[epoch],
                            key_epoch=epoch)
        api.submit_batch(sealed)
    net.settle()
    lake_dir = tmp / "lake"
    with net.contract("Org1", "analyst") as api:
        sync(api.contract.network, api, lake_dir, keys, streams=[STREAM])
    return lake_dir, sealed


def _make_run(lake_dir: Path, out: Path, *, blocks_shift: int = 0) -> dict:
    """A run directory over the lake's rows of STREAM, as analyze writes one (the fields
    the report and the receipt read), and its report."""
    frame = pq.read_table(lake.stream_dir(lake_dir, STREAM), partitioning=None).to_pandas()
    frame = frame.sort_values(list(lake.LEDGER_ORDER), ignore_index=True)
    root = records.merkle_root([bytes.fromhex(c) for c in frame["_commitment"]]).hex()
    out.mkdir(parents=True)
    (out / "series").mkdir()
    pd.DataFrame({"source": frame["_source"], "time": frame["ts"], "field": "temperature",
                  "value": frame["temperature"], "anomaly": frame["temperature"] > 21.2,
                  "score": 0.0}).to_parquet(out / "series" / f"{STREAM}.parquet")
    contributors = [{"producer_msp": m, "producer_id": p, "source": s,
                     "batches": int(g["_batch_id"].nunique()), "records": len(g),
                     "first_block": int(g["_block"].min()), "last_block": int(g["_block"].max())}
                    for (m, p, s), g in frame.groupby(["_producer_msp", "_producer_id",
                                                        "_source"])]
    results = {
        "run": {"id": out.name, "started": "2026-03-12T12:00:00Z",
                "finished": "2026-03-12T12:00:09Z", "code_version": "ledgerlake test",
                "cluster": {"kind": "local", "address": "", "workers": 1}, "params": {}},
        "inputs": {"lake": str(lake_dir), "streams": [STREAM],
                   "blocks": [int(frame["_block"].min()),
                              int(frame["_block"].max()) + blocks_shift],
                   "rows": len(frame), "merkle_root": root, "time_from": None,
                   "time_to": None},
        "streams": {STREAM: {"time_field": "ts", "value_fields": ["temperature"],
                             "sources": sorted(frame["_source"].unique()),
                             "quality": {"rows": len(frame)},
                             "contributors": contributors}},
        "outputs": {}}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    report.write_report(out)
    return results


@pytest.fixture(scope="module")
def anchored(net, ledger, tmp_path_factory):
    """The run, its receipt anchored by Org1's analyst."""
    lake_dir, _ = ledger
    out = tmp_path_factory.mktemp("lineage-runs") / "run-1"
    results = _make_run(lake_dir, out)
    with net.contract("Org1", "analyst") as api:
        doc = lineage.record_run(api, out)
    net.settle()
    return out, results, doc


def _cli(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _verify(capsys, net, target, *extra):
    return _cli(capsys, "verify", "report", str(target), "--state-dir", str(net.state_dir),
                *extra)


def test_an_anchored_report_verifies_against_the_ledger(net, anchored, capsys):
    out, results, doc = anchored
    anchor = doc["anchor"]
    assert anchor["channel"] == net.spec.channel and anchor["by"] == "Org1MSP/analyst"
    html = (out / "report.html").read_text()
    assert f"in block <b>{anchor['block']}</b>" in html and anchor["tx_id"] in html
    with net.contract("Org1", "analyst") as api:
        result = lineage.verify_report(api.contract.network, api,
                                       org_private_keys(net.org_key_path("Org1")),
                                       out / "report.html")
        again = lineage.record_run(api, out)  # already anchored: the same anchor read back
    assert again == doc
    assert (result.receipt_id, result.anchor_block, result.records, result.merkle_root) == \
        (doc["receipt_id"], anchor["block"], 125, results["inputs"]["merkle_root"])
    assert result.blocks == tuple(results["inputs"]["blocks"])

    for target in (out, out / "lineage.json", out / "report.html"):
        code, stdout, err = _verify(capsys, net, target, "--as", "Org2/analyst")
        assert code == 0, err
        assert f"report verified: receipt {doc['receipt_id']} anchored in block " \
               f"{anchor['block']}" in stdout
        first, last = results["inputs"]["blocks"]
        assert f"125 records of {STREAM} in blocks {first} to {last}" in \
            stdout.replace("\n", "")
    code, stdout, err = _verify(capsys, net, out, "--json")
    assert code == 0, err
    doc_json = json.loads(stdout)
    assert (doc_json["receipt_id"], doc_json["records"], doc_json["by_stream"]) == \
        (doc["receipt_id"], 125, {STREAM: 125})
    openlineage = json.loads((out / "openlineage.json").read_text())
    assert openlineage["run"]["facets"]["ledgerlake_anchor"]["block"] == anchor["block"]


def test_a_changed_output_is_named(net, anchored, tmp_path, capsys):
    out, _, doc = anchored
    run = tmp_path / "run"
    shutil.copytree(out, run)
    png = run / "charts" / f"{STREAM}-series.png"
    png.write_bytes(png.read_bytes() + b"\0")
    code, stdout, err = _verify(capsys, net, run / "report.html")
    assert code == 1 and stdout == ""
    assert err == (f"IntegrityError: output charts/{STREAM}-series.png changed: its SHA-256 is "
                   f"{hashlib.sha256(png.read_bytes()).hexdigest()}, the anchored receipt says "
                   f"{doc['receipt']['outputs'][f'charts/{STREAM}-series.png']}\n")
    # a word changed in the report, outside its lineage slot
    shutil.copyfile(out / "charts" / png.name, png)
    page = run / "report.html"
    page.write_bytes(page.read_bytes().replace(b"What this run found", b"What this run hid"))
    code, _, err = _verify(capsys, net, run)
    assert code == 1 and err.startswith("IntegrityError: output report.html changed: "), err


def test_a_receipt_claiming_another_block_range_is_named(net, ledger, anchored, tmp_path,
                                                         capsys):
    out, results, doc = anchored
    first, last = results["inputs"]["blocks"]
    # lineage.json edited after anchoring: it is not the anchored receipt
    run = tmp_path / "edited"
    shutil.copytree(out, run)
    edited = json.loads((run / "lineage.json").read_text())
    edited["receipt"]["inputs"]["blocks"] = [first, last + 1]
    (run / "lineage.json").write_text(json.dumps(edited))
    code, _, err = _verify(capsys, net, run / "lineage.json")
    assert code == 1
    assert err == (f"IntegrityError: the receipt differs from the one anchored as "
                   f"{doc['receipt_id']} at inputs.blocks: [{first}, {last + 1}] here, "
                   f"[{first}, {last}] on-chain\n"), err
    # the anchor's block edited: the block that holds the anchoring transaction is checked
    edited = json.loads((out / "lineage.json").read_text())
    edited["anchor"]["block"] -= 1
    (run / "lineage.json").write_text(json.dumps(edited))
    code, _, err = _verify(capsys, net, run / "lineage.json")
    assert code == 1
    assert err == (f"IntegrityError: receipt {doc['receipt_id']} is anchored in block "
                   f"{doc['anchor']['block']}, not in block {doc['anchor']['block'] - 1} as "
                   f"the lineage says\n"), err
    # a receipt anchored with a block range that leaves the last block out
    lake_dir, _ = ledger
    short = tmp_path / "short"
    _make_run(lake_dir, short, blocks_shift=-1)
    with net.contract("Org1", "analyst") as api:
        lineage.record_run(api, short)
    net.settle()
    code, _, err = _verify(capsys, net, short)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"IntegrityError: the records of {STREAM} in blocks {first} to "
                          f"{last - 1} are not the run's inputs: "), err


def test_a_changed_input_ciphertext_on_a_peers_disk_is_named(net, ledger, anchored, capsys):
    out, results, _ = anchored
    _, sealed = ledger
    peer = net.layout.node("peer0.org2")
    old, new = one_bit_flipped(sealed.ciphertext)
    process.stop(net.layout.pid_file(peer))
    changed = []
    try:
        changed.append(replace_once(block_files(net, peer), old, new))
        net.up()
        first, last = results["inputs"]["blocks"]
        code, stdout, err = _verify(capsys, net, out, "--as", "Org2/analyst", "--peer",
                                    "peer0.org2")
        assert code == 1 and stdout == "", stdout
        assert err.startswith(f"IntegrityError: input blocks {first} to {last}: block "), err
        assert err.strip().endswith("data hash does not match its data"), err
        # the untouched peer still verifies
        assert _verify(capsys, net, out, "--as", "Org2/analyst", "--peer",
                       "peer0.org1")[0] == 0
    finally:
        process.stop(net.layout.pid_file(peer))
        for change in changed:
            put_back(*change)
        net.up()


def test_analyze_writes_the_report_anchors_it_and_verify_report_passes(net, ledger, tmp_path,
                                                                         capsys):
    lake_dir, _ = ledger
    out = tmp_path / "analysis"
    code, stdout, err = _cli(capsys, "analyze", "--lake", str(lake_dir), "--out", str(out),
                             "--stream", STREAM, "--state-dir", str(net.state_dir))
    assert code == 0, err
    doc = json.loads((out / "lineage.json").read_text())
    assert f"lineage receipt {doc['receipt_id']} anchored in block {doc['anchor']['block']}" \
        in stdout.replace("\n", "")
    net.settle()
    code, stdout, err = _verify(capsys, net, out / "report.html", "--as", "Org2/analyst")
    assert code == 0, err
    assert "125 records of" in stdout.replace("\n", "")


def test_markup_injected_into_the_reports_lineage_slot_is_named(net, anchored, tmp_path,
                                                               capsys):
    out, _, _ = anchored
    run = tmp_path / "injected"
    shutil.copytree(out, run)
    page = run / "report.html"
    page.write_bytes(page.read_bytes().replace(
        report.LINEAGE_END, b"<script>alert(1)</script><h1>ALL CLEAR</h1>" + report.LINEAGE_END))
    for target in (run, run / "lineage.json", page):
        code, stdout, err = _verify(capsys, net, target)
        assert code == 1 and stdout == ""
        assert err.startswith(f"IntegrityError: {page}: its lineage section is not the one the "
                              f"anchored receipt gives"), err
        assert len(err.strip().splitlines()) == 1


def test_an_extra_file_in_the_run_dir_is_named(net, anchored, tmp_path, capsys):
    out, _, _ = anchored
    run = tmp_path / "extra"
    shutil.copytree(out, run)
    (run / "series" / "planted.parquet").write_bytes(b"PAR1")
    code, _, err = _verify(capsys, net, run)
    assert code == 1 and err.startswith(f"IntegrityError: {run} holds series/planted.parquet, "
                                        f"which the receipt does not list"), err


def test_bad_input_to_verify_report_is_one_line(net, anchored, tmp_path, capsys):
    out, _, _ = anchored
    run = tmp_path / "bad"
    shutil.copytree(out, run)
    page = run / "report.html"
    data = page.read_bytes()
    at = data.index(b'id="ledgerlake-lineage">') + len(b'id="ledgerlake-lineage">')
    page.write_bytes(data[:at] + b"{oops" + data[at + 30:])
    (run / "lineage.json").write_text((out / "lineage.json").read_text()[:200])
    (tmp_path / "random.bin").write_bytes(bytes(range(256)))
    (tmp_path / "empty").mkdir()
    for target, what in ((page, "lineage slot holds no valid JSON"),
                         (run / "lineage.json", "is not JSON"),
                         (tmp_path / "random.bin", "is not JSON"),
                         (tmp_path / "empty", "holds no lineage.json")):
        code, _, err = _verify(capsys, net, target)
        assert code == 1 and err.startswith(f"ConfigError: {target}") and what in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_run_whose_anchoring_failed_is_anchored_later_and_verifies(net, ledger, tmp_path,
                                                                       capsys):
    lake_dir, _ = ledger
    out = tmp_path / "late"
    _make_run(lake_dir, out)
    lineage.record_run(None, out)  # the network was down: written, not anchored
    code, _, err = _verify(capsys, net, out)
    assert code == 1 and "was never anchored" in err
    code, stdout, err = _cli(capsys, "lineage", "anchor", str(out), "--state-dir",
                             str(net.state_dir))
    assert code == 0, err
    doc = json.loads((out / "lineage.json").read_text())
    assert f"lineage receipt {doc['receipt_id']} anchored in block {doc['anchor']['block']}" \
        in stdout.replace("\n", "")
    net.settle()
    code, stdout, err = _verify(capsys, net, out / "report.html", "--as", "Org2/analyst")
    assert code == 0, err
    # again: the anchor read back, nothing anchored twice
    code, stdout, err = _cli(capsys, "lineage", "anchor", str(out), "--state-dir",
                             str(net.state_dir))
    assert code == 0 and "was already anchored in block " \
        f"{doc['anchor']['block']}" in stdout.replace("\n", ""), err
    assert json.loads((out / "lineage.json").read_text()) == doc


def test_a_schema_update_after_a_windowed_run_does_not_change_its_time_column(
        net, ledger, tmp_path, capsys):
    """Last in the module: it changes the stream's schema (a new first timestamp field
    the run's batches lack)."""
    lake_dir, _ = ledger
    out = tmp_path / "windowed"
    results = _make_run(lake_dir, out)
    frame = pq.read_table(lake.stream_dir(lake_dir, STREAM), partitioning=None).to_pandas()
    frame = frame.sort_values(list(lake.LEDGER_ORDER), ignore_index=True)
    times = pd.to_datetime(frame["ts"], utc=True)
    start = int(times.min().value)
    t_from, t_to = start + 10 * 3600 * 10**9, start + 30 * 3600 * 10**9
    kept = frame[(times >= pd.Timestamp(t_from, tz="UTC")) & (times < pd.Timestamp(t_to,
                                                                                  tz="UTC"))]
    results["inputs"].update(time_from=t_from, time_to=t_to, rows=len(kept), merkle_root=(
        records.merkle_root([bytes.fromhex(c) for c in kept["_commitment"]]).hex()))
    (out / "results.json").write_text(json.dumps(results, indent=2))
    report.write_report(out)
    with net.contract("Org1", "analyst") as api:
        lineage.record_run(api, out)
    with net.contract("Org1", "admin") as admin:
        admin.update_stream(STREAM, schema={**SCHEMA, "version": 2, "fields": [
            {"name": "observed", "type": "timestamp"}, *SCHEMA["fields"]]})
    net.settle()
    code, stdout, err = _verify(capsys, net, out)
    assert code == 0, err
    assert f"{len(kept)} records of {STREAM}" in stdout.replace("\n", "")
