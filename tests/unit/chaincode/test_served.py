"""What the chaincode server serves: only contract functions in production, and every
function that changes state writes an audit entry and emits its event."""

from __future__ import annotations

import json

import pytest

from ledgerlake.chaincode import diagnostics
from ledgerlake.chaincode.__main__ import SELFTEST_ENV, main, served_functions
from ledgerlake.chaincode.ledger import composite_key
from ledgerlake.errors import ConfigError
from ledgerlake.network.spec import NetworkSpec
from ledgerlake.protocol import Function


def test_production_serves_exactly_the_contract_functions():
    served = served_functions({})
    assert sorted(served) == sorted(f.value for f in Function)
    assert not set(served) & set(diagnostics.FUNCTIONS)


def test_self_test_functions_are_served_only_when_asked_for():
    assert set(diagnostics.FUNCTIONS) <= set(served_functions({SELFTEST_ENV: "1"}))
    assert not set(diagnostics.FUNCTIONS) & set(served_functions({SELFTEST_ENV: "yes"}))


def test_a_server_that_does_not_know_its_organisation_refuses_to_start(capsys):
    code = main({"CHAINCODE_ID": "cc:1", "CHAINCODE_SERVER_ADDRESS": "127.0.0.1:1"})
    assert code == 2
    assert "LEDGERLAKE_CHAINCODE_MSPID" in capsys.readouterr().err


def test_the_network_spec_asks_for_self_tests_explicitly():
    assert NetworkSpec().selftest is False
    assert NetworkSpec.from_mapping({"selftest": True}).selftest is True
    with pytest.raises(ConfigError, match="spec field 'selftest'"):
        NetworkSpec.from_mapping({"selftest": "yes"})


def test_every_state_changing_function_writes_an_audit_entry_and_its_event(world):
    calls = world.valid_calls()
    assert sorted(calls) == sorted(served_functions({}))  # every served function is tried
    changing = []
    for name, (who, args, options) in calls.items():
        tx = world.ledger.endorse(who, name, *args, **options)
        assert not tx.error, (name, tx.error)
        if not tx.writes:
            assert tx.event is None, f"{name} writes nothing but emits an event"
            continue
        changing.append(name)
        raw = tx.writes.get(composite_key("audit", tx.tx_id))
        assert raw, f"{name} changes state without an audit entry"
        entry = json.loads(raw)
        assert entry["tx_id"] == tx.tx_id and entry["actor"]["msp_id"] == who.msp_id
        assert tx.event is not None and tx.event.event_name == entry["action"]
        time_key = composite_key("audit~time", f"{tx.timestamp_ns:020d}", tx.tx_id)
        assert time_key in tx.writes, f"{name}'s audit entry is not indexed by time"
    assert sorted(changing) == sorted([
        "CreateStream", "UpdateStream", "GrantReader", "RevokeReader", "RotateKey",
        "ShredEpoch", "RegisterOrgKey", "SubmitBatch", "OpenStream", "AnchorLineage"])

