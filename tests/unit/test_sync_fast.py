"""``sync.open_fast`` decides every batch as ``batches.open_batch_verified`` (the one record
rule) does: same records and commitments when it accepts, the same error when it refuses,
for honest batches and for plaintexts a hostile producer could encrypt instead of the
canonical one (whitespace, duplicate keys, NaN, over-deep cursors, numbers written
otherwise, keys reordered), all committed to the honest records' Merkle root."""

from __future__ import annotations

import hashlib
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerlake import records
from ledgerlake.analytics import sync
from ledgerlake.client import encryption
from ledgerlake.client.batches import open_batch_verified

SCHEMA = records.Schema.from_mapping({"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "value", "type": "float"},
    {"name": "count", "type": "int", "required": False},
    {"name": "ok", "type": "bool", "required": False},
    {"name": "ts", "type": "timestamp"},
    {"name": "Zeta", "type": "string", "required": False}]})
KEY = bytes(range(32))

floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 1e21, 1e-7, 2.0**60, 5e-324, 1.7976931348623157e308, 100.0])
ints = st.integers(-(2**63), 2**63 - 1) | st.integers(-(2**53), 2**53)
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8) | \
    st.sampled_from(["", "\x00\x1f\"\\", "é☃𝄞", "\u2028"])
record = st.fixed_dictionaries(
    {"sensor": text, "value": floats, "ts": st.integers(0, 2**63 - 1)},
    optional={"count": st.none() | ints, "ok": st.booleans(), "Zeta": st.none() | text})
MUTATIONS = ("none", "space", "duplicate", "nan", "deep_cursor", "cursor", "float_int",
             "big_number", "key_order", "utf16", "salt_upper", "trailing", "drop_record",
             "escape")


def _seal(rows: list[dict], mutation: str, salts: list[bytes]) -> tuple[dict, bytes]:
    """A batch of ``rows`` committed honestly (their canonical forms), whose encrypted
    plaintext is the canonical one changed by ``mutation``."""
    normal = [records.validate_record(SCHEMA, r) for r in rows]
    encoded = [records.canonical(r) for r in normal]
    leaves = [hashlib.sha256(s + e).digest() for s, e in zip(salts, encoded)]
    salt_text = [f'"{s.hex()}"'.encode() for s in salts]
    parts = list(encoded)
    head = b'{"records":['
    if mutation == "space":
        parts[0] = parts[0].replace(b":", b": ", 1)
    elif mutation == "duplicate":
        parts[0] = b'{"sensor":' + records.canonical(normal[0]["sensor"]) + b"," + parts[0][1:]
    elif mutation == "nan":
        parts[0] = parts[0].replace(b'"value":', b'"value":NaN,"x":', 1)
    elif mutation == "deep_cursor":
        head = b'{"cursor":' + b"[" * 40 + b"]" * 40 + b',"records":['
    elif mutation == "cursor":
        head = b'{"cursor":{"line":7,"f":[1.5,"a"]},"records":['
    elif mutation == "float_int":  # 100.0 written as 100.0 instead of 100
        parts[0] = parts[0].replace(b'"value":', b'"value":1.0e0,"q":', 1)
    elif mutation == "big_number" and "count" in normal[0] and normal[0]["count"] is not None \
            and abs(normal[0]["count"]) > 2**53:
        parts[0] = parts[0].replace(f'"{normal[0]["count"]}"'.encode(),
                                    str(normal[0]["count"]).encode(), 1)
    elif mutation == "key_order" and len(normal[0]) > 1:
        keys = sorted(normal[0], reverse=True)
        parts[0] = b"{" + b",".join(records.canonical(k) + b":" + records.canonical(normal[0][k])
                                     for k in keys) + b"}"
    elif mutation == "utf16":
        pass  # applied to the whole plaintext below
    elif mutation == "salt_upper":
        salt_text[0] = salt_text[0].upper()
    elif mutation == "escape" and normal[0]["sensor"][:1].isascii() and \
            normal[0]["sensor"][:1].isalnum():  # the same text, escaped otherwise
        first = normal[0]["sensor"][0]
        parts[0] = parts[0].replace(f'"sensor":"{first}'.encode(),
                                    f'"sensor":"\\u{ord(first):04x}'.encode(), 1)
    elif mutation == "drop_record" and len(parts) > 1:
        parts, salt_text = parts[1:], salt_text[1:]
    plaintext = head + b",".join(parts) + b'],"salts":[' + b",".join(salt_text) + b"]}"
    if mutation == "trailing":
        plaintext += b" "
    if mutation == "utf16":
        plaintext = plaintext.decode().encode("utf-16")
    nonce, ciphertext = encryption.encrypt(
        KEY, plaintext, encryption.associated_data("plant", "line-1", 1, 1))
    batch = {"stream": "plant", "source": "line-1", "seq": 1, "prev_hash": "",
             "schema_version": 1, "time_start": 1, "time_end": 2,
             "record_count": len(rows), "merkle_root": records.merkle_root(leaves).hex(),
             "public": records.public_columns(SCHEMA, normal), "key_epoch": 1,
             "payload": {"encoding": "json", "nonce": encryption.b64encode(nonce),
                         "sha256": records.payload_digest(ciphertext),
                         "size": len(ciphertext)}}
    batch["id"] = records.batch_id(batch)
    return {**batch, "ciphertext": ciphertext}, plaintext


def _decision(fn):
    try:
        rows, leaves = fn()
        return "accept", [{k: (v if not isinstance(v, float) or not math.isnan(v) else "nan")
                           for k, v in r.items()} for r in rows], leaves
    except Exception as exc:  # noqa: BLE001 - the decision is the exception's type and text
        return "refuse", type(exc).__name__, str(exc)


def _reference(batch):
    opened = open_batch_verified(SCHEMA, batch, KEY)
    return opened.records, opened.commitments


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(record, min_size=1, max_size=5), st.sampled_from(MUTATIONS),
       st.lists(st.binary(min_size=16, max_size=16), min_size=5, max_size=5))
def test_open_fast_decides_as_the_record_rule(rows, mutation, salts):
    batch, _ = _seal(rows, mutation, salts[:len(rows)])
    expected = _decision(lambda: _reference(batch))
    assert _decision(lambda: sync.open_fast(SCHEMA, batch, KEY)) == expected
    if mutation == "none":
        assert expected[0] == "accept"


def test_each_mutation_is_refused_by_the_rule_or_accepted_alike():
    """The mutations really reach the rule: the hostile ones are refused by it."""
    rows = [{"sensor": "a", "value": 100.0, "count": 2**60, "ts": 5},
            {"sensor": "b", "value": 1.5, "ts": 6}]
    salts = [bytes([0xa0 + i]) * 16 for i in range(2)]  # hex with letters
    outcomes = {}
    for mutation in MUTATIONS:
        batch, _ = _seal(rows, mutation, salts)
        reference = _decision(lambda: _reference(batch))
        assert _decision(lambda: sync.open_fast(SCHEMA, batch, KEY)) == reference, mutation
        outcomes[mutation] = reference[0]
    # the rule takes any JSON that parses strictly to the committed records
    assert {outcomes[m] for m in ("none", "cursor", "escape", "space", "key_order",
                                  "trailing")} == {"accept"}
    refused = {m for m, o in outcomes.items() if o == "refuse"}
    assert {"duplicate", "nan", "deep_cursor", "salt_upper", "drop_record",
            "utf16", "float_int"} <= refused


BOUNDED = records.Schema.from_mapping({"version": 3, "fields": [
    {"name": "s", "type": "string"},
    {"name": "i", "type": "int", "min": -5, "max": 2**62},
    {"name": "t", "type": "timestamp", "required": False},
    {"name": "f", "type": "float", "min": -1e300, "max": 1e300, "required": False},
    {"name": "b", "type": "bool", "required": False},
    {"name": "Key_2", "type": "float", "required": False}]})
anything = st.none() | st.booleans() | ints | st.integers(-(2**70), 2**70) | \
    st.floats() | text | st.sampled_from(["12345678901234567890", "9007199254740993",
                                            "-9223372036854775808", "0", "1", "-0", "1e3"]) | \
    st.lists(st.integers(), max_size=2) | st.just({"x": 1})
field_names = st.sampled_from(["s", "i", "t", "f", "b", "Key_2", "extra"])


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(field_names, anything, max_size=7) |
       st.fixed_dictionaries({"s": text, "i": ints}, optional={
           "t": st.integers(0, 2**63 - 1) | st.integers(0, 2**63 - 1).map(str),
           "f": floats | ints, "b": st.booleans(), "Key_2": st.none() | floats}))
def test_the_fast_record_path_validates_and_encodes_as_the_rule(row):
    fast = sync._fast_record(sync._codec(BOUNDED), row)
    try:
        normal = records.validate_record(BOUNDED, row)
        encoded = records.canonical(normal)
    except records.RecordError:
        assert fast is None
        return
    if fast is not None:
        assert fast[0] == normal and fast[1] == encoded
        assert [type(v) for v in fast[0].values()] == [type(v) for v in normal.values()]


def test_the_fast_record_path_takes_the_common_rows():
    """It is not vacuous: plain rows, nanosecond timestamps as decimal strings included,
    go the fast way."""
    codec = sync._codec(BOUNDED)
    row = {"s": "a\\n\"é", "i": 7, "t": str(2**62), "f": 100, "b": False, "Key_2": None}
    normal, encoded = sync._fast_record(codec, row)
    assert normal == records.validate_record(BOUNDED, row)
    assert encoded == records.canonical(normal)
    assert sync._fast_record(codec, {**row, "t": 2**62}) is None  # a number: the rule decides
