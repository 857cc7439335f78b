"""The self-test state digest the fault tests compare across peers: it changes with any key
or value under ``diag:`` and with nothing else."""

import json

from ledgerlake.chaincode import diagnostics
from ledgerlake.chaincode.memory import MemoryLedger, member

WHO = member("Org1MSP", "producer")


def _digest(ledger: MemoryLedger) -> dict:
    return json.loads(ledger.invoke(WHO, "state_digest"))


def test_the_digest_counts_and_hashes_every_self_test_key():
    a, b = MemoryLedger(diagnostics.FUNCTIONS), MemoryLedger(diagnostics.FUNCTIONS)
    empty = _digest(a)
    assert empty["keys"] == 0
    for ledger in (a, b):
        ledger.invoke(WHO, "put", "k1", "v1")
        ledger.invoke(WHO, "put", "k2", "v2")
    assert _digest(a) == _digest(b) and _digest(a)["keys"] == 2
    b.invoke(WHO, "put", "k2", "v2!")
    assert _digest(a) != _digest(b) and _digest(b)["keys"] == 2
    a.invoke(WHO, "put", "k3", "v3")
    assert _digest(a)["keys"] == 3 and _digest(a)["sha256"] != empty["sha256"]


def test_key_and_value_boundaries_count():
    a, b = MemoryLedger(diagnostics.FUNCTIONS), MemoryLedger(diagnostics.FUNCTIONS)
    a.invoke(WHO, "put", "ab", "c")
    b.invoke(WHO, "put", "a", "bc")
    assert _digest(a) != _digest(b)
