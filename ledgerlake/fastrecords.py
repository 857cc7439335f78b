"""The one record rule (``records``), decided in C where it can be: msgspec validates,
normalises, parses and writes records of a stream's schema; Python only checks what msgspec
writes differently from RFC 8785 and hashes.

``records`` is the reference and stays the rule: every function here returns what the
reference returns, byte for byte, or hands the case to it (``None`` internally), so the
reference decides and names the error exactly as it always did. What msgspec writes like
RFC 8785 (checked in tests/unit/test_fastrecords.py over hostile schemas and records):
object keys (a schema's names are ASCII, so code point order is UTF-16 order), strings
(the same escapes, non-ASCII raw), booleans, null, integers, and doubles that are not
integral with 1e-5 <= |x| < 1e16 or |x| < 1e-6. What it writes differently, and how:

- integral doubles (``20.0``; RFC 8785 ``20``): written as the integer when within
  ±(2^53−1), else the record goes to the reference;
- integers beyond ±(2^53−1) (nanosecond timestamps): the integer rule's decimal string,
  written by msgspec from a string (and read as one only in that exact form);
- doubles in [1e-6, 1e-5) and beyond 1e16: the record goes to the reference (sealing) or
  the batch does (opening).

Opening proves a plaintext canonical by writing it again: it is parsed into types whose
writing is canonical (an integer within ±(2^53−1), a decimal string beyond, a double that
is not integral), written back, and taken only when the bytes are the plaintext's. Anything
else — a non-canonical plaintext, duplicate keys, escapes written otherwise, a value out of
range, a record the schema refuses — is decided by ``records.verified_records``.
"""

from __future__ import annotations

import hashlib
import math
import re
from functools import lru_cache
from operator import attrgetter
from typing import Annotated, Any, Mapping, Sequence

import msgspec
from msgspec import UNSET, Meta, Raw, UnsetType

from ledgerlake import records
from ledgerlake.errors import RecordError

try:  # the batch hashing in C (ledgerlake/_digests.c; built by ``pip install``, optional)
    from ledgerlake import _digests
except ImportError:  # no compiler or OpenSSL headers where it was installed: hashlib
    _digests = None
try:  # canonical plaintexts into Arrow buffers in C (ledgerlake/_plaintext.c; optional)
    from ledgerlake import _plaintext
except ImportError:  # then ``open_columns`` decodes them
    _plaintext = None

SAFE = records.MAX_SAFE_INTEGER


#: An integer beyond ±(2^53−1) written as the integer rule's decimal string, as opening
#: reads one: a string of 17 to 20 characters (msgspec checks the length) that msgspec's
#: lax mode reads as an int within int64 and that is that int's ``str`` (checked in
#: ``open_plaintext``: the lax mode also reads "1e2" or "10.0"); a negative one ("-" and
#: 16 digits may lie within ±(2^53−1)) and one of 16 digits are left to the reference.
_BIG_STR = Annotated[str, Meta(min_length=17, max_length=20)]
_SAFE_INT = Annotated[int, Meta(ge=-SAFE, le=SAFE)]
#: Doubles msgspec writes as RFC 8785 does, once integral ones and those in [1e-6, 1e-5)
#: are ruled out (``_written_columns``; ``open_plaintext``'s first check).
_PLAIN_FLOAT = Annotated[float, Meta(gt=-1e16, lt=1e16)]
_SALTS = re.compile(rb'\[(?:"[0-9a-f]{32}",)*"[0-9a-f]{32}"\]')
_ENCODE = msgspec.json.Encoder()


def _bounds(f: records.Field) -> dict:
    if f.type == "float":
        low, high = -records.MAX_FLOAT, records.MAX_FLOAT
    else:
        low, high = (0 if f.type == "timestamp" else records.INT64[0]), records.INT64[1]
    for name, bound in (("min", f.min), ("max", f.max)):
        if bound is None:
            continue
        if f.type == "float" and (float(bound) != bound or isinstance(bound, bool)):
            raise _Unsupported  # compared exactly by the reference, not as a double
        if name == "min":
            low = max(low, bound)
        else:
            high = min(high, bound)
    return {"ge": low, "le": high}


def _checked_type(f: records.Field):
    """A value of field ``f`` as RFC 8785 writes it (see ``Codec.written``), within the
    bounds the normal type checks; None when no written number fits them."""
    if f.type in ("string", "bool"):
        return str if f.type == "string" else bool
    low, high = _bounds(f).values()
    branches = []
    if f.type == "float":
        ge, le = max(math.ceil(low), -SAFE), min(math.floor(high), SAFE)
        if ge <= le:
            branches.append(Annotated[int, Meta(ge=ge, le=le)])
        if low < 1e16 and high > -1e16:
            branches.append(Annotated[float, Meta(
                **({"ge": low} if low > -1e16 else {"gt": -1e16}),
                **({"le": high} if high < 1e16 else {"lt": 1e16}))])
    else:
        ge, le = max(low, -SAFE), min(high, SAFE)
        if ge <= le:
            branches.append(Annotated[int, Meta(ge=ge, le=le)])
        if high > SAFE:
            branches.append(_BIG_STR)  # its value is checked by ``open_columns``
    if not branches:
        return None
    return branches[0] if len(branches) == 1 else branches[0] | branches[1]


_PLAIN_KINDS = {"string": 0, "int": 1, "timestamp": 1, "float": 2, "bool": 3}


def _plain_spec(f: records.Field) -> tuple:
    """Field ``f`` as ``_plaintext.columns`` takes it: its key as written, its kind,
    whether optional, and the bounds of each way its value may be written (those of
    ``_checked_type``)."""
    key = b'"' + f.name.encode() + b'":'
    int_low, int_high, big_low, big_high, float_low, float_high = 1, 0, 1, 0, 1.0, 0.0
    big = False
    if f.type in ("int", "timestamp", "float"):
        low, high = _bounds(f).values()
        if f.type == "float":
            int_low, int_high = max(math.ceil(low), -SAFE), min(math.floor(high), SAFE)
            float_low, float_high = float(low), float(high)
        else:
            int_low, int_high = max(low, -SAFE), min(high, SAFE)
            big, big_low, big_high = high > SAFE, low, high
    return (key, _PLAIN_KINDS[f.type], not f.required, big, int_low, int_high, big_low,
            big_high, float_low, float_high)


class _Unsupported(Exception):
    """A schema this module leaves wholly to the reference."""


class Codec:
    """msgspec types for one schema: ``normal`` (what ``validate_record`` returns, with its
    checks), ``written`` (values as RFC 8785 writes them: the canonical record),
    ``plaintext`` (a batch's plaintext of written records)."""

    def __init__(self, schema: records.Schema):
        self.schema = schema
        # fields in RFC 8785's key order (names are ASCII); the normal record keeps the
        # schema's order, as validate_record does
        order = sorted(schema.fields, key=lambda f: f.name)
        rename = {f"f{i}": f.name for i, f in enumerate(order)}
        normal, written = {}, []
        for i, f in enumerate(order):
            if f.type == "string":
                n = w = str
            elif f.type == "bool":
                n = w = bool
            elif f.type == "float":
                n = Annotated[float, Meta(**_bounds(f))]
                w = _SAFE_INT | _PLAIN_FLOAT
            else:
                n = Annotated[int, Meta(**_bounds(f))]
                w = _SAFE_INT | _BIG_STR
            if f.required:
                normal[f.name] = (f"f{i}", n)
                written.append((f"f{i}", w))
            else:
                normal[f.name] = (f"f{i}", n | None | UnsetType, UNSET)
                written.append((f"f{i}", w | None | UnsetType, UNSET))
        options = {"rename": rename, "forbid_unknown_fields": True, "gc": False,
                   "kw_only": True}  # keyword-only: optional fields may come first
        self.normal = msgspec.defstruct("Normal", [normal[f.name] for f in schema.fields],
                                        **options)
        self.written = msgspec.defstruct("Written", written, **options)
        #: a written record built from its values in key order, unchecked (``seal`` checks
        #: each column's types); an UNSET value is left out when it is encoded
        self.written_row = msgspec.defstruct(
            "WrittenRow", [(f"f{i}", Any) for i in range(len(order))], rename=rename,
            gc=False)
        self.written_fields = tuple((f.name, f.type, not f.required) for f in order)
        self.plaintext = msgspec.defstruct(
            "Plaintext", [("records", list[self.written]), ("salts", list[str]),
                          ("cursor", Raw | UnsetType, UNSET)], forbid_unknown_fields=True)
        # written values with the schema's checks too (what ``open_columns`` decodes into):
        # the normal type's bounds on each number as written
        checked = []
        for i, f in enumerate(order):
            w = _checked_type(f)
            if w is None:
                checked = None  # no written number fits the bounds: the reference decides
                break
            checked.append((f"f{i}", w) if f.required else
                           (f"f{i}", w | None | UnsetType, UNSET))
        self.checked_plaintext = None if checked is None else msgspec.defstruct(
            "CheckedPlaintext", [("records", list[msgspec.defstruct("Checked", checked,
                                                                     **options)]),
                                 ("salts", list[str]), ("cursor", Raw | UnsetType, UNSET)],
            forbid_unknown_fields=True)
        slot = {f.name: f"f{i}" for i, f in enumerate(order)}
        #: per field in the schema's order: its name, attribute getter, type, whether it
        #: may be absent, and (numbers) the normal type a decimal string must decode into
        self.columns = tuple(
            (f.name, attrgetter(slot[f.name]), f.type, not f.required,
             list[Annotated[int, Meta(**_bounds(f))]] if f.type in ("int", "timestamp")
             else None) for f in schema.fields)
        self.floats = tuple(f.name for f in order if f.type == "float")
        self.ints = tuple(f.name for f in order if f.type in ("int", "timestamp"))
        self.public = tuple(f.name for f in schema.public_fields)
        #: An int or timestamp field's value written as a negative string
        self.negative = tuple(b'"' + name.encode() + b'":"-' for name in self.ints)
        self.int_attrs = tuple((attrgetter(f"f{i}"), f.name) for i, f in enumerate(order)
                               if f.type in ("int", "timestamp"))
        #: what ``_plaintext.columns`` is told of each field, in key order, and where each
        #: schema field's column comes in what it returns
        self.plain_spec = tuple(_plain_spec(f) for f in order) \
            if all(records.NAME.fullmatch(f.name) for f in order) else None  # raw in quotes
        self.plain_order = tuple(order.index(f) for f in schema.fields)


#: Codecs by the id of their schema (hashing a Schema costs more than validating a row);
#: the entry keeps its schema alive, so an id is never reused while it is in here.
_CODECS: dict[int, tuple[records.Schema, Codec | None]] = {}


def codec(schema: records.Schema) -> Codec | None:
    """The msgspec types of ``schema``; None for a schema left wholly to the reference."""
    entry = _CODECS.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    found = _codec(schema)
    if len(_CODECS) >= 256:
        _CODECS.clear()
    _CODECS[id(schema)] = (schema, found)
    return found


@lru_cache(maxsize=64)
def _codec(schema: records.Schema) -> Codec | None:
    try:
        return Codec(schema)
    except (_Unsupported, TypeError, ValueError, OverflowError):
        return None


# -- validating -----------------------------------------------------------------------------
def validate_record(schema: records.Schema, record: Any, where: str = "record") -> dict:
    """``records.validate_record``, decided by msgspec when it accepts the record (else by
    the reference, which raises its own error)."""
    c = codec(schema)
    if c is not None:
        try:
            return msgspec.to_builtins(msgspec.convert(record, c.normal))
        except (msgspec.ValidationError, TypeError, ValueError, OverflowError):
            pass
    return records.validate_record(schema, record, where)


def validate_records(schema: records.Schema, rows: Sequence[Any]) -> list[dict]:
    """``[records.validate_record(schema, row, f"record {i}") ...]``, in one msgspec call
    when every row passes."""
    valid = validate_all(schema, rows)
    if valid is not None:
        return valid
    return [validate_record(schema, row, f"record {i}") for i, row in enumerate(rows)]


def validate_all(schema: records.Schema, rows: Sequence[Any]) -> list[dict] | None:
    """``[validate_record(schema, row) ...]`` in one msgspec call when msgspec accepts every
    row; None otherwise (then each row is decided alone, and a bad one names itself)."""
    c = codec(schema)
    if c is None:
        return None
    try:
        return msgspec.to_builtins(msgspec.convert(list(rows), list[c.normal]))
    except (msgspec.ValidationError, TypeError, ValueError, OverflowError):
        return None


# -- sealing --------------------------------------------------------------------------------
def _written_columns(c: Codec, rows: list) -> tuple[list[list], set[int]]:
    """Per field in RFC 8785's key order, the column of normalised ``rows``'s values as RFC
    8785 writes them (integral doubles as integers, big integers as decimal strings, an
    absent value UNSET), and the indices of rows holding a value msgspec writes otherwise
    (left to ``records.canonical``). Whole columns are checked in C (types, numpy for the
    doubles, ``min``/``max`` for the integers); Python looks at a value only where one
    needs changing. Raises TypeError for a value of another type than its field's."""
    columns: list[list] = []
    odd: set[int] = set()  # such a row's value becomes 0 here: its bytes are replaced
    for name, kind, optional in c.written_fields:
        column = [row.get(name, UNSET) for row in rows] if optional else \
            [row[name] for row in rows]
        kinds = set(map(type, column))
        present = kinds - {type(None), UnsetType} if optional else kinds
        if kind == "float":
            if present == {float}:
                column = _written_doubles(column, odd, kinds != present)
            elif present:
                raise TypeError(f"{name}: not a double")
        elif kind in ("int", "timestamp"):
            if present == {int}:
                column = _written_integers(column, odd, optional)
            elif present:
                raise TypeError(f"{name}: not an integer")
        elif present and present != {str if kind == "string" else bool}:
            raise TypeError(f"{name}: not a {kind}")
        columns.append(column)
    return columns, odd


def _written_doubles(column: list, odd: set[int], gaps: bool) -> list:
    """A column of doubles (None or UNSET where absent: ``gaps``) as RFC 8785 writes
    them."""
    import numpy as np

    values = np.array([v if type(v) is float else math.nan for v in column] if gaps
                      else column, dtype=np.float64)
    magnitude = np.abs(values)
    integral = np.trunc(values) == values
    special = np.flatnonzero(integral | ((magnitude >= 1e-6) & (magnitude < 1e-5)))
    if not len(special):
        return column
    column = list(column)
    for i in special.tolist():
        v = column[i]
        if v.is_integer() and -SAFE <= v <= SAFE:
            column[i] = int(v)
        else:
            odd.add(i)
            column[i] = 0
    return column


def _written_integers(column: list, odd: set[int], optional: bool) -> list:
    """A column of integers (None or UNSET where absent) as RFC 8785 writes them: those
    beyond ±(2^53−1) as their decimal string (of 17 characters or more: _BIG_STR)."""
    values = [v for v in column if type(v) is int] if optional else column
    low, high = min(values), max(values)
    if -SAFE <= low and high <= SAFE:
        return column
    if not optional and low >= 10**16:  # e.g. nanosecond timestamps: all of them
        return list(map(str, column))
    column = list(column)
    for i, v in enumerate(column):
        if type(v) is int and not -SAFE <= v <= SAFE:
            text = str(v)
            if len(text) < 17:  # 16 digits: _BIG_STR leaves them to the reference
                odd.add(i)
                column[i] = 0
            else:
                column[i] = text
    return column


def seal(schema: records.Schema, rows: Sequence[Mapping[str, Any]], salts: Sequence[bytes],
         cursor: Any = None, *, normalised: bool = False) -> tuple[list[bytes], bytes]:
    """``records.seal_records(rows, salts, cursor)`` for rows normalised under ``schema``
    (``validate_record``): the same commitments and plaintext, byte for byte.
    ``normalised``: the rows are dicts just returned by ``validate_record`` (an ingest
    validates each row alone), so they are not normalised again (a fifth of the cost);
    a value of another type still sends the batch to the reference."""
    c = codec(schema)
    if c is None or not rows or len(salts) != len(rows):  # the reference pairs them as it does
        return records.seal_records(rows, salts, cursor)
    try:
        normal = list(rows) if normalised else \
            msgspec.to_builtins(msgspec.convert(list(rows), list[c.normal]))
        columns, odd = _written_columns(c, normal)
        row = c.written_row
        body = _ENCODE.encode([row(*values) for values in zip(*columns)])
    except (msgspec.ValidationError, TypeError, ValueError, OverflowError, AttributeError,
            KeyError, UnicodeEncodeError):
        return records.seal_records(rows, salts, cursor)
    parts: list = msgspec.json.decode(body, type=list[Raw])
    if odd:
        for i in odd:
            parts[i] = records.canonical(normal[i])
        body = b"[" + b",".join(parts) + b"]"
    if _digests is not None and set(map(len, salts)) == {16}:
        digests = _digests.commitments(b"".join(salts), b"".join(parts), _ends(parts))
        leaves = [digests[i:i + 32] for i in range(0, len(digests), 32)]
    else:
        leaves = [hashlib.sha256(salt + part).digest() for salt, part in zip(salts, parts)]
    head = b'{"records":' if cursor is None else \
        b'{"cursor":' + records.cursor_bytes(cursor) + b',"records":'
    hexes = b"".join(salts).hex("|", 16).replace("|", '","').encode() \
        if set(map(len, salts)) == {16} else '","'.join([s.hex() for s in salts]).encode()
    return leaves, b"".join((head, body, b',"salts":["', hexes, b'"]}'))


# -- opening --------------------------------------------------------------------------------
def _cursor(raw: bytes) -> tuple[Any, bytes]:
    """A plaintext's cursor as the rule reads it (strict JSON, depth checked) and as it is
    written (``records.cursor_bytes``): the plaintext is canonical only where they match."""
    cursor = records.parse_json(raw)
    records._depth([cursor], records.MAX_JSON_DEPTH)
    return cursor, records.cursor_bytes(cursor)


def open_plaintext(schema: records.Schema, header: Mapping[str, Any],
                   plaintext: bytes) -> tuple[list[dict], list[str], list[bytes], Any] | None:
    """The normalised records, hex salts, commitments and cursor that
    ``records.verified_records`` (with ``records.parse_json`` and
    ``records.batch_plaintext``) returns for a decrypted, decoded ``plaintext`` of batch
    ``header``, when the plaintext is canonical (what
    ``seal`` writes) and the rule accepts it; None for anything else, which the caller
    hands to the reference. ``header``: checked with the schema (``validate_batch_shape``),
    so its public fields are normalised."""
    c = codec(schema)
    if c is None or type(plaintext) is not bytes:
        return None
    if b'.0,' in plaintext or b'.0}' in plaintext or b'e-6,' in plaintext or \
            b'e-6}' in plaintext:
        return None  # an integral double or one in [1e-6, 1e-5) written as msgspec does
    try:
        content = msgspec.json.decode(plaintext, type=c.plaintext)
        count = header["record_count"]
        if not len(content.records) == len(content.salts) == count:
            return None
        body = _ENCODE.encode(content.records)
        salts = _ENCODE.encode(content.salts)
        if content.cursor is UNSET:
            head, cursor = b'{"records":', None
        else:
            cursor, written = _cursor(bytes(content.cursor))
            head = b'{"cursor":' + written + b',"records":'
        if b"".join((head, body, b',"salts":', salts, b"}")) != plaintext or \
                not _SALTS.fullmatch(salts) or any(neg in body for neg in c.negative):
            return None
        normal = msgspec.to_builtins(msgspec.json.decode(body, type=list[c.normal],
                                                         strict=False))
        parts = msgspec.json.decode(body, type=list[Raw])
        for get, name in c.int_attrs:  # a string only as the int's decimal form
            written = list(map(get, content.records))
            if str in set(map(type, written)) and written != [
                    str(row.get(name)) if type(value) is str else value
                    for value, row in zip(written, normal)]:
                return None
    except (msgspec.DecodeError, msgspec.ValidationError, RecordError, TypeError, ValueError,
            OverflowError, UnicodeEncodeError, RecursionError):
        return None
    public = header["public"]
    for name in c.public:
        if [row.get(name) for row in normal] != public[name]:
            return None
    digests = commitments(bytes.fromhex("".join(content.salts)), parts)
    if root_of_digests(digests).hex() != header["merkle_root"]:
        return None
    leaves = [digests[i:i + 32] for i in range(0, len(digests), 32)]
    return normal, content.salts, leaves, cursor


def open_columns(schema: records.Schema, header: Mapping[str, Any], plaintext: bytes
                 ) -> tuple[dict[str, list], list[str], list[bytes], Any] | None:
    """``open_plaintext``'s decision, the records given as columns: per field of
    ``schema`` (in its order) the list of its normalised values, ``None`` where a record
    has no value (except that a float field's integral values, written as integers, stay
    ints: equal, and exact as doubles), and the hex salts, commitments (32 bytes each,
    concatenated: ``commitments``) and cursor; None for anything else, which
    the caller hands to the reference (it then decides, and names the error, as always).

    What the sync needs, without a dict per record: the plaintext is decoded once, into
    types that take a value only as RFC 8785 writes it and only within the field's bounds
    (``_checked_type``), and written back; it is taken only when the bytes are the
    plaintext's. A decimal string (an integer beyond ±(2^53−1)) is decoded as the normal
    type and must be that integer's own ``str``."""
    c = codec(schema)
    if c is None or c.checked_plaintext is None or type(plaintext) is not bytes:
        return None
    import numpy as np

    try:
        content = msgspec.json.decode(plaintext, type=c.checked_plaintext)
        rows = content.records
        count = header["record_count"]
        if not len(rows) == len(content.salts) == count:
            return None
        body = _ENCODE.encode(rows)
        salts = _ENCODE.encode(content.salts)
        if content.cursor is UNSET:
            head, cursor = b'{"records":', None
        else:
            cursor, written = _cursor(bytes(content.cursor))
            head = b'{"cursor":' + written + b',"records":'
        if b"".join((head, body, b',"salts":', salts, b"}")) != plaintext:
            return None
        hexes = "".join(content.salts)  # 32 lower-case hex digits each, as SALT_HEX says
        salt_bytes = bytes.fromhex(hexes)
        if set(map(len, content.salts)) != {32} or salt_bytes.hex() != hexes:
            return None
        columns = {}
        for name, get, kind, optional, big in c.columns:
            column = list(map(get, rows))
            if optional or big is not None:
                kinds = set(map(type, column))
                if optional and UnsetType in kinds:
                    column = [None if v is UNSET else v for v in column]
                    kinds.discard(UnsetType)
                    kinds.add(type(None))
                if big is not None and str in kinds:
                    column = _big_integers(column, kinds, big)
                    if column is None:
                        return None
            if kind == "float":
                # msgspec writes an integral double as "20.0" (RFC 8785: "20") and one in
                # [1e-6, 1e-5) with an exponent: such a plaintext is left to the reference.
                # Integral values written as integers (ints here) are canonical.
                values = np.array(column, dtype=np.float64)  # None: NaN
                magnitude = np.abs(values)
                odd = np.flatnonzero((np.trunc(values) == values) |
                                     ((magnitude >= 1e-6) & (magnitude < 1e-5)))
                if any(type(column[i]) is float for i in odd.tolist()):
                    return None
            columns[name] = column
    except (msgspec.DecodeError, msgspec.ValidationError, RecordError, TypeError, ValueError,
            OverflowError, UnicodeEncodeError, RecursionError):
        return None
    public = header["public"]
    for name in c.public:
        if columns[name] != public[name]:
            return None
    parts = msgspec.json.decode(body, type=list[Raw])
    leaves = commitments(salt_bytes, parts)
    if root_of_digests(leaves).hex() != header["merkle_root"]:
        return None
    return columns, content.salts, leaves, cursor


def open_arrow(schema: records.Schema, header: Mapping[str, Any], plaintext: bytes,
               types: Sequence) -> tuple[list, bytes] | None:
    """``open_columns``'s decision as Arrow arrays (of ``types``, one per field of
    ``schema`` in its order) and the commitments (32 bytes each, concatenated), for a
    plaintext in the form ``_plaintext.columns`` decodes in C (ledgerlake/_plaintext.c:
    no Python object per value); None for any other, or without the extensions: the
    caller then asks ``open_columns``."""
    c = codec(schema)
    if _plaintext is None or _digests is None or c is None or c.checked_plaintext is None \
            or c.plain_spec is None or type(plaintext) is not bytes:
        return None  # without the hashing in C too, open_columns is as quick
    count = header["record_count"]
    if type(count) is not int or not 1 <= count <= records.MAX_RECORDS:
        return None
    head = 0
    if plaintext.startswith(b'{"cursor":'):  # checked here as open_columns checks it
        end = _plaintext.value_end(plaintext, 10)
        if end < 0 or not plaintext.startswith(b',"records":[', end):
            return None
        try:
            if _cursor(plaintext[10:end])[1] != plaintext[10:end]:
                return None
        except (RecordError, TypeError, ValueError, OverflowError, RecursionError):
            return None
        head = end + 12
    decoded = _plaintext.columns(plaintext, count, c.plain_spec, head)
    if decoded is None:
        return None
    import pyarrow as pa

    buffers, salts, data, ends = decoded
    arrays = []
    for f, position, arrow_type in zip(schema.fields, c.plain_order, types, strict=True):
        nulls, validity, values, offsets = buffers[position]
        validity = None if validity is None else pa.py_buffer(validity)
        parts = [validity, pa.py_buffer(values)] if offsets is None else \
            [validity, pa.py_buffer(offsets), pa.py_buffer(values)]
        arrays.append(pa.Array.from_buffers(arrow_type, count, parts, null_count=nulls))
    public = header["public"]
    for f, array in zip(schema.fields, arrays):
        if f.name in c.public:
            if type(public.get(f.name)) is not list:
                return None  # a checked header's is (the reference decides otherwise)
            try:
                if not pa.array(public[f.name], type=array.type).equals(array):
                    return None
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                return None
    leaves = _digests.commitments(salts, data, ends)
    if root_of_digests(leaves).hex() != header["merkle_root"]:
        return None
    return arrays, leaves


def _big_integers(column: list, kinds: set, normal_type) -> list | None:
    """``column`` with its decimal strings (each of 17 to 20 characters: 10^16 or more
    unless negative) as the integers they write, once none is negative, each is within the
    field's bounds (``normal_type``) and is exactly that integer's ``str``; None
    otherwise."""
    texts = column if kinds == {str} else [v for v in column if type(v) is str]
    joined = ",".join(texts)
    if "-" in joined:  # a negative one may lie within ±(2^53−1): not written as a string
        return None
    numbers = msgspec.json.decode(f"[{joined}]", type=normal_type)
    if len(numbers) != len(texts) or ",".join(map(str, numbers)) != joined:
        return None  # a string holding a comma, spaces or another form of the number
    if texts is column:
        return numbers
    it = iter(numbers)
    return [next(it) if type(v) is str else v for v in column]


def _ends(parts: Sequence) -> bytes:
    """Each of ``parts``' end offset in their concatenation, as native int64 values."""
    import numpy as np

    return np.cumsum(np.fromiter(map(len, parts), np.int64, len(parts))).tobytes()


def commitments(salts: bytes, parts: Sequence) -> bytes:
    """The commitments ``records.commitment`` gives records written as ``parts`` (their
    canonical bytes) with ``salts`` (16 bytes each, concatenated): 32 bytes each,
    concatenated. One call into C (``_digests``) when it is built, else hashlib."""
    if len(salts) != 16 * len(parts):
        raise ValueError("salts must be 16 bytes per record")
    if _digests is not None:
        return _digests.commitments(salts, b"".join(parts), _ends(parts))
    sha256 = hashlib.sha256
    return b"".join([sha256(salts[16 * i:16 * i + 16] + part).digest()
                     for i, part in enumerate(parts)])


def root_of_digests(digests: bytes) -> bytes:
    """``records.merkle_root`` of the 32-byte leaves ``digests`` holds, concatenated."""
    if len(digests) % 32:
        raise ValueError("leaves must be 32-byte digests")
    if _digests is not None and digests:
        return _digests.merkle_root(digests)
    return merkle_root([digests[i:i + 32] for i in range(0, len(digests), 32)])


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """``records.merkle_root``, with less Python per node (none with ``_digests``)."""
    if len(leaves) < 2:
        return records.merkle_root(leaves)
    if _digests is not None and set(map(len, leaves)) == {32}:
        return _digests.merkle_root(b"".join(leaves))
    sha256, one = hashlib.sha256, b"\x01"
    level = leaves
    while len(level) > 1:
        odd = level[-1] if len(level) % 2 else None
        level = [sha256(one + left + right).digest()
                 for left, right in zip(level[::2], level[1::2])]
        if odd is not None:
            level.append(odd)
    return level[0]


# -- a batch's header -----------------------------------------------------------------------
def validate_batch_shape(batch: Any, schema: records.Schema) -> Any:
    """``records.validate_batch_shape(batch, schema)``, its public columns checked without
    Python per value when they are plain (strings, booleans, integers of exact types within
    the field's bounds); anything else, and any failure, is decided by the reference,
    which names the error as always."""
    columns = _plain_public(schema, batch)
    if columns is None:
        return records.validate_batch_shape(batch, schema)
    try:
        checked = records.normalised_batch(batch)  # the same but for the public columns
    except RecordError:
        return records.validate_batch_shape(batch, schema)
    checked["public"] = columns
    if checked["id"] != records.batch_id(checked):
        return records.validate_batch_shape(batch, schema)  # raises its own error
    return checked


def _plain_public(schema: records.Schema, batch: Any) -> dict | None:
    """The public columns ``records.validate_public_columns`` returns for ``batch``, when
    every value is of its field's exact type (an int within its bounds, a str, a bool; None
    only where the field is optional); None for anything else."""
    if not isinstance(batch, dict):
        return None
    public, count = batch.get("public"), batch.get("record_count")
    fields = schema.public_fields
    if type(public) is not dict or type(count) is not int or \
            public.keys() != {f.name for f in fields}:
        return None
    columns = {}
    for f in fields:
        column = public[f.name]
        if type(column) is not list or len(column) != count:
            return None
        kinds = set(map(type, column))
        if not f.required:
            kinds.discard(type(None))
        elif None in column:
            return None
        if f.type in ("string", "bool"):
            if not kinds <= {str if f.type == "string" else bool}:
                return None
        elif f.type in ("int", "timestamp") and kinds == {int} and None not in column:
            low, high = _bounds(f).values()
            if not (low <= min(column) and max(column) <= high):
                return None
        else:
            return None  # floats, None in a number column, other types: the reference
        columns[f.name] = list(column)
    return columns
