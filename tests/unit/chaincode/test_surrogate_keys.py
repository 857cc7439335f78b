"""A lone surrogate in an object key is an input error like one in a string value: canonical
form refuses it with RecordError, and every contract function answers INVALID_INPUT (the
rfc8785 key sort used to raise UnicodeEncodeError, answered as INTERNAL)."""

from __future__ import annotations

import json

import pytest

from ledgerlake import records
from ledgerlake.protocol import ErrorCode

from contract_world import MEMBERS, refused

KEY = '{"\\ud800x": 1}'  # JSON text; parsed, the key holds a lone surrogate


@pytest.mark.parametrize("value", [{"\ud800x": 1}, {"a": {"é\udfff": 1}}, [{"\udc00": None}]])
def test_canonical_refuses_a_lone_surrogate_key_with_record_error(value):
    with pytest.raises(records.RecordError, match="lone surrogate"):
        records.canonical(value)


@pytest.mark.parametrize("caller, function, args", [
    ("admin1", "UpdateStream", ["plant", KEY]),
    ("auditor1", "ListBatches", [KEY]),
    ("analyst2", "AnchorLineage", [KEY]),
    ("analyst2", "OpenStream", ["plant", KEY]),
])
def test_a_contract_call_answers_invalid_input(world, caller, function, args):
    with refused(ErrorCode.INVALID_INPUT, "not valid Unicode"):
        world.ledger.invoke(MEMBERS[caller], function, *args)



def test_submit_batch_plaintext_cursor_with_a_surrogate_key_is_invalid_input(world):
    nxt = world.sealed()
    plaintext = b'{"records": [], "salts": [], "cursor": ' + KEY.encode() + b'}'
    with refused(ErrorCode.INVALID_INPUT, "lone surrogate"):
        world.ledger.invoke(MEMBERS["producer1"], "SubmitBatch", json.dumps(nxt.batch),
                            nxt.ciphertext, transient={"records": plaintext})
