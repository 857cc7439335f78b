"""The record format reproduced by a JavaScript client: the canonical form (RFC 8785), batch
ids, record commitments and Merkle roots computed by node with the npm ``canonicalize``
package (installed by scripts/install into .node/) must equal Python's byte for byte."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerlake import records
from ledgerlake.client.batches import seal_batch
from ledgerlake.client.encryption import new_data_key

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / ".node" / "node_modules" / "canonicalize"
SCRIPT = Path(__file__).parent / "js" / "jcs.mjs"
SAFE = 2**53 - 1

needs_node = pytest.mark.skipif(shutil.which("node") is None,
                                reason="node is not installed: the JavaScript side of the "
                                       "interop check cannot run")


def js_input(value):
    """``value`` as a JavaScript client holds it: integers beyond ±(2^53−1) as decimal
    strings (the format's integer rule), everything else as is."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return value if -SAFE <= value <= SAFE else str(value)
    if isinstance(value, dict):
        return {k: js_input(v) for k, v in value.items()}
    return [js_input(v) for v in value]


def node(values=(), batches=(), sealed=()) -> dict:
    """One node run over many inputs (starting node costs more than canonicalising)."""
    if not (PACKAGE / "package.json").exists():
        pytest.fail(f"npm package canonicalize is missing from {PACKAGE.parent}; "
                    f"run scripts/install")
    request = {"values": list(values), "batches": list(batches),
               "batch_fields": list(records.BATCH_FIELDS), "sealed": list(sealed)}
    done = subprocess.run(["node", str(SCRIPT), str(PACKAGE)], input=json.dumps(request),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# -- fixed test vectors ----------------------------------------------------------------------
VECTORS = [
    {"b": 1.0, "a": 2},
    [1.0, 1e16, 1e21, 1e-7, 1e-6, 0.1, 0.1 + 0.2, -0.0, 5e-324, 1.7976931348623157e308,
     2.0**53, 2.0**60, 1e20, 123456789012345680000.0, 333333333.3333333, 1.5e-7, -2.5e-300,
     4.35, 0.000001234, 1e15 + 0.3],
    [0, 1, -1, SAFE, -SAFE, SAFE + 1, -(SAFE + 1), 2**63 - 1, -(2**63),
     1_763_769_600_123_456_789],
    {"é": "ü", "emoji": "😀 👩‍🔬", "\ufb01": 1, "\U0001f600": 2, "中文": "キー",
     "ctrl": "\x00\x01\x1f\x7f\u2028\u2029\"\\/\b\f\n\r\t", "": "empty key"},
    {"10": 1, "1": 2, "a": 3, "A": 4, "aa": 5, "\u00e9": 6, "\u20ac": 7, "\r": 8, "_": 9},
    {"z": [{"y": [1, [2.5, [3, {"x": None, "w": [True, False]}]]]}], "e": {}, "l": [],
     "n": None, "deep": {"a": {"b": {"c": {"d": [1e-7, 2**60, "ß"]}}}}},
    {"sensor": "line-7", "temperature_c": 21.5, "ts": 1_763_769_600_000_000_123,
     "ok": True, "count": 42, "ratio": 1e-9, "big": 9.999999999999999e22},
]

SCHEMA = {"version": 3, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "ts", "type": "timestamp", "public": True},
    {"name": "value", "type": "float", "unit": "V"},
    {"name": "counter", "type": "int"},
    {"name": "ok", "type": "bool", "required": False}]}

BATCH_ROWS = [
    [{"sensor": "s1", "ts": 1_763_769_600_000_000_001, "value": 1.0, "counter": 2**62}],
    [{"sensor": f"s{i}", "ts": 1_763_769_600_000_000_000 + i, "value": v, "counter": -i,
      "ok": i % 2 == 0}
     for i, v in enumerate([0.1, 1e16, 1e21, 2.0**60, 10**20, -0.0, 5e-324, 7])],
    [{"sensor": "Zürich ☃ 😀", "ts": 0, "value": 333333333.33333329, "counter": SAFE + 1},
     {"sensor": "\u2028\x00", "ts": 2**63 - 1, "value": -1e-7, "counter": -(2**63)},
     {"sensor": "", "ts": 5, "value": 1e308, "counter": 0}],
]


def sealed_batches():
    out = []
    for i, rows in enumerate(BATCH_ROWS):
        out.append(seal_batch(stream="plant", source=f"src-{i}", seq=1, prev_hash="",
                              schema=SCHEMA, rows=rows, data_key=new_data_key(), key_epoch=1,
                              time_start=1_763_769_600_000_000_000 + i,
                              time_end=1_763_769_700_000_000_000))
    return out


@needs_node
def test_fixed_vectors_canonicalise_identically_in_javascript():
    js = node(values=[json.dumps(js_input(v)) for v in VECTORS])
    assert js["version"] == "5.1.0"
    for value, expected in zip(VECTORS, js["canonical"], strict=True):
        assert records.canonical(value) == expected.encode(), value


@needs_node
def test_javascript_reproduces_batch_ids_commitments_and_merkle_roots():
    sealed = sealed_batches()
    # what a JavaScript reader has: GetBatch's answer and the decrypted plaintext
    answers = [records.canonical({**s.batch, "tx_id": "t", "producer": {"msp_id": "Org1MSP"}})
               for s in sealed]
    js = node(batches=[{"batch": a.decode(), "plaintext": s.transient["records"].decode(),
                        "ciphertext": base64.b64encode(s.ciphertext).decode()}
                       for a, s in zip(answers, sealed)])
    for s, got in zip(sealed, js["batches"], strict=True):
        assert got["id"] == s.id
        assert got["payload_sha256"] == s.batch["payload"]["sha256"]  # binds the ciphertext
        assert got["commitments"] == [c.hex() for c in s.commitments]
        assert got["merkle_root"] == s.batch["merkle_root"]


@needs_node
@pytest.mark.parametrize("encoding", ["json+deflate", "json"])
def test_javascript_decrypts_and_decodes_a_payload_with_its_own_crypto_and_zlib(encoding):
    key = new_data_key()
    sealed = seal_batch(stream="plant", source="src-1", seq=3, prev_hash="ab" * 32,
                        schema=SCHEMA, rows=BATCH_ROWS[0] * 20, data_key=key, key_epoch=2,
                        encoding=encoding)
    js = node(sealed=[{"header": records.canonical(sealed.batch).decode(),
                       "ciphertext": base64.b64encode(sealed.ciphertext).decode(),
                       "key": base64.b64encode(key).decode()}])
    opened = js["opened"][0]
    assert opened["payload_sha256"] == sealed.batch["payload"]["sha256"]
    assert opened["plaintext"].encode() == sealed.transient["records"]


def test_float_fields_are_committed_as_the_double_javascript_sees():
    sealed = sealed_batches()[1]
    plaintext = sealed.transient["records"]
    assert b'"value":100000000000000000000' in plaintext  # 10**20 given as a Python int
    assert b'"value":1152921504606847000' in plaintext  # 2.0**60 as JavaScript prints it
    assert b'"counter":-1' in plaintext and b'"ts":"1763769600000000001"' in plaintext


# -- properties -------------------------------------------------------------------------------
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
SCALARS = (st.none() | st.booleans() | TEXT
           | st.integers(min_value=-(2**63), max_value=2**63 - 1)
           | st.integers(min_value=-SAFE - 3, max_value=-SAFE + 3)
           | st.integers(min_value=SAFE - 3, max_value=SAFE + 3)
           | st.floats(allow_nan=False, allow_infinity=False))
JSON = st.recursive(SCALARS, lambda children: st.lists(children, max_size=5)
                    | st.dictionaries(TEXT, children, max_size=5), max_leaves=20)


@given(JSON)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_canonical_form_survives_parsing(value):
    once = records.canonical(value)
    assert records.canonical(records.parse_json(once)) == once


@needs_node
@given(st.lists(JSON, min_size=60, max_size=60))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.data_too_large])
def test_python_and_javascript_agree_on_generated_values(values):
    js = node(values=[json.dumps(js_input(v)) for v in values])
    for value, expected in zip(values, js["canonical"], strict=True):
        assert records.canonical(value) == expected.encode(), value


FIELD_VALUES = {
    "int": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "timestamp": st.integers(min_value=0, max_value=2**63 - 1),
    "float": st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(2**70), max_value=2**70),
    "string": TEXT, "bool": st.booleans()}


@st.composite
def schema_and_rows(draw):
    types = draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), min_size=1, max_size=5))
    schema = records.Schema.from_mapping({"version": 1, "fields": [
        {"name": f"f{i}", "type": t, "public": draw(st.booleans())}
        for i, t in enumerate(types)]})
    rows = draw(st.lists(st.fixed_dictionaries(
        {f.name: FIELD_VALUES[f.type] for f in schema.fields}), min_size=1, max_size=4))
    return schema, rows


@given(schema_and_rows())
@settings(max_examples=150, deadline=None)
def test_sealed_records_open_to_the_same_commitments_and_id(case):
    from ledgerlake.client.batches import open_batch
    schema, rows = case
    key = new_data_key()
    sealed = seal_batch(stream="s", source="src", seq=1, prev_hash="", schema=schema,
                        rows=rows, data_key=key, key_epoch=1)
    received = records.parse_json(records.canonical(sealed.batch))
    opened = open_batch(schema, received, key, ciphertext=sealed.ciphertext)
    assert opened == [records.validate_record(schema, r) for r in rows]
    assert sealed.transient["records"] == records.canonical(
        {"records": opened, "salts": [s.hex() for s in sealed.salts]})
    assert [records.commitment(s, r) for s, r in zip(sealed.salts, opened)] == \
        list(sealed.commitments)
    assert records.batch_id(records.validate_batch_shape(received)) == sealed.id


# -- end to end through the contract (in-memory ledger) ----------------------------------------
@pytest.mark.parametrize("value", [21.5, pytest.param(1e20, id="float-beyond-2^53")])
@pytest.mark.parametrize("writer", ["canonical", "json.dumps"])
@pytest.mark.parametrize("plaintext", [False, True])
def test_the_contract_accepts_a_batch_however_its_numbers_are_written(value, writer,
                                                                      plaintext):
    """Public fields holding a nanosecond timestamp and a float, sent in the canonical form
    or by a plain JSON writer (exact integers), with or without plaintext for the check."""
    from ledgerlake.chaincode import contract
    from ledgerlake.chaincode.memory import MemoryLedger, member

    schema = {"version": 1, "fields": [
        {"name": "x", "type": "float", "public": True},
        {"name": "ts", "type": "timestamp", "public": True}]}
    admin, producer = member("Org1MSP", "admin", "admin"), member("Org1MSP", "producer", "p")
    ledger = MemoryLedger(contract.FUNCTIONS, own_msp_id="Org1MSP")
    ledger.invoke(admin, "CreateStream", json.dumps({
        "id": "plant", "schema": schema, "writers": {"msp_ids": ["Org1MSP"]},
        "readers": ["Org1MSP"], "wrapped_keys": {"Org1MSP": "QQ=="}}))
    sealed = seal_batch(stream="plant", source="line-1", seq=1, prev_hash="", schema=schema,
                        rows=[{"x": value, "ts": ledger.clock_ns}], data_key=new_data_key(),
                        key_epoch=1, time_start=ledger.clock_ns, time_end=ledger.clock_ns)
    text = records.canonical(sealed.batch) if writer == "canonical" else json.dumps(sealed.batch)
    out = ledger.invoke(producer, "SubmitBatch", text, sealed.ciphertext,
                        **({"transient": sealed.transient} if plaintext else {}))
    answer = records.parse_json(out)
    assert answer["id"] == sealed.id and answer["plaintext_checked"] is plaintext
    stored = records.parse_json(ledger.query(producer, "GetBatch", "plant", sealed.id))
    assert isinstance(stored["time_start"], str)  # a nanosecond value, safe for JavaScript
    fields = {k: stored[k] for k in (*records.BATCH_FIELDS, "id")}
    assert records.batch_id(records.validate_batch_shape(fields)) == sealed.id
