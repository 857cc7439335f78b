"""What every contract function shares: registration (arity, size bound, UTF-8, the clock
check, JSON out), access helpers, state helpers, argument checks, bounded pages and the
audit entry.

Every input a caller controls is bounded here or in the record format: whole arguments
(``MAX_ARG_BYTES``, ``MAX_BATCH_BYTES`` for a batch), texts, lists, numbers, and every
paginated answer in items (``MAX_PAGE``) and in bytes (``MAX_PAGE_BYTES``). Every refusal is
a ``ChaincodeError`` with a code from ``ledgerlake.protocol.ErrorCode``.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import re
from typing import Any, Awaitable, Callable, Iterable

from ledgerlake import records
from ledgerlake.chaincode.ledger import ChaincodeError, Ledger, composite_key
from ledgerlake.protocol import ROLES, ErrorCode, Function

# -- bounds -----------------------------------------------------------------------------------
MAX_ARG_BYTES = 64 * 2**10          # any argument but a batch
MAX_BATCH_BYTES = records.MAX_BATCH_ARGUMENT  # a SubmitBatch argument: header, ciphertext
MAX_RECEIPT_BYTES = 256 * 2**10     # a lineage receipt (up to MAX_LINEAGE_BATCHES batches)
MAX_TRANSIENT_BYTES = 16 * 2**20    # plaintext records sent to a reader endorser
MAX_TEXT = 1024                     # description, purpose, a query value
MAX_LIST = 64                       # readers, writers, lineage input streams
MAX_LINEAGE_BATCHES = 1000          # batches a lineage receipt names
MAX_SCHEMA_FIELDS = 256
MAX_UNIT = 32
MAX_SCHEMA_VERSION = 1_000_000      # at creation; an update goes up by exactly one
MAX_AGE_SECONDS = 100 * 365 * 24 * 3600
MAX_WRAPPED_KEY = 1024              # base64 characters of one wrapped data key
MAX_ORG_KEY_PEM = 1024
MAX_EPOCH = 1_000_000
MAX_PAGE = 1000
MAX_PAGE_BYTES = 2 * 2**20          # an answer stops before this, after at least one item
MAX_BOOKMARK = 512

AUDIT_INDEXES = ("actor", "stream", "action")

FUNCTIONS: dict[str, Callable[..., Awaitable[bytes]]] = {}


def invalid(message: str) -> ChaincodeError:
    return ChaincodeError(ErrorCode.INVALID_INPUT, message)


def transaction(name: Function, *, max_bytes: int = MAX_ARG_BYTES,
                binary: tuple[str, ...] = ()):
    """Register a contract function under its ``Function`` name: UTF-8 arguments of at
    most ``max_bytes`` each, in the number its signature takes; JSON result out. The
    parameters named in ``binary`` receive their argument as raw bytes (no UTF-8 rule)."""

    def register(fn):
        params = list(inspect.signature(fn).parameters.values())[1:]
        raw_args = {i for i, p in enumerate(params) if p.name in binary}
        most = len(params)
        least = sum(1 for p in params if p.default is inspect.Parameter.empty)

        async def handler(ctx: Ledger, *args: bytes) -> bytes:
            skew = abs(ctx.timestamp_ns - ctx.local_time_ns())
            if skew > records.MAX_FUTURE_SKEW_NS:
                raise ChaincodeError(
                    ErrorCode.CLOCK_SKEW,
                    f"the transaction time is {skew / 1e9:.0f} s away from the endorsing "
                    f"peer's clock (at most {records.MAX_FUTURE_SKEW_NS // 10**9} s); check "
                    f"the client's clock")
            if not least <= len(args) <= most:
                wanted = str(most) if least == most else f"{least} to {most}"
                raise invalid(f"{name}: wrong number of arguments: it takes {wanted}, "
                              f"not {len(args)}")
            texts = []
            for i, raw in enumerate(args):
                if len(raw) > max_bytes:
                    raise invalid(f"{name}: argument {i + 1} is {len(raw)} bytes, more than "
                                  f"{max_bytes}")
                if i in raw_args:
                    texts.append(bytes(raw))
                    continue
                try:
                    texts.append(bytes(raw).decode("utf-8"))
                except UnicodeDecodeError:
                    raise invalid(f"{name}: argument {i + 1} is not UTF-8 text") from None
            try:
                result = await fn(ctx, *texts)
                return records.canonical(result)
            except records.RecordError as exc:
                raise invalid(str(exc)) from None

        handler.__name__ = fn.__name__
        handler.__doc__ = fn.__doc__
        FUNCTIONS[Function(name).value] = handler
        return fn

    return register


# -- arguments --------------------------------------------------------------------------------
def parse(text: str, what: str) -> Any:
    """Strict JSON (the record format's one reader): no duplicate keys, no NaN/Infinity,
    bounded depth; and nothing canonical JSON could not write back (lone surrogates)."""
    value = records.parse_json(text, what)
    try:
        records.canonical(value)
    except records.RecordError:
        raise invalid(f"{what} holds a string that is not valid Unicode (a lone surrogate "
                      f"escape)") from None
    return value


def parse_object(text: str, what: str, allowed: Iterable[str],
                 required: Iterable[str] = ()) -> dict:
    """A JSON object with only ``allowed`` keys and every ``required`` one."""
    value = parse(text, what)
    if not isinstance(value, dict):
        raise invalid(f"{what} must be a JSON object")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise invalid(f"{what} field {unknown[0][:40]!r} is unknown; known: "
                      f"{', '.join(sorted(allowed))}")
    for key in required:
        if key not in value:
            raise invalid(f"{what} needs {key!r}")
    return value


def ident(value: Any, what: str) -> str:
    """An identifier (MSP ID, stream, source, action): the record format's one rule."""
    return records.check_identifier(value, what)


def hex64(value: Any, what: str) -> str:
    if not isinstance(value, str) or not records.HEX64.fullmatch(value):
        raise invalid(f"{what} must be 64 lower-case hex digits")
    return value


def text(value: Any, what: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise invalid(f"{what} must be a string")
    if len(value) > limit:
        raise invalid(f"{what} is longer than {limit} characters")
    return value


_INTEGER = re.compile(r"-?[0-9]{1,19}")


def integer(value: Any, what: str, low: int = 0, high: int = records.INT64[1]) -> int:
    """A 64-bit integer within [low, high] by the record format's integer rule: a JSON
    integer, or beyond ±(2^53−1) its decimal string (never a bool, a float or a small
    integer in a string)."""
    try:
        number = records.int64(value, what, -(2**256), 2**256)
    except records.RecordError:
        raise invalid(f"{what} must be an integer (a JSON integer; beyond ±(2^53-1) also its "
                      f"decimal string), not {type(value).__name__} {value!r:.40}") from None
    if not low <= number <= high:
        raise invalid(f"{what} must be from {low} to {high}")
    return number


def integer_arg(value: str, what: str, low: int = 0, high: int = records.INT64[1]) -> int:
    """A text argument holding a decimal integer within [low, high]."""
    if not isinstance(value, str) or not _INTEGER.fullmatch(value):
        raise invalid(f"{what} must be an integer, not {str(value)!r:.40}")
    return integer(int(value), what, low, high)


def page_size(value: Any) -> int:
    """A JSON page size, or the text argument of one ("" and None: the default)."""
    if value in (None, ""):
        return 100
    if isinstance(value, str):
        return integer_arg(value, "page_size", 1, MAX_PAGE)
    return integer(value, "page_size", 1, MAX_PAGE)


def bookmark(value: Any) -> str:
    if value is None:
        return ""
    return text(value, "bookmark", MAX_BOOKMARK)


def time_range(q: dict, what: str = "query") -> tuple[int, int]:
    """``time_from``/``time_to`` nanoseconds (defaults: everything), in order."""
    lo = integer(q["time_from"], "time_from") if q.get("time_from") is not None else 0
    hi = integer(q["time_to"], "time_to") if q.get("time_to") is not None else records.INT64[1]
    if lo > hi:
        raise invalid(f"{what}: time_from is after time_to")
    return lo, hi


def msp_ids(value: Any, what: str, *, empty: bool = True) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_LIST or (not empty and not value):
        raise invalid(f"{what} must be a list of up to {MAX_LIST} MSP IDs"
                      + ("" if empty else " (at least one)"))
    return sorted({ident(m, f"{what}[{i}]") for i, m in enumerate(value)})


def wrapped_key(value: Any, what: str) -> str:
    """A data key wrapped for one organisation: non-empty base64, bounded."""
    if not isinstance(value, str) or not value or len(value) > MAX_WRAPPED_KEY:
        raise invalid(f"{what} must be a non-empty base64 string of at most "
                      f"{MAX_WRAPPED_KEY} characters")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{what} must be a non-empty base64 string") from None
    return value


def wrapped_keys(keys: Any, readers: list[str], what: str) -> dict:
    if not isinstance(keys, dict) or set(keys) != set(readers):
        shown = sorted(keys)[:MAX_LIST] if isinstance(keys, dict) else type(keys).__name__
        raise invalid(f"{what} must hold one wrapped key per reader org {sorted(readers)}, "
                      f"not {shown}")
    return {msp: wrapped_key(k, f"{what}[{msp!r}]") for msp, k in keys.items()}


def writers(value: Any) -> dict:
    if not isinstance(value, dict) or set(value) - {"msp_ids", "roles"}:
        raise invalid('writers must be {"msp_ids": [...], "roles": [...]}')
    roles = value.get("roles", ["producer"])
    if not isinstance(roles, list) or not roles or len(roles) > len(ROLES) * 2 or \
            not all(isinstance(r, str) and r in ROLES for r in roles):
        raise invalid(f"writers.roles must be a list of {', '.join(ROLES)}")
    return {"msp_ids": msp_ids(value.get("msp_ids"), "writers.msp_ids", empty=False),
            "roles": sorted(set(roles))}


def schema(value: Any, *, version_from: int | None = None) -> records.Schema:
    """A stream schema (the record format's rules) with contract bounds: field count and
    unit length, and a version that stays reachable (at creation at most
    ``MAX_SCHEMA_VERSION``; on update exactly one above ``version_from``)."""
    if isinstance(value, dict):
        fields = value.get("fields")
        if isinstance(fields, list) and len(fields) > MAX_SCHEMA_FIELDS:
            raise invalid(f"schema.fields holds more than {MAX_SCHEMA_FIELDS} fields")
        for i, f in enumerate(fields if isinstance(fields, list) else ()):
            if isinstance(f, dict) and "unit" in f:
                text(f["unit"], f"schema.fields[{i}].unit", MAX_UNIT)
    parsed = records.Schema.from_mapping(value)
    if version_from is None and parsed.version > MAX_SCHEMA_VERSION:
        raise invalid(f"schema.version must be from 1 to {MAX_SCHEMA_VERSION}")
    if version_from is not None and parsed.version != version_from + 1:
        raise ChaincodeError(ErrorCode.CONFLICT, f"a new schema's version must be "
                                                 f"{version_from + 1} (one above the current)")
    return parsed


def max_age(value: Any) -> int:
    return integer(value, "max_age_seconds", 1, MAX_AGE_SECONDS)


# -- access -----------------------------------------------------------------------------------
def deny(rule: str, why: str) -> ChaincodeError:
    return ChaincodeError(ErrorCode.ACCESS_DENIED, f"access denied by rule '{rule}': {why}")


def require_role(ctx: Ledger, rule: str, *roles: str) -> None:
    creator = ctx.creator()
    if creator.role not in roles:
        raise deny(rule, f"needs role {' or '.join(roles)}; {creator.msp_id} identity "
                         f"{creator.enrollment_id[:64]!r} has role {creator.role or 'none'!r}")


def require_owner_admin(ctx: Ledger, stream: dict, rule: str) -> None:
    require_role(ctx, rule, "admin")
    if ctx.creator().msp_id != stream["owner"]:
        raise deny(rule, f"only admins of {stream['owner']} manage stream {stream['id']!r}")


# -- state ------------------------------------------------------------------------------------
def ts(ns: int) -> str:
    return f"{ns:020d}"


def stored(raw: bytes) -> Any:
    """A value this contract wrote (canonical JSON), read back by the record format's
    reader, so a number keeps the form it was written in (see the integer rule)."""
    return records.parse_json(raw, "stored state")


async def get(ctx: Ledger, key: str) -> Any:
    raw = await ctx.get_state(key)
    return stored(raw) if raw else None


async def put(ctx: Ledger, key: str, value: Any) -> None:
    await ctx.put_state(key, records.canonical(value))


async def load_stream(ctx: Ledger, stream_id: str) -> dict:
    ident(stream_id, "stream id")
    stream = await get(ctx, composite_key("stream", stream_id))
    if stream is None:
        raise ChaincodeError(ErrorCode.NOT_FOUND, f"stream {stream_id!r} does not exist")
    return stream


async def store_grants(ctx: Ledger, stream_id: str, epoch: int, keys: dict) -> None:
    for msp, wrapped in keys.items():
        await ctx.put_state(composite_key("grant", stream_id, str(epoch), msp), wrapped.encode())


def bounded_page(rows: list[tuple[str, Any]], mark: str, size_of: Callable[[Any], int]) \
        -> tuple[list[Any], str]:
    """Items of a page, cut before ``MAX_PAGE_BYTES`` (after at least one item); the
    bookmark then names the first item left out, so the next page starts there."""
    items, total = [], 0
    for i, (key, item) in enumerate(rows):
        size = size_of(item)
        if items and total + size > MAX_PAGE_BYTES:
            return items, key
        items.append(item)
        total += size
    return items, mark


def page_of_json(rows: list[tuple[str, bytes]], mark: str) -> dict:
    """A page of stored JSON values, bounded in bytes as well as items."""
    items, mark = bounded_page([(k, v) for k, v in rows], mark, len)
    return {"items": [stored(v) for v in items], "bookmark": mark}


# -- audit ------------------------------------------------------------------------------------
async def audit(ctx: Ledger, action: str, target: dict, *, streams: Iterable[str] = (),
                **extra: Any) -> dict:
    """Write the transaction's audit entry (and its index keys) and emit its event. The
    entry is indexed under ``target['stream']`` and every one of ``streams``."""
    creator = ctx.creator()
    entry = {"tx_id": ctx.tx_id, "time": ctx.timestamp_ns, "action": action,
             "actor": {"msp_id": creator.msp_id, "id": creator.enrollment_id,
                       "role": creator.role},
             "target": target, "outcome": "ok", **extra}
    stamp = ts(ctx.timestamp_ns)
    await put(ctx, composite_key("audit", ctx.tx_id), entry)
    indexed = [("actor", f"{creator.msp_id}/{creator.enrollment_id}"), ("action", action)]
    indexed += [("stream", s) for s in sorted({target.get("stream", ""), *streams}) if s]
    for index, value in indexed:
        await put(ctx, composite_key(f"audit~{index}", value, stamp, ctx.tx_id), entry)
    await put(ctx, composite_key("audit~time", stamp, ctx.tx_id), entry)
    ctx.set_event(action, records.canonical({"type": action, "tx_id": ctx.tx_id, **target}))
    return entry


__all__ = ["AUDIT_INDEXES", "FUNCTIONS", "MAX_PAGE", "audit", "deny", "load_stream",
           "require_owner_admin", "require_role", "transaction"]
