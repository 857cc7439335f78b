"""Refusals of the contract that once could be removed without any test noticing, and the
access and chain checks mutation testing asks about: each test makes the one refused thing
happen, and also shows the same call succeeding once that one thing is right, so a test
cannot pass because the call fails for another reason.

Driven through the stable entry points: ``MemoryLedger`` over ``contract.FUNCTIONS``."""

from __future__ import annotations

import copy
import re
import json

import pytest

from ledgerlake import records
from ledgerlake.chaincode import contract
from ledgerlake.chaincode.contract.access import TICKET_TTL_NS
from ledgerlake.chaincode.memory import MemoryLedger, member
from ledgerlake.chaincode.runtime import ChaincodeError
from ledgerlake.client.batches import seal_batch
from ledgerlake.client.encryption import new_data_key
from ledgerlake.protocol import ErrorCode, error_code

from contract_world import refused

ORG1, ORG2, ORG3 = "Org1MSP", "Org2MSP", "Org3MSP"
admin1, admin2 = member(ORG1, "admin", "admin"), member(ORG2, "admin", "admin2")
producer1, producer2 = member(ORG1, "producer", "producer"), member(ORG2, "producer", "p2")
analyst1, analyst2 = member(ORG1, "analyst", "analyst"), member(ORG2, "analyst", "a2")
analyst3, auditor3 = member(ORG3, "analyst", "a3"), member(ORG3, "auditor", "au3")
nobody = member(ORG1, "", "legacy-user")

SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "temperature_c", "type": "float", "min": -40, "max": 125}]}
ROWS = [{"sensor": "s1", "temperature_c": 21.5}, {"sensor": "s2", "temperature_c": 22.0}]
KEY = new_data_key()


def spec(**over) -> str:
    s = {"id": "plant", "schema": SCHEMA, "writers": {"msp_ids": [ORG1]},
         "readers": [ORG1, ORG2], "wrapped_keys": {ORG1: "AAAA", ORG2: "BBBB"}}
    s.update(over)
    return json.dumps(s)


@pytest.fixture
def ledger():
    led = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    led.invoke(admin1, "CreateStream", spec())
    return led


def sealed(ledger, seq=1, prev="", rows=ROWS, source="line-1", stream="plant"):
    return seal_batch(stream=stream, source=source, seq=seq, prev_hash=prev, schema=SCHEMA,
                      rows=rows, data_key=KEY, key_epoch=1, time_start=ledger.clock_ns,
                      time_end=ledger.clock_ns)


def submit(ledger, who, batch: dict, transient=None) -> dict:
    return json.loads(ledger.invoke(who, "SubmitBatch", json.dumps(batch),
                                    transient=transient))


def status(ledger, value: str) -> None:
    ledger.invoke(admin1, "UpdateStream", "plant", json.dumps({"status": value}))


def denied(rule: str):
    return refused(ErrorCode.ACCESS_DENIED, rf"^access denied by rule '{rule}': ")


# -- a closed stream --------------------------------------------------------------------
def test_a_closed_stream_refuses_batches_and_takes_them_again_when_reopened(ledger):
    first = sealed(ledger)
    status(ledger, "closed")
    with refused(ErrorCode.CONFLICT, "stream 'plant' is closed"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(first.batch))
    assert json.loads(ledger.query(analyst1, "GetStream", "plant"))["status"] == "closed"
    status(ledger, "active")
    assert submit(ledger, producer1, first.batch)["seq"] == 1


def test_closing_a_stream_mid_chain_refuses_the_next_batch(ledger):
    first = sealed(ledger)
    submit(ledger, producer1, first.batch)
    status(ledger, "closed")
    second = sealed(ledger, 2, first.id)
    with refused(ErrorCode.CONFLICT, "is closed"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(second.batch),
                      transient=second.transient)
    status(ledger, "active")
    assert submit(ledger, producer1, second.batch, second.transient)["seq"] == 2


@pytest.mark.parametrize("value", ["open", "", "Closed", None])
def test_a_stream_status_is_active_or_closed(ledger, value):
    with refused(ErrorCode.INVALID_INPUT, "status must be 'active' or 'closed'"):
        ledger.invoke(admin1, "UpdateStream", "plant", json.dumps({"status": value}))


def test_only_the_owner_admin_closes_a_stream(ledger):
    with denied("stream.update"):
        ledger.invoke(admin2, "UpdateStream", "plant", json.dumps({"status": "closed"}))
    with denied("stream.update"):
        ledger.invoke(producer1, "UpdateStream", "plant", json.dumps({"status": "closed"}))
    submit(ledger, producer1, sealed(ledger).batch)  # still open


# -- plaintext sent to a reader endorser: the one record rule --------------------------------
def test_plaintext_whose_records_differ_from_the_public_fields_is_refused(ledger):
    """The commitments cover the records, not the clear-text public fields, so only this
    comparison stops a batch that shows one sensor in clear and commits to another."""
    good = sealed(ledger)
    lying = copy.deepcopy(good.batch)
    lying["public"][1] = {"sensor": "s-elsewhere"}
    lying["id"] = records.batch_id(lying)
    with refused(ErrorCode.INVALID_INPUT, r"record 1.*(differs from|differ from).*public"
                                             r"|record 1: public fields differ"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(lying), transient=good.transient)
    # the same batch without plaintext cannot be checked, and is taken (unchecked)
    assert submit(ledger, producer1, lying)["plaintext_checked"] is False


def test_plaintext_whose_commitments_miss_the_merkle_root_is_refused(ledger):
    good = sealed(ledger)
    other = sealed(ledger, rows=[ROWS[0], {"sensor": "s2", "temperature_c": 99.0}])
    with refused(ErrorCode.INVALID_INPUT, "(?i)merkle"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(good.batch),
                      transient=other.transient)
    assert submit(ledger, producer1, good.batch, good.transient)["plaintext_checked"] is True


@pytest.mark.parametrize("content, message", [
    ({"records": ROWS[:1], "salts": ["00" * 16]}, "(?i)count|record_count"),
    ({"records": ROWS, "salts": ["00" * 16]}, "(?i)count|record_count"),
    ({"records": ROWS, "salts": ["00" * 16, "XX" * 16]}, "(?i)salt"),
    ({"records": ROWS, "salts": ["00" * 16, "11" * 15]}, "(?i)salt"),
    ({"records": ROWS}, "(?i)records|salts"),
    ("not json", "(?i)json|records"),
])
def test_malformed_plaintext_is_an_input_error(ledger, content, message):
    good = sealed(ledger)
    raw = content.encode() if isinstance(content, str) else json.dumps(content).encode()
    tx = ledger.endorse(producer1, "SubmitBatch", json.dumps(good.batch),
                        transient={"records": raw})
    assert error_code(tx.error) is ErrorCode.INVALID_INPUT, tx.error
    assert re.search(message, tx.error), tx.error


# -- who may write ----------------------------------------------------------------------
@pytest.mark.parametrize("who", [producer2, analyst1, admin1, auditor3, nobody])
def test_only_producers_of_writer_orgs_submit(ledger, who):
    b = sealed(ledger)
    with denied("batch.write"):
        ledger.invoke(who, "SubmitBatch", json.dumps(b.batch))
    submit(ledger, producer1, b.batch)


def test_writer_roles_are_the_streams_not_a_fixed_list(ledger):
    ledger.invoke(admin1, "UpdateStream", "plant", json.dumps(
        {"writers": {"msp_ids": [ORG1, ORG2], "roles": ["analyst"]}}))
    with denied("batch.write"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(sealed(ledger).batch))
    submit(ledger, analyst1, sealed(ledger).batch)
    submit(ledger, analyst2, sealed(ledger, source="line-2").batch)


def test_a_source_stays_with_the_org_that_started_it(ledger):
    ledger.invoke(admin1, "UpdateStream", "plant", json.dumps(
        {"writers": {"msp_ids": [ORG1, ORG2]}}))
    first = sealed(ledger)
    submit(ledger, producer1, first.batch)
    second = sealed(ledger, 2, first.id)
    with denied("batch.source"):
        ledger.invoke(producer2, "SubmitBatch", json.dumps(second.batch))
    submit(ledger, producer1, second.batch)


# -- the chain of a source ---------------------------------------------------------------
def test_chain_rules_each_refuse_and_the_right_next_batch_is_taken(ledger):
    first = sealed(ledger)
    submit(ledger, producer1, first.batch)
    with refused(ErrorCode.ALREADY_EXISTS, "already recorded"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(first.batch))
    gap = sealed(ledger, 3, first.id)
    with refused(ErrorCode.CHAIN_GAP, r"\(a gap\).*expected seq 2, got 3"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(gap.batch))
    fork = sealed(ledger, 1, "", rows=ROWS[:1])
    with refused(ErrorCode.CHAIN_FORK, r"\(a fork or replay\).*expected seq 2, got 1"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(fork.batch))
    wrong_prev = sealed(ledger, 2, "ab" * 32)
    with refused(ErrorCode.CHAIN_FORK, "prev_hash does not name batch"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(wrong_prev.batch))
    second = sealed(ledger, 2, first.id)
    assert submit(ledger, producer1, second.batch)["seq"] == 2
    third = sealed(ledger, 3, second.id)
    assert submit(ledger, producer1, third.batch)["seq"] == 3


def test_sources_chain_independently(ledger):
    a1, b1 = sealed(ledger, source="a"), sealed(ledger, source="b")
    submit(ledger, producer1, a1.batch)
    submit(ledger, producer1, b1.batch)
    with refused(ErrorCode.CHAIN_FORK, "prev_hash does not name batch"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(sealed(ledger, 2, a1.id,
                                                                  source="b").batch))
    submit(ledger, producer1, sealed(ledger, 2, b1.id, source="b").batch)


def test_batch_epoch_and_schema_version_must_be_current(ledger):
    b = sealed(ledger)
    stale = {**b.batch, "key_epoch": 2}
    stale["id"] = records.batch_id(stale)
    with refused(ErrorCode.CONFLICT, "key_epoch 2 is not the current epoch 1"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(stale))
    newer = {**b.batch, "schema_version": 2}
    newer["id"] = records.batch_id(newer)
    with refused(ErrorCode.CONFLICT, "schema_version 2 is not"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(newer))
    submit(ledger, producer1, b.batch)


def test_batch_times_are_bounded_by_the_transaction_time(ledger):
    now = ledger.clock_ns
    skew = records.MAX_FUTURE_SKEW_NS
    late = seal_batch(stream="plant", source="line-1", seq=1, prev_hash="", schema=SCHEMA,
                      rows=ROWS, data_key=KEY, key_epoch=1, time_start=now,
                      time_end=now + skew + 10**12)
    with refused(ErrorCode.CLOCK_SKEW, "time_end lies in the future"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(late.batch))
    max_age = json.loads(ledger.query(analyst1, "GetStream", "plant"))["max_age_seconds"]
    old = seal_batch(stream="plant", source="line-1", seq=1, prev_hash="", schema=SCHEMA,
                     rows=ROWS, data_key=KEY, key_epoch=1,
                     time_start=now - max_age * 10**9 - 10**12, time_end=now)
    with refused(ErrorCode.CLOCK_SKEW, "older than the stream's max age"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(old.batch))
    edge = seal_batch(stream="plant", source="line-1", seq=1, prev_hash="", schema=SCHEMA,
                      rows=ROWS, data_key=KEY, key_epoch=1, time_start=now, time_end=now)
    submit(ledger, producer1, edge.batch)


# -- who may read batches ------------------------------------------------------------------
@pytest.fixture
def with_batch(ledger):
    b = sealed(ledger)
    submit(ledger, producer1, b.batch)
    return b


@pytest.mark.parametrize("who", [analyst1, analyst2, producer1, admin1, auditor3])
def test_batch_readers(ledger, with_batch, who):
    got = json.loads(ledger.query(who, "GetBatch", "plant", with_batch.id))
    assert got["id"] == with_batch.id
    listed = json.loads(ledger.query(who, "ListBatches", json.dumps({"stream": "plant"})))
    assert [b["id"] for b in listed["items"]] == [with_batch.id]


@pytest.mark.parametrize("who", [analyst3, producer2, admin2, nobody])
def test_batch_non_readers(ledger, with_batch, who):
    with denied("batch.read"):
        ledger.query(who, "GetBatch", "plant", with_batch.id)
    with denied("batch.read"):
        ledger.query(who, "ListBatches", json.dumps({"stream": "plant"}))
    with denied("batch.read"):
        ledger.query(who, "GetBatchHistory", "plant", "line-1")


# -- audited key access -------------------------------------------------------------------
def open_ticket(ledger, who, stream="plant", **request) -> str:
    request.setdefault("purpose", "a stated purpose")
    return json.loads(ledger.invoke(who, "OpenStream", stream, json.dumps(request)))["ticket"]


def test_keys_only_for_an_analyst_of_a_reader_org_with_its_own_ticket(ledger):
    ticket = open_ticket(ledger, analyst2)
    keys = json.loads(ledger.query(analyst2, "GetStreamKeys", "plant", ticket))
    assert keys["wrapped_keys"] == {"1": "BBBB"}
    colleague = member(ORG2, "analyst", "colleague")
    with denied("stream.keys"):
        ledger.query(colleague, "GetStreamKeys", "plant", ticket)
    with denied("stream.keys"):
        ledger.query(analyst1, "GetStreamKeys", "plant", ticket)
    with denied("stream.keys"):  # a well-formed ticket id that was never issued
        ledger.query(analyst2, "GetStreamKeys", "plant", "ab" * 32)
    with refused(ErrorCode.INVALID_INPUT, r"^ticket must be 64 lower-case hex digits$"):
        ledger.query(analyst2, "GetStreamKeys", "plant", "no-such-ticket")
    with denied("stream.open"):
        ledger.query(member(ORG2, "auditor", "au2"), "GetStreamKeys", "plant", ticket)


@pytest.mark.parametrize("who, rule", [
    (analyst3, "stream.open"), (producer2, "stream.open"), (admin1, "stream.open"),
    (nobody, "stream.open")])
def test_only_reader_analysts_and_writers_open_a_stream(ledger, who, rule):
    with denied(rule):
        open_ticket(ledger, who)
    open_ticket(ledger, analyst1)


def test_a_revoked_reader_loses_its_keys_even_with_a_ticket(ledger):
    ticket = open_ticket(ledger, analyst2)
    ledger.invoke(admin1, "RevokeReader", "plant", ORG2)
    with denied("stream.keys"):
        ledger.query(analyst2, "GetStreamKeys", "plant", ticket)


def test_a_ticket_expires(ledger):
    ticket = open_ticket(ledger, analyst2)
    stored = json.loads(ledger.state[next(k for k in ledger.state if ticket in k)][0])
    issued = int(stored["issued"])  # nanoseconds are strings in world state
    assert int(stored["expires"]) == issued + TICKET_TTL_NS
    ttl = TICKET_TTL_NS
    assert ttl == 15 * 60 * 10**9
    ledger.peer_clock_ns = issued + ttl + 10**9
    with refused(ErrorCode.EXPIRED, "expired"):
        ledger.query(analyst2, "GetStreamKeys", "plant", ticket,
                     timestamp_ns=issued + ttl + 10**9)
    ledger.peer_clock_ns = issued + ttl - 10**9
    ledger.query(analyst2, "GetStreamKeys", "plant", ticket, timestamp_ns=issued + ttl - 10**9)


@pytest.mark.parametrize("fn, args, rule", [
    ("GrantReader", ("plant", ORG3, "QUFB"), "stream.grant"),
    ("RevokeReader", ("plant", ORG2), "stream.revoke"),
    ("RotateKey", ("plant", json.dumps({ORG1: "QUFB", ORG2: "QkJC"})), "stream.rotate"),
    ("ShredEpoch", ("plant", "1"), "stream.shred"),
])
@pytest.mark.parametrize("who", [admin2, producer1, analyst1])
def test_key_management_is_for_the_owners_admins(ledger, fn, args, rule, who):
    with denied(rule):
        ledger.invoke(who, fn, *args)


def test_audit_is_for_auditors(ledger):
    for who in (analyst1, admin1, producer1, nobody):
        with denied("audit.read"):
            ledger.query(who, "QueryAudit", json.dumps({"by": "time"}))
    items = json.loads(ledger.query(auditor3, "QueryAudit", json.dumps({"by": "time"})))["items"]
    assert [e["action"] for e in items] == ["StreamCreated"]


def test_lineage_anchor_needs_an_analyst_reading_every_input(ledger):
    receipt = {"inputs": {"streams": ["plant"]}, "code_version": "v1", "outputs": {}}
    with denied("lineage.anchor"):
        ledger.invoke(analyst3, "AnchorLineage", json.dumps(receipt))
    with denied("lineage.anchor"):
        ledger.invoke(producer1, "AnchorLineage", json.dumps(receipt))
    entry = json.loads(ledger.invoke(analyst2, "AnchorLineage", json.dumps(receipt)))
    with denied("lineage.read"):
        ledger.query(producer1, "GetLineage", entry["id"])
    assert json.loads(ledger.query(auditor3, "GetLineage", entry["id"]))["id"] == entry["id"]
    # an analyst reads a receipt only if its org reads every input stream
    with why("lineage.read", f"Org3MSP does not read input stream 'plant' of receipt "
                             f"{entry['id']}"):
        ledger.query(analyst3, "GetLineage", entry["id"])
    assert json.loads(ledger.query(analyst1, "GetLineage", entry["id"]))["id"] == entry["id"]


# -- what a denial says (the rule and why, so an operator can act on it) ----------------------
def why(rule: str, text: str):
    """The denial of ``rule`` with exactly ``text`` as its reason (a code may precede it)."""
    return refused(ErrorCode.ACCESS_DENIED, rf"^access denied by rule '{rule}': {re.escape(text)}$")


def test_a_role_denial_names_the_roles_needed_and_the_callers():
    with why("stream.create", "needs role admin; Org1MSP identity 'legacy-user' has role 'none'"):
        ledger_ = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
        ledger_.invoke(nobody, "CreateStream", spec())
    with why("lineage.read", "needs role auditor or analyst; Org1MSP identity 'producer' has "
                             "role 'producer'"):
        MemoryLedger(contract.FUNCTIONS).query(producer1, "GetLineage", "x")


def test_an_owner_denial_names_the_owner(ledger):
    with why("stream.update", "only admins of Org1MSP manage stream 'plant'"):
        ledger.invoke(admin2, "UpdateStream", "plant", json.dumps({"description": "x"}))


def test_a_reader_denial_names_org_and_role(ledger):
    with why("batch.read", "Org3MSP analyst may not read batches of 'plant'"):
        ledger.query(analyst3, "GetBatch", "plant", "x")
    with why("batch.read", "Org1MSP none may not read batches of 'plant'"):
        ledger.query(nobody, "GetBatch", "plant", "x")


def test_an_unknown_stream_is_named(ledger):
    with refused(ErrorCode.NOT_FOUND, r"(^|: )stream 'nope' does not exist$"):
        ledger.query(analyst1, "GetStream", "nope")


# -- inputs that decide access: writers, readers, wrapped keys --------------------------------
@pytest.mark.parametrize("over, message", [
    ({"readers": "Org1MSP"}, r"^readers must be a list of up to 64 MSP IDs$"),
    ({"readers": [f"Org{i}MSP" for i in range(65)]},
     r"^readers must be a list of up to 64 MSP IDs$"),
    ({"readers": [ORG1, 5]}, r"^readers\[1\] must be an identifier like 'Org1MSP'"),
    ({"readers": [ORG1, ""]}, r"^readers\[1\] must be an identifier like 'Org1MSP'"),
    ({"writers": [ORG1]}, r'(^|: )writers must be \{"msp_ids": \[...\], "roles": \[...\]\}$'),
    ({"writers": {"msp_ids": "Org1MSP"}},
     r"^writers\.msp_ids must be a list of up to 64 MSP IDs \(at least one\)$"),
    ({"writers": {"msp_ids": []}},
     r"^writers\.msp_ids must be a list of up to 64 MSP IDs \(at least one\)$"),
    ({"writers": {"msp_ids": [ORG1], "roles": []}},
     r"(^|: )writers\.roles must be a list of admin, producer, analyst, auditor$"),
    ({"writers": {"msp_ids": [ORG1], "roles": "producer"}}, r"(^|: )writers\.roles must be"),
    ({"writers": {"msp_ids": [ORG1], "roles": ["producer", "owner"]}},
     r"(^|: )writers\.roles must be"),
    ({"wrapped_keys": {ORG1: "QUFB!", ORG2: "QkJC"}},
     r"(^|: )wrapped_keys\['Org1MSP'\] must be a non-empty base64 string$"),
    ({"wrapped_keys": {ORG1: "", ORG2: "QkJC"}}, r"wrapped_keys\['Org1MSP'\] must be a non-empty"),
    ({"wrapped_keys": {ORG1: 5, ORG2: "QkJC"}}, r"wrapped_keys\['Org1MSP'\] must be a non-empty"),
    ({"wrapped_keys": {ORG1: "QUFB"}},
     r"(^|: )wrapped_keys must hold one wrapped key per reader org \['Org1MSP', 'Org2MSP'\], "
     r"not \['Org1MSP'\]$"),
    ({"wrapped_keys": "QUFB"},
     r"^wrapped_keys must hold one wrapped key per reader org \['Org1MSP', 'Org2MSP'\], not str$"),
])
def test_stream_access_inputs_are_checked_and_named(over, message):
    ledger = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    with refused(ErrorCode.INVALID_INPUT, message):
        ledger.invoke(admin1, "CreateStream", spec(**over))
    ledger.invoke(admin1, "CreateStream", spec())


def test_every_role_may_be_a_writer_role():
    ledger = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    every = ["admin", "analyst", "auditor", "producer"]
    s = json.loads(ledger.invoke(admin1, "CreateStream", spec(
        writers={"msp_ids": [ORG2, ORG1, ORG1], "roles": every + ["admin"]})))
    assert s["writers"] == {"msp_ids": [ORG1, ORG2], "roles": every}


@pytest.mark.parametrize("request_, message", [
    ({"purpose": "p", "block_from": True},
     r"^block_from must be an integer \(a JSON integer; beyond ±\(2\^53-1\) also its decimal "
     r"string\), not bool True$"),
    ({"purpose": "p", "block_from": -1}, r"^block_from must be from 0 to 9223372036854775807$"),
    ({"purpose": "p", "block_to": 2**63}, r"^block_to must be from 0 to 9223372036854775807$"),
    ({"purpose": "p", "time_to": -1}, r"(^|: )time_to must be from 0 to"),
    ({"purpose": "p", "block_to": "x"}, r"^block_to must be an integer .*, not str 'x'$"),
    ({"purpose": "p", "block_to": "7"}, r"^block_to must be an integer .*, not str '7'$"),
    ({"purpose": "p", "epoch": 0}, r"(^|: )epoch must be from 1 to"),
    ({"purpose": "p", "epoch": 1_000_001}, r"^epoch must be from 1 to 1000000$"),
])
def test_access_scopes_are_integers_in_range(ledger, request_, message):
    with refused(ErrorCode.INVALID_INPUT, message):
        ledger.invoke(analyst1, "OpenStream", "plant", json.dumps(request_))


def test_pages_default_to_100_and_hold_at_most_1000(ledger):
    for i in range(101):
        ledger.invoke(admin2, "CreateStream", spec(id=f"s{i:03d}", readers=[ORG2],
                                                   writers={"msp_ids": [ORG2]},
                                                   wrapped_keys={ORG2: "QkJC"}))
    first = json.loads(ledger.query(analyst1, "ListStreams", "", ""))
    assert len(first["items"]) == 100 and first["bookmark"]
    assert len(json.loads(ledger.query(analyst1, "ListStreams", "1000", ""))["items"]) == 102
    for bad, message in (("1001", r"(^|: )page_size must be from 1 to 1000$"),
                         ("0", r"(^|: )page_size must be from 1 to 1000$"),
                         ("many", r"^page_size must be an integer, not 'many'$")):
        with refused(ErrorCode.INVALID_INPUT, message):
            ledger.query(analyst1, "ListStreams", bad, "")


# -- the audit entry every change writes -------------------------------------------------------
def key(*parts: str) -> str:
    """Fabric's composite key (U+0000 type U+0000 attr U+0000 …), written out here."""
    return "\x00" + "\x00".join(parts) + "\x00"


def test_an_audit_entry_says_who_did_what_to_what_and_is_indexed_under_it(ledger):
    tx = ledger.endorse(analyst2, "OpenStream", "plant", json.dumps({"purpose": "a study"}))
    assert not tx.error and ledger.commit(tx) == ["VALID"]
    ts = f"{tx.timestamp_ns:020d}"
    entry = json.loads(ledger.state[key("audit", tx.tx_id)][0])
    assert entry == {"tx_id": tx.tx_id, "time": str(tx.timestamp_ns), "action": "StreamOpened",
                     "actor": {"msp_id": ORG2, "id": "a2", "role": "analyst"},
                     "target": {"stream": "plant"}, "outcome": "ok", "purpose": "a study",
                     "scope": {}, "epochs": [1]}
    for index in (key("audit~actor", f"{ORG2}/a2", ts, tx.tx_id),
                  key("audit~stream", "plant", ts, tx.tx_id),
                  key("audit~action", "StreamOpened", ts, tx.tx_id),
                  key("audit~time", ts, tx.tx_id)):
        assert json.loads(ledger.state[index][0]) == entry
    name, payload = ledger.events[-1]
    assert name == "StreamOpened"
    assert json.loads(payload) == {"type": "StreamOpened", "tx_id": tx.tx_id, "stream": "plant"}


def test_an_entry_without_a_stream_is_not_indexed_under_one():
    ledger = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    before = {k for k in ledger.state if k.startswith(key("audit~stream")[:-1])}
    tx = ledger.endorse(admin1, "RegisterOrgKey", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VuAyEA"
                        "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=\n-----END PUBLIC KEY-----\n")
    assert not tx.error, tx.error
    ledger.commit(tx)
    assert {k for k in ledger.state if k.startswith(key("audit~stream")[:-1])} == before
    assert key("audit", tx.tx_id) in ledger.state


# -- grant generations: a revocation ends every ticket issued before it -------------------------
def test_a_ticket_from_before_a_revocation_is_named_after_a_re_grant(ledger):
    ticket = open_ticket(ledger, analyst2)
    ledger.invoke(admin1, "RevokeReader", "plant", ORG2)
    ledger.invoke(admin1, "GrantReader", "plant", ORG2, "Q0ND")
    with why("stream.keys", "the ticket predates Org2MSP's current grant (it was revoked "
                            "since); open the stream again"):
        ledger.query(analyst2, "GetStreamKeys", "plant", ticket)
    fresh = open_ticket(ledger, analyst2)
    assert json.loads(ledger.query(analyst2, "GetStreamKeys", "plant", fresh))[
        "wrapped_keys"] == {"1": "Q0ND"}


def rewrite(ledger, state_key: str, drop: tuple[str, ...]) -> None:
    """Rewrite a stored JSON value without ``drop``: state an earlier contract version wrote
    (before streams and tickets recorded grant generations)."""
    raw, version = ledger.state[state_key]
    value = {k: v for k, v in json.loads(raw).items() if k not in drop}
    ledger.state[state_key] = (json.dumps(value).encode(), version)


def test_state_from_before_grant_generations_counts_as_generation_0(ledger):
    """Streams and tickets without generations (an earlier contract version) keep working,
    a grant after the upgrade starts counting, and a ticket issued before a revocation
    still does not work again after a re-grant."""
    ledger.invoke(admin1, "CreateStream", spec(id="old", readers=[ORG1, ORG2, ORG3],
                                               wrapped_keys={ORG1: "AAAA", ORG2: "BBBB",
                                                             ORG3: "CCCC"}))
    old_stream = "\x00stream\x00old\x00"
    tickets = {ORG2: open_ticket(ledger, analyst2, stream="old"),
               ORG3: open_ticket(ledger, analyst3, stream="old")}
    for ticket in tickets.values():
        rewrite(ledger, f"\x00ticket\x00old\x00{ticket}\x00", ("generation",))
    ledger.invoke(admin1, "RevokeReader", "old", ORG3)  # Org3's ticket predates this
    rewrite(ledger, old_stream, ("generation", "reader_since"))
    # an old ticket on an old stream: released
    assert json.loads(ledger.query(analyst2, "GetStreamKeys", "old", tickets[ORG2]))[
        "wrapped_keys"] == {"1": "BBBB"}
    # a new ticket on an old stream records generation 0 and works
    new = json.loads(ledger.invoke(analyst2, "OpenStream", "old", json.dumps({"purpose": "p"})))
    assert new["generation"] == 0
    ledger.query(analyst2, "GetStreamKeys", "old", new["ticket"])
    # the first grant after the upgrade: generation 1 for Org3; its old ticket stays dead
    ledger.invoke(admin1, "GrantReader", "old", ORG3, "RERE")
    upgraded = json.loads(ledger.query(analyst1, "GetStream", "old"))
    assert (upgraded["generation"], upgraded["reader_since"]) == (1, {ORG3: 1})
    with why("stream.keys", "the ticket predates Org3MSP's current grant (it was revoked "
                            "since); open the stream again"):
        ledger.query(analyst3, "GetStreamKeys", "old", tickets[ORG3])
    # Org2, a reader since before the upgrade, keeps its old ticket
    assert json.loads(ledger.query(analyst2, "GetStreamKeys", "old", tickets[ORG2]))[
        "wrapped_keys"] == {"1": "BBBB"}


def test_a_grant_keeps_every_other_readers_generation(ledger):
    """Each grant and revocation counts one generation up and records when each reader
    org was granted last: a grant to another org must not reset that, or tickets from
    before a revocation would work again."""
    ticket = open_ticket(ledger, analyst2)
    steps = [("RevokeReader", (ORG2,), 2, {ORG1: 1}),
             ("GrantReader", (ORG2, "Q0ND"), 3, {ORG1: 1, ORG2: 3}),
             ("GrantReader", (ORG3, "RERE"), 4, {ORG1: 1, ORG2: 3, ORG3: 4})]
    for fn, args, generation, since in steps:
        tx = ledger.endorse(admin1, fn, "plant", *args)
        assert not tx.error and ledger.commit(tx) == ["VALID"], tx.error
        stream = json.loads(ledger.query(analyst1, "GetStream", "plant"))
        assert (stream["generation"], stream["reader_since"]) == (generation, since)
        entry = json.loads(ledger.state["\x00audit\x00" + tx.tx_id + "\x00"][0])
        assert entry["generation"] == generation
    with why("stream.keys", "the ticket predates Org2MSP's current grant (it was revoked "
                            "since); open the stream again"):
        ledger.query(analyst2, "GetStreamKeys", "plant", ticket)


def test_a_stream_has_at_most_64_reader_orgs():
    ledger = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    readers = [f"Org{i}MSP" for i in range(1, 64)]  # 63
    ledger.invoke(admin1, "CreateStream", spec(readers=readers,
                                               wrapped_keys={m: "QUFB" for m in readers}))
    ledger.invoke(admin1, "GrantReader", "plant", "Org64MSP", "QUFB")  # the 64th
    with refused(ErrorCode.CONFLICT, "^stream 'plant' has 64 readers$"):
        ledger.invoke(admin1, "GrantReader", "plant", "Org65MSP", "QUFB")
    assert len(json.loads(ledger.query(analyst1, "GetStream", "plant"))["readers"]) == 64
