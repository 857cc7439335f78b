"""An analysis run's lineage receipt: built from its run directory, anchored on-chain,
written as an OpenLineage run event, and checked again by ``verify report``.

The receipt (the contract's shape, ``chaincode/contract/lineage.py``)::

    {"inputs": {"streams", "blocks": [first, last], "merkle_root", "time_from", "time_to"},
     "code_version", "params", "outputs": {relative path: sha256 hex}, "metrics"}

Its id is SHA-256 of its canonical form, so the anchor commits to every field.

**The report and its receipt.** The receipt hashes the report, and the report shows the
receipt: each would need the other's final bytes first. ``report.html`` holds the receipt
in one marked slot (``report.LINEAGE_BEGIN`` … ``report.LINEAGE_END``), and the hash the
receipt gives ``report.html`` is the hash of the file *with that slot emptied*
(``output_digest``), as a detached signature covers a document minus its signature field.
So: the report is rendered with an empty slot, the receipt hashes it, the receipt is
anchored, and then the slot is filled with the receipt and its anchor (block, transaction)
without changing the hash. ``verify report`` empties the slot again to check the report's
hash, and checks that the slot holds exactly ``lineage_section(doc)`` for the lineage
document it checked against the ledger (receipt and every anchor field), so nothing can be
added to the slot unnoticed (``check_shown``). Only ``lineage.json`` and
``openlineage.json`` (written after the anchor, and derived from it) are outside the
receipt; every other file of the run directory is in it, and the directory holds no other
(``check_outputs``: an extra file is named, as is a receipt path leaving the directory).
The time window dates each stream's records by the column the run recorded
(results.json's ``streams.<id>.time_field``; lineage.json's ``time_columns``), not the
stream's schema of today; a batch without that column is outside the window.

``verify_report`` recomputes, from the ledger, the records of the receipt's streams in its
block range (``sync.ledger_records``: every block checked) and time window, their Merkle
root in ``lake.LEDGER_ORDER`` (``records.merkle_root`` over ``_commitment``), each output's
hash, and reads the anchored receipt by its id, then checks the block that holds the
anchoring transaction (data hash, orderer signatures) and that the transaction carries this
receipt; the first difference is raised as one ``IntegrityError`` line naming it.
``lineage.json`` also lists the run's input batches
(``input_batches``: block, record count and a digest of each batch's commitments, read from
the lake): not evidence, which the Merkle root is, but what lets ``verify report`` name the
batch and block that differ rather than only the range.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from ledgerlake import __version__, records
from ledgerlake.analytics import lake
from ledgerlake.analytics.charts import read_results
from ledgerlake.analytics.report import REPORT_FILE, embedded_lineage, with_lineage, \
    without_lineage
from ledgerlake.errors import ConfigError, IntegrityError, LedgerlakeError

LINEAGE_FILE = "lineage.json"
OPENLINEAGE_FILE = "openlineage.json"
#: Written after the anchor and derived from it, so outside the receipt's outputs.
NOT_HASHED = frozenset({LINEAGE_FILE, OPENLINEAGE_FILE})
#: The custom OpenLineage run facet that carries the on-chain anchor.
ANCHOR_FACET = "ledgerlake_anchor"
ANCHOR_FACET_SCHEMA = ("https://github.com/ledgerlake/ledgerlake/blob/main/analytics/"
                       "lineage.py#LedgerlakeAnchorRunFacet")
PRODUCER = f"https://github.com/ledgerlake/ledgerlake/tree/v{__version__}"
JOB_NAMESPACE = "ledgerlake"


# -- hashing the outputs ----------------------------------------------------------------------
def output_digest(path: Path) -> str:
    """SHA-256 of an output file; for the report, of the report with its lineage slot
    emptied (the module docstring says why)."""
    data = path.read_bytes()
    if path.name == REPORT_FILE:
        data = without_lineage(data)
    return hashlib.sha256(data).hexdigest()


def output_files(out_dir: Path) -> list[str]:
    """The run directory's outputs, as sorted relative POSIX paths (hidden files and the
    lineage files left out)."""
    found = []
    for path in sorted(out_dir.rglob("*")):
        rel = path.relative_to(out_dir)
        if path.is_file() and rel.as_posix() not in NOT_HASHED and \
                not any(part.startswith(".") for part in rel.parts):
            found.append(rel.as_posix())
    return found


def output_hashes(out_dir: Path) -> dict[str, str]:
    return {rel: output_digest(out_dir / rel) for rel in output_files(out_dir)}


# -- the receipt ------------------------------------------------------------------------------
def nanos(value: Any, what: str) -> int | None:
    """A time of results.json (nanoseconds, or ISO-8601, UTC unless it says) as nanoseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(f"{what} is {value!r}, not a time")
    if isinstance(value, int):
        return value
    if value.lstrip("-").isdigit():
        return int(value)
    import pandas as pd

    try:
        moment = pd.Timestamp(value)
    except ValueError:
        raise ConfigError(f"{what} {value!r} is neither nanoseconds nor ISO-8601") from None
    if moment.tzinfo is None:
        moment = moment.tz_localize("UTC")
    return int(moment.value)  # nanoseconds, every digit kept


def _json_int(value: int) -> int | str:
    """The record format's integer rule: beyond ±(2^53−1) a decimal string (as the contract
    stores it, so lineage.json holds the anchored receipt byte for byte)."""
    return value if abs(value) <= records.MAX_SAFE_INTEGER else str(value)


def _plain(value: Any) -> Any:
    """A JSON value the contract takes: NaN and infinities as null, numpy scalars as
    Python numbers, tuples as lists, big integers by the integer rule."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if hasattr(value, "item") and not isinstance(value, (int, float)):
        value = value.item()  # numpy scalar
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _json_int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def _metrics(results: dict) -> dict:
    """What the run found, per stream: rows, anomalies, the forecast's errors against its
    baseline's (the figures a reader of the report quotes)."""
    metrics: dict[str, Any] = {"rows": results.get("inputs", {}).get("rows")}
    for stream_id, stream in sorted(results.get("streams", {}).items()):
        forecast = stream.get("forecast") or {}
        metrics[stream_id] = {
            "rows": (stream.get("quality") or {}).get("rows"),
            "anomalies": (stream.get("anomalies") or {}).get("count"),
            "forecast": {"target": forecast.get("target"), "model": forecast.get("model"),
                         **(forecast.get("metrics") or {}),
                         "baseline": (forecast.get("baseline") or {}).get("metrics"),
                         "skill": forecast.get("skill")} if forecast else None}
    return _plain(metrics)


def build_receipt(out_dir: str | Path) -> dict:
    """The run's lineage receipt (the contract's shape), from its results.json and the
    files of its directory; the report counted with its lineage slot emptied."""
    out_dir = Path(out_dir)
    results = read_results(out_dir)
    run, inputs = results.get("run", {}), results.get("inputs", {})
    streams = list(inputs.get("streams") or results.get("streams", {}))
    if not streams:
        raise ConfigError(f"{out_dir / 'results.json'} names no input stream (inputs.streams)")
    blocks = inputs.get("blocks")
    if not (isinstance(blocks, list) and len(blocks) == 2 and all(isinstance(b, int)
                                                                  for b in blocks)):
        raise ConfigError(f"{out_dir / 'results.json'}: inputs.blocks must be [first, last], "
                          f"not {blocks!r}")
    merkle_root = inputs.get("merkle_root")
    if not (isinstance(merkle_root, str) and len(merkle_root) == 64):
        raise ConfigError(f"{out_dir / 'results.json'}: inputs.merkle_root must be 64 hex "
                          f"digits, not {merkle_root!r}")
    receipt_inputs: dict[str, Any] = {"streams": streams, "blocks": list(blocks),
                                      "merkle_root": merkle_root.lower()}
    for key in ("time_from", "time_to"):
        ns = nanos(inputs.get(key), f"inputs.{key}")
        if ns is not None:
            receipt_inputs[key] = _json_int(ns)
    return {"inputs": receipt_inputs,
            "code_version": str(run.get("code_version") or f"ledgerlake {__version__}")[:256],
            "params": _plain(run.get("params") or {}),
            "outputs": output_hashes(out_dir),
            "metrics": _metrics(results)}


def receipt_id(receipt: Mapping) -> str:
    """The id the contract gives a receipt: SHA-256 of its canonical form."""
    return hashlib.sha256(records.canonical(dict(receipt))).hexdigest()


# -- anchoring and writing --------------------------------------------------------------------
def record_run(api, out_dir: str | Path) -> dict:
    """Anchor the run's receipt on-chain (``api``: an analyst's LedgerlakeContract; None
    writes the receipt unanchored), then write ``lineage.json``, fill the report's lineage
    slot, and write ``openlineage.json``. Returns the lineage document. Anchoring a receipt
    that is already on-chain (a re-run of this step) reads the existing anchor."""
    out_dir = Path(out_dir)
    receipt = build_receipt(out_dir)
    rid = receipt_id(receipt)
    anchor = None
    if api is not None:
        anchor = _anchor(api, receipt, rid)
    doc = {"receipt_id": rid, "receipt": receipt, "anchor": anchor,
           "time_columns": recorded_time_columns(out_dir, receipt["inputs"]["streams"])}
    batches = lake_batches(out_dir, receipt)
    if batches is not None:
        doc["input_batches"] = batches
    write_lineage(out_dir, doc)
    return doc


def anchor_run(api, out_dir: str | Path) -> tuple[dict, bool]:
    """Anchor the receipt of a run that has none on-chain yet (its anchoring failed, or it
    ran with --no-anchor), and write its lineage again; an anchored run reads its anchor
    back (idempotent). Returns (lineage document, whether it was anchored before). Refused
    when the run's files no longer give the receipt its lineage.json holds: anchoring then
    would vouch for files changed after the run."""
    out_dir = Path(out_dir)
    try:
        before, _ = read_lineage(out_dir)
    except ConfigError:
        before = None  # none yet, or damaged: the run's files give the receipt
    receipt = build_receipt(out_dir)
    if before is not None:
        where = _first_difference(before["receipt"], receipt)
        if where is not None:
            raise IntegrityError(
                f"{out_dir}: the run's files no longer give the receipt its {LINEAGE_FILE} "
                f"holds (they differ at {where}): changed after the run; not anchored",
                check="lineage_output")
    was = bool(before and before.get("anchor"))
    doc = record_run(api, out_dir)
    if "input_batches" not in doc and isinstance((before or {}).get("input_batches"), list):
        doc["input_batches"] = before["input_batches"]  # the lake is gone: keep the list
        write_lineage(out_dir, doc)
    return doc, was


def _time_column(schema) -> str | None:
    name = lake.time_field(schema)
    return lake.column_name(name) if name else None


def _field_column(name: Any) -> str | None:
    """The lake column of a time field as results.json names it (``_tx_time``: the
    transaction's time)."""
    if not isinstance(name, str) or not name:
        return None
    return name if name == "_tx_time" else lake.column_name(name)


def recorded_time_columns(out_dir: Path, streams: Iterable[str],
                          fallback: Mapping[str, Any] | None = None) -> dict[str, str | None]:
    """Per stream, the time column the run dated its records by, as it recorded it
    (results.json's ``streams.<id>.time_field``, else ``fallback``, lineage.json's
    ``time_columns``): what the run used, not the stream's schema of today. A stream with
    neither maps to None (the caller decides)."""
    try:
        described = read_results(out_dir).get("streams") or {}
    except LedgerlakeError:
        described = {}
    found: dict[str, str | None] = {}
    for stream in streams:
        column = _field_column((described.get(stream) or {}).get("time_field"))
        if column is None and isinstance(fallback, Mapping):
            column = fallback.get(stream) if isinstance(fallback.get(stream), str) else None
        found[stream] = column
    return found


def lake_batches(out_dir: Path, receipt: dict) -> list | None:
    """The run's input batches as ``InputRecords.batches`` lists them, read from the lake it ran
    on: not evidence (the Merkle root is), only what lets ``verify report`` name the batch
    that differs. None when the lake is gone or does not give the receipt's root."""
    import pyarrow.parquet as pq

    lake_dir = read_results(out_dir).get("inputs", {}).get("lake")
    if not lake_dir or not Path(lake_dir).is_dir():
        return None
    inputs = receipt["inputs"]
    first, last = inputs["blocks"]
    try:
        meta = lake.read_meta(lake_dir)
        tables, time_fields = [], recorded_time_columns(out_dir, inputs["streams"])
        for stream in inputs["streams"]:
            if time_fields[stream] is None:
                schema = records.Schema.from_mapping(meta["streams"][stream]["schema"])
                time_fields[stream] = _time_column(schema)
            columns = ["_block", "_tx", "_index", "_batch_id", "_commitment", "_tx_time"]
            if time_fields[stream] and time_fields[stream] != "_tx_time":
                columns.append(time_fields[stream])
            folder = lake.stream_dir(lake_dir, stream)
            if folder.is_dir():
                tables.append((stream, pq.read_table(
                    folder, columns=columns, partitioning=None,
                    filters=[("_block", ">=", first), ("_block", "<=", last)])))
        read = input_commitments(
            tables, time_fields, nanos(inputs.get("time_from"), "time_from"),
            nanos(inputs.get("time_to"), "time_to"))
    except (OSError, KeyError, ValueError, LedgerlakeError):
        return None
    if records.merkle_root(read.leaves).hex() != inputs["merkle_root"]:
        return None
    return list(read.batches().values())


def _anchor(api, receipt: dict, rid: str) -> dict:
    """Submit the receipt step by step (the commit status names the block that holds it);
    a receipt already anchored is read back, its block found by its transaction."""
    from ledgerlake.client.models import LineageEntry
    from ledgerlake.client.qscc import block_by_tx_id
    from ledgerlake.errors import CommitError, EndorseError
    from ledgerlake.protocol import ErrorCode, Function

    network = api.contract.network
    proposal = api.contract.new_proposal(Function.ANCHOR_LINEAGE,
                                         [records.canonical(receipt).decode()])
    try:
        transaction = proposal.endorse()
    except EndorseError as exc:
        if exc.error_code != ErrorCode.ALREADY_EXISTS:
            raise
        entry = api.get_lineage(rid)
        block = block_by_tx_id(network, entry.tx_id).number
    else:
        status = transaction.submit().status()
        if not status.successful:
            raise CommitError(status.transaction_id, status.code, status.block_number)
        entry = LineageEntry.from_json(records.parse_json(transaction.result,
                                                          "the anchored receipt"))
        block = status.block_number
    if entry.id != rid:
        raise IntegrityError(f"the contract anchored the receipt as {entry.id}, not as its "
                             f"hash {rid}", check="lineage_receipt")
    return {**expected_anchor(entry, network, api), "block": block}


def write_lineage(out_dir: Path, doc: dict) -> None:
    """``lineage.json``, the report's lineage slot, and ``openlineage.json``."""
    _write_atomic(out_dir / LINEAGE_FILE, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    path = out_dir / REPORT_FILE
    if path.is_file():
        _write_atomic(path, with_lineage(path.read_bytes(), doc))
    _write_atomic(out_dir / OPENLINEAGE_FILE, openlineage_json(out_dir, doc))


def _write_atomic(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    tmp.replace(path)


_DOC_KEYS = frozenset({"receipt_id", "receipt", "anchor", "input_batches", "time_columns"})
_FIX = ("name a run directory written by 'ledgerlake analyze', its lineage.json or its "
        "report.html")


def read_lineage(path: str | Path) -> tuple[dict, Path]:
    """The lineage document and run directory of ``path``: a run directory, its
    ``lineage.json``, or its ``report.html`` (the receipt its slot shows). Anything else is
    one ConfigError line naming the file and what to do."""
    path = Path(path)
    if path.is_dir():
        if not (path / LINEAGE_FILE).is_file():
            raise ConfigError(f"{path} holds no {LINEAGE_FILE}: not a recorded analysis run; "
                              f"{_FIX} (a run whose anchoring failed: 'ledgerlake lineage "
                              f"anchor {path}')")
        path = path / LINEAGE_FILE
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: {_FIX}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror}): {_FIX}") from None
    if path.suffix.lower() in (".html", ".htm"):
        try:
            doc = embedded_lineage(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        if doc is None:
            raise ConfigError(f"{path} shows no lineage receipt (its run was not recorded: "
                              f"'ledgerlake lineage anchor RUN_DIR' records and anchors it)")
    else:
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not JSON ({exc}): {_FIX}; a damaged lineage.json "
                              f"is written again by 'ledgerlake lineage anchor RUN_DIR'") \
                from None
    problem = _doc_problem(doc)
    if problem:
        raise ConfigError(f"{path} holds no valid lineage document ({problem}): {_FIX}")
    return doc, path.parent


def _doc_problem(doc: Any) -> str | None:
    """What is wrong with a lineage document's shape (None: nothing)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("receipt"), dict):
        return "no 'receipt' object"
    extra = sorted(set(doc) - _DOC_KEYS)
    if extra:
        return f"unknown key {extra[0]!r}"
    if not isinstance(doc.get("receipt_id"), str):
        return "no 'receipt_id'"
    receipt = doc["receipt"]
    inputs = receipt.get("inputs")
    if not isinstance(inputs, dict) or not isinstance(inputs.get("streams"), list) or \
            not all(isinstance(s, str) for s in inputs["streams"]):
        return "receipt.inputs.streams is not a list of stream ids"
    blocks = inputs.get("blocks")
    if not (isinstance(blocks, list) and len(blocks) == 2 and
            all(isinstance(b, int) and not isinstance(b, bool) for b in blocks)):
        return "receipt.inputs.blocks is not [first, last]"
    if not isinstance(inputs.get("merkle_root"), str):
        return "receipt.inputs.merkle_root is not a string"
    outputs = receipt.get("outputs")
    if not isinstance(outputs, dict) or not all(isinstance(v, str) for v in outputs.values()):
        return "receipt.outputs is not an object of hashes"
    if doc.get("anchor") is not None and not isinstance(doc["anchor"], dict):
        return "'anchor' is not an object"
    return None


# -- OpenLineage --------------------------------------------------------------------------
def _anchor_facet_class():
    import attr
    from openlineage.client.facet_v2 import RunFacet

    @attr.define
    class LedgerlakeAnchorRunFacet(RunFacet):
        """Where a run's lineage receipt is anchored: the receipt's id (SHA-256 of its
        canonical form), the transaction and block that hold it, on which channel."""

        receiptId: str  # noqa: N815 (OpenLineage's camelCase)
        anchored: bool
        merkleRoot: str  # noqa: N815
        blocks: list
        txId: str | None = None  # noqa: N815
        block: int | None = None
        channel: str | None = None
        chaincode: str | None = None
        anchoredBy: str | None = None  # noqa: N815

        @staticmethod
        def _get_schema() -> str:
            return ANCHOR_FACET_SCHEMA

    return LedgerlakeAnchorRunFacet


def _run_uuid(run_id: str, rid: str) -> str:
    """OpenLineage wants a UUID: the run's id if it is one, else one derived from it."""
    try:
        return str(uuid.UUID(str(run_id)))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ledgerlake:run:{run_id or rid}"))


def openlineage_event(out_dir: Path, doc: dict):
    """The run as an OpenLineage COMPLETE RunEvent: input datasets are the streams (their
    block range as the dataset version, their schema), outputs the run's files, the
    anchor in the ``ledgerlake_anchor`` run facet."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, \
        RunState
    from openlineage.client.facet_v2 import (
        dataset_version_dataset,
        input_statistics_input_dataset,
        schema_dataset,
    )

    from ledgerlake.analytics.charts import stream_schemas

    results = read_results(out_dir)
    schemas = stream_schemas(results)
    receipt, anchor = doc["receipt"], doc.get("anchor") or {}
    inputs = receipt["inputs"]
    first, last = inputs["blocks"]
    namespace = f"ledgerlake://{anchor.get('channel', 'ledgerlake')}"
    ins = []
    for stream_id in inputs["streams"]:
        stream = results.get("streams", {}).get(stream_id, {})
        facets: dict[str, Any] = {"version": dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=f"blocks {first}-{last}", producer=PRODUCER)}
        schema = schemas.get(stream_id)
        if isinstance(schema, dict) and schema.get("fields"):
            facets["schema"] = schema_dataset.SchemaDatasetFacet(fields=[
                schema_dataset.SchemaDatasetFacetFields(
                    name=f["name"], type=f.get("type"),
                    description=f"unit: {f['unit']}" if f.get("unit") else None)
                for f in schema["fields"]], producer=PRODUCER)
        rows = (stream.get("quality") or {}).get("rows")
        input_facets = {}
        if isinstance(rows, int):
            input_facets["inputStatistics"] = \
                input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                    rowCount=rows, producer=PRODUCER)
        ins.append(InputDataset(namespace=namespace, name=stream_id, facets=facets,
                                inputFacets=input_facets))
    outs = [OutputDataset(namespace="file", name=str((out_dir / rel).resolve()))
            for rel in sorted(receipt["outputs"])]
    facet = _anchor_facet_class()(
        receiptId=doc["receipt_id"], anchored=bool(anchor), merkleRoot=inputs["merkle_root"],
        blocks=[first, last], txId=anchor.get("tx_id"), block=anchor.get("block"),
        channel=anchor.get("channel"), chaincode=anchor.get("chaincode"),
        anchoredBy=anchor.get("by"), producer=PRODUCER)
    run = results.get("run", {})
    when = run.get("finished") or run.get("started")
    ns = nanos(when, "run.finished") if when is not None else time.time_ns()
    event_time = datetime.fromtimestamp(ns / 1e9, timezone.utc).isoformat()
    return RunEvent(eventType=RunState.COMPLETE, eventTime=event_time,
                    run=Run(runId=_run_uuid(run.get("id", ""), doc["receipt_id"]),
                            facets={ANCHOR_FACET: facet}),
                    job=Job(namespace=JOB_NAMESPACE, name="analyze"),
                    producer=PRODUCER, inputs=ins, outputs=outs)


def openlineage_json(out_dir: Path, doc: dict) -> str:
    from openlineage.client.serde import Serde

    return json.dumps(json.loads(Serde.to_json(openlineage_event(out_dir, doc))), indent=2,
                      sort_keys=True) + "\n"


# -- verify report ------------------------------------------------------------------------
@dataclass(frozen=True)
class VerifyResult:
    """What ``verify report`` checked, all of it matching."""

    receipt_id: str
    tx_id: str
    anchor_block: int
    streams: tuple[str, ...]
    blocks: tuple[int, int]
    records: int
    merkle_root: str
    outputs: int
    seconds: float
    run_dir: str = ""
    by_stream: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"receipt_id": self.receipt_id, "tx_id": self.tx_id,
                "anchor_block": self.anchor_block, "streams": list(self.streams),
                "blocks": list(self.blocks), "records": self.records,
                "by_stream": dict(self.by_stream), "merkle_root": self.merkle_root,
                "outputs": self.outputs, "run_dir": self.run_dir,
                "seconds": round(self.seconds, 3)}


def _fail(message: str, check: str, block: int | None = None):
    return IntegrityError(message, block_number=block, check=check)


def _first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """The path of the first place two JSON values differ (``inputs.blocks``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{where}{key}"
            found = _first_difference(a[key], b[key], f"{where}{key}.")
            if found:
                return found
        return None
    if records.canonical(_plain(a)) != records.canonical(_plain(b)):
        return where.rstrip(".") or "(the whole receipt)"
    return None


def _at(value: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return "(absent)"
        value = value[part]
    return value


def check_anchor_block(network, tx_id: str, rid: str):
    """The block holding the anchoring transaction, checked as ``verify batch`` checks a
    batch's block (data hash; the orderers' signatures under the configuration in force,
    trusted from genesis; its last-config index), and the transaction in it valid and
    carrying this very receipt: so the peer's answer to GetLineage is not all there is."""
    from ledgerlake.client.blocks import data_hash
    from ledgerlake.client.qscc import block_by_tx_id
    from ledgerlake.client.verify import check_block_signatures, config_in_force, \
        require_last_config
    from ledgerlake.protocol import Function

    block = block_by_tx_id(network, tx_id)
    if data_hash(block.raw) != block.data_hash:
        raise _fail(f"block {block.number} (the anchor's): data hash does not match its data",
                    "data_hash", block.number)
    config, _ = config_in_force(network, block.number)
    check_block_signatures(block, config)
    require_last_config(block, config)
    tx = next((t for t in block.transactions if t.tx_id == tx_id), None)
    if tx is None or tx.validation_code != 0:
        raise _fail(f"the anchoring transaction {tx_id} is not a valid transaction of block "
                    f"{block.number}", "lineage_anchor", block.number)
    try:
        sent = records.parse_json(tx.args[0], "the anchored receipt") \
            if tx.function == Function.ANCHOR_LINEAGE and len(tx.args) == 1 else None
    except records.RecordError:
        sent = None
    if not isinstance(sent, dict) or receipt_id(sent) != rid:
        raise _fail(f"transaction {tx_id} in block {block.number} does not anchor receipt "
                    f"{rid}", "lineage_anchor", block.number)
    return block


def _unsafe(rel: str) -> bool:
    """A receipt's output path that would leave the run directory."""
    from pathlib import PurePosixPath, PureWindowsPath

    return (not rel or PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).is_absolute()
            or "\\" in rel or ".." in PurePosixPath(rel).parts)


def check_outputs(run_dir: Path, outputs: Mapping[str, str]) -> int:
    """The run directory's outputs are exactly the receipt's (``output_files``: the lineage
    files and hidden files are not outputs), each hashing as the receipt says; raises
    naming the first that differs, is missing or is extra."""
    unsafe = sorted(rel for rel in outputs if _unsafe(rel))
    if unsafe:
        raise _fail(f"the receipt names output {unsafe[0]!r}, a path outside the run "
                    f"directory: refused", "lineage_output")
    for rel, expected in sorted(outputs.items()):
        path = run_dir / rel
        if not path.is_file():
            raise _fail(f"output {rel} is missing from {run_dir} (the receipt hashes it)",
                        "lineage_output")
        actual = output_digest(path)
        if actual != expected:
            raise _fail(f"output {rel} changed: its SHA-256 is {actual}, the anchored "
                        f"receipt says {expected}", "lineage_output")
    extra = sorted(set(output_files(run_dir)) - set(outputs))
    if extra:
        raise _fail(f"{run_dir} holds {extra[0]}, which the receipt does not list"
                    + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
                    + ": a file added after the run (remove it, or it is not vouched for)",
                    "lineage_output")
    return len(outputs)


def expected_anchor(entry, network, api) -> dict:
    """The anchor a lineage document must show for ``entry``: what the ledger says."""
    return {"receipt_id": entry.id, "tx_id": entry.tx_id, "anchored": _json_int(entry.anchored),
            "by": f"{entry.by.msp_id}/{entry.by.id}", "channel": network.name,
            "chaincode": api.contract.name}


def check_shown(run_dir: Path, doc: dict) -> None:
    """What the run directory shows of its lineage is ``doc`` (checked against the ledger):
    ``lineage.json`` holds it, and the report's slot holds exactly ``lineage_section(doc)``
    (the slot is outside the report's hash, so anything else there would go unchecked)."""
    path = run_dir / LINEAGE_FILE
    if path.is_file():
        try:
            held = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError):
            held = None
        if held != doc:
            raise _fail(f"{path} is not the lineage document checked against the ledger",
                        "lineage_slot")
    path = run_dir / REPORT_FILE
    if path.is_file():
        data = path.read_bytes()
        try:
            shown = with_lineage(data, doc)
        except ConfigError as exc:
            raise _fail(f"{path}: {exc}", "lineage_slot") from None
        if shown != data:
            raise _fail(f"{path}: its lineage section is not the one the anchored receipt "
                        f"gives (something was added to or changed in it); re-render it "
                        f"with 'ledgerlake report {run_dir}'", "lineage_slot")


@dataclass
class InputRecords:
    """The records a run read, in ledger order: their commitments (the Merkle leaves), the
    count per stream, and what ``batches`` needs to name a batch (as integer arrays into
    ``names``: a few dozen bytes a record, so ten million records fit)."""

    leaves: list[bytes]
    counts: dict[str, int]
    blocks: Any = ()     # per leaf: its block
    streams: Any = ()    # per leaf: its stream, an index into names
    batches_: Any = ()   # per leaf: its batch id, an index into names
    names: list[str] = field(default_factory=list)

    def batches(self) -> dict[str, list]:
        """Per batch, in ledger order: ``[stream, batch, block, records, SHA-256 of its
        commitments]`` (the lineage's ``input_batches``, which name a batch that differs)."""
        found: dict[int, list] = {}
        hashes: dict[int, Any] = {}
        for leaf, block, stream, batch in zip(self.leaves, self.blocks.tolist(),
                                              self.streams.tolist(), self.batches_.tolist()):
            if batch not in found:
                found[batch] = [self.names[stream], self.names[batch], block, 0, ""]
                hashes[batch] = hashlib.sha256()
            found[batch][3] += 1
            hashes[batch].update(leaf)
        for batch, item in found.items():
            item[4] = hashes[batch].hexdigest()
        return {item[1]: item for item in found.values()}


def input_commitments(tables: Iterable[tuple[str, Any]], time_fields: Mapping[str, str | None],
                      time_from: int | None, time_to: int | None) -> InputRecords:
    """The records a run with this time window read, from ``(stream, table)`` pairs in
    lake columns: rows whose time (their stream's time field, else the transaction's) is in
    ``[time_from, time_to)`` (as ``analyze`` reads them; None: unbounded), ordered by
    ``lake.LEDGER_ORDER``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    keys: list[tuple] = []
    blobs: list[bytes] = []
    streams: list[Any] = []
    batches: list[Any] = []
    counts: dict[str, int] = {}
    ids: dict[str, int] = {}
    for stream, table in tables:
        column = time_fields.get(stream) or "_tx_time"
        if (time_from is not None or time_to is not None) and \
                column not in table.column_names:
            table = table.slice(0, 0)  # no such column in this batch: its times are null
        elif time_from is not None or time_to is not None:
            times = pc.cast(table[column], pa.int64())
            keep = pc.is_valid(times)
            if time_from is not None:
                keep = pc.and_(keep, pc.greater_equal(times, time_from))
            if time_to is not None:
                keep = pc.and_(keep, pc.less(times, time_to))
            table = table.filter(keep)
        counts[stream] = counts.get(stream, 0) + table.num_rows
        if not table.num_rows:
            continue
        keys.append(tuple(table[c].to_numpy().astype(np.int64) for c in lake.LEDGER_ORDER))
        blobs.append(bytes.fromhex("".join(table["_commitment"].to_pylist())))
        streams.append(np.full(table.num_rows, ids.setdefault(stream, len(ids)), np.int32))
        encoded = table["_batch_id"].combine_chunks().dictionary_encode()
        local = np.array([ids.setdefault(b, len(ids)) for b in encoded.dictionary.to_pylist()],
                         np.int32)
        batches.append(local[encoded.indices.to_numpy()])
    names = list(ids)
    if not keys:
        empty = np.zeros(0, np.int64)
        return InputRecords([], counts, empty, empty, empty, names)
    block, tx, index = (np.concatenate([k[i] for k in keys]) for i in range(3))
    order = np.lexsort((index, tx, block))
    leaves = np.frombuffer(b"".join(blobs), dtype="V32")[order].tolist()
    return InputRecords(leaves, counts, block[order], np.concatenate(streams)[order],
                        np.concatenate(batches)[order], names)


def verify_report(network, api, org_keys, path: str | Path, *,
                  ledger_records: Callable[..., Iterator] | None = None,
                  progress: Callable[[str], None] | None = None) -> VerifyResult:
    """Check a run's report against the ledger: the anchored receipt (by its id) is the one
    the run directory holds, the run's outputs hash as it says, and the records of its
    streams in its block range and time window, read again from the ledger (every block
    verified), have its Merkle root. Raises ``IntegrityError`` naming the first difference.
    ``ledger_records`` defaults to ``sync.ledger_records``."""
    from ledgerlake.errors import EndorseError
    from ledgerlake.protocol import ErrorCode

    say = progress or (lambda _message: None)
    started = time.perf_counter()
    doc, run_dir = read_lineage(path)
    receipt = doc["receipt"]
    claimed = doc.get("receipt_id")
    anchor = doc.get("anchor")
    if not anchor or not claimed:
        raise _fail(f"the receipt of {run_dir} was never anchored (no anchor in its lineage): "
                    f"nothing on the ledger vouches for it; anchor it with 'ledgerlake lineage "
                    f"anchor {run_dir}'", "lineage_anchor")
    # 1. the anchored receipt, by the id the run claims
    say(f"reading anchored receipt {claimed}")
    try:
        entry = api.get_lineage(claimed)
    except EndorseError as exc:
        if exc.error_code == ErrorCode.NOT_FOUND:
            raise _fail(f"receipt {claimed} is not anchored on channel {network.name}",
                        "lineage_anchor") from None
        raise
    where = _first_difference(receipt, entry.receipt)
    if where is not None:
        raise _fail(f"the receipt differs from the one anchored as {claimed} at {where}: "
                    f"{json.dumps(_at(receipt, where))} here, "
                    f"{json.dumps(_at(entry.receipt, where))} on-chain", "lineage_receipt")
    if receipt_id(receipt) != claimed:
        raise _fail(f"the receipt hashes to {receipt_id(receipt)}, not to its id {claimed}",
                    "lineage_receipt")
    if entry.tx_id != anchor.get("tx_id"):
        raise _fail(f"receipt {claimed} was anchored by transaction {entry.tx_id}, not "
                    f"{anchor.get('tx_id')} as the lineage says", "lineage_anchor")
    block = check_anchor_block(network, entry.tx_id, claimed)
    if anchor.get("block") != block.number:
        raise _fail(f"receipt {claimed} is anchored in block {block.number}, not in block "
                    f"{anchor.get('block')} as the lineage says", "lineage_anchor",
                    block.number)
    expected = {**expected_anchor(entry, network, api), "block": block.number}
    where = _first_difference(anchor, expected)
    if where is not None:
        raise _fail(f"the lineage's anchor differs from the ledger's at {where}: "
                    f"{json.dumps(_at(anchor, where))} here, {json.dumps(_at(expected, where))}"
                    f" on-chain", "lineage_anchor", block.number)
    check_shown(run_dir, doc)
    # 2. the outputs
    say(f"hashing {len(receipt['outputs'])} outputs in {run_dir}")
    outputs = check_outputs(run_dir, receipt["outputs"])
    # 3. the inputs, read again from the ledger
    inputs = entry.receipt["inputs"]
    streams = list(inputs["streams"])
    first, last = (int(b) for b in inputs["blocks"])
    # the time column each stream was dated by, as the run recorded it (results.json is an
    # output, checked above); the stream's schema of today only for a run that recorded none
    time_fields = recorded_time_columns(run_dir, streams, doc.get("time_columns"))
    for s in streams:
        if time_fields[s] is None:
            time_fields[s] = _time_column(api.get_stream(s).schema)
    if ledger_records is None:
        from ledgerlake.analytics.sync import ledger_records
    say(f"reading blocks {first} to {last} of {', '.join(streams)} from the ledger")
    try:
        count, counts, root = check_inputs(
            doc, ledger_records(network, api, org_keys, start=first, end=last, streams=streams,
                                purpose=f"ledgerlake verify report {claimed}"),
            time_fields)
    except IntegrityError as exc:
        if exc.check.startswith("lineage"):
            raise
        raise _fail(f"input blocks {first} to {last}: {exc}", exc.check or "lineage_inputs",
                    exc.block_number) from None
    return VerifyResult(claimed, entry.tx_id, block.number, tuple(streams), (first, last),
                        count, root, outputs, time.perf_counter() - started, str(run_dir),
                        counts)


def check_inputs(doc: dict, tables: Iterable[tuple[str, Any]],
                 time_fields: Mapping[str, str | None]) -> tuple[int, dict[str, int], str]:
    """The records ``tables`` yields (``sync.ledger_records``'s ``(stream, table)``) against
    the receipt's inputs: the rows in its time window, in ledger order, must have its
    Merkle root. Returns (records, records per stream, root); raises naming the first
    batch that differs (or the block range and both roots)."""
    inputs = doc["receipt"]["inputs"]
    first, last = (int(b) for b in inputs["blocks"])
    read = input_commitments(
        tables, time_fields, nanos(inputs.get("time_from"), "inputs.time_from"),
        nanos(inputs.get("time_to"), "inputs.time_to"))
    root = records.merkle_root(read.leaves).hex()
    if root != inputs["merkle_root"]:
        raise _fail(_inputs_difference(doc, inputs, first, last, list(inputs["streams"]),
                                       root, read), "lineage_inputs")
    return len(read.leaves), read.counts, root


def _inputs_difference(doc: dict, inputs: dict, first: int, last: int, streams: list[str],
                       root: str, read: InputRecords) -> str:
    """One line naming where the ledger's records differ from what the run read: the first
    batch whose records differ when the lineage lists the run's batches, else the block
    range, the counts and the two roots."""
    rows = doc.get("receipt", {}).get("metrics", {}).get("rows")
    head = (f"the records of {', '.join(streams)} in blocks {first} to {last} are not the "
            f"run's inputs")
    batches = doc.get("input_batches")
    if isinstance(batches, list):
        ledger = read.batches()
        for item in batches:
            stream, batch, block, count, digest = item
            got = ledger.pop(batch, None)
            if got is None:
                return (f"{head}: batch {batch} of stream {stream} (block {block}, {count} "
                        f"records read by the run) is not among them")
            if got[3] != count or got[4] != digest:
                return (f"{head}: batch {batch} of stream {stream} in block {block} differs "
                        f"({got[3]} records on the ledger, {count} read by the run)")
        if ledger:
            stream, batch, block, count, _ = next(iter(ledger.values()))
            return (f"{head}: batch {batch} of stream {stream} in block {block} ({count} "
                    f"records) was not read by the run")
    return (f"{head}: {len(read.leaves)} records with Merkle root {root} on the ledger, the "
            f"receipt says {inputs['merkle_root']}"
            + (f" over {rows} records" if isinstance(rows, int) else ""))


__all__ = ["ANCHOR_FACET", "LINEAGE_FILE", "OPENLINEAGE_FILE", "VerifyResult", "anchor_run",
           "check_shown", "recorded_time_columns",
           "InputRecords", "build_receipt", "check_outputs", "input_commitments",
           "openlineage_event", "output_digest", "read_lineage", "receipt_id", "record_run",
           "verify_report", "write_lineage"]
