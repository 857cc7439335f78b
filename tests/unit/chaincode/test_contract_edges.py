"""The contract at the edges mutation testing found untested: time and expiry boundaries,
epochs a ticket covers, what revocation deletes, what every audit entry and answer holds,
paging of ranges. Through ``MemoryLedger`` over ``contract.FUNCTIONS`` only."""

from __future__ import annotations

import hashlib
import json

import pytest

from ledgerlake import records
from ledgerlake.chaincode import contract
from ledgerlake.chaincode.contract.access import TICKET_TTL_NS
from ledgerlake.chaincode.contract.common import MAX_AGE_SECONDS
from ledgerlake.chaincode.memory import MemoryLedger, member
from ledgerlake.chaincode.runtime import ChaincodeError
from ledgerlake.client.batches import seal_batch
from ledgerlake.client.encryption import new_data_key
from ledgerlake.protocol import ErrorCode, error_code

from contract_world import refused

ORG1, ORG2 = "Org1MSP", "Org2MSP"
admin1, producer1 = member(ORG1, "admin", "admin"), member(ORG1, "producer", "producer")
analyst1, analyst2 = member(ORG1, "analyst", "analyst"), member(ORG2, "analyst", "a2")
auditor2, nobody = member(ORG2, "auditor", "auditor"), member(ORG1, "", "legacy-user")
SCHEMA = {"version": 1, "fields": [{"name": "sensor", "type": "string", "public": True},
                                   {"name": "t", "type": "float"}]}
ROWS = [{"sensor": "s1", "t": 1.5}, {"sensor": "s2", "t": 2.5}]
KEY = new_data_key()
WEEK = 7 * 24 * 3600


def spec(**over) -> str:
    s = {"id": "plant", "schema": SCHEMA, "writers": {"msp_ids": [ORG1]},
         "readers": [ORG1, ORG2], "wrapped_keys": {ORG1: "QUFB", ORG2: "QkJC"}}
    s.update(over)
    return json.dumps(s)


def key(*parts: str) -> str:
    """Fabric's composite key, written out: U+0000 type U+0000 attr U+0000 …"""
    return "\x00" + "\x00".join(parts) + "\x00"


@pytest.fixture
def ledger():
    led = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    led.invoke(admin1, "CreateStream", spec())
    return led


def run(ledger, who, fn, *args, **kw):
    """Endorse and commit; return (result, transaction) so tests can see tx id and time."""
    tx = ledger.endorse(who, fn, *args, **kw)
    if tx.error:
        raise ChaincodeError.from_text(tx.error)
    assert ledger.commit(tx) == ["VALID"]
    return json.loads(tx.result), tx


def audit_of(ledger, tx) -> dict:
    return json.loads(ledger.state[key("audit", tx.tx_id)][0])


def sealed(ledger, seq=1, prev="", source="line-1", start=None, end=None):
    now = ledger.clock_ns
    return seal_batch(stream="plant", source=source, seq=seq, prev_hash=prev, schema=SCHEMA,
                      rows=ROWS, data_key=KEY, key_epoch=1,
                      time_start=now if start is None else start,
                      time_end=now if end is None else end)


# -- streams ----------------------------------------------------------------------------------
def test_a_new_stream_holds_its_defaults_and_description():
    led = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    s, tx = run(led, admin1, "CreateStream", spec(description="line sensors"))
    assert (s["max_age_seconds"], s["description"], s["epoch"], s["shredded"]) == \
        (WEEK, "line sensors", 1, [])
    # nanoseconds beyond 2^53 are decimal strings in answers (the integer rule)
    assert s["created"] == s["updated"] == str(tx.timestamp_ns)


NOT_AN_INTEGER = "max_age_seconds must be an integer (a JSON integer; beyond ±(2^53-1) also " \
                 "its decimal string), not "
OUT_OF_RANGE = f"max_age_seconds must be from 1 to {MAX_AGE_SECONDS}"


@pytest.mark.parametrize("age, refusal", [
    (1, None), (MAX_AGE_SECONDS, None), (0, OUT_OF_RANGE), (-5, OUT_OF_RANGE),
    (MAX_AGE_SECONDS + 1, OUT_OF_RANGE), (True, NOT_AN_INTEGER + "bool True"),
    ("60", NOT_AN_INTEGER + "str '60'"), (1.5, NOT_AN_INTEGER + "float 1.5")])
def test_max_age_is_a_positive_integer_on_create_and_update(age, refusal):
    led = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    if refusal is None:
        assert run(led, admin1, "CreateStream", spec(max_age_seconds=age))[0][
            "max_age_seconds"] == age
        s, _ = run(led, admin1, "UpdateStream", "plant", json.dumps({"max_age_seconds": age}))
        assert s["max_age_seconds"] == age
        return
    with exactly(ErrorCode.INVALID_INPUT, refusal):
        led.invoke(admin1, "CreateStream", spec(max_age_seconds=age))
    led.invoke(admin1, "CreateStream", spec())
    with exactly(ErrorCode.INVALID_INPUT, refusal):
        led.invoke(admin1, "UpdateStream", "plant", json.dumps({"max_age_seconds": age}))


KNOWN = "description, max_age_seconds, schema, status, writers"


@pytest.mark.parametrize("changes, refusal", [
    ({}, "changes must name some of description, writers, max_age_seconds, schema, status"),
    ([], "changes must be a JSON object"),
    ("x", "changes must be a JSON object"),
    ({"colour": 1}, f"changes field 'colour' is unknown; known: {KNOWN}"),
    ({"description": "x", "y": 1}, f"changes field 'y' is unknown; known: {KNOWN}")])
def test_update_needs_some_known_changes(ledger, changes, refusal):
    before = ledger.query(analyst1, "GetStream", "plant")
    with exactly(ErrorCode.INVALID_INPUT, refusal):
        ledger.invoke(admin1, "UpdateStream", "plant", json.dumps(changes))
    assert ledger.query(analyst1, "GetStream", "plant") == before


def test_an_update_is_stamped_and_its_audit_says_what_changed(ledger):
    s, tx = run(ledger, admin1, "UpdateStream", "plant",
                json.dumps({"description": "d", "max_age_seconds": 60, "status": "active"}))
    assert s["updated"] == str(tx.timestamp_ns) and s["max_age_seconds"] == 60
    # what changed, from what to what; a field sent with its current value changed nothing
    assert audit_of(ledger, tx)["changed"] == {"description": {"from": "", "to": "d"},
                                               "max_age_seconds": {"from": WEEK, "to": 60}}


def test_a_new_schema_needs_exactly_the_next_version(ledger):
    ledger.invoke(admin1, "UpdateStream", "plant", json.dumps({"schema": {**SCHEMA, "version": 2}}))
    for version in (2, 1, 4):  # equal, lower, or skipping one: out of reach of the writers
        with exactly(ErrorCode.CONFLICT, "a new schema's version must be 3 (one above the current)"):
            ledger.invoke(admin1, "UpdateStream", "plant",
                          json.dumps({"schema": {**SCHEMA, "version": version}}))
    s, tx = run(ledger, admin1, "UpdateStream", "plant",
                json.dumps({"schema": {**SCHEMA, "version": 3}}))
    assert s["schema"]["version"] == 3
    assert audit_of(ledger, tx)["changed"]["schema"]["from"]["version"] == 2


def test_stream_reads_need_a_role_and_name_their_rule(ledger):
    for fn, args, rule in (("GetStream", ("plant",), "stream.read"),
                           ("ListStreams", (), "stream.read"),
                           ("GetOrgKey", (ORG1,), "org.key.read")):
        with refused(ErrorCode.ACCESS_DENIED, rf"^access denied by rule '{rule}': "):
            ledger.query(nobody, fn, *args)
    listed = json.loads(ledger.query(analyst2, "ListStreams"))
    assert [s["id"] for s in listed["items"]] == ["plant"] and listed["bookmark"] == ""


# -- keys: grants, rotation, revocation, shredding --------------------------------------------
def test_key_changes_are_stamped_and_audited_with_their_target(ledger):
    s, tx = run(ledger, admin1, "RotateKey", "plant", json.dumps({ORG1: "QUFB", ORG2: "QkJC"}))
    assert s["updated"] == str(tx.timestamp_ns)
    assert audit_of(ledger, tx)["target"] == {"stream": "plant", "epoch": 2}
    s, tx = run(ledger, admin1, "RevokeReader", "plant", ORG2)
    assert s["updated"] == str(tx.timestamp_ns)
    assert audit_of(ledger, tx)["target"] == {"stream": "plant", "msp_id": ORG2}
    s, tx = run(ledger, admin1, "GrantReader", "plant", ORG2, "Q0ND")
    assert s["updated"] == str(tx.timestamp_ns)
    assert audit_of(ledger, tx)["target"] == {"stream": "plant", "msp_id": ORG2, "epoch": 2}
    s, tx = run(ledger, admin1, "ShredEpoch", "plant", "1")
    assert s["updated"] == str(tx.timestamp_ns)
    entry = audit_of(ledger, tx)
    assert entry["target"] == {"stream": "plant", "epoch": 1} and entry["keys_destroyed"] == 1


def test_a_grant_key_must_be_base64_and_is_named(ledger):
    with exactly(ErrorCode.INVALID_INPUT, "wrapped_key must be a non-empty base64 string"):
        ledger.invoke(admin1, "GrantReader", "plant", "Org3MSP", "not base64!")
    assert "Org3MSP" not in json.loads(ledger.query(analyst1, "GetStream", "plant"))["readers"]
    run(ledger, admin1, "GrantReader", "plant", "Org3MSP", "Q0ND")


def test_revocation_deletes_the_readers_grants_of_every_epoch_and_only_those(ledger):
    ledger.invoke(admin1, "RotateKey", "plant", json.dumps({ORG1: "QUFB", ORG2: "QkJC"}))
    ledger.invoke(admin1, "RotateKey", "plant", json.dumps({ORG1: "QUFB", ORG2: "QkJC"}))
    ledger.invoke(admin1, "RevokeReader", "plant", ORG2)
    grants = {k for k in ledger.state if k.startswith(key("grant", "plant")[:-1])}
    assert grants == {key("grant", "plant", str(e), ORG1) for e in (1, 2, 3)}


def test_a_ticket_covers_every_unshredded_epoch_and_its_scope(ledger):
    ledger.invoke(admin1, "RotateKey", "plant", json.dumps({ORG1: "QUFB", ORG2: "QkJC"}))
    ticket, tx = run(ledger, analyst2, "OpenStream", "plant",
                     json.dumps({"purpose": "study", "block_from": 5, "block_to": 9}))
    assert ticket == {"ticket": tx.tx_id, "stream": "plant", "msp_id": ORG2, "id": "a2",
                      "epochs": [1, 2], "purpose": "study",
                      "scope": {"block_from": 5, "block_to": 9}, "generation": 1,
                      "issued": str(tx.timestamp_ns),
                      "expires": str(tx.timestamp_ns + TICKET_TTL_NS)}
    assert audit_of(ledger, tx)["epochs"] == [1, 2]
    with exactly(ErrorCode.NOT_FOUND, "epoch 3 of 'plant' is not open yet (current: 2)"):
        ledger.invoke(analyst2, "OpenStream", "plant", json.dumps({"purpose": "p", "epoch": 3}))
    one, _ = run(ledger, analyst2, "OpenStream", "plant", json.dumps({"purpose": "p", "epoch": 2}))
    assert one["epochs"] == [2]
    ledger.invoke(admin1, "ShredEpoch", "plant", "1")
    with exactly(ErrorCode.CONFLICT, "epoch 1 of 'plant' was shredded"):
        ledger.invoke(analyst2, "OpenStream", "plant", json.dumps({"purpose": "p", "epoch": 1}))
    rest, _ = run(ledger, analyst2, "OpenStream", "plant", json.dumps({"purpose": "p"}))
    assert rest["epochs"] == [2]


def test_a_scope_may_be_one_block_or_one_instant_but_not_inverted(ledger):
    scope = {"block_from": 5, "block_to": 5, "time_from": 7, "time_to": 7}
    ticket, _ = run(ledger, analyst2, "OpenStream", "plant", json.dumps({"purpose": "p", **scope}))
    assert ticket["scope"] == scope
    for lo, hi in (("block_from", "block_to"), ("time_from", "time_to")):
        with exactly(ErrorCode.INVALID_INPUT, f"request: {lo} is after {hi}"):
            ledger.invoke(analyst2, "OpenStream", "plant",
                          json.dumps({"purpose": "p", lo: 6, hi: 5}))


def test_keys_of_epochs_shredded_after_the_ticket_are_skipped_not_the_rest(ledger):
    ledger.invoke(admin1, "RotateKey", "plant", json.dumps({ORG1: "QUFB", ORG2: "QkJD"}))
    ticket = json.loads(ledger.invoke(analyst2, "OpenStream", "plant",
                                      json.dumps({"purpose": "p"})))["ticket"]
    ledger.invoke(admin1, "ShredEpoch", "plant", "1")
    keys = json.loads(ledger.query(analyst2, "GetStreamKeys", "plant", ticket))
    assert keys == {"stream": "plant", "msp_id": ORG2, "wrapped_keys": {"2": "QkJD"},
                    "shredded": [1], "ticket": ticket}


def test_a_ticket_works_up_to_its_expiry_instant(ledger):
    ticket, tx = run(ledger, analyst2, "OpenStream", "plant", json.dumps({"purpose": "p"}))
    expires = int(ticket["expires"])
    ledger.peer_clock_ns = expires
    ledger.query(analyst2, "GetStreamKeys", "plant", ticket["ticket"], timestamp_ns=expires)
    ledger.peer_clock_ns = expires + 1
    with refused(ErrorCode.EXPIRED, "^the ticket has expired"):
        ledger.query(analyst2, "GetStreamKeys", "plant", ticket["ticket"],
                     timestamp_ns=expires + 1)
    ledger.peer_clock_ns = expires  # the transaction time alone ends it
    with refused(ErrorCode.EXPIRED, "^the ticket has expired"):
        ledger.query(analyst2, "GetStreamKeys", "plant", ticket["ticket"],
                     timestamp_ns=expires + 1)
    ledger.peer_clock_ns = expires + 1  # the peer's clock alone ends it too
    with refused(ErrorCode.EXPIRED, "^the ticket has expired"):
        ledger.query(analyst2, "GetStreamKeys", "plant", ticket["ticket"],
                     timestamp_ns=expires)


def test_an_org_key_entry_and_its_audit():
    led = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VuAyEA3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=\n" \
          "-----END PUBLIC KEY-----\n"
    entry, tx = run(led, admin1, "RegisterOrgKey", pem)
    assert entry == {"msp_id": ORG1, "public_key": pem, "updated": str(tx.timestamp_ns)}
    audit = audit_of(led, tx)
    assert (audit["action"], audit["target"]) == ("OrgKeyRegistered", {"msp_id": ORG1})
    assert json.loads(led.query(analyst2, "GetOrgKey", ORG1)) == entry


# -- batches: time bounds, indexes, answers ---------------------------------------------------
def test_batch_times_hold_at_their_exact_bounds(ledger):
    def next_time():
        """The next transaction's time, which the peer's clock here shows as well."""
        ledger.peer_clock_ns = ledger.clock_ns + 1000
        return ledger.peer_clock_ns

    now = next_time()
    edge = sealed(ledger, start=now - WEEK * 10**9, end=now + records.MAX_FUTURE_SKEW_NS)
    out, tx = run(ledger, producer1, "SubmitBatch", json.dumps(edge.batch), edge.ciphertext)
    assert tx.timestamp_ns == now and out["seq"] == 1
    now = next_time()
    late = sealed(ledger, 2, edge.id, start=now, end=now + records.MAX_FUTURE_SKEW_NS + 1)
    with refused(ErrorCode.CLOCK_SKEW, "^batch.time_end lies in the future"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(late.batch), late.ciphertext)
    now = next_time()
    too_old = sealed(ledger, 2, edge.id, start=now - WEEK * 10**9 - 1, end=now)
    with refused(ErrorCode.CLOCK_SKEW, r"^batch.time_start is older than the stream's max age"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(too_old.batch), too_old.ciphertext)
    next_time()
    hour_old = sealed(ledger, 2, edge.id, start=ledger.clock_ns - 3600 * 10**9)
    run(ledger, producer1, "SubmitBatch", json.dumps(hour_old.batch), hour_old.ciphertext)


def test_a_submitted_batch_answer_audit_and_history(ledger):
    b = sealed(ledger)
    out, tx = run(ledger, producer1, "SubmitBatch", json.dumps(b.batch), b.ciphertext)
    assert out == {"id": b.id, "tx_id": tx.tx_id, "seq": 1, "plaintext_checked": False}
    entry = audit_of(ledger, tx)
    assert entry["target"] == {"stream": "plant", "batch": b.id, "source": "line-1", "seq": 1}
    assert entry["records"] == 2
    history = json.loads(ledger.query(analyst1, "GetBatchHistory", "plant", "line-1"))
    assert history == {"items": [{"tx_id": tx.tx_id, "time": str(tx.timestamp_ns),
                                  "head": {"seq": 1, "batch_id": b.id, "msp_id": ORG1}}],
                       "bookmark": ""}


def test_batch_history_pages_end_without_a_bookmark_when_nothing_is_left(ledger):
    prev, ids = "", []
    for seq in (1, 2):
        b = sealed(ledger, seq, prev)
        ledger.invoke(producer1, "SubmitBatch", json.dumps(b.batch), b.ciphertext)
        prev = b.id
        ids.append(b.id)

    def page(size, mark=""):
        return json.loads(ledger.query(analyst1, "GetBatchHistory", "plant", "line-1", size, mark))

    exact = page("2")  # the page holds every head there is: no next page
    assert [h["head"]["batch_id"] for h in exact["items"]] == ids[::-1]
    assert exact["bookmark"] == ""
    first = page("1")
    assert [h["head"]["batch_id"] for h in first["items"]] == ids[1:] and first["bookmark"] == "1"
    rest = page("1", first["bookmark"])
    assert [h["head"]["batch_id"] for h in rest["items"]] == ids[:1] and rest["bookmark"] == ""


def test_batches_with_the_same_start_time_are_all_listed_by_time(ledger):
    start = ledger.clock_ns
    ids = []
    for source in ("a", "b", "c"):
        b = sealed(ledger, source=source, start=start, end=start)
        ledger.invoke(producer1, "SubmitBatch", json.dumps(b.batch), b.ciphertext)
        ids.append(b.id)
    by_time = json.loads(ledger.query(analyst1, "ListBatches", json.dumps(
        {"stream": "plant", "time_from": start, "time_to": start + 1})))
    assert sorted(b["id"] for b in by_time["items"]) == sorted(ids)


def test_time_ranges_with_one_end_and_pages(ledger):
    base = ledger.clock_ns - 10**12
    ids = []
    for i, source in enumerate(("a", "b", "c", "d")):
        b = sealed(ledger, source=source, start=base + i * 10**9, end=base + i * 10**9)
        ledger.invoke(producer1, "SubmitBatch", json.dumps(b.batch), b.ciphertext)
        ids.append(b.id)

    def listed(**q):
        return json.loads(ledger.query(analyst1, "ListBatches", json.dumps({"stream": "plant", **q})))

    assert [b["id"] for b in listed(time_from=base + 2 * 10**9)["items"]] == ids[2:]
    assert [b["id"] for b in listed(time_to=base + 2 * 10**9)["items"]] == ids[:2]
    first = listed(time_from=base, page_size=3)
    assert [b["id"] for b in first["items"]] == ids[:3] and first["bookmark"]
    rest = listed(time_from=base, page_size=3, bookmark=first["bookmark"])
    assert [b["id"] for b in rest["items"]] == ids[3:]
    with exactly(ErrorCode.INVALID_INPUT, "query needs 'stream'"):
        ledger.query(analyst1, "ListBatches", json.dumps({"source": "a"}))


# -- the audit trail ---------------------------------------------------------------------------
def test_an_audit_query_may_cover_one_instant_and_a_320_character_actor(ledger):
    _, tx = run(ledger, analyst2, "OpenStream", "plant", json.dumps({"purpose": "p"}))
    one = json.loads(ledger.query(auditor2, "QueryAudit", json.dumps(  # [from, to)
        {"time_from": tx.timestamp_ns, "time_to": tx.timestamp_ns + 1})))
    assert [e["tx_id"] for e in one["items"]] == [tx.tx_id]
    longest = "Org1MSP/" + "a" * 312  # 320 characters: the bound holds, nobody matches
    assert json.loads(ledger.query(auditor2, "QueryAudit", json.dumps(
        {"by": "actor", "value": longest})))["items"] == []


def test_audit_queries_page_and_filter_by_time_within_an_index(ledger):
    times = []
    for i in range(3):
        _, tx = run(ledger, analyst2, "OpenStream", "plant", json.dumps({"purpose": f"p{i}"}))
        times.append(tx.timestamp_ns)

    def q(**query):
        return json.loads(ledger.query(auditor2, "QueryAudit", json.dumps(query)))

    page = q(by="actor", value=f"{ORG2}/a2", page_size=2)
    assert [e["purpose"] for e in page["items"]] == ["p0", "p1"] and page["bookmark"]
    rest = q(by="actor", value=f"{ORG2}/a2", page_size=2, bookmark=page["bookmark"])
    assert [e["purpose"] for e in rest["items"]] == ["p2"]
    later = q(by="actor", value=f"{ORG2}/a2", time_from=times[1])
    assert [e["purpose"] for e in later["items"]] == ["p1", "p2"]
    with exactly(ErrorCode.INVALID_INPUT, "querying by stream needs a 'value'"):
        ledger.query(auditor2, "QueryAudit", json.dumps({"by": "stream"}))
    with exactly(ErrorCode.INVALID_INPUT, "'by' must be actor, stream, action or time"):
        ledger.query(auditor2, "QueryAudit", json.dumps({"by": "colour", "value": "x"}))


# -- lineage -----------------------------------------------------------------------------------
def test_a_lineage_anchor_is_content_addressed_audited_and_readable_by_analysts(ledger):
    receipt = {"inputs": {"streams": ["plant"]}, "code_version": "v1", "outputs": {"o": "x"}}
    entry, tx = run(ledger, analyst2, "AnchorLineage", json.dumps(receipt))
    assert entry["id"] == hashlib.sha256(records.canonical(receipt)).hexdigest()
    audit = audit_of(ledger, tx)
    assert (audit["action"], audit["target"], audit["inputs"]) == \
        ("LineageAnchored", {"lineage": entry["id"], "stream": "plant"},
         {"streams": ["plant"], "batches": 0})
    assert json.loads(ledger.query(analyst1, "GetLineage", entry["id"]))["id"] == entry["id"]


def test_a_lineage_needs_input_streams_and_is_indexed_under_each(ledger):
    ledger.invoke(admin1, "CreateStream", spec(id="hall"))
    receipt = {"inputs": {"streams": ["plant", "hall"]}, "code_version": "v1", "outputs": {}}
    entry, tx = run(ledger, analyst2, "AnchorLineage", json.dumps(receipt))
    audit = audit_of(ledger, tx)
    assert audit["target"] == {"lineage": entry["id"], "stream": "plant"}
    assert audit["inputs"] == {"streams": ["plant", "hall"], "batches": 0}
    stamp = f"{tx.timestamp_ns:020d}"
    for stream in ("plant", "hall"):
        assert json.loads(ledger.state[key("audit~stream", stream, stamp, tx.tx_id)][0]) == audit
    for inputs, refusal in (
            ({}, "receipt.inputs.streams must be a list of 1 to 64 stream ids"),
            ({"streams": []}, "receipt.inputs.streams must be a list of 1 to 64 stream ids"),
            ({"streams": "plant"}, "receipt.inputs.streams must be a list of 1 to 64 stream ids"),
            ({"streams": [1]}, "receipt.inputs.streams[0] must be an identifier like 'Org1MSP'"),
            ({"streams": ["plant", "plant"]}, "receipt.inputs.streams names a stream twice$"),
            ([], "receipt.inputs must be an object with some of streams, batches, blocks, "
                 "merkle_root, time_from, time_to$")):
        with refused(ErrorCode.INVALID_INPUT, "^" + refusal.replace("[", r"\[").replace("]", r"\]")):
            ledger.invoke(analyst2, "AnchorLineage", json.dumps(
                {"inputs": inputs, "code_version": "v2", "outputs": {}}))


# -- denials and refusals say exactly what failed ------------------------------------------
def exactly(code: ErrorCode, text: str):
    """A refusal with error ``code`` whose message is exactly ``text``."""
    import re
    return refused(code, rf"^{re.escape(text)}$")


def test_key_release_denials_name_their_reason(ledger):
    ticket = json.loads(ledger.invoke(analyst2, "OpenStream", "plant",
                                      json.dumps({"purpose": "p"})))["ticket"]
    unknown = "ab" * 32
    with exactly(ErrorCode.ACCESS_DENIED, f"access denied by rule 'stream.keys': no committed "
                 f"ticket '{unknown}' for 'plant'; submit OpenStream first"):
        ledger.query(analyst2, "GetStreamKeys", "plant", unknown)
    with exactly(ErrorCode.ACCESS_DENIED,
                 "access denied by rule 'stream.keys': the ticket was issued to another identity"):
        ledger.query(member(ORG2, "analyst", "other"), "GetStreamKeys", "plant", ticket)
    expires = int(json.loads(ledger.state[key("ticket", "plant", ticket)][0])["expires"])
    ledger.peer_clock_ns = expires + 1
    with exactly(ErrorCode.EXPIRED, "the ticket has expired (by the transaction time or the "
                                    "peer's clock); open the stream again"):
        ledger.query(analyst2, "GetStreamKeys", "plant", ticket, timestamp_ns=expires + 1)
    ledger.peer_clock_ns = 0
    ledger.invoke(admin1, "RevokeReader", "plant", ORG2)
    with exactly(ErrorCode.ACCESS_DENIED,
                 "access denied by rule 'stream.keys': Org2MSP is no longer a reader of 'plant'"):
        ledger.query(analyst2, "GetStreamKeys", "plant", ticket)
    with exactly(ErrorCode.ACCESS_DENIED,
                 "access denied by rule 'stream.open': Org2MSP is not a reader of 'plant'"):
        ledger.invoke(analyst2, "OpenStream", "plant", json.dumps({"purpose": "p"}))


def test_writer_and_source_denials_name_their_reason(ledger):
    with exactly(ErrorCode.ACCESS_DENIED,
                 "access denied by rule 'batch.write': writing needs role producer, not 'none'"):
        ledger.invoke(nobody, "SubmitBatch", *sealed(ledger).args)
    ledger.invoke(admin1, "UpdateStream", "plant", json.dumps(
        {"writers": {"msp_ids": [ORG1, ORG2], "roles": ["producer", "analyst"]}}))
    with exactly(ErrorCode.ACCESS_DENIED, "access denied by rule 'batch.write': writing needs "
                                          "role analyst or producer, not 'admin'"):
        ledger.invoke(admin1, "SubmitBatch", *sealed(ledger).args)
    first = sealed(ledger)
    ledger.invoke(producer1, "SubmitBatch", json.dumps(first.batch), first.ciphertext)
    with exactly(ErrorCode.ACCESS_DENIED,
                 "access denied by rule 'batch.source': source 'line-1' belongs to Org1MSP"):
        ledger.invoke(member(ORG2, "producer", "p2"), "SubmitBatch",
                      *sealed(ledger, 2, first.id).args)
    wrong = sealed(ledger, 2, "ab" * 32)
    with exactly(ErrorCode.CHAIN_FORK,
                 f"chain of source 'line-1' broken: prev_hash does not name batch {first.id}"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(wrong.batch), wrong.ciphertext)
    fresh = sealed(ledger, 1, "", source="new")
    fresh_batch = {**fresh.batch, "seq": 2, "prev_hash": "ab" * 32}
    fresh_batch["id"] = records.batch_id(fresh_batch)
    with exactly(ErrorCode.CHAIN_GAP, "chain of source 'new' broken (a gap): expected seq 1, got 2"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(fresh_batch), fresh.ciphertext)


def test_lineage_denial_names_the_unread_stream():
    led = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    led.invoke(admin1, "CreateStream", spec(id="mine", readers=[ORG1], wrapped_keys={ORG1: "QUFB"}))
    with exactly(ErrorCode.ACCESS_DENIED,
                 "access denied by rule 'lineage.anchor': Org2MSP does not read input stream 'mine'"):
        led.invoke(analyst2, "AnchorLineage", json.dumps(
            {"inputs": {"streams": ["mine"]}, "code_version": "v", "outputs": {}}))


@pytest.mark.parametrize("fn, args, text", [
    ("GetBatch", ("plant", "f" * 64), f"no batch {'f' * 64} in stream 'plant'"),
    ("GetLineage", ("e" * 64,), f"no lineage receipt {'e' * 64}"),
])
def test_what_is_not_there_is_named(ledger, fn, args, text):
    with exactly(ErrorCode.NOT_FOUND, text):
        ledger.query(analyst1 if fn == "GetBatch" else member(ORG2, "auditor", "au"), fn, *args)


def test_key_management_refusals_are_named(ledger):
    with exactly(ErrorCode.ALREADY_EXISTS, "Org2MSP already reads stream 'plant'"):
        ledger.invoke(admin1, "GrantReader", "plant", ORG2, "QkJC")
    with exactly(ErrorCode.NOT_FOUND, "Org3MSP does not read stream 'plant'"):
        ledger.invoke(admin1, "RevokeReader", "plant", "Org3MSP")
    with exactly(ErrorCode.CONFLICT, "only a past epoch (1..0) can be shredded; rotate the key first"):
        ledger.invoke(admin1, "ShredEpoch", "plant", "1")
    ledger.invoke(admin1, "RotateKey", "plant", json.dumps({ORG1: "QUFB", ORG2: "QkJC"}))
    with exactly(ErrorCode.CONFLICT, "only a past epoch (1..1) can be shredded; rotate the key first"):
        ledger.invoke(admin1, "ShredEpoch", "plant", "2")
    ledger.invoke(admin1, "ShredEpoch", "plant", "1")
    with exactly(ErrorCode.CONFLICT, "epoch 1 of 'plant' is already shredded"):
        ledger.invoke(admin1, "ShredEpoch", "plant", "1")
    with exactly(ErrorCode.INVALID_INPUT, "the organisation key must be a PEM public key"):
        ledger.invoke(admin1, "RegisterOrgKey", "not a key")


@pytest.mark.parametrize("fn, args, what", [
    ("CreateStream", ("{",), "stream spec"),
    ("UpdateStream", ("plant", "{"), "changes"),
    ("RotateKey", ("plant", "{"), "wrapped keys"),
    ("SubmitBatch", ("{",), "batch"),
    ("ListBatches", ("{",), "query"),
    ("OpenStream", ("plant", "{"), "request"),
    ("QueryAudit", ("{",), "query"),
    ("AnchorLineage", ("{",), "receipt"),
])
def test_json_arguments_are_named_when_they_are_not_json(ledger, fn, args, what):
    who = {"CreateStream": admin1, "UpdateStream": admin1, "RotateKey": admin1,
           "SubmitBatch": producer1, "ListBatches": analyst1, "OpenStream": analyst1,
           "QueryAudit": auditor2, "AnchorLineage": analyst1}[fn]
    with refused(ErrorCode.INVALID_INPUT, rf"^{what} must be JSON"):
        ledger.invoke(who, fn, *args)


IDENTIFIER = "{} must be an identifier like 'Org1MSP' or 'plant-sensors' (a letter, then up " \
             "to 63 letters, digits, '_', '.' or '-')"


@pytest.mark.parametrize("fn, args, text", [
    ("CreateStream", ("[1]",), "stream spec must be a JSON object"),
    ("CreateStream", (spec(id="bad id"),), "stream id must be an identifier like 'Org1MSP' or "
     "'plant-sensors' (a letter, then up to 63 letters, digits, '_', '.' or '-')"),
    ("UpdateStream", ("plant", json.dumps({"status": "open"})), "status must be 'active' or 'closed'"),
    ("QueryAudit", ("[1]",), "query must be a JSON object"),
    ("AnchorLineage", ("[1]",), "receipt must be a JSON object"),
    ("OpenStream", ("plant", json.dumps({"purpose": " "})), "opening a stream needs a stated 'purpose'"),
    ("ListBatches", ("[1]",), "query must be a JSON object"),
    ("ListBatches", ("{}",), "query needs 'stream'"),
    ("ListBatches", (json.dumps({"stream": "plant", "time_to": -1}),), "time_to must be from 0 to "
                                                                       "9223372036854775807"),
    ("ListBatches", (json.dumps({"stream": "plant", "time_from": -1}),), "time_from must be from 0 "
                                                                         "to 9223372036854775807"),
    ("QueryAudit", (json.dumps({"time_from": -1}),), "time_from must be from 0 to 9223372036854775807"),
    ("QueryAudit", (json.dumps({"time_to": "x"}),), "time_to must be an integer (a JSON integer; "
     "beyond ±(2^53-1) also its decimal string), not str 'x'"),
    ("QueryAudit", (json.dumps({"by": "x", "value": "y"}),), "'by' must be actor, stream, action or time"),
    ("ShredEpoch", ("plant", "x"), "epoch must be an integer, not 'x'"),
    ("CreateStream", (spec(id="x", max_age_seconds=0),), OUT_OF_RANGE),
    ("UpdateStream", ("plant", json.dumps({"max_age_seconds": 0})), OUT_OF_RANGE),
    ("RotateKey", ("plant", json.dumps({ORG1: "QUFB"})),
     "wrapped_keys must hold one wrapped key per reader org ['Org1MSP', 'Org2MSP'], not ['Org1MSP']"),
    ("AnchorLineage", (json.dumps({"inputs": {"streams": []}, "code_version": "v",
                                   "outputs": {}}),),
     "receipt.inputs.streams must be a list of 1 to 64 stream ids"),
    ("AnchorLineage", (json.dumps({"inputs": {"streams": ["plant"]}, "code_version": "v",
                                   "outputs": []}),), "receipt.outputs must be an object"),
    ("GetLineage", ("r1",), "receipt id must be 64 lower-case hex digits"),
    ("GetStreamKeys", ("plant", "nope"), "ticket must be 64 lower-case hex digits"),
    ("SubmitBatch", ("[1]",), "batch must be a JSON object"),
    ("SubmitBatch", ('{"seq": 1}',), "batch lacks field 'stream'"),
    ("SubmitBatch", (json.dumps({"stream": 5}),), "batch lacks field 'source'"),
    ("ShredEpoch", ("plant", "1000001"), "epoch must be from 1 to 1000000"),
    ("ShredEpoch", ("plant", "0"), "epoch must be from 1 to 1000000"),
    ("GetOrgKey", ("1org",), IDENTIFIER.format("msp_id")),
    ("GetBatchHistory", ("plant", "-x"), IDENTIFIER.format("source")),
    ("GetBatch", ("plant", "x"), "batch id must be 64 lower-case hex digits"),
    ("GrantReader", ("plant", "1x", "QUFB"), IDENTIFIER.format("msp_id")),
    ("RegisterOrgKey", ("k" * 1025,), "the organisation key is longer than 1024 characters"),
    ("UpdateStream", ("plant", json.dumps({"description": "d" * 1025})),
     "description is longer than 1024 characters"),
    ("UpdateStream", ("plant", json.dumps({"description": 5})), "description must be a string"),
    ("QueryAudit", (json.dumps({"by": "actor", "value": "Org1MSP/" + "a" * 313}),),
     "query.value (an actor) is longer than 320 characters"),
    ("QueryAudit", (json.dumps({"by": "actor", "value": "Org1MSP"}),),
     "query.value must be 'MSP/enrollment id' for an actor"),
    ("QueryAudit", (json.dumps({"by": "actor", "value": "1x/admin"}),),
     IDENTIFIER.format("query.value's MSP ID")),
    ("QueryAudit", (json.dumps({"by": "time", "value": "x"}),), "querying by time takes no 'value'"),
    ("ListBatches", (json.dumps({"stream": "plant", "source": "a", "time_to": 5}),),
     "query: list by source or by time, not both"),
    ("ListBatches", (json.dumps({"stream": "plant", "source": "-x"}),), IDENTIFIER.format("source")),
    ("ListBatches", (json.dumps({"stream": "plant", "time_from": 5, "time_to": 4}),),
     "query: time_from is after time_to"),
])
def test_input_errors_are_named_exactly(ledger, fn, args, text):
    who = {"CreateStream": admin1, "UpdateStream": admin1, "RotateKey": admin1,
           "ShredEpoch": admin1, "ListBatches": analyst1, "OpenStream": analyst1,
           "QueryAudit": auditor2, "AnchorLineage": analyst1, "GetLineage": auditor2,
           "GetStreamKeys": analyst2, "SubmitBatch": producer1, "GetOrgKey": analyst1,
           "GetBatchHistory": analyst1, "GetBatch": analyst1, "GrantReader": admin1,
           "RegisterOrgKey": admin1}[fn]
    with exactly(ErrorCode.INVALID_INPUT, text):
        ledger.invoke(who, fn, *args)


def test_a_batch_in_the_future_is_named(ledger):
    late = sealed(ledger, end=ledger.clock_ns + records.MAX_FUTURE_SKEW_NS + 10**12)
    with exactly(ErrorCode.CLOCK_SKEW,
                 "batch.time_end lies in the future of the transaction time or the peer's clock"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(late.batch), late.ciphertext)


def test_public_fields_of_a_batch_are_named_by_column_and_position(ledger):
    b = sealed(ledger)
    bad = {**b.batch, "public": {"sensor": ["s1", 5]}}
    bad["id"] = records.batch_id(bad)
    with refused(ErrorCode.INVALID_INPUT,
                 r"^batch\.public\.sensor\[1\]: field 'sensor' must be of type"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(bad))


# -- what is stored ----------------------------------------------------------------------------
def test_a_stream_without_description_has_an_empty_one():
    led = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    assert json.loads(led.invoke(admin1, "CreateStream", spec()))["description"] == ""


def test_a_stored_batch_says_who_sent_it_when_and_whether_plaintext_was_checked(ledger):
    b = sealed(ledger)
    _, tx = run(ledger, producer1, "SubmitBatch", *b.args, transient=b.transient)
    stored = json.loads(ledger.query(analyst1, "GetBatch", "plant", b.id))
    # nanoseconds beyond 2^53 come back as decimal strings (the integer rule)
    assert stored == {**b.batch, "time_start": str(b.batch["time_start"]),
                      "time_end": str(b.batch["time_end"]),
                      "producer": {"msp_id": ORG1, "id": "producer"},
                      "tx_id": tx.tx_id, "recorded": str(tx.timestamp_ns),
                      "plaintext_checked": True}


def test_a_lineage_entry_says_who_anchored_it_when(ledger):
    receipt = {"inputs": {"streams": ["plant"]}, "code_version": "v1", "outputs": {}}
    entry, tx = run(ledger, analyst2, "AnchorLineage", json.dumps(receipt))
    assert entry == {"id": hashlib.sha256(records.canonical(receipt)).hexdigest(),
                     "receipt": receipt, "tx_id": tx.tx_id, "anchored": str(tx.timestamp_ns),
                     "by": {"msp_id": ORG2, "id": "a2"}}


def test_one_sources_batches_page_in_sequence_order(ledger):
    prev, ids = "", []
    for seq in (1, 2, 3):
        b = sealed(ledger, seq, prev)
        ledger.invoke(producer1, "SubmitBatch", json.dumps(b.batch), b.ciphertext)
        prev = b.id
        ids.append(b.id)
    first = json.loads(ledger.query(analyst1, "ListBatches", json.dumps(
        {"stream": "plant", "source": "line-1", "page_size": 2})))
    assert [b["id"] for b in first["items"]] == ids[:2] and first["bookmark"]
    rest = json.loads(ledger.query(analyst1, "ListBatches", json.dumps(
        {"stream": "plant", "source": "line-1", "page_size": 2, "bookmark": first["bookmark"]})))
    assert [b["id"] for b in rest["items"]] == ids[2:] and rest["bookmark"] == ""


def test_a_ticket_whose_every_epoch_was_shredded_releases_nothing(ledger):
    ticket = json.loads(ledger.invoke(analyst2, "OpenStream", "plant",
                                      json.dumps({"purpose": "p"})))["ticket"]  # epochs [1]
    ledger.invoke(admin1, "RotateKey", "plant", json.dumps({ORG1: "QUFB", ORG2: "QkJC"}))
    ledger.invoke(admin1, "ShredEpoch", "plant", "1")
    with exactly(ErrorCode.NOT_FOUND, "no key of 'plant' is granted to Org2MSP"):
        ledger.query(analyst2, "GetStreamKeys", "plant", ticket)


# -- every function's wrapper: clear errors, never internal ones; the peer's clock --------------
def test_a_record_rule_broken_is_an_input_error_not_an_internal_one(ledger):
    bad_schema = spec(id="x", schema={"version": 1, "fields": [{"name": "a", "type": "blob"}]})
    tx = ledger.endorse(admin1, "CreateStream", bad_schema)
    assert tx.error == "INVALID_INPUT: schema.fields[0].type must be one of int, float, " \
                       "string, bool, timestamp", tx.error


def test_arguments_that_are_not_utf8_are_an_input_error(ledger):
    tx = ledger.endorse(analyst1, "GetStream", b"\xff\xfe")
    assert tx.error == "INVALID_INPUT: GetStream: argument 1 is not UTF-8 text", tx.error


def test_the_transaction_time_may_be_off_the_peers_clock_by_the_skew_exactly(ledger):
    ledger.peer_clock_ns = ledger.clock_ns + 10**12
    for off, ok in ((records.MAX_FUTURE_SKEW_NS, True), (records.MAX_FUTURE_SKEW_NS + 1, False),
                    (-records.MAX_FUTURE_SKEW_NS, True), (-records.MAX_FUTURE_SKEW_NS - 1, False)):
        tx = ledger.endorse(analyst1, "GetStream", "plant",
                            timestamp_ns=ledger.peer_clock_ns + off)
        assert (tx.error == "") is ok, (off, tx.error)
        assert ok or error_code(tx.error) is ErrorCode.CLOCK_SKEW, tx.error
