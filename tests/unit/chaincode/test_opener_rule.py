"""Who opens a stream (and so receives its organisation's wrapped data keys): an analyst of
a reader organisation, or a producer of a writer organisation that reads it, when producer
is a writer role. Other writer roles write, but never receive keys."""

from __future__ import annotations

import json

import pytest

from ledgerlake.protocol import ErrorCode

from contract_world import MEMBERS, ORG1, ORG2, refused

WIDE = {"writers": {"msp_ids": [ORG1, ORG2], "roles": ["producer", "auditor", "admin"]}}


def open_and_fetch(world, who) -> dict:
    ticket = json.loads(world.ledger.invoke(MEMBERS[who], "OpenStream", "plant",
                                            json.dumps({"purpose": "p"})))["ticket"]
    return json.loads(world.ledger.query(MEMBERS[who], "GetStreamKeys", "plant", ticket))


@pytest.mark.parametrize("who", ["auditor2", "admin2", "auditor1", "admin1"])
def test_writer_roles_other_than_producer_get_no_keys(world, who):
    world.ledger.invoke(MEMBERS["admin1"], "UpdateStream", "plant", json.dumps(WIDE))
    with refused(ErrorCode.ACCESS_DENIED, r"^access denied by rule 'stream.open': only an "
                 r"analyst of a reader organisation or a producer of a writer organisation "
                 r"that reads it opens a stream"):
        world.ledger.invoke(MEMBERS[who], "OpenStream", "plant", json.dumps({"purpose": "p"}))
    with refused(ErrorCode.ACCESS_DENIED, r"^access denied by rule 'stream.open'"):
        world.ledger.query(MEMBERS[who], "GetStreamKeys", "plant", world.ticket)


def test_producers_and_analysts_still_open_a_widely_written_stream(world):
    world.ledger.invoke(MEMBERS["admin1"], "UpdateStream", "plant", json.dumps(WIDE))
    assert open_and_fetch(world, "producer2")["wrapped_keys"] == {"1": world.wrapped[ORG2]}
    assert open_and_fetch(world, "analyst1")["wrapped_keys"] == {"1": world.wrapped[ORG1]}


def test_no_producer_opens_when_producer_is_not_a_writer_role(world):
    world.ledger.invoke(MEMBERS["admin1"], "UpdateStream", "plant", json.dumps(
        {"writers": {"msp_ids": [ORG1], "roles": ["admin"]}}))
    for who in ("producer1", "admin1"):
        with refused(ErrorCode.ACCESS_DENIED, r"writer roles: admin\); Org1MSP identity "):
            world.ledger.invoke(MEMBERS[who], "OpenStream", "plant",
                                json.dumps({"purpose": "p"}))
