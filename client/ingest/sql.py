"""Records from a SQL database table or query, incremental on a cursor column.

``SqlSource(url, table=… | query=…, cursor=COLUMN)`` reads rows in cursor order, so a re-run
given the last position reads only the rows added since. Any SQLAlchemy 2 URL works;
``postgresql://`` (and ``postgres://``) use the psycopg 3 driver, ``sqlite:///file.db`` the
standard library's.

The ordering and resume rule (what makes a re-run pick up exactly the new rows):

- Rows are ordered by the cursor column, then by a tie-breaker: the ``tiebreak`` columns if
  given, else the table's primary key (without the cursor column if it is part of it). With
  a tie-breaker the order is total and the position is the last row's ``(cursor, tiebreak…)``
  values; a resume selects rows whose ``(cursor, tiebreak…)`` is greater, so rows with equal
  cursor values on both sides of the boundary are neither lost nor repeated. New rows are
  picked up as long as they sort after the position (an increasing id or insert time).
- Without a tie-breaker (a query without ``tiebreak``, a table without a primary key) the
  position is the last cursor value and how many rows with that value were read; a resume
  selects rows with cursor ≥ that value and skips that many. This is exact only if no row
  with the last cursor value is added later: give a unique or strictly increasing cursor,
  or a ``tiebreak``.
- Rows whose cursor is NULL cannot be placed in the order and are not read (make the cursor
  column NOT NULL).

One streamed query per ``rows()`` call (a server-side cursor on PostgreSQL, ``yield_per``
everywhere), so a big table is never loaded whole; values are bound parameters and names
are quoted by SQLAlchemy. SQLite in its default rollback-journal mode keeps writers waiting
while a read is open; use WAL mode (``PRAGMA journal_mode=WAL``) on a database that is being
written while ingesting.

Database values become record values (``record_value``): Decimal → int when it has no
fractional digits by its scale (NUMERIC(10,0)), else float; datetime → int nanoseconds since
the Unix epoch (a ``timestamp`` field; a naive datetime is taken as UTC); timedelta → int
nanoseconds; date and time → ISO 8601 strings; UUID → string; bytes → lowercase hex; a NULL
leaves the field out of the record (absent, as an empty CSV cell: fine for an optional field). Given the stream's schema (``use_schema``, which the
pipeline calls), the field's type refines this (``field_value``): a date in a timestamp
field is its midnight UTC, a date, time or Decimal in a string field its text, a Decimal in a
float field a float. Positions encode values in JSON losslessly
(``encode_value``): a datetime, date, Decimal, UUID, bytes or an integer beyond ±(2^53−1)
becomes a one-key object such as ``{"datetime": "2026-11-22T03:00:00+00:00"}``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator, Mapping

from ledgerlake.errors import ConfigError, SourceError
from ledgerlake.records import MAX_SAFE_INTEGER

from .source import Row, derived_source_id

KIND = "sql"
#: URL schemes ``open_source`` hands to this module (a "+driver" suffix is allowed)
SCHEMES = ("postgresql", "postgres", "sqlite", "mysql", "mariadb", "oracle", "mssql")
#: the options ``from_cli`` takes (CLI: --table, --query, --cursor, --tiebreak, --batch-rows)
CLI_OPTIONS = ("table", "query", "cursor", "tiebreak", "batch_rows")
DEFAULT_BATCH_ROWS = 1000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


# -- values ------------------------------------------------------------------------------------
def datetime_ns(value: dt.datetime) -> int:
    """Nanoseconds since the Unix epoch, exactly (a naive datetime is taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def record_value(value: Any) -> Any:
    """A database value as a record value (see the module docstring)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        if value.is_finite() and value.as_tuple().exponent >= 0:
            return int(value)
        return float(value)
    if isinstance(value, dt.datetime):
        return datetime_ns(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return (value.days * 86_400 + value.seconds) * 10**9 + value.microseconds * 1000
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (dict, list)):
        return value  # JSON columns: the schema decides (records hold scalars)
    return str(value)


def field_value(kind: str | None, value: Any) -> Any:
    """A database value for a schema field of type ``kind`` (None: no schema): a date is
    midnight UTC in a ``timestamp`` field; a datetime, date, time or Decimal is its ISO /
    decimal text in a ``string`` field; a Decimal is a float in a ``float`` field; anything
    else as ``record_value``."""
    if kind == "timestamp" and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return datetime_ns(dt.datetime(value.year, value.month, value.day))
    if kind == "string" and isinstance(value, (dt.date, dt.time, Decimal)):
        return value.isoformat() if not isinstance(value, Decimal) else str(value)
    if kind == "float" and isinstance(value, Decimal):
        return float(value)
    return record_value(value)


_TAGGED = {
    "datetime": (dt.datetime, dt.datetime.isoformat, dt.datetime.fromisoformat),
    "date": (dt.date, dt.date.isoformat, dt.date.fromisoformat),
    "time": (dt.time, dt.time.isoformat, dt.time.fromisoformat),
    "decimal": (Decimal, str, Decimal),
    "uuid": (uuid.UUID, str, uuid.UUID),
    "bytes": ((bytes, bytearray, memoryview), lambda v: bytes(v).hex(), bytes.fromhex),
    "timedelta": (dt.timedelta, lambda v: [v.days, v.seconds, v.microseconds],
                  lambda v: dt.timedelta(days=v[0], seconds=v[1], microseconds=v[2])),
}


def encode_value(value: Any) -> Any:
    """``value`` as JSON that ``decode_value`` turns back into the same value, whatever
    JSON writer keeps it (integers beyond ±(2^53−1) are tagged so no double rounds them)."""
    if value is None or isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else {"int": str(value)}
    for tag, (kind, encode, _) in _TAGGED.items():  # datetime before date: it is a date
        if isinstance(value, kind):
            return {tag: encode(value)}
    raise ConfigError(f"a cursor or tie-breaker column holds a {type(value).__name__}, which "
                      f"cannot be kept in a position; choose a column of a plain type")


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) != 1:
            raise ConfigError(f"bad SQL position value {value!r}")
        (tag, text), = value.items()
        if tag == "int":
            return int(text)
        if tag not in _TAGGED:
            raise ConfigError(f"bad SQL position value {value!r}")
        return _TAGGED[tag][2](text)
    return value


# -- URLs and names ----------------------------------------------------------------------------
def _url(url: str):
    """The parsed SQLAlchemy URL, with psycopg 3 as PostgreSQL's driver. The message of a
    bad URL never repeats it (it may hold a password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        raise ConfigError("the database URL is not a SQLAlchemy URL such as "
                          "postgresql://user@host:5432/db or sqlite:///data.db") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _safe(url) -> str:
    return url.render_as_string(hide_password=True)


def _one_line(exc: BaseException) -> str:
    """A driver error on one line, without SQLAlchemy's statement dump and help link."""
    inner = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("[SQL:", "(Background on"))]
    return "; ".join(lines)[:300] or type(inner).__name__


def default_source_id(url: str, table: str | None, query: str | None) -> str:
    """``sql.<database>.<table>`` or ``sql.<database>.q-<hash of the query>``: stable across
    runs and free of host, user and password (a database reached through another address is
    the same source). Longer than an identifier allows → cut and suffixed with a hash."""
    parsed = _url(url)
    database = parsed.database or "db"
    if parsed.get_backend_name() == "sqlite":
        database = database.rsplit("/", 1)[-1].rsplit(".", 1)[0] or "memory"
    what = table if table else "q-" + hashlib.sha256(query.encode()).hexdigest()[:12]
    return derived_source_id(f"sql.{database}.{what}")


# -- the source --------------------------------------------------------------------------------
class SqlSource:
    """Rows of ``table`` (or of the SELECT ``query``) in ``(cursor, tiebreak…)`` order; see
    the module docstring for the resume rule and value conversion. Raises ConfigError at
    construction for a bad URL, an unknown table or a missing cursor or tie-breaker
    column; SourceError when the database cannot be reached or fails while reading."""

    kind = KIND

    def __init__(self, url: str, *, table: str | None = None, query: str | None = None,
                 cursor: str, tiebreak: str | list[str] | tuple[str, ...] | None = None,
                 batch_rows: int = DEFAULT_BATCH_ROWS):
        if (table is None) == (query is None):
            raise ConfigError("give a SQL source exactly one of a table or a query")
        if not cursor:
            raise ConfigError("a SQL source needs a cursor column (--cursor) to read "
                              "incrementally, e.g. an increasing id or an update time")
        if not isinstance(batch_rows, int) or batch_rows < 1:
            raise ConfigError("batch_rows must be a positive integer")
        if isinstance(tiebreak, str):
            tiebreak = [name.strip() for name in tiebreak.split(",") if name.strip()]
        self._url_text = url
        self._url = _url(url)
        if query is not None:
            query = query.strip().rstrip(";").strip()
        self.table, self.query, self.cursor = table, query, cursor
        self.batch_rows = batch_rows
        self._stopped = False
        self._engine = self._connect()
        try:
            self._source, self.tiebreak = self._select_from(list(tiebreak or ()))
        except BaseException:
            self._engine.dispose()
            raise
        self._label = table or "query"
        self._types: dict[str, str] = {}

    def _connect(self):
        import sqlalchemy
        from sqlalchemy.exc import SQLAlchemyError
        database = self._url.database
        if (self._url.get_backend_name() == "sqlite" and database
                and database != ":memory:" and not database.startswith("file:")
                and not Path(database).is_file()):  # connecting would create an empty one
            raise ConfigError(f"no such database file: {database}")
        try:
            engine = sqlalchemy.create_engine(self._url)
        except (SQLAlchemyError, ImportError, ValueError, TypeError) as exc:
            raise ConfigError(f"cannot use database {_safe(self._url)}: "
                              f"{_one_line(exc)}") from None
        try:
            with engine.connect():
                pass
        except SQLAlchemyError as exc:
            engine.dispose()
            raise SourceError(f"cannot connect to database {_safe(self._url)}: "
                              f"{_one_line(exc)}") from None
        return engine

    def _select_from(self, tiebreak: list[str]):
        """The selectable to read (the table, or the query as a subquery) and the
        tie-breaker columns, every name checked against the database."""
        import sqlalchemy
        from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError
        where = _safe(self._url)
        if self.table is not None:
            schema, _, name = self.table.rpartition(".")
            try:
                source = sqlalchemy.Table(name, sqlalchemy.MetaData(), schema=schema or None,
                                          autoload_with=self._engine)
            except NoSuchTableError:
                raise ConfigError(f"no table {self.table!r} in database {where}") from None
            except SQLAlchemyError as exc:
                raise ConfigError(f"cannot read table {self.table!r} in {where}: "
                                  f"{_one_line(exc)}") from None
            if not tiebreak:
                tiebreak = [c.name for c in source.primary_key.columns if c.name != self.cursor]
        else:
            text = sqlalchemy.text(self.query)
            try:
                with self._engine.connect() as conn:
                    probe = sqlalchemy.select(sqlalchemy.literal_column("*")).select_from(
                        text.columns().subquery("ledgerlake_probe")).where(sqlalchemy.false())
                    names = list(conn.execute(probe).keys())
            except SQLAlchemyError as exc:
                raise ConfigError(f"the query does not run on {where}: "
                                  f"{_one_line(exc)}") from None
            source = text.columns(*(sqlalchemy.column(n) for n in names)).subquery("ledgerlake_src")
        names = [c.name for c in source.columns]
        for column, what in [(self.cursor, "cursor"), *((t, "tie-breaker") for t in tiebreak)]:
            if column not in names:
                shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
                raise ConfigError(f"the {what} column {column!r} is not in "
                                  f"{self._label_for()} (its columns: {shown})")
        return source, [t for t in tiebreak if t != self.cursor]

    def _label_for(self) -> str:
        return f"table {self.table!r}" if self.table is not None else "the query's result"

    # -- Source protocol ------------------------------------------------------------------
    def use_schema(self, schema) -> None:
        """The stream's ``records.Schema``: values are converted for their fields' types."""
        self._types = {f.name: f.type for f in schema.fields}

    def source_id(self) -> str:
        return default_source_id(self._url_text, self.table, self.query)

    def statement(self, after: Any | None = None):
        """The SELECT for rows after position ``after``, and how many rows with the
        position's cursor value it must skip (the no-tie-breaker rule)."""
        import sqlalchemy
        src = self._source
        order = [src.c[self.cursor], *(src.c[t] for t in self.tiebreak)]
        stmt = sqlalchemy.select(src).where(src.c[self.cursor].is_not(None)).order_by(*order)
        skip = 0
        if after is not None:
            last, skip = self._parse_position(after)
            if self.tiebreak:
                stmt = stmt.where(sqlalchemy.tuple_(*order) > sqlalchemy.tuple_(
                    *(sqlalchemy.bindparam(f"after_{i}", value, type_=col.type)
                      for i, (col, value) in enumerate(zip(order, last)))))
            else:
                stmt = stmt.where(order[0] >= sqlalchemy.bindparam("after_0", last[0],
                                                                   type_=order[0].type))
        return stmt, skip

    def _parse_position(self, after: Any) -> tuple[list, int]:
        if not isinstance(after, Mapping) or not isinstance(after.get("key"), list):
            raise ConfigError(f"bad SQL source position {after!r}: expected the position "
                              f"a SQL source gave")
        key = [decode_value(v) for v in after["key"]]
        expected = 1 + len(self.tiebreak)
        if len(key) != expected:
            raise ConfigError(f"the SQL position has {len(key)} key values but the source "
                              f"orders by {expected} columns (cursor and tie-breaker changed?)")
        skip = after.get("skip", 0)
        if self.tiebreak and skip:
            raise ConfigError("the SQL position was made without a tie-breaker; resume with "
                              "the same options it was made with")
        return key, int(skip)

    def rows(self, after: Any | None = None) -> Iterator[Row]:
        """Rows after ``after`` in ``(cursor, tiebreak…)`` order, streamed ``batch_rows`` at
        a time; ends at the last row, or soon after ``stop()`` (called before, it ends the
        next ``rows()`` at once)."""
        from sqlalchemy.exc import SQLAlchemyError
        stmt, skip = self.statement(after)
        last_value = self._parse_position(after)[0][0] if after is not None else None
        same = skip  # rows read so far with the cursor value ``last_value``
        try:
            with self._engine.connect() as conn:
                result = conn.execution_options(stream_results=True,
                                                yield_per=self.batch_rows).execute(stmt)
                for row in result.mappings():
                    if self._stopped:
                        break
                    value = row[self.cursor]
                    if skip and value == last_value:
                        skip -= 1
                        continue
                    skip = 0
                    key = [value, *(row[t] for t in self.tiebreak)]
                    if self.tiebreak:
                        position = {"key": [encode_value(v) for v in key]}
                    else:
                        same = same + 1 if value == last_value else 1
                        last_value = value
                        position = {"key": [encode_value(value)], "skip": same}
                    where = f"{self._label} row " + ", ".join(
                        f"{name}={val}" for name, val in zip([self.cursor, *self.tiebreak], key))
                    types = self._types
                    yield Row({name: field_value(types.get(name), val)
                               for name, val in row.items() if val is not None}, where,
                              position)
        except SQLAlchemyError as exc:
            raise SourceError(f"reading {self._label_for()} from {_safe(self._url)} "
                              f"failed: {_one_line(exc)}") from None
        finally:
            self._stopped = False  # stop() ends this rows() (or the next, if called before)

    def committed(self, position: Any) -> None:
        """Nothing to acknowledge: the position alone says what was read."""

    def stop(self) -> None:
        self._stopped = True

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> "SqlSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def from_cli(spec: str, options: Mapping[str, Any]) -> SqlSource:
    """``SOURCE`` is the SQLAlchemy URL; options ``table`` or ``query``, ``cursor``
    (required), ``tiebreak`` (comma-separated column names), ``batch_rows``."""
    try:
        batch_rows = int(options.get("batch_rows") or DEFAULT_BATCH_ROWS)
    except (TypeError, ValueError):
        raise ConfigError("--batch-rows must be a positive integer") from None
    return SqlSource(spec, table=options.get("table"), query=options.get("query"),
                     cursor=options.get("cursor") or "",
                     tiebreak=options.get("tiebreak"), batch_rows=batch_rows)
