"""The Parquet lake's layout and columns: what ``sync`` writes and everything else reads.

Layout (hive partitioning, so pandas, DuckDB, Spark and Dask read it as it is)::

    <lake>/records/stream=<stream id>/date=<YYYY-MM-DD>/part-<first>-<last>.parquet
    <lake>/_ledgerlake/            the sync's checkpoint and the lake's metadata (readers
                                   skip names starting with "_")

``date`` is the UTC day of the record's time (its schema's first ``timestamp`` field, else
the transaction's time). ``first``/``last`` are the block range a sync step wrote (12
digits), so a re-run of the same range replaces a file instead of adding a second copy.

Each row is one record: its schema's fields (``timestamp`` fields as UTC timestamps), then
the provenance columns below, which trace it to its block, transaction and batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ledgerlake import records

if TYPE_CHECKING:
    import pyarrow as pa

RECORDS_DIR = "records"
META_DIR = "_ledgerlake"
PARTITIONS = ("stream", "date")

#: Provenance columns, in this order after the record's fields.
PROVENANCE = (
    "_block",          # int64: the block holding the batch's transaction
    "_tx",             # int32: the transaction's position in that block
    "_tx_id",          # string: the transaction id
    "_tx_time",        # timestamp[ns, UTC]: the transaction's (client-signed) time
    "_batch_id",       # string: the batch id (hex)
    "_producer_msp",   # string: the submitting identity's MSP ID
    "_producer_id",    # string: its enrollment id
    "_source",         # string: the batch's source id
    "_seq",            # int64: the batch's sequence number in its source's chain
    "_index",          # int32: the record's position in its batch
    "_epoch",          # int32: the key epoch the batch was encrypted under
    "_commitment",     # string: SHA-256(salt ‖ canonical record), hex: the Merkle leaf
)

#: The order in which a set of rows is committed to (a lineage receipt's Merkle root is
#: ``records.merkle_root`` over their ``_commitment`` bytes in this order).
LEDGER_ORDER = ("_block", "_tx", "_index")


def column_name(field_name: str) -> str:
    """A record field's column: its name, except that a field named like a partition key
    (``stream``, ``date``) gets a trailing underscore, as a reader would otherwise see the
    directory's value instead of the record's."""
    return f"{field_name}_" if field_name in PARTITIONS else field_name


def time_field(schema: records.Schema) -> str | None:
    """The field that dates a record: the schema's first ``timestamp`` field (None: the
    transaction's time dates it)."""
    return next((f.name for f in schema.fields if f.type == "timestamp"), None)


def arrow_type(field_type: str) -> "pa.DataType":
    import pyarrow as pa

    return {"int": pa.int64(), "float": pa.float64(), "string": pa.string(),
            "bool": pa.bool_(), "timestamp": pa.timestamp("ns", tz="UTC")}[field_type]


def arrow_schema(schema: records.Schema) -> "pa.Schema":
    """The Parquet schema of a stream's files: its fields (nullable unless required), then
    the provenance columns."""
    import pyarrow as pa

    fields = [pa.field(column_name(f.name), arrow_type(f.type), nullable=not f.required)
              for f in schema.fields]
    kinds = {"_block": pa.int64(), "_tx": pa.int32(), "_tx_time": pa.timestamp("ns", tz="UTC"),
             "_seq": pa.int64(), "_index": pa.int32(), "_epoch": pa.int32()}
    fields += [pa.field(name, kinds.get(name, pa.string()), nullable=False)
               for name in PROVENANCE]
    return pa.schema(fields)


def records_dir(lake: str | Path) -> Path:
    return Path(lake) / RECORDS_DIR


def stream_dir(lake: str | Path, stream: str) -> Path:
    return records_dir(lake) / f"stream={stream}"


def partition_dir(lake: str | Path, stream: str, date: str) -> Path:
    return stream_dir(lake, stream) / f"date={date}"


def part_name(first_block: int, last_block: int) -> str:
    return f"part-{first_block:012d}-{last_block:012d}.parquet"


def meta_dir(lake: str | Path) -> Path:
    return Path(lake) / META_DIR
