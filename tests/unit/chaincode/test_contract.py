"""The contract against an in-memory ledger with Fabric's semantics: every function,
every denial, chain rules, plaintext checks, audit entries and events."""

from __future__ import annotations

import json

import pytest

from ledgerlake.chaincode import contract
from ledgerlake.chaincode.memory import MemoryLedger, member
from ledgerlake.chaincode.ledger import ChaincodeError, composite_key
from ledgerlake.client.batches import seal_batch
from ledgerlake.client.encryption import new_data_key

ORG1, ORG2, ORG3 = "Org1MSP", "Org2MSP", "Org3MSP"
admin1, admin2 = member(ORG1, "admin", "admin"), member(ORG2, "admin", "admin")
producer1, producer2 = member(ORG1, "producer", "producer"), member(ORG2, "producer", "p2")
analyst1, analyst2 = member(ORG1, "analyst", "analyst"), member(ORG2, "analyst", "a2")
analyst3 = member(ORG3, "analyst", "a3")
auditor2 = member(ORG2, "auditor", "auditor")
nobody = member(ORG1, "", "legacy-user")

SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "temperature_c", "type": "float", "unit": "°C", "min": -40, "max": 125},
    {"name": "ts", "type": "timestamp"}]}
KEY = new_data_key()


def stream_spec(**over):
    spec = {"id": "plant", "schema": SCHEMA, "writers": {"msp_ids": [ORG1]},
            "readers": [ORG1, ORG2], "wrapped_keys": {ORG1: "AAAA", ORG2: "BBBB"}}
    spec.update(over)
    return json.dumps(spec)


def call(ledger, who, fn, *args, **kw):
    return json.loads(ledger.invoke(who, fn, *args, **kw))


def query(ledger, who, fn, *args):
    return json.loads(ledger.query(who, fn, *args))


@pytest.fixture
def ledger():
    led = MemoryLedger(contract.FUNCTIONS, own_msp_id=ORG1)
    call(led, admin1, "CreateStream", stream_spec())
    return led


def batch(ledger, seq=1, prev="", source="line-1", rows=None, **over):
    rows = rows or [{"sensor": "s1", "temperature_c": 21.5, "ts": 1},
                    {"sensor": "s2", "temperature_c": 22.0, "ts": 2}]
    opts = dict(stream="plant", source=source, seq=seq, prev_hash=prev, schema=SCHEMA,
                rows=rows, data_key=KEY, key_epoch=1, time_start=ledger.clock_ns,
                time_end=ledger.clock_ns)
    opts.update(over)
    return seal_batch(**opts)


def open_keys(ledger, who, stream="plant", **request):
    """The two audited steps: submit OpenStream (ticket), then read the keys with it."""
    request.setdefault("purpose", "test")
    ticket = call(ledger, who, "OpenStream", stream, json.dumps(request))["ticket"]
    return query(ledger, who, "GetStreamKeys", stream, ticket)


def denied(rule):
    return pytest.raises(ChaincodeError, match=rf"access denied by rule '{rule}'")


# -- streams ----------------------------------------------------------------------------
def test_create_stream_records_owner_epoch_and_grants(ledger):
    s = query(ledger, analyst2, "GetStream", "plant")
    assert (s["owner"], s["epoch"], s["readers"], s["status"]) == (ORG1, 1, [ORG1, ORG2], "active")
    assert s["writers"] == {"msp_ids": [ORG1], "roles": ["producer"]}
    assert ledger.state[composite_key("grant", "plant", "1", ORG2)][0] == b"BBBB"
    assert ledger.events[-1][0] == "StreamCreated"


@pytest.mark.parametrize("who", [producer1, analyst1, auditor2, nobody])
def test_only_admins_create_streams(ledger, who):
    with denied("stream.create"):
        ledger.invoke(who, "CreateStream", stream_spec(id="other"))


@pytest.mark.parametrize("spec, message", [
    (stream_spec(), "already exists"),
    (stream_spec(id="x", wrapped_keys={ORG1: "AAAA"}), "one wrapped key per reader"),
    (stream_spec(id="x", schema={"version": 1, "fields": [{"name": "a", "type": "blob"}]}),
     "type must be one of"),
    (stream_spec(id="bad name"), "stream id"),
    (stream_spec(id="x", colour="red"), "'colour' is unknown"),
    ("not json", "must be JSON"),
])
def test_bad_stream_specs_are_refused(ledger, spec, message):
    with pytest.raises(ChaincodeError, match=message):
        ledger.invoke(admin1, "CreateStream", spec)


def test_update_stream_by_owner_admin_only(ledger):
    s = call(ledger, admin1, "UpdateStream", "plant", json.dumps(
        {"description": "line sensors", "schema": {**SCHEMA, "version": 2}}))
    assert s["description"] == "line sensors" and s["schema"]["version"] == 2
    with denied("stream.update"):
        ledger.invoke(admin2, "UpdateStream", "plant", json.dumps({"description": "x"}))
    with pytest.raises(ChaincodeError, match="CONFLICT: a new schema.s version must be 3"):
        ledger.invoke(admin1, "UpdateStream", "plant", json.dumps({"schema": SCHEMA}))


def test_list_streams_paginates(ledger):
    for i in range(5):
        call(ledger, admin2, "CreateStream", stream_spec(id=f"s{i}", readers=[ORG2],
                                                        writers={"msp_ids": [ORG2]},
                                                        wrapped_keys={ORG2: "QQ=="}))
    first = query(ledger, analyst1, "ListStreams", "4", "")
    assert len(first["items"]) == 4 and first["bookmark"]
    rest = query(ledger, analyst1, "ListStreams", "4", first["bookmark"])
    ids = [s["id"] for s in first["items"] + rest["items"]]
    assert ids == ["plant", "s0", "s1", "s2", "s3", "s4"] and rest["bookmark"] == ""


def test_grant_revoke_rotate_and_shred(ledger):
    call(ledger, admin1, "GrantReader", "plant", ORG3, "Q0NDQw==")
    assert open_keys(ledger, analyst3)["wrapped_keys"] == {"1": "Q0NDQw=="}
    call(ledger, admin1, "RevokeReader", "plant", ORG3)
    with denied("stream.open"):
        ledger.invoke(analyst3, "OpenStream", "plant", '{"purpose": "qa"}')
    with pytest.raises(ChaincodeError, match="one wrapped key per reader"):
        ledger.invoke(admin1, "RotateKey", "plant", json.dumps({ORG1: "RA=="}))
    s = call(ledger, admin1, "RotateKey", "plant", json.dumps({ORG1: "RA==", ORG2: "RQ=="}))
    assert s["epoch"] == 2
    assert open_keys(ledger, analyst2)["wrapped_keys"] == {"1": "BBBB", "2": "RQ=="}
    with pytest.raises(ChaincodeError, match="only a past epoch"):
        ledger.invoke(admin1, "ShredEpoch", "plant", "2")
    s = call(ledger, admin1, "ShredEpoch", "plant", "1")
    assert s["shredded"] == [1]
    assert composite_key("grant", "plant", "1", ORG2) not in ledger.state
    assert open_keys(ledger, analyst2)["wrapped_keys"] == {"2": "RQ=="}
    with pytest.raises(ChaincodeError, match="was shredded"):
        ledger.invoke(analyst2, "OpenStream", "plant", '{"purpose": "r", "epoch": 1}')
    with pytest.raises(ChaincodeError, match="already shredded"):
        ledger.invoke(admin1, "ShredEpoch", "plant", "1")


@pytest.mark.parametrize("fn, args", [
    ("GrantReader", ("plant", ORG3, "QQ==")), ("RevokeReader", ("plant", ORG2)),
    ("RotateKey", ("plant", "{}")), ("ShredEpoch", ("plant", "1")),
])
def test_key_management_needs_an_admin_of_the_owner(ledger, fn, args):
    rule = {"GrantReader": "stream.grant", "RevokeReader": "stream.revoke",
            "RotateKey": "stream.rotate", "ShredEpoch": "stream.shred"}[fn]
    for who in (admin2, producer1, analyst1):
        with denied(rule):
            ledger.invoke(who, fn, *args)


def test_org_keys(ledger):
    from ledgerlake.client.encryption import new_org_key, public_pem
    pem = public_pem(new_org_key())
    call(ledger, admin2, "RegisterOrgKey", pem)
    assert query(ledger, producer1, "GetOrgKey", ORG2)["public_key"] == pem
    with denied("org.key"):
        ledger.invoke(analyst2, "RegisterOrgKey", pem)
    with pytest.raises(ChaincodeError, match="has not registered"):
        ledger.query(producer1, "GetOrgKey", ORG3)


# -- batches ----------------------------------------------------------------------------
def test_submit_batch_and_read_it_back(ledger):
    b = batch(ledger)
    out = call(ledger, producer1, "SubmitBatch", json.dumps(b.batch))
    assert out["id"] == b.id and out["plaintext_checked"] is False
    stored = query(ledger, analyst2, "GetBatch", "plant", b.id)
    assert stored["producer"] == {"msp_id": ORG1, "id": "producer"}
    assert stored["payload"] == b.batch["payload"] and stored["public"][0] == {"sensor": "s1"}
    assert ledger.events[-1][0] == "BatchSubmitted"


def test_chain_rejects_gap_fork_replay_and_wrong_prev(ledger):
    first = batch(ledger)
    call(ledger, producer1, "SubmitBatch", json.dumps(first.batch))
    with pytest.raises(ChaincodeError, match="already recorded"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(first.batch))
    with pytest.raises(ChaincodeError, match="a gap"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(batch(ledger, 3, first.id).batch))
    with pytest.raises(ChaincodeError, match="a fork or replay"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(
            batch(ledger, 1, rows=[{"sensor": "x", "temperature_c": 1.0, "ts": 9}]).batch))
    with pytest.raises(ChaincodeError, match="prev_hash does not name"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(batch(ledger, 2, "f" * 64).batch))
    second = batch(ledger, 2, first.id)
    call(ledger, producer1, "SubmitBatch", json.dumps(second.batch))
    history = query(ledger, auditor2, "GetBatchHistory", "plant", "line-1")["items"]
    assert [h["head"]["seq"] for h in history] == [2, 1]  # newest first, as Fabric


def test_batch_rules_without_plaintext(ledger):
    tampered = batch(ledger).batch | {"record_count": 3}
    with pytest.raises(ChaincodeError, match="public must list one entry per record|id is not"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(tampered))
    bad_root = dict(batch(ledger).batch, merkle_root="XYZ")
    with pytest.raises(ChaincodeError, match="merkle_root must be 64"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(bad_root))
    future = batch(ledger, time_start=ledger.clock_ns, time_end=ledger.clock_ns + 10**12)
    with pytest.raises(ChaincodeError, match="in the future"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(future.batch))
    old = batch(ledger, time_start=ledger.clock_ns - 8 * 24 * 3600 * 10**9)
    with pytest.raises(ChaincodeError, match="older than the stream's max age"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(old.batch))
    wrong_epoch = batch(ledger, key_epoch=2)
    with pytest.raises(ChaincodeError, match="not the current epoch"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(wrong_epoch.batch))


def test_public_fields_are_checked_against_the_schema(ledger):
    b = batch(ledger).batch
    b["public"][0] = {"sensor": 7}
    from ledgerlake.records import batch_id
    b["id"] = batch_id(b)
    with pytest.raises(ChaincodeError, match="field 'sensor' must be of type string"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(b))


def test_schema_version_must_be_current(ledger):
    call(ledger, admin1, "UpdateStream", "plant", json.dumps({"schema": {**SCHEMA, "version": 2}}))
    with pytest.raises(ChaincodeError, match="not the stream's schema version 2"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(batch(ledger).batch))


@pytest.mark.parametrize("who, why", [
    (producer2, "may not write"), (analyst1, "needs role producer"),
    (admin1, "needs role producer"), (nobody, "needs role producer"),
])
def test_only_writer_org_producers_submit(ledger, who, why):
    with pytest.raises(ChaincodeError, match=f"rule 'batch.write'.*{why}"):
        ledger.invoke(who, "SubmitBatch", json.dumps(batch(ledger).batch))


def test_a_source_belongs_to_the_org_that_started_it(ledger):
    call(ledger, admin1, "UpdateStream", "plant",
         json.dumps({"writers": {"msp_ids": [ORG1, ORG2]}}))
    first = batch(ledger)
    call(ledger, producer1, "SubmitBatch", json.dumps(first.batch))
    with denied("batch.source"):
        ledger.invoke(producer2, "SubmitBatch", json.dumps(batch(ledger, 2, first.id).batch))


def test_plaintext_in_transient_is_checked_against_rules_and_commitments(ledger):
    good = batch(ledger)
    out = call(ledger, producer1, "SubmitBatch", json.dumps(good.batch), transient=good.transient)
    assert out["plaintext_checked"] is True
    other = batch(ledger, 2, good.id)
    lying = batch(ledger, 2, good.id, rows=[{"sensor": "s1", "temperature_c": 99.0, "ts": 1},
                                            {"sensor": "s2", "temperature_c": 22.0, "ts": 2}])
    with pytest.raises(ChaincodeError, match="do not match its merkle_root"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(other.batch),
                      transient=lying.transient)
    # a record the client-side check would stop, sent anyway: the chaincode checks too
    hot_rows = [{"sensor": "s1", "temperature_c": 500.0, "ts": 1},
                {"sensor": "s2", "temperature_c": 22.0, "ts": 2}]
    hot = json.dumps({"records": hot_rows, "salts": ["00" * 16, "11" * 16]}).encode()
    with pytest.raises(ChaincodeError, match="'temperature_c' = 500.0 is above its maximum 125"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(other.batch),
                      transient={"records": hot})


def test_plaintext_never_goes_to_a_non_reader_endorser(ledger):
    call(ledger, admin1, "CreateStream", stream_spec(id="private", readers=[ORG1],
                                                     wrapped_keys={ORG1: "QQ=="}))
    b = batch(ledger, stream="private")
    ledger.own_msp_id = ORG2  # the endorsing peer is Org2's, which does not read 'private'
    with pytest.raises(ChaincodeError, match="does not read stream 'private'"):
        ledger.invoke(producer1, "SubmitBatch", json.dumps(b.batch), transient=b.transient)


def test_list_batches_by_stream_source_and_time(ledger):
    ids = []
    prev = ""
    for seq in (1, 2, 3):
        b = batch(ledger, seq, prev, time_start=ledger.clock_ns + seq, time_end=ledger.clock_ns + seq)
        call(ledger, producer1, "SubmitBatch", json.dumps(b.batch))
        ids.append(b.id)
        prev = b.id
    other = batch(ledger, source="line-2")
    call(ledger, producer1, "SubmitBatch", json.dumps(other.batch))
    by_source = query(ledger, analyst1, "ListBatches", json.dumps({"stream": "plant",
                                                                   "source": "line-1"}))
    assert [b["id"] for b in by_source["items"]] == ids
    page = query(ledger, analyst1, "ListBatches", json.dumps({"stream": "plant", "page_size": 2}))
    assert len(page["items"]) == 2 and page["bookmark"]
    rest = query(ledger, analyst1, "ListBatches", json.dumps(
        {"stream": "plant", "page_size": 2, "bookmark": page["bookmark"]}))
    assert len(page["items"] + rest["items"]) == 4
    t2 = int(query(ledger, analyst1, "GetBatch", "plant", ids[1])["time_start"])
    window = query(ledger, auditor2, "ListBatches", json.dumps(
        {"stream": "plant", "time_from": t2, "time_to": t2 + 1}))
    assert [b["id"] for b in window["items"]] == [ids[1]]
    with denied("batch.read"):
        ledger.query(analyst3, "ListBatches", json.dumps({"stream": "plant"}))


def test_concurrent_producers_on_separate_sources_do_not_conflict(ledger):
    call(ledger, admin1, "UpdateStream", "plant",
         json.dumps({"writers": {"msp_ids": [ORG1, ORG2]}}))
    a = ledger.endorse(producer1, "SubmitBatch", json.dumps(batch(ledger, source="a").batch))
    b = ledger.endorse(producer2, "SubmitBatch", json.dumps(batch(ledger, source="b").batch))
    c = ledger.endorse(producer1, "SubmitBatch", json.dumps(batch(ledger, source="c").batch))
    assert ledger.commit(a, b, c) == ["VALID", "VALID", "VALID"]


def test_two_batches_on_one_source_in_one_block_conflict(ledger):
    first = batch(ledger)
    a = ledger.endorse(producer1, "SubmitBatch", json.dumps(first.batch))
    b = ledger.endorse(producer1, "SubmitBatch", json.dumps(
        batch(ledger, rows=[{"sensor": "z", "temperature_c": 0.0, "ts": 0}]).batch))
    assert ledger.commit(a, b) == ["VALID", "MVCC_READ_CONFLICT"]


def test_reads_do_not_see_the_same_transactions_writes(ledger):
    from ledgerlake.chaincode.memory import MemoryTx
    import asyncio
    tx = MemoryTx(ledger, producer1, "t", 1, {}, ORG1)
    asyncio.run(tx.put_state("k", b"v"))
    assert asyncio.run(tx.get_state("k")) == b""


# -- access, audit, lineage -------------------------------------------------------------
def test_open_stream_is_audited_and_needs_a_purpose(ledger):
    with pytest.raises(ChaincodeError, match="stated 'purpose'"):
        ledger.invoke(analyst2, "OpenStream", "plant", "{}")
    for who, rule in ((producer2, "stream.open"), (auditor2, "stream.open"),
                      (analyst3, "stream.open")):
        with denied(rule):
            ledger.invoke(who, "OpenStream", "plant", '{"purpose": "x"}')
    out = open_keys(ledger, analyst2, purpose="monthly report", time_from=1, time_to=2)
    assert out["wrapped_keys"] == {"1": "BBBB"}
    entries = query(ledger, auditor2, "QueryAudit", json.dumps({"by": "action",
                                                                "value": "StreamOpened"}))
    assert entries["items"][-1]["purpose"] == "monthly report"
    assert entries["items"][-1]["actor"] == {"msp_id": ORG2, "id": "a2", "role": "analyst"}
    assert entries["items"][-1]["scope"] == {"time_from": 1, "time_to": 2}


def test_audit_trail_by_actor_stream_action_and_time(ledger):
    b = batch(ledger)
    call(ledger, producer1, "SubmitBatch", json.dumps(b.batch))
    call(ledger, analyst2, "OpenStream", "plant", '{"purpose": "p"}')
    by_actor = query(ledger, auditor2, "QueryAudit", json.dumps({"by": "actor",
                                                                 "value": f"{ORG1}/producer"}))
    assert [e["action"] for e in by_actor["items"]] == ["BatchSubmitted"]
    by_stream = query(ledger, auditor2, "QueryAudit", json.dumps({"by": "stream",
                                                                  "value": "plant"}))
    assert [e["action"] for e in by_stream["items"]] == ["StreamCreated", "BatchSubmitted",
                                                         "StreamOpened"]
    everything = query(ledger, auditor2, "QueryAudit", json.dumps({"by": "time"}))
    t = int(everything["items"][1]["time"])
    window = query(ledger, auditor2, "QueryAudit", json.dumps({"by": "time", "time_from": t,
                                                               "time_to": t + 1}))
    assert [e["action"] for e in window["items"]] == ["BatchSubmitted"]
    paged = query(ledger, auditor2, "QueryAudit", json.dumps({"page_size": 1}))
    assert len(paged["items"]) == 1 and paged["bookmark"]
    for who in (admin1, analyst1, producer1):
        with denied("audit.read"):
            ledger.query(who, "QueryAudit", "{}")


def test_every_state_change_emits_an_event_and_an_audit_entry(ledger):
    before = len(ledger.events)
    call(ledger, admin1, "GrantReader", "plant", ORG3, "QQ==")
    call(ledger, admin1, "RevokeReader", "plant", ORG3)
    call(ledger, admin1, "RotateKey", "plant", json.dumps({ORG1: "QQ==", ORG2: "Qg=="}))
    call(ledger, admin1, "ShredEpoch", "plant", "1")
    call(ledger, admin1, "UpdateStream", "plant", '{"description": "d"}')
    names = [e[0] for e in ledger.events[before:]]
    assert names == ["ReaderGranted", "ReaderRevoked", "KeyRotated", "EpochShredded",
                     "StreamUpdated"]
    trail = query(ledger, auditor2, "QueryAudit", '{"by": "stream", "value": "plant"}')["items"]
    assert [e["action"] for e in trail][-5:] == names
    assert json.loads(ledger.events[-1][1])["stream"] == "plant"


def test_lineage_anchor_and_get(ledger):
    receipt = {"inputs": {"streams": ["plant"], "blocks": [0, 9], "merkle_root": "ab" * 32},
               "code_version": "git:abc", "params": {"k": 3}, "outputs": {"report": "cd" * 32}}
    entry = call(ledger, analyst2, "AnchorLineage", json.dumps(receipt))
    assert len(entry["id"]) == 64 and entry["receipt"] == receipt
    assert query(ledger, auditor2, "GetLineage", entry["id"])["tx_id"] == entry["tx_id"]
    with pytest.raises(ChaincodeError, match="already anchored"):
        ledger.invoke(analyst2, "AnchorLineage", json.dumps(receipt))
    with denied("lineage.anchor"):
        ledger.invoke(auditor2, "AnchorLineage", json.dumps(receipt))
    with denied("lineage.read"):
        ledger.query(producer1, "GetLineage", entry["id"])
    with pytest.raises(ChaincodeError, match="needs 'outputs'"):
        ledger.invoke(analyst2, "AnchorLineage", '{"inputs": {}, "code_version": "x"}')


def test_unknown_function_and_wrong_argument_count(ledger):
    with pytest.raises(ChaincodeError, match="unknown function"):
        ledger.invoke(admin1, "DropTables")
    with pytest.raises(ChaincodeError, match="wrong number of arguments"):
        ledger.invoke(admin1, "GetStream")


def test_an_identity_without_a_role_reads_nothing(ledger):
    for fn, args in (("GetStream", ("plant",)), ("ListStreams", ()), ("GetOrgKey", (ORG1,)),
                     ("GetBatch", ("plant", "x")), ("ListBatches", ('{"stream": "plant"}',))):
        with pytest.raises(ChaincodeError, match="access denied"):
            ledger.query(nobody, fn, *args)


def test_keys_are_released_only_against_a_committed_ticket_of_the_same_identity(ledger):
    # evaluating OpenStream commits nothing, so its "ticket" opens nothing
    evaluated = query(ledger, analyst2, "OpenStream", "plant", '{"purpose": "peek"}')
    with denied("stream.keys"):
        ledger.query(analyst2, "GetStreamKeys", "plant", evaluated["ticket"])
    ticket = call(ledger, analyst2, "OpenStream", "plant", '{"purpose": "p"}')["ticket"]
    other = member(ORG2, "analyst", "someone-else")
    with pytest.raises(ChaincodeError, match="issued to another identity"):
        ledger.query(other, "GetStreamKeys", "plant", ticket)
    later = ledger.clock_ns + 16 * 60 * 10**9
    ledger.peer_clock_ns = later
    tx = ledger.endorse(analyst2, "GetStreamKeys", "plant", ticket, timestamp_ns=later)
    assert "the ticket has expired" in tx.error


def test_a_bookmark_outside_the_query_is_refused(ledger):
    with pytest.raises(ChaincodeError, match="bookmark does not belong"):
        ledger.query(producer1, "ListStreams", "3", "\x00audit\x00")
    with pytest.raises(ChaincodeError, match="bookmark does not belong"):
        ledger.query(analyst1, "ListBatches", json.dumps(
            {"stream": "plant", "bookmark": "\x00lineage\x00"}))


def test_a_transaction_time_far_from_the_peers_clock_is_refused(ledger):
    ledger.peer_clock_ns = ledger.clock_ns
    tx = ledger.endorse(admin1, "GetStream", "plant", timestamp_ns=ledger.clock_ns - 10**12)
    assert "away from the endorsing peer's clock" in tx.error


def test_bad_numbers_and_names_are_input_errors_not_crashes(ledger):
    for fn, args in (("QueryAudit", ('{"time_from": "yesterday"}',)),
                     ("ShredEpoch", ("plant", "one")),
                     ("OpenStream", ("plant", '{"purpose": "p", "epoch": "x"}'))):
        who = {"QueryAudit": auditor2, "ShredEpoch": admin1, "OpenStream": analyst2}[fn]
        with pytest.raises(ChaincodeError, match="must be an integer"):
            ledger.invoke(who, fn, *args)
    with pytest.raises(ChaincodeError, match="stream id"):
        ledger.invoke(admin1, "CreateStream", stream_spec(id="plant\n"))
    with pytest.raises(ChaincodeError, match="public must be true or false"):
        ledger.invoke(admin1, "CreateStream", stream_spec(id="x", schema={"version": 1, "fields": [
            {"name": "a", "type": "int", "public": "false"}]}))


def test_lineage_inputs_must_be_streams_the_caller_reads(ledger):
    base = {"code_version": "c", "outputs": {}}
    with pytest.raises(ChaincodeError, match="must be a list of 1 to 64 stream ids"):
        ledger.invoke(analyst2, "AnchorLineage", json.dumps({**base, "inputs": {"streams": "plant"}}))
    with denied("lineage.anchor"):
        ledger.invoke(analyst3, "AnchorLineage", json.dumps({**base, "inputs": {"streams": ["plant"]}}))
