"""The typed ledgerlake contract API: one method per contract function.

    api = LedgerlakeContract(gateway.get_network("ledgerlake").get_contract("ledgerlake"))
    stream = api.get_stream("plant-sensors")              # Stream
    for page in api.pages(api.list_streams, page_size=50):  # Page[Stream]
        ...

Each method is written once, as a flow on the client's sans-IO core (``client/rpc.py``), and
run by the contract's gateway: with a ``Gateway`` a method returns its result, with an
``AsyncGateway`` (``connect_async``) it returns an awaitable of the same result, and
``pages``/``items`` return async iterators. ``api.flows.<method>(...)`` gives the bare flow,
for composing several calls into one (as ``open_keys`` does).

Functions that change state are submitted (endorse → order → wait for the commit on the
gateway peer); reads are evaluated on one peer. ``OpenStream`` is submitted: an evaluated
one commits nothing and so opens nothing. Contract errors arrive as the Gateway's
``EndorseError`` (``.error_code`` gives the contract's stable code, e.g.
``ErrorCode.NOT_FOUND``), a transaction committed as invalid as ``CommitError``; a bad
argument is refused before any I/O with a ``ConfigError`` or ``RecordError`` naming it.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ledgerlake import records
from ledgerlake.client.models import (
    AuditEntry,
    Batch,
    BatchReceipt,
    HeadChange,
    LineageEntry,
    OrgKey,
    Page,
    Stream,
    StreamKeys,
    Ticket,
    Writers,
)
from ledgerlake.client.rpc import Flow
from ledgerlake.client.transaction import submit_flow
from ledgerlake.errors import ConfigError, LedgerlakeError
from ledgerlake.protocol import Function

AUDIT_BY = ("actor", "stream", "action", "time")
STREAM_STATUSES = ("active", "closed")


class AnswerError(LedgerlakeError):
    """The contract answered something this client cannot read (a version mismatch)."""


@dataclass(frozen=True)
class _Request:
    """The arguments of one contract call, as built by a method before any I/O."""

    args: tuple[str, ...]
    transient: Mapping[str, bytes] | None = None


def _call(function: Function, *, submit: bool, answer: Callable[[Any], Any]):
    """Make a method from ``build``, which checks and encodes the method's arguments into a
    ``_Request`` (or returns a flow answering the contract's JSON, for the few functions with
    their own protocol). The checks run at once, before any I/O, with a sync or an async
    gateway alike. The method runs the flow with the contract's gateway; the flow alone is
    the method's ``flow`` attribute."""

    def decorate(build):
        def flow(self: "LedgerlakeContract", *args, **kwargs) -> Flow:
            request = build(self, *args, **kwargs)
            if isinstance(request, _Request):
                request = _exchange(self.contract, function, submit, request)
            return _parsed(function, answer, request)

        @functools.wraps(build)
        def method(self: "LedgerlakeContract", *args, **kwargs):
            return self.contract.network.gateway.run(flow(self, *args, **kwargs))

        method.flow = flow
        method.function = function
        method.submits = submit
        method.paginated = "bookmark" in inspect.signature(build).parameters
        return method

    return decorate


def _exchange(contract, function: Function, submit: bool, request: _Request) -> Flow:
    """Evaluate, or submit and wait for the commit; the proposal (and its timestamp) is
    made when the flow runs."""
    proposal = contract.new_proposal(function, request.args, transient=request.transient)
    return (yield from (submit_flow(proposal) if submit else proposal.evaluate_flow()))


def _parsed(function: Function, parse: Callable[[Any], Any], flow: Flow) -> Flow:
    return _answer(function, parse, (yield from flow))


def _answer(function: Function, parse: Callable[[Any], Any], raw: Any):
    try:
        data = records.parse_json(raw, f"the answer of {function}") \
            if isinstance(raw, (bytes, str)) else raw
        return parse(data)
    except (records.RecordError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AnswerError(f"{function} answered what this client cannot read "
                          f"({type(exc).__name__}: {exc}); is the chaincode of the same "
                          f"version?") from None


# -- argument checks (before any I/O) -------------------------------------------------------
def _ident(value: Any, what: str) -> str:
    return records.check_identifier(value, what)


def _text(value: Any, what: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise ConfigError(f"{what} must be {'a' if empty else 'a non-empty'} string")
    return value


def _whole(value: Any, what: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{what} must be an integer of at least {low}, not {value!r:.40}")
    return value


def _paging(page_size: int | None, bookmark: str) -> dict:
    paging = {}
    if page_size is not None:
        paging["page_size"] = _whole(page_size, "page_size", 1)
    if bookmark:
        paging["bookmark"] = _text(bookmark, "bookmark")
    return paging


def _json_arg(value: Any) -> str:
    return records.canonical(value).decode()


def _schema(schema: records.Schema | Mapping) -> dict:
    if isinstance(schema, records.Schema):
        return schema.to_mapping()
    return records.Schema.from_mapping(schema).to_mapping()


def _writers(writers: Writers | Mapping) -> dict:
    if isinstance(writers, Writers):
        return writers.to_json()
    if isinstance(writers, Mapping):
        return dict(writers)
    raise ConfigError("writers must be a Writers(msp_ids, roles) or a mapping")


def _wrapped(keys: Mapping[str, str], what: str) -> dict:
    if not isinstance(keys, Mapping) or not keys:
        raise ConfigError(f"{what} must map reader MSP IDs to wrapped keys")
    return {_ident(msp, f"{what} MSP ID"): _text(k, f"{what}[{msp!r}]")
            for msp, k in keys.items()}


def _x25519_pem(pem: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(_text(pem, "public_key_pem").encode())
    except ValueError:
        key = None
    if not isinstance(key, X25519PublicKey):
        raise ConfigError("public_key_pem must be an X25519 public key in PEM "
                          "(see client.encryption.public_pem)")
    return pem


class _Flows:
    """``api.flows.get_stream("s")``: a method's bare flow, to compose with others."""

    def __init__(self, api: "LedgerlakeContract"):
        self._api = api

    def __getattr__(self, name: str):
        method = getattr(type(self._api), name, None)
        flow = getattr(method, "flow", None)
        if flow is None:
            raise AttributeError(f"{name!r} is not a contract method")
        return functools.partial(flow, self._api)


class LedgerlakeContract:
    """The ledgerlake contract through one Gateway ``Contract`` (sync or asyncio).

    ``LedgerlakeContract(contract)`` over a ``connect(...)`` gateway returns results; over a
    ``connect_async(...)`` gateway every contract method returns an awaitable (the alias
    ``AsyncLedgerlakeContract`` says so at the call site)."""

    def __init__(self, contract):
        self.contract = contract
        self.flows = _Flows(self)

    @property
    def asynchronous(self) -> bool:
        return bool(getattr(self.contract.network.gateway, "_asynchronous", False))

    def run(self, flow: Flow):
        """Run a flow (e.g. composed from ``api.flows``) with the contract's gateway."""
        return self.contract.network.gateway.run(flow)

    # -- streams ----------------------------------------------------------------------------
    @_call(Function.CREATE_STREAM, submit=True, answer=Stream.from_json)
    def create_stream(self, stream_id: str, schema: records.Schema | Mapping, *,
                      readers: Sequence[str], wrapped_keys: Mapping[str, str],
                      writers: Writers | Mapping, description: str = "",
                      max_age_seconds: int | None = None) -> Stream:
        """Create a stream owned by the caller's organisation (its admins). ``wrapped_keys``
        holds the first data key wrapped for each reader organisation."""
        reader_ids = [_ident(m, "reader MSP ID") for m in readers]
        keys = _wrapped(wrapped_keys, "wrapped_keys")
        if set(keys) != set(reader_ids):
            raise ConfigError(f"wrapped_keys must hold one key per reader {sorted(reader_ids)}, "
                              f"not for {sorted(keys)}")
        spec = {"id": _ident(stream_id, "stream id"), "schema": _schema(schema),
                "readers": reader_ids, "wrapped_keys": keys,
                "writers": _writers(writers),
                "description": _text(description, "description", empty=True)}
        if max_age_seconds is not None:
            spec["max_age_seconds"] = _whole(max_age_seconds, "max_age_seconds", 1)
        return _Request((_json_arg(spec),))

    @_call(Function.UPDATE_STREAM, submit=True, answer=Stream.from_json)
    def update_stream(self, stream_id: str, *, description: str | None = None,
                      writers: Writers | Mapping | None = None,
                      max_age_seconds: int | None = None,
                      schema: records.Schema | Mapping | None = None,
                      status: str | None = None) -> Stream:
        """Change what is given (a schema must carry a higher version); owner admins only."""
        changes: dict[str, Any] = {}
        if description is not None:
            changes["description"] = _text(description, "description", empty=True)
        if writers is not None:
            changes["writers"] = _writers(writers)
        if max_age_seconds is not None:
            changes["max_age_seconds"] = _whole(max_age_seconds, "max_age_seconds", 1)
        if schema is not None:
            changes["schema"] = _schema(schema)
        if status is not None:
            if status not in STREAM_STATUSES:
                raise ConfigError(f"status must be one of {', '.join(STREAM_STATUSES)}")
            changes["status"] = status
        if not changes:
            raise ConfigError("update_stream needs at least one change")
        return _Request((_ident(stream_id, "stream id"), _json_arg(changes)))

    @_call(Function.GET_STREAM, submit=False, answer=Stream.from_json)
    def get_stream(self, stream_id: str) -> Stream:
        """A stream's definition (any member)."""
        return _Request((_ident(stream_id, "stream id"),))

    @_call(Function.LIST_STREAMS, submit=False, answer=Page.parser(Stream.from_json))
    def list_streams(self, *, page_size: int | None = None, bookmark: str = "") -> Page[Stream]:
        """One page of streams in id order (any member)."""
        paging = _paging(page_size, bookmark)
        return _Request((str(paging.get("page_size", "")), paging.get("bookmark", "")))

    @_call(Function.GRANT_READER, submit=True, answer=Stream.from_json)
    def grant_reader(self, stream_id: str, msp_id: str, wrapped_key: str) -> Stream:
        """Make ``msp_id`` a reader, with the current epoch's data key wrapped for it."""
        return _Request((_ident(stream_id, "stream id"), _ident(msp_id, "MSP ID"),
                         _text(wrapped_key, "wrapped_key")))

    @_call(Function.REVOKE_READER, submit=True, answer=Stream.from_json)
    def revoke_reader(self, stream_id: str, msp_id: str) -> Stream:
        """Remove a reader organisation (rotate the key next)."""
        return _Request((_ident(stream_id, "stream id"), _ident(msp_id, "MSP ID")))

    @_call(Function.ROTATE_KEY, submit=True, answer=Stream.from_json)
    def rotate_key(self, stream_id: str, wrapped_keys: Mapping[str, str]) -> Stream:
        """Open the next key epoch: a new data key wrapped for every current reader."""
        return _Request((_ident(stream_id, "stream id"),
                         _json_arg(_wrapped(wrapped_keys, "wrapped_keys"))))

    @_call(Function.SHRED_EPOCH, submit=True, answer=Stream.from_json)
    def shred_epoch(self, stream_id: str, epoch: int) -> Stream:
        """Delete a past epoch's wrapped keys from world state (not from the blocks)."""
        return _Request((_ident(stream_id, "stream id"), str(_whole(epoch, "epoch", 1))))

    # -- organisation keys ------------------------------------------------------------------
    @_call(Function.REGISTER_ORG_KEY, submit=True, answer=OrgKey.from_json)
    def register_org_key(self, public_key_pem: str) -> OrgKey:
        """Publish the caller's organisation's X25519 public key (its admins)."""
        return _Request((_x25519_pem(public_key_pem),))

    @_call(Function.GET_ORG_KEY, submit=False, answer=OrgKey.from_json)
    def get_org_key(self, msp_id: str) -> OrgKey:
        """An organisation's published key (any member)."""
        return _Request((_ident(msp_id, "MSP ID"),))

    # -- batches ----------------------------------------------------------------------------
    @_call(Function.SUBMIT_BATCH, submit=True, answer=BatchReceipt.from_json)
    def submit_batch(self, sealed, *, send_plaintext: bool = False,
                     endorsing_organizations: Sequence[str] = ()) -> BatchReceipt:
        """Record a ``SealedBatch`` (``client.batches.seal_batch``), retried while another
        organisation's peer lags a block behind. ``send_plaintext`` also sends the records
        to the named endorsers (reader organisations only) for the contract to check."""
        from ledgerlake.client.batches import SealedBatch, submit_batch_flow
        if not isinstance(sealed, SealedBatch):
            raise ConfigError("submit_batch needs a SealedBatch (see client.batches.seal_batch)")
        return submit_batch_flow(self.contract, sealed, send_plaintext=send_plaintext,
                                 endorsing_organizations=list(endorsing_organizations))

    @_call(Function.GET_BATCH, submit=False, answer=Batch.from_json)
    def get_batch(self, stream_id: str, batch_id: str, *, payload: bool = True) -> Batch:
        """One batch (readers, writers, the owner's admins and auditors): its header from
        world state and, unless ``payload=False``, its ciphertext from the block holding its
        transaction (read through the peer's qscc; ``Batch.open`` checks it against the
        header). An off-chain payload is not fetched."""
        request = _Request((_ident(stream_id, "stream id"), _text(batch_id, "batch id")))
        if not payload:
            return request

        def flow():
            from ledgerlake.client.batches import fetch_batch_flow
            raw = yield from _exchange(self.contract, Function.GET_BATCH, False, request)
            header = _answer(Function.GET_BATCH, dict, raw)
            return (yield from fetch_batch_flow(self.contract.network, header))
        return flow()

    @_call(Function.LIST_BATCHES, submit=False, answer=Page.parser(Batch.from_json))
    def list_batches(self, stream_id: str, *, source: str | None = None,
                     time_from: int | None = None, time_to: int | None = None,
                     page_size: int | None = None, bookmark: str = "") -> Page[Batch]:
        """One page of a stream's batches: all in time order, one source's in sequence
        order, or those starting within [time_from, time_to) in nanoseconds."""
        query: dict[str, Any] = {"stream": _ident(stream_id, "stream id")}
        if source is not None:
            query["source"] = _ident(source, "source")
        if time_from is not None:
            query["time_from"] = _whole(time_from, "time_from")
        if time_to is not None:
            query["time_to"] = _whole(time_to, "time_to")
        query.update(_paging(page_size, bookmark))
        return _Request((_json_arg(query),))

    @_call(Function.GET_BATCH_HISTORY, submit=False, answer=Page.parser(HeadChange.from_json))
    def get_batch_history(self, stream_id: str, source: str, *, page_size: int | None = None,
                          bookmark: str = "") -> Page[HeadChange]:
        """Changes to a source's chain head, newest first."""
        args = [_ident(stream_id, "stream id"), _ident(source, "source")]
        paging = _paging(page_size, bookmark)
        if paging:  # sent only when asked for: older contracts take two arguments
            args += [str(paging.get("page_size", "")), paging.get("bookmark", "")]
        return _Request(tuple(args))

    # -- audited access ---------------------------------------------------------------------
    @_call(Function.OPEN_STREAM, submit=True, answer=Ticket.from_json)
    def open_stream(self, stream_id: str, purpose: str, *, epoch: int | None = None,
                    block_from: int | None = None, block_to: int | None = None,
                    time_from: int | None = None, time_to: int | None = None) -> Ticket:
        """Step 1 of key access (analysts of reader orgs): state a purpose and optionally a
        scope; the access is audited and a ticket issued."""
        request: dict[str, Any] = {"purpose": _text(purpose, "purpose")}
        for name, value in (("epoch", epoch), ("block_from", block_from),
                            ("block_to", block_to), ("time_from", time_from),
                            ("time_to", time_to)):
            if value is not None:
                request[name] = _whole(value, name, 1 if name == "epoch" else 0)
        for low, high in (("block_from", "block_to"), ("time_from", "time_to")):
            if low in request and high in request and request[low] > request[high]:
                raise ConfigError(f"{low} is above {high}")
        return _Request((_ident(stream_id, "stream id"), _json_arg(request)))

    @_call(Function.GET_STREAM_KEYS, submit=False, answer=StreamKeys.from_json)
    def get_stream_keys(self, stream_id: str, ticket: str | Ticket) -> StreamKeys:
        """Step 2: the organisation's wrapped data keys, against a committed ticket."""
        ticket_id = ticket.ticket if isinstance(ticket, Ticket) else ticket
        return _Request((_ident(stream_id, "stream id"), _text(ticket_id, "ticket")))

    # -- audit trail ------------------------------------------------------------------------
    @_call(Function.QUERY_AUDIT, submit=False, answer=Page.parser(AuditEntry.from_json))
    def query_audit(self, by: str = "time", value: str | None = None, *,
                    time_from: int | None = None, time_to: int | None = None,
                    page_size: int | None = None, bookmark: str = "") -> Page[AuditEntry]:
        """One page of audit entries (auditors), oldest first, by actor (``MSP/id``), stream,
        action, or only by time."""
        if by not in AUDIT_BY:
            raise ConfigError(f"by must be one of {', '.join(AUDIT_BY)}, not {by!r}")
        query: dict[str, Any] = {"by": by}
        if by != "time":
            query["value"] = _text(value, f"the {by} to query by")
        elif value is not None:
            raise ConfigError("a query by time takes no value (use time_from, time_to)")
        if time_from is not None:
            query["time_from"] = _whole(time_from, "time_from")
        if time_to is not None:
            query["time_to"] = _whole(time_to, "time_to")
        query.update(_paging(page_size, bookmark))
        return _Request((_json_arg(query),))

    # -- lineage ----------------------------------------------------------------------------
    @_call(Function.ANCHOR_LINEAGE, submit=True, answer=LineageEntry.from_json)
    def anchor_lineage(self, receipt: Mapping[str, Any]) -> LineageEntry:
        """Anchor an analytics run's lineage receipt (``inputs``, ``code_version``,
        ``outputs``); its id is the hash of its content."""
        if not isinstance(receipt, Mapping):
            raise ConfigError("a lineage receipt must be a mapping")
        return _Request((_json_arg(dict(receipt)),))

    @_call(Function.GET_LINEAGE, submit=False, answer=LineageEntry.from_json)
    def get_lineage(self, receipt_id: str) -> LineageEntry:
        """An anchored receipt (analysts and auditors)."""
        return _Request((_text(receipt_id, "receipt id"),))

    # -- compositions -----------------------------------------------------------------------
    def open_keys(self, stream_id: str, purpose: str, org_key, **scope):
        """OpenStream then GetStreamKeys, unwrapped with the organisation's X25519 private
        key: ``{epoch: data key}`` (an awaitable with an async gateway)."""
        def flow():
            ticket = yield from self.flows.open_stream(stream_id, purpose, **scope)
            keys = yield from self.flows.get_stream_keys(stream_id, ticket)
            return keys.unwrap(org_key)
        return self.run(flow())

    def pages(self, method: Callable, *args, **kwargs):
        """Every page of a paginated method (``list_streams``, ``list_batches``,
        ``query_audit``, ``get_batch_history``), following bookmarks: an iterator, or an
        async iterator with an async gateway. Stops after the page with no bookmark."""
        flow = getattr(method, "flow", None)
        if flow is None or not method.paginated or getattr(method, "__self__", None) is not self:
            raise ConfigError("pages() takes a paginated method of this contract, e.g. "
                              "api.list_streams")
        start = kwargs.pop("bookmark", "")

        def page_flow(bookmark):
            return flow(self, *args, **kwargs, bookmark=bookmark)

        if self.asynchronous:
            async def walk():
                bookmark = start
                while True:
                    page = await self.run(page_flow(bookmark))
                    yield page
                    if not page.bookmark or page.bookmark == bookmark:
                        return
                    bookmark = page.bookmark
            return walk()

        def walk_sync():
            bookmark = start
            while True:
                page = self.run(page_flow(bookmark))
                yield page
                if not page.bookmark or page.bookmark == bookmark:
                    return
                bookmark = page.bookmark
        return walk_sync()

    def items(self, method: Callable, *args, **kwargs):
        """Every item of every page (see ``pages``)."""
        pages = self.pages(method, *args, **kwargs)
        if self.asynchronous:
            async def walk():
                async for page in pages:
                    for item in page.items:
                        yield item
            return walk()
        return (item for page in pages for item in page.items)


#: The same class; the name says at the call site that its methods return awaitables.
AsyncLedgerlakeContract = LedgerlakeContract


def contract_methods(cls: type = LedgerlakeContract) -> dict[Function, Callable]:
    """Each contract function's method, e.g. ``{Function.GET_STREAM: get_stream, …}``."""
    return {m.function: m for m in vars(cls).values() if hasattr(m, "function")}


__all__ = ["AUDIT_BY", "AnswerError", "AsyncLedgerlakeContract", "LedgerlakeContract",
           "contract_methods"]
