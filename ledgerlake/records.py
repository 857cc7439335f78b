"""The record format shared by the client, the chaincode and the analytics.

One place defines the canonical encoding of a record, its commitment
``SHA-256(salt ‖ canonical record)``, the Merkle tree over a batch's commitments, a
stream's schema (typed fields with units, ranges and which are public), the rules a record
and a batch must follow, and the content-derived batch id that chains batches per source.

The canonical form is RFC 8785, the JSON Canonicalization Scheme (JCS), so a client in any
language with a JCS implementation (Go, JavaScript's ``canonicalize``, Java, …) reproduces
commitments, Merkle roots and batch ids byte for byte. JCS numbers are IEEE-754 doubles
(``1.0`` → ``1``, ``1e16`` → ``10000000000000000``, ``1e21`` → ``1e+21``), which would round
nanosecond timestamps and other 64-bit integers. Hence the one rule for integers:

    In the canonical form, an integer outside ±(2^53−1) is written as its decimal string
    (``"1700000000000000001"``); every other integer, and every float, is a JSON number.
    Where a 64-bit integer is expected (batch ``seq``, ``time_start``, ``time_end``,
    ``record_count``, ``schema_version``, ``key_epoch``; record fields of type ``int`` and
    ``timestamp``) readers accept that decimal string or the exact JSON number, and
    normalise both to the integer before anything is hashed, so a batch has one id however
    its integers arrived. Decimal strings are only for integers outside ±(2^53−1): inside
    it, an integer is a JSON number. Where a float is expected, any JSON number is read as
    the nearest double.

Everything ledgerlake hands out (chaincode answers, world state, batch plaintext) is written
with ``canonical``, so a JavaScript client never receives an integer it would round.
Reading needs the schema where types differ by field: ``validate_record`` and
``validate_public_columns`` normalise record values, and ``validate_batch_shape(batch,
schema)`` the batch's public fields (without the schema, a number beyond ±(2^53−1) there is
taken as the double it denotes in the canonical form).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import zlib

try:  # zlib-ng inflates the same DEFLATE streams in half of zlib's time (a dependency)
    from zlib_ng import zlib_ng as _inflate
except ImportError:  # pragma: no cover - an install without it: zlib itself
    _inflate = zlib
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import rfc8785

from ledgerlake.errors import RecordError

FIELD_TYPES = ("int", "float", "string", "bool", "timestamp")
MAX_RECORDS = 100_000
MAX_INLINE_PAYLOAD = 4 * 2**20  # bytes of ciphertext a transaction may carry (else off-chain)
#: The contract's bound on one SubmitBatch argument (the header, or the ciphertext).
MAX_BATCH_ARGUMENT = 8 * 2**20
#: The orderer's BatchSize.AbsoluteMaxBytes (network/configtx.py: "10 MB", i.e. MiB), which
#: bounds a whole transaction.
ORDERER_ABSOLUTE_MAX_BYTES = 10 * 2**20
#: The most a producer lets one SubmitBatch weigh: its canonical header twice (the argument
#: and again in the write set) plus its ciphertext. 90% of the orderer's bound leaves room
#: for signatures, endorsements and keys; it must stay below ORDERER_ABSOLUTE_MAX_BYTES,
#: and half of it below MAX_BATCH_ARGUMENT, so a header within it fits the contract too.
MAX_BATCH_TRANSACTION_BYTES = ORDERER_ABSOLUTE_MAX_BYTES * 9 // 10
MAX_FUTURE_SKEW_NS = 5 * 60 * 10**9
DEFAULT_MAX_AGE_NS = 7 * 24 * 3600 * 10**9
HEX64 = re.compile(r"[0-9a-f]{64}")  # used with fullmatch: no trailing newline slips by
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
INT64 = (-(2**63), 2**63 - 1)
MAX_FLOAT = 1.7976931348623157e308
#: The largest integer a double (a JavaScript number, an RFC 8785 number) holds exactly.
MAX_SAFE_INTEGER = 2**53 - 1

__all__ = ["BigNumber", "Field", "RecordError", "Schema", "batch_id", "batch_plaintext",
           "canonical", "check_identifier", "check_payload", "check_value",
           "ciphertext_matches", "commitment", "decode_plaintext", "encode_plaintext", "int64",
           "merkle_proof", "merkle_root", "normalised_batch", "parse_json", "payload_digest",
           "public_columns", "seal_records", "validate_batch_shape", "validate_public_columns",
           "validate_record", "verified_records", "verify_batch_records", "verify_proof"]


# -- strict JSON input and identifiers ------------------------------------------------------
MAX_JSON_DEPTH = 32


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise RecordError(f"key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _refuse_constant(name: str) -> Any:
    raise RecordError(f"{name} is not a JSON number; send finite numbers only")


class BigNumber(float):
    """A JSON number token that is an integer outside ±(2^53−1). In the data model it is
    the double it denotes (RFC 8785 numbers are doubles: ``canonical`` writes it back as
    that double); ``exact`` keeps its digits for where a 64-bit integer is expected."""

    exact: int

    def __new__(cls, exact: int) -> "BigNumber":
        number = super().__new__(cls, float(exact))
        number.exact = exact
        return number


def _parse_int(text: str) -> int | float:
    number = int(text)
    if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
        return number
    try:
        return BigNumber(number)
    except OverflowError:
        raise RecordError(f"number {text:.40} is beyond the range of a 64-bit float") from None


def _parse_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise RecordError(f"number {text:.40} is beyond the range of a 64-bit float")
    return number


def _depth(value: Any, limit: int) -> None:
    """RecordError when containers nest deeper than ``limit``; only containers are visited
    (a batch of records is mostly scalars)."""
    if not isinstance(value, (dict, list)):
        return
    stack = [(value, 1)]
    containers = (dict, list)
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise RecordError(f"nesting deeper than {limit} levels")
        children = item.values() if type(item) is dict else item
        if len(children) > 8 and dict not in (kinds := set(map(type, children))) and \
                list not in kinds:
            continue  # a column of scalars (a batch's public fields): no Python per value
        for child in children:
            if type(child) in containers:
                stack.append((child, depth + 1))


def parse_json(text: str | bytes, what: str = "argument") -> Any:
    """Strict JSON as every ledgerlake input is read: UTF-8, no duplicate keys (the block
    keeps the raw text, and a reader that keeps the first of two keys would see something
    else), no NaN or Infinity (nor numbers beyond a double's range), at most
    ``MAX_JSON_DEPTH`` levels. An integer token outside ±(2^53−1) becomes a ``BigNumber``
    (see the module's integer rule). Raises RecordError naming ``what``."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise RecordError(f"{what} must be UTF-8 text") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates,
                           parse_constant=_refuse_constant, parse_int=_parse_int,
                           parse_float=_parse_float)
    except RecordError as exc:
        raise RecordError(f"{what}: {exc}") from None
    except RecursionError:
        raise RecordError(f"{what}: nesting deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:
        raise RecordError(f"{what} must be JSON ({exc})") from None
    try:
        _depth(value, MAX_JSON_DEPTH)
    except RecordError as exc:
        raise RecordError(f"{what}: {exc}") from None
    return value


#: The one rule for identifiers: MSP IDs, stream ids, source ids and field names.
IDENTIFIER = NAME


def check_identifier(value: Any, what: str) -> str:
    """``value`` if it is an identifier (a letter, then up to 63 letters, digits, '_', '.'
    or '-'), else RecordError naming ``what``."""
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        raise RecordError(f"{what} must be an identifier like 'Org1MSP' or 'plant-sensors' "
                          f"(a letter, then up to 63 letters, digits, '_', '.' or '-')")
    return value


# -- canonical encoding, commitments, Merkle tree ------------------------------------------
def _jcs_value(value: Any) -> Any:
    """``value`` as rfc8785 takes it, with the integer rule applied: integers outside
    ±(2^53−1) become decimal strings; a BigNumber is the double it denotes."""
    kind = type(value)
    if kind is str or kind is float or value is None or kind is bool:
        return value
    if kind is int:
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if kind is dict:
        return {key: _jcs_value(item) for key, item in value.items()}
    if kind is list:
        return [_jcs_value(item) for item in value]
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        value = int(value)
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return {key: _jcs_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jcs_value(item) for item in value]
    raise RecordError(f"a {type(value).__name__} has no canonical JSON form")


_quote = json.encoder.encode_basestring  # RFC 8785 string escaping, as JCS specifies it


class _Unsupported(Exception):
    """A value the fast writer leaves to ``rfc8785`` (which decides or refuses it)."""


def _jcs_float(number: float) -> str:
    """A double as ECMAScript's Number::toString writes it (RFC 8785 §3.2.2.3), from the
    shortest round-trip digits Python's ``repr`` finds (the same digits JavaScript finds)."""
    if number == 0.0:
        return "0"
    text = repr(number)
    if "e" not in text:
        if text[-1] == "n" or text[-1] == "f":  # nan, inf, -inf
            raise _Unsupported
        return text[:-2] if text.endswith(".0") else text  # 1e-4 <= |x| < 1e16
    sign = "-" if text[0] == "-" else ""
    mantissa, exponent = text.lstrip("-").split("e")
    digits = mantissa.replace(".", "")
    k, n = len(digits), int(exponent) + 1  # number = 0.digits × 10^n
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * -n + digits
    else:
        e = n - 1
        body = (digits[0] + ("." + digits[1:] if k > 1 else "") + "e" +
                ("+" if e >= 0 else "-") + str(abs(e)))
    return sign + body


#: Per key set (in insertion order): the keys in canonical order, each with its written
#: prefix ``"key":``. Records of one schema share a handful of key sets; only small sets
#: of short keys are kept, and only so many, so hostile input cannot grow it far (at most
#: _KEY_ORDER_SETS × _KEY_ORDER_KEYS keys of up to NAME's 64 characters, about 4 MB).
_KEY_ORDERS: dict[tuple, tuple[tuple[str, str], ...]] = {}
_KEY_ORDER_SETS, _KEY_ORDER_KEYS = 256, 256


def _key_order(keys: tuple) -> tuple[tuple[str, str], ...]:
    order = _KEY_ORDERS.get(keys)
    if order is None:
        if not all(type(k) is str and k.isascii() for k in keys):
            raise _Unsupported  # UTF-16 key order and non-string keys: rfc8785 decides
        order = tuple((k, _quote(k) + ":") for k in sorted(keys))
        if len(_KEY_ORDERS) < _KEY_ORDER_SETS and len(keys) <= _KEY_ORDER_KEYS and \
                all(len(k) <= 64 for k in keys):
            _KEY_ORDERS[keys] = order
    return order


def _write(value: Any, out: list) -> None:
    """Append the canonical text of plain JSON data (exact types: dict with str keys,
    list, str, int, float, bool, None) to ``out``; _Unsupported for anything else."""
    kind = type(value)
    if kind is str:
        out.append(_quote(value))
    elif kind is dict:
        sep = "{"
        for key, prefix in _key_order(tuple(value)):
            out.append(sep)
            out.append(prefix)
            item = value[key]
            if type(item) is str:
                out.append(_quote(item))
            else:
                _write(item, out)
            sep = ","
        out.append("}" if sep == "," else "{}")
    elif kind is list:
        if len(value) > 8:  # a batch's public column: all strings or all integers, in C
            kinds = set(map(type, value))
            if kinds == {str}:
                out.append("[" + ",".join(map(_quote, value)) + "]")
                return
            if kinds == {int} and -MAX_SAFE_INTEGER <= min(value) and \
                    max(value) <= MAX_SAFE_INTEGER:
                out.append("[" + ",".join(map(str, value)) + "]")
                return
        sep = "["
        for item in value:
            out.append(sep)
            _write(item, out)
            sep = ","
        out.append("]" if sep == "," else "[]")
    elif kind is int:
        out.append(str(value) if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
                   else f'"{value}"')
    elif kind is float:
        out.append(_jcs_float(value))
    elif value is None:
        out.append("null")
    elif kind is bool:
        out.append("true" if value else "false")
    else:
        raise _Unsupported


def _fast_canonical(value: Any) -> bytes | None:
    """The canonical form of plain JSON data, written directly (the common case, several
    times faster than the general path), or None to leave it to ``rfc8785``. Byte for byte
    what the general path writes: tests/unit/test_canonical_fast.py compares them."""
    out: list = []
    try:
        _write(value, out)
        return "".join(out).encode("utf-8")
    except (_Unsupported, UnicodeEncodeError, RecursionError):
        return None


def canonical(value: Any) -> bytes:
    """The canonical form: RFC 8785 (JCS) UTF-8 bytes, integers outside ±(2^53−1) written
    as decimal strings (the module's integer rule). Raises RecordError for NaN, Infinity,
    lone surrogates, non-string keys and types JSON does not have."""
    fast = _fast_canonical(value)
    if fast is not None:
        return fast
    try:
        return rfc8785.dumps(_jcs_value(value))
    except rfc8785.CanonicalizationError as exc:
        raise RecordError(f"value cannot be encoded canonically: {exc}") from None
    except UnicodeError:  # rfc8785 sorts keys as UTF-16, which a lone surrogate breaks
        raise RecordError("value cannot be encoded canonically: an object key holds a lone "
                          "surrogate (not valid Unicode)") from None
    except RecursionError:
        raise RecordError("value is nested too deeply to be encoded canonically") from None


#: A decimal string as the integer rule writes one (no sign but '-', no leading zeros).
DECIMAL = re.compile(r"-?[1-9][0-9]{0,18}")


def int64(value: Any, what: str, low: int = INT64[0], high: int = INT64[1]) -> int:
    """The integer ``value`` stands for where a 64-bit integer is expected: a JSON integer
    (exact, however large) or, outside ±(2^53−1), its decimal string. Raises RecordError
    naming ``what`` otherwise, or when it lies outside [low, high]."""
    if isinstance(value, BigNumber):
        number = value.exact
    elif isinstance(value, int) and not isinstance(value, bool):
        number = int(value)
    elif isinstance(value, str) and DECIMAL.fullmatch(value):
        number = int(value)
        if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
            raise RecordError(f"{what} = {value!r}: an integer within ±(2^53-1) is written as "
                              f"a JSON number, not a string")
    else:
        raise RecordError(f"{what} must be a 64-bit integer (a JSON integer, or a decimal "
                          f"string beyond ±(2^53-1)), not {type(value).__name__} {value!r:.40}")
    if not low <= number <= high:
        raise RecordError(f"{what} must be from {low} to {high}, not {number}")
    return number


def commitment(salt: bytes, record: Mapping[str, Any]) -> bytes:
    """``SHA-256(salt ‖ canonical record)``; commit to the normalised record
    (``validate_record``) so every writer of the same value commits to the same bytes."""
    return hashlib.sha256(salt + canonical(record)).digest()


def seal_records(rows: Sequence[Mapping[str, Any]], salts: Sequence[bytes],
                 cursor: Any = None) -> tuple[list[bytes], bytes]:
    """The commitments of normalised ``rows`` and the batch's plaintext, the canonical form
    of ``{"records": rows, "salts": [hex salts]}`` (with ``"cursor"`` first when one is
    given, see ``batch_plaintext``), built from each record's canonical bytes (an RFC 8785
    array is its elements' canonical forms, comma-separated) so each record is encoded
    once."""
    encoded = [canonical(row) for row in rows]
    leaves = [hashlib.sha256(salt + body).digest() for salt, body in zip(salts, encoded)]
    head = b'{"records":[' if cursor is None else \
        b'{"cursor":' + cursor_bytes(cursor) + b',"records":['
    plaintext = b"".join((head, b",".join(encoded), b'],"salts":[',
                          b",".join(b'"' + salt.hex().encode() + b'"' for salt in salts),
                          b"]}"))
    return leaves, plaintext


def _parent(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root over commitments; an odd node is carried up unchanged (never duplicated)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    while len(level) > 1:
        nxt = [_parent(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[tuple[str, bytes]]:
    """Sibling hashes from leaf ``index`` up to the root, each with the side it sits on."""
    proof, level, i = [], list(leaves), index
    while len(level) > 1:
        sibling = i ^ 1
        if sibling < len(level):
            proof.append(("left" if sibling < i else "right", level[sibling]))
        nxt = [_parent(level[j], level[j + 1]) for j in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level, i = nxt, i // 2
    return proof


def verify_proof(leaf: bytes, proof: Sequence[tuple[str, bytes]], root: bytes) -> bool:
    node = leaf
    for side, sibling in proof:
        node = _parent(sibling, node) if side == "left" else _parent(node, sibling)
    return node == root


# -- schema ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    name: str
    type: str
    unit: str = ""
    min: float | None = None
    max: float | None = None
    public: bool = False
    required: bool = True


@dataclass(frozen=True)
class Schema:
    version: int
    fields: tuple[Field, ...] = field(default_factory=tuple)

    @cached_property
    def public_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.public)

    @cached_property
    def names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    def to_mapping(self) -> dict:
        return {"version": self.version, "fields": [asdict(f) for f in self.fields]}

    @classmethod
    def from_mapping(cls, data: Any) -> "Schema":
        if not isinstance(data, Mapping):
            raise RecordError("schema must be a mapping with 'version' and 'fields'")
        version = int64(data.get("version", 1), "schema.version", 1, INT64[1])
        raw = data.get("fields")
        if not isinstance(raw, list) or not raw:
            raise RecordError("schema.fields must be a non-empty list")
        fields, seen = [], set()
        for i, f in enumerate(raw):
            where = f"schema.fields[{i}]"
            if not isinstance(f, Mapping):
                raise RecordError(f"{where} must be a mapping")
            unknown = set(f) - set(Field.__dataclass_fields__)
            if unknown:
                raise RecordError(f"{where}.{sorted(unknown)[0]} is not a field property")
            name = f.get("name")
            if not isinstance(name, str) or not NAME.fullmatch(name):
                raise RecordError(f"{where}.name must be a name like 'temperature_c'")
            if name in seen:
                raise RecordError(f"{where}.name {name!r} appears twice")
            seen.add(name)
            if f.get("type") not in FIELD_TYPES:
                raise RecordError(f"{where}.type must be one of {', '.join(FIELD_TYPES)}")
            bounds: dict[str, Any] = {}
            for bound in ("min", "max"):
                b = f.get(bound)
                if b is None:
                    bounds[bound] = None
                elif f["type"] in ("int", "timestamp"):  # exact, by the integer rule
                    bounds[bound] = int64(b, f"{where}.{bound}")
                elif f["type"] == "float":
                    if isinstance(b, bool) or not isinstance(b, (int, float)):
                        raise RecordError(f"{where}.{bound} must be a number")
                    bounds[bound] = b
                else:
                    raise RecordError(f"{where}.{bound} applies only to int, float and "
                                      f"timestamp fields")
            if bounds["min"] is not None and bounds["max"] is not None and \
                    bounds["min"] > bounds["max"]:
                raise RecordError(f"{where}: min is above max")
            for flag in ("public", "required"):
                if flag in f and not isinstance(f[flag], bool):
                    raise RecordError(f"{where}.{flag} must be true or false")
            fields.append(Field(name, f["type"], str(f.get("unit", "")), bounds["min"],
                                bounds["max"], f.get("public", False), f.get("required", True)))
        return cls(version, tuple(fields))


def _wrong_type(f: Field, value: Any, where: str) -> RecordError:
    return RecordError(f"{where}: field {f.name!r} must be of type {f.type} (64-bit for "
                       f"numbers), not {type(value).__name__} {value!r:.40}")


def check_value(f: Field, value: Any, where: str) -> Any:
    """``value`` normalised for field ``f`` (an ``int``/``timestamp`` as int, a ``float`` as
    float); raise RecordError unless it has the field's type and lies in its range."""
    if value is None:
        if f.required:
            raise RecordError(f"{where}: field {f.name!r} is required")
        return None
    kind = f.type
    if kind == "int" or kind == "timestamp":
        if type(value) is not int:  # the common case skips int64's checks
            if isinstance(value, float) and not isinstance(value, BigNumber):
                raise _wrong_type(f, value, where)
            try:
                value = int64(value, f.name)
            except RecordError:
                hint = ("; decimal strings are only for integers beyond ±(2^53-1)"
                        if isinstance(value, str) else "")
                raise RecordError(f"{_wrong_type(f, value, where)}{hint}") from None
        if not (0 if kind == "timestamp" else INT64[0]) <= value <= INT64[1]:
            raise _wrong_type(f, value, where)
    elif kind == "float":
        if type(value) is not float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _wrong_type(f, value, where)
            try:
                value = float(value)
            except OverflowError:
                raise _wrong_type(f, value, where) from None
        if not math.isfinite(value):
            raise _wrong_type(f, value, where)
    else:
        if not isinstance(value, str if kind == "string" else bool):
            raise _wrong_type(f, value, where)
        return value
    if f.min is not None and value < f.min:
        raise RecordError(f"{where}: field {f.name!r} = {value} is below its minimum {f.min}")
    if f.max is not None and value > f.max:
        raise RecordError(f"{where}: field {f.name!r} = {value} is above its maximum {f.max}")
    return value


def validate_record(schema: Schema, record: Any, where: str = "record") -> dict:
    """The record normalised (see ``check_value``), keeping exactly the fields it has; raise
    RecordError unless it follows ``schema``. Commitments are over the normalised record."""
    if not isinstance(record, Mapping):
        raise RecordError(f"{where} must be a mapping of field names to values")
    extra = sorted(set(record) - schema.names, key=str)
    if extra:
        raise RecordError(f"{where}: field {extra[0]!r} is not in schema version {schema.version}")
    normal = {}
    for f in schema.fields:
        value = check_value(f, record.get(f.name), where)
        if f.name in record:
            normal[f.name] = value
    return normal


def public_columns(schema: Schema, rows: Sequence[Mapping[str, Any]]) -> dict:
    """A batch's clear-text public fields: one column (a list, one value per record, in
    record order) per public field of ``schema``, ``{}`` when it has none."""
    return {f.name: [row.get(f.name) for row in rows] for f in schema.public_fields}


def validate_public_columns(schema: Schema, public: Any, count: int,
                            where: str = "batch.public") -> dict:
    """A batch's public fields: exactly one column per public field of ``schema``, each of
    ``count`` values of the field's type; returned normalised (see ``check_value``)."""
    if not isinstance(public, Mapping):
        raise RecordError(f"{where} must map each public field to a list of its values")
    wanted = [f.name for f in schema.public_fields]
    if set(public) != set(wanted):
        raise RecordError(f"{where} must hold exactly the public fields "
                          f"{sorted(wanted)}, not {sorted(public, key=str)[:64]}")
    columns = {}
    for f in schema.public_fields:
        column = public[f.name]
        if not isinstance(column, list) or len(column) != count:
            raise RecordError(f"{where}.{f.name} must list one value per record ({count})")
        columns[f.name] = [check_value(f, value, f"{where}.{f.name}[{i}]")
                           for i, value in enumerate(column)]
    return columns


# -- batches --------------------------------------------------------------------------------
BATCH_FIELDS = ("stream", "source", "seq", "prev_hash", "schema_version", "time_start",
                "time_end", "record_count", "merkle_root", "public", "key_epoch", "payload")


def batch_id(batch: Mapping[str, Any]) -> str:
    """The content-derived id: SHA-256 of the canonical batch without its id. It is also the
    hash the next batch of the same source names as ``prev_hash``. The batch is its header:
    the payload field holds the ciphertext's SHA-256 and size, not the ciphertext, so the
    header alone reproduces the id and the id binds the ciphertext (``ciphertext_matches``)."""
    return hashlib.sha256(canonical({k: batch.get(k) for k in BATCH_FIELDS})).hexdigest()


#: The batch payload: how the plaintext is encoded, where the ciphertext is and the digest
#: that binds it to the batch. ``{encoding, nonce, sha256, size}``: the ciphertext travels as
#: SubmitBatch's second argument (raw bytes) and is kept in the block only; with ``uri`` too,
#: it lives off-chain at ``uri`` (content-addressed by ``sha256``). ``sha256`` is the hex
#: SHA-256 of the ciphertext bytes (AES-256-GCM output with its tag), ``size`` their length.
PAYLOAD_INLINE = frozenset({"encoding", "nonce", "sha256", "size"})
PAYLOAD_OFFCHAIN = PAYLOAD_INLINE | {"uri"}
MAX_URI = 2048
#: What is encrypted: the canonical JSON plaintext (``seal_records``) as it is, or compressed
#: with DEFLATE in a zlib stream (RFC 1950: Python's zlib, Node's zlib, the browsers'
#: DecompressionStream("deflate"), Go's compress/zlib). Compression takes a batch of small
#: records to a quarter to a third of their size; the ciphertext's length then also tells
#: how compressible the records were (choose "json" where that matters).
PAYLOAD_ENCODINGS = ("json", "json+deflate")
#: The largest plaintext a payload may decode to (a bound against decompression bombs).
MAX_PLAINTEXT_BYTES = 64 * 2**20


def encode_plaintext(plaintext: bytes, encoding: str) -> bytes:
    """What is encrypted for ``plaintext`` (canonical JSON) under ``encoding``."""
    if encoding == "json+deflate":
        return zlib.compress(plaintext, 1)
    if encoding == "json":
        return plaintext
    raise RecordError(f"payload encoding must be one of {', '.join(PAYLOAD_ENCODINGS)}")


def decode_plaintext(data: bytes, encoding: str, where: str) -> bytes:
    """The canonical JSON plaintext a decrypted payload holds; RecordError naming ``where``
    when it does not decode (or decodes to more than ``MAX_PLAINTEXT_BYTES``)."""
    if encoding == "json":
        return data
    if encoding != "json+deflate":
        raise RecordError(f"{where}: payload encoding must be one of "
                          f"{', '.join(PAYLOAD_ENCODINGS)}")
    inflater = _inflate.decompressobj()
    try:
        plaintext = inflater.decompress(data, MAX_PLAINTEXT_BYTES)
    except _inflate.error:
        raise RecordError(f"{where} is not a zlib (DEFLATE) stream") from None
    if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
        raise RecordError(f"{where} does not decode to one zlib stream of at most "
                          f"{MAX_PLAINTEXT_BYTES} bytes")
    return plaintext


def check_payload(payload: Any) -> None:
    """RecordError unless ``payload`` is one of the two payload forms, well formed."""
    if not isinstance(payload, Mapping) or set(payload) not in (PAYLOAD_INLINE,
                                                                 PAYLOAD_OFFCHAIN):
        raise RecordError("batch.payload must be exactly {encoding, nonce, sha256, size} (the "
                          "ciphertext sent as SubmitBatch's second argument) or {encoding, "
                          "nonce, sha256, size, uri} (the ciphertext stored off-chain at uri)")
    if payload["encoding"] not in PAYLOAD_ENCODINGS:
        raise RecordError(f"batch.payload.encoding must be one of "
                          f"{', '.join(PAYLOAD_ENCODINGS)}")
    nonce = payload["nonce"]
    if not isinstance(nonce, str) or not nonce or len(nonce) > 64 or \
            not _BASE64.fullmatch(nonce):
        raise RecordError("batch.payload.nonce must be non-empty base64 (up to 64 characters)")
    if not isinstance(payload["sha256"], str) or not HEX64.fullmatch(payload["sha256"]):
        raise RecordError("batch.payload.sha256 must be the ciphertext's SHA-256 (64 "
                          "lower-case hex digits)")
    inline = "uri" not in payload
    size = payload["size"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise RecordError("batch.payload.size must be the ciphertext's length in bytes")
    if inline and size > MAX_INLINE_PAYLOAD:
        raise RecordError(f"batch.payload.size: a ciphertext of more than "
                          f"{MAX_INLINE_PAYLOAD} bytes must be stored off-chain (send 'uri')")
    if not inline and (not isinstance(payload["uri"], str) or
                       not 1 <= len(payload["uri"]) <= MAX_URI):
        raise RecordError(f"batch.payload.uri must be a string of 1 to {MAX_URI} characters")


def payload_digest(ciphertext: bytes) -> str:
    """What ``batch.payload.sha256`` holds for ``ciphertext``."""
    return hashlib.sha256(ciphertext).hexdigest()


def ciphertext_matches(payload: Mapping[str, Any], ciphertext: bytes) -> bool:
    """The one rule binding a ciphertext to its batch: its length is ``payload.size`` and its
    SHA-256 is ``payload.sha256`` (and the batch id covers both)."""
    return len(ciphertext) == payload.get("size") and \
        payload_digest(ciphertext) == payload.get("sha256")


BATCH_INTEGERS = ("seq", "schema_version", "time_start", "time_end", "record_count",
                  "key_epoch")


def validate_batch_shape(batch: Any, schema: Schema | None = None) -> Any:
    """Structure, sizes and formats of a batch, checked without any plaintext; returns
    ``batch`` with its integer fields normalised in place to ints (a copy when ``batch`` is
    read-only; they may arrive as decimal strings, see the module's integer rule) before
    its id is checked (``normalised_batch``, then the id).

    With the stream's ``schema``, the public fields are checked and normalised too. Pass it
    whenever the batch may not be in the canonical form: without it, an integer token
    beyond ±(2^53−1) in a public field is read as the double it denotes in the canonical
    form, which is not what a writer of exact JSON numbers meant by a timestamp."""
    batch = normalised_batch(batch, schema)
    if batch["id"] != batch_id(batch):
        raise RecordError("batch.id is not the hash of the batch's content")
    return batch


def normalised_batch(batch: Any, schema: Schema | None = None) -> Any:
    """``validate_batch_shape`` short of the id check: the batch in the one form its id is
    the hash of, for a checker that names the id it hashes to (``verify``)."""
    if not isinstance(batch, Mapping):
        raise RecordError("batch must be a JSON object")
    missing = [k for k in (*BATCH_FIELDS, "id") if k not in batch]
    if missing:
        raise RecordError(f"batch lacks field {missing[0]!r}")
    extra = sorted(set(batch) - {*BATCH_FIELDS, "id"})
    if extra:
        raise RecordError(f"batch field {extra[0]!r} is unknown")
    for name in ("stream", "source"):
        if not isinstance(batch[name], str) or not NAME.fullmatch(batch[name]):
            raise RecordError(f"batch.{name} must be a name like 'sensor-7'")
    if not isinstance(batch, MutableMapping):
        batch = dict(batch)
    for name in BATCH_INTEGERS:
        try:
            batch[name] = int64(batch[name], f"batch.{name}", 0, INT64[1])
        except RecordError as exc:
            raise RecordError(f"batch.{name} must be a non-negative 64-bit integer ({exc})") \
                from None
    if batch["seq"] < 1:
        raise RecordError("batch.seq starts at 1")
    if not 1 <= batch["record_count"] <= MAX_RECORDS:
        raise RecordError(f"batch.record_count must be from 1 to {MAX_RECORDS}")
    if batch["time_end"] < batch["time_start"]:
        raise RecordError("batch.time_end is before batch.time_start")
    if not HEX64.fullmatch(str(batch["merkle_root"])):
        raise RecordError("batch.merkle_root must be 64 lower-case hex digits")
    prev = batch["prev_hash"]
    if batch["seq"] == 1 and prev != "":
        raise RecordError("batch.prev_hash must be empty for seq 1")
    if batch["seq"] > 1 and not HEX64.fullmatch(str(prev)):
        raise RecordError("batch.prev_hash must be the previous batch id (64 hex digits)")
    public = batch["public"]
    if not isinstance(public, Mapping) or not all(
            isinstance(c, list) and len(c) == batch["record_count"] for c in public.values()):
        raise RecordError("batch.public must map each public field to a list of one value "
                          "per record")
    if schema is not None:
        batch["public"] = validate_public_columns(schema, public, batch["record_count"])
    check_payload(batch["payload"])
    return batch


# -- a batch's plaintext ----------------------------------------------------------------------
#: The most canonical bytes a batch plaintext's cursor may take.
MAX_CURSOR_BYTES = 4096


def cursor_bytes(cursor: Any) -> bytes:
    """A cursor's canonical bytes; RecordError when over ``MAX_CURSOR_BYTES``."""
    body = canonical(cursor)
    if len(body) > MAX_CURSOR_BYTES:
        raise RecordError(f"a batch's cursor is {len(body)} bytes in canonical form, more "
                          f"than {MAX_CURSOR_BYTES}")
    return body


def batch_plaintext(content: Any, what: str = "the plaintext") -> tuple[Any, Any, Any]:
    """The members of a decrypted batch plaintext (parsed JSON): its ``records``, their
    ``salts`` and the optional ``cursor``, the producer's position in its input after the
    batch's last record (any JSON value of at most ``MAX_CURSOR_BYTES``; encrypted with the
    records, so an ingest can resume from the ledger alone). Raises RecordError naming
    ``what`` for any other shape; the records themselves are decided by
    ``verify_batch_records``."""
    if not isinstance(content, dict) or not {"records", "salts"} <= set(content) <= \
            {"records", "salts", "cursor"}:
        raise RecordError(f"{what} must be JSON {{records: [...], salts: [...]}}, with an "
                          f"optional cursor")
    if "cursor" in content:
        cursor_bytes(content["cursor"])
    return content["records"], content["salts"], content.get("cursor")


# -- the one rule for records against their batch -------------------------------------------
SALT_HEX = re.compile(r"[0-9a-f]{32}")


def verify_batch_records(schema: Schema, batch: Mapping[str, Any], rows: Any, salts: Any,
                         where: str = "batch") -> list[bytes]:
    """Decide whether decrypted ``rows`` (with their hex ``salts``) are exactly the records
    ``batch`` commits to: one per ``record_count``, each valid under ``schema``, each equal
    to its clear-text public fields, and together hashing to ``batch.merkle_root``.
    Records are compared and committed in their normalised form (``validate_record``).

    The chaincode (plaintext sent to reader endorsers), the client (``open_batch``) and the
    sync all decide with this function (or ``verified_records``, the same decision that
    also returns the normalised records). Returns the records' commitments; raises
    ``RecordError`` naming the first record and rule broken."""
    return verified_records(schema, batch, rows, salts, where)[1]


def verified_records(schema: Schema, batch: Mapping[str, Any], rows: Any, salts: Any,
                     where: str = "batch") -> tuple[list[dict], list[bytes]]:
    """``verify_batch_records``'s decision; returns the normalised records and their
    commitments."""
    if not isinstance(rows, list) or not isinstance(salts, list):
        raise RecordError(f"{where}: records and salts must be lists")
    count = batch.get("record_count")
    if not len(rows) == len(salts) == count:
        raise RecordError(f"{where}: record and salt counts differ from record_count")
    columns = validate_public_columns(schema, batch.get("public"), count,
                                      f"{where}: public fields")
    public = [(f.name, columns[f.name]) for f in schema.public_fields]
    normal, leaves = [], []
    for i, (row, salt) in enumerate(zip(rows, salts)):
        if not isinstance(salt, str) or not SALT_HEX.fullmatch(salt):
            raise RecordError(f"{where}: record {i}: salt must be 16 bytes in lower-case hex")
        row = validate_record(schema, row, f"{where}: record {i}")
        for name, column in public:
            if row.get(name) != column[i]:
                raise RecordError(f"{where}: record {i} differs from its public fields")
        normal.append(row)
        leaves.append(commitment(bytes.fromhex(salt), row))
    if merkle_root(leaves).hex() != batch.get("merkle_root"):
        raise RecordError(f"{where}: the records' commitments do not match its merkle_root")
    return normal, leaves
