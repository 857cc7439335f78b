"""The typed contract API over the real client (Gateway, proposals, flows, both drivers)
talking to the contract on a MemoryLedger (tests/memory_gateway.py)."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from ledgerlake import records
from ledgerlake.chaincode.contract import FUNCTIONS
from ledgerlake.chaincode.memory import MemoryLedger
from ledgerlake.chaincode.runtime import ChaincodeError
from ledgerlake.client import encryption
from ledgerlake.client.api import (
    AnswerError,
    AsyncLedgerlakeContract,
    LedgerlakeContract,
    contract_methods,
)
from ledgerlake.client.batches import seal_batch
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
    nanos,
)
from ledgerlake.errors import ConfigError, EndorseError, ErrorDetail, LedgerlakeError
from ledgerlake.protocol import ErrorCode, Function
from memory_gateway import MemoryGateway

SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "temperature_c", "type": "float", "min": -40, "max": 125}]}
ROWS = [{"sensor": "s1", "temperature_c": 20.5}, {"sensor": "s2", "temperature_c": 21.0}]

#: What the contract changes state for; everything else only reads.
STATE_CHANGING = {Function.CREATE_STREAM, Function.UPDATE_STREAM, Function.GRANT_READER,
                  Function.REVOKE_READER, Function.ROTATE_KEY, Function.SHRED_EPOCH,
                  Function.REGISTER_ORG_KEY, Function.SUBMIT_BATCH, Function.OPEN_STREAM,
                  Function.ANCHOR_LINEAGE}


def test_one_method_per_contract_function():
    methods = contract_methods()
    assert set(methods) == set(Function)
    assert len({m.__name__ for m in methods.values()}) == len(Function)
    assert set(Function) == set(FUNCTIONS)  # the deployed table is the same list


def test_state_changing_functions_are_submitted_and_reads_evaluated():
    assert {f for f, m in contract_methods().items() if m.submits} == STATE_CHANGING


def test_every_method_is_documented_and_typed():
    for method in contract_methods().values():
        assert method.__doc__, method.__name__
        assert inspect.signature(method).return_annotation not in (inspect.Signature.empty,
                                                                   None), method.__name__


class World:
    """A MemoryLedger with each role of Org1 and Org2 behind its own typed API."""

    def __init__(self, asynchronous=False):
        self.gateway = MemoryGateway(asynchronous=asynchronous)
        cls = AsyncLedgerlakeContract if asynchronous else LedgerlakeContract
        self.api = {(org, role): cls(self.gateway.contract(f"{org}MSP", role))
                    for org in ("Org1", "Org2")
                    for role in ("admin", "producer", "analyst", "auditor")}
        self.org_keys = {org: encryption.new_org_key() for org in ("Org1", "Org2")}

    def __getitem__(self, who):
        return self.api[who]


@pytest.fixture
def world():
    return World()


def test_every_function_through_the_typed_api(world):
    """All 19 methods, each with its typed result; submitted ones are exactly those that
    write (checked on the ledger's own record of each transaction's writes)."""
    used: dict[Function, str] = {}

    def check(function, result, kind):
        method, name = world.gateway.calls[-1]
        assert name == function
        used[function] = method
        assert world.gateway.wrote[-1] == (method == "Endorse"), function
        assert isinstance(result, kind), (function, result)
        return result

    admin1, admin2 = world["Org1", "admin"], world["Org2", "admin"]
    for org, admin in (("Org1", admin1), ("Org2", admin2)):
        key = check(Function.REGISTER_ORG_KEY,
                    admin.register_org_key(encryption.public_pem(world.org_keys[org])), OrgKey)
        assert key.msp_id == f"{org}MSP"
    got = check(Function.GET_ORG_KEY, world["Org1", "producer"].get_org_key("Org2MSP"), OrgKey)
    assert got.public_key == encryption.public_pem(world.org_keys["Org2"])

    data_key = encryption.new_data_key()
    stream = check(Function.CREATE_STREAM, admin1.create_stream(
        "plant", SCHEMA, readers=["Org1MSP"], writers=Writers(("Org1MSP",)),
        wrapped_keys={"Org1MSP": wrap(world, data_key, "Org1", "plant")},
        description="sensors"), Stream)
    assert (stream.owner, stream.epoch, stream.readers, stream.active) == \
        ("Org1MSP", 1, ("Org1MSP",), True)
    assert stream.schema == records.Schema.from_mapping(SCHEMA)
    stream = check(Function.UPDATE_STREAM, admin1.update_stream("plant", description="v2"),
                   Stream)
    assert stream.description == "v2"
    stream = check(Function.GRANT_READER, admin1.grant_reader(
        "plant", "Org2MSP", wrap(world, data_key, "Org2", "plant")), Stream)
    assert stream.readers == ("Org1MSP", "Org2MSP")
    assert check(Function.GET_STREAM, world["Org2", "analyst"].get_stream("plant"),
                 Stream) == stream
    page = check(Function.LIST_STREAMS, world["Org2", "auditor"].list_streams(), Page)
    assert [s.id for s in page.items] == ["plant"] and not page.more

    sealed = seal_batch(stream="plant", source="line-1", seq=1, prev_hash="", schema=SCHEMA,
                        rows=ROWS, data_key=data_key, key_epoch=1)
    receipt = check(Function.SUBMIT_BATCH, world["Org1", "producer"].submit_batch(sealed),
                    BatchReceipt)
    assert (receipt.id, receipt.seq, receipt.plaintext_checked) == (sealed.id, 1, False)
    batch = check(Function.GET_BATCH, world["Org1", "auditor"].get_batch("plant", sealed.id),
                  Batch)
    assert (batch.source, batch.seq, batch.record_count, batch.producer.msp_id) == \
        ("line-1", 1, 2, "Org1MSP")
    assert batch.public == ({"sensor": "s1"}, {"sensor": "s2"})
    listed = check(Function.LIST_BATCHES,
                   world["Org1", "producer"].list_batches("plant", source="line-1"), Page)
    assert [b.id for b in listed.items] == [sealed.id]
    history = check(Function.GET_BATCH_HISTORY,
                    world["Org1", "producer"].get_batch_history("plant", "line-1"), Page)
    assert isinstance(history.items[0], HeadChange)
    assert history.items[0].head.batch_id == sealed.id and history.items[0].head.seq == 1

    analyst = world["Org2", "analyst"]
    ticket = check(Function.OPEN_STREAM, analyst.open_stream("plant", "unit test", epoch=1),
                   Ticket)
    assert ticket.epochs == (1,) and ticket.purpose == "unit test" and ticket.expires > \
        ticket.issued
    keys = check(Function.GET_STREAM_KEYS, analyst.get_stream_keys("plant", ticket),
                 StreamKeys)
    unwrapped = keys.unwrap(world.org_keys["Org2"])
    assert unwrapped == {1: data_key}
    assert analyst.get_batch("plant", sealed.id).open(unwrapped[1], stream.schema) == ROWS

    entry = check(Function.ANCHOR_LINEAGE, analyst.anchor_lineage(
        {"inputs": {"streams": ["plant"]}, "code_version": "abc", "outputs": {"model": "o"}}),
        LineageEntry)
    assert entry.by.msp_id == "Org2MSP" and entry.receipt["code_version"] == "abc"
    again = check(Function.GET_LINEAGE, world["Org1", "auditor"].get_lineage(entry.id),
                  LineageEntry)
    assert again == entry

    new_key = encryption.new_data_key()
    stream = check(Function.ROTATE_KEY, admin1.rotate_key("plant", {
        m: wrap(world, new_key, m[:-3], "plant", 2) for m in stream.readers}),
        Stream)
    assert stream.epoch == 2
    stream = check(Function.SHRED_EPOCH, admin1.shred_epoch("plant", 1), Stream)
    assert stream.shredded == (1,)
    stream = check(Function.REVOKE_READER, admin1.revoke_reader("plant", "Org2MSP"), Stream)
    assert stream.readers == ("Org1MSP",)

    trail = check(Function.QUERY_AUDIT, world["Org1", "auditor"].query_audit(
        "stream", "plant"), Page)
    assert all(isinstance(e, AuditEntry) for e in trail.items)
    assert [e.action for e in trail.items] == [
        "StreamCreated", "StreamUpdated", "ReaderGranted", "BatchSubmitted", "StreamOpened",
        "LineageAnchored", "KeyRotated", "EpochShredded", "ReaderRevoked"]
    assert trail.items[4].actor.msp_id == "Org2MSP" and trail.items[4].extra["purpose"] == \
        "unit test"

    assert set(used) == set(Function)
    submitted = {f for f, method in used.items() if method == "Endorse"}
    assert submitted == STATE_CHANGING
    assert all(method == "Evaluate" for f, method in used.items() if f not in submitted)


def key_pem(world, org):
    return encryption.public_pem(world.org_keys[org])


def wrap(world, data_key, org, stream, epoch=1):
    return OrgKey(f"{org}MSP", key_pem(world, org), 0).wrap(data_key, stream=stream,
                                                             epoch=epoch)


def _refusal(text):
    """A contract error from its text (ChaincodeError takes a code and a message once the
    contract's codes are merged)."""
    return getattr(ChaincodeError, "from_text", ChaincodeError)(text)


def _stream(world, name, readers=("Org1",)):
    data_key = encryption.new_data_key()
    world["Org1", "admin"].create_stream(
        name, SCHEMA, readers=[f"{o}MSP" for o in readers], writers=Writers((f"{readers[0]}MSP",)),
        wrapped_keys={f"{o}MSP": wrap(world, data_key, o, name)
                      for o in readers})
    return data_key


def _register_keys(world):
    for org in ("Org1", "Org2"):
        world[org, "admin"].register_org_key(key_pem(world, org))


def test_pages_follow_bookmarks_to_the_end(world):
    _register_keys(world)
    names = [f"s{i}" for i in range(5)]
    for name in names:
        _stream(world, name)
    api = world["Org1", "analyst"]
    pages = list(api.pages(api.list_streams, page_size=2))
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert [p.more for p in pages] == [True, True, False]
    assert [s.id for s in api.items(api.list_streams, page_size=2)] == names
    audit = world["Org1", "auditor"]
    actions = [e.action for e in audit.items(audit.query_audit, "action", "StreamCreated",
                                             page_size=3)]
    assert actions == ["StreamCreated"] * 5


def test_pages_refuses_what_is_not_a_method_of_this_contract(world):
    api, other = world["Org1", "analyst"], world["Org2", "analyst"]
    with pytest.raises(ConfigError):
        api.pages(other.list_streams)
    with pytest.raises(ConfigError):
        api.pages(len)
    with pytest.raises(ConfigError):
        api.pages(api.get_stream, "plant")
    assert {f for f, m in contract_methods().items() if m.paginated} == {
        Function.LIST_STREAMS, Function.LIST_BATCHES, Function.GET_BATCH_HISTORY,
        Function.QUERY_AUDIT}


def test_the_asyncio_api_runs_the_same_flows():
    world = World(asynchronous=True)

    async def scenario():
        for org in ("Org1", "Org2"):
            assert isinstance(await world[org, "admin"].register_org_key(key_pem(world, org)),
                              OrgKey)
        data_key = encryption.new_data_key()
        for name in ("a1", "a2", "a3"):
            await world["Org1", "admin"].create_stream(
                name, SCHEMA, readers=["Org2MSP"], writers={"msp_ids": ["Org2MSP"]},
                wrapped_keys={"Org2MSP": wrap(world, data_key, "Org2", name)})
        api = world["Org2", "analyst"]
        assert api.asynchronous
        stream = await api.get_stream("a2")
        ids = [s.id async for s in api.items(api.list_streams, page_size=2)]
        pages = [p async for p in api.pages(api.list_streams, page_size=2)]
        keys = await api.open_keys("a1", "async test", world.org_keys["Org2"])
        with pytest.raises(EndorseError):
            await api.get_stream("missing")
        return stream, ids, pages, keys, data_key

    stream, ids, pages, keys, data_key = asyncio.run(scenario())
    assert stream.id == "a2" and stream.readers == ("Org2MSP",)
    assert ids == ["a1", "a2", "a3"] and [len(p.items) for p in pages] == [2, 1]
    assert keys == {1: data_key}


def test_flows_compose_into_one_run(world):
    _register_keys(world)
    data_key = _stream(world, "plant", readers=("Org2",))
    api = world["Org2", "analyst"]
    assert api.open_keys("plant", "compose", world.org_keys["Org2"]) == {1: data_key}
    assert [name for _, name in world.gateway.calls[-2:]] == ["OpenStream", "GetStreamKeys"]

    def both():
        stream = yield from api.flows.get_stream("plant")
        key = yield from api.flows.get_org_key(stream.owner)
        return stream, key
    stream, key = api.run(both())
    assert (stream.id, key.msp_id) == ("plant", "Org1MSP")
    with pytest.raises(AttributeError):
        api.flows.pages


@pytest.mark.parametrize("call, what", [
    (lambda a: a.get_stream("bad name"), "stream id"),
    (lambda a: a.get_org_key(""), "MSP ID"),
    (lambda a: a.list_streams(page_size=0), "page_size"),
    (lambda a: a.query_audit("colour", "red"), "by must be one of"),
    (lambda a: a.query_audit("actor"), "the actor to query by"),
    (lambda a: a.query_audit("time", "x"), "takes no value"),
    (lambda a: a.open_stream("plant", " "), "purpose"),
    (lambda a: a.open_stream("plant", "p", time_from=5, time_to=4), "time_from is above"),
    (lambda a: a.open_stream("plant", "p", epoch=0), "epoch"),
    (lambda a: a.shred_epoch("plant", True), "epoch"),
    (lambda a: a.update_stream("plant"), "at least one change"),
    (lambda a: a.update_stream("plant", status="open"), "status"),
    (lambda a: a.submit_batch({"id": "x"}), "SealedBatch"),
    (lambda a: a.create_stream("plant", {"version": 1, "fields": []}, readers=["Org1MSP"],
                               wrapped_keys={"Org1MSP": "a2V5"}, writers=Writers(("Org1MSP",))),
     "schema"),
    (lambda a: a.create_stream("plant", SCHEMA, readers=[], wrapped_keys={},
                               writers=Writers(("Org1MSP",))), "wrapped_keys"),
    (lambda a: a.list_batches("plant", time_from=-1), "time_from"),
    (lambda a: a.create_stream("plant", SCHEMA, readers=["Org1MSP", "Org2MSP"],
                               wrapped_keys={"Org1MSP": "a2V5"}, writers=Writers(("Org1MSP",))),
     "one key per reader"),
    (lambda a: a.register_org_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
     "X25519"),
    (lambda a: a.register_org_key(_p256_pem()), "X25519"),
])
def test_bad_arguments_are_refused_before_any_io(world, call, what):
    with pytest.raises(LedgerlakeError, match=what) as caught:
        call(world["Org1", "admin"])
    assert isinstance(caught.value, ValueError)
    assert world.gateway.calls == []


def test_bad_arguments_are_refused_at_the_call_with_an_async_gateway_too():
    world = World(asynchronous=True)
    with pytest.raises(LedgerlakeError, match="stream id"):
        world["Org1", "analyst"].get_stream("bad name")  # raises before any await
    with pytest.raises(ConfigError, match="SealedBatch"):
        world["Org1", "producer"].submit_batch({"id": "x"})
    assert world.gateway.calls == []


def _p256_pem():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _ledger_answering(function, handler):
    async def wrapped(ctx, *args):
        return handler(*args)
    return MemoryLedger({**FUNCTIONS, function: wrapped})


@pytest.mark.parametrize("function, call", [
    (Function.GET_STREAM, lambda api: api.get_stream("x")),         # evaluated
    (Function.OPEN_STREAM, lambda api: api.open_stream("x", "p")),  # submitted: code in details
])
def test_contract_errors_carry_their_code(function, call):
    def refuse(*args):
        raise _refusal("NOT_FOUND: stream 'x' does not exist")
    gateway = MemoryGateway(_ledger_answering(function, refuse))
    with pytest.raises(EndorseError) as caught:
        call(LedgerlakeContract(gateway.contract("Org1MSP", "analyst")))
    assert caught.value.error_code is ErrorCode.NOT_FOUND


def test_error_code_reads_details_then_message():
    err = EndorseError("failed to endorse", details=(
        ErrorDetail("p1", "Org1MSP", "chaincode response 500, CHAIN_GAP: source s"),))
    assert err.error_code is ErrorCode.CHAIN_GAP
    assert EndorseError("evaluate: chaincode response 500, EXPIRED: ticket").error_code is \
        ErrorCode.EXPIRED
    assert EndorseError("connection refused").error_code is None


def test_an_unreadable_answer_is_one_clear_error():
    gateway = MemoryGateway(_ledger_answering(Function.GET_STREAM, lambda *a: b"[1, 2]"))
    with pytest.raises(AnswerError, match="GetStream answered"):
        LedgerlakeContract(gateway.contract("Org1MSP", "analyst")).get_stream("x")


def test_large_times_may_arrive_as_decimal_strings():
    big = 2**53 + 1
    assert nanos(big) == big and nanos(str(big)) == big and nanos(0) == 0
    # the integer rule: decimal strings only beyond ±(2^53-1)
    for bad in (1.5, True, "1e5", "", " 1", "١٢", None, "0", "12"):
        with pytest.raises(ValueError):
            nanos(bad)
    entry = AuditEntry.from_json({"tx_id": "t", "time": str(big), "action": "A",
                                  "actor": {"msp_id": "M", "id": "i", "role": "admin"},
                                  "target": {}, "outcome": "ok", "changed": ["x"]})
    assert entry.time == big and entry.extra == {"changed": ["x"]}
    ticket = Ticket.from_json({"ticket": "t", "stream": "s", "msp_id": "M", "id": "i",
                               "epochs": [1], "purpose": "p", "scope": {},
                               "issued": str(big), "expires": big + 1})
    assert (ticket.issued, ticket.expires) == (big, big + 1)


def test_results_keep_the_whole_answer(world):
    _register_keys(world)
    _stream(world, "plant")
    stream = world["Org1", "analyst"].get_stream("plant")
    assert stream.raw["id"] == "plant" and "schema" in stream.raw
    assert Page.parser(Stream.from_json)({"items": []}) == Page((), "")
