"""Hostile input against every contract function, on the in-memory ledger (which refuses
what a peer refuses).

The invariant, for every call: it succeeds, or it fails with a ChaincodeError whose code is
not INTERNAL (a bug); a failed call changes nothing once committed; a successful call that
writes also writes its audit entry. The property-based part (Hypothesis) mutates the valid
call of each function: wrong JSON types anywhere inside its objects and lists, unknown and
missing fields, duplicate keys, NaN/Infinity, deep nesting, huge and out-of-range numbers,
bad identifiers, non-UTF-8 bytes, missing and extra arguments, with every role. The
targeted part covers each class of the issue one case at a time. ``test_zz_count`` prints
how many inputs were tried.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_world import MEMBERS, ORG1, ORG2, ROWS, SCHEMA, build_world, stream_spec
from ledgerlake.chaincode import contract
from ledgerlake.chaincode.contract import common
from ledgerlake.chaincode.ledger import ChaincodeError, composite_key
from ledgerlake.chaincode.memory import MemoryLedger, MemoryTx
from ledgerlake.client.encryption import public_pem, wrap_key
from ledgerlake.protocol import ErrorCode, error_code
from ledgerlake.records import RecordError, batch_id, canonical

TRIED: Counter = Counter()
WORLD = build_world()
VALID = WORLD.valid_calls()
m = MEMBERS


def check(ledger: MemoryLedger, who, name: str, args, options=None, *, kind: str) -> MemoryTx:
    """Run one call and hold it to the invariant; return the endorsed transaction."""
    TRIED[kind] += 1
    raw = [a if isinstance(a, bytes) else a.encode("utf-8", "surrogatepass") for a in args]
    tx = ledger.endorse(who, name, *raw, **(options or {}))
    if tx.error:
        code = error_code(tx.error)
        assert code is not None and code != ErrorCode.INTERNAL, (name, tx.error)
        assert tx.error.startswith(f"{code.value}: "), tx.error
        before, events = dict(ledger.state), len(ledger.events)
        assert ledger.commit(tx) == ["ENDORSEMENT_FAILED"]
        assert ledger.state == before and len(ledger.events) == events
    elif tx.writes:
        assert composite_key("audit", tx.tx_id) in tx.writes, f"{name} wrote without audit"
        assert tx.event is not None
    TRIED[f"{kind}:handled"] += 1
    return tx


def expect(ledger, who, name, args, code: ErrorCode, match: str = "", options=None) -> str:
    """A targeted case: it must fail with ``code`` (and a message containing ``match``)."""
    tx = check(ledger, who, name, args, options, kind="targeted")
    assert tx.error, f"{name} accepted hostile input {str(args)[:120]}"
    assert error_code(tx.error) == code, tx.error
    assert match in tx.error, tx.error
    return tx.error


# -- property-based: every function, every argument ----------------------------------------
SPECIAL_STRINGS = ["", " ", "a" * 65, "plant\n", "\x00", "x\x00y", "\U0010ffff", "\ud800",
                   "Org1MSP/", "../plant", "NaN", "Infinity", "-1", "1e309", "0x10",
                   "9" * 30, "é", "plant" * 300]
leaves = (st.none() | st.booleans() | st.integers()
          | st.integers(min_value=2**63 - 2, max_value=2**80) | st.integers(max_value=-1)
          | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
          | st.sampled_from(SPECIAL_STRINGS))
json_values = st.recursive(leaves, lambda c: st.lists(c, max_size=4)
                           | st.dictionaries(st.text(max_size=6), c, max_size=4),
                           max_leaves=10)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:6]):
            yield from _paths(v, (*prefix, i))


def _set(value, path, new):
    if not path:
        return new
    head, *rest = path
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _set(value[head], rest, new)
    return copy


def _delete(value, path):
    head, *rest = path
    copy = dict(value) if isinstance(value, dict) else list(value)
    if rest:
        copy[head] = _delete(value[head], rest)
    else:
        del copy[head]
    return copy


def _rehash(batch):
    """A mutated batch with its id recomputed, so the mutation reaches the contract's
    checks behind the id check (unchanged when it cannot be hashed)."""
    try:
        return {**batch, "id": batch_id(batch)} if isinstance(batch, dict) else batch
    except (RecordError, TypeError):
        return batch


@st.composite
def mutated_json(draw, text: str, fix=None) -> bytes:
    """The valid JSON argument with one hostile change somewhere inside it."""
    value = json.loads(text)
    paths = list(_paths(value))
    path = draw(st.sampled_from(paths))
    action = draw(st.sampled_from(["replace", "replace", "delete", "add", "dup", "nest",
                                   "wrap"]))
    if action == "delete" and path:
        value = _delete(value, path)
    elif action == "add":
        target = path if isinstance(_get(value, path), dict) else ()
        if isinstance(_get(value, target), dict):
            key = draw(st.sampled_from(["colour", "id", "", "\x00", "__proto__"]))
            value = _set(value, target, {**_get(value, target), key: draw(json_values)})
    elif action == "nest":
        depth = draw(st.integers(30, 3000))
        out = json.dumps(value)
        return ("[" * depth + out + "]" * depth).encode()
    elif action == "wrap":
        value = _set(value, path, [_get(value, path)])
    elif action == "dup" and isinstance(value, dict) and value:
        key = draw(st.sampled_from(sorted(value)))
        out = json.dumps(value)
        dup = json.dumps(key) + ":" + json.dumps(draw(json_values)) + ","
        return ("{" + dup + out[1:]).encode("utf-8", "surrogatepass")
    else:
        value = _set(value, path, draw(json_values))
    if fix is not None and draw(st.booleans()):
        value = fix(value)
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


def _get(value, path):
    for p in path:
        value = value[p]
    return value


ARG_KINDS = ["mutated"] * 8 + ["binary", "text", "special", "json", "prefix", "doubled",
                             "valid"]


@st.composite
def hostile_arg(draw, valid: str | bytes, fix=None) -> bytes:
    """One hostile argument, mostly a mutation of the valid one when that is JSON."""
    if isinstance(valid, bytes):  # a raw argument: a batch's ciphertext
        kind = draw(st.sampled_from(["binary", "flip", "cut", "empty", "doubled", "valid"]))
        if kind == "binary":
            return draw(st.binary(max_size=40))
        if kind == "flip":
            i = draw(st.integers(0, len(valid) - 1))
            return valid[:i] + bytes([valid[i] ^ 1]) + valid[i + 1:]
        if kind == "cut":
            return valid[:draw(st.integers(0, len(valid) - 1))]
        return {"empty": b"", "doubled": valid * 2}.get(kind, valid)
    try:
        structured = isinstance(json.loads(valid), (dict, list))
    except ValueError:
        structured = False
    kind = draw(st.sampled_from(ARG_KINDS if structured else ARG_KINDS[8:]))
    if kind == "mutated":
        return draw(mutated_json(valid, fix))
    if kind == "binary":
        return draw(st.binary(max_size=40))
    if kind == "text":
        return draw(st.text(max_size=40)).encode()
    if kind == "special":
        return draw(st.sampled_from(SPECIAL_STRINGS)).encode("utf-8", "surrogatepass")
    if kind == "json":
        return json.dumps(draw(json_values), allow_nan=True).encode("utf-8", "surrogatepass")
    if kind == "prefix":
        return b"\xff\xfe" + valid.encode()
    if kind == "doubled":
        return valid.encode() * 2
    return valid.encode()


@st.composite
def hostile_call(draw, name: str):
    valid_caller, args, options = VALID[name]
    # mostly the caller the function allows, so mutations get past the role check
    who = valid_caller if draw(st.sampled_from([True, True, True, False])) \
        else MEMBERS[draw(st.sampled_from(sorted(MEMBERS)))]
    fix = _rehash if name == "SubmitBatch" else None
    mutated = [draw(hostile_arg(a, fix)) if draw(st.sampled_from([True, True, True, False]))
               else (a if isinstance(a, bytes) else a.encode()) for a in args]
    shape = draw(st.sampled_from(["same"] * 8 + ["fewer", "more"]))
    if shape == "fewer" and mutated:
        mutated = mutated[:draw(st.integers(0, len(mutated) - 1))]
    elif shape == "more":
        mutated += draw(st.lists(hostile_arg(""), min_size=1, max_size=3))
    transient = options.get("transient")
    if transient and draw(st.booleans()):
        transient = {"records": draw(hostile_arg(transient["records"].decode()))}
    return who, mutated, ({"transient": transient} if transient else {})


@pytest.mark.parametrize("name", sorted(contract.FUNCTIONS))
@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_hostile_calls_fail_cleanly_or_succeed_with_an_audit(name, data):
    who, args, options = data.draw(hostile_call(name))
    check(WORLD.ledger, who, name, args, options, kind="hypothesis")


def test_the_valid_calls_the_mutations_start_from_succeed():
    # on a world built now, as WORLD was: WORLD's stream ticket, issued when this module
    # was collected, expires (15 min) before a long suite reaches this test
    world = build_world()
    for name, (who, args, options) in world.valid_calls().items():
        tx = check(world.ledger, who, name, args, options, kind="targeted")
        assert not tx.error, (name, tx.error)


# -- targeted: bounds --------------------------------------------------------------------------
def _spec(world, **over):
    return stream_spec(world, id="fresh", **over)


def test_every_argument_is_bounded_in_size(world):
    led = world.ledger
    for name, (who, args, _) in VALID.items():
        limit = {"SubmitBatch": common.MAX_BATCH_BYTES,
                 "AnchorLineage": common.MAX_RECEIPT_BYTES}.get(name, common.MAX_ARG_BYTES)
        expect(led, who, name, [b" " * (limit + 1)] + args[1:], ErrorCode.INVALID_INPUT,
               "more than")


@pytest.mark.parametrize("over, match", [
    ({"description": "d" * 1025}, "description is longer"),
    ({"description": ["not", "text"]}, "description must be a string"),
    ({"schema": {"version": 1, "fields": [{"name": f"f{i}", "type": "int"}
                                          for i in range(257)]}}, "more than 256 fields"),
    ({"schema": {"version": 1, "fields": [{"name": "a", "type": "int", "unit": "u" * 33}]}},
     "unit is longer"),
    ({"schema": {"version": 1, "fields": [{"name": "a", "type": "int", "unit": {"x": 1}}]}},
     "unit must be a string"),
    ({"schema": {**SCHEMA, "version": 2**63 - 1}}, "schema.version must be from 1"),
    ({"max_age_seconds": 0}, "max_age_seconds must be from 1"),
    ({"max_age_seconds": 10**12}, "max_age_seconds must be from 1"),
    ({"max_age_seconds": True}, "max_age_seconds must be an integer"),
    ({"max_age_seconds": 7.5}, "max_age_seconds must be an integer"),
    ({"readers": [f"Org{i}MSP" for i in range(65)]}, "up to 64 MSP IDs"),
    ({"wrapped_keys": {ORG1: "QQ==" * 300, ORG2: "QQ=="}}, "at most 1024"),
    ({"writers": {"msp_ids": [ORG1], "roles": ["producer"] * 9}}, "writers.roles"),
    ({"writers": {"msp_ids": []}}, "at least one"),
])
def test_stream_fields_are_bounded(world, over, match):
    expect(world.ledger, m["admin1"], "CreateStream", [_spec(world, **over)],
           ErrorCode.INVALID_INPUT, match)


def test_purpose_and_lineage_inputs_are_bounded(world):
    led = world.ledger
    expect(led, m["analyst2"], "OpenStream", ["plant", json.dumps({"purpose": "p" * 1025})],
           ErrorCode.INVALID_INPUT, "purpose is longer")
    expect(led, m["analyst2"], "OpenStream", ["plant", json.dumps({"purpose": ["p"]})],
           ErrorCode.INVALID_INPUT, "purpose must be a string")
    many = {"inputs": {"streams": [f"s{i}" for i in range(65)]}, "code_version": "c",
            "outputs": {}}
    expect(led, m["analyst2"], "AnchorLineage", [json.dumps(many)], ErrorCode.INVALID_INPUT,
           "1 to 64 stream ids")
    batches = {"inputs": {"streams": ["plant"], "batches": [
        {"stream": "plant", "id": "ab" * 32}] * 1001}, "code_version": "c", "outputs": {}}
    expect(led, m["analyst2"], "AnchorLineage", [json.dumps(batches)],
           ErrorCode.INVALID_INPUT, "up to 1000")


def test_schema_versions_cannot_be_pushed_out_of_reach(world):
    led = world.ledger
    for version in (3, 2**63 - 1, 1, 0):
        code = ErrorCode.CONFLICT if version not in (0,) else ErrorCode.INVALID_INPUT
        expect(led, m["admin1"], "UpdateStream",
               ["plant", json.dumps({"schema": {**SCHEMA, "version": version}})], code)
    led.invoke(m["admin1"], "UpdateStream", "plant",
               json.dumps({"schema": {**SCHEMA, "version": 2}}))
    assert json.loads(led.query(m["admin1"], "GetStream", "plant"))["schema"]["version"] == 2


@pytest.mark.parametrize("size", ["0", "1001", "abc", "1.5", "-1", "１"])
def test_page_sizes_are_bounded(world, size):
    expect(world.ledger, m["auditor1"], "ListStreams", [size, ""], ErrorCode.INVALID_INPUT,
           "page_size")


def test_bookmarks_are_bounded(world):
    expect(world.ledger, m["auditor1"], "ListStreams", ["10", "b" * 513],
           ErrorCode.INVALID_INPUT, "bookmark is longer")


def test_pages_are_bounded_in_bytes_and_their_bookmarks_continue(world, monkeypatch):
    led = world.ledger
    for i in range(6):
        led.invoke(m["admin1"], "UpdateStream", "plant", json.dumps({"description": f"d{i}"}))
    everything = json.loads(led.query(m["auditor1"], "QueryAudit", json.dumps(
        {"by": "stream", "value": "plant", "page_size": 1000})))
    assert everything["bookmark"] == ""
    monkeypatch.setattr(common, "MAX_PAGE_BYTES", 700)
    seen, mark, pages = [], "", 0
    while True:
        page = json.loads(led.query(m["auditor1"], "QueryAudit", json.dumps(
            {"by": "stream", "value": "plant", "page_size": 1000, "bookmark": mark})))
        assert len(page["items"]) == 1 or sum(
            len(canonical(e)) for e in page["items"]) <= 700
        seen += page["items"]
        pages += 1
        mark = page["bookmark"]
        if not mark:
            break
    assert seen == everything["items"] and pages > 2


def test_a_batch_page_stops_before_its_byte_bound(world):
    led = world.ledger
    big = [{"sensor": "x" * 1_200_000, "temperature_c": 1.0, "ts": 1}]  # public: in the header
    prev = ""
    for seq in (1, 2, 3):
        sealed = world.sealed(seq=seq, prev=prev, source="big", rows=big)
        led.invoke(m["producer1"], "SubmitBatch", json.dumps(sealed.batch), sealed.ciphertext)
        prev = sealed.id
    first = json.loads(led.query(m["auditor1"], "ListBatches", json.dumps(
        {"stream": "plant", "source": "big"})))
    assert len(first["items"]) == 1 and first["bookmark"]
    ids = [b["seq"] for b in first["items"]]
    mark = first["bookmark"]
    while mark:
        page = json.loads(led.query(m["auditor1"], "ListBatches", json.dumps(
            {"stream": "plant", "source": "big", "bookmark": mark})))
        ids += [b["seq"] for b in page["items"]]
        mark = page["bookmark"]
    assert ids == [1, 2, 3]


def test_batch_history_pages(world):
    led = world.ledger
    prev = world.first_batch
    for seq in (2, 3):
        sealed = world.sealed(seq=seq, prev=prev)
        led.invoke(m["producer1"], "SubmitBatch", json.dumps(sealed.batch), sealed.ciphertext)
        prev = sealed.id
    first = json.loads(led.query(m["auditor1"], "GetBatchHistory", "plant", "line-1", "2", ""))
    assert [h["head"]["seq"] for h in first["items"]] == [3, 2] and first["bookmark"] == "2"
    rest = json.loads(led.query(m["auditor1"], "GetBatchHistory", "plant", "line-1", "2",
                                first["bookmark"]))
    assert [h["head"]["seq"] for h in rest["items"]] == [1] and rest["bookmark"] == ""
    expect(led, m["auditor1"], "GetBatchHistory", ["plant", "line-1", "2", "10000000"],
           ErrorCode.INVALID_INPUT, "bookmark must be from 0")


# -- targeted: clear errors ---------------------------------------------------------------------
def _raw_spec(world, replace: str, by: str) -> str:
    text = stream_spec(world, id="fresh")
    assert replace in text
    return text.replace(replace, by, 1)


@pytest.mark.parametrize("edit, match", [
    (('"id": "fresh"', '"id": "fresh", "max_age_seconds": Infinity'), "Infinity"),
    (('"id": "fresh"', '"id": "fresh", "max_age_seconds": NaN'), "NaN"),
    (('"id": "fresh"', '"id": "fresh", "id": "plant"'), "appears twice"),
    (('"id": "fresh"', '"id": "\\ud800"'), "stream spec holds a string that is not valid"),
    (('"readers": [', '"readers": [1, '), "readers[0]"),
    (('"readers": [', '"readers": [null, '), "readers[0]"),
    (('"msp_ids": [', '"msp_ids": [["Org1MSP"], '), "writers.msp_ids[0]"),
    (('"fields": [', '"fields": [5, '), "schema.fields[0] must be a mapping"),
    (('"type": "string"', '"type": ["string"]'), "type must be one of"),
    (('"min": -40', '"min": "cold"'), "min must be a number"),
])
def test_wrong_json_inside_objects_and_lists_is_named(world, edit, match):
    expect(world.ledger, m["admin1"], "CreateStream", [_raw_spec(world, *edit)],
           ErrorCode.INVALID_INPUT, match)


@pytest.mark.parametrize("text, match", [
    ("[" * 10_000 + "]" * 10_000, "nesting"),
    ('{"a":' * 40 + "1" + "}" * 40, "nesting"),
    ("not json", "must be JSON"),
    ("", "must be JSON"),
    ('"a string"', "must be a JSON object"),
    ("[]", "must be a JSON object"),
    ('{"stream": "plant", "stream": "plant"}', "appears twice"),
    ('{"stream": "plant", "time_from": -Infinity}', "Infinity"),
    ('{"stream": "plant", "page_size": 1e400}', ""),
    ('{"stream": "plant", "colour": 1}', "'colour' is unknown"),
    ('{"stream": "plant", "time_from": 5, "time_to": 1}', "time_from is after time_to"),
    ('{"stream": "plant", "time_from": false}', "time_from must be an integer"),
    ('{"stream": "plant", "source": "line-1", "time_from": 1}', "not both"),
    ('{"stream": "plant", "page_size": true}', "page_size must be an integer"),
    ('{"stream": "plant", "bookmark": 7}', "bookmark must be a string"),
    ('{"stream": ["plant"]}', "stream id"),
    ('{"stream": "plant", "source": "x\\u0000y"}', "source"),
])
def test_bad_json_queries_are_named(world, text, match):
    expect(world.ledger, m["auditor1"], "ListBatches", [text], ErrorCode.INVALID_INPUT, match)


@pytest.mark.parametrize("name", sorted(VALID))
def test_non_utf8_missing_and_extra_arguments_are_input_errors(world, name):
    who, args, _ = VALID[name]
    expect(world.ledger, who, name, [b"\xff\xfe\xfd", *args[1:]], ErrorCode.INVALID_INPUT,
           "not UTF-8")
    if name != "ListStreams":  # its two arguments are optional
        expect(world.ledger, who, name, [], ErrorCode.INVALID_INPUT, "wrong number of arguments")
    expect(world.ledger, who, name, [*args, "x", "y", "z", "w"], ErrorCode.INVALID_INPUT,
           "wrong number of arguments")


@pytest.mark.parametrize("name, args, match", [
    ("GetStream", ["plant\n"], "stream id"),
    ("GetStream", ["a" * 65], "stream id"),
    ("GetStream", ["\x00stream\x00"], "stream id"),
    ("GetStream", [""], "stream id"),
    ("GetOrgKey", ["Org 1"], "msp_id"),
    ("GetOrgKey", ["\U0010ffff"], "msp_id"),
    ("GrantReader", ["plant", "Org3MSP\n", "QQ=="], "msp_id"),
    ("RevokeReader", ["plant", "../Org2MSP"], "msp_id"),
    ("GetBatch", ["plant", "not-a-hash"], "batch id"),
    ("GetBatchHistory", ["plant", "line 1"], "source"),
    ("GetLineage", ["x" * 64], "receipt id"),
    ("GetStreamKeys", ["plant", "tx1"], "ticket"),
    ("QueryAudit", ['{"by": "actor", "value": "Org1MSP"}'], "MSP/enrollment id"),
    ("QueryAudit", ['{"by": "actor", "value": "Org 1/x"}'], "MSP ID"),
    ("QueryAudit", ['{"by": "stream", "value": "pla nt"}'], "a stream"),
    ("QueryAudit", ['{"by": "who"}'], "'by' must be"),
    ("QueryAudit", ['{"by": "time", "value": "x"}'], "takes no 'value'"),
])
def test_identifiers_follow_one_rule_everywhere(world, name, args, match):
    who = {"GrantReader": m["admin1"], "RevokeReader": m["admin1"], "QueryAudit": m["auditor1"],
           "GetStreamKeys": m["analyst2"], "GetLineage": m["auditor1"]}.get(name, m["auditor1"])
    expect(world.ledger, who, name, args, ErrorCode.INVALID_INPUT, match)


def test_batch_identifiers_follow_the_rule(world):
    bad = world.sealed(source="line 1")
    expect(world.ledger, m["producer1"], "SubmitBatch", [json.dumps(bad.batch), bad.ciphertext],
           ErrorCode.INVALID_INPUT, "batch.source")


def test_an_org_key_must_be_an_x25519_public_key(world):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    for pem, match in ((p256, "X25519"), ("-----BEGIN PUBLIC KEY-----\nMCow\n-----END PUBLIC "
                                         "KEY-----\n", "PEM public key"),
                       ("hello", "PEM public key"), ("x" * 1025, "longer than")):
        expect(world.ledger, m["admin3"], "RegisterOrgKey", [pem], ErrorCode.INVALID_INPUT, match)


def _with_payload(world, payload):
    from ledgerlake.records import batch_id
    b = dict(world.sealed().batch, payload=payload)
    b["id"] = batch_id(b)
    return json.dumps(b)


NONCE, DIGEST = "AAAAAAAAAAAAAAAA", "ab" * 32


@pytest.mark.parametrize("payload, match", [
    ({"encoding": "json", "nonce": "!!!not base64", "sha256": DIGEST, "size": 3}, "nonce must be"),
    ({"encoding": "json", "nonce": "", "sha256": DIGEST, "size": 3}, "nonce must be"),
    ({"encoding": "json", "nonce": "A" * 68, "sha256": DIGEST, "size": 3}, "nonce must be"),
    ({"encoding": "json", "nonce": NONCE, "sha256": "AB" * 32, "size": 3}, "sha256"),
    ({"encoding": "json", "nonce": NONCE, "sha256": DIGEST, "size": 0}, "size must be"),
    ({"encoding": "json", "nonce": NONCE, "sha256": DIGEST, "size": True}, "size must be"),
    ({"encoding": "json", "nonce": NONCE, "sha256": DIGEST, "size": "3"}, "size must be"),
    ({"encoding": "json", "nonce": NONCE, "sha256": DIGEST, "size": 4 * 2**20 + 1}, "off-chain"),
    ({"ciphertext": "QUJD", "nonce": NONCE}, "exactly"),
    ({}, "exactly"),
    ({"encoding": "json", "nonce": NONCE, "sha256": DIGEST}, "exactly"),
    ({"uri": "s3://x", "sha256": DIGEST}, "exactly"),
    ({"encoding": "xml", "nonce": NONCE, "sha256": DIGEST, "size": 3}, "encoding must be"),
    ({"encoding": None, "nonce": NONCE, "sha256": DIGEST, "size": 3}, "encoding must be"),
    ({"nonce": NONCE, "sha256": DIGEST, "size": 3}, "exactly"),
    ({"encoding": "json", "nonce": NONCE, "sha256": DIGEST, "size": 3, "uri": "u" * 3000}, "2048"),
    ({"encoding": "json", "nonce": NONCE, "sha256": DIGEST, "size": 3, "uri": ""}, "2048"),
    ({"encoding": "json", "nonce": NONCE, "sha256": DIGEST, "size": 3, "uri": "s3://x", "colour": 1}, "exactly"),
])
def test_a_payload_names_its_ciphertext_by_digest_inline_or_off_chain(world, payload, match):
    expect(world.ledger, m["producer1"], "SubmitBatch", [_with_payload(world, payload)],
           ErrorCode.INVALID_INPUT, match)


@pytest.mark.parametrize("request_, match", [
    ({"purpose": "p", "colour": "red"}, "'colour' is unknown"),
    ({"purpose": "p", "block_from": 9, "block_to": 1}, "block_from is after block_to"),
    ({"purpose": "p", "time_from": 9, "time_to": 1}, "time_from is after time_to"),
    ({"purpose": "p", "block_from": -1}, "block_from must be from 0"),
    ({"purpose": "p", "block_to": 2**64}, "block_to must be from 0"),
    ({"purpose": "p", "epoch": 0}, "epoch must be from 1"),
    ({"purpose": "p", "epoch": "1"}, "epoch must be an integer"),
    ({"purpose": "p", "epoch": 99}, "not open yet"),
    ({"purpose": "   "}, "stated 'purpose'"),
])
def test_open_stream_scope_rejects_unknown_keys_and_inverted_ranges(world, request_, match):
    code = ErrorCode.NOT_FOUND if match == "not open yet" else ErrorCode.INVALID_INPUT
    expect(world.ledger, m["analyst2"], "OpenStream", ["plant", json.dumps(request_)], code, match)


def test_a_surrogate_in_any_json_string_is_an_input_error(world):
    expect(world.ledger, m["analyst2"], "OpenStream", ["plant", '{"purpose": "\\udc00"}'],
           ErrorCode.INVALID_INPUT, "")
    expect(world.ledger, m["admin1"], "UpdateStream", ["plant", '{"description": "\\ud800"}'],
           ErrorCode.INVALID_INPUT, "")


def test_plaintext_is_checked_with_the_one_record_rule(world):
    nxt = world.sealed()
    for records, match in ((b"\xff", "UTF-8"), (b'{"records": [], "records": []}', "twice"),
                           (b'{"records": [], "salts": [], "x": 1}', "records: [...]"),
                           (json.dumps({"records": ROWS, "salts": ["zz"] * 2}).encode(), "salt")):
        expect(world.ledger, m["producer1"], "SubmitBatch", [json.dumps(nxt.batch), nxt.ciphertext],
               ErrorCode.INVALID_INPUT, match, options={"transient": {"records": records}})


# -- targeted: access edges ---------------------------------------------------------------------
def test_a_lineage_anchor_is_checked_against_every_stream_and_batch_it_names(world):
    led = world.ledger
    led.invoke(m["admin2"], "CreateStream", json.dumps({
        "id": "org2only", "schema": SCHEMA, "writers": {"msp_ids": [ORG2]}, "readers": [ORG2],
        "wrapped_keys": {ORG2: wrap_key(world.key, public_pem(world.org_keys[ORG2]),
                                         stream="org2only", epoch=1, msp_id=ORG2)}}))
    base = {"code_version": "c", "outputs": {}}
    both = {**base, "inputs": {"streams": ["plant", "org2only"]}}
    expect(led, m["analyst1"], "AnchorLineage", [json.dumps(both)], ErrorCode.ACCESS_DENIED,
           "'org2only'")
    missing = {**base, "inputs": {"streams": ["plant"],
                                  "batches": [{"stream": "plant", "id": "cd" * 32}]}}
    expect(led, m["analyst1"], "AnchorLineage", [json.dumps(missing)], ErrorCode.NOT_FOUND,
           "input batch")
    elsewhere = {**base, "inputs": {"streams": ["plant"],
                                    "batches": [{"stream": "org2only", "id": "cd" * 32}]}}
    expect(led, m["analyst2"], "AnchorLineage", [json.dumps(elsewhere)],
           ErrorCode.INVALID_INPUT, "does not name")
    nowhere = {**base, "inputs": {"streams": ["plant", "ghost"]}}
    expect(led, m["analyst1"], "AnchorLineage", [json.dumps(nowhere)], ErrorCode.NOT_FOUND,
           "'ghost'")
    hidden = {**base, "inputs": {"streams": ["plant"], "extra_streams": ["org2only"]}}
    expect(led, m["analyst1"], "AnchorLineage", [json.dumps(hidden)], ErrorCode.INVALID_INPUT,
           "receipt.inputs")


def test_a_lineage_anchor_is_in_the_audit_trail_of_every_input_stream(world):
    led = world.ledger
    led.invoke(m["admin1"], "CreateStream", stream_spec(world, id="second"))
    receipt = {"inputs": {"streams": ["plant", "second"]}, "code_version": "c", "outputs": {}}
    led.invoke(m["analyst2"], "AnchorLineage", json.dumps(receipt))
    for stream in ("plant", "second"):
        trail = json.loads(led.query(m["auditor1"], "QueryAudit", json.dumps(
            {"by": "stream", "value": stream})))["items"]
        assert trail[-1]["action"] == "LineageAnchored", stream


def test_a_ticket_from_before_a_revocation_does_not_work_after_a_re_grant(world):
    led = world.ledger
    ticket = world.ticket  # analyst2's, issued while Org2 read the stream
    assert json.loads(led.query(m["analyst2"], "GetStreamKeys", "plant", ticket))["wrapped_keys"]
    led.invoke(m["admin1"], "RevokeReader", "plant", ORG2)
    led.invoke(m["admin1"], "GrantReader", "plant", ORG2, world.wrapped[ORG2])
    expect(led, m["analyst2"], "GetStreamKeys", ["plant", ticket], ErrorCode.ACCESS_DENIED,
           "predates")
    fresh = json.loads(led.invoke(m["analyst2"], "OpenStream", "plant", '{"purpose": "again"}'))
    assert json.loads(led.query(m["analyst2"], "GetStreamKeys", "plant",
                                fresh["ticket"]))["wrapped_keys"] == {"1": world.wrapped[ORG2]}


def test_an_endorser_that_does_not_know_its_organisation_refuses_plaintext(world):
    world.ledger.own_msp_id = ""
    nxt = world.sealed()
    expect(world.ledger, m["producer1"], "SubmitBatch", [json.dumps(nxt.batch), nxt.ciphertext],
           ErrorCode.CONFLICT, "does not know its organisation",
           options={"transient": nxt.transient})
    tx = check(world.ledger, m["producer1"], "SubmitBatch", [json.dumps(nxt.batch), nxt.ciphertext],
               kind="targeted")
    assert not tx.error  # without plaintext the batch is still accepted


def test_a_ticket_expires_by_the_peers_clock_too(world):
    led = world.ledger
    issued = int(json.loads(led.query(m["auditor1"], "QueryAudit", json.dumps(
        {"by": "action", "value": "StreamOpened"})))["items"][-1]["time"])
    # the peer's clock is past the expiry; the client picks a transaction time 4 min
    # earlier, within the allowed skew, which alone would still pass
    peer = issued + 15 * 60 * 10**9 + 10**9
    led.peer_clock_ns = peer
    expect(led, m["analyst2"], "GetStreamKeys", ["plant", world.ticket], ErrorCode.EXPIRED,
           "expired", options={"timestamp_ns": peer - 4 * 60 * 10**9})


def test_a_batch_window_holds_against_the_peers_clock(world):
    led = world.ledger
    peer = led.clock_ns
    led.peer_clock_ns = peer
    ahead = peer + 4 * 60 * 10**9  # the client's clock, 4 min ahead (within the skew)
    late = world.sealed(time_start=peer + 8 * 60 * 10**9, time_end=peer + 8 * 60 * 10**9)
    expect(led, m["producer1"], "SubmitBatch", [*late.args], ErrorCode.CLOCK_SKEW,
           "future", options={"timestamp_ns": ahead})


def test_update_stream_audits_what_changed_from_what_to_what(world):
    led = world.ledger
    led.invoke(m["admin1"], "UpdateStream", "plant", json.dumps(
        {"description": "new", "max_age_seconds": 60, "status": "active"}))
    entry = json.loads(led.query(m["auditor1"], "QueryAudit", json.dumps(
        {"by": "action", "value": "StreamUpdated"})))["items"][-1]
    assert entry["changed"] == {"description": {"from": "", "to": "new"},
                                "max_age_seconds": {"from": 7 * 24 * 3600, "to": 60}}
    TRIED["targeted"] += 1
    TRIED["targeted:handled"] += 1


# -- targeted: error codes and the runtime -------------------------------------------------------
def test_chain_errors_carry_their_codes(world):
    led = world.ledger
    gap = world.sealed(seq=3, prev=world.first_batch)
    err = expect(led, m["producer1"], "SubmitBatch", [json.dumps(gap.batch), gap.ciphertext],
                 ErrorCode.CHAIN_GAP, "expected seq 2, got 3")
    assert err.startswith("CHAIN_GAP: chain of source 'line-1' broken")
    fork = world.sealed(seq=1, prev="", rows=[{"sensor": "z", "temperature_c": 0.0, "ts": 0}])
    expect(led, m["producer1"], "SubmitBatch", [*fork.args], ErrorCode.CHAIN_FORK)
    wrong_prev = world.sealed(seq=2, prev="f" * 64)
    expect(led, m["producer1"], "SubmitBatch", [*wrong_prev.args],
           ErrorCode.CHAIN_FORK, "prev_hash")
    first = json.loads(led.query(m["auditor1"], "GetBatch", "plant", world.first_batch))
    replay = {k: first[k] for k in (*__import__("ledgerlake.records").records.BATCH_FIELDS, "id")}
    expect(led, m["producer1"], "SubmitBatch", [json.dumps(replay), world.first_ciphertext],
           ErrorCode.ALREADY_EXISTS)
    expect(led, m["producer2"], "SubmitBatch", [*world.sealed().args],
           ErrorCode.ACCESS_DENIED, "access denied by rule 'batch.write'")
    TRIED["targeted"] += 1
    tx = led.endorse(m["admin1"], "DropTables")
    assert error_code(tx.error) == ErrorCode.UNKNOWN_FUNCTION
    TRIED["targeted:handled"] += 1


def test_a_bug_is_answered_as_internal(world):
    async def broken(ctx, *args):
        return {}["missing"]

    led = MemoryLedger({"Broken": broken})
    tx = led.endorse(m["admin1"], "Broken")
    assert tx.error.startswith("INTERNAL: internal chaincode error: KeyError")
    with pytest.raises(ChaincodeError) as err:
        led.invoke(m["admin1"], "Broken")
    assert err.value.code == ErrorCode.INTERNAL


def test_the_runtime_answers_a_bug_as_internal_and_a_refusal_with_its_code(caplog):
    from fabric_protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2
    from fabric_protos.peer import chaincode_shim_pb2 as shim
    from ledgerlake.chaincode.runtime import _Session

    async def broken(ctx):
        raise KeyError("boom")

    async def refuses(ctx):
        raise ChaincodeError(ErrorCode.CONFLICT, "no")

    async def run(function: bytes) -> str:
        session = _Session("cc", {"broken": broken, "refuses": refuses}, "Org1MSP")
        msg = shim.ChaincodeMessage(
            type=shim.ChaincodeMessage.TRANSACTION, txid="t", channel_id="ch",
            payload=chaincode_pb2.ChaincodeInput(args=[function]).SerializeToString(),
            proposal=proposal_pb2.SignedProposal())
        await session.run(msg)
        done = session.outbox.get_nowait()
        return proposal_response_pb2.Response.FromString(done.payload).message

    assert asyncio.run(run(b"broken")).startswith("INTERNAL: internal chaincode error: KeyError")
    assert "transaction t failed" in caplog.text
    assert asyncio.run(run(b"refuses")) == "CONFLICT: no"
    assert asyncio.run(run(b"\xff")).startswith("UNKNOWN_FUNCTION: ")
    assert asyncio.run(run(b"nope")).startswith("UNKNOWN_FUNCTION: unknown function 'nope'")


# -- targeted: the in-memory ledger behaves like a peer -----------------------------------------
def test_the_memory_ledger_checks_the_clock_by_default():
    led = MemoryLedger(contract.FUNCTIONS)
    tx = led.endorse(m["admin1"], "ListStreams", timestamp_ns=led.clock_ns - 10 * 60 * 10**9)
    assert error_code(tx.error) == ErrorCode.CLOCK_SKEW


def test_the_memory_ledger_refuses_keys_a_peer_refuses():
    led = MemoryLedger(contract.FUNCTIONS)
    tx = MemoryTx(led, m["admin1"], "t" * 64, led.clock_ns, {}, ORG1)
    for key in ("\ud800", ""):
        with pytest.raises(ChaincodeError) as err:
            asyncio.run(tx.put_state(key, b"v"))
        assert err.value.code == ErrorCode.INTERNAL


def test_the_memory_ledger_refuses_writes_after_a_paginated_query_and_the_reverse():
    led = MemoryLedger(contract.FUNCTIONS)
    tx = MemoryTx(led, m["admin1"], "t" * 64, led.clock_ns, {}, ORG1)
    asyncio.run(tx.get_state_by_range("a", "b"))  # not paginated: writes stay allowed
    asyncio.run(tx.put_state("k", b"v"))
    with pytest.raises(ChaincodeError, match="read-only transaction"):
        asyncio.run(tx.get_state_by_range("a", "b", page_size=10))
    tx2 = MemoryTx(led, m["admin1"], "u" * 64, led.clock_ns, {}, ORG1)
    asyncio.run(tx2.get_state_by_range("a", "b", page_size=10))
    with pytest.raises(ChaincodeError, match="paginated query. Writes are not allowed"):
        asyncio.run(tx2.put_state("k", b"v"))


def test_no_contract_function_writes_after_a_paginated_query(world):
    """Every valid call of every function passes the peer's rule (a paginated read in a
    writing function would be refused by the peer as INTERNAL)."""
    for name, (who, args, options) in world.valid_calls().items():
        tx = world.ledger.endorse(who, name, *args, **options)
        assert not tx.error, (name, tx.error)
        assert not (tx.paginated and tx.writes), name


# -- the count ---------------------------------------------------------------------------------
def test_zz_count(capsys):
    """How many hostile inputs this module tried and how many were handled (printed; run
    with -s to see it)."""
    tried = TRIED["hypothesis"] + TRIED["targeted"]
    handled = TRIED["hypothesis:handled"] + TRIED["targeted:handled"]
    with capsys.disabled():
        print(f"\nhostile inputs: {TRIED['hypothesis']} generated + {TRIED['targeted']} "
              f"targeted = {tried}; handled {handled}")
    assert tried == handled



def test_a_world_built_minutes_ago_still_endorses(monkeypatch):
    """A ledger kept for minutes (this module's WORLD in a long suite) keeps its
    transaction times within the endorsing peer's clock-skew bound."""
    import time

    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() - 7 * 60 * 10**9)
    world = build_world()
    monkeypatch.setattr(time, "time_ns", real)
    for name, (who, args, options) in world.valid_calls().items():
        tx = check(world.ledger, who, name, args, options, kind="targeted")
        assert not tx.error, (name, tx.error)
