"""The lineage receipt of an analysis run (tests/synthetic_run.py's run directory): its
shape, what it hashes (the report with its lineage slot emptied), its anchor through the
contract on a MemoryLedger, the OpenLineage event, and the checks of ``verify report`` fed
by a stand-in for ``sync.ledger_records`` (the lake's tables, changed on purpose)."""

from __future__ import annotations

import hashlib
import json
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ledgerlake import records
from ledgerlake.analytics import lineage, report
from ledgerlake.chaincode.contract.lineage import INPUT_FIELDS, RECEIPT_FIELDS
from ledgerlake.client import encryption
from ledgerlake.client.api import LedgerlakeContract
from ledgerlake.client.models import OrgKey, Writers
from ledgerlake.errors import ConfigError, IntegrityError
from memory_gateway import MemoryGateway
from synthetic_run import STREAMS, lake_tables, make_run

TIME_FIELDS = {s: "time" for s in STREAMS}


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lineage")
    make_run(root / "run", root / "lake")
    report.write_report(root / "run", charts=False)
    return root


@pytest.fixture
def run(base_run, tmp_path):
    """A fresh copy of the run directory (tests change it) over the module's lake."""
    shutil.copytree(base_run / "run", tmp_path / "run")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    return tmp_path / "run", results


def test_the_receipt_has_the_contracts_shape_and_hashes_every_output(run):
    out, results = run
    receipt = lineage.build_receipt(out)
    assert tuple(receipt) == RECEIPT_FIELDS
    assert set(receipt["inputs"]) <= set(INPUT_FIELDS)
    assert receipt["inputs"] == {"streams": list(STREAMS), "blocks": results["inputs"]["blocks"],
                                 "merkle_root": results["inputs"]["merkle_root"]}
    outputs = receipt["outputs"]
    assert {"results.json", "report.html", "series/weather-tmy.parquet",
            "forecast/weather-tm2.parquet", "models/weather-tmy-forecast.joblib",
            "tables/weather-tmy-windows.parquet"} <= set(outputs)
    for rel, digest in outputs.items():
        data = (out / rel).read_bytes()
        if rel == "report.html":
            data = report.without_lineage(data)
        assert hashlib.sha256(data).hexdigest() == digest, rel
    assert receipt["metrics"]["weather-tmy"]["anomalies"] == 6
    assert receipt["metrics"]["weather-tmy"]["forecast"]["mae"] == \
        results["streams"]["weather-tmy"]["forecast"]["metrics"]["mae"]
    assert lineage.receipt_id(receipt) == \
        hashlib.sha256(records.canonical(receipt)).hexdigest()


def test_a_time_window_goes_into_the_receipt_as_nanoseconds_by_the_integer_rule(run):
    out, results = run
    results["inputs"]["time_from"] = "2026-03-02T00:00:00Z"
    results["inputs"]["time_to"] = 1772668800000000000
    (out / "results.json").write_text(json.dumps(results))
    inputs = lineage.build_receipt(out)["inputs"]
    assert inputs["time_from"] == "1772409600000000000"  # beyond 2^53: a decimal string
    assert inputs["time_to"] == "1772668800000000000"


def test_nan_metrics_and_numpy_numbers_become_plain_json(run):
    out, results = run
    results["streams"]["weather-tmy"]["forecast"]["metrics"]["mape"] = float("nan")
    results["run"]["params"] = {"contamination": float("inf"), "big": 2**60}
    (out / "results.json").write_text(json.dumps(results))
    receipt = lineage.build_receipt(out)
    assert receipt["metrics"]["weather-tmy"]["forecast"]["mape"] is None
    assert receipt["params"] == {"contamination": None, "big": str(2**60)}
    records.canonical(receipt)  # the contract's canonical form takes it


def test_a_run_directory_without_results_or_blocks_is_named(tmp_path, run):
    with pytest.raises(ConfigError, match="has no results.json"):
        lineage.build_receipt(tmp_path)
    out, results = run
    results["inputs"]["blocks"] = [3]
    (out / "results.json").write_text(json.dumps(results))
    with pytest.raises(ConfigError, match=r"inputs.blocks must be \[first, last\]"):
        lineage.build_receipt(out)


def test_filling_the_reports_lineage_slot_keeps_its_hash(run):
    out, _ = run
    before = lineage.output_digest(out / "report.html")
    lineage.record_run(None, out)  # unanchored: lineage.json, the slot, openlineage.json
    html = (out / "report.html").read_bytes()
    assert b"was written but not anchored on-chain" in html
    assert lineage.output_digest(out / "report.html") == before
    assert report.embedded_lineage(html)["receipt_id"] == \
        json.loads((out / "lineage.json").read_text())["receipt_id"]
    # outside the slot, a change is a change
    changed = html.replace(b"What this run found", b"What this run hid")
    (out / "report.html").write_bytes(changed)
    assert lineage.output_digest(out / "report.html") != before


def test_re_rendering_the_report_gives_the_bytes_the_receipt_hashed(run):
    out, _ = run
    doc = lineage.record_run(None, out)
    report.write_report(out, charts=False)
    assert lineage.build_receipt(out) == doc["receipt"]
    assert report.embedded_lineage((out / "report.html").read_bytes()) == \
        json.loads((out / "lineage.json").read_text())


def test_a_report_with_two_slots_or_none_is_refused(run):
    out, _ = run
    html = (out / "report.html").read_bytes()
    with pytest.raises(ConfigError, match="no single lineage slot"):
        report.without_lineage(html + report.LINEAGE_BEGIN + report.LINEAGE_END)
    with pytest.raises(ConfigError, match="no single lineage slot"):
        report.without_lineage(html.replace(report.LINEAGE_END, b""))


# -- anchored through the contract (MemoryLedger) -----------------------------------------
@pytest.fixture
def analyst():
    """A MemoryLedger with both synthetic streams, read by Org1: Org1's analyst."""
    gateway = MemoryGateway()
    admin = {org: LedgerlakeContract(gateway.contract(f"{org}MSP", "admin"))
             for org in ("Org1", "Org2")}
    keys = {org: encryption.new_org_key() for org in ("Org1", "Org2")}
    for org, api in admin.items():
        api.register_org_key(encryption.public_pem(keys[org]))
    for stream, spec in STREAMS.items():
        data_key = encryption.new_data_key()
        admin["Org1"].create_stream(
            stream, spec["schema"], readers=["Org1MSP"], writers=Writers(("Org1MSP",)),
            wrapped_keys={"Org1MSP": OrgKey("Org1MSP", encryption.public_pem(keys["Org1"]), 0)
                          .wrap(data_key, stream=stream, epoch=1)})
    return LedgerlakeContract(gateway.contract("Org1MSP", "analyst"))


def test_record_run_anchors_the_receipt_and_writes_lineage_slot_and_openlineage(run, analyst):
    out, results = run
    doc = lineage.record_run(analyst, out)
    entry = analyst.get_lineage(doc["receipt_id"])
    assert records.canonical(entry.receipt) == records.canonical(doc["receipt"])
    anchor = doc["anchor"]
    assert anchor["tx_id"] == entry.tx_id and anchor["by"] == "Org1MSP/analyst"
    assert isinstance(anchor["block"], int) and anchor["block"] > 0
    assert json.loads((out / "lineage.json").read_text()) == doc
    html = (out / "report.html").read_bytes().decode()
    assert f"in block <b>{anchor['block']}</b>" in html and entry.tx_id in html
    assert lineage.output_digest(out / "report.html") == doc["receipt"]["outputs"]["report.html"]
    # the run's input batches, from its lake, to name one that differs later
    assert len(doc["input_batches"]) == 12 and doc["input_batches"][0][2] == 5

    event = json.loads((out / "openlineage.json").read_text())
    assert event["eventType"] == "COMPLETE" and event["job"] == {
        "namespace": "ledgerlake", "name": "analyze", "facets": {}}
    facet = event["run"]["facets"][lineage.ANCHOR_FACET]
    assert (facet["receiptId"], facet["txId"], facet["block"], facet["anchored"]) == \
        (doc["receipt_id"], entry.tx_id, anchor["block"], True)
    assert facet["_schemaURL"] and facet["_producer"] == lineage.PRODUCER
    assert [i["name"] for i in event["inputs"]] == list(STREAMS)
    first, last = results["inputs"]["blocks"]
    tmy = event["inputs"][0]
    assert tmy["facets"]["version"]["datasetVersion"] == f"blocks {first}-{last}"
    assert {f["name"]: f.get("description") for f in tmy["facets"]["schema"]["fields"]}[
        "air_temperature"] == "unit: °C"
    assert tmy["inputFacets"]["inputStatistics"]["rowCount"] == 480
    names = {o["name"].split("/run/", 1)[1] for o in event["outputs"]}
    assert names == set(doc["receipt"]["outputs"])
    # the file is openlineage-python's own serialisation of the event
    from openlineage.client.serde import Serde
    assert Serde.to_dict(lineage.openlineage_event(out, doc)) == event


def test_the_contract_refuses_a_receipt_over_a_stream_the_org_does_not_read(run, analyst):
    out, results = run
    results["inputs"]["streams"] = ["weather-tmy", "elsewhere"]
    (out / "results.json").write_text(json.dumps(results))
    with pytest.raises(Exception, match="elsewhere"):
        lineage.record_run(analyst, out)
    assert not (out / "lineage.json").exists()


# -- verify report's checks, fed by a stand-in ledger ------------------------------------
def _lineage(out):
    return lineage.read_lineage(out)[0]


def test_the_ledgers_records_give_the_receipts_root(run, base_run):
    out, results = run
    lineage.record_run(None, out)
    frames = _frames(base_run)
    count, counts, root = lineage.check_inputs(_lineage(out), lake_tables(frames), TIME_FIELDS)
    assert (count, root) == (results["inputs"]["rows"], results["inputs"]["merkle_root"])
    assert counts == {"weather-tmy": 480, "weather-tm2": 240}


def _frames(base_run):
    import pandas as pd
    import pyarrow.parquet as pq
    from ledgerlake.analytics import lake
    frames = {}
    for stream in STREAMS:
        frames[stream] = pq.read_table(lake.stream_dir(base_run / "lake", stream),
                                       partitioning=None).to_pandas()
        frames[stream]["time"] = pd.to_datetime(frames[stream]["time"], utc=True)
    return frames


def test_one_changed_record_names_its_batch_and_block(run, base_run):
    out, _ = run
    doc = lineage.record_run(None, out)
    frames = _frames(base_run)
    frame = frames["weather-tm2"]
    victim = frame.iloc[70]
    frame.loc[70, "_commitment"] = "ab" * 32
    with pytest.raises(IntegrityError) as caught:
        lineage.check_inputs(doc, lake_tables(frames), TIME_FIELDS)
    message = str(caught.value)
    assert message.startswith("the records of weather-tmy, weather-tm2 in blocks 5 to 16 are "
                              "not the run's inputs: batch ")
    assert f"batch {victim['_batch_id']} of stream weather-tm2 in block " \
           f"{victim['_block']} differs" in message
    assert caught.value.check == "lineage_inputs" and "\n" not in message


def test_a_missing_record_and_a_shorter_block_range_are_named(run, base_run):
    out, _ = run
    doc = lineage.record_run(None, out)
    frames = _frames(base_run)
    frames["weather-tmy"] = frames["weather-tmy"].drop(index=3)
    with pytest.raises(IntegrityError, match=r"in block 5 differs \(59 records on the ledger, "
                                             r"60 read by the run\)"):
        lineage.check_inputs(doc, lake_tables(frames), TIME_FIELDS)
    # what blocks 5..15 hold (the last block left out): its batch is named
    tables = [(s, t.filter(pc.less_equal(t["_block"], 15))) for s, t in
              lake_tables(_frames(base_run))]
    with pytest.raises(IntegrityError, match=r"of stream weather-tm2 \(block 16, 60 records "
                                             r"read by the run\) is not among them"):
        lineage.check_inputs(doc, tables, TIME_FIELDS)


def test_without_the_batch_list_the_block_range_counts_and_roots_are_named(run, base_run):
    out, results = run
    doc = lineage.record_run(None, out)
    del doc["input_batches"]
    frames = _frames(base_run)
    frames["weather-tmy"] = frames["weather-tmy"].drop(index=3)
    with pytest.raises(IntegrityError) as caught:
        lineage.check_inputs(doc, lake_tables(frames), TIME_FIELDS)
    assert str(caught.value) == (
        f"the records of weather-tmy, weather-tm2 in blocks 5 to 16 are not the run's inputs: "
        f"719 records with Merkle root {_root(frames)} on the ledger, the receipt says "
        f"{results['inputs']['merkle_root']} over 720 records")


def _root(frames):
    read = lineage.input_commitments(lake_tables(frames), TIME_FIELDS, None, None)
    return records.merkle_root(read.leaves).hex()


def test_the_time_window_keeps_rows_dated_from_its_start_up_to_its_end(base_run):
    frames = _frames(base_run)
    t0 = int(frames["weather-tmy"]["time"].min().value)
    hour = 3600 * 10**9
    read = lineage.input_commitments(lake_tables(frames), TIME_FIELDS, t0 + hour, t0 + 3 * hour)
    assert read.counts == {"weather-tmy": 4, "weather-tm2": 2}  # hours 1 and 2 of each source
    everything = pd.concat(frames.values())
    hours = everything[(everything["time"] >= pd.Timestamp(t0 + hour, tz="UTC")) &
                       (everything["time"] < pd.Timestamp(t0 + 3 * hour, tz="UTC"))]
    expected = hours.sort_values(["_block", "_tx", "_index"])["_commitment"]
    assert [leaf.hex() for leaf in read.leaves] == list(expected)  # in ledger order
    assert list(read.blocks) == list(hours.sort_values(["_block", "_tx", "_index"])["_block"])


def test_a_changed_or_missing_output_is_named(run):
    out, _ = run
    doc = lineage.record_run(None, out)
    outputs = doc["receipt"]["outputs"]
    assert lineage.check_outputs(out, outputs) == len(outputs)
    png = next(p for p in outputs if p.startswith("series/"))
    (out / png).write_bytes(b"changed")
    with pytest.raises(IntegrityError, match=f"output {png} changed: its SHA-256 is "
                                             f"{hashlib.sha256(b'changed').hexdigest()}, the "
                                             f"anchored receipt says {outputs[png]}"):
        lineage.check_outputs(out, outputs)
    (out / "models" / "weather-tm2-anomaly.joblib").unlink()
    with pytest.raises(IntegrityError, match="output models/weather-tm2-anomaly.joblib is "
                                             "missing"):
        lineage.check_outputs(out, outputs)


def test_the_lineage_is_read_from_the_run_dir_its_json_or_its_report(run, tmp_path):
    out, _ = run
    doc = lineage.record_run(None, out)
    for path in (out, out / "lineage.json", out / "report.html"):
        assert lineage.read_lineage(path) == (doc, out)
    with pytest.raises(ConfigError, match="does not exist"):
        lineage.read_lineage(tmp_path / "nothing")
    (out / "lineage.json").write_text("{")
    with pytest.raises(ConfigError, match="is not JSON"):
        lineage.read_lineage(out)


def test_a_receipt_changed_after_anchoring_is_named_by_field():
    here = {"inputs": {"streams": ["a"], "blocks": [3, 20]}, "outputs": {"x": "1"}}
    there = {"inputs": {"streams": ["a"], "blocks": [3, 17]}, "outputs": {"x": "1"}}
    assert lineage._first_difference(here, there) == "inputs.blocks"
    assert lineage._first_difference(here, here) is None
    assert lineage._first_difference({"outputs": {"x": "1", "y": "2"}},
                                     {"outputs": {"x": "1"}}) == "outputs.y"
    # a big integer and its decimal string are the same (the integer rule)
    assert lineage._first_difference({"t": 2**60}, {"t": str(2**60)}) is None


def test_integer_rule_for_time_is_what_the_contract_stores():
    assert lineage._json_int(2**53 - 1) == 2**53 - 1
    assert lineage._json_int(2**53) == str(2**53)
    assert lineage.nanos("2026-03-01T00:00:00", "t") == 1772323200 * 10**9
    assert lineage.nanos("1772323200000000000", "t") == 1772323200 * 10**9
    assert lineage.nanos("2026-03-01T00:00:00.000000001Z", "t") == 1772323200 * 10**9 + 1
    with pytest.raises(ConfigError, match="neither nanoseconds nor ISO-8601"):
        lineage.nanos("yesterday", "inputs.time_from")


def test_batches_group_the_leaves_by_batch_in_ledger_order():
    table = pa.table({"_block": pa.array([6, 5, 5], pa.int64()), "_tx": pa.array([0, 0, 0], pa.int32()),
                      "_index": pa.array([0, 1, 0], pa.int32()), "_batch_id": ["b2", "b1", "b1"],
                      "_commitment": [bytes([i]).hex() * 32 for i in (2, 1, 0)]})
    read = lineage.input_commitments([("s", table)], {"s": None}, None, None)
    leaves = [bytes([i]) * 32 for i in range(3)]
    assert read.leaves == leaves
    batches = read.batches()
    assert list(batches) == ["b1", "b2"]
    assert batches["b1"] == ["s", "b1", 5, 2, hashlib.sha256(leaves[0] + leaves[1]).hexdigest()]
    assert batches["b2"] == ["s", "b2", 6, 1, hashlib.sha256(leaves[2]).hexdigest()]


# -- the review's findings: the slot, the time column, the output set, bad input ------------
def _anchored_doc(out):
    """The run recorded, with an anchor as the ledger would give it (for the slot checks)."""
    doc = lineage.record_run(None, out)
    doc["anchor"] = {"receipt_id": doc["receipt_id"], "tx_id": "ab" * 32, "block": 21,
                     "anchored": 1, "by": "Org1MSP/analyst", "channel": "c", "chaincode": "l"}
    lineage.write_lineage(out, doc)
    return doc


def test_the_reports_lineage_slot_must_show_exactly_the_checked_document(run):
    out, _ = run
    doc = _anchored_doc(out)
    lineage.check_shown(out, doc)
    html = (out / "report.html").read_bytes()
    injected = html.replace(report.LINEAGE_END,
                            b"<script>alert(1)</script><h1>ALL CLEAR</h1>" + report.LINEAGE_END)
    (out / "report.html").write_bytes(injected)
    # the report's hash is unchanged (the slot is outside it) ...
    assert lineage.check_outputs(out, doc["receipt"]["outputs"])
    # ... but what the slot shows is not the checked document, from every entry form
    for entry in (out, out / "lineage.json", out / "report.html"):
        shown, run_dir = lineage.read_lineage(entry)
        with pytest.raises(IntegrityError, match="report.html: its lineage section is not the "
                                                 "one the anchored receipt gives") as caught:
            lineage.check_shown(run_dir, shown if entry.name != "report.html" else doc)
        assert caught.value.check == "lineage_slot"
    # a slot that claims another anchor than lineage.json's is named as well
    (out / "report.html").write_bytes(html)
    forged = json.loads(json.dumps(doc))
    forged["anchor"]["block"] = 99
    with pytest.raises(IntegrityError, match="lineage.json is not the lineage document"):
        lineage.check_shown(out, forged)


def test_an_extra_file_in_the_run_dir_and_unsafe_receipt_paths_are_named(run):
    out, _ = run
    doc = lineage.record_run(None, out)
    outputs = doc["receipt"]["outputs"]
    (out / "tables" / "planted.csv").write_text("x\n")
    with pytest.raises(IntegrityError, match=r"holds tables/planted.csv, which the receipt "
                                             r"does not list"):
        lineage.check_outputs(out, outputs)
    (out / "tables" / "planted.csv").unlink()
    assert lineage.check_outputs(out, outputs) == len(outputs)
    for bad in ("../outside.txt", "/etc/passwd", "series/../../x"):
        with pytest.raises(IntegrityError, match="a path outside the run directory"):
            lineage.check_outputs(out, {**outputs, bad: "00" * 32})


def test_the_time_column_is_the_runs_and_a_batch_without_it_is_outside_the_window(run, base_run):
    out, results = run
    doc = lineage.record_run(None, out)
    assert doc["time_columns"] == {s: "time" for s in STREAMS}
    assert lineage.recorded_time_columns(out, STREAMS) == {s: "time" for s in STREAMS}
    results["streams"]["weather-tm2"]["time_field"] = "_tx_time"
    (out / "results.json").write_text(json.dumps(results))
    assert lineage.recorded_time_columns(out, STREAMS)["weather-tm2"] == "_tx_time"
    del results["streams"]["weather-tm2"]["time_field"]
    (out / "results.json").write_text(json.dumps(results))
    assert lineage.recorded_time_columns(out, STREAMS, {"weather-tm2": "ts"}) == \
        {"weather-tmy": "time", "weather-tm2": "ts"}
    # an older schema version's batch lacks the column: null, so outside a window
    frames = _frames(base_run)
    tables = [(s, t.drop_columns(["time"]) if s == "weather-tm2" else t)
              for s, t in lake_tables(frames)]
    t0 = int(frames["weather-tmy"]["time"].min().value)
    read = lineage.input_commitments(tables, TIME_FIELDS, t0, None)
    assert read.counts == {"weather-tmy": 480, "weather-tm2": 0}
    assert len(lineage.input_commitments(tables, TIME_FIELDS, None, None).leaves) == 720


@pytest.mark.parametrize("content, what", [
    (b"\x89PNG\r\n\x1a\n\x00\x00garbage", "is not JSON"),
    (b'{"receipt_id": "ab", "receipt": {"inputs": {"str', "is not JSON"),
    (b'{"receipt_id": "ab", "receipt": {"inputs": {}}}', "receipt.inputs.streams"),
    (b'[1, 2]', "no 'receipt' object"),
])
def test_bad_lineage_files_are_one_line_config_errors(tmp_path, content, what):
    path = tmp_path / "lineage.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=what) as caught:
        lineage.read_lineage(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message and "name a run directory" in message


def test_a_report_whose_slot_holds_invalid_json_is_a_config_error(run):
    out, _ = run
    _anchored_doc(out)
    html = (out / "report.html").read_bytes()
    start = html.index(b'id="ledgerlake-lineage">') + len(b'id="ledgerlake-lineage">')
    (out / "report.html").write_bytes(html[:start] + b"{not json" + html[start + 40:])
    with pytest.raises(ConfigError, match=r"report.html: the report's lineage slot holds no "
                                          r"valid JSON"):
        lineage.read_lineage(out / "report.html")
    (out / "elsewhere.html").write_bytes(b"<html>a page</html>")
    with pytest.raises(ConfigError, match=r"elsewhere.html: the report has no single lineage "
                                          r"slot"):
        lineage.read_lineage(out / "elsewhere.html")
    empty = out.parent / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"empty holds no lineage.json: not a recorded"):
        lineage.read_lineage(empty)


def test_a_run_whose_anchoring_failed_is_anchored_later_and_again_reads_its_anchor(run,
                                                                                   analyst):
    out, _ = run
    unanchored = lineage.record_run(None, out)  # as a run whose network was down
    doc, was = lineage.anchor_run(analyst, out)
    assert not was and doc["receipt_id"] == unanchored["receipt_id"] and doc["anchor"]
    assert analyst.get_lineage(doc["receipt_id"]).tx_id == doc["anchor"]["tx_id"]
    assert lineage.read_lineage(out / "report.html")[0] == doc
    lineage.check_shown(out, doc)
    # (anchoring again reads the anchor back: the integration test, as it needs qscc)
    # files changed after the receipt was written: not vouched for
    (out / "results.json").write_text((out / "results.json").read_text() + " ")
    with pytest.raises(IntegrityError, match=r"no longer give the receipt its lineage.json "
                                             r"holds \(they differ at outputs.results.json\)"):
        lineage.anchor_run(analyst, out)
