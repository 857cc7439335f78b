"""What every contract function shares: registration (JSON in, JSON out, the
clock check), access helpers, state helpers, argument checks and the audit entry."""

import base64
import hashlib
import json
import re
from typing import Any, Awaitable, Callable

from ledgerlake import records
from ledgerlake.protocol import ROLES, ROLE_ATTRIBUTE, Function  # noqa: F401
from ledgerlake.chaincode.ledger import (
    ChaincodeError,
    Ledger,
    composite_key,
)

MAX_PAGE = 1000
AUDIT_INDEXES = ("actor", "stream", "action")

FUNCTIONS: dict[str, Callable[..., Awaitable[Any]]] = {}


def transaction(name: Function):
    """Register a contract function: JSON arguments in, JSON result out."""

    def register(fn):
        async def handler(ctx: Ledger, *args: bytes) -> bytes:
            skew = abs(ctx.timestamp_ns - ctx.local_time_ns())
            if skew > records.MAX_FUTURE_SKEW_NS:
                raise ChaincodeError(
                    f"the transaction time is {skew / 1e9:.0f} s away from the endorsing "
                    f"peer's clock (at most {records.MAX_FUTURE_SKEW_NS // 10**9} s); check "
                    f"the client's clock")
            try:
                result = await fn(ctx, *(a.decode() for a in args))
            except UnicodeDecodeError:
                raise ChaincodeError(f"{name}: arguments must be UTF-8 text") from None
            except records.RecordError as exc:
                raise ChaincodeError(f"invalid input: {exc}") from None
            except TypeError as exc:
                if "positional argument" in str(exc):
                    raise ChaincodeError(f"{name}: wrong number of arguments") from None
                raise
            return records.canonical(result)

        handler.__name__ = fn.__name__
        handler.__doc__ = fn.__doc__
        FUNCTIONS[name] = handler
        return fn

    return register


# -- helpers --------------------------------------------------------------------------------
def _ts(ns: int) -> str:
    return f"{ns:020d}"


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ChaincodeError(f"{what} must be JSON") from None


def deny(rule: str, why: str) -> ChaincodeError:
    return ChaincodeError(f"access denied by rule '{rule}': {why}")


def require_role(ctx: Ledger, rule: str, *roles: str) -> None:
    creator = ctx.creator()
    if creator.role not in roles:
        raise deny(rule, f"needs role {' or '.join(roles)}; {creator.msp_id} identity "
                         f"{creator.enrollment_id!r} has role {creator.role or 'none'!r}")


async def _get(ctx: Ledger, key: str) -> Any:
    raw = await ctx.get_state(key)
    return json.loads(raw) if raw else None


async def _put(ctx: Ledger, key: str, value: Any) -> None:
    await ctx.put_state(key, records.canonical(value))


async def load_stream(ctx: Ledger, stream_id: str) -> dict:
    stream = await _get(ctx, composite_key("stream", stream_id))
    if stream is None:
        raise ChaincodeError(f"stream {stream_id!r} does not exist")
    return stream


def require_owner_admin(ctx: Ledger, stream: dict, rule: str) -> None:
    require_role(ctx, rule, "admin")
    if ctx.creator().msp_id != stream["owner"]:
        raise deny(rule, f"only admins of {stream['owner']} manage stream {stream['id']!r}")


def _int(value: Any, what: str, low: int = 0, high: int = records.INT64[1]) -> int:
    """An integer argument within [low, high], or a ChaincodeError naming it."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ChaincodeError(f"{what} must be an integer, not {value!r:.40}") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise ChaincodeError(f"{what} must be from {low} to {high}")
    return number


def _page(page_size: Any) -> int:
    if page_size in (None, ""):
        return 100
    try:
        size = int(page_size)
    except (TypeError, ValueError):
        raise ChaincodeError("page_size must be an integer") from None
    if not 1 <= size <= MAX_PAGE:
        raise ChaincodeError(f"page_size must be from 1 to {MAX_PAGE}")
    return size


async def audit(ctx: Ledger, action: str, target: dict, **extra: Any) -> dict:
    """Write the transaction's audit entry (and its index keys) and emit its event."""
    creator = ctx.creator()
    entry = {"tx_id": ctx.tx_id, "time": ctx.timestamp_ns, "action": action,
             "actor": {"msp_id": creator.msp_id, "id": creator.enrollment_id,
                       "role": creator.role},
             "target": target, "outcome": "ok", **extra}
    ts = _ts(ctx.timestamp_ns)
    await _put(ctx, composite_key("audit", ctx.tx_id), entry)
    index_values = {"actor": f"{creator.msp_id}/{creator.enrollment_id}",
                    "stream": target.get("stream", ""), "action": action}
    for index, value in index_values.items():
        if value:
            await _put(ctx, composite_key(f"audit~{index}", value, ts, ctx.tx_id), entry)
    await _put(ctx, composite_key("audit~time", ts, ctx.tx_id), entry)
    ctx.set_event(action, records.canonical({"type": action, "tx_id": ctx.tx_id, **target}))
    return entry


def _check_wrapped(keys: Any, readers: list[str], what: str) -> dict:
    if not isinstance(keys, dict) or set(keys) != set(readers):
        raise ChaincodeError(f"{what} must hold one wrapped key per reader org "
                             f"{sorted(readers)}, not {sorted(keys) if isinstance(keys, dict) else keys!r}")
    for msp, wrapped in keys.items():
        try:
            if not base64.b64decode(wrapped, validate=True):
                raise ValueError
        except (ValueError, TypeError):
            raise ChaincodeError(f"{what}[{msp!r}] must be a non-empty base64 string") from None
    return keys


def _check_msps(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
        raise ChaincodeError(f"{what} must be a list of MSP IDs")
    return sorted(set(value))


def _writers(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ChaincodeError("writers must be {\"msp_ids\": [...], \"roles\": [...]}")
    roles = value.get("roles", ["producer"])
    if not isinstance(roles, list) or not roles or not set(roles) <= set(ROLES):
        raise ChaincodeError(f"writers.roles must be a list of {', '.join(ROLES)}")
    return {"msp_ids": _check_msps(value.get("msp_ids"), "writers.msp_ids"),
            "roles": sorted(set(roles))}


async def _store_grants(ctx: Ledger, stream_id: str, epoch: int, keys: dict) -> None:
    for msp, wrapped in keys.items():
        await ctx.put_state(composite_key("grant", stream_id, str(epoch), msp), wrapped.encode())

