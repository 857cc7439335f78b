"""Files as a source: CSV, JSON Lines and Parquet; one file, a directory or a glob.

Read streaming with pyarrow (``pyarrow.csv.open_csv``, ``ParquetFile.iter_batches``) or line
by line (JSON Lines), never loaded whole. Files are read in name order, and a position is
``{"file": name relative to the directory or glob root, "row" | "line": items of that file
already read}``: ``rows(after=...)`` skips the files before it and that many items of it.

CSV cells are text (an empty cell is an absent value, but for a required string field).
Given the stream's schema (``use_schema``, which the pipeline calls),
a CSV column is converted to its field's type a whole block at a time with pyarrow (one
cast per column), and value by value (``coerce_text``) only in a block whose cast fails,
so that each bad cell rejects its row alone. The schema also decides, once per file and
not per row, whether the file's columns fit: a column that is not a field, or a missing
required field, stops the ingest with one line naming the file.
"""

from __future__ import annotations

import glob
import os
import re
from itertools import islice
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ledgerlake import records
from ledgerlake.client.ingest.source import Row, derived_source_id
from ledgerlake.errors import ConfigError, RecordError

FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
#: The options ``from_cli`` takes (CLI: --format, --delimiter).
CLI_OPTIONS = ("format", "delimiter")
#: Rows converted and handed on together (pyarrow's unit of work).
BLOCK_ROWS = 8192
#: CSV bytes pyarrow parses at a time. Its streaming reader reads up to ~35 blocks
#: ahead of what is taken from it, whatever its threads: with 1 MiB blocks a source held
#: ~35 MiB of a large file (and all of a file under that), which made an ingest's peak
#: memory grow with the input files' sizes; with 256 KiB, about 9 MiB.
CSV_BLOCK_BYTES = 1 << 18
_INTEGER = r"^[+-]?[0-9]+$"


# -- text to typed values (CSV) ------------------------------------------------------------------
def _nanos(text: str) -> int:
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    whole = int(moment.timestamp())
    return whole * 10**9 + moment.microsecond * 1000


def coerce_text(field: records.Field, text: str | None) -> Any:
    """A text cell as the value of ``field``: an empty cell is absent (None), except for a
    required string field, where it is the empty string; ints in decimal, floats as Python reads them, bools true/false/1/0,
    timestamps in nanoseconds or ISO-8601 (UTC unless it says). Raises ValueError."""
    if text is None:
        return None
    kind = field.type
    if text == "" and not (kind == "string" and field.required):
        return None
    if kind == "string":
        return text
    if kind == "int":
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            raise ValueError(f"{text!r:.40} is not an integer")
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        lowered = text.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise ValueError(f"{text!r:.40} is not true or false")
    return _nanos(text)  # timestamp


def _cast_column(field: records.Field, column):
    """A text column as ``field``'s type, all at once; None when a cell does not convert
    (then ``coerce_text`` converts cell by cell)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = field.type
    if kind == "string" and field.required:
        return column
    column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
    try:
        if kind == "string":
            return column
        if kind == "int":
            if not pc.all(pc.match_substring_regex(column, _INTEGER)).as_py() in (True, None):
                return None
            return pc.cast(column, pa.int64())
        if kind == "float":
            return pc.cast(column, pa.float64())
        if kind == "bool":
            return pc.cast(column, pa.bool_())
        if pc.all(pc.match_substring_regex(column, _INTEGER)).as_py() in (True, None):
            return pc.cast(column, pa.int64())
        return pc.cast(pc.cast(column, pa.timestamp("ns", "UTC")), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


#: Rows turned into Python dicts at a time: a whole 1 MiB block's (~10,000 rows, ~20 MiB
#: of dicts) would sit in memory while the pipeline takes them one by one.
PYLIST_ROWS = 1024


def _pylist(table) -> Iterator[list[dict]]:
    """The rows of an Arrow record batch as lists of dicts, ``PYLIST_ROWS`` at a time."""
    for start in range(0, table.num_rows, PYLIST_ROWS):
        yield table.slice(start, PYLIST_ROWS).to_pylist()


def _drop_none(row: dict) -> dict:
    return {k: v for k, v in row.items() if v is not None}


# -- the source ------------------------------------------------------------------------------------
class FileSource:
    """CSV, JSON Lines or Parquet files (``spec``: a file, a directory or a glob); the format
    comes from each file's extension unless ``format`` ("csv", "jsonl", "parquet") is given."""

    kind = "file"

    def __init__(self, spec: str | os.PathLike, *, format: str | None = None,
                 delimiter: str | None = None, schema: records.Schema | None = None):
        self.spec = str(spec)
        if format is not None and format not in set(FORMATS.values()):
            raise ConfigError(f"file format must be csv, jsonl or parquet, not {format!r}")
        self.format = format
        self.delimiter = delimiter
        self.schema = schema
        self.root, self.files = self._resolve()
        self._closed = False

    def _resolve(self) -> tuple[Path, list[Path]]:
        path = Path(self.spec)
        if path.is_file():
            return path.parent, [path]
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and (
                self.format or p.suffix.lower() in FORMATS) and not p.name.startswith("."))
            if not files:
                raise ConfigError(f"directory {self.spec} holds no .csv, .jsonl or .parquet "
                                  f"file")
            return path, files
        if glob.has_magic(self.spec):
            files = sorted(Path(p) for p in glob.glob(self.spec, recursive=True)
                           if Path(p).is_file())
            if not files:
                raise ConfigError(f"no file matches {self.spec}")
            root = Path(self.spec.split("*")[0].split("?")[0].split("[")[0] or ".")
            return (root if root.is_dir() else root.parent), files
        raise ConfigError(f"no such file or directory: {self.spec}")

    def _name(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def _format(self, path: Path) -> str:
        if self.format:
            return self.format
        found = FORMATS.get(path.suffix.lower())
        if found is None:
            raise ConfigError(f"{path}: unknown file type {path.suffix or '(none)'}; name it "
                              f".csv, .jsonl or .parquet, or pass the format")
        return found

    # -- Source protocol ---------------------------------------------------------------------------
    def use_schema(self, schema: records.Schema) -> None:
        """The stream's schema: CSV text is converted to its types, and each file's columns
        are checked against it once."""
        self.schema = schema

    def source_id(self) -> str:
        path = Path(self.spec)
        return derived_source_id(path.name if (path.is_file() or path.is_dir())
                                 else self.spec.replace("*", "all"), "files")

    def rows(self, after: Any | None = None) -> Iterator[Row]:
        for block in self.row_blocks(after):
            yield from block

    def row_blocks(self, after: Any | None = None) -> Iterator[list[Row]]:
        """``rows(after)`` a list at a time, as pyarrow reads them (at most ``PYLIST_ROWS``
        each): the pipeline validates a block in one call and steps through fewer
        generators per row."""
        start_file, skip = None, 0
        if after is not None:
            if not isinstance(after, dict) or not isinstance(after.get("file"), str):
                raise ConfigError(f"a file position must be {{file, row|line}}, not {after!r:.80}")
            start_file = after["file"]
            skip = int(after.get("row", after.get("line", 0)))
        names = [self._name(p) for p in self.files]
        if start_file is not None and start_file not in names:
            # the file of the position is gone: continue with the files after it by name
            later = [i for i, n in enumerate(names) if n > start_file]
            first, skip = (later[0] if later else len(names)), 0
        else:
            first = names.index(start_file) if start_file is not None else 0
        for index in range(first, len(self.files)):
            path, name = self.files[index], names[index]
            reader = {"csv": self._csv, "jsonl": self._jsonl,
                      "parquet": self._parquet}[self._format(path)]
            yield from reader(path, name, skip if index == first else 0)

    def input_bytes(self) -> int:
        """The size of the files: a file source can be read in a worker process, which the
        pipeline decides by this (``workers.plan``)."""
        total = 0
        for path in self.files:
            try:
                total += path.stat().st_size
            except OSError:
                pass  # reading it names the problem
        return total

    def committed(self, position: Any) -> None:
        """Files need no acknowledgement."""

    def stop(self) -> None:
        """A file ends by itself."""

    def close(self) -> None:
        self._closed = True

    # -- columns against the schema, once per file -------------------------------------------------
    def _check_columns(self, name: str, columns: list[str]) -> None:
        schema = self.schema
        if schema is None:
            return
        extra = [c for c in columns if c not in schema.names]
        if extra:
            raise ConfigError(f"{name}: column {extra[0]!r} is not a field of the stream's "
                              f"schema v{schema.version} (fields: "
                              f"{', '.join(f.name for f in schema.fields)})")
        missing = [f.name for f in schema.fields if f.required and f.name not in columns]
        if missing:
            raise ConfigError(f"{name} has no column {missing[0]!r}, a required field of the "
                              f"stream's schema v{schema.version}")

    # -- CSV ------------------------------------------------------------------------------------
    def _csv(self, path: Path, name: str, skip: int) -> Iterator[list[Row]]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        invalid: list = []

        def bad_row(row) -> str:
            invalid.append(row)
            return "skip"

        delimiter = self.delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
        fields = {f.name: f for f in self.schema.fields} if self.schema else {}
        try:
            if path.stat().st_size == 0:
                return
            with open(path, "rb") as handle:  # the header, to read every column as text
                columns = pacsv.open_csv(
                    handle, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                    parse_options=pacsv.ParseOptions(delimiter=delimiter,
                                                     invalid_row_handler=lambda row: "skip"),
                ).schema.names
        except (pa.ArrowInvalid, OSError) as exc:
            raise ConfigError(f"{name} is not a readable CSV file ({exc})") from None
        self._check_columns(name, columns)
        # Through a Python file object: given a path, Arrow keeps the file's bytes it has
        # read ahead (tens of MiB per file, growing with the file), so the client's peak
        # memory grew with the input; a file object bounds it to a few blocks.
        handle = open(path, "rb")  # noqa: SIM115 (closed below, when the rows are done)
        try:
            reader = pacsv.open_csv(
                handle, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=bad_row),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in columns}, strings_can_be_null=False,
                    quoted_strings_can_be_null=False))
        except (pa.ArrowInvalid, OSError) as exc:
            handle.close()
            raise ConfigError(f"{name} is not a readable CSV file ({exc})") from None
        with handle:
            yield from self._csv_batches(reader, invalid, name, skip, fields)

    def _csv_batches(self, reader, invalid: list, name: str, skip: int,
                     fields: dict) -> Iterator[list[Row]]:
        import pyarrow as pa

        done = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                batch = None
            except pa.ArrowInvalid as exc:
                raise ConfigError(f"{name}: CSV cannot be read after row {done} ({exc})") \
                    from None
            if invalid:  # rows with another number of cells than the header
                yield [Row(None, f"a row of {name} after row {done}",
                           {"file": name, "row": done},
                           f"it has {row.actual_columns} cells, not {row.expected_columns}: "
                           f"{row.text[:200]}") for row in invalid]
            invalid.clear()
            if batch is None:
                return
            n = batch.num_rows
            if done + n <= skip:
                done += n
                continue
            if done < skip:
                batch, done = batch.slice(skip - done), skip
            yield from self._csv_rows(batch, name, done, fields)
            done += batch.num_rows

    def _csv_rows(self, batch, name: str, done: int, fields: dict) -> Iterator[list[Row]]:
        import pyarrow as pa

        names = batch.schema.names
        arrays, slow = [], {}
        for column, array in zip(names, batch.columns):
            field = fields.get(column)
            cast = array if field is None else _cast_column(field, array)
            if cast is None:
                slow[column] = field
                cast = array
            arrays.append(cast)
        table = pa.RecordBatch.from_arrays(arrays, names=names)
        if not slow and not any(a.null_count for a in arrays):  # the common case, lean
            for rows in _pylist(table):
                yield [Row(row, f"row {i} of {name}", {"file": name, "row": i})
                       for i, row in enumerate(rows, done + 1)]
                done += len(rows)
            return
        for rows in _pylist(table):
            yield list(self._csv_cells(rows, name, done, slow))
            done += len(rows)

    @staticmethod
    def _csv_cells(rows: list[dict], name: str, done: int, slow: dict) -> Iterator[Row]:
        """Rows of a block whose cast failed (``slow``: those columns, cast cell by cell, so
        that a bad cell rejects its row alone) or that has empty cells."""
        for i, row in enumerate(rows, done + 1):
            error = None
            if slow:
                text = dict(row)
                for column, field in slow.items():
                    try:
                        row[column] = coerce_text(field, row[column])
                    except ValueError as exc:
                        error = f"field {column!r} must be of type {field.type}: {exc}"
                        break
            position = {"file": name, "row": i}
            if error:  # the row as read (text), for the reject file
                yield Row(text, f"row {i} of {name}", position, error)
            else:
                yield Row(_drop_none(row), f"row {i} of {name}", position)

    # -- JSON Lines -------------------------------------------------------------------------------
    def _jsonl(self, path: Path, name: str, skip: int) -> Iterator[list[Row]]:
        try:
            handle = open(path, "rb")
        except OSError as exc:
            raise ConfigError(f"{name} cannot be read ({exc.strerror})") from None
        with handle:
            rows = json_lines(handle, name, skip, lambda n: {"file": name, "line": n})
            while block := list(islice(rows, PYLIST_ROWS)):
                yield block

    # -- Parquet --------------------------------------------------------------------------------
    def _parquet(self, path: Path, name: str, skip: int) -> Iterator[list[Row]]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ConfigError(f"{name} is not a readable Parquet file ({exc})") from None
        with parquet:
            columns = parquet.schema_arrow.names
            self._check_columns(name, columns)
            fields = {f.name: f for f in self.schema.fields} if self.schema else {}
            done, groups = 0, []
            for g in range(parquet.num_row_groups):  # whole row groups before the position
                rows = parquet.metadata.row_group(g).num_rows
                if not groups and done + rows <= skip:
                    done += rows
                else:
                    groups.append(g)
            if not groups:
                return
            for batch in parquet.iter_batches(batch_size=BLOCK_ROWS, row_groups=groups):
                if done + batch.num_rows <= skip:
                    done += batch.num_rows
                    continue
                if done < skip:
                    batch, done = batch.slice(skip - done), skip
                arrays = [_typed(fields.get(c), a) for c, a in zip(batch.schema.names,
                                                                   batch.columns)]
                typed = pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
                nulls = any(a.null_count for a in arrays)
                for rows in _pylist(typed):
                    yield [Row(_drop_none(row) if nulls else row, f"row {i} of {name}",
                               {"file": name, "row": i}) for i, row in enumerate(rows, done + 1)]
                    done += len(rows)


def _typed(field: records.Field | None, array):
    """A Parquet column as the record format takes it: timestamps and dates as nanoseconds,
    decimals as floats."""
    import pyarrow as pa

    if field is None:
        return array
    kind = array.type
    if field.type in ("timestamp", "int") and pa.types.is_timestamp(kind):
        return array.cast(pa.timestamp("ns", kind.tz)).cast(pa.int64())
    if field.type == "timestamp" and pa.types.is_date(kind):
        return array.cast(pa.timestamp("ns")).cast(pa.int64())
    if field.type == "float" and (pa.types.is_decimal(kind) or pa.types.is_floating(kind)):
        return array.cast(pa.float64())
    return array


def json_lines(handle, name: str, skip: int, position) -> Iterator[Row]:
    """Rows from a binary stream of JSON Lines (``records.parse_json``, strict): blank lines
    are no items but count as lines; the first ``skip`` lines are passed over."""
    number = 0
    for line in handle:
        number += 1
        if number <= skip or not line.strip():
            continue
        where = f"line {number} of {name}"
        try:
            value = records.parse_json(line, where)
        except RecordError as exc:
            yield Row(None, where, position(number), str(exc))
            continue
        if not isinstance(value, dict):
            yield Row(None, where, position(number), f"{where} must be a JSON object, not "
                                                     f"{type(value).__name__}")
            continue
        yield Row(value, where, position(number))


def from_cli(spec: str, options) -> FileSource:
    """``SOURCE`` is a file, a directory or a glob; options ``format`` (csv, jsonl,
    parquet) and ``delimiter``."""
    return FileSource(spec, format=options.get("format"), delimiter=options.get("delimiter"))
