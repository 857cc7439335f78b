"""The Parquet lake's layout and columns: what ``sync`` writes and everything else reads.

Layout (hive partitioning, so pandas, DuckDB, Spark and Dask read it as it is)::

    <lake>/records/stream=<stream id>/date=<YYYY-MM-DD>/part-<first>-<last>.parquet
    <lake>/_ledgerlake/            the sync's checkpoint and the lake's metadata (readers
                                   skip names starting with "_"); its lock files:
                                   ``lock`` (one sync at a time), ``readers.lock``
                                   (analyze reads shared, a sync changes files exclusive)

The lake holds decrypted plaintext: its folders are 0700 and its files 0600 (DESIGN.md),
each file written whole by ``atomic_write``.

``date`` is the UTC day of the record's time (its schema's first ``timestamp`` field, else
the transaction's time). ``first``/``last`` are the block range a sync step wrote (12
digits), so a re-run of the same range replaces a file instead of adding a second copy.

Each row is one record: its schema's fields (``timestamp`` fields as UTC timestamps), then
the provenance columns below, which trace it to its block, transaction and batch.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable

from ledgerlake import records
from ledgerlake.errors import ConfigError

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


# -- the lake's metadata (lake.json) and its files -----------------------------------------
META_FILE = "lake.json"
LOCK_FILE = "lock"
#: A file being written: hidden (readers and globs skip names starting with ".").
TEMP_PREFIX = "."
_PART = re.compile(r"part-(\d{12})-(\d{12})\.parquet")


def meta_path(lake: str | Path) -> Path:
    return meta_dir(lake) / META_FILE


def read_meta(lake_dir: str | Path) -> dict:
    """The lake's metadata as the sync last committed it: ``channel``, ``genesis_hash``,
    ``synced_to`` (the last block in the lake), ``tip_hash`` (its hash), ``next_block`` and
    ``streams`` (per stream: ``schema``, ``schemas`` by version, ``owner``, ``readable``,
    ``records``, ``shredded_epochs``, ``shredded_records``, ``skipped``). ConfigError when
    ``lake_dir`` holds no lake (one line, saying how to make one)."""
    path = meta_path(lake_dir)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{lake_dir} is not a ledgerlake lake (no {META_DIR}/{META_FILE}); "
                          f"run 'ledgerlake sync --lake {lake_dir}' first") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror})") from None
    try:
        meta = records.parse_json(text, str(path))
    except records.RecordError as exc:
        raise ConfigError(f"{path} is damaged: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("streams"), dict):
        raise ConfigError(f"{path} is not a lake's metadata (no 'streams')")
    return meta


def write_meta(lake_dir: str | Path, meta: dict) -> None:
    """Replace the metadata atomically (temp file, fsync, rename): a reader, or a sync
    killed at any point, sees the old or the new one whole. This write is the sync's
    checkpoint."""
    path = meta_path(lake_dir)
    private_dir(path.parent)
    atomic_write(path, json.dumps(meta, indent=1, sort_keys=True).encode() + b"\n")


#: Modes of what holds decrypted plaintext (DESIGN.md: owner only).
DIR_MODE, FILE_MODE = 0o700, 0o600


def private_dir(folder: str | Path) -> Path:
    """Make ``folder`` and its missing parents owner-only (0700, whatever the umask);
    folders that exist already are left as they are. OSError when it cannot be made."""
    folder = Path(folder)
    missing = []
    at = folder
    while not at.is_dir():
        missing.append(at)
        if at.parent == at:
            break
        at = at.parent
    for part in reversed(missing):
        try:
            part.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not part.is_dir():
                raise
            continue
        os.chmod(part, DIR_MODE)
    return folder


def atomic_write(path: Path, data: bytes | Callable[[BinaryIO], object]) -> None:
    """Write ``path`` whole and owner-only (0600): a hidden temp file, fsync, rename, then
    fsync of the folder, so a reader or a crash sees the old file or the new one.
    ``data``: the bytes, or a function writing them into the open file."""
    path = Path(path)
    private_dir(path.parent)
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # a leftover temp file keeps its old mode
        with open(fd, "wb", closefd=False) as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


#: Columns unique per row (a SHA-256 in hex; a position): a dictionary is never kept for
#: them, and snappy gains 3% on hex digits for a third of the file's encoding time
_UNIQUE_COLUMNS = ("_commitment", "_index")


def write_parquet(path: Path, table) -> None:
    """A Parquet file written with ``atomic_write`` (owner-only, whole or not at all)."""
    import pyarrow.parquet as pq

    names = table.column_names
    options = {}
    if any(name in names for name in _UNIQUE_COLUMNS):
        options = {"use_dictionary": [n for n in names if n not in _UNIQUE_COLUMNS],
                   "compression": {n: "none" if n == "_commitment" else "snappy"
                                   for n in names}}
    atomic_write(path, lambda f: pq.write_table(table, f, **options))


def open_lock(lake_dir: str | Path):
    """The lake's lock file, open (owner-only): sync holds an exclusive flock on it,
    analyze a shared one."""
    path = meta_dir(lake_dir) / LOCK_FILE
    return os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE), "a+")


#: Readers (analyze) hold a shared flock on it while they read; a sync holds it exclusive
#: while it changes files (cleanup, each flush), so no file changes under a reader.
READERS_LOCK_FILE = "readers.lock"


@contextlib.contextmanager
def locked(lake_dir: str | Path, *, shared: bool, wait: bool = True):
    """Hold the lake's readers' lock (``shared``: as a reader; else as the writer).
    ``wait=False``: ConfigError at once when it is held the other way."""
    path = meta_dir(lake_dir) / READERS_LOCK_FILE
    try:
        if shared and not path.parent.is_dir():
            read_meta(lake_dir)  # ConfigError: no lake here, and how to make one
        private_dir(path.parent)
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, FILE_MODE)
    except OSError as exc:
        raise ConfigError(f"the lake {lake_dir} cannot be locked ({exc.strerror}: {path})") \
            from None
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, mode | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise ConfigError(f"the lake {lake_dir} is being written by a sync; try again in "
                              f"a moment") from None
        yield
    finally:
        os.close(fd)  # releases the lock


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX: fsync the directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def private_tree(root: str | Path) -> None:
    """Make everything under ``root`` owner-only (folders 0700, files 0600): for outputs
    written by libraries that take a path (joblib, pandas)."""
    root = Path(root)
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        os.chmod(path, DIR_MODE if path.is_dir() else FILE_MODE)


def part_range(name: str) -> tuple[int, int] | None:
    """The block range a part file's name gives (``part_name``'s inverse), or None when
    ``name`` is not a part file's."""
    match = _PART.fullmatch(name)
    return (int(match[1]), int(match[2])) if match else None


def part_files(lake: str | Path, stream: str | None = None) -> list[Path]:
    """The lake's part files (all streams, or one), in path order."""
    root = stream_dir(lake, stream) if stream is not None else records_dir(lake)
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("part-*.parquet") if part_range(p.name))


def partition_of(path: Path) -> tuple[str, str]:
    """The (stream, date) a part file lies in, from its folders' names."""
    return path.parent.parent.name.partition("=")[2], path.parent.name.partition("=")[2]


def glob(lake: str | Path, stream: str | None = None) -> str:
    """A glob of the lake's part files, as DuckDB's ``read_parquet(...,
    hive_partitioning=true)`` or Spark take it."""
    base = stream_dir(lake, stream) if stream is not None else records_dir(lake) / "stream=*"
    return str(base / "date=*" / "part-*.parquet")


def dataset(lake: str | Path, stream: str | None = None):
    """The lake (or one stream of it) as a ``pyarrow.dataset`` with its hive partitions
    (``stream``, ``date`` as strings), for lazy reads with column and partition pruning.
    One stream is read under its latest schema version (columns an earlier version lacks
    are null); streams differ in columns, so read all at once, the first file's schema
    rules (DuckDB: ``union_by_name=true``)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    files = [str(p) for p in part_files(lake, stream)]
    keys = pa.schema([("stream", pa.string()), ("date", pa.string())])
    schema = None
    if stream is not None:  # its latest schema: files of earlier versions read as nulls
        latest = read_meta(lake).get("streams", {}).get(stream, {}).get("schema")
        if latest:
            fields = arrow_schema(records.Schema.from_mapping(latest))
            schema = pa.schema([f.with_nullable(True) for f in fields] + list(keys))
    return ds.dataset(files, schema=schema, format="parquet",
                      partitioning=ds.partitioning(keys, flavor="hive"),
                      partition_base_dir=str(records_dir(lake)))


def utc_date(ns: int) -> str:
    """The UTC day (YYYY-MM-DD) of a time in nanoseconds since the epoch."""
    return (_EPOCH_DAY + timedelta(days=ns // 86_400_000_000_000)).isoformat()


_EPOCH_DAY = date(1970, 1, 1)
